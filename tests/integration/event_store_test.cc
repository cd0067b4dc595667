// The PostgreSQL event store against the real server: append-only enforced by
// the database, the chain checked by the database, idempotency, the single
// writer lock, and group commit through the command service.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <bit>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>

#include "adapters/postgres/admin.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_store.h"
#include "adapters/system/clock.h"
#include "commands/command_service.h"
#include "events/codec/json_codec.h"
#include "tests/support/test_env.h"

namespace ledger {
namespace adapters {
const std::vector<std::pair<std::string, std::string>>& embedded_sql();
}  // namespace adapters
namespace {

using namespace std::chrono_literals;
using adapters::postgres::PgEventReader;
using adapters::postgres::PgEventStore;

commands::CommandRequest define_key(const std::string& key, const std::string& command_id) {
  events::PolicyKeyDefined d;
  d.key = key;
  d.value_type = events::ValueType::kInt;
  d.default_value = events::PolicyValue{std::int64_t{10}};
  d.min = 0;
  d.max = 1000;
  d.write_audience = events::WriteAudience::kTenant;
  commands::CommandRequest r;
  r.command = domain::DefinePolicyKey{d};
  r.meta.command_id = command_id;
  r.meta.principal = {{"user", "tester", {"platform_admin"}}, "platform"};
  return r;
}

commands::CommandRequest set_value(const std::string& key, const std::string& user, std::int64_t v,
                                   const std::string& command_id) {
  commands::CommandRequest r;
  r.command = domain::SetPolicyValue{key, {events::ScopeLevel::kUser, user}, events::PolicyValue{v}, {}, "test", {}};
  r.meta.command_id = command_id;
  r.meta.principal = {{"user", "tester", {"platform_admin"}}, "platform"};
  return r;
}

class EventStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::create_database(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  testing::TestDatabase db_;
  adapters::system::SystemClock clock_;
};

TEST_F(EventStoreTest, AcceptedCommandsAreStoredGapFreeAndChained) {
  PgEventStore store(db_.app_url, clock_);
  commands::CommandService svc(store, clock_);
  svc.start();
  ASSERT_TRUE(svc.submit_async(define_key("test.limit", "def")).get().has_value());
  std::vector<std::future<domain::Result<commands::Accepted>>> futures;
  for (int i = 0; i < 300; ++i)
    futures.push_back(
        svc.submit_async(set_value("test.limit", "u" + std::to_string(i % 7), i, "c" + std::to_string(i))));
  std::set<events::GlobalPosition> positions;
  for (auto& f : futures) {
    auto r = f.get();
    ASSERT_TRUE(r.has_value()) << r.error().code;
    positions.insert(r->position);
  }
  EXPECT_EQ(positions.size(), 300u);

  PgEventReader reader(db_.app_url);
  auto all = reader.read_after(events::GlobalPosition{0}, 10'000);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 301u);
  std::string prev = events::kGenesisHash;
  for (std::size_t i = 0; i < all->size(); ++i) {
    const auto& r = (*all)[i];
    EXPECT_EQ(r.meta.global_position.value, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(r.prev_hash, prev);
    EXPECT_EQ(codec::compute_hash(r), r.hash) << "position " << r.meta.global_position.value;
    EXPECT_EQ(r.meta.actor.id, "tester");
    prev = r.hash;
  }
  // Group commit: many commands shared transactions (fewer distinct commit
  // times than commands).
  auto commits = testing::sql_scalar(db_.admin_url, "SELECT count(DISTINCT recorded_at) FROM ledger.events");
  EXPECT_LT(std::stoi(commits), 301);
}

TEST_F(EventStoreTest, SameCommandIdReturnsTheFirstOutcomeAndWritesOnce) {
  auto store = std::make_unique<PgEventStore>(db_.app_url, clock_);
  commands::CommandService svc(*store, clock_);
  svc.start();
  ASSERT_TRUE(svc.submit_async(define_key("test.limit", "def")).get().has_value());
  auto first = svc.submit_async(set_value("test.limit", "alice", 5, "same-id")).get();
  auto second = svc.submit_async(set_value("test.limit", "alice", 6, "same-id")).get();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(first->duplicate);
  EXPECT_TRUE(second->duplicate);
  EXPECT_EQ(first->event_ids, second->event_ids);
  EXPECT_EQ(first->position, second->position);
  EXPECT_EQ(testing::sql_scalar(db_.admin_url, "SELECT count(*) FROM ledger.events WHERE command_id = 'same-id'"), "1");

  // A new service instance (fresh cache, e.g. after a restart) still knows.
  svc.stop();
  store.reset();  // releases the writer lock
  PgEventStore store2(db_.app_url, clock_);
  ASSERT_TRUE(testing::eventually(5s, [&] { return store2.acquire_writer().has_value(); }, 20ms));
  commands::CommandService svc2(store2, clock_);
  svc2.start();
  auto third = svc2.submit_async(set_value("test.limit", "alice", 7, "same-id")).get();
  ASSERT_TRUE(third.has_value());
  EXPECT_TRUE(third->duplicate);
  EXPECT_EQ(third->position, first->position);
}

TEST_F(EventStoreTest, HistoryCannotBeUpdatedDeletedOrTruncatedEvenBySuperuser) {
  PgEventStore store(db_.app_url, clock_);
  commands::CommandService svc(store, clock_);
  svc.start();
  ASSERT_TRUE(svc.submit_async(define_key("test.limit", "def")).get().has_value());
  for (const auto* url : {&db_.app_url, &db_.admin_url}) {
    EXPECT_NE(testing::sql_exec(*url, "UPDATE ledger.events SET tenant = 'x'"), "");
    EXPECT_NE(testing::sql_exec(*url, "DELETE FROM ledger.events"), "");
    EXPECT_NE(testing::sql_exec(*url, "TRUNCATE ledger.events"), "");
    EXPECT_NE(testing::sql_exec(*url, "DELETE FROM ledger.command_outcomes"), "");
  }
  // The application role lacks the grants in the first place.
  EXPECT_NE(testing::sql_exec(db_.app_url, "UPDATE ledger.events SET tenant = 'x'").find("permission denied"),
            std::string::npos);
  EXPECT_EQ(testing::sql_scalar(db_.admin_url, "SELECT count(*) FROM ledger.events"), "1");
}

TEST_F(EventStoreTest, DatabaseRefusesAppendsThatDoNotExtendTheChain) {
  PgEventStore store(db_.app_url, clock_);
  commands::CommandService svc(store, clock_);
  svc.start();
  ASSERT_TRUE(svc.submit_async(define_key("test.limit", "def")).get().has_value());
  const std::string insert =
      "INSERT INTO ledger.events (global_position, stream_id, stream_version, event_id, event_type, schema_version, "
      "occurred_at, recorded_at, actor, tenant, correlation_id, causation_id, command_id, payload, prev_hash, hash) "
      "VALUES (%POS%, 's', 1, gen_random_uuid(), 'PolicyKeyDefined', 1, now(), now(), '{}', 'platform', '', '', 'x', "
      "'{}', %PREV%, md5(random()::text))";
  auto with = [&](std::string pos, std::string prev) {
    std::string s = insert;
    s.replace(s.find("%POS%"), 5, pos);
    s.replace(s.find("%PREV%"), 6, prev);
    return s;
  };
  const std::string head_hash = "(SELECT hash FROM ledger.events WHERE global_position = 1)";
  EXPECT_NE(testing::sql_exec(db_.admin_url, with("3", head_hash)), "");          // a gap
  EXPECT_NE(testing::sql_exec(db_.admin_url, with("1", "repeat('0', 64)")), "");  // a duplicate position
  EXPECT_NE(testing::sql_exec(db_.admin_url, with("2", "repeat('1', 64)")), "");  // a broken link
  EXPECT_EQ(testing::sql_scalar(db_.admin_url, "SELECT count(*) FROM ledger.events"), "1");
}

// Issue 10, item 5: `ledger-admin migrate` upgrades a database whose
// command outcomes were keyed by command id alone (001 only), twice in a
// row; an old record then answers only the principal its events name.
TEST_F(EventStoreTest, MigrationScopesOldOutcomesToThePrincipalTheirEventsName) {
  ASSERT_EQ(testing::sql_exec(db_.admin_url, "DROP SCHEMA ledger CASCADE"), "");
  for (const auto& [name, text] : adapters::embedded_sql()) {
    if (name == "001_event_store.sql") {
      ASSERT_TRUE(adapters::postgres::execute(db_.admin_url, text).has_value());
    }
  }
  ASSERT_EQ(testing::sql_scalar(db_.admin_url,
                                "SELECT count(*) FROM information_schema.columns WHERE "
                                "table_schema = 'ledger' AND table_name = 'command_outcomes'"),
            "6");
  ASSERT_EQ(testing::sql_exec(
                db_.admin_url,
                "INSERT INTO ledger.events (global_position, stream_id, stream_version, event_id, event_type, "
                "schema_version, occurred_at, recorded_at, actor, tenant, correlation_id, causation_id, command_id, "
                "payload, prev_hash, hash) VALUES (1, 's', 1, '00000000-0000-4000-8000-000000000001', "
                "'PolicyKeyDefined', 1, now(), now(), '{\"type\":\"user\",\"id\":\"alice\",\"roles\":[]}', "
                "'org-acme', '', '', 'old-cmd', '{}', repeat('0', 64), md5('x'))"),
            "");
  ASSERT_EQ(testing::sql_exec(db_.admin_url,
                              "INSERT INTO ledger.command_outcomes VALUES ('old-cmd', 's', "
                              "'[\"00000000-0000-4000-8000-000000000001\"]', 1, 1, now())"),
            "");
  for (int run = 0; run < 2; ++run) {
    auto migrated = adapters::postgres::migrate(db_.admin_url, "rm");
    ASSERT_TRUE(migrated.has_value()) << run << ": " << migrated.error().message;
  }
  EXPECT_EQ(testing::sql_scalar(db_.admin_url,
                                "SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM pg_index i "
                                "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
                                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                                "WHERE i.indrelid = 'ledger.command_outcomes'::regclass AND i.indisprimary"),
            "tenant,actor_type,actor_id,command_id");
  EXPECT_EQ(testing::sql_scalar(db_.admin_url, "SELECT count(*) FROM ledger.command_outcomes"), "1");

  PgEventStore store(db_.app_url, clock_);
  ASSERT_TRUE(store.acquire_writer().has_value());
  const std::vector<commands::IdempotencyKey> keys = {
      {"org-acme", "user", "alice", "old-cmd"},    // who wrote it
      {"platform", "user", "alice", "old-cmd"},    // the same actor as a platform principal
      {"org-globex", "user", "alice", "old-cmd"},  // the same actor id in another organization
      {"org-acme", "user", "mallory", "old-cmd"},  // another principal
      {"", "ledger", "", "old-cmd"}};              // the internal namespace
  auto found = store.find_outcomes(keys);
  ASSERT_TRUE(found.has_value()) << found.error().message;
  ASSERT_EQ(found->size(), keys.size());
  ASSERT_TRUE((*found)[0].has_value());
  EXPECT_EQ((*found)[0]->event_ids, std::vector<std::string>{"00000000-0000-4000-8000-000000000001"});
  EXPECT_EQ((*found)[0]->request_hash, "");  // any body counts as the same request
  EXPECT_TRUE((*found)[1].has_value());
  EXPECT_FALSE((*found)[2].has_value());
  EXPECT_FALSE((*found)[3].has_value());
  EXPECT_FALSE((*found)[4].has_value());
}

// Outcomes are keyed per caller: two principals' records under one command id.
TEST_F(EventStoreTest, OutcomesAreKeyedByTenantActorAndCommandId) {
  PgEventStore store(db_.app_url, clock_);
  commands::CommandService svc(store, clock_);
  svc.start();
  ASSERT_TRUE(svc.submit_async(define_key("test.limit", "def")).get().has_value());
  auto mine = set_value("test.limit", "u1", 1, "same-id");
  mine.meta.request_hash = "h1";
  auto theirs = set_value("test.limit", "u2", 2, "same-id");
  theirs.meta.principal = {{"user", "tester", {"tenant_admin"}}, "org-other"};
  theirs.meta.request_hash = "h2";
  auto a = svc.submit_async(mine).get();
  auto b = svc.submit_async(theirs).get();
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_FALSE(b->duplicate);
  EXPECT_NE(a->event_ids, b->event_ids);
  auto again = svc.submit_async(mine).get();
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->event_ids, a->event_ids);
  mine.meta.request_hash = "h3";
  auto reused = svc.submit_async(mine).get();
  ASSERT_FALSE(reused.has_value());
  EXPECT_EQ(reused.error().code, "idempotency_key_reused");
  EXPECT_EQ(
      testing::sql_scalar(db_.admin_url,
                          "SELECT string_agg(tenant || '/' || actor_id || '/' || request_hash, ',' ORDER BY tenant) "
                          "FROM ledger.command_outcomes WHERE command_id = 'same-id'"),
      "org-other/tester/h2,platform/tester/h1");
}

TEST_F(EventStoreTest, OnlyOneWriterHoldsTheLockAndAStandbyTakesOver) {
  auto active = std::make_unique<PgEventStore>(db_.app_url, clock_);
  PgEventStore standby(db_.app_url, clock_);
  ASSERT_TRUE(active->acquire_writer().has_value());
  auto refused = standby.acquire_writer();
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, "not_writer");
  active.reset();  // its connection closes: the lock is released with it
  EXPECT_TRUE(testing::eventually(5s, [&] { return standby.acquire_writer().has_value(); }, 20ms));
}

TEST_F(EventStoreTest, ExpectedVersionConflictIsRefusedAndWritesNothing) {
  PgEventStore store(db_.app_url, clock_);
  commands::CommandService svc(store, clock_);
  svc.start();
  ASSERT_TRUE(svc.submit_async(define_key("test.limit", "def")).get().has_value());
  auto req = set_value("test.limit", "alice", 5, "stale");
  req.expected_version = events::StreamVersion{0};  // the stream is at version 1
  auto r = svc.submit_async(req).get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "stream_version_conflict");
  EXPECT_EQ(testing::sql_scalar(db_.admin_url, "SELECT count(*) FROM ledger.events"), "1");
}

// Issue 10, item 12: `ledger-admin migrate` rekeys a read model from before
// reservation ids were scoped per organization (reservations keyed by id,
// reservation_states by (id, position)), twice in a row: each state row takes
// its reservation's organization, and the columns end up in a fresh table's
// order (replay compares rows).
TEST_F(EventStoreTest, MigrationKeysReservationsByOrganizationAndId) {
  ASSERT_EQ(testing::sql_exec(db_.admin_url,
                              "DROP TABLE rm.reservations, rm.reservation_states;"
                              "CREATE TABLE rm.reservations (reservation_id text PRIMARY KEY, organization_id text NOT "
                              "NULL, owner_level text NOT NULL, owner_id text NOT NULL, kind text NOT NULL, dimension "
                              "text NOT NULL, region text NOT NULL, sku_or_model text NOT NULL, quantity bigint NOT "
                              "NULL, unit text NOT NULL, window_start timestamptz NOT NULL, window_end timestamptz NOT "
                              "NULL, attributes jsonb NOT NULL, position bigint NOT NULL);"
                              "CREATE TABLE rm.reservation_states (reservation_id text NOT NULL, position bigint NOT "
                              "NULL, state text, consumed bigint, version bigint NOT NULL, PRIMARY KEY "
                              "(reservation_id, position));"
                              "INSERT INTO rm.reservations VALUES ('r1', 'acme', 'project', 'p1', 'gpu_nodes', "
                              "'gpu.count', '', '', 4, 'gpu', now(), now() + interval '1 day', '{}', 10);"
                              "INSERT INTO rm.reservation_states VALUES ('r1', 10, 'draft', 0, 1), "
                              "('r1', 11, 'active', NULL, 2)"),
            "");
  for (int run = 0; run < 2; ++run) {
    auto migrated = adapters::postgres::migrate(db_.admin_url, "rm");
    ASSERT_TRUE(migrated.has_value()) << run << ": " << migrated.error().message;
  }
  auto primary_key = [&](const std::string& table) {
    return testing::sql_scalar(db_.admin_url,
                               "SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM pg_index i "
                               "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
                               "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                               "WHERE i.indrelid = '" +
                                   table + "'::regclass AND i.indisprimary");
  };
  EXPECT_EQ(primary_key("rm.reservations"), "organization_id,reservation_id");
  EXPECT_EQ(primary_key("rm.reservation_states"), "organization_id,reservation_id,position");
  EXPECT_EQ(testing::sql_scalar(db_.admin_url,
                                "SELECT string_agg(DISTINCT organization_id, ',') FROM "
                                "rm.reservation_states"),
            "acme");
  ASSERT_TRUE(adapters::postgres::prepare_read_model_schema(db_.admin_url, "rm_fresh", true).has_value());
  auto columns = [&](const std::string& schema) {
    return testing::sql_scalar(db_.admin_url,
                               "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM "
                               "information_schema.columns WHERE table_schema = '" +
                                   schema + "' AND table_name = 'reservation_states'");
  };
  EXPECT_EQ(columns("rm"), columns("rm_fresh"));
  // Another organization may now use the id.
  EXPECT_EQ(testing::sql_exec(db_.admin_url,
                              "INSERT INTO rm.reservation_states (organization_id, reservation_id, "
                              "position, state, consumed, version) VALUES ('globex', 'r1', 12, 'draft', "
                              "0, 1)"),
            "");
}

// The decision log's large values are compressed with lz4 (migration 007),
// and migrating again keeps them so.
TEST_F(EventStoreTest, DecisionLogValuesAreCompressedWithLz4) {
  for (int run = 0; run < 2; ++run) {
    auto migrated = adapters::postgres::migrate(db_.admin_url, "rm");
    ASSERT_TRUE(migrated.has_value()) << run << ": " << migrated.error().message;
  }
  EXPECT_EQ(testing::sql_scalar(db_.admin_url,
                                "SELECT string_agg(attname || '=' || attcompression::text, ',' ORDER BY attname) "
                                "FROM pg_attribute WHERE attrelid = 'decision_log.decisions'::regclass "
                                "AND attname IN ('input', 'output')"),
            "input=l,output=l");
  // Large enough to be compressed inline (a row over ~2 kB), small enough
  // not to go out of line.
  ASSERT_EQ(testing::sql_exec(db_.admin_url,
                              "INSERT INTO decision_log.decisions (decision_id, recorded_at, as_of, "
                              "organization_id, project_id, actor_tenant, actor_type, actor_id, correlation_id, "
                              "decision, reason_code, snapshot_version, input, output) VALUES ('d1', now(), now(), "
                              "'acme', 'p1', 'acme', 'user', 'alice', 'c1', 'allow', 'within_limits', 1, "
                              "jsonb_build_object('pad', repeat('input ', 600)), "
                              "jsonb_build_object('pad', repeat('output ', 600)))"),
            "");
  EXPECT_EQ(testing::sql_scalar(db_.admin_url,
                                "SELECT pg_column_compression(input) || ',' || pg_column_compression(output) "
                                "FROM decision_log.decisions WHERE decision_id = 'd1'"),
            "lz4,lz4");
}

// A decision log from before migration 008 (input and output jsonb) is
// converted to json columns once, its rows kept and its values still
// compressed with lz4; migrating again changes nothing.
TEST_F(EventStoreTest, AnOlderDecisionLogGetsJsonColumnsOnce) {
  ASSERT_EQ(testing::sql_exec(db_.admin_url,
                              "ALTER TABLE decision_log.decisions ALTER COLUMN input TYPE jsonb USING input::jsonb, "
                              "ALTER COLUMN output TYPE jsonb USING output::jsonb"),
            "");
  ASSERT_EQ(testing::sql_exec(db_.admin_url,
                              "INSERT INTO decision_log.decisions (decision_id, recorded_at, as_of, "
                              "organization_id, project_id, actor_tenant, actor_type, actor_id, correlation_id, "
                              "decision, reason_code, snapshot_version, input, output) VALUES ('old', now(), now(), "
                              "'acme', 'p1', 'acme', 'user', 'alice', 'c1', 'allow', 'within_limits', 1, "
                              "'{\"b\":1,\"a\":[true,null]}'::jsonb, "
                              "jsonb_build_object('pad', repeat('output ', 600)))"),
            "");
  const std::string columns =
      "SELECT string_agg(attname || '=' || format_type(atttypid, NULL) || '/' || attcompression::text, ',' "
      "ORDER BY attname) FROM pg_attribute WHERE attrelid = 'decision_log.decisions'::regclass "
      "AND attname IN ('input', 'output')";
  EXPECT_EQ(testing::sql_scalar(db_.admin_url, columns), "input=jsonb/,output=jsonb/");
  for (int run = 0; run < 2; ++run) {
    auto migrated = adapters::postgres::migrate(db_.admin_url, "rm");
    ASSERT_TRUE(migrated.has_value()) << run << ": " << migrated.error().message;
    EXPECT_EQ(testing::sql_scalar(db_.admin_url, columns), "input=json/l,output=json/l") << run;
  }
  EXPECT_EQ(testing::sql_scalar(db_.admin_url,
                                "SELECT input::text || ' ' || pg_column_compression(output) FROM "
                                "decision_log.decisions WHERE decision_id = 'old'"),
            R"({"a": [true, null], "b": 1} lz4)");
}

// A payload's canonical form is what PostgreSQL's jsonb gives back, so the
// hash taken when an event is written equals the one a reader recomputes.
// Found by schemathesis: a config document holding -5.113489133303368e16
// (a double jsonb returns as the integer -51134891333033680) was stored with
// a hash no reader could reproduce, and the projector stopped at it.
TEST_F(EventStoreTest, EveryNumberKeepsItsCanonicalFormThroughJsonb) {
  std::vector<double> numbers = {-5.113489133303368e16,
                                 1e15,
                                 1.5e15,
                                 999999999999999.0,
                                 1e19,
                                 9.2233720368547758e18,
                                 -9.2233720368547758e18,
                                 1.8446744073709552e19,
                                 1e300,
                                 -0.0,
                                 0.0,
                                 1.0,
                                 0.1,
                                 1e-7,
                                 5e-324,
                                 2.5,
                                 -1234.5,
                                 4503599627370496.5,
                                 1e16 + 2.0};
  std::mt19937_64 rng(20261203);
  while (numbers.size() < 3000) {
    const double d = std::bit_cast<double>(rng());
    if (std::isfinite(d)) numbers.push_back(d);
  }
  nlohmann::json doc = nlohmann::json::array();
  for (const double d : numbers) doc.push_back(d);
  doc.push_back(std::int64_t{-9223372036854775807} - 1);
  doc.push_back(std::uint64_t{18446744073709551615u});
  const std::string canonical = codec::canonical_payload(doc);
  const std::string back = testing::sql_scalar(db_.app_url, "SELECT '" + canonical + "'::jsonb::text");
  const auto returned = nlohmann::json::parse(back);
  const auto written = nlohmann::json::parse(canonical);
  ASSERT_EQ(returned.size(), written.size());
  for (std::size_t i = 0; i < written.size(); ++i) {
    EXPECT_EQ(codec::canonical_payload(returned[i]), written[i].dump())
        << "number " << i << " written as " << written[i].dump() << ", jsonb gave back " << returned[i].dump();
  }
  EXPECT_EQ(codec::canonical_payload(returned), canonical);
}

}  // namespace
}  // namespace ledger
