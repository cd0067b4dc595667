#include "services/components/process.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cctype>
#include <csignal>
#include <fstream>
#include <pthread.h>

#include "adapters/kafka/kafka.h"
#include "services/components/kafka_producers.h"

namespace ledger::services {

void block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void wait_for_shutdown() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("shutting down on signal {}", sig);
}

domain::Result<commands::TokenAuthenticator> load_tokens(const std::string& path) {
  std::ifstream in(path);
  if (!in) return domain::fail(domain::ErrorKind::kInvalidArgument, "tokens_file_unreadable", "cannot read " + path);
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) return domain::fail(domain::ErrorKind::kInvalidArgument, "tokens_file_malformed", path + " is not JSON");
  return commands::TokenAuthenticator::from_json(j);
}

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
       TopicSpec{s.results_topic, 3, {}}},
      std::chrono::seconds(30), *security);
}

adapters::http::HttpHandler with_health(adapters::http::HttpHandler inner, std::function<std::string()> ready) {
  return [inner = std::move(inner), ready = std::move(ready)](const adapters::http::HttpRequest& req) {
    if (req.path == "/healthz") return adapters::http::HttpResponse::json(200, R"({"status":"ok"})");
    if (req.path == "/readyz") {
      const std::string reason = ready();
      if (reason.empty()) return adapters::http::HttpResponse::json(200, R"({"status":"ready"})");
      return adapters::http::HttpResponse::json(503, nlohmann::json{{"status", "not_ready"}, {"reason", reason}}.dump());
    }
    return inner(req);
  };
}

}  // namespace ledger::services
