// Google Benchmark micro-benchmarks of the hot pure code: sealing an event
// into the hash chain, deciding a command, resolving a policy value.
//   build/bench/ledger-micro-bench
#include <benchmark/benchmark.h>

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
  events::PolicyValueSet e{"billing.window_seconds", {events::ScopeLevel::kUser, "u-1"}, events::PolicyValue{std::int64_t{60}},
                           events::BeforeSource::kDefault, events::PolicyValue{std::int64_t{90}}, events::Instant{1}, "load"};
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
                                                            events::PolicyValue{std::int64_t{60}}, events::BeforeSource::kDefault,
                                                            events::PolicyValue{std::int64_t{61}}, {}, "r"});
  }
  domain::SetPolicyValue c{"billing.window_seconds", {events::ScopeLevel::kUser, "u-7"}, events::PolicyValue{std::int64_t{99}},
                           {}, "r", events::PolicyValue{std::int64_t{61}}};
  for (auto _ : state) benchmark::DoNotOptimize(domain::decide(s, c, events::Instant{0}));
}
BENCHMARK(BM_DecideSetValue)->Arg(10)->Arg(100000);

void BM_Resolve(benchmark::State& state) {
  std::vector<domain::ValueCandidate> cands;
  for (int i = 0; i < state.range(0); ++i) {
    cands.push_back({{static_cast<events::ScopeLevel>(i % 5), i % 5 == 4 ? "" : "id"},
                     events::PolicyValue{std::int64_t{i}}, events::Instant{i}, i + 1});
  }
  domain::ScopeChain chain{"id", "id", "id", "id"};
  for (auto _ : state) benchmark::DoNotOptimize(domain::resolve(key_def(), chain, cands, events::Instant{1'000'000}));
}
BENCHMARK(BM_Resolve)->Arg(5)->Arg(100);

}  // namespace

BENCHMARK_MAIN();
