// Audit events: one JSON line (type "audit") per authorization decision, next to the access
// log. Who (provider, subject and the CI job: pipeline, job id, jti), what (listener, route,
// method, normalized path), the decision, why, and the config that decided. Never the token.
#pragma once

#include <string>
#include <string_view>

#include "filters/api/filter.h"

namespace ciap {

struct Caller;

// Appends ,"provider":…,"subject":…,"pipeline":…,"job_id":…,"jti":… (the access log's and the
// audit event's caller fields).
void AppendCallerFields(std::string& out, const Caller& who);

// Appends and commits the event to `context.log` (nothing when the log is off). The caller's
// fields are empty when no identity was established (e.g. a refused token).
void WriteAuditEvent(const Request& request, const RequestContext& context,
                     std::string_view route_name, std::string_view decision,
                     std::string_view reason);

}  // namespace ciap
