#include "domain/policy_key.h"

#include <algorithm>

namespace ledger::domain {
namespace {

std::string describe(const PolicyValue& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>)
          return x ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::int64_t>)
          return std::to_string(x);
        else
          return '"' + x + '"';
      },
      v.v);
}

const char* type_word(events::ValueType t) {
  switch (t) {
    case events::ValueType::kInt:
      return "int";
    case events::ValueType::kString:
      return "string";
    case events::ValueType::kBool:
      return "bool";
  }
  return "int";
}

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

}  // namespace

std::string policy_stream_id(std::string_view key) { return "policy-key:" + std::string(key); }

bool valid_policy_key_name(std::string_view key) {
  // Dot-separated segments of [a-z][a-z0-9_]*, at least two, at most 128 chars.
  if (key.empty() || key.size() > 128) return false;
  int segments = 0;
  std::size_t i = 0;
  while (i <= key.size()) {
    std::size_t j = key.find('.', i);
    if (j == std::string_view::npos) j = key.size();
    std::string_view seg = key.substr(i, j - i);
    if (seg.empty() || seg[0] < 'a' || seg[0] > 'z') return false;
    if (!std::all_of(seg.begin(), seg.end(), lower_alnum)) return false;
    ++segments;
    i = j + 1;
  }
  return segments >= 2;
}

Result<void> validate_definition(const events::PolicyKeyDefined& d) {
  auto invalid = [&](std::string msg) {
    Error e{ErrorKind::kFailedPrecondition, "invalid_policy_key", std::move(msg), {}};
    e.with("key", d.key);
    return fail(std::move(e));
  };
  if (!valid_policy_key_name(d.key)) {
    return invalid("key must be dot-separated lowercase segments like 'billing.window_seconds'");
  }
  if (d.default_value.type() != d.value_type) return invalid("default value does not have the key's type");
  if (d.value_type != events::ValueType::kInt && (d.min || d.max)) {
    return invalid("min and max apply to int keys only");
  }
  if (d.value_type != events::ValueType::kString && !d.allowed.empty()) {
    return invalid("an enum applies to string keys only");
  }
  if (d.min && d.max && *d.min > *d.max) return invalid("min is greater than max");
  if (d.value_type == events::ValueType::kInt && !(d.min && d.max)) {
    return invalid("an int key needs both min and max bounds");
  }
  if (auto ok = check_value(d, d.default_value); !ok) return invalid("default value is outside the key's bounds");
  return {};
}

Result<void> check_write_audience(const events::PolicyKeyDefined& d, bool tenant_writer) {
  if (!tenant_writer || d.write_audience == events::WriteAudience::kTenant) return {};
  Error e{ErrorKind::kPermissionDenied,
          "policy_key_platform_only",
          "only the platform may set values of this policy key",
          {}};
  e.with("key", d.key).with("write_audience", "platform");
  return std::unexpected(std::move(e));
}

Result<void> check_value(const events::PolicyKeyDefined& d, const PolicyValue& v) {
  if (v.type() != d.value_type) {
    Error e{ErrorKind::kFailedPrecondition,
            "value_type_mismatch",
            "value for '" + d.key + "' must be of type " + type_word(d.value_type),
            {}};
    e.with("key", d.key).with("expected_type", type_word(d.value_type)).with("got_type", type_word(v.type()));
    return fail(std::move(e));
  }
  auto out_of_bounds = [&](std::string msg, std::string rule) {
    Error e{ErrorKind::kFailedPrecondition, "value_out_of_bounds", std::move(msg), {}};
    e.with("key", d.key).with("rule_id", std::move(rule)).with("value", describe(v));
    return fail(std::move(e));
  };
  if (const auto* i = std::get_if<std::int64_t>(&v.v)) {
    if (d.min && *i < *d.min) {
      return out_of_bounds("value for '" + d.key + "' must be at least " + std::to_string(*d.min), d.key + "#min");
    }
    if (d.max && *i > *d.max) {
      return out_of_bounds("value for '" + d.key + "' must be at most " + std::to_string(*d.max), d.key + "#max");
    }
  }
  if (const auto* s = std::get_if<std::string>(&v.v)) {
    if (!d.allowed.empty() && std::find(d.allowed.begin(), d.allowed.end(), *s) == d.allowed.end()) {
      std::string list;
      for (const auto& a : d.allowed) list += (list.empty() ? "" : ", ") + a;
      return out_of_bounds("value for '" + d.key + "' must be one of: " + list, d.key + "#enum");
    }
  }
  return {};
}

Result<std::vector<events::Event>> decide(const PolicyKeyState& s, const DefinePolicyKey& c) {
  if (auto ok = validate_definition(c.definition); !ok) return std::unexpected(ok.error());
  if (s.definition) {
    if (*s.definition == c.definition) return std::vector<events::Event>{};  // already so: no-op
    Error e{ErrorKind::kAborted,
            "policy_key_conflict",
            "policy key '" + c.definition.key + "' is already defined differently",
            {}};
    e.with("key", c.definition.key);
    return fail(std::move(e));
  }
  return std::vector<events::Event>{c.definition};
}

Result<std::vector<events::Event>> decide(const PolicyKeyState& s, const SetPolicyValue& c, Instant now) {
  if (!s.definition) {
    Error e{ErrorKind::kNotFound, "unknown_policy_key", "policy key '" + c.key + "' is not in the catalog", {}};
    e.with("key", c.key);
    return fail(std::move(e));
  }
  const auto& def = *s.definition;
  if (auto ok = check_value(def, c.value); !ok) return std::unexpected(ok.error());

  const Instant effective_at = c.effective_at.value_or(now);
  if (effective_at.micros < now.micros - kMaxBackdateMicros) {
    Error e{ErrorKind::kFailedPrecondition,
            "effective_at_in_past",
            "effective_at may not be more than 5 minutes in the past",
            {}};
    e.with("key", c.key);
    return fail(std::move(e));
  }

  auto it = s.latest.find(c.scope);
  const bool at_default = it == s.latest.end();
  const PolicyValue before = at_default ? def.default_value : it->second;
  const auto before_source = at_default ? events::BeforeSource::kDefault : events::BeforeSource::kScope;
  if (c.old_value && !(*c.old_value == before)) {
    Error e{ErrorKind::kAborted, "old_value_mismatch", "old_value does not match the current value at this scope", {}};
    e.with("key", c.key).with("current_value", describe(before)).with("old_value", describe(*c.old_value));
    return fail(std::move(e));
  }
  return std::vector<events::Event>{
      events::PolicyValueSet{c.key, c.scope, before, before_source, c.value, effective_at, c.reason}};
}

PolicyKeyState evolve(PolicyKeyState s, const events::Event& e) {
  ++s.version;
  std::visit(
      [&](const auto& ev) {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, events::PolicyKeyDefined>) {
          s.definition = ev;
        } else if constexpr (std::is_same_v<T, events::PolicyValueSet>) {
          s.latest[ev.scope] = ev.after;
        }
      },
      e);
  return s;
}

}  // namespace ledger::domain
