// Decoding of the admission commands (commands/decode.h lists them).
#include <nlohmann/json.hpp>

#include "commands/decode.h"
#include "commands/field_reader.h"
#include "domain/text.h"
#include "events/codec/rfc3339.h"

namespace ledger::commands {
namespace {

using domain::QuotaLevel;
using domain::QuotaScope;
using Json = nlohmann::json;

// The typed readers of the admission commands (commands/field_reader.h).
class Fields : public FieldReader {
 public:
  using FieldReader::FieldReader;

  std::string str(const char* name, bool required, std::size_t max_len = 128) {
    known(name);
    auto it = body_.find(name);
    if (it == body_.end() || it->is_null()) {
      if (required) fail("missing_field", std::string("field '") + name + "' is required", name);
      return {};
    }
    if (!it->is_string()) {
      fail("invalid_field", std::string("field '") + name + "' must be a string", name);
      return {};
    }
    std::string s = it->get<std::string>();
    if ((required && s.empty()) || domain::code_points(s) > max_len) {
      fail("invalid_field", std::string("field '") + name + "' must be 1 to " + std::to_string(max_len) + " characters",
           name);
    }
    return s;
  }
  // Quantities: JSON integers only (no floats, strings or numbers past 64 bits).
  std::optional<std::int64_t> quantity(const char* name, bool required) {
    known(name);
    auto it = body_.find(name);
    if (it == body_.end() || it->is_null()) {
      if (required) fail("missing_field", std::string("field '") + name + "' is required", name);
      return std::nullopt;
    }
    if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<std::uint64_t>() > std::uint64_t(INT64_MAX))) {
      fail("invalid_quantity", std::string("field '") + name + "' must be a whole number", name);
      return std::nullopt;
    }
    const std::int64_t v = it->get<std::int64_t>();
    if (v < 0) fail("invalid_quantity", std::string("field '") + name + "' must not be negative", name);
    return v;
  }
  std::optional<events::Instant> instant(const char* name, bool required) {
    std::string s = str(name, required, 64);
    if (s.empty() || failed()) return std::nullopt;
    auto t = codec::parse_instant(s);
    if (!t) fail("invalid_field", std::string("field '") + name + "' must be an RFC 3339 instant", name);
    return t;
  }
  QuotaScope scope(const char* name) {
    known(name);
    auto it = body_.find(name);
    if (it == body_.end() || !it->is_object()) {
      fail("invalid_scope", std::string("field '") + name + "' must be {level, id}", name);
      return {};
    }
    for (auto f = it->begin(); f != it->end(); ++f) {
      if (f.key() != "level" && f.key() != "id") {
        fail("invalid_scope", std::string(name) + " accepts level and id only", std::string(name) + "." + f.key());
        return {};
      }
    }
    auto level = it->find("level");
    auto l =
        level != it->end() && level->is_string() ? domain::parse_quota_level(level->get<std::string>()) : std::nullopt;
    if (!l) {
      fail("invalid_scope", "level must be global, plan, organization, department, project or principal", name);
      return {};
    }
    auto id = it->find("id");
    std::string sid = id != it->end() && id->is_string() ? id->get<std::string>() : "";
    if (id != it->end() && !id->is_string()) {
      fail("invalid_scope", "id must be a string", name);
      return {};
    }
    if ((*l == QuotaLevel::kGlobal) != sid.empty()) {
      fail("invalid_scope", "the global scope has no id; every other scope needs one", name);
      return {};
    }
    return QuotaScope{*l, sid};
  }
  std::map<std::string, std::string> attributes(const char* name) {
    known(name);
    std::map<std::string, std::string> out;
    auto it = body_.find(name);
    if (it == body_.end() || it->is_null()) return out;
    if (!it->is_object() || it->size() > 32) {
      fail("invalid_field", std::string("field '") + name + "' must be an object of at most 32 strings", name);
      return out;
    }
    for (auto f = it->begin(); f != it->end(); ++f) {
      if (!f->is_string() || domain::code_points(f.key()) > 64 ||
          domain::code_points(f->get_ref<const std::string&>()) > 256) {
        fail("invalid_field", std::string("field '") + name + "' must map short names to strings", name);
        return out;
      }
      out[f.key()] = f->get<std::string>();
    }
    return out;
  }
  std::vector<std::string> strings(const char* name, std::size_t max_items, std::size_t max_len) {
    known(name);
    std::vector<std::string> out;
    auto it = body_.find(name);
    if (it == body_.end() || it->is_null()) return out;
    if (!it->is_array() || it->size() > max_items) {
      fail("invalid_field",
           std::string("field '") + name + "' must be an array of at most " + std::to_string(max_items) + " strings",
           name);
      return out;
    }
    for (const auto& x : *it) {
      if (!x.is_string() || x.get_ref<const std::string&>().empty() ||
          domain::code_points(x.get_ref<const std::string&>()) > max_len) {
        fail("invalid_field",
             std::string("field '") + name + "' must hold strings of 1 to " + std::to_string(max_len) + " characters",
             name);
        return out;
      }
      out.push_back(x.get<std::string>());
    }
    return out;
  }
  domain::Result<Command> done(Command c) {
    if (auto refused = finish(); !refused) return std::unexpected(std::move(refused.error()));
    return c;
  }
};

domain::CeilingTarget target(Fields& f) {
  domain::CeilingTarget t;
  t.dimension = f.str("dimension", true);
  t.window = f.str("window", false, 16);
  t.region = f.str("region", false);
  t.sku_or_model = f.str("sku_or_model", false);
  return t;
}

}  // namespace

std::optional<domain::Result<Command>> decode_admission_command(std::string_view type, const Json& b) {
  Fields f(b);
  if (type == "registry.register") {
    domain::RegisterEntry c{f.str("kind", true, 32), f.str("entry_id", true), f.str("description", false, 1024),
                            f.attributes("attributes")};
    return f.done(std::move(c));
  }
  if (type == "organization.create") {
    domain::CreateOrganization c{f.str("organization_id", true), f.str("name", false, 256), f.str("plan_id", true),
                                 f.str("default_department_id", false)};
    return f.done(std::move(c));
  }
  if (type == "organization.change_plan") {
    return f.done(domain::ChangeOrganizationPlan{f.str("organization_id", true), f.str("plan_id", true)});
  }
  if (type == "department.create") {
    domain::CreateDepartment c{f.str("department_id", true), f.str("organization_id", true),
                               f.str("parent_department_id", false), f.str("name", false, 256)};
    return f.done(std::move(c));
  }
  if (type == "department.move") {
    return f.done(domain::MoveDepartment{f.str("department_id", true), f.str("parent_department_id", false)});
  }
  if (type == "project.create") {
    domain::CreateProject c{f.str("project_id", true), f.str("organization_id", true), f.str("department_id", false),
                            f.str("name", false, 256)};
    return f.done(std::move(c));
  }
  if (type == "project.move") {
    return f.done(domain::MoveProject{f.str("project_id", true), f.str("department_id", true)});
  }
  if (type == "principal.create") {
    domain::CreatePrincipal c{f.str("principal_id", true), f.str("principal_type", true, 32), f.str("project_id", true),
                              f.str("name", false, 256), f.instant("expires_at", false)};
    return f.done(std::move(c));
  }
  if (type == "ceiling.set") {
    domain::SetCeiling c;
    c.scope = f.scope("scope");
    c.target = target(f);
    c.quantity = f.quantity("quantity", true).value_or(0);
    c.unit = f.str("unit", false, 64);
    c.reason = f.str("reason", true, 1024);
    return f.done(std::move(c));
  }
  if (type == "ceiling.clear") {
    domain::ClearCeiling c;
    c.scope = f.scope("scope");
    c.target = target(f);
    c.reason = f.str("reason", true, 1024);
    return f.done(std::move(c));
  }
  if (type == "ceiling.delegate") {
    domain::DelegateCeiling c;
    c.scope = f.scope("scope");
    c.dimension = f.str("dimension", true);
    c.max_quantity = f.quantity("max_quantity", false);
    c.reason = f.str("reason", true, 1024);
    return f.done(std::move(c));
  }
  if (type == "ceiling.revoke_delegation") {
    domain::RevokeDelegation c;
    c.scope = f.scope("scope");
    c.dimension = f.str("dimension", true);
    c.reason = f.str("reason", true, 1024);
    return f.done(std::move(c));
  }
  if (type == "reservation.draft") {
    domain::DraftReservation c;
    c.reservation_id = f.str("reservation_id", true);
    c.owner = f.scope("owner");
    c.kind = f.str("kind", true, 32);
    c.dimension = f.str("dimension", true);
    c.region = f.str("region", false);
    c.sku_or_model = f.str("sku_or_model", false);
    c.quantity = f.quantity("quantity", true).value_or(0);
    c.unit = f.str("unit", false, 64);
    c.window_start = f.instant("window_start", true).value_or(events::Instant{});
    c.window_end = f.instant("window_end", true).value_or(events::Instant{});
    c.attributes = f.attributes("attributes");
    c.reason = f.str("reason", false, 1024);
    return f.done(std::move(c));
  }
  for (const char* action : {"activate", "suspend", "resume", "retire", "expire"}) {
    if (type == std::string("reservation.") + action) {
      std::string id = f.str("reservation_id", true);
      std::string reason = f.str("reason", false, 1024);
      return f.done(domain::TransitionReservation{id, action, reason, f.str("organization_id", false)});
    }
  }
  if (type == "reservation.consume" || type == "reservation.release") {
    std::string id = f.str("reservation_id", true);
    std::int64_t q = f.quantity("quantity", true).value_or(0);
    std::string reason = f.str("reason", false, 1024);
    std::string org = f.str("organization_id", false);
    if (type == "reservation.consume") return f.done(domain::ConsumeReservation{id, q, reason, org});
    return f.done(domain::ReleaseReservation{id, q, reason, org});
  }
  if (type == "access.record_refusal") {
    events::AccessRefused r;
    r.actor_type = f.str("actor_type", true, 256);
    r.actor_id = f.str("actor_id", true, 256);
    r.actor_roles = f.strings("actor_roles", 32, 256);
    r.principal_tenant = f.str("principal_tenant", true, 256);
    r.target_tenant = f.str("target_tenant", true, 256);
    r.route_family = f.str("route_family", true, 256);
    r.method = f.str("method", true, 256);
    r.target = f.str("target", true, 256);
    r.reason = f.str("reason", true, 64);
    return f.done(domain::RecordAccessRefusal{std::move(r)});
  }
  if (type == "token.revoke") {
    domain::RevokeToken r;
    r.tenant = f.str("tenant", true, 256);
    r.principal_id = f.str("principal_id", false, 256);
    r.token_id = f.str("token_id", false, 256);
    r.reason = f.str("reason", true, 1024);
    return f.done(std::move(r));
  }
  return std::nullopt;
}

}  // namespace ledger::commands
