#include "services/components/settings.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

namespace ledger::services {

void add_common_flags(CLI::App& app, Settings& s) {
  app.add_option("--pg-url", s.pg_url, "PostgreSQL URL of the application role")->envname("LEDGER_PG_URL")->capture_default_str();
  app.add_option("--pg-admin-url", s.pg_admin_url, "PostgreSQL URL of a superuser, for migrations")
      ->envname("LEDGER_PG_ADMIN_URL")->capture_default_str();
  app.add_option("--kafka-brokers", s.kafka_brokers, "Kafka bootstrap servers")->envname("LEDGER_KAFKA_BROKERS")->capture_default_str();
  app.add_option("--events-topic", s.events_topic, "topic of committed events")->envname("LEDGER_EVENTS_TOPIC")->capture_default_str();
  app.add_option("--commands-topic", s.commands_topic, "topic command producers publish to")
      ->envname("LEDGER_COMMANDS_TOPIC")->capture_default_str();
  app.add_option("--results-topic", s.results_topic, "topic of command outcomes")->envname("LEDGER_RESULTS_TOPIC")->capture_default_str();
  app.add_option("--read-model-schema", s.read_model_schema, "PostgreSQL schema of the live read models")
      ->envname("LEDGER_READ_MODEL_SCHEMA")->capture_default_str();
  app.add_option("--tokens-file", s.tokens_file, "bearer-token file (JSON)")->envname("LEDGER_TOKENS_FILE")->capture_default_str();
  app.add_option("--log-level", s.log_level, "trace, debug, info, warn, error")->envname("LEDGER_LOG_LEVEL")->capture_default_str();
}

void setup_logging(const std::string& service, const std::string& level) {
  spdlog::set_level(spdlog::level::from_str(level));
  // One JSON object per line; messages never carry request bodies or tokens.
  spdlog::set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","service":")" + service +
                          R"(","pid":%P,"msg":"%v"})",
                      spdlog::pattern_time_type::utc);
}

}  // namespace ledger::services
