// GET /v1/audit?descendants=true for department, project and principal
// scopes (adapters/http/routes/query_api.h): the rows whose scope lay inside
// the subtree at the row's own position. History written through the real
// command service, projected from the store, read through QueryApi: nested
// departments, projects, principals and policy values at project and user
// level; a project moved between departments; a department moved; tenant
// isolation; cursor paging while events arrive; as_of / as_of_position; a
// lagging admission read model; reservations, whose later rows (filed at the
// organization) count where their owner was at each row's position; and a
// property check of random moves and reservations against a brute force over
// the event history.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "adapters/http/routes/query_api.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_store.h"
#include "adapters/projector/projector.h"
#include "adapters/system/clock.h"
#include "commands/command_service.h"
#include "domain/admission.h"
#include "tests/support/query_request.h"
#include "tests/support/test_env.h"

namespace ledger {
namespace {

using Json = nlohmann::json;
using P = std::vector<std::int64_t>;
using events::QuotaLevel;
using events::ScopeLevel;
constexpr std::int64_t kMinute = 60LL * 1'000'000;
constexpr const char* kWindow = "billing.window_seconds";
constexpr int kTenantTokens = 40;  // tokens "o1".."o40": auditors of organizations o1..o40

commands::Principal admin() { return {{"user", "platform-admin", {"platform_admin"}}, "platform"}; }
commands::Principal tenant_admin(const std::string& org) { return {{"user", org + "-admin", {"tenant_admin"}}, org}; }

class AuditDescendantsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::create_database(::testing::UnitTest::GetInstance()->current_test_info()->name());
    store_ = std::make_unique<adapters::postgres::PgEventStore>(db_.app_url, clock_);
    service_ = std::make_unique<commands::CommandService>(*store_, clock_);
    service_->start();
    Json tokens = Json::array();
    tokens.push_back({{"token", "t"},
                      {"tenant", "platform"},
                      {"actor", {{"type", "user"}, {"id", "auditor"}, {"roles", {"auditor"}}}}});
    tokens.push_back({{"token", "acme"},
                      {"tenant", "acme"},
                      {"actor", {{"type", "user"}, {"id", "acme-auditor"}, {"roles", {"auditor"}}}}});
    for (int i = 1; i <= kTenantTokens; ++i) {
      const std::string o = "o" + std::to_string(i);
      tokens.push_back(
          {{"token", o}, {"tenant", o}, {"actor", {{"type", "user"}, {"id", o + "-auditor"}, {"roles", {"auditor"}}}}});
    }
    auto auth = identity::TokenAuthenticator::from_json(Json{{"tokens", tokens}});
    ASSERT_TRUE(auth.has_value());
    auth_ = std::make_unique<identity::TokenAuthenticator>(std::move(*auth));
    queries_ = std::make_unique<adapters::postgres::PgPolicyQueries>(db_.app_url, "rm", 2);
    audit_ = std::make_unique<adapters::postgres::PgAuditQueries>(db_.app_url, "rm", 2);
    api_ = std::make_unique<routes::QueryApi>(*queries_, *auth_, clock_, audit_.get());
  }
  void TearDown() override { service_->stop(); }

  // The position of the command's last event, 0 when it was rejected.
  std::int64_t try_run(commands::Command c, commands::Principal who = admin()) {
    clock_.advance_micros(kMinute);
    ++commands_;
    commands::CommandRequest r{{"c" + std::to_string(commands_), std::move(who), "corr-" + std::to_string(commands_),
                                "cause-" + std::to_string(commands_)},
                               std::move(c),
                               {}};
    auto out = service_->submit_async(r).get();
    if (!out) {
      EXPECT_NE(out.error().kind, domain::ErrorKind::kUnavailable) << out.error().message;
      return 0;
    }
    return out->position.value;
  }
  std::int64_t run(commands::Command c, commands::Principal who = admin()) {
    const std::int64_t pos = try_run(std::move(c), std::move(who));
    EXPECT_NE(pos, 0) << "command " << commands_ << " was rejected";
    return pos;
  }
  std::int64_t set(ScopeLevel level, const std::string& id, std::int64_t v, commands::Principal who = admin()) {
    return run(domain::SetPolicyValue{kWindow, {level, id}, events::PolicyValue{v}, std::nullopt, "r", std::nullopt},
               std::move(who));
  }
  std::int64_t ceiling(QuotaLevel level, const std::string& id, std::int64_t quantity) {
    return run(domain::SetCeiling{{level, id}, {"gpu.count", "", "", ""}, quantity, "", "test"});
  }
  // A gpu.count reservation for `owner`, its window ending `minutes` from now.
  std::int64_t draft(const std::string& id, QuotaLevel level, const std::string& owner,
                     std::int64_t minutes = 24 * 60) {
    const std::int64_t now = clock_.now().micros;
    return run(domain::DraftReservation{id,
                                        {level, owner},
                                        "gpu_nodes",
                                        "gpu.count",
                                        "",
                                        "",
                                        4,
                                        "",
                                        events::Instant{now - 60 * kMinute},
                                        events::Instant{now + minutes * kMinute},
                                        {},
                                        "test"});
  }
  std::int64_t transition(const std::string& id, const std::string& action, const std::string& org = "acme") {
    return run(domain::TransitionReservation{id, action, "test", org});
  }
  // The policy key and the quota dimension: rows at global scope, in no subtree.
  void catalog() {
    run(domain::DefinePolicyKey{events::PolicyKeyDefined{kWindow,
                                                         events::ValueType::kInt,
                                                         events::PolicyValue{std::int64_t{60}},
                                                         1,
                                                         86400,
                                                         {},
                                                         "window",
                                                         events::WriteAudience::kTenant}});
    run(domain::RegisterEntry{"product", "gpuaas", "", {}});
    run(domain::RegisterEntry{"usage_unit", "gpu", "", {}});
    run(domain::RegisterEntry{"quota_dimension", "gpu.count", "", {{"product", "gpuaas"}, {"unit", "gpu"}}});
  }
  void project(std::vector<std::string> read_models = {}) {
    projector::ProjectorOptions o{.pg_url = db_.app_url, .brokers = "", .schema = "rm"};
    o.read_models = std::move(read_models);
    auto r = projector::catch_up_from_store(o);
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }

  adapters::http::HttpResponse audit(const std::string& query, const std::string& token = "t") {
    return api_->handle(testing::query_request("GET", "/v1/audit", query, {}, token));
  }
  static Json body(const adapters::http::HttpResponse& r) { return Json::parse(r.body); }
  static P positions(const Json& items) {
    P out;
    for (const auto& i : items) out.push_back(i["position"].get<std::int64_t>());
    return out;
  }
  P audit_positions(const std::string& query, const std::string& token = "t") {
    auto r = audit(query, token);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    return r.status == 200 ? positions(body(r)["items"]) : P{};
  }
  static std::string subtree(const std::string& level, const std::string& id) {
    return "scope_level=" + level + "&scope_id=" + id + "&descendants=true";
  }
  // Every page of `query`, `limit` rows at a time, following next_cursor.
  P all_pages(const std::string& query, int limit, const std::string& token = "t") {
    P out;
    std::string cursor;
    for (int page = 0; page < 10'000; ++page) {
      auto r = audit(query + "&limit=" + std::to_string(limit) + (cursor.empty() ? "" : "&cursor=" + cursor), token);
      EXPECT_EQ(r.status, 200) << query << ": " << r.body;
      if (r.status != 200) break;
      auto b = body(r);
      EXPECT_LE(b["items"].size(), static_cast<std::size_t>(limit));
      for (auto p : positions(b["items"])) out.push_back(p);
      if (!b["has_more"].get<bool>()) {
        EXPECT_TRUE(b["next_cursor"].is_null());
        break;
      }
      cursor = b["next_cursor"].get<std::string>();
    }
    return out;
  }

  // The standard history (the comments say where each row belongs):
  //   acme: d1 > d1a > p1 (moved to d2 at `moved`) > alice;  d2 > p2
  //   beta: bd > q1
  struct History {
    std::int64_t d1, d1a, d2, p1, p2, alice, p1_value, alice_value, alice_platform_value, alice_ceiling, d1a_ceiling,
        p2_value, moved, p1_after, alice_after, d1_ceiling, bd, q1;
  };
  History standard_history() {
    catalog();
    run(domain::CreateOrganization{"acme", "Acme", "pro", ""});
    run(domain::CreateOrganization{"beta", "Beta", "free", ""});
    History h{};
    h.d1 = run(domain::CreateDepartment{"d1", "acme", "", ""});
    h.d1a = run(domain::CreateDepartment{"d1a", "acme", "d1", ""});  // nested in d1
    h.d2 = run(domain::CreateDepartment{"d2", "acme", "", ""});
    h.p1 = run(domain::CreateProject{"p1", "acme", "d1a", ""});
    h.p2 = run(domain::CreateProject{"p2", "acme", "d2", ""});
    h.alice = run(domain::CreatePrincipal{"alice", "user", "p1", "", std::nullopt});
    h.p1_value = set(ScopeLevel::kProject, "p1", 30, tenant_admin("acme"));     // tenant acme
    h.alice_value = set(ScopeLevel::kUser, "alice", 20, tenant_admin("acme"));  // tenant acme
    h.alice_platform_value = set(ScopeLevel::kUser, "alice", 25);               // tenant platform
    h.alice_ceiling = ceiling(QuotaLevel::kPrincipal, "alice", 4);
    h.d1a_ceiling = ceiling(QuotaLevel::kDepartment, "d1a", 50);
    h.p2_value = set(ScopeLevel::kProject, "p2", 31, tenant_admin("acme"));
    h.moved = run(domain::MoveProject{"p1", "d2"});  // counts under d2
    h.p1_after = set(ScopeLevel::kProject, "p1", 32, tenant_admin("acme"));
    h.alice_after = ceiling(QuotaLevel::kPrincipal, "alice", 3);
    h.d1_ceiling = ceiling(QuotaLevel::kDepartment, "d1", 60);
    h.bd = run(domain::CreateDepartment{"bd", "beta", "", ""});
    h.q1 = run(domain::CreateProject{"q1", "beta", "bd", ""});
    return h;
  }

  testing::TestDatabase db_;
  adapters::system::ManualClock clock_{events::Instant{1'780'272'000'000'000}};
  std::unique_ptr<adapters::postgres::PgEventStore> store_;
  std::unique_ptr<commands::CommandService> service_;
  int commands_ = 0;
  std::unique_ptr<identity::TokenAuthenticator> auth_;
  std::unique_ptr<adapters::postgres::PgPolicyQueries> queries_;
  std::unique_ptr<adapters::postgres::PgAuditQueries> audit_;
  std::unique_ptr<routes::QueryApi> api_;
};

TEST_F(AuditDescendantsTest, ADepartmentAnswersItsSubtreeAtEachRowsPosition) {
  const History h = standard_history();
  project();
  // d1: itself, the nested d1a, p1 and alice until p1 moved away, and the
  // policy values at project p1 and user alice set meanwhile.
  EXPECT_EQ(audit_positions(subtree("department", "d1")),
            (P{h.d1, h.d1a, h.p1, h.alice, h.p1_value, h.alice_value, h.alice_platform_value, h.alice_ceiling,
               h.d1a_ceiling, h.d1_ceiling}));
  EXPECT_EQ(audit_positions(subtree("department", "d1a")), (P{h.d1a, h.p1, h.alice, h.p1_value, h.alice_value,
                                                              h.alice_platform_value, h.alice_ceiling, h.d1a_ceiling}));
  // d2: the move itself (the link valid at its position is the new one) and
  // what happened to p1 and alice afterwards; nothing from before the move.
  EXPECT_EQ(audit_positions(subtree("department", "d2")),
            (P{h.d2, h.p2, h.p2_value, h.moved, h.p1_after, h.alice_after}));
  EXPECT_EQ(audit_positions(subtree("department", "bd")), (P{h.bd, h.q1}));
  // Without descendants: the scope's own rows only.
  EXPECT_EQ(audit_positions("scope_level=department&scope_id=d1"), (P{h.d1, h.d1_ceiling}));
  EXPECT_EQ(audit_positions("scope_level=department&scope_id=d1&descendants=false"), (P{h.d1, h.d1_ceiling}));

  // A project: itself over its whole life, and its principals.
  EXPECT_EQ(audit_positions(subtree("project", "p1")),
            (P{h.p1, h.alice, h.p1_value, h.alice_value, h.alice_platform_value, h.alice_ceiling, h.moved, h.p1_after,
               h.alice_after}));
  EXPECT_EQ(audit_positions(subtree("project", "p2")), (P{h.p2, h.p2_value}));
  // A principal is a leaf: its admission rows and its policy values (level
  // user), asked for as principal or as user.
  const P alice_rows{h.alice, h.alice_value, h.alice_platform_value, h.alice_ceiling, h.alice_after};
  EXPECT_EQ(audit_positions(subtree("principal", "alice")), alice_rows);
  EXPECT_EQ(audit_positions(subtree("user", "alice")), alice_rows);
  EXPECT_EQ(audit_positions("scope_level=user&scope_id=alice"), (P{h.alice_value, h.alice_platform_value}));
  EXPECT_EQ(audit_positions("scope_level=principal&scope_id=alice"), (P{h.alice, h.alice_ceiling, h.alice_after}));

  // Other filters narrow the subtree.
  EXPECT_EQ(audit_positions(subtree("department", "d1") + "&event_type=PolicyValueSet"),
            (P{h.p1_value, h.alice_value, h.alice_platform_value}));
  EXPECT_EQ(audit_positions(subtree("department", "d1") + "&key=" + kWindow + "&actor_id=acme-admin"),
            (P{h.p1_value, h.alice_value}));
  EXPECT_EQ(audit_positions(subtree("department", "d2") + "&tenant=acme&event_type=CeilingSet"), (P{h.alice_after}));
  EXPECT_EQ(audit_positions(subtree("department", "d1") + "&tenant=beta"), P{});
  const auto all = body(audit("limit=1000"))["items"];
  const std::string command = all[static_cast<std::size_t>(h.alice_ceiling - 1)]["command_id"];
  EXPECT_EQ(audit_positions(subtree("department", "d1") + "&command_id=" + command), (P{h.alice_ceiling}));
  EXPECT_EQ(audit_positions(subtree("department", "d2") + "&command_id=" + command), P{});

  // JSON Lines carry the same rows.
  auto lines = audit(subtree("department", "d2") + "&format=jsonl");
  ASSERT_EQ(lines.status, 200) << lines.body;
  EXPECT_EQ(std::count(lines.body.begin(), lines.body.end(), '\n'), 6);
}

TEST_F(AuditDescendantsTest, AnUnknownNodeAnswersNoRowsAndBadInputIsRefused) {
  standard_history();
  project();
  auto r = audit(subtree("department", "nowhere"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(body(r)["items"].empty());
  EXPECT_FALSE(body(r)["has_more"].get<bool>());
  EXPECT_EQ(audit_positions(subtree("project", "nowhere")), P{});
  EXPECT_EQ(audit_positions(subtree("principal", "nowhere")), P{});
  // The default department exists but nothing happened under it.
  EXPECT_EQ(audit_positions(subtree("department", "acme.default")), P{});

  for (const char* level : {"department", "project", "principal", "user", "organization"}) {
    auto bad = audit(std::string("scope_level=") + level + "&descendants=true");
    EXPECT_EQ(bad.status, 400) << level << ": " << bad.body;
    EXPECT_EQ(body(bad)["code"], "invalid_parameter") << bad.body;
  }
  auto level = audit("scope_level=team&scope_id=x&descendants=true");
  EXPECT_EQ(level.status, 400) << level.body;
  EXPECT_EQ(body(level)["code"], "invalid_parameter");
  auto plan = audit("scope_level=plan&scope_id=pro&descendants=true");
  EXPECT_EQ(plan.status, 400) << plan.body;
}

TEST_F(AuditDescendantsTest, ATenantPrincipalSeesItsOwnTenantsRowsOfTheSubtreeOnly) {
  const History h = standard_history();
  project();
  // The value set for alice by the platform admin belongs to tenant platform.
  EXPECT_EQ(audit_positions(subtree("department", "d1"), "acme"),
            (P{h.d1, h.d1a, h.p1, h.alice, h.p1_value, h.alice_value, h.alice_ceiling, h.d1a_ceiling, h.d1_ceiling}));
  EXPECT_EQ(audit_positions(subtree("user", "alice"), "acme"),
            (P{h.alice, h.alice_value, h.alice_ceiling, h.alice_after}));
  // Another organization's department: its rows are not this tenant's.
  EXPECT_EQ(audit_positions(subtree("department", "bd"), "acme"), P{});
  EXPECT_EQ(audit_positions(subtree("project", "q1"), "acme"), P{});
  auto other = audit(subtree("department", "bd") + "&tenant=beta", "acme");
  EXPECT_EQ(other.status, 403) << other.body;
  EXPECT_EQ(body(other)["code"], "forbidden");
  // A cursor taken from the platform's answer yields only acme's rows.
  auto first = body(audit(subtree("department", "d1") + "&limit=5"));
  ASSERT_TRUE(first["has_more"].get<bool>());
  auto rest =
      audit_positions(subtree("department", "d1") + "&cursor=" + first["next_cursor"].get<std::string>(), "acme");
  for (auto p : rest) EXPECT_NE(p, h.alice_platform_value);
}

TEST_F(AuditDescendantsTest, PagesNeverRepeatOrSkipARowWhileEventsArrive) {
  standard_history();
  project();
  const P full = audit_positions(subtree("department", "d1") + "&limit=1000");
  for (int limit : {1, 2, 3, 7}) EXPECT_EQ(all_pages(subtree("department", "d1"), limit), full) << "limit " << limit;

  // Half the pages, then more history (a department moved into d1, its rows
  // before the move stay outside), then the rest.
  auto page = body(audit(subtree("department", "d1") + "&limit=4"));
  P seen = positions(page["items"]);
  ASSERT_TRUE(page["has_more"].get<bool>());
  const std::string cursor = page["next_cursor"];
  const auto d3 = run(domain::CreateDepartment{"d3", "acme", "", ""});
  const auto p3 = run(domain::CreateProject{"p3", "acme", "d3", ""});
  const auto p3_before = set(ScopeLevel::kProject, "p3", 40, tenant_admin("acme"));
  const auto d3_moved = run(domain::MoveDepartment{"d3", "d1a"});
  const auto p3_after = set(ScopeLevel::kProject, "p3", 41, tenant_admin("acme"));
  const auto d3_out = run(domain::MoveDepartment{"d3", ""});
  const auto p3_outside = set(ScopeLevel::kProject, "p3", 42, tenant_admin("acme"));
  project();
  std::string next = cursor;
  for (int i = 0; i < 100 && !next.empty(); ++i) {
    auto b = body(audit(subtree("department", "d1") + "&limit=4&cursor=" + next));
    for (auto p : positions(b["items"])) seen.push_back(p);
    next = b["has_more"].get<bool>() ? b["next_cursor"].get<std::string>() : "";
  }
  P expected = full;
  expected.insert(expected.end(), {d3_moved, p3_after});
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(audit_positions(subtree("department", "d1") + "&limit=1000"), expected);
  EXPECT_EQ(audit_positions(subtree("department", "d3")),
            (P{d3, p3, p3_before, d3_moved, p3_after, d3_out, p3_outside}));
}

TEST_F(AuditDescendantsTest, AsOfPositionAndAsOfAnswerTheSubtreeAsItWasThen) {
  const History h = standard_history();
  project();
  auto r = audit(subtree("department", "d2") + "&as_of_position=" + std::to_string(h.moved));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(positions(body(r)["items"]), (P{h.d2, h.p2, h.p2_value, h.moved}));
  EXPECT_EQ(body(r)["snapshot_version"], h.moved);
  EXPECT_EQ(audit_positions(subtree("department", "d1") + "&as_of_position=" + std::to_string(h.alice_ceiling)),
            (P{h.d1, h.d1a, h.p1, h.alice, h.p1_value, h.alice_value, h.alice_platform_value, h.alice_ceiling}));
  // Later moves never change an earlier answer.
  EXPECT_EQ(audit_positions(subtree("project", "p1") + "&as_of_position=" + std::to_string(h.moved - 1)),
            (P{h.p1, h.alice, h.p1_value, h.alice_value, h.alice_platform_value, h.alice_ceiling}));
  // as_of (commit time) and paging combined with as_of_position.
  auto all = body(audit("limit=1000"))["items"];
  const std::string moved_at = all[static_cast<std::size_t>(h.moved - 1)]["recorded_at"];
  EXPECT_EQ(audit_positions(subtree("department", "d2") + "&as_of=" + moved_at), (P{h.d2, h.p2, h.p2_value, h.moved}));
  EXPECT_EQ(all_pages(subtree("department", "d1") + "&as_of_position=" + std::to_string(h.d1a_ceiling), 3),
            (P{h.d1, h.d1a, h.p1, h.alice, h.p1_value, h.alice_value, h.alice_platform_value, h.alice_ceiling,
               h.d1a_ceiling}));
  auto beyond = audit(subtree("department", "d1") + "&as_of_position=" + std::to_string(h.q1 + 1));
  EXPECT_EQ(beyond.status, 400) << beyond.body;
  EXPECT_EQ(body(beyond)["code"], "position_beyond_head");
}

TEST_F(AuditDescendantsTest, ASubtreeIsReadAtTheLowerOfTheAuditAndAdmissionCheckpoints) {
  const History h = standard_history();
  // Only the audit read model is up to date: a subtree needs the links too.
  project({"audit"});
  auto r = audit(subtree("department", "d1"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body(r)["snapshot_version"], 0);
  EXPECT_TRUE(body(r)["items"].empty());
  auto wait = audit(subtree("department", "d1") + "&min_position=" + std::to_string(h.q1) + "&wait_ms=0");
  EXPECT_EQ(wait.status, 503) << wait.body;
  EXPECT_EQ(body(wait)["code"], "snapshot_not_ready");
  // An exact scope needs the audit read model only.
  EXPECT_EQ(audit_positions("scope_level=department&scope_id=d1&min_position=" + std::to_string(h.q1) + "&wait_ms=0"),
            (P{h.d1, h.d1_ceiling}));
  project();
  auto ready = audit(subtree("department", "d1") + "&min_position=" + std::to_string(h.q1) + "&wait_ms=0");
  ASSERT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(body(ready)["snapshot_version"], h.q1);
  EXPECT_EQ(positions(body(ready)["items"]).size(), 10u);
}

// A reservation is drafted at its owner's scope, but its later rows
// (activated, consumed, released, suspended, resumed, exhausted, expired,
// retired) are filed at the organization: a subtree answers them while the
// owner was inside it at each row's position.
TEST_F(AuditDescendantsTest, AReservationsLifecycleCountsWhereItsOwnerWasAtEachRow) {
  catalog();
  run(domain::CreateOrganization{"acme", "Acme", "pro", ""});
  run(domain::CreateOrganization{"beta", "Beta", "free", ""});
  const auto d1 = run(domain::CreateDepartment{"d1", "acme", "", ""});
  const auto d1a = run(domain::CreateDepartment{"d1a", "acme", "d1", ""});
  const auto d2 = run(domain::CreateDepartment{"d2", "acme", "", ""});
  const auto p = run(domain::CreateProject{"p", "acme", "d1a", ""});
  const auto x = run(domain::CreateProject{"x", "acme", "d1", ""});
  const auto u = run(domain::CreatePrincipal{"u", "user", "p", "", std::nullopt});
  const auto bd = run(domain::CreateDepartment{"bd", "beta", "", ""});
  const auto q = run(domain::CreateProject{"q", "beta", "bd", ""});

  // rp: project p's, under d1 (through d1a) until p moves to d2.
  const auto rp_draft = draft("rp", QuotaLevel::kProject, "p");
  const auto rp_active = transition("rp", "activate");
  const auto rp_consumed = run(domain::ConsumeReservation{"rp", 1, "job", "acme"});
  // rx: project x's (stays in d1): drafted, activated, fully consumed
  // (consumed + exhausted), released (released + active again), then expired.
  const auto rx_draft = draft("rx", QuotaLevel::kProject, "x", 30);
  const auto rx_active = transition("rx", "activate");
  const auto rx_exhausted = run(domain::ConsumeReservation{"rx", 4, "job", "acme"});
  const auto rx_released = run(domain::ReleaseReservation{"rx", 2, "done", "acme"});
  // Other organizations' and other scopes' reservations: beta's, acme's own,
  // and d1's own (the asked node's reservations count whatever its place).
  const auto rb_draft = draft("rb", QuotaLevel::kProject, "q");
  const auto rb_active = transition("rb", "activate", "beta");
  const auto ro_draft = draft("ro", QuotaLevel::kOrganization, "acme");
  const auto ro_active = transition("ro", "activate");
  const auto rd_draft = draft("rd", QuotaLevel::kDepartment, "d1");
  const auto rd_active = transition("rd", "activate");

  const auto moved = run(domain::MoveProject{"p", "d2"});
  const auto rp_consumed2 = run(domain::ConsumeReservation{"rp", 1, "job", "acme"});
  const auto rp_released = run(domain::ReleaseReservation{"rp", 1, "done", "acme"});
  const auto rp_suspended = transition("rp", "suspend");
  const auto rp_resumed = transition("rp", "resume");
  // ru: principal u's (under p, now in d2).
  const auto ru_draft = draft("ru", QuotaLevel::kPrincipal, "u");
  const auto ru_active = transition("ru", "activate");
  const auto ru_suspended = transition("ru", "suspend");
  const auto ru_retire = transition("ru", "retire");
  clock_.advance_micros(60 * kMinute);  // rx's window is over
  const auto rx_expired = transition("rx", "expire");
  const auto rb_consumed = run(domain::ConsumeReservation{"rb", 1, "job", "beta"});
  const auto rp_suspended2 = transition("rp", "suspend");
  project();

  const P d1_rows{d1,
                  d1a,
                  p,
                  x,
                  u,
                  rp_draft,
                  rp_active,
                  rp_consumed,
                  rx_draft,
                  rx_active,
                  rx_exhausted - 1,
                  rx_exhausted,
                  rx_released - 1,
                  rx_released,
                  rd_draft,
                  rd_active,
                  rx_expired};
  EXPECT_EQ(audit_positions(subtree("department", "d1")), d1_rows);
  EXPECT_EQ(audit_positions(subtree("department", "d1a")), (P{d1a, p, u, rp_draft, rp_active, rp_consumed}));
  const P d2_rows{d2,       moved,     rp_consumed2, rp_released, rp_suspended, rp_resumed,
                  ru_draft, ru_active, ru_suspended, ru_retire,   rp_suspended2};
  EXPECT_EQ(audit_positions(subtree("department", "d2")), d2_rows);
  // A project and a principal: their reservations over their whole life.
  EXPECT_EQ(audit_positions(subtree("project", "p")),
            (P{p, u, rp_draft, rp_active, rp_consumed, moved, rp_consumed2, rp_released, rp_suspended, rp_resumed,
               ru_draft, ru_active, ru_suspended, ru_retire, rp_suspended2}));
  EXPECT_EQ(audit_positions(subtree("project", "x")),
            (P{x, rx_draft, rx_active, rx_exhausted - 1, rx_exhausted, rx_released - 1, rx_released, rx_expired}));
  EXPECT_EQ(audit_positions(subtree("principal", "u")), (P{u, ru_draft, ru_active, ru_suspended, ru_retire}));
  EXPECT_EQ(audit_positions(subtree("user", "u")), (P{u, ru_draft, ru_active, ru_suspended, ru_retire}));
  // Another organization's reservation shows in its own subtree only.
  EXPECT_EQ(audit_positions(subtree("department", "bd")), (P{bd, q, rb_draft, rb_active, rb_consumed}));
  EXPECT_EQ(audit_positions(subtree("department", "d1"), "acme"), d1_rows);
  EXPECT_EQ(audit_positions(subtree("department", "bd"), "acme"), P{});
  EXPECT_EQ(audit_positions(subtree("department", "d1") + "&tenant=beta"), P{});
  // The organization's own reservation is in no department's subtree, but in
  // the organization's.
  const P acme = audit_positions("scope_level=organization&scope_id=acme&descendants=true&limit=1000");
  for (auto pos : {ro_draft, ro_active, rp_active, rx_expired}) {
    EXPECT_NE(std::find(acme.begin(), acme.end(), pos), acme.end()) << pos;
  }
  // Without descendants: the exact scope only (the draft is filed at the owner).
  EXPECT_EQ(audit_positions("scope_level=project&scope_id=p"), (P{p, rp_draft, moved}));

  // Filters narrow the reservation rows as any other.
  EXPECT_EQ(audit_positions(subtree("department", "d1") + "&event_type=ReservationStateChanged"),
            (P{rp_active, rx_active, rx_exhausted, rx_released, rd_active, rx_expired}));
  EXPECT_EQ(audit_positions(subtree("department", "d2") + "&event_type=ReservationConsumed"), (P{rp_consumed2}));
  EXPECT_EQ(audit_positions(subtree("department", "d1") + "&key=" + kWindow), P{});
  const auto all = body(audit("limit=1000"))["items"];
  const std::string command = all[static_cast<std::size_t>(rp_released - 1)]["command_id"];
  EXPECT_EQ(audit_positions(subtree("department", "d2") + "&command_id=" + command), (P{rp_released}));
  EXPECT_EQ(audit_positions(subtree("department", "d1") + "&command_id=" + command), P{});

  // Paging, as_of_position and as_of.
  for (int limit : {1, 2, 3, 5}) {
    EXPECT_EQ(all_pages(subtree("department", "d1"), limit), d1_rows) << "limit " << limit;
    EXPECT_EQ(all_pages(subtree("department", "d2"), limit), d2_rows) << "limit " << limit;
  }
  EXPECT_EQ(audit_positions(subtree("department", "d2") + "&as_of_position=" + std::to_string(rp_released)),
            (P{d2, moved, rp_consumed2, rp_released}));
  EXPECT_EQ(all_pages(subtree("department", "d1") + "&as_of_position=" + std::to_string(moved), 2),
            (P{d1, d1a, p, x, u, rp_draft, rp_active, rp_consumed, rx_draft, rx_active, rx_exhausted - 1, rx_exhausted,
               rx_released - 1, rx_released, rd_draft, rd_active}));
  const std::string released_at = all[static_cast<std::size_t>(rp_released - 1)]["recorded_at"];
  EXPECT_EQ(audit_positions(subtree("department", "d2") + "&as_of=" + released_at),
            (P{d2, moved, rp_consumed2, rp_released}));
}

// Random hierarchies with moves and reservations, through the command
// service (cycles and illegal transitions are refused there); the SQL answer
// must equal a brute force that replays the admission events and judges each
// audit row by the hierarchy right after the event at its position (a
// reservation's rows filed at the organization by its owner's place).
TEST_F(AuditDescendantsTest, RandomMovesMatchABruteForceOverTheEventHistory) {
  const char* env = std::getenv("LEDGER_PROPERTY_CASES");
  const int cases = std::min(env ? std::atoi(env) : 6, kTenantTokens);
  catalog();
  using Node = std::pair<std::string, std::string>;  // (level, id)
  int reservation_rows = 0;  // reservation rows filed at the organization that some subtree answers
  for (int seed = 1; seed <= cases; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(static_cast<unsigned>(seed));
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    const std::string o = "o" + std::to_string(seed);
    run(domain::CreateOrganization{o, o, "plan", ""});
    std::vector<std::string> depts = {o + ".default"}, projects, principals, reservations;
    for (int step = 0; step < 70; ++step) {
      const std::string n = o + "." + std::to_string(step);
      const auto who = pick(2) ? admin() : tenant_admin(o);
      switch (projects.empty() ? pick(2) : pick(15)) {
        case 0:
          if (try_run(domain::CreateDepartment{"d" + n, o, pick(4) ? depts[pick(depts.size())] : "", ""})) {
            depts.push_back("d" + n);
          }
          break;
        case 1:
          if (try_run(domain::CreateProject{"p" + n, o, depts[pick(depts.size())], ""})) projects.push_back("p" + n);
          break;
        case 2:
          if (try_run(domain::CreatePrincipal{"u" + n, "user", projects[pick(projects.size())], "", std::nullopt})) {
            principals.push_back("u" + n);
          }
          break;
        case 3:
        case 4:
          try_run(domain::MoveProject{projects[pick(projects.size())], depts[pick(depts.size())]});
          break;
        case 5:
        case 6:
          if (depts.size() > 1) {  // the default department stays put; a cycle is refused
            try_run(
                domain::MoveDepartment{depts[1 + pick(depts.size() - 1)], pick(4) ? depts[pick(depts.size())] : ""});
          }
          break;
        case 7:
          try_run(domain::SetPolicyValue{kWindow,
                                         {ScopeLevel::kProject, projects[pick(projects.size())]},
                                         events::PolicyValue{static_cast<std::int64_t>(1 + pick(100))},
                                         std::nullopt,
                                         "prop",
                                         std::nullopt},
                  who);
          break;
        case 8:
          if (!principals.empty()) {
            try_run(domain::SetPolicyValue{kWindow,
                                           {ScopeLevel::kUser, principals[pick(principals.size())]},
                                           events::PolicyValue{static_cast<std::int64_t>(1 + pick(100))},
                                           std::nullopt,
                                           "prop",
                                           std::nullopt},
                    who);
          }
          break;
        case 11:
        case 12: {  // a reservation of any scope of o, some windows ending soon
          std::vector<domain::QuotaScope> owners = {{QuotaLevel::kOrganization, o},
                                                    {QuotaLevel::kDepartment, depts[pick(depts.size())]},
                                                    {QuotaLevel::kProject, projects[pick(projects.size())]},
                                                    {QuotaLevel::kProject, projects[pick(projects.size())]}};
          if (!principals.empty()) owners.push_back({QuotaLevel::kPrincipal, principals[pick(principals.size())]});
          const std::int64_t now = clock_.now().micros;
          const std::int64_t minutes = pick(3) ? 24 * 60 : 3 + static_cast<std::int64_t>(pick(10));
          if (try_run(domain::DraftReservation{"r" + n,
                                               owners[pick(owners.size())],
                                               "gpu_nodes",
                                               "gpu.count",
                                               "",
                                               "",
                                               static_cast<std::int64_t>(1 + pick(4)),
                                               "",
                                               events::Instant{now - 60 * kMinute},
                                               events::Instant{now + minutes * kMinute},
                                               {},
                                               "prop"},
                      who)) {
            reservations.push_back("r" + n);
          }
          break;
        }
        case 13:
        case 14:  // its lifecycle (many steps are refused: illegal from the state)
          if (!reservations.empty()) {
            const std::string& r = reservations[pick(reservations.size())];
            static const char* kActions[] = {"activate", "activate", "suspend", "resume", "retire", "expire"};
            switch (pick(3)) {
              case 0:
                try_run(domain::ConsumeReservation{r, static_cast<std::int64_t>(1 + pick(2)), "prop", o}, who);
                break;
              case 1:
                try_run(domain::ReleaseReservation{r, 1, "prop", o}, who);
                break;
              default:
                try_run(domain::TransitionReservation{r, kActions[pick(6)], "prop", o}, who);
            }
          }
          break;
        default: {
          std::vector<domain::QuotaScope> targets;
          targets.push_back({QuotaLevel::kDepartment, depts[pick(depts.size())]});
          targets.push_back({QuotaLevel::kProject, projects[pick(projects.size())]});
          if (!principals.empty()) targets.push_back({QuotaLevel::kPrincipal, principals[pick(principals.size())]});
          try_run(domain::SetCeiling{targets[pick(targets.size())],
                                     {"gpu.count", "", "", ""},
                                     static_cast<std::int64_t>(1000 - step),
                                     "",
                                     "prop"});
        }
      }
    }
    project();

    // Brute force: the link history and the reservations' owners from the
    // event store.
    std::map<Node, std::vector<std::pair<std::int64_t, Node>>> links;
    std::map<std::string, Node> owner_of;  // reservation id -> owner
    auto evs = store_->read_by_types(domain::admission_event_types(), events::GlobalPosition{0}, 1'000'000);
    ASSERT_TRUE(evs.has_value());
    for (const auto& e : *evs) {
      const std::int64_t pos = e.meta.global_position.value;
      auto link = [&](Node child, Node parent) { links[child].push_back({pos, std::move(parent)}); };
      auto dept_parent = [](const std::string& org, const std::string& parent) {
        return parent.empty() ? Node{"organization", org} : Node{"department", parent};
      };
      std::visit(
          [&](const auto& ev) {
            using T = std::decay_t<decltype(ev)>;
            if constexpr (std::is_same_v<T, events::OrganizationCreated>) {
              link({"department", ev.default_department_id}, {"organization", ev.organization_id});
            } else if constexpr (std::is_same_v<T, events::DepartmentCreated> ||
                                 std::is_same_v<T, events::DepartmentMoved>) {
              link({"department", ev.department_id}, dept_parent(ev.organization_id, ev.parent_department_id));
            } else if constexpr (std::is_same_v<T, events::ProjectCreated> || std::is_same_v<T, events::ProjectMoved>) {
              link({"project", ev.project_id}, {"department", ev.department_id});
            } else if constexpr (std::is_same_v<T, events::PrincipalCreated>) {
              link({"principal", ev.principal_id}, {"project", ev.project_id});
            } else if constexpr (std::is_same_v<T, events::ReservationDrafted>) {
              owner_of[ev.reservation_id] = {events::quota_level_name(ev.owner.level), ev.owner.id};
            }
          },
          e.event);
    }
    auto parent_at = [&](const Node& n, std::int64_t pos) -> std::optional<Node> {
      auto it = links.find(n);
      if (it == links.end()) return std::nullopt;
      std::optional<Node> out;
      for (const auto& [at, parent] : it->second) {
        if (at <= pos) out = parent;
      }
      return out;
    };
    auto inside = [&](std::optional<Node> n, const Node& target, std::int64_t pos) {
      for (int depth = 0; n && depth < 1000; ++depth) {
        if (*n == target) return true;
        n = parent_at(*n, pos);
      }
      return false;
    };
    // Every audit row (exact filters are tested elsewhere): position, scope
    // (a reservation's later rows: its owner), tenant.
    struct Row {
      std::int64_t position;
      std::optional<Node> node;
      std::string tenant;
      bool lifecycle = false;  // a reservation's row filed at the organization
    };
    std::vector<Row> rows;
    for (const auto& item : [&] {
           Json items = Json::array();
           std::string cursor;
           for (;;) {
             auto b = body(audit("limit=1000" + (cursor.empty() ? "" : "&cursor=" + cursor)));
             for (auto& i : b["items"]) items.push_back(i);
             if (!b["has_more"].get<bool>()) return items;
             cursor = b["next_cursor"].get<std::string>();
           }
         }()) {
      Row r{item["position"].get<std::int64_t>(), std::nullopt, item["tenant"].get<std::string>(), false};
      if (item["scope"].is_object()) {
        const std::string level = item["scope"]["level"], id = item["scope"]["id"];
        if (level == "department" || level == "project" || level == "principal") r.node = Node{level, id};
        if (level == "user") r.node = Node{"principal", id};
        if (level == "organization" && item["subject"]["kind"] == "reservation") {
          const auto owner = owner_of.find(item["subject"]["key"].get<std::string>());
          EXPECT_NE(owner, owner_of.end()) << item.dump();
          if (owner != owner_of.end() && owner->second.first != "organization") r.node = owner->second;
          r.lifecycle = true;
        }
      }
      rows.push_back(std::move(r));
    }
    const std::int64_t head = rows.back().position;

    std::vector<Node> targets;
    for (const auto& d : depts) targets.push_back({"department", d});
    for (const auto& p : projects) targets.push_back({"project", p});
    for (const auto& u : principals) targets.push_back({"principal", u});
    targets.push_back({"department", o + ".nowhere"});
    int nonempty = 0;
    for (const auto& target : targets) {
      SCOPED_TRACE(target.first + " " + target.second);
      const std::int64_t as_of = 1 + static_cast<std::int64_t>(pick(static_cast<std::size_t>(head)));
      P want, want_then, want_tenant;
      for (const auto& r : rows) {
        if (!r.node || !inside(r.node, target, r.position)) continue;
        want.push_back(r.position);
        if (r.position <= as_of) want_then.push_back(r.position);
        if (r.tenant == o) want_tenant.push_back(r.position);
      }
      nonempty += want.size() > 1;
      for (const auto& r : rows) reservation_rows += r.lifecycle && r.node && inside(r.node, target, r.position);
      const std::string q = subtree(target.first, target.second);
      EXPECT_EQ(audit_positions(q + "&limit=1000"), want);
      EXPECT_EQ(all_pages(q, 1 + static_cast<int>(pick(5))), want);
      EXPECT_EQ(audit_positions(q + "&limit=1000&as_of_position=" + std::to_string(as_of)), want_then)
          << "as_of_position " << as_of;
      EXPECT_EQ(audit_positions(q + "&limit=1000", o), want_tenant);
    }
    EXPECT_GT(nonempty, 3) << "the random history should nest something";
  }
  EXPECT_GE(reservation_rows, cases) << "the random histories should file reservation rows at the organization";
}

}  // namespace
}  // namespace ledger
