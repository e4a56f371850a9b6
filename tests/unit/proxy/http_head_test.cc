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

TEST(HttpHead, ManyConnectionTokensAllDrop) {
  // More tokens than ConnectionTokens keeps inline, over two Connection fields: every named
  // field still stays behind.
  boost::beast::http::fields fields;
  fields.insert("Connection", "x-a, x-b, x-c, x-d, x-e");
  fields.insert("Connection", "x-f,x-g ,\tx-h, x-i, X-J");
  for (const char* name : {"X-A", "x-e", "X-F", "x-h", "x-i", "x-j"}) fields.insert(name, "1");
  fields.insert("X-Kept", "1");
  std::string out;
  AppendEndToEndFields(out, fields, [](std::string_view) { return false; });
  EXPECT_EQ(out, "X-Kept: 1\r\n");
  const ConnectionTokens tokens(fields);
  EXPECT_TRUE(tokens.Names("X-I"));
  EXPECT_TRUE(tokens.Names("x-j"));
  EXPECT_FALSE(tokens.Names("x-kept"));
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
