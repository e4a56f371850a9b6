// Registered-claim validation: exp/nbf/iat with skew, lifetime cap, iss and aud, and claims of
// the wrong type or out of range.
#include "jose/claims.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

#include "jose/strict_json.h"

namespace ciap::jose {
namespace {

namespace json = boost::json;
using std::chrono::seconds;

constexpr int64_t kNow = 1767225700;  // between the vendor examples' iat (…600) and exp (…900)

class ClaimsTest : public ::testing::Test {
 protected:
  ClaimsTest() {
    policy_.issuer = "https://agent.buildkite.com";
    policy_.audiences = audiences_;
    policy_.clock_skew = seconds(30);
    policy_.max_token_lifetime = seconds(3600);
    policy_.now = std::chrono::system_clock::time_point(seconds(kNow));
  }

  std::string Check(std::string_view payload_json) {
    auto payload = ParseStrictJsonObject(payload_json);
    EXPECT_TRUE(payload) << payload_json;
    if (!payload) return "<bad json>";
    return Check(*payload);
  }

  std::string Check(const json::object& payload) {
    auto result = ValidateClaims(payload, policy_);
    return result ? "ok" : std::string(ClaimErrorName(result.error()));
  }

  // A Buildkite-like payload with exp/iat/nbf replaced by the given JSON texts ("" = absent).
  std::string Times(std::string_view exp, std::string_view iat = "1767225600",
                    std::string_view nbf = "") {
    std::string json =
        R"({"iss":"https://agent.buildkite.com","aud":"https://ci-proxy.acme.internal")";
    if (!exp.empty()) json += ",\"exp\":" + std::string(exp);
    if (!iat.empty()) json += ",\"iat\":" + std::string(iat);
    if (!nbf.empty()) json += ",\"nbf\":" + std::string(nbf);
    return Check(json + "}");
  }

  std::vector<std::string> audiences_{"https://ci-proxy.acme.internal", "ciap"};
  ClaimsPolicy policy_;
};

TEST_F(ClaimsTest, VendorExamplesPass) {
  // The payload shapes of the four CI vendors (their documented examples) validate with a matching
  // policy.
  EXPECT_EQ(
      Check(
          R"({"iss":"https://agent.buildkite.com","sub":"organization:acme-inc:pipeline:deploy-api:ref:refs/heads/main","aud":"https://ci-proxy.acme.internal","iat":1767225600,"nbf":1767225600,"exp":1767225900,"organization_slug":"acme-inc","build_number":1423,"step_key":null})"),
      "ok");
  policy_.issuer = "https://oidc.circleci.com/org/a64b0a19-f221-4291-b000-8d24bd842b72";
  EXPECT_EQ(
      Check(
          R"({"iss":"https://oidc.circleci.com/org/a64b0a19-f221-4291-b000-8d24bd842b72","aud":"https://ci-proxy.acme.internal","iat":1767225600,"exp":1767229200,"oidc.circleci.com/context-ids":["a","b"],"oidc.circleci.com/ssh-rerun":false})"),
      "ok");
  policy_.issuer = "https://gitlab.com";
  EXPECT_EQ(
      Check(
          R"({"iss":"https://gitlab.com","aud":"https://ci-proxy.acme.internal","iat":1767225600,"nbf":1767225595,"exp":1767229200,"ref_protected":"true"})"),
      "ok");
  policy_.issuer = "https://token.actions.githubusercontent.com";
  EXPECT_EQ(
      Check(
          R"({"iss":"https://token.actions.githubusercontent.com","aud":["https://ci-proxy.acme.internal"],"iat":1767225600,"nbf":1767225300,"exp":1767225900})"),
      "ok");
}

TEST_F(ClaimsTest, ExpIsRequiredAndNumeric) {
  // Missing exp, and exp as string, bool, null, array or object.
  EXPECT_EQ(Times(""), "missing_exp");
  EXPECT_EQ(Times(R"("1767225900")"), "bad_claim_type");
  EXPECT_EQ(Times("true"), "bad_claim_type");
  EXPECT_EQ(Times("null"), "bad_claim_type");
  EXPECT_EQ(Times("[1767225900]"), "bad_claim_type");
  EXPECT_EQ(Times(R"({"t":1767225900})"), "bad_claim_type");
  EXPECT_EQ(Times("1767225900"), "ok");
  EXPECT_EQ(Times("1767225900.5"), "ok");
}

TEST_F(ClaimsTest, NumericOverflowIsRejectedCleanly) {
  // Huge integers (uint64 and beyond), huge doubles, infinity, negative times, milliseconds.
  EXPECT_EQ(Times("18446744073709551615"), "bad_claim_value");
  EXPECT_EQ(Times("9223372036854775807"), "bad_claim_value");
  EXPECT_EQ(Times("123456789012345678901234567890"), "bad_claim_value");
  EXPECT_EQ(Times("1e300"), "bad_claim_value");
  EXPECT_EQ(Times("-1"), "bad_claim_value");
  EXPECT_EQ(Times("1767225900000"), "bad_claim_value");  // milliseconds, year 57970
  json::object infinite{{"iss", "https://agent.buildkite.com"},
                        {"aud", "ciap"},
                        {"exp", std::numeric_limits<double>::infinity()}};
  EXPECT_EQ(Check(infinite), "bad_claim_value");
  infinite["exp"] = std::nan("");
  EXPECT_EQ(Check(infinite), "bad_claim_value");
  EXPECT_EQ(Times("1767225900", "1e300"), "bad_claim_value");
  EXPECT_EQ(Times("1767225900", "1767225600", "-5"), "bad_claim_value");
}

TEST_F(ClaimsTest, ExpiryHonoursSkew) {
  // Valid until exp + skew (exclusive).
  EXPECT_EQ(Times(std::to_string(kNow + 1)), "ok");
  EXPECT_EQ(Times(std::to_string(kNow)), "ok");  // within skew
  EXPECT_EQ(Times(std::to_string(kNow - 29)), "ok");
  EXPECT_EQ(Times(std::to_string(kNow - 30), "1767225000"), "expired");
  EXPECT_EQ(Times(std::to_string(kNow - 3000), "1767220000"), "expired");
  policy_.clock_skew = seconds(0);
  EXPECT_EQ(Times(std::to_string(kNow)), "expired");
}

TEST_F(ClaimsTest, NotBeforeHonoursSkew) {
  // nbf in the future beyond skew is not yet valid; within skew it passes; wrong type fails.
  const std::string exp = std::to_string(kNow + 600);
  EXPECT_EQ(Times(exp, "", std::to_string(kNow + 31)), "not_yet_valid");
  EXPECT_EQ(Times(exp, "", std::to_string(kNow + 500)), "not_yet_valid");
  EXPECT_EQ(Times(exp, "", std::to_string(kNow + 30)), "ok");
  EXPECT_EQ(Times(exp, "", std::to_string(kNow - 100)), "ok");
  EXPECT_EQ(Times(exp, "", R"("1767225600")"), "bad_claim_type");
  EXPECT_EQ(Times(exp, "", "false"), "bad_claim_type");
}

TEST_F(ClaimsTest, IssuedInTheFutureIsRejected) {
  // iat beyond now + skew is refused; within skew it passes; wrong type fails.
  const std::string exp = std::to_string(kNow + 600);
  EXPECT_EQ(Times(exp, std::to_string(kNow + 31)), "issued_in_future");
  EXPECT_EQ(Times(exp, std::to_string(kNow + 400)), "issued_in_future");
  EXPECT_EQ(Times(exp, std::to_string(kNow + 30)), "ok");
  EXPECT_EQ(Times(exp, R"("now")"), "bad_claim_type");
  EXPECT_EQ(Times(exp, "[]"), "bad_claim_type");
}

TEST_F(ClaimsTest, LifetimeIsCapped) {
  // exp - iat (else nbf, else now) may not exceed max_token_lifetime.
  EXPECT_EQ(Times(std::to_string(kNow - 100 + 3600), std::to_string(kNow - 100)), "ok");
  EXPECT_EQ(Times(std::to_string(kNow - 100 + 3601), std::to_string(kNow - 100)),
            "lifetime_too_long");
  EXPECT_EQ(Times(std::to_string(kNow + 86400 * 365), std::to_string(kNow)), "lifetime_too_long");
  EXPECT_EQ(Times(std::to_string(kNow + 3601), "", std::to_string(kNow)), "lifetime_too_long");
  EXPECT_EQ(Times(std::to_string(kNow + 3000), "", std::to_string(kNow)), "ok");
  EXPECT_EQ(Times(std::to_string(kNow + 3601), ""), "lifetime_too_long");
  EXPECT_EQ(Times(std::to_string(kNow + 3600), ""), "ok");
  EXPECT_EQ(Times("253402300799", ""), "lifetime_too_long");  // year 9999
}

TEST_F(ClaimsTest, IssuerIsAnExactString) {
  // Missing, differently spelt, prefixed/suffixed, or non-string issuers fail.
  const std::string rest = R"(,"aud":"ciap","iat":1767225600,"exp":1767225900})";
  EXPECT_EQ(Check(R"({"iss":"https://agent.buildkite.com")" + rest), "ok");
  EXPECT_EQ(Check(R"({"iss":"https://agent.buildkite.com/")" + rest), "wrong_issuer");
  EXPECT_EQ(Check(R"({"iss":"https://AGENT.buildkite.com")" + rest), "wrong_issuer");
  EXPECT_EQ(Check(R"({"iss":"https://agent.buildkite.com.evil.example")" + rest), "wrong_issuer");
  EXPECT_EQ(Check(R"({"iss":"http://agent.buildkite.com")" + rest), "wrong_issuer");
  EXPECT_EQ(Check(R"({"iss":"https://agent.buildkite.com\u0000")" + rest), "wrong_issuer");
  EXPECT_EQ(Check(R"({"iss":["https://agent.buildkite.com"])" + rest), "bad_claim_type");
  EXPECT_EQ(Check(R"({"iss":null)" + rest), "bad_claim_type");
  EXPECT_EQ(Check(R"({"sub":"x")" + rest), "missing_iss");
}

TEST_F(ClaimsTest, AudienceAsStringOrArray) {
  // aud may be a string or an array of strings; any accepted value matches.
  const std::string head =
      R"({"iss":"https://agent.buildkite.com","iat":1767225600,"exp":1767225900,"aud":)";
  EXPECT_EQ(Check(head + R"("ciap"})"), "ok");
  EXPECT_EQ(Check(head + R"(["other","https://ci-proxy.acme.internal"]})"), "ok");
  EXPECT_EQ(Check(head + R"(["ciap"]})"), "ok");
  EXPECT_EQ(Check(head + R"("https://gitlab.com"})"), "wrong_audience");  // legacy GitLab aud
  EXPECT_EQ(Check(head + R"(["a","b"]})"), "wrong_audience");
  EXPECT_EQ(Check(head + R"([]})"), "wrong_audience");
  EXPECT_EQ(Check(head + R"("CIAP"})"), "wrong_audience");
}

TEST_F(ClaimsTest, AudienceMissingOrOfTheWrongType) {
  // Missing aud, numbers, objects, null, and arrays holding non-strings.
  const std::string head =
      R"({"iss":"https://agent.buildkite.com","iat":1767225600,"exp":1767225900)";
  EXPECT_EQ(Check(head + "}"), "missing_aud");
  EXPECT_EQ(Check(head + R"(,"aud":42})"), "bad_claim_type");
  EXPECT_EQ(Check(head + R"(,"aud":{"ciap":true}})"), "bad_claim_type");
  EXPECT_EQ(Check(head + R"(,"aud":null})"), "bad_claim_type");
  EXPECT_EQ(Check(head + R"(,"aud":["ciap",7]})"), "bad_claim_type");
  EXPECT_EQ(Check(head + R"(,"aud":[["ciap"]]})"), "bad_claim_type");
}

TEST_F(ClaimsTest, EmptyAudienceListAcceptsNothing) {
  // A policy without audiences fails closed.
  policy_.audiences = {};
  EXPECT_EQ(
      Check(
          R"({"iss":"https://agent.buildkite.com","aud":"ciap","iat":1767225600,"exp":1767225900})"),
      "wrong_audience");
}

TEST_F(ClaimsTest, ErrorNamesAreStableAndDistinct) {
  // Reasons are metric labels: snake_case and one per error.
  std::set<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(ClaimError::kWrongAudience); ++i) {
    const std::string_view name = ClaimErrorName(static_cast<ClaimError>(i));
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_"),
              std::string_view::npos);
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(ClaimError::kWrongAudience) + 1);
}

}  // namespace
}  // namespace ciap::jose
