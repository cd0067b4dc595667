// Small helpers shared by the end-to-end tests: polling with a deadline,
// HTTP calls with the dev admin token, threads joined however a test ends,
// and log tails for failure messages. Header-only; test code only.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/http/client.h"
#include "adapters/identity/kafka_producers.h"
#include "adapters/kafka/kafka.h"
#include "services/common/process.h"
#include "services/common/settings.h"
#include "tests/support/process.h"
#include "tests/support/test_env.h"

namespace ledger::testing {

inline constexpr const char* kAdminToken = "Bearer dev-platform-admin";

// A system-clock time as RFC 3339 (whole seconds, UTC), for request bodies.
inline std::string rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&tt));
  return buf;
}

// The end of a child's log, for failure messages.
// A loopback TCP port free right now (the kernel's pick), for a child that
// must be told its port up front.
inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

inline std::string tail(const ChildProcess& p, std::size_t n = 3000) {
  std::string log = p.log();
  if (log.size() > n) log = log.substr(log.size() - n);
  return p.log_path() + ":\n" + log;
}

struct Reply {
  int status = 0;  // 0: no HTTP answer
  nlohmann::json body;
  std::string error;
  std::string retry_after;  // the Retry-After header, if any
  std::string read_model;   // the X-Read-Model header (memory | postgresql), if any
  std::string code() const { return body.is_object() && body.contains("code") ? body["code"].get<std::string>() : ""; }
  std::string describe() const {
    return error.empty() ? std::to_string(status) + " " + body.dump() : "transport error: " + error;
  }
};

// One HTTP call; `token` empty sends no Authorization header.
inline Reply call(adapters::http::HttpClient& client, const std::string& method, const std::string& target,
                  const std::string& body = {}, const std::string& token = kAdminToken,
                  std::vector<std::pair<std::string, std::string>> extra = {}) {
  if (!token.empty()) extra.emplace_back("authorization", token);
  auto r = client.request(method, target, body, extra);
  Reply out;
  if (!r) {
    out.error = r.error().code + ": " + r.error().message;
    for (const auto& [k, v] : r.error().evidence_texts()) out.error += " [" + k + "=" + v + "]";
    return out;
  }
  out.status = r->status;
  out.body = nlohmann::json::parse(r->body, nullptr, false);
  if (const auto* h = r->header("retry-after")) out.retry_after = *h;
  if (const auto* h = r->header("x-read-model")) out.read_model = *h;
  return out;
}

// Threads that are stopped and joined however the test ends (an ASSERT that
// returns early must not leave joinable threads behind).
struct ThreadGroup {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  void join() {
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
  }
  ~ThreadGroup() {
    stop = true;
    join();
  }
};

// `settings` logs in to Kafka as the tests' admin principal (kafka_security()).
inline void use_test_kafka_login(services::Settings& settings) {
  const auto sec = kafka_security();
  settings.kafka_brokers = kafka_brokers();
  settings.kafka_security_protocol = sec.protocol;
  settings.kafka_sasl_mechanism = sec.sasl_mechanism;
  settings.kafka_username = sec.username;
  settings.kafka_password = sec.password;
  settings.kafka_password_file.clear();
  settings.kafka_ca = sec.ca_location;
}

// The principal a static token of config/tokens.json stands for
// ("Bearer dev-acme-admin"), for tests that publish commands over Kafka as
// that principal; nullopt for any other token.
inline std::optional<commands::Principal> dev_token_principal(const std::string& bearer) {
  static const auto tokens = services::load_tokens(std::string(LEDGER_SOURCE_DIR) + "/config/tokens.json", "test");
  if (!tokens) return std::nullopt;
  auto p = tokens->authenticate(bearer);
  if (!p) return std::nullopt;
  return *p;
}

// A copy of config/kafka-producers.json for one test's command service.
inline std::string test_producers_file() {
  const std::string path =
      (std::filesystem::temp_directory_path() / (unique_name("kafka-producers") + ".json")).string();
  std::filesystem::copy_file(std::string(LEDGER_SOURCE_DIR) + "/config/kafka-producers.json", path,
                             std::filesystem::copy_options::overwrite_existing);
  return path;
}

// Kafka principal `name` may write only <base>.<name> (topic and literal
// Write/Describe ACL, made as the admin), like `ledger-admin add-producer`.
// "" on success, else what failed.
inline std::string allow_test_producer(const std::string& base, const std::string& name) {
  const std::string topic = adapters::identity::producer_topic(base, name);
  if (auto ok =
          adapters::kafka::ensure_topics(kafka_brokers(), {{topic, 3, {}}}, std::chrono::seconds(30), kafka_security());
      !ok) {
    return "topic " + topic + ": " + ok.error().message;
  }
  if (kafka_security().protocol == "plaintext") return "";
  using Rule = adapters::kafka::AclRule;
  if (auto ok = adapters::kafka::create_acls(
          kafka_brokers(), kafka_security(),
          {Rule{.name = topic, .principal = "User:" + name, .operation = Rule::Operation::kWrite},
           Rule{.name = topic, .principal = "User:" + name, .operation = Rule::Operation::kDescribe}},
          std::chrono::seconds(30));
      !ok) {
    return "ACLs for " + name + ": " + ok.error().message;
  }
  return "";
}

// Lets Kafka principal `name` consume `topic` in consumer group `group`
// (what scripts/infra.sh grants ledger-query on ledger.events* for its
// in-memory read models, for one test's own topic and group). "" on
// success, else what failed.
inline std::string allow_test_consumer(const std::string& topic, const std::string& group, const std::string& name) {
  if (kafka_security().protocol == "plaintext") return "";
  using Rule = adapters::kafka::AclRule;
  const std::string who = "User:" + name;
  if (auto ok =
          adapters::kafka::create_acls(kafka_brokers(), kafka_security(),
                                       {Rule{.name = topic, .principal = who, .operation = Rule::Operation::kRead},
                                        Rule{.name = topic, .principal = who, .operation = Rule::Operation::kDescribe},
                                        Rule{.resource = Rule::Resource::kGroup,
                                             .name = group,
                                             .principal = who,
                                             .operation = Rule::Operation::kRead}},
                                       std::chrono::seconds(30));
      !ok) {
    return "consumer ACLs for " + name + ": " + ok.error().message;
  }
  return "";
}

// What scripts/infra.sh grants on ledger.decisions* (the decision log), for
// one test's own topic: ledger-query writes it, ledger-projector reads it
// (its groups are ledger-projector*). "" on success, else what failed.
inline std::string allow_decision_log(const std::string& topic) {
  if (kafka_security().protocol == "plaintext") return "";
  using Rule = adapters::kafka::AclRule;
  using Op = Rule::Operation;
  if (auto ok = adapters::kafka::create_acls(
          kafka_brokers(), kafka_security(),
          {Rule{.name = topic, .principal = "User:ledger-query", .operation = Op::kWrite},
           Rule{.name = topic, .principal = "User:ledger-query", .operation = Op::kDescribe},
           Rule{.name = topic, .principal = "User:ledger-projector", .operation = Op::kRead},
           Rule{.name = topic, .principal = "User:ledger-projector", .operation = Op::kDescribe}},
          std::chrono::seconds(30));
      !ok) {
    return "decision log ACLs: " + ok.error().message;
  }
  return "";
}

// Kafka principal `name` as a command producer of one test's services: its
// SCRAM user (scripts/infra.sh kafka-add-user), its topic and ACL
// (allow_test_producer) and its entry in `producers_file`, mapped to
// `principal`. "" on success, else what failed.
inline std::string add_test_producer(const std::string& base, const std::string& producers_file,
                                     const std::string& name, const commands::Principal& principal) {
  if (kafka_security().protocol != "plaintext" && infra("kafka-add-user " + name) != 0) {
    return "scripts/infra.sh kafka-add-user " + name + " failed";
  }
  if (auto failed = allow_test_producer(base, name); !failed.empty()) return failed;
  nlohmann::json document = nullptr;
  if (std::ifstream in(producers_file); in) document = nlohmann::json::parse(in, nullptr, false);
  if (document.is_discarded()) return producers_file + " is not JSON";
  adapters::identity::upsert_producer(document, name, principal);
  const std::string tmp = producers_file + ".tmp";
  std::ofstream(tmp, std::ios::trunc) << document.dump(2);
  std::filesystem::rename(tmp, producers_file);  // the command service re-reads it when it changes
  return "";
}

// Publishes one command record as Kafka principal `name` on its topic.
// A producer's ACLs are created just before its first record
// (allow_test_producer), and a broker applies them a moment after the
// controller accepted them: a refusal (kafka_not_authorized) is tried again
// for up to 10 s. The command id makes a repeat harmless.
inline std::string publish_as_producer(const std::string& base, const std::string& name, const std::string& command_id,
                                       const std::string& value, const adapters::kafka::KafkaHeaders& headers = {}) {
  auto once = [&]() -> std::pair<std::string, std::string> {  // (code, message); empty code: published
    auto producer = adapters::kafka::KafkaProducer::create(
        {.brokers = kafka_brokers(), .security = kafka_security_as(name), .client_id = "e2e-" + name});
    if (!producer) return {producer.error().code, producer.error().message};
    if (auto ok = (*producer)->produce(adapters::identity::producer_topic(base, name), command_id, value, headers);
        !ok) {
      return {ok.error().code, ok.error().message};
    }
    if (auto ok = (*producer)->flush(std::chrono::seconds(30)); !ok) return {ok.error().code, ok.error().message};
    return {};
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    auto [code, message] = once();
    if (code.empty()) return "";
    if (code != "kafka_not_authorized" || std::chrono::steady_clock::now() >= deadline) return code + ": " + message;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace ledger::testing
