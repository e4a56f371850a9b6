// See http_head.h.
#include "proxy/http_head.h"

#include <boost/beast/core/string.hpp>

namespace ciap {

using boost::beast::iequals;

bool IsHopByHopHeader(std::string_view name) {
  switch (name.size()) {
    case 2:
      return iequals(name, "te");
    case 7:
      return iequals(name, "trailer") || iequals(name, "upgrade");
    case 10:
      return iequals(name, "connection") || iequals(name, "keep-alive");
    case 14:
      return iequals(name, "content-length");
    case 16:
      return iequals(name, "proxy-connection");
    case 17:
      return iequals(name, "transfer-encoding");
    case 18:
      return iequals(name, "proxy-authenticate");
    case 19:
      return iequals(name, "proxy-authorization");
    default:
      return false;
  }
}

void ForEachConnectionToken(const boost::beast::http::fields& fields,
                            const std::function<bool(std::string_view)>& visit) {
  auto range = fields.equal_range(boost::beast::http::field::connection);
  for (auto it = range.first; it != range.second; ++it) {
    std::string_view value = it->value();
    while (!value.empty()) {
      std::size_t comma = value.find(',');
      std::string_view token = value.substr(0, comma);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
        token.remove_prefix(1);
      }
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
        token.remove_suffix(1);
      }
      if (!token.empty() && !visit(token)) return;
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
}

bool IsConnectionToken(const boost::beast::http::fields& fields, std::string_view name) {
  bool found = false;
  ForEachConnectionToken(fields, [&](std::string_view token) {
    found = iequals(token, name);
    return !found;
  });
  return found;
}

std::string_view ErrorName(boost::beast::http::status status) {
  using S = boost::beast::http::status;
  switch (status) {
    case S::bad_request:
      return "bad_request";
    case S::unauthorized:
      return "unauthorized";
    case S::forbidden:
      return "forbidden";
    case S::not_found:
      return "not_found";
    case S::request_timeout:
      return "request_timeout";
    case S::payload_too_large:
      return "payload_too_large";
    case S::too_many_requests:
      return "too_many_requests";
    case S::request_header_fields_too_large:
      return "request_header_fields_too_large";
    case S::bad_gateway:
      return "bad_gateway";
    case S::service_unavailable:
      return "service_unavailable";
    case S::gateway_timeout:
      return "gateway_timeout";
    default:
      return "error";
  }
}

void AppendChunkSize(std::string& out, std::size_t value) {
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[20];
  int n = 0;
  do {
    buf[n++] = kHex[value & 15];
    value >>= 4;
  } while (value != 0);
  while (n > 0) out.push_back(buf[--n]);
  out.append("\r\n");
}

bool IsValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

}  // namespace ciap
