// The services' OpenAPI documents (adapters/http/routes/openapi.h): composed
// with the command schemas, every reference resolves, and every route the
// code serves is in its service's document. schemathesis checks the answers
// against them (ContractE2e); this checks the documents against the code.
#include "adapters/http/routes/openapi.h"

#include <set>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "commands/access/authorization.h"
#include "commands/decode.h"

namespace ledger::routes {
namespace {

nlohmann::json doc(ApiDocument which) { return nlohmann::json::parse(openapi_document(which)); }

constexpr std::string_view kMethods[] = {"get", "put", "post", "delete", "patch", "head", "options"};

// Every "$ref" under `node`, with where it was found.
void collect_refs(const nlohmann::json& node, const std::string& where,
                  std::vector<std::pair<std::string, std::string>>& out) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key == "$ref" && value.is_string())
        out.emplace_back(where, value.get<std::string>());
      else
        collect_refs(value, where + "/" + key, out);
    }
  } else if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i) collect_refs(node[i], where + "/" + std::to_string(i), out);
  }
}

// The operation `method` of the path matching a route: the exact path, or
// for a prefix route every templated path under it.
std::vector<const nlohmann::json*> operations(const nlohmann::json& d, std::string_view method, std::string_view path,
                                              bool prefix) {
  std::vector<const nlohmann::json*> found;
  std::string m(method);
  for (auto& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [p, item] : d.at("paths").items()) {
    const bool match = prefix ? (p.starts_with(path) && p.size() > path.size()) : p == path;
    if (match && item.contains(m)) found.push_back(&item.at(m));
  }
  return found;
}

class OpenApi : public ::testing::TestWithParam<ApiDocument> {};

TEST_P(OpenApi, IsAnOpenApi31DocumentWhoseReferencesAllResolve) {
  const auto d = doc(GetParam());
  EXPECT_EQ(d.at("openapi"), "3.1.0");
  EXPECT_TRUE(d.at("info").contains("title"));
  EXPECT_TRUE(d.at("components").at("securitySchemes").is_object());
  std::vector<std::pair<std::string, std::string>> refs;
  collect_refs(d, "", refs);
  EXPECT_GT(refs.size(), 10u);
  for (const auto& [where, ref] : refs) {
    ASSERT_TRUE(ref.starts_with("#/")) << where << ": " << ref << " points outside the document";
    EXPECT_TRUE(d.contains(nlohmann::json::json_pointer(ref.substr(1))))
        << where << ": " << ref << " resolves to nothing";
  }
}

TEST_P(OpenApi, EveryOperationHasAUniqueIdASummaryAndAnswers) {
  const auto d = doc(GetParam());
  std::set<std::string> ids;
  for (const auto& [path, item] : d.at("paths").items()) {
    for (const auto m : kMethods) {
      if (!item.contains(std::string(m))) continue;
      const auto& op = item.at(std::string(m));
      const std::string what = std::string(m) + " " + path;
      ASSERT_TRUE(op.contains("operationId")) << what;
      EXPECT_TRUE(ids.insert(op.at("operationId").get<std::string>()).second) << what << " repeats an operationId";
      EXPECT_TRUE(op.contains("summary")) << what;
      ASSERT_TRUE(op.contains("responses")) << what;
      bool success = false;
      for (const auto& [status, r] : op.at("responses").items()) success = success || status.starts_with("2");
      EXPECT_TRUE(success) << what << " documents no success answer";
    }
  }
  EXPECT_GT(ids.size(), 5u);
}

TEST_P(OpenApi, ServesItselfAndTheControlRoutes) {
  const auto d = doc(GetParam());
  for (const auto* path : {"/openapi.json", "/healthz", "/readyz", "/metrics"}) {
    EXPECT_TRUE(d.at("paths").contains(path)) << path;
  }
}

INSTANTIATE_TEST_SUITE_P(BothServices, OpenApi, ::testing::Values(ApiDocument::kCommand, ApiDocument::kQuery),
                         [](const auto& info) { return info.param == ApiDocument::kCommand ? "Command" : "Query"; });

TEST(OpenApiQuery, DocumentsEveryRouteOfTheQueryService) {
  const auto d = doc(ApiDocument::kQuery);
  for (const auto& r : commands::kQueryRoutes) {
    EXPECT_FALSE(operations(d, r.method, r.path, r.prefix).empty())
        << r.method << " " << r.path << (r.prefix ? "{...}" : "") << " is served but not documented";
  }
}

TEST(OpenApiCommand, DocumentsEveryCommandTypeWithItsSchema) {
  const auto d = doc(ApiDocument::kCommand);
  const auto& schemas = d.at("components").at("schemas");
  for (const auto type : commands::kCommandTypes) {
    const std::string path = "/v1/commands/" + std::string(type);
    ASSERT_TRUE(d.at("paths").contains(path)) << path;
    const auto& op = d.at("paths").at(path).at("post");
    const std::string component = "command." + std::string(type);
    EXPECT_TRUE(schemas.contains(component)) << component;
    EXPECT_EQ(op.at("requestBody").at("content").at("application/json").at("schema").value("$ref", ""),
              "#/components/schemas/" + component)
        << path;
  }
}

TEST(OpenApiCommand, ComposedSchemasLoseTheirIdAndPointInsideTheDocument) {
  const auto d = doc(ApiDocument::kCommand);
  for (const auto& [name, schema] : d.at("components").at("schemas").items()) {
    if (!name.starts_with("command.")) continue;
    EXPECT_FALSE(schema.contains("$id")) << name;
    EXPECT_FALSE(schema.contains("$schema")) << name;
  }
}

TEST(OpenApiRoute, AnswersGetOnlyAndTakesNoParameters) {
  adapters::http::HttpRequest get;
  get.method = "GET";
  get.path = "/openapi.json";
  const auto ok = openapi_response(ApiDocument::kQuery, get);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.content_type, "application/json");
  EXPECT_EQ(ok.body, openapi_document(ApiDocument::kQuery));

  auto post = get;
  post.method = "POST";
  const auto refused = openapi_response(ApiDocument::kQuery, post);
  EXPECT_EQ(refused.status, 405);
  ASSERT_NE(refused.header("allow"), nullptr);
  EXPECT_EQ(*refused.header("allow"), "GET");

  auto with_param = get;
  with_param.query = {{"format", "yaml"}};
  const auto unknown = openapi_response(ApiDocument::kQuery, with_param);
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(nlohmann::json::parse(unknown.body).at("code"), "unknown_parameter");
}

}  // namespace
}  // namespace ledger::routes
