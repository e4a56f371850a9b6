// YAML config loading (config/loader.h) of arbitrary text, and for every config the loader
// accepts, what `ciap run` does next with it: the snapshot (routers, filter chains, TLS
// contexts, metrics), the /config JSON, and a few requests through each listener's router.
//
// Files a config may name exist: the environment variables the examples and fixtures use
// (CIAP_TLS_DIR, CIAP_TEST_CERTS, CIAP_DEMO_DIR) point at a directory with a self-signed
// certificate and key under every name they use, so TLS listeners and upstreams get built too.
//
// Invariants beyond "never crashes": every refusal has a message and a position; the /config
// JSON of an accepted config is valid JSON.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/beast/http/fields.hpp>
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "config/loader.h"
#include "proxy/config_json.h"
#include "proxy/metrics.h"
#include "proxy/snapshot.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

// A self-signed P-256 certificate (CA:TRUE, SAN fuzz.test) and its key, as PEM files.
void WriteCertificate(const std::string& cert_path, const std::string& key_path) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  FUZZ_CHECK(key != nullptr && cert != nullptr, "OpenSSL allocation");
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3650L * 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("fuzz.test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                            std::pair{NID_subject_alt_name, "DNS:fuzz.test,IP:127.0.0.1"}}) {
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    FUZZ_CHECK(extension != nullptr, "certificate extension");
    X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
  }
  FUZZ_CHECK(X509_sign(cert, key, EVP_sha256()) > 0, "certificate signature");
  FILE* out = std::fopen(cert_path.c_str(), "w");
  PEM_write_X509(out, cert);
  std::fclose(out);
  out = std::fopen(key_path.c_str(), "w");
  PEM_write_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(out);
  X509_free(cert);
  EVP_PKEY_free(key);
}

struct Fixture {
  std::string dir;
  ciap::config::EnvLookup env;
};

const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    auto* f = new Fixture();
    char dir[] = "/tmp/ciap-fuzz-config-XXXXXX";
    FUZZ_CHECK(::mkdtemp(dir) != nullptr, "mkdtemp");
    f->dir = dir;
    std::filesystem::create_directories(f->dir + "/certs");
    std::filesystem::create_directories(f->dir + "/idp");
    WriteCertificate(f->dir + "/tls.crt", f->dir + "/tls.key");
    for (const char* name : {"ca.crt", "server.crt", "a.crt", "client.crt", "certs/server.crt"}) {
      std::filesystem::copy_file(f->dir + "/tls.crt", f->dir + "/" + name);
    }
    for (const char* name : {"server.key", "a.key", "client.key", "certs/server.key"}) {
      std::filesystem::copy_file(f->dir + "/tls.key", f->dir + "/" + name);
    }
    std::ofstream(f->dir + "/idp/jwks.json") << R"({"keys":[]})";
    std::ofstream(f->dir + "/token") << "fuzz-secret";
    f->env = [dir = f->dir](const std::string& name) -> std::optional<std::string> {
      if (name == "CIAP_TLS_DIR" || name == "CIAP_TEST_CERTS" || name == "CIAP_DEMO_DIR") {
        return dir;
      }
      if (name == "CIAP_FIXTURE_UPSTREAM") return "127.0.0.1:9000";
      if (name == "CIAP_FIXTURE_TIMEOUT") return "5s";
      if (name == "EMPTY") return "";
      return std::nullopt;
    };
    std::atexit([] { std::filesystem::remove_all(GetFixture().dir); });
    return f;
  }();
  return *fixture;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& fixture = GetFixture();
  auto config = ciap::config::ParseConfig(ciap::fuzz::AsText(data, size), "fuzz.yaml", fixture.env);
  if (!config) {
    FUZZ_CHECK(!config.error().empty(), "refused without an error");
    for (const ciap::config::ConfigError& error : config.error()) {
      FUZZ_CHECK(!error.message.empty() && error.line >= 1 && error.column >= 1,
                 "error without a message or position: %s", error.ToString().c_str());
    }
    return 0;
  }

  std::string json = ciap::ConfigToJson(**config);
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(json, ec);
  FUZZ_CHECK(!ec, "/config is not JSON: %s", json.c_str());

  ciap::Metrics metrics;
  auto snapshot = ciap::BuildSnapshot(*config, metrics);
  if (!snapshot) return 0;
  boost::beast::http::fields headers;
  headers.set("x-env", "prod");
  headers.set("x-build", "42");
  for (const ciap::ListenerRuntime& listener : (*snapshot)->listeners) {
    for (std::string_view path : {"/", "/releases/x", "/deploy/api", "/admin/a", "/v1/x"}) {
      int route = listener.router.Match("fuzz.test", path, "GET", headers);
      FUZZ_CHECK(route < static_cast<int>(listener.routes.size()), "route %d of %zu", route,
                 listener.routes.size());
    }
  }
  (void)metrics.Serialize();
  return 0;
}
