// Decoding of the configuration commands (seed 004, domain/config/):
//   config.global.set        {key, value, reason, is_public?, requires_restart?}
//   config.service_type.set  {service_type, value, reason}
//   config.tenant_risk.set   {tenant_id, value, reason}
//   config.agent.set         {tenant_id, agent_type, value, reason}
//   config.project.set       {tenant_id, project_id, value, reason}
//   config.service.set       {tenant_id, service_id, value, reason}
// (all also `command_id`, `expected_version`). `value` is the layer's whole
// new document, a JSON object (a global key's value: any JSON but null).
// Ids are 1..128 of [A-Za-z0-9._-] (`invalid_field`).
// Every document is validated against domain/config/schema.h before it can
// become an event: 422 `config_schema_violation` with evidence `path` (a
// JSON pointer into the document) and `field: value`.
#include <nlohmann/json.hpp>

#include "commands/decode.h"
#include "domain/config/schema.h"
#include "domain/text.h"

namespace ledger::commands {
namespace {

using domain::Error;
using domain::ErrorKind;
using Json = nlohmann::json;
namespace cfg = domain::config;

std::unexpected<Error> bad(std::string code, std::string message, std::string field) {
  Error e{ErrorKind::kInvalidArgument, std::move(code), std::move(message), {}};
  e.with("field", std::move(field));
  return std::unexpected(std::move(e));
}

domain::Result<std::string> id_field(const Json& b, const char* name) {
  auto it = b.find(name);
  if (it == b.end() || it->is_null())
    return bad("missing_field", std::string("field '") + name + "' is required", name);
  if (!it->is_string() || !cfg::valid_id(it->get_ref<const std::string&>())) {
    return bad("invalid_field", std::string("field '") + name + "' must be 1 to 128 of A-Z a-z 0-9 . _ -", name);
  }
  return it->get<std::string>();
}

domain::Result<bool> flag(const Json& b, const char* name) {
  auto it = b.find(name);
  if (it == b.end() || it->is_null()) return false;
  if (!it->is_boolean()) return bad("invalid_field", std::string("field '") + name + "' must be a boolean", name);
  return it->get<bool>();
}

}  // namespace

namespace {

// config.reload {reload_env?, invalidate?: {all?, tenant_ids?}, reinit?:
// {configuration_service?, dynamic_config_service?}, dry_run?} (the seed's
// body; everything defaults to false / empty).
domain::Result<Command> decode_reload(const Json& b) {
  cfg::ReloadConfig c;
  for (auto it = b.begin(); it != b.end(); ++it) {
    const std::string& k = it.key();
    if (k == "type" || k == "command_id" || k == "expected_version") continue;
    if (k == "reload_env" || k == "dry_run") {
      if (!it->is_boolean()) return bad("invalid_field", "field '" + k + "' must be a boolean", k);
      (k == "reload_env" ? c.reload_env : c.dry_run) = it->get<bool>();
    } else if (k == "invalidate") {
      if (!it->is_object()) return bad("invalid_field", "invalidate must be {all, tenant_ids}", k);
      for (auto f = it->begin(); f != it->end(); ++f) {
        if (f.key() == "all" && f->is_boolean()) {
          c.invalidate_all = f->get<bool>();
        } else if (f.key() == "tenant_ids" && f->is_array() && f->size() <= 1000) {
          for (const auto& t : *f) {
            if (!t.is_string() || !cfg::valid_id(t.get_ref<const std::string&>())) {
              return bad("invalid_field", "tenant_ids must be tenant ids", "invalidate.tenant_ids");
            }
            c.tenant_ids.push_back(t.get<std::string>());
          }
        } else {
          return bad("invalid_field", "invalidate takes all (boolean) and tenant_ids (array)", "invalidate." + f.key());
        }
      }
    } else if (k == "reinit") {
      if (!it->is_object()) return bad("invalid_field", "reinit must be an object", k);
      for (auto f = it->begin(); f != it->end(); ++f) {
        if ((f.key() != "configuration_service" && f.key() != "dynamic_config_service") || !f->is_boolean()) {
          return bad("invalid_field", "reinit takes configuration_service and dynamic_config_service (booleans)",
                     "reinit." + f.key());
        }
        if (f->get<bool>()) c.reinit.push_back(f.key());
      }
    } else {
      return std::unexpected(unknown_field(k));
    }
  }
  return Command(std::move(c));
}

}  // namespace

std::optional<domain::Result<Command>> decode_config_command(std::string_view type, const Json& b) {
  if (type == "config.reload") return decode_reload(b);
  if (type == "config.secrets.shred") {
    // config.secrets.shred {tenant_id, reason}
    if (auto ok = only_fields(b, {"tenant_id", "reason", "command_id", "type", "expected_version"}); !ok) {
      return std::unexpected(ok.error());
    }
    auto tenant = id_field(b, "tenant_id");
    if (!tenant) return std::unexpected(tenant.error());
    auto reason = b.find("reason");
    if (reason == b.end() || !reason->is_string() || reason->get_ref<const std::string&>().empty()) {
      return bad("missing_field", "field 'reason' is required", "reason");
    }
    return Command{cfg::ShredConfigSecrets{*tenant, reason->get<std::string>()}};
  }
  if (!type.starts_with("config.") || !type.ends_with(".set")) return std::nullopt;
  auto layer = cfg::parse_layer(type.substr(7, type.size() - 11));
  if (!layer || *layer == cfg::Layer::kProcess) return std::nullopt;

  const char* subject_field = nullptr;
  switch (*layer) {
    case cfg::Layer::kGlobal:
      subject_field = "key";
      break;
    case cfg::Layer::kServiceType:
      subject_field = "service_type";
      break;
    case cfg::Layer::kAgent:
      subject_field = "agent_type";
      break;
    case cfg::Layer::kProject:
      subject_field = "project_id";
      break;
    case cfg::Layer::kService:
      subject_field = "service_id";
      break;
    default:
      break;
  }
  const bool tenant_layer = !cfg::platform_owned(*layer);
  for (auto it = b.begin(); it != b.end(); ++it) {
    const std::string& k = it.key();
    const bool ok = k == "type" || k == "command_id" || k == "expected_version" || k == "value" || k == "reason" ||
                    (subject_field && k == subject_field) || (tenant_layer && k == "tenant_id") ||
                    (*layer == cfg::Layer::kGlobal && (k == "is_public" || k == "requires_restart"));
    if (!ok) return std::unexpected(unknown_field(k));
  }
  cfg::SetConfigLayer c;
  c.ref.layer = *layer;
  if (tenant_layer) {
    auto t = id_field(b, "tenant_id");
    if (!t) return std::unexpected(t.error());
    c.ref.tenant = *t;
    c.organization_id = *t;
  } else {
    c.ref.tenant = "platform";
  }
  if (subject_field) {
    auto s = id_field(b, subject_field);
    if (!s) return std::unexpected(s.error());
    c.ref.subject = *s;
  }
  auto reason = b.find("reason");
  if (reason == b.end() || reason->is_null()) return bad("missing_field", "field 'reason' is required", "reason");
  if (!reason->is_string() || reason->get_ref<const std::string&>().empty() ||
      domain::code_points(reason->get_ref<const std::string&>()) > 1024) {
    return bad("invalid_field", "field 'reason' must be 1 to 1024 characters", "reason");
  }
  c.reason = reason->get<std::string>();
  auto value = b.find("value");
  if (value == b.end() || value->is_null()) return bad("missing_field", "field 'value' is required", "value");
  if (*layer != cfg::Layer::kGlobal && !value->is_object()) {
    return bad("invalid_field", "field 'value' must be a JSON object (the layer's whole document)", "value");
  }
  auto pub = flag(b, "is_public");
  if (!pub) return std::unexpected(pub.error());
  auto restart = flag(b, "requires_restart");
  if (!restart) return std::unexpected(restart.error());
  c.is_public = *pub;
  c.requires_restart = *restart;
  // A global key's value is checked as the document {key: value}, so a
  // global notification_config meets the same schema as a tenant's.
  const Json doc = *layer == cfg::Layer::kGlobal ? Json{{c.ref.subject, *value}} : *value;
  if (auto violation = cfg::validate_document(doc)) {
    Error e{ErrorKind::kFailedPrecondition,
            "config_schema_violation",
            "the configuration document does not match its schema at " + violation->path,
            {}};
    e.with("field", "value").with("path", violation->path).with("detail", violation->message);
    return std::unexpected(std::move(e));
  }
  c.value = value->dump();
  return Command(std::move(c));
}

}  // namespace ledger::commands
