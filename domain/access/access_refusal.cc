#include "domain/access/access_refusal.h"
#include "domain/text.h"

#include <algorithm>

namespace ledger::domain {

std::string access_refusals_stream_id(const std::string& target_tenant) { return "access-refusals:" + target_tenant; }

namespace {
constexpr std::size_t kMaxChars = 256;
constexpr std::size_t kMaxRoles = 32;
}  // namespace

events::AccessRefused bounded(events::AccessRefused r) {
  for (std::string* s :
       {&r.actor_type, &r.actor_id, &r.principal_tenant, &r.target_tenant, &r.route_family, &r.method, &r.target}) {
    s->resize(first_code_points(*s, kMaxChars).size());
  }
  if (r.actor_roles.size() > kMaxRoles) r.actor_roles.resize(kMaxRoles);
  for (auto& role : r.actor_roles) role.resize(first_code_points(role, kMaxChars).size());
  return r;
}

Result<Decided> decide(const RecordAccessRefusal& c) {
  const auto& r = c.refusal;
  auto invalid = [](std::string field) {
    Error e{ErrorKind::kInvalidArgument, "invalid_field", "field '" + field + "' must be 1 to 256 characters", {}};
    e.with("field", std::move(field));
    return std::unexpected(std::move(e));
  };
  const std::pair<const char*, const std::string*> fields[] = {{"actor_type", &r.actor_type},
                                                               {"actor_id", &r.actor_id},
                                                               {"principal_tenant", &r.principal_tenant},
                                                               {"target_tenant", &r.target_tenant},
                                                               {"route_family", &r.route_family},
                                                               {"method", &r.method},
                                                               {"target", &r.target}};
  for (const auto& [name, value] : fields) {
    if (value->empty() || code_points(*value) > kMaxChars) return invalid(name);
  }
  if (r.actor_roles.size() > kMaxRoles) return invalid("actor_roles");
  for (const auto& role : r.actor_roles) {
    if (role.empty() || code_points(role) > kMaxChars) return invalid("actor_roles");
  }
  if (std::find(std::begin(kAccessRefusalReasons), std::end(kAccessRefusalReasons), r.reason) ==
      std::end(kAccessRefusalReasons)) {
    Error e{ErrorKind::kInvalidArgument,
            "invalid_field",
            "reason must be role_not_allowed, tenant_mismatch or platform_only_key",
            {}};
    e.with("field", "reason");
    return std::unexpected(std::move(e));
  }
  Decided d{access_refusals_stream_id(r.target_tenant), r.target_tenant, {}};
  d.events.emplace_back(r);
  return d;
}

std::string token_revocations_stream_id(const std::string& tenant) { return "token-revocations:" + tenant; }

Result<Decided> decide(const RevokeToken& c) {
  auto invalid = [](std::string field, std::string message) {
    Error e{ErrorKind::kInvalidArgument, "invalid_field", std::move(message), {}};
    e.with("field", std::move(field));
    return std::unexpected(std::move(e));
  };
  if (c.tenant.empty() || code_points(c.tenant) > 256)
    return invalid("tenant", "field 'tenant' must be 1 to 256 characters");
  if (c.principal_id.empty() == c.token_id.empty()) {
    return invalid("principal_id", "exactly one of principal_id and token_id is required");
  }
  if (code_points(c.principal_id) > 256)
    return invalid("principal_id", "field 'principal_id' must be 1 to 256 characters");
  if (code_points(c.token_id) > 256) return invalid("token_id", "field 'token_id' must be 1 to 256 characters");
  if (c.reason.empty() || code_points(c.reason) > 1024)
    return invalid("reason", "field 'reason' must be 1 to 1024 characters");
  Decided d{token_revocations_stream_id(c.tenant), c.tenant, {}};
  d.events.emplace_back(events::TokenRevoked{c.tenant, c.principal_id, c.token_id, c.reason});
  return d;
}

}  // namespace ledger::domain
