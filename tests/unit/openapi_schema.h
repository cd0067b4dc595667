// The query service's published schemas of request bodies held to the API
// (tests/unit/decision_input_test.cc, tests/unit/request_schemas_test.cc):
// one schema of its OpenAPI document compiled by valijson, the two verdicts
// on a body compared, and what the random bodies are made of. Test code only.
#pragma once

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <cstddef>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "adapters/http/routes/openapi.h"
#include "commands/decode.h"

namespace ledger::testing {

// Values of every JSON kind, the awkward ones included: what a field
// wants, what it does not, and what two parsers could read apart.
inline const std::vector<std::string> kJsonValues = {R"("")",
                                                     R"("acme")",
                                                     R"("p1")",
                                                     R"("gpu.count")",
                                                     R"("a b/c")",
                                                     "\"caf\xc3\xa9\"",
                                                     R"("x\"y")",
                                                     R"("\u0000")",
                                                     R"("\u00e9")",
                                                     R"("hour")",
                                                     R"("request")",
                                                     "0",
                                                     "-0",
                                                     "5",
                                                     "-1",
                                                     "1.0",
                                                     "1e2",
                                                     "9223372036854775807",
                                                     "9223372036854775808",
                                                     "18446744073709551616",
                                                     "null",
                                                     "true",
                                                     "[]",
                                                     R"(["a","b"])",
                                                     R"([1])",
                                                     "{}",
                                                     R"({"a":"1"})",
                                                     R"({"a":1})",
                                                     R"({"a":"1","b":"2"})"};

// A field of a body, with plain values it takes.
struct Field {
  const char* name;
  std::vector<std::string> good;
};

// `c` written `n` times (lengths in characters of several bytes).
inline std::string repeat(std::string_view c, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += c;
  return s;
}

// 0..n-1, uniform at every test size (rapidcheck scales inRange with the
// size, which would make the rare choices common in the first tests).
inline int pick(int n) { return *rc::gen::resize(rc::kNominalSize, rc::gen::inRange(0, n)); }

// Fisher-Yates with rapidcheck's choices (so a failure shrinks and replays).
inline void shuffle(std::vector<std::string>& v) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[*rc::gen::inRange<std::size_t>(0, i)]);
}

// Strings of each width (characters of one to four bytes) at `limit`
// characters, taken, and one past it, refused: (character, count, taken).
inline std::vector<std::tuple<std::string, std::size_t, bool>> widths_at(std::size_t limit) {
  std::vector<std::tuple<std::string, std::size_t, bool>> out;
  for (const char* c : {"a", "\u00e9", "\u4e2d", "\U0001F600"}) {
    out.emplace_back(c, limit, true);
    out.emplace_back(c, limit + 1, false);
  }
  return out;
}

// Numbers at and past the edges of a whole number from 0 to 2^63-1, each
// with whether such a field takes it.
inline const std::vector<std::pair<std::string, bool>> kWholeNumberEdges = {{"9223372036854775807", true},
                                                                            {"9223372036854775808", false},
                                                                            {"0", true},
                                                                            {"-0", true},
                                                                            {"-1", false},
                                                                            {"1.0", false},
                                                                            {"1e2", false}};

// JSON whitespace, none or some.
inline std::string ws() { return *rc::gen::element(std::string(""), std::string(" "), std::string("\n\t ")); }

// `f` as a member holding `v`, with whitespace around its colon.
inline std::string member(const char* f, const std::string& v) {
  return ws() + "\"" + f + "\"" + ws() + ":" + ws() + v;
}

// `members` as a body: shuffled, whitespace between, and now and then (1
// in `rare`) an unknown member and trailing text.
inline std::string object_body(std::vector<std::string> members, int rare) {
  if (pick(rare) == 0) members.push_back(R"("unknown":1)");
  shuffle(members);
  std::string body = ws() + "{";
  for (std::size_t i = 0; i < members.size(); ++i) body += (i ? "," : "") + ws() + members[i];
  body += ws() + "}" + ws();
  if (pick(rare) == 0) body += "x";  // trailing garbage
  return body;
}

// One schema of a service's OpenAPI document (components/schemas/<name>,
// references resolved in the same document), compiled by valijson as
// draft 7.
class OpenApiSchema {
 public:
  OpenApiSchema(routes::ApiDocument which, const std::string& name) {
    const auto doc = nlohmann::json::parse(routes::openapi_document(which));
    root_ = {{"$ref", "#/components/schemas/" + name}, {"components", doc.at("components")}};
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(root_);
    parser.populateSchema(adapter, schema_);
  }
  // Why the schema refuses `body`, or nullopt.
  std::optional<std::string> refuses(const nlohmann::json& body) {
    valijson::ValidationResults results;
    valijson::adapters::NlohmannJsonAdapter target(body);
    if (validator_.validate(schema_, target, &results)) return std::nullopt;
    valijson::ValidationResults::Error e;
    std::string why;
    while (results.popError(e)) {
      for (const auto& c : e.context) why += c;
      why += ": " + e.description + "; ";
    }
    return why;
  }

 private:
  nlohmann::json root_;
  valijson::Schema schema_;
  valijson::Validator validator_;
};

// What the bodies of a run came to.
struct Tally {
  int accepted = 0;  // by both
  int refused = 0;   // by both, U+0000 apart
  int nul = 0;       // a string holding U+0000: the parser's 400 `nul_character`, the schema's patterns
  int not_json = 0;  // malformed, or a member twice: the parser's 400, which the schema cannot see
  std::string text() const {
    return "schema and API: " + std::to_string(accepted) + " accepted, " + std::to_string(refused + nul) +
           " refused alike (" + std::to_string(nul) + " holding U+0000); " + std::to_string(not_json) +
           " not JSON to the parser";
  }
};

// Inside a rapidcheck property: the schema refuses `body` exactly when the
// API does. `api_refuses(body)` is the API's 400 for the body text, or
// nullopt. A body the JSON parser refuses must be refused by the API too;
// the schema sees only bodies that are JSON without a member twice.
template <class ApiRefuses>
void hold_to_api(OpenApiSchema& schema, const std::string& body, const ApiRefuses& api_refuses, Tally& tally) {
  const auto api = api_refuses(body);
  auto doc = commands::parse_json_document(body);
  if (!doc && doc.error().code == "nul_character") {
    const auto raw = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    RC_ASSERT(!raw.is_discarded());
    RC_ASSERT(api.has_value());
    RC_ASSERT(schema.refuses(raw).has_value());
    ++tally.nul;
    return;
  }
  if (!doc) {
    RC_ASSERT(api.has_value());
    ++tally.not_json;
    return;
  }
  const auto why = schema.refuses(*doc);
  (api ? tally.refused : tally.accepted) += 1;
  if (api.has_value() != why.has_value()) {
    RC_FAIL(doc->dump() + "\n  API: " + api.value_or("accepts") + "\n  schema: " + why.value_or("accepts"));
  }
}

// Bodies at and past each limit, each with the verdict both must give
// (true: accepted). Each is JSON without a member twice; a string in it
// may hold U+0000 (refused by the parser, and by the schema's patterns).
template <class ApiRefuses>
void expect_agreement(OpenApiSchema& schema, const std::vector<std::pair<std::string, bool>>& cases,
                      const ApiRefuses& api_refuses) {
  for (const auto& [body, ok] : cases) {
    SCOPED_TRACE(body.substr(0, 160));
    auto doc = commands::parse_json_document(body);
    ASSERT_TRUE(doc.has_value() || doc.error().code == "nul_character") << doc.error().code;
    const auto raw = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(raw.is_discarded());
    const auto api = api_refuses(body);
    const auto why = schema.refuses(raw);
    EXPECT_EQ(!api.has_value(), ok) << api.value_or("accepts");
    EXPECT_EQ(!why.has_value(), ok) << why.value_or("accepts");
  }
}

// Inside a test: rapidcheck's hundred cases of five bodies from `body()`,
// each held to the API (hold_to_api); then enough of them accepted and
// refused alike, and one holding U+0000 at least.
template <class Body, class ApiRefuses>
void expect_random_agreement(OpenApiSchema& schema, const Body& body, const ApiRefuses& api_refuses) {
  Tally tally;
  EXPECT_TRUE(rc::check([&] {
    for (int k = 0; k < 5; ++k) hold_to_api(schema, body(), api_refuses, tally);  // 500 a run
  }));
  EXPECT_GT(tally.accepted, 50);
  EXPECT_GT(tally.refused, 50);
  EXPECT_GT(tally.nul, 0);
  std::printf("%s\n", tally.text().c_str());
}

}  // namespace ledger::testing
