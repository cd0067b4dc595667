// The admission core's rules (domain/admission.h): registries, hierarchy,
// ceilings with delegation, reservations and decisions, plus a property test
// against a brute-force evaluation written straight from the rule's text.
#include "domain/admission.h"

#include "tests/support/admission_brute_force.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <array>
#include <functional>
#include <limits>

namespace ledger::domain {
namespace {

using events::Instant;
constexpr std::int64_t kDay = 86'400'000'000LL;
const Instant kNow{1'800'000'000'000'000LL};

QuotaScope org(std::string id) { return {QuotaLevel::kOrganization, std::move(id)}; }
QuotaScope dept(std::string id) { return {QuotaLevel::kDepartment, std::move(id)}; }
QuotaScope project(std::string id) { return {QuotaLevel::kProject, std::move(id)}; }
const QuotaScope kGlobal{QuotaLevel::kGlobal, ""};

// A model plus the accepted events in order (the brute force reads those).
struct Ledger {
  AdmissionModel model;
  std::vector<std::pair<std::string, events::Event>> history;

  template <class C>
  Result<Decided> run(const C& c) {
    Result<Decided> d = [&] {
      if constexpr (requires { decide(model, c, kNow); })
        return decide(model, c, kNow);
      else
        return decide(model, c);
    }();
    if (d) {
      for (const auto& e : d->events) {
        model.apply(d->stream_id, e);
        history.emplace_back(d->stream_id, e);
      }
    }
    return d;
  }
  template <class C>
  void ok(const C& c) {
    auto d = run(c);
    ASSERT_TRUE(d.has_value()) << d.error().code << ": " << d.error().message;
  }
};

void registries(Ledger& l) {
  l.ok(RegisterEntry{"product", "gpuaas", "GPU as a service", {}});
  l.ok(RegisterEntry{"usage_unit", "gpu", "", {}});
  l.ok(RegisterEntry{"resource_type", "gpu_node", "", {{"product", "gpuaas"}}});
  l.ok(RegisterEntry{
      "quota_dimension", "gpu.count", "", {{"product", "gpuaas"}, {"resource_type", "gpu_node"}, {"unit", "gpu"}}});
}

// acme (plan pro) -> research -> {llm, vision}; acme.default -> misc
Ledger acme() {
  Ledger l;
  registries(l);
  l.ok(CreateOrganization{"acme", "Acme", "pro", ""});
  l.ok(CreateDepartment{"research", "acme", "", "Research"});
  l.ok(CreateProject{"llm", "acme", "research", "LLM"});
  l.ok(CreateProject{"vision", "acme", "research", "Vision"});
  l.ok(CreateProject{"misc", "acme", "", "Misc"});
  return l;
}

SetCeiling ceiling(QuotaScope s, std::int64_t q, std::string region = "") {
  return SetCeiling{std::move(s), CeilingTarget{"gpu.count", "", std::move(region), ""}, q, "gpu", "test"};
}

Effective effective_of(const Ledger& l, const QuotaScope& s, std::string region = "") {
  auto chain = l.model.chain(s);
  return evaluate_ceiling(chain, l.model.rules_on(chain, "gpu.count"), l.model.delegations_on(chain, "gpu.count"),
                          CeilingTarget{"gpu.count", "", std::move(region), ""}, false)
      .effective;
}

DecisionInput ask(std::string proj, std::int64_t usage, std::int64_t delta) {
  DecisionInput in;
  in.actor = {"service_account", "scheduler", {}, {}};
  in.hierarchy = {"acme", "", std::move(proj)};
  in.product = {"gpuaas", "gpu_node", "node-1", "start"};
  in.request = {"gpu.count", delta, "gpu", "", ""};
  in.current_usage = {"", usage, "gpu"};
  in.correlation_id = "corr-1";
  return in;
}

Result<DecisionOutput> decision(const Ledger& l, const DecisionInput& in, Instant at = kNow) {
  return decide_admission(in, l.model.snapshot_for(in), at);
}

std::string evidence(const Error& e, const std::string& key) {
  for (const auto& [k, v] : e.evidence_texts()) {
    if (k == key) return v;
  }
  return "<none>";
}

// ------------------------------------------------------------------ registries

TEST(AdmissionRegistry, ReferencesMustBeRegisteredAndVersionsCount) {
  Ledger l;
  auto d = l.run(RegisterEntry{"quota_dimension", "gpu.count", "", {{"product", "gpuaas"}, {"unit", "gpu"}}});
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, "unknown_registry_entry");
  EXPECT_EQ(evidence(d.error(), "entry_id"), "gpuaas");
  registries(l);
  EXPECT_EQ(l.model.registry("quota_dimension", "gpu.count")->version, 1);
  // The same registration again changes nothing; a new attribute set is v2.
  auto again = l.run(RegisterEntry{"product", "gpuaas", "GPU as a service", {}});
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->events.empty());
  l.ok(RegisterEntry{"product", "gpuaas", "GPUs", {}});
  EXPECT_EQ(l.model.registry("product", "gpuaas")->version, 2);
  auto bad = l.run(RegisterEntry{"usage_unit", "gpu", "", {{"colour", "red"}}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "invalid_registry_entry");
}

// Entries are found by kind and id together: one id under several kinds
// (looked up by its id's hash, so they share a bucket) is several entries.
TEST(AdmissionRegistry, OneIdUnderSeveralKindsIsSeveralEntries) {
  Ledger l;
  l.ok(RegisterEntry{"product", "gpu", "", {}});
  l.ok(RegisterEntry{"product", "gpu", "GPUs", {}});
  l.ok(RegisterEntry{"usage_unit", "gpu", "", {}});
  l.ok(RegisterEntry{"resource_type", "gpu", "", {{"product", "gpu"}}});
  l.ok(RegisterEntry{"quota_dimension", "gpu", "", {{"product", "gpu"}, {"resource_type", "gpu"}, {"unit", "gpu"}}});
  for (const auto& [kind, version] : std::vector<std::pair<std::string, std::int64_t>>{
           {"product", 2}, {"usage_unit", 1}, {"resource_type", 1}, {"quota_dimension", 1}}) {
    const RegistryEntry* e = l.model.registry(kind, "gpu");
    ASSERT_NE(e, nullptr) << kind;
    EXPECT_EQ(e->kind, kind);
    EXPECT_EQ(e->version, version) << kind;
  }
  EXPECT_EQ(l.model.registry("quota_dimension", "gpu.count"), nullptr);
  EXPECT_EQ(l.model.registry("plan", "gpu"), nullptr);

  l.ok(CreateOrganization{"acme", "Acme", "pro", ""});
  l.ok(CreateProject{"llm", "acme", "", "LLM"});
  DecisionInput in = ask("llm", 0, 1);
  in.product = {"gpu", "gpu", "node-1", "start"};
  in.request = {"gpu", 1, "gpu", "", ""};
  in.current_usage = {"", 0, "gpu"};
  auto d = decision(l, in);
  ASSERT_TRUE(d) << d.error().code;
  const RegistryVersions want{
      {"product", "2"}, {"quota_dimension", "1"}, {"resource_type", "1"}, {"scope", "1"}, {"usage_unit", "1"}};
  EXPECT_EQ(d->registry_versions, want);
}

TEST(AdmissionRegistry, CeilingsNeedARegisteredDimensionAndItsUnit) {
  Ledger l = acme();
  auto unknown = l.run(SetCeiling{org("acme"), {"tpu.count", "", "", ""}, 4, "", "x"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, "unknown_registry_entry");
  auto unit = l.run(SetCeiling{org("acme"), {"gpu.count", "", "", ""}, 4, "gib", "x"});
  ASSERT_FALSE(unit);
  EXPECT_EQ(unit.error().code, "unit_mismatch");
  auto window = l.run(SetCeiling{org("acme"), {"gpu.count", "fortnight", "", ""}, 4, "", "x"});
  ASSERT_FALSE(window);
  EXPECT_EQ(window.error().code, "invalid_window");
  EXPECT_EQ(l.model.rules_on(l.model.chain(org("acme")), "gpu.count").size(), 0u);
}

// ------------------------------------------------------------------- hierarchy

TEST(AdmissionHierarchy, EveryProjectHasADepartmentAndMovesStayInTheOrganization) {
  Ledger l = acme();
  const auto chain = l.model.chain(project("misc"));
  ASSERT_EQ(chain.size(), 5u);
  EXPECT_EQ(chain[1].scope, dept("acme.default"));
  EXPECT_EQ(chain[2].scope, org("acme"));
  EXPECT_EQ(chain[3].scope, (QuotaScope{QuotaLevel::kPlan, "pro"}));
  EXPECT_EQ(chain[4].scope, kGlobal);
  l.ok(CreateOrganization{"globex", "Globex", "free", ""});
  auto cross = l.run(MoveProject{"misc", "globex.default"});
  ASSERT_FALSE(cross);
  EXPECT_EQ(cross.error().code, "cross_organization");
  auto ghost = l.run(MoveProject{"misc", "nowhere"});
  ASSERT_FALSE(ghost);
  EXPECT_EQ(ghost.error().code, "unknown_scope");
  EXPECT_EQ(ghost.error().kind, ErrorKind::kNotFound);
}

// Scopes are found through an index the model grows as it grows, and a
// copy (or a moved model) indexes its own places: every project of a few
// thousand is found, with its whole chain, in the model, in a copy that
// outlives it, and in a model moved from that copy; an id never created is
// not found in any of them.
TEST(AdmissionHierarchy, EveryScopeIsFoundAtAnySizeInACopyAndAfterAMove) {
  Ledger l = acme();
  constexpr int kProjects = 3000;
  for (int i = 0; i < kProjects; ++i) {
    if (i % 100 == 0) l.ok(CreateDepartment{"d" + std::to_string(i / 100), "acme", "", "D"});
    l.ok(CreateProject{"p" + std::to_string(i), "acme", "d" + std::to_string(i / 100), "P"});
  }
  l.ok(ceiling(dept("d7"), 40));
  auto all_found = [](const AdmissionModel& m) {
    for (int i = 0; i < kProjects; ++i) {
      const auto chain = m.chain(project("p" + std::to_string(i)));
      if (chain.size() != 5 || chain[1].scope != dept("d" + std::to_string(i / 100))) return false;
    }
    return m.chain(project("p" + std::to_string(kProjects))).empty() && m.chain(project("d1")).empty() &&
           m.rules_on(m.chain(project("p750")), "gpu.count").size() == 1;
  };
  EXPECT_TRUE(all_found(l.model));
  auto original = std::make_unique<AdmissionModel>(l.model);
  AdmissionModel copy = *original;
  original.reset();
  EXPECT_TRUE(all_found(copy));
  const AdmissionModel moved = std::move(copy);
  EXPECT_TRUE(all_found(moved));
}

TEST(AdmissionHierarchy, ADepartmentCannotMoveUnderItself) {
  Ledger l = acme();
  l.ok(CreateDepartment{"vision-lab", "acme", "research", ""});
  l.ok(CreateDepartment{"sub-lab", "acme", "vision-lab", ""});
  for (const char* target : {"research", "vision-lab", "sub-lab"}) {
    auto d = l.run(MoveDepartment{"research", target});
    ASSERT_FALSE(d) << target;
    EXPECT_EQ(d.error().code, "hierarchy_cycle") << target;
  }
  l.ok(MoveDepartment{"sub-lab", ""});
  EXPECT_EQ(l.model.node(dept("sub-lab"))->parent, org("acme"));
}

// -------------------------------------------------------------------- ceilings

TEST(AdmissionCeilings, ALowerScopeMayReduceButNotRaise) {
  Ledger l = acme();
  l.ok(ceiling(org("acme"), 32));
  l.ok(ceiling(dept("research"), 16));
  auto raise = l.run(ceiling(project("llm"), 20));
  ASSERT_FALSE(raise);
  EXPECT_EQ(raise.error().code, "parent_ceiling_exceeded");
  EXPECT_EQ(raise.error().kind, ErrorKind::kFailedPrecondition);
  EXPECT_EQ(evidence(raise.error(), "failing_parent_scope"), "department:research");
  EXPECT_EQ(evidence(raise.error(), "rule_id"), "ceiling:department:research:gpu.count");
  EXPECT_EQ(raise.error().message.find("research"), std::string::npos) << "the user-facing message names no scope";
  l.ok(ceiling(project("llm"), 8));
  const auto e = effective_of(l, project("llm"));
  EXPECT_EQ(e.quantity, 8);
  EXPECT_EQ(e.inherited_from, project("llm"));
  EXPECT_EQ(effective_of(l, project("vision")).quantity, 16);
  EXPECT_EQ(effective_of(l, project("vision")).inherited_from, dept("research"));
  EXPECT_EQ(effective_of(l, project("misc")).inherited_from, org("acme"));
}

TEST(AdmissionCeilings, LoweringAParentClampsItsChildrenWithoutRewritingThem) {
  Ledger l = acme();
  l.ok(ceiling(org("acme"), 32));
  l.ok(ceiling(project("llm"), 24));
  l.ok(ceiling(org("acme"), 10));  // below the project's own 24: allowed
  const auto e = effective_of(l, project("llm"));
  EXPECT_EQ(e.quantity, 10);
  EXPECT_EQ(e.inherited_from, org("acme"));
  // The project's own rule is still recorded and matched.
  EXPECT_TRUE(std::any_of(e.matched_rules.begin(), e.matched_rules.end(),
                          [](const MatchedRule& r) { return r.scope == project("llm"); }));
  // Raising the parent again gives the child its own value back.
  l.ok(ceiling(org("acme"), 40));
  EXPECT_EQ(effective_of(l, project("llm")).quantity, 24);
}

TEST(AdmissionCeilings, DelegationLetsChildrenExceedUpToItsCapAndRevokingClamps) {
  Ledger l = acme();
  l.ok(ceiling(org("acme"), 64));
  l.ok(ceiling(dept("research"), 16));
  l.ok(DelegateCeiling{dept("research"), "gpu.count", 48, "burst"});
  l.ok(ceiling(project("llm"), 40));  // above research's 16: delegated
  auto over = l.run(ceiling(project("vision"), 50));
  ASSERT_FALSE(over);
  EXPECT_EQ(evidence(over.error(), "failing_parent_scope"), "department:research");
  EXPECT_EQ(evidence(over.error(), "rule_id"), "delegation:department:research:gpu.count");
  EXPECT_EQ(effective_of(l, project("llm")).quantity, 40);
  // A child without its own rule still gets the delegating scope's ceiling.
  EXPECT_EQ(effective_of(l, project("vision")).quantity, 16);
  l.ok(RevokeDelegation{dept("research"), "gpu.count", "burst over"});
  const auto e = effective_of(l, project("llm"));
  EXPECT_EQ(e.quantity, 16);
  EXPECT_EQ(e.inherited_from, dept("research"));
  auto missing = l.run(RevokeDelegation{dept("research"), "gpu.count", "again"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "unknown_delegation");
}

TEST(AdmissionCeilings, MovingAProjectChangesWhatBindsIt) {
  Ledger l = acme();
  l.ok(CreateDepartment{"ops", "acme", "", "Ops"});
  l.ok(ceiling(dept("research"), 16));
  l.ok(ceiling(dept("ops"), 4));
  EXPECT_EQ(effective_of(l, project("llm")).quantity, 16);
  l.ok(MoveProject{"llm", "ops"});
  EXPECT_EQ(effective_of(l, project("llm")).quantity, 4);
  EXPECT_EQ(effective_of(l, project("llm")).inherited_from, dept("ops"));
}

TEST(AdmissionCeilings, RegionalRulesOnlyBindMatchingRequestsAndWrites) {
  Ledger l = acme();
  l.ok(ceiling(org("acme"), 8, "us-east"));
  // A general (any-region) project ceiling is not judged by a regional one.
  l.ok(ceiling(project("llm"), 20));
  EXPECT_EQ(effective_of(l, project("llm"), "us-east").quantity, 8);
  EXPECT_EQ(effective_of(l, project("llm"), "eu-west").quantity, 20);
  auto regional = l.run(ceiling(project("llm"), 9, "us-east"));
  ASSERT_FALSE(regional);
  EXPECT_EQ(regional.error().code, "parent_ceiling_exceeded");
}

TEST(AdmissionCeilings, ClearingRemovesTheRuleAndVersionsKeepCounting) {
  Ledger l = acme();
  l.ok(ceiling(project("llm"), 8));
  l.ok(ceiling(project("llm"), 6));
  l.ok(ClearCeiling{project("llm"), {"gpu.count", "", "", ""}, "done"});
  EXPECT_FALSE(effective_of(l, project("llm")).quantity.has_value());
  l.ok(ceiling(project("llm"), 5));
  EXPECT_EQ(effective_of(l, project("llm")).matched_rules.back().version, 4);
  auto again = l.run(ClearCeiling{project("vision"), {"gpu.count", "", "", ""}, "none"});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, "unknown_ceiling");
}

// ---------------------------------------------------------------- reservations

DraftReservation gpu_reservation(std::string id, QuotaScope owner, std::int64_t q) {
  return DraftReservation{std::move(id),
                          std::move(owner),
                          "gpu_nodes",
                          "gpu.count",
                          "",
                          "h100",
                          q,
                          "gpu",
                          Instant{kNow.micros - kDay},
                          Instant{kNow.micros + kDay},
                          {},
                          "training"};
}

TEST(AdmissionReservations, LifecycleAllowsOnlyLegalTransitions) {
  Ledger l = acme();
  l.ok(gpu_reservation("r1", project("llm"), 4));
  auto consume_draft = l.run(ConsumeReservation{"r1", 1, "", "acme"});
  ASSERT_FALSE(consume_draft);
  EXPECT_EQ(consume_draft.error().code, "reservation_not_active");
  auto resume = l.run(TransitionReservation{"r1", "resume", "", "acme"});
  ASSERT_FALSE(resume);
  EXPECT_EQ(resume.error().code, "illegal_transition");
  EXPECT_EQ(resume.error().kind, ErrorKind::kAborted);
  l.ok(TransitionReservation{"r1", "activate", "", "acme"});
  l.ok(ConsumeReservation{"r1", 3, "job", "acme"});
  auto too_much = l.run(ConsumeReservation{"r1", 2, "job", "acme"});
  ASSERT_FALSE(too_much);
  EXPECT_EQ(too_much.error().code, "reservation_insufficient");
  auto last = l.run(ConsumeReservation{"r1", 1, "job", "acme"});
  ASSERT_TRUE(last);
  ASSERT_EQ(last->events.size(), 2u);  // consumed + exhausted
  EXPECT_EQ(l.model.reservation("acme", "r1")->state, "exhausted");
  l.ok(ReleaseReservation{"r1", 2, "job done", "acme"});
  EXPECT_EQ(l.model.reservation("acme", "r1")->state, "active");
  EXPECT_EQ(l.model.reservation("acme", "r1")->consumed, 2);
  auto release = l.run(ReleaseReservation{"r1", 3, "", "acme"});
  ASSERT_FALSE(release);
  EXPECT_EQ(release.error().code, "release_exceeds_consumed");
  auto retire_active = l.run(TransitionReservation{"r1", "retire", "", "acme"});
  ASSERT_FALSE(retire_active);
  EXPECT_EQ(retire_active.error().code, "illegal_transition");
  l.ok(TransitionReservation{"r1", "suspend", "", "acme"});
  l.ok(TransitionReservation{"r1", "retire", "", "acme"});
  auto revive = l.run(TransitionReservation{"r1", "activate", "", "acme"});
  ASSERT_FALSE(revive);
  EXPECT_EQ(revive.error().code, "illegal_transition");
}

TEST(AdmissionReservations, BadDraftsAreRefused) {
  Ledger l = acme();
  auto backwards = gpu_reservation("r1", project("llm"), 4);
  std::swap(backwards.window_start, backwards.window_end);
  auto b = l.run(backwards);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, "invalid_window");
  auto zero = l.run(gpu_reservation("r1", project("llm"), 0));
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code, "invalid_quantity");
  auto ghost = l.run(gpu_reservation("r1", project("ghost"), 1));
  ASSERT_FALSE(ghost);
  EXPECT_EQ(ghost.error().code, "unknown_scope");
  auto storage = gpu_reservation("r1", project("llm"), 1);
  storage.kind = "storage";
  auto s = l.run(storage);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, "invalid_reservation");
  l.ok(ceiling(project("llm"), 2));
  auto over = l.run(gpu_reservation("r1", project("llm"), 3));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, "parent_ceiling_exceeded");
  EXPECT_EQ(l.model.reservation("acme", "r1"), nullptr);
}

TEST(AdmissionReservations, PastTheWindowReadsExpiredAtOnceAndTheSweeperFindsIt) {
  Ledger l = acme();
  l.ok(gpu_reservation("r1", project("llm"), 4));
  l.ok(TransitionReservation{"r1", "activate", "", "acme"});
  const auto view = l.model.view_of(*l.model.reservation("acme", "r1"));
  EXPECT_EQ(reservation_state_at(view, kNow), "active");
  const Instant later{kNow.micros + 2 * kDay};
  EXPECT_EQ(reservation_state_at(view, later), "expired");
  EXPECT_TRUE(l.model.reservations_to_expire(kNow).empty());
  EXPECT_EQ(l.model.reservations_to_expire(later), (std::vector<std::pair<std::string, std::string>>{{"acme", "r1"}}));
  auto early = l.run(TransitionReservation{"r1", "expire", "", "acme"});
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, "illegal_transition");
  auto d = decide(l.model, TransitionReservation{"r1", "expire", "sweep", "acme"}, later);
  ASSERT_TRUE(d);
  auto consume = decide(l.model, ConsumeReservation{"r1", 1, "", "acme"}, later);
  ASSERT_FALSE(consume);
  EXPECT_EQ(evidence(consume.error(), "state"), "expired");
}

TEST(AdmissionReservations, ActivationNeedsUnreservedCapacityUnderEveryCeiling) {
  Ledger l = acme();
  l.ok(ceiling(dept("research"), 10));
  l.ok(gpu_reservation("r1", project("llm"), 6));
  l.ok(TransitionReservation{"r1", "activate", "", "acme"});
  l.ok(gpu_reservation("r2", project("vision"), 6));
  auto d = l.run(TransitionReservation{"r2", "activate", "", "acme"});
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, "capacity_unavailable");
  EXPECT_EQ(evidence(d.error(), "scope"), "department:research");
}

// A reservation of `q` GPUs owned by `owner` for [start, end).
DraftReservation windowed(std::string id, QuotaScope owner, std::int64_t q, Instant start, Instant end) {
  DraftReservation d = gpu_reservation(std::move(id), std::move(owner), q);
  d.window_start = start;
  d.window_end = end;
  return d;
}

constexpr std::int64_t kHour = 3'600'000'000LL;
Instant at(std::int64_t micros_from_now) { return Instant{kNow.micros + micros_from_now}; }

TEST(AdmissionCapacity, EveryStateHoldsWhatTheReadmeSays) {
  ReservationView v;
  v.quantity = 5;
  v.window_start = at(-kHour);
  v.window_end = at(kHour);
  for (const auto& [state, holds] : std::vector<std::pair<std::string, bool>>{{"draft", false},
                                                                              {"active", true},
                                                                              {"exhausted", true},
                                                                              {"suspended", false},
                                                                              {"expired", false},
                                                                              {"retired", false}}) {
    v.state = state;
    EXPECT_EQ(holds_at(v, kNow), holds) << state;
    EXPECT_FALSE(holds_at(v, at(-2 * kHour))) << state << " before its window";
    EXPECT_FALSE(holds_at(v, at(kHour))) << state << " at its window's (exclusive) end";
  }
}

TEST(AdmissionCapacity, PeakIsTheMostOverlappingWindowsHoldAtOnce) {
  auto view = [](std::int64_t q, std::int64_t from_h, std::int64_t to_h) {
    ReservationView v;
    v.quantity = q;
    v.window_start = at(from_h * kHour);
    v.window_end = at(to_h * kHour);
    return v;
  };
  // 10 over [0,4), 5 over [2,6), 7 over [4,8): the sum peaks at 15 over [2,4), then 12.
  const std::vector<ReservationView> held = {view(10, 0, 4), view(5, 2, 6), view(7, 4, 8)};
  const Peak p = peak_held(held, at(0), at(8 * kHour));
  EXPECT_EQ(p.quantity, 15);
  EXPECT_EQ(p.at, at(2 * kHour));
  EXPECT_EQ(peak_held(held, at(4 * kHour), at(8 * kHour)).quantity, 12);
  EXPECT_EQ(peak_held(held, at(6 * kHour), at(8 * kHour)).quantity, 7);
  EXPECT_EQ(peak_held({}, at(0), at(kHour)).quantity, 0);
}

// Issue 13 part 1: an exhausted reservation keeps occupying its window.
TEST(AdmissionCapacity, AnExhaustedReservationStillHoldsItsCapacity) {
  Ledger l = acme();
  l.ok(ceiling(dept("research"), 30));
  l.ok(gpu_reservation("r1", project("llm"), 25));
  l.ok(TransitionReservation{"r1", "activate", "", "acme"});
  EXPECT_EQ(decision(l, ask("vision", 0, 0))->available, 5);
  l.ok(ConsumeReservation{"r1", 25, "all of it", "acme"});
  ASSERT_EQ(l.model.reservation("acme", "r1")->state, "exhausted");
  // A sibling's decision does not jump to 30.
  auto sibling = decision(l, ask("vision", 0, 6));
  ASSERT_TRUE(sibling);
  EXPECT_EQ(sibling->available, 5);
  EXPECT_EQ(sibling->reserved_for_others, 25);
  EXPECT_EQ(sibling->reason_code, "capacity_reserved");
  // A second reservation cannot be activated on top of it.
  l.ok(gpu_reservation("r2", project("vision"), 25));
  auto r2 = l.run(TransitionReservation{"r2", "activate", "", "acme"});
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, "capacity_unavailable");
  EXPECT_EQ(evidence(r2.error(), "reserved_with_this"), "50");
  // Released back to active: it held all along, nothing to re-check.
  l.ok(ReleaseReservation{"r1", 1, "", "acme"});
  EXPECT_EQ(l.model.reservation("acme", "r1")->state, "active");
  EXPECT_EQ(decision(l, ask("vision", 0, 0))->available, 5);
  // Retired (from exhausted), it holds nothing and r2 fits.
  l.ok(ConsumeReservation{"r1", 1, "", "acme"});
  l.ok(TransitionReservation{"r1", "retire", "", "acme"});
  l.ok(TransitionReservation{"r2", "activate", "", "acme"});
  // Suspended holds nothing; resuming re-checks like activation.
  l.ok(TransitionReservation{"r2", "suspend", "", "acme"});
  EXPECT_EQ(decision(l, ask("llm", 0, 0))->available, 30);
  l.ok(gpu_reservation("r3", project("llm"), 10));
  l.ok(TransitionReservation{"r3", "activate", "", "acme"});
  auto resume = l.run(TransitionReservation{"r2", "resume", "", "acme"});
  ASSERT_FALSE(resume);
  EXPECT_EQ(resume.error().code, "capacity_unavailable");
}

// Issue 13 part 2: capacity is the peak over time of overlapping windows.
TEST(AdmissionCapacity, OnlyOverlappingWindowsCompete) {
  Ledger l = acme();
  l.ok(ceiling(dept("research"), 30));
  const std::int64_t day = 24 * kHour;
  l.ok(windowed("tomorrow", project("llm"), 25, at(day), at(2 * day)));
  l.ok(TransitionReservation{"tomorrow", "activate", "", "acme"});
  // The day after never overlaps tomorrow.
  l.ok(windowed("day-after", project("vision"), 25, at(2 * day), at(3 * day)));
  l.ok(TransitionReservation{"day-after", "activate", "", "acme"});
  // Nor does the next hour; a decision now agrees that 30 are free.
  EXPECT_EQ(decision(l, ask("vision", 0, 0))->available, 30);
  l.ok(windowed("next-hour", project("vision"), 25, kNow, at(kHour)));
  l.ok(TransitionReservation{"next-hour", "activate", "", "acme"});
  // Tomorrow and the day after, a sibling sees what overlaps then.
  EXPECT_EQ(decision(l, ask("vision", 0, 0), at(day + kHour))->available, 5);
  EXPECT_EQ(decision(l, ask("llm", 0, 0), at(2 * day + kHour))->available, 5);
  // One spanning tomorrow and the day after meets each at its own peak: 25 + 6 > 30.
  l.ok(windowed("span", project("vision"), 6, at(day + 12 * kHour), at(2 * day + 12 * kHour)));
  auto span = l.run(TransitionReservation{"span", "activate", "", "acme"});
  ASSERT_FALSE(span);
  EXPECT_EQ(span.error().code, "capacity_unavailable");
  EXPECT_EQ(evidence(span.error(), "reserved_with_this"), "31");
  // 5 fits at both peaks (25 + 5 each).
  l.ok(windowed("span5", project("vision"), 5, at(day + 12 * kHour), at(2 * day + 12 * kHour)));
  l.ok(TransitionReservation{"span5", "activate", "", "acme"});
}

TEST(AdmissionCapacity, APeakInsideTheWindowRefusesAndNamesWhen) {
  Ledger l = acme();
  l.ok(ceiling(dept("research"), 30));
  const std::int64_t day = 24 * kHour;
  l.ok(windowed("a", project("llm"), 20, at(day), at(2 * day)));
  l.ok(TransitionReservation{"a", "activate", "", "acme"});
  l.ok(windowed("b", project("llm"), 5, at(day + 12 * kHour), at(3 * day)));
  l.ok(TransitionReservation{"b", "activate", "", "acme"});
  // 6 from now to the day after tomorrow: fine today, 31 from tomorrow noon.
  l.ok(windowed("c", project("vision"), 6, kNow, at(2 * day)));
  auto c = l.run(TransitionReservation{"c", "activate", "", "acme"});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, "capacity_unavailable");
  EXPECT_EQ(evidence(c.error(), "reserved_with_this"), "31");
  EXPECT_EQ(evidence(c.error(), "scope"), "department:research");
  EXPECT_EQ(evidence(c.error(), "peak_at"), "2027-01-16T20:00:00Z");
  // 5 fits at every instant.
  l.ok(windowed("d", project("vision"), 5, kNow, at(2 * day)));
  l.ok(TransitionReservation{"d", "activate", "", "acme"});
}

// A move or a plan change that would leave reservations holding more than
// the ceilings of their new place allow is refused like a lowered ceiling.
TEST(AdmissionCapacity, MovesAndPlanChangesNeverOverCommitHeldReservations) {
  Ledger l = acme();
  l.ok(CreateDepartment{"ops", "acme", "", "Ops"});
  l.ok(ceiling(dept("research"), 30));
  l.ok(ceiling(dept("ops"), 10));
  l.ok(gpu_reservation("r1", project("llm"), 20));
  l.ok(TransitionReservation{"r1", "activate", "", "acme"});
  // llm (holding 20) under ops (ceiling 10): refused, naming the short scope.
  auto to_ops = l.run(MoveProject{"llm", "ops"});
  ASSERT_FALSE(to_ops);
  EXPECT_EQ(to_ops.error().code, "ceiling_below_reserved");
  EXPECT_EQ(evidence(to_ops.error(), "reservation_id"), "r1");
  EXPECT_EQ(evidence(to_ops.error(), "effective_quantity"), "10");
  EXPECT_EQ(evidence(to_ops.error(), "reserved"), "20");
  // The whole department under ops: the same.
  l.ok(CreateDepartment{"lab", "acme", "research", "Lab"});
  l.ok(MoveProject{"llm", "lab"});  // within research: still fits
  auto lab_to_ops = l.run(MoveDepartment{"lab", "ops"});
  ASSERT_FALSE(lab_to_ops);
  EXPECT_EQ(lab_to_ops.error().code, "ceiling_below_reserved");
  // A sibling's reservation already using ops' room: moving vision in with
  // 6 more fits alone (ops 10) but not with what ops holds.
  l.ok(CreateProject{"infra", "acme", "ops", "Infra"});
  l.ok(gpu_reservation("r2", project("infra"), 5));
  l.ok(TransitionReservation{"r2", "activate", "", "acme"});
  l.ok(gpu_reservation("r3", project("vision"), 6));
  l.ok(TransitionReservation{"r3", "activate", "", "acme"});
  auto crowd = l.run(MoveProject{"vision", "ops"});
  ASSERT_FALSE(crowd);
  EXPECT_EQ(crowd.error().code, "ceiling_below_reserved");
  EXPECT_EQ(evidence(crowd.error(), "reserved"), "11");
  // A plan whose ceiling is below what the organization holds (31).
  l.ok(ceiling(QuotaScope{QuotaLevel::kPlan, "starter"}, 25));
  auto downgrade = l.run(ChangeOrganizationPlan{"acme", "starter"});
  ASSERT_FALSE(downgrade);
  EXPECT_EQ(downgrade.error().code, "ceiling_below_reserved");
  l.ok(ceiling(QuotaScope{QuotaLevel::kPlan, "team"}, 31));
  l.ok(ChangeOrganizationPlan{"acme", "team"});  // exactly what is held
  // Suspended, it holds nothing: the move is accepted.
  l.ok(TransitionReservation{"r1", "suspend", "", "acme"});
  l.ok(MoveProject{"llm", "ops"});
}

// Issue 13 part 3: a ceiling cannot be lowered below what reservations hold.
TEST(AdmissionCapacity, LoweringCapacityUnderHeldReservationsIsRefused) {
  Ledger l = acme();
  l.ok(ceiling(org("acme"), 100));
  l.ok(ceiling(dept("research"), 30));
  l.ok(gpu_reservation("r1", project("llm"), 20));
  l.ok(TransitionReservation{"r1", "activate", "", "acme"});
  auto lower = l.run(ceiling(dept("research"), 19));
  ASSERT_FALSE(lower);
  EXPECT_EQ(lower.error().code, "ceiling_below_reserved");
  EXPECT_EQ(lower.error().kind, ErrorKind::kFailedPrecondition);
  EXPECT_EQ(evidence(lower.error(), "reservation_id"), "r1");
  // The first scope up from the owner that would be short, and the rule binding it.
  EXPECT_EQ(evidence(lower.error(), "scope"), "project:llm");
  EXPECT_EQ(evidence(lower.error(), "rule_id"), "ceiling:department:research:gpu.count");
  EXPECT_EQ(evidence(lower.error(), "effective_quantity"), "19");
  EXPECT_EQ(evidence(lower.error(), "reserved"), "20");
  l.ok(ceiling(dept("research"), 20));  // down to exactly what is held
  // Above it too: the organization clamps research.
  auto org_lower = l.run(ceiling(org("acme"), 10));
  ASSERT_FALSE(org_lower);
  EXPECT_EQ(org_lower.error().code, "ceiling_below_reserved");
  // A new rule below it at the owner, and a delegation cap below it.
  auto own = l.run(ceiling(project("llm"), 5));
  ASSERT_FALSE(own);
  EXPECT_EQ(own.error().code, "ceiling_below_reserved");
  // Exhausted holds as well.
  l.ok(ConsumeReservation{"r1", 20, "", "acme"});
  EXPECT_EQ(l.run(ceiling(dept("research"), 19)).error().code, "ceiling_below_reserved");
  // Other windows (rates) and per-request caps are not what reservations hold.
  SetCeiling hourly = ceiling(dept("research"), 1);
  hourly.target.window = "hour";
  l.ok(hourly);
  // Retired, it holds nothing: lowering is accepted.
  l.ok(TransitionReservation{"r1", "retire", "", "acme"});
  l.ok(ceiling(dept("research"), 1));
}

TEST(AdmissionCapacity, ClearingOrRevokingADelegationUnderHeldReservationsIsRefused) {
  Ledger l = acme();
  l.ok(ceiling(dept("research"), 10));
  l.ok(DelegateCeiling{dept("research"), "gpu.count", 40, "burst"});
  l.ok(ceiling(project("llm"), 30));
  l.ok(gpu_reservation("r1", project("llm"), 25));
  l.ok(TransitionReservation{"r1", "activate", "", "acme"});
  auto revoke = l.run(RevokeDelegation{dept("research"), "gpu.count", "over"});
  ASSERT_FALSE(revoke);
  EXPECT_EQ(revoke.error().code, "ceiling_below_reserved");
  auto cap = l.run(DelegateCeiling{dept("research"), "gpu.count", 20, "less"});
  ASSERT_FALSE(cap);
  EXPECT_EQ(cap.error().code, "ceiling_below_reserved");
  auto clear = l.run(ClearCeiling{project("llm"), {"gpu.count", "", "", ""}, "inherit"});
  ASSERT_FALSE(clear);
  EXPECT_EQ(clear.error().code, "ceiling_below_reserved");
  l.ok(DelegateCeiling{dept("research"), "gpu.count", 25, "exactly"});
  // Suspended, it holds nothing.
  l.ok(TransitionReservation{"r1", "suspend", "", "acme"});
  l.ok(RevokeDelegation{dept("research"), "gpu.count", "over"});
}

TEST(AdmissionDecisions, ActorTypeIsBoundedAndAnExpiredPrincipalIsDenied) {
  Ledger l = acme();
  l.ok(ceiling(dept("research"), 10));
  auto robot = ask("llm", 0, 1);
  robot.actor.actor_type = "robot";
  auto bad = decision(l, robot);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "invalid_decision_input");
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidArgument);
  for (const char* type : {"user", "service_account", "api_key", "worker", ""}) {
    auto in = ask("llm", 0, 1);
    in.actor.actor_type = type;
    EXPECT_TRUE(decision(l, in)) << type;
  }
  l.ok(CreatePrincipal{"key1", "api_key", "llm", "key", at(kHour)});
  auto in = ask("llm", 0, 1);
  in.actor = {"api_key", "key1", {}, {}};
  auto live = decision(l, in);
  ASSERT_TRUE(live);
  EXPECT_EQ(live->decision, "allow");
  auto expired = decision(l, in, at(kHour));
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->decision, "deny");
  EXPECT_EQ(expired->reason_code, "principal_expired");
  EXPECT_EQ(expired->effective.quantity, 10);
  EXPECT_FALSE(expired->limit_remaining.has_value());
  EXPECT_FALSE(expired->available.has_value());
  // The same actor asking for another project is not its principal there.
  auto elsewhere = ask("vision", 0, 1);
  elsewhere.actor = in.actor;
  auto project_decides = decision(l, elsewhere, at(kHour));
  ASSERT_TRUE(project_decides);
  EXPECT_EQ(project_decides->decision, "allow");
}

// Reservation ids are unique per organization (issue 10, item 12): another
// organization's id is neither a conflict nor reachable.
Ledger acme_and_globex() {
  Ledger l = acme();
  l.ok(CreateOrganization{"globex", "Globex", "pro", ""});
  l.ok(CreateProject{"gx", "globex", "", "GX"});
  return l;
}

TEST(AdmissionReservationIds, AnotherOrganizationsIdIsNoConflictAndItsOwnStream) {
  Ledger l = acme_and_globex();
  auto a = l.run(gpu_reservation("r1", project("llm"), 4));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->stream_id, "reservation:acme/r1");
  auto theirs = gpu_reservation("r1", project("gx"), 2);
  theirs.sku_or_model = "a100";
  auto g = l.run(theirs);
  ASSERT_TRUE(g) << g.error().code;  // not 409 already_exists
  ASSERT_EQ(g->events.size(), 1u);
  EXPECT_EQ(g->stream_id, "reservation:globex/r1");
  EXPECT_EQ(g->tenant, "globex");
  EXPECT_EQ(l.model.reservation("acme", "r1")->drafted.quantity, 4);
  EXPECT_EQ(l.model.reservation("globex", "r1")->drafted.quantity, 2);
  EXPECT_EQ(l.model.reservation("initech", "r1"), nullptr);
  EXPECT_EQ(l.model.organizations_with_reservation("r1"), (std::vector<std::string>{"acme", "globex"}));
  // The same draft again is globex's no-op; other attributes in globex: 409.
  auto same = l.run(theirs);
  ASSERT_TRUE(same);
  EXPECT_TRUE(same->events.empty());
  theirs.quantity = 3;
  auto changed = l.run(theirs);
  ASSERT_FALSE(changed);
  EXPECT_EQ(changed.error().code, "already_exists");
}

TEST(AdmissionReservationIds, CommandsResolveTheIdWithinTheOrganizationTheyName) {
  Ledger l = acme_and_globex();
  l.ok(gpu_reservation("r1", project("llm"), 4));
  l.ok(gpu_reservation("r1", project("gx"), 2));
  l.ok(TransitionReservation{"r1", "activate", "", "globex"});
  EXPECT_EQ(l.model.reservation("globex", "r1")->state, "active");
  EXPECT_EQ(l.model.reservation("acme", "r1")->state, "draft");
  auto consumed = l.run(ConsumeReservation{"r1", 2, "", "globex"});
  ASSERT_TRUE(consumed);
  EXPECT_EQ(consumed->stream_id, "reservation:globex/r1");
  ASSERT_EQ(consumed->events.size(), 2u);  // all of globex's 2: exhausted
  EXPECT_EQ(l.model.reservation("acme", "r1")->consumed, 0);
  auto acme_consume = l.run(ConsumeReservation{"r1", 1, "", "acme"});
  ASSERT_FALSE(acme_consume);
  EXPECT_EQ(acme_consume.error().code, "reservation_not_active");  // acme's is still a draft
  // An organization without such an id: exactly an unknown id.
  for (const std::string org : {"initech", "globex"}) {
    auto t = l.run(TransitionReservation{org == "globex" ? "r-none" : "r1", "activate", "", org});
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().code, "unknown_reservation");
    EXPECT_EQ(t.error().kind, ErrorKind::kNotFound);
    ASSERT_EQ(t.error().evidence.size(), 1u);
  }
  auto r = l.run(ReleaseReservation{"r1", 1, "", "initech"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "unknown_reservation");
  // No organization named: 400, never a guess.
  auto unnamed = l.run(TransitionReservation{"r1", "suspend", ""});
  ASSERT_FALSE(unnamed);
  EXPECT_EQ(unnamed.error().code, "missing_field");
  EXPECT_EQ(unnamed.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(evidence(unnamed.error(), "field"), "organization_id");
}

TEST(AdmissionReservationIds, TheSweeperNamesEachOrganizationsReservation) {
  Ledger l = acme_and_globex();
  l.ok(gpu_reservation("r1", project("llm"), 4));
  l.ok(gpu_reservation("r1", project("gx"), 2));
  l.ok(TransitionReservation{"r1", "activate", "", "acme"});
  l.ok(TransitionReservation{"r1", "activate", "", "globex"});
  const Instant later{kNow.micros + 2 * kDay};
  EXPECT_EQ(l.model.reservations_to_expire(later),
            (std::vector<std::pair<std::string, std::string>>{{"acme", "r1"}, {"globex", "r1"}}));
  auto d = decide(l.model, TransitionReservation{"r1", "expire", "sweep", "globex"}, later);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->stream_id, "reservation:globex/r1");
  EXPECT_EQ(d->tenant, "globex");
}

// Events written before ids were scoped (stream "reservation:<id>") replay
// by the organization they carry, and the reservation lives on that stream.
TEST(AdmissionReservationIds, ReservationsFromBeforeTheChangeStayOnTheirStream) {
  Ledger l = acme_and_globex();
  auto drafted = decide(l.model, gpu_reservation("old", project("llm"), 4));
  ASSERT_TRUE(drafted);
  for (const auto& e : drafted->events) l.model.apply("reservation:old", e);  // the legacy stream
  l.model.apply("reservation:old",
                events::ReservationStateChanged{"old", "acme", "draft", "active", "before the change"});
  ASSERT_NE(l.model.reservation("acme", "old"), nullptr);
  EXPECT_EQ(l.model.reservation("acme", "old")->state, "active");
  EXPECT_EQ(l.model.reservation("acme", "old")->stream_id, "reservation:old");
  auto c = l.run(ConsumeReservation{"old", 1, "", "acme"});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->stream_id, "reservation:old");
  EXPECT_EQ(l.model.stream_version("reservation:old"), 3);
  // Globex may use the id for its own reservation.
  auto g = l.run(gpu_reservation("old", project("gx"), 1));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->stream_id, "reservation:globex/old");
  auto foreign = l.run(ConsumeReservation{"old", 1, "", "initech"});
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, "unknown_reservation");
}

// ------------------------------------------------------------------- decisions

TEST(AdmissionDecisions, AllowWarnDenyAgainstTheEffectiveCeiling) {
  Ledger l = acme();
  l.ok(ceiling(dept("research"), 10));
  auto allow = decision(l, ask("llm", 2, 3));
  ASSERT_TRUE(allow);
  EXPECT_EQ(allow->decision, "allow");
  EXPECT_EQ(allow->reason_code, "within_ceiling");
  EXPECT_EQ(allow->effective.quantity, 10);
  EXPECT_EQ(allow->effective.inherited_from, dept("research"));
  EXPECT_EQ(allow->limit_remaining, 5);
  EXPECT_EQ(allow->registry_versions.at("quota_dimension"), "1");
  EXPECT_EQ(allow->correlation_id, "corr-1");
  auto warn = decision(l, ask("llm", 6, 3));  // 9 of 10 > 80 %
  ASSERT_TRUE(warn);
  EXPECT_EQ(warn->decision, "warn");
  EXPECT_EQ(warn->limit_remaining, 1);
  auto deny = decision(l, ask("llm", 6, 5));
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->decision, "deny");
  EXPECT_EQ(deny->reason_code, "ceiling_exceeded");
  EXPECT_EQ(deny->limit_remaining, 4);
  ASSERT_FALSE(deny->effective.matched_rules.empty());
  EXPECT_EQ(deny->effective.matched_rules[0].rule_id, "ceiling:department:research:gpu.count");
}

TEST(AdmissionDecisions, NoCeilingAllowsAndAnUnregisteredDimensionIsAnError) {
  Ledger l = acme();
  auto free = decision(l, ask("llm", 1000, 1000));
  ASSERT_TRUE(free);
  EXPECT_EQ(free->decision, "allow");
  EXPECT_EQ(free->reason_code, "no_ceiling");
  EXPECT_FALSE(free->effective.quantity.has_value());
  auto in = ask("llm", 0, 1);
  in.request.dimension = "tpu.count";
  in.request.unit = "";
  in.current_usage.unit = "";
  auto unknown = decision(l, in);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, "unknown_registry_entry");
  auto ghost = decision(l, ask("ghost", 0, 1));
  ASSERT_FALSE(ghost);
  EXPECT_EQ(ghost.error().code, "unknown_scope");
  auto unit = ask("llm", 0, 1);
  unit.request.unit = "gib";
  ASSERT_FALSE(decision(l, unit));
  EXPECT_EQ(decision(l, unit).error().code, "unit_mismatch");
  auto wrong_org = ask("llm", 0, 1);
  wrong_org.hierarchy.organization_id = "globex";
  EXPECT_EQ(decision(l, wrong_org).error().code, "hierarchy_mismatch");
  auto negative = ask("llm", 0, -1);
  EXPECT_EQ(decision(l, negative).error().code, "invalid_decision_input");
  auto pinned = ask("llm", 0, 1);
  pinned.registry_versions["quota_dimension"] = "7";
  EXPECT_EQ(decision(l, pinned).error().code, "registry_version_mismatch");
}

TEST(AdmissionDecisions, CapacityReservedForOthersIsNotAvailable) {
  Ledger l = acme();
  l.ok(ceiling(dept("research"), 10));
  l.ok(gpu_reservation("r1", project("vision"), 6));
  // A draft withholds nothing.
  EXPECT_EQ(decision(l, ask("llm", 0, 8))->decision, "allow");
  l.ok(TransitionReservation{"r1", "activate", "", "acme"});
  auto deny = decision(l, ask("llm", 0, 8));
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->decision, "deny");
  EXPECT_EQ(deny->reason_code, "capacity_reserved");
  EXPECT_EQ(deny->available, 4);
  EXPECT_EQ(deny->reserved_for_others, 6);
  // The owner is not kept from its own reservation.
  EXPECT_EQ(decision(l, ask("vision", 0, 8))->available, 10);
  // Past the window, nothing is withheld any more.
  EXPECT_EQ(decision(l, ask("llm", 0, 8), Instant{kNow.micros + 2 * kDay})->available, 10);
}

// ------------------------------------------------------ per-request ceilings

SetCeiling per_request(QuotaScope s, std::int64_t q, std::string region = "") {
  return SetCeiling{std::move(s), CeilingTarget{"gpu.count", "request", std::move(region), ""}, q, "gpu", "test"};
}

Effective request_cap_of(const Ledger& l, const QuotaScope& s, std::string region = "") {
  auto chain = l.model.chain(s);
  return evaluate_ceiling(chain, l.model.rules_on(chain, "gpu.count"), l.model.delegations_on(chain, "gpu.count"),
                          CeilingTarget{"gpu.count", "request", std::move(region), ""}, false)
      .effective;
}

TEST(AdmissionRequestCeilings, TheRequestWindowIsValidAndAWriteAboveTheParentIsRefused) {
  EXPECT_TRUE(valid_window("request"));
  EXPECT_FALSE(valid_window("requests"));
  Ledger l = acme();
  l.ok(per_request(org("acme"), 16));
  l.ok(ceiling(dept("research"), 4));  // a standing ceiling never judges a request ceiling
  auto raise = l.run(per_request(project("llm"), 20));
  ASSERT_FALSE(raise);
  EXPECT_EQ(raise.error().code, "parent_ceiling_exceeded");
  EXPECT_EQ(evidence(raise.error(), "failing_parent_scope"), "organization:acme");
  EXPECT_EQ(evidence(raise.error(), "rule_id"), "ceiling:organization:acme:gpu.count/per_request");
  EXPECT_EQ(raise.error().message.find("acme"), std::string::npos);
  l.ok(per_request(project("llm"), 8));
  const auto e = request_cap_of(l, project("llm"));
  EXPECT_EQ(e.quantity, 8);
  EXPECT_EQ(e.inherited_from, project("llm"));
  EXPECT_EQ(request_cap_of(l, project("vision")).quantity, 16);
  EXPECT_EQ(request_cap_of(l, project("vision")).inherited_from, org("acme"));
  // ...and a request ceiling never judges a standing one.
  EXPECT_EQ(effective_of(l, project("llm")).quantity, 4);
  // Delegation works per dimension, for the request window too.
  l.ok(DelegateCeiling{org("acme"), "gpu.count", 24, "burst"});
  l.ok(per_request(dept("research"), 24));
  // Clearing names the window.
  l.ok(ClearCeiling{project("llm"), {"gpu.count", "request", "", ""}, "done"});
  EXPECT_EQ(request_cap_of(l, project("llm")).quantity, 24);
  auto gone = l.run(ClearCeiling{project("llm"), {"gpu.count", "request", "", ""}, "again"});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, "unknown_ceiling");
}

TEST(AdmissionRequestCeilings, LoweringAParentsRequestCeilingClampsItsChildren) {
  Ledger l = acme();
  l.ok(per_request(org("acme"), 16));
  l.ok(per_request(project("llm"), 12));
  l.ok(per_request(org("acme"), 6));  // below the project's own 12: allowed
  auto e = request_cap_of(l, project("llm"));
  EXPECT_EQ(e.quantity, 6);
  EXPECT_EQ(e.inherited_from, org("acme"));
  EXPECT_TRUE(std::any_of(e.matched_rules.begin(), e.matched_rules.end(), [](const MatchedRule& r) {
    return r.rule_id == "ceiling:project:llm:gpu.count/per_request";
  }));
  auto deny = decision(l, ask("llm", 0, 7));
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->reason_code, "request_ceiling_exceeded");
  EXPECT_EQ(deny->effective.quantity, 6);
  EXPECT_EQ(deny->effective.inherited_from, org("acme"));
  l.ok(per_request(org("acme"), 40));
  EXPECT_EQ(request_cap_of(l, project("llm")).quantity, 12);
  EXPECT_EQ(decision(l, ask("llm", 0, 7))->decision, "allow");
}

TEST(AdmissionRequestCeilings, ARequestAboveItsCapIsDeniedAndOneWithinIsAnsweredAsBefore) {
  Ledger l = acme();
  l.ok(ceiling(dept("research"), 100));
  Ledger without = acme();
  without.ok(ceiling(dept("research"), 100));
  l.ok(per_request(project("llm"), 8));

  auto deny = decision(l, ask("llm", 0, 9));
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->decision, "deny");
  EXPECT_EQ(deny->reason_code, "request_ceiling_exceeded");
  EXPECT_EQ(deny->user_message.find("llm"), std::string::npos) << "the user-facing message names no scope";
  EXPECT_TRUE(deny->per_request);
  EXPECT_EQ(deny->effective.quantity, 8);
  EXPECT_EQ(deny->effective.unit, "gpu");
  EXPECT_EQ(deny->effective.inherited_from, project("llm"));
  EXPECT_EQ(deny->effective.binding_rule_id, "ceiling:project:llm:gpu.count/per_request");
  ASSERT_EQ(deny->effective.matched_rules.size(), 1u);
  EXPECT_EQ(deny->effective.matched_rules[0].rule_id, "ceiling:project:llm:gpu.count/per_request");
  EXPECT_EQ(deny->effective.matched_rules[0].version, 1);
  EXPECT_EQ(deny->limit_remaining, 8);
  EXPECT_FALSE(deny->available.has_value());
  EXPECT_EQ(deny->reserved_for_others, 0);
  EXPECT_EQ(deny->correlation_id, "corr-1");

  // At or below the cap: exactly the answer with no request ceiling at all.
  for (std::int64_t delta : {0, 1, 8}) {
    auto with = decision(l, ask("llm", 3, delta));
    ASSERT_TRUE(with);
    EXPECT_EQ(*with, *decision(without, ask("llm", 3, delta))) << delta;
    EXPECT_FALSE(with->per_request);
    EXPECT_EQ(with->effective.inherited_from, dept("research"));
  }
  // Other projects are not capped by llm's rule.
  EXPECT_EQ(decision(l, ask("vision", 0, 50))->decision, "allow");
  // With no usage ceiling at all, the cap still binds.
  Ledger bare = acme();
  bare.ok(per_request(project("llm"), 2));
  EXPECT_EQ(decision(bare, ask("llm", 0, 3))->reason_code, "request_ceiling_exceeded");
  auto free = decision(bare, ask("llm", 0, 2));
  EXPECT_EQ(free->reason_code, "no_ceiling");
  EXPECT_FALSE(free->per_request);
}

TEST(AdmissionRequestCeilings, TheStricterOutcomeWins) {
  Ledger l = acme();
  l.ok(ceiling(dept("research"), 10));
  l.ok(per_request(dept("research"), 4));
  // warn by usage, within the cap: warn.
  EXPECT_EQ(decision(l, ask("llm", 6, 3))->reason_code, "near_limit");
  // warn by usage, above the cap: deny.
  auto over = decision(l, ask("llm", 3, 5));
  EXPECT_EQ(over->decision, "deny");
  EXPECT_EQ(over->reason_code, "request_ceiling_exceeded");
  EXPECT_EQ(over->effective.inherited_from, dept("research"));
  // deny by usage, within the cap: the usage window's deny, as before.
  auto usage = decision(l, ask("llm", 9, 3));
  EXPECT_EQ(usage->reason_code, "ceiling_exceeded");
  EXPECT_FALSE(usage->per_request);
  EXPECT_EQ(usage->effective.quantity, 10);
  // Both deny: the request cap is judged first.
  EXPECT_EQ(decision(l, ask("llm", 9, 5))->reason_code, "request_ceiling_exceeded");
  // Reservations of others never lower the cap; they still deny by capacity.
  l.ok(gpu_reservation("r1", project("vision"), 8));
  l.ok(TransitionReservation{"r1", "activate", "", "acme"});
  EXPECT_EQ(decision(l, ask("llm", 0, 3))->reason_code, "capacity_reserved");
  EXPECT_EQ(decision(l, ask("llm", 0, 5))->reason_code, "request_ceiling_exceeded");
  // A regional cap binds only requests in its region.
  l.ok(per_request(org("acme"), 2, "us-east"));
  auto east = ask("vision", 0, 3);
  east.request.region = "us-east";
  EXPECT_EQ(decision(l, east)->reason_code, "request_ceiling_exceeded");
  EXPECT_EQ(decision(l, east)->effective.quantity, 2);
  auto west = ask("vision", 0, 3);
  west.request.region = "eu-west";
  EXPECT_EQ(decision(l, west)->decision, "allow");
}

TEST(AdmissionRequestCeilings, ScopeWindowRequestIsJudgedByTheCapAlone) {
  Ledger l = acme();
  l.ok(ceiling(dept("research"), 10));
  auto in = ask("llm", 1000, 5);  // usage is never measured per request: ignored
  in.current_usage.scope_window = "request";
  auto none = decision(l, in);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->reason_code, "no_ceiling");
  EXPECT_FALSE(none->effective.quantity.has_value());
  l.ok(per_request(project("llm"), 8));
  auto within = decision(l, in);
  ASSERT_TRUE(within);
  EXPECT_EQ(within->decision, "allow");
  EXPECT_EQ(within->reason_code, "within_ceiling");
  EXPECT_TRUE(within->per_request);
  EXPECT_EQ(within->effective.quantity, 8);
  EXPECT_EQ(within->limit_remaining, 3);
  EXPECT_FALSE(within->available.has_value());
  in.request.requested_delta = 8;  // at the cap: allowed, never warned
  EXPECT_EQ(decision(l, in)->decision, "allow");
  in.request.requested_delta = 9;
  EXPECT_EQ(decision(l, in)->reason_code, "request_ceiling_exceeded");
  in.current_usage.scope_window = "fortnight";
  EXPECT_EQ(decision(l, in).error().code, "invalid_window");
}

TEST(AdmissionRequestCeilings, ReservationsNeverConsultTheCap) {
  Ledger l = acme();
  l.ok(ceiling(project("llm"), 10));
  l.ok(per_request(project("llm"), 2));
  l.ok(gpu_reservation("r1", project("llm"), 6));
  l.ok(TransitionReservation{"r1", "activate", "", "acme"});
  l.ok(ConsumeReservation{"r1", 5, "job", "acme"});
  EXPECT_EQ(l.model.reservation("acme", "r1")->consumed, 5);
}

// ------------------------------------------- property: model == brute force

// Random hierarchies, ceilings, delegations, moves and reservations: every
// effective ceiling and decision of the model equals the brute force over
// the accepted events (tests/support/admission_brute_force.h).
TEST(AdmissionProperty, EffectiveCeilingsAndDecisionsEqualABruteForceOverHistory) {
  EXPECT_TRUE(rc::check([](std::vector<std::tuple<int, int, int, int>> ops) {
    Ledger l = acme();
    const std::vector<QuotaScope> scopes = {kGlobal,          {QuotaLevel::kPlan, "pro"}, org("acme"),
                                            dept("research"), dept("acme.default"),       dept("lab"),
                                            project("llm"),   project("vision"),          project("misc")};
    const std::vector<std::string> depts = {"research", "acme.default", "lab"};
    l.ok(CreateDepartment{"lab", "acme", "", "Lab"});
    int reservations = 0;
    for (const auto& [kind, a, b, q] : ops) {
      const QuotaScope& s = scopes[static_cast<std::size_t>(std::abs(a)) % scopes.size()];
      const QuotaScope& p = scopes[6 + static_cast<std::size_t>(std::abs(b)) % 3];
      const std::int64_t quantity = std::abs(q) % 50;
      switch (std::abs(kind) % 11) {
        case 9:
          (void)l.run(per_request(s, quantity));
          break;
        case 10:
          (void)l.run(ClearCeiling{s, {"gpu.count", "request", "", ""}, "x"});
          break;
        case 0:
        case 1:
          (void)l.run(ceiling(s, quantity));
          break;
        case 2:
          (void)l.run(ClearCeiling{s, {"gpu.count", "", "", ""}, "x"});
          break;
        case 3:
          (void)l.run(
              DelegateCeiling{s, "gpu.count", b % 2 ? std::optional<std::int64_t>(quantity) : std::nullopt, "x"});
          break;
        case 4:
          (void)l.run(RevokeDelegation{s, "gpu.count", "x"});
          break;
        case 5:
          (void)l.run(MoveProject{p.id, depts[static_cast<std::size_t>(std::abs(q)) % 3]});
          break;
        case 6:
          (void)l.run(MoveDepartment{"lab", b % 2 ? "research" : ""});
          break;
        case 7: {
          const std::string id = "r" + std::to_string(++reservations);
          if (l.run(gpu_reservation(id, p, 1 + quantity % 10)))
            (void)l.run(TransitionReservation{id, "activate", "", "acme"});
          break;
        }
        case 8:
          (void)l.run(TransitionReservation{"r" + std::to_string(1 + std::abs(q) % std::max(1, reservations)),
                                            a % 2 ? "suspend" : "resume", "", "acme"});
          break;
      }
      // Sealed now and then, as the query service's store seals after each
      // batch: what a decision reads never depends on it (below).
      if (std::abs(q) % 3 == 0) l.model.seal();
    }
    // The views the model keeps (rebuilt on moves, not on reads) are what
    // the hierarchy says now.
    for (int i = 1; i <= reservations; ++i) {
      const auto* r = l.model.reservation("acme", "r" + std::to_string(i));
      if (!r) continue;
      std::vector<QuotaScope> owner_chain;
      for (const auto& c : l.model.chain(r->drafted.owner)) {
        if (c.scope.level != QuotaLevel::kPlan && c.scope.level != QuotaLevel::kGlobal) owner_chain.push_back(c.scope);
      }
      const ReservationView& v = l.model.view_of(*r);
      RC_ASSERT(v.owner_chain == owner_chain);
      RC_ASSERT(v.state == r->state);
      RC_ASSERT(v.consumed == r->consumed);
      RC_ASSERT(v.owner == r->drafted.owner);
    }
    // A decision reads the organization's views of its dimension, in id
    // order: exactly the reservations the model holds, as they are now.
    for (const char* p : {"llm", "vision", "misc"}) {
      const auto snap = l.model.snapshot_for(ask(p, 0, 1));
      std::vector<std::string> read, held;
      for (const auto& v : snap.reservations) {
        read.push_back(v->reservation_id);
        RC_ASSERT(v->state == l.model.reservation("acme", v->reservation_id)->state);
      }
      for (const auto& v : l.model.reservations_of("acme", "gpu.count")) held.push_back(v.reservation_id);
      RC_ASSERT(read == held);
      // Sealed, the same views, shared whole.
      AdmissionModel sealed = l.model;
      sealed.seal();
      RC_ASSERT(sealed.snapshot_for(ask(p, 0, 1)).reservations == snap.reservations);
      // Its one walk up the chain reads what chain(), rules_on() and
      // delegations_on() read scope by scope.
      const auto chain = l.model.chain(project(p));
      RC_ASSERT(snap.chain.size() == chain.size());
      for (std::size_t i = 0; i < chain.size(); ++i) {
        RC_ASSERT(snap.chain[i].scope == chain[i].scope);
        RC_ASSERT(snap.chain[i].version == chain[i].version);
      }
      RC_ASSERT(rules_of(snap) == l.model.rules_on(chain, "gpu.count"));
      RC_ASSERT(snap.delegations == l.model.delegations_on(chain, "gpu.count"));
      // A copy of the model holds rules and delegations of its own.
      const AdmissionModel copy = l.model;
      RC_ASSERT(copy.rules_on(chain, "gpu.count") == rules_of(snap));
      RC_ASSERT(copy.delegations_on(chain, "gpu.count") == snap.delegations);
    }
    // The count /metrics reads, kept by apply, is the rules the model holds.
    std::size_t rules_held = 0;
    for (const auto& s : scopes) {
      const ChainNode at{s, 0};
      rules_held += l.model.rules_on(std::span<const ChainNode>(&at, 1), "gpu.count").size();
    }
    RC_ASSERT(l.model.ceiling_rule_count() == rules_held);
    const auto unknown = l.model.snapshot_for(ask("ghost", 0, 1));
    RC_ASSERT(unknown.chain.empty());
    RC_ASSERT(unknown.rules.empty() && unknown.rule_refs.empty());
    RC_ASSERT(unknown.delegations.empty());
    std::vector<events::Event> history;
    for (const auto& [stream, ev] : l.history) history.push_back(ev);
    const testing::BruteForce bf(history, "gpu.count");
    for (const auto& s : scopes) {
      RC_ASSERT(effective_of(l, s).quantity.value_or(testing::BruteForce::kUnlimited) == bf.effective(s));
      RC_ASSERT(request_cap_of(l, s).quantity.value_or(testing::BruteForce::kUnlimited) == bf.request_cap(s));
    }
    for (const char* p : {"llm", "vision", "misc"}) {
      for (std::int64_t delta : {0, 1, 7, 25, 49}) {
        auto out = decision(l, ask(p, 0, delta));
        RC_ASSERT(out.has_value());
        RC_ASSERT(out->decision == bf.decide(project(p), 0, delta, kNow));
        RC_ASSERT(out->reason_code == bf.reason(project(p), 0, delta, kNow));
        const std::int64_t limit = out->per_request ? bf.request_cap(project(p)) : bf.effective(project(p));
        RC_ASSERT(out->effective.quantity.value_or(testing::BruteForce::kUnlimited) == limit);
      }
    }
    // A decision walks up the chain by the parent links each place keeps. A
    // copy keeps links of its own: moves made after the copy, in the
    // original only, reach the original's walks and not the copy's, and the
    // copy's walks outlive the original (under the sanitizers, a link into
    // it would be a use after free).
    auto original = std::make_unique<Ledger>(l);
    const AdmissionModel copy = original->model;
    for (const auto& [kind, a, b, q] : ops) {
      if (std::abs(kind) % 2 == 0) {
        (void)original->run(MoveProject{scopes[6 + static_cast<std::size_t>(std::abs(b)) % 3].id,
                                        depts[static_cast<std::size_t>(std::abs(q)) % 3]});
      } else {
        (void)original->run(MoveDepartment{"lab", a % 2 ? "research" : ""});
      }
    }
    auto walks_as_chain = [](const AdmissionModel& m, const char* p) {
      const auto snap = m.snapshot_for(ask(p, 0, 1));
      const auto chain = m.chain(project(p));
      if (snap.chain.size() != chain.size()) return false;
      for (std::size_t i = 0; i < chain.size(); ++i) {
        if (snap.chain[i].scope != chain[i].scope || snap.chain[i].version != chain[i].version) return false;
      }
      return rules_of(snap) == m.rules_on(chain, "gpu.count") &&
             snap.delegations == m.delegations_on(chain, "gpu.count");
    };
    for (const char* p : {"llm", "vision", "misc"}) RC_ASSERT(walks_as_chain(original->model, p));
    original.reset();
    for (const char* p : {"llm", "vision", "misc"}) {
      RC_ASSERT(walks_as_chain(copy, p));
      RC_ASSERT(walks_as_chain(l.model, p));
    }
  }));
}

// A sealed list's slots name owners by place id (ReservationSlot) and the
// snapshot names its chain the same way (DecisionSnapshot::chain_places):
// every decision read so equals the same decision read by name, over
// reservations owned anywhere in the organization (principals, projects,
// nested departments, the organization), in any state and window, with and
// without a region or SKU, through moves, in copies of the model and after
// moves made in the original only.
TEST(AdmissionProperty, ReservationSlotsDecideAsTheViewsDo) {
  std::size_t by_id_reserved = 0;  // decisions in which a slot held capacity for others
  EXPECT_TRUE(rc::check([&](std::vector<std::tuple<int, int, int, int>> ops) {
    Ledger l = acme();
    l.ok(CreateDepartment{"lab", "acme", "", "Lab"});
    l.ok(CreateDepartment{"cell", "acme", "lab", "Cell"});
    l.ok(CreateProject{"deep", "acme", "cell", "Deep"});
    l.ok(CreatePrincipal{"key1", "api_key", "llm", "key", std::nullopt});
    l.ok(ceiling(org("acme"), 400));
    const std::vector<QuotaScope> owners = {project("llm"),  project("vision"), project("misc"),
                                            project("deep"), dept("research"),  dept("lab"),
                                            dept("cell"),    org("acme"),       {QuotaLevel::kPrincipal, "key1"}};
    const std::vector<std::string> regions = {"", "eu", "us"};
    int reservations = 0;
    for (const auto& [kind, a, b, q] : ops) {
      const auto pick = [](int x, std::size_t n) { return static_cast<std::size_t>(std::abs(x)) % n; };
      switch (std::abs(kind) % 7) {
        case 0:
        case 1: {
          auto d = gpu_reservation("r" + std::to_string(++reservations), owners[pick(a, owners.size())],
                                   1 + std::abs(q) % 20);
          d.region = regions[pick(b, 3)];
          d.sku_or_model = b % 2 ? "h100" : "";
          const std::int64_t shift = (std::abs(q) % 3 - 1) * 2 * kDay;  // past, now, future
          d.window_start = Instant{d.window_start.micros + shift};
          d.window_end = Instant{d.window_end.micros + shift};
          if (l.run(d) && a % 3 != 0) (void)l.run(TransitionReservation{d.reservation_id, "activate", "", "acme"});
          break;
        }
        case 2: {
          const std::string id = "r" + std::to_string(1 + std::abs(q) % std::max(1, reservations));
          const char* action = std::array{"suspend", "resume", "retire"}[pick(b, 3)];
          (void)l.run(TransitionReservation{id, action, "", "acme"});
          break;
        }
        case 3:
          (void)l.run(ConsumeReservation{"r" + std::to_string(1 + std::abs(q) % std::max(1, reservations)),
                                         1 + std::abs(b) % 20, "job", "acme"});
          break;
        case 4:
          (void)l.run(MoveProject{owners[pick(a, 4)].id, std::array{"research", "lab", "cell"}[pick(b, 3)]});
          break;
        case 5:
          (void)l.run(MoveDepartment{"cell", a % 2 ? "research" : "lab"});
          break;
        case 6:
          (void)l.run(ceiling(owners[pick(a, owners.size() - 1)], 50 + std::abs(q) % 200));
          break;
      }
      if (std::abs(q) % 4 == 0) l.model.seal();
    }
    AdmissionModel sealed = l.model;
    sealed.seal();
    auto agree = [&](const AdmissionModel& m) {
      for (const char* p : {"llm", "vision", "misc", "deep"}) {
        for (const auto& region : regions) {
          for (const char* sku : {"", "h100", "a100"}) {
            for (const bool as_principal : {false, true}) {
              DecisionInput in = ask(p, 3, 1);
              in.request.region = region;
              in.request.sku_or_model = sku;
              if (as_principal) in.actor = {"api_key", "key1", {}, {}};
              const DecisionSnapshot snap = m.snapshot_for(in);
              RC_ASSERT(snap.chain_places.size == snap.chain.size());
              RC_ASSERT(snap.reservations.slots().size() == snap.reservations.size());
              DecisionSnapshot by_name = snap;
              by_name.chain_places.size = 0;
              const auto read_by_id = decide_admission(in, snap, kNow);
              const auto read_by_name = decide_admission(in, by_name, kNow);
              RC_ASSERT(read_by_id.has_value() == read_by_name.has_value());
              if (!read_by_id) continue;
              RC_ASSERT(*read_by_id == *read_by_name);
              if (read_by_id->reserved_for_others > 0) ++by_id_reserved;
            }
          }
        }
      }
    };
    agree(sealed);
    // A copy keeps the ids; moves made in the original only (after which it
    // is sealed again) leave the copy's answers its own.
    auto original = std::make_unique<AdmissionModel>(sealed);
    const AdmissionModel copy = *original;
    Ledger moved = l;
    (void)moved.run(MoveDepartment{"cell", "research"});
    (void)moved.run(MoveProject{"llm", "lab"});
    moved.model.seal();
    agree(moved.model);
    original.reset();
    agree(copy);
  }));
  EXPECT_GT(by_id_reserved, 0u);  // the slots were read, not only made
}

}  // namespace
}  // namespace ledger::domain
