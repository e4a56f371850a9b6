// The identity sources' answers as claims (filters/identity/source_claims.h): GitLab's job and
// access-token objects, RFC 7662 introspection, the presigned sts:GetCallerIdentity request
// checked before it is replayed (adversarially: every way a token could make ciap call another
// host or another action) and STS's answer. Client certificates: certificate_claims_test.cc.
#include "filters/identity/source_claims.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <ctime>
#include <string>
#include <vector>

#include "jose/base64url.h"

namespace ciap::identity {
namespace {

namespace json = boost::json;

constexpr int64_t kNow = 1717243200;       // 2024-06-01T12:00:00Z
constexpr int64_t kDayStart = 1717200000;  // 2024-06-01T00:00:00Z

json::object Parse(std::string_view text) { return json::parse(text).as_object(); }

template <typename T>
std::string_view ReasonOf(const SourceResult<T>& r) {
  return r ? std::string_view("accepted") : r.error().reason;
}

// ---- GitLab job tokens: GET /api/v4/job ------------------------------------------------------

json::object Job(
    std::string_view status = "running", bool tag = false,
    std::string_view web_url = "https://gitlab.example.com/acme/platform/app/-/jobs/99") {
  json::object job = Parse(R"({
    "id": 99, "status": "running", "stage": "deploy", "name": "deploy-prod", "ref": "main",
    "tag": false, "coverage": null, "allow_failure": false,
    "created_at": "2024-06-01T11:58:00.000Z", "started_at": "2024-06-01T11:59:00.000Z",
    "web_url": "",
    "pipeline": { "id": 1234, "project_id": 42, "ref": "main",
                  "sha": "0123456789abcdef0123456789abcdef01234567", "status": "running" },
    "user": { "id": 7, "username": "alice", "name": "Alice", "state": "active" },
    "runner": { "id": 3, "description": "shared" }
  })");
  job["tag"] = tag;
  job["web_url"] = web_url;
  if (status.empty()) {
    job.erase("status");
  } else {
    job["status"] = status;
  }
  return job;
}

TEST(GitLabJobClaimsTest, RunningJobBecomesItsClaims) {
  auto r = GitLabJobClaims(Job());
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->claims, Parse(R"({
    "sub": "project_path:acme/platform/app:ref_type:branch:ref:main",
    "project_path": "acme/platform/app", "namespace_path": "acme/platform", "project_id": 42,
    "pipeline_id": 1234, "job_id": 99, "job_name": "deploy-prod", "stage": "deploy",
    "ref": "main", "ref_type": "branch", "sha": "0123456789abcdef0123456789abcdef01234567",
    "user_id": 7, "user_login": "alice", "status": "running"})"));
  EXPECT_TRUE(r->claims.at("project_id").is_int64()) << "a number, so `project_id: 42` binds";
  EXPECT_EQ(r->expires_at, 0);

  auto caller = r->ToCaller("gitlab-jobs");
  EXPECT_EQ(caller->provider, "gitlab-jobs");
  EXPECT_EQ(caller->subject, "project_path:acme/platform/app:ref_type:branch:ref:main");
  EXPECT_EQ(caller->job_id, "99");
  EXPECT_EQ(caller->pipeline, "acme/platform/app");
  EXPECT_EQ(caller->claims().at("namespace_path"), "acme/platform");
}

TEST(GitLabJobClaimsTest, TagJobAndProjectAtTopLevelNamespace) {
  json::object job = Job("running", true, "https://gitlab.example.com/acme/app/-/jobs/99");
  job["ref"] = "v1.2.0";
  auto r = GitLabJobClaims(job);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->claims.at("sub"), "project_path:acme/app:ref_type:tag:ref:v1.2.0");
  EXPECT_EQ(r->claims.at("ref_type"), "tag");
  EXPECT_EQ(r->claims.at("namespace_path"), "acme");

  job.erase("user");  // a job whose user is gone: no user claims at all
  r = GitLabJobClaims(job);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->claims.contains("user_id"));
  EXPECT_FALSE(r->claims.contains("user_login"));
}

TEST(GitLabJobClaimsTest, OnlyRunningJobsWithAProjectPath) {
  for (std::string_view status : {"success", "failed", "canceled", "pending", "Running", ""}) {
    auto r = GitLabJobClaims(Job(status));
    EXPECT_EQ(ReasonOf(r), "inactive_token") << "status '" << status << "'";
  }
  json::object numeric = Job();
  numeric["status"] = 1;
  EXPECT_EQ(ReasonOf(GitLabJobClaims(numeric)), "inactive_token");

  for (std::string_view url :
       {"https://gitlab.example.com/acme/platform/app/jobs/99",  // no /-/
        "https://gitlab.example.com/-/jobs/99",                  // no project at all
        "https://gitlab.example.com//-/jobs/99", "/acme/app/-/jobs/99", "", "not a url"}) {
    auto r = GitLabJobClaims(Job("running", false, url));
    EXPECT_EQ(ReasonOf(r), "invalid_token") << url;
  }
  json::object no_url = Job();
  no_url.erase("web_url");
  EXPECT_EQ(ReasonOf(GitLabJobClaims(no_url)), "invalid_token");
}

// ---- GitLab access tokens: GET /api/v4/personal_access_tokens/self (+ /user) ----------------

json::object AccessToken(std::string_view expires_at = "2024-06-02") {
  json::object t = Parse(R"({
    "id": 5, "name": "ci-deploy", "revoked": false, "created_at": "2024-05-01T00:00:00.000Z",
    "scopes": ["read_api", "read_repository"], "user_id": 42, "last_used_at": null,
    "active": true, "expires_at": null})");
  if (!expires_at.empty()) t["expires_at"] = expires_at;
  return t;
}

TEST(GitLabAccessTokenClaimsTest, ActiveTokenWithItsUser) {
  json::object user = Parse(R"({"id": 42, "username": "deploy-bot", "bot": true})");
  auto r = GitLabAccessTokenClaims(AccessToken(), &user, kNow);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->claims, Parse(R"({
    "sub": "user:deploy-bot", "token_id": 5, "token_name": "ci-deploy",
    "scopes": ["read_api", "read_repository"], "user_id": 42, "user_login": "deploy-bot",
    "bot": true, "expires_at": "2024-06-02"})"));
  EXPECT_EQ(r->expires_at, kDayStart + 86400) << "a token ends when its expiry date starts (UTC)";
}

TEST(GitLabAccessTokenClaimsTest, WithoutTheUserObject) {
  json::object token = AccessToken("");
  token["scopes"] = json::array{"read_api"};
  auto r = GitLabAccessTokenClaims(token, nullptr, kNow);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->claims.at("sub"), "user_id:42");
  EXPECT_EQ(r->claims.at("user_id"), 42);
  EXPECT_EQ(r->claims.at("scopes"), (json::array{"read_api"}));
  EXPECT_FALSE(r->claims.contains("user_login"));
  EXPECT_FALSE(r->claims.contains("bot"));
  EXPECT_FALSE(r->claims.contains("expires_at")) << "null: never expires";
  EXPECT_EQ(r->expires_at, 0);

  token.erase("scopes");
  r = GitLabAccessTokenClaims(token, nullptr, kNow);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->claims.at("scopes"), json::array()) << "always an array, so conditions can test it";
}

TEST(GitLabAccessTokenClaimsTest, InactiveRevokedOrExpiredTokensAreRefused) {
  json::object user = Parse(R"({"id": 42, "username": "deploy-bot", "bot": true})");
  auto reason = [&](json::object token) {
    return std::string(ReasonOf(GitLabAccessTokenClaims(token, &user, kNow)));
  };
  EXPECT_EQ(reason(AccessToken("2024-05-31")), "expired");
  EXPECT_EQ(reason(AccessToken("2024-06-01")), "expired") << "today: it ended at midnight";
  EXPECT_EQ(ReasonOf(GitLabAccessTokenClaims(AccessToken("2024-06-01"), &user, kDayStart)),
            "expired")
      << "at midnight exactly";
  EXPECT_EQ(ReasonOf(GitLabAccessTokenClaims(AccessToken("2024-06-01"), &user, kDayStart - 1)),
            "accepted");
  EXPECT_EQ(reason(AccessToken("2024-06-02")), "accepted");
  EXPECT_EQ(reason(AccessToken("2024-06-02T00:00:00.000Z")), "accepted");
  for (std::string_view bad : {"tomorrow", "2024/06/02", "2024-6-2", "24-06-02"}) {
    EXPECT_EQ(reason(AccessToken(bad)), "invalid_token") << bad;
  }
  json::object t = AccessToken();
  t["active"] = false;
  EXPECT_EQ(reason(t), "inactive_token");
  t["active"] = "true";
  EXPECT_EQ(reason(t), "inactive_token") << "only the boolean true";
  t.erase("active");
  EXPECT_EQ(reason(t), "inactive_token");
  t = AccessToken();
  t["revoked"] = true;
  EXPECT_EQ(reason(t), "inactive_token");
  t["revoked"] = "false";
  EXPECT_EQ(reason(t), "inactive_token") << "anything but the boolean false";
  t.erase("revoked");
  EXPECT_EQ(reason(t), "accepted");
}

// ---- RFC 7662 introspection ------------------------------------------------------------------

config::IdentityProviderConfig Introspector(std::vector<std::string> audiences) {
  config::IdentityProviderConfig p;
  p.name = "idp";
  p.type = config::ProviderType::kIntrospection;
  p.audiences = std::move(audiences);
  return p;
}

TEST(IntrospectionClaimsTest, ActiveTokenMembersBecomeClaims) {
  json::object members = Parse(R"({"active": true, "sub": "svc-ci", "client_id": "ci",
    "scope": "read write", "aud": ["other", "ciap"], "exp": 1717243260, "org": {"id": 9}})");
  auto r = IntrospectionClaims(Introspector({"ciap"}), members, kNow);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->claims, members);
  EXPECT_EQ(r->expires_at, kNow + 60);
  EXPECT_EQ(r->ToCaller("idp")->subject, "svc-ci");

  members.erase("exp");
  r = IntrospectionClaims(Introspector({"ciap"}), members, kNow);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->expires_at, 0);
}

TEST(IntrospectionClaimsTest, InactiveOrExpiredTokensAreRefused) {
  auto reason = [](std::string_view members) {
    return std::string(ReasonOf(IntrospectionClaims(Introspector({}), Parse(members), kNow)));
  };
  EXPECT_EQ(reason(R"({"active": false, "sub": "x"})"), "inactive_token");
  EXPECT_EQ(reason(R"({"sub": "x"})"), "inactive_token");
  EXPECT_EQ(reason(R"({"active": "true", "sub": "x"})"), "inactive_token");
  EXPECT_EQ(reason(R"({"active": 1, "sub": "x"})"), "inactive_token");
  EXPECT_EQ(reason(R"({"active": true, "exp": 1717243199})"), "expired");
  EXPECT_EQ(reason(R"({"active": true, "exp": 1717243200})"), "expired") << "exp is exclusive";
  EXPECT_EQ(reason(R"({"active": true, "exp": 1717243201})"), "accepted");
  EXPECT_EQ(reason(R"({"active": true, "exp": 1717243260.5})"), "accepted");
  EXPECT_EQ(reason(R"({"active": true, "exp": "1717243260"})"), "invalid_token");
  EXPECT_EQ(reason(R"({"active": true, "exp": null})"), "invalid_token");
}

TEST(IntrospectionClaimsTest, AudienceAgainstTheProvidersAudiences) {
  auto reason = [](std::vector<std::string> audiences, std::string_view aud) {
    json::object members = Parse(R"({"active": true, "sub": "x"})");
    if (!aud.empty()) members["aud"] = json::parse(aud);
    return std::string(ReasonOf(IntrospectionClaims(Introspector(audiences), members, kNow)));
  };
  EXPECT_EQ(reason({"ciap", "ciap-2"}, R"("ciap")"), "accepted");
  EXPECT_EQ(reason({"ciap", "ciap-2"}, R"("ciap-2")"), "accepted");
  EXPECT_EQ(reason({"ciap"}, R"(["a", "ciap"])"), "accepted");
  EXPECT_EQ(reason({"ciap"}, R"("other")"), "wrong_audience");
  EXPECT_EQ(reason({"ciap"}, R"("CIAP")"), "wrong_audience");
  EXPECT_EQ(reason({"ciap"}, R"(["a", "b"])"), "wrong_audience");
  EXPECT_EQ(reason({"ciap"}, R"([])"), "wrong_audience");
  EXPECT_EQ(reason({"ciap"}, R"([["ciap"]])"), "wrong_audience");
  EXPECT_EQ(reason({"ciap"}, R"({"ciap": true})"), "wrong_audience");
  EXPECT_EQ(reason({"ciap"}, "7"), "wrong_audience");
  EXPECT_EQ(reason({}, R"("anyone")"), "accepted") << "a provider without audiences takes any";
  EXPECT_EQ(reason({}, R"(["a", "b"])"), "accepted");
  // As documented: `aud` is checked only when the answer has one (RFC 7662 makes it optional).
  EXPECT_EQ(reason({"ciap"}, ""), "accepted");
}

// ---- STS's GetCallerIdentity answer ------------------------------------------------------------

json::object StsAnswer(std::string_view arn, std::string_view account) {
  json::object result{{"Arn", arn}, {"Account", account}, {"UserId", "AROAEXAMPLE:job-99"}};
  return json::object{{"GetCallerIdentityResponse",
                       json::object{{"GetCallerIdentityResult", std::move(result)},
                                    {"ResponseMetadata", json::object{{"RequestId", "r-1"}}}}}};
}

TEST(AwsCallerClaimsTest, AssumedRoleHasRoleAndSession) {
  const std::string arn = "arn:aws:sts::123456789012:assumed-role/ci-deployer/gitlab-job-99";
  auto r = AwsCallerClaims(StsAnswer(arn, "123456789012"), kNow + 60);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->claims, (json::object{{"sub", arn},
                                     {"arn", arn},
                                     {"account", "123456789012"},
                                     {"user_id", "AROAEXAMPLE:job-99"},
                                     {"partition", "aws"},
                                     {"role", "ci-deployer"},
                                     {"session_name", "gitlab-job-99"}}));
  EXPECT_EQ(r->expires_at, kNow + 60);
  auto caller = r->ToCaller("aws");
  EXPECT_EQ(caller->subject, arn);
  EXPECT_EQ(caller->pipeline, arn);
  EXPECT_EQ(caller->expires_at, kNow + 60);

  r = AwsCallerClaims(
      StsAnswer("arn:aws-cn:sts::123456789012:assumed-role/cn-role/s", "123456789012"), 0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->claims.at("partition"), "aws-cn");
  EXPECT_EQ(r->claims.at("role"), "cn-role");
  EXPECT_EQ(r->claims.at("session_name"), "s");
}

TEST(AwsCallerClaimsTest, IamUserHasNoRole) {
  for (std::string_view arn : {"arn:aws:iam::123456789012:user/ci/deployer",
                               "arn:aws:iam::123456789012:role/assumed-role/x"}) {
    auto r = AwsCallerClaims(StsAnswer(arn, "123456789012"), 0);
    ASSERT_TRUE(r) << arn;
    EXPECT_EQ(r->claims.at("arn"), json::value(arn));
    EXPECT_FALSE(r->claims.contains("role")) << arn;
    EXPECT_FALSE(r->claims.contains("session_name")) << arn;
  }
}

TEST(AwsCallerClaimsTest, MalformedOrMismatchedAnswersAreRefused) {
  const std::string good = "arn:aws:sts::123456789012:assumed-role/r/s";
  EXPECT_EQ(ReasonOf(AwsCallerClaims(StsAnswer(good, "999999999999"), 0)), "invalid_token");
  EXPECT_EQ(ReasonOf(AwsCallerClaims(StsAnswer(good, ""), 0)), "invalid_token");
  EXPECT_EQ(ReasonOf(AwsCallerClaims(StsAnswer(good, "12345678901"), 0)), "invalid_token");
  for (std::string_view arn : {"not-an-arn", "arn:aws:sts::123456789012",
                               "xrn:aws:sts::123456789012:assumed-role/r/s", "arn:aws", ""}) {
    EXPECT_EQ(ReasonOf(AwsCallerClaims(StsAnswer(arn, "123456789012"), 0)), "invalid_token") << arn;
  }
  EXPECT_EQ(ReasonOf(AwsCallerClaims(StsAnswer("arn:aws:sts:::assumed-role/r/s", ""), 0)),
            "invalid_token");
  EXPECT_EQ(ReasonOf(AwsCallerClaims(json::object{}, 0)), "invalid_token");
  EXPECT_EQ(ReasonOf(AwsCallerClaims(Parse(R"({"GetCallerIdentityResponse": {}})"), 0)),
            "invalid_token");
  EXPECT_EQ(ReasonOf(AwsCallerClaims(Parse(R"({"GetCallerIdentityResponse": []})"), 0)),
            "invalid_token");
}

// ---- Presigned sts:GetCallerIdentity requests ------------------------------------------------

constexpr std::string_view kSts = "https://sts.eu-west-1.amazonaws.com";

config::IdentityProviderConfig AwsProvider() {
  config::IdentityProviderConfig p;
  p.name = "aws";
  p.type = config::ProviderType::kAwsIam;
  p.sts_endpoints = {std::string(kSts), "https://sts.us-east-2.amazonaws.com:8443"};
  p.audience = "ciap.example.com";
  return p;
}

std::string AmzDate(int64_t t) {
  const std::time_t time = t;
  std::tm tm{};
  gmtime_r(&time, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &tm);
  return text;
}

// What aws-iam-authenticator's presign looks like, signed 10 s before kNow.
std::string Query(int64_t signed_at = kNow - 10) {
  return "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256"
         "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240601%2Feu-west-1%2Fsts%2Faws4_request"
         "&X-Amz-Date=" +
         AmzDate(signed_at) +
         "&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-ciap-audience"
         "&X-Amz-Signature=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
}

// `text` with its one `from` replaced by `to`.
std::string With(std::string text, std::string_view from, std::string_view to) {
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::string Token(std::string_view url) { return "k8s-aws-v1." + jose::Base64UrlEncode(url); }

SourceResult<PresignedRequest> CheckUrl(std::string_view url) {
  return CheckPresignedRequest(AwsProvider(), Token(url), kNow);
}

TEST(CheckPresignedRequestTest, WellFormedPresignIsReplayedToItsEndpoint) {
  const std::string q = Query();
  auto r = CheckUrl(std::string(kSts) + "/?" + q);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->url, std::string(kSts) + "/?" + q);
  EXPECT_EQ(r->endpoint, kSts);
  EXPECT_EQ(r->expires_at, kNow - 10 + 60);

  // Spellings of the same origin; the URL called is always the configured endpoint's.
  for (std::string url :
       {std::string(kSts) + "?" + q, std::string(kSts) + ":443/?" + q,
        "https://STS.EU-West-1.amazonaws.com/?" + q, "HTTPS://sts.eu-west-1.amazonaws.com/?" + q}) {
    r = CheckUrl(url);
    ASSERT_TRUE(r) << url << ": " << r.error().detail;
    EXPECT_EQ(r->url, std::string(kSts) + "/?" + q) << url;
  }
  r = CheckUrl("https://sts.us-east-2.amazonaws.com:8443/?" + q);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->url, "https://sts.us-east-2.amazonaws.com:8443/?" + q);

  // A session's token, parameters in another order, an extra signed header.
  const std::string session = q + "&X-Amz-Security-Token=FwoGZXIvYXdzE%2B%2F%3D";
  const std::string reordered = "Version=2011-06-15&" + With(q, "Version=2011-06-15&", "");
  const std::string more_signed = With(q, "host%3Bx-ciap", "content-type%3Bhost%3Bx-ciap");
  for (const std::string& query : {session, reordered, more_signed}) {
    r = CheckUrl(std::string(kSts) + "/?" + query);
    ASSERT_TRUE(r) << query << ": " << r.error().detail;
    EXPECT_EQ(r->url, std::string(kSts) + "/?" + query) << "byte for byte";
  }
}

// Percent-encoded names decode to the parameter STS will see too, so they are checked (and
// counted) as that parameter; the URL is replayed as it was signed.
TEST(CheckPresignedRequestTest, PercentEncodedNamesAreCheckedDecoded) {
  const std::string q = Query();
  for (const std::string& query :
       {With(q, "Action=", "Act%69on="), With(q, "GetCallerIdentity", "GetCaller%49dentity"),
        With(q, "X-Amz-SignedHeaders=host%3B", "X-Amz-Sign%65dHeaders=host%3b")}) {
    auto r = CheckUrl(std::string(kSts) + "/?" + query);
    ASSERT_TRUE(r) << query << ": " << r.error().detail;
    EXPECT_EQ(r->url, std::string(kSts) + "/?" + query);
  }
  for (const std::string& query :
       {With(q, "Action=GetCallerIdentity", "%41ction=AssumeRole"), q + "&Act%69on=AssumeRole",
        q + "&%41ction=GetCallerIdentity",
        With(q, "GetCallerIdentity", "GetCallerIdentity%26Action%3DAssumeRole"),
        With(q, "Action=", "Action%00="), With(q, "Action=", "Act+ion="),
        With(q, "GetCallerIdentity", "GetCallerIdentity+"),
        With(q, "host%3Bx-ciap-audience", "host%3Bx-ciap%2Daudience%00")}) {
    EXPECT_EQ(ReasonOf(CheckUrl(std::string(kSts) + "/?" + query)), "invalid_token") << query;
  }
}

struct PresignCase {
  std::string name;
  std::string url;
};

std::vector<PresignCase> OriginTricks() {
  const std::string q = Query();
  return {
      {"another region", "https://sts.us-east-1.amazonaws.com/?" + q},
      {"global endpoint", "https://sts.amazonaws.com/?" + q},
      {"other port", std::string(kSts) + ":8443/?" + q},
      {"port 80 on https", std::string(kSts) + ":80/?" + q},
      {"empty port", std::string(kSts) + ":/?" + q},
      {"https port of a non-default endpoint", "https://sts.us-east-2.amazonaws.com/?" + q},
      {"http", "http://sts.eu-west-1.amazonaws.com/?" + q},
      {"http on 443", "http://sts.eu-west-1.amazonaws.com:443/?" + q},
      {"other scheme", "wss://sts.eu-west-1.amazonaws.com/?" + q},
      {"userinfo", "https://sts.eu-west-1.amazonaws.com@evil.example/?" + q},
      {"userinfo with port", "https://sts.eu-west-1.amazonaws.com:443@evil.example/?" + q},
      {"userinfo on the right host", "https://u:p@sts.eu-west-1.amazonaws.com/?" + q},
      {"empty userinfo", "https://@sts.eu-west-1.amazonaws.com/?" + q},
      {"host suffix", "https://sts.eu-west-1.amazonaws.com.evil.example/?" + q},
      {"host prefix", "https://evil-sts.eu-west-1.amazonaws.com/?" + q},
      {"trailing dot", "https://sts.eu-west-1.amazonaws.com./?" + q},
      {"encoded dot", "https://sts.eu-west-1.amazonaws%2Ecom/?" + q},
      {"encoded slash", "https://sts.eu-west-1.amazonaws.com%2F.evil.example/?" + q},
      {"backslash", "https://sts.eu-west-1.amazonaws.com\\@evil.example/?" + q},
      {"fragment before the host", "https://evil.example#@sts.eu-west-1.amazonaws.com/?" + q},
      {"query before the host", "https://evil.example?@sts.eu-west-1.amazonaws.com/?" + q},
      {"no authority", "https:sts.eu-west-1.amazonaws.com/?" + q},
      {"ip literal", "https://[::1]/?" + q},
      {"relative", "/?" + q},
      {"path", std::string(kSts) + "/evil?" + q},
      {"double slash", std::string(kSts) + "//?" + q},
      {"dot path", std::string(kSts) + "/.?" + q},
      {"encoded slash path", std::string(kSts) + "/%2F?" + q},
      {"fragment", std::string(kSts) + "/?" + q + "#x"},
      {"empty fragment", std::string(kSts) + "/?" + q + "#"},
      {"no query", std::string(kSts) + "/"},
      {"empty query", std::string(kSts) + "/?"},
      {"whitespace", std::string(kSts) + " /?" + q},
      {"bad escape", std::string(kSts) + "/?" + q + "%zz"},
  };
}

std::vector<PresignCase> QueryTricks() {
  const std::string q = Query();
  auto at = [](const std::string& query) { return std::string(kSts) + "/?" + query; };
  return {
      {"AssumeRole", at(With(q, "GetCallerIdentity", "AssumeRole"))},
      {"lower-case action", at(With(q, "GetCallerIdentity", "getcalleridentity"))},
      {"lower-case key", at(With(q, "Action=", "action="))},
      {"no Action", at(With(q, "Action=GetCallerIdentity&", ""))},
      {"Action twice, same value", at(q + "&Action=GetCallerIdentity")},
      {"Action twice, other value", at(q + "&Action=AssumeRole")},
      {"Action twice, first wins elsewhere", at("Action=AssumeRole&" + q)},
      {"Action without a value", at("Action&" + q)},
      {"other version", at(With(q, "2011-06-15", "2011-06-16"))},
      {"no version", at(With(q, "Version=2011-06-15&", ""))},
      {"extra parameter", at(q + "&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx")},
      {"empty parameter", at(q + "&")},
      {"empty name", at(q + "&=x")},
      {"other algorithm", at(With(q, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"))},
      {"no credential", at(With(q,
                                "AKIAIOSFODNN7EXAMPLE%2F20240601%2Feu-west-1%2Fsts%2F"
                                "aws4_request",
                                ""))},
      {"no signature", at(q.substr(0, q.find("X-Amz-Signature=") + 16))},
      {"audience not signed", at(With(q, "host%3Bx-ciap-audience", "host"))},
      {"host not signed", at(With(q, "host%3Bx-ciap-audience", "x-ciap-audience"))},
      {"audience look-alike", at(With(q, "host%3Bx-ciap-audience", "x-ciap-audience-x%3Bhost"))},
      {"audience prefix", at(With(q, "host%3Bx-ciap-audience", "host%3Bx-ciap-audienc"))},
      {"audience, comma", at(With(q, "host%3Bx-ciap-audience", "host%2Cx-ciap-audience"))},
      {"audience upper-case", at(With(q, "host%3Bx-ciap-audience", "host%3BX-Ciap-Audience"))},
      {"no signed headers", at(With(q, "&X-Amz-SignedHeaders=host%3Bx-ciap-audience", ""))},
  };
}

TEST(CheckPresignedRequestTest, OnlyTheConfiguredEndpointsOrigin) {
  for (const PresignCase& c : OriginTricks()) {
    auto r = CheckUrl(c.url);
    EXPECT_EQ(ReasonOf(r), "invalid_token") << c.name << ": " << c.url;
  }
}

TEST(CheckPresignedRequestTest, OnlyASignedGetCallerIdentity) {
  for (const PresignCase& c : QueryTricks()) {
    auto r = CheckUrl(c.url);
    EXPECT_EQ(ReasonOf(r), "invalid_token") << c.name << ": " << c.url;
  }
}

TEST(CheckPresignedRequestTest, DateAndLifetime) {
  auto reason = [](int64_t signed_at, std::string_view expires = "60") {
    std::string q =
        With(Query(signed_at), "X-Amz-Expires=60", "X-Amz-Expires=" + std::string(expires));
    return std::string(ReasonOf(CheckUrl(std::string(kSts) + "/?" + q)));
  };
  EXPECT_EQ(reason(kNow - 59), "accepted");
  EXPECT_EQ(reason(kNow - 60), "expired") << "the presign ends at date + expires";
  EXPECT_EQ(reason(kNow - 3600), "expired");
  EXPECT_EQ(reason(kNow - 899, "900"), "accepted");
  EXPECT_EQ(reason(kNow - 900, "900"), "expired");
  EXPECT_EQ(reason(kNow + 300), "accepted") << "five minutes of clock skew";
  EXPECT_EQ(reason(kNow + 301), "invalid_token");
  EXPECT_EQ(reason(kNow + 86400), "invalid_token");
  EXPECT_EQ(reason(kNow, "1"), "accepted");
  EXPECT_EQ(reason(kNow, "900"), "accepted");
  EXPECT_EQ(reason(kNow, "060"), "accepted");
  for (std::string_view bad : {"0", "901", "", "abc", "-5", "+60", "%2060", "6%200", "60.0", "1e3",
                               "0x3c", "99999999999999999999999999", "18446744073709551676"}) {
    EXPECT_EQ(reason(kNow, bad), "invalid_token") << "X-Amz-Expires=" << bad;
  }
  auto r =
      CheckUrl(std::string(kSts) + "/?" + With(Query(), "X-Amz-Expires=60", "X-Amz-Expires=900"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->expires_at, kNow - 10 + 900);
}

TEST(CheckPresignedRequestTest, MalformedDatesAreRefused) {
  const std::string good = AmzDate(kNow - 10);
  ASSERT_EQ(good, "20240601T115950Z");
  for (std::string_view bad :
       {"2024-06-01T11:59:50Z", "20240601T115950", "20240601115950Z", "20240601T1159500",
        "20240601t115950z", "20241301T115950Z", "20240601T255950Z", "20240601T116050Z", "",
        "2024060lT115950Z", "120240601T115950Z"}) {
    std::string q = With(Query(), good, bad);
    EXPECT_EQ(ReasonOf(CheckUrl(std::string(kSts) + "/?" + q)), "invalid_token") << bad;
  }
  std::string no_date = With(Query(), "&X-Amz-Date=" + good, "");
  EXPECT_EQ(ReasonOf(CheckUrl(std::string(kSts) + "/?" + no_date)), "invalid_token");
}

TEST(CheckPresignedRequestTest, TokenFraming) {
  const std::string url = std::string(kSts) + "/?" + Query();
  const std::string token = Token(url);
  auto check = [](std::string_view t) {
    return std::string(ReasonOf(CheckPresignedRequest(AwsProvider(), t, kNow)));
  };
  EXPECT_EQ(check(token), "accepted");
  EXPECT_EQ(check(jose::Base64UrlEncode(url)), "invalid_token") << "no prefix";
  EXPECT_EQ(check("K8S-AWS-V1." + jose::Base64UrlEncode(url)), "invalid_token");
  EXPECT_EQ(check("k8s-aws-v2." + jose::Base64UrlEncode(url)), "invalid_token");
  EXPECT_EQ(check("k8s-aws-v1" + jose::Base64UrlEncode(url)), "invalid_token");
  EXPECT_EQ(check(" " + token), "invalid_token");
  EXPECT_EQ(check("Bearer " + token), "invalid_token");
  EXPECT_EQ(check("k8s-aws-v1." + url), "invalid_token") << "the URL itself, not base64url";
  EXPECT_EQ(check(token + "="), "invalid_token");
  EXPECT_EQ(check(token + "\n"), "invalid_token");
  EXPECT_EQ(check(token.substr(0, 40) + "." + token.substr(40)), "invalid_token");
  EXPECT_EQ(check("k8s-aws-v1."), "invalid_token");
  EXPECT_EQ(check(""), "invalid_token");

  // 4096 bytes at most: the prefix and 4084 base64url characters (3063 bytes) is the largest
  // token that can exist; 4086 characters is over.
  auto padded = [&](std::size_t url_bytes) {
    const std::string head = url + "&X-Amz-Security-Token=";
    return Token(head + std::string(url_bytes - head.size(), 'A'));
  };
  EXPECT_EQ(padded(3063).size(), 4095u);
  EXPECT_EQ(check(padded(3063)), "accepted");
  EXPECT_EQ(padded(3064).size(), 4097u);
  EXPECT_EQ(check(padded(3064)), "invalid_token");
  EXPECT_EQ(check(padded(30000)), "invalid_token");
}

}  // namespace
}  // namespace ciap::identity
