// projections::AdmissionStore (the query service's in-memory read models)
// and projections::PolicyValuesModel without servers: positions (skip what
// is applied, refuse a gap), snapshots that never change under a reader
// while the apply loop publishes, and the policy-value candidates a chain
// sees; the snapshot reader over it.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "projections/admission/admission_store.h"
#include "projections/admission/snapshot_reader.h"
#include "projections/policy_values/policy_values_store.h"

namespace ledger::projections {
namespace {

using events::ScopeLevel;

events::Envelope value_set(std::int64_t position, ScopeLevel level, const std::string& id, std::int64_t v,
                           const std::string& tenant = "platform") {
  events::Envelope e;
  e.meta.global_position = events::GlobalPosition{position};
  e.meta.stream_id = "policy-key:k";
  e.meta.tenant = tenant;
  events::PolicyValueSet s;
  s.key = "k";
  s.scope = {level, id};
  s.after = events::PolicyValue{v};
  s.effective_at = events::Instant{1000};
  e.event = s;
  return e;
}

events::Envelope key_defined(std::int64_t position, const std::string& key) {
  events::Envelope e;
  e.meta.global_position = events::GlobalPosition{position};
  e.meta.stream_id = "policy-key:" + key;
  e.meta.tenant = "platform";
  events::PolicyKeyDefined d;
  d.key = key;
  d.default_value = events::PolicyValue{std::int64_t{7}};
  e.event = d;
  return e;
}

TEST(AdmissionStore, AppliesInOrderSkipsWhatItHasAndRefusesAGap) {
  AdmissionStore store;
  EXPECT_EQ(store.position(), events::GlobalPosition{0});
  EXPECT_FALSE(store.ready());
  std::vector<events::Envelope> first = {key_defined(1, "k"), value_set(2, ScopeLevel::kGlobal, "", 1)};
  ASSERT_TRUE(store.apply(std::span<const events::Envelope>(first)).has_value());
  EXPECT_EQ(store.position(), events::GlobalPosition{2});
  EXPECT_EQ(store.snapshot()->position, events::GlobalPosition{2});
  // A repeat is skipped; a gap is refused and changes nothing.
  ASSERT_TRUE(store.apply(std::span<const events::Envelope>(first)).has_value());
  std::vector<events::Envelope> gap = {value_set(4, ScopeLevel::kGlobal, "", 3)};
  auto refused = store.apply(std::span<const events::Envelope>(gap));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, "position_gap");
  EXPECT_EQ(store.position(), events::GlobalPosition{2});
  EXPECT_EQ(store.snapshot()->policy.value_count(), 1u);
  // Both copies carry every batch: the next publications still hold the first.
  for (std::int64_t p = 3; p <= 5; ++p) {
    std::vector<events::Envelope> one = {value_set(p, ScopeLevel::kGlobal, "", p)};
    ASSERT_TRUE(store.apply(std::span<const events::Envelope>(one)).has_value());
    auto snap = store.snapshot();
    EXPECT_EQ(snap->position, events::GlobalPosition{p});
    EXPECT_EQ(snap->policy.value_count(), static_cast<std::size_t>(p - 1));
    ASSERT_NE(snap->policy.key("k"), nullptr);
  }
}

TEST(AdmissionStore, ReadersSeeOneConsistentPositionWhileTheApplyLoopPublishes) {
  AdmissionStore store;
  std::vector<events::Envelope> start = {key_defined(1, "k")};
  ASSERT_TRUE(store.apply(std::span<const events::Envelope>(start)).has_value());
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::atomic<long> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      events::GlobalPosition last;
      while (!done) {
        auto snap = store.snapshot();
        // Every event after the first sets one value: a snapshot holds exactly
        // position - 1 of them, and positions never go back.
        const events::GlobalPosition pos = snap->position;
        const auto values = static_cast<std::int64_t>(snap->policy.value_count());
        if (values != pos.value - 1 || pos < last) ++bad;
        std::this_thread::yield();
        // Never changes under us while we hold it.
        if (static_cast<std::int64_t>(snap->policy.value_count()) != values || snap->position != pos) ++bad;
        last = pos;
        ++reads;
      }
    });
  }
  // Both readers are reading before the loop publishes (no timing luck).
  while (reads.load() < 2) std::this_thread::yield();
  std::int64_t position = 1;
  for (int batch = 0; batch < 1000; ++batch) {
    std::vector<events::Envelope> evs;
    for (int i = 0; i < 3; ++i) {
      ++position;
      evs.push_back(value_set(position, ScopeLevel::kGlobal, "", position));
    }
    ASSERT_TRUE(store.apply(std::span<const events::Envelope>(evs)).has_value());
  }
  done = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(store.snapshot()->policy.value_count(), 3000u);
}

TEST(AdmissionStore, AdvanceIsReportedAfterPublishing) {
  AdmissionStore store;
  std::vector<events::GlobalPosition> seen;
  store.set_on_advance([&](events::GlobalPosition p) {
    seen.push_back(p);
    EXPECT_EQ(store.snapshot()->position, p);
  });
  std::vector<events::Envelope> evs = {key_defined(1, "k"), key_defined(2, "j")};
  ASSERT_TRUE(store.apply(std::span<const events::Envelope>(evs)).has_value());
  ASSERT_TRUE(store.apply(std::span<const events::Envelope>(evs)).has_value());  // nothing new: no advance
  EXPECT_EQ(seen, std::vector<events::GlobalPosition>{events::GlobalPosition{2}});
}

TEST(PolicyValuesModel, CandidatesAreTheChainsScopesWithTenantBoundUsersAndProjects) {
  PolicyValuesModel m;
  m.apply(key_defined(1, "k"));
  m.apply(value_set(2, ScopeLevel::kUser, "alice", 1, "acme"));
  m.apply(value_set(3, ScopeLevel::kUser, "alice", 2, "globex"));  // another organization's alice
  m.apply(value_set(4, ScopeLevel::kProject, "p1", 3, "platform"));
  m.apply(value_set(5, ScopeLevel::kOrganization, "acme", 4, "acme"));
  m.apply(value_set(6, ScopeLevel::kPlan, "pro", 5));
  m.apply(value_set(7, ScopeLevel::kGlobal, "", 6));
  m.apply(value_set(8, ScopeLevel::kOrganization, "globex", 7, "globex"));
  const auto c = m.candidates("k", {"alice", "p1", "acme", "pro"});
  std::vector<std::int64_t> positions;
  for (const auto& x : c) positions.push_back(x.position);
  EXPECT_EQ(positions, (std::vector<std::int64_t>{2, 4, 5, 6, 7}));
  EXPECT_TRUE(m.candidates("other", {"alice", "p1", "acme", "pro"}).empty());
  ASSERT_NE(m.key("k"), nullptr);
  EXPECT_EQ(m.key("nope"), nullptr);
  m.apply(key_defined(9, "k.two"));
  EXPECT_EQ(m.key_names("k."), std::vector<std::string>{"k.two"});
}

// The snapshot reader is the in-memory implementation of the read models'
// ports: it answers at its snapshot's position, keeps that snapshot while
// the store moves on, and refuses to pretend it holds any other position.
TEST(SnapshotReader, AnswersAtItsSnapshotsPositionOnlyAndKeepsItWhileTheStoreMovesOn) {
  AdmissionStore store;
  std::vector<events::Envelope> first = {key_defined(1, "rate_limit.a"), key_defined(2, "rate_limit.b"),
                                         key_defined(3, "quota.x"), value_set(4, ScopeLevel::kGlobal, "", 1)};
  ASSERT_TRUE(store.apply(std::span<const events::Envelope>(first)).has_value());
  SnapshotReader reader(store.snapshot());

  std::vector<events::Envelope> later = {key_defined(5, "rate_limit.c"), value_set(6, ScopeLevel::kGlobal, "", 9)};
  ASSERT_TRUE(store.apply(std::span<const events::Envelope>(later)).has_value());
  ASSERT_EQ(store.position(), events::GlobalPosition{6});

  EXPECT_EQ(reader.checkpoint().value(), events::GlobalPosition{4});
  EXPECT_EQ(reader.key_names("rate_limit.", std::nullopt).value(),
            (std::vector<std::string>{"rate_limit.a", "rate_limit.b"}));
  auto k = reader.policy_snapshot("k", {}, events::GlobalPosition{4});  // its own position, named
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->snapshot_version, 4);
  EXPECT_FALSE(k->key.has_value());  // "k" was never defined
  auto a = reader.policy_snapshot("rate_limit.a", {}, std::nullopt);
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(a->key.has_value());
  EXPECT_EQ(a->key->key, "rate_limit.a");

  for (std::int64_t n : {3, 5, 6}) {
    const events::GlobalPosition other{n};
    auto past = reader.key_names("rate_limit.", other);
    ASSERT_FALSE(past.has_value()) << n;
    EXPECT_EQ(past.error().kind, domain::ErrorKind::kInternal);
    EXPECT_FALSE(reader.policy_snapshot("rate_limit.a", {}, other).has_value());
    EXPECT_FALSE(reader.effective_ceilings({events::QuotaLevel::kGlobal, ""}, std::nullopt, other).has_value());
    EXPECT_FALSE(reader.reservation("acme", "r1", other).has_value());
  }
  // A reader of the newer snapshot sees the newer key; the first still does not.
  SnapshotReader newer(store.snapshot());
  EXPECT_EQ(newer.key_names("rate_limit.", events::GlobalPosition{6}).value().size(), 3U);
  EXPECT_EQ(reader.key_names("rate_limit.", std::nullopt).value().size(), 2U);
  auto none = reader.reservation("acme", "r1", std::nullopt);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->snapshot_version, 4);
  EXPECT_FALSE(none->reservation.has_value());
}

}  // namespace
}  // namespace ledger::projections
