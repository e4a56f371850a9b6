// See worker.h.
#include "proxy/worker.h"

#include <algorithm>
#include <random>

#include "proxy/h2_stream.h"
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
  const std::size_t at = out.size();
  out.resize(at + 32);
  char* digit = out.data() + at;
  for (int word = 0; word < 2; ++word) {
    uint64_t value = Next();
    for (int i = 0; i < 16; ++i) {
      *digit++ = kHex[value & 15];
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
  spare_streams_.clear();  // their timers belong to io_
  io_.reset();
  access_log_.Flush();
}

void Worker::AddAcceptor(tcp::acceptor acceptor, std::string listener) {
  auto entry = std::make_shared<Acceptor>(Acceptor{std::move(acceptor), std::move(listener)});
  if (!started_) {
    acceptors_.push_back(std::move(entry));
    return;
  }
  asio::post(*io_, [this, entry] {
    acceptors_.push_back(entry);
    asio::co_spawn(*io_, AcceptLoop(entry), asio::detached);
  });
}

void Worker::Start() {
  started_ = true;
  for (const auto& acceptor : acceptors_) {
    asio::co_spawn(*io_, AcceptLoop(acceptor), asio::detached);
  }
  asio::co_spawn(*io_, Ticker(), asio::detached);
  thread_ = std::thread([this] {
    io_->run();
    access_log_.Flush();
  });
}

void Worker::StopAccepting() {
  asio::post(*io_, [this] {
    for (const auto& acceptor : acceptors_) {
      error_code ignored;
      acceptor->socket.close(ignored);
    }
    acceptors_.clear();
  });
}

void Worker::CloseAcceptors(std::string name) {
  asio::post(*io_, [this, name = std::move(name)] {
    std::erase_if(acceptors_, [&](const std::shared_ptr<Acceptor>& acceptor) {
      if (acceptor->listener != name) return false;
      error_code ignored;
      acceptor->socket.close(ignored);  // its loop ends with operation_aborted
      return true;
    });
  });
}

void Worker::RenameAcceptors(std::string from, std::string to) {
  asio::post(*io_, [this, from = std::move(from), to = std::move(to)] {
    for (const auto& acceptor : acceptors_) {
      if (acceptor->listener == from) acceptor->listener = to;
    }
  });
}

void Worker::Stop() { io_->stop(); }

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

UpstreamPool& Worker::Pool(const UpstreamRuntime& upstream,
                           const std::shared_ptr<const Snapshot>& snapshot) {
  auto& pool = pools_[&upstream];
  if (!pool) {
    uint32_t workers = static_cast<uint32_t>(shared_.workers);
    uint32_t per_worker = (upstream.config->max_connections + workers - 1) / workers;
    uint32_t pending = (upstream.config->max_pending + workers - 1) / workers;
    pool = std::make_unique<UpstreamPool>(io_->get_executor(), upstream, snapshot, per_worker,
                                          pending);
  }
  return *pool;
}

std::unique_ptr<Http2Stream> Worker::TakeHttp2Stream() {
  if (spare_streams_.empty()) return nullptr;
  std::unique_ptr<Http2Stream> stream = std::move(spare_streams_.back());
  spare_streams_.pop_back();
  return stream;
}

void Worker::GiveHttp2Stream(std::unique_ptr<Http2Stream> stream) {
  // Enough for the streams a busy worker runs at once; beyond, memory would only idle.
  constexpr std::size_t kMaxSpareStreams = 256;
  if (spare_streams_.size() < kMaxSpareStreams) spare_streams_.push_back(std::move(stream));
}

void Worker::SweepPools(Deadline::Clock::time_point now) {
  std::shared_ptr<const Snapshot> current = shared_.snapshot.load();
  // Pools of older snapshots hand their warm connections to the current snapshot's pool of the
  // same, unchanged upstream (created here if no request made it yet), then retire.
  std::vector<std::pair<UpstreamPool*, const UpstreamRuntime*>> handovers;
  for (auto& [runtime, pool] : pools_) {
    if (pool->retired() || pool->snapshot() == current.get()) continue;
    for (const UpstreamRuntime& upstream : current->upstreams) {
      if (upstream.config->name == runtime->config->name && *upstream.config == *runtime->config) {
        handovers.emplace_back(pool.get(), &upstream);
      }
    }
  }
  for (auto [old_pool, upstream] : handovers) Pool(*upstream, current).AdoptIdle(*old_pool);
  for (auto it = pools_.begin(); it != pools_.end();) {
    UpstreamPool& pool = *it->second;
    if (!pool.retired() && pool.snapshot() != current.get()) pool.Retire();
    if (pool.retired() && pool.open() == 0) {
      it = pools_.erase(it);
      continue;
    }
    pool.Sweep(now);
    ++it;
  }
}

void Worker::Register(Deadline* deadline) {
  deadline->earliest_ = &earliest_due_;
  earliest_due_ = std::min(earliest_due_, deadline->due());
  deadline->next_ = deadlines_head_.next_;
  deadline->prev_ = &deadlines_head_;
  deadlines_head_.next_->prev_ = deadline;
  deadlines_head_.next_ = deadline;
}

void Worker::Unregister(Deadline* deadline) {
  deadline->prev_->next_ = deadline->next_;
  deadline->next_->prev_ = deadline->prev_;
  deadline->next_ = deadline->prev_ = nullptr;
  deadline->earliest_ = nullptr;
}

asio::awaitable<void> Worker::AcceptLoop(std::shared_ptr<Acceptor> acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor->socket.async_accept(use_nothrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor->socket.is_open()) co_return;
      // Out of file descriptors or similar: back off briefly instead of spinning.
      LogEvent(LogLevel::kError, "accept failed", {{"error", ec.message()}});
      asio::steady_timer pause(*io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    auto snapshot = shared_.snapshot.load();
    const ListenerRuntime* listener = snapshot->FindListener(acceptor->listener);
    if (listener == nullptr) {  // removed by a reload a moment ago
      error_code ignored;
      socket.close(ignored);
      continue;
    }
    Session::Start(*this, std::move(snapshot), *listener, std::move(socket));
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
    // The walk touches every connection's deadline: with 10,000 idle keep-alive connections
    // that is a millisecond of cache misses in which no request is served. So it runs only at
    // a tick where one may be due (or while draining, which ends idle waits early). Check()
    // may cancel operations, whose completions run later: the list is stable here.
    if (draining || now >= earliest_due_) {
      Deadline::Clock::time_point earliest = Deadline::Clock::time_point::max();
      for (Deadline* d = deadlines_head_.next_; d != &deadlines_head_; d = d->next_) {
        d->Check(now, draining);
        earliest = std::min(earliest, d->due());  // an expired one stays due: checked again
      }
      earliest_due_ = earliest;
    }
    SweepPools(now);
    access_log_.Flush();
  }
}

}  // namespace ciap
