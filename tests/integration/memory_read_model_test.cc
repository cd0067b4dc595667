// The query service's two read paths side by side (issue 12): random
// admission histories — hierarchies, ceilings (usage and per-request
// windows, regions), delegations with and without caps, moves (clamping),
// principals, reservations drafted, activated, suspended, resumed and
// consumed, and the warn threshold as a policy value set at random scopes —
// go through the real command service into the real event store. The SQL
// path reads the projected tables (PgAdmissionQueries / PgPolicyQueries);
// the memory path reads projections::AdmissionStore loaded from the same
// store. Every answer of POST /v1/decisions, POST /v1/decisions:batch and
// GET /v1/policy-values must be byte for byte the same body with the same
// status.
//
// The memory path's PostgreSQL objects point at a port where nothing
// listens: a single statement on a plain read would turn its answer into
// 503 `database_unavailable` and the comparison would fail. So the same
// run shows that plain decisions and policy-value reads execute ZERO
// PostgreSQL statements; a control (as_of_position, which stays on SQL)
// shows the dead database is really on the path.
//
// Seeded and deterministic: a failure names its seed; LEDGER_PROPERTY_CASES
// sets the number of cases (default 8).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "adapters/http/routes/admission_api.h"
#include "adapters/http/routes/config_api.h"
#include "adapters/http/routes/memory_limits.h"
#include "adapters/http/routes/query_api.h"
#include "adapters/http/routes/snapshot_waits.h"
#include "adapters/identity/identity.h"
#include "adapters/postgres/admission_queries.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_limits.h"
#include "adapters/postgres/read_model_store.h"
#include "adapters/projector/memory_feed.h"
#include "adapters/projector/projector.h"
#include "adapters/system/clock.h"
#include "commands/command_service.h"
#include "domain/admission.h"
#include "domain/policy_key.h"
#include "projections/admission/admission_store.h"
#include "tests/support/query_request.h"
#include "tests/support/test_env.h"

namespace ledger {
namespace {

using domain::QuotaLevel;
using domain::QuotaScope;
using Json = nlohmann::json;

constexpr events::Instant kNow{1'780'272'000'000'000};  // 2026-06-01T00:00:00Z
constexpr std::int64_t kHour = 3'600'000'000LL;
// Nothing listens here: any statement of the memory path fails.
constexpr const char* kDeadUrl = "postgresql://ledger@127.0.0.1:9/nowhere?connect_timeout=1";

// One query API over one read path.
struct ReadPath {
  std::unique_ptr<adapters::postgres::PgPolicyQueries> policy;
  std::unique_ptr<adapters::postgres::PgAdmissionQueries> admission;
  std::unique_ptr<routes::QueryApi> query;
  std::unique_ptr<routes::AdmissionApi> api;
  // The request gate (token lifetime, standing, rate limits) as ledger-query
  // wires it for this path.
  std::unique_ptr<adapters::postgres::ReadModelLimits> sql_limits;
  std::unique_ptr<routes::MemoryLimits> memory_limits;
  std::unique_ptr<commands::RequestGate> gate;

  ReadPath(const std::string& url, const identity::TokenAuthenticator& auth, commands::Clock& clock,
           const projections::AdmissionStore* memory) {
    policy = std::make_unique<adapters::postgres::PgPolicyQueries>(url, "rm", 2);
    admission = std::make_unique<adapters::postgres::PgAdmissionQueries>(url, "rm", 2);
    query = std::make_unique<routes::QueryApi>(*policy, auth, clock);
    api = std::make_unique<routes::AdmissionApi>(*admission, *policy, clock);
    query->serve_admission(*api);
    query->check_scopes_with(*admission);
    sql_limits = std::make_unique<adapters::postgres::ReadModelLimits>(*policy, *admission, clock);
    if (memory) {
      api->answer_from(*memory);
      query->answer_from(*memory, nullptr);
      memory_limits = std::make_unique<routes::MemoryLimits>(*memory, *sql_limits, clock);
      gate = std::make_unique<commands::RequestGate>(*memory_limits, clock);
    } else {
      gate = std::make_unique<commands::RequestGate>(*sql_limits, clock);
    }
    query->gate_requests_with(*gate);
  }
  adapters::http::HttpResponse call(const std::string& method, const std::string& path, const std::string& query_text,
                                    const std::string& body, const std::string& token = "t") {
    return query->handle(testing::query_request(method, path, query_text, body, token));
  }
};

class MemoryReadModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::create_database("memory_read_model");
    store_ = std::make_unique<adapters::postgres::PgEventStore>(db_.app_url, clock_);
    service_ = std::make_unique<commands::CommandService>(*store_, clock_);
    service_->start();
    Json tokens = {
        {"tokens",
         {{{"token", "t"},
           {"tenant", "platform"},
           {"actor", {{"type", "user"}, {"id", "ops"}, {"roles", {"platform_admin"}}}}},
          {{"token", "o1"}, {"tenant", "o1"}, {"actor", {{"type", "user"}, {"id", "o1.u0"}, {"roles", {"service"}}}}},
          {{"token", "o1u1"},
           {"tenant", "o1"},
           {"actor", {{"type", "user"}, {"id", "o1.u1"}, {"roles", {"service"}}}}}}}};
    auto auth = identity::TokenAuthenticator::from_json(tokens);
    ASSERT_TRUE(auth.has_value()) << auth.error().message;
    auth_ = std::make_unique<identity::TokenAuthenticator>(std::move(*auth));
    sql_ = std::make_unique<ReadPath>(db_.app_url, *auth_, clock_, nullptr);
    memory_ = std::make_unique<ReadPath>(kDeadUrl, *auth_, clock_, &models_);
  }
  void TearDown() override { service_->stop(); }

  template <class C>
  bool submit(C c) {
    commands::CommandRequest r;
    r.meta.command_id = "mem-" + std::to_string(++commands_);
    r.meta.principal = {{"user", "prop", {"platform_admin"}}, "platform"};
    r.meta.correlation_id = r.meta.command_id;
    r.command = std::move(c);
    auto out = service_->submit_async(std::move(r)).get();
    if (!out) {
      EXPECT_NE(out.error().kind, domain::ErrorKind::kUnavailable) << out.error().message;
      EXPECT_NE(out.error().kind, domain::ErrorKind::kInternal) << out.error().message;
    }
    return out.has_value();
  }

  // Both read models at the store's head: the tables by the projector, the
  // in-memory models from the store.
  void bring_both_to_head() {
    projector::ProjectorOptions po{.pg_url = db_.app_url, .brokers = "", .schema = "rm"};
    auto cp = projector::catch_up_from_store(po);
    ASSERT_TRUE(cp.has_value()) << cp.error().message;
    auto at = projector::load_from_store(db_.app_url, models_);
    ASSERT_TRUE(at.has_value()) << at.error().message;
    ASSERT_EQ(*at, *cp);
    models_.mark_ready();
  }

  // The same request through both paths: same status, same body, and the
  // memory path says it answered from memory.
  void expect_same(const std::string& method, const std::string& path, const std::string& query,
                   const std::string& body = "", const std::string& token = "t") {
    SCOPED_TRACE(method + " " + path + "?" + query + " " + body);
    const auto a = sql_->call(method, path, query, body, token);
    const auto b = memory_->call(method, path, query, body, token);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.body, b.body);
    if (a.status == 401 || a.status == 429) return;  // the request gate answered, before any route
    ASSERT_NE(b.header("x-read-model"), nullptr);
    EXPECT_EQ(*b.header("x-read-model"), "memory");
    ASSERT_NE(a.header("x-read-model"), nullptr);
    EXPECT_EQ(*a.header("x-read-model"), "postgresql");
    ++compared_;
    if (a.status == 200 && path == "/v1/decisions") ++decisions_[Json::parse(a.body).value("reason_code", "")];
    if (a.status == 200 && path == "/v1/ceilings/effective" && !Json::parse(a.body)["ceilings"].empty()) ++ceilings_;
    if (a.status == 200 && path.rfind("/v1/reservations/", 0) == 0) ++reservations_;
    if (a.status == 200 && path.rfind("/v1/policy-values/", 0) == 0 && !Json::parse(a.body)["is_default"].get<bool>()) {
      ++set_values_;
    }
  }

  testing::TestDatabase db_;
  adapters::system::ManualClock clock_{kNow};
  std::unique_ptr<adapters::postgres::PgEventStore> store_;
  std::unique_ptr<commands::CommandService> service_;
  std::unique_ptr<identity::TokenAuthenticator> auth_;
  projections::AdmissionStore models_;
  std::unique_ptr<ReadPath> sql_;
  std::unique_ptr<ReadPath> memory_;
  int commands_ = 0;
  int compared_ = 0;
  int ceilings_ = 0;      // effective-ceiling answers with at least one ceiling
  int reservations_ = 0;  // reservations found
  int set_values_ = 0;    // policy-value answers from a value set (not the default)
  std::map<std::string, int> decisions_;
};

Json input(const std::string& actor, const std::string& org, const std::string& project, const std::string& window,
           std::int64_t usage, std::int64_t delta, const std::string& region, const std::string& unit = "gpu") {
  return {{"actor", {{"actor_type", "user"}, {"actor_id", actor}, {"roles", {"member"}}, {"scopes", Json::array()}}},
          {"hierarchy", {{"organization_id", org}, {"department_id", ""}, {"project_id", project}}},
          {"product",
           {{"product_id", "gpuaas"}, {"resource_type", "gpu_node"}, {"resource_id", "n1"}, {"action", "launch"}}},
          {"request",
           {{"dimension", "gpu.count"},
            {"requested_delta", delta},
            {"unit", unit},
            {"region", region},
            {"sku_or_model", ""}}},
          {"current_usage", {{"scope_window", window}, {"quantity", usage}, {"unit", unit}}},
          {"correlation_id", "corr-diff"}};
}

TEST_F(MemoryReadModelTest, EveryAnswerFromMemoryIsByteForByteTheSqlAnswerWithoutAStatement) {
  const char* env = std::getenv("LEDGER_PROPERTY_CASES");
  const int cases = env ? std::atoi(env) : 8;
  ASSERT_TRUE(submit(domain::RegisterEntry{"product", "gpuaas", "", {}}));
  ASSERT_TRUE(submit(domain::RegisterEntry{"resource_type", "gpu_node", "", {{"product", "gpuaas"}}}));
  ASSERT_TRUE(submit(domain::RegisterEntry{"usage_unit", "gpu", "", {}}));
  ASSERT_TRUE(submit(domain::RegisterEntry{
      "quota_dimension", "gpu.count", "", {{"product", "gpuaas"}, {"resource_type", "gpu_node"}, {"unit", "gpu"}}}));
  events::PolicyKeyDefined warn;
  warn.key = "quota.warn_threshold_percent";
  warn.value_type = events::ValueType::kInt;
  warn.default_value = events::PolicyValue{std::int64_t{80}};
  warn.min = 0;
  warn.max = 100;
  warn.description = "near-limit threshold";
  ASSERT_TRUE(submit(domain::DefinePolicyKey{warn}));

  const std::vector<std::string> windows = {"", "request", "hour"};
  for (int seed = 1; seed <= cases; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(static_cast<unsigned>(seed));
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    const std::string o = "o" + std::to_string(seed), plan = "plan" + std::to_string(seed);
    ASSERT_TRUE(submit(domain::CreateOrganization{o, o, plan, ""}));
    const std::vector<std::string> depts = {o + ".default", o + ".d1", o + ".d2"};
    ASSERT_TRUE(submit(domain::CreateDepartment{depts[1], o, "", ""}));
    ASSERT_TRUE(submit(domain::CreateDepartment{depts[2], o, pick(2) ? depts[1] : "", ""}));
    std::vector<QuotaScope> projects;
    for (int p = 0; p < 3; ++p) {
      projects.push_back({QuotaLevel::kProject, o + ".p" + std::to_string(p)});
      ASSERT_TRUE(submit(domain::CreateProject{projects.back().id, o, depts[static_cast<std::size_t>(pick(3))], ""}));
    }
    std::vector<std::pair<std::string, std::string>> users;  // (principal, its project)
    for (int u = 0; u < 2; ++u) {
      const std::string id = o + ".u" + std::to_string(u);
      const std::string& project = projects[static_cast<std::size_t>(pick(3))].id;
      ASSERT_TRUE(submit(domain::CreatePrincipal{id, "user", project, id, std::nullopt}));
      users.emplace_back(id, project);
    }
    std::vector<QuotaScope> scopes = {{QuotaLevel::kPlan, plan}, {QuotaLevel::kOrganization, o}};
    for (const auto& d : depts) scopes.push_back({QuotaLevel::kDepartment, d});
    scopes.insert(scopes.end(), projects.begin(), projects.end());
    for (const auto& [u, p] : users) scopes.push_back({QuotaLevel::kPrincipal, u});
    int reservations = 0;
    for (int step = 0; step < 40; ++step) {
      const QuotaScope& s = scopes[static_cast<std::size_t>(pick(static_cast<int>(scopes.size())))];
      const QuotaScope& p = projects[static_cast<std::size_t>(pick(3))];
      const std::int64_t q = pick(40);
      const std::string window = windows[static_cast<std::size_t>(pick(3))];
      const std::string region = pick(4) == 0 ? "eu" : "";
      switch (pick(12)) {
        case 0:
        case 1:
          submit(domain::SetCeiling{s, {"gpu.count", window, region, ""}, q, "", "diff"});
          break;
        case 2:
          submit(domain::ClearCeiling{s, {"gpu.count", window, region, ""}, "diff"});
          break;
        case 3:
          submit(
              domain::DelegateCeiling{s, "gpu.count", pick(2) ? std::optional<std::int64_t>(q) : std::nullopt, "diff"});
          break;
        case 4:
          submit(domain::RevokeDelegation{s, "gpu.count", "diff"});
          break;
        case 5:
          submit(domain::MoveProject{p.id, depts[static_cast<std::size_t>(pick(3))]});
          break;
        case 6:
          submit(domain::MoveDepartment{depts[2], pick(2) ? depts[1] : ""});
          break;
        case 7: {
          const std::string id = o + ".r" + std::to_string(++reservations);
          const bool past = pick(4) == 0;
          const QuotaScope owner = pick(3) == 0 ? QuotaScope{QuotaLevel::kDepartment, depts[1]} : p;
          if (submit(domain::DraftReservation{id,
                                              owner,
                                              "gpu_nodes",
                                              "gpu.count",
                                              region,
                                              "",
                                              1 + q % 8,
                                              "",
                                              events::Instant{kNow.micros - 2 * kHour},
                                              events::Instant{kNow.micros + (past ? -kHour : 24 * kHour)},
                                              {},
                                              "diff"}) &&
              pick(4) != 0) {
            submit(domain::TransitionReservation{id, "activate", "", o});
          }
          break;
        }
        case 8:
          if (reservations > 0) {
            submit(domain::TransitionReservation{o + ".r" + std::to_string(1 + pick(reservations)),
                                                 pick(2) ? "suspend" : "resume", "", o});
          }
          break;
        case 9:
          if (reservations > 0) {
            submit(domain::ConsumeReservation{o + ".r" + std::to_string(1 + pick(reservations)), 1 + pick(3), "", o});
          }
          break;
        case 10:
        case 11: {
          // The warn threshold at the organization, a project, the plan or
          // globally; sometimes effective only in the future.
          static const events::ScopeLevel kLevels[] = {events::ScopeLevel::kOrganization, events::ScopeLevel::kProject,
                                                       events::ScopeLevel::kPlan, events::ScopeLevel::kGlobal};
          const auto level = kLevels[pick(4)];
          const std::string id = level == events::ScopeLevel::kOrganization ? o
                                 : level == events::ScopeLevel::kProject    ? p.id
                                 : level == events::ScopeLevel::kPlan       ? plan
                                                                            : "";
          std::optional<events::Instant> at;
          if (pick(4) == 0) at = events::Instant{kNow.micros + kHour};
          submit(domain::SetPolicyValue{
              warn.key, {level, id}, events::PolicyValue{std::int64_t{30 + pick(70)}}, at, "diff", std::nullopt});
          break;
        }
      }
    }
    bring_both_to_head();

    // Decisions: every requester (projects and principals), window, usage,
    // delta and region; then all of them as one batch.
    Json batch = Json::array();
    std::vector<std::pair<std::string, std::string>> requesters;
    for (const auto& p : projects) requesters.emplace_back("someone", p.id);
    requesters.insert(requesters.end(), users.begin(), users.end());
    for (const auto& [actor, project] : requesters) {
      for (const auto& window : windows) {
        for (std::int64_t usage : {0, 20}) {
          for (std::int64_t delta : {0, 1, 13, 30}) {
            for (const std::string region : {"", "eu"}) {
              const Json in = input(actor, o, project, window, usage, delta, region);
              expect_same("POST", "/v1/decisions", "", in.dump());
              if (batch.size() < routes::AdmissionApi::kMaxBatch) batch.push_back(in);
            }
          }
        }
      }
    }
    // Errors: unknown project, another organization, a wrong unit, a stale pinned registry version.
    const Json unknown = input("someone", o, o + ".nope", "", 0, 1, "");
    const Json mismatch = input("someone", "elsewhere", projects[0].id, "", 0, 1, "");
    const Json unit = input("someone", o, projects[0].id, "", 0, 1, "", "tpu");
    Json pinned = input("someone", o, projects[1].id, "", 0, 1, "");
    pinned["registry_versions"] = {{"quota_dimension:gpu.count", "7"}};
    for (const auto& in : {unknown, mismatch, unit, pinned}) {
      expect_same("POST", "/v1/decisions", "", in.dump());
      batch.push_back(in);
    }
    expect_same("POST", "/v1/decisions:batch", "", Json{{"decisions", batch}}.dump());
    {
      // Each slot of the batch is the single route's answer to its input,
      // and the body is written as a JSON tree would write it.
      const auto all = memory_->call("POST", "/v1/decisions:batch", "", Json{{"decisions", batch}}.dump(), "t");
      ASSERT_EQ(all.status, 200) << all.body;
      const Json results = Json::parse(all.body);
      EXPECT_EQ(results.dump(), all.body);
      ASSERT_EQ(results["results"].size(), batch.size());
      for (std::size_t k = 0; k < batch.size(); ++k) {
        const auto one = memory_->call("POST", "/v1/decisions", "", batch[k].dump(), "t");
        const Json single = Json::parse(one.body);
        const Json expected =
            one.status == 200 ? single : Json{{"error", {{"code", single["code"]}, {"message", single["message"]}}}};
        EXPECT_EQ(results["results"][k], expected) << batch[k].dump();
      }
    }
    if (seed == 1) {
      // A tenant principal: its own organization, and another one (refused alike).
      expect_same("POST", "/v1/decisions", "", input("o1.u0", o, projects[0].id, "", 0, 1, "").dump(), "o1");
    }

    // Effective ceilings at every scope (every dimension, one, one window, a region).
    for (const auto& sc : scopes) {
      const std::string q = "scope_level=" + std::string(events::quota_level_name(sc.level)) + "&scope_id=" + sc.id;
      expect_same("GET", "/v1/ceilings/effective", q);
      expect_same("GET", "/v1/ceilings/effective", q + "&dimension=gpu.count&region=eu");
      expect_same("GET", "/v1/ceilings/effective", q + "&dimension=gpu.count&window=request");
    }
    expect_same("GET", "/v1/ceilings/effective", "scope_level=global");
    expect_same("GET", "/v1/ceilings/effective", "scope_level=project&scope_id=" + o + ".nope");
    if (seed == 1)
      expect_same("GET", "/v1/ceilings/effective", "scope_level=project&scope_id=" + projects[0].id, "", "o1");

    // Every reservation (and an unknown one), as the platform and, for seed 1, as o1's principal.
    for (int r = 1; r <= reservations + 1; ++r) {
      expect_same("GET", "/v1/reservations/" + o + ".r" + std::to_string(r), "organization_id=" + o);
      if (seed <= 2) expect_same("GET", "/v1/reservations/" + o + ".r" + std::to_string(r), "", "", "o1");
    }

    // Policy values at every requester's scopes (and an undefined key).
    for (const auto& [actor, project] : requesters) {
      const std::string q = "project_id=" + project + "&org_id=" + o + "&plan=" + plan + "&user_id=" + actor;
      expect_same("GET", "/v1/policy-values/quota.warn_threshold_percent", q);
      expect_same("GET", "/v1/policy-values/quota.warn_threshold_percent", q + "&as_of=2026-06-01T02:00:00Z");
      expect_same("GET", "/v1/policy-values/quota.nothing", q);
    }
    expect_same("GET", "/v1/policy-values/quota.warn_threshold_percent", "project_id=" + projects[0].id, "", "o1");
    expect_same("GET", "/v1/policy-values/quota.warn_threshold_percent", "min_position=1");
    if (HasFailure()) return;  // one seed's differences are enough to read
  }
  // The generator reached every kind of answer the comparison should cover.
  for (const char* reason : {"within_ceiling", "near_limit", "ceiling_exceeded", "capacity_reserved", "no_ceiling",
                             "request_ceiling_exceeded"}) {
    EXPECT_GT(decisions_[reason], 0) << "no decision " << reason << " was compared";
  }
  EXPECT_GT(compared_, 1000);
  EXPECT_GT(ceilings_, 0);
  EXPECT_GT(reservations_, 0);
  EXPECT_GT(set_values_, 0);

  // The request gate from memory: a revoked principal and a rate limit set
  // at its organization are refused alike (401, then 429 on the third call).
  ASSERT_TRUE(submit(domain::RevokeToken{"o1", "o1.u1", "", "diff"}));
  events::PolicyKeyDefined rate;
  rate.key = "rate_limit.api_requests_per_minute";
  rate.value_type = events::ValueType::kInt;
  rate.default_value = events::PolicyValue{std::int64_t{1000}};
  rate.min = 0;
  rate.max = 100000;
  ASSERT_TRUE(submit(domain::DefinePolicyKey{rate}));
  ASSERT_TRUE(submit(domain::SetPolicyValue{rate.key,
                                            {events::ScopeLevel::kOrganization, "o1"},
                                            events::PolicyValue{std::int64_t{2}},
                                            std::nullopt,
                                            "diff",
                                            std::nullopt}));
  projector::ProjectorOptions po{.pg_url = db_.app_url, .brokers = "", .schema = "rm"};
  ASSERT_TRUE(projector::catch_up_from_store(po).has_value());
  ASSERT_TRUE(projector::load_from_store(db_.app_url, models_).has_value());
  const std::string own = input("o1.u0", "o1", "o1.p0", "", 0, 1, "").dump();
  clock_.advance_micros(2'000'000);  // past the gate's cache of what it read before
  for (int i = 0; i < 3; ++i) expect_same("POST", "/v1/decisions", "", own, "o1");
  expect_same("POST", "/v1/decisions", "", own, "o1u1");
  EXPECT_EQ(memory_->call("POST", "/v1/decisions", "", own, "o1u1").status, 401);
  EXPECT_EQ(sql_->call("POST", "/v1/decisions", "", own, "o1").status, 429);

  // Control: time travel stays on SQL, so the memory path's dead database
  // answers it — the dead URL really is on that path.
  const auto travel =
      memory_->call("POST", "/v1/decisions", "as_of_position=5", input("someone", "o1", "o1.p0", "", 0, 1, "").dump());
  EXPECT_EQ(travel.status, 503) << travel.body;
  EXPECT_EQ(Json::parse(travel.body).value("code", ""), "database_unavailable") << travel.body;
  ASSERT_NE(travel.header("x-read-model"), nullptr);
  EXPECT_EQ(*travel.header("x-read-model"), "postgresql");
}

TEST_F(MemoryReadModelTest, UntilTheModelHasCaughtUpAnswersAre503SnapshotNotReady) {
  ASSERT_TRUE(submit(domain::RegisterEntry{"product", "gpuaas", "", {}}));
  ASSERT_TRUE(submit(domain::CreateOrganization{"o1", "o1", "plan1", ""}));
  ASSERT_TRUE(submit(domain::CreateProject{"o1.p0", "o1", "", ""}));
  // Loaded but not marked ready (the feed marks it once at the store's head).
  ASSERT_TRUE(projector::load_from_store(db_.app_url, models_).has_value());
  const auto r = memory_->call("POST", "/v1/decisions", "", input("someone", "o1", "o1.p0", "", 0, 1, "").dump());
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(Json::parse(r.body).value("code", ""), "snapshot_not_ready");
  ASSERT_NE(r.header("retry-after"), nullptr);
  const auto v = memory_->call("GET", "/v1/policy-values/quota.warn_threshold_percent", "", "");
  EXPECT_EQ(v.status, 503) << v.body;
  EXPECT_EQ(Json::parse(v.body).value("code", ""), "snapshot_not_ready");
  models_.mark_ready();
  const auto ok = memory_->call("POST", "/v1/decisions", "", input("someone", "o1", "o1.p0", "", 0, 1, "").dump());
  EXPECT_NE(ok.status, 503) << ok.body;
}

// A reader that asks for a position (min_position) waits for it, up to
// wait_ms, also while the model is still catching up after a start; one
// that does not ask is told 503 at once (above).
TEST_F(MemoryReadModelTest, AReaderThatAsksForAPositionWaitsForTheModelToCatchUp) {
  ASSERT_TRUE(submit(domain::RegisterEntry{"product", "gpuaas", "", {}}));
  ASSERT_TRUE(submit(domain::CreateOrganization{"o1", "o1", "plan1", ""}));
  ASSERT_TRUE(submit(domain::CreateProject{"o1.p0", "o1", "", ""}));
  auto at = projector::load_from_store(db_.app_url, models_);
  ASSERT_TRUE(at.has_value());
  const std::string body = input("someone", "o1", "o1.p0", "", 0, 1, "").dump();
  const std::string wait = "min_position=" + std::to_string(models_.position().value);

  const auto started = std::chrono::steady_clock::now();
  const auto timed_out = memory_->call("POST", "/v1/decisions", wait + "&wait_ms=100", body);
  EXPECT_EQ(timed_out.status, 503) << timed_out.body;
  EXPECT_EQ(Json::parse(timed_out.body).value("code", ""), "snapshot_not_ready");
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(100));

  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    models_.mark_ready();
  });
  const auto asked = std::chrono::steady_clock::now();
  const auto answered = memory_->call("POST", "/v1/decisions", wait + "&wait_ms=10000", body);
  later.join();
  // The model's own answer (the history registers no dimension: 422), once
  // it was ready, not a 503.
  EXPECT_NE(answered.status, 503) << answered.body;
  EXPECT_NE(Json::parse(answered.body).value("code", ""), "snapshot_not_ready") << answered.body;
  EXPECT_GE(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(150));
}

// What the HTTP server may run on its io thread (HttpServer::Options::
// answers_at_once): a single decision from memory whose read-your-writes
// wait is parked; never the SQL path, a batch, time travel, or a memory path
// whose min_position wait would hold the thread.
TEST_F(MemoryReadModelTest, OnlyASingleDecisionFromMemoryIsAnsweredWithoutTheRequestPool) {
  auto at_once = [](ReadPath& path, const std::string& method, const std::string& target, const std::string& query) {
    return path.query->answers_at_once(testing::query_request(method, target, query, "{}", "t"));
  };
  EXPECT_FALSE(at_once(*sql_, "POST", "/v1/decisions", ""));
  EXPECT_FALSE(at_once(*memory_, "POST", "/v1/decisions", ""));  // no parked waits: min_position would block
  routes::SnapshotWaits waits([&]() -> domain::Result<events::GlobalPosition> { return models_.position(); }, {});
  memory_->query->answer_from(models_, &waits);
  EXPECT_TRUE(at_once(*memory_, "POST", "/v1/decisions", ""));
  EXPECT_TRUE(at_once(*memory_, "POST", "/v1/decisions", "min_position=3&wait_ms=100"));
  EXPECT_FALSE(at_once(*memory_, "POST", "/v1/decisions", "as_of_position=3"));
  EXPECT_FALSE(at_once(*memory_, "POST", "/v1/decisions:batch", ""));
  EXPECT_FALSE(at_once(*memory_, "GET", "/v1/decisions", ""));
  EXPECT_FALSE(at_once(*memory_, "GET", "/v1/ceilings/effective", "organization_id=o1"));
  waits.stop();
}

// What a parked request's answer is, once sent (from the waits' thread).
class CapturedAnswer final : public adapters::http::HttpResponder::Target {
 public:
  void send(adapters::http::HttpResponse response) override {
    std::lock_guard lock(mu_);
    if (!answer_) answer_ = std::move(response);
    cv_.notify_all();
  }
  void resume(std::function<void()> work) override { work(); }
  std::shared_ptr<adapters::http::HttpStream> stream(adapters::http::HttpResponse) override { return nullptr; }
  std::optional<adapters::http::HttpResponse> await(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return answer_.has_value(); });
    return answer_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<adapters::http::HttpResponse> answer_;
};

// A configuration read is answered from the in-memory store, so its
// read-your-writes wait is parked on the store's position, not on the
// PostgreSQL read models' checkpoints: with the projector ahead of the
// store it waits for the store, and is not woken early into a 503 (as
// ConfigE2e once saw in CI).
TEST_F(MemoryReadModelTest, AConfigurationReadWaitsForTheStoreItIsAnsweredFrom) {
  ASSERT_TRUE(submit(domain::RegisterEntry{"product", "gpuaas", "", {}}));
  bring_both_to_head();
  const events::GlobalPosition at = models_.position();
  ASSERT_TRUE(submit(domain::CreateOrganization{"o1", "o1", "plan1", ""}));
  const events::GlobalPosition next{at.value + 1};
  // The checkpoints and the head have `next`; the store is one behind.
  auto ahead = [&]() -> domain::Result<events::GlobalPosition> { return next; };
  routes::SnapshotWaits sql_waits(ahead, {});
  routes::SnapshotWaits memory_waits([&]() -> domain::Result<events::GlobalPosition> { return models_.position(); },
                                     {});
  models_.set_on_advance([&](events::GlobalPosition) { memory_waits.notify(); });
  routes::ConfigApi config(models_, clock_, Json::object(), ahead);
  routes::QueryApi& query = *memory_->query;
  query.wait_with(sql_waits, ahead);
  query.answer_from(models_, &memory_waits);
  query.serve_config(config);

  auto answer = std::make_shared<CapturedAnswer>();
  query.handle(testing::query_request("GET", "/tenants/o1/config/resolved",
                                      "min_position=" + std::to_string(next.value) + "&wait_ms=10000", "", "t"),
               adapters::http::HttpResponder(answer));
  const auto early = answer->await(std::chrono::milliseconds(300));
  EXPECT_FALSE(early.has_value()) << early->status << " " << early->body;

  adapters::postgres::PgEventReader reader(db_.app_url);
  auto tail = reader.read_after(at, 10);
  ASSERT_TRUE(tail.has_value()) << tail.error().message;
  ASSERT_EQ(tail->size(), 1u);
  ASSERT_TRUE(models_.apply(*tail).has_value());
  const auto answered = answer->await(std::chrono::seconds(5));
  ASSERT_TRUE(answered.has_value());
  EXPECT_EQ(answered->status, 200) << answered->body;
  EXPECT_EQ(Json::parse(answered->body).value("snapshot_version", std::int64_t{0}), next.value) << answered->body;
  ASSERT_NE(answered->header("x-read-model"), nullptr);
  EXPECT_EQ(*answered->header("x-read-model"), "memory");
  models_.set_on_advance(nullptr);
  memory_waits.stop();
  sql_waits.stop();
}

}  // namespace
}  // namespace ledger
