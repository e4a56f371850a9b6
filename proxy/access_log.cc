// See access_log.h.
#include "proxy/access_log.h"

#include <cstdio>

#include "filters/api/audit.h"
#include "net/log.h"

namespace ciap {

void AppendAccessLine(std::string& out, const AccessLogEntry& entry) {
  auto field = [&out](std::string_view name, std::string_view value) {
    AppendJsonField(out, name, value);
  };
  AppendLogLineStart(out, "access");
  field("request_id", entry.request_id);
  field("listener", entry.listener);
  field("route", entry.route);
  field("method", entry.method);
  field("path", entry.path);
  out.append(",\"status\":");
  out.append(std::to_string(entry.status));
  out.append(",\"bytes_in\":");
  out.append(std::to_string(entry.bytes_in));
  out.append(",\"bytes_out\":");
  out.append(std::to_string(entry.bytes_out));
  char duration[32];
  int n = std::snprintf(duration, sizeof duration, ",\"duration_ms\":%.3f", entry.seconds * 1000);
  out.append(duration, static_cast<std::size_t>(n));
  field("upstream", entry.upstream);
  field("client", entry.client);
  if (!entry.reason.empty()) field("reason", entry.reason);
  if (entry.grpc_status >= 0) {
    out.append(",\"grpc_status\":");
    out.append(std::to_string(entry.grpc_status));
  }
  if (entry.caller != nullptr) AppendCallerFields(out, *entry.caller);
  out.append("}\n");
}

}  // namespace ciap
