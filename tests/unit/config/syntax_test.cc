// Tests of config/syntax: the scalar formats (addresses, names, tokens) and of
// HostPort::ToString. Durations: duration_test.cc.
#include "config/syntax.h"

#include <gtest/gtest.h>

#include <array>

#include "tests/unit/config/test_util.h"

namespace ciap::config {
namespace {

using std::chrono::milliseconds;

TEST(SyntaxTest, ParseHostPortForms) {
  auto v4 = ParseHostPort("10.0.0.7:443", AddressUse::kUpstream);
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->host, "10.0.0.7");
  EXPECT_EQ(v4->port, 443);
  auto v6 = ParseHostPort("[fd00::7]:8443", AddressUse::kListen);
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->host, "fd00::7");
  EXPECT_EQ(v6->ToString(), "[fd00::7]:8443");
  auto dns = ParseHostPort("artifacts.internal:65535", AddressUse::kUpstream);
  ASSERT_TRUE(dns.has_value());
  EXPECT_EQ(dns->ToString(), "artifacts.internal:65535");
  EXPECT_TRUE(ParseHostPort("localhost:0", AddressUse::kListen).has_value());
  EXPECT_TRUE(ParseHostPort("[::]:0", AddressUse::kListen).has_value());
  EXPECT_TRUE(ParseHostPort("my_service:80", AddressUse::kUpstream).has_value())
      << "container service names may contain '_'";
}

TEST(SyntaxTest, ParseHostPortErrors) {
  struct Case {
    std::string_view text;
    AddressUse use;
    std::string_view message;
  };
  constexpr std::array<Case, 13> kCases = {{
      {"", AddressUse::kUpstream, "missing port"},
      {"10.0.0.1", AddressUse::kUpstream, "missing port"},
      {":80", AddressUse::kUpstream, "missing host"},
      {"10.0.0.1:", AddressUse::kUpstream, "port must be a number 1-65535"},
      {"10.0.0.1:http", AddressUse::kUpstream, "port must be a number 1-65535"},
      {"10.0.0.1:65536", AddressUse::kListen, "port 65536 is out of range (0-65535"},
      {"10.0.0.1:0", AddressUse::kUpstream, "out of range (1-65535)"},
      {"::1:80", AddressUse::kListen, "IPv6 addresses need brackets"},
      {"[::1:80", AddressUse::kListen, "missing ']'"},
      {"[::1]80", AddressUse::kListen, "missing port after ']'"},
      {"[10.0.0.1]:80", AddressUse::kListen, "is not an IPv6 address"},
      {"10.0.0.256:80", AddressUse::kUpstream, "'10.0.0.256' is not a valid IPv4 address"},
      {"example.com:80", AddressUse::kListen, "must be an IP address or localhost"},
  }};
  for (const Case& c : kCases) {
    auto result = ParseHostPort(c.text, c.use);
    ASSERT_FALSE(result.has_value()) << c.text;
    EXPECT_NE(result.error().find(c.message), std::string::npos)
        << c.text << ": " << result.error();
  }
  EXPECT_NE(ParseHostPort("bad host:80", AddressUse::kUpstream).error().find("not a valid host"),
            std::string::npos);
  EXPECT_FALSE(ParseHostPort("-a.internal:80", AddressUse::kUpstream).has_value());
}

// A URL where host:port belongs says what to write instead (the README's upstream form).
TEST(SyntaxTest, ParseHostPortExplainsUrls) {
  auto error = [](std::string_view text, AddressUse use = AddressUse::kUpstream) {
    auto result = ParseHostPort(text, use);
    EXPECT_FALSE(result.has_value()) << text;
    return result ? std::string() : result.error();
  };
  EXPECT_EQ(error("https://artifacts.acme.internal"),
            "endpoints are host:port, not URLs: write artifacts.acme.internal:443, and give the "
            "upstream tls: {} for HTTPS (verified against the system CAs; tls.ca_file and tls.sni "
            "change that)");
  EXPECT_EQ(error("HTTP://10.0.0.7"),
            "endpoints are host:port, not URLs: write 10.0.0.7:80 (plain HTTP is the default: an "
            "upstream without tls:)");
  EXPECT_NE(error("https://a.internal:8443/api/v1").find("write a.internal:8443, and give"),
            std::string::npos);
  EXPECT_NE(error("https://a.internal/api").find("the path is not part of an endpoint"),
            std::string::npos);
  EXPECT_EQ(error("https://a.internal/").find("the path"), std::string::npos)
      << "a bare / is no path to warn about";
  EXPECT_NE(error("https://[fd00::7]/").find("write [fd00::7]:443,"), std::string::npos);
  EXPECT_NE(error("https://user:pw@a.internal").find("write a.internal:443,"), std::string::npos)
      << "user info is dropped from the suggestion";
  EXPECT_EQ(error("grpc://a.internal"), "endpoints are host:port, not URLs: write a.internal:PORT");
  EXPECT_EQ(error("https://0.0.0.0:8443", AddressUse::kListen),
            "a listen address is host:port, not a URL: write 0.0.0.0:8443 (TLS is set by the "
            "listener's tls:, or plaintext: true)");
  EXPECT_EQ(error("a.internal:443/api"),
            "a path is not part of host:port: write a.internal:443 (ciap forwards each "
            "request's own path)");
}

TEST(SyntaxTest, DnsNames) {
  EXPECT_TRUE(IsDnsName("a"));
  EXPECT_TRUE(IsDnsName("artifacts.ci.acme.internal"));
  EXPECT_TRUE(IsDnsName("xn--bcher-kva.example"));
  EXPECT_FALSE(IsDnsName(""));
  EXPECT_FALSE(IsDnsName("a..b"));
  EXPECT_FALSE(IsDnsName("a."));
  EXPECT_FALSE(IsDnsName("a-.b"));
  EXPECT_FALSE(IsDnsName("*.b"));
  EXPECT_FALSE(IsDnsName(std::string(64, 'a') + ".b"));
  EXPECT_TRUE(IsDnsName(std::string(63, 'a') + ".b"));
}

TEST(SyntaxTest, TokensAndNames) {
  EXPECT_TRUE(IsHttpToken("X-Custom_Header.1"));
  EXPECT_TRUE(IsHttpToken("PATCH"));
  EXPECT_FALSE(IsHttpToken(""));
  EXPECT_FALSE(IsHttpToken("X Header"));
  EXPECT_FALSE(IsHttpToken("X:Header"));
  EXPECT_TRUE(IsValidName("artifact-uploads_v1.2"));
  EXPECT_FALSE(IsValidName("a b"));
  EXPECT_FALSE(IsValidName("a/b"));
  EXPECT_FALSE(IsValidName(""));
}

TEST(SyntaxTest, ManagedHeadersAreCaseInsensitive) {
  for (std::string_view name : {"connection", "KEEP-ALIVE", "Transfer-Encoding", "te", "Trailer",
                                "upgrade", "Proxy-Connection", "content-length", "HOST"}) {
    EXPECT_TRUE(IsManagedHeader(name)) << name;
  }
  EXPECT_FALSE(IsManagedHeader("Authorization"));
  EXPECT_FALSE(IsManagedHeader("Trailers"));
}

TEST(SyntaxTest, CheckReadableFile) {
  EXPECT_EQ(CheckReadableFile(testing::CertDir() + "/tls.crt"), std::nullopt);
  EXPECT_EQ(CheckReadableFile("/nonexistent/x"),
            "cannot read /nonexistent/x: No such file or directory");
  EXPECT_EQ(CheckReadableFile(testing::CertDir()),
            "cannot read " + testing::CertDir() + ": Is a directory");
}

TEST(SyntaxTest, SuggestSpelling) {
  constexpr std::array<std::string_view, 3> kKeys = {"path", "path_prefix", "path_regex"};
  EXPECT_EQ(SuggestSpelling("pathprefix", kKeys), "path_prefix");
  EXPECT_EQ(SuggestSpelling("PATH", kKeys), "path");
  EXPECT_EQ(SuggestSpelling("upstream", kKeys), std::nullopt);
}

TEST(SyntaxTest, Sha256Hex) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(SyntaxTest, ParseHttpUrlForms) {
  auto url = ParseHttpUrl("HTTPS://Agent.Buildkite.com");
  ASSERT_TRUE(url.has_value()) << url.error();
  EXPECT_EQ(url->scheme, "https");
  EXPECT_EQ(url->host, "agent.buildkite.com");
  EXPECT_EQ(url->port, 0);
  EXPECT_EQ(url->path, "");
  url = ParseHttpUrl("https://oidc.circleci.com/org/a64b0a19?x=1#f");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->path, "/org/a64b0a19");
  EXPECT_TRUE(url->has_query);
  EXPECT_TRUE(url->has_fragment);
  url = ParseHttpUrl("http://[::1]:8080/keys");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 8080);
  url = ParseHttpUrl("https://idp.example.com/#a?b");
  ASSERT_TRUE(url.has_value());
  EXPECT_FALSE(url->has_query) << "a '?' inside the fragment is not a query";
  EXPECT_TRUE(ParseHttpUrl("https://10.0.0.7:8443").has_value());
}

TEST(SyntaxTest, ParseHttpUrlErrors) {
  struct Case {
    std::string_view text;
    std::string_view message;
  };
  constexpr std::array<Case, 11> kCases = {{
      {"idp.example.com", "expected an absolute https URL"},
      {"ftp://idp.example.com", "expected an absolute https URL"},
      {"https://", "missing host"},
      {"https:///path", "missing host"},
      {"https://user:pw@idp.example.com", "must not contain user info"},
      {"https://idp.example.com:0", "port 0 is out of range"},
      {"https://idp.example.com:99999", "out of range"},
      {"https://idp.example.com:", "empty port"},
      {"https://idp example.com", "must not contain spaces"},
      {"https://idp_.-x/", "is not a valid host name"},
      {"https://[fe80::zz]/", "is not an IPv6 address"},
  }};
  for (const Case& c : kCases) {
    auto url = ParseHttpUrl(c.text);
    ASSERT_FALSE(url.has_value()) << c.text;
    EXPECT_NE(url.error().find(c.message), std::string::npos) << c.text << ": " << url.error();
  }
}

TEST(SyntaxTest, IsLoopbackHost) {
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_TRUE(IsLoopbackHost("LOCALHOST"));
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_FALSE(IsLoopbackHost("128.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("localhost.evil.com"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("::2"));
}

TEST(SyntaxTest, HostPortToString) {
  EXPECT_EQ((HostPort{"127.0.0.1", 9901}).ToString(), "127.0.0.1:9901");
  EXPECT_EQ((HostPort{"::1", 0}).ToString(), "[::1]:0");
  EXPECT_EQ((HostPort{"a.internal", 443}).ToString(), "a.internal:443");
}

}  // namespace
}  // namespace ciap::config
