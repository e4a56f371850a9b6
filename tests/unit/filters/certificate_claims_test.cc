// The claims of a verified client certificate (filters/identity/certificate_claims.h), on
// certificates made here with OpenSSL: an X.509-SVID's SPIFFE ID as `sub`, else the subject DN
// in RFC 4514 form; the SVID rules (one spiffe:// URI, not a CA, a valid trust domain); the
// subject's parts, SANs, serial, fingerprint and end.
#include "filters/identity/certificate_claims.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/json.hpp>
#include <ctime>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ciap::identity {
namespace {

namespace json = boost::json;

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
constexpr int64_t kLifetime = 30 * 86400;

struct CertSpec {
  std::vector<std::pair<int, std::string>> subject;  // in DER order (RFC 2253 prints reversed)
  std::string sans;                                  // OpenSSL's form: "URI:…,DNS:…"; "" none
  bool ca = false;
  unsigned long serial = 0x1a2b3c4d5e;
};

EVP_PKEY* Key() {
  static EVP_PKEY* key = EVP_EC_gen("P-256");
  return key;
}

void AddExtension(X509* x, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  ASSERT_NE(ext, nullptr) << value;
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
}

// A self-signed v3 certificate valid from a minute ago for kLifetime.
X509Ptr MakeCert(const CertSpec& spec) {
  X509Ptr x(X509_new(), &X509_free);
  X509_set_version(x.get(), X509_VERSION_3);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(BN_new(), &BN_free);
  BN_set_word(serial.get(), spec.serial);
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x.get()));
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), kLifetime);
  X509_NAME* name = X509_get_subject_name(x.get());
  for (const auto& [nid, value] : spec.subject) {
    X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0);
  }
  X509_set_issuer_name(x.get(), name);
  X509_set_pubkey(x.get(), Key());
  if (!spec.sans.empty()) AddExtension(x.get(), NID_subject_alt_name, spec.sans);
  if (spec.ca) AddExtension(x.get(), NID_basic_constraints, "critical,CA:TRUE");
  EXPECT_GT(X509_sign(x.get(), Key(), EVP_sha256()), 0);
  return x;
}

const std::vector<std::pair<int, std::string>> kAgent = {{NID_organizationName, "Acme"},
                                                         {NID_organizationalUnitName, "ci"},
                                                         {NID_commonName, "agent-1"}};

std::string Fingerprint(X509* x) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EXPECT_EQ(X509_digest(x, EVP_sha256(), digest, &size), 1);
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[digest[i] >> 4];
    hex += kDigits[digest[i] & 0xf];
  }
  return hex;
}

// A claim as text (strings unquoted), so it compares with std::string.
std::string Text(const json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : json::serialize(v);
}

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

TEST(CertificateClaimsTest, SpiffeSvidNamesTheWorkload) {
  const std::string id = "spiffe://example.org/ns/ci/sa/agent";
  X509Ptr cert = MakeCert(
      {.subject = kAgent, .sans = "URI:" + id + ",DNS:agent.example.org,DNS:agent-2.example.org"});
  auto r = CertificateClaims(cert.get());
  ASSERT_TRUE(r) << r.error().detail;
  const json::object& c = r->claims;
  EXPECT_EQ(Text(c.at("sub")), id);
  EXPECT_EQ(Text(c.at("spiffe_id")), id);
  EXPECT_EQ(c.at("trust_domain"), "example.org");
  EXPECT_EQ(c.at("san_dns"), (json::array{"agent.example.org", "agent-2.example.org"}));
  EXPECT_EQ(c.at("san_uri"), (json::array{id}));
  EXPECT_EQ(c.at("subject"), "CN=agent-1,OU=ci,O=Acme");
  EXPECT_EQ(c.at("subject_cn"), "agent-1");
  EXPECT_EQ(c.at("subject_o"), "Acme");
  EXPECT_EQ(c.at("subject_ou"), "ci");
  EXPECT_EQ(c.at("serial"), "1a2b3c4d5e");
  EXPECT_EQ(Text(c.at("fingerprint_sha256")), Fingerprint(cert.get()));
  EXPECT_NEAR(static_cast<double>(r->expires_at), static_cast<double>(Now() + kLifetime), 5);

  auto caller = r->ToCaller("mtls");
  EXPECT_EQ(caller->subject, id);
  EXPECT_EQ(caller->pipeline, id);
  EXPECT_EQ(caller->expires_at, r->expires_at);
}

TEST(CertificateClaimsTest, WithoutSpiffeTheSubjectIsTheDn) {
  X509Ptr cert = MakeCert({.subject = {{NID_organizationName, "Acme"}, {NID_commonName, "agent-1"}},
                           .sans = "",
                           .ca = false,
                           .serial = 0x0abc});
  auto r = CertificateClaims(cert.get());
  ASSERT_TRUE(r) << r.error().detail;
  const json::object& c = r->claims;
  EXPECT_EQ(c.at("sub"), "CN=agent-1,O=Acme") << "RFC 4514: the last RDN first";
  EXPECT_EQ(c.at("subject"), "CN=agent-1,O=Acme");
  EXPECT_EQ(c.at("subject_cn"), "agent-1");
  EXPECT_EQ(c.at("subject_o"), "Acme");
  EXPECT_EQ(c.at("subject_ou"), "") << "absent parts are empty strings";
  EXPECT_EQ(c.at("san_dns"), json::array());
  EXPECT_EQ(c.at("san_uri"), json::array());
  EXPECT_FALSE(c.contains("spiffe_id"));
  EXPECT_FALSE(c.contains("trust_domain"));
  EXPECT_EQ(c.at("serial"), "0abc") << "lower-case hex, whole bytes";
  EXPECT_EQ(Text(c.at("fingerprint_sha256")), Fingerprint(cert.get()));
  EXPECT_EQ(r->ToCaller("mtls")->pipeline, "") << "no project_path, arn or spiffe_id";

  // Other URIs and DNS names are listed but do not name the caller; RFC 4514 escapes.
  cert = MakeCert({.subject = {{NID_organizationName, "Acme, Inc."}, {NID_commonName, "a+b"}},
                   .sans = "DNS:agent.example.org,URI:https://agent.example.org/id"});
  r = CertificateClaims(cert.get());
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->claims.at("sub"), "CN=a\\+b,O=Acme\\, Inc.");
  EXPECT_EQ(r->claims.at("subject_o"), "Acme, Inc.");
  EXPECT_EQ(r->claims.at("san_dns"), (json::array{"agent.example.org"}));
  EXPECT_EQ(r->claims.at("san_uri"), (json::array{"https://agent.example.org/id"}));
}

TEST(CertificateClaimsTest, InvalidSvidsAreRefused) {
  auto reason = [](const CertSpec& spec) {
    X509Ptr cert = MakeCert(spec);
    auto r = CertificateClaims(cert.get());
    return r ? std::string("accepted") : std::string(r.error().reason);
  };
  EXPECT_EQ(reason({.subject = kAgent, .sans = "URI:spiffe://example.org/a"}), "accepted");
  EXPECT_EQ(
      reason({.subject = kAgent, .sans = "URI:spiffe://example.org/a,URI:spiffe://example.org/b"}),
      "invalid_certificate")
      << "two SPIFFE IDs";
  EXPECT_EQ(
      reason({.subject = kAgent, .sans = "URI:spiffe://example.org/a,URI:spiffe://example.org/a"}),
      "invalid_certificate");
  EXPECT_EQ(reason({.subject = kAgent, .sans = "URI:spiffe://example.org/a", .ca = true}),
            "invalid_certificate")
      << "an SVID is never a CA";
  for (std::string_view bad :
       {"spiffe://Example.org/a", "spiffe://EXAMPLE.ORG/a", "spiffe://exa%6dple.org/a",
        "spiffe://user@example.org/a", "spiffe://example.org:443/a", "spiffe:///a",
        "spiffe://example.org/", "spiffe://example.org//a", "spiffe://example.org/a/../b",
        "spiffe://example.org/./a", "spiffe://example.org/a/..", "spiffe://example.org/a?x=1"}) {
    EXPECT_EQ(reason({.subject = kAgent, .sans = "URI:" + std::string(bad)}), "invalid_certificate")
        << bad;
  }
  // A CA without a SPIFFE ID is not an SVID; the listener's verification decided it may log in.
  EXPECT_EQ(reason({.subject = kAgent, .sans = "", .ca = true}), "accepted");
}

TEST(CertificateClaimsTest, NoCertificate) {
  auto r = CertificateClaims(nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "missing_token");
}

}  // namespace
}  // namespace ciap::identity
