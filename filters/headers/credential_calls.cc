// The mint of each credentials type (see credential_source.h): OAuth 2.0 client credentials
// (RFC 6749 4.4, client_secret_basic, RFC 8707 `resource`) and GitHub App installation tokens
// (an RS256 app JWT, then POST /app/installations/{id}/access_tokens). Every call has the
// credentials' timeout, verified TLS (ca_file or the system store) and no redirects; neither a
// secret nor a minted token appears in an error sentence.
#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <ctime>

#include "config/text.h"
#include "filters/headers/credential_source.h"
#include "filters/headers/secret_file.h"
#include "jose/jws_signer.h"
#include "jose/strict_json.h"
#include "net/http_client.h"

namespace ciap::headers {
namespace {
namespace json = boost::json;
using Clock = std::chrono::system_clock;
using Result = std::expected<MintedCredential, std::string>;

// The lifetime assumed when a token endpoint does not say (RFC 6749 5.1 makes expires_in
// optional): short, so that a token revoked early is not used for long.
constexpr std::chrono::seconds kDefaultLifetime{300};
constexpr std::size_t kMaxTokenBytes = 16 * 1024;

struct MintContext {
  config::CredentialsConfig config;
  std::shared_ptr<ssl::context> tls;   // null: http (loopback only) or the system store
  std::shared_ptr<SecretFile> secret;  // oauth2: the client secret's file, if it has one
  std::shared_ptr<SecretFile> key;     // github_app: the app's private key
};

HttpFetchOptions Options(const MintContext& context) {
  HttpFetchOptions options;
  options.timeout = context.config.timeout;
  options.max_redirects = 0;  // a client secret or an app JWT goes only where the config says
  options.max_body_bytes = 256 * 1024;
  options.tls = context.tls.get();
  return options;
}

// The body as a JSON object (strict: one object, no duplicate members), or why not.
std::expected<json::object, std::string> JsonObject(const HttpFetchResult& result) {
  auto parsed = jose::ParseStrictJsonObject(result.body);
  if (!parsed) return std::unexpected("the answer is not a JSON object");
  return std::move(*parsed);
}
// A token goes into a header: visible ASCII only, no spaces, bounded.
bool IsHeaderSafeToken(std::string_view token) {
  if (token.empty() || token.size() > kMaxTokenBytes) return false;
  for (char c : token) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return false;
    }
  }
  return true;
}

// "2026-12-05T19:04:05Z" (GitHub's expires_at).
std::optional<Clock::time_point> ParseUtcTimestamp(std::string_view text) {
  std::tm tm{};
  int consumed = 0;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != static_cast<int>(s.size())) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const std::time_t t = timegm(&tm);
  if (t < 0) return std::nullopt;
  return Clock::from_time_t(t);
}

// The error code of an error answer (RFC 6749 5.2 `error`, GitHub's `message`), for the log.
std::string Refusal(const std::string& what, const HttpFetchResult& result) {
  std::string out = what + " answered HTTP " + std::to_string(result.status);
  if (auto body = JsonObject(result)) {
    for (std::string_view name : {"error", "message"}) {
      if (const json::value* v = body->if_contains(name); v && v->is_string()) {
        std::string_view text = v->as_string();
        out += " (" + std::string(text.substr(0, 200)) + ")";
        break;
      }
    }
  }
  return out;
}

asio::awaitable<Result> ClientCredentials(const MintContext& context) {
  const config::CredentialsConfig& c = context.config;
  std::string secret = c.client_secret;
  if (context.secret) {
    std::shared_ptr<const std::string> value = context.secret->Value();
    if (!value)
      co_return std::unexpected("the client secret file " + context.secret->path() +
                                " is unusable");
    secret = *value;
  }
  HttpFetchOptions options = Options(context);
  options.method = "POST";
  options.content_type = "application/x-www-form-urlencoded";
  options.body = "grant_type=client_credentials";
  if (!c.scope.empty()) options.body += "&scope=" + PercentEncode(c.scope);
  if (!c.resource.empty()) options.body += "&resource=" + PercentEncode(c.resource);
  // RFC 6749 2.3.1: client_secret_basic encodes both parts before joining them.
  options.headers.emplace_back(
      "Authorization", BasicAuthorization(PercentEncode(c.client_id), PercentEncode(secret)));
  auto result = co_await HttpGet(c.token_endpoint, std::move(options));
  if (!result) co_return std::unexpected("token endpoint: " + result.error());
  if (result->status != 200) co_return std::unexpected(Refusal("the token endpoint", *result));
  auto body = JsonObject(*result);
  if (!body) co_return std::unexpected("token endpoint: " + body.error());
  const json::value* token = body->if_contains("access_token");
  const json::value* type = body->if_contains("token_type");
  if (token == nullptr || !token->is_string() || !IsHeaderSafeToken(token->as_string())) {
    co_return std::unexpected(
        std::string("the token endpoint's answer has no usable access_token"));
  }
  if (type == nullptr || !type->is_string() ||
      !config::EqualsIgnoreCase(type->as_string(), "Bearer")) {
    co_return std::unexpected(std::string("the token endpoint's token_type is not Bearer"));
  }
  MintedCredential minted{std::string(token->as_string()), Clock::now() + kDefaultLifetime};
  if (const json::value* in = body->if_contains("expires_in")) {
    if (!in->is_number()) co_return std::unexpected(std::string("expires_in is not a number"));
    const double seconds = std::clamp(in->to_number<double>(), 0.0, 366.0 * 86400);
    minted.expires_at = Clock::now() + std::chrono::seconds(static_cast<int64_t>(seconds));
  }
  co_return minted;
}

// The app JWT GitHub wants: RS256, iss = the app, iat a minute back (GitHub's advice for clock
// drift), exp within ten minutes of iat.
std::expected<std::string, std::string> AppJwt(const MintContext& context) {
  std::shared_ptr<const std::string> pem = context.key->Value();
  if (!pem) return std::unexpected("the app key " + context.key->path() + " is unusable");
  auto signer = jose::JwsSigner::FromPem(*pem);
  if (!signer || signer->algorithm() != jose::Algorithm::kRs256) {
    return std::unexpected("the app key " + context.key->path() +
                           " is not an RSA private key of 2048 bits or more");
  }
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  const std::string& app = context.config.app_id;
  json::object claims{{"iat", now - 60}, {"exp", now + 540}};
  const bool numeric = std::all_of(app.begin(), app.end(), config::IsDigit) && app.size() < 16;
  if (numeric) {
    claims["iss"] = std::stoll(app);
  } else {
    claims["iss"] = app;
  }
  return signer->Sign(json::serialize(claims));
}

asio::awaitable<Result> GitHubApp(const MintContext& context) {
  const config::CredentialsConfig& c = context.config;
  auto jwt = AppJwt(context);
  if (!jwt) co_return std::unexpected(jwt.error());
  json::object body;
  if (!c.permissions.empty()) {
    json::object permissions;
    for (const auto& [name, level] : c.permissions) permissions[name] = level;
    body["permissions"] = std::move(permissions);
  }
  if (!c.repositories.empty()) {
    json::array repositories;
    for (const std::string& name : c.repositories) repositories.emplace_back(name);
    body["repositories"] = std::move(repositories);
  }
  HttpFetchOptions options = Options(context);
  options.method = "POST";
  options.content_type = "application/json";
  options.body = json::serialize(body);
  options.accept = "application/vnd.github+json";
  options.headers.emplace_back("Authorization", "Bearer " + *jwt);
  options.headers.emplace_back("X-GitHub-Api-Version", "2022-11-28");
  const std::string what =
      "POST /app/installations/" + std::to_string(c.installation_id) + "/access_tokens";
  auto result = co_await HttpGet(
      c.api_url + "/app/installations/" + std::to_string(c.installation_id) + "/access_tokens",
      std::move(options));
  if (!result) co_return std::unexpected(what + ": " + result.error());
  if (result->status != 201) co_return std::unexpected(Refusal(what, *result));
  auto answer = JsonObject(*result);
  if (!answer) co_return std::unexpected(what + ": " + answer.error());
  const json::value* token = answer->if_contains("token");
  const json::value* expires = answer->if_contains("expires_at");
  if (token == nullptr || !token->is_string() || !IsHeaderSafeToken(token->as_string())) {
    co_return std::unexpected(what + ": the answer has no usable token");
  }
  std::optional<Clock::time_point> expires_at;
  if (expires != nullptr && expires->is_string())
    expires_at = ParseUtcTimestamp(expires->as_string());
  if (!expires_at) co_return std::unexpected(what + ": the answer has no usable expires_at");
  co_return MintedCredential{std::string(token->as_string()), *expires_at};
}

using Mint = asio::awaitable<Result> (*)(const MintContext&);

asio::awaitable<Result> Invoke(std::shared_ptr<const MintContext> context, Mint mint) {
  co_return co_await mint(*context);
}

}  // namespace

std::expected<MintCall, std::string> MakeMintCall(const config::CredentialsConfig& config) {
  auto context = std::make_shared<MintContext>();
  context->config = config;
  if (!config.ca_file.empty()) {
    auto tls = CreateFetchTlsContext(config.ca_file);
    if (!tls) return std::unexpected(tls.error());
    context->tls = std::move(*tls);
  }
  std::string error;
  if (!config.client_secret_file.empty()) {
    context->secret = std::make_shared<SecretFile>(config.client_secret_file);
    if (!context->secret->Load(&error)) return std::unexpected("client_secret: " + error);
  }
  Mint mint = &ClientCredentials;
  if (config.type == config::CredentialsConfig::Type::kGitHubApp) {
    context->key = std::make_shared<SecretFile>(config.private_key_file, /*multi_line=*/true);
    if (!context->key->Load(&error)) return std::unexpected("private_key_file: " + error);
    if (auto jwt = AppJwt(*context); !jwt) return std::unexpected(jwt.error());
    mint = &GitHubApp;
  }
  // The coroutine holds the context itself: a mint may outlive the source that started it.
  return [context, mint] { return Invoke(context, mint); };
}

}  // namespace ciap::headers
