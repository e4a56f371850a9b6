// JWS verification: valid tokens for every algorithm, the token structure rules, header rules,
// size caps, signature tampering and key selection without a kid.
#include "jose/jws.h"

#include <openssl/err.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "tests/unit/jose/jws_fixture.h"

namespace ciap::jose::testing {
namespace {

struct AlgCase {
  std::string_view alg;
  const TestKey& (*key)();
  std::string_view kid;
};

const AlgCase kAllAlgorithms[] = {
    {"RS256", Rsa2048, "rsa"},       {"RS384", Rsa2048, "rsa"},       {"RS512", Rsa2048, "rsa"},
    {"PS256", Rsa2048, "rsa"},       {"PS384", Rsa2048, "rsa"},       {"PS512", Rsa2048, "rsa"},
    {"ES256", P256, "ec256"},        {"ES384", P384, "ec384"},        {"EdDSA", Ed25519, "ed"},
    {"RS256", Rsa2048, "rsa-rs256"}, {"PS256", Rsa2048, "rsa-ps256"},
};

TEST_F(JwsTest, ValidTokenForEveryAlgorithm) {
  // Each supported algorithm verifies, and the header fields and payload come back.
  for (const AlgCase& c : kAllAlgorithms) {
    SCOPED_TRACE(std::string(c.alg) + " " + std::string(c.kid));
    auto result = Verify(Token(c.key(), c.alg, c.kid), Keys(), AlgorithmSet::All());
    ASSERT_TRUE(result) << TokenErrorName(result.error());
    EXPECT_EQ(AlgorithmName(result->alg), c.alg);
    EXPECT_EQ(result->kid, c.kid);
    EXPECT_EQ(result->typ, "JWT");
    EXPECT_EQ(result->payload().at("iss").as_string(), "https://agent.buildkite.com");
    EXPECT_EQ(result->payload().at("exp").as_int64(), 1767225900);
  }
}

TEST_F(JwsTest, VerifiesRepeatedlyAndAfterFailures) {
  // Cached per-thread contexts give the same answers on reuse and after a failed check.
  const std::string good = Token(Rsa2048(), "PS384", "rsa");
  std::string bad = good;
  bad[bad.size() - 5] = bad[bad.size() - 5] == 'A' ? 'B' : 'A';
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Check(good), "ok");
    EXPECT_EQ(Check(bad), "bad_signature");
  }
  const std::string ed = Token(Ed25519(), "EdDSA", "ed");
  std::string ed_bad = ed;
  ed_bad[ed_bad.size() - 3] = ed_bad[ed_bad.size() - 3] == 'A' ? 'B' : 'A';
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Check(ed), "ok");
    EXPECT_EQ(Check(ed_bad), "bad_signature");
  }
}

TEST_F(JwsTest, FailuresLeaveNoOpenSslErrors) {
  // A failed verification clears the thread's OpenSSL error queue.
  ERR_clear_error();
  std::string token = Token(P256(), "ES256", "ec256");
  token.back() = token.back() == 'A' ? 'Q' : 'A';
  EXPECT_EQ(Check(token), "bad_signature");
  EXPECT_EQ(ERR_peek_error(), 0u);
  std::string rsa = Token(Rsa2048(), "RS256", "rsa");
  rsa[rsa.size() - 10] = rsa[rsa.size() - 10] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Check(rsa), "bad_signature");
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST_F(JwsTest, RejectsTamperedTokens) {
  // Changed payload, changed header, flipped signature bit, other key, truncated and empty
  // signatures.
  const std::string header = Header("RS256", "rsa");
  const std::string token = Token(Rsa2048(), "RS256", "rsa");
  const std::string signature = token.substr(token.rfind('.') + 1);
  const std::string other_payload =
      R"({"iss":"https://agent.buildkite.com","sub":"organization:evil","aud":"https://ci-proxy.acme.internal","iat":1767225600,"exp":1767225900})";
  EXPECT_EQ(Check(SigningInput(header, other_payload) + "." + signature), "bad_signature");
  EXPECT_EQ(
      Check(SigningInput(R"({"kid":"rsa","alg":"RS256","typ":"JWT"})", kPayload) + "." + signature),
      "bad_signature");
  std::string raw = *Base64UrlDecode(signature);
  raw[100] ^= 0x20;
  EXPECT_EQ(Check(WithSignature(header, kPayload, raw)), "bad_signature");
  EXPECT_EQ(Check(Token(Rsa2048Second(), "RS256", "rsa")), "bad_signature");
  raw[100] ^= 0x20;
  EXPECT_EQ(Check(WithSignature(header, kPayload, raw.substr(1))), "bad_signature");
  EXPECT_EQ(Check(WithSignature(header, kPayload, raw + '\0')), "bad_signature");
  EXPECT_EQ(Check(SigningInput(header, kPayload) + "."), "bad_signature");
  EXPECT_EQ(Check(WithSignature(header, kPayload, raw)), "ok");
}

TEST_F(JwsTest, PssRequiresSaltAsLongAsTheDigest) {
  // RFC 7518 §3.5: a PS256 signature with another salt length is refused.
  const std::string header = Header("PS256", "rsa");
  const std::string input = SigningInput(header, kPayload);
  EXPECT_EQ(Check(WithSignature(header, kPayload, Rsa2048().SignPss("PS256", input, 32))), "ok");
  EXPECT_EQ(Check(WithSignature(header, kPayload, Rsa2048().SignPss("PS256", input, 0))),
            "bad_signature");
  EXPECT_EQ(Check(WithSignature(header, kPayload, Rsa2048().SignPss("PS256", input, 64))),
            "bad_signature");
  EXPECT_EQ(Check(WithSignature(header, kPayload, Rsa2048().Sign("RS256", input))),
            "bad_signature");
}

TEST_F(JwsTest, RejectsWrongSegmentCounts) {
  // One, two, four and five segments (five is JWE) are malformed.
  const std::string token = Token(Rsa2048(), "RS256", "rsa");
  const std::string two = token.substr(0, token.rfind('.'));
  EXPECT_EQ(Check(two), "malformed");
  EXPECT_EQ(Check(two.substr(0, two.find('.'))), "malformed");
  EXPECT_EQ(Check(token + ".x"), "malformed");
  EXPECT_EQ(Check(token + "."), "malformed");
  EXPECT_EQ(Check("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"), "malformed");
  EXPECT_EQ(Check(""), "malformed");
  EXPECT_EQ(Check(".."), "malformed");
}

TEST_F(JwsTest, RejectsEmptyHeaderOrPayload) {
  // An empty header or payload segment is malformed even with a real signature.
  const std::string signature = Base64UrlEncode(Rsa2048().Sign("RS256", ".payload"));
  EXPECT_EQ(Check(".eyJhIjoxfQ." + signature), "malformed");
  EXPECT_EQ(Check(Base64UrlEncode(Header("RS256", "rsa")) + ".." + signature), "malformed");
  const std::string header = Header("RS256", "rsa");
  EXPECT_EQ(Check(WithSignature(header, "", Rsa2048().Sign("RS256", SigningInput(header, "")))),
            "malformed");
}

TEST_F(JwsTest, RejectsNonCanonicalBase64) {
  // Padding, the standard alphabet and whitespace in any segment.
  const std::string token = Token(Rsa2048(), "RS256", "rsa");
  const std::size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  const std::string header = token.substr(0, dot1);
  const std::string payload = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string signature = token.substr(dot2 + 1);
  EXPECT_EQ(Check(header + "=." + payload + "." + signature), "bad_base64");
  EXPECT_EQ(Check(header + "." + payload + "==." + signature), "bad_base64");
  EXPECT_EQ(Check(token + "="), "bad_base64");
  std::string plus = signature;
  plus[3] = '+';
  EXPECT_EQ(Check(header + "." + payload + "." + plus), "bad_base64");
  std::string slash = payload;
  slash[5] = '/';
  EXPECT_EQ(Check(header + "." + slash + "." + signature), "bad_base64");
  EXPECT_EQ(Check(" " + token), "bad_base64");
  EXPECT_EQ(Check(token + "\n"), "bad_base64");
  EXPECT_EQ(Check(header + ". " + payload + "." + signature), "bad_base64");
  EXPECT_EQ(
      Check(header + "." + payload.substr(0, 10) + "\t" + payload.substr(10) + "." + signature),
      "bad_base64");
}

TEST_F(JwsTest, RejectsJsonSerialization) {
  // Flattened and general JWS JSON serialization are not bearer tokens.
  const std::string token = Token(Rsa2048(), "RS256", "rsa");
  const std::size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  const std::string flattened = R"({"protected":")" + token.substr(0, dot1) + R"(","payload":")" +
                                token.substr(dot1 + 1, dot2 - dot1 - 1) + R"(","signature":")" +
                                token.substr(dot2 + 1) + R"("})";
  EXPECT_EQ(Check(flattened), "malformed");
  const std::string general =
      R"({"payload":"eyJhIjoxfQ","signatures":[{"protected":"e30.x","signature":"AA"}]})";
  EXPECT_EQ(Check(general), "malformed");
  EXPECT_EQ(Check(R"({"payload":"a.b.c"})"), "bad_base64");
}

TEST_F(JwsTest, RejectsNonObjectJson) {
  // Header and payload must be JSON objects; arrays, strings, numbers and garbage are not.
  auto signed_with = [](std::string_view header, std::string_view payload) {
    return SignedToken(header, payload, Rsa2048(), "RS256");
  };
  EXPECT_EQ(Check(signed_with(R"(["RS256"])", kPayload)), "bad_json");
  EXPECT_EQ(Check(signed_with(R"("RS256")", kPayload)), "bad_json");
  EXPECT_EQ(Check(signed_with("not json", kPayload)), "bad_json");
  EXPECT_EQ(Check(signed_with(Header("RS256", "rsa"), "[1,2]")), "bad_json");
  EXPECT_EQ(Check(signed_with(Header("RS256", "rsa"), "1767225900")), "bad_json");
  EXPECT_EQ(Check(signed_with(Header("RS256", "rsa"), R"({"exp":1e400})")), "bad_json");
  EXPECT_EQ(Check(signed_with(Header("RS256", "rsa"), "{\"sub\":\"\xff\"}")), "bad_json");
}

TEST_F(JwsTest, RejectsDuplicateMembers) {
  // Duplicate alg in the header, and a duplicate claim in a correctly signed payload.
  EXPECT_EQ(Check(SignedToken(R"({"alg":"RS256","kid":"rsa","alg":"none"})", kPayload, Rsa2048(),
                              "RS256")),
            "duplicate_member");
  EXPECT_EQ(Check(SignedToken(R"({"alg":"RS256","kid":"rsa","kid":"ec256"})", kPayload, Rsa2048(),
                              "RS256")),
            "duplicate_member");
  EXPECT_EQ(
      Check(Token(Rsa2048(), "RS256", "rsa", R"({"sub":"alice","exp":1767225900,"sub":"admin"})")),
      "duplicate_member");
  EXPECT_EQ(
      Check(Token(P256(), "ES256", "ec256", R"({"exp":1767225900,"ctx":{"org":"a","org":"b"}})")),
      "duplicate_member");
}

TEST_F(JwsTest, RejectsCrit) {
  // crit naming any extension is refused (ciap understands none); malformed crit too.
  auto with = [](std::string_view header) {
    return Check(SignedToken(header, kPayload, Rsa2048(), "RS256"));
  };
  EXPECT_EQ(with(R"({"alg":"RS256","kid":"rsa","crit":["exp"],"exp":1})"), "crit_unsupported");
  EXPECT_EQ(with(R"({"alg":"RS256","kid":"rsa","crit":["b64"],"b64":false})"), "crit_unsupported");
  EXPECT_EQ(with(R"({"alg":"RS256","kid":"rsa","crit":["http://example.com/x"]})"),
            "crit_unsupported");
  EXPECT_EQ(with(R"({"alg":"RS256","kid":"rsa","crit":[]})"), "bad_header");
  EXPECT_EQ(with(R"({"alg":"RS256","kid":"rsa","crit":"b64"})"), "bad_header");
  EXPECT_EQ(with(R"({"alg":"RS256","kid":"rsa","crit":[1]})"), "bad_header");
  EXPECT_EQ(with(R"({"alg":"RS256","kid":"rsa","crit":null})"), "bad_header");
}

TEST_F(JwsTest, RejectsNestedJwt) {
  // cty JWT in any case, and its media-type spelling; other cty values pass.
  auto with_cty = [](std::string_view cty) {
    return Check(SignedToken(R"({"alg":"ES256","kid":"ec256","cty":")" + std::string(cty) + "\"}",
                             kPayload, P256(), "ES256"));
  };
  EXPECT_EQ(with_cty("JWT"), "nested_jwt");
  EXPECT_EQ(with_cty("jwt"), "nested_jwt");
  EXPECT_EQ(with_cty("Jwt"), "nested_jwt");
  EXPECT_EQ(with_cty("application/jwt"), "nested_jwt");
  EXPECT_EQ(with_cty("json"), "ok");
  EXPECT_EQ(
      Check(SignedToken(R"({"alg":"ES256","kid":"ec256","cty":7})", kPayload, P256(), "ES256")),
      "bad_header");
}

TEST_F(JwsTest, RejectsBadHeaderMemberTypes) {
  // alg missing or not a string; kid or typ not a string.
  auto with = [](std::string_view header) {
    return Check(SignedToken(header, kPayload, Rsa2048(), "RS256"));
  };
  EXPECT_EQ(with(R"({"kid":"rsa"})"), "bad_header");
  EXPECT_EQ(with(R"({"alg":null,"kid":"rsa"})"), "bad_header");
  EXPECT_EQ(with(R"({"alg":["RS256"],"kid":"rsa"})"), "bad_header");
  EXPECT_EQ(with(R"({"alg":"RS256","kid":1})"), "bad_header");
  EXPECT_EQ(with(R"({"alg":"RS256","kid":["rsa"]})"), "bad_header");
  EXPECT_EQ(with(R"({"alg":"RS256","kid":"rsa","typ":{}})"), "bad_header");
}

TEST_F(JwsTest, SizeCapsComeBeforeDecoding) {
  // Over 16 KiB in total, or over 4 KiB of header, is too_large even when it is garbage.
  EXPECT_EQ(Check(std::string(kMaxTokenBytes + 1, 'a')), "too_large");
  EXPECT_EQ(Check(std::string(kMaxTokenBytes + 1, '.')), "too_large");
  EXPECT_EQ(Check(std::string(kMaxHeaderBytes + 1, '!') + ".a.b"), "too_large");
  const std::string big_kid = std::string(kMaxHeaderBytes, 'k');
  EXPECT_EQ(Check(Token(Rsa2048(), "RS256", big_kid)), "too_large");
  // Just under the caps, size is not the reason.
  const std::string padding(kMaxTokenBytes * 3 / 4 - 300, 'x');  // base64url grows it by 4/3
  const std::string payload = R"({"exp":1767225900,"pad":")" + padding + "\"}";
  EXPECT_LT(Token(P256(), "ES256", "ec256", payload).size(), kMaxTokenBytes);
  EXPECT_EQ(Check(Token(P256(), "ES256", "ec256", payload)), "ok");
  const std::string long_kid = std::string(kMaxHeaderBytes * 3 / 4 - 40, 'k');
  EXPECT_EQ(Check(Token(Rsa2048(), "RS256", long_kid)), "unknown_kid");
  const std::string big_payload = R"({"pad":")" + std::string(kMaxTokenBytes, 'x') + "\"}";
  EXPECT_EQ(Check(Token(P256(), "ES256", "ec256", big_payload)), "too_large");
}

TEST_F(JwsTest, TokensWithoutKidTryKeysThatFit) {
  // Without kid, keys whose type fits the alg are tried; none fitting is no_matching_key.
  auto no_kid = [](const TestKey& key, std::string_view alg) {
    return SignedToken(R"({"alg":")" + std::string(alg) + "\"}", kPayload, key, alg);
  };
  EXPECT_EQ(Check(no_kid(Rsa2048(), "RS256")), "ok");
  EXPECT_EQ(Check(no_kid(Rsa2048(), "PS512")), "ok");
  EXPECT_EQ(Check(no_kid(P384(), "ES384")), "ok");
  EXPECT_EQ(Check(no_kid(Ed25519(), "EdDSA")), "ok");
  EXPECT_EQ(Check(no_kid(Rsa2048Second(), "RS256")), "bad_signature");
  auto rsa_only = KeySet::Parse(JwksOf({Rsa2048().Jwk("")}));
  ASSERT_TRUE(rsa_only);
  EXPECT_EQ(Check(no_kid(P256(), "ES256"), **rsa_only), "no_matching_key");
  EXPECT_EQ(Check(no_kid(Rsa2048(), "RS256"), **rsa_only), "ok");
}

TEST_F(JwsTest, KidlessCandidatesAreCapped) {
  // A kid-less token is tried against at most kMaxKidlessCandidates keys.
  auto set = KeySet::Parse(JwksOf({Rsa2048Second().Jwk(""), Rsa2048Second().Jwk(""),
                                   Rsa2048Second().Jwk(""), Rsa2048().Jwk("")}));
  ASSERT_TRUE(set);
  ASSERT_EQ(kMaxKidlessCandidates, 3u);
  const std::string token = SignedToken(R"({"alg":"RS256"})", kPayload, Rsa2048(), "RS256");
  EXPECT_EQ(Check(token, **set), "bad_signature");
  EXPECT_EQ(Check(Token(Rsa2048(), "RS256", "rsa")), "ok");
}

TEST_F(JwsTest, AllowListIsEnforced) {
  // A supported algorithm outside the caller's allow-list is refused before key selection.
  EXPECT_EQ(Check(Token(Rsa2048(), "PS256", "rsa"), AlgorithmSet{Algorithm::kRs256}),
            "alg_not_allowed");
  EXPECT_EQ(Check(Token(P256(), "ES256", "ec256"), AlgorithmSet{Algorithm::kRs256}),
            "alg_not_allowed");
  EXPECT_EQ(Check(Token(Rsa2048(), "RS256", "rsa"), AlgorithmSet{}), "alg_not_allowed");
  EXPECT_EQ(Check(Token(Rsa2048(), "RS256", "rsa"), AlgorithmSet{Algorithm::kRs256}), "ok");
}

// Verify() remembers headers it has accepted, per thread, by their encoded bytes. These tests
// repeat headers on purpose: a remembered header must decide exactly what a fresh parse would.

TEST_F(JwsTest, RepeatedHeaderStillMeetsEachCallersAllowList) {
  // One header accepted under one allow-list is refused under another, in either order.
  const std::string token = Token(Rsa2048(), "RS256", "rsa");
  const AlgorithmSet only_es256{Algorithm::kEs256};
  EXPECT_EQ(Check(token), "ok");
  EXPECT_EQ(Check(token, only_es256), "alg_not_allowed");
  EXPECT_EQ(Check(token), "ok");
  const std::string ps256 = Token(Rsa2048(), "PS256", "rsa");
  EXPECT_EQ(Check(ps256, only_es256), "alg_not_allowed");
  EXPECT_EQ(Check(ps256), "ok");
  EXPECT_EQ(Check(ps256, AlgorithmSet{Algorithm::kRs256}), "alg_not_allowed");
}

TEST_F(JwsTest, RepeatedHeaderKidIsLookedUpInTheCurrentKeys) {
  // The header is the same, the keys are not: a key set without the kid, or with the kid on
  // another key type, decides as it would for a header seen for the first time.
  const std::string token = Token(Rsa2048(), "RS256", "rsa");
  EXPECT_EQ(Check(token), "ok");
  auto without = KeySet::Parse(JwksOf({P256().Jwk("ec256")}));
  ASSERT_TRUE(without);
  EXPECT_EQ(Check(token, **without), "unknown_kid");
  auto other_type = KeySet::Parse(JwksOf({P256().Jwk("rsa")}));
  ASSERT_TRUE(other_type);
  EXPECT_EQ(Check(token, **other_type), "alg_key_mismatch");
  auto other_key = KeySet::Parse(JwksOf({Rsa2048Second().Jwk("rsa")}));
  ASSERT_TRUE(other_key);
  EXPECT_EQ(Check(token, **other_key), "bad_signature");
  EXPECT_EQ(Check(token), "ok");
}

TEST_F(JwsTest, RepeatedHeaderGivesTheSameKidAndTyp) {
  // kid and typ of a token whose header was seen just before (remembered), and of one seen a
  // pass before, with more distinct headers in between than are remembered (forgotten); also
  // headers without kid or typ.
  struct Case {
    std::string header;
    std::string kid, typ;
  };
  std::vector<Case> cases;
  for (int i = 0; i < 20; ++i) {
    const std::string typ = std::to_string(i) + "t";
    cases.push_back({R"({"alg":"RS256","kid":"rsa","typ":")" + typ + "\"}", "rsa", typ});
  }
  cases.push_back({R"({"alg":"RS256","kid":"rsa"})", "rsa", ""});
  cases.push_back({R"({"alg":"RS256","typ":"at+jwt"})", "", "at+jwt"});
  for (int pass = 0; pass < 3; ++pass) {
    for (const Case& c : cases) {
      SCOPED_TRACE(c.header);
      const std::string token = SignedToken(c.header, kPayload, Rsa2048(), "RS256");
      for (int repeat = 0; repeat < 2; ++repeat) {
        auto result = Verify(token, Keys(), AlgorithmSet::All());
        ASSERT_TRUE(result);
        EXPECT_EQ(result->kid, c.kid);
        EXPECT_EQ(result->typ, c.typ);
        EXPECT_EQ(result->alg, Algorithm::kRs256);
      }
    }
  }
}

TEST_F(JwsTest, RefusedHeadersAreRefusedEveryTime) {
  // Headers that fail (crit, nested JWT, alg none, a kid of the wrong type) fail with the same
  // reason however often they come, interleaved with an accepted one; and a long header (not
  // remembered) verifies every time.
  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"({"alg":"RS256","kid":"rsa","crit":["exp"]})", "crit_unsupported"},
      {R"({"alg":"RS256","kid":"rsa","cty":"JWT"})", "nested_jwt"},
      {R"({"alg":"none","kid":"rsa"})", "alg_none"},
      {R"({"alg":"RS256","kid":7})", "bad_header"},
  };
  const std::string long_header =
      R"({"alg":"RS256","kid":"rsa","x5u":")" + std::string(600, 'u') + "\"}";
  for (int pass = 0; pass < 3; ++pass) {
    for (const auto& [header, reason] : refused) {
      SCOPED_TRACE(header);
      EXPECT_EQ(Check(SignedToken(header, kPayload, Rsa2048(), "RS256")), reason);
      EXPECT_EQ(Check(Token(Rsa2048(), "RS256", "rsa")), "ok");
    }
    EXPECT_EQ(Check(SignedToken(long_header, kPayload, Rsa2048(), "RS256")), "ok");
  }
}

TEST_F(JwsTest, ErrorNamesAreStableAndDistinct) {
  // Reasons are metric labels: snake_case and one per error.
  std::set<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(TokenError::kBadSignature); ++i) {
    const std::string_view name = TokenErrorName(static_cast<TokenError>(i));
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_"),
              std::string_view::npos);
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(TokenError::kBadSignature) + 1);
  EXPECT_EQ(TokenErrorName(TokenError::kAlgNone), "alg_none");
  EXPECT_EQ(TokenErrorName(TokenError::kBadSignature), "bad_signature");
}

TEST_F(JwsTest, EverySingleCharacterChangeIsRejected) {
  // With canonical base64url a token has exactly one spelling: changing any one character, to
  // any other character, anywhere, never yields a valid token.
  for (const std::string& token :
       {Token(Rsa2048(), "RS256", "rsa"), Token(P256(), "ES256", "ec256"),
        Token(Ed25519(), "EdDSA", "ed")}) {
    for (std::size_t i = 0; i < token.size(); ++i) {
      for (char replacement : {'A', 'g', '_', '.', '='}) {
        if (token[i] == replacement) continue;
        std::string changed = token;
        changed[i] = replacement;
        ASSERT_NE(Check(changed), "ok") << "position " << i << " -> " << replacement;
      }
    }
  }
}

TEST_F(JwsTest, ConcurrentVerificationAcrossKeySets) {
  // Threads verify all algorithms at once while key sets are replaced (more keys than the
  // per-thread context cache holds), and every answer stays right.
  std::vector<std::string> tokens;
  for (const AlgCase& c : kAllAlgorithms) tokens.push_back(Token(c.key(), c.alg, c.kid));
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 6; ++round) {
        // A fresh set each round: new serials, so cached contexts are replaced.
        auto set = KeySet::Parse(JwksOf(
            {Rsa2048().Jwk("rsa"), P256().Jwk("ec256"), P384().Jwk("ec384"), Ed25519().Jwk("ed"),
             Rsa2048().Jwk("rsa-rs256", "RS256"), Rsa2048().Jwk("rsa-ps256", "PS256")}));
        for (std::size_t i = 0; i < tokens.size(); ++i) {
          const std::string& token = tokens[(i + t) % tokens.size()];
          if (!Verify(token, **set, AlgorithmSet::All())) ++wrong;
          std::string bad = token;
          bad[bad.size() - 4] = bad[bad.size() - 4] == 'A' ? 'B' : 'A';
          if (Verify(bad, **set, AlgorithmSet::All())) ++wrong;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace ciap::jose::testing
