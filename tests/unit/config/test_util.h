// Helpers shared by the config unit tests: a fake environment and a directory of files that
// certificate paths can point at (the loader only checks that they are readable).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "config/loader.h"

namespace ciap::config::testing {

// An environment with exactly these variables; CERTS is the directory from CertDir().
EnvLookup FakeEnv(std::map<std::string, std::string> vars = {});

// A temporary directory holding tls.crt/key, server.crt/key, a.crt/key, client.crt/key and
// ca.crt (placeholder contents) and a one-line `token` for ${secret:} references, created on
// first use and removed when the test program exits.
const std::string& CertDir();

}  // namespace ciap::config::testing
