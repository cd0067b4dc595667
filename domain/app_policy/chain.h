// Evaluating an application's policy chain (seed 002) on the hot path.
//
//   ChainRuntime runtime(deps);                            // one per process
//   auto result = runtime.evaluate(model.apps(), *app, request);
//   result.allow; result.policies[i].{policy_id, policy_type, version, verdict, reason}
//
// The app's ENABLED policies run in chain order; the first deny decides and
// the policies after it are reported `not_evaluated` (so a later rate limit
// spends nothing on a request already denied). An app with no enabled
// policy allows with an empty chain. A retired app denies
// (`application_retired`). A policy whose stored config no longer
// constructs (say a CEL function removed from the engine) is reported
// `failed` with the construction's code and DENIES: fail closed, never
// skipped. One that failed because its expression engine was unavailable
// (`cel_unavailable`) is built again a second later (by this process's
// monotonic clock): the outage ends without a restart, and meanwhile the
// engine is not asked on every evaluation.
//
// Constructed policies (compiled CEL programs included) are cached per
// (policy id, version): built from the config the events carry, rebuilt
// when a new version appears. Their counters (rate-limit buckets,
// token windows) live with them, in this process's memory, and start
// afresh with a new version.
//
// Thread-safe: any number of threads evaluate at once; a stateful policy's
// counters are locked for its own evaluation only.
//
// Re-deriving a past evaluation (an auditor's replay) cannot rebuild the
// counters a stateful policy had then: pass the verdicts that were recorded
// (`recorded`, by policy id) and a stateful policy of the same version
// takes its recorded verdict instead of evaluating; every other policy, and
// the fold of the chain, is derived again.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "domain/app_policy/model.h"
#include "domain/app_policy/policy_types.h"

namespace ledger::domain::app_policy {

struct PolicyResult {
  std::string policy_id;
  std::string policy_type;
  std::int64_t version = 0;
  std::string verdict;  // allow | deny | failed | not_evaluated
  std::string reason;   // stable code
  std::string detail;
};

struct ChainResult {
  bool allow = true;
  std::string reason;     // "allowed", "empty_chain", or the deciding policy's reason
  std::string denied_by;  // policy id of the deciding deny, empty when allowed
  std::vector<PolicyResult> policies;
};

class ChainRuntime {
 public:
  // Milliseconds on a monotonic clock; by default std::chrono::steady_clock.
  using Clock = std::function<std::int64_t()>;
  // A policy whose engine was unavailable when it was built fails closed,
  // and is built again no sooner than this later: an engine that fails on
  // one expression every time is then asked once a second, not once per
  // evaluation.
  static constexpr std::int64_t kRebuildUnavailableAfterMs = 1000;

  explicit ChainRuntime(PolicyDeps deps, Clock clock = {});
  ChainRuntime(const ChainRuntime&) = delete;
  ChainRuntime& operator=(const ChainRuntime&) = delete;

  using RecordedVerdicts = std::map<std::string, PolicyResult>;  // by policy id
  ChainResult evaluate(const AppPolicyModel& model, const Application& app, const ChainRequest& request,
                       const RecordedVerdicts* recorded = nullptr);

  // How many constructed policies are cached (one per policy id). Entries
  // of detached policies are dropped once the cache holds more than twice
  // (plus 64) the policies `model` has attached, so it stays bounded by
  // what is live.
  std::size_t cached() const;

 private:
  struct Entry {
    std::int64_t version = 0;
    std::shared_ptr<const Policy> policy;  // null when it failed to construct
    Error failure;
    std::int64_t rebuild_at_ms = 0;  // failed as kUnavailable: built again from then on
    std::mutex mu;                   // guards counters
    PolicyCounters counters;
  };
  // Cached entries are dropped only when a new one is stored (the cache
  // grows nowhere else), so a cache hit costs one lookup under the lock.
  std::shared_ptr<Entry> entry_for(const AppPolicyModel& model, const AttachedPolicy& p);

  PolicyDeps deps_;
  Clock clock_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> cache_;  // by policy id
};

}  // namespace ledger::domain::app_policy
