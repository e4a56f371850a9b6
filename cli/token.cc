// See token.h. SigV4 as AWS documents it ("Create a signed AWS API request", query-string
// authentication): canonical request, string to sign, the derived signing key, the signature.
#include "cli/token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>

#include "config/text.h"
#include "jose/base64url.h"
#include "net/http_client.h"

namespace ciap {
namespace {

using config::HexLower;

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return HexLower(digest, size);
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &size);
  return std::string(reinterpret_cast<char*>(out), size);
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

// The job's credentials: the environment, else the container credentials endpoint.
std::expected<AwsCredentials, std::string> FindCredentials() {
  AwsCredentials env{Env("AWS_ACCESS_KEY_ID"), Env("AWS_SECRET_ACCESS_KEY"),
                     Env("AWS_SESSION_TOKEN")};
  if (!env.access_key_id.empty() && !env.secret_access_key.empty()) return env;
  std::string url = Env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (std::string relative = Env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); !relative.empty()) {
    url = "http://169.254.170.2" + relative;
  }
  if (url.empty()) {
    return std::unexpected(
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where "
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is set (CodeBuild, ECS)");
  }
  HttpFetchOptions options;
  options.timeout = std::chrono::seconds(5);
  options.max_redirects = 0;
  if (std::string auth = Env("AWS_CONTAINER_AUTHORIZATION_TOKEN"); !auth.empty()) {
    options.headers.emplace_back("Authorization", auth);
  }
  asio::io_context io;
  std::expected<HttpFetchResult, std::string> result = std::unexpected("not fetched");
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { result = co_await HttpGet(url, options); },
      asio::detached);
  io.run();
  if (!result) return std::unexpected("container credentials: " + result.error());
  if (result->status != 200) {
    return std::unexpected("container credentials: HTTP " + std::to_string(result->status));
  }
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(result->body, ec);
  const boost::json::object* o = ec ? nullptr : doc.if_object();
  auto text = [&](std::string_view name) {
    const boost::json::value* v = o ? o->if_contains(name) : nullptr;
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  AwsCredentials found{text("AccessKeyId"), text("SecretAccessKey"), text("Token")};
  if (found.access_key_id.empty() || found.secret_access_key.empty()) {
    return std::unexpected("container credentials: no AccessKeyId/SecretAccessKey in the answer");
  }
  return found;
}

}  // namespace

std::string PresignCallerIdentity(const AwsCredentials& credentials, const std::string& region,
                                  const std::string& endpoint, const std::string& audience,
                                  std::chrono::seconds expires, int64_t now) {
  std::time_t t = static_cast<std::time_t>(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[17];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  const std::string amz_date = stamp;
  const std::string date = amz_date.substr(0, 8);
  const std::string scope = date + "/" + region + "/sts/aws4_request";
  const std::string host = endpoint.substr(endpoint.find("://") + 3);

  std::map<std::string, std::string> query{
      {"Action", "GetCallerIdentity"},
      {"Version", "2011-06-15"},
      {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
      {"X-Amz-Credential", credentials.access_key_id + "/" + scope},
      {"X-Amz-Date", amz_date},
      {"X-Amz-Expires", std::to_string(expires.count())},
      {"X-Amz-SignedHeaders", "host;x-ciap-audience"},
  };
  if (!credentials.session_token.empty()) {
    query["X-Amz-Security-Token"] = credentials.session_token;
  }
  std::string canonical_query;
  for (const auto& [key, value] : query) {  // sorted by key, as the canonical form wants
    if (!canonical_query.empty()) canonical_query.push_back('&');
    canonical_query += PercentEncode(key);
    canonical_query.push_back('=');
    canonical_query += PercentEncode(value);
  }
  const std::string canonical_request = "GET\n/\n" + canonical_query + "\nhost:" + host +
                                        "\nx-ciap-audience:" + audience +
                                        "\n\nhost;x-ciap-audience\n" + Sha256Hex("");
  const std::string string_to_sign =
      "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + Sha256Hex(canonical_request);
  std::string key = Hmac("AWS4" + credentials.secret_access_key, date);
  key = Hmac(key, region);
  key = Hmac(key, "sts");
  key = Hmac(key, "aws4_request");
  const std::string mac = Hmac(key, string_to_sign);
  const std::string signature =
      HexLower(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
  const std::string url = endpoint + "/?" + canonical_query + "&X-Amz-Signature=" + signature;
  return "k8s-aws-v1." + jose::Base64UrlEncode(url);
}

int RunToken(const TokenOptions& options) {
  if (options.kind != "aws-iam") {
    std::fprintf(stderr, "ciap token: unknown kind '%s' (known: aws-iam)\n", options.kind.c_str());
    return 2;
  }
  if (options.audience.empty()) {
    std::fprintf(stderr, "ciap token aws-iam: --audience is required (the provider's audience)\n");
    return 2;
  }
  if (options.expires.count() < 1 || options.expires.count() > 900) {
    std::fprintf(stderr, "ciap token aws-iam: --expires must be from 1s to 15m\n");
    return 2;
  }
  std::string region = options.region;
  if (region.empty()) region = Env("AWS_REGION");
  if (region.empty()) region = Env("AWS_DEFAULT_REGION");
  if (region.empty()) region = "us-east-1";
  std::string endpoint = options.endpoint;
  if (endpoint.empty()) endpoint = "https://sts." + region + ".amazonaws.com";
  while (endpoint.ends_with('/')) endpoint.pop_back();
  // The Host ciap will send: no default port (SigV4 signs it as sent).
  if (endpoint.starts_with("https://") && endpoint.ends_with(":443"))
    endpoint.resize(endpoint.size() - 4);
  auto credentials = FindCredentials();
  if (!credentials) {
    std::fprintf(stderr, "ciap token aws-iam: %s\n", credentials.error().c_str());
    return 1;
  }
  std::string token = PresignCallerIdentity(*credentials, region, endpoint, options.audience,
                                            options.expires, std::time(nullptr));
  std::printf("%s\n", token.c_str());
  return 0;
}

}  // namespace ciap
