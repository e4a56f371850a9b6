// Serializing HTTP/1.1 heads for the two hops. ciap never forwards the bytes it parsed: it
// writes a fresh, unambiguous head from the parsed fields, minus the hop-by-hop headers that
// belong to one connection only (RFC 9110 7.6.1) and the framing headers it sets itself.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/status.hpp>
#include <functional>
#include <string>
#include <string_view>

namespace ciap {

// Headers that describe a single connection and never cross the proxy, in either direction.
bool IsHopByHopHeader(std::string_view name);

// Appends "Name: value\r\n" for each field that is not hop-by-hop, not named by a Connection
// header token, and not rejected by `skip(name)`.
template <class Skip>
void AppendEndToEndFields(std::string& out, const boost::beast::http::fields& fields, Skip skip);

// "not_found" for 404: the `error` member of local JSON responses.
std::string_view ErrorName(boost::beast::http::status status);

// Appends `value` as a lower-case hex chunk-size line ("1f40\r\n").
void AppendChunkSize(std::string& out, std::size_t value);

// True if `id` is acceptable as a caller-supplied x-request-id (1-128 visible ASCII chars).
bool IsValidRequestId(std::string_view id);

// Calls `visit` with each token of the Connection header(s), trimmed; stops when it returns
// false.
void ForEachConnectionToken(const boost::beast::http::fields& fields,
                            const std::function<bool(std::string_view)>& visit);

// ---- implementation ----

bool IsConnectionToken(const boost::beast::http::fields& fields, std::string_view name);

template <class Skip>
void AppendEndToEndFields(std::string& out, const boost::beast::http::fields& fields, Skip skip) {
  bool has_connection = fields.find(boost::beast::http::field::connection) != fields.end();
  for (const auto& field : fields) {
    std::string_view name = field.name_string();
    if (IsHopByHopHeader(name) || skip(name)) continue;
    if (has_connection && IsConnectionToken(fields, name)) continue;
    out.append(name);
    out.append(": ");
    out.append(field.value());
    out.append("\r\n");
  }
}

}  // namespace ciap
