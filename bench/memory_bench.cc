// The query service's in-memory read models (issue 12) at size: builds a
// hierarchy of about --nodes scope nodes (organizations of 10 departments
// of ~100 projects each, ceilings at every organization and department, a
// tenth of the projects and a per-request cap per organization, one
// delegation and a few reservations per organization) with the command
// side's own decide(), applies its events to a projections::AdmissionStore
// and reports:
//   - memory: heap growth per scope node (both left-right copies, rules
//     included), from glibc's mallinfo2();
//   - in-process decisions: snapshot + snapshot_for + decide_admission per
//     decision, single thread, closed loop (and with --threads N, from N
//     threads at once);
//   - route decisions: POST /v1/decisions through AdmissionApi::handle (JSON
//     parsing and writing, no socket) from memory, and batches of 100
//     (POST /v1/decisions:batch), and with --pg-url the same
//     inputs through the SQL path over the same hierarchy appended to a fresh
//     database there and projected (the before / after of one run).
//
//   build/bench/memory-bench --nodes 100000
//   build/bench/memory-bench --nodes 10000 --pg-url "$LEDGER_PG_URL"   # an empty, migrated database
//   build/bench/memory-bench --nodes 10000 --log   # the route runs record each decision (decision log)
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <malloc.h>
#ifdef LEDGER_BENCH_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "adapters/http/routes/admission_api.h"
#include "adapters/identity/identity.h"
#include "adapters/postgres/admission_queries.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_store.h"
#include "adapters/projector/projector.h"
#include "adapters/system/clock.h"
#include "commands/decision_log/decision_log_buffer.h"
#include "domain/admission.h"
#include "projections/admission/admission_store.h"

namespace {

using namespace ledger;
using domain::QuotaLevel;
using domain::QuotaScope;
using Clock = std::chrono::steady_clock;

constexpr events::Instant kNow{1'780'272'000'000'000};  // 2026-06-01T00:00:00Z

#ifdef LEDGER_BENCH_JEMALLOC
// Bytes the heap has handed out and not taken back: jemalloc's statistics,
// refreshed by advancing its epoch (the services' allocator, linked here too).
std::size_t heap_in_use() {
  std::uint64_t epoch = 1;
  std::size_t size = sizeof epoch;
  mallctl("epoch", &epoch, &size, &epoch, size);
  std::size_t allocated = 0;
  size = sizeof allocated;
  if (mallctl("stats.allocated", &allocated, &size, nullptr, 0) != 0) return 0;
  return allocated;
}
#else
// Bytes the heap has handed out and not taken back (glibc).
std::size_t heap_in_use() { return mallinfo2().uordblks; }
#endif

// The hierarchy as the command side decides it: (stream, events) per command.
class Builder {
 public:
  template <class C>
  void run(const C& c) {
    auto d = [&] {
      if constexpr (requires { domain::decide(model_, c, kNow); })
        return domain::decide(model_, c, kNow);
      else
        return domain::decide(model_, c);
    }();
    if (!d) {
      std::cerr << "refused: " << d.error().code << " " << d.error().message << "\n";
      std::exit(2);
    }
    commit(*d);
  }
  void run_at(const domain::TransitionReservation& c) {
    auto d = domain::decide(model_, c, kNow);
    if (!d) std::exit(3);
    commit(*d);
  }
  std::vector<std::pair<std::string, events::Event>> appended;
  std::vector<domain::Decided> decided;
  std::size_t nodes() const { return model_.node_count(); }

 private:
  void commit(const domain::Decided& d) {
    for (const auto& e : d.events) {
      model_.apply(d.stream_id, e);
      appended.emplace_back(d.stream_id, e);
    }
    decided.push_back(d);
  }
  domain::AdmissionModel model_;
};

nlohmann::json input(const std::string& org, const std::string& project, std::int64_t usage, std::int64_t delta) {
  return {
      {"actor",
       {{"actor_type", "service_account"},
        {"actor_id", "scheduler"},
        {"roles", nlohmann::json::array()},
        {"scopes", nlohmann::json::array()}}},
      {"hierarchy", {{"organization_id", org}, {"department_id", ""}, {"project_id", project}}},
      {"product",
       {{"product_id", "gpuaas"}, {"resource_type", "gpu_node"}, {"resource_id", "n1"}, {"action", "start"}}},
      {"request",
       {{"dimension", "gpu.count"}, {"requested_delta", delta}, {"unit", "gpu"}, {"region", ""}, {"sku_or_model", ""}}},
      {"current_usage", {{"scope_window", ""}, {"quantity", usage}, {"unit", "gpu"}}},
      {"correlation_id", "bench"}};
}

template <class F>
double per_second(std::size_t n, F&& f) {
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < n; ++i) f(i);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return static_cast<double>(n) / s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"in-memory read models at size"};
  std::size_t nodes = 100000;
  std::size_t decisions = 200000;
  std::string pg_url;
  int reservation_every = 50;
  app.add_option("--reservation-every", reservation_every, "an active reservation at every n-th project (0: none)")
      ->capture_default_str();
  app.add_option("--nodes", nodes, "scope nodes (about)")->capture_default_str();
  app.add_option("--decisions", decisions, "decisions per in-process measurement")->capture_default_str();
  std::size_t threads = 1;
  app.add_option("--threads", threads, "also decide in process from this many threads at once (1: not)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--pg-url", pg_url, "a fresh migrated database: also measure the SQL path over the same hierarchy");
  bool with_log = false;
  app.add_flag("--log", with_log,
               "the route runs record each decision in a decision-log buffer, drained by a thread that drops "
               "what it takes (the record's cost on the answering thread, without Kafka)");
  CLI11_PARSE(app, argc, argv);

  Builder b;
  b.run(domain::RegisterEntry{"product", "gpuaas", "", {}});
  b.run(domain::RegisterEntry{"usage_unit", "gpu", "", {}});
  b.run(domain::RegisterEntry{"resource_type", "gpu_node", "", {{"product", "gpuaas"}}});
  b.run(domain::RegisterEntry{
      "quota_dimension", "gpu.count", "", {{"product", "gpuaas"}, {"resource_type", "gpu_node"}, {"unit", "gpu"}}});
  const events::CeilingTarget gpu{"gpu.count", "", "", ""};
  const events::CeilingTarget per_request{"gpu.count", "request", "", ""};
  std::vector<std::pair<std::string, std::string>> requesters;  // (org, project)
  for (int o = 0; b.nodes() < nodes; ++o) {
    const std::string org = "org" + std::to_string(o);
    b.run(domain::CreateOrganization{org, org, "plan" + std::to_string(o % 3), ""});
    b.run(domain::SetCeiling{{QuotaLevel::kOrganization, org}, gpu, 100000, "", "bench"});
    b.run(domain::SetCeiling{{QuotaLevel::kOrganization, org}, per_request, 64, "", "bench"});
    b.run(domain::DelegateCeiling{{QuotaLevel::kOrganization, org}, "gpu.count", 50000, "bench"});
    for (int d = 0; d < 10 && b.nodes() < nodes; ++d) {
      const std::string dept = org + ".d" + std::to_string(d);
      b.run(domain::CreateDepartment{dept, org, "", ""});
      b.run(domain::SetCeiling{{QuotaLevel::kDepartment, dept}, gpu, 10000, "", "bench"});
      for (int p = 0; p < 100 && b.nodes() < nodes; ++p) {
        const std::string project = dept + ".p" + std::to_string(p);
        b.run(domain::CreateProject{project, org, dept, ""});
        if (p % 10 == 0) b.run(domain::SetCeiling{{QuotaLevel::kProject, project}, gpu, 100 + p, "", "bench"});
        if (reservation_every > 0 && p % reservation_every == 0) {
          const std::string id = project + ".r";
          b.run(domain::DraftReservation{id,
                                         {QuotaLevel::kProject, project},
                                         "gpu_nodes",
                                         "gpu.count",
                                         "",
                                         "",
                                         10,
                                         "",
                                         events::Instant{kNow.micros - 3'600'000'000LL},
                                         events::Instant{kNow.micros + 86'400'000'000LL},
                                         {},
                                         "bench"});
          b.run_at(domain::TransitionReservation{id, "activate", "", org});
        }
        requesters.emplace_back(org, project);
      }
    }
  }
  std::vector<events::Envelope> envs;
  envs.reserve(b.appended.size());
  for (std::size_t i = 0; i < b.appended.size(); ++i) {
    events::Envelope e;
    e.meta.global_position = events::GlobalPosition{static_cast<std::int64_t>(i + 1)};
    e.meta.stream_id = b.appended[i].first;
    e.meta.tenant = "platform";
    e.event = std::move(b.appended[i].second);
    envs.push_back(std::move(e));
  }
  const std::size_t node_count = b.nodes();
  b = Builder{};  // the builder's own model is not part of the measurement

  const std::size_t before = heap_in_use();
  projections::AdmissionStore store;
  for (std::size_t at = 0; at < envs.size(); at += 1000) {
    const std::size_t n = std::min<std::size_t>(1000, envs.size() - at);
    if (auto ok = store.apply(std::span<const events::Envelope>(envs.data() + at, n)); !ok) {
      std::cerr << ok.error().message << "\n";
      return 1;
    }
  }
  store.settle();
  store.mark_ready();
  const std::size_t after = heap_in_use();
  const double per_node = static_cast<double>(after - before) / static_cast<double>(node_count);
  std::printf("nodes %zu, events %zu\n", node_count, envs.size());
  std::printf(
      "memory: %.0f bytes per scope node (heap +%.1f MiB for both left-right copies, rules, delegations, "
      "reservations and registry included; %.0f per copy)\n",
      per_node, static_cast<double>(after - before) / 1048576.0, per_node / 2);

  // In-process: one decision = snapshot load + snapshot_for + decide_admission.
  std::vector<domain::DecisionInput> inputs;
  std::mt19937 rng(7);
  for (std::size_t i = 0; i < 4096; ++i) {
    const auto& [org, project] = requesters[rng() % requesters.size()];
    domain::DecisionInput in;
    in.hierarchy = {org, "", project};
    in.product = {"gpuaas", "gpu_node", "n1", "start"};
    in.request.dimension = "gpu.count";
    in.request.requested_delta = static_cast<std::int64_t>(rng() % 80);
    in.request.unit = "gpu";
    in.current_usage.quantity = static_cast<std::int64_t>(rng() % 100);
    in.current_usage.unit = "gpu";
    in.correlation_id = "bench";
    inputs.push_back(std::move(in));
  }
  // One decision: whether it allowed.
  const auto decide_one = [&](std::size_t i) {
    auto snap = store.snapshot();
    const domain::DecisionInput& in = inputs[i % inputs.size()];
    auto s = snap->admission.snapshot_for(in);
    s.snapshot_version = snap->position.value;
    auto out = domain::decide_admission(in, s, kNow);
    return out && out->decision == "allow";
  };
  std::size_t allowed = 0;
  const double in_process = per_second(decisions, [&](std::size_t i) { allowed += decide_one(i); });
  std::printf("in-process decision: %.0f /s single thread (%.2f us each; %zu allowed)\n", in_process, 1e6 / in_process,
              allowed);
  if (threads > 1) {
    // The same decisions from several threads at once, as ledger-query's io
    // threads read one published copy: what readers cost each other (the
    // reference counts they share), not only what one costs alone.
    std::vector<std::thread> readers;
    // Each thread counts on its own stack: counters side by side in one
    // vector would share a cache line that every decision writes.
    std::vector<std::size_t> allowed_by(threads, 0);
    const auto t0 = Clock::now();
    for (std::size_t t = 0; t < threads; ++t) {
      readers.emplace_back([&, t] {
        std::size_t mine = 0;
        for (std::size_t i = t; i < decisions; i += threads) mine += decide_one(i);
        allowed_by[t] = mine;
      });
    }
    for (auto& r : readers) r.join();
    const double rate = static_cast<double>(decisions) / std::chrono::duration<double>(Clock::now() - t0).count();
    std::size_t all = 0;
    for (auto a : allowed_by) all += a;
    std::printf("in-process decision, %zu threads: %.0f /s together (%.2f us of a thread each; %zu allowed)\n", threads,
                rate, 1e6 * static_cast<double>(threads) / rate, all);
  }

  // Through the route (JSON in and out, tenant and role checks before it are not included).
  adapters::system::ManualClock clock(kNow);
  std::vector<std::string> bodies;
  for (std::size_t i = 0; i < 1024; ++i) {
    const auto& [org, project] = requesters[rng() % requesters.size()];
    bodies.push_back(
        input(org, project, static_cast<std::int64_t>(rng() % 100), static_cast<std::int64_t>(rng() % 80)).dump());
  }
  const commands::Principal admin{{"user", "ops", {"platform_admin"}}, "platform"};
  // n calls of POST `path`, the bodies in turn: calls per second and how many were not 200.
  auto route = [&](routes::AdmissionApi& api, std::size_t n, const char* path = "/v1/decisions",
                   const std::vector<std::string>* in = nullptr) {
    const auto& sent = in ? *in : bodies;
    int failed = 0;
    const double rate = per_second(n, [&](std::size_t i) {
      adapters::http::HttpRequest req;
      req.method = "POST";
      req.path = path;
      req.body = sent[i % sent.size()];
      failed += api.handle(req, admin).status != 200;
    });
    return std::pair(rate, failed);
  };
  const std::string dead = "postgresql://ledger@127.0.0.1:9/nowhere?connect_timeout=1";
  adapters::postgres::PgAdmissionQueries no_admission(pg_url.empty() ? dead : pg_url, "rm", 1);
  adapters::postgres::PgPolicyQueries no_policy(pg_url.empty() ? dead : pg_url, "rm", 1);
  routes::AdmissionApi memory_api(no_admission, no_policy, clock);
  memory_api.answer_from(store);
  commands::DecisionLogBuffer log_buffer(1 << 16);
  std::thread log_drainer;
  if (with_log) {
    memory_api.log_decisions({.buffer = &log_buffer, .table = nullptr, .published = {}});
    log_drainer = std::thread([&] {
      while (!log_buffer.closed() || log_buffer.size() > 0) log_buffer.drain(1000, std::chrono::milliseconds(50));
    });
  }
  const auto [memory_rate, memory_failed] = route(memory_api, decisions / 4);
  std::printf("route decision from memory: %.0f /s single thread (%.1f us each; %d not 200)\n", memory_rate,
              1e6 / memory_rate, memory_failed);
  {
    // POST /v1/decisions:batch, 100 inputs per call.
    std::vector<std::string> batches;
    for (std::size_t b = 0; b < 16; ++b) {
      std::string body = R"({"decisions":[)";
      for (std::size_t k = 0; k < 100; ++k) body += (k ? "," : "") + bodies[(b * 100 + k) % bodies.size()];
      batches.push_back(body + "]}");
    }
    const auto [rate, failed] =
        route(memory_api, std::max<std::size_t>(decisions / 400, 10), "/v1/decisions:batch", &batches);
    std::printf("route batch of 100 from memory: %.0f decisions/s single thread (%.2f us each; %d calls not 200)\n",
                rate * 100, 1e6 / (rate * 100), failed);
  }
  if (with_log) {
    log_buffer.close();
    log_drainer.join();
    std::printf("decision log: %llu record(s) made, %llu dropped (buffer full)\n",
                static_cast<unsigned long long>(log_buffer.accepted()),
                static_cast<unsigned long long>(log_buffer.dropped()));
  }

  if (!pg_url.empty()) {
    // The same hierarchy in PostgreSQL: appended as the writer appends, projected.
    adapters::system::ManualClock write_clock(kNow);
    adapters::postgres::PgEventStore es(pg_url, write_clock);
    if (auto w = es.acquire_writer(); !w) {
      std::cerr << w.error().message << "\n";
      return 1;
    }
    std::map<std::string, events::StreamVersion> versions;
    std::vector<commands::StreamAppend> appends;
    for (const auto& e : envs) {
      commands::StreamAppend a;
      a.stream_id = e.meta.stream_id;
      a.expected_version = versions[a.stream_id];
      versions[a.stream_id] = versions[a.stream_id].next();
      a.meta.command_id = "bench-" + std::to_string(e.meta.global_position.value);
      a.meta.correlation_id = a.meta.command_id;
      a.meta.actor = {"user", "bench", {"platform_admin"}};
      a.meta.tenant = "platform";
      a.meta.occurred_at = kNow;
      a.events = {e.event};
      appends.push_back(std::move(a));
      if (appends.size() == 200) {
        if (auto ok = es.append(appends); !ok) {
          std::cerr << ok.error().code << " " << ok.error().message << "\n";
          return 1;
        }
        appends.clear();
      }
    }
    if (!appends.empty()) {
      if (auto ok = es.append(appends); !ok) return 1;
    }
    projector::ProjectorOptions po{.pg_url = pg_url, .brokers = "", .schema = "rm"};
    if (auto cp = projector::catch_up_from_store(po); !cp) {
      std::cerr << cp.error().message << "\n";
      return 1;
    }
    routes::AdmissionApi sql_api(no_admission, no_policy, clock);
    const auto [sql_rate, sql_failed] = route(sql_api, 2000);
    std::printf("route decision from PostgreSQL: %.0f /s single thread (%.1f us each; %d not 200)\n", sql_rate,
                1e6 / sql_rate, sql_failed);
    // Same answers on the same inputs.
    int differ = 0;
    for (std::size_t i = 0; i < 200; ++i) {
      adapters::http::HttpRequest req;
      req.method = "POST";
      req.path = "/v1/decisions";
      req.body = bodies[i];
      differ += sql_api.handle(req, admin).body != memory_api.handle(req, admin).body;
    }
    std::printf("ratio memory / PostgreSQL: %.0fx; %d of 200 answers differ\n", memory_rate / sql_rate, differ);
  }
  return 0;
}
