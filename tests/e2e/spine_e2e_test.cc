// End-to-end tests of the event spine: the service binaries (ledger-command,
// ledger-relay, ledger-projector, ledger-query) run as child processes against
// the real PostgreSQL and Kafka of the test profile (scripts/infra.sh), each
// test on its own database, topics and consumer groups.
//
//   SpineE2e.EveryAcceptedCommandAppearsOnceInReadModelAndInOrderOnKafka
//     a few thousand commands over HTTP and over `ledger.commands`, with the
//     relay and the projector killed -9 mid-stream and restarted; then Kafka
//     (from offset 0), the query API and SQL are checked.
//   SpineE2e.BadInputIsRefusedAndWritesNothing
//   SpineE2e.DatabaseOutageIsRefusedWith503AndRecoversWithoutRestart
//     stops and restarts the test profile's PostgreSQL.
//
// Synchronisation is by polling with deadlines, never by fixed sleeps.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/http/client.h"
#include "adapters/identity/kafka_producers.h"
#include "adapters/kafka/kafka.h"
#include "services/common/process.h"
#include "services/common/settings.h"
#include "tests/support/e2e_support.h"
#include "tests/support/process.h"
#include "tests/support/test_env.h"

namespace {

using namespace std::chrono_literals;
using ledger::adapters::http::HttpClient;
using ledger::testing::call;
using ledger::testing::ChildProcess;
using ledger::testing::eventually;
using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using ledger::testing::tail;
using ledger::testing::ThreadGroup;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using Env = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kHttpKey = "allocation.max_concurrent_per_user";    // int, 0..10000
constexpr const char* kKafkaKey = "billing.low_balance_threshold_minor";  // int, 0..100000000

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The Kafka principal the spine's commands over Kafka come from.
constexpr const char* kKafkaProducer = "e2e-platform-admin";

// The topics, groups and database of one test's services.
struct Stack {
  ledger::testing::TestDatabase db;
  std::string events_topic = ledger::testing::unique_name("ledger.events");
  std::string commands_topic = ledger::testing::unique_name("ledger.commands");
  std::string results_topic = ledger::testing::unique_name("ledger.command-results");
  std::string producers_file = ledger::testing::test_producers_file();
  std::string query_group = ledger::testing::unique_name("ledger-query");  // its in-memory read models' consumer group
  Env env;

  Stack(const std::string& label, bool kafka_commands) : db(ledger::testing::create_database(label)) {
    env = {{"LEDGER_PG_URL", db.app_url},
           {"LEDGER_KAFKA_BROKERS", ledger::testing::kafka_brokers()},
           {"LEDGER_EVENTS_TOPIC", events_topic},
           {"LEDGER_COMMANDS_TOPIC", commands_topic},
           {"LEDGER_RESULTS_TOPIC", results_topic},
           {"LEDGER_KAFKA_PRODUCERS_FILE", producers_file},
           {"LEDGER_TOKENS_FILE", std::string(LEDGER_SOURCE_DIR) + "/config/tokens.json"},
           {"LEDGER_COMMAND_PORT", "0"},
           {"LEDGER_QUERY_PORT", "0"},
           {"LEDGER_COMMAND_GROUP", ledger::testing::unique_name("ledger-command")},
           {"LEDGER_PROJECTOR_GROUP", ledger::testing::unique_name("ledger-projector")},
           {"LEDGER_QUERY_MEMORY_GROUP", query_group},
           {"LEDGER_KAFKA_COMMANDS", kafka_commands ? "true" : "false"},
           {"LEDGER_LOG_LEVEL", "info"}};
    for (auto& kv : db.service_env()) env.push_back(std::move(kv));  // each service its own PostgreSQL role
  }

  std::unique_ptr<ChildProcess> spawn(const std::string& binary) const {
    Env own = env;
    for (auto& kv : ledger::testing::kafka_env_for(binary)) own.push_back(std::move(kv));  // its own Kafka principal
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{std::string(LEDGER_BINARY_DIR) + "/services/" + binary}, std::move(own));
  }

  std::string sql(const std::string& statement) const { return ledger::testing::sql_scalar(db.admin_url, statement); }
  std::int64_t sql_int(const std::string& statement) const {
    const std::string v = sql(statement);
    return v.empty() ? 0 : std::stoll(v);
  }
};

// A catalog entry of config/policy-keys.json, as the body of policy_key.define.
Json catalog_entry(const std::string& key) {
  std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/config/policy-keys.json");
  const Json catalog = Json::parse(in);
  for (const auto& k : catalog["keys"]) {
    if (k["key"] == key) return k;
  }
  throw std::runtime_error("no key " + key + " in config/policy-keys.json");
}

Reply define_key(HttpClient& client, const std::string& key) {
  Json body = catalog_entry(key);
  body["command_id"] = "define-" + key;
  return call(client, "POST", "/api/v1/admin/policy-keys", body.dump());
}

Json set_value_body(const std::string& key, const std::string& user, std::int64_t value,
                    const std::string& command_id) {
  return Json{{"key", key},
              {"scope", {{"user_id", user}}},
              {"value", value},
              {"reason", "e2e spine test"},
              {"command_id", command_id}};
}

// One accepted or expected value command and where it should end up.
struct ValueCommand {
  std::string command_id;
  std::string key;
  std::string user;
  std::int64_t value = 0;
  std::int64_t position = 0;  // as answered
};

// command_id -> global positions, from ledger.events.
std::map<std::string, std::vector<std::int64_t>> positions_by_command(const Stack& s) {
  const std::string text =
      s.sql("SELECT string_agg(command_id || '=' || global_position, ',' ORDER BY global_position) FROM ledger.events");
  std::map<std::string, std::vector<std::int64_t>> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto eq = item.rfind('=');
    out[item.substr(0, eq)].push_back(std::stoll(item.substr(eq + 1)));
  }
  return out;
}

// ---------------------------------------------------------------------------

TEST(SpineE2e, EveryAcceptedCommandAppearsOnceInReadModelAndInOrderOnKafka) {
  const auto test_start = Clock::now();
  constexpr int kHttpCommands = 2000;
  constexpr int kKafkaCommands = 1000;
  constexpr int kHttpThreads = 4;

  Stack s("spine_e2e", /*kafka_commands=*/true);
  {
    ledger::services::Settings settings;
    ledger::testing::use_test_kafka_login(settings);
    settings.events_topic = s.events_topic;
    settings.commands_topic = s.commands_topic;
    settings.results_topic = s.results_topic;
    auto ok = ledger::services::ensure_ledger_topics(settings);
    ASSERT_TRUE(ok.has_value()) << ok.error().message;
    // Kafka commands come from a producer mapped to the platform admin.
    EXPECT_EQ(ledger::testing::allow_test_producer(s.commands_topic, "ledger-query"), "");
    EXPECT_EQ(ledger::testing::allow_test_consumer(s.events_topic, s.query_group, "ledger-query"), "");
    auto admin = ledger::testing::dev_token_principal(kAdminToken);
    ASSERT_TRUE(admin.has_value());
    ASSERT_EQ(ledger::testing::add_test_producer(s.commands_topic, s.producers_file, kKafkaProducer, *admin), "");
  }

  auto command = s.spawn("ledger-command");
  auto relay = s.spawn("ledger-relay");
  auto projector = s.spawn("ledger-projector");
  auto query = s.spawn("ledger-query");
  const std::uint16_t command_port = command->wait_for_port(30s);
  ASSERT_NE(command_port, 0) << tail(*command);
  const std::uint16_t query_port = query->wait_for_port(30s);
  ASSERT_NE(query_port, 0) << tail(*query);
  ASSERT_TRUE(relay->wait_for_log("relaying to", 30s)) << tail(*relay);
  ASSERT_TRUE(projector->wait_for_log("projecting", 30s)) << tail(*projector);

  {
    HttpClient admin("127.0.0.1", command_port, 30s);
    // The command service is the writer once its readyz says so.
    ASSERT_TRUE(eventually(30s, [&] { return call(admin, "GET", "/readyz", "").status == 200; })) << tail(*command);
    for (const char* key : {kHttpKey, kKafkaKey, "allocation.isolation_model"}) {
      auto r = define_key(admin, key);
      ASSERT_EQ(r.status, 200) << key << ": " << r.describe();
    }
  }

  // --- HTTP senders --------------------------------------------------------
  std::vector<ValueCommand> http_commands(kHttpCommands);
  std::atomic<int> http_answered{0};
  std::mutex failures_mu;
  std::vector<std::string> failures;
  auto fail = [&](std::string what) {
    std::lock_guard lock(failures_mu);
    failures.push_back(std::move(what));
  };
  std::vector<ValueCommand> kafka_commands(kKafkaCommands);
  for (int i = 0; i < kKafkaCommands; ++i) {
    kafka_commands[i] = {"cmd-kafka-" + std::to_string(i), kKafkaKey, "u-" + std::to_string(i), i % 1000, 0};
  }
  // A few bad records: refused with a code on the results topic, nothing written.
  const std::map<std::string, std::string> bad_kafka = {{"cmd-kafka-bad-json", "malformed_json"},
                                                        {"cmd-kafka-bad-token", "kafka_token_header_refused"},
                                                        {"cmd-kafka-bad-type", "value_type_mismatch"}};
  std::string produce_error;
  // Declared after everything its threads use, so it is joined first.
  ThreadGroup senders;  // the HTTP senders and the Kafka producer
  const auto send_deadline = Clock::now() + 180s;
  for (int t = 0; t < kHttpThreads; ++t) {
    senders.threads.emplace_back([&, t] {
      HttpClient client("127.0.0.1", command_port, 30s);
      for (int i = t; i < kHttpCommands && !senders.stop; i += kHttpThreads) {
        ValueCommand& c = http_commands[i];
        c = {"cmd-http-" + std::to_string(i), kHttpKey, "u-" + std::to_string(i), i % 1000, 0};
        const std::string body = set_value_body(c.key, c.user, c.value, c.command_id).dump();
        // Only a dependency hiccup (503, transport) is retried, with the same id.
        const auto deadline = std::min(Clock::now() + 60s, send_deadline);
        Reply r;
        for (;;) {
          r = call(client, "POST", "/api/v1/admin/policy-values", body);
          if ((r.status == 503 || r.status == 0) && Clock::now() < deadline && !senders.stop) {
            std::this_thread::sleep_for(50ms);
            continue;
          }
          break;
        }
        if (r.status == 200) {
          c.position = r.body["position"].get<std::int64_t>();
        } else {
          fail(c.command_id + ": " + r.describe());
        }
        ++http_answered;
      }
    });
  }

  // --- Kafka producer ----------------------------------------------------------
  senders.threads.emplace_back([&] {
    auto p = ledger::adapters::kafka::KafkaProducer::create(
        {.brokers = ledger::testing::kafka_brokers(), .security = ledger::testing::kafka_security_as(kKafkaProducer)});
    if (!p) {
      produce_error = p.error().message;
      return;
    }
    auto& producer = **p;
    const std::string topic = ledger::adapters::identity::producer_topic(s.commands_topic, kKafkaProducer);
    const ledger::adapters::kafka::KafkaHeaders auth;  // no token: the topic is the identity
    for (int i = 0; i < kKafkaCommands && !senders.stop; ++i) {
      const auto& c = kafka_commands[i];
      Json body = set_value_body(c.key, c.user, c.value, c.command_id);
      body["type"] = "policy_value.set";
      if (auto ok = producer.produce(topic, c.command_id, body.dump(), auth); !ok) {
        produce_error = ok.error().message;
        break;
      }
      if (i % 100 == 99) {
        if (auto ok = producer.flush(30s); !ok) {
          produce_error = ok.error().message;
          break;
        }
      }
      if (i == kKafkaCommands / 2) {
        (void)producer.produce(topic, "cmd-kafka-bad-json", "{\"key\": ", auth);
        Json bad_token = set_value_body(kKafkaKey, "u-bad", 1, "cmd-kafka-bad-token");
        (void)producer.produce(topic, "cmd-kafka-bad-token", bad_token.dump(),
                               {{"authorization", "Bearer no-such-token"}});
        Json bad_type = set_value_body(kKafkaKey, "u-bad", 1, "cmd-kafka-bad-type");
        bad_type["value"] = "lots";
        (void)producer.produce(topic, "cmd-kafka-bad-type", bad_type.dump(), auth);
      }
    }
    if (auto ok = producer.flush(30s); !ok && produce_error.empty()) produce_error = ok.error().message;
  });

  // --- kill -9 the relay and the projector mid-stream, then restart them ------
  const std::string relay_cp_sql =
      "SELECT coalesce(max(position), 0) FROM ledger.relay_checkpoints WHERE relay = '" + s.events_topic + "'";
  const std::string projector_cp_sql =
      "SELECT coalesce(max(position), 0) FROM rm.checkpoints WHERE projection = 'policy_values'";
  const std::string head_sql = "SELECT coalesce(max(global_position), 0) FROM ledger.events";
  // Both have done some work, commands are still coming in, and (if we catch
  // it) the relay has committed events it has not published yet.
  const bool both_working = eventually(
      120s,
      [&] {
        if (http_answered < kHttpCommands / 3) return false;
        const std::int64_t relay_cp = s.sql_int(relay_cp_sql);
        if (relay_cp <= 3 || s.sql_int(projector_cp_sql) <= 3) return false;
        return relay_cp < s.sql_int(head_sql) || http_answered >= kHttpCommands;
      },
      5ms);
  const int answered_at_kill = http_answered;
  const std::int64_t head_at_kill = s.sql_int(head_sql);
  relay->kill_hard();
  projector->kill_hard();
  std::cout << "[spine] killed relay and projector after " << answered_at_kill << " HTTP answers, head " << head_at_kill
            << ", relay checkpoint " << s.sql_int(relay_cp_sql) << ", projector checkpoint "
            << s.sql_int(projector_cp_sql) << std::endl;
  ASSERT_TRUE(both_working) << "relay/projector made no progress\n" << tail(*relay) << "\n" << tail(*projector);
  // Let the ledger move on while they are down, then restart them.
  EXPECT_TRUE(
      eventually(120s, [&] { return http_answered >= std::min(kHttpCommands, answered_at_kill + kHttpCommands / 4); }));
  relay = s.spawn("ledger-relay");
  projector = s.spawn("ledger-projector");
  ASSERT_TRUE(relay->wait_for_log("relaying to", 30s)) << tail(*relay);
  ASSERT_TRUE(projector->wait_for_log("projecting", 30s)) << tail(*projector);

  senders.join();
  ASSERT_TRUE(produce_error.empty()) << "producing commands: " << produce_error;
  {
    std::lock_guard lock(failures_mu);
    ASSERT_TRUE(failures.empty()) << failures.size() << " HTTP commands not accepted, first: " << failures.front();
  }
  const double send_seconds = seconds_since(test_start);

  // --- every Kafka command has an outcome on the results topic ---------------
  std::map<std::string, Json> results;
  {
    std::vector<std::unique_ptr<ledger::adapters::kafka::KafkaPartitionReader>> readers;
    for (int p = 0; p < 3; ++p) {
      auto r = ledger::adapters::kafka::KafkaPartitionReader::create({.brokers = ledger::testing::kafka_brokers(),
                                                                      .security = ledger::testing::kafka_security(),
                                                                      .topic = s.results_topic,
                                                                      .partition = p});
      ASSERT_TRUE(r.has_value()) << r.error().message;
      readers.push_back(std::move(*r));
    }
    const std::size_t expected = kKafkaCommands + bad_kafka.size();
    const bool all = eventually(
        180s,
        [&] {
          for (auto& reader : readers) {
            auto batch = reader->poll(1000, 100ms);
            if (!batch) continue;
            for (const auto& m : *batch) {
              Json j = Json::parse(m.value, nullptr, false);
              EXPECT_FALSE(j.is_discarded()) << m.value;
              EXPECT_EQ(j.value("command_id", ""), m.key);
              // Headers any client reads without parsing the value (issue 17 part 7).
              const std::string* content_type = m.header("content-type");
              const std::string* command_id = m.header("command_id");
              EXPECT_TRUE(content_type && *content_type == "application/json") << m.key;
              EXPECT_TRUE(command_id && *command_id == j.value("command_id", "")) << m.key;
              EXPECT_NE(m.header("correlation_id"), nullptr) << m.key;
              results.emplace(m.key, std::move(j));  // the first outcome; duplicates repeat it
            }
          }
          return results.size() >= expected;
        },
        0ms);
    ASSERT_TRUE(all) << results.size() << " of " << expected << " outcomes on " << s.results_topic << "\n"
                     << tail(*command);
  }
  for (auto& c : kafka_commands) {
    const Json& r = results.at(c.command_id);
    ASSERT_EQ(r.value("status", ""), "accepted") << c.command_id << ": " << r.dump();
    c.position = r["position"].get<std::int64_t>();
  }
  for (const auto& [id, code] : bad_kafka) {
    EXPECT_EQ(results.at(id).value("status", ""), "rejected") << id << ": " << results.at(id).dump();
    EXPECT_EQ(results.at(id).value("code", ""), code) << id << ": " << results.at(id).dump();
  }

  std::vector<ValueCommand> accepted = http_commands;
  accepted.insert(accepted.end(), kafka_commands.begin(), kafka_commands.end());
  const std::int64_t n = s.sql_int("SELECT max(global_position) FROM ledger.events");
  const std::int64_t expected_events = 3 + static_cast<std::int64_t>(accepted.size());  // 3 key definitions

  // --- (c) the event store: gap-free, each command once, at its position ------
  EXPECT_EQ(n, expected_events);
  EXPECT_EQ(s.sql_int("SELECT count(*) FROM ledger.events"), n) << "positions have a gap";
  EXPECT_EQ(s.sql_int("SELECT min(global_position) FROM ledger.events"), 1);
  EXPECT_EQ(s.sql_int("SELECT count(*) FROM (SELECT command_id FROM ledger.events GROUP BY command_id "
                      "HAVING count(*) > 1) d"),
            0)
      << "a command_id has more than one event";
  {
    const auto stored = positions_by_command(s);
    int mismatches = 0;
    for (const auto& c : accepted) {
      auto it = stored.find(c.command_id);
      const bool ok = it != stored.end() && it->second.size() == 1 && it->second[0] == c.position;
      if (!ok && ++mismatches <= 5) {
        ADD_FAILURE() << c.command_id << " answered position " << c.position << ", stored at "
                      << (it == stored.end() ? "nowhere" : std::to_string(it->second.front()));
      }
    }
    EXPECT_EQ(mismatches, 0);
    for (const auto& [id, code] : bad_kafka) EXPECT_EQ(stored.count(id), 0u) << id << " was written";
  }
  EXPECT_EQ(s.sql_int("SELECT count(*) FROM ledger.command_outcomes WHERE command_id LIKE 'cmd-kafka-bad-%'"), 0);

  // --- (a) Kafka from offset 0: every position at least once, in order ---------
  const auto kafka_check_start = Clock::now();
  {
    auto reader = ledger::adapters::kafka::KafkaPartitionReader::create({.brokers = ledger::testing::kafka_brokers(),
                                                                         .security = ledger::testing::kafka_security(),
                                                                         .topic = s.events_topic,
                                                                         .partition = 0,
                                                                         .start_offset = 0});
    ASSERT_TRUE(reader.has_value()) << reader.error().message;
    std::int64_t next = 1;  // the next position never seen before
    std::int64_t duplicates = 0;
    std::int64_t records = 0;
    std::string violation;
    const bool complete = eventually(
        120s,
        [&] {
          auto batch = (*reader)->poll(2000, 200ms);
          if (!batch) return false;
          for (const auto& m : *batch) {
            ++records;
            const std::string* pos_header = m.header("global_position");
            const std::string* id_header = m.header("event_id");
            if (!pos_header || !id_header) {
              if (violation.empty()) violation = "record at offset " + std::to_string(m.offset) + " lacks headers";
              continue;
            }
            const std::int64_t pos = std::stoll(*pos_header);
            const Json body = Json::parse(m.value, nullptr, false);
            const std::string* content_type = m.header("content-type");
            const std::string* schema_header = m.header("schema-version");
            if (violation.empty() &&
                (body.is_discarded() || body.value("global_position", std::int64_t{-1}) != pos ||
                 body.value("event_id", "") != *id_header || !content_type || *content_type != "application/json" ||
                 !schema_header || *schema_header != std::to_string(body.value("schema_version", -1)))) {
              violation =
                  "offset " + std::to_string(m.offset) + ": headers and body disagree: " + m.value.substr(0, 300);
            }
            if (pos == next) {
              ++next;
            } else if (pos < next) {
              ++duplicates;  // a re-publish after the relay's crash: allowed
            } else if (violation.empty()) {
              violation = "offset " + std::to_string(m.offset) + " carries position " + std::to_string(pos) +
                          " but position " + std::to_string(next) + " was never published before it";
            }
          }
          return next > n || !violation.empty();
        },
        0ms);
    EXPECT_TRUE(violation.empty()) << violation;
    ASSERT_TRUE(complete) << "Kafka has first occurrences up to " << next - 1 << " of " << n << "\n" << tail(*relay);
    EXPECT_EQ(next - 1, n);
    std::cout << "[spine] " << s.events_topic << ": " << records << " records for " << n << " events, " << duplicates
              << " duplicates, read in " << seconds_since(kafka_check_start) << " s" << std::endl;
  }

  // --- (b) the read model: each value once, queryable at its position ---------
  ASSERT_TRUE(eventually(120s, [&] { return s.sql_int(projector_cp_sql) >= n; }))
      << "projector checkpoint " << s.sql_int(projector_cp_sql) << " of " << n << "\n"
      << tail(*projector);
  EXPECT_EQ(s.sql_int("SELECT count(*) FROM rm.policy_values"), static_cast<std::int64_t>(accepted.size()));
  EXPECT_EQ(s.sql_int("SELECT count(DISTINCT event_id) FROM rm.policy_values"),
            static_cast<std::int64_t>(accepted.size()));
  EXPECT_EQ(s.sql_int("SELECT count(*) FROM rm.policy_values v JOIN ledger.events e ON e.event_id = v.event_id "
                      "AND e.global_position = v.position"),
            static_cast<std::int64_t>(accepted.size()))
      << "read-model rows that do not match their event";
  {
    std::atomic<int> mismatches{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < kHttpThreads; ++t) {
      readers.emplace_back([&, t] {
        HttpClient client("127.0.0.1", query_port, 30s);
        for (std::size_t i = t; i < accepted.size(); i += kHttpThreads) {
          const auto& c = accepted[i];
          const Reply r =
              call(client, "GET",
                   "/v1/policy-values/" + c.key + "?user_id=" + c.user + "&min_position=" + std::to_string(c.position));
          const bool ok = r.status == 200 && r.body.value("value", Json()) == Json(c.value) &&
                          r.body.value("source", Json::object()).value("level", "") == "user" &&
                          r.body.value("source", Json::object()).value("id", "") == c.user &&
                          r.body.value("set_at_position", Json()) == Json(c.position) &&
                          r.body.value("snapshot_version", std::int64_t{0}) >= c.position;
          if (!ok && ++mismatches <= 5) fail("query " + c.command_id + ": " + r.describe());
        }
      });
    }
    for (auto& t : readers) t.join();
    std::lock_guard lock(failures_mu);
    EXPECT_EQ(mismatches.load(), 0) << (failures.empty() ? "" : failures.front());
  }
  {
    HttpClient client("127.0.0.1", query_port, 30s);
    EXPECT_TRUE(eventually(30s, [&] { return call(client, "GET", "/readyz", "").status == 200; }))
        << call(client, "GET", "/readyz", "").describe();
  }
  EXPECT_TRUE(command->running()) << tail(*command);
  EXPECT_TRUE(query->running()) << tail(*query);
  std::cout << "[spine] " << accepted.size() << " value commands (" << kHttpCommands << " HTTP, " << kKafkaCommands
            << " Kafka) sent in " << send_seconds << " s; whole test " << seconds_since(test_start) << " s"
            << std::endl;
}

// ---------------------------------------------------------------------------

TEST(SpineE2e, BadInputIsRefusedAndWritesNothing) {
  Stack s("spine_bad_input", /*kafka_commands=*/false);
  auto command = s.spawn("ledger-command");
  const std::uint16_t port = command->wait_for_port(30s);
  ASSERT_NE(port, 0) << tail(*command);
  HttpClient client("127.0.0.1", port, 30s);
  ASSERT_TRUE(eventually(30s, [&] { return call(client, "GET", "/readyz", "").status == 200; })) << tail(*command);
  ASSERT_EQ(define_key(client, kHttpKey).status, 200);
  const std::int64_t events_before = s.sql_int("SELECT count(*) FROM ledger.events");
  const std::int64_t outcomes_before = s.sql_int("SELECT count(*) FROM ledger.command_outcomes");
  ASSERT_EQ(events_before, 1);

  const std::string values = "/api/v1/admin/policy-values";
  auto good = [&](const std::string& id) { return set_value_body(kHttpKey, "u-1", 7, id); };
  struct Case {
    std::string name;
    std::string method;
    std::string target;
    std::string body;
    std::string token;
    int status;
    std::string code;
  };
  std::vector<Case> cases;
  cases.push_back({"malformed JSON", "POST", values, R"({"key": "allocation.max_concurrent_per_user", "value": )",
                   kAdminToken, 400, "malformed_json"});
  cases.push_back({"JSON that is not an object", "POST", values, "[1, 2, 3]", kAdminToken, 400, "malformed_json"});
  cases.push_back({"empty body", "POST", values, "", kAdminToken, 400, "malformed_json"});
  cases.push_back(
      {"nesting too deep", "POST", values, std::string(40, '[') + std::string(40, ']'), kAdminToken, 400, "too_deep"});
  {
    Json big = good("bad-too-large");
    big["reason"] = std::string((1 << 20) + 16, 'x');
    cases.push_back({"body over 1 MiB", "POST", values, big.dump(), kAdminToken, 413, "body_too_large"});
  }
  {
    Json j = good("bad-reason-type");
    j["reason"] = 42;
    cases.push_back({"reason is a number", "POST", values, j.dump(), kAdminToken, 400, "invalid_field"});
  }
  {
    Json j = good("bad-key-type");
    j["key"] = true;
    cases.push_back({"key is a boolean", "POST", values, j.dump(), kAdminToken, 400, "invalid_field"});
  }
  {
    Json j = good("bad-scope-type");
    j["scope"] = "u-1";
    cases.push_back({"scope is a string", "POST", values, j.dump(), kAdminToken, 400, "invalid_scope"});
  }
  {
    Json j = good("bad-value-type");
    j["value"] = "seven";
    cases.push_back({"string value for an int key", "POST", values, j.dump(), kAdminToken, 422, "value_type_mismatch"});
  }
  {
    Json j = good("bad-value-array");
    j["value"] = Json::array({7});
    cases.push_back({"array value", "POST", values, j.dump(), kAdminToken, 422, "value_type_mismatch"});
  }
  {
    Json j = good("bad-missing-reason");
    j.erase("reason");
    cases.push_back({"missing reason", "POST", values, j.dump(), kAdminToken, 400, "missing_field"});
  }
  {
    Json j = good("bad-unknown-field");
    j["valeu"] = 7;
    cases.push_back({"unknown field", "POST", values, j.dump(), kAdminToken, 400, "unknown_field"});
  }
  {
    Json j = good("bad-out-of-bounds");
    j["value"] = 10001;
    cases.push_back({"value out of bounds", "POST", values, j.dump(), kAdminToken, 422, "value_out_of_bounds"});
  }
  {
    Json j = good("bad-unknown-key");
    j["key"] = "no.such_key";
    cases.push_back({"unknown key", "POST", values, j.dump(), kAdminToken, 404, "unknown_policy_key"});
  }
  {
    // Invalid UTF-8 inside a string: a lone continuation byte and an overlong '/'.
    std::string body = good("bad-utf8").dump();
    body.replace(body.find("e2e spine test"), 3, "\x80\xC0\xAF");
    cases.push_back({"invalid UTF-8", "POST", values, body, kAdminToken, 400, "invalid_utf8"});
  }
  cases.push_back(
      {"unknown route", "POST", "/v1/no-such-route", good("bad-route").dump(), kAdminToken, 404, "unknown_route"});
  cases.push_back({"unknown command type", "POST", "/v1/commands/policy_value.delete", good("bad-type").dump(),
                   kAdminToken, 400, "unknown_command_type"});
  cases.push_back({"missing token", "POST", values, good("bad-no-token").dump(), "", 401, "unauthenticated"});
  cases.push_back({"unknown token", "POST", values, good("bad-unknown-token").dump(), "Bearer not-a-token", 401,
                   "unauthenticated"});
  cases.push_back(
      {"not a bearer token", "POST", values, good("bad-basic").dump(), "Basic ZGV2OmRldg==", 401, "unauthenticated"});

  for (const auto& c : cases) {
    // A fresh connection per case: a refused request may close it (413 does).
    HttpClient fresh("127.0.0.1", port, 30s);
    const Reply r = call(fresh, c.method, c.target, c.body, c.token);
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.describe();
    EXPECT_EQ(r.code(), c.code) << c.name << ": " << r.describe();
    if (r.status != 0) {
      EXPECT_TRUE(r.body.is_object() && r.body.contains("message")) << c.name << ": " << r.describe();
    }
  }

  EXPECT_EQ(s.sql_int("SELECT count(*) FROM ledger.events"), events_before);
  EXPECT_EQ(s.sql_int("SELECT count(*) FROM ledger.command_outcomes"), outcomes_before);
  // The service is still fine afterwards.
  const Reply ok = call(client, "POST", values, good("good-after-bad").dump());
  EXPECT_EQ(ok.status, 200) << ok.describe();
  EXPECT_EQ(s.sql_int("SELECT count(*) FROM ledger.events"), events_before + 1);
  EXPECT_TRUE(command->running()) << tail(*command);
}

// ---------------------------------------------------------------------------

// Starts PostgreSQL again however the test ends: other tests share it.
struct PostgresRestarter {
  bool stopped = false;
  ~PostgresRestarter() {
    if (stopped) ledger::testing::infra("pg-start");
  }
};

TEST(SpineE2e, DatabaseOutageIsRefusedWith503AndRecoversWithoutRestart) {
  Stack s("spine_pg_outage", /*kafka_commands=*/false);
  auto command = s.spawn("ledger-command");
  const std::uint16_t port = command->wait_for_port(30s);
  ASSERT_NE(port, 0) << tail(*command);
  HttpClient client("127.0.0.1", port, 30s);
  ASSERT_TRUE(eventually(30s, [&] { return call(client, "GET", "/readyz", "").status == 200; })) << tail(*command);
  ASSERT_EQ(define_key(client, kHttpKey).status, 200);
  const std::string values = "/api/v1/admin/policy-values";
  {
    const Reply r = call(client, "POST", values, set_value_body(kHttpKey, "u-before", 1, "outage-before").dump());
    ASSERT_EQ(r.status, 200) << r.describe();
  }

  std::vector<std::string> refused;
  {
    PostgresRestarter restarter;
    restarter.stopped = true;
    ASSERT_EQ(ledger::testing::infra("pg-stop"), 0);
    const auto outage_start = Clock::now();
    for (int i = 0; i < 6; ++i) {
      const std::string id = "outage-refused-" + std::to_string(i);
      HttpClient fresh("127.0.0.1", port, 30s);
      const Reply r = call(i % 2 ? fresh : client, "POST", values, set_value_body(kHttpKey, "u-" + id, i, id).dump());
      EXPECT_EQ(r.status, 503) << id << ": " << r.describe();
      EXPECT_TRUE(r.code() == "database_unavailable" || r.code() == "not_writer") << id << ": " << r.describe();
      ASSERT_NE(r.status, 200) << id << " was accepted with PostgreSQL stopped: " << r.describe();
      refused.push_back(id);
    }
    {
      const Reply ready = call(client, "GET", "/readyz", "");
      EXPECT_EQ(ready.status, 503) << "readyz with PostgreSQL stopped: " << ready.describe();
    }
    std::cout << "[outage] " << refused.size() << " commands refused in " << seconds_since(outage_start) << " s"
              << std::endl;
    restarter.stopped = false;
    ASSERT_EQ(ledger::testing::infra("pg-start"), 0);
  }

  // Service resumes without a restart: a new command id is accepted soon.
  const auto recover_start = Clock::now();
  Reply recovered;
  const bool ok = eventually(
      60s,
      [&] {
        recovered = call(client, "POST", values, set_value_body(kHttpKey, "u-after", 2, "outage-after").dump());
        if (recovered.status != 200 && recovered.status != 503 && recovered.status != 0) return true;  // fail below
        return recovered.status == 200;
      },
      100ms);
  ASSERT_TRUE(ok) << "no recovery: " << recovered.describe() << "\n" << tail(*command);
  ASSERT_EQ(recovered.status, 200) << recovered.describe();
  EXPECT_TRUE(command->running());
  std::cout << "[outage] accepted again " << seconds_since(recover_start) << " s after PostgreSQL restarted"
            << std::endl;
  EXPECT_TRUE(eventually(10s, [&] { return call(client, "GET", "/readyz", "").status == 200; }));

  // Nothing of the refused commands was written.
  EXPECT_EQ(s.sql_int("SELECT count(*) FROM ledger.events WHERE command_id LIKE 'outage-refused-%'"), 0);
  EXPECT_EQ(s.sql_int("SELECT count(*) FROM ledger.command_outcomes WHERE command_id LIKE 'outage-refused-%'"), 0);

  // Refused commands retried with the same id are accepted exactly once.
  std::map<std::string, std::int64_t> positions;
  for (std::size_t i = 0; i < refused.size(); ++i) {
    const auto& id = refused[i];
    const std::string body = set_value_body(kHttpKey, "u-" + id, static_cast<std::int64_t>(i), id).dump();
    const Reply first = call(client, "POST", values, body);
    ASSERT_EQ(first.status, 200) << id << ": " << first.describe();
    EXPECT_FALSE(first.body.value("duplicate", true)) << id << " was already accepted: " << first.describe();
    const Reply again = call(client, "POST", values, body);
    ASSERT_EQ(again.status, 200) << id << ": " << again.describe();
    EXPECT_TRUE(again.body.value("duplicate", false)) << again.describe();
    EXPECT_EQ(again.body["position"], first.body["position"]);
    positions[id] = first.body["position"].get<std::int64_t>();
  }
  const auto stored = positions_by_command(s);
  for (const auto& [id, pos] : positions) {
    ASSERT_EQ(stored.count(id), 1u) << id;
    EXPECT_EQ(stored.at(id), std::vector<std::int64_t>{pos}) << id;
    EXPECT_EQ(s.sql_int("SELECT count(*) FROM ledger.command_outcomes WHERE command_id = '" + id + "'"), 1) << id;
  }
  const std::int64_t n = s.sql_int("SELECT max(global_position) FROM ledger.events");
  EXPECT_EQ(n, 3 + static_cast<std::int64_t>(refused.size()));  // key, before, after, the retried ones
  EXPECT_EQ(s.sql_int("SELECT count(*) FROM ledger.events"), n);
  EXPECT_EQ(s.sql_int("SELECT count(*) FROM ledger.command_outcomes"), n);
}

}  // namespace
