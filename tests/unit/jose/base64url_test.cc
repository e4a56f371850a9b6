// Strict base64url: only the canonical, unpadded encoding of each byte string decodes.
#include "jose/base64url.h"

#include <gtest/gtest.h>

#include <random>

namespace ciap::jose {
namespace {

TEST(Base64Url, RoundTripsEveryLengthAndByte) {
  // Every length mod 3 and every byte value survive encode then decode.
  std::string bytes;
  for (int i = 0; i < 256; ++i) {
    bytes += static_cast<char>(i);
    const std::string encoded = Base64UrlEncode(bytes);
    EXPECT_EQ(encoded.find_first_of("=+/"), std::string::npos);
    auto decoded = Base64UrlDecode(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(*decoded, bytes);
  }
}

TEST(Base64Url, KnownVectors) {
  // RFC 4648 §10 vectors, unpadded, and the two characters that differ from base64.
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(Base64UrlDecode("-_8"), std::string("\xfb\xff"));
  EXPECT_EQ(Base64UrlDecode(""), std::string());
}

TEST(Base64Url, RejectsPadding) {
  // '=' padding is not part of JWS base64url, in any position.
  EXPECT_FALSE(Base64UrlDecode("Zg=="));
  EXPECT_FALSE(Base64UrlDecode("Zm8="));
  EXPECT_FALSE(Base64UrlDecode("Zg="));
  EXPECT_FALSE(Base64UrlDecode("===="));
}

TEST(Base64Url, RejectsStandardAlphabet) {
  // '+' and '/' belong to base64, not base64url.
  EXPECT_FALSE(Base64UrlDecode("+_8"));
  EXPECT_FALSE(Base64UrlDecode("-/8"));
  EXPECT_FALSE(Base64UrlDecode("ab+/"));
}

TEST(Base64Url, RejectsWhitespaceAndControlBytes) {
  // Whitespace anywhere, and bytes outside ASCII, are errors rather than skipped.
  EXPECT_FALSE(Base64UrlDecode("Zm9v "));
  EXPECT_FALSE(Base64UrlDecode(" Zm9v"));
  EXPECT_FALSE(Base64UrlDecode("Zm\n9v"));
  EXPECT_FALSE(Base64UrlDecode("Zm9v\t"));
  EXPECT_FALSE(Base64UrlDecode(std::string_view("Zm9\0", 4)));
  EXPECT_FALSE(Base64UrlDecode("Zm9\xc3"));
  EXPECT_FALSE(Base64UrlDecode("Zm9."));
}

TEST(Base64Url, RejectsImpossibleLengths) {
  // A length of 4k+1 cannot come from any byte string.
  EXPECT_FALSE(Base64UrlDecodedSize(1));
  EXPECT_FALSE(Base64UrlDecodedSize(5));
  EXPECT_FALSE(Base64UrlDecode("Z"));
  EXPECT_FALSE(Base64UrlDecode("Zm9vY"));
  EXPECT_EQ(Base64UrlDecodedSize(2), 1u);
  EXPECT_EQ(Base64UrlDecodedSize(3), 2u);
  EXPECT_EQ(Base64UrlDecodedSize(8), 6u);
}

TEST(Base64Url, RejectsNonCanonicalTrailingBits) {
  // "Zg" is the only spelling of "f": "Zh".."Zv" set bits that no byte holds.
  EXPECT_TRUE(Base64UrlDecode("Zg"));
  EXPECT_FALSE(Base64UrlDecode("Zh"));
  EXPECT_FALSE(Base64UrlDecode("Zv"));
  EXPECT_TRUE(Base64UrlDecode("Zm8"));
  EXPECT_FALSE(Base64UrlDecode("Zm9"));  // "fo" with the last two bits set
  EXPECT_FALSE(Base64UrlDecode("Zm-"));
}

TEST(Base64Url, DecodeReusesTheOutputBuffer) {
  // The buffer form replaces old contents, so a long value never leaks into a short one.
  std::string out = "previous contents that are long";
  ASSERT_TRUE(Base64UrlDecode("Zm9v", out));
  EXPECT_EQ(out, "foo");
}

// A deliberately simple decoder to compare with: one bit at a time.
std::optional<std::string> ReferenceDecode(std::string_view in) {
  const std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string bits;
  for (char c : in) {
    const std::size_t v = alphabet.find(c);
    if (v == std::string_view::npos) return std::nullopt;
    for (int b = 5; b >= 0; --b) bits += ((v >> b) & 1) ? '1' : '0';
  }
  if (in.size() % 4 == 1) return std::nullopt;
  const std::size_t whole = bits.size() / 8 * 8;
  if (bits.find('1', whole) != std::string::npos) return std::nullopt;  // non-zero leftovers
  std::string out;
  for (std::size_t i = 0; i < whole; i += 8) {
    out += static_cast<char>(std::stoi(bits.substr(i, 8), nullptr, 2));
  }
  return out;
}

TEST(Base64Url, AgreesWithAReferenceDecoderOnRandomInput) {
  // Random strings over the alphabet plus a few invalid characters decode (or fail) exactly as
  // the bit-by-bit reference says.
  std::mt19937 rng(20260101);
  const std::string chars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .\xff";
  // Up to 200 characters: several 32-character blocks of the vector path, then its tail.
  std::uniform_int_distribution<std::size_t> length(0, 200), pick(0, chars.size() - 1),
      rare(0, 999);
  std::string out;
  for (int i = 0; i < 20000; ++i) {
    std::string in(length(rng), 'A');
    for (char& c : in) c = rare(rng) == 0 ? chars[pick(rng)] : chars[pick(rng) % 64];
    const std::optional<std::string> expected = ReferenceDecode(in);
    ASSERT_EQ(Base64UrlDecode(in, out), expected.has_value()) << in;
    if (expected) {
      ASSERT_EQ(out, *expected) << in;
    }
  }
}

TEST(Base64Url, EveryByteAtEveryPositionOfALongInput) {
  // Each of the 256 byte values in each position of a 102-character input (three vector blocks
  // and a scalar tail): accepted and decoded exactly when it is in the alphabet and leaves the
  // trailing bits canonical, as the reference decides.
  std::string in;
  for (int i = 0; i < 102; ++i) in += "QUJDRGVm-_09zZ"[i % 14];
  in.back() = 'w';  // its low four bits are zero: the unmodified input is canonical
  std::string out;
  ASSERT_TRUE(Base64UrlDecode(in, out));
  ASSERT_EQ(out, ReferenceDecode(in));
  std::size_t accepted = 0;
  for (std::size_t position = 0; position < in.size(); ++position) {
    for (int byte = 0; byte < 256; ++byte) {
      std::string variant = in;
      variant[position] = static_cast<char>(byte);
      const std::optional<std::string> expected = ReferenceDecode(variant);
      ASSERT_EQ(Base64UrlDecode(variant, out), expected.has_value())
          << "byte " << byte << " at " << position;
      if (expected) {
        ASSERT_EQ(out, *expected) << "byte " << byte << " at " << position;
        ++accepted;
      }
    }
  }
  // 64 characters in each position but the last, where only the 4 with low bits zero fit.
  EXPECT_EQ(accepted, 101u * 64 + 4);
}

}  // namespace
}  // namespace ciap::jose
