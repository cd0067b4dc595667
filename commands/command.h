// Commands: what a producer asks the ledger to do, with who asked.
//
// A command arrives over HTTP or on `ledger.commands`, is decoded and
// validated into a CommandRequest, then decided against its stream's state by
// the CommandService. Its `command_id` makes retries safe: the same id
// returns the first outcome and never writes a second set of events.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "domain/access/access_refusal.h"
#include "domain/admission.h"
#include "domain/app_policy/commands.h"
#include "domain/config/config_model.h"
#include "domain/entitlements/entitlements.h"
#include "domain/policy_key.h"
#include "events/event.h"

namespace ledger::commands {

using Command =
    std::variant<domain::DefinePolicyKey, domain::SetPolicyValue,
                 // admission core (domain/admission.h)
                 domain::RegisterEntry, domain::CreateOrganization, domain::ChangeOrganizationPlan,
                 domain::CreateDepartment, domain::MoveDepartment, domain::CreateProject, domain::MoveProject,
                 domain::CreatePrincipal, domain::SetCeiling, domain::ClearCeiling, domain::DelegateCeiling,
                 domain::RevokeDelegation, domain::DraftReservation, domain::TransitionReservation,
                 domain::ConsumeReservation, domain::ReleaseReservation,
                 // access control (domain/access/access_refusal.h)
                 domain::RecordAccessRefusal, domain::RevokeToken,
                 // per-application policy chains (domain/app_policy/commands.h)
                 domain::app_policy::RegisterApplication, domain::app_policy::RenameApplication,
                 domain::app_policy::RetireApplication, domain::app_policy::AttachPolicy,
                 domain::app_policy::UpdatePolicy, domain::app_policy::DetachPolicy,
                 // plan entitlements (domain/entitlements/entitlements.h), one variant of its own
                 domain::entitlements::Command,
                 // layered configuration (domain/config/config_model.h)
                 domain::config::SetConfigLayer, domain::config::ReloadConfig, domain::config::ShredConfigSecrets>;

// True for the policy-key commands (decided per stream); the others are
// decided against the whole admission model.
bool is_policy_command(const Command& c);

// An authenticated caller: the actor stamped on every event it causes and the
// tenant it acts for ("platform" for operators).
struct Principal {
  events::Actor actor;
  std::string tenant;
  // exp - iat of the JWT it came from; nullopt for a static token. The edges
  // hold a service account's token to the live policy value
  // auth.service_account_token_ttl_seconds (commands/access/request_gate.h).
  std::optional<std::int64_t> token_lifetime_seconds = std::nullopt;
  // The JWT's `jti`; nullopt for a static token. Revocations name it.
  std::optional<std::string> token_id = std::nullopt;
};

struct CommandMeta {
  std::string command_id;  // as the caller sent it; scoped to the caller (commands/idempotency.h)
  Principal principal;
  std::string correlation_id;
  std::string causation_id;
  // SHA-256 of the canonical request (commands/idempotency.h, request_hash):
  // the same key with another body is `idempotency_key_reused`.
  std::string request_hash = {};
  // Set only by the ledger's own code (the reservation sweeper): the command's
  // idempotency key lives in the internal namespace, out of every caller's reach.
  bool internal = false;
};

struct CommandRequest {
  CommandMeta meta;
  Command command;
  std::optional<events::StreamVersion> expected_version;  // of the command's stream
};

// The command type a command was decoded from (commands/decode.h), e.g.
// "reservation.activate".
std::string command_type(const Command& c);

// The stream a policy-key command is decided on.
std::string stream_of(const Command& c);
// The tenant a policy-key command's events belong to: the organization named
// by the scope, else the caller's tenant.
std::string tenant_of(const Command& c, const Principal& p);

}  // namespace ledger::commands
