// ledger-relay: publishes committed events to `ledger.events` in global order.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <thread>

#include "services/common/process.h"
#include "services/common/service_mains.h"
#include "adapters/relay/relay.h"

int ledger::services::run_ledger_relay(int argc, char** argv) {
  using namespace ledger;
  services::block_shutdown_signals();
  CLI::App app{"Policy Ledger relay"};
  services::Settings settings;
  services::add_common_flags(app, settings);
  std::size_t batch = 1000;
  app.add_option("--batch-size", batch, "events per Kafka flush")->envname("LEDGER_RELAY_BATCH")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  services::setup_logging("ledger-relay", settings.log_level);
  auto kafka_security = services::kafka_security(settings);
  if (!kafka_security) {
    spdlog::critical("kafka: {} ({})", kafka_security.error().message, kafka_security.error().code);
    return 1;
  }
  if (auto ok = services::ensure_ledger_topics(settings); !ok) spdlog::warn("topics not ensured: {}", ok.error().message);

  std::atomic<bool> stop{false};
  std::thread worker([&] {
    services::run_restarting("relay", stop, [&] {
      relay::run_relay({.pg_url = settings.pg_url,
                           .brokers = settings.kafka_brokers,
                           .kafka_security = *kafka_security,
                           .topic = settings.events_topic,
                           .name = settings.events_topic,
                           .batch_size = batch},
                          stop);
    });
  });
  spdlog::info("relaying to {} on {}", settings.events_topic, settings.kafka_brokers);
  services::wait_for_shutdown();
  stop = true;
  worker.join();
  return 0;
}
