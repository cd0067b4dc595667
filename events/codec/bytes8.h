// Questions asked of eight bytes at once, read as one 64-bit word: a
// dozen instructions where eight table lookups took three times as many.
// Each answer is exact as to whether some byte of the word qualifies; the
// bits it sets are not a map of which (a borrow or carry may mark a byte
// beside one that truly qualifies, never when none does).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace ledger::codec::bytes8 {

inline constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
inline constexpr std::uint64_t kHigh = 0x8080808080808080ULL;

// Bytes [at, at + 8) of `s`, which must hold them.
inline std::uint64_t load(std::string_view s, std::size_t at) {
  std::uint64_t w = 0;
  std::memcpy(&w, s.data() + at, sizeof w);
  return w;
}

// `s` (fewer than eight bytes) with `pad` after it to fill the word.
inline std::uint64_t load_padded(std::string_view s, char pad) {
  std::uint64_t w = kOnes * static_cast<unsigned char>(pad);
  if (!s.empty()) std::memcpy(&w, s.data(), s.size());
  return w;
}

// Nonzero when some byte is below `n` (at most 0x80): subtracting borrows.
constexpr std::uint64_t any_below(std::uint64_t w, unsigned char n) { return (w - kOnes * n) & ~w & kHigh; }

// Nonzero when some byte is 0x80 or above.
constexpr std::uint64_t any_high(std::uint64_t w) { return w & kHigh; }

// Nonzero when some byte is `c`: that byte is zero after the XOR.
constexpr std::uint64_t any_equal(std::uint64_t w, char c) {
  return any_below(w ^ (kOnes * static_cast<unsigned char>(c)), 1);
}

// Calls `word_ok` on the words of `s`: whether it took them all. The last
// word is the last eight bytes, read again in part; a string shorter than
// a word is padded with `pad`, a byte word_ok takes. So word_ok answers
// for each byte alone, whatever the bytes beside it.
template <class WordOk>
bool all_words(std::string_view s, char pad, WordOk word_ok) {
  if (s.size() < 8) return word_ok(load_padded(s, pad));
  for (std::size_t i = 0; i + 8 < s.size(); i += 8) {
    if (!word_ok(load(s, i))) return false;
  }
  return word_ok(load(s, s.size() - 8));
}

}  // namespace ledger::codec::bytes8
