// ledger-relay: publishes committed events to `ledger.events` in global order.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "adapters/http/server.h"
#include "adapters/postgres/event_store.h"
#include "adapters/relay/relay.h"
#include "services/common/process.h"
#include "services/common/service_mains.h"

int ledger::services::run_ledger_relay(int argc, char** argv) {
  using namespace ledger;
  services::block_shutdown_signals();
  CLI::App app{"Policy Ledger relay"};
  services::add_version_flag(app);
  services::Settings settings;
  services::add_common_flags(app, settings);
  std::size_t batch = 1000;
  app.add_option("--batch-size", batch, "events per Kafka flush")->envname("LEDGER_RELAY_BATCH")->capture_default_str();
  std::string status_address = "127.0.0.1";
  std::uint16_t status_port = 0;
  app.add_option("--status-address", status_address, "listen address of the status port")
      ->envname("LEDGER_RELAY_STATUS_ADDRESS")
      ->capture_default_str();
  app.add_option("--status-port", status_port, "status port: /healthz, /readyz, /metrics (0: any free port)")
      ->envname("LEDGER_RELAY_STATUS_PORT")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  services::setup_logging("ledger-relay", settings.log_level);
  auto kafka_security = services::kafka_security(settings);
  if (!kafka_security) {
    spdlog::critical("kafka: {} ({})", kafka_security.error().message, kafka_security.error().code);
    return 1;
  }
  if (auto ok = services::ensure_ledger_topics(settings); !ok)
    spdlog::warn("topics not ensured: {}", ok.error().message);

  // The status port (issue 17 part 4): how far behind the event store the
  // topic is, and how the relay's steps go.
  adapters::metrics::Registry metrics;
  services::count_kafka_errors(metrics);
  std::atomic<std::int64_t> published{-1};  // -1: not known yet
  std::map<relay::StepOutcome, adapters::metrics::Counter> steps;
  for (const auto& [outcome, name] :
       {std::pair{relay::StepOutcome::kPublished, "published"}, std::pair{relay::StepOutcome::kIdle, "idle"},
        std::pair{relay::StepOutcome::kFailed, "failed"}}) {
    steps[outcome] =
        metrics.counter("ledger_relay_steps_total",
                        "Relay steps by outcome (failed: the store or Kafka refused; it retries)", {{"outcome", name}});
  }
  const auto published_gauge =
      metrics.gauge("ledger_relay_published_position", "The last position Kafka acknowledged and the relay stored");
  const auto lag = metrics.gauge("ledger_relay_lag_positions", "Positions of the event store not yet on ledger.events");
  adapters::postgres::PgEventReader head_reader(settings.pg_url);
  std::mutex head_mu;
  metrics.on_scrape([&] {
    const std::int64_t at = published.load();
    if (at < 0) return;
    published_gauge.set(static_cast<double>(at));
    std::lock_guard lock(head_mu);
    if (auto head = head_reader.head_position())
      lag.set(static_cast<double>(std::max<std::int64_t>(0, head->value - at)));
  });
  const relay::StepObserver observe = [&](relay::StepOutcome outcome, std::optional<events::GlobalPosition> at) {
    steps.at(outcome).inc();
    if (at) published.store(at->value);
  };
  adapters::http::HttpServer server(
      {.address = status_address, .port = status_port, .threads = 1, .control_paths = services::control_paths()},
      services::with_health(
          [](const adapters::http::HttpRequest&) {
            return adapters::http::HttpResponse::json(404, R"({"code":"unknown_route","message":"no such route"})");
          },
          [&]() -> std::string { return published.load() < 0 ? "no durable position yet" : ""; }, &metrics));
  if (auto ok = server.start(); !ok) {
    spdlog::critical("cannot listen on {}:{}: {}", status_address, status_port, ok.error().message);
    return 1;
  }
  spdlog::info("listening on http://{}:{}", status_address, server.port());

  std::atomic<bool> stop{false};
  std::thread worker([&] {
    services::run_restarting("relay", stop, [&] {
      relay::run_relay({.pg_url = settings.pg_url,
                        .brokers = settings.kafka_brokers,
                        .kafka_security = *kafka_security,
                        .topic = settings.events_topic,
                        .name = settings.events_topic,
                        .batch_size = batch},
                       stop, observe);
    });
  });
  spdlog::info("relaying to {} on {}", settings.events_topic, settings.kafka_brokers);
  services::wait_for_shutdown();
  stop = true;
  worker.join();
  return 0;
}
