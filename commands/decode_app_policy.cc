// Decoding of the per-application policy chain commands (seed 002;
// domain/app_policy/commands.h lists them with their bodies).
#include <nlohmann/json.hpp>

#include "commands/decode.h"
#include "commands/field_reader.h"
#include "domain/text.h"

namespace ledger::commands {
namespace {

using domain::ErrorKind;
using Json = nlohmann::json;
namespace ap = domain::app_policy;

inline constexpr std::size_t kMaxConfigBytes = std::size_t{16} * 1024;

// The typed readers of the application-policy commands
// (commands/field_reader.h).
class Body : public FieldReader {
 public:
  using FieldReader::FieldReader;
  std::string str(const char* name, bool required, std::size_t max_len = 128) {
    const Json* j = get(name, required);
    if (!j) return {};
    if (!j->is_string() || (required && j->get_ref<const std::string&>().empty()) ||
        domain::code_points(j->get_ref<const std::string&>()) > max_len) {
      fail("invalid_field",
           std::string("field '") + name + "' must be a string of " + (required ? "1" : "0") + " to " +
               std::to_string(max_len) + " characters",
           name);
      return {};
    }
    return j->get<std::string>();
  }
  std::optional<bool> boolean(const char* name) {
    const Json* j = get(name, false);
    if (!j) return std::nullopt;
    if (!j->is_boolean()) {
      fail("invalid_field", std::string("field '") + name + "' must be true or false", name);
      return std::nullopt;
    }
    return j->get<bool>();
  }
  std::optional<std::int64_t> index(const char* name) {
    const Json* j = get(name, false);
    if (!j) return std::nullopt;
    if (!j->is_number_integer() || (j->is_number_unsigned() && j->get<std::uint64_t>() > std::uint64_t(INT64_MAX))) {
      fail("invalid_field", std::string("field '") + name + "' must be a whole number", name);
      return std::nullopt;
    }
    return j->get<std::int64_t>();
  }
  // A JSON object, as canonical text (sorted keys): what the event keeps.
  std::optional<std::string> object(const char* name, bool required) {
    const Json* j = get(name, required);
    if (!j) return std::nullopt;
    if (!j->is_object()) {
      fail("invalid_field", std::string("field '") + name + "' must be a JSON object", name);
      return std::nullopt;
    }
    std::string text = j->dump();
    if (text.size() > kMaxConfigBytes) {
      fail("invalid_field", std::string("field '") + name + "' is larger than 16 KiB", name);
      return std::nullopt;
    }
    return text;
  }
  template <class C>
  domain::Result<Command> done(C c) {
    if (auto refused = finish(); !refused) return std::unexpected(std::move(refused.error()));
    return Command(std::move(c));
  }

 private:
  const Json* get(const char* name, bool required) {
    const Json* j = find(name);
    if (!j && required) fail("missing_field", std::string("field '") + name + "' is required", name);
    return j;
  }
};

}  // namespace

std::optional<domain::Result<Command>> decode_app_policy_command(std::string_view type, const Json& body) {
  if (!type.starts_with("application.") && !type.starts_with("app_policy.")) return std::nullopt;
  if (!body.is_object()) {
    return domain::Result<Command>(
        domain::fail(ErrorKind::kInvalidArgument, "malformed_json", "the body must be a JSON object"));
  }
  Body b(body);
  if (type == "application.register") {
    ap::RegisterApplication c;
    c.application_id = b.str("application_id", true);
    c.organization_id = b.str("organization_id", false);
    c.name = b.str("name", true, 256);
    return b.done(std::move(c));
  }
  if (type == "application.rename") {
    ap::RenameApplication c;
    c.application_id = b.str("application_id", true);
    c.organization_id = b.str("organization_id", false);
    c.name = b.str("name", true, 256);
    return b.done(std::move(c));
  }
  if (type == "application.retire") {
    ap::RetireApplication c;
    c.application_id = b.str("application_id", true);
    c.organization_id = b.str("organization_id", false);
    c.reason = b.str("reason", false, 1024);
    return b.done(std::move(c));
  }
  if (type == "app_policy.attach") {
    ap::AttachPolicy c;
    c.application_id = b.str("application_id", true);
    c.organization_id = b.str("organization_id", false);
    c.policy_type = b.str("policy_type", true, 64);
    c.config = b.object("config", true).value_or("{}");
    c.enabled = b.boolean("enabled").value_or(true);
    c.index = b.index("index");
    c.reason = b.str("reason", false, 1024);
    return b.done(std::move(c));
  }
  if (type == "app_policy.update") {
    ap::UpdatePolicy c;
    c.policy_id = b.str("policy_id", true);
    c.config = b.object("config", false);
    c.enabled = b.boolean("enabled");
    c.index = b.index("index");
    c.reason = b.str("reason", false, 1024);
    return b.done(std::move(c));
  }
  if (type == "app_policy.detach") {
    ap::DetachPolicy c;
    c.policy_id = b.str("policy_id", true);
    c.reason = b.str("reason", false, 1024);
    return b.done(std::move(c));
  }
  return std::nullopt;
}

}  // namespace ledger::commands
