// The data plane's Prometheus metrics: families created once at startup; the request path only
// increments pointers it resolved when the config snapshot was built (or lazily, once per
// status code). Filters register their own families in the same registry.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>

namespace ciap {

class Metrics {
 public:
  Metrics();

  // Prometheus text exposition of everything registered.
  std::string Serialize() const;

  prometheus::Registry& registry() { return *registry_; }

  prometheus::Family<prometheus::Counter>& requests;              // ciap_requests_total
  prometheus::Family<prometheus::Histogram>& request_duration;    // ciap_request_duration_seconds
  prometheus::Family<prometheus::Counter>& upstream_requests;     // ciap_upstream_requests_total
  prometheus::Family<prometheus::Gauge>& upstream_connections;    // ciap_upstream_connections
  prometheus::Family<prometheus::Gauge>& downstream_connections;  // ciap_downstream_connections
  prometheus::Family<prometheus::Counter>& downstream_connections_total;
  prometheus::Family<prometheus::Counter>& tls_handshake_errors;  // ciap_tls_handshake_errors_total
  prometheus::Family<prometheus::Counter>& config_reloads;        // ciap_config_reloads_total
  prometheus::Family<prometheus::Gauge>& certificate_expiry;
  prometheus::Family<prometheus::Gauge>& build_info;
  // ciap_rejected_requests_total{listener,reason}: requests refused as malformed, ambiguous or
  // with a path that cannot be normalized (400, 405, 431), by reason code. Refusals are the
  // cold path: the session resolves the label set when it counts one.
  prometheus::Family<prometheus::Counter>& rejected_requests;
  prometheus::Family<prometheus::Gauge>& config_last_reload;  // ..._last_reload_success_timestamp

  static const prometheus::Histogram::BucketBoundaries& DurationBuckets();

 private:
  explicit Metrics(std::shared_ptr<prometheus::Registry> registry);
  std::shared_ptr<prometheus::Registry> registry_;
};

// Counters by HTTP status code for one label set, filled lazily: the first request with a new
// code asks the family (under a lock) and caches the pointer in a slot; every later one finds
// it with a few loads. Family::Add returns the same metric for the same labels, so a code seen
// first by two workers at once still counts in one series.
class StatusCounters {
 public:
  StatusCounters(prometheus::Family<prometheus::Counter>& family, prometheus::Labels labels)
      : family_(&family), labels_(std::move(labels)) {}

  void Increment(int status) {
    if (status < 100 || status > 599) status = 599;
    for (const Slot& slot : slots_) {
      prometheus::Counter* counter = slot.counter.load(std::memory_order_acquire);
      if (counter == nullptr) break;  // slots fill in order: the code is not here yet
      if (slot.code.load(std::memory_order_relaxed) == status) {
        counter->Increment();
        return;
      }
    }
    Add(status).Increment();
  }

 private:
  // A route sees a handful of status codes: a few slots, filled on first sight, stand in for
  // a table of every code (which cost 4 KiB per route). Past them, the family's own lookup.
  struct Slot {
    std::atomic<int> code{0};
    std::atomic<prometheus::Counter*> counter{nullptr};
  };
  static constexpr std::size_t kSlots = 8;

  prometheus::Counter& Add(int status) {
    std::lock_guard<std::mutex> lock(mutex_);
    prometheus::Labels labels = labels_;
    labels["code"] = std::to_string(status);
    prometheus::Counter& counter = family_->Add(labels);  // the same child for the same labels
    for (Slot& slot : slots_) {
      prometheus::Counter* taken = slot.counter.load(std::memory_order_relaxed);
      if (taken != nullptr && slot.code.load(std::memory_order_relaxed) == status) break;
      if (taken == nullptr) {
        slot.code.store(status, std::memory_order_relaxed);
        slot.counter.store(&counter, std::memory_order_release);
        break;
      }
    }
    return counter;
  }

  prometheus::Family<prometheus::Counter>* family_;
  prometheus::Labels labels_;
  std::array<Slot, kSlots> slots_{};
  std::mutex mutex_;
};

}  // namespace ciap
