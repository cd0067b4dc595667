// Google Benchmark micro-benchmarks of the hot pure code: sealing an event
// into the hash chain, deciding a command, resolving a policy value, and the
// admission model the writer keeps (deciding a ceiling change and an
// admission decision in a hierarchy of up to 1,000,000 scope nodes).
//   build/bench/ledger-micro-bench
#include <benchmark/benchmark.h>

#include "domain/admission.h"
#include "domain/policy_key.h"
#include "domain/policy_resolution.h"
#include "events/codec/json_codec.h"

namespace {

using namespace ledger;

events::PolicyKeyDefined key_def() {
  return {"billing.window_seconds", events::ValueType::kInt, events::PolicyValue{std::int64_t{60}}, 1, 86400, {}, ""};
}

void BM_RecordAndHash(benchmark::State& state) {
  events::EventMeta m;
  m.stream_id = "policy-key:billing.window_seconds";
  m.actor = {"user", "alice", {"platform_admin"}};
  m.tenant = "org-1";
  events::PolicyValueSet e{"billing.window_seconds",
                           {events::ScopeLevel::kUser, "u-1"},
                           events::PolicyValue{std::int64_t{60}},
                           events::BeforeSource::kDefault,
                           events::PolicyValue{std::int64_t{90}},
                           events::Instant{1},
                           "load"};
  std::string prev = events::kGenesisHash;
  for (auto _ : state) {
    ++m.global_position;
    auto r = codec::record(m, e, prev);
    prev = r.hash;
    benchmark::DoNotOptimize(prev);
  }
}
BENCHMARK(BM_RecordAndHash);

void BM_DecideSetValue(benchmark::State& state) {
  domain::PolicyKeyState s;
  s = domain::evolve(std::move(s), key_def());
  for (int i = 0; i < state.range(0); ++i) {
    s = domain::evolve(std::move(s), events::PolicyValueSet{"billing.window_seconds",
                                                            {events::ScopeLevel::kUser, "u-" + std::to_string(i)},
                                                            events::PolicyValue{std::int64_t{60}},
                                                            events::BeforeSource::kDefault,
                                                            events::PolicyValue{std::int64_t{61}},
                                                            {},
                                                            "r"});
  }
  domain::SetPolicyValue c{"billing.window_seconds",
                           {events::ScopeLevel::kUser, "u-7"},
                           events::PolicyValue{std::int64_t{99}},
                           {},
                           "r",
                           events::PolicyValue{std::int64_t{61}}};
  for (auto _ : state) benchmark::DoNotOptimize(domain::decide(s, c, events::Instant{0}));
}
BENCHMARK(BM_DecideSetValue)->Arg(10)->Arg(100000);

void BM_Resolve(benchmark::State& state) {
  std::vector<domain::ValueCandidate> cands;
  for (int i = 0; i < state.range(0); ++i) {
    cands.push_back({{static_cast<events::ScopeLevel>(i % 5), i % 5 == 4 ? "" : "id"},
                     events::PolicyValue{std::int64_t{i}},
                     events::Instant{i},
                     i + 1});
  }
  domain::ScopeChain chain{"id", "id", "id", "id"};
  for (auto _ : state) benchmark::DoNotOptimize(domain::resolve(key_def(), chain, cands, events::Instant{1'000'000}));
}
BENCHMARK(BM_Resolve)->Arg(5)->Arg(100);

// A hierarchy of `nodes` scope nodes: 1 organization per 1,000 nodes, each
// with 10 departments of 99 projects, ceilings at org and department level.
domain::AdmissionModel admission_model(std::int64_t nodes) {
  domain::AdmissionModel m;
  m.apply("registry:product:gpuaas", events::RegistryEntryRegistered{"product", "gpuaas", 1, "", {}, {}});
  m.apply("registry:usage_unit:gpu", events::RegistryEntryRegistered{"usage_unit", "gpu", 1, "", {}, {}});
  m.apply("registry:quota_dimension:gpu.count",
          events::RegistryEntryRegistered{
              "quota_dimension", "gpu.count", 1, "", {{"product", "gpuaas"}, {"unit", "gpu"}}, {}});
  const events::CeilingTarget gpu{"gpu.count", "", "", ""};
  for (std::int64_t o = 0; o * 1000 < nodes; ++o) {
    const std::string org = "org-" + std::to_string(o);
    m.apply("organization:" + org, events::OrganizationCreated{org, org, "pro", org + ".default"});
    m.apply("ceilings:organization:" + org,
            events::CeilingSet{{events::QuotaLevel::kOrganization, org}, org, "r", 1, gpu, 1000, "gpu", {}, ""});
    for (int d = 0; d < 10; ++d) {
      const std::string dept = org + "-d" + std::to_string(d);
      m.apply("department:" + dept, events::DepartmentCreated{dept, org, "", dept});
      m.apply("ceilings:department:" + dept,
              events::CeilingSet{{events::QuotaLevel::kDepartment, dept}, org, "r", 1, gpu, 100, "gpu", {}, ""});
      for (int p = 0; p < 98; ++p) {
        const std::string proj = dept + "-p" + std::to_string(p);
        m.apply("project:" + proj, events::ProjectCreated{proj, org, dept, proj});
      }
    }
  }
  return m;
}

void BM_AdmissionDecideCeiling(benchmark::State& state) {
  const auto m = admission_model(state.range(0));
  domain::SetCeiling c{{events::QuotaLevel::kProject, "org-0-d3-p7"}, {"gpu.count", "", "", ""}, 50, "gpu", "bench"};
  for (auto _ : state) benchmark::DoNotOptimize(domain::decide(m, c, events::Instant{0}));
  state.counters["nodes"] = static_cast<double>(m.node_count());
}
BENCHMARK(BM_AdmissionDecideCeiling)->Arg(1000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);

void BM_AdmissionDecision(benchmark::State& state) {
  const auto m = admission_model(state.range(0));
  domain::DecisionInput in;
  in.hierarchy = {"org-0", "", "org-0-d3-p7"};
  in.request.dimension = "gpu.count";
  in.request.requested_delta = 4;
  in.current_usage.quantity = 10;
  for (auto _ : state) {
    auto snapshot = m.snapshot_for(in);
    benchmark::DoNotOptimize(domain::decide_admission(in, snapshot, events::Instant{0}));
  }
  state.counters["nodes"] = static_cast<double>(m.node_count());
}
BENCHMARK(BM_AdmissionDecision)->Arg(1000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
