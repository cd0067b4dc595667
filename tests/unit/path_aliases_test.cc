// The seeds' paths and parameter names as aliases of the ledger's
// (adapters/http/routes/path_aliases.h): whole segments only, and a request
// naming an organization twice is left for the route to refuse.
#include "adapters/http/routes/path_aliases.h"

#include <gtest/gtest.h>

namespace ledger::routes {
namespace {

TEST(PathAliases, TheSeedsPathsNameTheV1RoutesByWholeSegments) {
  const std::pair<std::string, std::string> aliases[] = {
      {"/api/v1/admin/policy-values", "/v1/policy-values"},
      {"/api/v1/admin/policy-keys", "/v1/policy-keys"},
      {"/api/v1/admin/applications", "/v1/applications"},
      {"/api/v1/admin/applications/app-1/policies", "/v1/applications/app-1/policies"},
      {"/api/v1/admin/policies/p-1", "/v1/app-policies/p-1"},
      {"/api/v1/admin/policies/validate-cel", "/v1/app-policies/validate-cel"},
      {"/api/v1/admin/policies/types", "/v1/app-policies/types"},
      {"/v1/tenants/t/config/risk", "/tenants/t/config/risk"},
      {"/v1/config/global/approvals", "/config/global/approvals"},
  };
  for (const auto& [from, to] : aliases) {
    const auto got = canonical_path(from);
    ASSERT_TRUE(got.has_value()) << from;
    EXPECT_EQ(*got, to) << from;
    EXPECT_FALSE(canonical_path(to).has_value()) << to << " is a route, not an alias";
  }
  for (const std::string path :
       {"/api/v1/admin/policy-valuesX", "/api/v1/admin/capabilities", "/api/v1/admin", "/api/v1/admin/", "/v1/tenantsX",
        "/v1/configs", "/v1/policies/p-1", "/v1/decisions", "/API/v1/admin/policy-values", ""}) {
    EXPECT_FALSE(canonical_path(path).has_value()) << path;
  }
}

TEST(PathAliases, OrgIdIsOrganizationIdUnlessBothAreNamed) {
  const QueryPairs seed = {{"key", "k"}, {"org_id", "org-a"}, {"limit", "5"}};
  const auto renamed = canonical_query(seed);
  ASSERT_TRUE(renamed.has_value());
  EXPECT_EQ(*renamed, (QueryPairs{{"key", "k"}, {"organization_id", "org-a"}, {"limit", "5"}}));
  EXPECT_FALSE(canonical_query({{"organization_id", "org-a"}}).has_value());
  EXPECT_FALSE(canonical_query({{"org_id", "org-a"}, {"organization_id", "org-b"}}).has_value());
  EXPECT_FALSE(canonical_query({{"org_idx", "org-a"}}).has_value());
  EXPECT_FALSE(canonical_query({}).has_value());

  adapters::http::HttpRequest req;
  req.method = "GET";
  req.path = "/api/v1/admin/applications/app-1";
  req.query = {{"org_id", "org-a"}};
  const auto both = canonical_request(req);
  ASSERT_TRUE(both.has_value());
  EXPECT_EQ(both->path, "/v1/applications/app-1");
  EXPECT_EQ(both->query, (QueryPairs{{"organization_id", "org-a"}}));
  req.path = "/v1/applications/app-1";
  req.query = {{"organization_id", "org-a"}};
  EXPECT_FALSE(canonical_request(req).has_value());
}

}  // namespace
}  // namespace ledger::routes
