#include "adapters/http/routes/entitlement_reads.h"

#include <nlohmann/json.hpp>

#include "adapters/http/routes/http_json.h"
#include "adapters/http/routes/memory_reads.h"
#include "adapters/http/routes/query_params.h"
#include "commands/access/authorization.h"
#include "commands/decode.h"
#include "commands/edge_values.h"
#include "domain/entitlements/shadow.h"
#include "domain/text.h"
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
constexpr std::string_view kShadowSuffix = ":shadow";
constexpr std::size_t kShadowSamples = 10;
constexpr std::int64_t kShadowMaxScanned = 1'000'000;
constexpr std::int64_t kShadowMaxWindowMicros = 31LL * 24 * 3600 * 1'000'000;

HttpResponse ok(const Json& body) {
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
      return std::unexpected(commands::unknown_field(k));
    }
    if (!it->is_string() || domain::code_points(it->get_ref<const std::string&>()) > 128) {
      return std::unexpected(
          invalid("invalid_field", "field '" + k + "' must be a string of at most 128 characters", k));
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
  if (r.capability.empty())
    return std::unexpected(invalid("missing_field", "field 'capability' is required", "capability"));
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

// A check as the decision log keeps it: the request's own fields and the
// cut of history it read (what re-deriving it needs).
Json check_input_json(const projections::EntitlementCheckRequest& in, const ent::Cut& cut) {
  Json check = {{"tenant", in.tenant}, {"environment", in.environment}, {"capability", in.capability}};
  if (!in.organization_id.empty()) check["organization_id"] = in.organization_id;
  if (!in.plan.empty()) check["plan"] = in.plan;
  return {{"check", std::move(check)},
          {"cut", {{"position", cut.position}, {"time", cut.time ? Json(instant(*cut.time)) : Json()}}}};
}

// "/v1/policies/{id}/versions/{version_id}:shadow" -> {id, version_id}.
std::optional<std::pair<std::string, std::string>> shadow_target(std::string_view path) {
  if (!path.starts_with(kPolicies) || !path.ends_with(kShadowSuffix)) return std::nullopt;
  std::string_view rest = path.substr(kPolicies.size(), path.size() - kPolicies.size() - kShadowSuffix.size());
  const auto slash = rest.find("/versions/");
  if (slash == std::string_view::npos) return std::nullopt;
  std::string id(rest.substr(0, slash)), version(rest.substr(slash + 10));
  if (!ent::valid_id(id) || !ent::valid_id(version)) return std::nullopt;
  return std::pair{std::move(id), std::move(version)};
}

Json flips_json(const ent::FlipCounts& f) {
  return {{"checked", f.checked}, {"allow_to_deny", f.allow_to_deny}, {"deny_to_allow", f.deny_to_allow}};
}

Json samples_json(const std::vector<ent::Flip>& flips) {
  Json out = Json::array();
  for (const auto& f : flips) {
    out.push_back({{"decision_id", f.check.decision_id},
                   {"correlation_id", f.check.correlation_id},
                   {"organization_id", f.check.organization_id.empty() ? Json() : Json(f.check.organization_id)},
                   {"plan", f.check.plan},
                   {"recorded_at", f.check.recorded_at},
                   {"recorded_reason", f.check.reason},
                   {"candidate_reason", f.candidate_reason}});
  }
  return out;
}

}  // namespace

domain::Result<Json> rederive_check(const Json& input, const projections::QuerySnapshot& snapshot) {
  if (!input.is_object() || !input.contains("check") || !input.contains("cut") || !input["cut"].is_object()) {
    return std::unexpected(invalid("invalid_field", "a logged check is {check, cut}", "input"));
  }
  auto req = check_request(input["check"]);
  if (!req) return std::unexpected(req.error());
  ent::Cut cut;
  const Json& c = input["cut"];
  if (c.contains("position") && c["position"].is_number_integer()) cut.position = c["position"].get<std::int64_t>();
  if (c.contains("time") && c["time"].is_string()) {
    auto t = codec::parse_instant(c["time"].get<std::string>());
    if (!t) return std::unexpected(invalid("invalid_field", "the logged cut's time is not an instant", "cut.time"));
    cut.time = *t;
  }
  auto a = snapshot.entitlements.check(*req, cut);
  if (a.unknown_organization) {
    domain::Error e{domain::ErrorKind::kNotFound, "unknown_organization", "no such organization", {}};
    e.with("organization_id", req->organization_id);
    return std::unexpected(std::move(e));
  }
  return answer_json(*req, a, snapshot.position.value);
}

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
  if (auto target = shadow_target(req.path)) return shadow(req, who, target->first, target->second);
  if (req.path.starts_with(kPolicies) && req.path.ends_with(kShadowSuffix)) {
    // Shaped like a shadow run, but its ids are not ids: nothing is there.
    return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such policy version", {}});
  }
  const bool check = req.path == kCheck || req.path == kBatch;
  const std::string_view want = check ? "POST" : "GET";
  if (req.method != want) {
    return method_not_allowed(std::string(want));
  }
  const auto family = check ? commands::RouteFamily::kEntitlementCheck : commands::RouteFamily::kEntitlementRead;
  auto forbid = [&](const std::string& target, const domain::Error& e) {
    if (refusals_)
      refusals_->record(adapters::kafka::refusal_of(who, target, family, req.method, req.path, "tenant_mismatch"), "");
    return error_response(e);
  };
  static constexpr std::string_view kOwn[] = {"tenant", "environment"};
  if (auto bad = unknown_parameter(req, kOwn)) return error_response(*bad);
  auto c = parse_consistency(req, clock_);
  if (!c) return error_response(c.error());
  ent::Cut cut;
  const auto& as_of_position = c->as_of_position;
  if (as_of_position) cut.position = as_of_position->value;
  if (req.query_param("as_of")) cut.time = c->as_of;
  Consistency need = *c;
  // An as-of position needs the model to have reached it.
  if (as_of_position) {
    if (auto beyond = beyond_head(c->min_position, as_of_position, head_)) return *beyond;
    need.min_position = std::max(need.min_position, *as_of_position);
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
      results.push_back(answer_json(x, a, s.position.value));
    }
    if (log_.buffer) {  // never waits: a full buffer drops and counts
      const std::string corr =
          commands::header_id("x-correlation-id", req.header("x-correlation-id")).value_or(std::string());
      const auto now = clock_.now();
      for (std::size_t i = 0; i < checks.size(); ++i) {
        log_.buffer->push(check_record_of(who, checks[i].organization_id, corr, check_input_json(checks[i], cut),
                                          results[i], s.position.value, now));
      }
    }
    if (req.path == kCheck) return ok(results[0]);
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
    return ok(
        {{"tenant", tenant}, {"environment", env}, {"policies", std::move(list)}, {"snapshot_version", s.position}});
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
  auto status_of = [&](const ent::Version& v) { return ent::status_at(*p, v, cut); };
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
      list.push_back(
          {{"activationId", a.activation_id},
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
  return ok(body);
}

HttpResponse EntitlementReads::shadow(const HttpRequest& req, const commands::Principal& who,
                                      const std::string& policy_id, const std::string& version_id) const {
  (void)who;  // the role check (entitlement.write, platform only) was QueryApi's
  if (req.method != "POST") {
    return method_not_allowed("POST");
  }
  static constexpr std::string_view kOwn[] = {"tenant"};
  if (auto bad = unknown_parameter(req, kOwn)) return error_response(*bad);
  if (!log_.table) {
    return error_response(
        {domain::ErrorKind::kUnavailable, "decision_log_unavailable", "the decision log is not served here", {}});
  }
  auto doc = commands::parse_json_document(req.body);
  if (!doc) return error_response(doc.error());
  if (!doc->is_object()) return error_response(invalid("invalid_field", "the body is {environment, from, to}", "body"));
  for (auto it = doc->begin(); it != doc->end(); ++it) {
    if (it.key() != "environment" && it.key() != "from" && it.key() != "to") {
      return error_response(commands::unknown_field(it.key()));
    }
    if (!it->is_string()) return error_response(invalid("invalid_field", it.key() + " must be a string", it.key()));
  }
  const std::string env = doc->value("environment", "");
  if (auto e = ent::check_environment(env); !e) return error_response(e.error());
  auto instant_field = [&](const char* name) -> domain::Result<events::Instant> {
    if (!doc->contains(name))
      return std::unexpected(invalid("missing_field", std::string(name) + " is required", name));
    auto at = codec::parse_instant((*doc)[name].get<std::string>());
    if (!at) return std::unexpected(invalid("invalid_field", std::string(name) + " must be an RFC 3339 instant", name));
    return *at;
  };
  const auto from = instant_field("from");
  if (!from) return error_response(from.error());
  const auto to = instant_field("to");
  if (!to) return error_response(to.error());
  if (from->micros >= to->micros || to->micros - from->micros > kShadowMaxWindowMicros) {
    return error_response(invalid("invalid_field", "from must be before to, at most 31 days apart", "from"));
  }
  std::string tenant = req.query_param("tenant").value_or(std::string(ent::kDefaultTenant));
  if (tenant.empty()) tenant = std::string(ent::kDefaultTenant);
  auto c = parse_consistency(req, clock_);
  if (!c) return error_response(c.error());
  auto snap = memory_snapshot(store_, *c, head_);
  if (!snap) return std::move(snap.error());
  const auto& model = (*snap)->entitlements.model();
  const ent::Policy* policy = model.policy(tenant, policy_id);
  if (!policy) {
    domain::Error e{domain::ErrorKind::kNotFound, "unknown_policy", "no such policy", {}};
    e.with("policy_id", policy_id);
    return error_response(e);
  }
  const ent::Version* version = policy->version(version_id);
  if (!version) {
    domain::Error e{domain::ErrorKind::kNotFound, "unknown_version", "no such version of this policy", {}};
    e.with("version_id", version_id);
    return error_response(e);
  }
  const ent::Capability* capability = model.capability(tenant, policy->capability_id);
  const std::string capability_name = capability ? capability->name : std::string();

  // The recorded checks of this capability in this environment, in arrival order.
  std::vector<ent::RecordedCheck> checks;
  std::int64_t scanned = 0;
  adapters::postgres::DecisionLogFilter f;
  f.kind = commands::kEntitlementCheck;
  f.from = codec::format_instant(*from);
  f.to = codec::format_instant(*to);
  f.limit = 1000;
  for (;;) {
    auto page = log_.table->page(f);
    if (!page) return error_response(page.error());
    for (const auto& row : page->items) {
      if (++scanned > kShadowMaxScanned) {
        return error_response(
            invalid("window_too_large", "more than 1,000,000 recorded checks in the window; narrow it", "from"));
      }
      // Rows are data read back from a table: the check is read as the
      // check route reads one, the answer only where it has the shape it
      // was written with; anything else is skipped, never thrown on.
      const auto& r = row.record;
      if (!r.input.is_object() || !r.input.contains("check") || !r.output.is_object()) continue;
      auto asked = check_request(r.input["check"]);
      if (!asked || asked->tenant != tenant || asked->environment != env || asked->capability != capability_name) {
        continue;
      }
      const auto plan = r.output.find("plan"), allowed = r.output.find("allowed"), reason = r.output.find("reason");
      if (plan == r.output.end() || !plan->is_string() || allowed == r.output.end() || !allowed->is_boolean() ||
          reason == r.output.end() || !reason->is_string()) {
        continue;
      }
      ent::RecordedCheck rc;
      rc.decision_id = r.decision_id;
      rc.correlation_id = r.correlation_id;
      rc.recorded_at = r.recorded_at;
      rc.organization_id = asked->organization_id;
      rc.plan = plan->get<std::string>();
      rc.allowed = allowed->get<bool>();
      rc.reason = reason->get<std::string>();
      checks.push_back(std::move(rc));
    }
    if (!page->has_more) break;
    f.after_seq = page->items.back().seq;
  }
  const ent::ShadowReport report = ent::shadow(version->rules, checks, kShadowSamples);
  auto grouped = [](const std::map<std::string, ent::FlipCounts>& by, const char* key) {
    Json out = Json::array();
    for (const auto& [k, v] : by) {
      Json j = flips_json(v);
      j[key] = k.empty() && std::string_view(key) == "organization_id" ? Json() : Json(k);
      out.push_back(std::move(j));
    }
    return out;
  };
  Json by_capability = Json::array();
  if (report.total.checked > 0) {
    Json j = flips_json(report.total);
    j["capability"] = capability_name;
    by_capability.push_back(std::move(j));
  }
  Json answer = {{"tenant", tenant},
                 {"policy_id", policy_id},
                 {"version_id", version_id},
                 {"version", version->version},
                 {"capability", capability_name},
                 {"environment", env},
                 {"from", codec::format_instant(*from)},
                 {"to", codec::format_instant(*to)},
                 {"considered", report.considered},
                 {"not_applicable", report.not_applicable},
                 {"checked", report.total.checked},
                 {"unchanged", report.total.checked - report.total.allow_to_deny - report.total.deny_to_allow},
                 {"allow_to_deny", report.total.allow_to_deny},
                 {"deny_to_allow", report.total.deny_to_allow},
                 {"by_capability", std::move(by_capability)},
                 {"by_plan", grouped(report.by_plan, "plan")},
                 {"by_organization", grouped(report.by_organization, "organization_id")},
                 {"samples",
                  {{"allow_to_deny", samples_json(report.samples_allow_to_deny)},
                   {"deny_to_allow", samples_json(report.samples_deny_to_allow)}}},
                 {"scanned", scanned},
                 {"snapshot_version", (*snap)->position},
                 {"generated_at", codec::format_instant(clock_.now())}};
  // Signed, so an activation can present it (shadow_required) and the
  // writer knows this service made it: null without a key.
  answer["signature"] = signer_ ? Json(signer_->keyed_digest(ent::shadow_signing_input(
                                      answer.dump(-1, ' ', false, Json::error_handler_t::replace))))
                                : Json();
  return ok(answer);
}

}  // namespace ledger::routes
