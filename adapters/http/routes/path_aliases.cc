#include "adapters/http/routes/path_aliases.h"

namespace ledger::routes {

namespace {

struct Alias {
  std::string_view from;
  std::string_view to;
};
constexpr Alias kAliases[] = {
    {"/api/v1/admin/policy-values", "/v1/policy-values"},
    {"/api/v1/admin/policy-keys", "/v1/policy-keys"},
    {"/api/v1/admin/applications", "/v1/applications"},
    {"/api/v1/admin/policies", "/v1/app-policies"},
    {"/v1/tenants", "/tenants"},
    {"/v1/config", "/config"},
};

}  // namespace

std::optional<std::string> canonical_path(std::string_view path) {
  for (const auto& a : kAliases) {
    if (!path.starts_with(a.from)) continue;
    const auto rest = path.substr(a.from.size());
    if (!rest.empty() && rest.front() != '/') continue;
    std::string out(a.to);
    out += rest;
    return out;
  }
  return std::nullopt;
}

std::optional<adapters::http::HttpRequest> canonical_request(const adapters::http::HttpRequest& req) {
  auto path = canonical_path(req.path);
  auto query = canonical_query(req.query);
  if (!path && !query) return std::nullopt;
  auto out = req;
  if (path) out.path = std::move(*path);
  if (query) out.query = std::move(*query);
  return out;
}

std::optional<QueryPairs> canonical_query(const QueryPairs& query) {
  bool alias = false;
  for (const auto& [name, value] : query) {
    if (name == "organization_id") return std::nullopt;
    alias = alias || name == "org_id";
  }
  if (!alias) return std::nullopt;
  QueryPairs out = query;
  for (auto& [name, value] : out) {
    if (name == "org_id") name = "organization_id";
  }
  return out;
}

}  // namespace ledger::routes
