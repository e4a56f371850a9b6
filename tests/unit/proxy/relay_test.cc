// The relay with a fake codec: a Downstream of the test's own (scripted body pieces, recorded
// response) against a real upstream socket on 127.0.0.1. What any codec gets from the relay:
// the request re-framed for the upstream, the body streamed piece by piece, the response
// relayed, and failures answered (502) or refused (400) without the codec's involvement.
#include "proxy/relay.h"

#include <gtest/gtest.h>

#include <deque>

#include "config/loader.h"
#include "proxy/metrics.h"
#include "proxy/worker.h"

namespace ciap {
namespace {

// A client side scripted by the test: body pieces arrive one ReadBody() at a time.
class FakeDownstream : public Downstream {
 public:
  http::fields headers;
  std::deque<std::string> pieces;  // what each ReadBody() delivers
  bool malformed_after_pieces = false;
  std::optional<uint64_t> length;

  // What the relay did.
  int status = 0;
  std::string body;
  bool last = false;
  std::string reply_reason;
  int reads = 0;

  const http::fields& request_headers() const override { return headers; }
  std::string_view client_address() const override { return "192.0.2.7"; }
  bool tls() const override { return true; }
  bool has_body() const override { return !pieces.empty() || length.value_or(0) > 0; }
  std::optional<uint64_t> body_length() const override { return length; }
  bool expects_continue() const override { return false; }
  asio::awaitable<bool> SendContinue() override { co_return true; }
  BodyPiece TakeBody(std::span<char> into) override {
    if (buffered_.empty()) {
      if (pieces.empty() && malformed_after_pieces) return {0, false, true};
      return {0, !pieces.empty(), false};
    }
    std::size_t n = std::min(into.size(), buffered_.size());
    std::copy_n(buffered_.data(), n, into.data());
    buffered_.erase(0, n);
    return {n, buffered_.empty() && !pieces.empty(), false};
  }
  asio::awaitable<ReadResult> ReadBody() override {
    ++reads;
    buffered_ += pieces.front();
    pieces.pop_front();
    co_return ReadResult::kOk;
  }
  bool body_done() const override {
    return pieces.empty() && buffered_.empty() && !malformed_after_pieces;
  }
  bool BeginResponse(const http::response_header<>& head, std::optional<uint64_t>, bool,
                     bool client_keep_alive) override {
    status = head.result_int();
    return client_keep_alive;
  }
  asio::awaitable<bool> WriteResponse(std::span<const char> data, bool is_last) override {
    body.append(data.data(), data.size());
    last = is_last;
    started_ = true;
    co_return true;
  }
  bool response_started() const override { return started_; }
  asio::awaitable<bool> Respond(ExchangeRecord&, http::status s, std::string_view reason, bool,
                                const std::vector<std::pair<std::string, std::string>>*,
                                std::string) override {
    status = static_cast<int>(s);
    reply_reason = reason;
    co_return false;
  }

 private:
  std::string buffered_;
  bool started_ = false;
};

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    acceptor_.emplace(worker_.io(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    std::string yaml = "upstreams: [{ name: u, endpoints: [\"127.0.0.1:" +
                       std::to_string(acceptor_->local_endpoint().port()) +
                       "\"] }]\n"
                       "listeners:\n  - { name: l, address: \"127.0.0.1:0\", plaintext: true,\n"
                       "      routes: [{ name: r, upstream: u, public: true }] }\n";
    auto config = config::ParseConfig(yaml, "test.yaml", config::ProcessEnv());
    ASSERT_TRUE(config.has_value()) << config.error()[0].ToString();
    auto snapshot = BuildSnapshot(*config, metrics_);
    ASSERT_TRUE(snapshot.has_value()) << snapshot.error();
    snapshot_ = *snapshot;
    shared_.metrics = &metrics_;
    exchange_.Reset();
    exchange_.request_id = "rid-1";
    exchange_.method = "POST";
    exchange_.routed.path = "/upload";
    exchange_.host_header = "ci.test";
    exchange_.route = &snapshot_->listeners.front().routes.front();
  }

  // The upstream: reads one request (head, then a chunked body up to its last chunk), keeps
  // it, and answers `response` (or closes when empty).
  asio::awaitable<void> Upstream(std::string response) {
    auto [ec, socket] = co_await acceptor_->async_accept(use_nothrow);
    if (ec) co_return;
    std::string data;
    char chunk[4096];
    while (data.find("\r\n\r\n") == std::string::npos ||
           (data.find("chunked") != std::string::npos &&
            data.find("\r\n0\r\n\r\n") == std::string::npos)) {
      auto [read_ec, n] = co_await socket.async_read_some(asio::buffer(chunk), use_nothrow);
      if (read_ec) break;
      data.append(chunk, n);
    }
    received_ = data;
    if (!response.empty()) co_await asio::async_write(socket, asio::buffer(response), use_nothrow);
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
  }

  bool Run(FakeDownstream& client, std::string response) {
    bool keep_alive = false;
    asio::co_spawn(worker_.io(), Upstream(std::move(response)), asio::detached);
    asio::co_spawn(
        worker_.io(),
        [&]() -> asio::awaitable<void> {
          keep_alive = co_await relay_.Forward(client, exchange_, "a=1", snapshot_, true);
          acceptor_->close();
        },
        asio::detached);
    worker_.io().run_for(std::chrono::seconds(10));
    return keep_alive;
  }

  Metrics metrics_;
  SharedState shared_;
  Worker worker_{0, shared_};
  Deadline deadline_;
  Relay relay_{worker_, deadline_};
  std::optional<tcp::acceptor> acceptor_;
  std::shared_ptr<const Snapshot> snapshot_;
  ExchangeRecord exchange_;
  std::string received_;
};

TEST_F(RelayTest, StreamsTheBodyAndRelaysTheResponse) {
  FakeDownstream client;
  client.headers.set("X-Job", "7");
  client.headers.set("X-Forwarded-Host", "evil");  // routing headers never reach the upstream
  client.pieces = {"abc", "defg", "h"};
  const bool keep_alive =
      Run(client, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Up: 1\r\n\r\nhello");
  EXPECT_TRUE(keep_alive);
  EXPECT_EQ(client.status, 200);
  EXPECT_EQ(client.body, "hello");
  EXPECT_TRUE(client.last);
  EXPECT_EQ(client.reads, 3);
  EXPECT_EQ(exchange_.bytes_in, 8u);
  EXPECT_EQ(exchange_.bytes_out, 5u);
  // Unknown length: chunked to the upstream; the query as given; ciap's forwarding headers.
  EXPECT_EQ(received_.substr(0, received_.find("\r\n")), "POST /upload?a=1 HTTP/1.1");
  EXPECT_NE(received_.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << received_;
  EXPECT_NE(received_.find("X-Job: 7\r\n"), std::string::npos);
  EXPECT_EQ(received_.find("X-Forwarded-Host"), std::string::npos);
  EXPECT_NE(received_.find("X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n"),
            std::string::npos);
  EXPECT_NE(received_.find("x-request-id: rid-1\r\n"), std::string::npos);
  const std::string body_on_wire = received_.substr(received_.find("\r\n\r\n") + 4);
  EXPECT_EQ(body_on_wire, "3\r\nabc\r\n4\r\ndefg\r\n1\r\nh\r\n0\r\n\r\n");
}

TEST_F(RelayTest, AnUpstreamThatClosesWithoutAnswerIs502) {
  FakeDownstream client;
  client.length = 0;
  EXPECT_FALSE(Run(client, ""));
  EXPECT_EQ(client.status, 502);
  EXPECT_EQ(client.reply_reason, "upstream_reset");
  EXPECT_FALSE(client.response_started());
}

TEST_F(RelayTest, AMalformedBodyIs400AndTheUpstreamGetsNoBody) {
  FakeDownstream client;
  client.pieces = {"abc"};
  client.malformed_after_pieces = true;
  EXPECT_FALSE(Run(client, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_EQ(client.status, 400);
  EXPECT_EQ(client.reply_reason, "malformed_body");
  EXPECT_EQ(received_.find("0\r\n\r\n"), std::string::npos) << "the body was completed upstream";
}

}  // namespace
}  // namespace ciap
