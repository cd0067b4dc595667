// The JSON Schemas of the events (events/schemas/, draft 7; issue 17): one per
// event type and version for the payload, one for the envelope as published
// on `ledger.events`, shared shapes in common.json.
//  - the files cover exactly the (type, version) pairs the codec decodes, and
//    each says what it is ($schema, $id, title, description);
//  - every golden payload (tests/golden/) validates, and so does its envelope;
//  - the schemas constrain: on every golden, a missing required field, an
//    unknown field and a top-level string turned number fail, and no single
//    change the schema still accepts is refused by the codec (a schema looser
//    than the codec is caught); the rules the writers keep beyond the codec
//    are stated too; a deliberately lax copy shows these checks fail;
//  - a property: every event the codec encodes, of every type with random
//    contents and a random envelope, validates.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "events/codec/chain.h"
#include "events/codec/json_codec.h"
#include "tests/support/event_schema_check.h"
#include "tests/support/utf8.h"

namespace ledger {
namespace {

namespace gen = rc::gen;
using Json = nlohmann::json;
using testing::EventSchemas;
using testing::EventVersion;

constexpr const char* kIdBase = "https://policy-ledger.dev/schemas/events/";

EventSchemas& schemas() {
  static EventSchemas s;  // read and compiled once for the whole binary
  return s;
}

Json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  EXPECT_TRUE(in.good()) << p;
  return in.good() ? Json::parse(in) : Json();
}

// tests/golden/<Type>.v<N>.json by (type, version).
std::map<EventVersion, Json> goldens() {
  static const std::regex kName(R"(^([A-Za-z0-9]+)\.v([0-9]+)\.json$)");
  std::map<EventVersion, Json> out;
  for (const auto& e : std::filesystem::directory_iterator(std::string(LEDGER_SOURCE_DIR) + "/tests/golden")) {
    const std::string name = e.path().filename().string();
    std::smatch m;
    if (std::regex_match(name, m, kName)) out[{m[1].str(), std::stoi(m[2].str())}] = read_json(e.path());
  }
  return out;
}

std::set<std::string> strings_of(const Json& array) {
  std::set<std::string> out;
  if (array.is_array()) {
    for (const auto& x : array) out.insert(x.is_string() ? x.get<std::string>() : x.dump());
  }
  return out;
}

// ------------------------------------------------------------ mutations

struct Mutation {
  std::string what;  // e.g. "remove reason of /", "make a number of /scope/level"
  Json::json_pointer path;
  std::function<void(Json&)> edit;  // of the value at `path`
  bool must_fail;                   // the schema must refuse it, whatever the codec says

  Json apply(const Json& root) const {
    Json copy = root;
    edit(copy[path]);
    return copy;
  }
};

// Every single change of `root`: each member removed, an unknown member added
// to each object, each object made an array and each array an object, a
// number appended to each array, each string made a number and another text,
// each integer a string and a fraction, each boolean a string, each value
// null. The schema must refuse a top-level member removed that `required`
// names, an unknown top-level member and a top-level string made a number.
void mutate(const Json& root, const Json::json_pointer& path, const std::set<std::string>& required,
            std::vector<Mutation>& out) {
  const Json& node = root[path];
  const bool top = path.empty();
  const bool top_member = !top && path.parent_pointer().empty();
  auto change = [&](const std::string& what, bool must_fail, std::function<void(Json&)> edit) {
    out.push_back({what + " " + (top ? "/" : path.to_string()), path, std::move(edit), must_fail});
  };
  if (node.is_object()) {
    for (const auto& [key, _] : node.items()) {
      change("remove " + key + " of", top && required.contains(key), [key](Json& j) { j.erase(key); });
    }
    change("add an unknown member to", top, [](Json& j) { j["unexpected_field"] = "x"; });
    if (!top) change("make an array of", false, [](Json& j) { j = Json::array(); });
    for (const auto& [key, _] : node.items()) mutate(root, path / key, required, out);
  } else if (node.is_array()) {
    change("append a number to", false, [](Json& j) { j.push_back(7); });
    change("make an object of", false, [](Json& j) { j = Json::object(); });
    for (std::size_t i = 0; i < node.size(); ++i) mutate(root, path / i, required, out);
  } else if (node.is_string()) {
    change("make a number of", top_member, [](Json& j) { j = 42; });
    change("replace the text of", false, [](Json& j) { j = "?unexpected?"; });
  } else if (node.is_number_integer()) {
    change("make a string of", false, [](Json& j) { j = "7"; });
    change("make a fraction of", false, [](Json& j) { j = 1.5; });
  } else if (node.is_boolean()) {
    change("make a string of", false, [](Json& j) { j = "true"; });
  }
  if (!top && !node.is_null()) change("make null of", false, [](Json& j) { j = nullptr; });
}

std::vector<Mutation> mutations(const Json& doc, const std::set<std::string>& required) {
  std::vector<Mutation> out;
  mutate(doc, Json::json_pointer(), required, out);
  return out;
}

// What is wrong with the schema of (type, version), judged on `payload` (a
// valid payload of it): the payload fails, or a change of it that must fail
// is accepted, or a change the codec refuses is accepted.
std::vector<std::string> constraint_problems(EventSchemas& s, const EventVersion& ev, const Json& payload) {
  std::vector<std::string> problems;
  const Json* doc = s.document(ev.file());
  if (!doc) return {"no schema " + ev.file()};
  if (auto bad = s.payload_violation(ev.type, ev.version, payload)) return {"the payload fails: " + *bad};
  const auto required = strings_of(doc->value("required", Json::array()));
  for (const auto& m : mutations(payload, required)) {
    const Json changed = m.apply(payload);
    if (s.payload_violation(ev.type, ev.version, changed)) continue;  // refused: fine
    if (m.must_fail) problems.push_back(ev.file() + " accepts: " + m.what);
    auto decoded = codec::decode_payload(ev.type, ev.version, changed);
    if (!decoded) {
      problems.push_back(ev.file() + " accepts what the codec refuses (" + decoded.error() + "): " + m.what);
    }
  }
  return problems;
}

// The schema files against the codec's (type, version) pairs.
std::vector<std::string> coverage_problems(const EventSchemas& s) {
  std::vector<std::string> problems;
  const auto known = testing::codec_event_versions();
  for (const auto& ev : known) {
    if (!s.versions().contains(ev)) problems.push_back("no schema for " + ev.file());
  }
  for (const auto& ev : s.versions()) {
    if (!known.contains(ev)) problems.push_back("a schema for what the codec does not know: " + ev.file());
  }
  return problems;
}

bool mentions(const std::vector<std::string>& problems, const std::string& text) {
  return std::ranges::any_of(problems, [&](const std::string& p) { return p.find(text) != std::string::npos; });
}

events::EventMeta sample_meta() {
  events::EventMeta m;
  m.global_position = events::GlobalPosition{42};
  m.stream_id = "policy-key:billing.window_seconds";
  m.stream_version = events::StreamVersion{3};
  m.event_id = "6f1c2a4e-0d8b-4c3a-9d7e-2b1f0e9a8c7d";
  m.occurred_at = events::Instant{1'780'272'000'000'000};
  m.recorded_at = events::Instant{1'780'272'000'000'100};
  m.actor = {"user", "alice", {"platform_admin"}};
  m.tenant = "org-acme";
  m.correlation_id = "corr-1";
  m.causation_id = "";
  m.command_id = "cmd-1";
  return m;
}

// A golden payload as the store holds it: recorded at its own version (an
// old version too), sealed into the chain.
events::RecordedEvent recorded(const EventVersion& ev, const Json& payload) {
  events::RecordedEvent r;
  r.meta = sample_meta();
  r.event_type = ev.type;
  r.schema_version = ev.version;
  r.payload = codec::canonical_payload(payload);
  r.prev_hash = events::kGenesisHash;
  r.hash = codec::compute_hash(r);
  return r;
}

// --------------------------------------------------------------- files

TEST(EventSchemas, EveryFileLoadsAndCompiles) {
  EXPECT_TRUE(schemas().load_errors().empty()) << ::testing::PrintToString(schemas().load_errors());
  EXPECT_NE(schemas().document(EventSchemas::kCommon), nullptr);
  EXPECT_NE(schemas().document(EventSchemas::kEnvelope), nullptr);
  EXPECT_EQ(schemas().files().size(), testing::codec_event_versions().size() + 2);
}

TEST(EventSchemas, EveryFileIsDraft07AndSaysWhatItIs) {
  for (const auto& file : schemas().files()) {
    SCOPED_TRACE(file);
    const Json& doc = *schemas().document(file);
    EXPECT_EQ(doc.value("$schema", ""), "http://json-schema.org/draft-07/schema#");
    EXPECT_EQ(doc.value("$id", ""), kIdBase + file);
    EXPECT_FALSE(doc.value("title", "").empty());
    const std::string description = doc.value("description", "");
    EXPECT_FALSE(description.empty());
    EXPECT_EQ(description.find('\n'), std::string::npos) << "one line";
    if (file == EventSchemas::kCommon) {
      EXPECT_TRUE(doc.contains("definitions") && doc["definitions"].is_object());
      continue;
    }
    // Every event payload and the envelope: an object of listed members only.
    EXPECT_EQ(doc.value("type", ""), "object");
    EXPECT_EQ(doc.value("additionalProperties", Json(true)), Json(false));
    ASSERT_TRUE(doc.contains("required") && doc["required"].is_array() && !doc["required"].empty());
    for (const auto& name : doc["required"]) EXPECT_TRUE(doc["properties"].contains(name.get<std::string>())) << name;
  }
  for (const auto& ev : schemas().versions()) {
    EXPECT_EQ(schemas().document(ev.file())->value("title", ""), ev.type + " v" + std::to_string(ev.version));
  }
}

// --------------------------------------------------------------- coverage

TEST(EventSchemas, CoverExactlyTheTypesAndVersionsTheCodecDecodes) {
  const auto known = testing::codec_event_versions();
  const auto golden = goldens();
  // The pairs derived from events::Event are the codec's: each decodes (its
  // golden payload), and no type decodes at version 0 or past its current one.
  std::map<std::string, int> current;
  for (const auto& ev : known) {
    ASSERT_TRUE(golden.contains(ev)) << ev.file();
    auto decoded = codec::decode_payload(ev.type, ev.version, golden.at(ev));
    EXPECT_TRUE(decoded.has_value()) << ev.file() << ": " << decoded.error();
    current[ev.type] = std::max(current[ev.type], ev.version);
  }
  for (const auto& [type, version] : current) {
    const Json& payload = golden.at({type, version});
    EXPECT_FALSE(codec::decode_payload(type, version + 1, payload).has_value()) << type << " v" << version + 1;
    EXPECT_FALSE(codec::decode_payload(type, 0, payload).has_value()) << type << " v0";
  }
  std::set<EventVersion> golden_versions;
  for (const auto& [ev, _] : golden) golden_versions.insert(ev);
  EXPECT_EQ(golden_versions, known);

  EXPECT_TRUE(coverage_problems(schemas()).empty()) << ::testing::PrintToString(coverage_problems(schemas()));
  EXPECT_EQ(schemas().versions(), known);

  // The envelope names exactly these types.
  std::set<std::string> types;
  for (const auto& [type, _] : current) types.insert(type);
  EXPECT_EQ(strings_of((*schemas().document(EventSchemas::kEnvelope))["properties"]["event_type"]["enum"]), types);
}

// --------------------------------------------------------------- goldens

TEST(EventSchemas, EveryGoldenPayloadAndItsEnvelopeValidate) {
  for (const auto& [ev, payload] : goldens()) {
    SCOPED_TRACE(ev.file());
    auto bad = schemas().payload_violation(ev.type, ev.version, payload);
    EXPECT_FALSE(bad.has_value()) << *bad;
    const Json envelope = codec::to_json(recorded(ev, payload));
    auto bad_envelope = schemas().event_violation(envelope);
    EXPECT_FALSE(bad_envelope.has_value()) << *bad_envelope << "\n" << envelope.dump();
  }
}

TEST(EventSchemas, EverySchemaRefusesWhatItMustAndEverythingTheCodecRefuses) {
  std::size_t checked = 0;
  for (const auto& [ev, payload] : goldens()) {
    SCOPED_TRACE(ev.file());
    const auto problems = constraint_problems(schemas(), ev, payload);
    EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
    // Every required member is there to be removed, and each removal, the
    // unknown member and each top-level string made a number were tried.
    const auto required = strings_of(schemas().document(ev.file())->value("required", Json::array()));
    for (const auto& name : required) EXPECT_TRUE(payload.contains(name)) << name;
    std::size_t must_fail = 0, strings = 0;
    for (const auto& m : mutations(payload, required)) must_fail += m.must_fail;
    for (const auto& [_, value] : payload.items()) strings += value.is_string();
    EXPECT_EQ(must_fail, required.size() + 1 + strings);
    checked += mutations(payload, required).size();
  }
  EXPECT_GT(checked, 1000u);
}

TEST(EventSchemas, InstantsAreTheCodecsCanonicalForm) {
  Json payload = goldens().at({"PolicyValueSet", 2});
  for (const char* bad : {"2026-06-01T00:00:00Z", "2026-06-01T00:00:00.000Z", "2026-06-01T02:00:00.000000+02:00",
                          "2026-06-01 00:00:00.000000Z", "2026-13-01T00:00:00.000000Z", "2026-06-01T24:00:00.000000Z",
                          "2026-06-01T00:00:00.000000Zjunk", "1780272000000000"}) {
    payload["effective_at"] = bad;
    EXPECT_TRUE(schemas().payload_violation("PolicyValueSet", 2, payload).has_value()) << bad;
  }
  payload["effective_at"] = "1969-12-31T23:59:59.999999Z";
  EXPECT_FALSE(schemas().payload_violation("PolicyValueSet", 2, payload).has_value());
}

// Rules the codec does not check but every writer keeps (the domain, chain.h):
// the schemas state them, so each must refuse a payload that breaks one.
TEST(EventSchemas, RulesBeyondTheCodecAreStated) {
  const auto golden = goldens();
  auto refused = [&](const EventVersion& ev, const std::function<void(Json&)>& edit) {
    Json payload = golden.at(ev);
    edit(payload);
    EXPECT_TRUE(codec::decode_payload(ev.type, ev.version, payload).has_value()) << "the codec takes it";
    return schemas().payload_violation(ev.type, ev.version, payload).has_value();
  };
  for (int v : {1, 2}) {
    const EventVersion key{"PolicyKeyDefined", v};  // a string key
    EXPECT_TRUE(refused(key, [](Json& j) { j["default_value"] = 5; })) << "default of another type";
    EXPECT_TRUE(refused(key, [](Json& j) { j["min"] = 1; })) << "bounds on a string key";
    EXPECT_TRUE(refused(key, [](Json& j) {
      j["value_type"] = "bool";
      j["default_value"] = true;
    })) << "an enum on a bool key";
    EXPECT_FALSE(refused(key, [](Json& j) {
      j["value_type"] = "int";
      j["default_value"] = 5;
      j["allowed"] = Json::array();
      j["min"] = 1;
    }));
  }
  const EventVersion revoked{"TokenRevoked", 1};  // exactly one of principal_id, token_id
  EXPECT_TRUE(refused(revoked, [](Json& j) { j["principal_id"] = "key-ci"; }));
  EXPECT_TRUE(refused(revoked, [](Json& j) { j["token_id"] = ""; }));
  EXPECT_FALSE(refused(revoked, [](Json& j) {
    j["token_id"] = "";
    j["principal_id"] = "key-ci";
  }));
  const EventVersion anchor{"ChainHeadSigned", 1};
  EXPECT_TRUE(refused(anchor, [](Json& j) { j["algorithm"] = "RSA"; }));
  EXPECT_TRUE(refused(anchor, [](Json& j) { j["head_hash"] = "5D41"; }));
  EXPECT_TRUE(refused(anchor, [](Json& j) { j["signature"] = "8e8e"; }));
  EXPECT_TRUE(refused(anchor, [](Json& j) { j["key_id"] = "9c1b7a2e4d6f8a0"; }));
  EXPECT_TRUE(refused(anchor, [](Json& j) { j["position"] = 0; }));
  const EventVersion activated{"PolicyVersionActivated", 1};
  const Json shadow = {{"generated_at_micros", 1}, {"from", "a"},        {"to", "b"},
                       {"snapshot_version", 7},    {"considered", 3},    {"checked", 3},
                       {"allow_to_deny", 0},       {"deny_to_allow", 1}, {"signature", "s"}};
  EXPECT_FALSE(refused(activated, [&](Json& j) { j["shadow"] = shadow; }));
  EXPECT_TRUE(refused(activated, [&](Json& j) { (j["shadow"] = shadow).erase("signature"); }));
  EXPECT_TRUE(refused(activated, [&](Json& j) { (j["shadow"] = shadow)["extra"] = 1; }));
}

TEST(EventSchemas, TheEnvelopeRefusesWhatItMustAndEverythingTheCodecRefuses) {
  const Json envelope = codec::to_json(recorded({"PolicyValueSet", 2}, goldens().at({"PolicyValueSet", 2})));
  ASSERT_FALSE(schemas().event_violation(envelope).has_value());
  const auto required = strings_of((*schemas().document(EventSchemas::kEnvelope))["required"]);
  EXPECT_EQ(required.size(), envelope.size()) << "every member the codec writes is required";
  std::vector<std::string> problems;
  for (const auto& m : mutations(envelope, required)) {
    const Json changed = m.apply(envelope);
    if (schemas().envelope_violation(changed)) continue;
    if (m.must_fail) problems.push_back("accepts: " + m.what);
    auto r = codec::recorded_from_json(changed);
    if (!r) problems.push_back("accepts what the codec refuses (" + r.error() + "): " + m.what);
  }
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);

  for (const auto& [field, value] : std::vector<std::pair<std::string, Json>>{{"hash", "not-a-hash"},
                                                                              {"prev_hash", std::string(64, 'A')},
                                                                              {"event_id", "cmd-1"},
                                                                              {"event_type", "NoSuchEvent"},
                                                                              {"schema_version", 0},
                                                                              {"global_position", 0},
                                                                              {"stream_version", 0},
                                                                              {"recorded_at", "2026-06-01T00:00:00Z"},
                                                                              {"payload", Json::array()}}) {
    Json bad = envelope;
    bad[field] = value;
    EXPECT_TRUE(schemas().envelope_violation(bad).has_value()) << field << " = " << value.dump();
  }
  // The payload is the per-type schema's: the envelope alone does not judge it.
  Json wrong_payload = envelope;
  wrong_payload["payload"].erase("reason");
  EXPECT_FALSE(schemas().envelope_violation(wrong_payload).has_value());
  EXPECT_TRUE(schemas().event_violation(wrong_payload).has_value());
}

// ------------------------------------------------------ the checks can fail

// A copy of events/schemas/ made lax on purpose: each check above must notice.
class EventSchemasLaxCopy : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("event-schemas-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::copy(testing::event_schema_dir(), dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void edit(const std::string& file, const std::function<void(Json&)>& f) {
    Json doc = read_json(dir_ / file);
    f(doc);
    std::ofstream(dir_ / file) << doc.dump(2);
  }
  std::filesystem::path dir_;
};

TEST_F(EventSchemasLaxCopy, ALaxSchemaIsCaught) {
  edit("PolicyValueSet.v2.json", [](Json& d) {
    d["required"].erase(std::find(d["required"].begin(), d["required"].end(), "reason"));  // codec needs it
    d["additionalProperties"] = true;
    d["properties"]["key"] = {{"type", {"string", "number"}}};
    d["properties"]["effective_at"] = {{"type", "string"}};
  });
  edit("CeilingSet.v1.json", [](Json& d) { d["properties"]["rule_version"] = {{"type", "number"}}; });
  edit("common.json", [](Json& d) { d["definitions"]["quota_scope"].erase("additionalProperties"); });
  EventSchemas lax(dir_);
  ASSERT_TRUE(lax.load_errors().empty()) << ::testing::PrintToString(lax.load_errors());

  const auto value_set = constraint_problems(lax, {"PolicyValueSet", 2}, goldens().at({"PolicyValueSet", 2}));
  EXPECT_TRUE(mentions(value_set, "accepts: add an unknown member to /")) << ::testing::PrintToString(value_set);
  EXPECT_TRUE(mentions(value_set, "accepts: make a number of /key"));
  EXPECT_TRUE(mentions(value_set, "accepts what the codec refuses (missing field 'reason'): remove reason of /"));
  EXPECT_TRUE(mentions(value_set, "accepts what the codec refuses (field 'effective_at' is not an RFC 3339 instant)"));
  const auto ceiling = constraint_problems(lax, {"CeilingSet", 1}, goldens().at({"CeilingSet", 1}));
  EXPECT_TRUE(mentions(ceiling, "make a fraction of /rule_version")) << ::testing::PrintToString(ceiling);
  EXPECT_TRUE(mentions(ceiling, "add an unknown member to /scope")) << ::testing::PrintToString(ceiling);
  // The untouched ones still pass.
  EXPECT_TRUE(constraint_problems(lax, {"PlanDefined", 1}, goldens().at({"PlanDefined", 1})).empty());
}

TEST_F(EventSchemasLaxCopy, AMissingOrUnknownFileAndADanglingReferenceAreCaught) {
  std::filesystem::remove(dir_ / "TokenRevoked.v1.json");
  std::filesystem::copy_file(dir_ / "PlanDefined.v1.json", dir_ / "PlanDefined.v2.json");
  edit("PlanArchived.v1.json",
       [](Json& d) { d["properties"]["reason"] = {{"$ref", "common.json#/definitions/nope"}}; });
  EventSchemas lax(dir_);
  const auto problems = coverage_problems(lax);
  EXPECT_TRUE(mentions(problems, "no schema for TokenRevoked.v1.json")) << ::testing::PrintToString(problems);
  EXPECT_TRUE(mentions(problems, "does not know: PlanDefined.v2.json"));
  EXPECT_TRUE(mentions(lax.load_errors(), "PlanArchived.v1.json: PlanArchived.v1.json refers to a missing definition"))
      << ::testing::PrintToString(lax.load_errors());
  EXPECT_TRUE(lax.payload_violation("PlanArchived", 1, goldens().at({"PlanArchived", 1})).has_value());
}

// -------------------------------------------------------- random events

using testing::append_utf8;

// Any text of Unicode scalar values (printable ASCII drawn often).
rc::Gen<std::string> text() {
  const auto cp = gen::oneOf(gen::inRange<std::uint32_t>(0x20, 0x7F),
                             gen::suchThat(gen::inRange<std::uint32_t>(0, 0x110000),
                                           [](std::uint32_t c) { return c < 0xD800 || c > 0xDFFF; }));
  return gen::map(gen::container<std::vector<std::uint32_t>>(cp), [](const std::vector<std::uint32_t>& cps) {
    std::string s;
    for (auto c : cps) append_utf8(s, c);
    return s;
  });
}
// Collections are drawn smaller (a fifth of the size) to keep each run quick.
rc::Gen<std::vector<std::string>> texts() { return gen::scale(0.2, gen::container<std::vector<std::string>>(text())); }
rc::Gen<std::map<std::string, std::string>> text_map() {
  return gen::scale(0.2, gen::container<std::map<std::string, std::string>>(text(), text()));
}
rc::Gen<std::string> hex(std::size_t n) {
  return gen::container<std::string>(n, gen::elementOf(std::string("0123456789abcdef")));
}
rc::Gen<std::int64_t> int64() {
  using L = std::numeric_limits<std::int64_t>;
  return gen::oneOf(gen::arbitrary<std::int64_t>(), gen::element<std::int64_t>(L::min(), L::max(), 0, -1, 1));
}
// 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z: the instants RFC 3339 can write.
rc::Gen<events::Instant> instant() {
  return gen::map(gen::inRange<std::int64_t>(-62'135'596'800'000'000, 253'402'300'800'000'000),
                  [](std::int64_t t) { return events::Instant{t}; });
}
template <class T>
rc::Gen<std::optional<T>> optional(rc::Gen<T> g) {
  return gen::oneOf(gen::just(std::optional<T>()), gen::map(g, [](T x) { return std::optional<T>(std::move(x)); }));
}
rc::Gen<events::PolicyValue> policy_value() {
  return gen::oneOf(gen::map(gen::arbitrary<bool>(), [](bool b) { return events::PolicyValue{b}; }),
                    gen::map(int64(), [](std::int64_t i) { return events::PolicyValue{i}; }),
                    gen::map(text(), [](std::string s) { return events::PolicyValue{std::move(s)}; }));
}
rc::Gen<Json> json_scalar() {
  return gen::oneOf(gen::just(Json(nullptr)), gen::map(gen::arbitrary<bool>(), [](bool b) { return Json(b); }),
                    gen::map(int64(), [](std::int64_t i) { return Json(i); }),
                    gen::map(gen::inRange(-1000, 1000), [](int i) { return Json(i / 8.0); }),
                    gen::map(text(), [](std::string s) { return Json(std::move(s)); }));
}
// A JSON object two levels deep (scalars, arrays of scalars, objects of scalars).
rc::Gen<Json> json_object() {
  const auto object_of = [](rc::Gen<Json> member) {
    return gen::map(gen::container<std::map<std::string, Json>>(text(), member),
                    [](const std::map<std::string, Json>& m) {
                      Json j = Json::object();
                      for (const auto& [k, v] : m) j[k] = v;
                      return j;
                    });
  };
  const auto array =
      gen::map(gen::container<std::vector<Json>>(json_scalar()), [](std::vector<Json> v) { return Json(v); });
  return gen::scale(0.2, object_of(gen::oneOf(json_scalar(), array, object_of(json_scalar()))));
}
rc::Gen<events::JsonText> json_text() {
  return gen::map(json_object(), [](const Json& j) { return events::JsonText{j.dump()}; });
}
rc::Gen<events::QuotaScope> quota_scope() {
  return gen::build<events::QuotaScope>(
      gen::set(&events::QuotaScope::level, gen::map(gen::inRange(0, 6), [](int l) { return events::QuotaLevel(l); })),
      gen::set(&events::QuotaScope::id, text()));
}
rc::Gen<events::CeilingTarget> ceiling_target() {
  using E = events::CeilingTarget;
  return gen::build<E>(gen::set(&E::dimension, text()), gen::set(&E::window, text()), gen::set(&E::region, text()),
                       gen::set(&E::sku_or_model, text()));
}

// One generator per event type; a type without one does not compile.
rc::Gen<events::PolicyKeyDefined> gen_event(std::type_identity<events::PolicyKeyDefined>) {
  return gen::exec([] {
    events::PolicyKeyDefined e;
    e.key = *text();
    e.description = *text();
    e.write_audience = *gen::element(events::WriteAudience::kPlatform, events::WriteAudience::kTenant);
    e.value_type = *gen::element(events::ValueType::kInt, events::ValueType::kString, events::ValueType::kBool);
    switch (e.value_type) {  // what domain::validate_definition lets through
      case events::ValueType::kInt:
        e.default_value = {*int64()};
        e.min = *optional(int64());
        e.max = *optional(int64());
        break;
      case events::ValueType::kString:
        e.default_value = {*text()};
        e.allowed = *texts();
        break;
      case events::ValueType::kBool:
        e.default_value = {*gen::arbitrary<bool>()};
        break;
    }
    return e;
  });
}
rc::Gen<events::PolicyValueSet> gen_event(std::type_identity<events::PolicyValueSet>) {
  using E = events::PolicyValueSet;
  return gen::build<E>(
      gen::set(&E::key, text()),
      gen::set(&E::scope, gen::build<events::PolicyScope>(
                              gen::set(&events::PolicyScope::level,
                                       gen::map(gen::inRange(0, 5), [](int l) { return events::ScopeLevel(l); })),
                              gen::set(&events::PolicyScope::id, text()))),
      gen::set(&E::before, policy_value()),
      gen::set(&E::before_source, gen::element(events::BeforeSource::kDefault, events::BeforeSource::kScope)),
      gen::set(&E::after, policy_value()), gen::set(&E::effective_at, instant()), gen::set(&E::reason, text()));
}
rc::Gen<events::RegistryEntryRegistered> gen_event(std::type_identity<events::RegistryEntryRegistered>) {
  using E = events::RegistryEntryRegistered;
  return gen::build<E>(gen::set(&E::kind, text()), gen::set(&E::entry_id, text()), gen::set(&E::version, int64()),
                       gen::set(&E::description, text()), gen::set(&E::attributes, text_map()),
                       gen::set(&E::before, optional(text_map())));
}
rc::Gen<events::OrganizationCreated> gen_event(std::type_identity<events::OrganizationCreated>) {
  using E = events::OrganizationCreated;
  return gen::build<E>(gen::set(&E::organization_id, text()), gen::set(&E::name, text()), gen::set(&E::plan_id, text()),
                       gen::set(&E::default_department_id, text()));
}
rc::Gen<events::OrganizationPlanChanged> gen_event(std::type_identity<events::OrganizationPlanChanged>) {
  using E = events::OrganizationPlanChanged;
  return gen::build<E>(gen::set(&E::organization_id, text()), gen::set(&E::before_plan_id, text()),
                       gen::set(&E::plan_id, text()));
}
rc::Gen<events::DepartmentCreated> gen_event(std::type_identity<events::DepartmentCreated>) {
  using E = events::DepartmentCreated;
  return gen::build<E>(gen::set(&E::department_id, text()), gen::set(&E::organization_id, text()),
                       gen::set(&E::parent_department_id, text()), gen::set(&E::name, text()));
}
rc::Gen<events::DepartmentMoved> gen_event(std::type_identity<events::DepartmentMoved>) {
  using E = events::DepartmentMoved;
  return gen::build<E>(gen::set(&E::department_id, text()), gen::set(&E::organization_id, text()),
                       gen::set(&E::before_parent_department_id, text()), gen::set(&E::parent_department_id, text()));
}
rc::Gen<events::ProjectCreated> gen_event(std::type_identity<events::ProjectCreated>) {
  using E = events::ProjectCreated;
  return gen::build<E>(gen::set(&E::project_id, text()), gen::set(&E::organization_id, text()),
                       gen::set(&E::department_id, text()), gen::set(&E::name, text()));
}
rc::Gen<events::ProjectMoved> gen_event(std::type_identity<events::ProjectMoved>) {
  using E = events::ProjectMoved;
  return gen::build<E>(gen::set(&E::project_id, text()), gen::set(&E::organization_id, text()),
                       gen::set(&E::before_department_id, text()), gen::set(&E::department_id, text()));
}
rc::Gen<events::PrincipalCreated> gen_event(std::type_identity<events::PrincipalCreated>) {
  using E = events::PrincipalCreated;
  return gen::build<E>(gen::set(&E::principal_id, text()), gen::set(&E::principal_type, text()),
                       gen::set(&E::organization_id, text()), gen::set(&E::project_id, text()),
                       gen::set(&E::name, text()), gen::set(&E::expires_at, optional(instant())));
}
rc::Gen<events::CeilingSet> gen_event(std::type_identity<events::CeilingSet>) {
  using E = events::CeilingSet;
  return gen::build<E>(
      gen::set(&E::scope, quota_scope()), gen::set(&E::organization_id, text()), gen::set(&E::rule_id, text()),
      gen::set(&E::rule_version, int64()), gen::set(&E::target, ceiling_target()), gen::set(&E::quantity, int64()),
      gen::set(&E::unit, text()), gen::set(&E::before_quantity, optional(int64())), gen::set(&E::reason, text()));
}
rc::Gen<events::CeilingCleared> gen_event(std::type_identity<events::CeilingCleared>) {
  using E = events::CeilingCleared;
  return gen::build<E>(gen::set(&E::scope, quota_scope()), gen::set(&E::organization_id, text()),
                       gen::set(&E::rule_id, text()), gen::set(&E::rule_version, int64()),
                       gen::set(&E::target, ceiling_target()), gen::set(&E::before_quantity, int64()),
                       gen::set(&E::unit, text()), gen::set(&E::reason, text()));
}
rc::Gen<events::CeilingDelegated> gen_event(std::type_identity<events::CeilingDelegated>) {
  using E = events::CeilingDelegated;
  return gen::build<E>(gen::set(&E::scope, quota_scope()), gen::set(&E::organization_id, text()),
                       gen::set(&E::delegation_id, text()), gen::set(&E::dimension, text()),
                       gen::set(&E::max_quantity, optional(int64())), gen::set(&E::reason, text()));
}
rc::Gen<events::CeilingDelegationRevoked> gen_event(std::type_identity<events::CeilingDelegationRevoked>) {
  using E = events::CeilingDelegationRevoked;
  return gen::build<E>(gen::set(&E::scope, quota_scope()), gen::set(&E::organization_id, text()),
                       gen::set(&E::delegation_id, text()), gen::set(&E::dimension, text()),
                       gen::set(&E::reason, text()));
}
rc::Gen<events::ReservationDrafted> gen_event(std::type_identity<events::ReservationDrafted>) {
  using E = events::ReservationDrafted;
  return gen::build<E>(gen::set(&E::reservation_id, text()), gen::set(&E::organization_id, text()),
                       gen::set(&E::owner, quota_scope()), gen::set(&E::kind, text()), gen::set(&E::dimension, text()),
                       gen::set(&E::region, text()), gen::set(&E::sku_or_model, text()),
                       gen::set(&E::quantity, int64()), gen::set(&E::unit, text()),
                       gen::set(&E::window_start, instant()), gen::set(&E::window_end, instant()),
                       gen::set(&E::attributes, text_map()), gen::set(&E::reason, text()));
}
rc::Gen<events::ReservationStateChanged> gen_event(std::type_identity<events::ReservationStateChanged>) {
  using E = events::ReservationStateChanged;
  return gen::build<E>(gen::set(&E::reservation_id, text()), gen::set(&E::organization_id, text()),
                       gen::set(&E::before_state, text()), gen::set(&E::state, text()), gen::set(&E::reason, text()));
}
template <class E>
rc::Gen<E> consumed_or_released() {
  return gen::build<E>(gen::set(&E::reservation_id, text()), gen::set(&E::organization_id, text()),
                       gen::set(&E::quantity, int64()), gen::set(&E::before_consumed, int64()),
                       gen::set(&E::consumed, int64()), gen::set(&E::reason, text()));
}
rc::Gen<events::ReservationConsumed> gen_event(std::type_identity<events::ReservationConsumed>) {
  return consumed_or_released<events::ReservationConsumed>();
}
rc::Gen<events::ReservationReleased> gen_event(std::type_identity<events::ReservationReleased>) {
  return consumed_or_released<events::ReservationReleased>();
}
rc::Gen<events::AccessRefused> gen_event(std::type_identity<events::AccessRefused>) {
  using E = events::AccessRefused;
  return gen::build<E>(gen::set(&E::actor_type, text()), gen::set(&E::actor_id, text()),
                       gen::set(&E::actor_roles, texts()), gen::set(&E::principal_tenant, text()),
                       gen::set(&E::target_tenant, text()), gen::set(&E::route_family, text()),
                       gen::set(&E::method, text()), gen::set(&E::target, text()), gen::set(&E::reason, text()));
}
rc::Gen<events::TokenRevoked> gen_event(std::type_identity<events::TokenRevoked>) {
  return gen::exec([] {
    const auto one = *gen::nonEmpty(text());
    const bool principal = *gen::arbitrary<bool>();  // exactly one of the two is set
    return events::TokenRevoked{*text(), principal ? one : "", principal ? "" : one, *text()};
  });
}
rc::Gen<events::ApplicationRegistered> gen_event(std::type_identity<events::ApplicationRegistered>) {
  using E = events::ApplicationRegistered;
  return gen::build<E>(gen::set(&E::application_id, text()), gen::set(&E::organization_id, text()),
                       gen::set(&E::name, text()));
}
rc::Gen<events::ApplicationRenamed> gen_event(std::type_identity<events::ApplicationRenamed>) {
  using E = events::ApplicationRenamed;
  return gen::build<E>(gen::set(&E::application_id, text()), gen::set(&E::organization_id, text()),
                       gen::set(&E::before_name, text()), gen::set(&E::name, text()));
}
rc::Gen<events::ApplicationRetired> gen_event(std::type_identity<events::ApplicationRetired>) {
  using E = events::ApplicationRetired;
  return gen::build<E>(gen::set(&E::application_id, text()), gen::set(&E::organization_id, text()),
                       gen::set(&E::reason, text()));
}
rc::Gen<events::PolicyAttached> gen_event(std::type_identity<events::PolicyAttached>) {
  using E = events::PolicyAttached;
  return gen::build<E>(gen::set(&E::policy_id, text()), gen::set(&E::application_id, text()),
                       gen::set(&E::organization_id, text()), gen::set(&E::policy_type, text()),
                       gen::set(&E::config, json_text()), gen::set(&E::enabled, gen::arbitrary<bool>()),
                       gen::set(&E::index, int64()), gen::set(&E::reason, text()));
}
rc::Gen<events::PolicyUpdated> gen_event(std::type_identity<events::PolicyUpdated>) {
  using E = events::PolicyUpdated;
  return gen::build<E>(gen::set(&E::policy_id, text()), gen::set(&E::application_id, text()),
                       gen::set(&E::organization_id, text()), gen::set(&E::policy_type, text()),
                       gen::set(&E::version, int64()), gen::set(&E::before_config, json_text()),
                       gen::set(&E::config, json_text()), gen::set(&E::before_enabled, gen::arbitrary<bool>()),
                       gen::set(&E::enabled, gen::arbitrary<bool>()), gen::set(&E::before_index, int64()),
                       gen::set(&E::index, int64()), gen::set(&E::reason, text()));
}
rc::Gen<events::PolicyDetached> gen_event(std::type_identity<events::PolicyDetached>) {
  using E = events::PolicyDetached;
  return gen::build<E>(gen::set(&E::policy_id, text()), gen::set(&E::application_id, text()),
                       gen::set(&E::organization_id, text()), gen::set(&E::policy_type, text()),
                       gen::set(&E::before_config, json_text()), gen::set(&E::before_enabled, gen::arbitrary<bool>()),
                       gen::set(&E::reason, text()));
}
rc::Gen<events::ChainHeadSigned> gen_event(std::type_identity<events::ChainHeadSigned>) {
  using E = events::ChainHeadSigned;
  return gen::build<E>(gen::set(&E::position, gen::inRange<std::int64_t>(1, std::numeric_limits<std::int64_t>::max())),
                       gen::set(&E::head_hash, hex(64)), gen::set(&E::key_id, hex(16)),
                       gen::set(&E::algorithm, gen::just(std::string(codec::kChainSignatureAlgorithm))),
                       gen::set(&E::signature, hex(128)));
}
template <class E>
rc::Gen<E> capability_change() {
  return gen::build<E>(gen::set(&E::tenant, text()), gen::set(&E::capability_id, text()), gen::set(&E::name, text()),
                       gen::set(&E::reason, text()));
}
rc::Gen<events::CapabilityDefined> gen_event(std::type_identity<events::CapabilityDefined>) {
  using E = events::CapabilityDefined;
  return gen::build<E>(gen::set(&E::tenant, text()), gen::set(&E::capability_id, text()), gen::set(&E::name, text()),
                       gen::set(&E::description, text()));
}
rc::Gen<events::CapabilityDeprecated> gen_event(std::type_identity<events::CapabilityDeprecated>) {
  return capability_change<events::CapabilityDeprecated>();
}
rc::Gen<events::CapabilityRetired> gen_event(std::type_identity<events::CapabilityRetired>) {
  return capability_change<events::CapabilityRetired>();
}
rc::Gen<events::PlanDefined> gen_event(std::type_identity<events::PlanDefined>) {
  using E = events::PlanDefined;
  return gen::build<E>(gen::set(&E::tenant, text()), gen::set(&E::plan_id, text()), gen::set(&E::display_name, text()),
                       gen::set(&E::description, text()));
}
rc::Gen<events::PlanUpdated> gen_event(std::type_identity<events::PlanUpdated>) {
  using E = events::PlanUpdated;
  return gen::build<E>(gen::set(&E::tenant, text()), gen::set(&E::plan_id, text()),
                       gen::set(&E::before_display_name, text()), gen::set(&E::display_name, text()),
                       gen::set(&E::before_description, text()), gen::set(&E::description, text()));
}
rc::Gen<events::PlanArchived> gen_event(std::type_identity<events::PlanArchived>) {
  using E = events::PlanArchived;
  return gen::build<E>(gen::set(&E::tenant, text()), gen::set(&E::plan_id, text()), gen::set(&E::reason, text()));
}
rc::Gen<events::EntitlementPolicyCreated> gen_event(std::type_identity<events::EntitlementPolicyCreated>) {
  using E = events::EntitlementPolicyCreated;
  return gen::build<E>(gen::set(&E::tenant, text()), gen::set(&E::policy_id, text()),
                       gen::set(&E::capability_id, text()), gen::set(&E::name, text()),
                       gen::set(&E::description, text()));
}
rc::Gen<events::PolicyVersionCreated> gen_event(std::type_identity<events::PolicyVersionCreated>) {
  using E = events::PolicyVersionCreated;
  return gen::build<E>(gen::set(&E::tenant, text()), gen::set(&E::policy_id, text()), gen::set(&E::version_id, text()),
                       gen::set(&E::version, int64()), gen::set(&E::rules_type, text()),
                       gen::set(&E::allowed_plans, texts()), gen::set(&E::deny_overrides, texts()),
                       gen::set(&E::changelog, text()), gen::set(&E::created_by, text()));
}
// The shadow report as domain/entitlements writes it (shadow_figures_json), or none.
rc::Gen<std::string> shadow_report() {
  return gen::oneOf(gen::just(std::string()), gen::exec([] {
                      return Json{
                          {"generated_at_micros", *int64()}, {"from", *text()},           {"to", *text()},
                          {"snapshot_version", *int64()},    {"considered", *int64()},    {"checked", *int64()},
                          {"allow_to_deny", *int64()},       {"deny_to_allow", *int64()}, {"signature", *text()}}
                          .dump();
                    }));
}
rc::Gen<events::PolicyVersionActivated> gen_event(std::type_identity<events::PolicyVersionActivated>) {
  using E = events::PolicyVersionActivated;
  return gen::build<E>(gen::set(&E::tenant, text()), gen::set(&E::policy_id, text()), gen::set(&E::version_id, text()),
                       gen::set(&E::version, int64()), gen::set(&E::environment, text()),
                       gen::set(&E::activation_id, text()), gen::set(&E::superseded_version_id, text()),
                       gen::set(&E::superseded_version, int64()), gen::set(&E::changelog, text()),
                       gen::set(&E::activated_by, text()), gen::set(&E::shadow, shadow_report()));
}
rc::Gen<events::PolicyVersionArchived> gen_event(std::type_identity<events::PolicyVersionArchived>) {
  using E = events::PolicyVersionArchived;
  return gen::build<E>(gen::set(&E::tenant, text()), gen::set(&E::policy_id, text()), gen::set(&E::version_id, text()),
                       gen::set(&E::version, int64()), gen::set(&E::reason, text()));
}
rc::Gen<events::EntitlementSettingsChanged> gen_event(std::type_identity<events::EntitlementSettingsChanged>) {
  using E = events::EntitlementSettingsChanged;
  return gen::build<E>(gen::set(&E::tenant, text()), gen::set(&E::before_require_progression, gen::arbitrary<bool>()),
                       gen::set(&E::require_progression, gen::arbitrary<bool>()),
                       gen::set(&E::before_shadow_max_age_seconds, int64()),
                       gen::set(&E::shadow_max_age_seconds, int64()));
}
rc::Gen<events::ConfigLayerSet> gen_event(std::type_identity<events::ConfigLayerSet>) {
  using E = events::ConfigLayerSet;
  // A layer document: an object, or (a global key's value, or none before) any JSON value.
  const auto document = gen::oneOf(gen::map(json_object(), [](const Json& j) { return j.dump(); }),
                                   gen::map(json_scalar(), [](const Json& j) { return j.dump(); }));
  return gen::build<E>(gen::set(&E::layer, text()), gen::set(&E::tenant_id, text()), gen::set(&E::subject, text()),
                       gen::set(&E::before, document), gen::set(&E::after, document),
                       gen::set(&E::is_public, gen::arbitrary<bool>()),
                       gen::set(&E::requires_restart, gen::arbitrary<bool>()), gen::set(&E::reason, text()));
}
rc::Gen<events::ConfigReloaded> gen_event(std::type_identity<events::ConfigReloaded>) {
  using E = events::ConfigReloaded;
  return gen::build<E>(gen::set(&E::reload_env, gen::arbitrary<bool>()),
                       gen::set(&E::invalidate_all, gen::arbitrary<bool>()), gen::set(&E::tenant_ids, texts()),
                       gen::set(&E::reinit, texts()), gen::set(&E::errors, texts()));
}
rc::Gen<events::ConfigSecretsShredded> gen_event(std::type_identity<events::ConfigSecretsShredded>) {
  using E = events::ConfigSecretsShredded;
  return gen::build<E>(gen::set(&E::tenant_id, text()), gen::set(&E::key_ids, texts()), gen::set(&E::reason, text()));
}

rc::Gen<events::EventMeta> event_meta() {
  return gen::exec([] {
    events::EventMeta m;
    m.global_position =
        events::GlobalPosition{*gen::inRange<std::int64_t>(1, std::numeric_limits<std::int64_t>::max())};
    m.stream_id = *text();
    m.stream_version = events::StreamVersion{*gen::inRange<std::int64_t>(1, std::numeric_limits<std::int64_t>::max())};
    m.event_id = *hex(8) + "-" + *hex(4) + "-" + *hex(4) + "-" + *hex(4) + "-" + *hex(12);
    m.occurred_at = *instant();
    m.recorded_at = *instant();
    m.actor = {*text(), *text(), *texts()};
    m.tenant = *text();
    m.correlation_id = *text();
    m.causation_id = *text();
    m.command_id = *text();
    return m;
  });
}

// Records `e` with the codec as the writer does and validates what the relay
// would publish; then one random change of its payload: if the schema still
// accepts it, the codec must decode it.
template <class E>
void check_encoded(const E& e) {
  const auto prev = *gen::oneOf(gen::just(std::string(events::kGenesisHash)), hex(64));
  const Json envelope = codec::to_json(codec::record(*event_meta(), events::Event(e), prev));
  if (auto bad = schemas().event_violation(envelope)) {
    RC_FAIL(std::string(E::kType) + ": " + *bad + "\n" + envelope.dump());
  }

  const auto changes = mutations(envelope["payload"], {});
  const auto& m = changes.at(*gen::inRange<std::size_t>(0, changes.size()));
  const Json changed = m.apply(envelope["payload"]);
  if (!schemas().payload_violation(E::kType, E::kSchemaVersion, changed)) {
    auto decoded = codec::decode_payload(E::kType, E::kSchemaVersion, changed);
    if (!decoded) RC_FAIL(std::string(E::kType) + " schema accepts what the codec refuses: " + m.what);
  }
}

RC_GTEST_PROP(EventSchemas, EveryEncodedEventOfEveryTypeValidates, ()) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (check_encoded(*gen_event(std::type_identity<std::variant_alternative_t<I, events::Event>>{})), ...);
  }(std::make_index_sequence<std::variant_size_v<events::Event>>{});
}

}  // namespace
}  // namespace ledger
