// ledger-command: the command service (HTTP and `ledger.commands` in, events
// out). Several instances may run: one holds the writer lock, the others
// stand by (readyz 503, commands refused with 503 `not_writer`) and take over
// when it dies.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "adapters/cel/cel_engine.h"
#include "adapters/http/routes/cel_api.h"
#include "adapters/http/routes/command_api.h"
#include "adapters/http/routes/config_api.h"
#include "adapters/http/routes/request_actor.h"
#include "adapters/http/server.h"
#include "adapters/identity/identity.h"
#include "adapters/postgres/admission_queries.h"
#include "adapters/postgres/config_key_store.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_limits.h"
#include "adapters/postgres/read_model_store.h"
#include "adapters/system/clock.h"
#include "commands/chain_anchor.h"
#include "commands/command_service.h"
#include "services/common/process.h"
#include "services/common/service_mains.h"

int ledger::services::run_ledger_command(int argc, char** argv) {
  using namespace ledger;
  services::block_shutdown_signals();
  CLI::App app{"Policy Ledger command service"};
  services::add_version_flag(app);
  services::Settings settings;
  services::add_common_flags(app, settings);
  std::string address = "127.0.0.1";
  std::uint16_t port = 8081;
  int threads = 16;
  std::size_t max_batch = 256;
  bool kafka_commands = true;
  std::string kafka_group = "ledger-command-service";
  app.add_option("--http-address", address, "listen address")->envname("LEDGER_COMMAND_ADDRESS")->capture_default_str();
  app.add_option("--http-port", port, "listen port (0: any free port)")
      ->envname("LEDGER_COMMAND_PORT")
      ->capture_default_str();
  app.add_option("--http-threads", threads, "HTTP worker threads")
      ->envname("LEDGER_COMMAND_THREADS")
      ->capture_default_str();
  app.add_option("--max-batch", max_batch, "commands per group commit")
      ->envname("LEDGER_MAX_BATCH")
      ->capture_default_str();
  app.add_option("--kafka-commands", kafka_commands, "consume ledger.commands")
      ->envname("LEDGER_KAFKA_COMMANDS")
      ->capture_default_str();
  app.add_option("--kafka-group", kafka_group, "consumer group on ledger.commands")
      ->envname("LEDGER_COMMAND_GROUP")
      ->capture_default_str();
  // Chain anchors (commands/chain_anchor.h): the writer signs the chain head.
  std::string anchor_key_file;
  std::int64_t anchor_every_events = 1000;
  std::int64_t anchor_every_seconds = 60;
  app.add_option("--anchor-key-file", anchor_key_file,
                 "Ed25519 private key (PEM) signing the chain head; empty: no anchors (the dev profile uses "
                 "config/dev-only-chain-anchor-key.pem)")
      ->envname("LEDGER_ANCHOR_KEY_FILE");
  app.add_option("--anchor-every-events", anchor_every_events,
                 "sign once this many events are unsigned (0: not by count)")
      ->envname("LEDGER_ANCHOR_EVERY_EVENTS")
      ->capture_default_str();
  app.add_option("--anchor-every-seconds", anchor_every_seconds,
                 "sign unsigned events at least this often (0: not by time)")
      ->envname("LEDGER_ANCHOR_EVERY_SECONDS")
      ->capture_default_str();
  std::string tls_cert, tls_key;
  app.add_option("--tls-cert", tls_cert, "PEM certificate (chain): serve HTTPS (with --tls-key)")
      ->envname("LEDGER_TLS_CERT");
  app.add_option("--tls-key", tls_key, "PEM private key of --tls-cert")->envname("LEDGER_TLS_KEY");
  CLI11_PARSE(app, argc, argv);
  services::setup_logging("ledger-command", settings.log_level);
  auto kafka_security = services::kafka_security(settings);
  if (!kafka_security) {
    spdlog::critical("kafka: {} ({})", kafka_security.error().message, kafka_security.error().code);
    return 1;
  }

  std::optional<codec::ChainSigningKey> anchor_key;
  if (anchor_key_file.empty()) {
    spdlog::warn(
        "chain anchoring is off: no --anchor-key-file (LEDGER_ANCHOR_KEY_FILE); a rewritten history "
        "cannot be caught by signature");
  } else {
    std::ifstream in(anchor_key_file);
    std::stringstream pem;
    pem << in.rdbuf();
    auto key = in ? codec::ChainSigningKey::from_pem(pem.str())
                  : std::expected<codec::ChainSigningKey, std::string>(std::unexpected("cannot read the file"));
    if (!key) {
      spdlog::critical("--anchor-key-file {}: {}", anchor_key_file, key.error());
      return 2;
    }
    if (key->key_id() == commands::kDevelopmentAnchorKeyId && !identity::is_development_profile(settings.profile)) {
      spdlog::critical(
          "--anchor-key-file {} is the repository's development chain-anchor key (its private half is "
          "public); profile {} needs a key of its own",
          anchor_key_file, settings.profile);
      return 2;
    }
    anchor_key = std::move(*key);
    spdlog::info("chain anchoring on: key id {}, every {} events or {} s", anchor_key->key_id(), anchor_every_events,
                 anchor_every_seconds);
  }

  auto auth = services::load_tokens(settings.tokens_file, settings.profile);
  if (!auth) {
    spdlog::critical("{}", auth.error().message);
    return 2;
  }
  adapters::system::SystemClock clock;
  adapters::postgres::PgEventStore store(settings.pg_url, clock);
  std::optional<commands::ChainAnchor> anchor;
  if (anchor_key) {
    anchor.emplace(store, store, clock, *anchor_key,
                   commands::ChainAnchor::Options{.every_events = anchor_every_events,
                                                  .every = std::chrono::seconds(anchor_every_seconds),
                                                  .on_anchor = [](const commands::AnchorReport& r) {
                                                    if (r.error) {
                                                      spdlog::error("chain anchor: not appended (head {}): {} ({})",
                                                                    r.signed_position.value, r.error->message,
                                                                    r.error->code);
                                                    } else {
                                                      spdlog::info("chain anchor: signed head {} at position {}",
                                                                   r.signed_position.value, r.anchor_position.value);
                                                    }
                                                  }});
  }
  // CEL over cel-go (adapters/cel): custom_cel policies are compiled when
  // attached or changed, and validate-cel checks expressions.
  auto cel_engine = adapters::cel::CelEngine::create();
  if (!cel_engine) {
    spdlog::critical("{}", cel_engine.error().message);
    return 1;
  }
  // Configuration secrets are sealed under LEDGER_CONFIG_KEK (issue 16 part 4).
  auto config_secrets = adapters::postgres::config_secrets_from_env(settings.pg_url);
  if (!config_secrets) {
    spdlog::critical("{}", config_secrets.error().message);
    return 2;
  }
  if (!config_secrets->sealer) spdlog::warn("LEDGER_CONFIG_KEK is not set: configuration secrets are refused");
  // GET /metrics and the access log (issue 17 part 4).
  services::HttpObservability observability;
  auto& metrics = observability.registry();
  services::count_kafka_errors(metrics);
  const auto batch_size = metrics.histogram("ledger_writer_batch_commands", "Commands per group commit of the writer",
                                            {}, {1, 2, 4, 8, 16, 32, 64, 128, 256, 512});
  const auto commit_seconds =
      metrics.histogram("ledger_writer_commit_duration_seconds", "Time of a group commit's append to the event store",
                        {}, adapters::metrics::latency_buckets());
  const auto commits_failed = metrics.counter("ledger_writer_commits_failed_total",
                                              "Group commits the event store did not take (nothing written)");
  const auto sweeps = metrics.counter("ledger_reservation_sweeps_total", "Runs of the reservation sweeper");
  const auto swept = metrics.counter("ledger_reservation_sweep_expired_total",
                                     "Reservations the sweeper found past their window and recorded expired");
  commands::CommandService service(store, clock,
                                   {.max_batch = max_batch,
                                    .anchor = anchor ? &*anchor : nullptr,
                                    .app_policy_deps = {.expressions = cel_engine->get(), .replicas = 1},
                                    .config_sealer = config_secrets->sealer.get(),
                                    // The settings a reload_env re-reads, as ledger-query reads them.
                                    .process_settings_check = []() -> std::optional<std::string> {
                                      auto settings = routes::read_process_settings();
                                      if (settings) return std::nullopt;
                                      return settings.error().code;
                                    },
                                    .on_group_commit =
                                        [&](const commands::CommandService::Options::GroupCommit& g) {
                                          batch_size.observe(static_cast<double>(g.commands));
                                          commit_seconds.observe(std::chrono::duration<double>(g.append_time).count());
                                          if (!g.committed) commits_failed.inc();
                                        },
                                    .on_sweep =
                                        [&](std::size_t expired) {
                                          sweeps.inc();
                                          swept.inc(static_cast<double>(expired));
                                        }});
  service.start();

  routes::CommandApi api(service, *auth);
  // Live token lifetime and rate limits, read from the ledger's own policy
  // values in the read model (this service's role may read it, not write it).
  adapters::postgres::PgPolicyQueries policy_reads(settings.pg_url, settings.read_model_schema, 2);
  adapters::postgres::PgAdmissionQueries admission_reads(settings.pg_url, settings.read_model_schema, 2);
  adapters::postgres::ReadModelLimits limits(policy_reads, admission_reads, clock);
  commands::RequestGate gate(limits, clock);
  api.gate_requests_with(gate);
  // POST /v1/app-policies/validate-cel (adapters/http/routes/cel_api.h):
  // the admins of application policies (application.write) and their budget.
  adapters::kafka::CommandServiceRefusals cel_refusals(service);
  routes::CelApi cel_api(
      **cel_engine, *auth,
      {.family = commands::RouteFamily::kApplicationWrite, .gate = &gate, .refusals = &cel_refusals});
  adapters::http::HttpServer server(
      observability.server_options(address, port, threads, tls_cert, tls_key),
      services::with_health(
          [&](const auto& req) -> adapters::http::HttpResponse {
            if (auto r = cel_api.handle(req)) {  // validate-cel
              if (auto refused = routes::refuse_media_type(req)) return routes::finish(req, std::move(*refused));
              return routes::finish(req, std::move(*r));
            }
            return api.handle(req);
          },
          [&]() -> std::string { return service.is_writer() ? "" : "standby: not the writer"; }, &metrics,
          routes::ApiDocument::kCommand));
  if (auto ok = server.start(); !ok) {
    spdlog::critical("cannot listen on {}:{}: {}", address, port, ok.error().message);
    return 1;
  }
  // The port line is read by scripts and tests that start with port 0.
  spdlog::info("listening on {}://{}:{}", tls_cert.empty() ? "http" : "https", address, server.port());

  std::atomic<bool> stop{false};
  std::thread kafka_thread;
  if (kafka_commands) {
    if (auto ok = services::ensure_ledger_topics(settings); !ok)
      spdlog::warn("topics not ensured: {}", ok.error().message);
    kafka_thread = std::thread([&] {
      services::run_restarting("kafka commands", stop, [&] {
        routes::run_kafka_commands({.brokers = settings.kafka_brokers,
                                    .kafka_security = *kafka_security,
                                    .commands_topic = settings.commands_topic,
                                    .producers_file = settings.kafka_producers_file,
                                    .results_topic = settings.results_topic,
                                    .dead_letter_topic = services::commands_dead_letter_topic(settings),
                                    .group_id = kafka_group,
                                    .gate = &gate},
                                   service, stop);
      });
    });
  }
  services::wait_for_shutdown();
  stop = true;
  server.stop();
  if (kafka_thread.joinable()) kafka_thread.join();
  service.stop();
  return 0;
}
