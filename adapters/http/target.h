// Pure helpers for request targets and URL components, shared by the HTTP
// server (decoding) and client (encoding). No I/O; unit-tested directly.
//
//   auto t = parse_target("/a%20b?x=1&y=two+words");
//   // t.path == "/a b", t.query == {{"x","1"},{"y","two words"}}
//   url_encode("a b/c") == "a%20b%2Fc"
//
// Stateless free functions, safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ledger::adapters::http {

struct ParsedTarget {
  std::string path;                                        // percent-decoded, without query or fragment
  std::vector<std::pair<std::string, std::string>> query;  // decoded, '+' = space
};

// Decodes %XX sequences; a '%' not followed by two hex digits is kept as is.
// With plus_as_space (query components), '+' decodes to ' '.
std::string percent_decode(std::string_view in, bool plus_as_space);

// Splits a request target at '?' (and drops any '#fragment'), decodes the
// path and the '&'-separated query pairs. Empty pairs ("a=1&&b=2") are
// skipped; a key without '=' gets an empty value.
ParsedTarget parse_target(std::string_view target);

// Percent-encodes every byte except the unreserved set A-Z a-z 0-9 - . _ ~
// (RFC 3986), so the result is safe as a path segment or a query key/value.
std::string url_encode(std::string_view in);

}  // namespace ledger::adapters::http
