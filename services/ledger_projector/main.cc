// ledger-projector: builds the read models (policy values, audit log) from
// `ledger.events`.
//   ledger-projector                       consume and apply, until stopped
//   ledger-projector --rebuild postgres --schema rm_rebuild
//   ledger-projector --rebuild kafka    --schema rm_rebuild
// While it runs, a small status port (--status-port, 0: any free port, the
// "listening on" log line names it) answers /healthz, /readyz (with the
// chain-alarm detail) and /metrics (chain-alarm counters, checkpoint).
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <map>
#include <thread>

#include "adapters/http/server.h"
#include "adapters/kafka/decision_log_kafka.h"
#include "adapters/postgres/decision_log_store.h"
#include "adapters/postgres/read_model_store.h"
#include "adapters/projector/projector.h"
#include "services/common/process.h"
#include "services/common/service_mains.h"

int ledger::services::run_ledger_projector(int argc, char** argv) {
  using namespace ledger;
  services::block_shutdown_signals();
  CLI::App app{"Policy Ledger projector"};
  services::add_version_flag(app);
  services::Settings settings;
  services::add_common_flags(app, settings);
  std::string rebuild_from;
  std::string group = "ledger-projector-policy-values";
  std::string status_address = "127.0.0.1";
  std::uint16_t status_port = 0;
  app.add_option("--rebuild", rebuild_from, "rebuild the schema from position 0 and exit: postgres or kafka")
      ->check(CLI::IsMember({"postgres", "kafka"}));
  app.add_option("--group-id", group, "Kafka consumer group")->envname("LEDGER_PROJECTOR_GROUP")->capture_default_str();
  app.add_option("--status-address", status_address, "listen address of the status port")
      ->envname("LEDGER_PROJECTOR_STATUS_ADDRESS")
      ->capture_default_str();
  app.add_option("--status-port", status_port, "status port: /healthz, /readyz, /metrics (0: any free port)")
      ->envname("LEDGER_PROJECTOR_STATUS_PORT")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  services::setup_logging("ledger-projector", settings.log_level);
  auto kafka_security = services::kafka_security(settings);
  if (!kafka_security) {
    spdlog::critical("kafka: {} ({})", kafka_security.error().message, kafka_security.error().code);
    return 1;
  }

  projector::ProjectorOptions options{.pg_url = settings.pg_url,
                                      .brokers = settings.kafka_brokers,
                                      .kafka_security = *kafka_security,
                                      .topic = settings.events_topic,
                                      .schema = settings.read_model_schema,
                                      .group_id = group};
  if (!rebuild_from.empty()) {
    auto r = projector::rebuild(
        options, rebuild_from == "kafka" ? projector::RebuildSource::kKafka : projector::RebuildSource::kPostgres);
    if (!r) {
      spdlog::error("rebuild failed: {} ({})", r.error().message, r.error().code);
      return 1;
    }
    spdlog::info("rebuilt schema {} up to position {}", settings.read_model_schema, r->value);
    return 0;
  }
  projector::ProjectorStatus status;
  adapters::metrics::Registry metrics;
  services::count_kafka_errors(metrics);
  // Lag per read model (issue 17 part 4): positions of the event store its
  // checkpoint has not reached, read when /metrics is scraped.
  adapters::postgres::PgAuditQueries lag_reads(settings.pg_url, settings.read_model_schema, 1);
  std::map<std::string, adapters::metrics::Gauge> lag;
  for (const auto& model : projections::read_models()) {
    const std::string name(model.projection);
    lag[name] = metrics.gauge("ledger_projector_lag_positions",
                              "Positions of the event store a read model has not applied yet", {{"read_model", name}});
  }
  metrics.on_scrape([&] {
    auto head = lag_reads.head_position();
    if (!head) return;  // the database is away: the gauges keep their last values
    for (const auto& [name, gauge] : lag) {
      if (auto cp = lag_reads.checkpoint(name)) gauge.set(static_cast<double>(head->value - cp->value));
    }
  });
  adapters::http::HttpServer server({.address = status_address, .port = status_port, .threads = 2},
                                    projector::projector_status_routes(status, metrics));
  if (auto ok = server.start(); !ok) {
    spdlog::critical("cannot listen on {}:{}: {}", status_address, status_port, ok.error().message);
    return 1;
  }
  // The port line is read by scripts and tests that start with port 0.
  spdlog::info("listening on http://{}:{}", status_address, server.port());
  std::atomic<bool> stop{false};
  std::thread worker(
      [&] { services::run_restarting("projector", stop, [&] { projector::run_projector(options, stop, &status); }); });
  // The decision log (issue 13 part 6): ledger.decisions into decision_log.decisions.
  adapters::postgres::PgDecisionLog decision_log(settings.pg_url, 1);
  std::thread decisions([&] {
    services::run_restarting("decision log projector", stop, [&] {
      adapters::kafka::run_decision_log_projector({.brokers = settings.kafka_brokers,
                                                   .security = *kafka_security,
                                                   .topic = settings.decisions_topic,
                                                   .group_id = group + "-decisions"},
                                                  decision_log, stop);
    });
  });
  spdlog::info("projecting {} into schema {}", settings.events_topic, settings.read_model_schema);
  services::wait_for_shutdown();
  stop = true;
  worker.join();
  decisions.join();
  server.stop();
  return 0;
}
