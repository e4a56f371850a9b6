// The proxy's own decision path (proxy/decide.h), run offline on requests described by hand:
// what `ciap check` does for one request and `ciap test` for a table of cases. Built once per
// config, as `ciap run` builds its routers and deciding filters; what it cannot have offline,
// it stands in for without changing the path:
// - a token of a provider whose keys are fetched at run time is re-signed, claims unchanged,
//   with a key the runner makes for itself, which stands in for that provider's keys;
// - claims given by hand become such a token, iss/aud/exp/iat filled in where they lack them;
//   claims issued in the future (fixtures written to stay valid, e.g. exp in 2100) are moved
//   to be issued now, their lifetime kept; past times are kept, so expiry can be tested;
// - a token whose issuer's providers all have a `jwks_file` is verified as it is (not with
//   `offline`); when that token has expired, the policy is also shown as it would decide for
//   the same claims issued now.
#pragma once

#include <boost/json/object.hpp>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace ciap {

// What ciap decides for one request, and why.
struct Verdict {
  std::string decision = "deny";  // allow | deny | shadow_allow | shadow_deny
  int status = 403;
  std::string reason;
  std::string route = "-";
  std::string provider = "-";
  // "step: detail" lines, in the order the request went: listener, caller, route, filters.
  std::vector<std::string> explanation;

  // Whether the request reaches the upstream (shadow decisions let it through).
  bool passes() const { return decision == "allow" || decision.starts_with("shadow_"); }
  void Line(std::string line) { explanation.push_back(std::move(line)); }
};

// One request as a case describes it.
struct PolicyCase {
  std::string request;  // "METHOD URL", e.g. "PUT https://artifacts.acme/releases/x"
  enum class Source { kNone, kClaims, kToken } source = Source::kNone;
  boost::json::object claims;  // kClaims
  std::string claims_origin;   // where they came from, for the explanation
  bool issue_now = false;      // move the claims' times to now whatever they are
  std::string token;           // kToken: a compact JWT (or anything a caller might send)
  std::string provider;        // optional: fills in iss/aud for claims
  std::string listener;        // optional: the first listener
};

class PolicyRunner {
 public:
  // `offline`: no file the config names is read (key files included). Nothing is prepared
  // until a case needs it.
  PolicyRunner(std::shared_ptr<const config::Config> config, bool offline);
  ~PolicyRunner();

  // An error (a sentence) when the case itself is unusable: no such listener or provider, a
  // request that is not "METHOD URL".
  std::expected<Verdict, std::string> Decide(const PolicyCase& input);

 private:
  struct Mode;
  struct Credential;
  struct Signers;
  // How tokens are checked: against stand-in keys, against the key files, or not at all (no
  // credential: kAny takes whichever mode exists, or one without keys).
  enum class Keys { kAny, kStandIn, kFiles };
  // The services and snapshot for one way of checking keys (stand-in keys, or key files).
  std::expected<Mode*, std::string> ModeFor(Keys keys);
  std::expected<Signers*, std::string> StandIns();
  std::expected<std::string, std::string> SignStandIn(const boost::json::object& claims);
  std::expected<Verdict, std::string> DecideOnce(const PolicyCase& input, bool allow_as_is);

  std::shared_ptr<const config::Config> config_;
  bool offline_;
  std::unique_ptr<Signers> signers_;
  std::map<Keys, std::unique_ptr<Mode>> modes_;
};

// The payload of a compact JWS, strictly parsed; nullopt when it is not one.
std::optional<boost::json::object> TokenClaims(std::string_view token);

}  // namespace ciap
