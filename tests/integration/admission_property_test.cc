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
// Reservations (issue 13) get windows that overlap and windows that do not
// (the next hour, tomorrow, the day after, one spanning both, one already
// over) and go through every lifecycle state (draft, active, exhausted by
// consumption, released back to active, suspended, resumed, retired, and
// expired once the clock passes their window). Every activation and resume
// is accepted exactly when the brute force says the reservation fits at
// every instant of its window; an accepted ceiling command never leaves a
// reservation that held capacity and fitted not fitting; and decisions are
// compared at instants inside and between the windows.
//
// Seeded and deterministic: a failure names its seed; LEDGER_PROPERTY_CASES
// raises the number of cases (default 20).
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "adapters/postgres/admission_queries.h"
#include "adapters/postgres/event_store.h"
#include "adapters/projector/projector.h"
#include "adapters/system/clock.h"
#include "commands/command_service.h"
#include "domain/admission.h"
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
    last_error_ = out ? "" : out.error().code;
    if (!out) {
      // Only rule rejections are expected from random commands.
      EXPECT_NE(out.error().kind, domain::ErrorKind::kUnavailable) << out.error().message;
      EXPECT_NE(out.error().kind, domain::ErrorKind::kInternal) << out.error().message;
    }
    return out.has_value();
  }
  std::vector<events::Envelope> envelopes(events::GlobalPosition after = {}) {
    auto evs = store_->read_by_types(domain::admission_event_types(), after, 1'000'000);
    EXPECT_TRUE(evs.has_value());
    return evs ? std::move(*evs) : std::vector<events::Envelope>{};
  }
  // Feeds `bf` every admission event recorded since the last call.
  void catch_up(testing::BruteForce& bf) {
    for (const auto& e : envelopes(fed_)) {
      bf.add(e.event);
      fed_ = e.meta.global_position;
    }
  }

  testing::TestDatabase db_;
  adapters::system::ManualClock clock_{kNow};
  std::unique_ptr<adapters::postgres::PgEventStore> store_;
  std::unique_ptr<commands::CommandService> service_;
  std::unique_ptr<adapters::postgres::PgAdmissionQueries> queries_;
  // What the command side's model says reservation `id` of `org` has consumed.
  std::int64_t model_consumed(const std::string& org, const std::string& id) {
    domain::AdmissionModel m;
    for (const auto& e :
         store_->read_stream("reservation:" + org + "/" + id).value_or(std::vector<events::Envelope>{})) {
      m.apply(e.meta.stream_id, e.event);
    }
    const auto* r = m.reservation(org, id);
    return r ? r->consumed : 0;
  }

  int commands_ = 0;
  events::GlobalPosition fed_;
  std::string last_error_;
};

TEST_F(AdmissionPropertyTest, DecisionsFromTheReadModelEqualABruteForceOverHistory) {
  const char* env = std::getenv("LEDGER_PROPERTY_CASES");
  const int cases = env ? std::atoi(env) : 20;
  ASSERT_TRUE(submit(domain::RegisterEntry{"product", "gpuaas", "", {}}));
  ASSERT_TRUE(submit(domain::RegisterEntry{"usage_unit", "gpu", "", {}}));
  ASSERT_TRUE(
      submit(domain::RegisterEntry{"quota_dimension", "gpu.count", "", {{"product", "gpuaas"}, {"unit", "gpu"}}}));
  const domain::CeilingTarget gpu{"gpu.count", "", "", ""};
  const domain::CeilingTarget per_request{"gpu.count", "request", "", ""};

  int request_denials = 0, capacity_denials = 0, activations_accepted = 0, activations_refused = 0;
  int lowering_refused = 0;
  std::set<std::string> states_seen;
  testing::BruteForce bf({}, "gpu.count");  // fed as the history grows
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
    // Windows relative to the case's start; the clock moves on within a case
    // (so windows end and reservations expire), never back.
    const events::Instant base = clock_.now();
    auto t = [&](std::int64_t hours) { return events::Instant{base.micros + hours * kHour}; };
    const std::vector<std::pair<std::int64_t, std::int64_t>> windows = {
        {-2, 24},  // now to tomorrow
        {0, 1},    // the next hour
        {24, 48},  // tomorrow
        {48, 72},  // the day after: never overlaps tomorrow
        {36, 60},  // spans tomorrow and the day after
        {-2, -1},  // already over: reads expired, holds nothing
        {1, 3},    // ends soon after the clock moves on
    };
    int reservations = 0;
    std::map<std::string, std::int64_t> quantity;
    auto reservation = [&] { return o + ".r" + std::to_string(1 + pick(reservations)); };
    for (int step = 0; step < 40; ++step) {
      const QuotaScope& s = scopes[static_cast<std::size_t>(pick(static_cast<int>(scopes.size())))];
      const QuotaScope& p = projects[static_cast<std::size_t>(pick(4))];
      const std::int64_t q = pick(40);
      const events::Instant now = clock_.now();
      catch_up(bf);
      // Ceiling commands: the held reservations that fit before must fit after.
      std::vector<std::string> fitting;
      for (const auto& id : bf.reservation_ids()) {
        if (id.rfind(o + ".", 0) != 0 || !testing::BruteForce::holds(bf.state(id))) continue;
        if (bf.window(id).second.micros > now.micros && bf.fits(id, now)) fitting.push_back(id);
      }
      auto still_fit = [&](bool accepted) {
        if (!accepted) {
          if (last_error_ == "ceiling_below_reserved") ++lowering_refused;
          return;
        }
        catch_up(bf);
        for (const auto& id : fitting) EXPECT_TRUE(bf.fits(id, now)) << id << " no longer fits after step " << step;
      };
      // An activation or resume: accepted exactly when the brute force says it fits.
      auto transition = [&](const std::string& id, const std::string& action) {
        catch_up(bf);
        const std::string from = bf.state(id);  // "" when its draft was refused
        const bool open = !from.empty() && bf.window(id).second.micros > now.micros;
        const bool legal = open && from == (action == "activate" ? "draft" : "suspended");
        const bool fits = legal && bf.fits(id, now);
        const bool accepted = submit(domain::TransitionReservation{id, action, "", o});
        if (legal) {
          EXPECT_EQ(accepted, fits) << action << " " << id << " at step " << step << ": " << last_error_;
          ++(fits ? activations_accepted : activations_refused);
        }
      };
      switch (pick(14)) {
        case 0:
        case 1:
          still_fit(submit(domain::SetCeiling{s, gpu, q, "", "prop"}));
          break;
        case 2:
          submit(domain::SetCeiling{s, per_request, q, "", "prop"});
          break;
        case 3:
          still_fit(submit(domain::ClearCeiling{s, pick(3) ? gpu : per_request, "prop"}));
          break;
        case 4:
          still_fit(submit(domain::DelegateCeiling{s, "gpu.count",
                                                   pick(2) ? std::optional<std::int64_t>(q) : std::nullopt, "prop"}));
          break;
        case 5:
          still_fit(submit(domain::RevokeDelegation{s, "gpu.count", "prop"}));
          break;
        case 6:
          submit(domain::MoveProject{p.id, depts[static_cast<std::size_t>(pick(3))]});
          break;
        case 7:
          submit(domain::MoveDepartment{depts[2], pick(2) ? depts[1] : ""});
          break;
        case 8:
        case 9: {
          const std::string id = o + ".r" + std::to_string(++reservations);
          const auto [from, to] = windows[static_cast<std::size_t>(pick(static_cast<int>(windows.size())))];
          quantity[id] = 1 + q % 12;
          if (run(domain::DraftReservation{
                  id, p, "gpu_nodes", "gpu.count", "", "", quantity[id], "", t(from), t(to), {}, "prop"}) &&
              pick(4) != 0) {  // some stay drafts
            transition(id, "activate");
          }
          break;
        }
        case 10:
          if (reservations > 0) {
            const std::string id = reservation();
            switch (pick(4)) {
              case 0:
                transition(id, "resume");
                break;
              case 1:
                submit(domain::TransitionReservation{id, "suspend", "", o});
                break;
              case 2:
                submit(domain::TransitionReservation{id, "retire", "", o});
                break;
              case 3:
                submit(domain::TransitionReservation{id, "expire", "", o});
                break;
            }
          }
          break;
        case 11:
          if (reservations > 0) {  // all of it (exhausted) or part
            const std::string id = reservation();
            const std::int64_t left = quantity[id] - model_consumed(o, id);
            if (left > 0)
              submit(domain::ConsumeReservation{id, pick(2) ? left : 1 + pick(static_cast<int>(left)), "", o});
          }
          break;
        case 12:
          if (reservations > 0) {
            const std::string id = reservation();
            if (model_consumed(o, id) > 0) submit(domain::ReleaseReservation{id, 1, "", o});
          }
          break;
        case 13:
          clock_.advance_micros(2 * kHour);
          break;  // windows end; the next-hour ones expire
      }
    }
    projector::ProjectorOptions po{.pg_url = db_.app_url, .brokers = "", .schema = "rm"};
    auto cp = projector::catch_up_from_store(po);
    ASSERT_TRUE(cp.has_value()) << cp.error().message;

    const auto recorded = envelopes();
    std::vector<events::Event> history;
    domain::AdmissionModel model;  // the command side's, rebuilt from the same history
    for (const auto& e : recorded) {
      history.push_back(e.event);
      model.apply(e.meta.stream_id, e.event);
    }
    const testing::BruteForce brute(history, "gpu.count");
    for (const auto& id : brute.reservation_ids()) {
      if (id.rfind(o + ".", 0) == 0) states_seen.insert(brute.state(id));
    }
    // Now, and instants inside and between the windows.
    const events::Instant now = clock_.now();
    const std::vector<events::Instant> instants = {now, t(0), t(2), t(25), t(37), t(50), t(61), t(80)};
    for (const auto& p : projects) {
      domain::DecisionInput in;
      in.hierarchy = {o, "", p.id};
      in.request.dimension = "gpu.count";
      auto snap = queries_->decision_snapshot(in, std::nullopt);
      ASSERT_TRUE(snap.has_value()) << snap.error().message;
      domain::DecisionSnapshot mine = model.snapshot_for(in);
      mine.snapshot_version = snap->snapshot_version;
      const std::int64_t cap = brute.request_cap(p);
      for (const events::Instant at : instants) {
        for (const std::string window : {"", "request"}) {
          in.current_usage.scope_window = window;
          for (std::int64_t delta : {0, 1, 5, 13, 30, 39}) {
            SCOPED_TRACE(p.id + " at +" + std::to_string((at.micros - base.micros) / kHour) + "h window '" + window +
                         "' delta " + std::to_string(delta));
            in.request.requested_delta = delta;
            auto out = domain::decide_admission(in, *snap, at);
            ASSERT_TRUE(out.has_value()) << out.error().code;
            auto same = domain::decide_admission(in, mine, at);
            ASSERT_TRUE(same.has_value()) << same.error().code;
            EXPECT_EQ(*out, *same) << "the read model and the command side's model disagree";
            if (window.empty()) {
              EXPECT_EQ(out->decision, brute.decide(p, 0, delta, at));
              EXPECT_EQ(out->reason_code, brute.reason(p, 0, delta, at));
              const std::int64_t limit = out->per_request ? cap : brute.effective(p);
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
            if (out->reason_code == "capacity_reserved") ++capacity_denials;
          }
        }
      }
    }
    clock_.advance_micros(100 * kHour);  // the next case starts after every window here
  }
  EXPECT_GT(request_denials, 0) << "the generator never produced a binding per-request cap";
  // The generator reaches what it claims to.
  EXPECT_GT(capacity_denials, 0) << "no reservation ever withheld capacity from a decision";
  EXPECT_GT(activations_accepted, 0);
  EXPECT_GT(activations_refused, 0) << "no activation or resume was ever refused for capacity";
  EXPECT_GT(lowering_refused, 0) << "no ceiling command was ever refused for held reservations";
  for (const char* state : {"draft", "active", "exhausted", "suspended", "expired", "retired"}) {
    EXPECT_TRUE(states_seen.contains(state)) << "no reservation ended a case " << state;
  }
}

}  // namespace
}  // namespace ledger
