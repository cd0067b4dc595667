#include "adapters/http/routes/policy_listings.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <tuple>
#include <vector>

#include "adapters/http/routes/http_json.h"
#include "adapters/http/routes/memory_reads.h"
#include "adapters/http/routes/query_params.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger::routes {

using adapters::http::HttpRequest;
using adapters::http::HttpResponse;
using Json = nlohmann::json;

namespace {

constexpr std::int64_t kDefaultLimit = 100;
constexpr std::string_view kCursorPrefix = "pl1.";

// Cursors: "pl1." + the hex of a JSON array naming the last entry answered.
std::string encode_cursor(const Json& last) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string text = last.dump();
  std::string out(kCursorPrefix);
  for (unsigned char c : text) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

domain::Error invalid_cursor() {
  return {domain::ErrorKind::kInvalidArgument, "invalid_cursor", "cursor is not one this route handed out", {}};
}

// The JSON array a cursor names, of `n` strings.
domain::Result<std::vector<std::string>> decode_cursor(std::string_view cursor, std::size_t n) {
  if (!cursor.starts_with(kCursorPrefix) || cursor.size() > 4096 || (cursor.size() - kCursorPrefix.size()) % 2) {
    return std::unexpected(invalid_cursor());
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string text;
  for (std::size_t i = kCursorPrefix.size(); i < cursor.size(); i += 2) {
    const int hi = nibble(cursor[i]), lo = nibble(cursor[i + 1]);
    if (hi < 0 || lo < 0) return std::unexpected(invalid_cursor());
    text.push_back(static_cast<char>(hi * 16 + lo));
  }
  const Json j = Json::parse(text, nullptr, false);
  if (!j.is_array() || j.size() != n) return std::unexpected(invalid_cursor());
  std::vector<std::string> out;
  for (const auto& e : j) {
    if (!e.is_string()) return std::unexpected(invalid_cursor());
    out.push_back(e.get<std::string>());
  }
  return out;
}

domain::Result<std::int64_t> page_limit(const HttpRequest& req) {
  auto limit = int_param(req, "limit", kMaxPageSize);
  if (!limit) return std::unexpected(limit.error());
  if (const auto& n = *limit; n && *n == 0) {
    return std::unexpected(bad_param("limit", "limit must be between 1 and 1000"));
  }
  return limit->value_or(kDefaultLimit);
}

HttpResponse ok(const Json& body) {
  return json_response(200, body.dump(-1, ' ', false, Json::error_handler_t::replace));
}

Json nullable_instant(const std::optional<events::Instant>& t) { return t ? Json(codec::format_instant(*t)) : Json(); }

// One scope's values for one organization, as the listing answers them.
struct Override {
  events::PolicyScope scope;
  std::optional<std::string> tenant;
  std::vector<const domain::ValueCandidate*> values;  // position order
};

// The sort and cursor key of an override: scope level (as named), scope id,
// organization ("" for rows of unknown tenant).
std::tuple<std::string, std::string, std::string> order_key(const Override& o) {
  return {codec::scope_level_name(o.scope.level), o.scope.id, o.tenant.value_or("")};
}

}  // namespace

HttpResponse PolicyListings::handle(const HttpRequest& req, const commands::Principal& who) const {
  if (req.method != "GET") return method_not_allowed("GET");
  auto r = req.path == kKeys ? keys(req) : values(req, who);
  mark_read_model(r, kFromMemory);
  return r;
}

HttpResponse PolicyListings::keys(const HttpRequest& req) const {
  constexpr std::string_view kOwn[] = {"prefix", "limit", "cursor"};
  if (auto bad = unknown_parameter(req, kOwn)) return error_response(*bad);
  auto c = parse_consistency(req, clock_);
  if (!c) return error_response(c.error());
  if (c->as_of_position) {
    return error_response(bad_param("as_of_position", "the catalog is listed at the current position only"));
  }
  auto limit = page_limit(req);
  if (!limit) return error_response(limit.error());
  std::string after;
  if (auto cursor = req.query_param("cursor")) {
    auto last = decode_cursor(*cursor, 1);
    if (!last) return error_response(last.error());
    after = (*last)[0];
  }
  auto snap = memory_snapshot(store_, *c, head_);
  if (!snap) return snap.error();
  const auto& policy = (*snap)->policy;

  Json keys = Json::array();
  Json next = nullptr;
  for (const auto& name : policy.key_names(req.query_param("prefix").value_or(""))) {
    if (!after.empty() && name <= after) continue;
    if (static_cast<std::int64_t>(keys.size()) == *limit) {
      next = encode_cursor(Json::array({keys.back()["key"]}));
      break;
    }
    keys.push_back(codec::encode_payload(events::Event{*policy.key(name)}));
  }
  return ok({{"keys", std::move(keys)}, {"next_cursor", std::move(next)}, {"snapshot_version", (*snap)->position}});
}

HttpResponse PolicyListings::values(const HttpRequest& req, const commands::Principal& who) const {
  constexpr std::string_view kOwn[] = {"key", "organization_id", "level", "limit", "cursor"};
  if (auto bad = unknown_parameter(req, kOwn)) return error_response(*bad);
  const auto key = req.query_param("key");
  if (!key || key->empty()) return error_response(bad_param("key", "key is required"));
  auto c = parse_consistency(req, clock_);
  if (!c) return error_response(c.error());
  if (c->as_of_position) {
    return error_response(bad_param("as_of_position",
                                    "overrides are listed at the current position only; "
                                    "GET /v1/audit/changes/{key} has the history"));
  }
  auto limit = page_limit(req);
  if (!limit) return error_response(limit.error());
  std::optional<events::ScopeLevel> level;
  if (auto text = req.query_param("level")) {
    level = codec::parse_scope_level(*text);
    if (!level) return error_response(bad_param("level", "level must be user, project, organization, plan or global"));
  }
  std::optional<std::tuple<std::string, std::string, std::string>> after;
  if (auto cursor = req.query_param("cursor")) {
    auto last = decode_cursor(*cursor, 3);
    if (!last) return error_response(last.error());
    after.emplace((*last)[0], (*last)[1], (*last)[2]);
  }
  // Whose view: an organization's principal its own; a platform principal
  // every value, or one organization's view with organization_id.
  std::string org = req.query_param("organization_id").value_or("");
  if (is_tenant(who)) {
    if (!org.empty() && org != who.tenant) return error_response(organization_forbidden(who, org, "policy-values"));
    org = who.tenant;
  }
  auto snap = memory_snapshot(store_, *c, head_);
  if (!snap) return snap.error();
  const auto& policy = (*snap)->policy;
  const events::PolicyKeyDefined* def = policy.key(*key);
  if (!def) {
    domain::Error e{
        domain::ErrorKind::kNotFound, "unknown_policy_key", "policy key '" + *key + "' is not in the catalog", {}};
    e.with("key", *key);
    return error_response(e);
  }

  std::vector<Override> overrides;
  if (const auto* by_scope = policy.values_of(*key)) {
    domain::ScopeChain view;
    view.org_id = org;
    for (const auto& [scope, values] : *by_scope) {
      if (level && scope.first != *level) continue;
      // An organization scope is that organization's; a value elsewhere is
      // the view's when it applies to the view's organization.
      if (!org.empty() && scope.first == events::ScopeLevel::kOrganization && scope.second != org) continue;
      std::vector<Override> here;
      for (const auto& v : values) {
        if (!org.empty() && !domain::applies_to(v.tenant, view)) continue;
        auto same = std::find_if(here.begin(), here.end(), [&](const Override& o) { return o.tenant == v.tenant; });
        if (same == here.end()) {
          here.push_back(Override{v.scope, v.tenant, {}});
          same = std::prev(here.end());
        }
        same->values.push_back(&v);
      }
      for (auto& o : here) overrides.push_back(std::move(o));
    }
  }
  std::sort(overrides.begin(), overrides.end(),
            [](const Override& a, const Override& b) { return order_key(a) < order_key(b); });

  Json out = Json::array();
  Json next = nullptr;
  std::tuple<std::string, std::string, std::string> last;
  for (const auto& o : overrides) {
    if (after && order_key(o) <= *after) continue;
    if (static_cast<std::int64_t>(out.size()) == *limit) {
      next = encode_cursor(Json::array({std::get<0>(last), std::get<1>(last), std::get<2>(last)}));
      break;
    }
    last = order_key(o);
    // In force at as_of: the latest effective_at not after it (ties: the
    // later write), as domain::resolve picks at one scope.
    const domain::ValueCandidate* current = nullptr;
    std::vector<const domain::ValueCandidate*> scheduled;
    for (const auto* v : o.values) {
      if (v->effective_at > c->as_of) {
        scheduled.push_back(v);
      } else if (!current || v->effective_at > current->effective_at ||
                 (v->effective_at == current->effective_at && v->position > current->position)) {
        current = v;
      }
    }
    std::stable_sort(scheduled.begin(), scheduled.end(), [](const auto* a, const auto* b) {
      return std::tie(a->effective_at, a->position) < std::tie(b->effective_at, b->position);
    });
    Json later = Json::array();
    for (const auto* v : scheduled) {
      later.push_back({{"value", codec::encode_value(v->value)},
                       {"effective_at", codec::format_instant(v->effective_at)},
                       {"set_at_position", v->position}});
    }
    out.push_back({{"scope", {{"level", codec::scope_level_name(o.scope.level)}, {"id", o.scope.id}}},
                   {"organization_id", o.tenant ? Json(*o.tenant) : Json()},
                   {"value", current ? codec::encode_value(current->value) : Json()},
                   {"effective_at", nullable_instant(current ? std::optional(current->effective_at) : std::nullopt)},
                   {"set_at_position", current ? Json(current->position) : Json()},
                   {"scheduled", std::move(later)}});
  }
  return ok({{"key", *key},
             {"value_type", codec::value_type_name(def->value_type)},
             {"default", codec::encode_value(def->default_value)},
             {"as_of", codec::format_instant(c->as_of)},
             {"overrides", std::move(out)},
             {"next_cursor", std::move(next)},
             {"snapshot_version", (*snap)->position}});
}

}  // namespace ledger::routes
