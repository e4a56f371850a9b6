// A small HTTP(S) GET client for the control plane (OIDC discovery, JWKS), run on the main
// thread. Strict by design: verified TLS with SNI, one overall deadline, a body cap, and
// redirects only to the same host over the same scheme.
#pragma once

#include <chrono>
#include <expected>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/asio.h"

namespace ciap {

struct HttpFetchOptions {
  std::chrono::milliseconds timeout{5000};  // the whole fetch, redirects included
  std::size_t max_body_bytes = 1 << 20;
  int max_redirects = 3;
  // Trust for https URLs; null means the system store (a shared default context).
  ssl::context* tls = nullptr;
  // The request: GET by default; a POST carries `body` as `content_type`. `headers` are added
  // as given (credentials for a lookup: never logged by the client).
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type;
  std::string accept = "application/json";
};

struct HttpFetchResult {
  int status = 0;
  std::string body;
  std::string cache_control;  // raw Cache-Control header, for TTLs
  std::string final_url;
};

// Sends one request to `url` (http or https): a GET unless `options.method` says otherwise. Errors
// are human sentences ("connect to idp.example:443: Connection refused").
asio::awaitable<std::expected<HttpFetchResult, std::string>> HttpGet(std::string url,
                                                                     HttpFetchOptions options);

// "Basic " + base64(user ":" password), as RFC 7617 (and RFC 6749 2.3.1 for a client) sends it;
// the caller encodes the parts when its scheme asks for it.
std::string BasicAuthorization(std::string_view user, std::string_view password);

// RFC 3986 percent-encoding of everything but unreserved characters (upper-case hex): form
// values, and what SigV4's canonical query wants.
std::string PercentEncode(std::string_view text);

// Creates a verifying TLS client context, trusting `ca_file` or, when empty, the system store.
std::expected<std::unique_ptr<ssl::context>, std::string> CreateFetchTlsContext(
    const std::string& ca_file);

}  // namespace ciap
