// The headers filter on its own: remove, then set (which also replaces a caller's header of
// that name), ${secret:} from a file, ${claim:} with control bytes escaped, and the caller's
// identity injected as x-ciap-* headers.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "tests/unit/filters/filter_fixture.h"

namespace ciap::testing {
namespace {

std::string SecretFile() {
  char path[] = "/tmp/ciap-headers-test-XXXXXX";
  int fd = ::mkstemp(path);
  EXPECT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << "s3cret\n";
  return path;
}

std::string Config(const std::string& secret) {
  return R"(
upstreams: [{ name: u, endpoints: ["127.0.0.1:1"] }]
listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    filters: [headers]
    routes:
      - name: r
        upstream: u
        public: true
        request_headers:
          remove: [Cookie]
          set:
            Authorization: "Bearer ${secret:)" +
         secret + R"(}"
            X-Job: "job ${claim:job}"
            X-Literal: "$${not a reference}"
          identity: true
)";
}

class HeadersFilterTest : public ::testing::Test {
 protected:
  void TearDown() override { std::remove(secret_.c_str()); }
  std::string secret_ = SecretFile();
  BuiltFilter filter_{"headers", Config(secret_)};
};

TEST_F(HeadersFilterTest, RemovesSetsAndInjects) {
  TestRequest t(0);
  t.headers.set("Cookie", "session=1");
  t.headers.set("Authorization", "Bearer caller-token");
  t.headers.set("X-Job", "forged");
  t.context.caller = MakeCaller("corp", R"({"sub":"pipeline:a","job":"7\r\nX-Evil: 1"})");
  t.context.groups.push_back("deployers");
  Request request = t.request();
  ASSERT_TRUE(filter_->OnRequest(request, t.context).is_continue());

  EXPECT_EQ(t.headers.count("Cookie"), 0u);
  EXPECT_EQ(t.headers.count("Authorization"), 1u);
  EXPECT_EQ(t.headers["Authorization"], "Bearer s3cret");
  EXPECT_EQ(t.headers.count("X-Job"), 1u);
  EXPECT_EQ(t.headers["X-Job"], "job 7%0D%0AX-Evil: 1");  // a claim never ends a header line
  EXPECT_EQ(t.headers["X-Literal"], "${not a reference}");
  EXPECT_EQ(t.headers["x-ciap-provider"], "corp");
  EXPECT_EQ(t.headers["x-ciap-subject"], "pipeline:a");
  EXPECT_EQ(t.headers["x-ciap-groups"], "deployers");
}

TEST_F(HeadersFilterTest, AMissingSecretIs503NotARequestWithoutTheCredential) {
  std::remove(secret_.c_str());
  // The file is re-checked at most once a second.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  TestRequest t(0);
  Request request = t.request();
  Decision decision = filter_->OnRequest(request, t.context);
  EXPECT_EQ(decision.status(), boost::beast::http::status::service_unavailable);
  EXPECT_EQ(decision.reason(), "secret_unavailable");
}

}  // namespace
}  // namespace ciap::testing
