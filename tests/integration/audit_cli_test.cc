// The auditor's tools (adapters/audit/audit_tools.h) on the real
// PostgreSQL: tamper evidence (a row edited or deleted behind the
// append-only trigger's back is named by position), exports that verify with
// no database and stay valid under key re-ordering, time travel from history
// alone, signed digests of the chain head, replay == live, and the whole
// thing on a history of more than 100,000 events written through the real
// command service.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "adapters/audit/audit_tools.h"
#include "adapters/kafka/kafka.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_store.h"
#include "adapters/projector/projector.h"
#include "adapters/relay/relay.h"
#include "adapters/system/clock.h"
#include "commands/command_service.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"
#include "tests/support/test_env.h"

namespace ledger {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::int64_t kHour = 3600LL * 1'000'000;
constexpr std::int64_t kT0 = 1'780'272'000'000'000;  // 2026-06-01T00:00:00Z
const char* const kKey = "billing.window_seconds";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// The same JSON value with every object's keys in reverse order, spaces
// around separators and non-ASCII characters as \u escapes.
std::string reordered(const json& j) {
  if (j.is_object()) {
    std::vector<std::string> parts;
    for (auto it = j.begin(); it != j.end(); ++it)
      parts.push_back(json(it.key()).dump() + " :  " + reordered(it.value()));
    std::string out = "{ ";
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += (it == parts.rbegin() ? "" : " ,  ") + *it;
    return out + " }";
  }
  if (j.is_array()) {
    std::string out = "[ ";
    for (std::size_t i = 0; i < j.size(); ++i) out += (i ? " , " : "") + reordered(j[i]);
    return out + " ]";
  }
  return j.dump(-1, ' ', /*ensure_ascii=*/true);
}

class AuditFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    // Suite without "Audit" + test name, short enough for a database name.
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    db_ = testing::create_database((std::string(info->test_suite_name()).substr(5) + "_" + info->name()).substr(0, 48));
    start_service({});
    dir_ = std::filesystem::temp_directory_path() / testing::unique_name("ledger-audit");
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    service_.reset();
    store_.reset();
    if (drop_database_) {
      // Large histories are not left behind.
      testing::sql_exec(std::getenv("LEDGER_PG_ADMIN_URL"), "DROP DATABASE IF EXISTS " + db_.name + " WITH (FORCE)");
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void start_service(commands::CommandService::Options options) {
    service_.reset();
    store_.reset();  // releases the writer lock
    store_ = std::make_unique<adapters::postgres::PgEventStore>(db_.app_url, clock_);
    ASSERT_TRUE(testing::eventually(5s, [&] { return store_->acquire_writer().has_value(); }, 20ms));
    service_ = std::make_unique<commands::CommandService>(*store_, clock_, options);
    service_->start();
  }

  commands::Principal admin() { return {{"user", "auditor-test", {"platform_admin"}}, "platform"}; }

  std::int64_t run(commands::Command c) {
    commands::CommandRequest r{{"c" + std::to_string(++commands_), admin(), "corr", ""}, std::move(c), {}};
    auto out = service_->submit_async(r).get();
    EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().code + ": " + out.error().message);
    return out ? out->position.value : 0;
  }
  std::int64_t define(const std::string& key, std::int64_t default_value = 60) {
    return run(domain::DefinePolicyKey{
        {key, events::ValueType::kInt, events::PolicyValue{default_value}, 1, 1'000'000, {}, "test key"}});
  }
  std::int64_t set(events::ScopeLevel level, std::string id, std::int64_t v, std::optional<events::Instant> at = {},
                   std::string reason = "r") {
    return run(domain::SetPolicyValue{kKey, {level, std::move(id)}, events::PolicyValue{v}, at, std::move(reason), {}});
  }
  // One key definition and 49 values at ten user scopes: positions 1..50.
  void write_fifty() {
    ASSERT_EQ(define(kKey), 1);
    for (int i = 1; i < 50; ++i) {
      clock_.advance_micros(1'000'000);
      set(events::ScopeLevel::kUser, "u" + std::to_string(i % 10), 100 + i, {}, i == 9 ? "café ✓ \"quoted\"" : "r");
    }
  }
  // Edits rows as the superuser with the append-only triggers switched off.
  void tamper(const std::string& statement) {
    ASSERT_EQ(testing::sql_exec(db_.admin_url, "ALTER TABLE ledger.events DISABLE TRIGGER USER; " + statement +
                                                   "; ALTER TABLE ledger.events ENABLE TRIGGER USER"),
              "");
  }
  std::string export_text(audit::ExportRange range = {}) {
    std::ostringstream out;
    auto r = audit::export_events(db_.app_url, range, out);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return out.str();
  }
  domain::Result<audit::VerifyReport> verify_text(const std::string& text, bool partial = false) {
    std::istringstream in(text);
    return audit::verify_export(in, partial);
  }
  std::string write_file(const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  void project_live() {
    projector::ProjectorOptions o;
    o.pg_url = db_.app_url;
    o.schema = "rm";
    auto r = projector::catch_up_from_store(o);
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }

  testing::TestDatabase db_;
  adapters::system::ManualClock clock_{events::Instant{kT0}};
  std::unique_ptr<adapters::postgres::PgEventStore> store_;
  std::unique_ptr<commands::CommandService> service_;
  std::filesystem::path dir_;
  int commands_ = 0;
  bool drop_database_ = false;
};

class AuditVerify : public AuditFixture {};
class AuditExport : public AuditFixture {};
class AuditHistory : public AuditFixture {};
class AuditAsOf : public AuditFixture {};
class AuditDigest : public AuditFixture {};
class AuditReplay : public AuditFixture {};
class AuditScale : public AuditFixture {};

// ---------------------------------------------------------------- verify

TEST_F(AuditVerify, IntactStoreVerifiesEveryPositionAndStream) {
  write_fifty();
  auto r = audit::verify_store(db_.app_url, {.up_to = {}, .batch_size = 7});  // batches cut across streams
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(r->intact()) << r->broken->message;
  EXPECT_EQ(r->events, 50);
  EXPECT_EQ(r->head_position, 50);
  EXPECT_EQ(r->streams, 1u);
  EXPECT_EQ(r->head_hash,
            testing::sql_scalar(db_.admin_url, "SELECT hash FROM ledger.events WHERE global_position = 50"));

  auto part = audit::verify_store(db_.app_url, {.up_to = 20, .batch_size = 5000});
  ASSERT_TRUE(part.has_value());
  EXPECT_EQ(part->head_position, 20);
  auto beyond = audit::verify_store(db_.app_url, {.up_to = 51, .batch_size = 5000});
  ASSERT_FALSE(beyond.has_value());
  EXPECT_EQ(beyond.error().code, "position_beyond_head");
}

TEST_F(AuditVerify, EmptyStoreVerifies) {
  auto r = audit::verify_store(db_.app_url, {});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->intact());
  EXPECT_EQ(r->events, 0);
  EXPECT_EQ(r->head_hash, events::kGenesisHash);
}

TEST_F(AuditVerify, PayloadEditedBySuperuserIsNamedByPosition) {
  write_fifty();
  ASSERT_TRUE(audit::verify_store(db_.app_url, {})->intact());
  tamper("UPDATE ledger.events SET payload = jsonb_set(payload, '{after}', '999') WHERE global_position = 17");
  // The trigger is back: the application still cannot touch history.
  EXPECT_NE(testing::sql_exec(db_.admin_url, "DELETE FROM ledger.events WHERE global_position = 1"), "");

  auto r = audit::verify_store(db_.app_url, {});
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->intact());
  EXPECT_EQ(r->broken->position, 17);
  EXPECT_EQ(r->broken->code, "hash_mismatch");
  EXPECT_EQ(r->broken->message.rfind("position 17: hash mismatch (stored ", 0), 0u) << r->broken->message;
  EXPECT_EQ(r->events, 16);
  EXPECT_EQ(r->head_position, 16);
}

TEST_F(AuditVerify, EnvelopeFieldEditedBySuperuserIsNamedByPosition) {
  write_fifty();
  tamper("UPDATE ledger.events SET actor = jsonb_set(actor, '{id}', '\"someone-else\"') WHERE global_position = 33");
  auto r = audit::verify_store(db_.app_url, {});
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->intact());
  EXPECT_EQ(r->broken->position, 33);
  EXPECT_EQ(r->broken->code, "hash_mismatch");
}

TEST_F(AuditVerify, DeletedRowIsFoundAsAGap) {
  write_fifty();
  tamper("DELETE FROM ledger.events WHERE global_position = 23");
  auto r = audit::verify_store(db_.app_url, {});
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->intact());
  EXPECT_EQ(r->broken->position, 23);
  EXPECT_EQ(r->broken->code, "missing_position");
  EXPECT_EQ(r->broken->message, "position 23 missing (found 24 after 22)");
}

TEST_F(AuditVerify, RelinkedChainBreaksAtTheNextLinkAndAStreamGapIsFound) {
  write_fifty();
  // A forger who recomputes position 40's own hash after editing it still
  // breaks position 41's link.
  adapters::postgres::PgEventReader reader(db_.app_url);
  auto e40 = reader.read_after(events::GlobalPosition{39}, 1);
  ASSERT_TRUE(e40.has_value());
  auto forged = e40->front();
  forged.meta.tenant = "forged";
  forged.hash = codec::compute_hash(forged);
  tamper("UPDATE ledger.events SET tenant = 'forged', hash = '" + forged.hash + "' WHERE global_position = 40");
  auto r = audit::verify_store(db_.app_url, {});
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->intact());
  EXPECT_EQ(r->broken->position, 41);
  EXPECT_EQ(r->broken->code, "prev_hash_mismatch");

  // Per-stream versions are checked too (in a file, where nothing else
  // stops a wrong version that is sealed into the chain).
  events::EventMeta m;
  m.global_position = events::GlobalPosition{1};
  m.stream_id = "s";
  m.stream_version = events::StreamVersion{2};
  auto first = codec::record(m, events::PolicyKeyDefined{}, events::kGenesisHash);
  auto v = verify_text(codec::to_json_text(first) + "\n");
  ASSERT_TRUE(v.has_value());
  ASSERT_FALSE(v->intact());
  EXPECT_EQ(v->broken->code, "stream_version_gap");
  EXPECT_EQ(v->broken->position, 1);
}

// ---------------------------------------------------------------- export + verify --file

TEST_F(AuditExport, ExportVerifiesOnItsOwnWithTheStoresHeadHash) {
  write_fifty();
  const auto path = (dir_ / "export.jsonl").string();
  auto exported = audit::export_events_to_file(db_.app_url, {}, path);
  ASSERT_TRUE(exported.has_value()) << exported.error().message;
  EXPECT_EQ(exported->events, 50);
  EXPECT_EQ(exported->first_position, 1);
  EXPECT_EQ(exported->last_position, 50);

  // No database from here on: drop it to make sure.
  const auto store_head = audit::verify_store(db_.app_url, {})->head_hash;
  service_->stop();
  service_.reset();
  store_.reset();
  ASSERT_EQ(testing::sql_exec(std::getenv("LEDGER_PG_ADMIN_URL"), "DROP DATABASE " + db_.name + " WITH (FORCE)"), "");
  auto r = audit::verify_export_file(path, false);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(r->intact()) << r->broken->message;
  EXPECT_EQ(r->events, 50);
  EXPECT_EQ(r->head_hash, store_head);
  std::ifstream in(path, std::ios::binary);
  EXPECT_EQ(lines_of(std::string(std::istreambuf_iterator<char>(in), {})).size(), 50u);
}

TEST_F(AuditExport, ReorderedKeysAndWhitespaceStillVerifyButAChangedValueFailsWithItsLine) {
  write_fifty();
  auto lines = lines_of(export_text());
  ASSERT_EQ(lines.size(), 50u);
  // Line 10 holds the non-ASCII reason: written with \u escapes, keys
  // reversed, spaces everywhere.
  for (int i : {0, 9, 10, 49}) lines[i] = reordered(json::parse(lines[i]));
  ASSERT_NE(lines[9].find("\\u00e9"), std::string::npos);
  ASSERT_EQ(lines[9].rfind("{ \"tenant\" :  ", 0), 0u) << lines[9];
  auto ok = verify_text(join_lines(lines));
  ASSERT_TRUE(ok.has_value());
  EXPECT_TRUE(ok->intact()) << ok->broken->message;
  EXPECT_EQ(ok->events, 50);

  auto changed = lines;
  json e = json::parse(changed[11]);
  e["payload"]["after"] = 5;
  changed[11] = e.dump();
  auto bad = verify_text(join_lines(changed));
  ASSERT_TRUE(bad.has_value());
  ASSERT_FALSE(bad->intact());
  EXPECT_EQ(bad->broken->line, 12);
  EXPECT_EQ(bad->broken->position, 12);
  EXPECT_EQ(bad->broken->message.rfind("line 12: position 12: hash mismatch", 0), 0u) << bad->broken->message;
}

TEST_F(AuditExport, TruncatedCorruptedAndMissingFilesAreReportedWithTheLine) {
  write_fifty();
  const std::string text = export_text();
  auto lines = lines_of(text);

  // Cut in the middle of the last line.
  auto cut = audit::verify_export_file(write_file("cut-end.jsonl", text.substr(0, text.size() - 40)), false);
  ASSERT_TRUE(cut.has_value());
  ASSERT_FALSE(cut->intact());
  EXPECT_EQ(cut->broken->code, "truncated_line");
  EXPECT_EQ(cut->broken->line, 50);
  EXPECT_EQ(cut->events, 49);
  EXPECT_NE(cut->broken->message.find("line 50: truncated"), std::string::npos) << cut->broken->message;

  // Cut in the middle of line 8.
  std::size_t offset = 0;
  for (int i = 0; i < 7; ++i) offset += lines[i].size() + 1;
  auto cut8 = audit::verify_export_file(write_file("cut-8.jsonl", text.substr(0, offset + 25)), false);
  ASSERT_TRUE(cut8.has_value());
  EXPECT_EQ(cut8->broken->line, 8);
  EXPECT_EQ(cut8->broken->code, "truncated_line");

  // Garbage, an envelope missing a field, an empty line.
  json no_hash = json::parse(lines[19]);
  no_hash.erase("hash");
  for (const auto& [garbage, why] :
       std::vector<std::pair<std::string, std::string>>{{"{\"global_position\": 20, \"oops", "not valid JSON"},
                                                        {no_hash.dump(), "missing field 'hash'"},
                                                        {"", "empty line"}}) {
    auto broken = lines;
    broken[19] = garbage;
    auto r = audit::verify_export_file(write_file("corrupt.jsonl", join_lines(broken)), false);
    ASSERT_TRUE(r.has_value());
    ASSERT_FALSE(r->intact()) << why;
    EXPECT_EQ(r->broken->line, 20) << why;
    EXPECT_EQ(r->broken->code, "corrupted_line") << why;
    EXPECT_NE(r->broken->message.find(why), std::string::npos) << r->broken->message;
  }

  // A duplicated line.
  auto dup = lines;
  dup.insert(dup.begin() + 30, lines[29]);
  auto d = verify_text(join_lines(dup));
  EXPECT_EQ(d->broken->code, "unexpected_position");
  EXPECT_EQ(d->broken->line, 31);

  auto missing = audit::verify_export_file((dir_ / "nope.jsonl").string(), false);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, "file_not_found");
}

TEST_F(AuditExport, RangesArePartialExportsAndBadRangesWriteNothing) {
  write_fifty();
  auto part = export_text({.from = 10, .to = 20});
  EXPECT_EQ(lines_of(part).size(), 11u);
  auto strict = verify_text(part);
  EXPECT_EQ(strict->broken->message, "line 1: position 1 missing (found 10 at the start)");
  auto partial = verify_text(part, /*partial=*/true);
  EXPECT_TRUE(partial->intact());
  EXPECT_TRUE(partial->partial);
  EXPECT_EQ(partial->first_position, 10);
  EXPECT_EQ(partial->head_position, 20);

  const auto path = (dir_ / "beyond.jsonl").string();
  for (auto range : {audit::ExportRange{.from = {}, .to = 51}, audit::ExportRange{.from = 60, .to = {}}}) {
    auto r = audit::export_events_to_file(db_.app_url, range, path);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "position_beyond_head");
    EXPECT_NE(r.error().message.find("beyond the head of the ledger (50)"), std::string::npos) << r.error().message;
  }
  auto reversed = audit::export_events_to_file(db_.app_url, {.from = 20, .to = 10}, path);
  EXPECT_EQ(reversed.error().code, "invalid_range");
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 0);
}

// ---------------------------------------------------------------- history

TEST_F(AuditHistory, KeyStreamAndScopeHistoriesReadAsChanges) {
  define(kKey);
  set(events::ScopeLevel::kOrganization, "acme", 45, {}, "Customer success request");
  set(events::ScopeLevel::kUser, "alice", 20);
  set(events::ScopeLevel::kOrganization, "acme", 90);

  auto stream = audit::stream_history(db_.app_url, "policy-key:" + std::string(kKey));
  ASSERT_TRUE(stream.has_value());
  ASSERT_EQ(stream->size(), 4u);
  const auto line = audit::history_line((*stream)[1]);
  EXPECT_NE(line.find("#2  2026-06-01T00:00:00.000000Z  user:auditor-test [platform_admin]  PolicyValueSet"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("organization:acme: 60 (default) → 45"), std::string::npos) << line;
  EXPECT_NE(line.find("\"Customer success request\""), std::string::npos) << line;
  const auto j = audit::history_json((*stream)[3]);
  EXPECT_EQ(j["position"], 4);
  EXPECT_EQ(j["before"], 45);
  EXPECT_EQ(j["after"], 90);
  EXPECT_EQ(j["scope"]["level"], "organization");
  EXPECT_EQ(j["actor"]["id"], "auditor-test");

  auto acme = audit::scope_history(db_.app_url, {events::ScopeLevel::kOrganization, "acme"}, std::nullopt);
  ASSERT_TRUE(acme.has_value());
  ASSERT_EQ(acme->size(), 2u);
  EXPECT_EQ((*acme)[1].meta.global_position, events::GlobalPosition{4});
  auto alice = audit::scope_history(db_.app_url, *audit::parse_scope("user:alice"), std::string(kKey));
  ASSERT_EQ(alice->size(), 1u);

  EXPECT_EQ(audit::stream_history(db_.app_url, "policy-key:no.such_key").error().code, "unknown_stream");
  EXPECT_EQ(audit::parse_scope("galaxy:x").error().code, "invalid_scope");
  EXPECT_EQ(audit::parse_scope("user").error().code, "invalid_scope");
  EXPECT_EQ(audit::parse_scope("org:acme")->level, events::ScopeLevel::kOrganization);
  EXPECT_EQ(audit::parse_scope("global")->level, events::ScopeLevel::kGlobal);
}

// ---------------------------------------------------------------- as-of

TEST_F(AuditAsOf, ByPositionAndByInstantEqualWhatWasSetThen) {
  const std::int64_t p_def = define(kKey);  // default 60, at T0
  clock_.advance_micros(kHour);
  const std::int64_t p45 = set(events::ScopeLevel::kOrganization, "acme", 45);  // T0+1h
  clock_.advance_micros(kHour);
  const std::int64_t p90 = set(events::ScopeLevel::kOrganization, "acme", 90);  // T0+2h
  clock_.advance_micros(kHour);
  const std::int64_t p_alice = set(events::ScopeLevel::kUser, "alice", 10);  // T0+3h
  clock_.advance_micros(kHour);
  const std::int64_t p_future =
      set(events::ScopeLevel::kOrganization, "acme", 120, events::Instant{kT0 + 10 * kHour});  // at T0+4h

  auto ask = [&](std::optional<std::int64_t> position, std::optional<std::int64_t> at_micros, std::string user = "") {
    audit::AsOfQuery q;
    q.key = kKey;
    q.chain.user_id = std::move(user);
    q.chain.org_id = "acme";
    q.chain.plan = "pro";
    q.position = position;
    if (at_micros) q.instant = events::Instant{*at_micros};
    return audit::as_of(db_.app_url, q);
  };
  auto value = [](const domain::Result<audit::AsOfAnswer>& a) {
    return a ? std::get<std::int64_t>(a->resolution.value.v) : -1;
  };

  // By position: resolved at that event's commit time.
  auto at45 = ask(p45, {});
  ASSERT_TRUE(at45.has_value()) << at45.error().message;
  EXPECT_EQ(value(at45), 45);
  EXPECT_EQ(at45->position, p45);
  EXPECT_EQ(at45->resolution.source.level, events::ScopeLevel::kOrganization);
  EXPECT_EQ(at45->resolution.position, p45);
  EXPECT_EQ(at45->as_of.micros, kT0 + kHour);
  EXPECT_EQ(value(ask(p90, {})), 90);
  EXPECT_EQ(value(ask(p90, {}, "alice")), 90);  // alice's own value came later
  EXPECT_EQ(value(ask(p_alice, {}, "alice")), 10);
  auto before = ask(p_def, {});
  EXPECT_EQ(value(before), 60);
  EXPECT_TRUE(before->resolution.is_default);

  // By instant: the ledger as committed then.
  auto half_past = ask({}, kT0 + kHour + kHour / 2);
  ASSERT_TRUE(half_past.has_value());
  EXPECT_EQ(value(half_past), 45);
  EXPECT_EQ(half_past->position, p45);
  EXPECT_EQ(value(ask({}, kT0 + 2 * kHour + kHour / 2, "alice")), 90);
  EXPECT_EQ(ask({}, kT0 + 2 * kHour)->position, p90);  // committed exactly then: included

  // A future-dated value is in the ledger from its position, in force from
  // its effective_at.
  EXPECT_EQ(value(ask(p_future, {})), 90);
  EXPECT_EQ(value(ask(p_future, kT0 + 11 * kHour)), 120);
  EXPECT_EQ(value(ask({}, kT0 + 11 * kHour)), 120);
  EXPECT_EQ(value(ask(p90, kT0 + 11 * kHour)), 90);  // at p90 nobody had set 120 yet

  // Bad input: clear errors.
  auto beyond = ask(p_future + 1, {});
  ASSERT_FALSE(beyond.has_value());
  EXPECT_EQ(beyond.error().code, "position_beyond_head");
  EXPECT_EQ(beyond.error().message, "position 6 is beyond the head of the ledger (5)");
  EXPECT_EQ(ask(0, {}).error().code, "invalid_position");
  EXPECT_EQ(ask({}, {}).error().code, "missing_point");
  auto early = ask({}, kT0 - kHour);
  ASSERT_FALSE(early.has_value());
  EXPECT_EQ(early.error().code, "before_history");
  audit::AsOfQuery unknown;
  unknown.key = "no.such_key";
  unknown.position = 3;
  EXPECT_EQ(audit::as_of(db_.app_url, unknown).error().code, "unknown_policy_key");
}

TEST_F(AuditAsOf, AKeyDefinedLaterIsNotKnownBeforeItsDefinition) {
  define("other.key_name");
  clock_.advance_micros(kHour);
  define(kKey);
  audit::AsOfQuery q;
  q.key = kKey;
  q.position = 1;
  auto r = audit::as_of(db_.app_url, q);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "unknown_policy_key");
  EXPECT_EQ(r.error().message,
            "policy key 'billing.window_seconds' was not defined yet at position 1 (defined at position 2)");
}

// ---------------------------------------------------------------- digest

TEST_F(AuditDigest, SignedHeadChecksUntilHistoryBeforeItChanges) {
  write_fifty();
  const std::string key_path = write_file("key", "s3cret-key\n");
  auto key = audit::read_key_file(key_path);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(*key, "s3cret-key");

  auto d = audit::sign_digest(db_.app_url, *key, 30);
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ(d->position, 30);
  EXPECT_EQ(d->hash, testing::sql_scalar(db_.admin_url, "SELECT hash FROM ledger.events WHERE global_position = 30"));
  EXPECT_EQ(d->signature, codec::hmac_sha256_hex("s3cret-key", "policy-ledger-digest:v1|30|" + d->hash));
  const auto digest_path = write_file("digest.json", codec::digest_to_json(*d).dump());
  auto back = audit::read_digest_file(digest_path);
  ASSERT_TRUE(back.has_value()) << back.error().message;

  auto ok = audit::check_digest(db_.app_url, *key, *back);
  ASSERT_TRUE(ok.has_value());
  EXPECT_TRUE(ok->ok()) << ok->problems.front();
  // History growing after the digest is fine.
  set(events::ScopeLevel::kUser, "late", 7);
  EXPECT_TRUE(audit::check_digest(db_.app_url, *key, *back)->ok());
  // Under another key the signature does not hold.
  auto wrong = audit::check_digest(db_.app_url, "other-key", *back);
  EXPECT_FALSE(wrong->ok());
  EXPECT_FALSE(wrong->signature_valid);

  EXPECT_EQ(audit::sign_digest(db_.app_url, *key, 52).error().code, "position_beyond_head");

  tamper(
      "UPDATE ledger.events SET payload = jsonb_set(payload, '{reason}', '\"rewritten\"') WHERE global_position = 12");
  auto changed = audit::check_digest(db_.app_url, *key, *back);
  ASSERT_TRUE(changed.has_value());
  EXPECT_FALSE(changed->ok());
  EXPECT_TRUE(changed->signature_valid);
  ASSERT_FALSE(changed->problems.empty());
  EXPECT_NE(changed->problems.front().find("position 12: hash mismatch"), std::string::npos)
      << changed->problems.front();
  // Nothing is signed over a broken chain.
  auto refused = audit::sign_digest(db_.app_url, *key, 40);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, "chain_broken");
}

TEST_F(AuditDigest, ARewrittenButSelfConsistentChainIsCaughtByTheDigestAlone) {
  write_fifty();
  auto d = audit::sign_digest(db_.app_url, "k", 50);
  ASSERT_TRUE(d.has_value());
  // A forger rewrites position 10 and re-seals every later event, so the
  // chain is consistent again and verify alone cannot tell.
  adapters::postgres::PgEventReader reader(db_.app_url);
  auto all = reader.read_after(events::GlobalPosition{0}, 100);
  ASSERT_TRUE(all.has_value());
  std::string prev = (*all)[8].hash;
  std::string sql;
  for (std::size_t i = 9; i < all->size(); ++i) {
    auto r = (*all)[i];
    if (i == 9) r.meta.correlation_id = "forged";
    r.prev_hash = prev;
    r.hash = codec::compute_hash(r);
    prev = r.hash;
    sql += "UPDATE ledger.events SET correlation_id = '" + r.meta.correlation_id + "', prev_hash = '" + r.prev_hash +
           "', hash = '" + r.hash + "' WHERE global_position = " + std::to_string(r.meta.global_position.value) + "; ";
  }
  tamper(sql.substr(0, sql.size() - 2));
  EXPECT_TRUE(audit::verify_store(db_.app_url, {})->intact());
  auto check = audit::check_digest(db_.app_url, "k", *d);
  ASSERT_TRUE(check.has_value());
  EXPECT_FALSE(check->ok());
  ASSERT_EQ(check->problems.size(), 1u);
  EXPECT_NE(check->problems[0].find("position 50: the stored hash is now"), std::string::npos) << check->problems[0];
}

TEST_F(AuditDigest, BadKeyAndDigestFilesAreClearErrors) {
  EXPECT_EQ(audit::read_key_file((dir_ / "none").string()).error().code, "file_not_found");
  EXPECT_EQ(audit::read_key_file(write_file("empty", "\n")).error().code, "empty_key");
  EXPECT_EQ(audit::read_digest_file(write_file("trunc.json", "{\"position\": 3, \"ha")).error().code,
            "corrupted_digest");
  auto bad = audit::read_digest_file(write_file("bad.json", R"({"position": 3, "hash": "x"})"));
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("hash"), std::string::npos);
  // A digest past the head: history was cut.
  write_fifty();
  auto d = codec::sign_chain_head("k", 80, std::string(64, 'a'));
  auto check = audit::check_digest(db_.app_url, "k", d);
  ASSERT_TRUE(check.has_value());
  EXPECT_FALSE(check->ok());
  EXPECT_NE(check->problems[0].find("beyond the head (50)"), std::string::npos) << check->problems[0];
}

// ---------------------------------------------------------------- replay

TEST_F(AuditReplay, ReplayFromPostgresEqualsLiveAndReportsEveryDifference) {
  write_fifty();
  project_live();
  audit::ReplayOptions o;
  o.pg_url = db_.app_url;
  o.scratch_schema = "rm_replay";
  auto same = audit::replay(o);
  ASSERT_TRUE(same.has_value()) << same.error().message;
  EXPECT_TRUE(same->identical()) << same->differences.front().table;
  EXPECT_EQ(same->replayed_to, 50);
  for (const char* t : {"checkpoints", "policy_keys", "policy_values"}) {
    EXPECT_NE(std::find(same->tables.begin(), same->tables.end(), t), same->tables.end()) << t;
  }
  EXPECT_TRUE(same->scratch_dropped);
  EXPECT_EQ(testing::sql_scalar(db_.admin_url, "SELECT count(*) FROM pg_namespace WHERE nspname = 'rm_replay'"), "0");

  // Someone edits the live read model: every changed row is reported.
  ASSERT_EQ(testing::sql_exec(db_.admin_url, "UPDATE rm.policy_values SET value = '7' WHERE position IN (17, 18)"), "");
  ASSERT_EQ(testing::sql_exec(db_.admin_url, "DELETE FROM rm.policy_keys"), "");
  auto diff = audit::replay(o);
  ASSERT_TRUE(diff.has_value()) << diff.error().message;
  EXPECT_FALSE(diff->identical());
  EXPECT_EQ(diff->differing_rows, 5u);  // two rows changed (both sides each) + one key gone
  std::map<std::string, std::size_t> rows;
  for (const auto& d : diff->differences) rows[d.table] = d.rows.size();
  EXPECT_EQ(rows["policy_values"], 4u);
  EXPECT_EQ(rows["policy_keys"], 1u);
  EXPECT_FALSE(diff->scratch_dropped);  // kept for inspection
  const auto j = audit::replay_report_json(*diff);
  EXPECT_FALSE(j["identical"].get<bool>());

  // One read model only: its tables and its checkpoint.
  o.read_models = {"policy_values"};
  auto one = audit::replay(o);
  ASSERT_TRUE(one.has_value()) << one.error().message;
  EXPECT_EQ(one->differing_rows, 5u);
  EXPECT_NE(std::find(one->tables.begin(), one->tables.end(), "policy_values"), one->tables.end());
  o.read_models = {"no_such_model"};
  EXPECT_EQ(audit::replay(o).error().code, "unknown_read_model");
  o.read_models = {};

  o.scratch_schema = "rm";
  EXPECT_EQ(audit::replay(o).error().code, "scratch_is_live");
  o.scratch_schema = "Bad-Name";
  EXPECT_EQ(audit::replay(o).error().code, "invalid_schema");
}

TEST_F(AuditReplay, ReplayFromKafkaEqualsLive) {
  write_fifty();
  project_live();
  const std::string topic = testing::unique_name("ledger.events");
  ASSERT_TRUE(adapters::kafka::ensure_topics(testing::kafka_brokers(), {{topic, 1, {{"retention.ms", "-1"}}}}, 30s,
                                             testing::kafka_security()));
  {
    std::atomic<bool> stop{false};
    relay::RelayOptions ro;
    ro.pg_url = db_.app_url;
    ro.brokers = testing::kafka_brokers();
    ro.kafka_security = testing::kafka_security();
    ro.topic = topic;
    ro.name = topic;
    std::thread relay([&] { relay::run_relay(ro, stop); });
    adapters::postgres::PgRelayCheckpoint cp(db_.app_url, topic);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (cp.load().value_or(events::GlobalPosition{0}) < events::GlobalPosition{50} &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    stop = true;
    relay.join();
    ASSERT_EQ(cp.load().value_or(events::GlobalPosition{0}), events::GlobalPosition{50});
  }
  audit::ReplayOptions o;
  o.pg_url = db_.app_url;
  o.brokers = testing::kafka_brokers();
  o.kafka_security = testing::kafka_security();
  o.topic = topic;
  o.source = projector::RebuildSource::kKafka;
  o.scratch_schema = "rm_from_kafka";
  auto r = audit::replay(o);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->replayed_to, 50);
  EXPECT_TRUE(r->identical()) << r->differences.front().table;
}

// ---------------------------------------------------------------- scale

// The issue's bar: verify and replay over at least 100,000 events written
// through the real command service (group commit), and the rebuilt read
// models equal the live ones.
TEST_F(AuditScale, HundredThousandEventsVerifyExportAndReplay) {
  using Clock = std::chrono::steady_clock;
  auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  drop_database_ = true;
  start_service({.max_batch = 1000, .heartbeat = 500ms});

  const std::vector<std::string> keys = {kKey, "quota.max_projects", "session.idle_minutes", "export.max_rows"};
  for (const auto& k : keys) define(k, 60);
  constexpr int kValues = 100'000;
  constexpr int kUsers = 20'000;
  auto t = Clock::now();
  std::int64_t last = 0;
  for (int wave = 0; wave < kValues; wave += 5000) {
    std::vector<std::future<domain::Result<commands::Accepted>>> fs;
    fs.reserve(5000);
    for (int i = wave; i < wave + 5000; ++i) {
      const auto& key = keys[i % keys.size()];
      const auto level = i % 10 == 0 ? events::ScopeLevel::kOrganization : events::ScopeLevel::kUser;
      const std::string id =
          level == events::ScopeLevel::kUser ? "user-" + std::to_string(i % kUsers) : "org-" + std::to_string(i % 50);
      commands::CommandRequest r{
          {"bulk-" + std::to_string(i), admin(), "", ""},
          domain::SetPolicyValue{
              key, {level, id}, events::PolicyValue{std::int64_t{1 + i % 1000}}, {}, "bulk load", {}},
          {}};
      fs.push_back(service_->submit_async(std::move(r)));
    }
    for (auto& f : fs) {
      auto r = f.get();
      ASSERT_TRUE(r.has_value()) << r.error().code << ": " << r.error().message;
      last = std::max(last, r->position.value);
    }
  }
  const double write_s = seconds_since(t);
  const std::int64_t total = kValues + static_cast<std::int64_t>(keys.size());
  ASSERT_EQ(last, total);

  t = Clock::now();
  auto v = audit::verify_store(db_.app_url, {});
  const double verify_s = seconds_since(t);
  ASSERT_TRUE(v.has_value()) << v.error().message;
  EXPECT_TRUE(v->intact()) << v->broken->message;
  EXPECT_EQ(v->events, total);
  EXPECT_EQ(v->streams, keys.size());

  t = Clock::now();
  const auto path = (dir_ / "all.jsonl").string();
  auto exported = audit::export_events_to_file(db_.app_url, {}, path);
  ASSERT_TRUE(exported.has_value());
  auto file = audit::verify_export_file(path, false);
  const double export_s = seconds_since(t);
  ASSERT_TRUE(file.has_value());
  EXPECT_TRUE(file->intact());
  EXPECT_EQ(file->head_hash, v->head_hash);

  t = Clock::now();
  project_live();
  const double live_s = seconds_since(t);
  t = Clock::now();
  audit::ReplayOptions o;
  o.pg_url = db_.app_url;
  o.scratch_schema = "rm_replay";
  auto replayed = audit::replay(o);
  const double replay_s = seconds_since(t);
  ASSERT_TRUE(replayed.has_value()) << replayed.error().message;
  EXPECT_EQ(replayed->replayed_to, total);
  EXPECT_TRUE(replayed->identical()) << replayed->differences.front().table;
  EXPECT_EQ(testing::sql_scalar(db_.admin_url, "SELECT count(*) FROM rm.policy_values"), std::to_string(kValues));

  std::printf(
      "[ scale    ] %lld events: write %.1f s (%.0f/s), verify %.1f s (%.0f/s), export+verify file %.1f s, "
      "live projection %.1f s, replay+compare %.1f s (%.0f/s)\n",
      static_cast<long long>(total), write_s, total / write_s, verify_s, total / verify_s, export_s, live_s, replay_s,
      total / replay_s);
  RecordProperty("events", std::to_string(total));
  RecordProperty("verify_events_per_s", std::to_string(static_cast<long long>(total / verify_s)));
  RecordProperty("replay_events_per_s", std::to_string(static_cast<long long>(total / replay_s)));
}

}  // namespace
}  // namespace ledger
