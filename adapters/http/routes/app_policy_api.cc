#include "adapters/http/routes/app_policy_api.h"

#include <nlohmann/json.hpp>

#include "adapters/http/routes/http_json.h"
#include "adapters/http/routes/memory_reads.h"
#include "adapters/http/routes/query_params.h"
#include "commands/access/authorization.h"
#include "commands/decode.h"
#include "domain/text.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger::routes {
namespace {

using adapters::http::HttpRequest;
using adapters::http::HttpResponse;
using Json = nlohmann::json;
namespace ap = domain::app_policy;

constexpr std::string_view kTypes = "/v1/app-policies/types";
constexpr std::string_view kAvailableTypes = "/v1/app-policies/available-types";
constexpr std::string_view kApps = "/v1/applications/";
constexpr std::string_view kEvaluateSuffix = ":evaluate";
constexpr std::string_view kPoliciesSuffix = "/policies";

domain::Error unknown_app(const std::string& id) {
  domain::Error e{domain::ErrorKind::kNotFound, "unknown_application", "no such application", {}};
  e.with("application_id", id);
  return e;
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json stamp_json(const ap::Stamp& s, const char* prefix) {
  Json j = Json::object();
  j[std::string(prefix) + "_at"] = s.position > 0 ? Json(codec::format_instant(s.recorded_at)) : Json(nullptr);
  j[std::string(prefix) + "_position"] = s.position;
  return j;
}

Json policy_json(const ap::AttachedPolicy& p, std::size_t index) {
  Json j = {{"id", p.policy_id},
            {"application_id", p.application_id},
            {"organization_id", p.organization_id},
            {"policy_type", p.policy_type},
            {"config", Json::parse(p.config, nullptr, false)},
            {"enabled", p.enabled},
            {"version", p.version},
            {"index", index}};
  j.update(stamp_json(p.created, "created"));
  j.update(stamp_json(p.updated, "updated"));
  return j;
}

}  // namespace

// The model a request reads: the published snapshot (after waiting for
// min_position), or the one rebuilt from history up to as_of_position.
std::expected<AppPolicyApi::ModelAt, HttpResponse> AppPolicyApi::model_at(const Consistency& c) const {
  auto snap = memory_snapshot(store_, c, head_);
  if (!snap) return std::unexpected(std::move(snap.error()));
  ModelAt at{*snap, nullptr, (*snap)->position};
  if (!c.as_of_position) return at;
  if (*c.as_of_position > at.position) {
    return std::unexpected(
        error_response(bad_param("as_of_position", "beyond the read model's position; pass min_position too")));
  }
  if (!history_) {
    return std::unexpected(error_response(
        {domain::ErrorKind::kUnavailable, "history_unavailable", "the event store's history cannot be read", {}}));
  }
  auto past = std::make_shared<domain::AdmissionModel>();
  events::GlobalPosition after;
  while (after < *c.as_of_position) {
    auto batch = history_(after, 1000);
    if (!batch) return std::unexpected(error_response(batch.error()));
    if (batch->empty()) break;
    for (const auto& r : *batch) {
      if (r.meta.global_position > *c.as_of_position) {
        after = *c.as_of_position;
        break;
      }
      after = r.meta.global_position;
      // An event the codec cannot read is refused by every consumer too.
      if (auto env = codec::decode(r)) {
        past->apply(env->meta.stream_id, env->event,
                    {env->meta.global_position.value, env->meta.recorded_at, env->meta.actor.id});
      }
    }
  }
  at.past = std::move(past);
  at.position = *c.as_of_position;
  return at;
}

Json chain_result_json(const ap::ChainResult& result) {
  Json chain = Json::array();
  for (const auto& p : result.policies) {
    chain.push_back({{"policy_id", p.policy_id},
                     {"policy_type", p.policy_type},
                     {"version", p.version},
                     {"verdict", p.verdict},
                     {"reason", p.reason},
                     {"detail", p.detail}});
  }
  return chain;
}

bool AppPolicyApi::owns(std::string_view path) {
  if (path == kTypes || path == kAvailableTypes) return true;
  return path.starts_with(kApps) && path.size() > kApps.size();
}

std::string AppPolicyApi::types_json() {
  Json out = Json::array();
  for (const auto& t : ap::PolicyTypes::builtin().list()) {
    out.push_back({{"type", t.type},
                   {"name", t.name},
                   {"description", t.description},
                   {"config_schema", t.config_schema},
                   {"is_built_in", t.is_built_in}});
  }
  return dump(out);
}

HttpResponse AppPolicyApi::handle(const HttpRequest& req, const commands::Principal& who) {
  const std::string_view path = req.path;
  if (path == kTypes || path == kAvailableTypes) {
    if (req.method != "GET") return method_not_allowed("GET");
    if (!req.query.empty()) return error_response(unknown_param(req.query.front().first));
    return json_response(200, types_json());
  }
  // POST .../{app_id}:evaluate evaluates (an application whose id itself
  // ends in ":evaluate" is read at .../{app_id}/policies).
  if (path.ends_with(kEvaluateSuffix)) {
    const std::string app(path.substr(kApps.size(), path.size() - kApps.size() - kEvaluateSuffix.size()));
    if (req.method != "POST") return method_not_allowed("POST");
    if (app.empty() || app.find('/') != std::string::npos) {
      return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}});
    }
    return evaluate(req, who, app);
  }
  std::string rest(path.substr(kApps.size()));
  bool policies_only = false;
  if (rest.ends_with(kPoliciesSuffix)) {
    rest.resize(rest.size() - kPoliciesSuffix.size());
    policies_only = true;
  }
  if (rest.empty() || rest.find('/') != std::string::npos) {
    return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}});
  }
  if (req.method != "GET") return method_not_allowed("GET", "use GET here; changes go to the command service");
  return read_app(req, who, rest, policies_only);
}

namespace {

// The organization a request reads: its parameter or body field, a
// tenant's own by default. Another organization named by a tenant is 403.
domain::Result<std::string> organization_for(const commands::Principal& who, const std::optional<std::string>& named,
                                             std::string_view route) {
  if (is_tenant(who)) {
    if (named && *named != who.tenant) return std::unexpected(organization_forbidden(who, *named, route));
    return who.tenant;
  }
  if (!named || named->empty()) {
    domain::Error e{domain::ErrorKind::kInvalidArgument,
                    "missing_field",
                    "organization_id is required for a platform principal",
                    {}};
    e.with("field", "organization_id");
    return std::unexpected(std::move(e));
  }
  return *named;
}

}  // namespace

HttpResponse AppPolicyApi::read_app(const HttpRequest& req, const commands::Principal& who, const std::string& app_id,
                                    bool policies_only) {
  static constexpr std::string_view kOwn[] = {"organization_id"};
  if (auto bad = unknown_parameter(req, kOwn)) return error_response(*bad);
  auto c = parse_consistency(req, clock_);
  if (!c) return error_response(c.error());
  const auto named_org = req.query_param("organization_id");
  auto org = organization_for(who, named_org, "application read");
  if (!org) {
    // Forbidden: a tenant named another organization.
    if (org.error().code == "forbidden" && refusals_ && named_org) {
      refusals_->record(adapters::kafka::refusal_of(who, *named_org, commands::RouteFamily::kApplicationRead,
                                                    req.method, req.path, "tenant_mismatch"),
                        "");
    }
    return error_response(org.error());
  }
  auto read = model_at(*c);
  if (!read) return std::move(read.error());
  const ModelAt& at = *read;
  const auto* app = at.model().apps().application(*org, app_id);
  if (!app) return error_response(unknown_app(app_id));
  Json chain = Json::array();
  std::size_t i = 0;
  for (const auto* p : at.model().apps().chain(*app)) chain.push_back(policy_json(*p, i++));
  HttpResponse r;
  if (policies_only) {
    r = json_response(200, dump(chain));
  } else {
    Json j = {{"application_id", app->application_id},
              {"organization_id", app->organization_id},
              {"name", app->name},
              {"retired", app->retired},
              {"policies", chain},
              {"policy_count", chain.size()},
              {"snapshot_version", at.position}};
    j.update(stamp_json(app->registered, "registered"));
    j.update(stamp_json(app->updated, "updated"));
    r = json_response(200, dump(j));
  }
  r.headers.emplace_back("x-snapshot-version", std::to_string(at.position.value));
  mark_read_model(r, at.past ? kFromPostgres : kFromMemory);
  return r;
}

HttpResponse AppPolicyApi::evaluate(const HttpRequest& req, const commands::Principal& who, const std::string& app_id) {
  if (auto bad = unknown_parameter(req, {})) return error_response(*bad);
  auto c = parse_consistency(req, clock_);
  if (!c) return error_response(c.error());
  auto doc = commands::parse_json_document(req.body.empty() ? std::string_view("{}") : std::string_view(req.body));
  if (!doc) return error_response(doc.error());
  if (!doc->is_object()) {
    return error_response(
        {domain::ErrorKind::kInvalidArgument, "malformed_json", "the body must be a JSON object", {}});
  }
  auto field_error = [](const std::string& field, std::string message) {
    domain::Error e{domain::ErrorKind::kInvalidArgument, "invalid_field", std::move(message), {}};
    e.with("field", field);
    return error_response(e);
  };
  ap::ChainRequest request;
  std::optional<std::string> named_org;
  for (const auto& [k, v] : doc->items()) {
    if (k == "organization_id" || k == "model" || k == "phase" || k == "time") {
      if (!v.is_string() || domain::code_points(v.get_ref<const std::string&>()) > 256) {
        return field_error(k, k + " must be a short string");
      }
      const auto s = v.get<std::string>();
      if (k == "organization_id") named_org = s;
      if (k == "model") request.input.model = s;
      if (k == "phase") {
        if (s != "pre" && s != "post") return field_error(k, "phase must be pre or post");
        request.phase = s == "pre" ? ap::ChainRequest::Phase::kPre : ap::ChainRequest::Phase::kPost;
      }
      if (k == "time") {
        if (!c->as_of_position) return field_error(k, "time may be given only to replay (with as_of_position)");
        auto t = codec::parse_instant(s);
        if (!t) return field_error(k, "time must be an RFC 3339 instant");
        request.input.time_unix_ms = t->micros / 1000;
      }
    } else if (k == "size_bytes" || k == "estimated_tokens" || k == "actual_tokens") {
      if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(INT64_MAX)) ||
          v.get<std::int64_t>() < 0) {
        return field_error(k, k + " must be a non-negative whole number");
      }
      const auto n = v.get<std::int64_t>();
      if (k == "size_bytes") request.input.size_bytes = n;
      if (k == "estimated_tokens") request.input.estimated_tokens = n;
      if (k == "actual_tokens") request.input.actual_tokens = n;
    } else {
      return error_response(commands::unknown_field(k));
    }
  }
  auto org = organization_for(who, named_org, "application evaluate");
  if (!org) {
    if (org.error().code == "forbidden" && refusals_) {
      refusals_->record(adapters::kafka::refusal_of(who, named_org.value_or(std::string()),
                                                    commands::RouteFamily::kApplicationEvaluate, req.method, req.path,
                                                    "tenant_mismatch"),
                        "");
    }
    return error_response(org.error());
  }
  if (request.input.time_unix_ms == 0) request.input.time_unix_ms = clock_.now().micros / 1000;
  request.input.app_id = app_id;
  request.input.org_id = *org;
  request.input.actor_id = who.actor.id;
  request.input.actor_type = who.actor.type;

  auto read = model_at(*c);
  if (!read) return std::move(read.error());
  const ModelAt& at = *read;
  const auto* app = at.model().apps().application(*org, app_id);
  if (!app) return error_response(unknown_app(app_id));
  ap::ChainResult result;
  if (at.past) {
    ap::ChainRuntime replay(deps_);  // counters of its own: a replay spends nothing
    result = replay.evaluate(at.model().apps(), *app, request);
  } else {
    result = runtime_.evaluate(at.model().apps(), *app, request);
  }
  const Json chain = chain_result_json(result);
  Json j = {{"application_id", app_id},
            {"organization_id", *org},
            {"phase", request.phase == ap::ChainRequest::Phase::kPre ? "pre" : "post"},
            {"allow", result.allow},
            {"decision", result.allow ? "allow" : "deny"},
            {"reason", result.reason},
            {"denied_by", result.denied_by.empty() ? Json(nullptr) : Json(result.denied_by)},
            {"chain", chain},
            {"snapshot_version", at.position}};
  auto r = json_response(200, dump(j));
  mark_read_model(r, at.past ? kFromPostgres : kFromMemory);
  return r;
}

}  // namespace ledger::routes
