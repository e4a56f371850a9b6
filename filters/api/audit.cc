// See audit.h.
#include "filters/api/audit.h"

#include "config/config.h"
#include "filters/api/caller.h"
#include "net/log.h"

namespace ciap {

void AppendCallerFields(std::string& out, const Caller& who) {
  AppendJsonField(out, "provider", who.provider);
  AppendJsonField(out, "subject", who.subject);
  AppendJsonField(out, "pipeline", who.pipeline);
  AppendJsonField(out, "job_id", who.job_id);
  AppendJsonField(out, "jti", who.jti);
}

void WriteAuditEvent(const Request& request, const RequestContext& context,
                     std::string_view route_name, std::string_view decision,
                     std::string_view reason) {
  if (context.log == nullptr || !context.log->enabled()) return;
  static const Caller kNobody;
  const Caller& who = context.caller ? *context.caller : kNobody;
  std::string& out = context.log->buffer();
  auto field = [&out](std::string_view name, std::string_view value) {
    AppendJsonField(out, name, value);
  };
  AppendLogLineStart(out, "audit");
  field("request_id", context.request_id);
  field("listener", context.listener);
  field("route", route_name);
  field("method", request.method);
  field("path", request.path);
  AppendCallerFields(out, who);
  out.append(",\"groups\":[");
  for (std::size_t i = 0; i < context.groups.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    AppendJsonEscaped(out, context.groups[i]);
    out.push_back('"');
  }
  out.push_back(']');
  field("decision", decision);
  field("reason", reason);
  field("config_hash", context.config_hash);
  out.append("}\n");
  context.log->Commit();
}

}  // namespace ciap
