// The everyday CLI and the listing routes behind it (issue 17 part 5),
// through the real services: `GET /v1/policy-keys`, `GET /v1/policy-values?key=`
// (every override, each organization seeing only its own), the next scheduled
// change beside a value, and `ledger get|set|keys|values|check|ceilings|reservations`
// with their exit codes (`ceilings --tree`: an organization's whole tree).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>

#include "tests/support/e2e_stack.h"
#include "tests/support/process.h"

namespace ledger::testing {
namespace {

using Json = nlohmann::json;
using ledger::adapters::http::HttpClient;
using ledger::adapters::http::HttpResponse;
using namespace std::chrono_literals;

constexpr const char* kKey = "allocation.refund_window_days";

std::string future(int days) {
  const auto t = std::chrono::system_clock::now() + std::chrono::hours(24 * days);
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&secs));
  return buf;
}

// Every override of the listing, as "level/id/organization=value".
std::set<std::string> overrides(const Json& page) {
  std::set<std::string> out;
  for (const auto& o : page["overrides"]) {
    out.insert(o["scope"]["level"].get<std::string>() + "/" + o["scope"]["id"].get<std::string>() + "/" +
               (o["organization_id"].is_null() ? "" : o["organization_id"].get<std::string>()) + "=" +
               o["value"].dump());
  }
  return out;
}

class CliE2e : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack_ = new ServiceStack("cli_e2e");
    auto started = stack_->start();
    ASSERT_TRUE(started) << started.message() << stack_->describe_logs();
    const auto catalog =
        run_command(std::string(LEDGER_BINARY_DIR) + "/services/ledger-admin load-catalog " +
                    "--token dev-platform-admin --catalog " + LEDGER_SOURCE_DIR +
                    "/config/policy-keys.json --command-port " + std::to_string(stack_->command_port()) + " 2>&1");
    ASSERT_EQ(catalog.status, 0) << catalog.out;
  }
  static void TearDownTestSuite() {
    delete stack_;
    stack_ = nullptr;
  }

  // `ledger ARGS` against the stack as `token`; its exit status and output.
  static CommandRun ledger(const std::string& args, const std::string& token = "dev-platform-admin") {
    return run_command("LEDGER_QUERY_URL=http://127.0.0.1:" + std::to_string(stack_->query_port()) +
                       " LEDGER_COMMAND_URL=http://127.0.0.1:" + std::to_string(stack_->command_port()) +
                       " LEDGER_TOKEN=" + token + " " + std::string(LEDGER_BINARY_DIR) + "/services/ledger " + args +
                       " 2>&1");
  }
  ServiceStack& s() { return *stack_; }
  static ServiceStack* stack_;
};
ServiceStack* CliE2e::stack_ = nullptr;

TEST_F(CliE2e, ListingsShowEveryOverrideToThoseWhoMaySeeIt) {
  auto& st = s();
  st.ok("organization.create", {{"organization_id", "org-acme"}, {"plan_id", "pro"}});
  st.ok("organization.create", {{"organization_id", "org-globex"}, {"plan_id", "pro"}});
  st.ok("project.create", {{"project_id", "acme-llm"}, {"organization_id", "org-acme"}});
  auto set = [&](const Json& scope, int value, const std::string& effective_at = "") {
    Json body = {{"key", kKey}, {"scope", scope}, {"value", value}, {"reason", "cli e2e"}};
    if (!effective_at.empty()) body["effective_at"] = effective_at;
    auto r = st.admin("POST", "/api/v1/admin/policy-values", body);
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.body.value("position", std::int64_t{0});
  };
  set(Json::object(), 20);
  set({{"plan", "pro"}}, 25);
  set({{"org_id", "org-acme"}}, 45);
  set({{"org_id", "org-globex"}}, 14);
  set({{"project_id", "acme-llm"}, {"org_id", "org-acme"}}, 60);
  // The same user id in two organizations, each set by its own tenant admin.
  for (const auto& [org, token, v] : {std::tuple{"org-acme", "Bearer dev-acme-tenant-admin", 33},
                                      std::tuple{"org-globex", "Bearer dev-globex-tenant-admin", 34}}) {
    auto r = st.admin(
        "POST", "/api/v1/admin/policy-values",
        {{"key", kKey}, {"scope", {{"user_id", "u-shared"}, {"org_id", org}}}, {"value", v}, {"reason", "cli e2e"}},
        token);
    EXPECT_EQ(r.status, 200) << r.describe();
  }
  const std::string when = future(2);
  const auto last = set({{"org_id", "org-acme"}}, 90, when);
  const std::string wait = "&min_position=" + std::to_string(last) + "&wait_ms=10000";

  // The platform sees every override; one organization's view leaves the other out.
  auto all = st.query("GET", std::string("/v1/policy-values?key=") + kKey + wait, kAdminToken);
  ASSERT_EQ(all.status, 200) << all.describe();
  EXPECT_EQ(overrides(all.body),
            (std::set<std::string>{"global//platform=20", "plan/pro/platform=25", "organization/org-acme/org-acme=45",
                                   "organization/org-globex/org-globex=14",
                                   // the platform wrote it: a value of the platform's at that project id
                                   "project/acme-llm/platform=60", "user/u-shared/org-acme=33",
                                   "user/u-shared/org-globex=34"}));
  EXPECT_EQ(all.body["default"], 30);
  for (const auto& o : all.body["overrides"]) {
    if (o["scope"]["id"] != "org-acme") {
      EXPECT_TRUE(o["scheduled"].empty()) << o;
      continue;
    }
    ASSERT_EQ(o["scheduled"].size(), 1u) << o;  // the scheduled change is listed, not yet in force
    EXPECT_EQ(o["scheduled"][0]["value"], 90);
    EXPECT_EQ(o["scheduled"][0]["set_at_position"], last);
  }
  auto acme_view = st.query("GET", std::string("/v1/policy-values?key=") + kKey + "&org_id=org-acme", kAdminToken);
  ASSERT_EQ(acme_view.status, 200) << acme_view.describe();
  EXPECT_EQ(overrides(acme_view.body).count("organization/org-globex/org-globex=14"), 0u);
  EXPECT_EQ(overrides(acme_view.body).count("user/u-shared/org-globex=34"), 0u);
  EXPECT_EQ(overrides(acme_view.body).count("user/u-shared/org-acme=33"), 1u);
  EXPECT_EQ(overrides(acme_view.body).size(), 5u);
  // A tenant sees its own view, whatever it asks for; another's is refused.
  auto tenant = st.query("GET", std::string("/v1/policy-values?key=") + kKey, "Bearer dev-acme-tenant-admin");
  ASSERT_EQ(tenant.status, 200) << tenant.describe();
  EXPECT_EQ(overrides(tenant.body), overrides(acme_view.body));
  auto foreign = st.query("GET", std::string("/v1/policy-values?key=") + kKey + "&org_id=org-globex",
                          "Bearer dev-acme-tenant-admin");
  EXPECT_EQ(foreign.status, 403) << foreign.describe();
  auto globex =
      st.query("GET", std::string("/v1/policy-values?key=") + kKey + "&level=organization", "Bearer dev-globex-reader");
  ASSERT_EQ(globex.status, 200) << globex.describe();
  EXPECT_EQ(overrides(globex.body), (std::set<std::string>{"organization/org-globex/org-globex=14"}));

  // Pages of one, followed by their cursors, are the whole list.
  std::set<std::string> paged;
  std::string cursor;
  for (int pages = 0; pages < 10; ++pages) {
    auto p = st.query(
        "GET", std::string("/v1/policy-values?key=") + kKey + "&limit=1" + (cursor.empty() ? "" : "&cursor=" + cursor),
        kAdminToken);
    ASSERT_EQ(p.status, 200) << p.describe();
    ASSERT_LE(p.body["overrides"].size(), 1u);
    for (const auto& v : overrides(p.body)) paged.insert(v);
    if (!p.body["next_cursor"].is_string()) break;
    cursor = p.body["next_cursor"].get<std::string>();
  }
  EXPECT_EQ(paged, overrides(all.body));

  // The catalog, whole and in pages.
  auto keys = st.query("GET", "/v1/policy-keys", "Bearer dev-acme-reader");
  ASSERT_EQ(keys.status, 200) << keys.describe();
  std::set<std::string> names;
  for (const auto& k : keys.body["keys"]) names.insert(k["key"].get<std::string>());
  EXPECT_TRUE(names.count(kKey));
  EXPECT_TRUE(names.count("quota.warn_threshold_percent"));
  std::set<std::string> paged_names;
  cursor.clear();
  for (int pages = 0; pages < 200; ++pages) {
    auto p = st.query("GET", "/v1/policy-keys?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor), kAdminToken);
    ASSERT_EQ(p.status, 200) << p.describe();
    for (const auto& k : p.body["keys"]) paged_names.insert(k["key"].get<std::string>());
    if (!p.body["next_cursor"].is_string()) break;
    cursor = p.body["next_cursor"].get<std::string>();
  }
  EXPECT_EQ(paged_names, names);
  auto prefixed = st.query("GET", "/v1/policy-keys?prefix=quota.", kAdminToken);
  ASSERT_EQ(prefixed.status, 200);
  for (const auto& k : prefixed.body["keys"]) EXPECT_EQ(k["key"].get<std::string>().rfind("quota.", 0), 0u) << k;

  // Hostile parameters: a stable code each, never a crash or a wider answer.
  const std::pair<std::string, std::string> refused[] = {
      {"/v1/policy-keys?cursor=pl1.zz", "invalid_cursor"},
      {"/v1/policy-keys?cursor=" + std::string(5000, 'a'), "invalid_cursor"},
      {"/v1/policy-keys?cursor=pl1.5b315d", "invalid_cursor"},  // "[1]"
      {"/v1/policy-keys?limit=0", "invalid_parameter"},
      {"/v1/policy-keys?limit=1001", "invalid_parameter"},
      {"/v1/policy-keys?as_of_position=1", "invalid_parameter"},
      {"/v1/policy-keys?prefx=quota", "unknown_parameter"},
      {"/v1/policy-values", "invalid_parameter"},
      {"/v1/policy-values?key=no.such.key", "unknown_policy_key"},
      {std::string("/v1/policy-values?key=") + kKey + "&level=galaxy", "invalid_parameter"},
      {std::string("/v1/policy-values?key=") + kKey + "&org=org-acme", "unknown_parameter"},
  };
  for (const auto& [target, code] : refused) {
    auto r = st.query("GET", target, kAdminToken);
    EXPECT_TRUE(r.status == 400 || r.status == 404) << target << ": " << r.describe();
    EXPECT_EQ(r.body.value("code", ""), code) << target << ": " << r.describe();
  }
  auto anonymous = st.query("GET", "/v1/policy-keys", "");
  EXPECT_EQ(anonymous.status, 401);
  auto posted = st.query("POST", "/v1/policy-keys", kAdminToken, Json::object());
  EXPECT_EQ(posted.status, 405);

  // A value answers its next scheduled change beside it.
  auto value = st.query("GET", std::string("/v1/policy-values/") + kKey + "?org_id=org-acme", kAdminToken);
  ASSERT_EQ(value.status, 200) << value.describe();
  EXPECT_EQ(value.body["value"], 45);
  ASSERT_TRUE(value.body["next_change"].is_object()) << value.describe();
  EXPECT_EQ(value.body["next_change"]["value"], 90);
  EXPECT_EQ(value.body["next_change"]["set_at_position"], last);
  EXPECT_EQ(value.body["next_change"]["source"]["id"], "org-acme");
  // The project's own value shadows the organization's: no change for it.
  auto project =
      st.query("GET", std::string("/v1/policy-values/") + kKey + "?org_id=org-acme&project_id=acme-llm", kAdminToken);
  ASSERT_EQ(project.status, 200) << project.describe();
  EXPECT_EQ(project.body["value"], 60);
  EXPECT_TRUE(project.body["next_change"].is_null()) << project.describe();
  // The SQL path answers the same next change.
  auto sql = st.query("GET",
                      std::string("/v1/policy-values/") + kKey +
                          "?org_id=org-acme&as_of_position=" + std::to_string(last) + "&wait_ms=10000",
                      kAdminToken);
  ASSERT_EQ(sql.status, 200) << sql.describe();
  EXPECT_EQ(sql.body["next_change"], value.body["next_change"]);
}

TEST_F(CliE2e, TheCliReadsWritesAndAnswersWithDocumentedExitCodes) {
  auto& st = s();
  st.ok("organization.create", {{"organization_id", "org-cli"}, {"plan_id", "pro"}});
  st.ok("project.create", {{"project_id", "cli-llm"}, {"organization_id", "org-cli"}});
  st.register_gpu_quota();
  st.ok("ceiling.set", {{"scope", {{"level", "project"}, {"id", "cli-llm"}}},
                        {"dimension", "gpu.count"},
                        {"quantity", 8},
                        {"unit", "gpu"},
                        {"reason", "cli e2e"}});

  // set, then get (waiting for the position the write answered).
  auto set = ledger(std::string("set ") + kKey + " 44 --org org-cli --reason 'cli e2e' --json");
  ASSERT_EQ(set.status, 0) << set.out;
  const auto position = Json::parse(set.out)["position"].get<std::int64_t>();
  auto got = ledger(std::string("get ") + kKey + " --org org-cli --min-position " + std::to_string(position));
  ASSERT_EQ(got.status, 0) << got.out;
  EXPECT_NE(got.out.find(std::string(kKey) + " = 44"), std::string::npos) << got.out;
  EXPECT_NE(got.out.find("organization org-cli"), std::string::npos) << got.out;
  auto got_json = ledger(std::string("get ") + kKey + " --org org-cli --json");
  ASSERT_EQ(got_json.status, 0) << got_json.out;
  EXPECT_EQ(Json::parse(got_json.out)["value"], 44);
  // A tenant admin may set its own organization's tenant key, not another's.
  auto own = ledger(std::string("set ") + kKey + " 50 --org org-acme --reason mine --json", "dev-acme-tenant-admin");
  ASSERT_EQ(own.status, 0) << own.out;
  const auto own_position = Json::parse(own.out)["position"].get<std::int64_t>();
  auto other = ledger(std::string("set ") + kKey + " 50 --org org-cli --reason theirs", "dev-acme-tenant-admin");
  EXPECT_EQ(other.status, 2) << other.out;
  EXPECT_NE(other.out.find("403"), std::string::npos) << other.out;
  // Out of the key's bounds: refused with the service's code, exit 2.
  auto bounds = ledger(std::string("set ") + kKey + " 9999 --org org-cli --reason too-much");
  EXPECT_EQ(bounds.status, 2) << bounds.out;

  // keys and values, as tables and as JSON.
  auto keys = ledger("keys --prefix allocation.");
  ASSERT_EQ(keys.status, 0) << keys.out;
  EXPECT_EQ(keys.out.rfind("KEY", 0), 0u) << keys.out;
  EXPECT_NE(keys.out.find(kKey), std::string::npos) << keys.out;
  EXPECT_EQ(keys.out.find("quota.warn_threshold_percent"), std::string::npos) << keys.out;
  {
    std::istringstream rows(keys.out);
    bool row = false;
    for (std::string line; std::getline(rows, line);) {
      if (!line.starts_with(std::string(kKey) + " ")) continue;
      row = true;  // type, default, bounds and who may write, as the catalog says
      EXPECT_NE(line.find(" int "), std::string::npos) << line;
      EXPECT_NE(line.find(" 30 "), std::string::npos) << line;
      EXPECT_NE(line.find(" 0..365 "), std::string::npos) << line;
      EXPECT_NE(line.find(" tenant "), std::string::npos) << line;
    }
    EXPECT_TRUE(row) << keys.out;
  }
  auto quota_keys = ledger("keys --prefix quota.");  // keys without bounds or with enums
  EXPECT_EQ(quota_keys.status, 0) << quota_keys.out;
  auto keys_json = ledger("keys --json");
  ASSERT_EQ(keys_json.status, 0) << keys_json.out;
  auto direct = st.query("GET", "/v1/policy-keys?limit=1000", kAdminToken);
  EXPECT_EQ(Json::parse(keys_json.out)["keys"], direct.body["keys"]);
  auto values = ledger(std::string("values ") + kKey + " --org org-cli --json");
  ASSERT_EQ(values.status, 0) << values.out;
  EXPECT_TRUE(overrides(Json::parse(values.out)).count("organization/org-cli/org-cli=44")) << values.out;
  auto values_table =
      ledger(std::string("values ") + kKey + " --level organization --min-position " + std::to_string(own_position),
             "dev-acme-reader");
  ASSERT_EQ(values_table.status, 0) << values_table.out;
  EXPECT_NE(values_table.out.find("org-acme"), std::string::npos) << values_table.out;
  EXPECT_EQ(values_table.out.find("org-cli"), std::string::npos) << values_table.out;  // not the reader's

  // check: exit 0 on allow, 1 on deny.
  const std::string check =
      "check --org org-cli --project cli-llm --product gpuaas --resource-type gpu_node "
      "--resource-id n1 --dimension gpu.count --unit gpu --min-position " +
      std::to_string(st.last_position()) + " ";
  auto allow = ledger(check + "--delta 2 --usage 4");
  EXPECT_EQ(allow.status, 0) << allow.out;
  EXPECT_EQ(allow.out.rfind("allow", 0), 0u) << allow.out;
  auto deny = ledger(check + "--delta 5 --usage 4 --json");
  EXPECT_EQ(deny.status, 1) << deny.out;
  EXPECT_EQ(Json::parse(deny.out)["decision"], "deny");
  auto unknown = ledger(
      "check --org org-cli --project cli-llm --product gpuaas --resource-type gpu_node "
      "--resource-id n1 --dimension no.such --unit gpu --delta 1");
  EXPECT_EQ(unknown.status, 2) << unknown.out;
  EXPECT_NE(unknown.out.find("unknown_registry_entry"), std::string::npos) << unknown.out;

  // ceilings and reservations.
  auto ceilings = ledger("ceilings --project cli-llm --min-position " + std::to_string(st.last_position()));
  ASSERT_EQ(ceilings.status, 0) << ceilings.out;
  EXPECT_NE(ceilings.out.find("gpu.count"), std::string::npos) << ceilings.out;
  EXPECT_NE(ceilings.out.find("project cli-llm"), std::string::npos) << ceilings.out;
  auto reservations = ledger("reservations --org org-cli --json");
  ASSERT_EQ(reservations.status, 0) << reservations.out;
  EXPECT_TRUE(Json::parse(reservations.out)["items"].is_array());

  // Usage errors, refused tokens and an unreachable service.
  EXPECT_EQ(ledger("get").status, 2);
  EXPECT_EQ(ledger(std::string("set ") + kKey + " 1 --reason x").status, 2);  // no scope
  EXPECT_EQ(ledger("frobnicate").status, 2);
  auto refused = ledger("keys", "not-a-token");
  EXPECT_EQ(refused.status, 2) << refused.out;
  EXPECT_NE(refused.out.find("401"), std::string::npos) << refused.out;
  auto down = run_command(std::string(LEDGER_BINARY_DIR) + "/services/ledger --query-url http://127.0.0.1:1 keys 2>&1");
  EXPECT_EQ(down.status, 3) << down.out;
  auto bad_url = run_command(std::string(LEDGER_BINARY_DIR) + "/services/ledger --query-url ftp://x keys 2>&1");
  EXPECT_EQ(bad_url.status, 2) << bad_url.out;
  auto version = run_command(std::string(LEDGER_BINARY_DIR) + "/services/ledger --version");
  EXPECT_EQ(version.status, 0);
  EXPECT_EQ(version.out.rfind("policy-ledger ", 0), 0u) << version.out;
}

// `ledger ceilings --tree`: the organization (or a department) and every
// scope under it, each with its effective ceilings and where each comes
// from, read from the customer views at one snapshot.
TEST_F(CliE2e, CeilingsTreeDrawsEveryScopeUnderAnOrganizationWithItsEffectiveCeilings) {
  auto& st = s();
  st.register_gpu_quota();
  st.ok("registry.register", {{"kind", "usage_unit"}, {"entry_id", "core"}});
  st.ok("registry.register",
        {{"kind", "quota_dimension"},
         {"entry_id", "tree.cpu"},
         {"attributes", {{"product", "gpuaas"}, {"resource_type", "gpu_node"}, {"unit", "core"}}}});
  // org-tree ─┬─ org-tree.default ── tree-p0
  //           └─ tree-research ─┬─ tree-vision ─┬─ tree-p2
  //                             │               └─ tree-p3
  //                             └─ tree-p1
  st.ok("organization.create", {{"organization_id", "org-tree"}, {"plan_id", "tree-plan"}, {"name", "Tree"}});
  st.ok("department.create",
        {{"department_id", "tree-research"}, {"organization_id", "org-tree"}, {"name", "Research"}});
  st.ok("department.create",
        {{"department_id", "tree-vision"}, {"organization_id", "org-tree"}, {"parent_department_id", "tree-research"}});
  st.ok("project.create", {{"project_id", "tree-p0"}, {"organization_id", "org-tree"}});
  st.ok("project.create",
        {{"project_id", "tree-p1"}, {"organization_id", "org-tree"}, {"department_id", "tree-research"}});
  st.ok("project.create",
        {{"project_id", "tree-p2"}, {"organization_id", "org-tree"}, {"department_id", "tree-vision"}});
  st.ok("project.create",
        {{"project_id", "tree-p3"}, {"organization_id", "org-tree"}, {"department_id", "tree-vision"}});
  auto ceiling = [&](const std::string& level, const std::string& id, const std::string& dimension, int quantity,
                     const std::string& unit) {
    st.ok("ceiling.set", {{"scope", {{"level", level}, {"id", id}}},
                          {"dimension", dimension},
                          {"quantity", quantity},
                          {"unit", unit},
                          {"reason", "tree e2e"}});
  };
  ceiling("organization", "org-tree", "gpu.count", 100, "gpu");
  ceiling("organization", "org-tree", "tree.cpu", 64, "core");
  ceiling("department", "tree-vision", "gpu.count", 40, "gpu");  // an override lower down
  ceiling("project", "tree-p3", "gpu.count", 8, "gpu");          // and lower still
  const std::string at = " --min-position " + std::to_string(st.last_position());

  // The table: one row a ceiling, the tree drawn in the first column.
  auto table = ledger("ceilings --org org-tree --tree --dimension gpu.count" + at);
  ASSERT_EQ(table.status, 0) << table.out;
  const std::string rows =
      "SCOPE                            DIMENSION  WINDOW  REGION  SKU  CEILING  UNIT  FROM\n"
      "organization org-tree            gpu.count  -       -       -    100      gpu   organization org-tree\n"
      "├── department org-tree.default  gpu.count  -       -       -    100      gpu   organization org-tree\n"
      "│   └── project tree-p0          gpu.count  -       -       -    100      gpu   organization org-tree\n"
      "└── department tree-research     gpu.count  -       -       -    100      gpu   organization org-tree\n"
      "    ├── department tree-vision   gpu.count  -       -       -    40       gpu   department tree-vision\n"
      "    │   ├── project tree-p2      gpu.count  -       -       -    40       gpu   department tree-vision\n"
      "    │   └── project tree-p3      gpu.count  -       -       -    8        gpu   project tree-p3\n"
      "    └── project tree-p1          gpu.count  -       -       -    100      gpu   organization org-tree\n"
      "as of ";
  EXPECT_EQ(table.out.substr(0, rows.size()), rows) << table.out;
  // Unfiltered, a node's further ceilings continue its branch of the tree.
  auto both = ledger("ceilings --org org-tree --tree" + at);
  ASSERT_EQ(both.status, 0) << both.out;
  EXPECT_NE(both.out.find("\n│                                tree.cpu   -       -       -    64       core  "
                          "organization org-tree\n├── department org-tree.default"),
            std::string::npos)
      << both.out;
  EXPECT_NE(both.out.find("\n    │   │                        tree.cpu   -       -       -    64       core  "
                          "organization org-tree\n    │   ├── project tree-p2"),
            std::string::npos)
      << both.out;

  // --json: one document, the nodes nested as the scopes are.
  auto json = ledger("ceilings --org org-tree --tree --json" + at);
  ASSERT_EQ(json.status, 0) << json.out;
  const Json doc = Json::parse(json.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << json.out;
  EXPECT_GE(doc["snapshot_version"].get<std::int64_t>(), st.last_position());
  EXPECT_TRUE(doc["as_of"].is_string());
  EXPECT_TRUE(doc["dimension"].is_null());
  // Every node as "level id [children...]", and its (quantity, source) per dimension.
  std::function<std::string(const Json&)> shape = [&](const Json& n) {
    std::string out = n["level"].get<std::string>() + " " + n["id"].get<std::string>();
    if (n["children"].empty()) return out;
    out += " [";
    for (std::size_t i = 0; i < n["children"].size(); ++i) out += (i ? ", " : "") + shape(n["children"][i]);
    return out + "]";
  };
  std::map<std::string, std::map<std::string, std::string>> effective;  // id -> dimension -> "quantity from"
  std::function<void(const Json&)> collect = [&](const Json& n) {
    for (const auto& c : n["ceilings"]) {
      effective[n["id"]][c["dimension"]] = c["quantity"].dump() + " " +
                                           c["inherited_from"]["level"].get<std::string>() + " " +
                                           c["inherited_from"]["id"].get<std::string>();
    }
    for (const auto& child : n["children"]) collect(child);
  };
  const Json& tree = doc["tree"];
  EXPECT_EQ(shape(tree),
            "organization org-tree [department org-tree.default [project tree-p0], department tree-research "
            "[department tree-vision [project tree-p2, project tree-p3], project tree-p1]]");
  EXPECT_EQ(tree["children"][1]["name"], "Research");
  collect(tree);
  const std::string org = "organization org-tree", vision = "department tree-vision";
  const std::map<std::string, std::map<std::string, std::string>> want = {
      {"org-tree", {{"gpu.count", "100 " + org}, {"tree.cpu", "64 " + org}}},
      {"org-tree.default", {{"gpu.count", "100 " + org}, {"tree.cpu", "64 " + org}}},
      {"tree-p0", {{"gpu.count", "100 " + org}, {"tree.cpu", "64 " + org}}},
      {"tree-research", {{"gpu.count", "100 " + org}, {"tree.cpu", "64 " + org}}},
      {"tree-vision", {{"gpu.count", "40 " + vision}, {"tree.cpu", "64 " + org}}},
      {"tree-p2", {{"gpu.count", "40 " + vision}, {"tree.cpu", "64 " + org}}},
      {"tree-p3", {{"gpu.count", "8 project tree-p3"}, {"tree.cpu", "64 " + org}}},
      {"tree-p1", {{"gpu.count", "100 " + org}, {"tree.cpu", "64 " + org}}},
  };
  EXPECT_EQ(effective, want) << json.out;

  // --dimension keeps the tree and only that dimension's ceilings.
  auto filtered = ledger("ceilings --org org-tree --tree --json --dimension tree.cpu" + at);
  ASSERT_EQ(filtered.status, 0) << filtered.out;
  const Json only = Json::parse(filtered.out);
  EXPECT_EQ(only["dimension"], "tree.cpu");
  EXPECT_EQ(shape(only["tree"]), shape(tree));
  effective.clear();
  collect(only["tree"]);
  for (const auto& [id, dims] : want) {
    EXPECT_EQ(effective[id], (std::map<std::string, std::string>{{"tree.cpu", dims.at("tree.cpu")}})) << id;
  }

  // Pages of one child, every one followed at the first answer's snapshot: the same tree.
  auto paged = ledger("ceilings --org org-tree --tree --json --page-size 1" + at);
  ASSERT_EQ(paged.status, 0) << paged.out;
  EXPECT_EQ(Json::parse(paged.out)["tree"], tree);

  // A department's subtree.
  auto sub = ledger("ceilings --department tree-research --tree --json" + at);
  ASSERT_EQ(sub.status, 0) << sub.out;
  EXPECT_EQ(Json::parse(sub.out)["tree"], tree["children"][1]);

  // Bad input: a project has no tree, an unknown organization is the service's 404.
  auto leaf = ledger("ceilings --project tree-p1 --tree");
  EXPECT_EQ(leaf.status, 2) << leaf.out;
  auto unknown = ledger("ceilings --org no-such-org --tree");
  EXPECT_EQ(unknown.status, 2) << unknown.out;
  EXPECT_NE(unknown.out.find("unknown_scope"), std::string::npos) << unknown.out;
  EXPECT_EQ(ledger("ceilings --org org-tree --tree --page-size 1001").status, 2);
  auto down = run_command(std::string(LEDGER_BINARY_DIR) +
                          "/services/ledger --query-url http://127.0.0.1:1 ceilings --org org-tree --tree 2>&1");
  EXPECT_EQ(down.status, 3) << down.out;
}

// ledger-admin's --json and exit codes (0 done, 1 finding, 2 bad input or a
// failed step), as ledger-audit's.
TEST_F(CliE2e, LedgerAdminAnswersJsonWithTheAuditorsExitCodes) {
  const std::string admin = std::string(LEDGER_BINARY_DIR) + "/services/ledger-admin ";
  // Loading the catalog again defines nothing new and says how many keys it sent.
  auto load =
      run_command(admin + "load-catalog --json --token dev-platform-admin --catalog " + LEDGER_SOURCE_DIR +
                  "/config/policy-keys.json --command-port " + std::to_string(s().command_port()) + " 2>/dev/null");
  ASSERT_EQ(load.status, 0) << load.out;
  const Json loaded = Json::parse(load.out);
  EXPECT_TRUE(loaded["ok"].get<bool>());
  EXPECT_GT(loaded["defined"].get<int>(), 10);
  // A refused definition names the service's code.
  const auto bad_catalog = std::filesystem::temp_directory_path() / unique_name("bad-catalog.json");
  {
    std::ofstream(bad_catalog)
        << R"({"keys":[{"key":"allocation.refund_window_days","value_type":"string","default":"x"}]})";
  }
  auto conflict =
      run_command(admin + "load-catalog --json --token dev-platform-admin --catalog " + bad_catalog.string() +
                  " --command-port " + std::to_string(s().command_port()) + " 2>/dev/null");
  EXPECT_EQ(conflict.status, 2) << conflict.out;
  const Json refused = Json::parse(conflict.out, nullptr, false);
  ASSERT_TRUE(refused.is_object()) << conflict.out;
  EXPECT_FALSE(refused["ok"].get<bool>());
  EXPECT_EQ(refused["error"]["code"], "policy_key_conflict") << conflict.out;

  // Offline subcommands: a token, a token-file entry, and bad input as JSON.
  auto mint = run_command(admin + "mint-token --json --key-file " + LEDGER_SOURCE_DIR +
                          "/config/tokens.json --kid dev-hs256-1 --sub alice --actor-type user --org org-cli "
                          "--roles reader 2>/dev/null");
  ASSERT_EQ(mint.status, 0) << mint.out;
  const Json minted = Json::parse(mint.out);
  const std::string token = minted["token"].get<std::string>();
  EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 2) << mint.out;
  auto plain =
      run_command(admin + "mint-token --key-file " + LEDGER_SOURCE_DIR +
                  "/config/tokens.json --kid dev-hs256-1 --sub alice --actor-type user --org org-cli 2>/dev/null");
  ASSERT_EQ(plain.status, 0);
  EXPECT_EQ(std::count(plain.out.begin(), plain.out.end(), '.'), 2) << plain.out;  // the bare token, as before
  auto hash = run_command("echo 'a-static-token-of-enough-length' | " + admin +
                          "hash-token --json --expires-at 2030-01-01T00:00:00Z --tenant org-cli --actor-type "
                          "service_account --actor-id svc --roles service 2>/dev/null");
  ASSERT_EQ(hash.status, 0) << hash.out;
  EXPECT_EQ(Json::parse(hash.out)["entry"]["tenant"], "org-cli");
  auto bad_time = run_command("echo 'a-static-token-of-enough-length' | " + admin +
                              "hash-token --json --expires-at tomorrow --tenant t --actor-type user --actor-id u "
                              "2>/dev/null");
  EXPECT_EQ(bad_time.status, 2);
  EXPECT_EQ(Json::parse(bad_time.out)["error"]["code"], "invalid_parameter") << bad_time.out;
  auto missing = run_command(admin +
                             "mint-token --json --key-file /nonexistent --kid k --sub s --actor-type user "
                             "--org o 2>/dev/null");
  EXPECT_EQ(missing.status, 2);
  EXPECT_EQ(Json::parse(missing.out)["error"]["code"], "invalid_key_file") << missing.out;
  // A producer the command service would refuse to load (a blank id, a
  // blank tenant) is refused before any topic, ACL or file is touched.
  const auto producers = std::filesystem::temp_directory_path() / unique_name("producers.json");
  {
    std::ofstream(producers) << R"({"producers":[]})";
  }
  for (const char* blank : {"--tenant ' ' --id svc", "--tenant org-cli --id ' '"}) {
    auto refused_producer = run_command(admin + "add-producer --json --kafka-producers-file " + producers.string() +
                                        " --name feed --roles service " + blank + " 2>/dev/null");
    EXPECT_EQ(refused_producer.status, 2) << blank;
    EXPECT_EQ(Json::parse(refused_producer.out, nullptr, false)["error"]["code"], "kafka_producers_malformed")
        << refused_producer.out;
  }
  std::ifstream kept(producers);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(kept), {}), R"({"producers":[]})");
  std::filesystem::remove(producers);
  EXPECT_EQ(run_command(admin + "mint-token 2>/dev/null").status, 2);  // a usage error
  EXPECT_EQ(run_command(admin + "no-such-subcommand 2>/dev/null").status, 2);
}

// Retention of the decision log: `ledger-admin prune-decision-log` deletes
// the records answered before an instant, of every kind, in batches, and
// nothing else; --dry-run only counts; a bad or future instant is refused
// before anything is deleted. No service role may delete from the log.
TEST_F(CliE2e, PruneDecisionLogDeletesWhatWasAnsweredBeforeTheInstantOnly) {
  const std::string admin = std::string(LEDGER_BINARY_DIR) + "/services/ledger-admin --pg-admin-url '" +
                            s().database().admin_url + "' prune-decision-log --json ";
  // Rows of both kinds in 2001, and some in 2003: the prune's line is 2002.
  s().sql(
      "INSERT INTO decision_log.decisions (kind, decision_id, recorded_at, as_of, organization_id, project_id, "
      "actor_tenant, actor_type, actor_id, correlation_id, decision, reason_code, snapshot_version, input, output) "
      "SELECT CASE WHEN i % 3 = 0 THEN 'entitlement_check' ELSE 'admission' END, 'prune-' || i, "
      "CASE WHEN i <= 7 THEN timestamptz '2001-05-01T00:00:00Z' ELSE timestamptz '2003-05-01T00:00:00Z' END "
      "+ i * interval '1 minute', now(), 'org-prune', 'p', 'org-prune', 'user', 'u', 'c-' || i, 'allow', "
      "'within_ceiling', 1, '{}', '{}' FROM generate_series(1, 10) AS i");
  auto left = [&] {
    return std::stoi(s().sql("SELECT count(*) FROM decision_log.decisions WHERE decision_id LIKE 'prune-%'"));
  };
  ASSERT_EQ(left(), 10);

  auto dry = run_command(admin + "--before 2002-01-01T00:00:00Z --dry-run 2>/dev/null");
  ASSERT_EQ(dry.status, 0) << dry.out;
  EXPECT_EQ(Json::parse(dry.out)["would_delete"], 7) << dry.out;
  EXPECT_EQ(left(), 10);

  for (const char* bad : {"--before yesterday", "--before 2999-01-01T00:00:00Z",
                          "--before 2002-01-01T00:00:00Z "
                          "--batch 0"}) {
    auto refused = run_command(admin + bad + " 2>/dev/null");
    EXPECT_EQ(refused.status, 2) << bad;
    EXPECT_EQ(left(), 10) << bad;
  }
  const Json future = Json::parse(run_command(admin + "--before 2999-01-01T00:00:00Z 2>/dev/null").out);
  EXPECT_EQ(future["error"]["code"], "invalid_parameter") << future.dump();

  // Three rows per transaction. The database refuses to delete prune-5 (a
  // trigger of this test's): the admission rows go first, by recorded_at,
  // so the first batch (1, 2, 4) is deleted and the second fails; the error
  // says how many rows the prune had deleted.
  ASSERT_EQ(testing::sql_exec(
                s().database().admin_url,
                "CREATE FUNCTION public.test_keep_prune_5() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF OLD.decision_id = 'prune-5' THEN RAISE EXCEPTION 'prune-5 is kept'; END IF; RETURN OLD; END $$; "
                "CREATE TRIGGER test_keep_prune_5 BEFORE DELETE ON decision_log.decisions FOR EACH ROW "
                "EXECUTE FUNCTION public.test_keep_prune_5()"),
            "");
  // The same prune, twice: stopped by the trigger, then done.
  auto prune_in_threes = [&] { return run_command(admin + "--before 2002-01-01T00:00:00Z --batch 3 2>/dev/null"); };
  const auto stopped = prune_in_threes();
  EXPECT_EQ(stopped.status, 2) << stopped.out;
  const Json why = Json::parse(stopped.out)["error"];
  EXPECT_EQ(why["code"], "database_error") << stopped.out;
  EXPECT_EQ(why["evidence"]["deleted_before_failure"], 3) << stopped.out;
  EXPECT_EQ(left(), 7);
  ASSERT_EQ(testing::sql_exec(s().database().admin_url,
                              "DROP TRIGGER test_keep_prune_5 ON decision_log.decisions; "
                              "DROP FUNCTION public.test_keep_prune_5()"),
            "");

  // The rest: four rows, in two transactions of at most three.
  const auto pruned = prune_in_threes();
  ASSERT_EQ(pruned.status, 0) << pruned.out;
  const Json result = Json::parse(pruned.out);
  EXPECT_EQ(result["deleted"], 4) << pruned.out;
  EXPECT_EQ(result["before"], "2002-01-01T00:00:00.000000Z");
  EXPECT_EQ(left(), 3);
  EXPECT_EQ(s().sql("SELECT count(*) FROM decision_log.decisions WHERE decision_id LIKE 'prune-%' AND recorded_at < "
                    "'2002-01-01T00:00:00Z'"),
            "0");
  // Again: nothing left to delete.
  EXPECT_EQ(Json::parse(run_command(admin + "--before 2002-01-01T00:00:00Z 2>/dev/null").out)["deleted"], 0);

  for (const char* role :
       {"ledger_command", "ledger_relay", "ledger_projector", "ledger_query", "ledger_auditor", "ledger_app"}) {
    EXPECT_EQ(
        s().sql(std::string("SELECT has_table_privilege('") + role + "', 'decision_log.decisions', 'DELETE')::text"),
        "false")
        << role;
  }
}

// The live change feed (issue 17 part 6): GET /v1/changes as Server-Sent
// Events, gap-free and in order, tenant-scoped, resumable by Last-Event-ID,
// and `ledger watch` on it.
struct Frame {
  std::int64_t id = 0;
  std::string type;
  Json data;
};

std::vector<Frame> frames(const std::string& body) {
  std::vector<Frame> out;
  std::size_t start = 0;
  for (std::size_t end; (end = body.find("\n\n", start)) != std::string::npos; start = end + 2) {
    Frame f;
    std::istringstream block(body.substr(start, end - start));
    for (std::string line; std::getline(block, line);) {
      if (line.starts_with("id: ")) f.id = std::stoll(line.substr(4));
      if (line.starts_with("event: ")) f.type = line.substr(7);
      if (line.starts_with("data: ")) f.data = Json::parse(line.substr(6));
    }
    if (f.id > 0) out.push_back(std::move(f));
  }
  return out;
}

TEST_F(CliE2e, TheChangeFeedStreamsEveryCommittedEventToThoseWhoMaySeeIt) {
  auto& st = s();
  const auto first = st.ok("organization.create", {{"organization_id", "org-watch"}, {"plan_id", "pro"}});
  st.ok("organization.create", {{"organization_id", "org-acme"}, {"plan_id", "pro"}});  // may exist already: no change
  for (const auto& [org, v] : {std::pair{"org-watch", 11}, std::pair{"org-acme", 12}, std::pair{"org-watch", 13}}) {
    auto r = st.admin("POST", "/api/v1/admin/policy-values",
                      {{"key", kKey}, {"scope", {{"org_id", org}}}, {"value", v}, {"reason", "feed"}});
    ASSERT_EQ(r.status, 200) << r.describe();
  }
  const auto last = st.last_position();
  HttpClient client("127.0.0.1", st.query_port(), 30s);
  auto read = [&](const std::string& target, const std::string& token,
                  std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.emplace_back("authorization", token);
    std::string body;
    auto r = client.stream("GET", target, headers, [&](std::string_view d) {
      body.append(d);
      return true;
    });
    EXPECT_TRUE(r) << target << ": " << [&] {
      std::string why;
      if (!r)
        for (const auto& [k, v] : r.error().evidence_texts()) why += k + "=" + v + " ";
      return why;
    }();
    return std::pair{r ? *r : HttpResponse{}, body};
  };
  const std::string range = "from_position=" + std::to_string(first) + "&until_position=" + std::to_string(last);

  // The platform: every position of the range, once, in order.
  auto [head, body] = read("/v1/changes?" + range, kAdminToken);
  ASSERT_EQ(head.status, 200);
  ASSERT_NE(head.header("content-type"), nullptr);
  EXPECT_EQ(*head.header("content-type"), "text/event-stream");
  auto all = frames(body);
  ASSERT_EQ(static_cast<std::int64_t>(all.size()), last - first + 1) << body;
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].id, first + static_cast<std::int64_t>(i));
    EXPECT_EQ(all[i].data["global_position"], all[i].id);
    EXPECT_EQ(all[i].data["event_type"], all[i].type);
  }
  // An organization: its own events and the platform's policy events only.
  auto [acme_head, acme_body] = read("/v1/changes?" + range, "Bearer dev-acme-tenant-admin");
  ASSERT_EQ(acme_head.status, 200);
  const auto acme = frames(acme_body);
  ASSERT_FALSE(acme.empty());
  for (const auto& f : acme) {
    const std::string tenant = f.data["tenant"];
    EXPECT_TRUE(tenant == "org-acme" ||
                (tenant == "platform" && (f.type == "PolicyValueSet" || f.type == "PolicyKeyDefined")))
        << f.data;
  }
  // Types narrow it; Last-Event-ID resumes right after the event it names.
  auto [typed_head, typed_body] = read("/v1/changes?types=PolicyValueSet&" + range, kAdminToken);
  const auto typed = frames(typed_body);
  EXPECT_EQ(typed.size(), 3u);
  for (const auto& f : typed) EXPECT_EQ(f.type, "PolicyValueSet");
  auto [resumed_head, resumed_body] =
      read("/v1/changes?" + range, kAdminToken, {{"last-event-id", std::to_string(all[1].id)}});
  const auto resumed = frames(resumed_body);
  ASSERT_FALSE(resumed.empty());
  EXPECT_EQ(resumed.front().id, all[2].id);
  EXPECT_EQ(resumed.size(), all.size() - 2);

  // Live: an event committed while the stream is open arrives on it.
  std::string live;
  std::atomic<bool> seen{false};
  std::thread watcher([&] {
    HttpClient c("127.0.0.1", st.query_port(), 30s);
    auto r =
        c.stream("GET", "/v1/changes?types=PolicyValueSet", {{"authorization", kAdminToken}}, [&](std::string_view d) {
          live.append(d);
          seen = live.find("\"value\":77") != std::string::npos || live.find("\"after\":77") != std::string::npos;
          return !seen.load();
        });
    EXPECT_TRUE(r);
  });
  std::this_thread::sleep_for(500ms);  // the stream is open (from the head)
  auto w = st.admin("POST", "/api/v1/admin/policy-values",
                    {{"key", kKey}, {"scope", {{"org_id", "org-watch"}}}, {"value", 77}, {"reason", "live"}});
  ASSERT_EQ(w.status, 200) << w.describe();
  watcher.join();
  EXPECT_TRUE(seen.load()) << live;

  // Refusals: a stable code each, as a plain JSON answer.
  const std::vector<
      std::tuple<std::string, std::string, std::vector<std::pair<std::string, std::string>>, int, std::string>>
      refused = {
          {"/v1/changes?types=Policy*", kAdminToken, {}, 400, "invalid_parameter"},
          {"/v1/changes?since=1", kAdminToken, {}, 400, "unknown_parameter"},
          {"/v1/changes", kAdminToken, {{"last-event-id", "abc"}}, 400, "invalid_header"},
          {"/v1/changes?from_position=999999999", kAdminToken, {}, 400, "position_beyond_head"},
          {"/v1/changes?org_id=org-watch", "Bearer dev-acme-tenant-admin", {}, 403, "forbidden"},
          {"/v1/changes", "Bearer dev-acme-reader", {}, 403, "forbidden"},
          {"/v1/changes", "Bearer nope", {}, 401, "unauthenticated"},
      };
  for (const auto& [target, token, headers, status, code] : refused) {
    auto [h, b] = read(target, token, headers);
    EXPECT_EQ(h.status, status) << target << ": " << h.body;
    EXPECT_EQ(Json::parse(h.body, nullptr, false).value("code", ""), code) << target << ": " << h.body;
  }

  // `ledger watch` prints the same events, one JSON object a line.
  auto watch =
      ledger("watch --json --from-position " + std::to_string(first) + " --until-position " + std::to_string(last));
  ASSERT_EQ(watch.status, 0) << watch.out;
  std::istringstream lines(watch.out);
  std::vector<std::int64_t> positions;
  for (std::string line; std::getline(lines, line);) {
    const Json j = Json::parse(line, nullptr, false);
    if (j.is_object()) positions.push_back(j["global_position"].get<std::int64_t>());
  }
  ASSERT_EQ(positions.size(), all.size()) << watch.out;
  EXPECT_EQ(positions.front(), first);
  EXPECT_EQ(positions.back(), last);
  EXPECT_EQ(ledger("watch --types 'x y'").status, 2);
}

}  // namespace
}  // namespace ledger::testing
