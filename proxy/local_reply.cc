// See local_reply.h.
#include "proxy/local_reply.h"

#include <boost/beast/http/status.hpp>

#include "net/log.h"
#include "proxy/http_head.h"

namespace ciap {
namespace http = boost::beast::http;

std::string LocalReplyBody(http::status status, std::string_view reason,
                           std::string_view request_id) {
  std::string body = "{\"error\":\"";
  body.append(ErrorName(status));
  body.append("\",\"reason\":\"");
  AppendJsonEscaped(body, reason);
  body.append("\",\"request_id\":\"");
  AppendJsonEscaped(body, request_id);
  body.append("\"}\n");
  return body;
}

void AppendHttp1ReplyHead(std::string& out, http::status status, std::size_t body_size,
                          std::string_view request_id,
                          const std::vector<std::pair<std::string, std::string>>* headers,
                          bool keep_alive, bool http10) {
  out.append("HTTP/1.1 ");
  out.append(std::to_string(static_cast<int>(status)));
  out.push_back(' ');
  out.append(http::obsolete_reason(status));
  out.append("\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: ");
  out.append(std::to_string(body_size));
  out.append("\r\nx-request-id: ");
  out.append(request_id);
  out.append("\r\n");
  if (headers != nullptr) {
    for (const auto& [name, value] : *headers) {
      out.append(name);
      out.append(": ");
      out.append(value);
      out.append("\r\n");
    }
  }
  if (!keep_alive) {
    out.append("Connection: close\r\n");
  } else if (http10) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

}  // namespace ciap
