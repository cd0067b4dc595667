// The resolved-configuration cache of the query service (seed 004 part 7):
// resolved views (domain::config::ConfigModel::resolve) kept per query, each
// with the cache keys it depends on (the seed's risk_config_{tenant},
// agent_config_{tenant}_{agent_type}, service_type_{type}_default,
// global_{key}, service_config_..., "global_keys", "process_settings") and
// the position each had last changed at when it was computed.
//
// Precise invalidation: an entry is answered only while every key it
// depends on is unchanged in the caller's snapshot; a write changes exactly
// its own key, so it invalidates exactly the views that read its layer —
// a write to one tenant's risk layer leaves every other tenant's views (and
// that tenant's other agents' views, if they do not share it) cached. Never
// a flush of everything. Position-based, so both copies of the left-right
// store (projections/admission/admission_store.h) agree on validity.
// Counters: hits, misses, and invalidations per cache key (metrics_text()).
//
// Thread-safe (one mutex; entries are shared_ptr so answers never copy).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "domain/config/config_model.h"

namespace ledger::projections::config {

class ResolvedCache {
 public:
  struct Lookup {
    std::shared_ptr<const domain::config::Resolved> resolved;
    bool hit = false;
  };

  // The view of `q` at the snapshot `model` (with `process` as the
  // process-settings layer and `process_generation` counting its reloads).
  Lookup resolve(const domain::config::ConfigModel& model, const domain::config::ResolveQuery& q,
                 const domain::config::Json& process, std::int64_t process_generation);

  std::int64_t hits() const;
  std::int64_t misses() const;
  // How many cached views a change of `tag` invalidated.
  std::int64_t invalidations(const std::string& tag) const;
  std::size_t size() const;
  // Drops the entries of one tenant (or every entry when `tenant` is
  // empty); returns how many (the operator reload's `invalidate`).
  std::size_t drop(const std::string& tenant);
  // Prometheus text of the counters.
  std::string metrics_text() const;

 private:
  struct Entry {
    std::string tenant;
    std::shared_ptr<const domain::config::Resolved> resolved;
    std::map<std::string, std::int64_t> seen;  // cache key -> last change when computed
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // by query
  std::int64_t hits_ = 0, misses_ = 0;
  std::map<std::string, std::int64_t> invalidations_;
};

// The cache keys a view of `q` depends on (given the layers it used).
std::vector<std::string> dependency_keys(const domain::config::Resolved& r);

}  // namespace ledger::projections::config
