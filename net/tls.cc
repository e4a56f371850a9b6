// See tls.h.
#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <fstream>

namespace ciap {
namespace {

constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char kAlpnH2Http11[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// Picks h2 (when the listener serves it, `arg` non-null) or else http/1.1 from the client's
// ALPN list; a client that offers neither gets a fatal alert instead of a connection that will
// then fail to parse.
int OnAlpnSelect(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                 unsigned int inlen, void* arg) {
  unsigned char* selected = nullptr;
  const bool h2 = arg != nullptr;
  if (SSL_select_next_proto(&selected, outlen, h2 ? kAlpnH2Http11 : kAlpnHttp11,
                            h2 ? sizeof kAlpnH2Http11 : sizeof kAlpnHttp11, in,
                            inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

void ReadNames(X509* cert, ServerTls::Certificate* out) {
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
      if (name->type != GEN_DNS) continue;
      const unsigned char* data = ASN1_STRING_get0_data(name->d.dNSName);
      int length = ASN1_STRING_length(name->d.dNSName);
      out->dns_names.push_back(Lower(std::string(reinterpret_cast<const char*>(data), length)));
    }
    GENERAL_NAMES_free(names);
  }
  if (!out->dns_names.empty()) {
    out->name = out->dns_names.front();
  } else {
    char cn[256] = {0};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    out->name = cn;
  }
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) out->not_after = timegm(&tm);
}

bool NameMatches(std::string_view pattern, std::string_view host) {
  if (pattern.starts_with("*.")) {
    std::string_view suffix = pattern.substr(1);  // ".example.com"
    if (host.size() <= suffix.size() || !host.ends_with(suffix)) return false;
    // A wildcard covers exactly one label.
    return host.substr(0, host.size() - suffix.size()).find('.') == std::string_view::npos;
  }
  return pattern == host;
}

// OpenSSL asks for the passphrase of an encrypted key on the terminal: a proxy has no one to ask,
// and must not hang at startup or on reload. Without a passphrase the load fails, and says why.
int NoPassphrase(char*, int, int, void*) { return 0; }

// Why loading `file` (what: "certificate", "private key", ...) failed: the common cases in
// words, else OpenSSL's own. Clears the error queue.
std::string PemProblem(const std::string& file, std::string_view what) {
  std::string words;
  std::string raw;
  while (unsigned long code = ERR_get_error()) {
    const int lib = ERR_GET_LIB(code);
    const int reason = ERR_GET_REASON(code);
    if (words.empty() && lib == ERR_LIB_PEM && reason == PEM_R_NO_START_LINE) {
      words = "no PEM " + std::string(what) + " in it (empty, or not PEM)";
    } else if (words.empty() && lib == ERR_LIB_X509 &&
               reason == X509_R_NO_CERTIFICATE_OR_CRL_FOUND) {
      words = "no PEM " + std::string(what) + " in it (empty, or not PEM)";
    } else if (words.empty() && lib == ERR_LIB_OSSL_DECODER && reason == ERR_R_UNSUPPORTED) {
      words = "no PEM " + std::string(what) + " OpenSSL can read in it (empty, or not PEM)";
    }
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    raw += (raw.empty() ? "" : "; ") + std::string(buf);
  }
  if (words.empty()) words = raw.empty() ? "unknown TLS error" : raw;
  return file + ": " + words;
}

// Whether a PEM file holds an encrypted key (PKCS#8 or the traditional Proc-Type header).
bool IsEncryptedPem(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::string head(16384, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  return head.find("ENCRYPTED") != std::string::npos;
}

// Whether the last error is a private key that does not belong to the certificate loaded.
bool KeyMismatch() {
  const unsigned long code = ERR_peek_last_error();
  return ERR_GET_LIB(code) == ERR_LIB_X509 && ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH;
}

// Loads a certificate chain and its key into `ctx`; the error names the files.
std::expected<void, std::string> UseCertificate(SSL_CTX* ctx, const std::string& cert_file,
                                                const std::string& key_file) {
  SSL_CTX_set_default_passwd_cb(ctx, &NoPassphrase);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return std::unexpected("cannot load certificate " + PemProblem(cert_file, "certificate"));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (KeyMismatch()) {
      ERR_clear_error();
      return std::unexpected(key_file + " does not match certificate " + cert_file);
    }
    if (IsEncryptedPem(key_file)) {
      ERR_clear_error();
      return std::unexpected("cannot load private key " + key_file +
                             ": it is encrypted (ciap reads unencrypted PEM keys; decrypt it "
                             "with openssl pkey -in KEY -out PLAIN_KEY)");
    }
    return std::unexpected("cannot load private key " + PemProblem(key_file, "private key"));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return std::unexpected(key_file + " does not match certificate " + cert_file);
  }
  return {};
}

}  // namespace

std::string OpenSslErrors() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown TLS error" : out;
}

std::expected<std::unique_ptr<ServerTls>, std::string> ServerTls::Create(
    const config::ListenerTlsConfig& config, bool http2) {
  auto tls = std::unique_ptr<ServerTls>(new ServerTls);
  for (const config::CertificateConfig& cert_config : config.certificates) {
    Certificate cert;
    cert.context = std::make_unique<ssl::context>(ssl::context::tls_server);
    SSL_CTX* ctx = cert.context->native_handle();
    SSL_CTX_set_min_proto_version(
        ctx, config.min_version == config::TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(
        ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (auto used = UseCertificate(ctx, cert_config.cert_file, cert_config.key_file); !used) {
      return std::unexpected(used.error());
    }
    // The argument only says whether h2 is offered: any non-null pointer will do.
    SSL_CTX_set_alpn_select_cb(ctx, &OnAlpnSelect, http2 ? tls.get() : nullptr);
    SSL_CTX_set_tlsext_servername_callback(ctx, &ServerTls::OnServerName);
    SSL_CTX_set_tlsext_servername_arg(ctx, tls.get());
    if (!config.client_ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx, config.client_ca_file.c_str(), nullptr) != 1) {
        return std::unexpected("cannot load client CA " +
                               PemProblem(config.client_ca_file, "certificate"));
      }
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.client_ca_file.c_str());
      if (names == nullptr) {
        return std::unexpected("cannot load client CA " +
                               PemProblem(config.client_ca_file, "certificate"));
      }
      SSL_CTX_set_client_CA_list(ctx, names);
      int mode = SSL_VERIFY_NONE;
      if (config.client_auth == config::ClientAuth::kOptional) mode = SSL_VERIFY_PEER;
      if (config.client_auth == config::ClientAuth::kRequire) {
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
      }
      SSL_CTX_set_verify(ctx, mode, nullptr);
    }
    // Session ids are per certificate context; make resumption work across the SNI switch.
    static constexpr unsigned char kSessionContext[] = "ciap";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
    ReadNames(SSL_CTX_get0_certificate(ctx), &cert);
    tls->certificates_.push_back(std::move(cert));
  }
  if (tls->certificates_.empty()) return std::unexpected("a TLS listener needs a certificate");
  return tls;
}

const ServerTls::Certificate* ServerTls::Select(std::string_view server_name) const {
  std::string host = Lower(std::string(server_name));
  if (!host.empty() && host.back() == '.') host.pop_back();
  for (const Certificate& cert : certificates_) {
    for (const std::string& pattern : cert.dns_names) {
      if (NameMatches(pattern, host)) return &cert;
    }
  }
  return nullptr;
}

int ServerTls::OnServerName(SSL* ssl, int*, void* arg) {
  auto* self = static_cast<ServerTls*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr || self->certificates_.size() == 1) return SSL_TLSEXT_ERR_OK;
  const Certificate* cert = self->Select(name);
  if (cert != nullptr && cert->context->native_handle() != SSL_get_SSL_CTX(ssl)) {
    SSL_set_SSL_CTX(ssl, cert->context->native_handle());
  }
  // Unknown names get the default certificate rather than a handshake failure.
  return SSL_TLSEXT_ERR_OK;
}

std::expected<std::unique_ptr<ssl::context>, std::string> CreateUpstreamTlsContext(
    const config::UpstreamTlsConfig& config, bool http2) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX* ctx = context->native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (config.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return std::unexpected("cannot load the system trust store: " + OpenSslErrors());
    }
  } else if (SSL_CTX_load_verify_locations(ctx, config.ca_file.c_str(), nullptr) != 1) {
    return std::unexpected("cannot load CA " + PemProblem(config.ca_file, "certificate"));
  }
  if (!config.cert_file.empty()) {
    if (auto used = UseCertificate(ctx, config.cert_file, config.key_file); !used) {
      return std::unexpected("client certificate: " + used.error());
    }
  }
  static constexpr unsigned char kAlpnHttp1[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  static constexpr unsigned char kAlpnHttp2[] = {2, 'h', '2'};
  if (http2) {
    SSL_CTX_set_alpn_protos(ctx, kAlpnHttp2, sizeof kAlpnHttp2);
  } else {
    SSL_CTX_set_alpn_protos(ctx, kAlpnHttp1, sizeof kAlpnHttp1);
  }
  return context;
}

void ExpectPeerName(SSL* ssl, const std::string& name) {
  error_code not_ip;
  asio::ip::make_address(name, not_ip);
  if (not_ip) {
    SSL_set_tlsext_host_name(ssl, name.c_str());
    SSL_set1_host(ssl, name.c_str());
  } else {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
  }
}

}  // namespace ciap
