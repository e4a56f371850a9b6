// See certificate_claims.h.
#include "filters/identity/certificate_claims.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/json.hpp>
#include <memory>

#include "config/text.h"

namespace ciap::identity {
namespace {
namespace json = boost::json;

using config::HexLower;

// RFC 4514 text of a name ("CN=agent-1,O=Acme").
std::string NameText(X509_NAME* name) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// The first value of `nid` in the name, as UTF-8.
std::string NameEntry(X509_NAME* name, int nid) {
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return {};
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int size = ASN1_STRING_to_UTF8(&utf8, data);
  if (size < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(size));
  OPENSSL_free(utf8);
  return out;
}

// A SPIFFE ID: spiffe://<trust domain>/<path>, the trust domain in lower-case letters, digits,
// '.', '-' and '_', and a path. The trust domain, or empty when `uri` is not a valid workload
// SPIFFE ID.
std::string SpiffeTrustDomain(std::string_view uri) {
  constexpr std::string_view kScheme = "spiffe://";
  if (!uri.starts_with(kScheme)) return {};
  std::string_view rest = uri.substr(kScheme.size());
  std::string_view domain = rest.substr(0, rest.find('/'));
  if (domain.empty() || domain.size() > 255) return {};
  for (char ch : domain) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
          ch == '_')) {
      return {};
    }
  }
  std::string_view path = rest.substr(domain.size());
  // A workload's ID has a path; the bare trust domain names no workload.
  if (path.size() < 2) return {};
  if (path.find('?') != std::string_view::npos || path.find('#') != std::string_view::npos ||
      path.ends_with('/') || path.find("//") != std::string_view::npos ||
      path.find("/./") != std::string_view::npos || path.find("/../") != std::string_view::npos ||
      path.ends_with("/.") || path.ends_with("/..")) {
    return {};
  }
  return std::string(domain);
}

}  // namespace

SourceResult<CallerClaims> CertificateClaims(x509_st* leaf) {
  if (leaf == nullptr) {
    return std::unexpected(SourceRefusal{"missing_token", "no client certificate"});
  }
  CallerClaims out;
  json::object& c = out.claims;
  X509_NAME* subject = X509_get_subject_name(leaf);
  const std::string dn = NameText(subject);
  c["subject"] = dn;
  c["subject_cn"] = NameEntry(subject, NID_commonName);
  c["subject_o"] = NameEntry(subject, NID_organizationName);
  c["subject_ou"] = NameEntry(subject, NID_organizationalUnitName);

  json::array dns;
  json::array uris;
  std::vector<std::string> spiffe;
  using Names = STACK_OF(GENERAL_NAME);
  std::unique_ptr<Names, void (*)(Names*)> sans(
      static_cast<Names*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr)),
      [](Names* names) { GENERAL_NAMES_free(names); });
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
    if (name->type != GEN_DNS && name->type != GEN_URI) continue;
    const ASN1_IA5STRING* text =
        name->type == GEN_DNS ? name->d.dNSName : name->d.uniformResourceIdentifier;
    std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                      static_cast<std::size_t>(ASN1_STRING_length(text)));
    if (name->type == GEN_DNS) {
      dns.emplace_back(value);
    } else {
      if (value.starts_with("spiffe://")) spiffe.push_back(value);
      uris.emplace_back(value);
    }
  }
  c["san_dns"] = std::move(dns);
  const std::size_t uri_count = uris.size();
  c["san_uri"] = std::move(uris);
  if (!spiffe.empty()) {
    // An X.509-SVID names one workload: exactly one URI SAN, its SPIFFE ID; and it is a leaf.
    std::string domain =
        uri_count == 1 && spiffe.size() == 1 ? SpiffeTrustDomain(spiffe[0]) : std::string();
    if (domain.empty() || X509_check_ca(leaf) != 0) {
      return std::unexpected(SourceRefusal{
          "invalid_certificate",
          "the certificate is not a valid X.509-SVID (one spiffe:// URI SAN, not a CA)"});
    }
    c["spiffe_id"] = spiffe[0];
    c["trust_domain"] = domain;
    c["sub"] = spiffe[0];
  } else {
    c["sub"] = dn;
  }

  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(
      ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), nullptr), &BN_free);
  if (serial) {
    char* hex = BN_bn2hex(serial.get());
    std::string text = hex != nullptr ? hex : "";
    OPENSSL_free(hex);
    for (char& ch : text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    c["serial"] = text;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (X509_digest(leaf, EVP_sha256(), digest, &size) == 1) {
    c["fingerprint_sha256"] = HexLower(digest, size);
  }
  int days = 0;
  int seconds = 0;
  if (ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(leaf)) == 1) {
    out.expires_at = static_cast<int64_t>(std::time(nullptr)) + int64_t{days} * 86400 + seconds;
  }
  return out;
}

}  // namespace ciap::identity
