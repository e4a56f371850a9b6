// Coarse per-operation deadlines without a timer per operation.
//
// Each connection owns one Deadline, linked into its worker's list. Arming one is storing a
// time point (and lowering the worker's earliest due time if it is sooner); the worker's
// ticker (every 100 ms) expires the ones that are due by cancelling whatever the connection is
// waiting on, and walks the list only when the earliest due time has come. That is one timer per
// worker instead of a timer re-armed (a timerfd syscall) for every read and write, at the price of
// 100 ms precision, which is plenty for timeouts configured in seconds.
#pragma once

#include <time.h>

#include <chrono>

#include "net/asio.h"
#include "net/stream.h"

namespace ciap {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  Deadline() = default;
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // The kernel's coarse monotonic clock: the same clock as Clock, updated every scheduler tick
  // (a few ms) and read for a fraction of a precise read's cost. Deadlines are checked every
  // 100 ms; a request arms several, so the cheaper read is the one they take.
  static Clock::time_point CoarseNow() {
    timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
        std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec)));
  }

  // From now on, `timeout` bounds the wait on `target`. `idle` marks a wait between requests,
  // which draining ends early.
  void Arm(std::chrono::milliseconds timeout, Stream* target, bool idle = false) {
    due_ = CoarseNow() + timeout;
    if (earliest_ != nullptr && due_ < *earliest_) *earliest_ = due_;
    stream_ = target;
    timer_ = nullptr;
    expired_ = false;
    idle_ = idle;
  }
  void Arm(std::chrono::milliseconds timeout, asio::steady_timer* target) {
    Arm(timeout, static_cast<Stream*>(nullptr));
    timer_ = target;
  }
  void Disarm() {
    due_ = Clock::time_point::max();
    stream_ = nullptr;
    timer_ = nullptr;
    idle_ = false;
  }
  // `target` is about to be handed on (to a pool that may close it): a deadline still armed on
  // it would, once due, cancel whatever uses that object, or that memory, next.
  void Forget(const Stream* target) {
    if (stream_ == target) Disarm();
  }

  // When the armed wait runs out (time_point::max() when disarmed).
  Clock::time_point due() const { return due_; }

  // True once the armed wait ran out; reset by the next Arm().
  bool expired() const { return expired_; }

  // Called by the worker's ticker.
  void Check(Clock::time_point now, bool draining) {
    if (now >= due_ || (draining && idle_)) Expire();
  }

 private:
  friend class Worker;

  // Sticky: once due, every tick cancels again until the next Arm/Disarm. A composed
  // operation (TLS record reassembly, a header read in several steps) may have nothing pending
  // on the socket at the tick that finds it due; a one-shot cancel would then be lost and the
  // rest of the operation would run with no timeout at all.
  void Expire() {
    expired_ = true;
    if (stream_ != nullptr) stream_->Cancel();
    if (timer_ != nullptr) timer_->cancel();
  }

  Clock::time_point due_ = Clock::time_point::max();
  Stream* stream_ = nullptr;
  asio::steady_timer* timer_ = nullptr;
  bool expired_ = false;
  bool idle_ = false;
  // The worker's earliest due time, lowered by an Arm that is due sooner (see Worker::Ticker).
  Clock::time_point* earliest_ = nullptr;
  // Intrusive list links, owned by Worker.
  Deadline* prev_ = nullptr;
  Deadline* next_ = nullptr;
};

}  // namespace ciap
