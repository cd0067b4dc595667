// ledger-query: answers policy-value, admission (decisions, effective ceilings,
// reservations) and audit queries from the read models.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include <unistd.h>

#include "adapters/cel/cel_engine.h"
#include "adapters/http/routes/admission_api.h"
#include "adapters/http/routes/app_policy_api.h"
#include "adapters/http/routes/change_feed.h"
#include "adapters/http/routes/config_api.h"
#include "adapters/http/routes/entitlement_reads.h"
#include "adapters/http/routes/memory_limits.h"
#include "adapters/http/routes/policy_listings.h"
#include "adapters/http/routes/query_api.h"
#include "adapters/http/routes/snapshot_waits.h"
#include "adapters/http/server.h"
#include "adapters/identity/kafka_producers.h"
#include "adapters/kafka/access_refusals.h"
#include "adapters/kafka/decision_log_kafka.h"
#include "adapters/kafka/kafka.h"
#include "adapters/postgres/admission_queries.h"
#include "adapters/postgres/config_key_store.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_limits.h"
#include "adapters/postgres/read_model_store.h"
#include "adapters/projector/memory_feed.h"
#include "adapters/system/clock.h"
#include "services/common/process.h"
#include "services/common/service_mains.h"

int ledger::services::run_ledger_query(int argc, char** argv) {
  using namespace ledger;
  services::block_shutdown_signals();
  CLI::App app{"Policy Ledger query service"};
  services::add_version_flag(app);
  services::Settings settings;
  services::add_common_flags(app, settings);
  std::string address = "127.0.0.1";
  std::uint16_t port = 8082;
  int threads = 16;
  int waits_per_principal = 4;
  int waits_total = 1024;
  std::int64_t ready_lag = 1000;
  app.add_option("--http-address", address, "listen address")->envname("LEDGER_QUERY_ADDRESS")->capture_default_str();
  app.add_option("--http-port", port, "listen port (0: any free port)")
      ->envname("LEDGER_QUERY_PORT")
      ->capture_default_str();
  app.add_option("--http-threads", threads, "HTTP worker threads")
      ->envname("LEDGER_QUERY_THREADS")
      ->capture_default_str();
  app.add_option("--max-waits-per-principal", waits_per_principal,
                 "read-your-writes waits one principal may hold at once (beyond: 429 too_many_waits)")
      ->envname("LEDGER_QUERY_MAX_WAITS_PER_PRINCIPAL")
      ->capture_default_str();
  app.add_option("--max-waits", waits_total, "read-your-writes waits the process holds at once")
      ->envname("LEDGER_QUERY_MAX_WAITS")
      ->capture_default_str();
  app.add_option("--ready-max-lag", ready_lag, "readyz fails when the projector is further behind (events)")
      ->envname("LEDGER_READY_MAX_LAG")
      ->capture_default_str();
  std::string tls_cert, tls_key;
  app.add_option("--tls-cert", tls_cert, "PEM certificate (chain): serve HTTPS (with --tls-key)")
      ->envname("LEDGER_TLS_CERT");
  app.add_option("--tls-key", tls_key, "PEM private key of --tls-cert")->envname("LEDGER_TLS_KEY");
  std::string read_path = "memory";
  app.add_option("--read-path", read_path,
                 "memory: decisions and policy values from in-memory read models fed by ledger.events; "
                 "sql: from the PostgreSQL read models (as before issue 12)")
      ->envname("LEDGER_QUERY_READ_PATH")
      ->check(CLI::IsMember({"memory", "sql"}))
      ->capture_default_str();
  std::string memory_feed = "kafka";
  app.add_option("--memory-feed", memory_feed,
                 "what the in-memory read models follow after their start snapshot: kafka (ledger.events, own "
                 "consumer group) or store (poll the event store)")
      ->envname("LEDGER_QUERY_MEMORY_FEED")
      ->check(CLI::IsMember({"kafka", "store"}))
      ->capture_default_str();
  std::string memory_group;
  app.add_option("--memory-group", memory_group,
                 "consumer group of the in-memory read models (default ledger-query.<host>.<http port>: "
                 "every replica its own group, so each one receives every event)")
      ->envname("LEDGER_QUERY_MEMORY_GROUP");
  std::int64_t rate_limit_replicas = 1;
  app.add_option("--rate-limit-replicas", rate_limit_replicas,
                 "how many query replicas share each application's rate_limit policy: each one enforces its "
                 "share (rate and burst divided by this number)")
      ->envname("LEDGER_QUERY_REPLICAS")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1024}))
      ->capture_default_str();
  std::string decision_log = "on";
  std::size_t decision_log_capacity = 65536;
  app.add_option("--decision-log", decision_log,
                 "on: record every answered decision on the decision log's topic (bounded buffer, never "
                 "slowing the decision; overflow is dropped and counted); off: record nothing")
      ->envname("LEDGER_DECISION_LOG")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--decision-log-buffer", decision_log_capacity, "records the decision log's buffer holds")
      ->envname("LEDGER_DECISION_LOG_BUFFER")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (memory_group.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    memory_group = "ledger-query." + std::string(host) + "." + std::to_string(port);
  }
  services::setup_logging("ledger-query", settings.log_level);
  auto kafka_security = services::kafka_security(settings);
  if (!kafka_security) {
    spdlog::critical("kafka: {} ({})", kafka_security.error().message, kafka_security.error().code);
    return 1;
  }

  auto auth = services::load_tokens(settings.tokens_file, settings.profile);
  if (!auth) {
    spdlog::critical("{}", auth.error().message);
    return 2;
  }
  adapters::system::SystemClock clock;
  adapters::postgres::PgPolicyQueries queries(settings.pg_url, settings.read_model_schema,
                                              static_cast<std::size_t>(threads));
  adapters::postgres::PgAuditQueries audit(settings.pg_url, settings.read_model_schema,
                                           static_cast<std::size_t>(std::max(1, threads / 4)));
  routes::QueryApi api(queries, *auth, clock, &audit);
  adapters::postgres::PgAdmissionQueries admission(settings.pg_url, settings.read_model_schema,
                                                   static_cast<std::size_t>(threads));
  routes::AdmissionApi admission_api(admission, queries, clock);
  api.serve_admission(admission_api);
  // The decision log (issue 13 part 6): decisions -> buffer -> ledger.decisions.
  adapters::postgres::PgDecisionLog decision_table(settings.pg_url, 2);
  std::unique_ptr<commands::DecisionLogBuffer> decision_buffer;
  std::unique_ptr<adapters::kafka::DecisionLogPublisher> decision_publisher;
  if (decision_log == "on") {
    decision_buffer = std::make_unique<commands::DecisionLogBuffer>(decision_log_capacity);
    decision_publisher = std::make_unique<adapters::kafka::DecisionLogPublisher>(
        adapters::kafka::DecisionLogPublisher::Options{
            .brokers = settings.kafka_brokers, .security = *kafka_security, .topic = settings.decisions_topic},
        *decision_buffer);
  } else {
    spdlog::info("decision log: off (--decision-log off)");
  }
  // GET /metrics and the access log (issue 17 part 4).
  services::HttpObservability observability;
  auto& metrics = observability.registry();
  services::count_kafka_errors(metrics);
  {
    std::map<std::string, adapters::metrics::Counter, std::less<>> by_outcome;
    for (const char* d : {"allow", "warn", "deny", "other"}) {
      by_outcome[d] =
          metrics.counter("ledger_decisions_total", "Admission decisions answered, by decision", {{"decision", d}});
    }
    admission_api.count_decisions_with([by_outcome = std::move(by_outcome)](std::string_view d) {
      const auto it = by_outcome.find(d);
      (it != by_outcome.end() ? it->second : by_outcome.at("other")).inc();
    });
  }
  if (decision_buffer) {
    const auto queued = metrics.gauge("ledger_decision_log_buffered", "Decision-log records waiting to be published");
    const auto dropped = metrics.counter("ledger_decision_log_dropped_total",
                                         "Decision-log records dropped because the buffer was full");
    const auto published =
        metrics.counter("ledger_decision_log_published_total", "Decision-log records Kafka acknowledged");
    metrics.on_scrape(
        [&, queued, dropped, published, seen = std::make_shared<std::pair<std::uint64_t, std::uint64_t>>()] {
          queued.set(static_cast<double>(decision_buffer->size()));
          const std::uint64_t d = decision_buffer->dropped();
          const std::uint64_t p = decision_publisher ? decision_publisher->published() : 0;
          if (d > seen->first) dropped.inc(static_cast<double>(d - seen->first));
          if (p > seen->second) published.inc(static_cast<double>(p - seen->second));
          *seen = {d, p};
        });
  }
  admission_api.log_decisions(
      {.buffer = decision_buffer.get(), .table = &decision_table, .published = [&]() -> std::uint64_t {
         return decision_publisher ? decision_publisher->published() : 0;
       }});
  // Refusals become AccessRefused events through the command service: this
  // service never writes to the database (fire-and-forget, bounded queue).
  adapters::kafka::KafkaRefusals refusals(
      {.brokers = settings.kafka_brokers,
       .kafka_security = *kafka_security,
       // its own producer topic: the topic is its identity
       .commands_topic = adapters::identity::producer_topic(settings.commands_topic, settings.kafka_username)});
  api.record_refusals_to(refusals);
  admission_api.record_refusals_to(refusals);
  // The in-memory read models (issue 12), fed below once everything is wired.
  projections::AdmissionStore memory;
  {
    // What the in-memory read models hold and how far behind the store
    // they are, read when /metrics is scraped.
    const auto position =
        metrics.gauge("ledger_query_memory_position", "The position the in-memory read models are at");
    const auto lag = metrics.gauge("ledger_query_memory_lag_positions",
                                   "Positions of the event store the in-memory read models have not applied");
    const auto nodes = metrics.gauge("ledger_read_model_size", "Entries of an in-memory read model",
                                     {{"read_model", "admission"}, {"kind", "scope_nodes"}});
    const auto rules = metrics.gauge("ledger_read_model_size", "Entries of an in-memory read model",
                                     {{"read_model", "admission"}, {"kind", "ceiling_rules"}});
    const auto reservations = metrics.gauge("ledger_read_model_size", "Entries of an in-memory read model",
                                            {{"read_model", "admission"}, {"kind", "reservations"}});
    const auto values = metrics.gauge("ledger_read_model_size", "Entries of an in-memory read model",
                                      {{"read_model", "policy_values"}, {"kind", "values"}});
    metrics.on_scrape([&, position, lag, nodes, rules, reservations, values] {
      const auto snap = memory.snapshot();
      position.set(static_cast<double>(snap->position.value));
      nodes.set(static_cast<double>(snap->admission.node_count()));
      rules.set(static_cast<double>(snap->admission.ceiling_rule_count()));
      reservations.set(static_cast<double>(snap->admission.reservation_count()));
      values.set(static_cast<double>(snap->policy.value_count()));
      if (auto head = admission.head_position())
        lag.set(static_cast<double>(std::max<std::int64_t>(0, head->value - snap->position.value)));
    });
  }
  // Plan entitlements (seed 003): checks and listings from memory.
  routes::EntitlementReads entitlement_reads(memory, clock, [&] { return admission.head_position(); });
  entitlement_reads.record_refusals_to(refusals);
  // Its checks go to the decision log too; the shadow check reads them back (issue 15 part 6).
  entitlement_reads.log_checks({.buffer = decision_buffer.get(), .table = &decision_table, .published = {}});
  // Live token lifetime and rate limits, read from the ledger's own policy
  // values: from memory (PostgreSQL until it has caught up at start).
  adapters::postgres::ReadModelLimits limits(queries, admission, clock);
  routes::MemoryLimits memory_limits(memory, limits, clock);
  commands::RequestGate gate(read_path == "memory" ? static_cast<commands::PolicyLimits&>(memory_limits) : limits,
                             clock);
  api.gate_requests_with(gate);
  api.check_scopes_with(admission);

  // Read-your-writes waits hold no thread: one watcher reads the lowest
  // read-model checkpoint while anyone waits and wakes the waiters.
  routes::SnapshotWaits waits(
      [&]() -> domain::Result<events::GlobalPosition> {
        auto cp = queries.checkpoint("policy_values");
        if (!cp) return cp;
        auto audit_cp = audit.checkpoint("audit");
        if (!audit_cp) return audit_cp;
        auto admission_cp = admission.checkpoint();
        if (!admission_cp) return admission_cp;
        return std::min({*cp, *audit_cp, *admission_cp});
      },
      {.per_principal = waits_per_principal, .total = waits_total});
  api.wait_with(waits, [&] { return admission.head_position(); });

  // The in-memory read models: decisions and policy values without
  // PostgreSQL; their waits are woken by the apply loop.
  routes::SnapshotWaits memory_waits(
      [&]() -> domain::Result<events::GlobalPosition> { return memory.position(); },
      {.per_principal = waits_per_principal, .total = waits_total, .poll = std::chrono::milliseconds(1000)});
  memory.set_on_advance([&](events::GlobalPosition) { memory_waits.notify(); });
  // Application policy chains (seed 002): from memory, evaluated here.
  auto cel_engine = adapters::cel::CelEngine::create();  // custom_cel policies (adapters/cel)
  if (!cel_engine) {
    spdlog::critical("{}", cel_engine.error().message);
    return 1;
  }
  routes::AppPolicyApi app_policy_api(memory, clock,
                                      {.expressions = cel_engine->get(), .replicas = rate_limit_replicas});
  app_policy_api.head_from([&] { return admission.head_position(); });
  admission_api.run_chains_with(app_policy_api.runtime());  // decisions naming an application
  adapters::postgres::PgEventReader history_reader(settings.pg_url);
  std::mutex history_mu;
  app_policy_api.history_from([&](events::GlobalPosition after, std::size_t limit) {
    std::lock_guard lock(history_mu);
    return history_reader.read_after(after, limit);
  });
  app_policy_api.record_refusals_to(refusals);
  api.serve_app_policies(app_policy_api);
  // Seed 004's configuration reads, from the same in-memory snapshot; the
  // process-settings layer from LEDGER_CONFIG_PROCESS_SETTINGS.
  auto process_layer = routes::read_process_settings();
  if (!process_layer) {
    spdlog::critical("{}", process_layer.error().message);
    return 2;
  }
  routes::ConfigApi config_api(memory, clock, std::move(*process_layer), [&] { return admission.head_position(); });
  config_api.record_refusals_to(refusals);
  // Secrets unsealed for secrets:read callers (issue 16 part 4).
  auto config_secrets = adapters::postgres::config_secrets_from_env(settings.pg_url);
  if (!config_secrets) {
    spdlog::critical("{}", config_secrets.error().message);
    return 2;
  }
  config_api.unseal_with(config_secrets->sealer.get());
  entitlement_reads.sign_reports_with(config_secrets->sealer.get());
  config_api.reload_process_settings_with(routes::read_process_settings);
  if (auto h = admission.head_position(); h) config_api.started_at(h->value);
  api.serve_config(config_api);
  std::atomic<bool> feed_stop{false};
  std::thread feed;
  // The live change feed (GET /v1/changes): its own reader of the event
  // store, on its own thread.
  adapters::postgres::PgEventReader feed_reader(settings.pg_url);
  routes::ChangeFeed change_feed(
      {.read_after = [&](events::GlobalPosition after,
                         std::size_t limit) { return feed_reader.read_after(after, limit); },
       .head = [&] { return admission.head_position(); },
       .wait_for_commit = [&](std::chrono::milliseconds t) { feed_reader.wait_for_commit(t); }},
      {});
  change_feed.start();
  api.serve_changes(change_feed);
  // The catalog and override listings (`ledger keys`, `ledger values`).
  routes::PolicyListings listings(memory, clock, [&] { return admission.head_position(); });
  if (read_path == "memory") {
    admission_api.answer_from(memory);
    api.answer_from(memory, &memory_waits);
    api.serve_entitlements(entitlement_reads);
    api.serve_policy_listings(listings);
    feed = std::thread([&] {
      projector::MemoryFeedOptions options{.pg_url = settings.pg_url,
                                           .brokers = settings.kafka_brokers,
                                           .kafka_security = *kafka_security,
                                           .topic = settings.events_topic,
                                           .group_id = memory_group};
      if (memory_feed == "store") options.tail = projector::MemoryFeedOptions::Tail::kStore;
      try {
        projector::run_memory_feed(options, memory, feed_stop);
      } catch (const std::exception& e) {
        spdlog::critical("memory read model: the apply loop failed: {}; answering 503 from now on", e.what());
        memory.mark_failed();
      } catch (...) {
        spdlog::critical("memory read model: the apply loop failed; answering 503 from now on");
        memory.mark_failed();
      }
    });
  }

  // readyz: PostgreSQL answers, Kafka answers, the projector is caught up
  // (every read model it maintains: the lowest of their checkpoints).
  std::mutex ready_mu;
  adapters::postgres::PgEventReader head_reader(settings.pg_url);
  std::unique_ptr<adapters::kafka::KafkaPartitionReader> kafka_probe;
  auto ready = [&]() -> std::string {
    std::lock_guard lock(ready_mu);
    auto head = head_reader.head_position();
    if (!head) return "postgresql: " + head.error().message;
    auto cp = queries.checkpoint("policy_values");
    if (!cp) return "postgresql: " + cp.error().message;
    auto audit_cp = audit.checkpoint("audit");
    if (!audit_cp) return "postgresql: " + audit_cp.error().message;
    auto admission_cp = admission.checkpoint();
    if (!admission_cp) return "postgresql: " + admission_cp.error().message;
    cp = std::min({*cp, *audit_cp, *admission_cp});
    if (!kafka_probe) {
      auto r = adapters::kafka::KafkaPartitionReader::create(
          {.brokers = settings.kafka_brokers, .security = *kafka_security, .topic = settings.events_topic});
      if (!r) return "kafka: " + r.error().message;
      kafka_probe = std::move(*r);
    }
    if (auto hw = kafka_probe->high_watermark(std::chrono::seconds(2)); !hw) {
      kafka_probe.reset();
      return "kafka: " + hw.error().message;
    }
    if (read_path == "memory" && !memory.ready()) {
      return "in-memory read model loading: position " + std::to_string(memory.position().value) + " of " +
             std::to_string(head->value);
    }
    if (read_path == "memory" && head->value - memory.position().value > ready_lag) {
      return "in-memory read model behind: position " + std::to_string(memory.position().value) + " of " +
             std::to_string(head->value);
    }
    if (head->value - cp->value > ready_lag) {
      return "projector behind: checkpoint " + std::to_string(cp->value) + " of " + std::to_string(head->value);
    }
    return "";
  };

  // /healthz and /readyz run on the server's control thread, never behind requests.
  auto server_options = observability.server_options(address, port, threads, tls_cert, tls_key);
  server_options.answers_at_once = [&api](const adapters::http::HttpRequest& req) { return api.answers_at_once(req); };
  adapters::http::HttpServer server(
      std::move(server_options),
      services::with_health_async(
          [&](adapters::http::HttpRequest req, const adapters::http::HttpResponder& respond) {
            api.handle(std::move(req), respond);
          },
          ready, &observability.registry(), routes::ApiDocument::kQuery));
  if (auto ok = server.start(); !ok) {
    spdlog::critical("cannot listen on {}:{}: {}", address, port, ok.error().message);
    return 1;
  }
  spdlog::info("listening on {}://{}:{}", tls_cert.empty() ? "http" : "https", address, server.port());
  services::wait_for_shutdown();
  waits.stop();  // answers every parked wait
  memory_waits.stop();
  change_feed.stop();  // ends every stream
  server.stop();
  feed_stop = true;
  if (feed.joinable()) feed.join();
  decision_publisher.reset();  // publishes what the buffer still holds
  if (decision_buffer && decision_buffer->dropped() > 0) {
    spdlog::warn("decision log: {} record(s) were dropped (buffer full)", decision_buffer->dropped());
  }
  return 0;
}
