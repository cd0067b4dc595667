// What the decision-log projector takes from `ledger.decisions`
// (adapters/kafka read_decision_log_value): the topic is read, never
// trusted. The reader agrees with decision_record_from_json over the tree on
// every record it keeps, refuses what that refuses, and refuses more where
// PostgreSQL would refuse the record later (instants, U+0000, a member
// twice); one refused record never takes its neighbours with it.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "adapters/http/routes/decision_log_api.h"
#include "adapters/kafka/decision_log_kafka.h"
#include "commands/decision_log/decision_record.h"
#include "events/codec/rfc3339.h"
#include "tests/support/decision_records.h"

namespace ledger::adapters::kafka {
namespace {

using Json = nlohmann::json;
using commands::DecisionRecord;

Json good(const std::string& id) {
  DecisionRecord r = testing::sample_decision_record(id);
  r.recorded_at = "2026-12-02T10:00:00.123456Z";
  r.input["n"] = 1.5;
  return commands::decision_record_json(r);
}

std::vector<std::string> ids(const DecisionLogValue& v) {
  std::vector<std::string> out;
  for (const auto& r : v.records) out.push_back(r.decision_id);
  return out;
}

TEST(DecisionLogValue, KeepsEachRecordsFieldsAndText) {
  const Json a = good("a");
  Json b = good("b");
  b["kind"] = commands::kEntitlementCheck;
  const auto read = read_decision_log_value(Json::array({a, b}).dump());
  ASSERT_TRUE(read.refused.empty()) << read.refused.front();
  ASSERT_EQ(ids(read), (std::vector<std::string>{"a", "b"}));
  const DecisionRecord& r = read.records[0];
  EXPECT_EQ(r.kind, commands::kAdmissionDecision);
  EXPECT_EQ(r.actor_id, "acme-service");
  EXPECT_EQ(r.snapshot_version, 42);
  EXPECT_TRUE(r.input.is_null());
  EXPECT_TRUE(r.encoded.empty());
  // Input and output as their compact texts, what the table stores.
  EXPECT_EQ(r.input_json, a["input"].dump());
  EXPECT_EQ(r.output_json, a["output"].dump());
  EXPECT_EQ(read.records[1].kind, commands::kEntitlementCheck);
  // One record, not in an array, is a value too.
  EXPECT_EQ(ids(read_decision_log_value(a.dump())), (std::vector<std::string>{"a"}));
}

TEST(DecisionLogValue, RefusesABadRecordAndKeepsItsNeighbours) {
  Json late = good("b");
  late["recorded_at"] = "yesterday";
  Json nul = good("d");
  nul["input"]["note"] = std::string("a\0b", 3);
  Json twice = good("e");
  const std::string twice_text = twice.dump().insert(1, R"("decision":"deny",)");
  const std::string value = "[" + good("a").dump() + "," + late.dump() + "," + good("c").dump() + "," + nul.dump() +
                            "," + twice_text + "," + good("f").dump() + "]";
  const auto read = read_decision_log_value(value);
  EXPECT_EQ(ids(read), (std::vector<std::string>{"a", "c", "f"}));
  ASSERT_EQ(read.refused.size(), 3u);
  EXPECT_EQ(read.refused[0], "record 1: decision record field recorded_at is missing or malformed");
  EXPECT_EQ(read.refused[1], "record 3: a string of the record holds U+0000, which PostgreSQL cannot store");
  EXPECT_EQ(read.refused[2], "record 4: decision record field decision is missing or malformed");
}

TEST(DecisionLogValue, RefusesWhatIsNotJsonOrNotARecord) {
  for (const std::string value : {"", "{", "[1,", "\xff\xfe", R"({"a":"\ud800"})"}) {
    const auto read = read_decision_log_value(value);
    EXPECT_TRUE(read.records.empty()) << value;
    ASSERT_EQ(read.refused.size(), 1u) << value;
    EXPECT_TRUE(read.refused[0].starts_with("not JSON: ")) << read.refused[0];
  }
  const auto read = read_decision_log_value(R"([1, "x", null, [], {}])");
  EXPECT_TRUE(read.records.empty());
  EXPECT_EQ(read.refused.size(), 5u);
  EXPECT_TRUE(read_decision_log_value("[]").refused.empty());
}

// A record as the tree reads it, and as the direct reader reads it: the same
// verdict and the same fields, except where the direct reader is stricter on
// purpose (an instant PostgreSQL's timestamptz would refuse, an unsigned
// snapshot_version beyond bigint).
RC_GTEST_PROP(DecisionLogValue, AgreesWithTheTreeReader, ()) {
  const auto text = [] {
    return *rc::gen::oneOf(rc::gen::container<std::string>(rc::gen::inRange<char>(0x20, 0x7f)),
                           rc::gen::element<std::string>("", "\"", "\\", "a\nb", "\x7f", "\xc3\xa9", "\xe2\x82\xac",
                                                         "2026-12-02T10:00:00Z", "2026-12-02T10:00:00+05:30"));
  };
  const auto instant = [&] {
    return *rc::gen::oneOf(
        rc::gen::element<std::string>("2026-12-02T10:00:00Z", "1999-01-01T00:00:00.5-08:00", "2026-13-02T10:00:00Z"),
        rc::gen::exec(text));
  };
  const auto any_value = [&]() -> Json {
    switch (*rc::gen::inRange(0, 8)) {
      case 0:
        return nullptr;
      case 1:
        return *rc::gen::arbitrary<bool>();
      case 2:
        return *rc::gen::arbitrary<std::int64_t>();
      case 3:
        return *rc::gen::arbitrary<std::uint64_t>();
      case 4:
        return 0.25;
      case 5:
        return text();
      case 6:
        return Json::array({text()});
      default:
        return Json::object({{text(), text()}});
    }
  };
  Json j = good("d-" + text());
  j["recorded_at"] = instant();
  j["as_of"] = instant();
  if (*rc::gen::arbitrary<bool>()) j["kind"] = *rc::gen::element<std::string>("admission", "entitlement_check", "vote");
  // A few members removed, retyped or added, at the top or in the actor.
  const std::vector<std::string> members = {
      "kind",           "decision_id", "recorded_at", "as_of", "organization_id",  "project_id",
      "correlation_id", "decision",    "reason_code", "actor", "snapshot_version", "input",
      "output",         "extra"};
  const int changes = *rc::gen::inRange(0, 4);
  for (int i = 0; i < changes; ++i) {
    const bool in_actor = *rc::gen::arbitrary<bool>() && j.contains("actor") && j["actor"].is_object();
    Json& target = in_actor ? j["actor"] : j;
    const std::string name = in_actor ? *rc::gen::element<std::string>("tenant", "actor_type", "actor_id", "x")
                                      : *rc::gen::elementOf(members);
    if (*rc::gen::arbitrary<bool>()) {
      target.erase(name);
    } else {
      target[name] = any_value();
    }
  }
  const std::string value = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  const Json parsed = Json::parse(value);  // the text as the tree reader sees it
  const auto tree = commands::decision_record_from_json(parsed);
  const auto read = read_decision_log_value(value);
  RC_ASSERT(read.records.size() + read.refused.size() == 1u);

  bool stricter = false;
  if (tree) {
    const Json& version = parsed.at("snapshot_version");
    const bool beyond_bigint = version.is_number_unsigned() && version.get<std::uint64_t>() > std::uint64_t{INT64_MAX};
    stricter = !codec::parse_instant(tree->recorded_at) || !codec::parse_instant(tree->as_of) || beyond_bigint;
  }
  RC_ASSERT(read.records.size() == (tree && !stricter ? 1u : 0u));
  if (read.records.empty()) return;
  const DecisionRecord& r = read.records.front();
  RC_ASSERT(r.kind == tree->kind);
  RC_ASSERT(r.decision_id == tree->decision_id);
  RC_ASSERT(r.recorded_at == tree->recorded_at);
  RC_ASSERT(r.as_of == tree->as_of);
  RC_ASSERT(r.organization_id == tree->organization_id);
  RC_ASSERT(r.project_id == tree->project_id);
  RC_ASSERT(r.actor_tenant == tree->actor_tenant);
  RC_ASSERT(r.actor_type == tree->actor_type);
  RC_ASSERT(r.actor_id == tree->actor_id);
  RC_ASSERT(r.correlation_id == tree->correlation_id);
  RC_ASSERT(r.decision == tree->decision);
  RC_ASSERT(r.reason_code == tree->reason_code);
  RC_ASSERT(r.snapshot_version == tree->snapshot_version);
  RC_ASSERT(Json::parse(r.input_json) == parsed["input"]);
  RC_ASSERT(Json::parse(r.output_json) == parsed["output"]);
}

// What the projector logs of the records it skips in one fetch: a value of
// a thousand bad records gives a few lines and a count, not a thousand.
class CapturedWarnings {
 public:
  CapturedWarnings() : before_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>("captured", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
    logger->set_pattern("%v");
    spdlog::set_default_logger(logger);
  }
  ~CapturedWarnings() { spdlog::set_default_logger(before_); }
  CapturedWarnings(const CapturedWarnings&) = delete;
  CapturedWarnings& operator=(const CapturedWarnings&) = delete;
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> before_;
};

TEST(SkippedRecordLog, EachIntervalLogsItsFirstFewOneByOneAndCountsTheRestOnOneLine) {
  CapturedWarnings captured;
  auto now = std::chrono::steady_clock::time_point{};
  SkippedRecordLog log(3, std::chrono::seconds(10), [&now] { return now; });
  std::string many = "[";
  for (int i = 0; i < 1000; ++i) many += (i ? ",{}" : "{}");
  many += "]";
  const auto read = read_decision_log_value(many);
  ASSERT_EQ(read.refused.size(), 1000u);
  // A fetch of 1,000, then one of 1,000 more a second later: three lines.
  for (int fetch = 0; fetch < 2; ++fetch) {
    log.roll();
    for (const auto& why : read.refused) log.skipped("what is not a decision record at ledger.decisions:0:7", why);
    now += std::chrono::seconds(1);
  }
  log.roll();
  auto lines = captured.lines();
  ASSERT_EQ(lines.size(), 3u) << "the interval's lines are spent";
  EXPECT_EQ(lines[0],
            "decision log: skipping what is not a decision record at ledger.decisions:0:7: " + read.refused[0]);
  // Ten seconds after the first, the next poll (an idle one) logs the count.
  now += std::chrono::seconds(8);
  log.roll();
  lines = captured.lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[3], "decision log: skipped 1997 more record(s) within 10000 ms, not logged one by one");
  log.roll();
  log.flush();
  EXPECT_EQ(captured.lines().size(), 4u) << "nothing more was held back";
  // A new interval logs one by one again; stopping logs what it held back.
  for (int i = 0; i < 5; ++i) log.skipped("x", "y");
  log.flush();
  lines = captured.lines();
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_EQ(lines[4], "decision log: skipping x: y");
  EXPECT_EQ(lines[7], "decision log: skipped 2 more record(s) within 10000 ms, not logged one by one");
}

// What the query service puts in the buffer for an answered decision
// (routes::decision_record_of, written from views of its fields) is read by
// the projector's own reader as the record of what was decided: every
// field, the input's and the output's texts as given, a fresh id each time,
// and text that needs escaping escaped.
TEST(DecisionLogValue, TheRoutesRecordReadsBackAsWhatWasDecided) {
  const commands::Principal who{{"service_account", "sched\"uler", {"service"}}, "org-a"};
  domain::DecisionInput in;
  in.hierarchy.organization_id = "org-a";
  in.hierarchy.project_id = "proj\\1\n";
  in.correlation_id = "c-\u00e9";
  const auto as_of = codec::parse_instant("2026-12-07T10:00:00.5Z");
  const auto now = codec::parse_instant("2026-12-07T10:00:01.25Z");
  ASSERT_TRUE(as_of && now);
  const std::string input = R"({"hierarchy":{"organization_id":"org-a"},"request":{"requested_delta":8}})";
  const std::string output = R"({"decision":"warn","reason_code":"near_limit"})";
  const DecisionRecord first =
      routes::decision_record_of(who, in, input, "warn", "near_limit", output, 9223372036854775807, *as_of, *now);
  const DecisionRecord second =
      routes::decision_record_of(who, in, input, "warn", "near_limit", output, 7, *as_of, *now);
  EXPECT_EQ(first.organization_id, "org-a");  // the publisher's key

  const DecisionLogValue v = read_decision_log_value("[" + first.encoded + "," + second.encoded + "]");
  ASSERT_TRUE(v.refused.empty()) << v.refused.front();
  ASSERT_EQ(v.records.size(), 2u);
  const DecisionRecord& back = v.records[0];
  EXPECT_EQ(back.kind, commands::kAdmissionDecision);
  EXPECT_EQ(back.recorded_at, "2026-12-07T10:00:01.250000Z");
  EXPECT_EQ(back.as_of, "2026-12-07T10:00:00.500000Z");
  EXPECT_EQ(back.organization_id, "org-a");
  EXPECT_EQ(back.project_id, in.hierarchy.project_id);
  EXPECT_EQ(back.correlation_id, in.correlation_id);
  EXPECT_EQ(back.actor_tenant, "org-a");
  EXPECT_EQ(back.actor_type, "service_account");
  EXPECT_EQ(back.actor_id, "sched\"uler");
  EXPECT_EQ(back.decision, "warn");
  EXPECT_EQ(back.reason_code, "near_limit");
  EXPECT_EQ(back.snapshot_version, 9223372036854775807);
  EXPECT_EQ(back.input_json, input);
  EXPECT_EQ(back.output_json, output);
  EXPECT_EQ(v.records[1].snapshot_version, 7);
  EXPECT_FALSE(back.decision_id.empty());
  EXPECT_NE(back.decision_id, v.records[1].decision_id);
}

}  // namespace
}  // namespace ledger::adapters::kafka
