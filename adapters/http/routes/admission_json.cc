#include "adapters/http/routes/admission_json.h"

#include <array>
#include <charconv>

#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger::routes {

using namespace std::string_view_literals;

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
  // The members in the order nlohmann's objects (std::map) keep them, each
  // name written with its comma and colon in one piece.
  std::string out;
  out.reserve(640);
  auto text = [&out](std::string_view value) { codec::append_json_string(out, value); };
  auto number = [&out](std::int64_t v) {
    std::array<char, 24> digits{};
    const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), v).ptr;
    out.append(digits.data(), end);
  };
  auto nullable_number = [&](const std::optional<std::int64_t>& v) {
    if (v) {
      number(*v);
    } else {
      out += "null"sv;
    }
  };
  out += '{';
  if (!application.empty()) {
    out += R"("application":)"sv;
    out += application;
    out += ',';
  }
  out += R"("as_of":)"sv;
  text(codec::format_instant(as_of));
  out += R"(,"available":)"sv;
  nullable_number(o.available);
  out += R"(,"decision":)"sv;
  text(o.decision);
  out += R"(,"effective_ceiling":{"inherited_from":)"sv;
  const auto& from = o.effective.inherited_from;
  if (from) {
    text(o.per_request ? std::string_view(domain::kRequestWindow)
                       : std::string_view(events::quota_level_name(from->level)));
    out += R"(,"inherited_from_scope":{"id":)"sv;
    text(from->id);
    out += R"(,"level":)"sv;
    text(events::quota_level_name(from->level));
    out += '}';
  } else {
    out += R"(null,"inherited_from_scope":null)"sv;
  }
  out += R"(,"quantity":)"sv;
  nullable_number(o.effective.quantity);
  out += R"(,"unit":)"sv;
  text(o.effective.unit);
  out += R"(},"evidence":{"correlation_id":)"sv;
  text(o.correlation_id);
  out += R"(,"snapshot_kind":)"sv;
  text(o.snapshot_kind);
  out += R"(,"snapshot_version":")"sv;
  number(o.snapshot_version);
  out += R"("},"limit_remaining":)"sv;
  nullable_number(o.limit_remaining);
  out += R"(,"matched_rules":[)"sv;
  for (std::size_t i = 0; i < o.effective.matched_rules.size(); ++i) {
    const auto& r = o.effective.matched_rules[i];
    out += i > 0 ? R"(,{"kind":)"sv : R"({"kind":)"sv;
    text(r.kind);
    out += R"(,"rule_id":)"sv;
    text(r.rule_id);
    out += R"(,"scope":)"sv;
    text(domain::scope_text(r.scope));
    out += R"(,"version":")"sv;
    number(r.version);
    out += R"("})"sv;
  }
  out += R"(],"reason_code":)"sv;
  text(o.reason_code);
  out += R"(,"registry_versions":{)"sv;
  bool first = true;
  for (const auto& [name, version] : o.registry_versions) {
    if (!first) out += ',';
    first = false;
    text(name);
    out += ':';
    text(version);
  }
  out += R"(},"reserved_for_others":)"sv;
  number(o.reserved_for_others);
  out += R"(,"snapshot_version":)"sv;
  number(o.snapshot_version);
  out += R"(,"user_message":)"sv;
  text(m.text ? *m.text : o.user_message);
  out += R"(,"user_message_source":)"sv;
  m.append_source(out);
  out += '}';
  return out;
}

std::string dump_lenient(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ledger::routes
