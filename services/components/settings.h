// Settings shared by every service: each is a command-line flag and an
// environment variable, with defaults that point at the locally started
// servers (scripts/infra.sh, dev profile).
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace ledger::services {

struct Settings {
  std::string pg_url = "postgresql://ledger_app@127.0.0.1:54329/ledger";
  std::string pg_admin_url = "postgresql://postgres@127.0.0.1:54329/ledger";
  std::string kafka_brokers = "127.0.0.1:19092";
  std::string events_topic = "ledger.events";
  std::string commands_topic = "ledger.commands";
  std::string results_topic = "ledger.command-results";
  std::string read_model_schema = "rm";
  std::string tokens_file = "config/tokens.json";
  std::string log_level = "info";
};

// Registers the flags above on `app` (with LEDGER_* environment fallbacks).
void add_common_flags(CLI::App& app, Settings& s);
// Applies the log level and the JSON log pattern; call after parsing.
void setup_logging(const std::string& service, const std::string& level);

}  // namespace ledger::services
