// Google Benchmark of the entitlement check (seed 003) in process: the query
// service's in-memory read model (projections/entitlements/entitlements_view.h)
// with N capabilities, each with a policy of 3 versions activated in all
// three environments, and 10,000 organizations; a check by plan, by
// organization, and as of a past position.
//   build/bench/entitlement-bench
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>

#include "domain/entitlements/entitlements.h"
#include "projections/entitlements/entitlements_view.h"

namespace {

using namespace ledger;
namespace ent = domain::entitlements;

struct Fixture {
  projections::EntitlementsView view;
  ent::EntitlementsModel writer;  // decides, as the command service would
  std::int64_t position = 0;

  void run(const ent::Command& c) {
    auto d = ent::decide(writer, c, ent::Context{"bench", events::Instant{position}});
    if (!d) return;
    for (const auto& e : d->events) {
      events::Envelope env{{}, e};
      env.meta.stream_id = d->stream_id;
      env.meta.global_position = events::GlobalPosition{++position};
      env.meta.recorded_at = events::Instant{position};
      writer.apply(env.meta, e);
      view.apply(env);
    }
  }
  explicit Fixture(int capabilities) {
    for (const char* p : {"free", "pro", "enterprise", "trial"}) run(ent::DefinePlan{"default", p, p, ""});
    for (int i = 0; i < capabilities; ++i) {
      const std::string name = "capability-" + std::to_string(i);
      run(ent::DefineCapability{"default", name, "", ""});
      const std::string pol = ent::default_policy_id("cap-" + name);
      run(ent::CreatePolicy{"default", "cap-" + name, name, "", {"plan-allowlist", {"pro", "enterprise"}, {}}, "", ""});
      run(ent::CreateVersion{"default", pol, {"plan-allowlist", {"enterprise"}, {"trial"}}, "v2"});
      run(ent::CreateVersion{"default", pol, {"plan-allowlist", {"free", "pro", "enterprise"}, {"trial"}}, "v3"});
      for (const char* env : {"dev", "staging", "production"}) {
        for (int v = 1; v <= 3; ++v)
          run(ent::ActivateVersion{"default", pol, pol + "-v" + std::to_string(v), env, "go"});
      }
    }
    for (int o = 0; o < 10000; ++o) {
      events::Envelope env{{}, events::OrganizationCreated{"org-" + std::to_string(o), "", o % 2 ? "pro" : "free", ""}};
      env.meta.global_position = events::GlobalPosition{++position};
      view.apply(env);
    }
  }
};

Fixture& fixture(int n) {
  static std::map<int, std::unique_ptr<Fixture>> all;
  auto& f = all[n];
  if (!f) f = std::make_unique<Fixture>(n);
  return *f;
}

void BM_CheckByPlan(benchmark::State& state) {
  auto& f = fixture(static_cast<int>(state.range(0)));
  projections::EntitlementCheckRequest in{"default", "production", "", "pro",
                                          "capability-" + std::to_string(state.range(0) / 2)};
  for (auto _ : state) benchmark::DoNotOptimize(f.view.check(in, {}));
}
BENCHMARK(BM_CheckByPlan)->Arg(10)->Arg(1000)->Arg(10000);

void BM_CheckByOrganization(benchmark::State& state) {
  auto& f = fixture(static_cast<int>(state.range(0)));
  projections::EntitlementCheckRequest in{"default", "production", "org-4711", "",
                                          "capability-" + std::to_string(state.range(0) / 2)};
  for (auto _ : state) benchmark::DoNotOptimize(f.view.check(in, {}));
}
BENCHMARK(BM_CheckByOrganization)->Arg(10)->Arg(1000)->Arg(10000);

void BM_CheckAsOfPosition(benchmark::State& state) {
  auto& f = fixture(static_cast<int>(state.range(0)));
  projections::EntitlementCheckRequest in{"default", "production", "", "pro",
                                          "capability-" + std::to_string(state.range(0) / 2)};
  const ent::Cut cut{f.position / 2, std::nullopt};
  for (auto _ : state) benchmark::DoNotOptimize(f.view.check(in, cut));
}
BENCHMARK(BM_CheckAsOfPosition)->Arg(10)->Arg(1000)->Arg(10000);

}  // namespace

BENCHMARK_MAIN();
