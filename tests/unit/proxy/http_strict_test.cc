// Verifies which request heads ciap refuses (StrictRequestParser + RequestHeadProblem), and
// which of them Beast's parser refuses by itself: the session answers both with 400 and a
// closed connection, so this pins down who catches what.
#include <gtest/gtest.h>

#include <string>

#include "proxy/http_head.h"

namespace ciap {
namespace {

namespace http = boost::beast::http;

struct HeadResult {
  bool parse_error = false;  // Beast refused the bytes
  std::string problem;       // RequestHeadProblem's reason when Beast accepted them
};

HeadResult ParseHead(const std::string& bytes) {
  StrictRequestParser parser;
  parser.header_limit(64 * 1024);
  parser.body_limit(boost::none);
  boost::beast::error_code ec;
  std::size_t used = 0;
  while (!parser.is_header_done()) {
    std::size_t n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == http::error::need_more && used < bytes.size()) continue;
    if (ec) break;
    if (n == 0) break;
  }
  HeadResult result;
  if (ec && ec != http::error::need_more) {
    result.parse_error = true;
  } else if (!parser.is_header_done()) {
    ADD_FAILURE() << "incomplete head in the test input: " << bytes;
  } else {
    result.problem = std::string(RequestHeadProblem(parser));
  }
  return result;
}

struct HeadCase {
  const char* name;
  std::string bytes;
  const char* problem;  // "" accepted, "parse" refused by Beast, else RequestHeadProblem's reason
};

class RequestHeadTest : public testing::TestWithParam<HeadCase> {};

TEST_P(RequestHeadTest, AcceptedOrRefusedAsExpected) {
  const HeadCase& c = GetParam();
  HeadResult r = ParseHead(c.bytes);
  if (std::string_view(c.problem) == "parse") {
    EXPECT_TRUE(r.parse_error) << c.name << ": Beast accepted it; problem=" << r.problem;
  } else {
    EXPECT_FALSE(r.parse_error) << c.name << ": Beast refused it";
    EXPECT_EQ(r.problem, c.problem) << c.name;
  }
}

std::string Req(const std::string& headers, const char* version = "HTTP/1.1") {
  return std::string("POST /x ") + version + "\r\nHost: h\r\n" + headers + "\r\n";
}

INSTANTIATE_TEST_SUITE_P(
    Framing, RequestHeadTest,
    testing::Values(
        HeadCase{"plain", Req("Content-Length: 5\r\n"), ""},
        HeadCase{"chunked", Req("Transfer-Encoding: chunked\r\n"), ""},
        HeadCase{"CHUNKED", Req("Transfer-Encoding: CHUNKED\r\n"), ""},
        HeadCase{"tab before value", Req("Transfer-Encoding:\tchunked\r\n"), ""},
        HeadCase{"leading zeros", Req("Content-Length: 005\r\n"), ""},
        HeadCase{"CL and TE", Req("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), "parse"},
        HeadCase{"TE and CL", Req("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), "parse"},
        HeadCase{"TE gzip and CL", Req("Transfer-Encoding: gzip\r\nContent-Length: 5\r\n"),
                 "bad_transfer_encoding"},
        HeadCase{"two equal CL", Req("Content-Length: 5\r\nContent-Length: 5\r\n"),
                 "multiple_content_length"},
        HeadCase{"two CL", Req("Content-Length: 5\r\nContent-Length: 6\r\n"), "parse"},
        HeadCase{"CL list", Req("Content-Length: 5, 5\r\n"), "bad_content_length"},
        HeadCase{"CL plus", Req("Content-Length: +5\r\n"), "parse"},
        HeadCase{"CL hex", Req("Content-Length: 0x5\r\n"), "parse"},
        HeadCase{"CL negative", Req("Content-Length: -1\r\n"), "parse"},
        HeadCase{"CL overflow", Req("Content-Length: 99999999999999999999\r\n"), "parse"},
        HeadCase{"CL empty", Req("Content-Length: \r\n"), "parse"},
        HeadCase{"xchunked", Req("Transfer-Encoding: xchunked\r\n"), "bad_transfer_encoding"},
        HeadCase{"chunked, identity", Req("Transfer-Encoding: chunked, identity\r\n"),
                 "bad_transfer_encoding"},
        HeadCase{"gzip, chunked", Req("Transfer-Encoding: gzip, chunked\r\n"),
                 "bad_transfer_encoding"},
        HeadCase{"chunked, chunked", Req("Transfer-Encoding: chunked, chunked\r\n"),
                 "bad_transfer_encoding"},
        HeadCase{"identity", Req("Transfer-Encoding: identity\r\n"), "bad_transfer_encoding"},
        HeadCase{"quoted", Req("Transfer-Encoding: \"chunked\"\r\n"), "bad_transfer_encoding"},
        HeadCase{"two TE headers",
                 Req("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), "parse"},
        HeadCase{"TE gzip then chunked",
                 Req("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
                 "bad_transfer_encoding"},
        HeadCase{"TE vertical tab", Req("Transfer-Encoding: chunked\x0b\r\n"), "parse"},
        HeadCase{"TE on HTTP/1.0", Req("Transfer-Encoding: chunked\r\n", "HTTP/1.0"),
                 "transfer_encoding_in_http10"}));

INSTANTIATE_TEST_SUITE_P(
    Syntax, RequestHeadTest,
    testing::Values(
        HeadCase{"obs-fold", Req("X-A: a\r\n b\r\n"), "obs_fold"},
        HeadCase{"obs-fold tab", Req("X-A: a\r\n\tb\r\n"), "obs_fold"},
        HeadCase{"obs-fold empty first line", Req("X-A:\r\n b\r\n"), "obs_fold"},
        HeadCase{"obs-fold TE", Req("Transfer-Encoding:\r\n chunked\r\n"), "obs_fold"},
        HeadCase{"obs-fold TE after value", Req("Transfer-Encoding: chunked\r\n , identity\r\n"),
                 "obs_fold"},
        HeadCase{"spaces inside value", Req("X-A: a  b \t c\r\n"), ""},
        HeadCase{"empty value", Req("X-A:\r\n"), ""},
        HeadCase{"empty value with spaces", Req("X-A:   \r\n"), ""},
        HeadCase{"space before colon", Req("Content-Length : 5\r\n"), "parse"},
        HeadCase{"tab before colon", Req("Transfer-Encoding\t: chunked\r\n"), "parse"},
        HeadCase{"bare LF", "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", "parse"},
        HeadCase{"bare LF request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", "parse"},
        HeadCase{"bare CR", Req("X-A: a\rb\r\n"), "parse"},
        HeadCase{"NUL in value", Req(std::string("X-A: a\0b\r\n", 11)), "parse"},
        HeadCase{"NUL in name", Req(std::string("X\0A: b\r\n", 8)), "parse"},
        HeadCase{"control char",
                 Req("X-A: a\x01"
                     "b\r\n"),
                 "parse"},
        HeadCase{"DEL",
                 Req("X-A: a\x7f"
                     "b\r\n"),
                 "parse"},
        HeadCase{"no colon", Req("X-A\r\n"), "parse"},
        HeadCase{"empty name", Req(": x\r\n"), "parse"},
        HeadCase{"separator in name", Req("X(A): b\r\n"), "parse"},
        HeadCase{"HTTP/1.0", Req("", "HTTP/1.0"), ""},
        HeadCase{"HTTP/1.2", Req("", "HTTP/1.2"), "parse"},
        HeadCase{"HTTP/2.0", Req("", "HTTP/2.0"), "parse"},
        HeadCase{"HTTP/0.9", Req("", "HTTP/0.9"), "parse"},
        HeadCase{"lower-case version", Req("", "http/1.1"), "parse"},
        HeadCase{"double space", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", "parse"},
        HeadCase{"space in target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", "parse"},
        HeadCase{"two Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "multiple_host"},
        HeadCase{"Host with path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "bad_host"},
        HeadCase{"Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", "bad_host"},
        HeadCase{"Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "bad_host"},
        HeadCase{"Host with port", "GET / HTTP/1.1\r\nHost: a:8443\r\n\r\n", ""}));

}  // namespace
}  // namespace ciap
