#include "projections/config/resolved_cache.h"

namespace ledger::projections::config {

namespace cfg = domain::config;

std::vector<std::string> dependency_keys(const cfg::Resolved& r) {
  std::vector<std::string> out = {"global_keys", "process_settings"};
  for (const auto& ref : r.layers_used) out.push_back(cfg::cache_key(ref));
  return out;
}

ResolvedCache::Lookup ResolvedCache::resolve(const cfg::ConfigModel& model, const cfg::ResolveQuery& q,
                                             const cfg::Json& process, std::int64_t process_generation) {
  const std::string key =
      q.tenant + "\x1f" + q.agent_type + "\x1f" + q.service_type + "\x1f" + q.service_id + "\x1f" + q.project_id;
  auto now_of = [&](const std::string& tag) {
    return tag == "process_settings" ? process_generation : model.last_change(tag);
  };
  {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(key); it != entries_.end()) {
      bool valid = true;
      for (const auto& [tag, at] : it->second.seen) {
        if (now_of(tag) != at) {
          valid = false;
          ++invalidations_[tag];
        }
      }
      if (valid) {
        ++hits_;
        return {it->second.resolved, true};
      }
      entries_.erase(it);
    }
    ++misses_;
  }
  auto resolved = std::make_shared<const cfg::Resolved>(model.resolve(q, process));
  Entry e{q.tenant, resolved, {}};
  for (const auto& tag : dependency_keys(*resolved)) e.seen[tag] = now_of(tag);
  std::lock_guard lock(mu_);
  entries_[key] = std::move(e);
  return {resolved, false};
}

std::int64_t ResolvedCache::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}
std::int64_t ResolvedCache::misses() const {
  std::lock_guard lock(mu_);
  return misses_;
}
std::int64_t ResolvedCache::invalidations(const std::string& tag) const {
  std::lock_guard lock(mu_);
  auto it = invalidations_.find(tag);
  return it == invalidations_.end() ? 0 : it->second;
}
std::size_t ResolvedCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

std::size_t ResolvedCache::drop(const std::string& tenant) {
  std::lock_guard lock(mu_);
  if (tenant.empty()) {
    const std::size_t n = entries_.size();
    entries_.clear();
    return n;
  }
  std::size_t n = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.tenant == tenant) {
      it = entries_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

std::string ResolvedCache::metrics_text() const {
  std::lock_guard lock(mu_);
  std::string out = "ledger_config_cache_hits_total " + std::to_string(hits_) + "\n" +
                    "ledger_config_cache_misses_total " + std::to_string(misses_) + "\n";
  for (const auto& [tag, n] : invalidations_) {
    out += "ledger_config_cache_invalidations_total{key=\"" + tag + "\"} " + std::to_string(n) + "\n";
  }
  return out;
}

}  // namespace ledger::projections::config
