#include "commands/decode.h"

#include <algorithm>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "commands/decode_entitlements.h"
#include "commands/idempotency.h"
#include "domain/text.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger::commands {
namespace {

using domain::Error;
using domain::ErrorKind;
using Json = nlohmann::json;

std::unexpected<Error> bad(std::string code, std::string message, std::string field = {}) {
  Error e{ErrorKind::kInvalidArgument, std::move(code), std::move(message), {}};
  if (!field.empty()) e.with("field", std::move(field));
  return std::unexpected(std::move(e));
}

domain::Result<std::string> required_string(const Json& body, const char* name, std::size_t max_len) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null())
    return bad("missing_field", std::string("field '") + name + "' is required", name);
  if (!it->is_string()) return bad("invalid_field", std::string("field '") + name + "' must be a string", name);
  auto s = it->get<std::string>();
  if (s.empty() || domain::code_points(s) > max_len) {
    return bad("invalid_field",
               std::string("field '") + name + "' must be 1 to " + std::to_string(max_len) + " characters", name);
  }
  return s;
}

domain::Result<std::string> optional_string(const Json& body, const char* name, std::size_t max_len) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::string();
  return required_string(body, name, max_len);
}

domain::Result<std::optional<std::int64_t>> optional_int(const Json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::optional<std::int64_t>{};
  if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<std::uint64_t>() > std::uint64_t(INT64_MAX))) {
    return bad("invalid_field", std::string("field '") + name + "' must be a 64-bit integer", name);
  }
  return std::optional<std::int64_t>{it->get<std::int64_t>()};
}

// A value of the right JSON kind; whether it fits the key is the domain's call.
domain::Result<events::PolicyValue> value_field(const Json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null())
    return bad("missing_field", std::string("field '") + name + "' is required", name);
  auto v = codec::decode_value(*it);
  if (!v) {
    Error e{ErrorKind::kFailedPrecondition,
            "value_type_mismatch",
            std::string("field '") + name + "' must be a boolean, a 64-bit integer or a string",
            {}};
    e.with("field", name);
    return std::unexpected(std::move(e));
  }
  return *v;
}

// The ledger's one scope shape, `{level, id}` as in every command body (id
// left out at the global level). A policy value's levels are those of seed
// 000: `principal` is the quota hierarchy's word for a `user`, and values are
// not set at departments.
domain::Result<events::PolicyScope> level_scope(const Json& s) {
  for (auto f = s.begin(); f != s.end(); ++f) {
    if (f.key() != "level" && f.key() != "id") {
      return bad("invalid_scope", "a scope is {level, id}, or seed 000's {user_id | project_id | org_id | plan}",
                 "scope." + f.key());
    }
  }
  const Json& level = s["level"];
  if (!level.is_string()) return bad("invalid_scope", "scope.level must be a string", "scope.level");
  using events::ScopeLevel;
  const std::string name = level.get<std::string>();
  std::optional<ScopeLevel> l;
  if (name == "user" || name == "principal")
    l = ScopeLevel::kUser;
  else if (name == "project")
    l = ScopeLevel::kProject;
  else if (name == "organization")
    l = ScopeLevel::kOrganization;
  else if (name == "plan")
    l = ScopeLevel::kPlan;
  else if (name == "global")
    l = ScopeLevel::kGlobal;
  if (!l) {
    return bad("invalid_scope", "scope.level is one of global, plan, organization, project, user (or principal)",
               "scope.level");
  }
  const auto id = s.find("id");
  if (*l == ScopeLevel::kGlobal) {
    if (id != s.end()) return bad("invalid_scope", "the global scope has no id", "scope.id");
    return events::PolicyScope{};
  }
  if (id == s.end() || !id->is_string() || id->get_ref<const std::string&>().empty() ||
      domain::code_points(id->get_ref<const std::string&>()) > 128) {
    return bad("invalid_scope", "scope.id must be a string of 1 to 128 characters", "scope.id");
  }
  return events::PolicyScope{*l, id->get<std::string>()};
}

domain::Result<events::PolicyScope> scope_field(const Json& body) {
  auto it = body.find("scope");
  if (it == body.end() || it->is_null()) return events::PolicyScope{};
  if (!it->is_object()) return bad("invalid_scope", "scope must be an object", "scope");
  const Json& s = *it;
  if (s.contains("level")) return level_scope(s);
  for (auto f = s.begin(); f != s.end(); ++f) {
    const auto& k = f.key();
    if (k != "user_id" && k != "project_id" && k != "org_id" && k != "plan") {
      return bad("invalid_scope", "scope accepts user_id, project_id, org_id and plan only", "scope." + k);
    }
    if (!f->is_string() || f->get_ref<const std::string&>().empty() ||
        domain::code_points(f->get_ref<const std::string&>()) > 128) {
      return bad("invalid_scope", "scope ids must be strings of 1 to 128 characters", "scope." + k);
    }
  }
  auto get = [&](const char* k) { return s.contains(k) ? s[k].get<std::string>() : std::string(); };
  const std::string user = get("user_id"), project = get("project_id"), org = get("org_id"), plan = get("plan");
  if (!user.empty() && !project.empty()) {
    return bad("invalid_scope", "a scope names one of user_id or project_id", "scope");
  }
  if (!plan.empty() && (!user.empty() || !project.empty() || !org.empty())) {
    return bad("invalid_scope", "a plan scope names nothing else", "scope");
  }
  using events::ScopeLevel;
  if (!user.empty()) return events::PolicyScope{ScopeLevel::kUser, user};
  if (!project.empty()) return events::PolicyScope{ScopeLevel::kProject, project};
  if (!org.empty()) return events::PolicyScope{ScopeLevel::kOrganization, org};
  if (!plan.empty()) return events::PolicyScope{ScopeLevel::kPlan, plan};
  return events::PolicyScope{};
}

domain::Result<Command> decode_set_value(const Json& b) {
  if (auto ok = only_fields(b, {"type", "command_id", "expected_version", "key", "scope", "value", "effective_at",
                                "reason", "old_value"});
      !ok) {
    return std::unexpected(ok.error());
  }
  domain::SetPolicyValue c;
  auto key = required_string(b, "key", 128);
  if (!key) return std::unexpected(key.error());
  c.key = *key;
  auto scope = scope_field(b);
  if (!scope) return std::unexpected(scope.error());
  c.scope = *scope;
  auto value = value_field(b, "value");
  if (!value) return std::unexpected(value.error());
  c.value = *value;
  auto reason = required_string(b, "reason", 1024);
  if (!reason) return std::unexpected(reason.error());
  c.reason = *reason;
  auto eff = optional_string(b, "effective_at", 64);
  if (!eff) return std::unexpected(eff.error());
  if (!eff->empty()) {
    auto t = codec::parse_instant(*eff);
    if (!t)
      return bad("invalid_field", "effective_at must be an RFC 3339 instant like 2026-06-01T00:00:00Z", "effective_at");
    c.effective_at = *t;
  }
  if (auto it = b.find("old_value"); it != b.end() && !it->is_null()) {
    auto old = value_field(b, "old_value");
    if (!old) return std::unexpected(old.error());
    c.old_value = *old;
  }
  return c;
}

domain::Result<Command> decode_define_key(const Json& b) {
  if (auto ok = only_fields(b, {"type", "command_id", "expected_version", "key", "value_type", "default", "min", "max",
                                "enum", "description", "write_audience"});
      !ok) {
    return std::unexpected(ok.error());
  }
  events::PolicyKeyDefined d;
  auto key = required_string(b, "key", 128);
  if (!key) return std::unexpected(key.error());
  d.key = *key;
  auto type_name = required_string(b, "value_type", 16);
  if (!type_name) return std::unexpected(type_name.error());
  auto type = codec::parse_value_type(*type_name);
  if (!type) return bad("invalid_field", "value_type must be int, string or bool", "value_type");
  d.value_type = *type;
  auto def = value_field(b, "default");
  if (!def) return std::unexpected(def.error());
  d.default_value = *def;
  auto min = optional_int(b, "min");
  if (!min) return std::unexpected(min.error());
  d.min = *min;
  auto max = optional_int(b, "max");
  if (!max) return std::unexpected(max.error());
  d.max = *max;
  if (auto it = b.find("enum"); it != b.end() && !it->is_null()) {
    if (!it->is_array()) return bad("invalid_field", "enum must be an array of strings", "enum");
    for (const auto& x : *it) {
      if (!x.is_string()) return bad("invalid_field", "enum must be an array of strings", "enum");
      d.allowed.push_back(x.get<std::string>());
    }
  }
  auto desc = optional_string(b, "description", 1024);
  if (!desc) return std::unexpected(desc.error());
  d.description = *desc;
  auto audience = optional_string(b, "write_audience", 16);
  if (!audience) return std::unexpected(audience.error());
  if (audience->empty()) {
    d.write_audience = codec::implied_write_audience(d.key);
  } else if (auto a = codec::parse_write_audience(*audience)) {
    d.write_audience = *a;
  } else {
    return bad("invalid_field", "write_audience must be platform or tenant", "write_audience");
  }
  return domain::DefinePolicyKey{std::move(d)};
}

// The first string (value or key) holding U+0000, as a JSON-pointer-like
// path; nullopt when there is none. PostgreSQL's text and jsonb refuse the
// character, so a command carrying it could never be stored. Depth is
// bounded by kMaxJsonDepth (checked before this runs).
std::optional<std::string> nul_inside(const Json& j, const std::string& at) {
  if (j.is_string()) {
    if (j.get_ref<const std::string&>().find('\0') != std::string::npos) return at.empty() ? "/" : at;
  } else if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string here = at + "/" + it.key();
      if (it.key().find('\0') != std::string::npos) return at.empty() ? "/" : at;
      if (auto found = nul_inside(it.value(), here)) return found;
    }
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) {
      if (auto found = nul_inside(j[i], at + "/" + std::to_string(i))) return found;
    }
  }
  return std::nullopt;
}

// Builds the document from nlohmann's SAX events, refusing what the
// ledger never accepts: more than kMaxJsonDepth nested containers (the
// parse stops there) and a key twice in one object (never "last wins"; the
// parse goes on, so a deeper nesting further on still reads as too_deep,
// and the last duplicate is the one named). Containers are built in place,
// as nlohmann's own DOM parser does: a container's parent gains no other
// element while it is open, so the pointers on the stack stay valid.
class DocumentBuilder {
 public:
  Json root;
  bool too_deep = false;
  bool duplicate = false;
  std::string duplicate_key;

  bool null() { return put(nullptr); }
  bool boolean(bool v) { return put(v); }
  bool number_integer(Json::number_integer_t v) { return put(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return put(v); }
  bool number_float(Json::number_float_t v, const Json::string_t& /*text*/) { return put(v); }
  bool string(Json::string_t& v) { return put(std::move(v)); }
  bool binary(Json::binary_t& v) { return put(Json::binary(std::move(v))); }
  bool start_object(std::size_t /*size*/) { return open(Json::object()); }
  bool start_array(std::size_t /*size*/) { return open(Json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(Json::string_t& k) {
    auto& object = open_.back()->get_ref<Json::object_t&>();
    auto [it, inserted] = object.try_emplace(std::move(k));
    if (!inserted) {
      duplicate = true;
      duplicate_key = it->first;
    }
    element_ = &it->second;
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/, const nlohmann::detail::exception& /*e*/) {
    return false;
  }

 private:
  template <class V>
  Json* place(V&& v) {
    if (open_.empty()) {
      root = Json(std::forward<V>(v));
      return &root;
    }
    Json& parent = *open_.back();
    if (parent.is_array()) {
      auto& array = parent.get_ref<Json::array_t&>();
      array.emplace_back(std::forward<V>(v));
      return &array.back();
    }
    *element_ = Json(std::forward<V>(v));
    return element_;
  }
  template <class V>
  bool put(V&& v) {
    place(std::forward<V>(v));
    return true;
  }
  bool open(Json container) {
    if (open_.size() >= static_cast<std::size_t>(kMaxJsonDepth)) {
      too_deep = true;
      return false;
    }
    open_.push_back(place(std::move(container)));
    return true;
  }
  bool close() {
    open_.pop_back();
    return true;
  }

  std::vector<Json*> open_;  // the containers not yet closed, outermost first
  Json* element_ = nullptr;  // where the value of the last key goes
};

}  // namespace

domain::Error unknown_field(const std::string& key) {
  Error e{ErrorKind::kInvalidArgument, "unknown_field", "unknown field '" + key + "'", {}};
  e.with("field", key);
  return e;
}

domain::Result<void> only_fields(const Json& body, std::initializer_list<std::string_view> allowed) {
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      return std::unexpected(unknown_field(it.key()));
    }
  }
  return {};
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  while (i < n) {
    const unsigned char c = p[i];
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else
      return false;
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are invalid.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

domain::Result<Json> parse_json_document(std::string_view body) {
  if (body.size() > kMaxBodyBytes) {
    return std::unexpected(Error{ErrorKind::kPayloadTooLarge, "body_too_large", "request body exceeds 1 MiB", {}});
  }
  if (!valid_utf8(body)) return bad("invalid_utf8", "request body is not valid UTF-8");
  DocumentBuilder builder;
  const bool parsed = Json::sax_parse(body, &builder, nlohmann::json::input_format_t::json, /*strict=*/true);
  if (builder.too_deep) return bad("too_deep", "JSON nesting is deeper than " + std::to_string(kMaxJsonDepth));
  if (builder.duplicate) {
    return bad("duplicate_key", "JSON object has the key '" + builder.duplicate_key + "' twice", builder.duplicate_key);
  }
  if (!parsed) return bad("malformed_json", "request body is not valid JSON");
  Json doc = std::move(builder.root);
  if (!doc.is_object()) return bad("malformed_json", "request body must be a JSON object");
  // A valid JSON text holds a NUL only as the escape \u0000 (raw control
  // characters are malformed), so a body without one needs no walk.
  if (body.find("\\u0000") == std::string_view::npos) return doc;
  if (auto at = nul_inside(doc, "")) {
    // The path may itself hold the character (a key): keep it out of the evidence.
    std::string shown = *at;
    for (char& c : shown) {
      if (c == '\0') c = '?';
    }
    return bad("nul_character", "strings must not contain the NUL character (U+0000)", shown);
  }
  return doc;
}

domain::Result<DecodedCommand> decode_command(std::string_view type, const Json& body) {
  if (std::find(std::begin(kCommandTypes), std::end(kCommandTypes), type) == std::end(kCommandTypes)) {
    return bad("unknown_command_type", "unknown command type '" + std::string(type) + "'", "type");
  }
  // A body may name its own type (a Kafka record must); over HTTP the path
  // names it, and a body naming another one is refused, never ignored.
  if (body.is_object()) {
    if (auto it = body.find("type");
        it != body.end() && !(it->is_string() && it->get_ref<const std::string&>() == type)) {
      return bad("invalid_field", "field 'type' must be the command's type '" + std::string(type) + "'", "type");
    }
  }
  auto admission = decode_admission_command(type, body);
  if (!admission) admission = decode_app_policy_command(type, body);
  if (!admission) admission = decode_entitlement_command(type, body);
  if (!admission) admission = decode_config_command(type, body);
  domain::Result<Command> cmd =
      admission                    ? std::move(*admission)
      : type == "policy_value.set" ? decode_set_value(body)
      : type == "policy_key.define"
          ? decode_define_key(body)
          : bad("unknown_command_type", "unknown command type '" + std::string(type) + "'", "type");
  if (!cmd) return std::unexpected(cmd.error());
  DecodedCommand out{std::move(*cmd), {}, {}, {}};
  auto id = optional_string(body, "command_id", 128);
  if (!id) return std::unexpected(id.error());
  // It is stored, logged and answered as text: no control characters.
  for (const char ch : *id) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) {
      return bad("invalid_field", "command_id must not contain control characters", "command_id");
    }
  }
  out.command_id = *id;
  auto ev = optional_int(body, "expected_version");
  if (!ev) return std::unexpected(ev.error());
  if (*ev && **ev < 0) return bad("invalid_field", "expected_version must not be negative", "expected_version");
  if (*ev) out.expected_version = events::StreamVersion{**ev};
  out.request_hash = request_hash(type, body);
  return out;
}

}  // namespace ledger::commands
