// Database least privilege (issue 5, part 5) on a freshly migrated database:
// each service's PostgreSQL role can do what that service needs and nothing
// else, history can be appended only by ledger_command and rewritten by no
// one (privileges AND triggers, the owner included), and the real adapters
// work when each connects with its own role (README "Database roles").
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "adapters/kafka/kafka.h"
#include "adapters/postgres/admission_queries.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_store.h"
#include "adapters/projector/projector.h"
#include "adapters/relay/relay.h"
#include "adapters/system/clock.h"
#include "commands/command_service.h"
#include "tests/support/test_env.h"

namespace ledger {
namespace {

using namespace std::chrono_literals;

const std::vector<std::string> kRoles = {"ledger_command", "ledger_relay",   "ledger_projector",
                                         "ledger_query",   "ledger_auditor", "ledger_app"};

// A row that extends an empty chain: the superuser may insert it, so when a
// role is refused the same statement, only its privileges refused it.
const std::string kInsertFirstEvent =
    "INSERT INTO ledger.events (global_position, stream_id, stream_version, event_id, event_type, schema_version, "
    "occurred_at, recorded_at, actor, tenant, correlation_id, causation_id, command_id, payload, prev_hash, hash) "
    "VALUES (1, 's-1', 1, gen_random_uuid(), 'Probe', 1, now(), now(), '{}', 'platform', 'c', 'c', 'probe-1', "
    "'{}', repeat('0', 64), repeat('a', 64))";
const std::string kInsertOutcome =
    "INSERT INTO ledger.command_outcomes VALUES ('probe-outcome', 's-1', '[]', 1, 1, now())";
const std::string kInsertCheckpoint = "INSERT INTO rm.checkpoints (projection, position) VALUES ('probe', 7)";
const std::string kInsertPolicyKey = "INSERT INTO rm.policy_keys VALUES ('probe.key', 'int', '1', 0, 10, '[]', '', 1)";

bool denied(const std::string& error) { return error.find("permission denied") != std::string::npos; }
bool append_only(const std::string& error) { return error.find("append-only") != std::string::npos; }

class PgRolesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::create_database(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  std::string url(const std::string& role) const { return db_.url_for(role); }
  std::string as(const std::string& role, const std::string& sql) const { return testing::sql_exec(url(role), sql); }
  std::string scalar(const std::string& sql) const { return testing::sql_scalar(db_.admin_url, sql); }

  // Runs `statement` as `role` after granting it `privileges` on
  // ledger.events for one transaction that never commits: the privilege
  // check passes, so whatever refuses it now is the trigger.
  std::string as_with_grant(const std::string& role, const std::string& privileges, const std::string& statement) {
    return testing::sql_exec(db_.admin_url, "BEGIN; GRANT " + privileges +
                                                " ON ledger.events, ledger.command_outcomes TO " + role +
                                                "; SET LOCAL ROLE " + role + "; " + statement + "; COMMIT");
  }

  commands::Principal admin() { return {{"user", "tester", {"platform_admin"}}, "platform"}; }

  // Appends through the real command service as ledger_command: one key and
  // `n` values. Returns the last position.
  events::GlobalPosition append_as_command_service(int n) {
    adapters::postgres::PgEventStore store(url("ledger_command"), clock_);
    commands::CommandService service(store, clock_);
    service.start();
    events::PolicyKeyDefined d{
        "test.limit", events::ValueType::kInt, events::PolicyValue{std::int64_t{1}}, 0, 1000, {}, ""};
    auto defined = service.submit_async({{"def", admin(), "", ""}, domain::DefinePolicyKey{d}, {}}).get();
    EXPECT_TRUE(defined.has_value()) << (defined ? "" : defined.error().message);
    events::GlobalPosition last = defined ? defined->position : events::GlobalPosition{0};
    for (int i = 0; i < n; ++i) {
      commands::CommandRequest r{{"set-" + std::to_string(i), admin(), "", ""},
                                 domain::SetPolicyValue{"test.limit",
                                                        {events::ScopeLevel::kOrganization, "org-" + std::to_string(i)},
                                                        events::PolicyValue{std::int64_t{i}},
                                                        {},
                                                        "least privilege test",
                                                        {}},
                                 {}};
      auto out = service.submit_async(r).get();
      EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().message);
      if (out) last = std::max(last, out->position);
    }
    service.stop();
    return last;
  }

  testing::TestDatabase db_;
  adapters::system::SystemClock clock_;
};

TEST_F(PgRolesTest, MigrationCreatesPlainLoginRolesAndIsIdempotent) {
  for (const auto& role : kRoles) {
    EXPECT_EQ(scalar("SELECT rolcanlogin AND NOT (rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR "
                     "rolreplication) FROM pg_roles WHERE rolname = '" +
                     role + "'"),
              "t")
        << role;
  }
  // A second migration changes nothing and fails on nothing.
  ASSERT_TRUE(adapters::postgres::migrate(db_.admin_url, "rm").has_value());
  EXPECT_EQ(scalar("SELECT has_table_privilege('ledger_query', 'rm.audit_log', 'SELECT')"), "t");
  EXPECT_EQ(scalar("SELECT has_table_privilege('ledger_query', 'rm.audit_log', 'INSERT')"), "f");
}

// The decision log's table (README "Database roles", "Decision log"): the
// projector inserts, the query service and auditors read, nobody rewrites.
TEST_F(PgRolesTest, DecisionLogIsInsertedByTheProjectorAndReadByQueryAndAuditors) {
  const std::string t = "decision_log.decisions";
  auto priv = [&](const std::string& role, const std::string& p) {
    return scalar("SELECT has_table_privilege('" + role + "', '" + t + "', '" + p + "')");
  };
  EXPECT_EQ(priv("ledger_projector", "INSERT"), "t");
  EXPECT_EQ(priv("ledger_projector", "SELECT"), "t");
  for (const char* role : {"ledger_query", "ledger_auditor"}) {
    EXPECT_EQ(priv(role, "SELECT"), "t") << role;
    EXPECT_EQ(priv(role, "INSERT"), "f") << role;
  }
  for (const auto& role : kRoles) {
    for (const char* p : {"UPDATE", "DELETE", "TRUNCATE"}) EXPECT_EQ(priv(role, p), "f") << role << " " << p;
  }
  for (const char* role : {"ledger_command", "ledger_relay"}) {
    EXPECT_EQ(priv(role, "SELECT"), "f") << role;
    EXPECT_EQ(priv(role, "INSERT"), "f") << role;
  }
}

// The data keys of configuration secrets (README "Configuration secrets"):
// ledger-command seals and shreds, ledger-query unseals, nobody else sees them.
TEST_F(PgRolesTest, ConfigDataKeysAreTheCommandServicesAndReadByQueryOnly) {
  const std::string t = "config_secrets.data_keys";
  auto priv = [&](const std::string& role, const std::string& p) {
    return scalar("SELECT has_table_privilege('" + role + "', '" + t + "', '" + p + "')");
  };
  for (const char* p : {"SELECT", "INSERT", "DELETE"}) EXPECT_EQ(priv("ledger_command", p), "t") << p;
  EXPECT_EQ(priv("ledger_command", "UPDATE"), "f");
  EXPECT_EQ(priv("ledger_query", "SELECT"), "t");
  for (const char* p : {"INSERT", "UPDATE", "DELETE"}) EXPECT_EQ(priv("ledger_query", p), "f") << p;
  for (const char* role : {"ledger_relay", "ledger_projector", "ledger_auditor"}) {
    for (const char* p : {"SELECT", "INSERT", "UPDATE", "DELETE"}) EXPECT_EQ(priv(role, p), "f") << role << " " << p;
  }
}

TEST_F(PgRolesTest, NobodyMayUpdateOrDeleteHistoryNotEvenTheOwner) {
  ASSERT_EQ(as("postgres", kInsertFirstEvent), "");
  ASSERT_EQ(as("postgres", kInsertOutcome), "");
  // No role holds the privilege...
  for (const auto& role : kRoles) {
    for (const char* table : {"ledger.events", "ledger.command_outcomes"}) {
      for (const char* privilege : {"UPDATE", "DELETE", "TRUNCATE"}) {
        EXPECT_EQ(
            scalar(std::string("SELECT has_table_privilege('") + role + "', '" + table + "', '" + privilege + "')"),
            "f")
            << role << " " << privilege << " " << table;
      }
      EXPECT_TRUE(denied(as(role, std::string("UPDATE ") + table + " SET command_id = 'x'"))) << role << " " << table;
      EXPECT_TRUE(denied(as(role, std::string("DELETE FROM ") + table))) << role << " " << table;
      EXPECT_TRUE(denied(as(role, std::string("TRUNCATE ") + table))) << role << " " << table;
    }
  }
  // ...and the owner (a superuser), who has every privilege, is stopped by the triggers.
  EXPECT_EQ(scalar("SELECT tableowner FROM pg_tables WHERE schemaname = 'ledger' AND tablename = 'events'"),
            "postgres");
  for (const char* table : {"ledger.events", "ledger.command_outcomes"}) {
    EXPECT_TRUE(append_only(as("postgres", std::string("UPDATE ") + table + " SET command_id = 'x'"))) << table;
    EXPECT_TRUE(append_only(as("postgres", std::string("DELETE FROM ") + table))) << table;
    EXPECT_TRUE(append_only(as("postgres", std::string("TRUNCATE ") + table))) << table;
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.events WHERE command_id = 'probe-1'"), "1");
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.command_outcomes WHERE command_id = 'probe-outcome'"), "1");
}

TEST_F(PgRolesTest, CommandRoleAppendsThroughTheEventStoreButNeverRewrites) {
  const events::GlobalPosition last = append_as_command_service(3);
  EXPECT_EQ(last, events::GlobalPosition{4});
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.events"), "4");
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.command_outcomes"), "4");

  // Privilege: refused before any trigger runs.
  for (const char* table : {"ledger.events", "ledger.command_outcomes"}) {
    EXPECT_TRUE(denied(as("ledger_command", std::string("UPDATE ") + table + " SET command_id = 'x'"))) << table;
    EXPECT_TRUE(denied(as("ledger_command", std::string("DELETE FROM ") + table))) << table;
    EXPECT_TRUE(denied(as("ledger_command", std::string("TRUNCATE ") + table))) << table;
  }
  // Trigger: even with the privilege granted (in a transaction that never
  // commits), the database refuses.
  for (const char* table : {"ledger.events", "ledger.command_outcomes"}) {
    EXPECT_TRUE(append_only(
        as_with_grant("ledger_command", "UPDATE, SELECT", std::string("UPDATE ") + table + " SET command_id = 'x'")))
        << table;
    EXPECT_TRUE(append_only(as_with_grant("ledger_command", "DELETE, SELECT", std::string("DELETE FROM ") + table)))
        << table;
    EXPECT_TRUE(append_only(as_with_grant("ledger_command", "TRUNCATE", std::string("TRUNCATE ") + table))) << table;
  }
  EXPECT_EQ(scalar("SELECT has_table_privilege('ledger_command', 'ledger.events', 'UPDATE')"), "f");
  EXPECT_EQ(scalar("SELECT count(*) FROM ledger.events"), "4");

  // Reads only what resolving a principal's policy values needs (the
  // request gate's live limits); writes no read model, no relay position, no schemas.
  EXPECT_TRUE(denied(as("ledger_command", kInsertCheckpoint)));
  EXPECT_EQ(as("ledger_command", "SELECT count(*) FROM rm.policy_values"), "");
  EXPECT_EQ(as("ledger_command", "SELECT count(*) FROM rm.scope_links"), "");
  EXPECT_TRUE(denied(as("ledger_command", "SELECT count(*) FROM rm.audit_log")));
  EXPECT_TRUE(denied(as("ledger_command", "SELECT count(*) FROM rm.reservations")));
  EXPECT_TRUE(denied(as("ledger_command", "DELETE FROM rm.policy_values")));
  EXPECT_TRUE(denied(as("ledger_command", "INSERT INTO ledger.relay_checkpoints (relay, position) VALUES ('x', 1)")));
  EXPECT_TRUE(denied(as("ledger_command", "CREATE SCHEMA rm_by_command")));
}

TEST_F(PgRolesTest, QueryRoleOnlyReadsTheReadModelsAndTheHead) {
  ASSERT_EQ(as("postgres", kInsertFirstEvent), "");
  EXPECT_TRUE(denied(as("ledger_query", kInsertFirstEvent)));
  EXPECT_TRUE(denied(as("ledger_query", kInsertOutcome)));
  EXPECT_TRUE(denied(as("ledger_query", kInsertCheckpoint)));
  EXPECT_TRUE(denied(as("ledger_query", kInsertPolicyKey)));
  EXPECT_TRUE(denied(as("ledger_query", "UPDATE rm.checkpoints SET position = 0")));
  EXPECT_TRUE(denied(as("ledger_query", "DELETE FROM rm.audit_log")));
  EXPECT_TRUE(denied(as("ledger_query", "CREATE SCHEMA rm_by_query")));
  EXPECT_TRUE(denied(as("ledger_query", "CREATE TABLE rm.extra (x int)")));
  // The head position and the events.
  EXPECT_EQ(testing::sql_scalar(url("ledger_query"), "SELECT coalesce(max(global_position), 0) FROM ledger.events"),
            "1");
  // Its in-memory read models read the events (issue 12); it still writes nothing.
  EXPECT_FALSE(denied(as("ledger_query", "SELECT payload FROM ledger.events")));
  EXPECT_TRUE(denied(as("ledger_query", "SELECT * FROM ledger.command_outcomes")));
  for (const auto& table : adapters::postgres::read_model_tables()) {
    EXPECT_EQ(as("ledger_query", "SELECT count(*) FROM rm." + table), "") << table;
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM rm.checkpoints"), "0");
}

TEST_F(PgRolesTest, ProjectorWritesOnlyReadModels) {
  EXPECT_TRUE(denied(as("ledger_projector", kInsertFirstEvent)));
  EXPECT_TRUE(denied(as("ledger_projector", kInsertOutcome)));
  EXPECT_TRUE(denied(as("ledger_projector", "INSERT INTO ledger.relay_checkpoints (relay, position) VALUES ('x', 1)")));
  EXPECT_EQ(as("ledger_projector", kInsertCheckpoint), "");
  EXPECT_EQ(as("ledger_projector", kInsertPolicyKey), "");
  EXPECT_EQ(as("ledger_projector", "UPDATE rm.checkpoints SET position = 8 WHERE projection = 'probe'"), "");
  EXPECT_EQ(as("ledger_projector", "DELETE FROM rm.policy_keys WHERE key = 'probe.key'"), "");
  EXPECT_EQ(scalar("SELECT position FROM rm.checkpoints WHERE projection = 'probe'"), "8");
  // It may not reshape the live schema the migrator owns.
  EXPECT_NE(as("ledger_projector", "DROP TABLE rm.audit_log"), "");
  EXPECT_NE(as("ledger_projector", "DROP SCHEMA rm CASCADE"), "");
  EXPECT_TRUE(denied(as("ledger_projector", "CREATE TABLE rm.extra (x int)")));

  // The relay: reads events, keeps its own position, writes nothing else.
  EXPECT_TRUE(denied(as("ledger_relay", kInsertFirstEvent)));
  EXPECT_TRUE(denied(as("ledger_relay", kInsertCheckpoint)));
  adapters::postgres::PgRelayCheckpoint relay_cp(url("ledger_relay"), "probe");
  ASSERT_TRUE(relay_cp.store(events::GlobalPosition{5}).has_value());
  EXPECT_EQ(relay_cp.load().value_or(events::GlobalPosition{-1}), events::GlobalPosition{5});

  // The auditor reads everything and writes nothing live.
  EXPECT_TRUE(denied(as("ledger_auditor", kInsertFirstEvent)));
  EXPECT_TRUE(denied(as("ledger_auditor", kInsertCheckpoint)));
  EXPECT_EQ(as("ledger_auditor", "SELECT payload FROM ledger.events"), "");
  EXPECT_EQ(as("ledger_auditor", "SELECT * FROM ledger.command_outcomes"), "");
}

TEST_F(PgRolesTest, ScratchSchemasOfRebuildsGetTheSameGrants) {
  // Created later, by the role that rebuilds: the projector's scratch schema
  // is readable by the query service and auditors, writable by nobody else.
  ASSERT_TRUE(adapters::postgres::prepare_read_model_schema(url("ledger_projector"), "rm_scratch", true).has_value());
  EXPECT_EQ(as("ledger_projector", "INSERT INTO rm_scratch.checkpoints VALUES ('p', 1)"), "");
  EXPECT_EQ(as("ledger_query", "SELECT count(*) FROM rm_scratch.audit_log"), "");
  EXPECT_EQ(as("ledger_auditor", "SELECT count(*) FROM rm_scratch.audit_log"), "");
  EXPECT_TRUE(denied(as("ledger_query", "INSERT INTO rm_scratch.checkpoints VALUES ('q', 1)")));
  EXPECT_TRUE(denied(as("ledger_command", "INSERT INTO rm_scratch.checkpoints VALUES ('c', 1)")));
  EXPECT_TRUE(denied(as("ledger_command", "SELECT count(*) FROM rm_scratch.audit_log")));
  // Again (reset): the owner drops and recreates it.
  ASSERT_TRUE(adapters::postgres::prepare_read_model_schema(url("ledger_projector"), "rm_scratch", true).has_value());
  EXPECT_EQ(scalar("SELECT count(*) FROM rm_scratch.checkpoints"), "0");
  // The auditor's replay schema: its own, readable by the query service.
  ASSERT_TRUE(adapters::postgres::prepare_read_model_schema(url("ledger_auditor"), "rm_replay", true).has_value());
  EXPECT_EQ(as("ledger_auditor", "INSERT INTO rm_replay.checkpoints VALUES ('a', 1)"), "");
  EXPECT_EQ(as("ledger_query", "SELECT count(*) FROM rm_replay.checkpoints"), "");
  // A table added later by the live schema's owner inherits the grants.
  ASSERT_EQ(as("postgres", "CREATE TABLE rm.added_later (x int)"), "");
  EXPECT_EQ(as("ledger_projector", "INSERT INTO rm.added_later VALUES (1)"), "");
  EXPECT_EQ(as("ledger_query", "SELECT count(*) FROM rm.added_later"), "");
  EXPECT_TRUE(denied(as("ledger_query", "INSERT INTO rm.added_later VALUES (2)")));
  // Rebuilding someone else's schema is not allowed.
  EXPECT_FALSE(adapters::postgres::prepare_read_model_schema(url("ledger_projector"), "rm_replay", true).has_value());
  EXPECT_FALSE(adapters::postgres::prepare_read_model_schema(url("ledger_query"), "rm_by_query", true).has_value());
}

// The real services' code paths, each with its own role: command service ->
// ledger.events -> relay -> Kafka -> projector -> rm -> queries; a rebuild as
// the projector and a comparison as the auditor.
TEST_F(PgRolesTest, TheServicesWorkWithTheirOwnRoles) {
  const std::string topic = testing::unique_name("ledger.events");
  ASSERT_TRUE(adapters::kafka::ensure_topics(testing::kafka_brokers(), {{topic, 1, {{"retention.ms", "-1"}}}}, 30s,
                                             testing::kafka_security()));
  const events::GlobalPosition last = append_as_command_service(20);
  ASSERT_EQ(last, events::GlobalPosition{21});

  std::atomic<bool> stop{false};
  std::thread relay([&] {
    relay::run_relay({.pg_url = url("ledger_relay"),
                      .brokers = testing::kafka_brokers(),
                      .kafka_security = testing::kafka_security(),
                      .topic = topic,
                      .name = topic},
                     stop);
  });
  projector::ProjectorOptions live{.pg_url = url("ledger_projector"),
                                   .brokers = testing::kafka_brokers(),
                                   .kafka_security = testing::kafka_security(),
                                   .topic = topic,
                                   .schema = "rm",
                                   .group_id = testing::unique_name("projector")};
  std::thread projector([&] { projector::run_projector(live, stop); });

  adapters::postgres::PgPolicyQueries queries(url("ledger_query"), "rm", 1);
  adapters::postgres::PgAuditQueries audit(url("ledger_query"), "rm", 1);
  adapters::postgres::PgAdmissionQueries admission(url("ledger_query"), "rm", 1);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  events::GlobalPosition seen;
  while (std::chrono::steady_clock::now() < deadline) {
    seen = std::min(queries.checkpoint("policy_values").value_or(events::GlobalPosition{0}),
                    audit.checkpoint("audit").value_or(events::GlobalPosition{0}));
    if (seen >= last) break;
    std::this_thread::sleep_for(50ms);
  }
  stop = true;
  relay.join();
  projector.join();
  ASSERT_EQ(seen, last);
  EXPECT_EQ(
      adapters::postgres::PgRelayCheckpoint(url("ledger_auditor"), topic).load().value_or(events::GlobalPosition{-1}),
      last);

  // The query service's reads, as ledger_query.
  auto head = audit.head_position();
  ASSERT_TRUE(head.has_value()) << head.error().message;
  EXPECT_EQ(*head, last);
  EXPECT_EQ(adapters::postgres::PgEventReader(url("ledger_query")).head_position().value_or(events::GlobalPosition{-1}),
            last);
  ASSERT_TRUE(admission.checkpoint().has_value());
  projections::AuditFilter everything;
  everything.limit = 100;
  auto page = audit.audit_page(everything);
  ASSERT_TRUE(page.has_value()) << page.error().message;
  EXPECT_EQ(page->rows.size(), static_cast<std::size_t>(last.value));
  EXPECT_EQ(page->snapshot_version, last.value);
  EXPECT_EQ(scalar("SELECT count(*) FROM rm.policy_values"), "20");

  // A rebuild as the projector and its comparison as the auditor.
  auto scratch = live;
  scratch.schema = "rm_rebuilt";
  auto rebuilt = projector::rebuild(scratch, projector::RebuildSource::kPostgres);
  ASSERT_TRUE(rebuilt.has_value()) << rebuilt.error().message;
  EXPECT_EQ(*rebuilt, last);
  for (const auto& table : adapters::postgres::read_model_tables()) {
    auto diff = adapters::postgres::diff_tables(url("ledger_auditor"), "rm", "rm_rebuilt", table, 10);
    ASSERT_TRUE(diff.has_value()) << table << ": " << diff.error().message;
    EXPECT_TRUE(diff->empty()) << table << " differs: " << diff->front();
  }
  // And the same as a replay by the auditor, into a schema of its own.
  auto replay = live;
  replay.pg_url = url("ledger_auditor");
  replay.schema = "rm_replay";
  auto replayed = projector::rebuild(replay, projector::RebuildSource::kPostgres);
  ASSERT_TRUE(replayed.has_value()) << replayed.error().message;
  EXPECT_EQ(*replayed, last);
}

// Issue 10, item 13: the real PostgreSQL of scripts/infra.sh authenticates
// every role with a SCRAM password over TCP; no pg_hba rule trusts anyone.
TEST_F(PgRolesTest, EveryRoleNeedsItsScramPasswordAndNothingIsTrusted) {
  EXPECT_EQ(scalar("SHOW password_encryption"), "scram-sha-256");
  EXPECT_EQ(scalar("SELECT count(*) FROM pg_hba_file_rules WHERE auth_method IN ('trust', 'password', 'md5')"), "0")
      << scalar(
             "SELECT string_agg(type || ' ' || coalesce(address, '') || ' ' || auth_method, '; ') "
             "FROM pg_hba_file_rules");
  std::vector<std::string> roles = kRoles;
  roles.push_back(scalar("SELECT current_user"));  // the superuser
  for (const auto& role : roles) {
    SCOPED_TRACE(role);
    EXPECT_EQ(scalar("SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = '" + role + "'"), "SCRAM-SHA-256$");
    const std::string with_password = url(role);
    // The same URL without the password, and with no password file to fall back on.
    const auto scheme = with_password.find("://") + 3;
    const auto at = with_password.find('@');
    const std::string without =
        with_password.substr(0, scheme) + role + with_password.substr(at) + "?passfile=/nonexistent";
    const std::string wrong = with_password.substr(0, scheme) + role + ":not-the-password" + with_password.substr(at) +
                              "?passfile=/nonexistent";
    const std::string refused = testing::sql_exec(without, "SELECT 1");
    EXPECT_NE(refused, "") << "connected without a password";
    EXPECT_NE(refused.find("password"), std::string::npos) << refused;
    const std::string refused_wrong = testing::sql_exec(wrong, "SELECT 1");
    EXPECT_NE(refused_wrong.find("password authentication failed"), std::string::npos) << refused_wrong;
    EXPECT_EQ(testing::sql_exec(with_password + "?passfile=/nonexistent", "SELECT 1"), "");
  }
}

}  // namespace
}  // namespace ledger
