// TLS contexts: listener (server) side with SNI certificate selection and ALPN, and upstream
// (client) side with peer verification.
#pragma once

#include <ctime>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "net/asio.h"

namespace ciap {

// A listener's certificates. The first is the default; a ClientHello whose SNI matches a
// later certificate's DNS names switches the connection to that certificate's context.
class ServerTls {
 public:
  struct Certificate {
    std::unique_ptr<ssl::context> context;
    std::vector<std::string> dns_names;  // lower-case; "*.example.com" allowed
    std::string name;                    // first DNS name, or the subject CN
    std::time_t not_after = 0;
  };

  // `http2`: ALPN prefers h2 over http/1.1.
  static std::expected<std::unique_ptr<ServerTls>, std::string> Create(
      const config::ListenerTlsConfig& config, bool http2 = false);

  // The context new connections start with.
  ssl::context& default_context() { return *certificates_.front().context; }
  const std::vector<Certificate>& certificates() const { return certificates_; }

 private:
  static int OnServerName(SSL* ssl, int* alert, void* arg);
  const Certificate* Select(std::string_view server_name) const;

  std::vector<Certificate> certificates_;
};

// A verifying client context for one upstream; ALPN offers `h2` alone when `http2`, else
// `http/1.1`.
std::expected<std::unique_ptr<ssl::context>, std::string> CreateUpstreamTlsContext(
    const config::UpstreamTlsConfig& config, bool http2 = false);

// A client session's peer: SNI and the host name the certificate must carry, or for an IP
// literal the address it must carry (and no SNI, which takes host names only).
void ExpectPeerName(SSL* ssl, const std::string& name);

// The OpenSSL error queue as a sentence (and cleared).
std::string OpenSslErrors();

}  // namespace ciap
