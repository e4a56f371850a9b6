// Filter services: the state a filter keeps across requests and config reloads (provider key
// sets and their refresh loops, rate-limit buckets), owned by the server and seen by the core
// only through this interface.
//
// A config becomes the running one in steps, so that a reload that fails half-way changes
// nothing: every service Prepare()s what the new config needs, the snapshot is built with it
// (each filter reads its own service's PreparedState), and only once the snapshot is published
// does every service Commit() it. The snapshot keeps its prepared states alive as long as a
// request may still use them.
#pragma once

#include <boost/asio/io_context.hpp>
#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"

namespace prometheus {
class Registry;
}

namespace ciap {

// What a service prepared for one config. Each filter downcasts its own service's state.
class PreparedState {
 public:
  virtual ~PreparedState() = default;

  // A document every listener serves itself, without authentication and before any route is
  // chosen (the assertion keys at /.well-known/ciap/jwks.json): its path, or empty for none.
  virtual std::string_view public_path() const { return {}; }
  // The document's JSON text, as it is now. Any thread.
  virtual std::string PublicDocument() const { return {}; }
};

// For `ciap check`, which decides offline: nothing is fetched and nothing starts.
struct OfflineInputs {
  // Keys that stand in for every key a service would fetch or read at run time (a JWKS
  // document): check re-signs a caller's claims with the matching private key.
  std::string stand_in_jwks;
  // Providers with a local key file use it instead of the stand-in keys.
  bool key_files = false;
};

// What a service is made with.
struct ServiceEnv {
  boost::asio::io_context* io = nullptr;  // the main thread's loop; null when offline
  prometheus::Registry* metrics = nullptr;
  const OfflineInputs* offline = nullptr;  // set only by `ciap check`
};

class FilterService {
 public:
  virtual ~FilterService() = default;

  // Main thread. What `config` needs, without disturbing the running config; an error (a
  // human sentence) refuses the config.
  virtual std::expected<std::shared_ptr<const PreparedState>, std::string> Prepare(
      const config::Config& config) = 0;
  // Main thread: `prepared` (from Prepare) belongs to the config now running.
  virtual void Commit(const std::shared_ptr<const PreparedState>& prepared) {}
  // Main thread, once, after the first Commit; and on shutdown.
  virtual void Start() {}
  virtual void Stop() {}

  // Why the process may not take traffic yet ("identity provider keys not loaded"), or empty.
  // Any thread.
  virtual std::string NotReady() const { return {}; }

  // An admin-port document of this service's state (e.g. "/jwks-status"), or an empty path.
  virtual std::string_view admin_path() const { return {}; }
  virtual std::string AdminDocument() const { return {}; }
};

}  // namespace ciap
