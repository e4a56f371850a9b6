// Verifies which header fields ciap asks nghttp2 to send as never-indexed HPACK literals:
// credentials (never in a compression context shared with others) and the per-message request
// id; everything else may be indexed.
#include "proxy/h2_common.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace ciap {
namespace {

TEST(Http2NameValues, CredentialsAndRequestIdsAreNeverIndexed) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"authorization", "Bearer t"},
      {"proxy-authorization", "Basic p"},
      {"cookie", "session=a-long-enough-cookie-value"},
      {"set-cookie", "s=1"},
      {"x-request-id", "abc"},
      {"content-type", "text/plain"},
      {"server", "nginx"},
      {"x-request-id-not", "1"}};
  std::vector<nghttp2_nv> list = NameValues(fields, fields.size());
  ASSERT_EQ(list.size(), fields.size());
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const bool never = i < 5;
    EXPECT_EQ(list[i].flags, never ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE)
        << fields[i].first;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(list[i].name), list[i].namelen),
              fields[i].first);
  }
  EXPECT_EQ(NameValues(fields, 2).size(), 2u);  // only the first `count`
}

}  // namespace
}  // namespace ciap
