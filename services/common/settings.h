// Settings shared by every service: each is a command-line flag and an
// environment variable, with defaults that point at the locally started
// servers (scripts/infra.sh, dev profile).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace CLI {
class App;
}

namespace ledger::services {

// Each program connects to PostgreSQL as its own role (README "Database
// roles"), chosen by the program's name: ledger-command -> ledger_command,
// ledger-relay -> ledger_relay, ledger-projector -> ledger_projector,
// ledger-query -> ledger_query, ledger-audit and ledger-admin ->
// ledger_auditor; anything else (in-process tests, benchmarks) -> ledger_app.
std::string default_pg_role();
// From now on the calling thread is `program` ("ledger-command", ...) for
// the defaults here (PostgreSQL role and URL variable, Kafka principal):
// ledger-all runs each service in a thread of its own as that service.
void act_as_program(std::string_view program);
// postgresql://<default_pg_role()>@127.0.0.1:54329/ledger (the dev servers).
std::string default_pg_url();
// The environment variable naming only this service's URL, which wins over
// LEDGER_PG_URL (e.g. LEDGER_COMMAND_PG_URL), so one environment can start
// all four services each with its own role; "" for other programs.
std::string service_pg_url_env();

// The Kafka principal of this program (README "Kafka security"): its own
// name for ledger-command, ledger-relay, ledger-projector, ledger-query,
// ledger-audit and ledger-admin (the super user); "" for anything else.
std::string default_kafka_username();

struct Settings {
  std::string pg_url = default_pg_url();
  std::string pg_admin_url = "postgresql://postgres@127.0.0.1:54329/ledger";
  std::string kafka_brokers = "127.0.0.1:19092";
  // How to log in to Kafka: SCRAM over TLS on the broker the scripts start.
  // The password comes from kafka_password_file (preferred) or kafka_password.
  std::string kafka_security_protocol = "sasl_ssl";
  std::string kafka_sasl_mechanism = "SCRAM-SHA-512";
  std::string kafka_username = default_kafka_username();
  std::string kafka_password;
  std::string kafka_password_file;
  std::string kafka_ca;  // the CA that signed the broker's certificate (PEM)
  std::string events_topic = "ledger.events";
  // The base of the command producers' topics: producer P writes
  // "<commands_topic>.<P>" (README "Commands over Kafka").
  std::string commands_topic = "ledger.commands";
  // Kafka principal -> ledger principal of each command producer.
  std::string kafka_producers_file = "config/kafka-producers.json";
  std::string results_topic = "ledger.command-results";
  // Records on the command topics that cannot be handled, copied raw (outside
  // the "<commands_topic>." namespace of producer topics).
  std::string dead_letter_topic = "ledger.commands-dlq";
  // The decision log (issue 13 part 6): every decision ledger-query answered,
  // keyed by organization; kept `decision_log_retention_ms` (-1: forever).
  std::string decisions_topic = "ledger.decisions";
  std::int64_t decision_log_retention_ms = 30LL * 24 * 3600 * 1000;
  std::string read_model_schema = "rm";
  std::string tokens_file = "config/tokens.json";
  std::string log_level = "info";
  // dev | test: development profiles (the repository's tokens and keys are
  // accepted, with warnings); anything else is production, where the
  // services refuse to start on an insecure token file (adapters/identity/identity.h).
  std::string profile = "dev";
};

// Registers the Kafka connection flags only (--kafka-brokers and the
// security ones, with their LEDGER_KAFKA_* environment fallbacks); part of
// add_common_flags, for tools with their own flag sets.
void add_kafka_flags(CLI::App& app, Settings& s);
// Registers the flags above on `app` (with LEDGER_* environment fallbacks;
// --pg-url: the flag, else service_pg_url_env(), else LEDGER_PG_URL).
void add_common_flags(CLI::App& app, Settings& s);
// Applies the log level and the JSON log pattern; call after parsing.
void setup_logging(const std::string& service, const std::string& level, bool to_stderr = false);
// "policy-ledger <version>", what `--version` prints on every binary.
std::string version();
// Adds `--version` to `app` (prints version() and exits 0).
void add_version_flag(CLI::App& app);
// One access-log line (info level, the same stream and service fields as
// every line): `members` are JSON object members ("\"k\":v,...", already
// escaped) written as fields of the line itself, beside "msg":"access".
// Access lines go out in batches of whole lines, at least once a second
// (settings.cc), not one write per line.
void access_log(std::string_view members);

}  // namespace ledger::services
