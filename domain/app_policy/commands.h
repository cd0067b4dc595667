// Commands of per-application policy chains (seed 002) and their rules,
// decided against the admission model (which holds the organizations and,
// in AdmissionModel::apps(), the applications and their chains).
//
//   application.register {application_id, organization_id?, name}
//   application.rename   {application_id, organization_id?, name}
//   application.retire   {application_id, organization_id?, reason?}
//   app_policy.attach    {application_id, organization_id?, policy_type, config, enabled?, index?, reason?}
//   app_policy.update    {policy_id, config?, enabled?, index?, reason?}
//   app_policy.detach    {policy_id, reason?}
//
// A tenant's organization_id defaults to its own; a platform principal
// names it (400 `missing_field`). Policy ids are assigned by the command
// service (commands/command_service.cc) from the caller and its command id,
// so a retry gets the same id and no caller can choose one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "domain/admission.h"
#include "domain/app_policy/policy_types.h"

namespace ledger::domain::app_policy {

inline constexpr std::size_t kMaxChainLength = 64;

struct RegisterApplication {
  std::string application_id;
  std::string organization_id;
  std::string name;
  friend bool operator==(const RegisterApplication&, const RegisterApplication&) = default;
};
struct RenameApplication {
  std::string application_id;
  std::string organization_id;
  std::string name;
  friend bool operator==(const RenameApplication&, const RenameApplication&) = default;
};
struct RetireApplication {
  std::string application_id;
  std::string organization_id;
  std::string reason;
  friend bool operator==(const RetireApplication&, const RetireApplication&) = default;
};
struct AttachPolicy {
  std::string application_id;
  std::string organization_id;
  std::string policy_id;  // assigned by the command service
  std::string policy_type;
  std::string config = "{}";  // canonical JSON text of an object
  bool enabled = true;
  std::optional<std::int64_t> index;  // default: the end of the chain
  std::string reason;
  friend bool operator==(const AttachPolicy&, const AttachPolicy&) = default;
};
struct UpdatePolicy {
  std::string policy_id;
  std::optional<std::string> config;  // canonical JSON text
  std::optional<bool> enabled;
  std::optional<std::int64_t> index;
  std::string reason;
  friend bool operator==(const UpdatePolicy&, const UpdatePolicy&) = default;
};
struct DetachPolicy {
  std::string policy_id;
  std::string reason;
  friend bool operator==(const DetachPolicy&, const DetachPolicy&) = default;
};

// Errors: 404 `unknown_organization`, `unknown_application`,
// `unknown_policy`; 409 `already_exists` (an application id taken in the
// organization); 422 `application_retired`, `chain_full`, `invalid_index`,
// and whatever PolicyTypes::construct refuses (`unknown_policy_type` 400,
// `invalid_policy_config` / `invalid_expression` 422, `cel_unavailable` 503).
// A command that changes nothing (same name, same config and flag and
// place, an application retired already) has no events.
Result<Decided> decide(const AdmissionModel& m, const RegisterApplication& c);
Result<Decided> decide(const AdmissionModel& m, const RenameApplication& c);
Result<Decided> decide(const AdmissionModel& m, const RetireApplication& c);
Result<Decided> decide(const AdmissionModel& m, const AttachPolicy& c, const PolicyDeps& deps);
Result<Decided> decide(const AdmissionModel& m, const UpdatePolicy& c, const PolicyDeps& deps);
Result<Decided> decide(const AdmissionModel& m, const DetachPolicy& c);

}  // namespace ledger::domain::app_policy

namespace ledger::domain {
// The command service calls domain::decide for every command of the model.
using app_policy::decide;
}  // namespace ledger::domain
