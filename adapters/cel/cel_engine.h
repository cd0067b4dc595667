// The ledger's CEL engine: domain/app_policy/expression.h's ExpressionEngine
// over cel-go (Google's reference implementation), linked in as a Go
// c-archive behind the C ABI of ledger_cel.h. Why cel-go, the conformance
// figures and the language the expressions may use: adapters/cel/README.md.
//
//   auto engine = ledger::adapters::cel::CelEngine::create();   // Result<unique_ptr<CelEngine>>
//   auto program = (*engine)->compile("estimated_tokens < 5000");
//   auto allowed = (*program)->evaluate(input);
//
// Every evaluation runs under the engine's cost limit (cel-go's CostLimit):
// over it, `cel_cost_exceeded`, never a stalled thread. The engine and its
// programs are thread-safe; programs outlive nothing (each holds the Go
// handle it frees). Create one engine per process and share it: the Go
// runtime is started on the first call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "domain/app_policy/expression.h"
#include "domain/error.h"

namespace ledger::adapters::cel {

// The longest expression the engine accepts, in characters (Unicode code
// points); longer ones are refused at check without parsing.
inline constexpr std::size_t kMaxExpressionLength = 4096;

// Cost units (cel-go's runtime cost: about one per operation, more for
// string and list work) one evaluation may spend. The seed's expressions
// cost under 10; the limit leaves room for real policies and stops a nested
// comprehension over large lists after well under a millisecond or two of work.
inline constexpr std::uint64_t kDefaultCostLimit = 100'000;

struct CelEngineOptions {
  std::uint64_t cost_limit = kDefaultCostLimit;
};

// Signals. The Go runtime starts before main (a constructor of the c-archive)
// and its threads keep the signal mask they started with. So that none of
// them ever takes a process-directed SIGINT or SIGTERM (for which Go installs
// no handler in a c-archive: the process would die with the default action
// instead of shutting down), linking ledger::cel blocks both in the main
// thread before the Go runtime starts (a constructor of priority 101, which
// runs before every default-priority one). The ledger's services block them
// anyway and wait for them with sigwait (services/common/process.h). Any other
// program (tests, benchmarks) calls restore_shutdown_signals() in its main
// thread to get the ordinary behaviour back in its own threads.
void restore_shutdown_signals();

class CelEngine final : public domain::app_policy::ExpressionEngine {
 public:
  // kInternal `cel_unavailable` if the environment cannot be built.
  static domain::Result<std::unique_ptr<CelEngine>> create(CelEngineOptions options = {});
  ~CelEngine() override;
  CelEngine(const CelEngine&) = delete;
  CelEngine& operator=(const CelEngine&) = delete;

  domain::app_policy::ExpressionCheck check(std::string_view expression) const override;
  domain::Result<std::shared_ptr<const domain::app_policy::CompiledExpression>> compile(
      std::string_view expression) const override;

  std::uint64_t cost_limit() const { return cost_limit_; }

 private:
  CelEngine(std::uint64_t handle, std::uint64_t cost_limit) : handle_(handle), cost_limit_(cost_limit) {}
  std::uint64_t handle_;
  std::uint64_t cost_limit_;
};

}  // namespace ledger::adapters::cel
