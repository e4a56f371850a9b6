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

// Counters by HTTP status code for one label set, filled lazily and lock-free: the first
// request with a new code asks the family (which locks) and caches the pointer; every later
// one is an array load. Family::Add returns the same metric for the same labels, so a race
// between workers stores the same pointer twice.
class StatusCounters {
 public:
  StatusCounters(prometheus::Family<prometheus::Counter>& family, prometheus::Labels labels)
      : family_(&family), labels_(std::move(labels)) {}

  void Increment(int status) {
    if (status < 100 || status > 599) status = 599;
    auto& slot = by_code_[static_cast<std::size_t>(status - 100)];
    prometheus::Counter* counter = slot.load(std::memory_order_acquire);
    if (counter == nullptr) {
      prometheus::Labels labels = labels_;
      labels["code"] = std::to_string(status);
      counter = &family_->Add(labels);
      slot.store(counter, std::memory_order_release);
    }
    counter->Increment();
  }

 private:
  prometheus::Family<prometheus::Counter>* family_;
  prometheus::Labels labels_;
  std::array<std::atomic<prometheus::Counter*>, 500> by_code_{};
};

}  // namespace ciap
