// What integration and e2e tests need from the servers the test command
// started (scripts/infra.sh, test profile): a fresh database per test, unique
// topic names, and the broker address. Everything comes from the environment
// that `./ledgerctl test` exports; a missing variable fails the test.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ledger::testing {

// LEDGER_KAFKA_BROKERS.
std::string kafka_brokers();

// A new, migrated database for one test (read models in schema "rm").
struct TestDatabase {
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
};
TestDatabase create_database(const std::string& label);

// A name unique to this process and call, e.g. "ledger.events.t1234.3".
std::string unique_name(const std::string& base);

// Runs one SQL statement as superuser and returns the first column of the
// first row as text ("" when there is none). Throws on SQL errors.
std::string sql_scalar(const std::string& url, const std::string& sql);
// Runs a statement; returns the error message, empty on success.
std::string sql_exec(const std::string& url, const std::string& sql);

// scripts/infra.sh of the test profile (LEDGER_INFRA_SCRIPT), e.g. to stop
// and start PostgreSQL during an outage test. Returns the exit status.
int infra(const std::string& subcommand);

}  // namespace ledger::testing
