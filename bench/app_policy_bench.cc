// In-process cost of evaluating an application's policy chain (seed 002):
// an empty chain, one built-in, and a chain of the four built-ins (rate
// limit, token limit, model allowlist, request size), with the rate limit's
// bucket large enough never to deny.
//   build/bench/app-policy-bench
// (The CEL policy's figure comes from bench/cel-bench, which links the CEL
// engine; bench/README.md puts them side by side.)
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>

#include "domain/app_policy/chain.h"
#include "domain/app_policy/commands.h"

namespace {

using namespace ledger;
namespace ap = domain::app_policy;
using Json = nlohmann::json;

struct App {
  domain::AdmissionModel m;
  std::int64_t position = 0;
  App() {
    run(domain::CreateOrganization{"org-acme", "pro", "Acme", ""});
    run(ap::RegisterApplication{"app-123", "org-acme", "Production API"});
  }
  void run(const auto& c) {
    domain::Result<domain::Decided> d;
    if constexpr (requires { domain::decide(m, c, ap::PolicyDeps{}); }) d = domain::decide(m, c, ap::PolicyDeps{});
    else d = domain::decide(m, c);
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
  ap::ChainRuntime rt({});
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

}  // namespace

BENCHMARK_MAIN();
