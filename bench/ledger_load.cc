// ledger-load: end-to-end load generator against a running ledger.
//
//   build/bench/ledger-load --duration 20 --clients 16
//
// Drives `policy_value.set` commands over HTTP from --clients threads for
// --duration seconds (each command a distinct user scope of one key, so every
// accepted command adds one row to the read model), and reports:
//   - accepted commands per second;
//   - command-to-queryable lag: for every --lag-every'th accepted command, the
//     time from its acceptance until the query service answers it with
//     min_position = its position (the path HTTP -> PostgreSQL -> relay ->
//     Kafka -> projector -> read model -> query);
//   - query latency of plain policy-value reads after the load.
// Prints a human table and one JSON line (--json) for scripts.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "adapters/http/client.h"
#include "bench/latency.h"

namespace {

using Clock = std::chrono::steady_clock;
using ledger::adapters::http::HttpClient;
using ledger::bench::percentile;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Policy Ledger end-to-end load generator"};
  std::string host = "127.0.0.1";
  std::uint16_t command_port = 8081, query_port = 8082;
  std::string token = "dev-platform-admin";
  std::string key = "allocation.max_concurrent_per_user";
  int clients = 16, duration = 20, lag_every = 25, queries = 5000;
  bool json = false;
  app.add_option("--host", host)->capture_default_str();
  app.add_option("--command-port", command_port)->envname("LEDGER_COMMAND_PORT")->capture_default_str();
  app.add_option("--query-port", query_port)->envname("LEDGER_QUERY_PORT")->capture_default_str();
  app.add_option("--token", token)->capture_default_str();
  app.add_option("--key", key, "an int policy key of the catalog")->capture_default_str();
  app.add_option("--clients", clients, "concurrent command clients")->capture_default_str();
  app.add_option("--duration", duration, "seconds of command load")->capture_default_str();
  app.add_option("--lag-every", lag_every, "measure lag on every n-th accepted command")->capture_default_str();
  app.add_option("--queries", queries, "plain queries measured after the load")->capture_default_str();
  app.add_flag("--json", json, "also print one JSON line");
  CLI11_PARSE(app, argc, argv);

  const std::vector<std::pair<std::string, std::string>> headers = {{"authorization", "Bearer " + token}};
  const std::string run_id = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());

  // Lag probes run on their own threads so they never slow the writers.
  struct Probe {
    Clock::time_point accepted;
    std::int64_t position;
    std::string user;
  };
  std::mutex probe_mu;
  std::condition_variable probe_cv;
  std::deque<Probe> probes;  // FIFO: a probe waits only for older ones
  std::vector<double> lags_ms;
  std::atomic<bool> writers_done{false};
  std::atomic<long> lag_failures{0};

  auto probe_worker = [&] {
    HttpClient q(host, query_port, std::chrono::seconds(30));
    for (;;) {
      Probe p;
      {
        std::unique_lock lock(probe_mu);
        probe_cv.wait(lock, [&] { return !probes.empty() || writers_done; });
        if (probes.empty()) return;
        p = std::move(probes.front());
        probes.pop_front();
      }
      auto r = q.request("GET",
                         "/v1/policy-values/" + key + "?user_id=" + p.user +
                             "&wait_ms=10000&min_position=" + std::to_string(p.position),
                         {}, headers);
      if (!r || r->status != 200) {
        ++lag_failures;
        continue;
      }
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - p.accepted).count();
      std::lock_guard lock(probe_mu);
      lags_ms.push_back(ms);
    }
  };
  std::vector<std::thread> probers;
  for (int i = 0; i < 8; ++i) probers.emplace_back(probe_worker);

  std::atomic<long> accepted{0}, refused{0}, failed{0};
  std::mutex lat_mu;
  std::vector<double> command_ms;
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(duration);
  std::vector<std::thread> writers;
  for (int c = 0; c < clients; ++c) {
    writers.emplace_back([&, c] {
      HttpClient client(host, command_port, std::chrono::seconds(30));
      std::vector<double> local;
      for (long i = 0; Clock::now() < end; ++i) {
        const std::string user = "load-" + run_id + "-" + std::to_string(c) + "-" + std::to_string(i);
        nlohmann::json body = {{"key", key},
                               {"scope", {{"user_id", user}}},
                               {"value", i % 1000},
                               {"reason", "load test"},
                               {"command_id", "load:" + user}};
        const auto t0 = Clock::now();
        auto r = client.request("POST", "/api/v1/admin/policy-values", body.dump(), headers);
        const auto t1 = Clock::now();
        if (!r) {
          ++failed;
          continue;
        }
        if (r->status != 200) {
          ++refused;
          continue;
        }
        local.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        const long n = ++accepted;
        if (n % lag_every == 0) {
          auto pos = nlohmann::json::parse(r->body)["position"].get<std::int64_t>();
          std::lock_guard lock(probe_mu);
          probes.push_back({t1, pos, user});
          probe_cv.notify_one();
        }
      }
      std::lock_guard lock(lat_mu);
      command_ms.insert(command_ms.end(), local.begin(), local.end());
    });
  }
  for (auto& w : writers) w.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  writers_done = true;
  probe_cv.notify_all();
  for (auto& p : probers) p.join();

  // Plain reads after the load, from 4 threads.
  std::vector<double> query_ms;
  std::mutex q_mu;
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      HttpClient q(host, query_port);
      std::vector<double> local;
      for (int i = t; i < queries; i += 4) {
        const std::string user = "load-" + run_id + "-0-" + std::to_string(i % 100);
        const auto t0 = Clock::now();
        auto r = q.request("GET", "/v1/policy-values/" + key + "?user_id=" + user + "&org_id=org-acme", {}, headers);
        if (r && r->status == 200)
          local.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
      std::lock_guard lock(q_mu);
      query_ms.insert(query_ms.end(), local.begin(), local.end());
    });
  }
  for (auto& r : readers) r.join();

  const double rate = static_cast<double>(accepted) / elapsed;
  std::printf("accepted commands        %ld in %.1f s = %.0f/s (refused %ld, transport failures %ld)\n",
              accepted.load(), elapsed, rate, refused.load(), failed.load());
  std::printf("command latency ms       p50 %.2f  p99 %.2f\n", percentile(command_ms, 0.5),
              percentile(command_ms, 0.99));
  std::printf("command-to-queryable ms  p50 %.1f  p99 %.1f  (%zu samples, %ld failed)\n", percentile(lags_ms, 0.5),
              percentile(lags_ms, 0.99), lags_ms.size(), lag_failures.load());
  std::printf("query latency ms         p50 %.2f  p99 %.2f  (%zu queries)\n", percentile(query_ms, 0.5),
              percentile(query_ms, 0.99), query_ms.size());
  if (json) {
    std::printf("%s\n", nlohmann::json{{"accepted_per_s", rate},
                                       {"command_p50_ms", percentile(command_ms, 0.5)},
                                       {"command_p99_ms", percentile(command_ms, 0.99)},
                                       {"lag_p50_ms", percentile(lags_ms, 0.5)},
                                       {"lag_p99_ms", percentile(lags_ms, 0.99)},
                                       {"query_p50_ms", percentile(query_ms, 0.5)},
                                       {"query_p99_ms", percentile(query_ms, 0.99)}}
                            .dump()
                            .c_str());
  }
  return accepted > 0 ? 0 : 1;
}
