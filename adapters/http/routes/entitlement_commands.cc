#include "adapters/http/routes/entitlement_commands.h"

#include <nlohmann/json.hpp>

#include "commands/decode.h"
#include "domain/entitlements/entitlements.h"
#include "events/codec/rfc3339.h"

namespace ledger::routes {

using Json = nlohmann::json;
namespace ent = domain::entitlements;

namespace {

std::string dump(Json j, const commands::Accepted& a) {
  j["command_id"] = a.command_id;
  j["position"] = a.position;
  j["stream_version"] = a.stream_version;
  j["duplicate"] = a.duplicate;
  j["no_change"] = a.event_ids.empty();
  j["event_ids"] = a.event_ids;
  j["evidence"] = {{"snapshot_kind", commands::kWriterSnapshotKind},
                   {"snapshot_version", a.decided_at_position ? Json(*a.decided_at_position) : Json()}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

domain::Error bad_path(const std::string& path) {
  domain::Error e{domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}};
  e.with("path", path);
  return e;
}

// Splits "a:b" (a custom method) into {a, b}; {s, ""} without one.
std::pair<std::string, std::string> custom_method(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return {s, ""};
  return {s.substr(0, colon), s.substr(colon + 1)};
}

std::vector<std::string> segments(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i <= path.size()) {
    auto j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace

std::optional<domain::Result<EntitlementRoute>> entitlement_route(const adapters::http::HttpRequest& req) {
  const std::string& path = req.path;
  if (!path.starts_with("/v1/capabilities") && !path.starts_with("/v1/plans") && !path.starts_with("/v1/policies")) {
    return std::nullopt;
  }
  auto seg = segments(std::string_view(path).substr(4));  // after "/v1/"
  if (seg.empty() || (seg[0] != "capabilities" && seg[0] != "plans" && seg[0] != "policies")) return std::nullopt;
  auto doc = commands::parse_json_document(req.body.empty() ? std::string_view("{}") : std::string_view(req.body));
  if (!doc) return std::unexpected(doc.error());
  Json body = std::move(*doc);
  if (auto t = req.query_param("tenant"); t && !body.contains("tenant")) body["tenant"] = *t;
  EntitlementRoute r;
  auto set = [&](const char* k, const std::string& v) { body[k] = v; };

  if (seg[0] == "capabilities") {
    if (seg.size() == 1) {
      r.type = "capability.define";
      const std::string name = body.contains("name") && body["name"].is_string() ? body["name"].get<std::string>() : "";
      const std::string id =
          body.contains("id") && body["id"].is_string() ? body["id"].get<std::string>() : "cap-" + name;
      r.answer = [id, name](const commands::Accepted& a, events::Instant at) {
        return dump({{"capability",
                      {{"id", id}, {"name", name}, {"status", "active"}, {"createdAt", codec::format_instant(at)}}}},
                    a);
      };
    } else if (seg.size() == 2) {
      auto [id, method] = custom_method(seg[1]);
      if (method != "deprecate" && method != "retire") return std::unexpected(bad_path(path));
      r.type = "capability." + method;
      set("capability_id", id);
      const std::string status = method == "deprecate" ? "deprecated" : "retired";
      r.answer = [id, status](const commands::Accepted& a, events::Instant) {
        return dump({{"capability", {{"id", id}, {"status", status}}}}, a);
      };
    } else {
      return std::unexpected(bad_path(path));
    }
  } else if (seg[0] == "plans") {
    if (seg.size() == 1) {
      r.type = "plan.define";
      const std::string name = body.contains("name") && body["name"].is_string() ? body["name"].get<std::string>() : "";
      r.answer = [name](const commands::Accepted& a, events::Instant at) {
        return dump(
            {{"plan", {{"id", name}, {"name", name}, {"status", "active"}, {"createdAt", codec::format_instant(at)}}}},
            a);
      };
    } else if (seg.size() == 2) {
      auto [id, method] = custom_method(seg[1]);
      if (method != "update" && method != "archive") return std::unexpected(bad_path(path));
      r.type = "plan." + method;
      set("plan_id", id);
      const bool archive = method == "archive";
      r.answer = [id, archive](const commands::Accepted& a, events::Instant) {
        Json plan = {{"id", id}};
        if (archive) plan["status"] = "archived";
        return dump({{"plan", plan}}, a);
      };
    } else {
      return std::unexpected(bad_path(path));
    }
  } else {  // policies
    if (seg.size() == 1) {
      r.type = "policy.create";
      const std::string cap = body.contains("capabilityId") && body["capabilityId"].is_string()
                                  ? body["capabilityId"].get<std::string>()
                                  : "";
      const std::string id =
          body.contains("id") && body["id"].is_string() ? body["id"].get<std::string>() : ent::default_policy_id(cap);
      r.answer = [id, cap](const commands::Accepted& a, events::Instant) {
        return dump({{"policy",
                      {{"id", id},
                       {"capabilityId", cap},
                       {"currentVersion", {{"id", id + "-v1"}, {"version", 1}, {"status", "draft"}}}}}},
                    a);
      };
    } else if (seg.size() == 3 && seg[2] == "versions") {
      r.type = "policy.create_version";
      const std::string& id = seg[1];
      set("policy_id", id);
      r.answer = [id](const commands::Accepted& a, events::Instant) {
        // The policy stream holds its creation and one event per version.
        const std::int64_t n = a.stream_version.value - 1;
        return dump({{"version", {{"id", id + "-v" + std::to_string(n)}, {"version", n}, {"status", "draft"}}}}, a);
      };
    } else if (seg.size() == 4 && seg[2] == "versions") {
      auto [version_id, method] = custom_method(seg[3]);
      if (method != "archive") return std::unexpected(bad_path(path));
      r.type = "policy.archive_version";
      set("policy_id", seg[1]);
      set("version_id", version_id);
      r.answer = [version_id](const commands::Accepted& a, events::Instant) {
        return dump({{"version", {{"id", version_id}, {"status", "archived"}}}}, a);
      };
    } else if (seg.size() == 5 && seg[2] == "versions" && seg[4] == "activate") {
      r.type = "policy.activate";
      const std::string& policy_id = seg[1];
      const std::string& version_id = seg[3];
      set("policy_id", policy_id);
      set("version_id", version_id);
      const std::string env =
          body.contains("environment") && body["environment"].is_string() ? body["environment"].get<std::string>() : "";
      r.answer = [policy_id, version_id, env](const commands::Accepted& a, events::Instant at) {
        return dump({{"activation",
                      {{"policyVersionId", version_id},
                       {"environment", env},
                       {"activatedAt", codec::format_instant(at)},
                       {"status", "active"},
                       {"activationId", "act-" + policy_id + "-" + env + "-" + std::to_string(a.stream_version.value)},
                       {"activationVersion", a.stream_version}}}},
                    a);
      };
    } else {
      return std::unexpected(bad_path(path));
    }
  }
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

}  // namespace ledger::routes
