// Plan entitlements (seed 003): capabilities, plans, policies with immutable
// versions, activation per environment, and the entitlement check. Pure: no
// I/O, no clock (time and the acting principal are passed in).
//
//   EntitlementsModel m;                       // evolve with every entitlement event
//   m.apply(meta, event);
//   auto d = decide(m, Command{ActivateVersion{...}}, ctx);   // Result<Decided>: stream + events
//   auto c = m.check({tenant, "production", plan, "export-data"});  // CheckResult, default deny
//
// Tenant: a product space owned by platform admins (events/entitlement_events.h
// says why); every command and check names it (default "default").
//
// Capability lifecycle:   active -> deprecated -> retired
//   (retire only after deprecate: `retire_requires_deprecation`; a deprecated
//   capability is still evaluated, a retired one answers unknown_capability)
// Plan lifecycle:         active -> archived   (archived: not assignable to a new organization)
// Policy version status (derived from the events, never stored):
//
//     draft ──activate──> active ──another version activated in every env it was active in──> superseded
//       │                   ▲                                                                    │
//       │                   └──────────────── re-activated (rollback) ───────────────────────────┘
//       └──archive──> archived   (draft or superseded only; `version_active` while active anywhere)
//
// A version is `active` while it is the active version of at least one
// environment. Exactly one version is active per (policy, environment) once
// any was activated there; an activation supersedes the previous one in
// that environment only, in the same event (atomic).
//
// Thread-compatible: one writer mutates a model; const methods may be called
// concurrently on a model nobody mutates.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/error.h"
#include "events/event.h"

namespace ledger::domain::entitlements {

inline constexpr std::string_view kDefaultTenant = "default";
inline constexpr std::string_view kEnvironments[] = {"dev", "staging", "production"};
inline constexpr std::string_view kPlanAllowlist = "plan-allowlist";

// ----------------------------------------------------------------- commands

struct DefineCapability {
  std::string tenant, name, description;
  std::string capability_id;  // empty: "cap-<name>"
};
struct DeprecateCapability {
  std::string tenant, capability_id, reason;
};
struct RetireCapability {
  std::string tenant, capability_id, reason;
};
struct DefinePlan {
  std::string tenant, plan_id, display_name, description;
};
struct UpdatePlan {
  std::string tenant, plan_id;
  std::optional<std::string> display_name, description;
};
struct ArchivePlan {
  std::string tenant, plan_id, reason;
};
struct Rules {
  std::string type = std::string(kPlanAllowlist);
  std::vector<std::string> allowed_plans;
  std::vector<std::string> deny_overrides;
  friend bool operator==(const Rules&, const Rules&) = default;
};
// Creates the policy of a capability with its version 1 (draft).
struct CreatePolicy {
  std::string tenant, capability_id, name, description;
  Rules rules;
  std::string changelog;  // empty: "initial version"
  std::string policy_id;  // empty: default_policy_id(capability_id)
};
struct CreateVersion {
  std::string tenant, policy_id;
  Rules rules;
  std::string changelog;
};
// A shadow report (shadow.h, POST .../versions/{v}:shadow) as an
// activation presents it: what it was about, when and over which window it
// was made, its figures, and the whole report as signed by the query
// service (`report`, canonical JSON without its signature). The command
// service checks `signature` against `report` before decide() sees it
// (`verified`); decide() checks what it is about and its age.
struct ShadowEvidence {
  std::string policy_id, version_id, environment;
  events::Instant generated_at;
  std::string from, to;
  std::int64_t snapshot_version = 0, considered = 0, checked = 0, allow_to_deny = 0, deny_to_allow = 0;
  std::string report, signature;
  bool verified = false;
};
struct ActivateVersion {
  std::string tenant, policy_id, version_id, environment, changelog;
  std::optional<ShadowEvidence> shadow = {};
};
struct ArchiveVersion {
  std::string tenant, policy_id, version_id, reason;
};
// A product space's settings (events::EntitlementSettingsChanged).
struct ConfigureSpace {
  std::string tenant;
  bool require_progression = false;
  // shadow_required (seconds; 0 turns it off); nullopt leaves it as it is.
  std::optional<std::int64_t> shadow_max_age_seconds = {};
};

using Command = std::variant<DefineCapability, DeprecateCapability, RetireCapability, DefinePlan, UpdatePlan,
                             ArchivePlan, CreatePolicy, CreateVersion, ActivateVersion, ArchiveVersion, ConfigureSpace>;

// "capability.define", "policy.activate", ... (commands/decode.h lists them).
std::string command_type(const Command& c);

// Who acts and when; `actor` becomes created_by / activated_by.
struct Context {
  std::string actor;
  events::Instant now;
};

// What one accepted command appends: events for one stream.
struct Decided {
  std::string stream_id;
  std::vector<events::Event> events;
};

// ------------------------------------------------------------------ state

struct Capability {
  std::string id, name, description;
  std::string status = "active";  // active | deprecated | retired
  std::int64_t defined_position = 0;
  events::Instant defined_at;
  std::int64_t deprecated_position = 0;  // 0: not (yet)
  std::int64_t retired_position = 0;
  events::Instant retired_at;
};
struct Plan {
  std::string id, display_name, description;
  std::string status = "active";  // active | archived
  events::Instant defined_at, updated_at;
};
struct Version {
  std::string id;
  std::int64_t version = 0;
  Rules rules;
  std::string changelog, created_by;
  std::int64_t created_position = 0;
  events::Instant created_at;
  bool archived = false;
  std::int64_t archived_position = 0;  // when it was archived (0: not archived)
  events::Instant archived_at;
  bool ever_active = false;
};
// One activation, as recorded (the history of an environment).
struct Activation {
  std::string activation_id, version_id;
  std::int64_t version = 0;
  std::string environment, superseded_version_id, changelog, activated_by;
  std::int64_t position = 0;
  events::Instant at;
};
struct Policy {
  std::string id, capability_id, name, description;
  std::int64_t created_position = 0;
  events::Instant created_at;
  std::vector<Version> versions;              // index = version - 1
  std::vector<Activation> activations;        // every environment, in order
  std::map<std::string, std::size_t> active;  // environment -> index into `activations` of the current one

  const Version* version(std::string_view version_id) const;
  // draft | active | superseded | archived
  std::string status_of(const Version& v) const;
  // The activation current in `environment` among those at or below the
  // cut (position and/or recorded time); nullptr when none.
  const Activation* active_at(std::string_view environment, std::int64_t max_position,
                              std::optional<events::Instant> max_time) const;
};
struct Space {
  std::map<std::string, Capability> capabilities;  // by id
  std::map<std::string, std::string> capability_by_name;
  std::map<std::string, Plan> plans;
  std::map<std::string, Policy> policies;  // by id
  std::map<std::string, std::string> policy_by_capability;
  bool require_progression = false;  // dev -> staging -> production
  // shadow_required: a production activation presents a verified shadow
  // report of that version at most this old (seconds); 0: not required.
  std::int64_t shadow_max_age_seconds = 0;
};

// ------------------------------------------------------------------ checks

// reason: plan_allowed | plan_not_allowed | deny_override | no_active_policy | unknown_capability
struct CheckResult {
  bool allowed = false;
  std::string reason;
  std::string policy_id, version_id, activation_id, capability_id;
  std::int64_t version = 0;
};

struct CheckInput {
  std::string tenant, environment, plan, capability;  // capability: its name
};

// A cut of history: only what was recorded at or below `position` (0: no
// limit) and at or before `time` (nullopt: no limit).
struct Cut {
  std::int64_t position = 0;
  std::optional<events::Instant> time;
  bool admits(std::int64_t p, events::Instant t) const {
    return (position <= 0 || p <= position) && (!time || t <= *time);
  }
};

// A version's status as of `cut` (a cut admitting everything: the status
// now): archived from the archiving on; active while the activation current
// in some environment at the cut names it; superseded once it was active
// before the cut; else draft. Versions created after the cut have none.
std::string status_at(const Policy& p, const Version& v, const Cut& cut);

// The seed's PolicyEvaluationSnapshot.
struct EvaluationSnapshot {
  std::string capability_id, capability_name, capability_status, policy_id, version_id, activation_id;
  std::int64_t version = 0;
  Rules rules;
  events::Instant effective_from;
  std::int64_t effective_position = 0;
};

class EntitlementsModel {
 public:
  // Evolves with one entitlement event (others are ignored). `meta` gives
  // positions and times (zero on the command side before commit).
  void apply(const events::EventMeta& meta, const events::Event& e);

  const Space* space(std::string_view tenant) const;
  const Capability* capability(std::string_view tenant, std::string_view id) const;
  const Capability* capability_named(std::string_view tenant, std::string_view name) const;
  const Plan* plan(std::string_view tenant, std::string_view id) const;
  const Policy* policy(std::string_view tenant, std::string_view id) const;
  std::int64_t stream_version(const std::string& stream_id) const;

  // True when a product space archived `plan_id`: it may not be newly
  // assigned to an organization (unknown plans stay assignable).
  bool plan_archived(std::string_view plan_id) const;

  // Default deny. Everything here is decided by the model's own state.
  CheckResult check(const CheckInput& in) const;
  // The same over history cut at `cut` (as_of / as_of_position).
  CheckResult check(const CheckInput& in, const Cut& cut) const;
  // Every capability's active policy in (tenant, environment), by name.
  std::vector<EvaluationSnapshot> active(std::string_view tenant, std::string_view environment, const Cut& cut) const;

 private:
  std::map<std::string, Space, std::less<>> spaces_;
  std::map<std::string, std::int64_t> stream_versions_;
  std::map<std::string, int> archived_plans_;  // plan id -> product spaces that archived it
};

// The event types this model evolves with (the writer loads them by type).
const std::vector<std::string>& entitlement_event_types();

// Decides one command against the model: the events of one stream, or a
// refusal with a stable code (see the README's entitlement error table).
Result<Decided> decide(const EntitlementsModel& m, const Command& c, const Context& ctx);

// Pure validations, exposed for the decoders and tests.
Result<void> check_capability_name(std::string_view name);  // `invalid_capability_name`
Result<void> check_environment(std::string_view env);       // `invalid_environment`
bool valid_id(std::string_view id);                         // [A-Za-z0-9._:-], 1..128

// Ids the ledger gives when the caller names none: a capability
// "cap-<name>", its policy "pol-<capability id without cap->", version n
// "<policy id>-v<n>", the n-th activation of an environment
// "act-<policy id>-<environment>-<n>".
std::string default_policy_id(std::string_view capability_id);

// Stream ids (events/entitlement_events.h).
std::string capability_stream(std::string_view tenant, std::string_view id);
std::string plan_stream(std::string_view tenant, std::string_view id);
std::string policy_stream(std::string_view tenant, std::string_view id);
std::string version_stream(std::string_view tenant, std::string_view version_id);
std::string activation_stream(std::string_view tenant, std::string_view policy_id, std::string_view env);
std::string settings_stream(std::string_view tenant);

// The version status and the (policy, environment) -> version id map the
// property test compares against a brute force over history.
std::map<std::pair<std::string, std::string>, std::string> active_versions(const EntitlementsModel& m,
                                                                           std::string_view tenant);

}  // namespace ledger::domain::entitlements
