// Verifies what crosses the proxy in a serialized head: hop-by-hop and Connection-named
// headers never do.
#include "proxy/http_head.h"

#include <gtest/gtest.h>

namespace ciap {
namespace {

TEST(HttpHead, DropsHopByHopAndConnectionTokens) {
  boost::beast::http::fields fields;
  fields.insert("Connection", "keep-alive, X-Secret-Hop");
  fields.insert("Keep-Alive", "timeout=5");
  fields.insert("TE", "trailers");
  fields.insert("Transfer-Encoding", "chunked");
  fields.insert("Content-Length", "5");
  fields.insert("Upgrade", "websocket");
  fields.insert("Proxy-Authorization", "Basic abc");
  fields.insert("Proxy-Connection", "keep-alive");
  fields.insert("Trailer", "X-T");
  fields.insert("X-Secret-Hop", "1");
  fields.insert("Accept", "*/*");
  fields.insert("X-Drop-Me", "1");
  std::string out;
  AppendEndToEndFields(out, fields, [](std::string_view name) { return name == "X-Drop-Me"; });
  EXPECT_EQ(out, "Accept: */*\r\n");
}

TEST(HttpHead, ChunkSizeIsLowerHex) {
  std::string out;
  AppendChunkSize(out, 0);
  AppendChunkSize(out, 65536);
  AppendChunkSize(out, 255);
  EXPECT_EQ(out, "0\r\n10000\r\nff\r\n");
}

TEST(HttpHead, RequestIdValidation) {
  EXPECT_TRUE(IsValidRequestId("abc-123"));
  EXPECT_FALSE(IsValidRequestId(""));
  EXPECT_FALSE(IsValidRequestId("has space"));
  EXPECT_FALSE(IsValidRequestId(std::string(129, 'a')));
  EXPECT_FALSE(IsValidRequestId("bad\x01"));
}

TEST(HttpHead, ErrorNames) {
  EXPECT_EQ(ErrorName(boost::beast::http::status::not_found), "not_found");
  EXPECT_EQ(ErrorName(boost::beast::http::status::gateway_timeout), "gateway_timeout");
}

}  // namespace
}  // namespace ciap
