// `ledger-audit as-of` for the admission core (adapters/audit/
// audit_tools.h) on the real PostgreSQL: admission history written through
// the real command path (CommandService over PgEventStore), then effective
// ceilings and reservation states asked of history alone at several
// positions and instants — a ceiling lowered later, a project moved to
// another department, a delegation revoked, a reservation consumed and then
// past its window with no Expired event recorded — and every answer at every
// position equal to what the admission read model says at that position.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "adapters/audit/audit_tools.h"
#include "adapters/postgres/admission_queries.h"
#include "adapters/postgres/event_store.h"
#include "adapters/projector/projector.h"
#include "adapters/system/clock.h"
#include "commands/command_service.h"
#include "domain/admission.h"
#include "events/codec/rfc3339.h"
#include "tests/support/test_env.h"

namespace ledger {
namespace {

using events::QuotaLevel;
using events::QuotaScope;

constexpr std::int64_t kMinute = 60LL * 1'000'000;
constexpr std::int64_t kHour = 60 * kMinute;
constexpr std::int64_t kT0 = 1'780'272'000'000'000;  // 2026-06-01T00:00:00Z
const QuotaScope kAcme{QuotaLevel::kOrganization, "acme"};
const QuotaScope kResearch{QuotaLevel::kDepartment, "research"};
const QuotaScope kOps{QuotaLevel::kDepartment, "ops"};
const QuotaScope kP1{QuotaLevel::kProject, "p1"};

class AuditAdmissionAsOf : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::create_database(
        ("AdmAsOf_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())).substr(0, 48));
    store_ = std::make_unique<adapters::postgres::PgEventStore>(db_.app_url, clock_);
    // No sweeper: a reservation past its window must read expired with no
    // Expired event in the store.
    commands::CommandService::Options options;
    options.sweep_interval = std::chrono::milliseconds(0);
    service_ = std::make_unique<commands::CommandService>(*store_, clock_, options);
    service_->start();
  }
  void TearDown() override {
    service_.reset();
    store_.reset();
  }

  // Each command one minute after the previous one; returns its last position.
  std::int64_t run(commands::Command c) {
    clock_.advance_micros(kMinute);
    commands::CommandRequest r{{"c" + std::to_string(++commands_), admin_, "corr", ""}, std::move(c), {}};
    auto out = service_->submit_async(r).get();
    EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().code + ": " + out.error().message);
    return out ? out->position.value : 0;
  }
  void registry() {
    run(domain::RegisterEntry{"product", "gpuaas", "GPU as a service", {}});
    run(domain::RegisterEntry{"usage_unit", "gpu", "one GPU", {}});
    run(domain::RegisterEntry{"quota_dimension", "gpu.count", "GPUs", {{"product", "gpuaas"}, {"unit", "gpu"}}});
  }
  // acme (plan pro) with departments research and ops; p1 in research.
  void hierarchy() {
    registry();
    run(domain::CreateOrganization{"acme", "Acme", "pro", ""});
    run(domain::CreateDepartment{"research", "acme", "", "Research"});
    run(domain::CreateDepartment{"ops", "acme", "", "Operations"});
    run(domain::CreateProject{"p1", "acme", "research", "P1"});
  }
  std::int64_t ceiling(const QuotaScope& s, std::int64_t quantity) {
    return run(domain::SetCeiling{s, {"gpu.count", "", "", ""}, quantity, "gpu", "test"});
  }

  audit::CeilingAsOfAnswer ceiling_at(const QuotaScope& s, std::optional<std::int64_t> position,
                                      std::optional<events::Instant> instant = {}) {
    audit::CeilingAsOfQuery q;
    q.scope = s;
    q.target = {"gpu.count", "", "", ""};
    q.position = position;
    q.instant = instant;
    auto a = audit::ceiling_as_of(db_.app_url, q);
    EXPECT_TRUE(a.has_value()) << (a ? "" : a.error().code + ": " + a.error().message);
    return a ? *a : audit::CeilingAsOfAnswer{};
  }
  domain::Result<audit::ReservationAsOfAnswer> reservation_at(const std::string& id,
                                                              std::optional<std::int64_t> position,
                                                              std::optional<events::Instant> instant = {}) {
    return audit::reservation_as_of(db_.app_url, {id, position, instant});
  }
  events::Instant recorded_at(std::int64_t position) {
    auto p = audit::resolve_as_of_point(db_.app_url, position, std::nullopt);
    EXPECT_TRUE(p.has_value());
    return p ? p->at : events::Instant{};
  }
  static std::optional<QuotaScope> from(const audit::CeilingAsOfAnswer& a) {
    return a.evaluation.effective.inherited_from;
  }
  static std::vector<std::string> matched(const audit::CeilingAsOfAnswer& a) {
    std::vector<std::string> out;
    for (const auto& m : a.evaluation.effective.matched_rules) {
      out.push_back(m.kind + " " + m.rule_id + " v" + std::to_string(m.version));
    }
    return out;
  }

  testing::TestDatabase db_;
  adapters::system::ManualClock clock_{events::Instant{kT0}};
  std::unique_ptr<adapters::postgres::PgEventStore> store_;
  std::unique_ptr<commands::CommandService> service_;
  const commands::Principal admin_{{"user", "auditor-test", {"platform_admin"}}, "platform"};
  int commands_ = 0;
};

TEST_F(AuditAdmissionAsOf, ACeilingLoweredLaterAnswersTheOldValueAtOldPositions) {
  hierarchy();
  const auto set = ceiling(kAcme, 100);
  const auto unrelated = run(domain::CreateProject{"p2", "acme", "ops", "P2"});
  const auto lowered = ceiling(kAcme, 60);

  auto before = ceiling_at(kP1, set - 1);
  EXPECT_EQ(before.evaluation.effective.quantity, std::nullopt);  // no ceiling on the path yet
  EXPECT_EQ(before.unit, "gpu");                                  // the registered dimension's unit
  EXPECT_TRUE(before.evaluation.effective.matched_rules.empty());

  for (std::int64_t p : {set, unrelated, lowered - 1}) {
    auto old = ceiling_at(kP1, p);
    EXPECT_EQ(old.evaluation.effective.quantity, 100) << "position " << p;
    EXPECT_EQ(from(old), kAcme);
    EXPECT_EQ(matched(old), (std::vector<std::string>{"ceiling ceiling:organization:acme:gpu.count v1"}));
    EXPECT_EQ(old.position, p);
  }
  auto now = ceiling_at(kP1, lowered);
  EXPECT_EQ(now.evaluation.effective.quantity, 60);
  EXPECT_EQ(now.unit, "gpu");
  EXPECT_EQ(from(now), kAcme);
  EXPECT_EQ(now.evaluation.effective.binding_rule_id, "ceiling:organization:acme:gpu.count");
  EXPECT_EQ(matched(now), (std::vector<std::string>{"ceiling ceiling:organization:acme:gpu.count v2"}));
  EXPECT_EQ(now.as_of, recorded_at(lowered));  // position alone: read at its commit time

  // By instant: the last commit at or before it.
  auto by_instant = ceiling_at(kP1, std::nullopt, events::Instant{recorded_at(lowered).micros - 1});
  EXPECT_EQ(by_instant.position, lowered - 1);
  EXPECT_EQ(by_instant.evaluation.effective.quantity, 100);
  auto later = ceiling_at(kP1, std::nullopt, events::Instant{recorded_at(lowered).micros + kHour});
  EXPECT_EQ(later.position, lowered);
  EXPECT_EQ(later.evaluation.effective.quantity, 60);

  auto json = audit::ceiling_as_of_json(now);
  EXPECT_EQ(json["quantity"], 60);
  EXPECT_EQ(json["inherited_from"], (nlohmann::json{{"level", "organization"}, {"id", "acme"}}));
  EXPECT_EQ(json["matched_rules"][0]["version"], 2);
  EXPECT_EQ(json["position"], lowered);
  EXPECT_EQ(json["chain"].size(), 5u);  // p1, research, acme, plan:pro, global
}

TEST_F(AuditAdmissionAsOf, AMovedProjectInheritsFromItsOldDepartmentAtOldPositions) {
  hierarchy();
  ceiling(kAcme, 100);
  ceiling(kResearch, 50);
  const auto ops_set = ceiling(kOps, 20);
  const auto moved = run(domain::MoveProject{"p1", "ops"});

  auto old = ceiling_at(kP1, ops_set);
  EXPECT_EQ(old.evaluation.effective.quantity, 50);
  EXPECT_EQ(from(old), kResearch);
  ASSERT_GE(old.chain.size(), 2u);
  EXPECT_EQ(old.chain[1].scope, kResearch);
  auto now = ceiling_at(kP1, moved);
  EXPECT_EQ(now.evaluation.effective.quantity, 20);
  EXPECT_EQ(from(now), kOps);
  EXPECT_EQ(now.chain[1].scope, kOps);
  EXPECT_EQ(now.chain[0].version, 2);  // project stream: created, moved
  // An instant just before the move's commit answers as before it.
  auto just_before = ceiling_at(kP1, std::nullopt, events::Instant{recorded_at(moved).micros - 1});
  EXPECT_EQ(just_before.position, moved - 1);
  EXPECT_EQ(from(just_before), kResearch);
}

TEST_F(AuditAdmissionAsOf, ARevokedDelegationClampsTheChildFromThenOn) {
  hierarchy();
  ceiling(kAcme, 100);
  ceiling(kResearch, 50);
  const auto delegated = run(domain::DelegateCeiling{kResearch, "gpu.count", 80, "let projects go higher"});
  const auto own = ceiling(kP1, 70);  // above research's 50: allowed by the delegation only
  const auto revoked = run(domain::RevokeDelegation{kResearch, "gpu.count", "back to 50"});

  auto before_delegation = ceiling_at(kP1, delegated - 1);
  EXPECT_EQ(before_delegation.evaluation.effective.quantity, 50);
  auto with = ceiling_at(kP1, own);
  EXPECT_EQ(with.evaluation.effective.quantity, 70);
  EXPECT_EQ(from(with), kP1);
  EXPECT_EQ(with.evaluation.allowed.quantity, 80);
  EXPECT_EQ(with.evaluation.allowed.inherited_from, kResearch);
  EXPECT_EQ(matched(with),
            (std::vector<std::string>{
                "ceiling ceiling:organization:acme:gpu.count v1", "ceiling ceiling:department:research:gpu.count v1",
                "delegation delegation:department:research:gpu.count v1", "ceiling ceiling:project:p1:gpu.count v1"}));
  ASSERT_EQ(with.delegations.size(), 1u);
  EXPECT_EQ(with.delegations[0].max_quantity, 80);

  auto after = ceiling_at(kP1, revoked);
  EXPECT_EQ(after.evaluation.effective.quantity, 50);  // its own 70 is clamped by research again
  EXPECT_EQ(from(after), kResearch);
  EXPECT_TRUE(after.delegations.empty());
  EXPECT_EQ(after.rules.size(), 3u);  // p1 keeps its recorded rule
  auto json = audit::ceiling_as_of_json(after);
  EXPECT_EQ(json["allowed"]["quantity"], 50);
  EXPECT_EQ(json["delegations"], nlohmann::json::array());
}

TEST_F(AuditAdmissionAsOf, AReservationPastItsWindowReadsExpiredWithNoExpiredEvent) {
  hierarchy();
  ceiling(kAcme, 100);
  const events::Instant start{kT0};
  const events::Instant end{kT0 + 6 * kHour};
  domain::DraftReservation d;
  d.reservation_id = "res-1";
  d.owner = kP1;
  d.kind = "gpu_nodes";
  d.dimension = "gpu.count";
  d.region = "eu-1";
  d.sku_or_model = "h100";
  d.quantity = 10;
  d.unit = "gpu";
  d.window_start = start;
  d.window_end = end;
  d.attributes = {{"sku", "h100"}, {"region", "eu-1"}};
  d.reason = "training run";
  const auto drafted = run(d);
  const auto activated = run(domain::TransitionReservation{"res-1", "activate", "go", "acme"});
  const auto consumed = run(domain::ConsumeReservation{"res-1", 4, "job 1", "acme"});
  const auto other = ceiling(kResearch, 50);  // history moves on; the reservation does not

  auto draft = reservation_at("res-1", drafted);
  ASSERT_TRUE(draft.has_value()) << draft.error().message;
  EXPECT_EQ(draft->state, "draft");
  EXPECT_EQ(draft->view.consumed, 0);
  EXPECT_EQ(draft->drafted_position, drafted);
  EXPECT_EQ(draft->last_position, drafted);

  auto active = reservation_at("res-1", activated);
  ASSERT_TRUE(active.has_value());
  EXPECT_EQ(active->state, "active");

  auto used = reservation_at("res-1", other);
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->state, "active");
  EXPECT_EQ(used->view.state, "active");
  EXPECT_EQ(used->view.consumed, 4);
  EXPECT_EQ(used->view.quantity, 10);
  EXPECT_EQ(used->view.owner, kP1);
  EXPECT_EQ(used->last_position, consumed);
  EXPECT_EQ(used->version, 3);
  EXPECT_EQ(used->view.window_end, end);

  // After the window: expired, though the ledger recorded no Expired event.
  auto past = reservation_at("res-1", std::nullopt, events::Instant{end.micros + kHour});
  ASSERT_TRUE(past.has_value()) << past.error().message;
  EXPECT_EQ(past->position, other);  // every event so far was committed before it
  EXPECT_EQ(past->state, "expired");
  EXPECT_EQ(past->view.state, "active");
  EXPECT_EQ(past->view.consumed, 4);
  EXPECT_EQ(testing::sql_scalar(db_.admin_url,
                                "SELECT count(*) FROM ledger.events WHERE stream_id = 'reservation:acme/res-1' "
                                "AND payload->>'state' = 'expired'"),
            "0");
  // The window's end is exclusive; both a position and an instant: events up
  // to the position, state at the instant.
  auto at_end = reservation_at("res-1", activated, end);
  ASSERT_TRUE(at_end.has_value());
  EXPECT_EQ(at_end->state, "expired");
  EXPECT_EQ(at_end->view.consumed, 0);
  auto just_before_end = reservation_at("res-1", activated, events::Instant{end.micros - 1});
  ASSERT_TRUE(just_before_end.has_value());
  EXPECT_EQ(just_before_end->state, "active");

  auto json = audit::reservation_as_of_json(*past);
  EXPECT_EQ(json["state"], "expired");
  EXPECT_EQ(json["recorded_state"], "active");
  EXPECT_EQ(json["consumed"], 4);
  EXPECT_EQ(json["remaining"], 6);
  EXPECT_EQ(json["window_end"], "2026-06-01T06:00:00.000000Z");
  EXPECT_EQ(json["owner"], (nlohmann::json{{"level", "project"}, {"id", "p1"}}));

  // Before it was drafted it is unknown, and the error says when it came.
  auto early = reservation_at("res-1", drafted - 1);
  ASSERT_FALSE(early.has_value());
  EXPECT_EQ(early.error().code, "unknown_reservation");
  EXPECT_NE(early.error().message.find("created later, at position " + std::to_string(drafted)), std::string::npos)
      << early.error().message;
  auto never = reservation_at("res-404", other);
  ASSERT_FALSE(never.has_value());
  EXPECT_EQ(never.error().code, "unknown_reservation");
  EXPECT_NE(never.error().message.find("not in the ledger at all"), std::string::npos) << never.error().message;
}

TEST_F(AuditAdmissionAsOf, BadInputIsAClearErrorAndNothingIsGuessed) {
  hierarchy();
  const auto head = ceiling(kAcme, 100);
  audit::CeilingAsOfQuery q;
  q.scope = {QuotaLevel::kProject, "p2"};
  q.target = {"gpu.count", "", "", ""};
  q.position = head;
  auto unknown = audit::ceiling_as_of(db_.app_url, q);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, "unknown_scope");
  EXPECT_NE(unknown.error().message.find("project:p2 did not exist at position " + std::to_string(head)),
            std::string::npos)
      << unknown.error().message;
  const auto created = run(domain::CreateProject{"p2", "acme", "ops", "P2"});
  auto later = audit::ceiling_as_of(db_.app_url, q);
  ASSERT_FALSE(later.has_value());
  EXPECT_NE(later.error().message.find("created later, at position " + std::to_string(created)), std::string::npos)
      << later.error().message;
  q.position = created;
  EXPECT_TRUE(audit::ceiling_as_of(db_.app_url, q).has_value());

  q.position = created + 1;
  auto beyond = audit::ceiling_as_of(db_.app_url, q);
  ASSERT_FALSE(beyond.has_value());
  EXPECT_EQ(beyond.error().code, "position_beyond_head");
  EXPECT_EQ(reservation_at("res-1", created + 5).error().code, "position_beyond_head");
  q.position = std::nullopt;
  EXPECT_EQ(audit::ceiling_as_of(db_.app_url, q).error().code, "missing_point");
  q.instant = events::Instant{kT0 - kHour};
  EXPECT_EQ(audit::ceiling_as_of(db_.app_url, q).error().code, "before_history");
  q.instant = std::nullopt;
  q.position = created;
  q.target.window = "fortnight";
  EXPECT_EQ(audit::ceiling_as_of(db_.app_url, q).error().code, "invalid_window");
  q.target = {"", "", "", ""};
  EXPECT_EQ(audit::ceiling_as_of(db_.app_url, q).error().code, "missing_dimension");
  q.target = {"gpu.count", "", "", ""};
  q.scope = {QuotaLevel::kGlobal, "x"};
  EXPECT_EQ(audit::ceiling_as_of(db_.app_url, q).error().code, "invalid_scope");
  // An unregistered dimension is answered (no ceiling), and says so.
  q.scope = kP1;
  q.target.dimension = "tpu.count";
  auto unregistered = audit::ceiling_as_of(db_.app_url, q);
  ASSERT_TRUE(unregistered.has_value());
  EXPECT_FALSE(unregistered->dimension.has_value());
  EXPECT_EQ(unregistered->evaluation.effective.quantity, std::nullopt);
}

// History alone and the admission read model agree at every position.
TEST_F(AuditAdmissionAsOf, EveryPositionEqualsTheReadModelAtThatPosition) {
  hierarchy();
  ceiling(kAcme, 100);
  ceiling(kResearch, 50);
  ceiling(kOps, 20);
  run(domain::DelegateCeiling{kResearch, "gpu.count", 80, "r"});
  ceiling(kP1, 70);
  run(domain::MoveProject{"p1", "ops"});
  ceiling(kAcme, 30);
  run(domain::RevokeDelegation{kResearch, "gpu.count", "r"});
  run(domain::MoveProject{"p1", "research"});
  run(domain::ClearCeiling{kP1, {"gpu.count", "", "", ""}, "r"});
  domain::DraftReservation d{"res-1", kP1, "gpu_nodes", "gpu.count",          "eu-1",
                             "h100",  5,   "gpu",       events::Instant{kT0}, events::Instant{kT0 + 40 * kMinute},
                             {},      "r"};
  run(d);
  run(domain::TransitionReservation{"res-1", "activate", "r", "acme"});
  run(domain::ConsumeReservation{"res-1", 5, "r", "acme"});
  const auto head = ceiling(kResearch, 25);  // under acme's 30 (no delegation any more)

  projector::ProjectorOptions o;
  o.pg_url = db_.app_url;
  o.schema = "rm";
  auto projected = projector::catch_up_from_store(o);
  ASSERT_TRUE(projected.has_value()) << projected.error().message;
  adapters::postgres::PgAdmissionQueries rm(db_.app_url, "rm", 1);

  for (std::int64_t p = 1; p <= head; ++p) {
    for (const auto& scope : {kP1, kResearch, kOps, kAcme}) {
      audit::CeilingAsOfQuery q{scope, {"gpu.count", "", "", ""}, p, std::nullopt};
      auto mine = audit::ceiling_as_of(db_.app_url, q);
      auto snap = rm.effective_ceilings(scope, std::string("gpu.count"), events::GlobalPosition{p});
      ASSERT_TRUE(snap.has_value()) << snap.error().message;
      if (snap->chain.empty()) {
        ASSERT_FALSE(mine.has_value()) << domain::scope_text(scope) << " at " << p;
        EXPECT_EQ(mine.error().code, "unknown_scope");
        continue;
      }
      ASSERT_TRUE(mine.has_value()) << domain::scope_text(scope) << " at " << p << ": " << mine.error().message;
      const auto want =
          domain::evaluate_ceiling(snap->chain, snap->rules, snap->delegations, q.target, /*for_write=*/false);
      EXPECT_EQ(mine->evaluation.effective, want.effective) << domain::scope_text(scope) << " at " << p;
      EXPECT_EQ(mine->evaluation.allowed, want.allowed) << domain::scope_text(scope) << " at " << p;
    }
    auto mine = reservation_at("res-1", p);
    auto theirs = rm.reservation("acme", "res-1", events::GlobalPosition{p});
    ASSERT_TRUE(theirs.has_value());
    ASSERT_EQ(mine.has_value(), theirs->reservation.has_value()) << "res-1 at " << p;
    if (mine) {
      EXPECT_EQ(mine->view, theirs->reservation->view) << "res-1 at " << p;
      EXPECT_EQ(mine->drafted_position, theirs->reservation->drafted_position);
      EXPECT_EQ(mine->version, theirs->reservation->version);
    }
  }
}

}  // namespace
}  // namespace ledger
