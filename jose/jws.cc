// Compact JWS verification; see jws.h.
//
// The order of the checks is deliberate: size caps before any decoding, the header's alg and
// crit rules before key selection, key selection before the signature, the signature before
// the payload's JSON is parsed. Each step only spends what the previous ones allowed.
#include "jose/jws.h"

#include <array>
#include <boost/json/monotonic_resource.hpp>

#include "jose/base64url.h"
#include "jose/signature.h"
#include "jose/strict_json.h"

namespace ciap::jose {
namespace {

namespace json = boost::json;

struct Segments {
  std::string_view header;
  std::string_view payload;
  std::string_view signature;
  std::string_view signing_input;  // "header.payload", the bytes that were signed
};

std::expected<Segments, TokenError> Split(std::string_view token) {
  if (token.size() > kMaxTokenBytes) return std::unexpected(TokenError::kTooLarge);
  const std::size_t first = token.find('.');
  if (first == std::string_view::npos) return std::unexpected(TokenError::kMalformed);
  if (first > kMaxHeaderBytes) return std::unexpected(TokenError::kTooLarge);
  const std::size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return std::unexpected(TokenError::kMalformed);  // 2 segments, or 4+ (also JWE's 5)
  }
  Segments s{token.substr(0, first), token.substr(first + 1, second - first - 1),
             token.substr(second + 1), token.substr(0, second)};
  // An empty header would otherwise be a JSON error; an empty payload is legal JWS but never a
  // JWT. A JSON serialization ({"payload":...}) fails here or in base64url, never later.
  if (s.header.empty() || s.payload.empty()) return std::unexpected(TokenError::kMalformed);
  return s;
}

TokenError FromJsonError(JsonError error) {
  return error == JsonError::kDuplicateMember ? TokenError::kDuplicateMember : TokenError::kBadJson;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// A member that must be a string when present. nullopt = absent.
std::expected<std::optional<std::string_view>, TokenError> OptionalHeaderString(
    const json::object& header, std::string_view name) {
  const json::value* value = header.if_contains(name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) return std::unexpected(TokenError::kBadHeader);
  return std::string_view(value->get_string());
}

struct HeaderFields {
  Algorithm alg;
  std::optional<std::string_view> kid;  // views into the parsed header or a HeaderMemo entry
  std::optional<std::string_view> typ;
};

std::expected<HeaderFields, TokenError> CheckHeader(const json::object& header,
                                                    AlgorithmSet allowed) {
  auto alg_name = OptionalHeaderString(header, "alg");
  if (!alg_name) return std::unexpected(alg_name.error());
  if (!*alg_name) return std::unexpected(TokenError::kBadHeader);
  if (EqualsIgnoreCase(**alg_name, "none")) return std::unexpected(TokenError::kAlgNone);
  const std::optional<Algorithm> alg = ParseAlgorithm(**alg_name);
  if (!alg) return std::unexpected(TokenError::kAlgUnsupported);
  if (!allowed.Contains(*alg)) return std::unexpected(TokenError::kAlgNotAllowed);

  // RFC 7515 §4.1.11: crit lists extensions the recipient must understand, and must not be
  // empty. ciap implements none (not even b64, RFC 7797), so any well-formed crit is refused.
  if (const json::value* crit = header.if_contains("crit")) {
    const json::array* names = crit->if_array();
    if (names == nullptr || names->empty()) return std::unexpected(TokenError::kBadHeader);
    for (const json::value& name : *names) {
      if (!name.is_string()) return std::unexpected(TokenError::kBadHeader);
    }
    return std::unexpected(TokenError::kCritUnsupported);
  }

  // A nested JWT would carry its claims one signature further in; RFC 8725 §2.8 warns against
  // confusing the layers, so it is not a JWT ciap accepts. RFC 7515 lets "application/" be
  // omitted from cty, so both spellings count.
  auto cty = OptionalHeaderString(header, "cty");
  if (!cty) return std::unexpected(cty.error());
  if (*cty && (EqualsIgnoreCase(**cty, "JWT") || EqualsIgnoreCase(**cty, "application/jwt"))) {
    return std::unexpected(TokenError::kNestedJwt);
  }

  HeaderFields fields{*alg, std::nullopt, std::nullopt};
  auto kid = OptionalHeaderString(header, "kid");
  if (!kid) return std::unexpected(kid.error());
  fields.kid = *kid;
  auto typ = OptionalHeaderString(header, "typ");
  if (!typ) return std::unexpected(typ.error());
  fields.typ = *typ;
  // jwk, jku, x5u, x5c, x5t: deliberately never read. Keys come only from the provider's JWKS.
  return fields;
}

// Headers that passed CheckHeader, remembered per thread by their exact encoded bytes. The
// tokens of one issuer share a header until its signing key changes (GitHub's is typ, alg, x5t
// and kid), so without this a worker decodes and parses the same bytes for every new token.
// What CheckHeader decides is a function of those bytes and the allow-list alone; a remembered
// header passed every rule, the allow-list included, and the allow-list (which differs between
// providers) is applied again on each use. Headers that fail are not remembered, nor are long
// ones: at most kEntries * (kMaxEncoded + kid + typ) bytes per thread.
class HeaderMemo {
 public:
  struct Entry {
    std::string encoded;  // empty: a free slot (Split refuses an empty header)
    Algorithm alg = Algorithm::kRs256;
    std::optional<std::string> kid;
    std::optional<std::string> typ;
  };

  static constexpr std::size_t kEntries = 8;
  static constexpr std::size_t kMaxEncoded = 512;

  const Entry* Find(std::string_view encoded) const {
    for (const Entry& entry : entries_) {
      if (entry.encoded == encoded) return &entry;
    }
    return nullptr;
  }

  // Replaces the oldest entry.
  void Remember(std::string_view encoded, const HeaderFields& fields) {
    if (encoded.size() > kMaxEncoded) return;
    Entry& entry = entries_[next_];
    next_ = (next_ + 1) % kEntries;
    entry.encoded.assign(encoded);
    entry.alg = fields.alg;
    entry.kid = fields.kid ? std::optional<std::string>(*fields.kid) : std::nullopt;
    entry.typ = fields.typ ? std::optional<std::string>(*fields.typ) : std::nullopt;
  }

 private:
  std::array<Entry, kEntries> entries_;
  std::size_t next_ = 0;
};

// Decoded segments reuse the same three buffers on each thread.
struct ScratchBuffers {
  std::string header;
  std::string payload;
  std::string signature;
};

ScratchBuffers& ThreadScratch() {
  thread_local ScratchBuffers buffers;
  return buffers;
}

}  // namespace

std::string_view TokenErrorName(TokenError error) {
  switch (error) {
    case TokenError::kTooLarge:
      return "too_large";
    case TokenError::kMalformed:
      return "malformed";
    case TokenError::kBadBase64:
      return "bad_base64";
    case TokenError::kBadJson:
      return "bad_json";
    case TokenError::kDuplicateMember:
      return "duplicate_member";
    case TokenError::kBadHeader:
      return "bad_header";
    case TokenError::kAlgNone:
      return "alg_none";
    case TokenError::kAlgUnsupported:
      return "alg_unsupported";
    case TokenError::kAlgNotAllowed:
      return "alg_not_allowed";
    case TokenError::kAlgKeyMismatch:
      return "alg_key_mismatch";
    case TokenError::kUnknownKid:
      return "unknown_kid";
    case TokenError::kNoMatchingKey:
      return "no_matching_key";
    case TokenError::kCritUnsupported:
      return "crit_unsupported";
    case TokenError::kNestedJwt:
      return "nested_jwt";
    case TokenError::kBadSignature:
      return "bad_signature";
  }
  return "unknown";
}

std::expected<VerifiedToken, TokenError> Verify(std::string_view token, const KeySet& keys,
                                                AlgorithmSet allowed) {
  auto segments = Split(token);
  if (!segments) return std::unexpected(segments.error());
  ScratchBuffers& scratch = ThreadScratch();
  thread_local HeaderMemo memo;

  // A parsed header dies with this call: its values live in a stack buffer, falling back to the
  // heap only for unusually large headers. `fields` points into it, or into the memo's entry.
  std::array<unsigned char, 1024> header_memory;
  json::monotonic_resource header_resource(header_memory.data(), header_memory.size());
  std::optional<json::object> header;
  std::expected<HeaderFields, TokenError> fields;
  if (const HeaderMemo::Entry* known = memo.Find(segments->header)) {
    if (!allowed.Contains(known->alg)) return std::unexpected(TokenError::kAlgNotAllowed);
    fields = HeaderFields{known->alg, known->kid, known->typ};
  } else {
    if (!Base64UrlDecode(segments->header, scratch.header)) {
      return std::unexpected(TokenError::kBadBase64);
    }
    auto parsed = ParseStrictJsonObject(scratch.header, &header_resource);
    if (!parsed) return std::unexpected(FromJsonError(parsed.error()));
    header.emplace(std::move(*parsed));
    fields = CheckHeader(*header, allowed);
    if (!fields) return std::unexpected(fields.error());
    memo.Remember(segments->header, *fields);
  }

  std::array<const Key*, kMaxKidlessCandidates> candidates{};
  std::size_t candidate_count = 0;
  if (fields->kid) {
    const Key* key = keys.Find(*fields->kid);
    if (key == nullptr) return std::unexpected(TokenError::kUnknownKid);
    if (!key->Fits(fields->alg)) return std::unexpected(TokenError::kAlgKeyMismatch);
    candidates[candidate_count++] = key;
  } else {
    for (const Key& key : keys.keys()) {
      if (candidate_count == candidates.size()) break;
      if (key.Fits(fields->alg)) candidates[candidate_count++] = &key;
    }
    if (candidate_count == 0) return std::unexpected(TokenError::kNoMatchingKey);
  }

  // Both decoded before the signature check so that garbage costs no public-key operation.
  if (!Base64UrlDecode(segments->payload, scratch.payload) ||
      !Base64UrlDecode(segments->signature, scratch.signature)) {
    return std::unexpected(TokenError::kBadBase64);
  }
  bool verified = false;
  for (std::size_t i = 0; i < candidate_count && !verified; ++i) {
    verified =
        VerifySignature(*candidates[i], fields->alg, segments->signing_input, scratch.signature);
  }
  if (!verified) return std::unexpected(TokenError::kBadSignature);

  auto payload = ParseStrictJsonDocument(scratch.payload);
  if (!payload) return std::unexpected(FromJsonError(payload.error()));
  return VerifiedToken{fields->alg, std::string(fields->kid.value_or("")),
                       std::string(fields->typ.value_or("")), std::move(*payload)};
}

}  // namespace ciap::jose
