// The access-log line: one JSON line per answered request, whatever the protocol.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ciap {

struct Caller;

struct AccessLogEntry {
  std::string_view request_id;
  std::string_view listener;
  std::string_view route;  // "-" when none matched
  std::string_view method;
  std::string_view path;  // normalized (or the raw path, cut, when it could not be)
  int status = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  double seconds = 0;
  std::string_view upstream;  // "-" when none was contacted
  std::string_view client;
  std::string_view reason;         // why it passed or was refused; empty: none recorded
  const Caller* caller = nullptr;  // who, on an authenticated request
  int grpc_status = -1;            // a gRPC call's status (trailers, or ciap's reply); -1: none
};

// Appends {"time":…,"type":"access",…} and a newline. An authenticated request's line names
// the caller: provider, subject, pipeline (or project), job_id and jti.
void AppendAccessLine(std::string& out, const AccessLogEntry& entry);

}  // namespace ciap
