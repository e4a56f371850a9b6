// Reading and serializing HTTP/1.1 heads for the two hops. A request head is accepted only if
// it has one reading (StrictRequestParser, RequestHeadProblem). ciap never forwards the bytes
// it parsed: it writes a fresh, unambiguous head from the parsed fields, minus the hop-by-hop
// headers that belong to one connection only (RFC 9110 7.6.1) and the framing headers it sets
// itself.
#pragma once

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace ciap {

// Headers that describe a single connection and never cross the proxy, in either direction.
bool IsHopByHopHeader(std::string_view name);

// Calls `visit(name, value)` for each field that is not hop-by-hop and not named by a Connection
// header token.
template <class Visit>
void ForEachEndToEndField(const boost::beast::http::fields& fields, Visit visit);

// Appends "Name: value\r\n" for each end-to-end field (above) not rejected by `skip(name)`.
template <class Skip>
void AppendEndToEndFields(std::string& out, const boost::beast::http::fields& fields, Skip skip);

// "not_found" for 404: the `error` member of local JSON responses.
std::string_view ErrorName(boost::beast::http::status status);

// Appends `value` as a lower-case hex chunk-size line ("1f40\r\n").
void AppendChunkSize(std::string& out, std::size_t value);

// Adds `data` to `pieces` (from index `count`) framed as the body needs: raw, or as one chunk
// (its size line kept in `chunk_line`), followed by the last-chunk marker when `last`. Returns
// the new count; `pieces` needs room for 3 more.
std::size_t AppendBodyPiece(std::span<boost::asio::const_buffer> pieces, std::size_t count,
                            std::string& chunk_line, bool chunked, std::span<const char> data,
                            bool last);

// A GET on HTTP/1.1 asking to switch to WebSocket: Upgrade: websocket, Connection: upgrade.
bool IsWebSocketUpgrade(const boost::beast::http::request_header<>& request);

// True if `id` is acceptable as a caller-supplied x-request-id (1-128 visible ASCII chars).
bool IsValidRequestId(std::string_view id);

// Calls `visit` with each token of the Connection header(s), trimmed; stops when it returns
// false.
void ForEachConnectionToken(const boost::beast::http::fields& fields,
                            const std::function<bool(std::string_view)>& visit);

// Beast's request parser, plus a note of what Beast accepts and a proxy must refuse: obs-fold
// continuation lines (RFC 9112 5.2), which Beast joins into the value. Reading a head through
// it and then asking RequestHeadProblem is what makes a head acceptable.
class StrictRequestParser
    : public boost::beast::http::request_parser<boost::beast::http::buffer_body> {
 public:
  bool obs_fold() const { return obs_fold_; }

 private:
  void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::beast::error_code& ec) override;

  bool obs_fold_ = false;
};

// Why a parsed request head must be answered with 400 and a closed connection (a reason code
// for the error body, log and metrics), or empty when it is acceptable. RFC 9112 6.1/6.3: a
// request whose body length is in doubt is refused, never guessed at; that is how requests
// get smuggled past a proxy. Checked: obs-fold; HTTP/1.0 and 1.1 only; Transfer-Encoding only
// as one header that is exactly "chunked", never on HTTP/1.0 or with Content-Length; one
// Content-Length of digits only (Beast takes "5, 5"); one valid Host.
std::string_view RequestHeadProblem(const StrictRequestParser& parser);

// ---- implementation ----

bool IsConnectionToken(const boost::beast::http::fields& fields, std::string_view name);

// The tokens of a message's Connection header(s), read once, so that every field of the message
// can be checked against them without another lookup and parse.
class ConnectionTokens {
 public:
  explicit ConnectionTokens(const boost::beast::http::fields& fields);
  // True if a token names `name` (case-insensitively).
  bool Names(std::string_view name) const;

 private:
  static constexpr std::size_t kKept = 8;  // more (rare) are looked up in the fields
  std::array<std::string_view, kKept> tokens_{};
  std::size_t count_ = 0;
  const boost::beast::http::fields* more_ = nullptr;
};

template <class Visit>
void ForEachEndToEndField(const boost::beast::http::fields& fields, Visit visit) {
  const ConnectionTokens tokens(fields);
  for (const auto& field : fields) {
    std::string_view name = field.name_string();
    if (IsHopByHopHeader(name) || tokens.Names(name)) continue;
    visit(name, std::string_view(field.value()));
  }
}

template <class Skip>
void AppendEndToEndFields(std::string& out, const boost::beast::http::fields& fields, Skip skip) {
  ForEachEndToEndField(fields, [&](std::string_view name, std::string_view value) {
    if (skip(name)) return;
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
  });
}

}  // namespace ciap
