#include "adapters/http/routes/entitlement_reads.h"

#include <nlohmann/json.hpp>

#include "adapters/http/routes/http_json.h"
#include "adapters/http/routes/memory_reads.h"
#include "adapters/http/routes/query_params.h"
#include "commands/access/authorization.h"
#include "commands/decode.h"
#include "events/codec/rfc3339.h"

namespace ledger::routes {

using adapters::http::HttpRequest;
using adapters::http::HttpResponse;
using Json = nlohmann::json;
namespace ent = domain::entitlements;

namespace {

constexpr std::string_view kCheck = "/v1/entitlements:check";
constexpr std::string_view kBatch = "/v1/entitlements:batchCheck";
constexpr std::string_view kActive = "/v1/entitlements/active";
constexpr std::string_view kCapabilities = "/v1/capabilities";
constexpr std::string_view kPlans = "/v1/plans";
constexpr std::string_view kPolicies = "/v1/policies/";
constexpr std::size_t kMaxBatch = 1000;

HttpResponse ok(Json body) {
  return json_response(200, body.dump(-1, ' ', false, Json::error_handler_t::replace));
}

domain::Error invalid(std::string code, std::string message, std::string field) {
  domain::Error e{domain::ErrorKind::kInvalidArgument, std::move(code), std::move(message), {}};
  e.with("field", std::move(field));
  return e;
}

Json rules_json(const ent::Rules& r) {
  Json j = {{"type", r.type}, {"allowedPlans", r.allowed_plans}};
  if (!r.deny_overrides.empty()) j["denyOverrides"] = r.deny_overrides;
  return j;
}

std::string instant(events::Instant t) { return codec::format_instant(t); }

// One check request out of a JSON object.
domain::Result<projections::EntitlementCheckRequest> check_request(const Json& b) {
  if (!b.is_object()) return std::unexpected(invalid("invalid_field", "a check is a JSON object", "checks"));
  projections::EntitlementCheckRequest r;
  for (auto it = b.begin(); it != b.end(); ++it) {
    const auto& k = it.key();
    if (k != "tenant" && k != "environment" && k != "organization_id" && k != "plan" && k != "capability") {
      return std::unexpected(invalid("unknown_field", "unknown field '" + k + "'", k));
    }
    if (!it->is_string() || it->get_ref<const std::string&>().size() > 128) {
      return std::unexpected(invalid("invalid_field", "field '" + k + "' must be a string of at most 128", k));
    }
  }
  auto get = [&](const char* k) { return b.contains(k) ? b[k].get<std::string>() : std::string(); };
  r.tenant = get("tenant");
  if (r.tenant.empty()) r.tenant = std::string(ent::kDefaultTenant);
  r.environment = get("environment");
  r.organization_id = get("organization_id");
  r.plan = get("plan");
  r.capability = get("capability");
  if (auto e = ent::check_environment(r.environment); !e) return std::unexpected(e.error());
  if (r.capability.empty()) return std::unexpected(invalid("missing_field", "field 'capability' is required", "capability"));
  if (r.organization_id.empty() == r.plan.empty()) {
    return std::unexpected(invalid("invalid_field", "name exactly one of organization_id and plan", "organization_id"));
  }
  return r;
}

Json answer_json(const projections::EntitlementCheckRequest& in, const projections::EntitlementCheckAnswer& a,
                 std::int64_t snapshot_version) {
  const auto& r = a.result;
  Json j = {{"allowed", r.allowed},
            {"reason", r.reason},
            {"tenant", in.tenant},
            {"environment", in.environment},
            {"capability", in.capability},
            {"plan", a.plan},
            {"policy_id", r.policy_id.empty() ? Json(nullptr) : Json(r.policy_id)},
            {"version", r.version == 0 ? Json(nullptr) : Json(r.version)},
            {"version_id", r.version_id.empty() ? Json(nullptr) : Json(r.version_id)},
            {"activation_id", r.activation_id.empty() ? Json(nullptr) : Json(r.activation_id)},
            {"snapshot_version", snapshot_version}};
  if (!in.organization_id.empty()) j["organization_id"] = in.organization_id;
  return j;
}

}  // namespace

bool EntitlementReads::owns(std::string_view path) {
  return path == kCheck || path == kBatch || path == kActive || path == kCapabilities || path == kPlans ||
         (path.starts_with(kPolicies) && path.size() > kPolicies.size());
}

HttpResponse EntitlementReads::handle(const HttpRequest& req, const commands::Principal& who) const {
  HttpResponse r = answer(req, who);
  mark_read_model(r, kFromMemory);  // never a SQL statement here
  return r;
}

HttpResponse EntitlementReads::answer(const HttpRequest& req, const commands::Principal& who) const {
  const bool check = req.path == kCheck || req.path == kBatch;
  const std::string_view want = check ? "POST" : "GET";
  if (req.method != want) {
    auto r = error_response({domain::ErrorKind::kInvalidArgument, "method_not_allowed",
                             "use " + std::string(want), {}});
    r.status = 405;
    r.headers.emplace_back("allow", std::string(want));
    return r;
  }
  const auto family = check ? commands::RouteFamily::kEntitlementCheck : commands::RouteFamily::kEntitlementRead;
  auto forbid = [&](const std::string& target, const domain::Error& e) {
    if (refusals_) refusals_->record(adapters::kafka::refusal_of(who, target, family, req.method, req.path, "tenant_mismatch"), "");
    return error_response(e);
  };
  static constexpr std::string_view kOwn[] = {"tenant", "environment"};
  if (auto bad = unknown_parameter(req, kOwn)) return error_response(*bad);
  auto c = parse_consistency(req, clock_);
  if (!c) return error_response(c.error());
  ent::Cut cut;
  if (c->as_of_position) cut.position = *c->as_of_position;
  if (req.query_param("as_of")) cut.time = c->as_of;
  Consistency need = *c;
  // An as-of position needs the model to have reached it.
  if (c->as_of_position) {
    if (auto beyond = beyond_head(c->min_position, c->as_of_position, head_)) return *beyond;
    need.min_position = std::max(need.min_position, *c->as_of_position);
  }
  auto snap = memory_snapshot(store_, need, head_);
  if (!snap) return std::move(snap.error());
  const auto& s = **snap;
  const auto& view = s.entitlements;
  const auto& model = view.model();
  std::string tenant = req.query_param("tenant").value_or(std::string(ent::kDefaultTenant));
  if (tenant.empty()) tenant = std::string(ent::kDefaultTenant);

  if (check) {
    auto doc = commands::parse_json_document(req.body);
    if (!doc) return error_response(doc.error());
    std::vector<projections::EntitlementCheckRequest> checks;
    if (req.path == kCheck) {
      auto one = check_request(*doc);
      if (!one) return error_response(one.error());
      checks.push_back(std::move(*one));
    } else {
      auto it = doc->find("checks");
      if (doc->size() != 1 || it == doc->end() || !it->is_array() || it->empty() || it->size() > kMaxBatch) {
        return error_response(invalid("invalid_field", "the body is {checks: [1 to 1000 checks]}", "checks"));
      }
      for (const auto& x : *it) {
        auto one = check_request(x);
        if (!one) return error_response(one.error());
        checks.push_back(std::move(*one));
      }
    }
    // Tenant isolation before any answer: an organization asks about itself only.
    if (is_tenant(who)) {
      for (const auto& x : checks) {
        if (x.organization_id != who.tenant) {
          const std::string target = x.organization_id.empty() ? std::string("platform") : x.organization_id;
          return forbid(target, organization_forbidden(who, target, "entitlement check"));
        }
      }
    }
    Json results = Json::array();
    for (const auto& x : checks) {
      auto a = view.check(x, cut);
      if (a.unknown_organization) {
        domain::Error e{domain::ErrorKind::kNotFound, "unknown_organization", "no such organization", {}};
        e.with("organization_id", x.organization_id);
        return error_response(e);
      }
      results.push_back(answer_json(x, a, s.position));
    }
    if (req.path == kCheck) return ok(std::move(results[0]));
    return ok({{"results", std::move(results)}, {"snapshot_version", s.position}});
  }

  if (req.path == kActive) {
    const std::string env = req.query_param("environment").value_or("");
    if (auto e = ent::check_environment(env); !e) return error_response(e.error());
    Json list = Json::array();
    for (const auto& p : model.active(tenant, env, cut)) {
      list.push_back({{"capabilityId", p.capability_id},
                      {"capabilityName", p.capability_name},
                      {"capabilityStatus", p.capability_status},
                      {"policyId", p.policy_id},
                      {"activeVersion", p.version_id},
                      {"version", p.version},
                      {"activationId", p.activation_id},
                      {"rules", rules_json(p.rules)},
                      {"effectiveFrom", instant(p.effective_from)},
                      {"effectivePosition", p.effective_position}});
    }
    return ok({{"tenant", tenant}, {"environment", env}, {"policies", std::move(list)}, {"snapshot_version", s.position}});
  }
  const ent::Space* space = model.space(tenant);
  if (req.path == kCapabilities) {
    Json list = Json::array();
    if (space) {
      for (const auto& [id, cap] : space->capabilities) {
        if (!cut.admits(cap.defined_position, cap.defined_at)) continue;
        std::string status = "active";
        if (cap.deprecated_position > 0 && (cut.position <= 0 || cap.deprecated_position <= cut.position)) {
          status = "deprecated";
        }
        if (cap.retired_position > 0 && cut.admits(cap.retired_position, cap.retired_at)) status = "retired";
        list.push_back({{"id", id},
                        {"name", cap.name},
                        {"description", cap.description},
                        {"status", status},
                        {"createdAt", instant(cap.defined_at)}});
      }
    }
    return ok({{"tenant", tenant}, {"capabilities", std::move(list)}, {"snapshot_version", s.position}});
  }
  if (req.path == kPlans) {
    Json list = Json::array();
    if (space) {
      for (const auto& [id, p] : space->plans) {
        list.push_back({{"id", id},
                        {"name", id},
                        {"displayName", p.display_name},
                        {"description", p.description},
                        {"status", p.status},
                        {"createdAt", instant(p.defined_at)},
                        {"updatedAt", instant(p.updated_at)}});
      }
    }
    return ok({{"tenant", tenant}, {"plans", std::move(list)}, {"snapshot_version", s.position}});
  }

  // /v1/policies/{id}[/versions|/activations]
  std::string rest = req.path.substr(kPolicies.size());
  std::string sub;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    sub = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (!sub.empty() && sub != "versions" && sub != "activations") {
    return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}});
  }
  const ent::Policy* p = model.policy(tenant, rest);
  if (!p || !cut.admits(p->created_position, p->created_at)) {
    domain::Error e{domain::ErrorKind::kNotFound, "unknown_policy", "no such policy", {}};
    e.with("policy_id", rest).with("tenant", tenant);
    return error_response(e);
  }
  // Statuses as of the cut: from the activations up to it.
  auto active_at = [&](const std::string& env) { return p->active_at(env, cut.position, cut.time); };
  std::map<std::string, const ent::Activation*> active;
  for (auto env : ent::kEnvironments) {
    if (const auto* a = active_at(std::string(env))) active[std::string(env)] = a;
  }
  auto status_of = [&](const ent::Version& v) -> std::string {
    if (cut.position <= 0 && !cut.time) return p->status_of(v);
    for (const auto& [env, a] : active) {
      if (a->version_id == v.id) return "active";
    }
    for (const auto& a : p->activations) {
      if (a.version_id == v.id && cut.admits(a.position, a.at)) return "superseded";
    }
    return "draft";  // archiving is not kept with its position; a cut shows the version as it was created
  };
  Json versions = Json::array();
  for (const auto& v : p->versions) {
    if (!cut.admits(v.created_position, v.created_at)) continue;
    Json envs = Json::array();
    for (const auto& [env, a] : active) {
      if (a->version_id == v.id) envs.push_back(env);
    }
    versions.push_back({{"id", v.id},
                        {"version", v.version},
                        {"status", status_of(v)},
                        {"activeIn", std::move(envs)},
                        {"rules", rules_json(v.rules)},
                        {"changelog", v.changelog},
                        {"createdBy", v.created_by},
                        {"createdAt", instant(v.created_at)},
                        {"position", v.created_position}});
  }
  if (sub == "activations") {
    const auto env_filter = req.query_param("environment");
    if (env_filter) {
      if (auto e = ent::check_environment(*env_filter); !e) return error_response(e.error());
    }
    Json list = Json::array();
    std::map<std::string, std::int64_t> counts;
    for (const auto& a : p->activations) {
      if (!cut.admits(a.position, a.at)) continue;
      ++counts[a.environment];
      if (env_filter && *env_filter != a.environment) continue;
      list.push_back({{"activationId", a.activation_id},
                      {"policyVersionId", a.version_id},
                      {"version", a.version},
                      {"environment", a.environment},
                      {"supersededVersionId", a.superseded_version_id.empty() ? Json(nullptr) : Json(a.superseded_version_id)},
                      {"changelog", a.changelog},
                      {"activatedBy", a.activated_by},
                      {"activatedAt", instant(a.at)},
                      {"position", a.position}});
    }
    Json envs = Json::object();
    for (auto env : ent::kEnvironments) {
      const std::string e(env);
      auto it = active.find(e);
      envs[e] = {{"activeVersionId", it == active.end() ? Json(nullptr) : Json(it->second->version_id)},
                 {"activationVersion", counts[e]}};
    }
    return ok({{"policyId", p->id},
               {"tenant", tenant},
               {"activations", std::move(list)},
               {"environments", std::move(envs)},
               {"snapshot_version", s.position}});
  }
  Json body = {{"policyId", p->id},
               {"tenant", tenant},
               {"capabilityId", p->capability_id},
               {"versions", std::move(versions)},
               {"snapshot_version", s.position}};
  if (sub.empty()) {
    body["name"] = p->name;
    body["description"] = p->description;
    body["createdAt"] = instant(p->created_at);
    Json envs = Json::object();
    for (const auto& [env, a] : active) envs[env] = a->version_id;
    body["active"] = std::move(envs);
  }
  return ok(std::move(body));
}

}  // namespace ledger::routes
