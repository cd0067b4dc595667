// The policy type registry of per-application chains (seed 002): each type
// is registered once in code with a name, a description and a JSON Schema of
// its config, and a factory that constructs the policy from a config. A
// config is valid exactly when the factory constructs it — creation, update
// and evaluation all go through construct(), so what was accepted is what runs.
//
//   const auto& types = PolicyTypes::builtin();          // rate_limit, token_limit, ...
//   auto policy = types.construct("rate_limit", config, deps);
//   if (!policy) ...  // 422 `invalid_policy_config`, evidence `field` (a JSON pointer)
//
// Adding a type is one register_type() call in policy_types.cc; nothing else
// names the types.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/app_policy/expression.h"
#include "domain/error.h"

namespace ledger::domain::app_policy {

// One request as a chain sees it. `phase` pre: before the work is done
// (estimates); post: after it, with what it actually used.
struct ChainRequest {
  enum class Phase { kPre, kPost };
  Phase phase = Phase::kPre;
  EvaluationInput input;  // app, org, actor, model, time, sizes, tokens
};

// The mutable counters a policy may keep between requests (the token bucket
// of rate_limit, the window of token_limit), owned by the caller per
// (policy id, version) and locked by it around evaluate().
struct PolicyCounters {
  double tokens = -1;                // rate_limit: tokens in the bucket; < 0: full, never used
  std::int64_t refilled_ms = 0;      // rate_limit: when the bucket was last refilled
  std::int64_t window_start_ms = 0;  // token_limit: start of the current window
  std::int64_t window_used = 0;      // token_limit: tokens reported in it
};

struct Verdict {
  bool allow = true;
  std::string reason;  // stable code, e.g. "within_limit", "rate_limited", "model_not_allowed"
  std::string detail;  // human-readable
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual Verdict evaluate(const ChainRequest& request, PolicyCounters& counters) const = 0;
  // True when evaluate() reads or writes the counters (the caller then locks them).
  virtual bool stateful() const { return false; }
};

// What factories may need beyond the config: the CEL engine (nullptr: a
// custom_cel config does not construct, `cel_unavailable`).
struct PolicyDeps {
  const ExpressionEngine* expressions = nullptr;
  // How many query replicas share a rate limit (each enforces its share).
  std::int64_t replicas = 1;
};

struct PolicyTypeInfo {
  std::string type;
  std::string name;
  std::string description;
  nlohmann::json config_schema;
  bool is_built_in = true;
};

using PolicyFactory =
    std::function<Result<std::shared_ptr<const Policy>>(const nlohmann::json& config, const PolicyDeps& deps)>;

class PolicyTypes {
 public:
  // Every type this build knows, in registration order.
  static const PolicyTypes& builtin();

  void register_type(PolicyTypeInfo info, PolicyFactory factory);
  const std::vector<PolicyTypeInfo>& list() const { return infos_; }
  bool known(std::string_view type) const { return factories_.contains(std::string(type)); }

  // kInvalidArgument `unknown_policy_type` for a type not registered;
  // kFailedPrecondition `invalid_policy_config` (evidence `field`: the JSON
  // pointer of what failed, `policy_type`) for a config that does not
  // construct; kFailedPrecondition `invalid_expression` for CEL that does
  // not check; kUnavailable `cel_unavailable` without an engine, or when it
  // fails.
  Result<std::shared_ptr<const Policy>> construct(std::string_view type, const nlohmann::json& config,
                                                  const PolicyDeps& deps) const;

 private:
  std::vector<PolicyTypeInfo> infos_;
  std::map<std::string, PolicyFactory> factories_;
};

// Glob match of a model name against an allowlist pattern ('*' any run, '?' one character).
bool model_matches(std::string_view pattern, std::string_view model);

}  // namespace ledger::domain::app_policy
