#include "services/components/query_api.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <thread>

#include "domain/policy_resolution.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"
#include "services/components/http_json.h"

namespace ledger::services {

using adapters::http::HttpRequest;
using adapters::http::HttpResponse;

namespace {

domain::Error bad_param(const std::string& name, std::string message) {
  domain::Error e{domain::ErrorKind::kInvalidArgument, "invalid_parameter", std::move(message), {}};
  e.with("parameter", name);
  return e;
}

// A non-negative 64-bit integer parameter, if present.
domain::Result<std::optional<std::int64_t>> int_param(const HttpRequest& req, const std::string& name,
                                                      std::int64_t max = INT64_MAX) {
  auto v = req.query_param(name);
  if (!v) return std::optional<std::int64_t>{};
  std::int64_t out = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || ptr != v->data() + v->size() || out < 0 || out > max) {
    return std::unexpected(bad_param(name, name + " must be a non-negative integer"));
  }
  return std::optional<std::int64_t>{out};
}

}  // namespace

HttpResponse QueryApi::handle(const HttpRequest& req) {
  constexpr std::string_view kPrefix = "/v1/policy-values/";
  if (req.path.rfind(kPrefix, 0) != 0 || req.path.size() == kPrefix.size()) {
    return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}});
  }
  if (req.method != "GET") {
    auto r = error_response({domain::ErrorKind::kInvalidArgument, "method_not_allowed", "use GET", {}});
    r.status = 405;
    return r;
  }
  const std::string* auth_header = req.header("authorization");
  if (auto p = auth_.authenticate(auth_header ? *auth_header : std::string_view()); !p) return error_response(p.error());
  return policy_value(req, req.path.substr(kPrefix.size()));
}

HttpResponse QueryApi::policy_value(const HttpRequest& req, const std::string& key) {
  domain::ScopeChain chain;
  chain.user_id = req.query_param("user_id").value_or("");
  chain.project_id = req.query_param("project_id").value_or("");
  chain.org_id = req.query_param("org_id").value_or("");
  chain.plan = req.query_param("plan").value_or("");

  events::Instant as_of = clock_.now();
  if (auto t = req.query_param("as_of")) {
    auto parsed = codec::parse_instant(*t);
    if (!parsed) return error_response(bad_param("as_of", "as_of must be an RFC 3339 instant"));
    as_of = *parsed;
  }
  auto as_of_position = int_param(req, "as_of_position");
  if (!as_of_position) return error_response(as_of_position.error());
  auto min_position = int_param(req, "min_position");
  if (!min_position) return error_response(min_position.error());
  auto wait_ms = int_param(req, "wait_ms", 10'000);
  if (!wait_ms) return error_response(wait_ms.error());

  // Read-your-writes: wait (bounded) for the projector to reach min_position.
  const std::int64_t needed = std::max(min_position->value_or(0), as_of_position->value_or(0));
  if (needed > 0) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms->value_or(2000));
    for (;;) {
      auto cp = queries_.checkpoint("policy_values");
      if (!cp) return error_response(cp.error());
      if (*cp >= needed) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        domain::Error e{domain::ErrorKind::kUnavailable, "snapshot_not_ready",
                        "the read model has not reached min_position yet; retry", {}};
        auto r = error_response(e);
        auto body = nlohmann::json::parse(r.body);
        body["snapshot_version"] = *cp;
        body["min_position"] = needed;
        r.body = body.dump();
        return r;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  auto snap = queries_.policy_snapshot(key, chain, *as_of_position);
  if (!snap) return error_response(snap.error());
  if (!snap->key) {
    domain::Error e{domain::ErrorKind::kNotFound, "unknown_policy_key", "policy key '" + key + "' is not in the catalog", {}};
    e.with("key", key);
    return error_response(e);
  }
  const auto res = domain::resolve(*snap->key, chain, snap->candidates, as_of);
  nlohmann::json body = {
      {"key", key},
      {"value", codec::encode_value(res.value)},
      {"value_type", codec::value_type_name(snap->key->value_type)},
      {"source", {{"level", codec::scope_level_name(res.source.level)}, {"id", res.source.id}}},
      {"is_default", res.is_default},
      {"effective_at", res.effective_at ? nlohmann::json(codec::format_instant(*res.effective_at)) : nlohmann::json()},
      {"set_at_position", res.position ? nlohmann::json(*res.position) : nlohmann::json()},
      {"as_of", codec::format_instant(as_of)},
      {"snapshot_version", as_of_position->value_or(snap->snapshot_version)},
  };
  return json_response(200, body.dump());
}

}  // namespace ledger::services
