// Parsers and checks for the scalar formats of the config file; see syntax.h.
#include "config/syntax.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "config/text.h"

namespace ciap::config {
namespace {

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      size_t cost = ToLower(a[i - 1]) == ToLower(b[j - 1]) ? 0 : 1;
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + cost});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

bool IsIpLiteral(std::string_view host) {
  std::string h(host);
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

bool IsDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t end = name.find('.', start);
    std::string_view label =
        name.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!IsAlpha(c) && !IsDigit(c) && c != '-' && c != '_') return false;
    }
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

namespace {

// What to write instead of a URL where host:port is expected ("https://artifacts.internal/x").
std::string UrlInsteadOfHostPort(std::string_view text, AddressUse use) {
  const size_t scheme_end = text.find("://");
  std::string scheme;
  for (char c : text.substr(0, scheme_end)) scheme.push_back(ToLower(c));
  std::string_view rest = text.substr(scheme_end + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  std::string_view tail = rest.substr(authority.size());
  authority = authority.substr(authority.find('@') + 1);  // npos + 1 == 0: no user info
  const bool has_port = authority.starts_with('[') ? authority.find("]:") != std::string_view::npos
                                                   : authority.find(':') != std::string_view::npos;
  std::string host_port(authority);
  if (!has_port) {
    host_port += scheme == "http" ? ":80" : scheme == "https" ? ":443" : ":PORT";
  }
  if (use == AddressUse::kListen) {
    return "a listen address is host:port, not a URL: write " + host_port +
           " (TLS is set by the listener's tls:, or plaintext: true)";
  }
  std::string out = "endpoints are host:port, not URLs: write " + host_port;
  if (scheme == "https") {
    out +=
        ", and give the upstream tls: {} for HTTPS (verified against the system CAs; "
        "tls.ca_file and tls.sni change that)";
  } else if (scheme == "http") {
    out += " (plain HTTP is the default: an upstream without tls:)";
  }
  if (!tail.empty() && tail != "/") {
    out += "; the path is not part of an endpoint (ciap forwards each request's own path)";
  }
  return out;
}

}  // namespace

std::expected<HostPort, std::string> ParseHostPort(std::string_view text, AddressUse use) {
  if (text.find("://") != std::string_view::npos) {
    return std::unexpected(UrlInsteadOfHostPort(text, use));
  }
  const bool listen = use == AddressUse::kListen;
  const std::string example = listen ? "0.0.0.0:8443, 127.0.0.1:0 or [::1]:8443"
                                     : "10.0.0.7:443, artifacts.internal:443 or [fd00::7]:443";
  const std::string expected = "expected host:port (e.g. " + example + ")";
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return std::unexpected(expected + ": missing ']'");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.starts_with(':')) return std::unexpected(expected + ": missing port after ']'");
    port = rest.substr(1);
    std::string h(host);
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET6, h.c_str(), buf) != 1) {
      return std::unexpected("'" + h + "' inside [] is not an IPv6 address");
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::unexpected(expected + ": missing port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return std::unexpected("IPv6 addresses need brackets: [::1]:8080");
    }
    if (host.empty()) return std::unexpected(expected + ": missing host");
  }

  const uint32_t min_port = listen ? 0 : 1;
  const std::string port_range = listen ? "0-65535" : "1-65535";
  uint32_t port_value = 0;
  if (const size_t slash = port.find('/'); slash != std::string_view::npos && slash > 0) {
    return std::unexpected("a path is not part of host:port: write " +
                           std::string(text.substr(0, text.size() - port.size() + slash)) +
                           (listen ? "" : " (ciap forwards each request's own path)"));
  }
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), IsDigit)) {
    return std::unexpected("port must be a number " + port_range + ", got '" + std::string(port) +
                           "'");
  }
  for (char c : port) port_value = port_value * 10 + static_cast<uint32_t>(c - '0');
  if (port_value > 65535 || port_value < min_port) {
    return std::unexpected("port " + std::string(port) + " is out of range (" + port_range +
                           (listen ? ", 0 lets the OS pick" : "") + ")");
  }

  const bool looks_numeric =
      std::all_of(host.begin(), host.end(), [](char c) { return IsDigit(c) || c == '.'; });
  if (!IsIpLiteral(host)) {
    if (looks_numeric) {
      return std::unexpected("'" + std::string(host) + "' is not a valid IPv4 address");
    }
    if (listen && host != "localhost") {
      return std::unexpected("a listen address must be an IP address or localhost (e.g. " +
                             example + "), not '" + std::string(host) + "'");
    }
    if (!IsDnsName(host)) {
      return std::unexpected("'" + std::string(host) + "' is not a valid host name");
    }
  }
  return HostPort{std::string(host), static_cast<uint16_t>(port_value)};
}

std::expected<HttpUrl, std::string> ParseHttpUrl(std::string_view text) {
  const std::string expected =
      "expected an absolute https URL (e.g. https://idp.example.com), got '" + std::string(text) +
      "'";
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return std::unexpected("a URL must not contain spaces or control characters");
    }
  }
  HttpUrl url;
  const size_t scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) return std::unexpected(expected);
  for (char c : text.substr(0, scheme_end)) url.scheme.push_back(ToLower(c));
  if (url.scheme != "http" && url.scheme != "https") return std::unexpected(expected);
  std::string_view rest = text.substr(scheme_end + 3);
  const size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view tail =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return std::unexpected(
        "a URL must not contain user info (user@host); credentials do not "
        "belong in the config");
  }
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::unexpected(expected + ": missing ']'");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) return std::unexpected(expected);
    if (!after.empty()) port = after.substr(1);
    std::string h(host);
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET6, h.c_str(), buf) != 1) {
      return std::unexpected("'" + h + "' inside [] is not an IPv6 address");
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return std::unexpected(expected + ": empty port");
  }
  if (host.empty()) return std::unexpected(expected + ": missing host");
  if (!authority.starts_with('[') && !IsIpLiteral(host) && !IsDnsName(host)) {
    std::string problem = "'";  // built step by step: GCC 12 warns falsely on "'" + string
    problem += host;
    problem += "' is not a valid host name";
    return std::unexpected(std::move(problem));
  }
  for (char c : host) url.host.push_back(ToLower(c));
  if (!port.empty()) {
    uint32_t value = 0;
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), IsDigit)) {
      return std::unexpected("port must be a number 1-65535, got '" + std::string(port) + "'");
    }
    for (char c : port) value = value * 10 + static_cast<uint32_t>(c - '0');
    if (value == 0 || value > 65535) {
      return std::unexpected("port " + std::string(port) + " is out of range (1-65535)");
    }
    url.port = static_cast<uint16_t>(value);
  }
  const size_t query = tail.find('?');
  const size_t fragment = tail.find('#');
  url.has_query = query != std::string_view::npos && query < fragment;
  url.has_fragment = fragment != std::string_view::npos;
  url.path = std::string(tail.substr(0, std::min(query, fragment)));
  return url;
}

bool IsLoopbackHost(std::string_view host) {
  if (EqualsIgnoreCase(host, "localhost") || host == "::1") return true;
  std::string h(host);
  struct in_addr v4 {};
  return inet_pton(AF_INET, h.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

bool IsHttpToken(std::string_view text) {
  static constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return IsAlpha(c) || IsDigit(c) || kSymbols.find(c) != std::string_view::npos;
  });
}

bool IsValidName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return IsAlpha(c) || IsDigit(c) || c == '_' || c == '.' || c == '-';
  });
}

bool IsManagedHeader(std::string_view name) {
  static constexpr std::array<std::string_view, 9> kManaged = {
      "Connection", "Keep-Alive",       "Transfer-Encoding", "TE",  "Trailer",
      "Upgrade",    "Proxy-Connection", "Content-Length",    "Host"};
  return std::any_of(kManaged.begin(), kManaged.end(),
                     [&](std::string_view m) { return EqualsIgnoreCase(m, name); });
}

std::optional<std::string> CheckReadableFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "cannot read " + path + ": " + std::strerror(errno);
  struct stat st {};
  const bool is_dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  close(fd);
  if (is_dir) return "cannot read " + path + ": " + std::strerror(EISDIR);
  return std::nullopt;
}

std::optional<std::string_view> SuggestSpelling(std::string_view word,
                                                std::span<const std::string_view> candidates) {
  std::optional<std::string_view> best;
  size_t best_distance = std::max<size_t>(1, std::min<size_t>(3, word.size() / 3)) + 1;
  for (std::string_view candidate : candidates) {
    size_t d = EditDistance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    std::abort();  // only fails when OpenSSL cannot allocate; nothing sensible to go on with
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

}  // namespace ciap::config
