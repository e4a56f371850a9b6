// The process_* metrics every Prometheus client library exports (CPU seconds, resident and
// virtual memory, open and maximum file descriptors, start time), read from /proc at scrape
// time, so that the standard dashboards and alerts work on ciap as they do on any exporter.
#pragma once

#include <prometheus/metric_family.h>

#include <vector>

namespace ciap {

// Empty where /proc is not available.
std::vector<prometheus::MetricFamily> CollectProcessMetrics();

}  // namespace ciap
