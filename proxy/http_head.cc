// See http_head.h.
#include "proxy/http_head.h"

#include <boost/beast/core/string.hpp>

#include "proxy/path.h"

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

ConnectionTokens::ConnectionTokens(const boost::beast::http::fields& fields) {
  ForEachConnectionToken(fields, [&](std::string_view token) {
    if (count_ == kKept) {
      more_ = &fields;
      return false;
    }
    tokens_[count_++] = token;
    return true;
  });
}

bool ConnectionTokens::Names(std::string_view name) const {
  if (more_ != nullptr) return IsConnectionToken(*more_, name);
  for (std::size_t i = 0; i < count_; ++i) {
    if (iequals(tokens_[i], name)) return true;
  }
  return false;
}

bool IsWebSocketUpgrade(const boost::beast::http::request_header<>& request) {
  return request.method() == boost::beast::http::verb::get && request.version() >= 11 &&
         iequals(request[boost::beast::http::field::upgrade], "websocket") &&
         IsConnectionToken(request, "upgrade");
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
    case S::method_not_allowed:
      return "method_not_allowed";
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

std::size_t AppendBodyPiece(std::span<boost::asio::const_buffer> pieces, std::size_t count,
                            std::string& chunk_line, bool chunked, std::span<const char> data,
                            bool last) {
  if (!chunked) {
    pieces[count++] = boost::asio::buffer(data.data(), data.size());
    return count;
  }
  chunk_line.clear();
  if (!data.empty()) {
    AppendChunkSize(chunk_line, data.size());
    pieces[count++] = boost::asio::buffer(chunk_line);
    pieces[count++] = boost::asio::buffer(data.data(), data.size());
  }
  // The data's CRLF, then the last-chunk marker (no trailers) once the body is done.
  std::string_view tail =
      data.empty() ? (last ? "0\r\n\r\n" : "") : (last ? "\r\n0\r\n\r\n" : "\r\n");
  if (!tail.empty()) pieces[count++] = boost::asio::buffer(tail);
  return count;
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

namespace http = boost::beast::http;

void StrictRequestParser::on_field_impl(http::field name, boost::beast::string_view name_string,
                                        boost::beast::string_view value,
                                        boost::beast::error_code& ec) {
  // Beast hands over an unfolded value where it sits in the input, right after "name:" and
  // optional whitespace; a folded one it copies into its own buffer (or, when the first line
  // is empty, points at a later line). name_string always points into the input, which holds
  // the whole line, so this walk stays inside it.
  const char* p = name_string.data() + name_string.size();
  if (*p == ':') ++p;
  while (*p == ' ' || *p == '\t') ++p;
  if (p != value.data()) obs_fold_ = true;
  get().insert(name, name_string, value);
  ec = {};
}

std::string_view RequestHeadProblem(const StrictRequestParser& parser) {
  const auto& request = parser.get();
  if (parser.obs_fold()) return "obs_fold";
  if (request.version() != 10 && request.version() != 11) return "unsupported_http_version";
  std::size_t transfer_encodings = 0;
  std::size_t content_lengths = 0;
  std::size_t hosts = 0;
  bool bad_transfer_encoding = false;
  bool bad_content_length = false;
  bool bad_host = false;
  for (const auto& field : request) {
    std::string_view value = field.value();
    switch (field.name()) {
      case http::field::transfer_encoding:
        ++transfer_encodings;
        bad_transfer_encoding |= !iequals(value, "chunked");
        break;
      case http::field::content_length:
        ++content_lengths;
        bad_content_length |=
            value.empty() || value.find_first_not_of("0123456789") != std::string_view::npos;
        break;
      case http::field::host:
        ++hosts;
        bad_host |= !value.empty() && !IsValidAuthority(value);
        break;
      default:
        break;
    }
  }
  if (transfer_encodings > 0) {
    if (request.version() < 11) return "transfer_encoding_in_http10";
    // Only "chunked", once, frames a request; anything else ("chunked, identity", "gzip,
    // chunked", "xchunked", two headers) leaves the length to interpretation.
    if (transfer_encodings > 1 || bad_transfer_encoding || !parser.chunked()) {
      return "bad_transfer_encoding";
    }
    if (content_lengths > 0) return "content_length_with_transfer_encoding";
  }
  if (content_lengths > 1) return "multiple_content_length";
  if (bad_content_length) return "bad_content_length";
  if (hosts > 1) return "multiple_host";
  if (bad_host) return "bad_host";
  return {};
}

}  // namespace ciap
