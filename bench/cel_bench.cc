// The in-process cost of the ledger's CEL module (adapters/cel: cel-go as a
// Go c-archive behind a C ABI): compile (parse + type-check + plan) and one
// evaluation of three representative custom_cel expressions, each through
// ledger::adapters::cel::CelEngine exactly as the services call it (the C
// ABI crossing, the input copied into Go, the cost tracker on). Figures and
// the command in bench/README.md ("CEL expressions").
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "adapters/cel/cel_engine.h"

namespace {

using ledger::adapters::cel::CelEngine;
using ledger::domain::app_policy::CompiledExpression;
using ledger::domain::app_policy::EvaluationInput;

struct Case {
  const char* name;
  const char* expression;
};
// A comparison on a top-level variable (the seed's token limit), a field of
// the request object (the seed's model rule), and a mixed policy: the seed's
// day-of-week rule, a list membership and a string function.
constexpr Case kCases[] = {
    {"token_limit", "estimated_tokens < 5000"},
    {"model_field", "request.model != 'gpt-4-32k'"},
    {"mixed",
     "timestamp.getDayOfWeek(request.time) < 6 && request.model in ['gpt-4o', 'gpt-4o-mini', 'claude-3-5'] && "
     "actor.type == 'user' && !app_id.startsWith('test-')"},
};

const CelEngine& engine() {
  static auto e = CelEngine::create();
  if (!e) {
    std::fprintf(stderr, "%s\n", e.error().message.c_str());
    std::abort();
  }
  return **e;
}

EvaluationInput input() {
  EvaluationInput in;
  in.app_id = "app-123";
  in.org_id = "org-acme";
  in.actor_id = "u-1";
  in.actor_type = "user";
  in.model = "gpt-4o";
  in.time_unix_ms = 1736942400000;  // a Wednesday
  in.size_bytes = 2048;
  in.estimated_tokens = 1200;
  return in;
}

void BM_Compile(benchmark::State& state) {
  const Case& c = kCases[state.range(0)];
  state.SetLabel(c.name);
  for (auto _ : state) {
    auto p = engine().compile(c.expression);
    if (!p) state.SkipWithError(p.error().message.c_str());
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_Compile)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);

void BM_Check(benchmark::State& state) {
  const Case& c = kCases[state.range(0)];
  state.SetLabel(c.name);
  for (auto _ : state) {
    auto r = engine().check(c.expression);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Check)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);

void BM_Evaluate(benchmark::State& state) {
  const Case& c = kCases[state.range(0)];
  state.SetLabel(c.name);
  auto p = engine().compile(c.expression);
  if (!p) {
    state.SkipWithError(p.error().message.c_str());
    return;
  }
  const std::shared_ptr<const CompiledExpression> program = *p;
  const EvaluationInput in = input();
  for (auto _ : state) {
    auto v = program->evaluate(in);
    if (!v || !*v) state.SkipWithError("unexpected verdict");
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_Evaluate)->DenseRange(0, 2)->Unit(benchmark::kNanosecond);
// One program shared by two threads (the machine has 2 cores).
BENCHMARK(BM_Evaluate)->Arg(2)->Threads(2)->UseRealTime()->Unit(benchmark::kNanosecond);

}  // namespace

int main(int argc, char** argv) {
  // Not a service: Ctrl-C works as usual (adapters/cel/cel_engine.h, "Signals").
  ledger::adapters::cel::restore_shutdown_signals();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
