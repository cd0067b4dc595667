// What integration and e2e tests need from the servers the test command
// started (scripts/infra.sh, test profile): a fresh database per test, unique
// topic names, and the broker address. Everything comes from the environment
// that `./ledgerctl test` exports; a missing variable fails the test.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/kafka/kafka.h"

namespace ledger::testing {

// LEDGER_KAFKA_BROKERS.
std::string kafka_brokers();

// How the tests log in to that broker: the admin principal that
// `scripts/infra.sh env` exports (LEDGER_KAFKA_SECURITY_PROTOCOL,
// LEDGER_KAFKA_USERNAME, LEDGER_KAFKA_PASSWORD_FILE, LEDGER_KAFKA_CA);
// plaintext when LEDGER_KAFKA_SECURITY_PROTOCOL is unset.
adapters::kafka::KafkaSecurity kafka_security();
// The same with another principal's user name and password (the file
// LEDGER_KAFKA_SECRETS_DIR/<user>.password that infra.sh wrote).
adapters::kafka::KafkaSecurity kafka_security_as(const std::string& user);
// Environment for a child process that logs in to Kafka as `user`:
// LEDGER_KAFKA_USERNAME and LEDGER_KAFKA_PASSWORD_FILE (the protocol and the
// CA are inherited from the test's own environment).
std::vector<std::pair<std::string, std::string>> kafka_env_for(const std::string& user);

// A new, migrated database for one test (read models in schema "rm"). It
// owns the database: the destructor drops it (WITH FORCE, so a connection a
// test left open does not keep it), because a run of the test command creates
// a few hundred of them and each takes 8-16 MB of the machine's disk.
// LEDGER_KEEP_TEST_DATABASES=1 keeps them for a look after a failure.
struct TestDatabase {
  TestDatabase() = default;
  TestDatabase(std::string name, std::string admin_url);
  TestDatabase(TestDatabase&& other) noexcept;
  TestDatabase& operator=(TestDatabase&& other) noexcept;
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;
  ~TestDatabase();

  std::string name;
  std::string admin_url;  // superuser
  std::string app_url;    // the legacy ledger_app role: every service's rights at once
  // The URL of one of the migration's roles (README "Database roles"):
  // ledger_command, ledger_relay, ledger_projector, ledger_query,
  // ledger_auditor, ledger_app; with its password from
  // LEDGER_PG_SECRETS_FILE when that is set (scripts/infra.sh env).
  std::string url_for(const std::string& role) const;
  // LEDGER_COMMAND_PG_URL, LEDGER_RELAY_PG_URL, LEDGER_PROJECTOR_PG_URL and
  // LEDGER_QUERY_PG_URL: added to a child's environment, each service binary
  // connects with its own role (they win over LEDGER_PG_URL).
  std::vector<std::pair<std::string, std::string>> service_env() const;

 private:
  void drop() noexcept;
};
TestDatabase create_database(const std::string& label);

// A name unique to this process and call, e.g. "ledger.events.t1234x9f3c07a1.3"
// (pid and a random tag: pids are reused within a run).
std::string unique_name(const std::string& base);

// Runs one SQL statement as superuser and returns the first column of the
// first row as text ("" when there is none). Throws on SQL errors.
std::string sql_scalar(const std::string& url, const std::string& sql);
// Runs a statement; returns the error message, empty on success.
std::string sql_exec(const std::string& url, const std::string& sql);

// Polls `cond` until it holds or `timeout` passes; false if it never did.
// E.g. a new event store takes the writer lock once the store before it has
// let go of it: a writer that closed its connection may not have released the
// lock yet (its backend releases it as it exits, a moment later), and until
// then another store is a standby (not_writer), as a restarted command
// service would be.
inline bool eventually(std::chrono::milliseconds timeout, const std::function<bool()>& cond,
                       std::chrono::milliseconds every = std::chrono::milliseconds(50)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

// scripts/infra.sh of the test profile (LEDGER_INFRA_SCRIPT), e.g. to stop
// and start PostgreSQL during an outage test. Returns the exit status.
int infra(const std::string& subcommand);

}  // namespace ledger::testing
