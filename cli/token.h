// `ciap token aws-iam`: the credential an AWS job (CodeBuild, CodePipeline, ECS, anything with
// an IAM role) sends to an aws_iam provider, made without extra tools: a presigned
// sts:GetCallerIdentity request (SigV4, query form) that signs the x-ciap-audience header,
// "k8s-aws-v1." + base64url(URL). The job's keys come from the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or, as CodeBuild and ECS provide
// them, from the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or
// _FULL_URI). The token is printed; the keys never leave the process.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ciap {

struct TokenOptions {
  std::string kind;      // "aws-iam"
  std::string audience;  // the provider's `audience`
  std::string region;    // default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1
  std::string endpoint;  // default: https://sts.<region>.amazonaws.com
  std::chrono::seconds expires{60};
};

int RunToken(const TokenOptions& options);

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term keys
};

// The presigned URL's token. `endpoint` is "https://host[:port]" (no path); `now` in seconds
// since the epoch. Pure: tests check it against an independent SigV4 implementation.
std::string PresignCallerIdentity(const AwsCredentials& credentials, const std::string& region,
                                  const std::string& endpoint, const std::string& audience,
                                  std::chrono::seconds expires, int64_t now);

}  // namespace ciap
