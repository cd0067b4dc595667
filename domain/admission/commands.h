// The admission commands (seed 001) and their decide(): one command against
// the model -> the events for its stream, or a rejection. Each group is
// decided beside the rules it applies: RegisterEntry in registry.cc, the
// hierarchy commands in hierarchy.cc, the ceiling commands in
// ceiling_rules.cc, the reservation commands in reservations.cc.
//
//   Result<Decided> d = decide(model, SetCeiling{scope, target, 100, "", "quarterly budget"}, now);
//   // on success: d->events go to d->stream_id (none: nothing changed)
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "domain/admission/ceiling_rules.h"
#include "domain/admission/hierarchy.h"
#include "domain/admission/model.h"
#include "domain/error.h"
#include "events/admission_events.h"
#include "events/event.h"

namespace ledger::domain {

struct RegisterEntry {
  std::string kind, entry_id, description;
  std::map<std::string, std::string> attributes;
};
struct CreateOrganization {
  std::string organization_id, name, plan_id, default_department_id;  // default: "<org>.default"
};
struct ChangeOrganizationPlan {
  std::string organization_id, plan_id;
};
struct CreateDepartment {
  std::string department_id, organization_id, parent_department_id, name;
};
struct MoveDepartment {
  std::string department_id, parent_department_id;
};
struct CreateProject {
  std::string project_id, organization_id, department_id, name;  // department default: the org's default
};
struct MoveProject {
  std::string project_id, department_id;
};
struct CreatePrincipal {
  std::string principal_id, principal_type, project_id, name;
  std::optional<Instant> expires_at;
};
struct SetCeiling {
  QuotaScope scope;
  CeilingTarget target;
  std::int64_t quantity = 0;
  std::string unit;
  std::string reason;
};
struct ClearCeiling {
  QuotaScope scope;
  CeilingTarget target;
  std::string reason;
};
struct DelegateCeiling {
  QuotaScope scope;
  std::string dimension;
  std::optional<std::int64_t> max_quantity;
  std::string reason;
};
struct RevokeDelegation {
  QuotaScope scope;
  std::string dimension;
  std::string reason;
};
struct DraftReservation {
  std::string reservation_id;
  QuotaScope owner;
  std::string kind, dimension, region, sku_or_model;
  std::int64_t quantity = 0;
  std::string unit;
  Instant window_start, window_end;
  std::map<std::string, std::string> attributes;
  std::string reason;
};
// A reservation is named by (organization_id, reservation_id): ids are
// unique within an organization only, so two organizations may each have
// a reservation "r1" and neither can see or touch the other's. The commands
// below resolve their id within `organization_id` (the command service sets
// it to a tenant principal's own organization when the body leaves it out;
// a platform principal names it). Empty: 400 `missing_field`.
//
// activate, suspend, resume, retire, expire (expire: the sweeper, once the
// window has passed).
struct TransitionReservation {
  std::string reservation_id, action, reason;
  std::string organization_id = {};
};
struct ConsumeReservation {
  std::string reservation_id;
  std::int64_t quantity = 0;
  std::string reason;
  std::string organization_id = {};
};
struct ReleaseReservation {
  std::string reservation_id;
  std::int64_t quantity = 0;
  std::string reason;
  std::string organization_id = {};
};

std::string ceiling_rule_id(const QuotaScope& scope, const CeilingTarget& t);
std::string ceilings_stream_id(const QuotaScope& scope);
// "reservation:<organization_id>/<reservation_id>" ('/' is in no id, so it
// is unambiguous). Reservations drafted before ids were scoped per
// organization live on "reservation:<reservation_id>" and stay there: their
// events carry organization_id, and AdmissionModel::Reservation::stream_id
// remembers the stream each one was drafted on.
std::string reservation_stream_id(const std::string& organization_id, const std::string& reservation_id);

// decide: one command against the model -> the events for its stream (the
// stream is returned too), or a rejection. `now` is the writer's clock.
struct Decided {
  std::string stream_id;
  std::string tenant;
  std::vector<events::Event> events;
};
Result<Decided> decide(const AdmissionModel& m, const RegisterEntry& c);
Result<Decided> decide(const AdmissionModel& m, const CreateOrganization& c);
Result<Decided> decide(const AdmissionModel& m, const ChangeOrganizationPlan& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const CreateDepartment& c);
Result<Decided> decide(const AdmissionModel& m, const MoveDepartment& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const CreateProject& c);
Result<Decided> decide(const AdmissionModel& m, const MoveProject& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const CreatePrincipal& c);
Result<Decided> decide(const AdmissionModel& m, const SetCeiling& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const ClearCeiling& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const DelegateCeiling& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const RevokeDelegation& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const DraftReservation& c);
Result<Decided> decide(const AdmissionModel& m, const TransitionReservation& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const ConsumeReservation& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const ReleaseReservation& c);

}  // namespace ledger::domain
