#include "adapters/http/routes/query_api.h"
#include "adapters/http/routes/app_policy_api.h"
#include "adapters/http/routes/request_actor.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <thread>
#include <utility>
#include <variant>

#include "adapters/http/log_context.h"
#include "adapters/http/routes/admission_api.h"
#include "adapters/http/routes/admission_json.h"
#include "adapters/http/routes/change_feed.h"
#include "adapters/http/routes/config_api.h"
#include "adapters/http/routes/entitlement_reads.h"
#include "adapters/http/routes/http_json.h"
#include "adapters/http/routes/memory_reads.h"
#include "adapters/http/routes/path_aliases.h"
#include "adapters/http/routes/policy_listings.h"
#include "adapters/http/routes/query_params.h"
#include "commands/access/authorization.h"
#include "commands/edge_values.h"
#include "commands/ports.h"
#include "domain/policy_resolution.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"
#include "projections/admission/snapshot_reader.h"

namespace ledger::routes {

using adapters::http::HttpRequest;
using adapters::http::HttpResponse;

HttpResponse QueryApi::refuse(const HttpRequest& req, const commands::Principal& who, const std::string& target_tenant,
                              commands::RouteFamily family, const char* reason, const domain::Error& e) {
  auto refusal = refusal_of(who, target_tenant, family, req.method, req.path, reason);
  // handle() refused an unusable header before any route ran.
  auto corr = commands::header_id("x-correlation-id", req.header("x-correlation-id"));
  if (refusals_) refusals_->record(std::move(refusal), corr ? *corr : std::string());
  return error_response(e);
}

std::expected<commands::Principal, HttpResponse> QueryApi::admit_get(const HttpRequest& req) {
  auto principal = authenticate_request(auth_, req);
  if (!principal) return std::unexpected(error_response(principal.error()));
  const auto family = commands::query_family("GET", req.path);
  if (!family)
    return std::unexpected(error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}}));
  if (auto ok = gate(*principal, *family); !ok) return std::unexpected(error_response(ok.error()));
  if (auto ok = commands::authorize(*principal, *family); !ok) {
    return std::unexpected(refuse(req, *principal, principal->tenant, *family, "role_not_allowed", ok.error()));
  }
  return std::move(*principal);
}

domain::Result<void> QueryApi::gate(const commands::Principal& who, commands::RouteFamily family) {
  if (!gate_) return {};
  return gate_->admit(who, family);
}

HttpResponse QueryApi::handle(const HttpRequest& req) {
  if (auto canonical = canonical_request(req)) return handle(*canonical);  // a seed's path or name (path_aliases.h)
  if (auto refused = refuse_media_type(req)) return finish(req, std::move(*refused));
  begin_request(req);
  return finish(req, route(req));
}

HttpResponse QueryApi::route(const HttpRequest& req) {
  // Header values reach answers (decisions echo the correlation id) and
  // refusal records: checked before any route (commands/edge_values.h).
  if (auto corr = commands::header_id("x-correlation-id", req.header("x-correlation-id")); !corr) {
    return error_response(corr.error());
  }
  if (config_ && ConfigApi::owns(req.path)) {  // seed 004: roles as for every route, then its own checks
    auto principal = admit_get(req);
    if (!principal) return std::move(principal.error());
    return config_->handle(req, *principal);
  }
  const bool entitlement = entitlements_ && EntitlementReads::owns(req.path);
  auto serve = [&](const commands::Principal& who) {
    return entitlement ? entitlements_->handle(req, who) : admission_->handle(req, who);
  };
  if (entitlement || (admission_ && AdmissionApi::owns(req.path))) {
    auto principal = authenticate_request(auth_, req);
    if (!principal) return error_response(principal.error());
    auto family = commands::query_family(req.method, req.path);
    if (!family) {
      // A listed path with another method is answered 405 by the route; a
      // path the role table does not list is served to nobody.
      family = commands::query_family("GET", req.path);
      if (!family) family = commands::query_family("POST", req.path);
      if (!family) return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}});
      if (auto ok = gate(*principal, *family); !ok) return error_response(ok.error());
      return serve(*principal);
    }
    if (auto ok = gate(*principal, *family); !ok) return error_response(ok.error());
    if (auto ok = commands::authorize(*principal, *family); !ok) {
      return refuse(req, *principal, principal->tenant, *family, "role_not_allowed", ok.error());
    }
    return serve(*principal);
  }
  if (app_policies_ && AppPolicyApi::owns(req.path)) {
    auto principal = authenticate_request(auth_, req);
    if (!principal) return error_response(principal.error());
    auto family = commands::query_family(req.method, req.path);
    if (!family) family = commands::query_family(req.method == "GET" ? "POST" : "GET", req.path);
    if (!family) return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}});
    if (auto ok = gate(*principal, *family); !ok) return error_response(ok.error());
    if (auto ok = commands::authorize(*principal, *family); !ok) {
      return refuse(req, *principal, principal->tenant, *family, "role_not_allowed", ok.error());
    }
    return app_policies_->handle(req, *principal);
  }
  if (listings_ && PolicyListings::owns(req.path)) {
    auto principal = admit_get(req);
    if (!principal) return std::move(principal.error());
    return listings_->handle(req, *principal);
  }
  constexpr std::string_view kPolicyValues = "/v1/policy-values/";
  constexpr std::string_view kAudit = "/v1/audit";
  constexpr std::string_view kChanges = "/v1/audit/changes/";
  enum class Route { kPolicyValue, kAudit, kChanges } route;
  std::string rest;
  if (req.path.starts_with(kPolicyValues) && req.path.size() > kPolicyValues.size()) {
    route = Route::kPolicyValue;
    rest = req.path.substr(kPolicyValues.size());
  } else if (audit_ && req.path == kAudit) {
    route = Route::kAudit;
  } else if (audit_ && req.path.starts_with(kChanges) && req.path.size() > kChanges.size()) {
    route = Route::kChanges;
    rest = req.path.substr(kChanges.size());
  } else {
    return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}});
  }
  if (req.method != "GET") return method_not_allowed("GET");
  auto principal = authenticate_request(auth_, req);
  if (!principal) return error_response(principal.error());
  const auto family = commands::query_family(req.method, req.path);
  if (!family) return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}});
  if (auto ok = gate(*principal, *family); !ok) return error_response(ok.error());
  if (auto ok = commands::authorize(*principal, *family); !ok) {
    return refuse(req, *principal, principal->tenant, *family, "role_not_allowed", ok.error());
  }
  switch (route) {
    case Route::kPolicyValue: {
      auto r = policy_value(req, *principal, rest);
      mark_read_model(r, from_memory(req) ? kFromMemory : kFromPostgres);
      return r;
    }
    case Route::kAudit:
      return audit_log(req, *principal);
    case Route::kChanges:
      return audit_changes(req, *principal, rest);
  }
  return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}});
}

bool QueryApi::from_memory(const HttpRequest& req) const {
  constexpr std::string_view kPolicyValues = "/v1/policy-values/";
  // In route()'s order: the configuration reads come first and are always
  // answered from the store (ConfigApi).
  if (config_ && ConfigApi::owns(req.path)) return true;
  if (entitlements_ && EntitlementReads::owns(req.path)) return true;
  if (admission_ && AdmissionApi::owns(req.path)) return admission_->from_memory(req);
  if (app_policies_ && AppPolicyApi::owns(req.path)) return memory_ != nullptr;
  if (listings_ && PolicyListings::owns(req.path)) return true;
  return memory_ && req.path.starts_with(kPolicyValues) && !req.query_param("as_of_position");
}

bool QueryApi::answers_at_once(const HttpRequest& req) const {
  return memory_waits_ != nullptr && admission_ != nullptr && req.method == "POST" &&
         req.path == AdmissionApi::kDecisionPath && admission_->from_memory(req);
}

void QueryApi::changes(const HttpRequest& req, const adapters::http::HttpResponder& respond) {
  begin_request(req);
  auto answer = [&]() -> std::optional<HttpResponse> {
    if (auto corr = commands::header_id("x-correlation-id", req.header("x-correlation-id")); !corr) {
      return error_response(corr.error());
    }
    auto principal = admit_get(req);
    if (!principal) return std::move(principal.error());
    return changes_->subscribe(req, *principal, respond);
  }();
  if (answer) return respond.send(finish(req, std::move(*answer)));
  adapters::http::set_log_correlation_id({});  // streaming: this thread's part of the request is over
}

void QueryApi::handle(HttpRequest req, const adapters::http::HttpResponder& respond) {
  if (auto canonical = canonical_request(req)) req = std::move(*canonical);
  if (changes_ && req.path == ChangeFeed::kPath) return changes(req, respond);
  // A route answered from memory waits on the store's position, the others
  // on the read models' checkpoints.
  const bool memory = from_memory(req) && memory_waits_ != nullptr;
  SnapshotWaits* waits = memory ? memory_waits_ : waits_;
  if (!waits) return respond.send(handle(req));
  // What the request waits for; anything malformed is the route's to refuse.
  auto min_position = position_param(req, "min_position");
  auto as_of_position = position_param(req, "as_of_position");
  auto wait_ms = int_param(req, "wait_ms", 10'000);
  if (!min_position || !as_of_position || !wait_ms) return respond.send(handle(req));
  const events::GlobalPosition needed =
      std::max(min_position->value_or(events::GlobalPosition{}), as_of_position->value_or(events::GlobalPosition{}));
  const std::int64_t wait = wait_ms->value_or(2000);
  if (needed <= events::GlobalPosition{} || wait <= 0) return respond.send(handle(req));
  auto principal = authenticate_request(auth_, req);
  if (!principal) return respond.send(handle(req));

  // From here on the route never waits itself: it answers at once from what
  // the read models have (200, or 503 snapshot_not_ready after a timeout).
  bool replaced = false;
  for (auto& [name, value] : req.query) {
    if (name == "wait_ms") {
      value = "0";
      replaced = true;
    }
  }
  if (!replaced) req.query.emplace_back("wait_ms", "0");

  auto cp = waits->checkpoint();
  if (cp && *cp >= needed) return respond.send(handle(req));
  if (head_) {
    auto head = head_();
    // Beyond the head (or the head unreadable): the route refuses at once.
    if (!head || needed > *head) return respond.send(handle(req));
  }
  const std::string key = principal->tenant + "/" + principal->actor.type + ":" + principal->actor.id;
  auto parked = std::make_shared<const HttpRequest>(std::move(req));
  auto ok = waits->wait(
      key, needed, std::chrono::milliseconds(wait), [this, parked, respond](SnapshotWaits::Outcome outcome) {
        if (outcome == SnapshotWaits::Outcome::kStopped) {
          return respond.send(finish(
              *parked,
              error_response({domain::ErrorKind::kUnavailable, "shutting_down", "the service is shutting down", {}})));
        }
        respond.resume([this, parked, respond] { respond.send(handle(*parked)); });
      });
  if (!ok) {
    spdlog::info("read wait refused for {}: {}", key, ok.error().message);
    respond.send(finish(*parked, error_response(ok.error())));
  }
}

std::optional<HttpResponse> QueryApi::foreign_scope(const HttpRequest& req, const commands::Principal& who,
                                                    const domain::ScopeChain& chain,
                                                    const projections::QuerySnapshot* memory) {
  if (!hierarchy_) return std::nullopt;
  const std::pair<events::QuotaScope, const char*> named[] = {
      {{events::QuotaLevel::kPrincipal, chain.user_id}, "user_id"},
      {{events::QuotaLevel::kProject, chain.project_id}, "project_id"}};
  for (const auto& [scope, param] : named) {
    if (scope.id.empty()) continue;
    std::optional<std::string> organization;  // the node's, when the hierarchy knows it
    if (memory) {
      if (const auto* node = memory->admission.node(scope)) organization = node->organization_id;
    } else {
      auto found = hierarchy_->node(scope, std::nullopt);
      if (!found) return error_response(found.error());
      if (const auto& node = found->node) organization = node->organization_id;
    }
    if (organization && *organization != who.tenant) {
      domain::Error e{domain::ErrorKind::kPermissionDenied,
                      "forbidden",
                      "this principal may only read its own organization's policy values",
                      {}};
      e.with(param, scope.id);
      return refuse(req, who, *organization, commands::RouteFamily::kPolicyValueRead, "tenant_mismatch", e);
    }
  }
  return std::nullopt;
}

namespace {

// The next scheduled change of a resolved value (domain::next_change), or null.
nlohmann::json next_change_json(const std::optional<domain::Resolution>& next) {
  if (!next) return nullptr;
  return {{"value", codec::encode_value(next->value)},
          {"source", {{"level", codec::scope_level_name(next->source.level)}, {"id", next->source.id}}},
          {"is_default", next->is_default},
          {"effective_at",
           next->effective_at ? nlohmann::json(codec::format_instant(*next->effective_at)) : nlohmann::json()},
          {"set_at_position", next->position ? nlohmann::json(*next->position) : nlohmann::json()}};
}

}  // namespace

HttpResponse QueryApi::policy_value(const HttpRequest& req, const commands::Principal& who, const std::string& key) {
  constexpr std::string_view kOwn[] = {"user_id", "project_id", "organization_id", "plan"};
  if (auto bad = unknown_parameter(req, kOwn)) return error_response(*bad);
  domain::ScopeChain chain;
  chain.user_id = req.query_param("user_id").value_or("");
  chain.project_id = req.query_param("project_id").value_or("");
  chain.org_id = req.query_param("organization_id").value_or("");
  chain.plan = req.query_param("plan").value_or("");
  if (commands::is_tenant_principal(who)) {
    // An organization's principal resolves within its own organization.
    if (!chain.org_id.empty() && chain.org_id != who.tenant) {
      domain::Error e{domain::ErrorKind::kPermissionDenied,
                      "forbidden",
                      "this principal may only read its own organization's policy values",
                      {}};
      e.with("organization_id", chain.org_id);
      return refuse(req, who, chain.org_id, commands::RouteFamily::kPolicyValueRead, "tenant_mismatch", e);
    }
    chain.org_id = who.tenant;
  }

  events::Instant as_of = clock_.now();
  if (auto t = req.query_param("as_of")) {
    auto parsed = codec::parse_instant(*t);
    if (!parsed) return error_response(bad_param("as_of", "as_of must be an RFC 3339 instant"));
    as_of = *parsed;
  }
  auto as_of_position = position_param(req, "as_of_position");
  if (!as_of_position) return error_response(as_of_position.error());
  auto min_position = position_param(req, "min_position");
  if (!min_position) return error_response(min_position.error());
  auto wait_ms = int_param(req, "wait_ms", 10'000);
  if (!wait_ms) return error_response(wait_ms.error());

  // From memory (no as_of_position): one snapshot of the in-memory models,
  // after any read-your-writes wait; else the stored read model.
  std::optional<projections::SnapshotReader> in_memory;
  if (memory_ && !*as_of_position) {
    Consistency c;
    c.as_of = as_of;
    c.min_position = min_position->value_or(events::GlobalPosition{});
    c.wait_ms = wait_ms->value_or(2000);
    auto snap = memory_snapshot(*memory_, c, [&]() -> domain::Result<events::GlobalPosition> {
      if (audit_) return audit_->head_position();
      if (hierarchy_) return hierarchy_->head_position();
      return memory_->position();  // nothing to check a position against: wait for it
    });
    if (!snap) return snap.error();
    in_memory.emplace(std::move(*snap));
  } else {
    // Read-your-writes: wait (bounded) for the projector to reach
    // min_position, never for a position beyond the head.
    const events::GlobalPosition needed =
        std::max(min_position->value_or(events::GlobalPosition{}), as_of_position->value_or(events::GlobalPosition{}));
    if (needed > events::GlobalPosition{} && (audit_ || hierarchy_)) {
      auto cp = queries_.checkpoint();
      if (!cp) return error_response(cp.error());
      // A position beyond the head is refused at once (400
      // position_beyond_head), as on every other route: waiting for it could
      // only end in 503, and a client retrying that would never succeed.
      if (*cp < needed) {
        auto head = [&] { return audit_ ? audit_->head_position() : hierarchy_->head_position(); };
        if (auto refused = beyond_head(min_position->value_or(events::GlobalPosition{}), *as_of_position, head))
          return *refused;
      }
    }
    if (auto not_ready = wait_for_snapshot([&] { return queries_.checkpoint(); }, needed, wait_ms->value_or(2000))) {
      return *not_ready;
    }
  }
  if (commands::is_tenant_principal(who)) {
    // A user or project the hierarchy places in another organization is not
    // this principal's to read (a scope it does not know is answered as the
    // caller's own, as writes attribute it).
    if (auto refused = foreign_scope(req, who, chain, in_memory ? &in_memory->snapshot() : nullptr)) return *refused;
  }

  projections::PolicyValueReader& reader =
      in_memory ? static_cast<projections::PolicyValueReader&>(*in_memory) : queries_;
  auto snap = reader.policy_snapshot(key, chain, *as_of_position);
  if (!snap) return error_response(snap.error());
  const auto& policy_key = snap->key;
  if (!policy_key) {
    domain::Error e{
        domain::ErrorKind::kNotFound, "unknown_policy_key", "policy key '" + key + "' is not in the catalog", {}};
    e.with("key", key);
    return error_response(e);
  }
  const auto res = domain::resolve(*policy_key, chain, snap->candidates, as_of);
  const auto next = domain::next_change(*policy_key, chain, snap->candidates, as_of);
  nlohmann::json body = {
      {"key", key},
      {"value", codec::encode_value(res.value)},
      {"value_type", codec::value_type_name(policy_key->value_type)},
      {"source", {{"level", codec::scope_level_name(res.source.level)}, {"id", res.source.id}}},
      {"is_default", res.is_default},
      {"effective_at", res.effective_at ? nlohmann::json(codec::format_instant(*res.effective_at)) : nlohmann::json()},
      {"set_at_position", res.position ? nlohmann::json(*res.position) : nlohmann::json()},
      {"as_of", codec::format_instant(as_of)},
      {"next_change", next_change_json(next)},
      {"snapshot_version", as_of_position->value_or(events::GlobalPosition{snap->snapshot_version})},
  };
  return json_response(200, body.dump());
}

// ---------------------------------------------------------------- audit

namespace {

using projections::AuditFilter;
using projections::AuditPage;
using projections::AuditRow;
using Json = nlohmann::json;

constexpr std::int64_t kDefaultLimit = 100;
constexpr std::int64_t kMaxLimit = kMaxPageSize;
constexpr std::string_view kCursorPrefix = "audit.v1:";
Json nullable(const std::optional<std::string>& s) { return s ? Json(*s) : Json(); }
Json nullable_json(const std::optional<std::string>& text) { return text ? Json::parse(*text) : Json(); }

Json scope_json(const AuditRow& r) {
  if (!r.scope_level) return Json();
  return {{"level", *r.scope_level}, {"id", r.scope_id.value_or("")}};
}

Json actor_json(const events::Actor& a) { return {{"type", a.type}, {"id", a.id}, {"roles", a.roles}}; }

Json row_json(const AuditRow& r) {
  return {
      {"position", r.position},
      {"event_id", r.event_id},
      {"tenant", r.tenant},
      {"stream_id", r.stream_id},
      {"stream_version", r.stream_version},
      {"event_type", r.event_type},
      {"schema_version", r.schema_version},
      {"subject", {{"kind", r.subject_kind}, {"key", r.subject_key}}},
      {"scope", scope_json(r)},
      {"before", nullable_json(r.before_json)},
      {"before_source", nullable(r.before_source)},
      {"after", Json::parse(r.after_json)},
      {"reason", nullable(r.reason)},
      {"actor", actor_json(r.actor)},
      {"occurred_at", codec::format_instant(r.occurred_at)},
      {"recorded_at", codec::format_instant(r.recorded_at)},
      {"effective_at", r.effective_at ? Json(codec::format_instant(*r.effective_at)) : Json()},
      {"correlation_id", r.correlation_id},
      {"causation_id", r.causation_id},
      {"command_id", r.command_id},
      // Mutation evidence (seed 001, rule 5): what the writer decided
      // the command against, beside the position it wrote.
      {"evidence", {{"snapshot_kind", commands::kWriterSnapshotKind}, {"snapshot_version", r.decided_at_position}}}};
}

domain::Error invalid_cursor(std::string message) {
  return {domain::ErrorKind::kInvalidArgument, "invalid_cursor", std::move(message), {}};
}

// A parsed audit request: the filter plus how to wait and answer.
struct AuditQuery {
  AuditFilter filter;
  bool jsonl = false;
  std::optional<events::GlobalPosition> as_of_position;
  std::optional<std::int64_t> cursor;
  events::GlobalPosition min_position;
  std::int64_t wait_ms = 2000;
};

// The parameters each audit route accepts.
constexpr std::string_view kCommonParameters[] = {"limit",        "cursor",  "as_of",       "as_of_position",
                                                  "min_position", "wait_ms", "scope_level", "scope_id"};
constexpr std::string_view kLogParameters[] = {"tenant",     "descendants",    "key",        "actor_id", "actor_type",
                                               "event_type", "correlation_id", "command_id", "from",     "to",
                                               "format"};

bool known_event_type(std::string_view name) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return ((name == std::variant_alternative_t<I, events::Event>::kType) || ...);
  }(std::make_index_sequence<std::variant_size_v<events::Event>>{});
}

bool listed(std::span<const std::string_view> names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The levels audit rows are filed under: the policy levels (user, project,
// organization, plan, global) and the admission ones (department, principal).
constexpr std::string_view kAuditScopeLevels[] = {"global",  "plan",      "organization", "department",
                                                  "project", "principal", "user"};

// Parameters both audit routes share, after the route's own were read.
domain::Result<AuditQuery> parse_audit_query(const HttpRequest& req, const commands::Principal& who, bool log_route) {
  AuditQuery q;
  // Unknown parameters are refused: a misspelt filter must not silently
  // widen an auditor's answer to everything.
  for (const auto& [name, value] : req.query) {
    if (listed(kCommonParameters, name) || (log_route && listed(kLogParameters, name))) continue;
    return std::unexpected(unknown_param(name));
  }
  auto& f = q.filter;

  auto limit = int_param(req, "limit", kMaxLimit);
  if (!limit || limit->value_or(1) < 1) {
    return std::unexpected(bad_param("limit", "limit must be an integer from 1 to " + std::to_string(kMaxLimit)));
  }
  f.limit = static_cast<std::size_t>(limit->value_or(kDefaultLimit));

  if (auto c = req.query_param("cursor")) {
    q.cursor = QueryApi::decode_cursor(*c);
    if (!q.cursor) return std::unexpected(invalid_cursor("cursor is malformed; pass back a next_cursor unchanged"));
    f.after_position = *q.cursor;
  }

  auto from = instant_param(req, "from");
  if (!from) return std::unexpected(from.error());
  auto to = instant_param(req, "to");
  if (!to) return std::unexpected(to.error());
  auto as_of = instant_param(req, "as_of");
  if (!as_of) return std::unexpected(as_of.error());
  const auto& recorded_from = *from;
  const auto& recorded_to = *to;
  if (recorded_from && recorded_to && recorded_from->micros > recorded_to->micros) {
    return std::unexpected(bad_param("from", "from must not be after to"));
  }
  f.recorded_from = recorded_from;
  f.recorded_to = recorded_to;
  if (const auto& until = *as_of) {  // recorded at or before as_of: [.., as_of + 1us)
    const events::Instant end{until->micros + 1};
    if (!f.recorded_to || end < *f.recorded_to) f.recorded_to = end;
  }

  auto as_of_position = position_param(req, "as_of_position");
  if (!as_of_position) return std::unexpected(as_of_position.error());
  q.as_of_position = *as_of_position;
  f.max_position = *as_of_position;
  auto min_position = position_param(req, "min_position");
  if (!min_position) return std::unexpected(min_position.error());
  q.min_position = min_position->value_or(events::GlobalPosition{});
  auto wait_ms = int_param(req, "wait_ms", 10'000);
  if (!wait_ms) return std::unexpected(wait_ms.error());
  q.wait_ms = wait_ms->value_or(2000);

  if (auto level = req.query_param("scope_level")) {
    if (!listed(kAuditScopeLevels, *level)) {
      return std::unexpected(bad_param("scope_level",
                                       "scope_level must be global, plan, organization, department, project, "
                                       "principal or user"));
    }
    f.scope_level = *level;
  }
  if (auto id = req.query_param("scope_id")) {
    if (!f.scope_level) return std::unexpected(bad_param("scope_id", "scope_id needs scope_level"));
    f.scope_id = *id;
  }

  if (log_route) {
    if (auto d = req.query_param("descendants"); d && *d != "false") {
      if (*d != "true") return std::unexpected(bad_param("descendants", "descendants must be true or false"));
      if (!f.scope_level) return std::unexpected(bad_param("descendants", "descendants needs scope_level"));
      if (*f.scope_level == "global") {
        f.scope_level.reset();  // everything lies below the global level
        f.scope_id.reset();
      } else if (*f.scope_level == "plan") {
        return std::unexpected(
            bad_param("descendants", "the ledger does not record which organizations a plan covers"));
      } else {
        // organization: its tenant's rows; department, project, principal,
        // user: the subtree at each row's position (AuditFilter::in_subtree).
        if (!f.scope_id) {
          return std::unexpected(bad_param("descendants", "descendants of a " + *f.scope_level + " need scope_id"));
        }
        f.include_descendants = true;
      }
    }
    f.tenant = req.query_param("tenant");
    if (auto key = req.query_param("key")) {
      f.subject_kind = "policy_key";
      f.subject_key = *key;
    }
    f.actor_id = req.query_param("actor_id");
    f.actor_type = req.query_param("actor_type");
    f.correlation_id = req.query_param("correlation_id");
    f.command_id = req.query_param("command_id");
    if (auto type = req.query_param("event_type")) {
      if (!known_event_type(*type)) {
        return std::unexpected(bad_param("event_type", "unknown event type '" + *type + "'"));
      }
      f.event_type = *type;
    }
    const std::string format = req.query_param("format").value_or("json");
    if (format != "json" && format != "jsonl") {
      return std::unexpected(bad_param("format", "format must be json or jsonl"));
    }
    q.jsonl = format == "jsonl";
  }

  // Tenant isolation: an organization's principal sees its own rows only,
  // and asking for another organization by tenant or organization scope is
  // refused (the caller records it: invariant 7).
  if (commands::is_tenant_principal(who)) {
    std::optional<std::string> other;
    if (f.tenant && *f.tenant != who.tenant)
      other = *f.tenant;
    else if (f.scope_level == "organization" && f.scope_id && *f.scope_id != who.tenant)
      other = *f.scope_id;
    if (other) {
      domain::Error e{domain::ErrorKind::kPermissionDenied,
                      "forbidden",
                      "this principal may read its own organization's audit log only",
                      {}};
      e.with("tenant", *other);
      return std::unexpected(std::move(e));
    }
    f.tenant = who.tenant;
  }
  return q;
}

}  // namespace

std::string QueryApi::encode_cursor(std::int64_t position) {
  return base64url(std::string(kCursorPrefix) + std::to_string(position));
}

std::optional<std::int64_t> QueryApi::decode_cursor(std::string_view cursor) {
  if (cursor.empty() || cursor.size() > 64) return std::nullopt;
  auto text = unbase64url(cursor);
  if (!text || text->rfind(kCursorPrefix, 0) != 0) return std::nullopt;
  const std::string_view digits = std::string_view(*text).substr(kCursorPrefix.size());
  std::int64_t position = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), position);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || position < 0) return std::nullopt;
  // Only the exact text this service issues: no leading zeros, no padding bits.
  if (encode_cursor(position) != cursor) return std::nullopt;
  return position;
}

namespace {

// Checks positions against the head, waits for the snapshot, reads the page.
domain::Result<AuditPage> read_audit_page(projections::AuditReader& audit, const AuditQuery& q,
                                          std::optional<HttpResponse>& answer) {
  if (q.as_of_position || q.cursor || q.min_position > events::GlobalPosition{}) {
    auto head = audit.head_position();
    if (!head) return std::unexpected(head.error());
    if (q.min_position > *head) {
      domain::Error e{domain::ErrorKind::kInvalidArgument,
                      "position_beyond_head",
                      "min_position lies beyond the last event of the ledger",
                      {}};
      e.with("min_position", q.min_position.value).with("head_position", head->value);
      return std::unexpected(std::move(e));
    }
    if (q.as_of_position && *q.as_of_position > *head) {
      domain::Error e{domain::ErrorKind::kInvalidArgument,
                      "position_beyond_head",
                      "as_of_position lies beyond the last event of the ledger",
                      {}};
      e.with("as_of_position", q.as_of_position->value).with("head_position", head->value);
      return std::unexpected(std::move(e));
    }
    if (q.cursor && *q.cursor > head->value) return std::unexpected(invalid_cursor("cursor is unknown to this ledger"));
  }
  const events::GlobalPosition needed = std::max(q.min_position, q.as_of_position.value_or(events::GlobalPosition{}));
  // A subtree is read at the lower of the audit and admission checkpoints
  // (AuditReader::page_position), so both must have reached `needed`.
  answer = wait_for_snapshot([&] { return audit.page_position(q.filter); }, needed, q.wait_ms);
  if (answer) return AuditPage{};
  return audit.audit_page(q.filter);
}

}  // namespace

namespace {

// The organization a refused audit query asked for (parse_audit_query's evidence).
std::string refused_tenant(const domain::Error& e) { return e.evidence_text("tenant"); }

}  // namespace

HttpResponse QueryApi::audit_log(const HttpRequest& req, const commands::Principal& who) {
  auto q = parse_audit_query(req, who, /*log_route=*/true);
  if (!q && q.error().kind == domain::ErrorKind::kPermissionDenied) {
    return refuse(req, who, refused_tenant(q.error()), commands::RouteFamily::kAuditRead, "tenant_mismatch", q.error());
  }
  if (!q) return error_response(q.error());
  std::optional<HttpResponse> not_ready;
  auto page = read_audit_page(*audit_, *q, not_ready);
  if (not_ready) return *not_ready;
  if (!page) return error_response(page.error());

  const std::int64_t snapshot = q->as_of_position.value_or(events::GlobalPosition{page->snapshot_version}).value;
  const std::optional<std::string> next =
      page->has_more ? std::optional<std::string>(encode_cursor(page->rows.back().position)) : std::nullopt;
  if (q->jsonl) {
    HttpResponse r;
    r.status = 200;
    r.content_type = "application/x-ndjson";
    for (const auto& row : page->rows) r.body += dump_lenient(row_json(row)) + "\n";
    r.headers.emplace_back("x-snapshot-version", std::to_string(snapshot));
    r.headers.emplace_back("x-has-more", page->has_more ? "true" : "false");
    if (next) r.headers.emplace_back("x-next-cursor", *next);
    return r;
  }
  Json items = Json::array();
  for (const auto& row : page->rows) items.push_back(row_json(row));
  Json body = {{"items", std::move(items)},
               {"next_cursor", nullable(next)},
               {"has_more", page->has_more},
               {"snapshot_version", snapshot}};
  return json_response(200, dump_lenient(body));
}

HttpResponse QueryApi::audit_changes(const HttpRequest& req, const commands::Principal& who, const std::string& key) {
  auto q = parse_audit_query(req, who, /*log_route=*/false);
  if (!q && q.error().kind == domain::ErrorKind::kPermissionDenied) {
    return refuse(req, who, refused_tenant(q.error()), commands::RouteFamily::kAuditRead, "tenant_mismatch", q.error());
  }
  if (!q) return error_response(q.error());
  q->filter.subject_kind = "policy_key";
  q->filter.subject_key = key;
  q->filter.with_latest = true;
  std::optional<HttpResponse> not_ready;
  auto page = read_audit_page(*audit_, *q, not_ready);
  if (not_ready) return *not_ready;
  if (!page) return error_response(page.error());

  if (!page->latest) {
    // No change at that scope: is the key known at all, in the same bounds?
    bool known = false;
    if (q->filter.scope_level) {
      AuditFilter any = q->filter;
      any.scope_level.reset();
      any.scope_id.reset();
      any.after_position = 0;
      any.limit = 1;
      any.with_latest = false;
      const events::GlobalPosition read_at{page->snapshot_version};
      any.max_position = std::min(q->filter.max_position.value_or(read_at), read_at);
      auto found = audit_->audit_page(any);
      if (!found) return error_response(found.error());
      known = !found->rows.empty();
    }
    if (!known) {
      domain::Error e{
          domain::ErrorKind::kNotFound, "unknown_policy_key", "policy key '" + key + "' has no recorded change", {}};
      e.with("key", key);
      return error_response(e);
    }
  }
  Json changes = Json::array();
  for (const auto& row : page->rows) {
    changes.push_back({{"position", row.position},
                       {"event_id", row.event_id},
                       {"event_type", row.event_type},
                       {"scope", scope_json(row)},
                       {"actor", actor_json(row.actor)},
                       {"recorded_at", codec::format_instant(row.recorded_at)},
                       {"occurred_at", codec::format_instant(row.occurred_at)},
                       {"effective_at", row.effective_at ? Json(codec::format_instant(*row.effective_at)) : Json()},
                       {"before", nullable_json(row.before_json)},
                       {"before_source", nullable(row.before_source)},
                       {"after", Json::parse(row.after_json)},
                       {"reason", nullable(row.reason)},
                       {"correlation_id", row.correlation_id},
                       {"command_id", row.command_id}});
  }
  const auto& last = page->latest;
  const auto& scope_level = q->filter.scope_level;
  Json scope = scope_level ? Json{{"level", *scope_level}, {"id", q->filter.scope_id.value_or("")}} : Json();
  Json body = {
      {"key", key},
      {"scope", std::move(scope)},
      {"changes", std::move(changes)},
      {"last_updated_by", last ? actor_json(last->actor) : Json()},
      {"last_updated_at", last ? Json(codec::format_instant(last->recorded_at)) : Json()},
      {"last_updated_position", last ? Json(last->position) : Json()},
      {"next_cursor", page->has_more ? Json(encode_cursor(page->rows.back().position)) : Json()},
      {"has_more", page->has_more},
      {"snapshot_version", q->as_of_position.value_or(events::GlobalPosition{page->snapshot_version})},
  };
  return json_response(200, dump_lenient(body));
}

}  // namespace ledger::routes
