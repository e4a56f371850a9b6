// See worker.h.
#include "proxy/worker.h"

#include <random>

#include "proxy/session.h"

namespace ciap {

RequestIdGenerator::RequestIdGenerator() {
  std::random_device device;
  for (uint64_t& word : state_) word = (uint64_t{device()} << 32) | device();
}

uint64_t RequestIdGenerator::Next() {
  auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  uint64_t result = rotl(state_[1] * 5, 7) * 9;
  uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

void RequestIdGenerator::Append(std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int word = 0; word < 2; ++word) {
    uint64_t value = Next();
    for (int i = 0; i < 16; ++i) {
      out.push_back(kHex[value & 15]);
      value >>= 4;
    }
  }
}

Worker::Worker(std::size_t index, SharedState& shared)
    : index_(index), shared_(shared), access_log_(shared.access_log) {
  deadlines_head_.next_ = &deadlines_head_;
  deadlines_head_.prev_ = &deadlines_head_;
}

Worker::~Worker() {
  Join();
  // Acceptors and pooled sockets first, while their io_context lives; then the io_context,
  // whose destruction destroys suspended sessions (they unregister from deadlines_head_).
  acceptors_.clear();
  pools_.clear();
  io_.reset();
  access_log_.Flush();
}

void Worker::AddAcceptor(tcp::acceptor acceptor, std::size_t listener_index) {
  acceptors_.emplace_back(std::move(acceptor), listener_index);
}

void Worker::Start() {
  for (auto& [acceptor, listener_index] : acceptors_) {
    asio::co_spawn(*io_, AcceptLoop(acceptor, listener_index), asio::detached);
  }
  asio::co_spawn(*io_, Ticker(), asio::detached);
  thread_ = std::thread([this] {
    io_->run();
    access_log_.Flush();
  });
}

void Worker::StopAccepting() {
  asio::post(*io_, [this] {
    for (auto& [acceptor, listener_index] : acceptors_) {
      error_code ignored;
      acceptor.close(ignored);
    }
  });
}

void Worker::Stop() { io_->stop(); }

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

UpstreamPool& Worker::Pool(const UpstreamRuntime& upstream) {
  auto& pool = pools_[&upstream];
  if (!pool) {
    uint32_t workers = static_cast<uint32_t>(shared_.workers);
    uint32_t per_worker = (upstream.config->max_connections + workers - 1) / workers;
    pool = std::make_unique<UpstreamPool>(io_->get_executor(), upstream, per_worker);
  }
  return *pool;
}

void Worker::Register(Deadline* deadline) {
  deadline->next_ = deadlines_head_.next_;
  deadline->prev_ = &deadlines_head_;
  deadlines_head_.next_->prev_ = deadline;
  deadlines_head_.next_ = deadline;
}

void Worker::Unregister(Deadline* deadline) {
  deadline->prev_->next_ = deadline->next_;
  deadline->next_->prev_ = deadline->prev_;
  deadline->next_ = deadline->prev_ = nullptr;
}

asio::awaitable<void> Worker::AcceptLoop(tcp::acceptor& acceptor, std::size_t listener_index) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      // Out of file descriptors or similar: back off briefly instead of spinning.
      LogEvent(LogLevel::kError, "accept failed", {{"error", ec.message()}});
      asio::steady_timer pause(*io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    auto snapshot = shared_.snapshot.load();
    co_spawn(*io_, Session::Start(*this, std::move(snapshot), listener_index, std::move(socket)),
             asio::detached);
  }
}

asio::awaitable<void> Worker::Ticker() {
  asio::steady_timer timer(*io_);
  for (;;) {
    timer.expires_after(std::chrono::milliseconds(100));
    auto [ec] = co_await timer.async_wait(use_nothrow);
    if (ec) co_return;
    auto now = Deadline::Clock::now();
    bool draining = shared_.draining.load(std::memory_order_relaxed);
    // Check() may cancel operations, whose completions run later: the list is stable here.
    for (Deadline* d = deadlines_head_.next_; d != &deadlines_head_; d = d->next_) {
      d->Check(now, draining);
    }
    for (auto& [upstream, pool] : pools_) pool->Sweep(now);
    access_log_.Flush();
  }
}

}  // namespace ciap
