// The four services (ledger-command, ledger-relay, ledger-projector,
// ledger-query) as child processes on one test's own database, topics and
// consumer groups, each service with its own PostgreSQL role, plus the calls
// end-to-end tests make against them. Header-only; test code only.
//
//   ServiceStack s("my_e2e");
//   ASSERT_TRUE(s.start());
//   s.ok("project.create", {...});
//   Reply r = s.query("GET", "/v1/reservations/r1", kAdminToken);
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "adapters/http/client.h"
#include "adapters/kafka/kafka.h"
#include "services/common/process.h"
#include "services/common/settings.h"
#include "tests/support/e2e_support.h"
#include "tests/support/process.h"
#include "tests/support/test_env.h"

namespace ledger::testing {

using namespace std::chrono_literals;

class ServiceStack {
 public:
  using Json = nlohmann::json;
  using Env = std::vector<std::pair<std::string, std::string>>;
  using HttpClient = adapters::http::HttpClient;

  explicit ServiceStack(const std::string& label, const std::string& log_level = "info") : db_(create_database(label)) {
    env_ = {{"LEDGER_PG_URL", db_.app_url},
            {"LEDGER_KAFKA_BROKERS", kafka_brokers()},
            {"LEDGER_EVENTS_TOPIC", events_topic_},
            {"LEDGER_COMMANDS_TOPIC", commands_topic_},
            {"LEDGER_RESULTS_TOPIC", results_topic_},
            {"LEDGER_COMMANDS_DLQ_TOPIC", dead_letter_topic_},
            {"LEDGER_DECISIONS_TOPIC", decisions_topic_},
            {"LEDGER_KAFKA_PRODUCERS_FILE", producers_file_},
            {"LEDGER_TOKENS_FILE", std::string(LEDGER_SOURCE_DIR) + "/config/tokens.json"},
            {"LEDGER_COMMAND_PORT", "0"},
            {"LEDGER_QUERY_PORT", "0"},
            {"LEDGER_COMMAND_GROUP", unique_name("ledger-command")},
            {"LEDGER_PROJECTOR_GROUP", unique_name("ledger-projector")},
            {"LEDGER_QUERY_MEMORY_GROUP", unique_name("ledger-query")},
            {"LEDGER_KAFKA_COMMANDS", "true"},
            // The key-encryption key of configuration secrets (a fixed test key).
            {"LEDGER_CONFIG_KEK", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"},
            {"LEDGER_LOG_LEVEL", log_level}};
    for (auto& kv : db_.service_env()) env_.push_back(std::move(kv));  // each service its own PostgreSQL role
  }

  // Sets (or replaces) one environment variable of the services; before start().
  void set_env(const std::string& name, const std::string& value) {
    for (auto& [k, v] : env_) {
      if (k == name) {
        v = value;
        return;
      }
    }
    env_.emplace_back(name, value);
  }
  const Env& env() const { return env_; }
  std::string env_value(const std::string& name) const {
    for (const auto& [k, v] : env_) {
      if (k == name) return v;
    }
    return "";
  }
  // start() runs the four services as one `ledger-all` process instead of
  // four binaries (the same environment; ports chosen here, since one log
  // names three listening ports).
  void run_in_one_process() { one_process_ = true; }

  ::testing::AssertionResult start() {
    ledger::services::Settings settings;
    use_test_kafka_login(settings);  // the harness creates the topics as the admin
    settings.events_topic = events_topic_;
    settings.commands_topic = commands_topic_;
    settings.results_topic = results_topic_;
    settings.dead_letter_topic = dead_letter_topic_;
    settings.decisions_topic = decisions_topic_;
    if (auto ok = ledger::services::ensure_ledger_topics(settings); !ok) {
      return ::testing::AssertionFailure() << ok.error().message;
    }
    // The decision log: ledger-query writes it, ledger-projector reads it
    // (scripts/infra.sh grants both on ledger.decisions*).
    if (auto failed = allow_decision_log(decisions_topic_); !failed.empty()) {
      return ::testing::AssertionFailure() << failed;
    }
    // The query service publishes its refusals on its own producer topic.
    if (auto failed = allow_test_producer(commands_topic_, "ledger-query"); !failed.empty()) {
      return ::testing::AssertionFailure() << failed;
    }
    // The query service's in-memory read models follow the events topic.
    if (auto failed = allow_test_consumer(events_topic_, env_value("LEDGER_QUERY_MEMORY_GROUP"), "ledger-query");
        !failed.empty()) {
      return ::testing::AssertionFailure() << failed;
    }
    if (one_process_) return start_one_process();
    for (const char* b : {"ledger-command", "ledger-relay", "ledger-projector", "ledger-query"}) {
      Env env = env_;
      for (auto& kv : kafka_env_for(b)) env.push_back(std::move(kv));  // each service its own Kafka principal
      procs_.push_back(std::make_unique<ChildProcess>(
          std::vector<std::string>{std::string(LEDGER_BINARY_DIR) + "/services/" + b}, std::move(env)));
    }
    const auto command_port = procs_[0]->wait_for_port(30s);
    const auto query_port = procs_[3]->wait_for_port(30s);
    if (command_port == 0) return ::testing::AssertionFailure() << tail(*procs_[0]);
    if (query_port == 0) return ::testing::AssertionFailure() << tail(*procs_[3]);
    if (!procs_[2]->wait_for_log("projecting", 30s)) return ::testing::AssertionFailure() << tail(*procs_[2]);
    return connect(command_port, query_port);
  }

  Reply command(const std::string& type, const Json& body, const std::string& token = kAdminToken,
                std::vector<std::pair<std::string, std::string>> headers = {}) {
    Reply r = call(*commands_, "POST", "/v1/commands/" + type, body.dump(), token, std::move(headers));
    if (r.status == 200) last_position_ = std::max(last_position_, r.body.value("position", std::int64_t{0}));
    remember(r);
    return r;
  }
  // Any route of the command service (the seed-shaped admin routes, seed
  // 004's PUT routes): command_http() is the same with a body always given.
  Reply command_http(const std::string& method, const std::string& target, const Json& body,
                     const std::string& token = kAdminToken) {
    return admin(method, target, body, token);
  }
  // Any route of the command service (the seed-shaped admin routes).
  Reply admin(const std::string& method, const std::string& target, const Json& body = nullptr,
              const std::string& token = kAdminToken) {
    Reply r = call(*commands_, method, target, body.is_null() ? std::string() : body.dump(), token);
    if (r.status == 200) last_position_ = std::max(last_position_, r.body.value("position", std::int64_t{0}));
    remember(r);
    return r;
  }
  std::int64_t ok(const std::string& type, const Json& body) {
    Reply r = command(type, body);
    EXPECT_EQ(r.status, 200) << type << ": " << r.describe();
    return r.body.value("position", std::int64_t{0});
  }
  // The registry entries of a GPU quota: product gpuaas, unit gpu, resource
  // type gpu_node and dimension gpu.count.
  void register_gpu_quota() {
    ok("registry.register", {{"kind", "product"}, {"entry_id", "gpuaas"}});
    ok("registry.register", {{"kind", "usage_unit"}, {"entry_id", "gpu"}});
    ok("registry.register",
       {{"kind", "resource_type"}, {"entry_id", "gpu_node"}, {"attributes", {{"product", "gpuaas"}}}});
    ok("registry.register", {{"kind", "quota_dimension"},
                             {"entry_id", "gpu.count"},
                             {"attributes", {{"product", "gpuaas"}, {"resource_type", "gpu_node"}, {"unit", "gpu"}}}});
  }
  Reply query(const std::string& method, const std::string& target, const std::string& token,
              const Json& body = nullptr, std::vector<std::pair<std::string, std::string>> headers = {}) {
    Reply r = call(*queries_, method, target, body.is_null() ? std::string() : body.dump(), token, std::move(headers));
    remember(r);
    return r;
  }
  // Publishes a command over Kafka as the principal the static token `token`
  // stands for: as the command producer "e2e-<actor id>" mapped to that
  // principal, on its own topic, with no token on the record.
  ::testing::AssertionResult publish(const std::string& command_id, Json body, const std::string& token,
                                     const ledger::adapters::kafka::KafkaHeaders& headers = {}) {
    auto principal = dev_token_principal(token);
    if (!principal) return ::testing::AssertionFailure() << "not a static token of config/tokens.json";
    const std::string name = producer_for(*principal);
    if (!name.empty() && name.front() == '!') return ::testing::AssertionFailure() << name.substr(1);
    return publish_as(name, command_id, std::move(body), headers);
  }
  // Publishes a command as Kafka principal `name` on its own topic.
  ::testing::AssertionResult publish_as(const std::string& name, const std::string& command_id, Json body,
                                        const ledger::adapters::kafka::KafkaHeaders& headers = {}) {
    body["command_id"] = command_id;
    if (auto failed = publish_as_producer(commands_topic_, name, command_id, body.dump(), headers); !failed.empty()) {
      return ::testing::AssertionFailure() << failed;
    }
    return ::testing::AssertionSuccess();
  }
  // Makes "e2e-<actor id>" a command producer mapped to `principal` (once);
  // its name, or "!<what failed>".
  std::string producer_for(const ledger::commands::Principal& principal) {
    const std::string name = "e2e-" + principal.actor.id;
    if (producers_.insert(name).second) {
      if (auto failed = add_test_producer(commands_topic_, producers_file_, name, principal); !failed.empty()) {
        producers_.erase(name);
        return "!" + failed;
      }
    }
    return name;
  }
  // The outcome of `command_id` on ledger.command-results (null on timeout).
  Json result_of(const std::string& command_id, std::chrono::seconds timeout = 60s) {
    auto consumer = ledger::adapters::kafka::KafkaConsumer::create({.brokers = kafka_brokers(),
                                                                    .security = kafka_security(),
                                                                    .group_id = unique_name("e2e-stack-results"),
                                                                    .topics = {results_topic_}});
    if (!consumer) return nullptr;
    Json found;
    eventually(timeout, [&] {
      auto batch = (*consumer)->poll(100, 200ms);
      if (!batch) return false;
      for (const auto& m : *batch) {
        remember_text(m.value);
        if (m.key == command_id) found = Json::parse(m.value, nullptr, false);
      }
      return !found.is_null();
    });
    return found;
  }

  // Every AccessRefused row `token` can see, polled until `done` holds.
  Json refusals_seen_by(const std::string& token, const std::function<bool(const Json&)>& done) {
    Json items = Json::array();
    eventually(
        90s,
        [&] {
          Reply r = query("GET", "/v1/audit?event_type=AccessRefused&limit=1000", token);
          if (r.status != 200) return false;
          items = r.body["items"];
          return done(items);
        },
        200ms);
    return items;
  }

  // Kills ledger-query (SIGKILL) and starts it again with the same
  // environment (plus `extra`); later queries go to the new process.
  // Returns once it listens.
  ::testing::AssertionResult restart_query(const Env& extra = {}) {
    procs_[3]->kill_hard();
    Env env = env_;
    for (auto& kv : kafka_env_for("ledger-query")) env.push_back(std::move(kv));
    for (const auto& kv : extra) env.push_back(kv);
    procs_[3] = std::make_unique<ChildProcess>(
        std::vector<std::string>{std::string(LEDGER_BINARY_DIR) + "/services/ledger-query"}, std::move(env));
    const auto port = procs_[3]->wait_for_port(30s);
    if (port == 0) return ::testing::AssertionFailure() << tail(*procs_[3]);
    query_port_ = port;
    queries_ = std::make_unique<HttpClient>("127.0.0.1", port, 30s);
    return ::testing::AssertionSuccess();
  }
  // Another ledger-query on the same ledger (a replica: the stack's
  // environment plus `extra`, its own memory consumer group); it stops with
  // the returned process. nullptr process when it did not come up.
  struct Replica {
    std::unique_ptr<ChildProcess> process;
    std::unique_ptr<HttpClient> client;
  };
  Replica start_query_replica(const Env& extra = {}) {
    Env env = env_;
    for (auto& kv : kafka_env_for("ledger-query")) env.push_back(std::move(kv));
    // Its own consumer group: replaced, never appended (a second entry of
    // the same name is ignored by getenv, and a replica sharing the first
    // one's group would split the topic's partitions with it).
    const std::string group = unique_name("ledger-query-replica");
    std::erase_if(env, [](const auto& kv) { return kv.first == "LEDGER_QUERY_MEMORY_GROUP"; });
    env.emplace_back("LEDGER_QUERY_MEMORY_GROUP", group);
    for (const auto& kv : extra) env.push_back(kv);
    Replica r;
    // Its own consumer group needs its own Read ACL, like the first one's.
    if (auto failed = allow_test_consumer(events_topic_, group, "ledger-query"); !failed.empty()) {
      ADD_FAILURE() << failed;
      return r;
    }
    r.process = std::make_unique<ChildProcess>(
        std::vector<std::string>{std::string(LEDGER_BINARY_DIR) + "/services/ledger-query"}, std::move(env));
    const auto port = r.process->wait_for_port(30s);
    if (port == 0) {
      ADD_FAILURE() << tail(*r.process);
      r.process.reset();
      return r;
    }
    r.client = std::make_unique<HttpClient>("127.0.0.1", port, 30s);
    return r;
  }
  // A client of the current ledger-query (for a thread of its own).
  std::unique_ptr<HttpClient> query_client() const {
    return std::make_unique<HttpClient>("127.0.0.1", query_port_, 30s);
  }

  // Holds the projector still (SIGSTOP) and lets it go on (SIGCONT): the
  // read models stay behind the event store meanwhile.
  // SIGTERM to every process of the stack; the exit statuses.
  std::vector<int> terminate_all() {
    std::vector<int> out;
    for (auto& p : procs_) out.push_back(p->terminate());
    return out;
  }
  std::size_t process_count() const { return procs_.size(); }
  void pause_projector() { procs_[2]->pause(); }
  void resume_projector() { procs_[2]->resume(); }
  std::string sql(const std::string& s) const { return sql_scalar(db_.admin_url, s); }
  const TestDatabase& database() const { return db_; }
  std::int64_t last_position() const { return last_position_; }
  const std::string& commands_topic() const { return commands_topic_; }
  const std::string& results_topic() const { return results_topic_; }
  const std::string& dead_letter_topic() const { return dead_letter_topic_; }
  // The HTTP ports of ledger-command and ledger-query (for raw sockets).
  std::uint16_t command_port() const { return command_port_; }
  std::uint16_t query_port() const { return query_port_; }
  const std::string& events_topic() const { return events_topic_; }
  const std::string& decisions_topic() const { return decisions_topic_; }
  // GET on ledger-projector's status port (/healthz, /readyz, /metrics);
  // the body as text in `error` when it is not JSON.
  Reply projector_status(const std::string& path) {
    if (!projector_status_) {
      const auto port = procs_[2]->wait_for_port(30s);
      if (port == 0) return Reply{0, nullptr, "no status port: " + tail(*procs_[2]), "", ""};
      projector_status_ = std::make_unique<HttpClient>("127.0.0.1", port, 30s);
    }
    auto r = projector_status_->request("GET", path, "", {});
    if (!r) return Reply{0, nullptr, r.error().message, "", ""};
    Reply out{r->status, Json::parse(r->body, nullptr, false), "", "", ""};
    if (out.body.is_discarded()) out.error = r->body;
    return out;
  }
  // GET on ledger-relay's status port (/healthz, /readyz, /metrics), the
  // same way; separate processes only.
  Reply relay_status(const std::string& path) {
    if (one_process_ || procs_.size() < 2) return Reply{0, nullptr, "no relay process", "", ""};
    const auto port = procs_[1]->wait_for_port(30s);
    if (port == 0) return Reply{0, nullptr, "no status port: " + tail(*procs_[1]), "", ""};
    auto r = HttpClient("127.0.0.1", port, 30s).request("GET", path, "", {});
    if (!r) return Reply{0, nullptr, r.error().message, "", ""};
    Reply out{r->status, Json::parse(r->body, nullptr, false), "", "", ""};
    if (out.body.is_discarded()) out.error = r->body;
    return out;
  }
  // Every answer body and result record this test saw, and every log.
  const std::string& answers() const { return answers_; }
  std::string logs() const {
    std::string all;
    for (const auto& p : procs_) all += p->log();
    return all;
  }
  std::string describe_logs() const {
    std::string all;
    for (const auto& p : procs_) all += tail(*p, 1500) + "\n";
    return all;
  }

 private:
  // Clients on the two HTTP ports, once the command service is ready.
  ::testing::AssertionResult connect(std::uint16_t command_port, std::uint16_t query_port) {
    command_port_ = command_port;
    query_port_ = query_port;
    commands_ = std::make_unique<HttpClient>("127.0.0.1", command_port, 30s);
    queries_ = std::make_unique<HttpClient>("127.0.0.1", query_port, 30s);
    // Probed on a client of its own with a short timeout: one answer that
    // never comes costs a retry, not the whole wait.
    HttpClient probe("127.0.0.1", command_port, 2s);
    Reply last;
    int probes = 0;
    if (!eventually(30s, [&] {
          ++probes;
          last = call(probe, "GET", "/readyz");
          return last.status == 200;
        })) {
      auto failure = ::testing::AssertionFailure();
      failure << "ledger-command not ready after " << probes << " probes of /readyz; the last: " << last.describe()
              << "\n";
      for (const auto& p : procs_) failure << tail(*p, 1500) << "\n";
      return failure;
    }
    return ::testing::AssertionSuccess();
  }

  ::testing::AssertionResult start_one_process() {
    const auto command_port = free_port(), query_port = free_port();
    set_env("LEDGER_COMMAND_PORT", std::to_string(command_port));
    set_env("LEDGER_QUERY_PORT", std::to_string(query_port));
    set_env("LEDGER_PROJECTOR_STATUS_PORT", "0");
    procs_.push_back(std::make_unique<ChildProcess>(
        std::vector<std::string>{std::string(LEDGER_BINARY_DIR) + "/services/ledger-all"}, env_));
    if (!procs_[0]->wait_for_log("projecting", 30s)) return ::testing::AssertionFailure() << tail(*procs_[0]);
    return connect(command_port, query_port);
  }

  void remember(const Reply& r) { answers_ += r.body.dump() + "\n" + r.error + "\n"; }
  void remember_text(const std::string& s) { answers_ += s + "\n"; }

  TestDatabase db_;
  std::string events_topic_ = unique_name("ledger.events");
  std::string commands_topic_ = unique_name("ledger.commands");
  std::string results_topic_ = unique_name("ledger.command-results");
  std::string dead_letter_topic_ = unique_name("ledger.commands-dlq");
  std::string decisions_topic_ = unique_name("ledger.decisions");
  std::string producers_file_ = test_producers_file();
  std::set<std::string> producers_;
  Env env_;
  std::vector<std::unique_ptr<ChildProcess>> procs_;
  std::unique_ptr<HttpClient> commands_, queries_, projector_status_;
  std::int64_t last_position_ = 0;
  std::uint16_t command_port_ = 0, query_port_ = 0;
  bool one_process_ = false;
  std::string answers_;
};

}  // namespace ledger::testing
