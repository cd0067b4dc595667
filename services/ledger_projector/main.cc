// ledger-projector: builds the read models (policy values, audit log) from
// `ledger.events`.
//   ledger-projector                       consume and apply, until stopped
//   ledger-projector --rebuild postgres --schema rm_rebuild
//   ledger-projector --rebuild kafka    --schema rm_rebuild
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <thread>

#include "services/components/process.h"
#include "services/components/projector.h"

int main(int argc, char** argv) {
  using namespace ledger;
  services::block_shutdown_signals();
  CLI::App app{"Policy Ledger projector"};
  services::Settings settings;
  services::add_common_flags(app, settings);
  std::string rebuild_from;
  std::string group = "ledger-projector-policy-values";
  app.add_option("--rebuild", rebuild_from, "rebuild the schema from position 0 and exit: postgres or kafka")
      ->check(CLI::IsMember({"postgres", "kafka"}));
  app.add_option("--group-id", group, "Kafka consumer group")->envname("LEDGER_PROJECTOR_GROUP")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  services::setup_logging("ledger-projector", settings.log_level);
  auto kafka_security = services::kafka_security(settings);
  if (!kafka_security) {
    spdlog::critical("kafka: {} ({})", kafka_security.error().message, kafka_security.error().code);
    return 1;
  }

  services::ProjectorOptions options{.pg_url = settings.pg_url,
                                     .brokers = settings.kafka_brokers,
                                     .kafka_security = *kafka_security,
                                     .topic = settings.events_topic,
                                     .schema = settings.read_model_schema,
                                     .group_id = group};
  if (!rebuild_from.empty()) {
    auto r = services::rebuild(options, rebuild_from == "kafka" ? services::RebuildSource::kKafka
                                                                : services::RebuildSource::kPostgres);
    if (!r) {
      spdlog::error("rebuild failed: {} ({})", r.error().message, r.error().code);
      return 1;
    }
    spdlog::info("rebuilt schema {} up to position {}", settings.read_model_schema, *r);
    return 0;
  }
  std::atomic<bool> stop{false};
  std::thread worker([&] { services::run_projector(options, stop); });
  spdlog::info("projecting {} into schema {}", settings.events_topic, settings.read_model_schema);
  services::wait_for_shutdown();
  stop = true;
  worker.join();
  return 0;
}
