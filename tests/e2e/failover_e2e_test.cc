// End-to-end failover of the single writer: two ledger-command processes on
// one database; one holds the writer lock (readyz 200), the other stands by
// (readyz 503, commands refused with 503 `not_writer`). Clients drive both;
// the active one is killed -9 after a third of the commands; the standby must
// take over within a bounded time, and the event store must show gap-free,
// hash-chained positions with every accepted command exactly once, at the
// position it was told, and nothing of a command refused with 503.
//
// Synchronisation is by polling with deadlines, never by fixed sleeps.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
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

constexpr const char* kKey = "allocation.max_concurrent_per_user";  // int, 0..10000

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int readyz(std::uint16_t port) {
  HttpClient c("127.0.0.1", port, 2s);
  return call(c, "GET", "/readyz").status;
}

// What the clients saw, under one mutex.
struct Observations {
  std::mutex mu;
  std::map<std::string, std::int64_t> accepted;  // command_id -> position answered with 200
  std::set<std::string> refused;                 // answered 503 at least once
  std::set<std::string> abandoned;               // answered 503 and never sent again
  std::set<std::string> unanswered;              // a transport error (e.g. the instance died)
  std::map<std::string, int> refusal_codes;
  std::vector<std::string> failures;
};

TEST(FailoverE2e, StandbyTakesOverWithGapFreePositionsAndNothingAcceptedLost) {
  const auto test_start = Clock::now();
  constexpr int kCommands = 3000;
  constexpr int kClients = 4;

  const auto db = ledger::testing::create_database("failover_e2e");
  const Env env = {{"LEDGER_PG_URL", db.app_url},
                   {"LEDGER_COMMAND_PG_URL", db.url_for("ledger_command")},
                   {"LEDGER_KAFKA_BROKERS", ledger::testing::kafka_brokers()},
                   {"LEDGER_KAFKA_COMMANDS", "false"},
                   {"LEDGER_TOKENS_FILE", std::string(LEDGER_SOURCE_DIR) + "/config/tokens.json"},
                   {"LEDGER_COMMAND_PORT", "0"},
                   {"LEDGER_COMMAND_GROUP", ledger::testing::unique_name("ledger-command")},
                   {"LEDGER_EVENTS_TOPIC", ledger::testing::unique_name("ledger.events")},
                   {"LEDGER_COMMANDS_TOPIC", ledger::testing::unique_name("ledger.commands")},
                   {"LEDGER_RESULTS_TOPIC", ledger::testing::unique_name("ledger.command-results")},
                   {"LEDGER_LOG_LEVEL", "info"}};
  auto sql_int = [&](const std::string& statement) {
    const std::string v = ledger::testing::sql_scalar(db.admin_url, statement);
    return v.empty() ? std::int64_t{0} : std::stoll(v);
  };

  const std::string binary = std::string(LEDGER_BINARY_DIR) + "/services/ledger-command";
  std::unique_ptr<ChildProcess> instances[2] = {std::make_unique<ChildProcess>(std::vector<std::string>{binary}, env),
                                                std::make_unique<ChildProcess>(std::vector<std::string>{binary}, env)};
  std::uint16_t ports[2];
  for (int i = 0; i < 2; ++i) {
    ports[i] = instances[i]->wait_for_port(30s);
    ASSERT_NE(ports[i], 0) << tail(*instances[i]);
  }

  // Exactly one is ready (the writer), the other stands by.
  int active = -1;
  const bool settled = eventually(20s, [&] {
    const int a = readyz(ports[0]), b = readyz(ports[1]);
    if (a == 200 && b == 503) active = 0;
    if (a == 503 && b == 200) active = 1;
    return active >= 0;
  });
  ASSERT_TRUE(settled) << "readyz: " << readyz(ports[0]) << " and " << readyz(ports[1]) << "\n"
                       << tail(*instances[0]) << "\n"
                       << tail(*instances[1]);
  const int standby = 1 - active;
  {
    HttpClient c("127.0.0.1", ports[active], 10s);
    Json key = {{"key", kKey},
                {"value_type", "int"},
                {"default", 50},
                {"min", 0},
                {"max", 10000},
                {"description", "Max active allocations per user"},
                {"command_id", "define-key"}};
    const Reply r = call(c, "POST", "/api/v1/admin/policy-keys", key.dump());
    ASSERT_EQ(r.status, 200) << r.describe();
    HttpClient sc("127.0.0.1", ports[standby], 10s);
    const Reply refused = call(sc, "POST", "/api/v1/admin/policy-keys", key.dump());
    EXPECT_EQ(refused.status, 503) << "the standby: " << refused.describe();
    EXPECT_EQ(refused.code(), "not_writer") << refused.describe();
  }

  // --- clients over both instances -------------------------------------------
  Observations obs;
  std::atomic<int> next_command{0};
  std::atomic<int> accepted_count{0};
  ThreadGroup clients;
  const auto clients_deadline = Clock::now() + 180s;
  for (int t = 0; t < kClients; ++t) {
    clients.threads.emplace_back([&, t] {
      HttpClient conn[2] = {HttpClient("127.0.0.1", ports[0], 10s), HttpClient("127.0.0.1", ports[1], 10s)};
      for (int i = next_command++; i < kCommands && !clients.stop; i = next_command++) {
        // Round robin: half the first attempts go to the standby (or, after
        // the kill, to the dead instance).
        int prefer = (i + t) % 2;
        // Even commands give up an id that was answered 503 and continue under
        // a new id (the refused one must then be absent from the store); odd
        // ones retry the same id on the other instance.
        const bool abandon_on_503 = i % 2 == 0;
        std::string id = "fo-" + std::to_string(i);
        int attempt = 0;
        const auto deadline = std::min(Clock::now() + 60s, clients_deadline);
        for (;;) {
          const Json body = {{"key", kKey},
                             {"scope", {{"user_id", "u-" + std::to_string(i)}}},
                             {"value", i % 1000},
                             {"reason", "failover e2e"},
                             {"command_id", id}};
          const Reply r = call(conn[prefer], "POST", "/api/v1/admin/policy-values", body.dump());
          if (r.status == 200) {
            std::lock_guard lock(obs.mu);
            obs.accepted[id] = r.body["position"].get<std::int64_t>();
            ++accepted_count;
            break;
          }
          if (Clock::now() >= deadline || clients.stop) {
            std::lock_guard lock(obs.mu);
            obs.failures.push_back(id + " not accepted in time; last: " + r.describe());
            break;
          }
          if (r.status == 503) {
            std::lock_guard lock(obs.mu);
            obs.refused.insert(id);
            ++obs.refusal_codes[r.code()];
            if (abandon_on_503) {
              obs.abandoned.insert(id);
              id = "fo-" + std::to_string(i) + "-r" + std::to_string(++attempt);
            }
          } else if (r.status == 0) {
            // The outcome is unknown (it may have committed): same id again.
            std::lock_guard lock(obs.mu);
            obs.unanswered.insert(id);
          } else {
            std::lock_guard lock(obs.mu);
            obs.failures.push_back(id + ": " + r.describe());
            break;
          }
          prefer = 1 - prefer;
          std::this_thread::sleep_for(10ms);  // retry pacing, not synchronisation
        }
      }
    });
  }

  // --- kill -9 the active instance after a third ------------------------------
  const bool third = eventually(120s, [&] { return accepted_count >= kCommands / 3; }, 5ms);
  const int accepted_at_kill = accepted_count;
  instances[active]->kill_hard();
  const auto killed_at = Clock::now();
  EXPECT_TRUE(third) << "only " << accepted_at_kill << " accepted";
  const bool took_over = eventually(10s, [&] { return readyz(ports[standby]) == 200; }, 20ms);
  const double takeover_seconds = seconds_since(killed_at);
  clients.join();
  ASSERT_TRUE(took_over) << "the standby did not become ready within 10 s\n" << tail(*instances[standby]);
  std::cout << "[failover] killed the active instance after " << accepted_at_kill << " accepted; standby ready after "
            << takeover_seconds << " s" << std::endl;
  EXPECT_TRUE(instances[standby]->running());
  EXPECT_LT(accepted_at_kill, kCommands) << "everything was accepted before the kill: no failover under load";

  std::lock_guard lock(obs.mu);
  ASSERT_TRUE(obs.failures.empty()) << obs.failures.size() << " failures, first: " << obs.failures.front();
  ASSERT_EQ(obs.accepted.size(), static_cast<std::size_t>(kCommands));
  for (const auto& [code, count] : obs.refusal_codes) {
    std::cout << "[failover] 503 " << code << ": " << count << std::endl;
    EXPECT_TRUE(code == "not_writer" || code == "database_unavailable") << code;
  }
  std::cout << "[failover] " << obs.refused.size() << " command ids answered 503 (" << obs.abandoned.size()
            << " abandoned), " << obs.unanswered.size()
            << " met a transport error (in flight at the kill, or sent to the dead instance) and were retried"
            << " under the same id" << std::endl;

  // --- the event store ----------------------------------------------------------
  const std::int64_t n = sql_int("SELECT max(global_position) FROM ledger.events");
  EXPECT_EQ(n, kCommands + 1);  // the key definition and every accepted command, once
  EXPECT_EQ(sql_int("SELECT count(*) FROM ledger.events"), n) << "positions have a gap";
  EXPECT_EQ(sql_int("SELECT min(global_position) FROM ledger.events"), 1);
  EXPECT_EQ(sql_int("SELECT count(*) FROM (SELECT global_position, prev_hash, "
                    "lag(hash) OVER (ORDER BY global_position) AS previous FROM ledger.events) x "
                    "WHERE previous IS NOT NULL AND prev_hash <> previous"),
            0)
      << "broken hash-chain links";
  EXPECT_EQ(ledger::testing::sql_scalar(db.admin_url, "SELECT prev_hash FROM ledger.events WHERE global_position = 1"),
            std::string(64, '0'));
  EXPECT_EQ(sql_int("SELECT count(*) FROM (SELECT stream_version, row_number() OVER "
                    "(PARTITION BY stream_id ORDER BY global_position) AS expected FROM ledger.events) x "
                    "WHERE stream_version <> expected"),
            0)
      << "stream versions out of commit order";

  std::map<std::string, std::vector<std::int64_t>> stored;  // command_id -> positions in ledger.events
  {
    std::stringstream ss(ledger::testing::sql_scalar(
        db.admin_url,
        "SELECT string_agg(command_id || '=' || global_position, ',' ORDER BY global_position) "
        "FROM ledger.events"));
    std::string item;
    while (std::getline(ss, item, ',')) {
      const auto eq = item.rfind('=');
      stored[item.substr(0, eq)].push_back(std::stoll(item.substr(eq + 1)));
    }
  }
  std::map<std::string, std::int64_t> outcomes;  // command_id -> position in ledger.command_outcomes
  {
    std::stringstream ss(ledger::testing::sql_scalar(
        db.admin_url, "SELECT string_agg(command_id || '=' || position, ',') FROM ledger.command_outcomes"));
    std::string item;
    while (std::getline(ss, item, ',')) {
      const auto eq = item.rfind('=');
      outcomes[item.substr(0, eq)] = std::stoll(item.substr(eq + 1));
    }
  }
  int bad = 0;
  auto report = [&](const std::string& what) {
    if (++bad <= 10) ADD_FAILURE() << what;
  };
  // Every command answered 200 is there exactly once, at the position it was told.
  for (const auto& [id, pos] : obs.accepted) {
    auto it = stored.find(id);
    if (it == stored.end())
      report(id + " answered 200 at " + std::to_string(pos) + " but is not in ledger.events");
    else if (it->second != std::vector<std::int64_t>{pos})
      report(id + " answered 200 at " + std::to_string(pos) + " but is stored " + std::to_string(it->second.size()) +
             " time(s), first at " + std::to_string(it->second.front()));
    if (!outcomes.contains(id) || outcomes.at(id) != pos) report(id + ": command_outcomes disagrees");
  }
  // Nothing else is there.
  for (const auto& [id, positions] : stored) {
    if (id != "define-key" && !obs.accepted.contains(id)) {
      report(id + " is in ledger.events but was never answered 200");
    }
  }
  // A command answered 503 is in the store only if a retry with its id was
  // accepted, and then with one outcome; an abandoned one is not there at all.
  for (const auto& id : obs.refused) {
    const bool in_events = stored.contains(id);
    const bool in_outcomes = outcomes.contains(id);
    if (obs.abandoned.contains(id)) {
      if (in_events || in_outcomes) report(id + " was refused with 503, never retried, and is in the store");
    } else if (in_events != obs.accepted.contains(id) || in_outcomes != in_events) {
      report(id + " was refused with 503 and is half-written: events " + std::to_string(in_events) + ", outcomes " +
             std::to_string(in_outcomes));
    }
  }
  EXPECT_EQ(static_cast<std::int64_t>(outcomes.size()), n);  // one outcome per command, each with one event
  EXPECT_EQ(bad, 0);
  std::cout << "[failover] " << kCommands << " commands, " << n << " events; whole test " << seconds_since(test_start)
            << " s" << std::endl;
}

}  // namespace
