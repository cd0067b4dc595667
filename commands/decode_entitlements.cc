#include "commands/decode_entitlements.h"

#include <nlohmann/json.hpp>

#include <cstdint>

#include "commands/field_reader.h"
#include "domain/text.h"
#include "events/codec/rfc3339.h"

namespace ledger::commands {
namespace {

using Json = nlohmann::json;
namespace ent = domain::entitlements;

// The typed readers of the entitlement commands (commands/field_reader.h).
class Fields : public FieldReader {
 public:
  using FieldReader::FieldReader;

  std::optional<std::string> opt(const char* name, std::size_t max_len) {
    known(name);
    auto it = body_.find(name);
    if (it == body_.end() || it->is_null()) return std::nullopt;
    if (!it->is_string() || domain::code_points(it->get_ref<const std::string&>()) > max_len) {
      fail("invalid_field",
           std::string("field '") + name + "' must be a string of at most " + std::to_string(max_len) + " characters",
           name);
      return std::nullopt;
    }
    return it->get<std::string>();
  }
  std::string str(const char* name, bool required, std::size_t max_len = 128) {
    auto v = opt(name, max_len);
    if (required && (!v || v->empty()) && !failed()) {
      fail("missing_field", std::string("field '") + name + "' is required", name);
    }
    return v.value_or(std::string());
  }
  bool flag(const char* name) {
    known(name);
    auto it = body_.find(name);
    if (it == body_.end() || it->is_null()) {
      fail("missing_field", std::string("field '") + name + "' is required", name);
      return false;
    }
    if (!it->is_boolean()) fail("invalid_field", std::string("field '") + name + "' must be a boolean", name);
    return it->is_boolean() && it->get<bool>();
  }
  std::string tenant() {
    auto t = str("tenant", false);
    return t.empty() ? std::string(ent::kDefaultTenant) : t;
  }
  std::vector<std::string> plans(const Json& rules, const char* name, bool required) {
    std::vector<std::string> out;
    auto it = rules.find(name);
    if (it == rules.end() || it->is_null()) {
      if (required) fail("invalid_rules", std::string("rules.") + name + " is required", std::string("rules.") + name);
      return out;
    }
    if (!it->is_array() || it->size() > 256) {
      fail("invalid_rules", std::string("rules.") + name + " must be an array of at most 256 plan names",
           std::string("rules.") + name);
      return out;
    }
    for (const auto& x : *it) {
      if (!x.is_string() || !ent::valid_id(x.get_ref<const std::string&>())) {
        fail("invalid_rules", std::string("rules.") + name + " must hold plan names", std::string("rules.") + name);
        return out;
      }
      out.push_back(x.get<std::string>());
    }
    return out;
  }
  ent::Rules rules() {
    known("rules");
    ent::Rules r;
    auto it = body_.find("rules");
    if (it == body_.end() || !it->is_object()) {
      fail("invalid_rules", "rules must be {type, allowedPlans, denyOverrides?}", "rules");
      return r;
    }
    for (auto f = it->begin(); f != it->end(); ++f) {
      if (f.key() != "type" && f.key() != "allowedPlans" && f.key() != "denyOverrides") {
        fail("invalid_rules", "rules accepts type, allowedPlans and denyOverrides", "rules." + f.key());
        return r;
      }
    }
    auto type = it->find("type");
    if (type == it->end() || !type->is_string() || type->get_ref<const std::string&>() != ent::kPlanAllowlist) {
      fail("invalid_rules", "rules.type must be plan-allowlist", "rules.type");
      return r;
    }
    r.allowed_plans = plans(*it, "allowedPlans", true);
    r.deny_overrides = plans(*it, "denyOverrides", false);
    return r;
  }
  std::optional<std::int64_t> opt_int(const char* name) {
    known(name);
    auto it = body_.find(name);
    if (it == body_.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<std::uint64_t>() > std::uint64_t(INT64_MAX))) {
      fail("invalid_field", std::string("field '") + name + "' must be an integer", name);
      return std::nullopt;
    }
    return it->get<std::int64_t>();
  }
  // `shadow_report`: a report as POST .../versions/{v}:shadow answered it,
  // signature included. Its shape is checked here; its signature by the
  // command service (commands/entitlement_service.cc).
  std::optional<ent::ShadowEvidence> shadow_report() {
    known("shadow_report");
    auto it = body_.find("shadow_report");
    if (it == body_.end() || it->is_null()) return std::nullopt;
    auto bad = [&](const std::string& what) {
      fail("invalid_shadow_report", "shadow_report must be a report of POST .../versions/{v}:shadow: " + what,
           "shadow_report");
      return std::nullopt;
    };
    if (!it->is_object()) return bad("an object");
    Json report = *it;
    auto text = [&](const char* k, std::string& out) {
      auto f = report.find(k);
      if (f == report.end() || !f->is_string() || domain::code_points(f->get_ref<const std::string&>()) > 256) {
        return false;
      }
      out = f->get<std::string>();
      return true;
    };
    auto integer = [&](const char* k, std::int64_t& out) {
      auto f = report.find(k);
      if (f == report.end() || !f->is_number_integer()) return false;
      out = f->get<std::int64_t>();
      return true;
    };
    ent::ShadowEvidence e;
    std::string generated_at;
    if (!text("signature", e.signature) || !text("policy_id", e.policy_id) || !text("version_id", e.version_id) ||
        !text("environment", e.environment) || !text("generated_at", generated_at) || !text("from", e.from) ||
        !text("to", e.to) || !integer("snapshot_version", e.snapshot_version) || !integer("considered", e.considered) ||
        !integer("checked", e.checked) || !integer("allow_to_deny", e.allow_to_deny) ||
        !integer("deny_to_allow", e.deny_to_allow)) {
      return bad("a field is missing or of the wrong type");
    }
    auto at = codec::parse_instant(generated_at);
    if (!at) return bad("generated_at is not an instant");
    e.generated_at = *at;
    report.erase("signature");
    e.report = report.dump(-1, ' ', false, Json::error_handler_t::replace);
    if (e.report.size() > std::size_t{256} * 1024) return bad("at most 256 KiB");
    return e;
  }
  domain::Result<Command> done(ent::Command c) {
    if (auto refused = finish(); !refused) return std::unexpected(std::move(refused.error()));
    return Command(std::move(c));
  }
};

}  // namespace

std::optional<domain::Result<Command>> decode_entitlement_command(std::string_view type, const Json& b) {
  Fields f(b);
  if (type == "capability.define") {
    ent::DefineCapability c;
    c.tenant = f.tenant();
    c.name = f.str("name", true, 64);
    c.description = f.str("description", false, 1024);
    c.capability_id = f.str("id", false);
    return f.done(std::move(c));
  }
  if (type == "capability.deprecate" || type == "capability.retire") {
    const std::string tenant = f.tenant();
    const std::string id = f.str("capability_id", true);
    const std::string reason = f.str("reason", false, 1024);
    if (type == "capability.deprecate") return f.done(ent::DeprecateCapability{tenant, id, reason});
    return f.done(ent::RetireCapability{tenant, id, reason});
  }
  if (type == "plan.define") {
    ent::DefinePlan c;
    c.tenant = f.tenant();
    c.plan_id = f.str("name", true);
    c.display_name = f.str("displayName", false, 255);
    c.description = f.str("description", false, 1024);
    return f.done(std::move(c));
  }
  if (type == "plan.update") {
    ent::UpdatePlan c;
    c.tenant = f.tenant();
    c.plan_id = f.str("plan_id", true);
    c.display_name = f.opt("displayName", 255);
    c.description = f.opt("description", 1024);
    return f.done(std::move(c));
  }
  if (type == "plan.archive") {
    ent::ArchivePlan c;
    c.tenant = f.tenant();
    c.plan_id = f.str("plan_id", true);
    c.reason = f.str("reason", false, 1024);
    return f.done(std::move(c));
  }
  if (type == "policy.create") {
    ent::CreatePolicy c;
    c.tenant = f.tenant();
    c.capability_id = f.str("capabilityId", true);
    c.name = f.str("name", true, 255);
    c.description = f.str("description", false, 1024);
    c.rules = f.rules();
    c.changelog = f.str("changelog", false, 2048);
    c.policy_id = f.str("id", false);
    return f.done(std::move(c));
  }
  if (type == "policy.create_version") {
    ent::CreateVersion c;
    c.tenant = f.tenant();
    c.policy_id = f.str("policy_id", true);
    c.rules = f.rules();
    c.changelog = f.str("changelog", true, 2048);
    return f.done(std::move(c));
  }
  if (type == "policy.activate") {
    ent::ActivateVersion c;
    c.tenant = f.tenant();
    c.policy_id = f.str("policy_id", true);
    c.version_id = f.str("version_id", true);
    c.environment = f.str("environment", true, 32);
    c.changelog = f.str("changelog", true, 2048);
    c.shadow = f.shadow_report();
    return f.done(std::move(c));
  }
  if (type == "policy.archive_version") {
    ent::ArchiveVersion c;
    c.tenant = f.tenant();
    c.policy_id = f.str("policy_id", true);
    c.version_id = f.str("version_id", true);
    c.reason = f.str("reason", false, 1024);
    return f.done(std::move(c));
  }
  if (type == "entitlements.configure") {
    ent::ConfigureSpace c;
    c.tenant = f.tenant();
    c.require_progression = f.flag("require_progression");
    c.shadow_max_age_seconds = f.opt_int("shadow_max_age_seconds");
    return f.done(std::move(c));
  }
  return std::nullopt;
}

}  // namespace ledger::commands
