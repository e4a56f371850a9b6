// See http_client.h.
#include "net/http_client.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <boost/beast/core/string.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url.hpp>
#include <cstdlib>
#include <optional>
#include <tuple>

#include "net/resolve.h"
#include "net/stream.h"
#include "net/tls.h"
#include "net/watchdog.h"

namespace ciap {
namespace {

struct Target {
  bool https = false;
  std::string host;
  std::string port;
  std::string path;  // path and query
};

// A URL as an error sentence may name it: without its query, which can carry a credential (a
// presigned request's signature and session token).
std::string ForLog(std::string_view url) { return std::string(url.substr(0, url.find('?'))); }

std::expected<Target, std::string> ParseTarget(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return std::unexpected("bad URL " + ForLog(url));
  Target target;
  std::string scheme(parsed->scheme());
  if (scheme == "https") {
    target.https = true;
  } else if (scheme != "http") {
    return std::unexpected("unsupported URL scheme in " + ForLog(url));
  }
  if (!parsed->has_authority() || parsed->host().empty()) {
    return std::unexpected("URL without host: " + ForLog(url));
  }
  if (parsed->has_userinfo())
    return std::unexpected("URL with credentials refused: " + ForLog(url));
  target.host = std::string(parsed->host_address());
  target.port = parsed->has_port() ? std::string(parsed->port()) : (target.https ? "443" : "80");
  target.path = std::string(parsed->encoded_path());
  if (target.path.empty()) target.path = "/";
  if (parsed->has_query()) target.path += "?" + std::string(parsed->encoded_query());
  return target;
}

ssl::context& SystemTrust() {
  static auto context = [] {
    auto created = CreateFetchTlsContext("");
    return created ? std::move(*created) : std::make_unique<ssl::context>(ssl::context::tls_client);
  }();
  return *context;
}

// An outbound proxy from the environment, as curl reads it: https_proxy/HTTPS_PROXY for https
// URLs, http_proxy (lower case only: a CGI server sets HTTP_PROXY from a request header) for
// http ones, and no_proxy/NO_PROXY: "*", or host names and domain suffixes (".corp" and
// "corp" both match "idp.corp"), IP literals, comma-separated.
struct Proxy {
  std::string host;
  std::string port;
  std::string authorization;  // "Basic …" from the URL's user:password, or empty
};

std::optional<std::string> Env(std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0') return value;
  }
  return std::nullopt;
}

bool Bypassed(const std::string& host) {
  auto list = Env({"no_proxy", "NO_PROXY"});
  if (!list) return false;
  std::string_view rest = *list;
  while (!rest.empty()) {
    std::size_t comma = rest.find(',');
    std::string_view entry = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    if (entry.starts_with("*.")) entry.remove_prefix(1);
    if (entry == "*") return true;
    if (entry.starts_with(".")) entry.remove_prefix(1);
    if (entry.empty()) continue;
    if (boost::beast::iequals(host, entry)) return true;
    error_code not_ip;
    asio::ip::make_address(host, not_ip);
    if (!not_ip) continue;  // an IP literal matches only itself (as curl; no CIDR)
    if (host.size() > entry.size() && host[host.size() - entry.size() - 1] == '.' &&
        boost::beast::iequals(std::string_view(host).substr(host.size() - entry.size()), entry)) {
      return true;
    }
  }
  return false;
}

std::expected<std::optional<Proxy>, std::string> ProxyFor(const Target& target) {
  auto url = target.https ? Env({"https_proxy", "HTTPS_PROXY"}) : Env({"http_proxy"});
  if (!url || Bypassed(target.host)) return std::nullopt;
  std::string text = url->find("://") == std::string::npos ? "http://" + *url : *url;
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed || parsed->host().empty()) return std::unexpected("bad proxy URL in environment");
  if (parsed->scheme() != "http") {
    return std::unexpected(
        "proxy URL scheme must be http (a TLS connection to the proxy is "
        "not supported)");
  }
  Proxy proxy{std::string(parsed->host_address()),
              parsed->has_port() ? std::string(parsed->port()) : "80", ""};
  if (parsed->has_userinfo()) {
    proxy.authorization = BasicAuthorization(parsed->user(), parsed->password());
  }
  return std::optional<Proxy>(std::move(proxy));
}

// A TCP connection to the target, or to the proxy: for https a CONNECT tunnel (the TLS
// session is end to end, verified against the target), for http the proxy gets the request.
// The watchdog takes over from the resolver's own deadline once the name is resolved.
asio::awaitable<std::expected<void, std::string>> Connect(
    Stream& stream, const Target& target, const std::optional<Proxy>& proxy,
    std::chrono::steady_clock::time_point deadline, Watchdog& watchdog) {
  const std::string& host = proxy ? proxy->host : target.host;
  const std::string& port = proxy ? proxy->port : target.port;
  const std::string via = proxy ? "proxy " : "";
  auto endpoints = co_await ResolveBefore(stream.get_executor(), host, port, deadline);
  if (!endpoints) {
    co_return std::unexpected("resolve " + via + host + ": " +
                              DescribeResolveError(endpoints.error()));
  }
  watchdog.Watch(stream.socket());
  auto [connect_ec, endpoint] =
      co_await asio::async_connect(stream.socket(), *endpoints, use_nothrow);
  if (connect_ec) {
    co_return std::unexpected("connect to " + via + host + ":" + port + ": " +
                              connect_ec.message());
  }
  if (!proxy || !target.https) co_return std::expected<void, std::string>();
  std::string authority =
      (target.host.find(':') != std::string::npos ? "[" + target.host + "]" : target.host) + ":" +
      target.port;
  http::request<http::empty_body> connect(http::verb::connect, authority, 11);
  connect.set(http::field::host, authority);
  if (!proxy->authorization.empty()) {
    connect.set(http::field::proxy_authorization, proxy->authorization);
  }
  auto [write_ec, written] = co_await http::async_write(stream, connect, use_nothrow);
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // a 2xx to CONNECT has no body: the tunnel starts after the head
  error_code read_ec = write_ec;
  if (!read_ec)
    std::tie(read_ec, std::ignore) =
        co_await http::async_read_header(stream, buffer, parser, use_nothrow);
  if (read_ec) co_return std::unexpected("proxy " + host + ": " + read_ec.message());
  int status = parser.get().result_int();
  if (status / 100 != 2) {
    co_return std::unexpected("proxy " + host + " refused CONNECT to " + authority + ": " +
                              std::to_string(status));
  }
  if (buffer.size() != 0) co_return std::unexpected("proxy " + host + " sent data early");
  co_return std::expected<void, std::string>();
}

// One request/response on a fresh connection. Returns the response or an error sentence.
asio::awaitable<std::expected<http::response<http::string_body>, std::string>> Exchange(
    Stream& stream, const Target& target, const HttpFetchOptions& options,
    const Proxy* plain_proxy) {
  http::request<http::string_body> request(http::string_to_verb(options.method), target.path, 11);
  // RFC 9110 7.2: the port unless it is the scheme's default, and IPv6 literals in brackets.
  // IdPs build their discovery URLs (jwks_uri) from Host; a missing port sends us elsewhere.
  std::string host =
      target.host.find(':') != std::string::npos ? "[" + target.host + "]" : target.host;
  if (target.port != (target.https ? "443" : "80")) host += ":" + target.port;
  request.set(http::field::host, host);
  if (plain_proxy != nullptr) {  // an http URL through a proxy: the absolute form (RFC 9112 3.2.2)
    request.target("http://" + host + target.path);
    if (!plain_proxy->authorization.empty()) {
      request.set(http::field::proxy_authorization, plain_proxy->authorization);
    }
  }
  request.set(http::field::user_agent, "ciap/" CIAP_VERSION);
  request.set(http::field::accept, options.accept);
  request.set(http::field::connection, "close");
  for (const auto& [name, value] : options.headers) request.set(name, value);
  if (options.method != "GET") {
    if (!options.content_type.empty()) request.set(http::field::content_type, options.content_type);
    request.body() = options.body;
    request.prepare_payload();
  }
  auto [write_ec, written] = co_await http::async_write(stream, request, use_nothrow);
  if (write_ec) co_return std::unexpected("send to " + target.host + ": " + write_ec.message());

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(options.max_body_bytes);
  parser.header_limit(64 * 1024);
  auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, use_nothrow);
  if (read_ec == http::error::body_limit) {
    co_return std::unexpected("response from " + target.host + " is larger than " +
                              std::to_string(options.max_body_bytes) + " bytes");
  }
  if (read_ec) co_return std::unexpected("read from " + target.host + ": " + read_ec.message());
  co_return parser.release();
}

// Connects (through the proxy, if any), shakes hands for https, and exchanges one request.
asio::awaitable<std::expected<http::response<http::string_body>, std::string>> Fetch(
    const Target& target, const std::optional<Proxy>& proxy, const HttpFetchOptions& options,
    std::chrono::steady_clock::time_point deadline, Watchdog& watchdog) {
  Stream plain(tcp::socket(co_await asio::this_coro::executor));
  auto connected = co_await Connect(plain, target, proxy, deadline, watchdog);
  if (!connected) co_return std::unexpected(connected.error());
  if (!target.https) co_return co_await Exchange(plain, target, options, proxy ? &*proxy : nullptr);

  Stream tls(std::move(plain.socket()), options.tls ? *options.tls : SystemTrust());
  watchdog.Watch(tls.socket());
  ExpectPeerName(tls.ssl_handle(), target.host);
  error_code hs_ec = co_await tls.Handshake(/*server=*/false);
  if (hs_ec) {
    co_return std::unexpected("TLS handshake with " + target.host + ": " + hs_ec.message());
  }
  co_return co_await Exchange(tls, target, options, nullptr);
}

}  // namespace

std::string BasicAuthorization(std::string_view user, std::string_view password) {
  const std::string credentials = std::string(user) + ":" + std::string(password);
  std::string encoded(4 * ((credentials.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                          reinterpret_cast<const unsigned char*>(credentials.data()),
                          static_cast<int>(credentials.size()));
  encoded.resize(static_cast<std::size_t>(n));
  return "Basic " + encoded;
}

std::string PercentEncode(std::string_view text) {
  return boost::urls::encode(text, boost::urls::unreserved_chars);
}

std::expected<std::unique_ptr<ssl::context>, std::string> CreateFetchTlsContext(
    const std::string& ca_file) {
  config::UpstreamTlsConfig config;
  config.ca_file = ca_file;
  return CreateUpstreamTlsContext(config);
}

asio::awaitable<std::expected<HttpFetchResult, std::string>> HttpGet(std::string url,
                                                                     HttpFetchOptions options) {
  auto executor = co_await asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  std::string first_host;
  bool first_https = false;
  for (int redirects = 0;; ++redirects) {
    auto target = ParseTarget(url);
    if (!target) co_return std::unexpected(target.error());
    if (redirects == 0) {
      first_host = target->host;
      first_https = target->https;
    } else if (target->host != first_host || target->https != first_https) {
      // A key server must not be able to send us to another host (or downgrade to http).
      co_return std::unexpected("redirect from " + first_host +
                                " to another origin refused: " + url);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      co_return std::unexpected("timeout fetching " + ForLog(url));
    }

    auto proxy = ProxyFor(*target);
    if (!proxy) co_return std::unexpected(proxy.error());
    Watchdog watchdog(executor, deadline);
    auto response = co_await Fetch(*target, *proxy, options, deadline, watchdog);
    if (!response && watchdog.cut()) {
      co_return std::unexpected("timeout fetching " + ForLog(url));
    }
    if (!response) co_return std::unexpected(response.error());

    int status = response->result_int();
    if ((status == 301 || status == 302 || status == 303 || status == 307 || status == 308) &&
        redirects < options.max_redirects) {
      std::string_view location = (*response)[http::field::location];
      if (location.empty()) {
        co_return std::unexpected("redirect without Location from " + ForLog(url));
      }
      if (location.starts_with("/")) {
        url = (target->https ? "https://" : "http://") + target->host + ":" + target->port +
              std::string(location);
      } else {
        url = std::string(location);
      }
      continue;
    }
    HttpFetchResult result;
    result.status = status;
    result.body = std::move(response->body());
    result.cache_control = std::string((*response)[http::field::cache_control]);
    result.final_url = url;
    co_return result;
  }
}

}  // namespace ciap
