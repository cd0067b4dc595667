#include "services/common/process.h"

#include <cmath>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <pthread.h>
#include <array>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <csignal>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include "adapters/http/routes/http_json.h"
#include "adapters/http/routes/request_actor.h"
#include "adapters/identity/kafka_producers.h"
#include "adapters/kafka/kafka.h"
#include "events/codec/json_codec.h"

namespace ledger::services {

using adapters::identity::producer_topic;

void block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

namespace {
std::mutex shutdown_mu;
std::condition_variable shutdown_cv;
bool shutdown_watched = false;  // one thread waits for the signal
bool shutdown_seen = false;
}  // namespace

void wait_for_shutdown() {
  std::unique_lock lock(shutdown_mu);
  if (shutdown_watched) {
    shutdown_cv.wait(lock, [] { return shutdown_seen; });
    return;
  }
  shutdown_watched = true;
  lock.unlock();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("shutting down on signal {}", sig);
  lock.lock();
  shutdown_seen = true;
  shutdown_cv.notify_all();
}

domain::Result<identity::TokenAuthenticator> load_tokens(const std::string& path, const std::string& profile) {
  std::ifstream in(path);
  if (!in) return domain::fail(domain::ErrorKind::kInvalidArgument, "tokens_file_unreadable", "cannot read " + path);
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded())
    return domain::fail(domain::ErrorKind::kInvalidArgument, "tokens_file_malformed", path + " is not JSON");
  const bool development = identity::is_development_profile(profile);
  auto auth = identity::TokenAuthenticator::from_json(j, {.development = development});
  if (!auth) {
    auto e = auth.error();
    e.message = path + " (profile '" + profile + "'): " + e.message;
    return std::unexpected(std::move(e));
  }
  for (const auto& w : auth->warnings()) {
    spdlog::warn("INSECURE TOKEN FILE {} (profile '{}', development only): {}", path, profile, w);
  }
  return auth;
}

std::string commands_dead_letter_topic(const Settings& s) { return s.dead_letter_topic; }
domain::Result<adapters::kafka::KafkaSecurity> kafka_security(const Settings& s) {
  adapters::kafka::KafkaSecurity out{.protocol = s.kafka_security_protocol,
                                     .sasl_mechanism = s.kafka_sasl_mechanism,
                                     .username = s.kafka_username,
                                     .password = s.kafka_password,
                                     .ca_location = s.kafka_ca};
  if (!s.kafka_password_file.empty()) {
    std::ifstream in(s.kafka_password_file);
    std::string password;
    if (!in || !std::getline(in, password)) {
      return domain::fail(domain::ErrorKind::kInvalidArgument, "kafka_password_unreadable",
                          "cannot read the Kafka password file " + s.kafka_password_file);
    }
    if (!password.empty() && password.back() == '\r') password.pop_back();
    out.password = std::move(password);
  }
  std::string protocol = out.protocol;
  for (auto& c : protocol) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (protocol.starts_with("sasl_") && out.username.empty()) {
    return domain::fail(domain::ErrorKind::kInvalidArgument, "kafka_credentials_missing",
                        "Kafka protocol " + out.protocol + " needs a username (LEDGER_KAFKA_USERNAME)");
  }
  return out;
}

domain::Result<void> ensure_ledger_topics(const Settings& s) {
  using adapters::kafka::TopicSpec;
  auto security = kafka_security(s);
  if (!security) return std::unexpected(std::move(security.error()));
  return adapters::kafka::ensure_topics(
      s.kafka_brokers,
      {TopicSpec{s.events_topic, 1, {{"retention.ms", "-1"}, {"retention.bytes", "-1"}, {"cleanup.policy", "delete"}}},
       TopicSpec{producer_topic(s.commands_topic, "ledger-query"), 3, {}},  // its access refusals
       TopicSpec{s.results_topic, 3, {}}, TopicSpec{commands_dead_letter_topic(s), 3, {}},
       // the decision log: keyed by organization, so a tenant's records keep their order
       TopicSpec{s.decisions_topic, 3, {{"retention.ms", std::to_string(s.decision_log_retention_ms)}}}},
      std::chrono::seconds(30), *security);
}

void run_restarting(const char* what, const std::atomic<bool>& stop, const std::function<void()>& body) {
  for (;;) {
    try {
      body();
      return;
    } catch (const std::exception& e) {
      spdlog::error("{}: unexpected failure, restarting: {}", what, e.what());
    } catch (...) {
      spdlog::error("{}: unexpected failure, restarting", what);
    }
    if (stop) return;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

namespace {

// The answer to /healthz, /readyz, /metrics or /openapi.json; nullopt for any other path.
std::optional<adapters::http::HttpResponse> health_answer(const adapters::http::HttpRequest& req,
                                                          const std::function<std::string()>& ready,
                                                          const adapters::metrics::Registry* metrics,
                                                          std::optional<routes::ApiDocument> openapi) {
  if (req.path == "/openapi.json" && openapi) return routes::openapi_response(*openapi, req);
  const bool control =
      req.path == "/healthz" || req.path == "/readyz" || (req.path == "/metrics" && metrics != nullptr);
  if (control && req.method != "GET" && req.method != "HEAD") return routes::method_not_allowed("GET");
  if (req.path == "/healthz") return adapters::http::HttpResponse::json(200, R"({"status":"ok"})");
  if (req.path == "/readyz") {
    const std::string reason = ready();
    if (reason.empty()) return adapters::http::HttpResponse::json(200, R"({"status":"ready"})");
    return adapters::http::HttpResponse::json(503, nlohmann::json{{"status", "not_ready"}, {"reason", reason}}.dump());
  }
  if (req.path == "/metrics" && metrics != nullptr) {
    adapters::http::HttpResponse r;
    r.status = 200;
    r.content_type = adapters::metrics::kTextContentType;
    r.body = metrics->text();
    return r;
  }
  return std::nullopt;
}

bool is_control_path(std::string_view path) {
  return path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/openapi.json";
}

}  // namespace

void count_kafka_errors(adapters::metrics::Registry& metrics) {
  const std::string help = "Errors librdkafka reported to this process's Kafka clients";
  const auto producer = metrics.counter("ledger_kafka_client_errors_total", help, {{"client", "producer"}});
  const auto consumer = metrics.counter("ledger_kafka_client_errors_total", help, {{"client", "consumer"}});
  const auto delivery = metrics.counter("ledger_kafka_delivery_failures_total", "Records a producer could not deliver");
  metrics.on_scrape([=, seen = std::make_shared<adapters::kafka::KafkaErrorCounts>()] {
    const auto now = adapters::kafka::kafka_error_counts();
    producer.inc(static_cast<double>(now.producer_errors - seen->producer_errors));
    consumer.inc(static_cast<double>(now.consumer_errors - seen->consumer_errors));
    delivery.inc(static_cast<double>(now.delivery_failures - seen->delivery_failures));
    *seen = now;
  });
}

std::string access_log_members(const adapters::http::Exchange& e) {
  // Written straight, in the order of nlohmann's sorted keys (what the
  // lines held when they were dumped from a tree): no query string, header
  // or body, which may carry secrets.
  const double seconds = std::chrono::duration<double>(e.elapsed).count();
  const double latency_ms = std::round(seconds * 1e6) / 1e3;  // to the microsecond, rounded as the tree's lines were
  const std::string route = adapters::metrics::route_label(e.path);
  std::string out;
  out.reserve(160 + e.actor.size() + e.correlation_id.size() + 2 * e.path.size());
  if (!e.actor.empty()) {
    out += R"("actor":)";
    codec::append_json_string(out, e.actor);
    out += ',';
  }
  if (!e.correlation_id.empty()) {
    out += R"("correlation_id":)";
    codec::append_json_string(out, e.correlation_id);
    out += ',';
  }
  out += R"("latency_ms":)";
  std::array<char, 32> number{};
  const auto written = std::to_chars(number.data(), number.data() + number.size(), latency_ms);
  out.append(number.data(), written.ptr);
  out += R"(,"method":)";
  codec::append_json_string(out, e.method);
  out += R"(,"path":)";
  codec::append_json_string(out, e.path);
  out += R"(,"route":)";
  codec::append_json_string(out, route);
  out += R"(,"status":)";
  out += std::to_string(e.status);
  return out;
}

std::vector<std::string> control_paths() { return {"/healthz", "/readyz", "/metrics", "/openapi.json"}; }

std::function<void(const adapters::http::Exchange&)> HttpObservability::on_answer() {
  return [this](const adapters::http::Exchange& e) {
    const double seconds = std::chrono::duration<double>(e.elapsed).count();
    requests_.observe(e.method, e.path, e.status, seconds);
    if (!access_log_ || is_control_path(e.path)) return;
    access_log(access_log_members(e));
  };
}

adapters::http::HttpServer::Options HttpObservability::server_options(const std::string& address, std::uint16_t port,
                                                                      int threads, const std::string& tls_cert,
                                                                      const std::string& tls_key) {
  return {.address = address,
          .port = port,
          .threads = threads,
          .control_paths = control_paths(),
          .tls_cert_file = tls_cert,
          .tls_key_file = tls_key,
          .on_answer = on_answer()};
}

adapters::http::HttpHandler with_health(adapters::http::HttpHandler inner, std::function<std::string()> ready,
                                        const adapters::metrics::Registry* metrics,
                                        std::optional<routes::ApiDocument> openapi) {
  return
      [inner = std::move(inner), ready = std::move(ready), metrics, openapi](const adapters::http::HttpRequest& req) {
        if (auto answer = health_answer(req, ready, metrics, openapi)) {
          return routes::echo_correlation_id(req, std::move(*answer));
        }
        return inner(req);
      };
}

adapters::http::AsyncHttpHandler with_health_async(adapters::http::AsyncHttpHandler inner,
                                                   std::function<std::string()> ready,
                                                   const adapters::metrics::Registry* metrics,
                                                   std::optional<routes::ApiDocument> openapi) {
  return [inner = std::move(inner), ready = std::move(ready), metrics, openapi](adapters::http::HttpRequest req,
                                                                                adapters::http::HttpResponder respond) {
    if (auto answer = health_answer(req, ready, metrics, openapi)) {
      return respond.send(routes::echo_correlation_id(req, std::move(*answer)));
    }
    inner(std::move(req), std::move(respond));
  };
}

}  // namespace ledger::services
