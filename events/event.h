// Every event type of the ledger as one variant, plus the envelope that
// carries an event through the store, Kafka and audit exports.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "events/access_events.h"
#include "events/admission_events.h"
#include "events/app_policy_events.h"
#include "events/chain_events.h"
#include "events/config_events.h"
#include "events/entitlement_events.h"
#include "events/policy_events.h"
#include "events/position.h"
#include "events/values.h"

namespace ledger::events {

using Event = std::variant<
    PolicyKeyDefined, PolicyValueSet,
    // admission core (events/admission_events.h)
    RegistryEntryRegistered, OrganizationCreated, OrganizationPlanChanged, DepartmentCreated, DepartmentMoved,
    ProjectCreated, ProjectMoved, PrincipalCreated, CeilingSet, CeilingCleared, CeilingDelegated,
    CeilingDelegationRevoked, ReservationDrafted, ReservationStateChanged, ReservationConsumed, ReservationReleased,
    // access control (events/access_events.h)
    AccessRefused, TokenRevoked,
    // per-application policy chains (events/app_policy_events.h)
    ApplicationRegistered, ApplicationRenamed, ApplicationRetired, PolicyAttached, PolicyUpdated, PolicyDetached,
    // the writer's signed anchors (events/chain_events.h)
    ChainHeadSigned,
    // plan entitlements (events/entitlement_events.h)
    CapabilityDefined, CapabilityDeprecated, CapabilityRetired, PlanDefined, PlanUpdated, PlanArchived,
    EntitlementPolicyCreated, PolicyVersionCreated, PolicyVersionActivated, PolicyVersionArchived,
    EntitlementSettingsChanged,
    // layered configuration (events/config_events.h)
    ConfigLayerSet, ConfigReloaded, ConfigSecretsShredded>;

// Stable type name and current schema version of an event.
inline const char* type_name(const Event& e) {
  return std::visit([](const auto& x) { return std::decay_t<decltype(x)>::kType; }, e);
}
inline int schema_version(const Event& e) {
  return std::visit([](const auto& x) { return std::decay_t<decltype(x)>::kSchemaVersion; }, e);
}

// Who caused an event: taken from the authenticated principal, never from a
// request body.
struct Actor {
  std::string type;  // user, service_account, api_key, worker, system
  std::string id;
  std::vector<std::string> roles;
  friend bool operator==(const Actor&, const Actor&) = default;
};

// The envelope fields of ARCHITECTURE.md that every event carries.
// `global_position` is the consistency token: gap-free and strictly increasing
// in commit order across the whole ledger.
struct EventMeta {
  GlobalPosition global_position;
  std::string stream_id;
  StreamVersion stream_version;  // 1-based within the stream
  std::string event_id;          // UUID
  Instant occurred_at;           // business time of the command
  Instant recorded_at;           // commit time, assigned by the writer
  Actor actor;
  std::string tenant;  // organization id or "platform"; the Kafka key
  std::string correlation_id;
  std::string causation_id;
  std::string command_id;
  friend bool operator==(const EventMeta&, const EventMeta&) = default;
};

// An event exactly as it was recorded: type and schema version as written,
// the payload as canonical JSON text, and its link in the hash chain.
// `hash` = SHA-256 over the canonical JSON of every other field (prev_hash
// included), so each event seals the whole history before it. This is what
// the store holds, the relay publishes and an audit export contains; it is
// never rewritten, even when its schema version is old.
struct RecordedEvent {
  EventMeta meta;
  std::string event_type;
  int schema_version = 0;
  std::string payload;    // canonical JSON object
  std::string prev_hash;  // 64 hex digits; kGenesisHash before the first event
  std::string hash;
  friend bool operator==(const RecordedEvent&, const RecordedEvent&) = default;
};

// What aggregates and projectors see: the envelope with its payload decoded
// and upcast to the current schema version.
struct Envelope {
  EventMeta meta;
  Event event;
};

inline constexpr const char* kGenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";

}  // namespace ledger::events
