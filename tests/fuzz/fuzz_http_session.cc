// HTTP/1.1 request handling through the real session (proxy/session.cc): the fuzz input is the
// byte stream a client sends on one connection. Built as fuzz_h2_session (CIAP_FUZZ_H2), the
// input is HTTP/2 frames after the h2c preface the harness puts first: the same session, the
// HTTP/2 codec (proxy/h2_*) instead, the same upstream-side invariants. The data plane runs
// in-process as in `ciap run` (a Worker's event loop, a Snapshot built from a YAML config, the
// identity, access and headers filters with a KeyManager reading a jwks_file, an upstream pool) on
// one side of a socketpair; the harness writes the input to the other side, closes its sending half
// and reads everything the proxy answers. The upstream is a small HTTP/1.1 server on 127.0.0.1
// inside the same event loop that parses what the proxy forwards with Beast's strict parser and
// answers in a way the request picks (header x-fuzz-response): with a length, chunked,
// close-delimited, 1xx first, 204/304, hop-by-hop and trailer headers to be stripped, a 101, a
// malformed head, or a reset.
//
// Valid tokens can't be guessed, so the input may name them: $ADMIN$ and $USER$ become tokens
// the provider's key signed (groups [admins] and [dev]), $UNKNOWN$ one with a kid the key set
// lacks (a refetch). They are minted when the harness starts, so they are never expired.
//
// Invariants beyond "never crashes, never leaks, never hangs":
//  - what reaches the upstream is a well-formed request (its own parser accepts it) with a
//    canonical path, one Host, unambiguous framing, no hop-by-hop or spoofable forwarding
//    headers, and only on a route: /admin/ only with x-role: admin, /strip/ with the route's
//    header edits applied, /adm/ only for the admin token's subject and group, /auth/ only for
//    a token's subject; x-ciap-* headers only from the proxy, and a caller's token never;
//  - the upstream answers no more requests than the client's bytes contain request lines;
//  - the client gets HTTP/1.1 responses, never the injected secret, and never a header the
//    upstream marked hop-by-hop or sent as a trailer;
//  - no exception reaches the session boundary (Session logs "session failed" then).
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "config/loader.h"
#include "filters/registry.h"
#include "net/asio.h"
#include "net/log.h"
#include "proxy/h2_connection.h"
#include "proxy/metrics.h"
#include "proxy/path.h"
#include "proxy/services.h"
#include "proxy/session.h"
#include "proxy/snapshot.h"
#include "proxy/worker.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/unit/jose/test_keys.h"

// Sends sanitizer reports to another fd; present when a sanitizer runtime is linked in (weak, so
// that the plain corpus-replay build links without one).
extern "C" void __sanitizer_set_report_fd(void* fd) __attribute__((weak));

namespace {

using namespace ciap;  // NOLINT: the harness reads like the proxy's own code
using stream_protocol = asio::local::stream_protocol;

// Both contain spaces, so no client byte the proxy reflects can spell them: not a path (no
// spaces in a request target, and %20 stays encoded) and not an x-request-id (visible ASCII).
constexpr std::string_view kSecret = "s3cr3t fuzz credential";
constexpr std::string_view kHopMarker = "leaked hop header";
constexpr std::size_t kMaxKeptOutput = 1 << 20;

// Headers the proxy owns or drops: a client must not be able to send them to the upstream.
constexpr std::string_view kMustNotReachUpstream[] = {"x-original-url",
                                                      "x-rewrite-url",
                                                      "x-forwarded-uri",
                                                      "x-forwarded-prefix",
                                                      "x-original-uri",
                                                      "x-forwarded-path",
                                                      "x-forwarded-host",
                                                      "forwarded",
                                                      "x-forwarded-port",
                                                      "x-forwarded-server",
                                                      "expect",
                                                      "te",
                                                      "trailer",
                                                      "upgrade",
                                                      "keep-alive",
                                                      "proxy-connection",
                                                      "proxy-authorization",
                                                      "connection"};

// The tokens $ADMIN$, $USER$ and $UNKNOWN$ stand for (set when the harness starts).
struct Tokens {
  std::string admin, user, unknown;
};
Tokens tokens;

std::string ConfigYaml(uint16_t upstream_port, const std::string& dir) {
  std::string yaml = R"(
logging: { access_log: "off" }
identity_providers:
  - name: fuzz
    type: oidc
    issuer: https://issuer.fuzz.test
    audiences: [fuzz]
    jwks_file: DIR/jwks.json
    algorithms: [ES256]
    groups_claim: groups
groups:
  admins:
    provider: fuzz
    claims: { groups: { contains: admins } }
upstreams:
  - name: echo
    endpoints: [127.0.0.1:PORT]
    connect_timeout: 2s
listeners:
  - name: fuzz
    address: 127.0.0.1:0
    plaintext: true
    http2: HTTP2
    filters: [identity, access, headers]
    limits: { max_header_bytes: 8192, max_headers: 64 }
    routes:
      - name: auth
        match: { path_prefix: /auth/ }
        upstream: echo
        authenticate: true
        request_headers: { identity: true, set: { X-Sub: "${claim:sub}" } }
      - name: adm
        match: { path_prefix: /adm/ }
        upstream: echo
        allow: [admins]
        request_headers: { identity: true }
      - name: shadow
        match: { path_prefix: /shadow/ }
        upstream: echo
        allow: ["fuzz:admins"]
        mode: shadow
      - name: strip
        match: { path_prefix: /strip/ }
        upstream: echo
        public: true
        request_headers:
          set: { X-Static: abc, Authorization: "Bearer ${secret:DIR/token}" }
          remove: [X-Debug]
      - name: admin
        match: { path_prefix: /admin/, headers: [{ name: x-role, exact: admin }] }
        upstream: echo
        public: true
      - name: api
        match: { host: api.fuzz.test, path_prefix: /api/, methods: [GET, HEAD, POST, PUT, DELETE] }
        upstream: echo
        public: true
      - name: versioned
        match: { host: "*.fuzz.test", path_regex: '/v[0-9]+/.*' }
        upstream: echo
        public: true
      - name: health
        match: { path: /healthz, methods: [GET, HEAD] }
        upstream: echo
        public: true
      - name: public
        match: { path_prefix: /public/ }
        upstream: echo
        public: true
)";
  yaml.replace(yaml.find("PORT"), 4, std::to_string(upstream_port));
#ifdef CIAP_FUZZ_H2
  yaml.replace(yaml.find("HTTP2"), 5, "true");
#else
  yaml.replace(yaml.find("HTTP2"), 5, "false");  // HTTP/1.1 alone: a preface is a bad request
#endif
  for (std::size_t at = yaml.find("DIR"); at != std::string::npos; at = yaml.find("DIR", at)) {
    yaml.replace(at, 3, dir);
  }
  return yaml;
}

bool OnSomeRoute(std::string_view path) {
  if (path.starts_with("/strip/") || path.starts_with("/admin/") || path.starts_with("/api/") ||
      path.starts_with("/public/") || path == "/healthz" || path.starts_with("/auth/") ||
      path.starts_with("/adm/") || path.starts_with("/shadow/")) {
    return true;
  }
  // /v[0-9]+/.*
  if (!path.starts_with("/v")) return false;
  std::size_t i = 2;
  while (i < path.size() && path[i] >= '0' && path[i] <= '9') ++i;
  return i > 2 && i < path.size() && path[i] == '/';
}

std::size_t CountFields(const http::fields& fields, std::string_view name) {
  auto range = fields.equal_range(name);
  return static_cast<std::size_t>(std::distance(range.first, range.second));
}

// Everything the forwarded request must satisfy (see the file comment).
void CheckForwarded(const http::request<http::string_body>& request) {
  std::string_view target = request.target();
  std::string target_text(target);
  FUZZ_CHECK(target.find('#') == std::string_view::npos, "fragment forwarded: %s",
             target_text.c_str());
  std::string_view path = target.substr(0, target.find('?'));
  std::string normalized;
  auto error = NormalizePath(path, &normalized);
  FUZZ_CHECK(!error && normalized == path, "forwarded path is not canonical: %s",
             target_text.c_str());
  FUZZ_CHECK(OnSomeRoute(path), "a request without a route reached the upstream: %s",
             target_text.c_str());

  FUZZ_CHECK(CountFields(request, "host") == 1, "%zu Host headers", CountFields(request, "host"));
  std::size_t lengths = CountFields(request, "content-length");
  std::size_t codings = CountFields(request, "transfer-encoding");
  FUZZ_CHECK(lengths <= 1 && (lengths == 0 || codings == 0) && codings <= 1,
             "ambiguous framing forwarded: %zu Content-Length, %zu Transfer-Encoding", lengths,
             codings);
  if (codings == 1) {
    FUZZ_CHECK(request[http::field::transfer_encoding] == "chunked", "Transfer-Encoding: %s",
               std::string(request[http::field::transfer_encoding]).c_str());
  }
  for (std::string_view name : kMustNotReachUpstream) {
    FUZZ_CHECK(CountFields(request, name) == 0, "%s reached the upstream",
               std::string(name).c_str());
  }
  for (std::string_view name : {"x-forwarded-for", "x-forwarded-proto", "x-request-id"}) {
    FUZZ_CHECK(CountFields(request, name) == 1, "%zu %s headers", CountFields(request, name),
               name.data());
  }

  // On routes that are not public, tokens stay with ciap (forward_token: false); identity comes
  // as x-ciap-*. (A public route passes the caller's headers on, Authorization included.)
  const bool authenticated =
      path.starts_with("/auth/") || path.starts_with("/adm/") || path.starts_with("/shadow/");
  // (A client may copy its token into any other header; the one it presents is Authorization.)
  for (auto range = request.equal_range(http::field::authorization);
       authenticated && range.first != range.second; ++range.first) {
    const auto& field = *range.first;
    for (const std::string* token : {&tokens.admin, &tokens.user, &tokens.unknown}) {
      std::string_view signature = std::string_view(*token).substr(token->rfind('.') + 1);
      FUZZ_CHECK(field.value().find(signature) == std::string_view::npos,
                 "a caller's token reached the upstream in %s",
                 std::string(field.name_string()).c_str());
    }
  }
  const bool identified = path.starts_with("/auth/") || path.starts_with("/adm/");
  if (!identified) {
    for (const auto& field : request) {
      FUZZ_CHECK(!beast::iequals(field.name_string().substr(0, 7), "x-ciap-"),
                 "%s reached the upstream on %s", std::string(field.name_string()).c_str(),
                 target_text.c_str());
    }
  }
  if (path.starts_with("/auth/")) {
    std::string_view subject = request["x-ciap-subject"];
    FUZZ_CHECK(CountFields(request, "x-ciap-subject") == 1 &&
                   (subject == "admin-job" || subject == "user-job"),
               "/auth/ reached the upstream for subject [%s]", std::string(subject).c_str());
    FUZZ_CHECK(request["x-sub"] == subject, "X-Sub is not the token's sub");
  }
  if (path.starts_with("/adm/")) {
    FUZZ_CHECK(
        request["x-ciap-subject"] == "admin-job" && CountFields(request, "x-ciap-groups") == 1,
        "/adm/ reached the upstream without the admin token");
    std::string groups = "," + std::string(request["x-ciap-groups"]) + ",";
    FUZZ_CHECK(groups.find(",admins,") != std::string::npos, "/adm/ for groups %s", groups.c_str());
  }
  if (path.starts_with("/admin/")) {
    auto role = request.find("x-role");
    FUZZ_CHECK(role != request.end() && role->value() == "admin",
               "/admin/ reached the upstream without x-role: admin");
  }
  if (path.starts_with("/strip/")) {
    FUZZ_CHECK(CountFields(request, "x-debug") == 0, "x-debug not removed on /strip/");
    FUZZ_CHECK(CountFields(request, "x-static") == 1 && request["x-static"] == "abc",
               "x-static not set on /strip/");
    std::string bearer = "Bearer " + std::string(kSecret);
    FUZZ_CHECK(CountFields(request, "authorization") == 1 && request["authorization"] == bearer,
               "the injected credential is not the only Authorization on /strip/");
  }
}

// The upstream's answer: what the request's x-fuzz-response asks for. Returns whether the
// connection closes afterwards; `answered` tells whether a final response was sent.
bool BuildResponse(const http::request<http::string_body>& request, std::string& out,
                   bool& answered) {
  std::string_view mode = request["x-fuzz-response"];
  const bool head = request.method() == http::verb::head;
  // The body never reflects the request, so markers in the client's bytes stay there.
  std::string body = "target bytes " + std::to_string(request.target().size()) + "\n";
  if (mode == "big") body.append(64 * 1024, 'x');
  answered = true;
  auto with_length = [&](std::string_view status, std::string_view extra) {
    out.append("HTTP/1.1 ").append(status).append("\r\n").append(extra);
    out.append("Content-Type: text/plain\r\nContent-Length: ")
        .append(std::to_string(body.size()))
        .append("\r\n\r\n");
    if (!head) out.append(body);
  };
  if (mode == "reset") {
    answered = false;
    return true;
  }
  if (mode == "bad") {
    out.append("HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n");
    return true;
  }
  if (mode == "101") {
    out.append("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: fuzz\r\n\r\n");
    return true;
  }
  if (mode == "204") {
    out.append("HTTP/1.1 204 No Content\r\nX-Up: 1\r\n\r\n");
    return false;
  }
  if (mode == "304") {
    out.append("HTTP/1.1 304 Not Modified\r\nETag: \"fuzz\"\r\n\r\n");
    return false;
  }
  if (mode == "continue") {
    out.append("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n");
    with_length("200 OK", "");
    return false;
  }
  if (mode == "hop") {
    with_length("200 OK",
                "Connection: x-hop\r\nX-Hop: leaked hop header\r\nKeep-Alive: timeout=5\r\n"
                "Proxy-Authenticate: leaked hop header\r\nUpgrade: leaked hop header\r\n");
    return false;
  }
  if (mode == "chunked" || mode == "trailer") {
    out.append("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n");
    if (mode == "trailer") out.append("Trailer: X-Trailer\r\n");
    out.append("\r\n");
    if (!head) {
      std::size_t half = body.size() / 2;
      for (std::string_view piece :
           {std::string_view(body).substr(0, half), std::string_view(body).substr(half)}) {
        if (piece.empty()) continue;
        char size[32];
        std::snprintf(size, sizeof size, "%zx;ext=1\r\n", piece.size());
        out.append(size).append(piece).append("\r\n");
      }
      out.append("0\r\n");
      if (mode == "trailer") out.append("X-Trailer: leaked hop header\r\n");
      out.append("\r\n");
    }
    return false;
  }
  if (mode == "close") {
    out.append("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    if (!head) out.append(body);
    return true;
  }
  with_length(mode == "404" ? "404 Not Found" : "200 OK", "");
  return false;
}

class Harness {
 public:
  static Harness& Get() {
    static Harness* harness = new Harness();  // never destroyed: libFuzzer exits from anywhere
    return *harness;
  }

  void Run(std::string_view input);

 private:
  Harness();

  asio::awaitable<void> AcceptUpstream();
  asio::awaitable<void> ServeUpstream(tcp::socket socket);
  asio::awaitable<void> WriteInput(stream_protocol::socket& client, std::string_view input,
                                   bool& done);
  asio::awaitable<void> ReadOutput(stream_protocol::socket& client, std::string& output,
                                   bool& done);

  std::string dir_;
  Metrics metrics_;
  std::unique_ptr<LogSink> access_log_;
  SharedState shared_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<tcp::acceptor> upstream_;
  std::unique_ptr<FilterServices> services_;
  std::shared_ptr<const Snapshot> snapshot_;
  const bool debug_ = std::getenv("CIAP_FUZZ_DEBUG") != nullptr;  // print what the client got
  int stderr_copy_ = -1;
  int capture_fd_ = -1;
  std::size_t answered_ = 0;  // final responses the upstream sent during the current input
};

Harness::Harness() {
  ::signal(SIGPIPE, SIG_IGN);
  char dir[] = "/tmp/ciap-fuzz-http-XXXXXX";
  FUZZ_CHECK(::mkdtemp(dir) != nullptr, "mkdtemp failed");
  dir_ = dir;
  std::ofstream(dir_ + "/token") << kSecret;

  // The provider's key set, and tokens it signed (and one it did not).
  {
    using namespace jose::testing;  // NOLINT
    std::ofstream(dir_ + "/jwks.json") << JwksOf({P256().Jwk("k1", "ES256")});
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    auto payload = [&](std::string_view sub, std::string_view group) {
      return R"({"iss":"https://issuer.fuzz.test","aud":"fuzz","sub":")" + std::string(sub) +
             R"(","groups":[")" + std::string(group) + R"("],"iat":)" + std::to_string(now) +
             R"(,"exp":)" + std::to_string(now + 1800) + "}";
    };
    tokens.admin = SignedToken(R"({"alg":"ES256","kid":"k1"})", payload("admin-job", "admins"),
                               P256(), "ES256");
    tokens.user =
        SignedToken(R"({"alg":"ES256","kid":"k1"})", payload("user-job", "dev"), P256(), "ES256");
    tokens.unknown = SignedToken(R"({"alg":"ES256","kid":"k2"})", payload("admin-job", "admins"),
                                 P256Second(), "ES256");
  }

  // Access-log lines are built and written as in production, to /dev/null.
  std::string error;
  access_log_ = LogSink::Open("/dev/null", &error);
  FUZZ_CHECK(access_log_ != nullptr, "%s", error.c_str());
  shared_.metrics = &metrics_;
  shared_.access_log = access_log_.get();
  shared_.workers = 1;
  worker_ = std::make_unique<Worker>(0, shared_);

  upstream_ = std::make_unique<tcp::acceptor>(
      worker_->io(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto config = config::ParseConfig(ConfigYaml(upstream_->local_endpoint().port(), dir_),
                                    "fuzz.yaml", config::ProcessEnv());
  FUZZ_CHECK(config.has_value(), "harness config: %s", config.error()[0].ToString().c_str());
  // As in `ciap run`, with the filter services on the same event loop (one thread here).
  services_ = std::make_unique<FilterServices>(
      FilterRegistry(), ServiceEnv{.io = &worker_->io(), .metrics = &metrics_.registry()});
  auto prepared = services_->Prepare(**config);
  FUZZ_CHECK(prepared.has_value(), "harness services: %s", prepared.error().c_str());
  auto snapshot = BuildSnapshot(*config, metrics_, {.prepared = std::move(*prepared)});
  FUZZ_CHECK(snapshot.has_value(), "harness snapshot: %s", snapshot.error().c_str());
  snapshot_ = *snapshot;
  services_->Commit(snapshot_->prepared);
  shared_.snapshot.store(snapshot_);
  services_->Start();
  asio::co_spawn(worker_->io(), AcceptUpstream(), asio::detached);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!services_->NotReady().empty() && std::chrono::steady_clock::now() < give_up) {
    worker_->io().run_one_for(std::chrono::milliseconds(100));
  }
  FUZZ_CHECK(services_->NotReady().empty(), "the jwks_file did not load");

  // Sessions report an exception that reached them on stderr ("session failed"); stderr is
  // captured while an input runs so such a line can fail the run. Sanitizer and invariant
  // reports keep going to the real stderr.
  stderr_copy_ = ::dup(STDERR_FILENO);
  capture_fd_ = ::memfd_create("ciap-fuzz-stderr", MFD_CLOEXEC);
  FUZZ_CHECK(stderr_copy_ >= 0 && capture_fd_ >= 0, "cannot set up stderr capture");
  if (__sanitizer_set_report_fd != nullptr) {
    __sanitizer_set_report_fd(reinterpret_cast<void*>(static_cast<intptr_t>(stderr_copy_)));
  }
  fuzz::ReportFd() = stderr_copy_;
  std::atexit([] {
    std::string dir = Harness::Get().dir_;
    for (const char* name : {"/token", "/jwks.json"}) std::remove((dir + name).c_str());
    ::rmdir(dir.c_str());
  });
}

asio::awaitable<void> Harness::AcceptUpstream() {
  for (;;) {
    auto [ec, socket] = co_await upstream_->async_accept(use_nothrow);
    if (ec) continue;
    asio::co_spawn(worker_->io(), ServeUpstream(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> Harness::ServeUpstream(tcp::socket socket) {
  beast::flat_buffer buffer;
  std::string response;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(1 << 20);
    parser.body_limit(16 << 20);
    auto [ec, n] = co_await http::async_read(socket, buffer, parser, use_nothrow);
    if (ec) {
      // The proxy closes a connection whose request the client cut short (partial_message),
      // and idle pooled ones (end_of_stream). Anything else: it sent something malformed.
      FUZZ_CHECK(ec == http::error::end_of_stream || ec == http::error::partial_message ||
                     ec == asio::error::eof || ec == asio::error::connection_reset ||
                     ec == asio::error::operation_aborted,
                 "the upstream could not parse what the proxy sent: %s", ec.message().c_str());
      co_return;
    }
    CheckForwarded(parser.get());
    response.clear();
    bool answered = false;
    bool close = BuildResponse(parser.get(), response, answered);
    if (answered) ++answered_;
    auto [write_ec, written] =
        co_await asio::async_write(socket, asio::buffer(response), use_nothrow);
    if (write_ec || close) {
      error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      co_return;
    }
  }
}

asio::awaitable<void> Harness::WriteInput(stream_protocol::socket& client, std::string_view input,
                                          bool& done) {
  co_await asio::async_write(client, asio::buffer(input.data(), input.size()), use_nothrow);
  error_code ignored;
  client.shutdown(stream_protocol::socket::shutdown_send, ignored);
  done = true;
}

asio::awaitable<void> Harness::ReadOutput(stream_protocol::socket& client, std::string& output,
                                          bool& done) {
  char chunk[16 * 1024];
  for (;;) {
    auto [ec, n] = co_await client.async_read_some(asio::buffer(chunk), use_nothrow);
    if (ec) break;
    if (output.size() < kMaxKeptOutput) output.append(chunk, n);
  }
  done = true;
}

[[maybe_unused]] std::size_t CountOccurrences(std::string_view text, std::string_view needle) {
  std::size_t count = 0;
  for (std::size_t i = text.find(needle); i != std::string_view::npos;
       i = text.find(needle, i + 1)) {
    ++count;
  }
  return count;
}

void Harness::Run(std::string_view given) {
#ifdef CIAP_FUZZ_H2
  std::string input = std::string(kHttp2Preface) + std::string(given);
#else
  std::string input(given);
#endif
  for (auto [placeholder, token] :
       {std::pair{"$ADMIN$", &tokens.admin}, std::pair{"$USER$", &tokens.user},
        std::pair{"$UNKNOWN$", &tokens.unknown}}) {
    const std::size_t length = std::strlen(placeholder);
    for (std::size_t at = input.find(placeholder); at != std::string::npos;
         at = input.find(placeholder, at + token->size())) {
      input.replace(at, length, *token);
    }
  }
  asio::io_context& io = worker_->io();
  int fds[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, "socketpair");
  tcp::socket server(io);
  server.assign(tcp::v4(), fds[0]);
  stream_protocol::socket client(io);
  client.assign(stream_protocol(), fds[1]);

  ::ftruncate(capture_fd_, 0);
  ::lseek(capture_fd_, 0, SEEK_SET);
  ::dup2(capture_fd_, STDERR_FILENO);

  answered_ = 0;
  bool written = false, read = false;
  std::string output;
  // The session's coroutine owns it; it is done when the worker's session count is back to 0.
  // An exception escaping it is logged as "session failed", which the check below catches.
  Session::Start(*worker_, snapshot_, snapshot_->listeners[0], std::move(server));
  asio::co_spawn(io, WriteInput(client, input, written), asio::detached);
  asio::co_spawn(io, ReadOutput(client, output, read), asio::detached);
  auto& sessions = worker_->shared().sessions;
  while (!(written && read && sessions.load() == 0)) io.run_one();
  worker_->access_log().Flush();

  ::dup2(stderr_copy_, STDERR_FILENO);
  std::string captured;
  if (::lseek(capture_fd_, 0, SEEK_END) > 0) {
    captured.resize(static_cast<std::size_t>(::lseek(capture_fd_, 0, SEEK_CUR)));
    ::pread(capture_fd_, captured.data(), captured.size(), 0);
  }
  FUZZ_CHECK(captured.find("session failed") == std::string::npos, "%s", captured.c_str());

  if (debug_) {
    dprintf(stderr_copy_, "---- upstream answered %zu; the client got:\n%s\n", answered_,
            output.c_str());
  }
#ifdef CIAP_FUZZ_H2
  // HTTP/2 frames, the server's SETTINGS first (type 4 in the first frame's header).
  FUZZ_CHECK(output.empty() || (output.size() >= 9 && output[3] == 0x04),
             "the client got no SETTINGS first");
#else
  FUZZ_CHECK(output.empty() || output.starts_with("HTTP/1.1 "), "the client got: %.80s",
             output.c_str());
#endif
  FUZZ_CHECK(output.find(kSecret) == std::string::npos, "the injected secret reached the client");
  FUZZ_CHECK(output.find(kHopMarker) == std::string::npos,
             "a hop-by-hop header or trailer of the upstream reached the client");
#ifdef CIAP_FUZZ_H2
  std::size_t request_lines = input.size() / 9;  // a request takes a frame header at least
#else
  std::size_t request_lines = CountOccurrences(input, "HTTP/1.");
#endif
  FUZZ_CHECK(answered_ <= request_lines, "the upstream answered %zu requests; the client sent %zu",
             answered_, request_lines);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness::Get().Run(ciap::fuzz::AsText(data, size));
  return 0;
}
