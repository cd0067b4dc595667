// Property test of the admission read model on the real stack: random
// hierarchies, ceilings, delegations, moves and reservations go through the
// real command service (PgEventStore, the writer's admission model and its
// validation), the real projector writes the admission read model, and every
// decision answered from it (PgAdmissionQueries + decide_admission, what
// POST /v1/decisions runs) must equal a brute-force evaluation over the
// event history read back from the store (tests/support/admission_brute_force.h).
// Some ceilings are per-request (window `request`): the brute force judges
// that cap on its own, and the command side's in-memory AdmissionModel,
// rebuilt from the same history, must answer every decision identically to
// the read model.
//
// Seeded and deterministic: a failure names its seed; LEDGER_PROPERTY_CASES
// raises the number of cases (default 20).
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "adapters/postgres/admission_queries.h"
#include "adapters/postgres/event_store.h"
#include "adapters/system/clock.h"
#include "commands/command_service.h"
#include "domain/admission.h"
#include "services/components/projector.h"
#include "tests/support/admission_brute_force.h"
#include "tests/support/test_env.h"

namespace ledger {
namespace {

using domain::QuotaLevel;
using domain::QuotaScope;

constexpr events::Instant kNow{1'780'272'000'000'000};  // 2026-06-01T00:00:00Z
constexpr std::int64_t kHour = 3'600'000'000LL;

class AdmissionPropertyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::create_database("admission_property");
    store_ = std::make_unique<adapters::postgres::PgEventStore>(db_.app_url, clock_);
    service_ = std::make_unique<commands::CommandService>(*store_, clock_);
    service_->start();
    queries_ = std::make_unique<adapters::postgres::PgAdmissionQueries>(db_.app_url, "rm", 2);
  }
  void TearDown() override { service_->stop(); }

  bool run(domain::DraftReservation c) { return submit(std::move(c)); }
  template <class C>
  bool submit(C c) {
    commands::CommandRequest r;
    r.meta.command_id = "prop-" + std::to_string(++commands_);
    r.meta.principal = {{"user", "prop", {"platform_admin"}}, "platform"};
    r.meta.correlation_id = r.meta.command_id;
    r.command = std::move(c);
    auto out = service_->submit_async(std::move(r)).get();
    if (!out) {
      // Only rule rejections are expected from random commands.
      EXPECT_NE(out.error().kind, domain::ErrorKind::kUnavailable) << out.error().message;
      EXPECT_NE(out.error().kind, domain::ErrorKind::kInternal) << out.error().message;
    }
    return out.has_value();
  }
  std::vector<events::Envelope> envelopes() {
    auto evs = store_->read_by_types(domain::admission_event_types(), 0, 1'000'000);
    EXPECT_TRUE(evs.has_value());
    return evs ? std::move(*evs) : std::vector<events::Envelope>{};
  }

  testing::TestDatabase db_;
  adapters::system::ManualClock clock_{kNow};
  std::unique_ptr<adapters::postgres::PgEventStore> store_;
  std::unique_ptr<commands::CommandService> service_;
  std::unique_ptr<adapters::postgres::PgAdmissionQueries> queries_;
  int commands_ = 0;
};

TEST_F(AdmissionPropertyTest, DecisionsFromTheReadModelEqualABruteForceOverHistory) {
  const char* env = std::getenv("LEDGER_PROPERTY_CASES");
  const int cases = env ? std::atoi(env) : 20;
  ASSERT_TRUE(submit(domain::RegisterEntry{"product", "gpuaas", "", {}}));
  ASSERT_TRUE(submit(domain::RegisterEntry{"usage_unit", "gpu", "", {}}));
  ASSERT_TRUE(submit(domain::RegisterEntry{"quota_dimension", "gpu.count", "", {{"product", "gpuaas"}, {"unit", "gpu"}}}));
  const domain::CeilingTarget gpu{"gpu.count", "", "", ""};
  const domain::CeilingTarget per_request{"gpu.count", "request", "", ""};

  int request_denials = 0;
  for (int seed = 1; seed <= cases; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(static_cast<unsigned>(seed));
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    // Each case its own organization and plan, so cases never interfere.
    const std::string o = "o" + std::to_string(seed), plan = "plan" + std::to_string(seed);
    ASSERT_TRUE(submit(domain::CreateOrganization{o, o, plan, ""}));
    const std::vector<std::string> depts = {o + ".default", o + ".d1", o + ".d2"};
    ASSERT_TRUE(submit(domain::CreateDepartment{depts[1], o, "", ""}));
    ASSERT_TRUE(submit(domain::CreateDepartment{depts[2], o, pick(2) ? depts[1] : "", ""}));
    std::vector<QuotaScope> projects;
    for (int p = 0; p < 4; ++p) {
      projects.push_back({QuotaLevel::kProject, o + ".p" + std::to_string(p)});
      ASSERT_TRUE(submit(domain::CreateProject{projects.back().id, o, depts[static_cast<std::size_t>(pick(3))], ""}));
    }
    std::vector<QuotaScope> scopes = {{QuotaLevel::kPlan, plan}, {QuotaLevel::kOrganization, o}};
    for (const auto& d : depts) scopes.push_back({QuotaLevel::kDepartment, d});
    scopes.insert(scopes.end(), projects.begin(), projects.end());
    int reservations = 0;
    for (int step = 0; step < 30; ++step) {
      const QuotaScope& s = scopes[static_cast<std::size_t>(pick(static_cast<int>(scopes.size())))];
      const QuotaScope& p = projects[static_cast<std::size_t>(pick(4))];
      const std::int64_t q = pick(40);
      switch (pick(10)) {
        case 0: case 1: submit(domain::SetCeiling{s, gpu, q, "", "prop"}); break;
        case 2: submit(domain::SetCeiling{s, per_request, q, "", "prop"}); break;
        case 3: submit(domain::ClearCeiling{s, pick(3) ? gpu : per_request, "prop"}); break;
        case 4: submit(domain::DelegateCeiling{s, "gpu.count", pick(2) ? std::optional<std::int64_t>(q) : std::nullopt, "prop"}); break;
        case 5: submit(domain::RevokeDelegation{s, "gpu.count", "prop"}); break;
        case 6: submit(domain::MoveProject{p.id, depts[static_cast<std::size_t>(pick(3))]}); break;
        case 7: submit(domain::MoveDepartment{depts[2], pick(2) ? depts[1] : ""}); break;
        case 8: {
          const std::string id = o + ".r" + std::to_string(++reservations);
          const bool past = pick(4) == 0;  // some windows already over: reads expired, withholds nothing
          if (run(domain::DraftReservation{id, p, "gpu_nodes", "gpu.count", "", "", 1 + q % 8, "",
                                           events::Instant{kNow.micros - 2 * kHour},
                                           events::Instant{kNow.micros + (past ? -kHour : 24 * kHour)}, {}, "prop"})) {
            submit(domain::TransitionReservation{id, "activate", "", o});
          }
          break;
        }
        case 9:
          if (reservations > 0) {
            submit(domain::TransitionReservation{o + ".r" + std::to_string(1 + pick(reservations)),
                                                 pick(2) ? "suspend" : "resume", "", o});
          }
          break;
      }
    }
    services::ProjectorOptions po{.pg_url = db_.app_url, .brokers = "", .schema = "rm"};
    auto cp = services::catch_up_from_store(po);
    ASSERT_TRUE(cp.has_value()) << cp.error().message;

    const auto recorded = envelopes();
    std::vector<events::Event> history;
    domain::AdmissionModel model;  // the command side's, rebuilt from the same history
    for (const auto& e : recorded) {
      history.push_back(e.event);
      model.apply(e.meta.stream_id, e.event);
    }
    const testing::BruteForce bf(history, "gpu.count");
    for (const auto& p : projects) {
      domain::DecisionInput in;
      in.hierarchy = {o, "", p.id};
      in.request.dimension = "gpu.count";
      auto snap = queries_->decision_snapshot(in, std::nullopt);
      ASSERT_TRUE(snap.has_value()) << snap.error().message;
      domain::DecisionSnapshot mine = model.snapshot_for(in);
      mine.snapshot_version = snap->snapshot_version;
      const std::int64_t cap = bf.request_cap(p);
      for (const std::string window : {"", "request"}) {
        in.current_usage.scope_window = window;
        for (std::int64_t delta : {0, 1, 5, 13, 30, 39}) {
          SCOPED_TRACE(p.id + " window '" + window + "' delta " + std::to_string(delta));
          in.request.requested_delta = delta;
          auto out = domain::decide_admission(in, *snap, kNow);
          ASSERT_TRUE(out.has_value()) << out.error().code;
          auto same = domain::decide_admission(in, mine, kNow);
          ASSERT_TRUE(same.has_value()) << same.error().code;
          EXPECT_EQ(*out, *same) << "the read model and the command side's model disagree";
          if (window.empty()) {
            EXPECT_EQ(out->decision, bf.decide(p, 0, delta, kNow));
            EXPECT_EQ(out->reason_code, bf.reason(p, 0, delta, kNow));
            const std::int64_t limit = out->per_request ? cap : bf.effective(p);
            EXPECT_EQ(out->effective.quantity.value_or(testing::BruteForce::kUnlimited), limit);
          } else {
            // Judged by the per-request cap alone.
            EXPECT_EQ(out->decision, delta > cap ? "deny" : "allow");
            EXPECT_EQ(out->reason_code, cap == testing::BruteForce::kUnlimited ? "no_ceiling"
                                        : delta > cap                          ? "request_ceiling_exceeded"
                                                                               : "within_ceiling");
            EXPECT_EQ(out->effective.quantity.value_or(testing::BruteForce::kUnlimited), cap);
          }
          if (out->reason_code == "request_ceiling_exceeded") ++request_denials;
        }
      }
    }
  }
  EXPECT_GT(request_denials, 0) << "the generator never produced a binding per-request cap";
}

}  // namespace
}  // namespace ledger
