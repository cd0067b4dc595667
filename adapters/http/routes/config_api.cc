#include "adapters/http/routes/config_api.h"

#include <nlohmann/json.hpp>

#include <spdlog/spdlog.h>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "adapters/http/routes/http_json.h"
#include "adapters/http/routes/memory_reads.h"
#include "adapters/http/routes/query_params.h"
#include "commands/access/authorization.h"
#include "commands/edge_values.h"
#include "domain/config/secrets.h"
#include "events/codec/rfc3339.h"

namespace ledger::routes {

namespace {

using adapters::http::HttpRequest;
using adapters::http::HttpResponse;
using Json = nlohmann::json;
namespace cfg = domain::config;

std::vector<std::string> split(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 1;
  while (i <= path.size()) {
    const auto j = path.find('/', i);
    out.emplace_back(path.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

enum class Kind { kLayer, kHistory, kServices, kResolved };
struct Route {
  Kind kind;
  cfg::LayerRef ref;
};

std::optional<Route> route_of(std::string_view path) {
  auto p = split(path);
  bool history = false;
  if (p.size() > 3 && p.back() == "history") {
    history = true;
    p.pop_back();
  }
  const Kind k = history ? Kind::kHistory : Kind::kLayer;
  if (p.size() == 3 && p[0] == "config" && p[1] == "global") return Route{k, {cfg::Layer::kGlobal, "platform", p[2]}};
  if (p.size() == 3 && p[0] == "config" && p[1] == "service-types") {
    return Route{k, {cfg::Layer::kServiceType, "platform", p[2]}};
  }
  if (p.size() < 3 || p[0] != "tenants") return std::nullopt;
  const std::string& t = p[1];
  if (p.size() == 4 && p[2] == "config" && p[3] == "risk") return Route{k, {cfg::Layer::kTenantRisk, t, ""}};
  if (!history && p.size() == 4 && p[2] == "config" && p[3] == "resolved") {
    return Route{Kind::kResolved, {cfg::Layer::kTenantRisk, t, ""}};
  }
  if (p.size() == 5 && p[2] == "config" && p[3] == "agents") return Route{k, {cfg::Layer::kAgent, t, p[4]}};
  if (!history && p.size() == 3 && p[2] == "services") return Route{Kind::kServices, {cfg::Layer::kService, t, ""}};
  if (p.size() == 4 && p[2] == "services") return Route{k, {cfg::Layer::kService, t, p[3]}};
  if (p.size() == 5 && p[2] == "projects" && p[4] == "config") return Route{k, {cfg::Layer::kProject, t, p[3]}};
  return std::nullopt;
}

Json actor_json(const std::string& type, const std::string& id) { return {{"type", type}, {"id", id}}; }

// How secrets of a document read (issue 16 part 4): the event holds them
// sealed; a caller without secrets:read reads "***", one with it the
// plaintext, or "<shredded>" once the tenant's data key was deleted.
using Present = std::function<Json(const Json& doc, const cfg::LayerRef& ref)>;

Json layer_json(const cfg::LayerRef& ref, const cfg::LayerState* s, const Present& present) {
  Json j = {{"layer", cfg::layer_name(ref.layer)},
            {"tenant_id", ref.tenant},
            {"subject", ref.subject},
            {"stream_id", cfg::stream_id(ref)},
            {"cache_key", cfg::cache_key(ref)},
            {"version", s ? s->version : 0},
            {"position", s ? s->position : 0},
            {"value", s ? present(s->doc, ref) : Json(nullptr)},
            {"is_public", s && s->is_public},
            {"requires_restart", s && s->requires_restart}};
  Json keys = Json::object();
  if (s) {
    for (const auto& [k, u] : s->updated) {
      keys[k] = {{"updated_by", actor_json(u.actor_type, u.actor_id)},
                 {"updated_at", codec::format_instant(u.at)},
                 {"position", u.position}};
    }
  }
  j["keys"] = std::move(keys);
  return j;
}

HttpResponse answer(Json body, std::int64_t snapshot) {
  body["snapshot_version"] = snapshot;
  auto r = json_response(200, body.dump(-1, ' ', false, Json::error_handler_t::replace));
  mark_read_model(r, kFromMemory);
  return r;
}

}  // namespace

bool ConfigApi::owns(std::string_view path) {
  return path.starts_with("/config/global/") || path.starts_with("/config/service-types/") ||
         path.starts_with("/tenants/");
}

HttpResponse ConfigApi::refuse_tenant(const HttpRequest& req, const commands::Principal& who,
                                      const std::string& tenant) {
  if (refusals_) {
    auto corr = commands::header_id("x-correlation-id", req.header("x-correlation-id"));
    refusals_->record(adapters::kafka::refusal_of(who, tenant, commands::RouteFamily::kConfigRead, req.method, req.path,
                                                  "tenant_mismatch"),
                      corr ? *corr : std::string());
  }
  return error_response(organization_forbidden(who, tenant, "config.read"));
}

void ConfigApi::apply_reload(const cfg::ConfigModel& model, std::int64_t) {
  std::lock_guard lock(process_mu_);
  if (model.last_reload_position() <= applied_reload_) return;
  const auto& r = model.last_reload();
  applied_reload_ = model.last_reload_position();
  applied_position_ = std::max(applied_position_, applied_reload_);
  if (r.reload_env && reload_) {
    if (auto fresh = reload_(); fresh) {
      process_ = std::move(*fresh);
      ++process_generation_;  // every view depends on process_settings: rebuilt on demand
    } else {
      spdlog::error("config reload: process settings not re-read, the previous ones stay: {}", fresh.error().message);
    }
  }
  std::size_t dropped = 0;
  if (r.invalidate_all || !r.reinit.empty()) {
    dropped = cache_.drop("");
  } else {
    for (const auto& t : r.tenant_ids) dropped += cache_.drop(t);
  }
  spdlog::info("config reload at position {}: {} resolved views dropped", applied_reload_, dropped);
}

Json ConfigApi::present_secrets(const Json& doc, const cfg::LayerRef& ref, bool reveal, const cfg::ConfigModel& model) {
  return cfg::present_secrets(doc, ref, [&](const cfg::SealedSecret& sealed) -> Json {
    // Shredded (ConfigSecretsShredded seen): unrecoverable for everyone,
    // whatever a cache of this process still holds.
    if (model.is_shredded(sealed.key_id)) return cfg::kShredded;
    if (!reveal) return cfg::kMasked;
    if (!sealer_) return cfg::kMasked;  // no LEDGER_CONFIG_KEK here: nobody reads plaintext
    auto plain = sealer_->unseal(ref.tenant, sealed);
    if (plain) return *plain;
    if (plain.error().code == "secret_shredded") return cfg::kShredded;
    spdlog::warn("config secret of {} not unsealed: {} ({})", ref.tenant, plain.error().message, plain.error().code);
    return "<" + plain.error().code + ">";
  });
}

HttpResponse ConfigApi::handle(const HttpRequest& req, const commands::Principal& who) {
  auto route = route_of(req.path);
  if (!route) return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}});
  if (req.method != "GET") {
    return method_not_allowed("GET", "use GET here; writes are ledger-command's PUT");
  }
  if (!cfg::platform_owned(route->ref.layer) && !cfg::valid_id(route->ref.tenant)) {
    return error_response(bad_param("tenant_id", "must be 1 to 128 of A-Z a-z 0-9 . _ -"));
  }
  if (!route->ref.subject.empty() && !cfg::valid_id(route->ref.subject)) {
    return error_response(bad_param("id", "must be 1 to 128 of A-Z a-z 0-9 . _ -"));
  }
  // Tenant isolation: a tenant principal reads its own tenant's layers only.
  if (commands::is_tenant_principal(who) && !cfg::platform_owned(route->ref.layer) && route->ref.tenant != who.tenant) {
    return refuse_tenant(req, who, route->ref.tenant);
  }
  auto c = parse_consistency(req, clock_);
  if (!c) return error_response(c.error());
  auto snap = memory_snapshot(store_, *c, head_);
  if (!snap) return snap.error();
  const auto& model = (*snap)->config;
  const std::int64_t at = (*snap)->position.value;
  apply_reload(model, at);

  const bool reveal = commands::authorize(who, commands::RouteFamily::kConfigSecretsRead).has_value();
  const Present present = [&](const Json& doc, const cfg::LayerRef& ref) {
    return present_secrets(doc, ref, reveal, model);
  };

  if (route->kind != Kind::kResolved) {
    if (auto bad = unknown_parameter(req, {})) return error_response(*bad);
  }
  switch (route->kind) {
    case Kind::kLayer:
    case Kind::kHistory: {
      const cfg::LayerState* s = model.find(route->ref);
      // A non-public global key does not exist for a tenant's reader.
      if (route->ref.layer == cfg::Layer::kGlobal && commands::is_tenant_principal(who) && !(s && s->is_public)) {
        domain::Error e{domain::ErrorKind::kNotFound, "unknown_config_key", "no such public configuration key", {}};
        e.with("key", route->ref.subject);
        return error_response(e);
      }
      if (route->kind == Kind::kLayer) return answer(layer_json(route->ref, s, present), at);
      Json items = Json::array();
      if (s) {
        for (const auto& h : s->history) {
          items.push_back({{"position", h.position},
                           {"version", h.version},
                           {"at", codec::format_instant(h.at)},
                           {"actor", actor_json(h.actor.type, h.actor.id)},
                           {"reason", h.reason},
                           {"before", present(h.before, route->ref)},
                           {"after", present(h.after, route->ref)}});
        }
      }
      return answer({{"layer", cfg::layer_name(route->ref.layer)},
                     {"stream_id", cfg::stream_id(route->ref)},
                     {"items", std::move(items)}},
                    at);
    }
    case Kind::kServices: {
      Json items = Json::array();
      for (const auto* s : model.list(cfg::Layer::kService, route->ref.tenant))
        items.push_back(layer_json(s->ref, s, present));
      return answer({{"tenant_id", route->ref.tenant}, {"items", std::move(items)}}, at);
    }
    case Kind::kResolved: {
      for (const auto& [k, v] : req.query) {
        if (k != "agent_type" && k != "service_type" && k != "service_id" && k != "project_id" && k != "min_position" &&
            k != "wait_ms") {
          return error_response(unknown_param(k));
        }
        if ((k == "agent_type" || k == "service_type" || k == "service_id" || k == "project_id") && !cfg::valid_id(v)) {
          return error_response(bad_param(k, "must be 1 to 128 of A-Z a-z 0-9 . _ -"));
        }
      }
      cfg::ResolveQuery q{route->ref.tenant, req.query_param("agent_type").value_or(""),
                          req.query_param("service_type").value_or(""), req.query_param("service_id").value_or(""),
                          req.query_param("project_id").value_or("")};
      cfg::Json process;
      std::int64_t generation = 0, applied = 0;
      {
        std::lock_guard lock(process_mu_);
        process = process_;
        generation = process_generation_;
        applied = applied_position_;
      }
      auto found = cache_.resolve(model, q, process, generation);
      const auto& r = *found.resolved;
      Json sources = Json::object();
      for (const auto& [k, s] : r.sources) {
        Json j = {{"layer", cfg::layer_name(s.layer)},
                  {"precedence", s.precedence},
                  {"stream_id", s.stream_id},
                  {"position", s.position},
                  {"requires_restart", s.requires_restart},
                  // A requires_restart value set after this process started or last reloaded.
                  {"pending_restart", s.requires_restart && s.position > applied}};
        if (s.updated) {
          j["updated_by"] = actor_json(s.updated->actor_type, s.updated->actor_id);
          j["updated_at"] = codec::format_instant(s.updated->at);
        }
        sources[k] = std::move(j);
      }
      Json precedence = Json::array();
      for (auto l : cfg::kResolutionOrder) precedence.push_back(cfg::layer_name(l));
      // A resolved secret was sealed under the tenant of the layer it came from.
      std::string sealed_by = q.tenant;
      if (auto nc = r.sources.find("notification_config");
          nc != r.sources.end() && cfg::platform_owned(nc->second.layer)) {
        sealed_by = "platform";
      }
      auto resp = answer({{"tenant_id", q.tenant},
                          {"config", present(r.config, {cfg::Layer::kTenantRisk, sealed_by, ""})},
                          {"sources", std::move(sources)},
                          {"project", present(r.project, {cfg::Layer::kProject, q.tenant, q.project_id})},
                          {"precedence", std::move(precedence)},
                          {"cache", found.hit ? "hit" : "miss"}},
                         at);
      resp.headers.emplace_back("x-config-cache", found.hit ? "hit" : "miss");
      return resp;
    }
  }
  return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}});
}

domain::Result<domain::config::Json> read_process_settings() {
  // Also on /config/reload, on a request thread: getenv is safe as long as
  // nothing changes the environment, and nothing in the process calls setenv.
  const char* env = std::getenv("LEDGER_CONFIG_PROCESS_SETTINGS");  // NOLINT(concurrency-mt-unsafe): see above
  auto layer = process_settings_layer(env ? env : "");
  if (!layer) return layer;
  const char* file = std::getenv("LEDGER_CONFIG_PROCESS_SETTINGS_FILE");  // NOLINT(concurrency-mt-unsafe): see above
  if (!file || !*file) return layer;
  std::ifstream in(file);
  if (!in) {
    return domain::fail(domain::ErrorKind::kUnavailable, "process_settings_unreadable",
                        "LEDGER_CONFIG_PROCESS_SETTINGS_FILE cannot be read");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  Json o = Json::parse(ss.str(), nullptr, false);
  if (o.is_discarded() || !o.is_object()) {
    return domain::fail(domain::ErrorKind::kInvalidArgument, "invalid_process_settings",
                        "LEDGER_CONFIG_PROCESS_SETTINGS_FILE must hold a JSON object");
  }
  for (auto it = o.begin(); it != o.end(); ++it) (*layer)[it.key()] = it.value();
  return layer;
}

domain::Result<domain::config::Json> process_settings_layer(const std::string& overrides_json) {
  Json layer = {{"approval_webhook_timeout_seconds", 30},
                {"approval_webhook_retry_attempts", 3},
                {"approval_webhook_backoff_initial_seconds", 1},
                {"approval_webhook_backoff_factor", 2},
                {"approval_webhook_backoff_max_seconds", 8},
                {"cache_default_ttl", 300},
                {"global_settings",
                 {{"max_cost_impact_auto", 15.0},
                  {"max_cost_impact_approval", 50.0},
                  {"max_resource_scaling", 3.0},
                  {"approval_timeout_minutes", 30},
                  {"require_approval_for_high_risk", true},
                  {"auto_approve_rollbacks", true},
                  {"automation_enabled", true},
                  {"business_hours_only", false},
                  {"max_concurrent_automations", 5}}},
                {"service_overrides",
                 {{"cloud_run", Json::object()},
                  {"gke", Json::object()},
                  {"bigquery", Json::object()},
                  {"cloud_sql", Json::object()}}}};
  if (overrides_json.empty()) return layer;
  Json o = Json::parse(overrides_json, nullptr, false);
  if (o.is_discarded() || !o.is_object()) {
    return domain::fail(domain::ErrorKind::kInvalidArgument, "invalid_process_settings",
                        "LEDGER_CONFIG_PROCESS_SETTINGS must be a JSON object");
  }
  for (auto it = o.begin(); it != o.end(); ++it) layer[it.key()] = it.value();
  return layer;
}

}  // namespace ledger::routes
