// Resolved-configuration reads over HTTP (seed 004): starts the four
// services on the test servers exactly as the end-to-end tests do
// (tests/support/e2e_stack.h: its own database, topics and consumer
// groups), seeds `--tenants` organizations with every layer of the seed's
// precedence (20 global keys, half public; 4 service types; per tenant a
// risk document, 2 agent types and 4 service instances), then sends
// GET /tenants/{t}/config/resolved?agent_type=&service_type=&service_id=
// to ledger-query at a fixed rate (open loop) from `--clients` keep-alive
// connections for `--seconds`, over random tenants, and prints p50 / p99 of
// the round trip (authentication, the role check, the in-memory resolve
// with its sources, the JSON answer).
//
// The baseline, in the same run and the same way: the same request naming a
// tenant id of 129 characters, which ledger-query refuses at parsing (400
// `invalid_parameter`) after authentication and routing — the HTTP floor of
// that route.
// The ratio of the two p50s is what resolving costs above the floor.
//   eval "$(LEDGER_PROFILE=test scripts/infra.sh env)"   # the test profile's servers
//   build/bench/config-http-bench --rate 500 --seconds 10 --clients 4 --tenants 100
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "bench/latency.h"
#include "tests/support/e2e_stack.h"

namespace {

using Json = nlohmann::json;
using namespace std::chrono;

struct Run {
  std::vector<double> ms;
  int errors = 0;
};

// `n` requests per client on a fixed schedule; latency counts from when a
// request was due. `target(i)` names request i, `want` its status.
Run run_at_rate(ledger::testing::ServiceStack& s, int rate, int seconds, int clients,
                const std::function<std::string(std::mt19937&)>& target, int want) {
  std::mutex mu;
  Run out;
  std::atomic<int> errors{0};
  const auto start = steady_clock::now() + milliseconds(100);
  const auto interval = duration<double>(static_cast<double>(clients) / rate);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto q = s.query_client();
      std::mt19937 rng(static_cast<unsigned>(c) * 7919u + 1u);
      std::vector<double> mine;
      const auto n = static_cast<long>(static_cast<double>(seconds) * rate / clients);
      for (long i = 0; i < n; ++i) {
        const auto due = start + duration_cast<steady_clock::duration>(
                                     interval * (static_cast<double>(i) + static_cast<double>(c) / clients));
        const std::string t = target(rng);
        std::this_thread::sleep_until(due);
        auto r = q->request("GET", t, "", {{"authorization", ledger::testing::kAdminToken}});
        if (!r || r->status != want) ++errors;
        mine.push_back(duration<double, std::milli>(steady_clock::now() - due).count());
      }
      std::lock_guard lock(mu);
      out.ms.insert(out.ms.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  out.errors = errors.load();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"resolved-configuration reads over HTTP at a fixed rate"};
  int rate = 500, seconds = 10, clients = 4, tenants = 100;
  app.add_option("--rate", rate, "reads per second, all clients together");
  app.add_option("--seconds", seconds, "how long, for each of the two runs");
  app.add_option("--clients", clients, "connections");
  app.add_option("--tenants", tenants, "organizations seeded, each with every tenant layer");
  CLI11_PARSE(app, argc, argv);
  if (rate <= 0 || seconds <= 0 || clients <= 0 || tenants <= 0) {
    std::fprintf(stderr, "--rate, --seconds, --clients and --tenants must be positive\n");
    return 2;
  }

  ledger::testing::ServiceStack s("config_http_bench");
  if (auto ok = s.start(); !ok) {
    std::fprintf(stderr, "stack did not start: %s\n", ok.message());
    return 1;
  }
  ledger::adapters::http::HttpClient admin("127.0.0.1", s.command_port(), 30s);
  std::int64_t last = 0;
  auto send = [&](const std::string& method, const std::string& path, const Json& body) {
    auto r = admin.request(method, path, body.dump(), {{"authorization", ledger::testing::kAdminToken}});
    if (!r || r->status != 200) {
      std::fprintf(stderr, "%s %s failed: %s\n", method.c_str(), path.c_str(),
                   r ? r->body.c_str() : r.error().message.c_str());
      std::exit(1);
    }
    last = std::max(last, Json::parse(r->body).value("position", std::int64_t{0}));
  };
  auto put = [&](const std::string& path, Json value, Json extra = Json::object()) {
    Json body = {{"value", std::move(value)}, {"reason", "bench"}};
    body.update(extra);
    send("PUT", path, body);
  };
  for (int k = 0; k < 20; ++k) {
    put("/config/global/key_" + std::to_string(k), k, {{"is_public", k % 2 == 0}});
  }
  const char* types[] = {"cloud_run", "gke", "lambda", "vm"};
  for (const char* t : types) {
    put(std::string("/config/service-types/") + t,
        {{"min_instances", 1}, {"max_instances", 10}, {"monitoring", {{"cpu", 80}}}});
  }
  for (int i = 0; i < tenants; ++i) {
    const std::string org = "org-bench-" + std::to_string(i);
    send("POST", "/v1/commands/organization.create", {{"organization_id", org}, {"plan_id", "pro"}});
    put("/tenants/" + org + "/config/risk",
        {{"max_cost_impact_auto", 20.0}, {"monitoring", {{"cpu", 70}}}, {"region", "us"}});
    for (const char* a : {"scaler", "healer"}) put("/tenants/" + org + "/config/agents/" + a, {{"min_instances", 2}});
    for (int v = 0; v < 4; ++v) {
      put("/tenants/" + org + "/services/svc-" + std::to_string(v),
          {{"max_instances", 4 + v}, {"monitoring", {{"mem", 50}}}});
    }
  }
  auto target = [&](std::mt19937& rng, bool refused) {
    const int t = static_cast<int>(rng() % static_cast<unsigned>(tenants));
    const int v = static_cast<int>(rng() % 4u);
    const std::string tenant = refused ? std::string(129, 't') : "org-bench-" + std::to_string(t);
    return "/tenants/" + tenant + "/config/resolved?agent_type=scaler&service_type=" + types[v] + "&service_id=svc-" +
           std::to_string(v);
  };
  // Wait until the query service has everything (read-your-writes).
  {
    auto q = s.query_client();
    auto r = q->request("GET",
                        "/tenants/org-bench-" + std::to_string(tenants - 1) +
                            "/config/resolved?min_position=" + std::to_string(last) + "&wait_ms=10000",
                        "", {{"authorization", ledger::testing::kAdminToken}});
    if (!r || r->status != 200) {
      std::fprintf(stderr, "first read failed: %s\n", r ? r->body.c_str() : r.error().message.c_str());
      return 1;
    }
  }
  const Run floor = run_at_rate(s, rate, seconds, clients, [&](std::mt19937& g) { return target(g, true); }, 400);
  const Run resolved = run_at_rate(s, rate, seconds, clients, [&](std::mt19937& g) { return target(g, false); }, 200);
  const double f50 = ledger::bench::percentile(floor.ms, 0.5), f99 = ledger::bench::percentile(floor.ms, 0.99);
  const double r50 = ledger::bench::percentile(resolved.ms, 0.5), r99 = ledger::bench::percentile(resolved.ms, 0.99);
  std::printf("rate %d/s clients %d seconds %d tenants %d\n", rate, clients, seconds, tenants);
  std::printf("  floor (400 invalid tenant id):  reads %zu errors %d p50 %.3f ms p99 %.3f ms\n", floor.ms.size(),
              floor.errors, f50, f99);
  std::printf("  resolved (200):                reads %zu errors %d p50 %.3f ms p99 %.3f ms\n", resolved.ms.size(),
              resolved.errors, r50, r99);
  std::printf("  resolved / floor: p50 %.2fx p99 %.2fx\n", f50 > 0 ? r50 / f50 : 0.0, f99 > 0 ? r99 / f99 : 0.0);
  return floor.errors == 0 && resolved.errors == 0 ? 0 : 1;
}
