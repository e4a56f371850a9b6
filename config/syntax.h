// Parsers and checks for the scalar formats of the config file (host:port, names, header
// tokens, file paths; durations are in duration.h). Pure functions: they return the parsed
// value or a human message saying what was expected, and know nothing about YAML, marks or key
// paths.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config/config.h"
#include "config/duration.h"  // ParseDuration, used beside these parsers

namespace ciap::config {

enum class AddressUse {
  kListen,    // listener or admin: IP literal or localhost; port 0 lets the OS pick
  kUpstream,  // upstream endpoint: IP literal or DNS name; port 1-65535
};

// "10.0.0.7:443", "[::1]:8080", "artifacts.internal:443". IPv6 hosts are stored without brackets.
std::expected<HostPort, std::string> ParseHostPort(std::string_view text, AddressUse use);

bool IsIpLiteral(std::string_view host);  // IPv4 dotted quad or IPv6 (without brackets)
bool IsDnsName(std::string_view name);    // LDH labels (and '_'), 1-63 chars each, ≤ 253 total
bool IsHttpToken(std::string_view text);  // RFC 9110 token: header names and methods
bool IsValidName(std::string_view name);  // [A-Za-z0-9_.-]+ for upstream/listener/route names

// An absolute http or https URL, split into the parts the config checks look at.
struct HttpUrl {
  std::string scheme;  // "http" or "https", lower-case
  std::string host;    // lower-case; an IPv6 literal without brackets
  uint16_t port = 0;   // 0 when the URL names none (the scheme's default)
  std::string path;    // from the first '/' up to '?' or '#'; may be empty
  bool has_query = false;
  bool has_fragment = false;
};

// "https://idp.example.com/keys", "http://127.0.0.1:8080". Rejects relative URLs, other schemes,
// user info (user@host), whitespace and control characters. Scheme rules (https only, or http on
// loopback) are the caller's.
std::expected<HttpUrl, std::string> ParseHttpUrl(std::string_view text);

// localhost, 127.0.0.0/8 and ::1: a host whose traffic never leaves the machine.
bool IsLoopbackHost(std::string_view host);

// Headers a route may not set: they describe one connection or the message framing, which ciap
// owns on each side, so a configured value would corrupt the forwarded request.
bool IsManagedHeader(std::string_view name);

// Nullopt when `path` names a regular file this process can open for reading, else
// "cannot read PATH: REASON". Certificates and keys are checked at load time so that a typo
// fails `ciap validate` instead of the first TLS handshake.
std::optional<std::string> CheckReadableFile(const std::string& path);

// The closest of `candidates` to a misspelt `word`, if one is close enough to be a likely typo.
std::optional<std::string_view> SuggestSpelling(std::string_view word,
                                                std::span<const std::string_view> candidates);

// Lowercase hex SHA-256.
std::string Sha256Hex(std::string_view bytes);

}  // namespace ciap::config
