// The HTTP/2 upstream client (proxy/h2_upstream.cc, `protocol: http2`): the fuzz input is what
// an upstream sends back on one connection. The first byte picks what the exchange does (a
// request with a body or not, and whether the relay gives up on the stream halfway); the rest
// are the upstream's bytes, written once ciap's connection preface and request went out, then
// the upstream closes its side. The client runs in a Worker's event loop as in `ciap run`, with
// a relay-like loop that takes the response body and gives its flow-control credit back.
//
// Invariants beyond "never crashes, never leaks, never hangs":
//  - unread response body stays within the stream window ciap announced (flow control holds);
//  - a response head is only ever final (status 200-599) and its header list is bounded;
//  - the exchange ends (closed) once the upstream's bytes end, whatever they were;
//  - releasing an exchange (open or not) leaves the connection usable or dead, never dangling.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/asio.h"
#include "proxy/h2_common.h"
#include "proxy/h2_upstream.h"
#include "proxy/metrics.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace ciap;  // NOLINT: the harness reads like the proxy's own code

constexpr std::size_t kWindow = 256 * 1024;       // the stream window ciap announces
constexpr std::size_t kHeaderList = 64 * 1024;    // the header list size it accepts
constexpr std::size_t kLongestField = 16 * 1024;  // a field past the limit, as counted
constexpr std::size_t kMaxTurns = 1'000'000;      // a hang, not a slow input

class Harness {
 public:
  static Harness& Get() {
    static Harness harness;
    return harness;
  }

  void Run(const uint8_t* data, std::size_t size);

 private:
  Harness();

  SharedState shared_;
  std::unique_ptr<Worker> worker_;
  config::UpstreamConfig config_;
  UpstreamRuntime runtime_{};
  std::unique_ptr<tcp::acceptor> acceptor_;
};

Harness::Harness() {
  shared_.workers = 1;
  worker_ = std::make_unique<Worker>(0, shared_);
  config_.name = "fuzz";
  runtime_.config = &config_;
  acceptor_ = std::make_unique<tcp::acceptor>(
      worker_->io(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
}

void Harness::Run(const uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const uint8_t mode = data[0];
  const bool has_body = (mode & 1) != 0;
  const bool give_up_early = (mode & 2) != 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  asio::io_context& io = worker_->io();

  // libFuzzer's timer signals can interrupt these blocking calls (EINTR); the kernel goes on
  // with the connection, so wait for it rather than start another.
  tcp::socket client(io);
  error_code ec;
  client.connect(acceptor_->local_endpoint(), ec);
  while (ec == asio::error::interrupted) client.wait(tcp::socket::wait_write, ec);
  FUZZ_CHECK(!ec, "connect to the harness's own acceptor");
  tcp::socket server(io);
  do {
    acceptor_->accept(server, ec);
  } while (ec == asio::error::interrupted);
  FUZZ_CHECK(!ec, "accept on the harness's own acceptor");
  auto upstream = std::make_shared<Http2Upstream>(
      *worker_, std::make_unique<UpstreamConnection>(std::move(client), nullptr), runtime_);
  upstream->Start();

  Http2Exchange exchange(io.get_executor());
  std::vector<std::pair<std::string, std::string>> fields = {{":method", "POST"},
                                                             {":scheme", "http"},
                                                             {":authority", "fuzz.test"},
                                                             {":path", "/svc/Method"},
                                                             {"te", "trailers"}};
  std::vector<nghttp2_nv> list = NameValues(fields, fields.size());
  if (has_body) exchange.send = "request body";
  exchange.send_done = true;
  FUZZ_CHECK(upstream->Submit(list, exchange, has_body), "a fresh connection refused a stream");

  // The upstream: swallow what ciap sends, send the input, then close the sending side.
  bool written = false;
  std::string sink(64 * 1024, '\0');
  std::function<void(error_code, std::size_t)> drain = [&](error_code ec, std::size_t) {
    if (!ec) server.async_read_some(asio::buffer(sink), drain);
  };
  server.async_read_some(asio::buffer(sink), drain);
  asio::async_write(server, asio::buffer(bytes), [&](error_code, std::size_t) {
    error_code ignored;
    server.shutdown(tcp::socket::shutdown_send, ignored);
    written = true;
  });

  bool released = false;
  for (std::size_t turns = 0; !(written && exchange.closed); ++turns) {
    FUZZ_CHECK(turns < kMaxTurns, "the exchange never ended (%zu input bytes)", bytes.size());
    if (io.run_one() == 0) break;
    FUZZ_CHECK(exchange.body.size() - exchange.body_at <= kWindow,
               "%zu bytes of unread body, past the %zu window",
               exchange.body.size() - exchange.body_at, kWindow);
    FUZZ_CHECK(exchange.header_bytes <= kHeaderList + kLongestField,
               "a header list of %zu bytes was kept", exchange.header_bytes);
    if (exchange.head_done) {
      const int status = exchange.head.result_int();
      FUZZ_CHECK(status >= 200 && status <= 599, "a final response with status %d", status);
    }
    // The relay: the body goes to the client and its credit back to the upstream.
    const std::size_t unread = exchange.body.size() - exchange.body_at;
    if (unread > 0 && !released) {
      exchange.body_at += unread;
      upstream->Consumed(exchange, unread);
      if (give_up_early) {
        upstream->Release(exchange);  // the client went away mid-response
        released = true;
      }
    }
    if (released && written) break;
  }
  if (!released) upstream->Release(exchange);
  upstream->Close();
  error_code ignored;
  server.close(ignored);
  // Let the connection's reader and writer see the close and let go of it.
  for (std::size_t turns = 0; upstream.use_count() > 1; ++turns) {
    FUZZ_CHECK(turns < kMaxTurns, "the connection's coroutines never ended");
    if (io.run_one() == 0) break;
  }
  FUZZ_CHECK(upstream.use_count() == 1, "the connection is still held after Close");
  upstream.reset();
  io.restart();
  io.poll();
  io.restart();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness::Get().Run(data, size);
  return 0;
}
