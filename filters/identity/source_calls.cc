// The call each identity source makes for one credential, and the claims it turns the answer
// into (see lookup_source.h). Every call has the provider's timeout, verified TLS (ca_file or
// the system store) and no redirects; a credential never appears in an error sentence.
#include <boost/json.hpp>
#include <ctime>

#include "filters/identity/lookup_source.h"
#include "filters/identity/source_claims.h"
#include "jose/base64url.h"
#include "net/http_client.h"
#include "net/secret_text.h"

namespace ciap::identity {
namespace {
namespace json = boost::json;
using Kind = LookupAnswer::Kind;

struct CallContext {
  config::IdentityProviderConfig config;
  std::shared_ptr<ssl::context> tls;  // null: http (loopback only) or the system store
};

HttpFetchOptions Options(const CallContext& context) {
  HttpFetchOptions options;
  options.timeout = context.config.timeout;
  options.max_redirects = 0;  // a credential is never sent anywhere the config did not name
  options.max_body_bytes = 256 * 1024;
  options.tls = context.tls.get();
  return options;
}

// The body as a JSON object, or why not.
std::expected<json::object, std::string> JsonObject(const HttpFetchResult& result) {
  boost::system::error_code ec;
  json::value value = json::parse(result.body, ec);
  if (ec || !value.is_object()) return std::unexpected("the answer is not a JSON object");
  return std::move(value.as_object());
}

// What a status that is neither success nor "this credential is no good" means: the source is
// misconfigured or failing, which is not the caller's fault.
LookupAnswer Failed(const std::string& what, int status) {
  return LookupAnswer::Unavailable(what + " answered HTTP " + std::to_string(status));
}

LookupAnswer Accepted(const CallContext& context, const CallerClaims& claims) {
  LookupAnswer answer;
  answer.kind = Kind::kAccepted;
  answer.reason = "authenticated";
  answer.expires_at = claims.expires_at;
  answer.caller = claims.ToCaller(context.config.name);
  return answer;
}

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

asio::awaitable<LookupAnswer> GitLabJob(const CallContext& context, std::string credential) {
  HttpFetchOptions options = Options(context);
  options.headers.emplace_back("JOB-TOKEN", std::move(credential));
  auto result = co_await HttpGet(context.config.url + "/api/v4/job", std::move(options));
  if (!result) co_return LookupAnswer::Unavailable("GET /api/v4/job: " + result.error());
  if (result->status == 401 || result->status == 403) {
    co_return LookupAnswer::Refused("invalid_token", "GitLab does not know the job token");
  }
  if (result->status != 200) co_return Failed("GET /api/v4/job", result->status);
  auto job = JsonObject(*result);
  if (!job) co_return LookupAnswer::Unavailable("GET /api/v4/job: " + job.error());
  auto claims = GitLabJobClaims(*job);
  if (!claims) co_return LookupAnswer::Refused(claims.error().reason, claims.error().detail);
  co_return Accepted(context, *claims);
}

asio::awaitable<LookupAnswer> GitLabAccessToken(const CallContext& context,
                                                std::string credential) {
  HttpFetchOptions options = Options(context);
  options.headers.emplace_back("PRIVATE-TOKEN", std::move(credential));
  // One deadline for both calls: the caller waits for the provider's timeout, not twice that.
  const auto deadline = std::chrono::steady_clock::now() + context.config.timeout;
  auto token =
      co_await HttpGet(context.config.url + "/api/v4/personal_access_tokens/self", options);
  if (!token)
    co_return LookupAnswer::Unavailable("GET personal_access_tokens/self: " + token.error());
  if (token->status == 401 || token->status == 403) {
    co_return LookupAnswer::Refused("invalid_token", "GitLab refuses the access token");
  }
  if (token->status != 200) co_return Failed("GET personal_access_tokens/self", token->status);
  auto about = JsonObject(*token);
  if (!about) co_return LookupAnswer::Unavailable("personal_access_tokens/self: " + about.error());
  // The user's name and whether it is a bot need read_user (or api): without it they stay
  // absent, and rules that need them fail closed.
  std::optional<json::object> user;
  options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (options.timeout.count() <= 0) {
    co_return LookupAnswer::Unavailable("GET /api/v4/user: no time left within the timeout");
  }
  auto answer = co_await HttpGet(context.config.url + "/api/v4/user", std::move(options));
  if (!answer) co_return LookupAnswer::Unavailable("GET /api/v4/user: " + answer.error());
  if (answer->status == 200) {
    auto parsed = JsonObject(*answer);
    if (!parsed) co_return LookupAnswer::Unavailable("GET /api/v4/user: " + parsed.error());
    user = std::move(*parsed);
  } else if (answer->status != 403 && answer->status != 401) {
    co_return Failed("GET /api/v4/user", answer->status);
  }
  auto claims = GitLabAccessTokenClaims(*about, user ? &*user : nullptr, Now());
  if (!claims) co_return LookupAnswer::Refused(claims.error().reason, claims.error().detail);
  co_return Accepted(context, *claims);
}

std::expected<std::string, std::string> ClientSecret(const config::IdentityProviderConfig& c) {
  if (c.client_secret_file.empty()) return c.client_secret;
  // Read for each call (calls are cache misses), so a rotated Secret is used at once.
  std::optional<std::string> secret = ReadSecretText(c.client_secret_file);
  if (!secret) return std::unexpected("cannot read the client secret file " + c.client_secret_file);
  return *secret;
}

asio::awaitable<LookupAnswer> Introspect(const CallContext& context, std::string credential) {
  const config::IdentityProviderConfig& c = context.config;
  auto secret = ClientSecret(c);
  if (!secret) co_return LookupAnswer::Unavailable(secret.error());
  HttpFetchOptions options = Options(context);
  options.method = "POST";
  options.content_type = "application/x-www-form-urlencoded";
  options.body = "token=" + PercentEncode(credential) + "&token_type_hint=access_token";
  // RFC 6749 2.3.1: client_secret_basic encodes both parts before joining them.
  options.headers.emplace_back(
      "Authorization", BasicAuthorization(PercentEncode(c.client_id), PercentEncode(*secret)));
  auto result = co_await HttpGet(c.introspection_endpoint, std::move(options));
  if (!result) co_return LookupAnswer::Unavailable("introspection: " + result.error());
  if (result->status != 200) co_return Failed("the introspection endpoint", result->status);
  auto members = JsonObject(*result);
  if (!members) co_return LookupAnswer::Unavailable("introspection: " + members.error());
  auto claims = IntrospectionClaims(c, std::move(*members), Now());
  if (!claims) co_return LookupAnswer::Refused(claims.error().reason, claims.error().detail);
  co_return Accepted(context, *claims);
}

asio::awaitable<LookupAnswer> AwsIam(const CallContext& context, std::string credential) {
  const config::IdentityProviderConfig& c = context.config;
  auto presigned = CheckPresignedRequest(c, credential, Now());
  if (!presigned) {
    co_return LookupAnswer::Refused(presigned.error().reason, presigned.error().detail);
  }
  HttpFetchOptions options = Options(context);
  options.headers.emplace_back("x-ciap-audience", c.audience);
  auto result = co_await HttpGet(presigned->url, std::move(options));
  if (!result) {
    co_return LookupAnswer::Unavailable("STS " + presigned->endpoint + ": " + result.error());
  }
  // STS throttling comes as a 400 too: that is STS being unavailable, not the caller's fault.
  const bool throttled = result->body.find("Throttling") != std::string::npos ||
                         result->body.find("ServiceUnavailable") != std::string::npos;
  if ((result->status == 403 || result->status == 400) && !throttled) {
    co_return LookupAnswer::Refused("invalid_token", "STS refused the presigned request (HTTP " +
                                                         std::to_string(result->status) + ")");
  }
  if (result->status != 200) co_return Failed("STS " + presigned->endpoint, result->status);
  auto body = JsonObject(*result);
  if (!body) co_return LookupAnswer::Unavailable("STS: " + body.error());
  auto claims = AwsCallerClaims(*body, presigned->expires_at);
  if (!claims) co_return LookupAnswer::Unavailable(claims.error().detail);
  co_return Accepted(context, *claims);
}

using Call = asio::awaitable<LookupAnswer> (*)(const CallContext&, std::string);

asio::awaitable<LookupAnswer> Invoke(std::shared_ptr<const CallContext> context, Call call,
                                     std::string credential) {
  co_return co_await call(*context, std::move(credential));
}

}  // namespace

std::expected<LookupCall, std::string> MakeLookupCall(
    const config::IdentityProviderConfig& config) {
  auto context = std::make_shared<CallContext>();
  context->config = config;
  if (!config.ca_file.empty()) {
    auto tls = CreateFetchTlsContext(config.ca_file);
    if (!tls) return std::unexpected("provider " + config.name + ": " + tls.error());
    context->tls = std::move(*tls);
  }
  Call call = nullptr;
  switch (config.type) {
    case config::ProviderType::kGitLabJobToken:
      call = &GitLabJob;
      break;
    case config::ProviderType::kGitLabAccessToken:
      call = &GitLabAccessToken;
      break;
    case config::ProviderType::kIntrospection:
      call = &Introspect;
      break;
    case config::ProviderType::kAwsIam:
      call = &AwsIam;
      break;
    default:
      return std::unexpected("provider " + config.name + " is not looked up");
  }
  // The coroutine holds the context itself: a call may outlive the source that started it.
  return [context, call](std::string credential) {
    return Invoke(context, call, std::move(credential));
  };
}

}  // namespace ciap::identity
