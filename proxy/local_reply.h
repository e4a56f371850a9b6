// Replies ciap makes itself (401, 403, 404, 429, 502 …): a small JSON body that names the
// error, the reason code and the request id, and never the token, a claim value or key
// material. The body is the same whatever the protocol; the head here is HTTP/1.1's.
#pragma once

#include <boost/beast/http/status.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ciap {

// {"error":"forbidden","reason":"no_allowed_group","request_id":"…"} and a newline.
std::string LocalReplyBody(boost::beast::http::status status, std::string_view reason,
                           std::string_view request_id);

// The HTTP/1.1 head of a local reply: status line, JSON content type, no-store, the length,
// the request id, the decision's own headers (WWW-Authenticate, Retry-After) and Connection.
void AppendHttp1ReplyHead(std::string& out, boost::beast::http::status status,
                          std::size_t body_size, std::string_view request_id,
                          const std::vector<std::pair<std::string, std::string>>* headers,
                          bool keep_alive, bool http10);

}  // namespace ciap
