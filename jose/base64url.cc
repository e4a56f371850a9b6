// Strict base64url decoding and encoding; see base64url.h.
#include "jose/base64url.h"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CIAP_BASE64_AVX2 1
#endif

namespace ciap::jose {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr uint8_t kInvalid = 0xff;

// Sextet value of each byte, or kInvalid.
constexpr std::array<uint8_t, 256> kDecodeTable = [] {
  std::array<uint8_t, 256> table{};
  table.fill(kInvalid);
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<uint8_t>(kAlphabet[i])] = static_cast<uint8_t>(i);
  }
  return table;
}();

uint8_t Sextet(char c) { return kDecodeTable[static_cast<uint8_t>(c)]; }

// The hot loop decodes four characters with four lookups ORed together: table k holds each
// character's sextet already shifted to where it lands in the three output bytes, laid out as a
// little-endian word (byte 0 first). An invalid character sets bit 24 and up, which no valid
// combination reaches, so validity is one test for the whole input. This is about twice as fast
// as shifting sextets together per quad, and base64url is the largest cost of a token after the
// signature and JSON.
constexpr uint32_t kBadBits = 0xff000000;

constexpr std::array<uint32_t, 256> ShiftedTable(int position) {
  std::array<uint32_t, 256> table{};
  for (std::size_t c = 0; c < 256; ++c) {
    const uint32_t v = kDecodeTable[c];
    if (v == kInvalid) {
      table[c] = kBadBits;
      continue;
    }
    switch (position) {
      case 0:  // bits 7..2 of byte 0
        table[c] = v << 2;
        break;
      case 1:  // bits 1..0 of byte 0, bits 7..4 of byte 1
        table[c] = (v >> 4) | ((v & 0x0f) << 12);
        break;
      case 2:  // bits 3..0 of byte 1, bits 7..6 of byte 2
        table[c] = ((v >> 2) << 8) | ((v & 0x03) << 22);
        break;
      default:  // bits 5..0 of byte 2
        table[c] = v << 16;
        break;
    }
  }
  return table;
}

constexpr std::array<uint32_t, 256> kShifted0 = ShiftedTable(0);
constexpr std::array<uint32_t, 256> kShifted1 = ShiftedTable(1);
constexpr std::array<uint32_t, 256> kShifted2 = ShiftedTable(2);
constexpr std::array<uint32_t, 256> kShifted3 = ShiftedTable(3);

uint32_t DecodeQuad(const char* src) {
  return kShifted0[static_cast<uint8_t>(src[0])] | kShifted1[static_cast<uint8_t>(src[1])] |
         kShifted2[static_cast<uint8_t>(src[2])] | kShifted3[static_cast<uint8_t>(src[3])];
}

#ifdef CIAP_BASE64_AVX2
// All-ones in the bytes of `c` within [lo, hi]; both bounds are ASCII, so negative bytes fail.
__attribute__((target("avx2"))) __m256i InRange(__m256i c, char lo, char hi) {
  return _mm256_and_si256(_mm256_cmpgt_epi8(c, _mm256_set1_epi8(static_cast<char>(lo - 1))),
                          _mm256_cmpgt_epi8(_mm256_set1_epi8(static_cast<char>(hi + 1)), c));
}

// 32 characters to 24 bytes per step with AVX2, for CPUs that have it (checked once, at run time;
// the build targets baseline x86-64). Classification is by plain range compares, one per part of
// the alphabet, rather than the nibble-table tricks of published SIMD decoders: five ranges are
// few, and each line can be checked against the alphabet by eye. A byte in no range (anything
// else, including every byte >= 0x80, which compares negative) marks the block invalid.
// Returns how many characters were consumed (a multiple of 32), or nullopt if any of them is
// outside the alphabet; writes 24 bytes per block, plus 8 scratch bytes after the last block
// that the caller's buffer must have room for.
__attribute__((target("avx2"))) std::optional<std::size_t> DecodeBlocksAvx2(const char* src,
                                                                            std::size_t size,
                                                                            unsigned char* dst) {
  // Within each 128-bit lane: the three meaningful bytes of each 32-bit word, most significant
  // first; the lane's last four bytes are don't-care. Then the two lanes' 12 bytes are joined.
  const __m256i pack_bytes =
      _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2, 1, 0, 6, 5, 4, 10,
                       9, 8, 14, 13, 12, -1, -1, -1, -1);
  const __m256i join_lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);
  __m256i invalid = _mm256_setzero_si256();
  std::size_t done = 0;
  for (; size - done >= 32; done += 32, dst += 24) {
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + done));
    const __m256i upper = InRange(c, 'A', 'Z');                              // 0..25
    const __m256i lower = InRange(c, 'a', 'z');                              // 26..51
    const __m256i digit = InRange(c, '0', '9');                              // 52..61
    const __m256i dash = _mm256_cmpeq_epi8(c, _mm256_set1_epi8('-'));        // 62
    const __m256i underscore = _mm256_cmpeq_epi8(c, _mm256_set1_epi8('_'));  // 63
    const __m256i valid = _mm256_or_si256(
        _mm256_or_si256(upper, lower), _mm256_or_si256(digit, _mm256_or_si256(dash, underscore)));
    invalid = _mm256_or_si256(invalid, _mm256_xor_si256(valid, _mm256_set1_epi8(-1)));
    // Each character plus the offset of its range; the ranges are disjoint, so at most one
    // offset is selected, and ORing the constants 62 and 63 gives their sextets directly.
    __m256i sextets = _mm256_or_si256(
        _mm256_or_si256(_mm256_and_si256(upper, _mm256_sub_epi8(c, _mm256_set1_epi8('A'))),
                        _mm256_and_si256(lower, _mm256_sub_epi8(c, _mm256_set1_epi8('a' - 26)))),
        _mm256_or_si256(_mm256_and_si256(digit, _mm256_add_epi8(c, _mm256_set1_epi8(52 - '0'))),
                        _mm256_or_si256(_mm256_and_si256(dash, _mm256_set1_epi8(62)),
                                        _mm256_and_si256(underscore, _mm256_set1_epi8(63)))));
    // Sextets a b c d (one byte each) -> 16-bit (a << 6 | b), (c << 6 | d) -> 32-bit 24 bits.
    const __m256i pairs = _mm256_maddubs_epi16(sextets, _mm256_set1_epi32(0x01400140));
    const __m256i words = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x00011000));
    const __m256i packed =
        _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(words, pack_bytes), join_lanes);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), packed);
  }
  if (!_mm256_testz_si256(invalid, invalid)) return std::nullopt;
  return done;
}

bool HasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
#endif

}  // namespace

std::optional<std::size_t> Base64UrlDecodedSize(std::size_t encoded_length) {
  switch (encoded_length % 4) {
    case 0:
      return encoded_length / 4 * 3;
    case 2:
      return encoded_length / 4 * 3 + 1;
    case 3:
      return encoded_length / 4 * 3 + 2;
    default:
      return std::nullopt;
  }
}

bool Base64UrlDecode(std::string_view in, std::string& out) {
  const std::optional<std::size_t> size = Base64UrlDecodedSize(in.size());
  if (!size) return false;
  // resize_and_overwrite would skip zero-filling, but the copy is cheap next to everything
  // else a token costs and resize() keeps this readable.
  // Spare bytes let every full quad be stored as a 4-byte word, and every 32-character block
  // as 32 bytes; they are cut off below.
  out.resize(*size + 8);
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  const char* src = in.data();
  std::size_t full_quads = in.size() / 4;
  uint32_t seen = 0;
#ifdef CIAP_BASE64_AVX2
  if (HasAvx2()) {
    const std::optional<std::size_t> consumed = DecodeBlocksAvx2(src, in.size(), dst);
    if (!consumed) return false;
    src += *consumed;
    dst += *consumed / 4 * 3;
    full_quads -= *consumed / 4;
  }
#endif
  for (std::size_t q = 0; q < full_quads; ++q, src += 4, dst += 3) {
    uint32_t word = DecodeQuad(src);
    seen |= word;
    if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap32(word);
    std::memcpy(dst, &word, 4);
  }
  out.resize(*size);
  if (seen & kBadBits) return false;
  switch (in.size() % 4) {
    case 2: {
      const uint8_t a = Sextet(src[0]), b = Sextet(src[1]);
      // Two characters carry 12 bits for one byte: the low 4 bits of `b` must be zero, or a
      // second spelling of the same byte would be accepted.
      if (((a | b) & 0xc0) || (b & 0x0f)) return false;
      dst[0] = static_cast<unsigned char>((a << 2) | (b >> 4));
      break;
    }
    case 3: {
      const uint8_t a = Sextet(src[0]), b = Sextet(src[1]), c = Sextet(src[2]);
      if (((a | b | c) & 0xc0) || (c & 0x03)) return false;  // 18 bits for 2 bytes
      const uint32_t bits = (uint32_t{a} << 12) | (uint32_t{b} << 6) | c;
      dst[0] = static_cast<unsigned char>(bits >> 10);
      dst[1] = static_cast<unsigned char>(bits >> 2);
      break;
    }
    default:
      break;
  }
  return true;
}

std::optional<std::string> Base64UrlDecode(std::string_view in) {
  std::string out;
  if (!Base64UrlDecode(in, out)) return std::nullopt;
  return out;
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t bits = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out += kAlphabet[(bits >> 18) & 63];
    out += kAlphabet[(bits >> 12) & 63];
    out += kAlphabet[(bits >> 6) & 63];
    out += kAlphabet[bits & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const uint32_t bits = uint32_t{p[i]} << 16;
    out += kAlphabet[(bits >> 18) & 63];
    out += kAlphabet[(bits >> 12) & 63];
  } else if (rest == 2) {
    const uint32_t bits = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8);
    out += kAlphabet[(bits >> 18) & 63];
    out += kAlphabet[(bits >> 12) & 63];
    out += kAlphabet[(bits >> 6) & 63];
  }
  return out;
}

}  // namespace ciap::jose
