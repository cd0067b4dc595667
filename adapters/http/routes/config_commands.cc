#include "adapters/http/routes/config_commands.h"

#include <nlohmann/json.hpp>

#include <expected>
#include <vector>

#include "adapters/http/routes/config_api.h"
#include "adapters/http/routes/http_json.h"
#include "commands/decode.h"
#include "domain/config/layers.h"
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

struct Target {
  cfg::Layer layer;
  Json ids;  // the path's ids as command fields
};

std::optional<Target> target_of(std::string_view path) {
  const auto p = split(path);
  if (p.size() == 3 && p[0] == "config" && p[1] == "global") return Target{cfg::Layer::kGlobal, {{"key", p[2]}}};
  if (p.size() == 3 && p[0] == "config" && p[1] == "service-types") {
    return Target{cfg::Layer::kServiceType, {{"service_type", p[2]}}};
  }
  if (p.size() < 3 || p[0] != "tenants") return std::nullopt;
  const Json tenant = {{"tenant_id", p[1]}};
  auto with = [&](const char* k, const std::string& v) {
    Json j = tenant;
    j[k] = v;
    return j;
  };
  if (p.size() == 4 && p[2] == "config" && p[3] == "risk") return Target{cfg::Layer::kTenantRisk, tenant};
  if (p.size() == 5 && p[2] == "config" && p[3] == "agents") {
    return Target{cfg::Layer::kAgent, with("agent_type", p[4])};
  }
  if (p.size() == 4 && p[2] == "services") return Target{cfg::Layer::kService, with("service_id", p[3])};
  if (p.size() == 5 && p[2] == "projects" && p[4] == "config") {
    return Target{cfg::Layer::kProject, with("project_id", p[3])};
  }
  return std::nullopt;
}

// POST /tenants/{tenant_id}/config/secrets/shred: the tenant id, else nullopt.
std::optional<std::string> shred_tenant_of(std::string_view path) {
  const auto p = split(path);
  if (p.size() == 5 && p[0] == "tenants" && p[2] == "config" && p[3] == "secrets" && p[4] == "shred") return p[1];
  return std::nullopt;
}

}  // namespace

bool is_config_write_path(std::string_view path) {
  return path == "/config/reload" || target_of(path).has_value() || shred_tenant_of(path).has_value();
}

namespace {

// A POST-only route as the command `type`: its body (an empty one reads as
// {}) parsed, 405 for any other method.
struct CommandPost {
  HttpRequest post;
  Json body;
};
std::expected<CommandPost, HttpResponse> command_post(const HttpRequest& req, std::string_view type) {
  if (req.method != "POST") {
    return std::unexpected(method_not_allowed("POST"));
  }
  auto doc = commands::parse_json_document(req.body.empty() ? std::string_view("{}") : std::string_view(req.body));
  if (!doc) return std::unexpected(error_response(doc.error()));
  CommandPost out{req, std::move(*doc)};
  out.post.path = out.post.target = "/v1/commands/" + std::string(type);
  out.post.body = out.body.dump();
  return out;
}

// POST /config/reload: the command config.reload, answered as the seed says.
HttpResponse reload(const HttpRequest& req, const std::function<HttpResponse(const HttpRequest&)>& submit) {
  auto cmd = command_post(req, "config.reload");
  if (!cmd) return std::move(cmd.error());
  const Json* doc = &cmd->body;
  HttpResponse answer = submit(cmd->post);
  if (answer.status != 200) return answer;
  Json body = Json::parse(answer.body, nullptr, false);
  if (!body.is_object()) return answer;
  const bool reload_env = doc->value("reload_env", false);
  const bool dry_run = doc->value("dry_run", false);
  Json errors = Json::array();
  bool reloaded_env = false;
  if (reload_env) {
    // The settings every service re-reads: checked here, so the operator
    // learns now that the query services will keep their previous ones.
    if (auto fresh = read_process_settings(); fresh) {
      reloaded_env = !dry_run;
    } else {
      errors.push_back({{"action", "reload_env"}, {"code", fresh.error().code}, {"message", fresh.error().message}});
    }
  }
  Json invalidate = doc->value("invalidate", Json::object());
  Json reinit = Json::array();
  for (const char* k : {"configuration_service", "dynamic_config_service"}) {
    if (doc->value("reinit", Json::object()).value(k, false)) reinit.push_back(k);
  }
  const auto now =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  body["status"] = errors.empty() ? (dry_run ? "dry_run" : "ok") : "partial";
  body["reloaded_env"] = reloaded_env;
  body["invalidated"] = {{"all", invalidate.value("all", false)},
                         {"tenant_ids", invalidate.value("tenant_ids", Json::array())}};
  body["reinitialized"] = dry_run ? Json::array() : reinit;
  body["dry_run"] = dry_run;
  body["timestamp"] = codec::format_instant(events::Instant{now});
  body["errors"] = std::move(errors);
  answer.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  // Partial failure: the rest was done (the event is written), one part was not.
  if (body["status"] == "partial") answer.status = 207;
  return answer;
}

}  // namespace

HttpResponse config_put(const HttpRequest& req, const std::function<HttpResponse(const HttpRequest&)>& submit) {
  if (req.path == "/config/reload") return reload(req, submit);
  if (auto tenant = shred_tenant_of(req.path)) {
    // Crypto-shredding (issue 16 part 4): the command config.secrets.shred.
    auto cmd = command_post(req, "config.secrets.shred");
    if (!cmd) return std::move(cmd.error());
    if (!cmd->body.is_object())
      return error_response(
          {domain::ErrorKind::kInvalidArgument, "invalid_json", "the body must be a JSON object", {}});
    cmd->body["tenant_id"] = *tenant;
    cmd->post.body = cmd->body.dump();
    return submit(cmd->post);
  }
  auto target = target_of(req.path);
  if (!target) return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}});
  if (req.method != "PUT") {
    return method_not_allowed("PUT", "use PUT here; reads are ledger-query's");
  }
  auto doc = commands::parse_json_document(req.body);
  if (!doc) return error_response(doc.error());
  for (auto it = target->ids.begin(); it != target->ids.end(); ++it) {
    if (doc->contains(it.key())) {
      domain::Error e{domain::ErrorKind::kInvalidArgument,
                      "unknown_field",
                      "'" + it.key() + "' comes from the path, not the body",
                      {}};
      e.with("field", it.key());
      return error_response(e);
    }
    (*doc)[it.key()] = it.value();
  }
  HttpRequest post = req;
  post.method = "POST";
  const std::string type = cfg::command_type_of(target->layer);
  post.path = "/v1/commands/" + type;
  post.target = post.path;
  post.body = doc->dump();
  HttpResponse answer = submit(post);
  if (answer.status != 200) return answer;
  Json body = Json::parse(answer.body, nullptr, false);
  if (!body.is_object()) return answer;
  cfg::LayerRef ref{target->layer, target->ids.value("tenant_id", std::string("platform")), ""};
  for (const char* k : {"key", "service_type", "agent_type", "service_id", "project_id"}) {
    if (target->ids.contains(k)) ref.subject = target->ids[k].get<std::string>();
  }
  body["layer"] = std::string(cfg::layer_name(target->layer));
  body["stream_id"] = cfg::stream_id(ref);
  body["cache_key"] = cfg::cache_key(ref);
  if (target->layer == cfg::Layer::kGlobal) {
    auto rr = doc->find("requires_restart");
    body["requires_restart"] = rr != doc->end() && rr->is_boolean() && rr->get<bool>();
  }
  answer.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return answer;
}

}  // namespace ledger::routes
