// See metrics.h.
#include "proxy/metrics.h"

#include <prometheus/text_serializer.h>

#include "proxy/process_metrics.h"

namespace ciap {

Metrics::Metrics() : Metrics(std::make_shared<prometheus::Registry>()) {}

Metrics::Metrics(std::shared_ptr<prometheus::Registry> r)
    : requests(prometheus::BuildCounter()
                   .Name("ciap_requests_total")
                   .Help("Downstream requests answered, by listener, route and status code")
                   .Register(*r)),
      request_duration(
          prometheus::BuildHistogram()
              .Name("ciap_request_duration_seconds")
              .Help("Time from a request's first header byte to its last response byte")
              .Register(*r)),
      upstream_requests(prometheus::BuildCounter()
                            .Name("ciap_upstream_requests_total")
                            .Help("Requests sent to upstreams, by upstream and status code "
                                  "(code is connect_error, timeout or reset when none came back)")
                            .Register(*r)),
      upstream_connections(prometheus::BuildGauge()
                               .Name("ciap_upstream_connections")
                               .Help("Open upstream connections, by state (active or idle)")
                               .Register(*r)),
      downstream_connections(prometheus::BuildGauge()
                                 .Name("ciap_downstream_connections")
                                 .Help("Open downstream connections")
                                 .Register(*r)),
      downstream_connections_total(prometheus::BuildCounter()
                                       .Name("ciap_downstream_connections_total")
                                       .Help("Downstream connections accepted or rejected (result)")
                                       .Register(*r)),
      tls_handshake_errors(prometheus::BuildCounter()
                               .Name("ciap_tls_handshake_errors_total")
                               .Help("Downstream TLS handshakes that failed")
                               .Register(*r)),
      config_reloads(prometheus::BuildCounter()
                         .Name("ciap_config_reloads_total")
                         .Help("Config reloads, by result (success or error)")
                         .Register(*r)),
      certificate_expiry(prometheus::BuildGauge()
                             .Name("ciap_tls_certificate_expiry_timestamp_seconds")
                             .Help("notAfter of each listener certificate, as a Unix time")
                             .Register(*r)),
      build_info(prometheus::BuildGauge()
                     .Name("ciap_build_info")
                     .Help("Always 1; the version label says which build is running")
                     .Register(*r)),
      rejected_requests(
          prometheus::BuildCounter()
              .Name("ciap_rejected_requests_total")
              .Help("Requests refused as malformed or ambiguous (400, 405, 431), by listener "
                    "and reason")
              .Register(*r)),
      config_last_reload(prometheus::BuildGauge()
                             .Name("ciap_config_last_reload_success_timestamp_seconds")
                             .Help("When the running configuration was loaded (start or reload)")
                             .Register(*r)),
      registry_(std::move(r)) {
  build_info.Add({{"version", CIAP_VERSION}}).Set(1);
  config_reloads.Add({{"result", "success"}});
  config_reloads.Add({{"result", "error"}});
}

const prometheus::Histogram::BucketBoundaries& Metrics::DurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return kBuckets;
}

std::string Metrics::Serialize() const {
  prometheus::TextSerializer serializer;
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& family : CollectProcessMetrics()) {
    families.push_back(std::move(family));
  }
  return serializer.Serialize(families);
}

}  // namespace ciap
