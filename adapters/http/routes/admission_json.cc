#include "adapters/http/routes/admission_json.h"

#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger::routes {

nlohmann::json quota_scope_json(const events::QuotaScope& s) {
  return {{"level", events::quota_level_name(s.level)}, {"id", s.id}};
}

nlohmann::json reservation_fields(const domain::ReservationView& v, std::string_view kind, std::string_view unit,
                                  events::Instant as_of) {
  const bool holds = domain::holds_at(v, as_of);
  return {{"reservation_id", v.reservation_id},
          {"owner", quota_scope_json(v.owner)},
          {"kind", kind},
          {"dimension", v.dimension},
          {"region", v.region},
          {"sku_or_model", v.sku_or_model},
          {"quantity", v.quantity},
          {"consumed", v.consumed},
          {"remaining", v.quantity - v.consumed},
          {"unit", unit},
          {"window_start", codec::format_instant(v.window_start)},
          {"window_end", codec::format_instant(v.window_end)},
          {"state", domain::reservation_state_at(v, as_of)},
          {"recorded_state", v.state},
          {"holds_capacity", holds},
          {"held", holds ? v.quantity : 0}};
}

nlohmann::json nullable(const std::optional<std::int64_t>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

namespace {

void append_nullable(std::string& out, const std::optional<std::int64_t>& v) {
  out += v ? std::to_string(*v) : std::string("null");
}

}  // namespace

// Built member by member: nested initializer lists copy every subtree.
nlohmann::json decision_json(const domain::DecisionOutput& o, events::Instant as_of) {
  nlohmann::json rules = nlohmann::json::array();
  for (const auto& r : o.effective.matched_rules) {
    nlohmann::json rule = nlohmann::json::object();
    rule["rule_id"] = r.rule_id;
    rule["scope"] = domain::scope_text(r.scope);
    rule["version"] = std::to_string(r.version);
    rule["kind"] = r.kind;
    rules.push_back(std::move(rule));
  }
  const auto& from = o.effective.inherited_from;
  nlohmann::json ceiling = nlohmann::json::object();
  ceiling["quantity"] = nullable(o.effective.quantity);
  ceiling["unit"] = o.effective.unit;
  // The per-request cap reports seed 001's level `request`; the scope that
  // set it is inherited_from_scope, as for any level.
  ceiling["inherited_from"] = from ? nlohmann::json(o.per_request ? std::string(domain::kRequestWindow)
                                                                  : std::string(events::quota_level_name(from->level)))
                                   : nlohmann::json();
  ceiling["inherited_from_scope"] = from ? quota_scope_json(*from) : nlohmann::json();
  nlohmann::json evidence = nlohmann::json::object();
  evidence["snapshot_kind"] = o.snapshot_kind;
  evidence["snapshot_version"] = std::to_string(o.snapshot_version);
  evidence["correlation_id"] = o.correlation_id;
  nlohmann::json out = nlohmann::json::object();
  out["decision"] = o.decision;
  out["reason_code"] = o.reason_code;
  out["user_message"] = o.user_message;
  out["effective_ceiling"] = std::move(ceiling);
  out["matched_rules"] = std::move(rules);
  out["evidence"] = std::move(evidence);
  out["limit_remaining"] = nullable(o.limit_remaining);
  out["available"] = nullable(o.available);
  out["reserved_for_others"] = o.reserved_for_others;
  out["registry_versions"] = o.registry_versions;
  out["snapshot_version"] = o.snapshot_version;
  out["as_of"] = codec::format_instant(as_of);
  return out;
}

std::string decision_text(const domain::DecisionOutput& o, events::Instant as_of, const ProductMessage& m,
                          std::string_view application) {
  // The members in the order nlohmann's objects (std::map) keep them.
  std::string out;
  out.reserve(640);
  // A member's name, after a comma unless it opens its object.
  auto key = [&](std::string_view name) {
    if (out.back() != '{') out += ',';
    out += '"';
    out += name;
    out += "\":";
  };
  auto text = [&](std::string_view name, std::string_view value) {
    key(name);
    codec::append_json_string(out, value);
  };
  out += '{';
  if (!application.empty()) {
    key("application");
    out += application;
  }
  text("as_of", codec::format_instant(as_of));
  key("available");
  append_nullable(out, o.available);
  text("decision", o.decision);
  key("effective_ceiling");
  const auto& from = o.effective.inherited_from;
  out += '{';
  key("inherited_from");
  if (from) {
    codec::append_json_string(out, o.per_request ? std::string_view(domain::kRequestWindow)
                                                 : std::string_view(events::quota_level_name(from->level)));
  } else {
    out += "null";
  }
  key("inherited_from_scope");
  if (from) {
    out += '{';
    text("id", from->id);
    text("level", events::quota_level_name(from->level));
    out += '}';
  } else {
    out += "null";
  }
  key("quantity");
  append_nullable(out, o.effective.quantity);
  text("unit", o.effective.unit);
  out += '}';
  key("evidence");
  out += '{';
  text("correlation_id", o.correlation_id);
  text("snapshot_kind", o.snapshot_kind);
  text("snapshot_version", std::to_string(o.snapshot_version));
  out += '}';
  key("limit_remaining");
  append_nullable(out, o.limit_remaining);
  key("matched_rules");
  out += '[';
  for (std::size_t i = 0; i < o.effective.matched_rules.size(); ++i) {
    const auto& r = o.effective.matched_rules[i];
    if (i > 0) out += ',';
    out += '{';
    text("kind", r.kind);
    text("rule_id", r.rule_id);
    text("scope", domain::scope_text(r.scope));
    text("version", std::to_string(r.version));
    out += '}';
  }
  out += ']';
  text("reason_code", o.reason_code);
  key("registry_versions");
  out += '{';
  bool first = true;
  for (const auto& [name, version] : o.registry_versions) {
    if (!first) out += ',';
    first = false;
    codec::append_json_string(out, name);
    out += ':';
    codec::append_json_string(out, version);
  }
  out += '}';
  key("reserved_for_others");
  out += std::to_string(o.reserved_for_others);
  key("snapshot_version");
  out += std::to_string(o.snapshot_version);
  text("user_message", m.text ? *m.text : o.user_message);
  key("user_message_source");
  m.append_source(out);
  out += '}';
  return out;
}

std::string dump_lenient(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ledger::routes
