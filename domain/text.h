// Lengths of text as the published schemas count them: a JSON Schema's
// maxLength counts characters (Unicode code points), not bytes, so every
// limit a decoder states in characters is checked with code_points().
// Pure; the text is valid UTF-8 (the body decoders refuse anything else
// before a field is read), and for other bytes it counts lead bytes.
#pragma once

#include <cstddef>
#include <string_view>

namespace ledger::domain {

// The number of code points of UTF-8 text: its bytes that are not
// continuation bytes (10xxxxxx).
constexpr std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0u) != 0x80u;
  return n;
}

// The longest prefix of `s` of at most `n` code points: cut between
// characters, never inside one.
constexpr std::string_view first_code_points(std::string_view s, std::size_t n) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0u) == 0x80u) continue;
    if (seen == n) return s.substr(0, i);
    ++seen;
  }
  return s;
}

}  // namespace ledger::domain
