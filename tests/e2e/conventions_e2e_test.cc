// One set of conventions at both services' edges (issue 17 part 3), through
// the real services: a body sent as anything but JSON is 415 and writes
// nothing; a refused token answers 401 with the scheme in WWW-Authenticate;
// every answer echoes the request's X-Correlation-Id (refusals included).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/support/e2e_stack.h"
#include "tests/support/process.h"

namespace {

using ledger::adapters::http::HttpClient;
using ledger::testing::kAdminToken;
using Json = nlohmann::json;
using namespace std::chrono_literals;

TEST(ConventionsE2e, MediaTypeAuthSchemeAndCorrelationIdAreTheSameOnEveryRoute) {
  ledger::testing::ServiceStack s("conventions_e2e");
  ASSERT_TRUE(s.start()) << s.describe_logs();
  HttpClient command("127.0.0.1", s.command_port(), 30s);
  HttpClient query("127.0.0.1", s.query_port(), 30s);
  const std::string body = R"({"organization_id":"org-conv","plan_id":"pro"})";
  const std::string admin = kAdminToken;

  // 415 for a body that says it is not JSON, on both services; nothing written.
  for (const std::string type : {"application/x-www-form-urlencoded", "text/plain", "application/jsonx"}) {
    auto r = command.request("POST", "/v1/commands/organization.create", body,
                             {{"authorization", admin}, {"content-type", type}, {"x-correlation-id", "conv-415"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 415) << type << ": " << r->body;
    EXPECT_EQ(Json::parse(r->body, nullptr, false).value("code", ""), "unsupported_media_type") << r->body;
    ASSERT_NE(r->header("x-correlation-id"), nullptr);
    EXPECT_EQ(*r->header("x-correlation-id"), "conv-415");
    auto q = query.request("POST", "/v1/decisions", "{}", {{"authorization", admin}, {"content-type", type}});
    ASSERT_TRUE(q);
    EXPECT_EQ(q->status, 415) << type << ": " << q->body;
  }
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events WHERE stream_id LIKE '%org-conv%'"), "0");
  // JSON, with or without parameters or any case, and a body with no type, pass.
  for (const std::string type : {"application/json", "Application/JSON; charset=utf-8", ""}) {
    std::vector<std::pair<std::string, std::string>> headers = {{"authorization", admin}};
    if (!type.empty()) headers.emplace_back("content-type", type);
    auto r = command.request("POST", "/v1/commands/organization.create", body, headers);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << type << ": " << r->body;
  }

  // 401 names the scheme, on both services and on seed-shaped routes.
  int refused = 0;
  for (auto* client : {&command, &query}) {
    for (const std::string path :
         {"/v1/commands/organization.create", "/v1/policy-values/x", "/tenants/t/config/risk"}) {
      auto r = client->request(path.rfind("/v1/commands", 0) == 0 ? "POST" : "GET", path,
                               path.rfind("/v1/commands", 0) == 0 ? body : "",
                               {{"authorization", "Bearer not-a-token"}, {"x-correlation-id", "conv-401"}});
      ASSERT_TRUE(r);
      if (r->status == 404 || r->status == 405) continue;  // a route (or method) of the other service
      ++refused;
      EXPECT_EQ(r->status, 401) << path << ": " << r->body;
      ASSERT_NE(r->header("www-authenticate"), nullptr) << path;
      EXPECT_EQ(r->header("www-authenticate")->rfind("Bearer", 0), 0u);
      ASSERT_NE(r->header("x-correlation-id"), nullptr) << path;
      EXPECT_EQ(*r->header("x-correlation-id"), "conv-401");
    }
  }
  EXPECT_EQ(refused, 3);

  // X-Correlation-Id on answers of every kind: accepted, read, waited for.
  auto w =
      command.request("POST", "/v1/commands/organization.create", R"({"organization_id":"org-conv-2","plan_id":"pro"})",
                      {{"authorization", admin}, {"x-correlation-id", "conv-write"}});
  ASSERT_TRUE(w);
  ASSERT_EQ(w->status, 200) << w->body;
  ASSERT_NE(w->header("x-correlation-id"), nullptr);
  EXPECT_EQ(*w->header("x-correlation-id"), "conv-write");
  const auto position = Json::parse(w->body)["position"].get<std::int64_t>();
  auto read = query.request(
      "GET",
      "/v1/policy-values/quota.warn_threshold_percent?min_position=" + std::to_string(position) + "&wait_ms=10000", "",
      {{"authorization", admin}, {"x-correlation-id", "conv-read"}});
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->status == 200 || read->status == 404) << read->body;  // answered once the read model is there
  ASSERT_NE(read->header("x-correlation-id"), nullptr);
  EXPECT_EQ(*read->header("x-correlation-id"), "conv-read");
  // The control routes echo it too, and answer GET only (405 with Allow).
  for (HttpClient* client : {&command, &query}) {
    for (const std::string path : {"/healthz", "/readyz", "/metrics", "/openapi.json"}) {
      auto r = client->request("GET", path, "", {{"x-correlation-id", "conv-control"}});
      ASSERT_TRUE(r) << path;
      EXPECT_EQ(r->status, 200) << path << ": " << r->body;
      ASSERT_NE(r->header("x-correlation-id"), nullptr) << path;
      EXPECT_EQ(*r->header("x-correlation-id"), "conv-control") << path;
      auto post = client->request("POST", path, "", {{"x-correlation-id", "conv-control"}});
      ASSERT_TRUE(post) << path;
      EXPECT_EQ(post->status, 405) << path << ": " << post->body;
      ASSERT_NE(post->header("allow"), nullptr) << path;
      EXPECT_EQ(*post->header("allow"), "GET") << path;
    }
  }
  // Every read route refuses a query parameter it does not take, the same way.
  for (const std::string target :
       {"/v1/policy-values/quota.warn_threshold_percent?orgid=org-acme", "/v1/audit?actor=alice",
        "/v1/decisions/log?verdict=deny", "/tenants/org-conv/config/risk?tenant=x",
        "/tenants/org-conv/config/resolved?agent=x", "/v1/reservations?owner=x"}) {
    auto r = query.request("GET", target, "", {{"authorization", admin}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << target << ": " << r->body;
    EXPECT_EQ(Json::parse(r->body, nullptr, false).value("code", ""), "unknown_parameter") << target << ": " << r->body;
  }

  // Command routes take no query parameters: one is refused, and nothing is written.
  for (const auto& [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"POST", "/v1/commands/organization.create?dry_run=1"},
                                                        {"POST", "/api/v1/admin/policy-values?org_id=org-conv-3"},
                                                        {"PUT", "/tenants/org-conv-3/config/risk?force=true"}}) {
    auto r = command.request(method, target, R"({"organization_id":"org-conv-3","plan_id":"pro"})",
                             {{"authorization", admin}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << target << ": " << r->body;
    EXPECT_EQ(Json::parse(r->body, nullptr, false).value("code", ""), "unknown_parameter") << target << ": " << r->body;
  }
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events WHERE stream_id LIKE '%org-conv-3%'"), "0");

  // The correlation id is on the log lines of the request, as a field.
  auto again = command.request("POST", "/v1/commands/organization.create",
                               R"({"organization_id":"org-conv-2","plan_id":"enterprise"})",
                               {{"authorization", admin}, {"x-correlation-id", "conv-log-1"}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409) << again->body;  // exists with another plan: logged as a rejection
  bool logged = false;
  for (int i = 0; i < 50 && !logged; ++i) {
    std::istringstream lines(s.logs());
    for (std::string line; std::getline(lines, line);) {
      const auto at = line.find("{\"ts\":");
      if (at == std::string::npos || line.find("command rejected") == std::string::npos) continue;
      const Json j = Json::parse(line.substr(at), nullptr, false);
      if (!j.is_discarded() && j.value("correlation_id", "") == "conv-log-1") logged = true;
    }
    if (!logged) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(logged) << "no log line of the request carries its correlation id";

  // A correlation id that cannot be echoed is refused, never echoed.
  auto bad = query.request("GET", "/v1/policy-values/quota.warn_threshold_percent", "",
                           {{"authorization", admin}, {"x-correlation-id", std::string(200, 'c')}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(bad->header("x-correlation-id"), nullptr);
}

// `--version` on every binary (issue 17 part 5): one line, exit 0, no
// server needed.
TEST(Conventions, EveryBinaryPrintsItsVersion) {
  for (const char* binary : {"ledger-command", "ledger-query", "ledger-relay", "ledger-projector", "ledger-admin",
                             "ledger-audit", "ledger-all", "ledger"}) {
    auto run = ledger::testing::run_command(std::string(LEDGER_BINARY_DIR) + "/services/" + binary + " --version 2>&1");
    EXPECT_EQ(run.status, 0) << binary << ": " << run.out;
    EXPECT_EQ(run.out.rfind("policy-ledger ", 0), 0u) << binary << ": " << run.out;
    EXPECT_EQ(std::count(run.out.begin(), run.out.end(), '\n'), 1) << binary << ": " << run.out;
  }
}

// `ledger --help` and each subcommand's help are in the README, as the
// binary prints them (issue 17 part 5).
TEST(Conventions, TheReadmeHoldsEveryLedgerHelpText) {
  std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/README.md");
  std::stringstream readme;
  readme << in.rdbuf();
  const std::string bin = std::string(LEDGER_BINARY_DIR) + "/services/ledger";
  for (const std::string sub : {"", "get", "set", "keys", "values", "check", "ceilings", "reservations", "watch"}) {
    auto run = ledger::testing::run_command(bin + (sub.empty() ? "" : " " + sub) + " --help");
    ASSERT_EQ(run.status, 0) << sub;
    std::string want = "```text\n$ ledger " + (sub.empty() ? "" : sub + " ") + "--help\n";
    std::istringstream lines(run.out);
    for (std::string line; std::getline(lines, line);) {
      for (std::size_t at; (at = line.find(bin)) != std::string::npos;) line.replace(at, bin.size(), "ledger");
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
      want += line + "\n";
    }
    want += "```";
    EXPECT_NE(readme.str().find(want), std::string::npos) << "README.md lacks, or differs from:\n" << want;
  }
}

}  // namespace
