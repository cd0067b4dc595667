// The two readers of a decision body (adapters/http/routes/decision_input.h)
// held to each other: whenever the direct reader answers, the tree path
// (commands::parse_json_document + parse_decision_input) accepts the same
// body with the same input, the same application and the same text for the
// decision log; and it does answer for the plain bodies callers send, so
// the property cannot pass by the direct reader never answering. And the
// published contract held to them: the query service's OpenAPI schema of
// the body (DecisionInput) accepts exactly the bodies the API accepts.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "adapters/http/routes/decision_input.h"
#include "adapters/http/routes/openapi.h"
#include "commands/decode.h"
#include "domain/admission/decision.h"
#include "tests/support/decision_input_text.h"
#include "tests/unit/openapi_schema.h"

namespace ledger::routes {
namespace {

using testing::by_tree;
using testing::describe;
using testing::expect_agreement;
using testing::expect_random_agreement;
using testing::Field;
using testing::kJsonValues;
using testing::kWholeNumberEdges;
using testing::member;
using testing::object_body;
using testing::OpenApiSchema;
using testing::pick;
using testing::repeat;
using testing::shuffle;
using testing::TreeAnswer;
using testing::ws;

// The schema, with plain values for each field.
const std::vector<std::pair<const char*, std::vector<Field>>> kShape = {
    {"actor",
     {{"actor_type", {R"("user")", R"("worker")"}},
      {"actor_id", {R"("alice")"}},
      {"roles", {R"(["dev"])", "[]"}},
      {"scopes", {R"(["a","b"])"}}}},
    {"hierarchy",
     {{"organization_id", {R"("acme")"}}, {"department_id", {R"("research")", R"("")"}}, {"project_id", {R"("llm")"}}}},
    {"product",
     {{"product_id", {R"("gpu")"}},
      {"resource_type", {R"("vm")"}},
      {"resource_id", {R"("vm-1")"}},
      {"action", {R"("start")"}}}},
    {"request",
     {{"dimension", {R"("gpu.count")"}},
      {"requested_delta", {"0", "8", "9223372036854775807"}},
      {"unit", {R"("count")"}},
      {"region", {R"("eu")"}},
      {"sku_or_model", {R"("a100")"}}}},
    {"current_usage",
     {{"scope_window", {R"("hour")", R"("")", R"("request")"}}, {"quantity", {"3", "0"}}, {"unit", {R"("count")"}}}},
    {"application",
     {{"app_id", {R"("chat")"}}, {"model", {R"("gpt")"}}, {"size_bytes", {"10"}}, {"estimated_tokens", {"100"}}}},
};

// A body from rapidcheck's choices: each field present or not, a plain value
// or any value, an unknown or repeated key now and then, whitespace, order.
std::string random_body() {
  // Half the bodies are close to what callers send (the fields a decision
  // needs, plain values, a wrong one now and then); the rest anything.
  const bool clean = *rc::gen::arbitrary<bool>();
  const int odd_one = clean ? 200 : 5;  // 1 in n values is any value
  const int rare = clean ? 400 : 30;    // 1 in n fields twice, objects with an extra field
  const std::set<std::string> needed = {"organization_id", "project_id", "dimension", "app_id"};
  std::vector<std::string> members;
  for (const auto& [object, fields] : kShape) {
    const bool core = std::string(object) == "hierarchy" || std::string(object) == "request";
    if (!(clean && core) && pick(3) == 0) continue;
    std::vector<std::string> inner;
    for (const auto& f : fields) {
      if (!(clean && needed.contains(f.name)) && pick(4) == 0) continue;
      const bool plain = pick(odd_one) != 0;
      const std::string v = plain ? *rc::gen::elementOf(f.good) : *rc::gen::elementOf(kJsonValues);
      inner.push_back(member(f.name, v));
      if (pick(rare) == 0) inner.push_back("\"" + std::string(f.name) + "\":" + v);  // twice
    }
    if (pick(rare) == 0) inner.push_back(R"("extra":"x")");
    shuffle(inner);
    std::string obj = "{";
    for (std::size_t i = 0; i < inner.size(); ++i) obj += (i ? "," : "") + inner[i];
    obj += "}";
    if (pick(rare) == 0) obj = *rc::gen::elementOf(kJsonValues);  // not an object at all
    members.push_back("\"" + std::string(object) + "\":" + ws() + obj);
  }
  if (pick(3) == 0) {
    members.push_back(R"("registry_versions":)" +
                      *rc::gen::element(std::string(R"({"quota_dimension":"3"})"), std::string(R"({"scope":7})"),
                                        std::string(R"({"scope":-0})"), std::string(R"({"a":"1","a":"2"})"),
                                        std::string("{}"), std::string("null")));
  }
  if (pick(3) == 0) {
    members.push_back(R"("correlation_id":)" + *rc::gen::element(std::string(R"("c-1")"), std::string(R"("")"),
                                                                 std::string("7"), std::string("null")));
  }
  return object_body(std::move(members), rare);
}

TEST(DecisionInputReaders, TheDirectReaderAnswersOnlyAsTheTreePathDoes) {
  int both = 0, tree_only = 0;
  EXPECT_TRUE(rc::check([&] {
    for (int k = 0; k < 5; ++k) {  // five bodies a case: 500 a run
      const std::string body = random_body();
      const auto plain = read_plain_decision_input(body, "cid-header", /*with_logged=*/true);
      const TreeAnswer tree = by_tree(body, "cid-header");
      if (!plain) {
        tree_only += tree.accepted ? 1 : 0;
        continue;
      }
      ++both;
      RC_ASSERT(tree.accepted);
      RC_ASSERT(describe(plain->input) == tree.input);
      RC_ASSERT(plain->application == tree.application);
      RC_ASSERT(plain->logged == tree.logged);
    }
  }));
  // Both kinds were seen: the property compared real answers.
  EXPECT_GT(both, 50);
  EXPECT_GT(tree_only, 5);
  std::printf("direct and tree: %d, tree only: %d\n", both, tree_only);
}

// The query service's published schema of a decision body.
OpenApiSchema decision_input_schema() { return OpenApiSchema(ApiDocument::kQuery, "DecisionInput"); }

// The API's refusal of a body, or nullopt: the JSON parser reads it, the
// tree path reads it (known fields, exact types) and the decision's own
// checks pass (validate_decision_input: all are 400 before anything is
// looked up).
std::optional<std::string> api_refuses(const std::string& body) {
  auto doc = commands::parse_json_document(body);
  if (!doc) return doc.error().code + ": " + doc.error().message;
  std::optional<ApplicationCheck> application;
  auto in = parse_decision_input(*doc, "cid", application);
  if (!in) return in.error().code + ": " + in.error().message;
  if (auto ok = domain::validate_decision_input(*in); !ok) return ok.error().code + ": " + ok.error().message;
  return std::nullopt;
}

// On random bodies (the generator above: plain ones and ones with any value
// in any field), the schema and the API agree on every body that is JSON
// without a member twice; those two the schema cannot see (the JSON
// parser's 400 `malformed_json` and `duplicate_key`), and are counted apart.
// A string holding U+0000 is the parser's refusal too (`nul_character`),
// and the schema's (its strings' pattern).
TEST(DecisionInputSchema, AcceptsExactlyTheBodiesTheApiAccepts) {
  OpenApiSchema schema = decision_input_schema();
  // About 2.5 % of the bodies hold U+0000: a dozen in a run of 500.
  expect_random_agreement(schema, [] { return random_body(); }, api_refuses);
}

// The limits random bodies do not reach, at and past each bound: lengths
// in characters of two, three and four bytes, and integers at the edge of
// 64 bits.
TEST(DecisionInputSchema, AgreesWithTheApiAtEveryLimit) {
  OpenApiSchema schema = decision_input_schema();
  const std::string core = R"("hierarchy":{"organization_id":"acme","project_id":"llm"},"request":{"dimension":"d")";
  std::vector<std::pair<std::string, bool>> cases;  // body, accepted
  for (const auto& [app, model, ok] : {std::tuple{repeat("\u00e9", 128), std::string("m"), true},
                                       {repeat("\u00e9", 129), "m", false},
                                       {"a/b", "m", false},
                                       {"", "m", false},
                                       {"chat", repeat("\u4e2d", 256), true},
                                       {"chat", repeat("\u4e2d", 257), false},
                                       {"chat", repeat("\U0001F600", 256), true},
                                       {"chat", repeat("\U0001F600", 257), false}}) {
    cases.emplace_back("{" + core + R"(},"application":{"app_id":")" + app + R"(","model":")" + model + R"("}})", ok);
  }
  for (const auto& [n, ok] : kWholeNumberEdges) {
    cases.emplace_back("{" + core + R"(,"requested_delta":)" + n + "}}", ok);
    cases.emplace_back("{" + core + R"(},"current_usage":{"quantity":)" + n + "}}", ok);
    cases.emplace_back("{" + core + R"(},"application":{"app_id":"a","size_bytes":)" + n + "}}", ok);
    cases.emplace_back("{" + core + R"(},"registry_versions":{"scope":)" + n + "}}", ok);
  }
  expect_agreement(schema, cases, api_refuses);
}

// A batch body ({"decisions": [...]}) read directly answers exactly when the
// tree path would read every one of its inputs, each as the tree path does.
TEST(DecisionInputReaders, ABatchIsReadDirectlyOnlyWhenEveryInputIsPlain) {
  int direct = 0, tree_only = 0;
  EXPECT_TRUE(rc::check([&] {
    const int n = pick(4);
    std::vector<std::string> bodies;
    for (int k = 0; k < n; ++k) bodies.push_back(random_body());
    std::string body = R"({"decisions":[)";
    for (int k = 0; k < n; ++k) body += (k ? "," : "") + bodies[static_cast<std::size_t>(k)];
    body += "]}";
    const auto plain = read_plain_decision_batch(body, "cid-header", /*with_logged=*/true, /*max_items=*/3);
    // The tree path: the whole body parses, and each input is accepted.
    bool all = commands::parse_json_document(body).has_value() && n <= 3;
    std::vector<TreeAnswer> trees;
    for (const auto& b : bodies) {
      trees.push_back(by_tree(b, "cid-header"));
      all = all && trees.back().accepted;
    }
    if (!plain) {
      tree_only += all ? 1 : 0;
      return;
    }
    ++direct;
    RC_ASSERT(all);
    RC_ASSERT(plain->size() == bodies.size());
    for (std::size_t k = 0; k < bodies.size(); ++k) {
      RC_ASSERT(describe((*plain)[k].input) == trees[k].input);
      RC_ASSERT((*plain)[k].application == trees[k].application);
      RC_ASSERT((*plain)[k].logged == trees[k].logged);
    }
  }));
  EXPECT_GT(direct, 5);
  std::printf("batches read directly: %d, tree only: %d\n", direct, tree_only);
  // The envelope itself: one member named decisions, an array, no more
  // inputs than allowed.
  const std::string one = R"({"hierarchy":{"organization_id":"acme","project_id":"llm"},"request":{"dimension":"d"}})";
  EXPECT_TRUE(read_plain_decision_batch(R"({"decisions":[]})", "", false, 3).has_value());
  EXPECT_EQ(read_plain_decision_batch(R"({"decisions":[)" + one + "," + one + "]}", "", false, 3)->size(), 2U);
  for (const std::string& body :
       {R"({"decisions":[)" + one + "," + one + "]}" + "x", R"({"decisions":[)" + one + "],\"decisions\":[]}",
        R"({"decisions":[)" + one + R"(],"extra":1})", R"({"decision":[)" + one + "]}", R"({"decisions":)" + one + "}",
        std::string(R"({"decisions":null})"), std::string("[]")}) {
    SCOPED_TRACE(body);
    EXPECT_FALSE(read_plain_decision_batch(body, "", false, 3).has_value());
  }
  EXPECT_FALSE(read_plain_decision_batch(R"({"decisions":[)" + one + "," + one + "]}", "", false, 1).has_value());
}

// A body as the clients and the benchmark send it: answered directly, with
// the log text of the tree path.
TEST(DecisionInputReaders, APlainBodyIsReadDirectly) {
  const std::string body = R"({"actor":{"actor_id":"alice","actor_type":"user","roles":["dev"]},)"
                           R"("hierarchy":{"organization_id":"acme","project_id":"llm"},)"
                           R"("request":{"dimension":"gpu.count","requested_delta":8},)"
                           R"("current_usage":{"quantity":3,"scope_window":"hour"},"correlation_id":"c-9",)"
                           R"("application":{"app_id":"chat","model":"gpt"}})";
  const auto plain = read_plain_decision_input(body, "cid-header", true);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->input.hierarchy.project_id, "llm");
  EXPECT_EQ(plain->input.request.requested_delta, 8);
  EXPECT_EQ(plain->input.current_usage.quantity, 3);
  EXPECT_EQ(plain->input.actor.roles, std::vector<std::string>{"dev"});
  EXPECT_EQ(plain->input.correlation_id, "c-9");
  ASSERT_TRUE(plain->application.has_value());
  EXPECT_EQ(plain->application->app_id, "chat");
  const TreeAnswer tree = by_tree(body, "cid-header");
  ASSERT_TRUE(tree.accepted);
  EXPECT_EQ(plain->logged, tree.logged);
  EXPECT_EQ(describe(plain->input), tree.input);
  // Without the log, no text is written.
  EXPECT_TRUE(read_plain_decision_input(body, "", false)->logged.empty());
  // The header's correlation id stands in for a missing one.
  const auto no_cid = read_plain_decision_input(
      R"({"hierarchy":{"organization_id":"acme","project_id":"llm"},"request":{"dimension":"gpu.count"}})",
      "cid-header", false);
  ASSERT_TRUE(no_cid.has_value());
  EXPECT_EQ(no_cid->input.correlation_id, "cid-header");
}

// Past what the log text's writer holds on the stack or reserves ahead: an
// object of more members than it sorts in place (registry_versions, given
// in reverse, up to the twenty thousand a body of a few hundred kilobytes
// can hold), strings of kilobytes and the largest whole number. The text
// is still the tree's.
TEST(DecisionInputReaders, ALargeBodyIsLoggedAsTheTreeDumpsIt) {
  for (const std::size_t versions : {15, 16, 17, 40, 20000}) {
    std::string registry;
    for (std::size_t k = versions; k > 0; --k) {
      registry +=
          (k == versions ? "" : ",") + ("\"kind-" + std::to_string(1000 + k) + "\":\"" + std::to_string(k) + "\"");
    }
    std::string roles;
    for (std::size_t k = 0; k < 6; ++k) roles += (k ? ",\"" : "\"") + std::string(700 + k, char('a' + k)) + "\"";
    const std::string body = R"({"request":{"requested_delta":9223372036854775807,"dimension":"gpu.count"},)"
                             R"("registry_versions":{)" +
                             registry + R"(},"actor":{"roles":[)" + roles +
                             R"(],"actor_id":"alice"},"hierarchy":{"project_id":"llm","organization_id":"acme"}})";
    SCOPED_TRACE(versions);
    const auto plain = read_plain_decision_input(body, "cid-header", true);
    ASSERT_TRUE(plain.has_value());
    EXPECT_EQ(plain->input.registry_versions.size(), versions);
    const TreeAnswer tree = by_tree(body, "cid-header");
    ASSERT_TRUE(tree.accepted);
    EXPECT_EQ(plain->logged, tree.logged);
    EXPECT_GT(plain->logged.size(), 4200u);
  }
}

// What the direct reader leaves to the tree path, each for its own reason.
TEST(DecisionInputReaders, AnythingButThePlainShapeGoesToTheTreePath) {
  const std::string core = R"("hierarchy":{"organization_id":"acme","project_id":"llm"},"request":{"dimension":"d")";
  for (const std::string& body : {
           "{" + core + R"(}})",                                        // control: plain
           "{" + core + R"(,"requested_delta":-1}})",                   // refused by the rules
           "{" + core + R"(,"requested_delta":1.0}})",                  // a float
           "{" + core + R"(,"requested_delta":9223372036854775808}})",  // beyond int64
           "{" + core + R"(,"region":null}})",                          // a null (logged as such)
           "{" + core + R"(,"region":"\u00e9"}})",                      // an escape
           "{" + core + "},\"correlation_id\":\"caf\xc3\xa9\"}",        // a byte outside ASCII
           "{" + core + R"(,"dimension":"e"}})",                        // a key twice
           "{" + core + R"(},"extra":1})",                              // an unknown field
           "{" + core + R"(},"registry_versions":{"scope":7}})",        // a number the tree reader weighs
           "{" + core + R"(},"application":{"app_id":""}})",            // an application the API refuses
           "{" + core + R"(}} trailing)",                               // not JSON
       }) {
    SCOPED_TRACE(body);
    const bool direct = read_plain_decision_input(body, "", true).has_value();
    EXPECT_EQ(direct, body == "{" + core + R"(}})");
  }
}

// The direct reader's byte check reads a body eight bytes at a time: each
// byte value, at every place a word may hold it, inside a string (the
// correlation id) and between members, decides alone. In a string, only
// printable ASCII but the quote and the backslash is plain (0x7f
// included); control bytes there are not JSON, and an escape is read by
// the tree path. Between members, JSON's
// whitespace is plain too.
TEST(DecisionInputReaders, EachByteAnywhereInTheBodyDecidesAsItShould) {
  const std::string core = R"("hierarchy":{"organization_id":"acme","project_id":"llm"},"request":{"dimension":"d"})";
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool in_string = b >= 0x20 && b <= 0x7f && c != '"' && c != '\\';
    const bool between = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    for (std::size_t before = 0; before < 9; ++before) {
      std::string id(before, 'x');
      id += c;
      if (c == '\\') id += 'n';  // a valid escape: the tree path's to read
      id += std::string(8 - before, 'y');
      const std::string quoted = "{" + core + R"(,"correlation_id":")" + id + "\"}";
      EXPECT_EQ(read_plain_decision_input(quoted, "", true).has_value(), in_string) << "byte " << b << " at " << before;
      const std::string spaced = "{" + core + std::string(before, ' ') + c + R"(,"correlation_id":"c"})";
      EXPECT_EQ(read_plain_decision_input(spaced, "", true).has_value(), between)
          << "byte " << b << " after " << before;
    }
  }
}

// An application's limits count characters, as the API's schema does
// (maxLength), not bytes.
TEST(DecisionInputReaders, AnApplicationsLimitsCountCharacters) {
  const std::string core = R"("hierarchy":{"organization_id":"acme","project_id":"llm"},"request":{"dimension":"d")";
  struct Case {
    std::string app_id;
    std::string model;
    bool accepted;
  };
  for (const Case& c : {Case{repeat("\u00e9", 128), "m", true}, Case{repeat("\u00e9", 129), "m", false},
                        Case{"chat", repeat("\u4e2d", 256), true}, Case{"chat", repeat("\u4e2d", 257), false},
                        Case{"chat", repeat("\U0001F600", 256), true}}) {
    const std::string body =
        "{" + core + R"(},"application":{"app_id":")" + c.app_id + R"(","model":")" + c.model + R"("}})";
    SCOPED_TRACE(body.substr(0, 120));
    EXPECT_EQ(by_tree(body, "").accepted, c.accepted);
  }
}

}  // namespace
}  // namespace ledger::routes
