// The decision log (issue 13 part 6) through the real services: every
// decision ledger-query answers (single and batch) goes through its buffer
// to the topic, ledger-projector puts it in decision_log.decisions, and
// decisions answered = records in the table, counted end to end.
// GET /v1/decisions/log shows a tenant its own organization's records only,
// paged. `ledger-audit decisions` re-derives every record from history at
// its snapshot version and agrees — and says which one differs, exit 1,
// once a record in the table is tampered with. A buffer too small drops
// records but never a decision, and counts them; `--decision-log off`
// records nothing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <sstream>

#include "tests/support/e2e_stack.h"
#include "tests/support/process.h"

namespace {

using ledger::testing::call;
using ledger::testing::eventually;
using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kAcmeService = "Bearer dev-acme-service";
constexpr const char* kAcmeAuditor = "Bearer dev-acme-auditor";
constexpr const char* kGlobexService = "Bearer dev-globex-service";

Json scope(const std::string& level, const std::string& id) { return {{"level", level}, {"id", id}}; }

Json decision_input(const std::string& org, const std::string& project, std::int64_t usage, std::int64_t delta,
                    const std::string& correlation) {
  return {
      {"actor",
       {{"actor_type", "service_account"},
        {"actor_id", "scheduler"},
        {"roles", Json::array()},
        {"scopes", Json::array()}}},
      {"hierarchy", {{"organization_id", org}, {"department_id", ""}, {"project_id", project}}},
      {"product",
       {{"product_id", "gpuaas"}, {"resource_type", "gpu_node"}, {"resource_id", "n1"}, {"action", "start"}}},
      {"request",
       {{"dimension", "gpu.count"}, {"requested_delta", delta}, {"unit", "gpu"}, {"region", ""}, {"sku_or_model", ""}}},
      {"current_usage", {{"scope_window", ""}, {"quantity", usage}, {"unit", "gpu"}}},
      {"correlation_id", correlation}};
}

void build(ledger::testing::ServiceStack& s) {
  s.register_gpu_quota();
  for (const char* org : {"org-acme", "org-globex"}) {
    s.ok("organization.create", {{"organization_id", org}, {"plan_id", "pro"}});
    s.ok("project.create", {{"project_id", std::string(org) + "-llm"}, {"organization_id", org}});
    s.ok("ceiling.set", {{"scope", scope("organization", org)},
                         {"dimension", "gpu.count"},
                         {"quantity", 10},
                         {"unit", "gpu"},
                         {"reason", "e2e"}});
  }
}

struct LogPage {
  int status = 0;
  std::vector<Json> lines;
  bool has_more = false;
  std::string next_cursor;
};

LogPage log_page(ledger::testing::ServiceStack& s, const std::string& query, const std::string& token) {
  auto client = s.query_client();
  auto r = client->request("GET", "/v1/decisions/log" + query, "", {{"authorization", token}});
  LogPage p;
  if (!r) return p;
  p.status = r->status;
  if (p.status != 200) return p;
  std::istringstream in(r->body);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) p.lines.push_back(Json::parse(line));
  }
  if (const auto* h = r->header("x-has-more")) p.has_more = *h == "true";
  if (const auto* h = r->header("x-next-cursor")) p.next_cursor = *h;
  return p;
}

// Every page of a query, following the cursors.
std::vector<Json> all_pages(ledger::testing::ServiceStack& s, const std::string& filter, const std::string& token,
                            int* pages = nullptr) {
  std::vector<Json> out;
  std::string cursor;
  for (int i = 0; i < 100; ++i) {
    LogPage p = log_page(s, "?limit=7" + filter + (cursor.empty() ? "" : "&cursor=" + cursor), token);
    EXPECT_EQ(p.status, 200);
    if (p.status != 200) break;
    for (auto& l : p.lines) out.push_back(std::move(l));
    if (pages) ++*pages;
    if (!p.has_more) break;
    cursor = p.next_cursor;
  }
  return out;
}

std::int64_t logged(ledger::testing::ServiceStack& s) {
  return std::stoll(s.sql("SELECT count(*) FROM decision_log.decisions"));
}

ledger::testing::CommandRun audit_decisions(ledger::testing::ServiceStack& s, const std::string& args = "") {
  return ledger::testing::run_command(std::string(LEDGER_BINARY_DIR) + "/services/ledger-audit decisions --pg-url '" +
                                      s.database().url_for("ledger_auditor") + "' " + args + " 2>&1");
}

// GET /metrics of the service on `port`, unauthenticated; "" when it fails
// or is not Prometheus text.
std::string metrics_text(std::uint16_t port) {
  ledger::adapters::http::HttpClient client("127.0.0.1", port, 30s);
  auto r = client.request("GET", "/metrics");
  if (!r || r->status != 200) return "";
  const std::string* type = r->header("content-type");
  if (type == nullptr || type->rfind("text/plain; version=0.0.4", 0) != 0) return "";
  return r->body;
}

// The value of the sample line starting with `series` (name and labels as
// written), or -1 when there is none.
double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// The sum of every sample line starting with `prefix` (e.g. a series with
// some of its labels), 0 when there is none.
double sum_samples(const std::string& text, const std::string& prefix) {
  double sum = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

TEST(DecisionLogE2e, EveryAnsweredDecisionIsLoggedScopedPagedAndReDerived) {
  ledger::testing::ServiceStack s("decision_log_e2e");
  ASSERT_TRUE(s.start());
  build(s);
  const std::int64_t head = s.ok("ceiling.set", {{"scope", scope("project", "org-acme-llm")},
                                                 {"dimension", "gpu.count"},
                                                 {"quantity", 6},
                                                 {"unit", "gpu"},
                                                 {"reason", "e2e"}});
  const std::string wait = "?min_position=" + std::to_string(head) + "&wait_ms=10000";

  // Acme: 20 single decisions (allow, warn and deny among them).
  std::int64_t answered = 0;
  std::set<std::string> verdicts;
  for (int i = 0; i < 20; ++i) {
    Reply d = s.query("POST", "/v1/decisions" + wait, kAcmeService,
                      decision_input("org-acme", "org-acme-llm", i % 8, 1, "acme-" + std::to_string(i)));
    ASSERT_EQ(d.status, 200) << d.describe() << s.describe_logs();
    verdicts.insert(d.body["decision"].get<std::string>());
    ++answered;
  }
  EXPECT_EQ(verdicts, (std::set<std::string>{"allow", "warn", "deny"}));
  // Globex: a batch of 9, one of them malformed (answered with an error, not a decision).
  Json batch = {{"decisions", Json::array()}};
  for (int i = 0; i < 9; ++i) {
    batch["decisions"].push_back(decision_input("org-globex", "org-globex-llm", i, 2, "globex-" + std::to_string(i)));
  }
  batch["decisions"][4]["request"]["requested_delta"] = -1;
  Reply b = s.query("POST", "/v1/decisions:batch" + wait, kGlobexService, batch);
  ASSERT_EQ(b.status, 200) << b.describe();
  for (const auto& r : b.body["results"]) {
    if (!r.contains("error")) ++answered;
  }
  ASSERT_EQ(answered, 28);

  // Counted end to end: decisions answered = records in the table.
  ASSERT_TRUE(eventually(30s, [&] { return logged(s) >= answered; })) << logged(s) << s.describe_logs();
  EXPECT_EQ(logged(s), answered);
  Reply status = s.query("GET", "/v1/decisions/log/status", kAdminToken);
  ASSERT_EQ(status.status, 200) << status.describe();
  EXPECT_EQ(status.body["enabled"], true);
  EXPECT_EQ(status.body["dropped"], 0);
  EXPECT_EQ(status.body["accepted"], answered);
  EXPECT_EQ(status.body["logged"], answered);

  // A tenant sees its own organization's records only, page by page.
  int pages = 0;
  const auto acme = all_pages(s, "", kAcmeAuditor, &pages);
  EXPECT_EQ(acme.size(), 20u);
  EXPECT_EQ(pages, 3);
  std::set<std::string> ids;
  for (const auto& r : acme) {
    EXPECT_EQ(r["organization_id"], "org-acme");
    EXPECT_EQ(r["actor"]["actor_id"], "acme-billing");  // dev-acme-service's principal
    EXPECT_EQ(r["input"]["hierarchy"]["organization_id"], "org-acme");
    EXPECT_EQ(r["output"]["decision"], r["decision"]);
    EXPECT_TRUE(r["output"].contains("matched_rules"));
    EXPECT_GE(r["snapshot_version"].get<std::int64_t>(), head);
    ids.insert(r["decision_id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), 20u) << "pages never repeat a record";
  EXPECT_EQ(log_page(s, "?org_id=org-globex", kAcmeAuditor).status, 403);
  EXPECT_EQ(log_page(s, "", kAcmeService).status, 403) << "the service role may decide, not read the log";
  // The platform names any organization; filters narrow.
  EXPECT_EQ(all_pages(s, "&org_id=org-globex", kAdminToken).size(), 8u);
  const auto one = all_pages(s, "&correlation_id=acme-3", kAdminToken);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0]["correlation_id"], "acme-3");
  for (const auto& r : all_pages(s, "&decision=deny", kAcmeAuditor)) EXPECT_EQ(r["decision"], "deny");
  EXPECT_EQ(log_page(s, "?decision=maybe", kAdminToken).status, 400);
  EXPECT_EQ(log_page(s, "?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z", kAdminToken).lines.size(), 0u);

  // Re-derived from history at each record's snapshot version: all agree.
  auto agree = audit_decisions(s);
  EXPECT_EQ(agree.status, 0) << agree.out;
  EXPECT_NE(agree.out.find("re-derived 28 logged decisions: all agree"), std::string::npos) << agree.out;

  // Tampered with in the table: the auditor names it, exit 1.
  const std::string tampered = s.sql(
      "WITH t AS (UPDATE decision_log.decisions SET output = jsonb_set(output::jsonb, '{decision}', '\"allow\"'), "
      "decision = 'allow' WHERE decision_id = (SELECT decision_id FROM decision_log.decisions WHERE decision = "
      "'deny' ORDER BY seq LIMIT 1) RETURNING decision_id) SELECT decision_id FROM t");
  ASSERT_FALSE(tampered.empty());
  auto differ = audit_decisions(s);
  EXPECT_EQ(differ.status, 1) << differ.out;
  EXPECT_NE(differ.out.find("DIFFERS: decision " + tampered), std::string::npos) << differ.out;
  EXPECT_NE(differ.out.find("1 differ"), std::string::npos) << differ.out;
  auto json = audit_decisions(s, "--json --org-id org-globex");
  EXPECT_EQ(json.status, 0) << json.out << " (the tampered record is acme's)";
}

TEST(DecisionLogE2e, AFullBufferDropsRecordsNeverDecisionsAndCountsThem) {
  ledger::testing::ServiceStack s("decision_log_overflow_e2e");
  s.set_env("LEDGER_DECISION_LOG_BUFFER", "1");
  ASSERT_TRUE(s.start());
  build(s);
  const std::int64_t head = s.ok("ceiling.set", {{"scope", scope("project", "org-acme-llm")},
                                                 {"dimension", "gpu.count"},
                                                 {"quantity", 6},
                                                 {"unit", "gpu"},
                                                 {"reason", "e2e"}});
  Json batch = {{"decisions", Json::array()}};
  for (int i = 0; i < 1000; ++i)
    batch["decisions"].push_back(decision_input("org-acme", "org-acme-llm", 0, 1, "burst"));
  Reply b = s.query("POST", "/v1/decisions:batch?min_position=" + std::to_string(head) + "&wait_ms=10000", kAcmeService,
                    batch);
  ASSERT_EQ(b.status, 200) << b.describe();
  for (const auto& r : b.body["results"]) ASSERT_EQ(r["decision"], "allow") << r.dump();
  // Every decision answered; what did not fit is counted, the rest logged.
  Reply status;
  ASSERT_TRUE(eventually(30s, [&] {
    status = s.query("GET", "/v1/decisions/log/status", kAdminToken);
    return status.status == 200 &&
           status.body["dropped"].get<std::int64_t>() + status.body["logged"].get<std::int64_t>() == 1000;
  })) << status.describe();
  EXPECT_GT(status.body["dropped"].get<std::int64_t>(), 0);
  EXPECT_EQ(status.body["accepted"], status.body["logged"]);
  EXPECT_TRUE(eventually(10s, [&] { return s.logs().find("record(s) dropped") != std::string::npos; }))
      << "the loss is logged";
  // And counted in /metrics, the same number.
  const std::string metrics = metrics_text(s.query_port());
  EXPECT_EQ(sample(metrics, "ledger_decision_log_dropped_total"), status.body["dropped"].get<double>()) << metrics;
  EXPECT_EQ(sample(metrics, "ledger_decisions_total{decision=\"allow\"}"), 1000) << metrics;
}

TEST(DecisionLogE2e, OffRecordsNothing) {
  ledger::testing::ServiceStack s("decision_log_off_e2e");
  s.set_env("LEDGER_DECISION_LOG", "off");
  ASSERT_TRUE(s.start());
  build(s);
  const std::int64_t head = s.ok("ceiling.set", {{"scope", scope("project", "org-acme-llm")},
                                                 {"dimension", "gpu.count"},
                                                 {"quantity", 6},
                                                 {"unit", "gpu"},
                                                 {"reason", "e2e"}});
  Reply d = s.query("POST", "/v1/decisions?min_position=" + std::to_string(head) + "&wait_ms=10000", kAcmeService,
                    decision_input("org-acme", "org-acme-llm", 0, 1, "off"));
  ASSERT_EQ(d.status, 200) << d.describe();
  Reply status = s.query("GET", "/v1/decisions/log/status", kAdminToken);
  ASSERT_EQ(status.status, 200) << status.describe();
  EXPECT_EQ(status.body["enabled"], false);
  EXPECT_EQ(status.body["logged"], 0);
  EXPECT_EQ(logged(s), 0);
}

// Issue 17 part 4: /metrics on ledger-command and ledger-query in the
// Prometheus text format (prometheus-cpp), counting requests by route
// template and status, decisions by verdict and the writer's group
// commits, with no id, tenant or path of a request in any label however many
// distinct paths a caller sends; and one access-log line per request with
// its fields as JSON fields of the line.
TEST(MetricsE2e, RequestsDecisionsAndCommitsAreCountedByRouteNeverById) {
  ledger::testing::ServiceStack s("metrics_e2e");
  ASSERT_TRUE(s.start());
  build(s);
  const std::int64_t head = s.ok("ceiling.set", {{"scope", scope("project", "org-acme-llm")},
                                                 {"dimension", "gpu.count"},
                                                 {"quantity", 6},
                                                 {"unit", "gpu"},
                                                 {"reason", "e2e"}});
  const std::string wait = "?min_position=" + std::to_string(head) + "&wait_ms=10000";
  std::map<std::string, int> verdicts;
  for (int i = 0; i < 9; ++i) {
    Reply d = s.query("POST", "/v1/decisions" + wait, kAcmeService,
                      decision_input("org-acme", "org-acme-llm", i, 1, "metrics-" + std::to_string(i)),
                      {{"X-Correlation-Id", "corr-metrics-" + std::to_string(i)}});
    ASSERT_EQ(d.status, 200) << d.describe();
    ++verdicts[d.body["decision"].get<std::string>()];
  }
  // A caller walking ids and made-up paths: one route label each, never theirs.
  for (int i = 0; i < 300; ++i) {
    s.query("GET", "/v1/reservations/res-probe-" + std::to_string(i), kAcmeService);
    s.query("GET", "/v1/probe-" + std::to_string(i) + "/x", kAcmeService);
  }

  const std::string query = metrics_text(s.query_port());
  ASSERT_FALSE(query.empty()) << s.describe_logs();
  for (const auto& [verdict, n] : verdicts) {
    EXPECT_EQ(sample(query, "ledger_decisions_total{decision=\"" + verdict + "\"}"), n) << query;
  }
  EXPECT_EQ(sample(query, R"(ledger_http_requests_total{method="POST",route="/v1/decisions",status="200"})"), 9)
      << query;
  EXPECT_EQ(
      sample(query, R"(ledger_http_request_duration_seconds_count{method="POST",route="/v1/decisions",status="200"})"),
      9);
  // Whatever each answered (403, 404, or 429 once over budget), all under one route each.
  EXPECT_EQ(sum_samples(query, R"(ledger_http_requests_total{method="GET",route="/v1/reservations/{}",)"), 300)
      << query;
  EXPECT_EQ(sum_samples(query, R"(ledger_http_requests_total{method="GET",route="/v1/{}/{}",)"), 300) << query;
  for (const char* leak : {"res-probe", "probe-1", "org-acme", "scheduler", "corr-metrics"}) {
    EXPECT_EQ(query.find(leak), std::string::npos) << leak;
  }
  // The in-memory read models: their sizes and lag (4 scopes: 2 organizations, 2 projects).
  EXPECT_GE(sample(query, R"(ledger_read_model_size{kind="scope_nodes",read_model="admission"})"), 4) << query;
  EXPECT_EQ(sample(query, R"(ledger_read_model_size{kind="ceiling_rules",read_model="admission"})"), 3) << query;
  EXPECT_GE(sample(query, "ledger_query_memory_position"), static_cast<double>(head)) << query;
  EXPECT_EQ(sample(query, "ledger_query_memory_lag_positions"), 0) << query;
  std::set<std::string> routes;
  for (std::size_t at = query.find("route=\""); at != std::string::npos; at = query.find("route=\"", at + 1)) {
    routes.insert(query.substr(at, query.find('"', at + 7) - at));
  }
  EXPECT_LT(routes.size(), 20u);

  const std::string command = metrics_text(s.command_port());
  ASSERT_FALSE(command.empty()) << s.describe_logs();
  EXPECT_GE(sample(command, R"(ledger_http_requests_total{method="POST",route="/v1/commands/{}",status="200"})"), 8)
      << command;
  EXPECT_GE(sample(command, "ledger_writer_batch_commands_count"), 1) << command;
  EXPECT_GE(sample(command, "ledger_writer_batch_commands_sum"), 8) << command;
  EXPECT_GE(sample(command, "ledger_writer_commit_duration_seconds_count"), 1) << command;
  EXPECT_EQ(sample(command, "ledger_writer_commits_failed_total"), 0) << command;
  EXPECT_EQ(sample(command, "ledger_kafka_delivery_failures_total"), 0) << command;
  EXPECT_GE(sample(command, R"(ledger_kafka_client_errors_total{client="consumer"})"), 0) << command;
  // Only GET.
  ledger::adapters::http::HttpClient client("127.0.0.1", s.command_port(), 30s);
  auto post = client.request("POST", "/metrics", "{}");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);

  // ledger-projector's status port: each read model's lag, caught up.
  std::string projector;
  EXPECT_TRUE(eventually(30s, [&] {
    projector = s.projector_status("/metrics").error;
    return sum_samples(projector, "ledger_projector_lag_positions{") == 0 &&
           sample(projector, R"(ledger_projector_lag_positions{read_model="admission"})") == 0 &&
           sample(projector, "ledger_projector_consuming") == 1;
  })) << projector;
  EXPECT_EQ(sample(projector, R"(ledger_projector_chain_alarms_total{reason="junk_record"})"), 0) << projector;

  // ledger-relay's status port: everything on the topic, no failed step.
  std::string relay;
  EXPECT_TRUE(eventually(30s, [&] {
    relay = s.relay_status("/metrics").error;
    return sample(relay, "ledger_relay_lag_positions") == 0 &&
           sample(relay, "ledger_relay_published_position") >= static_cast<double>(head);
  })) << relay;
  EXPECT_GE(sample(relay, R"(ledger_relay_steps_total{outcome="published"})"), 1) << relay;
  EXPECT_EQ(s.relay_status("/readyz").status, 200);

  // The access log: one JSON line per request, its fields its own. Its lines
  // leave the process's buffer within a second (settings.cc), not at once.
  Json access;
  EXPECT_TRUE(eventually(10s, [&] {
    std::istringstream lines(s.logs());
    for (std::string line; std::getline(lines, line);) {
      const std::size_t brace = line.find('{');
      if (brace == std::string::npos || line.find("\"msg\":\"access\"") == std::string::npos) continue;
      Json j = Json::parse(line.substr(brace), nullptr, false);
      if (j.is_discarded() || j.value("correlation_id", "") != "corr-metrics-3") continue;
      access = std::move(j);
      return true;
    }
    return false;
  })) << "no access line for corr-metrics-3";
  EXPECT_EQ(access["service"], "ledger-query") << access;
  EXPECT_EQ(access["method"], "POST") << access;
  EXPECT_EQ(access["route"], "/v1/decisions") << access;
  EXPECT_EQ(access["status"], 200) << access;
  EXPECT_TRUE(access["latency_ms"].is_number()) << access;
  EXPECT_EQ(access["actor"], "org-acme/service_account:acme-billing") << access;

  // Every other log line keeps its own shape: one JSON object, its text in "msg".
  int others = 0;
  std::istringstream all(s.logs());
  for (std::string line; std::getline(all, line);) {
    const std::size_t at = line.find("{\"ts\":");
    if (at == std::string::npos) continue;
    Json j = Json::parse(line.substr(at), nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "a log line that is not JSON: " << line;
    if (j.contains("method")) continue;  // an access line
    ++others;
    EXPECT_NE(j.value("msg", ""), "access") << line;
  }
  EXPECT_GT(others, 0);
}

}  // namespace
