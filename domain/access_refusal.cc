#include "domain/access_refusal.h"

#include <algorithm>

namespace ledger::domain {

std::string access_refusals_stream_id(const std::string& target_tenant) { return "access-refusals:" + target_tenant; }

Result<Decided> decide(const RecordAccessRefusal& c) {
  const auto& r = c.refusal;
  auto invalid = [](std::string field) {
    Error e{ErrorKind::kInvalidArgument, "invalid_field", "field '" + field + "' must be 1 to 256 characters", {}};
    e.with("field", std::move(field));
    return std::unexpected(std::move(e));
  };
  const std::pair<const char*, const std::string*> fields[] = {
      {"actor_type", &r.actor_type},       {"actor_id", &r.actor_id},         {"principal_tenant", &r.principal_tenant},
      {"target_tenant", &r.target_tenant}, {"route_family", &r.route_family}, {"method", &r.method},
      {"target", &r.target}};
  for (const auto& [name, value] : fields) {
    if (value->empty() || value->size() > 256) return invalid(name);
  }
  if (r.actor_roles.size() > 32) return invalid("actor_roles");
  for (const auto& role : r.actor_roles) {
    if (role.empty() || role.size() > 256) return invalid("actor_roles");
  }
  if (std::find(std::begin(kAccessRefusalReasons), std::end(kAccessRefusalReasons), r.reason) ==
      std::end(kAccessRefusalReasons)) {
    Error e{ErrorKind::kInvalidArgument, "invalid_field", "reason must be role_not_allowed, tenant_mismatch or platform_only_key", {}};
    e.with("field", "reason");
    return std::unexpected(std::move(e));
  }
  Decided d{access_refusals_stream_id(r.target_tenant), r.target_tenant, {}};
  d.events.push_back(r);
  return d;
}

}  // namespace ledger::domain
