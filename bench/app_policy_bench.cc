// In-process cost of evaluating an application's policy chain (seed 002):
// an empty chain, one built-in, and a chain of the four built-ins (rate
// limit, token limit, model allowlist, request size), with the rate limit's
// bucket large enough never to deny.
//   build/bench/app-policy-bench
// and a custom_cel policy run by the real CEL engine (adapters/cel).
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>

#include "adapters/cel/cel_engine.h"
#include "domain/app_policy/chain.h"
#include "domain/app_policy/commands.h"

namespace {

using namespace ledger;
namespace ap = domain::app_policy;
using Json = nlohmann::json;

const domain::app_policy::ExpressionEngine& cel() {
  static auto engine = [] {
    auto e = adapters::cel::CelEngine::create();
    if (!e) throw std::runtime_error(e.error().message);
    return std::move(*e);
  }();
  return *engine;
}

struct App {
  domain::AdmissionModel m;
  std::int64_t position = 0;
  App() {
    run(domain::CreateOrganization{"org-acme", "pro", "Acme", ""});
    run(ap::RegisterApplication{"app-123", "org-acme", "Production API"});
  }
  void run(const auto& c) {
    domain::Result<domain::Decided> d;
    const ap::PolicyDeps deps{.expressions = &cel(), .replicas = 1};
    if constexpr (requires { domain::decide(m, c, deps); })
      d = domain::decide(m, c, deps);
    else
      d = domain::decide(m, c);
    if (!d) throw std::runtime_error(d.error().message);
    for (const auto& e : d->events) m.apply(d->stream_id, e, {++position, {}, ""});
  }
  void attach(const std::string& id, const std::string& type, const Json& config) {
    run(ap::AttachPolicy{"app-123", "org-acme", id, type, config.dump(), true, std::nullopt, ""});
  }
  const ap::Application& app() const { return *m.apps().application("org-acme", "app-123"); }
};

ap::ChainRequest request() {
  ap::ChainRequest r;
  r.input.app_id = "app-123";
  r.input.org_id = "org-acme";
  r.input.model = "gpt-4o";
  r.input.size_bytes = 2048;
  r.input.estimated_tokens = 900;
  r.input.time_unix_ms = 1'700'000'000'000;
  return r;
}

void evaluate(benchmark::State& state, App& a) {
  ap::ChainRuntime rt({.expressions = &cel(), .replicas = 1});
  auto r = request();
  for (auto _ : state) {
    ++r.input.time_unix_ms;
    auto out = rt.evaluate(a.m.apps(), a.app(), r);
    if (!out.allow) state.SkipWithError("denied");
    benchmark::DoNotOptimize(out);
  }
}

void BM_ChainEmpty(benchmark::State& state) {
  App a;
  evaluate(state, a);
}
BENCHMARK(BM_ChainEmpty);

void BM_ChainModelAllowlist(benchmark::State& state) {
  App a;
  a.attach("models", "model_allowlist", {{"models", {"gpt-4*", "claude-*"}}});
  evaluate(state, a);
}
BENCHMARK(BM_ChainModelAllowlist);

void BM_ChainFourBuiltins(benchmark::State& state) {
  App a;
  a.attach("rate", "rate_limit", {{"requests_per_minute", 1'000'000'000}, {"burst", 1'000'000'000}});
  a.attach("tokens", "token_limit", {{"max_tokens", 8192}});
  a.attach("models", "model_allowlist", {{"models", {"gpt-4*", "claude-*"}}});
  a.attach("size", "request_size", {{"max_bytes", 1 << 20}});
  evaluate(state, a);
}
BENCHMARK(BM_ChainFourBuiltins);

void BM_ChainCustomCel(benchmark::State& state) {
  App a;
  a.attach("cel", "custom_cel",
           {{"name", "block_large_prompts"},
            {"pre_check_expression", "estimated_tokens < 5000 && request.model.startsWith('gpt-')"}});
  evaluate(state, a);
}
BENCHMARK(BM_ChainCustomCel);

void BM_ChainFourBuiltinsAndCel(benchmark::State& state) {
  App a;
  a.attach("rate", "rate_limit", {{"requests_per_minute", 1'000'000'000}, {"burst", 1'000'000'000}});
  a.attach("tokens", "token_limit", {{"max_tokens", 8192}});
  a.attach("models", "model_allowlist", {{"models", {"gpt-4*", "claude-*"}}});
  a.attach("size", "request_size", {{"max_bytes", 1 << 20}});
  a.attach("cel", "custom_cel",
           {{"name", "block_large_prompts"},
            {"pre_check_expression", "estimated_tokens < 5000 && request.model.startsWith('gpt-')"}});
  evaluate(state, a);
}
BENCHMARK(BM_ChainFourBuiltinsAndCel);

}  // namespace

int main(int argc, char** argv) {
  ledger::adapters::cel::restore_shutdown_signals();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
