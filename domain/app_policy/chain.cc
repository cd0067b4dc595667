#include "domain/app_policy/chain.h"

#include <chrono>
#include <utility>

namespace ledger::domain::app_policy {

namespace {

// Whether `e` failed because its engine was unavailable: remembered for a
// while only (ChainRuntime::kRebuildUnavailableAfterMs).
template <typename Entry>
bool failed_unavailable(const Entry& e) {
  return !e.policy && e.failure.kind == ErrorKind::kUnavailable;
}

}  // namespace

ChainRuntime::ChainRuntime(PolicyDeps deps, Clock clock) : deps_(deps), clock_(std::move(clock)) {
  if (!clock_) {
    clock_ = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count();
    };
  }
}

std::shared_ptr<ChainRuntime::Entry> ChainRuntime::entry_for(const AppPolicyModel& model, const AttachedPolicy& p) {
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(p.policy_id);
    if (it != cache_.end() && it->second->version == p.version &&
        (!failed_unavailable(*it->second) || clock_() < it->second->rebuild_at_ms)) {
      return it->second;
    }
  }
  // Built outside the lock: compiling CEL takes a while and must not stall
  // evaluations of other policies. Two threads may build the same version;
  // the first one stored wins and both answers agree.
  auto e = std::make_shared<Entry>();
  e->version = p.version;
  auto config = nlohmann::json::parse(p.config, nullptr, false);
  if (config.is_discarded()) {
    e->failure = Error{ErrorKind::kFailedPrecondition, "invalid_policy_config", "the stored config is not JSON", {}};
  } else if (auto built = PolicyTypes::builtin().construct(p.policy_type, config, deps_)) {
    e->policy = *built;
  } else {
    e->failure = built.error();
  }
  // An engine that failed (or is missing) fails this evaluation closed, and
  // the ones of the next second; then the policy is built again.
  if (failed_unavailable(*e)) e->rebuild_at_ms = clock_() + kRebuildUnavailableAfterMs;
  std::lock_guard lock(mu_);
  if (cache_.size() > 2 * model.policy_count() + 64) {
    std::erase_if(cache_, [&](const auto& kv) { return model.policy(kv.first) == nullptr; });
  }
  auto& slot = cache_[p.policy_id];
  if (!slot || slot->version < p.version || (slot->version == p.version && failed_unavailable(*slot))) slot = e;
  return slot->version == p.version ? slot : e;
}

std::size_t ChainRuntime::cached() const {
  std::lock_guard lock(mu_);
  return cache_.size();
}

ChainResult ChainRuntime::evaluate(const AppPolicyModel& model, const Application& app, const ChainRequest& request,
                                   const RecordedVerdicts* recorded) {
  ChainResult out;
  if (app.retired) {
    out.allow = false;
    out.reason = "application_retired";
    return out;
  }
  for (const AttachedPolicy* p : model.chain(app)) {
    if (!p->enabled) continue;
    PolicyResult r{p->policy_id, p->policy_type, p->version, "", "", ""};
    if (!out.allow) {
      r.verdict = "not_evaluated";
      out.policies.push_back(std::move(r));
      continue;
    }
    auto entry = entry_for(model, *p);
    if (!entry->policy) {
      r.verdict = "failed";
      r.reason = entry->failure.code;
      r.detail = entry->failure.message;
    } else {
      Verdict v;
      const auto given = recorded ? recorded->find(p->policy_id) : RecordedVerdicts::const_iterator();
      if (entry->policy->stateful() && recorded && given != recorded->end() && given->second.version == p->version &&
          (given->second.verdict == "allow" || given->second.verdict == "deny")) {
        v = Verdict{given->second.verdict == "allow", given->second.reason, given->second.detail};
      } else if (entry->policy->stateful()) {
        std::lock_guard lock(entry->mu);
        v = entry->policy->evaluate(request, entry->counters);
      } else {
        PolicyCounters none;
        v = entry->policy->evaluate(request, none);
      }
      r.verdict = v.allow ? "allow" : "deny";
      r.reason = std::move(v.reason);
      r.detail = std::move(v.detail);
    }
    if (r.verdict != "allow") {
      out.allow = false;
      out.reason = r.verdict == "failed" ? "policy_failed" : r.reason;
      out.denied_by = p->policy_id;
    }
    out.policies.push_back(std::move(r));
  }
  if (out.allow) out.reason = out.policies.empty() ? "empty_chain" : "allowed";
  return out;
}

}  // namespace ledger::domain::app_policy
