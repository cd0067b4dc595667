// The request gate's policy values (commands/access/request_gate.h) read from the
// in-memory read models (projections/admission/admission_store.h): the same
// answers as ReadModelLimits (adapters/postgres/read_model_limits.h) —
// the principal's project and plan from the hierarchy, its expiry, the
// ledger's token revocations, the rate_limit.* and token-lifetime values —
// without a PostgreSQL statement. While the store has not caught up with
// the ledger at start it asks `fallback` (the PostgreSQL read models), so a
// revocation is never missed during a restart.
// Thread-safe.
#pragma once

#include "commands/access/request_gate.h"
#include "projections/admission/admission_store.h"

namespace ledger::routes {

class MemoryLimits final : public commands::PolicyLimits {
 public:
  MemoryLimits(const projections::AdmissionStore& store, commands::PolicyLimits& fallback, commands::Clock& clock)
      : store_(store), fallback_(fallback), clock_(clock) {}
  domain::Result<std::optional<std::int64_t>> value(std::string_view key, const commands::Principal& who) override;
  domain::Result<std::optional<std::string>> standing(const commands::Principal& who, events::Instant now) override;

 private:
  const projections::AdmissionStore& store_;
  commands::PolicyLimits& fallback_;
  commands::Clock& clock_;
};

}  // namespace ledger::routes
