// Strict base64url (RFC 4648 §5) as JWS uses it (RFC 7515 §2): no padding, no whitespace, and only
// the canonical encoding of each byte string, so that one token has exactly one spelling.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ciap::jose {

// The decoded size of `encoded_length` base64url characters, or nullopt when no unpadded
// encoding has that length (length % 4 == 1).
std::optional<std::size_t> Base64UrlDecodedSize(std::size_t encoded_length);

// Decodes `in` into `out` (replacing its contents; its capacity is reused). Returns false, with
// `out` unspecified, on any character outside A-Z a-z 0-9 '-' '_' (so also on '=', '+', '/' and
// whitespace), an impossible length, or non-zero bits after the last whole byte.
bool Base64UrlDecode(std::string_view in, std::string& out);

// Convenience form of the above.
std::optional<std::string> Base64UrlDecode(std::string_view in);

// Unpadded base64url.
std::string Base64UrlEncode(std::string_view bytes);

}  // namespace ciap::jose
