// The cost of a resolved-configuration read in process (seed 004): the
// seed's six-layer precedence over a model of `tenants` tenants (each with a
// risk document, 4 agents, 8 service instances), 100 global keys and 20
// service types. Uncached: ConfigModel::resolve. Cached: a ResolvedCache hit
// (validating every dependency key against the snapshot).
//   build/bench/config-bench
#include <benchmark/benchmark.h>

#include "domain/config/config_model.h"
#include "projections/config/resolved_cache.h"

namespace {

using namespace ledger;
namespace cfg = domain::config;
using Json = cfg::Json;

cfg::ConfigModel build(int tenants) {
  cfg::ConfigModel m;
  std::int64_t position = 0;
  auto set = [&](cfg::LayerRef ref, Json value, bool pub = false) {
    cfg::SetConfigLayer c{ref, value.dump(), "bench", pub, false, ""};
    auto events = cfg::decide(m.find(ref), c);
    events::EventMeta meta;
    meta.actor = {"user", "bench", {}};
    for (const auto& e : *events) {
      meta.global_position = events::GlobalPosition{++position};
      m.apply(meta, e);
    }
  };
  for (int g = 0; g < 100; ++g) set({cfg::Layer::kGlobal, "platform", "g" + std::to_string(g)}, g, g % 2 == 0);
  for (int s = 0; s < 20; ++s) {
    set({cfg::Layer::kServiceType, "platform", "st" + std::to_string(s)},
        {{"min_instances", 1}, {"max_instances", 10}, {"monitoring", {{"cpu", 80}, {"mem", 80}}}});
  }
  for (int t = 0; t < tenants; ++t) {
    const std::string tenant = "t" + std::to_string(t);
    set({cfg::Layer::kTenantRisk, tenant, ""}, {{"max_cost_impact_auto", 15.0},
                                                {"approval_timeout_minutes", 30},
                                                {"automation_enabled", true},
                                                {"notification_config", {{"escalation", {{"max_hops", 2}}}}}});
    for (int a = 0; a < 4; ++a)
      set({cfg::Layer::kAgent, tenant, "a" + std::to_string(a)}, {{"metrics_duration_minutes", 5}});
    for (int s = 0; s < 8; ++s) {
      set({cfg::Layer::kService, tenant, "s" + std::to_string(s)},
          {{"max_instances", 4}, {"monitoring", {{"mem", 50}}}});
    }
  }
  return m;
}

const Json kProcess = {
    {"approval_webhook_timeout_seconds", 30}, {"approval_webhook_retry_attempts", 3}, {"cache_default_ttl", 300}};

void BM_ResolveUncached(benchmark::State& state) {
  const auto tenants = static_cast<int>(state.range(0));
  const auto m = build(tenants);
  int i = 0;
  for (auto _ : state) {
    const std::string t = "t" + std::to_string(i++ % tenants);
    benchmark::DoNotOptimize(m.resolve({t, "a1", "st3", "s5", ""}, kProcess));
  }
}
BENCHMARK(BM_ResolveUncached)->Arg(100)->Arg(10000);

void BM_ResolveCachedHit(benchmark::State& state) {
  const auto tenants = static_cast<int>(state.range(0));
  const auto m = build(tenants);
  projections::config::ResolvedCache cache;
  for (int t = 0; t < 1000 && t < tenants; ++t)
    cache.resolve(m, {"t" + std::to_string(t), "a1", "st3", "s5", ""}, kProcess, 1);
  int i = 0;
  for (auto _ : state) {
    const std::string t = "t" + std::to_string(i++ % std::min(tenants, 1000));
    benchmark::DoNotOptimize(cache.resolve(m, {t, "a1", "st3", "s5", ""}, kProcess, 1));
  }
  state.counters["hits"] = static_cast<double>(cache.hits());
}
BENCHMARK(BM_ResolveCachedHit)->Arg(100)->Arg(10000);

}  // namespace

BENCHMARK_MAIN();
