// The filter interface: what every request-path filter (identity, access, rate_limit, headers)
// implements, and what it may read and change.
//
// Filters are built once per listener per config snapshot and shared, read-only, by all
// workers; everything per-request lives in Request and RequestContext. Most filters decide
// synchronously, which costs one virtual call; a filter that must wait (e.g. for keys being
// fetched) returns Decision::Suspend() and is then awaited through OnRequestAsync.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/status.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// OpenSSL's certificate stack, without pulling in <openssl/x509.h> everywhere.
struct stack_st_X509;
struct x509_st;

namespace ciap {

namespace config {
struct RouteConfig;
}
struct Caller;
class AccessLogBuffer;

// The outcome of a filter: go on, wait, or answer locally with a status and a reason code.
// Reason codes are short snake_case constants ("no_route", "invalid_token"); they appear in
// the JSON error body, the access log and metric labels, so they must come from a fixed set.
class Decision {
 public:
  static Decision Continue() { return Decision(Kind::kContinue); }
  static Decision Suspend() { return Decision(Kind::kSuspend); }
  static Decision Respond(boost::beast::http::status status, std::string_view reason) {
    Decision d(Kind::kRespond);
    d.status_ = status;
    d.reason_ = reason;
    return d;
  }

  // Adds a header to a local response (e.g. WWW-Authenticate, Retry-After).
  Decision& WithHeader(std::string name, std::string value) {
    headers_.emplace_back(std::move(name), std::move(value));
    return *this;
  }

  bool is_continue() const { return kind_ == Kind::kContinue; }
  bool is_suspend() const { return kind_ == Kind::kSuspend; }
  boost::beast::http::status status() const { return status_; }
  std::string_view reason() const { return reason_; }
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }

 private:
  enum class Kind { kContinue, kSuspend, kRespond };
  explicit Decision(Kind kind) : kind_(kind) {}

  Kind kind_;
  boost::beast::http::status status_ = boost::beast::http::status::ok;
  std::string_view reason_;  // points at a string literal
  std::vector<std::pair<std::string, std::string>> headers_;
};

// The request as filters see it. `headers` is the parsed header block; filters may change it
// and the upstream receives the result (minus hop-by-hop headers, which the proxy owns).
struct Request {
  boost::beast::http::fields& headers;
  std::string_view method;
  std::string_view host;   // lower-case, without port
  std::string_view path;   // normalized; exactly what the upstream will receive
  std::string_view query;  // raw, without '?'; empty when absent
};

// Per-request facts that are not part of the HTTP message.
// What a connection knows about its peer, the same for every request on it (and, with HTTP/2,
// every stream). Owned by the connection; views stay valid while it is open.
struct ConnectionInfo {
  std::string_view client_address;  // the peer's IP address, as text
  bool tls = false;
  std::string_view sni;   // the server name the client asked for; empty without SNI
  std::string_view alpn;  // the protocol ALPN chose ("http/1.1"); empty when none was offered
  // The client certificate chain, leaf first, as the listener's client CA verified it; null
  // when the client sent none (client_auth: optional) or on a plaintext listener.
  const stack_st_X509* verified_chain = nullptr;
  // The verified client certificate (the chain's leaf); unlike the chain, also there on a
  // resumed TLS session, where the client sends no certificate and the session remembers it.
  const x509_st* verified_certificate = nullptr;
  // The client_certificate provider's caller for this chain, made on the first request that
  // needed it, and which identity filter instance made it (a reload makes another).
  mutable std::shared_ptr<const Caller> certificate_caller;
  mutable uint64_t certificate_owner = 0;
  // Set only by `ciap check`, which has no handshake: the caller a client certificate
  // described by its claims would be.
  std::shared_ptr<const Caller> stand_in_certificate;
};

struct RequestContext {
  std::string_view listener;
  const config::RouteConfig* route = nullptr;
  std::size_t route_index = 0;
  std::string_view request_id;
  const ConnectionInfo* connection = nullptr;  // never null on the data plane
  // Set by the identity filter once the caller is authenticated; null before, and on routes
  // that do not authenticate.
  std::shared_ptr<const Caller> caller;
  // Groups the access filter found the caller in (names owned by the config snapshot).
  std::vector<std::string_view> groups;
  // Why the request may pass, set by the step that let it: public_route (the core),
  // authenticated (identity), allowed_group (access; in shadow mode, the refusal it would have
  // been). The access log and `ciap check` report it. Points at a string literal.
  std::string_view reason;
  // The worker's log buffer, for audit events (JSON lines next to the access log).
  AccessLogBuffer* log = nullptr;
  std::string_view config_hash;
};

class Filter {
 public:
  virtual ~Filter() = default;

  // Called once per request after the head is parsed and a route matched, before any body
  // byte is read or an upstream is contacted. Request and context stay valid until the
  // response is complete.
  virtual Decision OnRequest(Request& request, RequestContext& context) const = 0;

  // Called only after OnRequest returned Suspend(), on the connection's executor.
  virtual boost::asio::awaitable<Decision> OnRequestAsync(Request& request,
                                                          RequestContext& context) const;

  // For `ciap check`, after OnRequest decided on this request: appends lines saying why
  // (which provider accepted the token, which groups matched). Most filters say nothing.
  virtual void Explain(const Request& request, const RequestContext& context,
                       std::vector<std::string>& lines) const {}

  virtual std::string_view name() const = 0;
};

}  // namespace ciap
