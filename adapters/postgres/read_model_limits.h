// The request gate's policy values (commands/access/request_gate.h), read from the
// read models: the principal's project and plan come from the admission read
// model; a principal the hierarchy does not know resolves at user,
// organization and global scope. Values are resolved at the current instant
// over the latest snapshot. standing() reads what the ledger records about
// the principal itself.
#pragma once

#include "commands/access/request_gate.h"

namespace ledger::adapters::postgres {
class PgPolicyQueries;
class PgAdmissionQueries;
}  // namespace ledger::adapters::postgres

namespace ledger::adapters::postgres {

class ReadModelLimits final : public commands::PolicyLimits {
 public:
  ReadModelLimits(adapters::postgres::PgPolicyQueries& policy, adapters::postgres::PgAdmissionQueries& admission,
                  commands::Clock& clock)
      : policy_(policy), admission_(admission), clock_(clock) {}
  domain::Result<std::optional<std::int64_t>> value(std::string_view key, const commands::Principal& who) override;
  // A principal the admission read model holds (same id, same organization)
  // whose expires_at has passed: "principal_expired"; a principal or JWT
  // revoked by token.revoke: "principal_revoked" / "token_revoked".
  domain::Result<std::optional<std::string>> standing(const commands::Principal& who, events::Instant now) override;

 private:
  adapters::postgres::PgPolicyQueries& policy_;
  adapters::postgres::PgAdmissionQueries& admission_;
  commands::Clock& clock_;
};

}  // namespace ledger::adapters::postgres
