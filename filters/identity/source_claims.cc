// See source_claims.h.
#include "filters/identity/source_claims.h"

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <ctime>
#include <map>

#include "config/source_schema.h"
#include "jose/base64url.h"

namespace ciap::identity {
namespace {
namespace json = boost::json;

constexpr std::size_t kMaxAwsTokenBytes = 4096;
constexpr int64_t kMaxPresignSeconds = 900;  // aws-iam-authenticator's and Vault's bound too
constexpr int64_t kFutureSkewSeconds = 300;

SourceResult<CallerClaims> Refuse(std::string_view reason, std::string detail) {
  return std::unexpected(SourceRefusal{reason, std::move(detail)});
}

std::string Text(const json::object& o, std::string_view name) { return ClaimText(o, {name}); }

const json::object* Object(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v != nullptr && v->is_object() ? &v->as_object() : nullptr;
}

// Copies a member when present (numbers stay numbers, so `project_id: 42` matches).
void Copy(json::object& to, std::string_view to_name, const json::object* from,
          std::string_view from_name) {
  if (from == nullptr) return;
  if (const json::value* v = from->if_contains(from_name); v != nullptr && !v->is_null()) {
    to[to_name] = *v;
  }
}

// Seconds since the epoch of a UTC time given as decimal digit fields, or nullopt when a
// field is not all digits or the date does not exist (2024-13-01, 02-31, 24:00:00).
std::optional<int64_t> UtcTime(std::string_view year, std::string_view month, std::string_view day,
                               std::string_view hour = "00", std::string_view minute = "00",
                               std::string_view second = "00") {
  int fields[6];
  std::string_view texts[6] = {year, month, day, hour, minute, second};
  for (int i = 0; i < 6; ++i) {
    if (texts[i].empty()) return std::nullopt;
    fields[i] = 0;
    for (char ch : texts[i]) {
      if (ch < '0' || ch > '9') return std::nullopt;
      fields[i] = fields[i] * 10 + (ch - '0');
    }
  }
  std::tm tm{};
  tm.tm_year = fields[0] - 1900;
  tm.tm_mon = fields[1] - 1;
  tm.tm_mday = fields[2];
  tm.tm_hour = fields[3];
  tm.tm_min = fields[4];
  tm.tm_sec = fields[5];
  const std::time_t t = timegm(&tm);
  std::tm back{};
  if (gmtime_r(&t, &back) == nullptr || back.tm_year != fields[0] - 1900 ||
      back.tm_mon != fields[1] - 1 || back.tm_mday != fields[2] || back.tm_hour != fields[3] ||
      back.tm_min != fields[4] || back.tm_sec != fields[5]) {
    return std::nullopt;  // normalized: the fields named no real time
  }
  return static_cast<int64_t>(t);
}

// "2024-06-30" as the first second of that day, UTC (GitLab tokens end when it starts).
std::optional<int64_t> DateStart(std::string_view date) {
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return std::nullopt;
  return UtcTime(date.substr(0, 4), date.substr(5, 2), date.substr(8, 2));
}

// Whether every character of `text` is in `allowed` (or is an ASCII letter or digit).
bool OnlyCharacters(std::string_view text, std::string_view allowed) {
  return std::all_of(text.begin(), text.end(), [&](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           allowed.find(ch) != std::string_view::npos;
  });
}

// The presign's query: each parameter once, only the ones GetCallerIdentity's presign has, for
// that action, signed with SigV4 over the audience header. Why not, or nullopt.
std::optional<std::string> CheckQuery(const boost::urls::url_view& url,
                                      std::map<std::string, std::string, std::less<>>& params) {
  for (auto param : url.params()) {
    if (!params.emplace(param.key, param.value).second) {
      return "the presigned URL repeats " + std::string(param.key);
    }
  }
  static constexpr std::string_view kKnown[] = {"Action",
                                                "Version",
                                                "X-Amz-Algorithm",
                                                "X-Amz-Credential",
                                                "X-Amz-Date",
                                                "X-Amz-Expires",
                                                "X-Amz-SignedHeaders",
                                                "X-Amz-Signature",
                                                "X-Amz-Security-Token"};
  for (const auto& [key, value] : params) {
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
      return "the presigned URL carries an unexpected parameter";
    }
  }
  auto param = [&](std::string_view key) {
    auto it = params.find(key);
    return it == params.end() ? std::string() : it->second;
  };
  if (param("Action") != "GetCallerIdentity" || param("Version") != "2011-06-15") {
    return "the presigned request is not sts:GetCallerIdentity";
  }
  const std::string signature = param("X-Amz-Signature");
  if (param("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || param("X-Amz-Credential").empty() ||
      signature.size() != 64 ||
      signature.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return "the presigned request is not signed with SigV4";
  }
  // What each value may hold, so that nothing but the signed parameters reaches STS.
  if (!OnlyCharacters(param("X-Amz-Credential"), "/_-") ||
      !OnlyCharacters(param("X-Amz-SignedHeaders"), ";-") ||
      !OnlyCharacters(param("X-Amz-Security-Token"), "+/=")) {
    return "the presigned request carries unexpected characters";
  }
  const std::string signed_headers = ";" + param("X-Amz-SignedHeaders") + ";";
  if (signed_headers.find(";host;") == std::string::npos ||
      signed_headers.find(";x-ciap-audience;") == std::string::npos) {
    return "the presigned request does not sign the x-ciap-audience header";
  }
  return std::nullopt;
}

}  // namespace

std::shared_ptr<Caller> CallerClaims::ToCaller(const std::string& provider) const {
  return CallerFromClaims(provider, claims, expires_at);
}

SourceResult<CallerClaims> GitLabJobClaims(const json::object& job) {
  const std::string status = Text(job, "status");
  if (status != "running") {
    return Refuse("inactive_token", "the job is not running (status " +
                                        (status.empty() ? std::string("missing") : status) + ")");
  }
  // The project's path appears only in the job's web_url: https://host/<path>/-/jobs/<id>.
  const std::string web_url = Text(job, "web_url");
  auto url = boost::urls::parse_absolute_uri(web_url);
  std::string_view path = url ? std::string_view(url->encoded_path()) : std::string_view();
  const std::size_t jobs = path.rfind("/-/jobs/");
  if (jobs == std::string_view::npos || jobs < 2) {
    return Refuse("invalid_token", "GitLab's job has no project path in web_url");
  }
  const std::string project_path(path.substr(1, jobs - 1));
  const std::size_t slash = project_path.rfind('/');
  const json::object* pipeline = Object(job, "pipeline");
  const json::object* user = Object(job, "user");
  const json::value* tag = job.if_contains("tag");
  const bool is_tag = tag != nullptr && tag->is_bool() && tag->as_bool();
  const std::string ref = Text(job, "ref");

  CallerClaims out;
  json::object& c = out.claims;
  const std::string ref_type = is_tag ? "tag" : "branch";
  c["sub"] = "project_path:" + project_path + ":ref_type:" + ref_type + ":ref:" + ref;
  Copy(c, "project_id", pipeline, "project_id");
  c["project_path"] = project_path;
  c["namespace_path"] = slash == std::string::npos ? "" : project_path.substr(0, slash);
  Copy(c, "pipeline_id", pipeline, "id");
  Copy(c, "job_id", &job, "id");
  Copy(c, "job_name", &job, "name");
  Copy(c, "stage", &job, "stage");
  c["ref"] = ref;
  c["ref_type"] = ref_type;
  Copy(c, "sha", pipeline, "sha");
  Copy(c, "user_id", user, "id");
  Copy(c, "user_login", user, "username");
  c["status"] = status;
  return out;
}

SourceResult<CallerClaims> GitLabAccessTokenClaims(const json::object& token,
                                                   const json::object* user, int64_t now) {
  const json::value* active = token.if_contains("active");
  const json::value* revoked = token.if_contains("revoked");
  if (active == nullptr || !active->is_bool() || !active->as_bool()) {
    return Refuse("inactive_token", "GitLab says the access token is not active");
  }
  if (revoked != nullptr && (!revoked->is_bool() || revoked->as_bool())) {
    return Refuse("inactive_token", "GitLab says the access token is revoked");
  }
  CallerClaims out;
  const std::string expires = Text(token, "expires_at");
  if (!expires.empty()) {
    std::optional<int64_t> end = DateStart(expires.substr(0, 10));
    if (!end) return Refuse("invalid_token", "the access token's expires_at is not a date");
    if (*end <= now) return Refuse("expired", "the access token expired");
    out.expires_at = *end;
  }
  json::object& c = out.claims;
  const std::string login = user != nullptr ? Text(*user, "username") : std::string();
  c["sub"] = login.empty() ? "user_id:" + Text(token, "user_id") : "user:" + login;
  Copy(c, "token_id", &token, "id");
  Copy(c, "token_name", &token, "name");
  c["scopes"] = json::array();
  Copy(c, "scopes", &token, "scopes");
  Copy(c, "user_id", &token, "user_id");
  if (!login.empty()) c["user_login"] = login;
  Copy(c, "bot", user, "bot");
  Copy(c, "expires_at", &token, "expires_at");
  return out;
}

SourceResult<CallerClaims> IntrospectionClaims(const config::IdentityProviderConfig& provider,
                                               json::object members, int64_t now) {
  const json::value* active = members.if_contains("active");
  if (active == nullptr || !active->is_bool() || !active->as_bool()) {
    return Refuse("inactive_token", "the introspection endpoint says the token is not active");
  }
  CallerClaims out;
  if (const json::value* exp = members.if_contains("exp"); exp != nullptr) {
    const double seconds = exp->is_number() ? exp->to_number<double>() : -1;
    if (!(seconds > 0 && seconds < 1e11)) {  // NaN, negative, or past the year 5000
      return Refuse("invalid_token", "the introspection exp is not a time");
    }
    out.expires_at = static_cast<int64_t>(seconds);
    if (out.expires_at <= now) return Refuse("expired", "the token expired");
  }
  if (const json::value* aud = members.if_contains("aud");
      aud != nullptr && !provider.audiences.empty()) {
    auto listed = [&](const json::value& v) {
      return v.is_string() &&
             std::find(provider.audiences.begin(), provider.audiences.end(),
                       std::string_view(v.as_string())) != provider.audiences.end();
    };
    bool ok = listed(*aud);
    if (aud->is_array()) {
      for (const json::value& v : aud->as_array()) ok = ok || listed(v);
    }
    if (!ok) return Refuse("wrong_audience", "the token is not meant for this proxy");
  }
  out.claims = std::move(members);
  return out;
}

SourceResult<PresignedRequest> CheckPresignedRequest(const config::IdentityProviderConfig& provider,
                                                     std::string_view token, int64_t now) {
  auto refuse = [](std::string detail) {
    return std::unexpected(SourceRefusal{"invalid_token", std::move(detail)});
  };
  if (!token.starts_with(config::kAwsTokenPrefix) || token.size() > kMaxAwsTokenBytes) {
    return refuse("not an AWS IAM token");
  }
  std::optional<std::string> text =
      jose::Base64UrlDecode(token.substr(config::kAwsTokenPrefix.size()));
  if (!text) return refuse("the AWS IAM token is not base64url");
  auto url = boost::urls::parse_absolute_uri(*text);
  if (!url || url->has_userinfo() || url->has_fragment() || !url->has_query()) {
    return refuse("the AWS IAM token is not a presigned URL");
  }
  // Only an endpoint the config names is ever called: the origin must be one of them exactly.
  std::string origin = std::string(url->scheme()) + "://" + std::string(url->encoded_host());
  for (char& ch : origin) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const bool https = origin.starts_with("https://");
  if (url->has_port() && url->port() != (https ? "443" : "80")) {
    origin += ":" + std::string(url->port());  // an empty port (host:/) matches nothing
  }
  // sts_endpoints are kept in the same form (the config loader normalizes them).
  const auto endpoint =
      std::find(provider.sts_endpoints.begin(), provider.sts_endpoints.end(), origin);
  if (endpoint == provider.sts_endpoints.end()) {
    return refuse("the presigned URL names an STS endpoint this provider does not call");
  }
  if (url->encoded_path() != "/" && !url->encoded_path().empty()) {
    return refuse("the presigned URL has a path");
  }
  std::map<std::string, std::string, std::less<>> params;
  if (auto problem = CheckQuery(*url, params)) return refuse(*problem);
  auto param = [&](std::string_view key) {
    auto it = params.find(key);
    return it == params.end() ? std::string() : it->second;
  };
  const std::string date = param("X-Amz-Date");  // 20240601T115950Z
  std::optional<int64_t> parsed;
  if (date.size() == 16 && date[8] == 'T' && date[15] == 'Z') {
    std::string_view d(date);
    parsed = UtcTime(d.substr(0, 4), d.substr(4, 2), d.substr(6, 2), d.substr(9, 2),
                     d.substr(11, 2), d.substr(13, 2));
  }
  if (!parsed) return refuse("the presigned request has no valid X-Amz-Date");
  const int64_t signed_at = *parsed;
  const std::string expires_text = param("X-Amz-Expires");
  int64_t expires = 0;
  for (char ch : expires_text) {
    if (ch < '0' || ch > '9' || expires > kMaxPresignSeconds) return refuse("bad X-Amz-Expires");
    expires = expires * 10 + (ch - '0');
  }
  if (expires_text.empty() || expires < 1 || expires > kMaxPresignSeconds) {
    return refuse("X-Amz-Expires must be between 1 and 900 seconds");
  }
  if (signed_at > now + kFutureSkewSeconds) return refuse("the presign is dated in the future");
  if (signed_at + expires <= now) {
    return std::unexpected(SourceRefusal{"expired", "the presigned request expired"});
  }
  return PresignedRequest{.url = *endpoint + "/?" + std::string(url->encoded_query()),
                          .endpoint = *endpoint,
                          .expires_at = signed_at + expires};
}

SourceResult<CallerClaims> AwsCallerClaims(const json::object& body, int64_t expires_at) {
  const json::object* response = Object(body, "GetCallerIdentityResponse");
  const json::object* result = response ? Object(*response, "GetCallerIdentityResult") : nullptr;
  if (result == nullptr) return Refuse("invalid_token", "STS's answer has no caller identity");
  const std::string arn = Text(*result, "Arn");
  const std::string account = Text(*result, "Account");
  // arn:<partition>:<service>:<region>:<account>:<resource>
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (int i = 0; i < 5; ++i) {
    std::size_t colon = arn.find(':', start);
    if (colon == std::string::npos) return Refuse("invalid_token", "STS's ARN is malformed");
    parts.push_back(arn.substr(start, colon - start));
    start = colon + 1;
  }
  const std::string resource = arn.substr(start);
  if (parts[0] != "arn" || parts[4] != account || account.empty()) {
    return Refuse("invalid_token", "STS's ARN does not name the caller's account");
  }
  CallerClaims out;
  out.expires_at = expires_at;
  json::object& c = out.claims;
  c["sub"] = arn;
  c["arn"] = arn;
  c["account"] = account;
  c["user_id"] = Text(*result, "UserId");
  c["partition"] = parts[1];
  constexpr std::string_view kAssumed = "assumed-role/";
  if (parts[2] == "sts" && resource.starts_with(kAssumed)) {
    std::string_view rest = std::string_view(resource).substr(kAssumed.size());
    std::size_t slash = rest.find('/');
    c["role"] = std::string(rest.substr(0, slash));
    if (slash != std::string_view::npos) c["session_name"] = std::string(rest.substr(slash + 1));
  }
  return out;
}

}  // namespace ciap::identity
