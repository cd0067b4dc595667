// The entitlement check over HTTP (seed 003): starts the four services on
// the test servers exactly as the end-to-end tests do (tests/support/
// e2e_stack.h: its own database, topics and consumer groups), seeds a
// product space (3 plans, `--capabilities` capabilities with an active
// policy in production, one organization), then sends
// POST /v1/entitlements:check to ledger-query at a fixed rate from
// `--clients` keep-alive connections for `--seconds`, and prints p50 / p99
// of the round trip (authentication, the request gate, the role check, the
// in-memory check and the JSON answer).
//   eval "$(scripts/infra.sh env)"   # the test profile's servers
//   build/bench/entitlement-http-bench --rate 500 --seconds 10 --clients 4
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/latency.h"
#include "tests/support/e2e_stack.h"

int main(int argc, char** argv) {
  using namespace std::chrono;
  using Json = nlohmann::json;
  CLI::App app{"entitlement checks over HTTP at a fixed rate"};
  int rate = 500, seconds = 10, clients = 4, capabilities = 100;
  app.add_option("--rate", rate, "checks per second, all clients together");
  app.add_option("--seconds", seconds, "how long");
  app.add_option("--clients", clients, "connections");
  app.add_option("--capabilities", capabilities, "capabilities seeded");
  CLI11_PARSE(app, argc, argv);

  ledger::testing::ServiceStack s("entitlement_http_bench");
  if (auto ok = s.start(); !ok) {
    std::fprintf(stderr, "stack did not start: %s\n", ok.message());
    return 1;
  }
  ledger::adapters::http::HttpClient admin("127.0.0.1", s.command_port(), 30s);
  auto post = [&](const std::string& path, const Json& body) {
    auto r = admin.request("POST", path, body.dump(), {{"authorization", ledger::testing::kAdminToken}});
    if (!r || r->status != 200) {
      std::fprintf(stderr, "%s failed: %s\n", path.c_str(), r ? r->body.c_str() : r.error().message.c_str());
      std::exit(1);
    }
    return Json::parse(r->body);
  };
  for (const char* p : {"free", "pro", "enterprise"}) post("/v1/plans", {{"name", p}});
  std::int64_t last = 0;
  for (int i = 0; i < capabilities; ++i) {
    const std::string name = "capability-" + std::to_string(i);
    post("/v1/capabilities", {{"name", name}});
    Json pol = post("/v1/policies", {{"capabilityId", "cap-" + name},
                                     {"name", name},
                                     {"rules", {{"type", "plan-allowlist"}, {"allowedPlans", {"pro", "enterprise"}}}}});
    const std::string id = pol["policy"]["id"], v1 = pol["policy"]["currentVersion"]["id"];
    last = post("/v1/policies/" + id + "/versions/" + v1 + "/activate",
                {{"environment", "production"}, {"changelog", "bench"}})
               .value("position", std::int64_t{0});
  }
  last = std::max(last, s.ok("organization.create", {{"organization_id", "org-bench"}, {"plan_id", "pro"}}));

  const std::string body = Json{{"environment", "production"},
                                {"organization_id", "org-bench"},
                                {"capability", "capability-" + std::to_string(capabilities / 2)}}
                               .dump();
  // Wait until the query service has everything (read-your-writes).
  {
    auto q = s.query_client();
    auto r = q->request("POST", "/v1/entitlements:check?min_position=" + std::to_string(last) + "&wait_ms=10000", body,
                        {{"authorization", ledger::testing::kAdminToken}});
    if (!r || r->status != 200) {
      std::fprintf(stderr, "first check failed\n");
      return 1;
    }
  }
  std::mutex mu;
  std::vector<double> ms;
  std::atomic<int> errors{0};
  const auto start = steady_clock::now() + milliseconds(100);
  const auto interval = duration<double>(static_cast<double>(clients) / rate);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto q = s.query_client();
      std::vector<double> mine;
      const auto n = static_cast<long>(static_cast<double>(seconds) * rate / clients);
      for (long i = 0; i < n; ++i) {
        // Fixed schedule (open loop): latency counts from when the request was due.
        const auto due = start + duration_cast<steady_clock::duration>(
                                     interval * (static_cast<double>(i) + static_cast<double>(c) / clients));
        std::this_thread::sleep_until(due);
        auto r = q->request("POST", "/v1/entitlements:check", body, {{"authorization", ledger::testing::kAdminToken}});
        if (!r || r->status != 200) ++errors;
        mine.push_back(duration<double, std::milli>(steady_clock::now() - due).count());
      }
      std::lock_guard lock(mu);
      ms.insert(ms.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  std::printf("rate %d/s clients %d seconds %d capabilities %d: checks %zu errors %d p50 %.3f ms p99 %.3f ms\n", rate,
              clients, seconds, capabilities, ms.size(), errors.load(), ledger::bench::percentile(ms, 0.5),
              ledger::bench::percentile(ms, 0.99));
  return errors.load() == 0 ? 0 : 1;
}
