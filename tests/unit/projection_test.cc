// The policy-values projection and the projection runner (projections/):
// rows per event, exactly-once application, and rebuild == live.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "adapters/memory/event_store.h"
#include "events/codec/json_codec.h"
#include "projections/policy_values/policy_values_projection.h"

namespace ledger::projections {
namespace {

using adapters::memory::InMemoryReadModelStore;
using events::Instant;
using events::PolicyKeyDefined;
using events::PolicyScope;
using events::PolicyValue;
using events::PolicyValueSet;
using events::RecordedEvent;
using events::ScopeLevel;

constexpr std::int64_t kT0 = 1'780'272'000'000'000;  // 2026-06-01T00:00:00Z

PolicyKeyDefined window_seconds() {
  PolicyKeyDefined d;
  d.key = "billing.window_seconds";
  d.value_type = events::ValueType::kInt;
  d.default_value = PolicyValue{std::int64_t{60}};
  d.min = 1;
  d.max = 3600;
  d.description = "Billing accrual interval";
  return d;
}

PolicyKeyDefined isolation_model() {
  PolicyKeyDefined d;
  d.key = "allocation.isolation_model";
  d.value_type = events::ValueType::kString;
  d.default_value = PolicyValue{std::string("user-revoke")};
  d.allowed = {"user-revoke", "full-reimage"};
  return d;
}

PolicyValueSet window_set(PolicyScope scope, std::int64_t before, std::int64_t after, std::int64_t effective) {
  return PolicyValueSet{"billing.window_seconds", std::move(scope),   PolicyValue{before}, events::BeforeSource::kScope,
                        PolicyValue{after},       Instant{effective}, "customer request"};
}

events::EventMeta meta_at(std::int64_t position, const events::Event& e) {
  events::EventMeta m;
  m.global_position = events::GlobalPosition{position};
  m.stream_id = std::visit(
      [](const auto& x) -> std::string {
        if constexpr (requires { x.key; })
          return "policy-key:" + x.key;
        else
          return "other";
      },
      e);
  m.stream_version = events::StreamVersion{position};  // good enough for the projection, which ignores it
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012lld", static_cast<long long>(position));
  m.event_id = id;
  m.occurred_at = Instant{kT0 + position};
  m.recorded_at = Instant{kT0 + position + 7};
  m.actor = {"user", "alice", {"platform_admin"}};
  m.tenant = "platform";
  m.command_id = "cmd-" + std::to_string(position);
  return m;
}

// Seals events into a chain at positions 1..N.
std::vector<RecordedEvent> history(const std::vector<events::Event>& evs) {
  std::vector<RecordedEvent> out;
  std::string prev = events::kGenesisHash;
  for (std::size_t i = 0; i < evs.size(); ++i) {
    out.push_back(codec::record(meta_at(static_cast<std::int64_t>(i + 1), evs[i]), evs[i], prev));
    prev = out.back().hash;
  }
  return out;
}

events::Envelope envelope(std::int64_t position, const events::Event& e) { return {meta_at(position, e), e}; }

std::vector<RecordedEvent> slice(const std::vector<RecordedEvent>& h, std::size_t from, std::size_t to) {
  return {h.begin() + static_cast<std::ptrdiff_t>(from), h.begin() + static_cast<std::ptrdiff_t>(to)};
}

std::string evidence(const domain::Error& e, const std::string& key) {
  for (const auto& [k, v] : e.evidence_texts()) {
    if (k == key) return v;
  }
  return "<none>";
}

// ---------------------------------------------------------------------------
// PolicyValuesProjection (pure)

TEST(PolicyValuesProjection, KeyDefinedBecomesAPolicyKeysRow) {
  PolicyValuesProjection p;
  EXPECT_EQ(p.name(), "policy_values");
  auto ops = p.apply(envelope(1, window_seconds()));
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0], (RowOp{"policy_keys",
                           {{"key", "billing.window_seconds"}},
                           {{"value_type", "int"},
                            {"default_value", "60"},
                            {"min_value", "1"},
                            {"max_value", "3600"},
                            {"allowed", "[]"},
                            {"description", "Billing accrual interval"},
                            {"position", "1"}},
                           false}));
}

TEST(PolicyValuesProjection, StringKeyRowHasEnumAndNoBounds) {
  PolicyValuesProjection p;
  auto ops = p.apply(envelope(4, isolation_model()));
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0], (RowOp{"policy_keys",
                           {{"key", "allocation.isolation_model"}},
                           {{"value_type", "string"},
                            {"default_value", "\"user-revoke\""},
                            {"min_value", std::nullopt},
                            {"max_value", std::nullopt},
                            {"allowed", R"(["user-revoke","full-reimage"])"},
                            {"description", ""},
                            {"position", "4"}},
                           false}));
}

TEST(PolicyValuesProjection, ValueSetBecomesAPolicyValuesRowKeyedByPosition) {
  PolicyValuesProjection p;
  auto ops = p.apply(envelope(2, window_set({ScopeLevel::kOrganization, "org-1"}, 60, 120, kT0)));
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0], (RowOp{"policy_values",
                           {{"key", "billing.window_seconds"},
                            {"scope_level", "organization"},
                            {"scope_id", "org-1"},
                            {"position", "2"}},
                           {{"value", "120"},
                            {"effective_at", "2026-06-01T00:00:00.000000Z"},
                            {"event_id", "00000000-0000-4000-8000-000000000002"},
                            {"actor_id", "alice"},
                            {"reason", "customer request"},
                            {"recorded_at", "2026-06-01T00:00:00.000009Z"},
                            {"tenant", "platform"}},
                           false}));
}

TEST(PolicyValuesProjection, EveryScopeLevelAndValueTypeIsWritten) {
  PolicyValuesProjection p;
  const std::vector<std::pair<PolicyScope, std::string>> levels = {{{ScopeLevel::kUser, "u-1"}, "user"},
                                                                   {{ScopeLevel::kProject, "p-1"}, "project"},
                                                                   {{ScopeLevel::kOrganization, "o-1"}, "organization"},
                                                                   {{ScopeLevel::kPlan, "pro"}, "plan"},
                                                                   {{ScopeLevel::kGlobal, ""}, "global"}};
  for (const auto& [scope, name] : levels) {
    auto ops = p.apply(envelope(9, window_set(scope, 60, 30, kT0)));
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0].key[1], (std::pair<std::string, Cell>{"scope_level", name}));
    EXPECT_EQ(ops[0].key[2], (std::pair<std::string, Cell>{"scope_id", scope.id}));
  }
  PolicyValueSet s{"allocation.isolation_model",
                   {ScopeLevel::kGlobal, ""},
                   PolicyValue{std::string("user-revoke")},
                   events::BeforeSource::kDefault,
                   PolicyValue{std::string("full-reimage")},
                   Instant{kT0},
                   "r"};
  EXPECT_EQ(p.apply(envelope(3, s))[0].values[0], (std::pair<std::string, Cell>{"value", "\"full-reimage\""}));
  PolicyValueSet b{"maas.enabled",
                   {ScopeLevel::kGlobal, ""},
                   PolicyValue{false},
                   events::BeforeSource::kDefault,
                   PolicyValue{true},
                   Instant{kT0},
                   "r"};
  EXPECT_EQ(p.apply(envelope(3, b))[0].values[0], (std::pair<std::string, Cell>{"value", "true"}));
}

TEST(PolicyValuesProjection, SameEnvelopeAlwaysGivesSameRows) {
  PolicyValuesProjection p;
  auto e = envelope(2, window_set({ScopeLevel::kUser, "u-1"}, 60, 120, kT0));
  EXPECT_EQ(p.apply(e), p.apply(e));
}

// ---------------------------------------------------------------------------
// ProjectionRunner over the in-memory read-model store

std::vector<events::Event> sample_events() {
  return {window_seconds(),
          window_set({ScopeLevel::kOrganization, "org-1"}, 60, 120, kT0),
          window_set({ScopeLevel::kOrganization, "org-1"}, 120, 180, kT0 + 10),
          isolation_model(),
          window_set({ScopeLevel::kUser, "u-1"}, 60, 30, kT0 + 20),
          window_set({ScopeLevel::kGlobal, ""}, 60, 90, kT0 + 30)};
}

TEST(ProjectionRunner, AppliesABatchAndAdvancesTheCheckpoint) {
  auto h = history(sample_events());
  PolicyValuesProjection p;
  InMemoryReadModelStore store;
  ProjectionRunner runner(p, store);
  EXPECT_EQ(runner.checkpoint().value(), events::GlobalPosition{0});

  auto stats = runner.apply(slice(h, 0, 3));
  ASSERT_TRUE(stats.has_value()) << stats.error().code;
  EXPECT_EQ(stats->applied, 3u);
  EXPECT_EQ(stats->skipped, 0u);
  EXPECT_EQ(stats->checkpoint, events::GlobalPosition{3});
  EXPECT_EQ(runner.checkpoint().value(), events::GlobalPosition{3});
  EXPECT_EQ(store.checkpoint("policy_values").value(), events::GlobalPosition{3});

  auto tables = store.tables();
  EXPECT_EQ(tables["policy_keys"].size(), 1u);
  EXPECT_EQ(tables["policy_values"].size(), 2u);  // two sets at one scope are two rows

  stats = runner.apply(slice(h, 3, 6));
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->applied, 3u);
  EXPECT_EQ(stats->checkpoint, events::GlobalPosition{6});
  tables = store.tables();
  EXPECT_EQ(tables["policy_keys"].size(), 2u);
  EXPECT_EQ(tables["policy_values"].size(), 4u);
}

TEST(ProjectionRunner, SkipsDuplicates) {
  auto h = history(sample_events());
  PolicyValuesProjection p;
  InMemoryReadModelStore store;
  ProjectionRunner runner(p, store);
  ASSERT_TRUE(runner.apply(h).has_value());
  const auto before = store.tables();

  auto again = runner.apply(h);
  ASSERT_TRUE(again.has_value()) << again.error().code;
  EXPECT_EQ(again->applied, 0u);
  EXPECT_EQ(again->skipped, h.size());
  EXPECT_EQ(again->checkpoint, events::GlobalPosition{6});
  EXPECT_EQ(store.tables(), before);
  EXPECT_EQ(store.checkpoint("policy_values").value(), events::GlobalPosition{6});
}

TEST(ProjectionRunner, OverlappingBatchAppliesOnlyTheNewEvents) {
  auto h = history(sample_events());
  PolicyValuesProjection p;
  InMemoryReadModelStore store;
  ProjectionRunner runner(p, store);
  ASSERT_TRUE(runner.apply(slice(h, 0, 4)).has_value());
  auto stats = runner.apply(slice(h, 1, 6));
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->skipped, 3u);
  EXPECT_EQ(stats->applied, 2u);
  EXPECT_EQ(stats->checkpoint, events::GlobalPosition{6});
}

TEST(ProjectionRunner, RefusesAGapAndWritesNothing) {
  auto h = history(sample_events());
  PolicyValuesProjection p;
  InMemoryReadModelStore store;
  ProjectionRunner runner(p, store);
  ASSERT_TRUE(runner.apply(slice(h, 0, 3)).has_value());
  const auto before = store.tables();

  // Position 4 is missing.
  auto gap = runner.apply(slice(h, 4, 6));
  ASSERT_FALSE(gap.has_value());
  EXPECT_EQ(gap.error().code, "position_gap");
  EXPECT_EQ(evidence(gap.error(), "checkpoint"), "3");
  EXPECT_EQ(evidence(gap.error(), "position"), "5");
  EXPECT_EQ(evidence(gap.error(), "projection"), "policy_values");
  EXPECT_EQ(store.tables(), before);
  EXPECT_EQ(store.checkpoint("policy_values").value(), events::GlobalPosition{3});

  // A gap inside a batch: the events before it are not written either.
  std::vector<RecordedEvent> holey = {h[3], h[5]};
  auto inner = runner.apply(holey);
  ASSERT_FALSE(inner.has_value());
  EXPECT_EQ(inner.error().code, "position_gap");
  EXPECT_EQ(evidence(inner.error(), "checkpoint"), "4");
  EXPECT_EQ(evidence(inner.error(), "position"), "6");
  EXPECT_EQ(store.tables(), before);
  EXPECT_EQ(store.checkpoint("policy_values").value(), events::GlobalPosition{3});
  EXPECT_EQ(runner.checkpoint().value(), events::GlobalPosition{3});

  // The missing event arrives: all is well.
  auto ok = runner.apply(slice(h, 3, 6));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->checkpoint, events::GlobalPosition{6});
}

TEST(ProjectionRunner, RefusesAFirstBatchThatDoesNotStartAtOne) {
  auto h = history(sample_events());
  PolicyValuesProjection p;
  InMemoryReadModelStore store;
  ProjectionRunner runner(p, store);
  auto r = runner.apply(slice(h, 1, 6));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "position_gap");
  EXPECT_TRUE(store.tables().empty());
}

TEST(ProjectionRunner, EmptyBatchChangesNothing) {
  PolicyValuesProjection p;
  InMemoryReadModelStore store;
  ProjectionRunner runner(p, store);
  auto r = runner.apply({});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->applied, 0u);
  EXPECT_EQ(r->checkpoint, events::GlobalPosition{0});
  EXPECT_TRUE(store.tables().empty());
}

TEST(ProjectionRunner, ARestartedRunnerResumesFromTheStoredCheckpoint) {
  auto h = history(sample_events());
  PolicyValuesProjection p;
  InMemoryReadModelStore store;
  {
    ProjectionRunner first(p, store);
    ASSERT_TRUE(first.apply(slice(h, 0, 4)).has_value());
  }
  ProjectionRunner second(p, store);
  EXPECT_EQ(second.checkpoint().value(), events::GlobalPosition{4});
  auto r = second.apply(h);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->skipped, 4u);
  EXPECT_EQ(r->applied, 2u);
}

TEST(ProjectionRunner, LosesARaceWithAnotherInstanceWithoutDoubleWriting) {
  auto h = history(sample_events());
  PolicyValuesProjection p;
  InMemoryReadModelStore store;
  ProjectionRunner a(p, store), b(p, store);
  ASSERT_EQ(b.checkpoint().value(), events::GlobalPosition{0});  // b read the checkpoint before a moved it
  ASSERT_TRUE(a.apply(slice(h, 0, 3)).has_value());
  const auto after_a = store.tables();

  auto lost = b.apply(slice(h, 0, 3));
  ASSERT_FALSE(lost.has_value());
  EXPECT_EQ(lost.error().code, "checkpoint_moved");
  EXPECT_EQ(lost.error().kind, domain::ErrorKind::kAborted);
  EXPECT_EQ(store.tables(), after_a);

  auto retry = b.apply(slice(h, 0, 4));  // b re-reads the checkpoint
  ASSERT_TRUE(retry.has_value()) << retry.error().code;
  EXPECT_EQ(retry->skipped, 3u);
  EXPECT_EQ(retry->applied, 1u);
  EXPECT_EQ(store.checkpoint("policy_values").value(), events::GlobalPosition{4});
}

TEST(ProjectionRunner, RefusesAnUndecodableEventAndWritesNothing) {
  auto h = history(sample_events());
  h[1].payload = R"({"key":"billing.window_seconds"})";  // fields missing
  PolicyValuesProjection p;
  InMemoryReadModelStore store;
  ProjectionRunner runner(p, store);
  auto r = runner.apply(slice(h, 0, 3));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "undecodable_event");
  EXPECT_EQ(evidence(r.error(), "position"), "2");
  EXPECT_TRUE(store.tables().empty());
  EXPECT_EQ(store.checkpoint("policy_values").value(), events::GlobalPosition{0});
}

// ---------------------------------------------------------------------------
// Property: rebuild == live. Any split of the history into batches, even
// with re-sent (overlapping) batches, yields the tables of one big batch.

rc::Gen<events::Event> value_set_event() {
  return rc::gen::exec([]() -> events::Event {
    const auto level = static_cast<ScopeLevel>(*rc::gen::inRange(0, 5));
    std::string id = level == ScopeLevel::kGlobal ? "" : *rc::gen::elementOf(std::vector<std::string>{"a", "b", "c"});
    const bool on_window = *rc::gen::arbitrary<bool>();
    PolicyValue after = on_window
                            ? PolicyValue{*rc::gen::inRange<std::int64_t>(1, 3601)}
                            : PolicyValue{*rc::gen::elementOf(std::vector<std::string>{"user-revoke", "full-reimage"})};
    PolicyValue before = on_window ? PolicyValue{std::int64_t{60}} : PolicyValue{std::string("user-revoke")};
    return PolicyValueSet{
        on_window ? "billing.window_seconds" : "allocation.isolation_model",
        {level, std::move(id)},
        before,
        *rc::gen::arbitrary<bool>() ? events::BeforeSource::kDefault : events::BeforeSource::kScope,
        after,
        Instant{kT0 + *rc::gen::inRange<std::int64_t>(-1000, 1000)},
        *rc::gen::elementOf(std::vector<std::string>{"customer request", "", "incident \xe2\x84\x96 7",
                                                     "quote \" and \\ backslash", "\xf0\x9f\x98\x80"})};
  });
}

RC_GTEST_PROP(ProjectionRunner, RebuildEqualsLive, ()) {
  std::vector<events::Event> evs = {window_seconds(), isolation_model()};
  const auto more = *rc::gen::container<std::vector<events::Event>>(value_set_event());
  evs.insert(evs.end(), more.begin(), more.end());
  const auto h = history(evs);
  PolicyValuesProjection p;

  InMemoryReadModelStore rebuilt;
  ProjectionRunner all_at_once(p, rebuilt);
  RC_ASSERT(all_at_once.apply(h).has_value());

  InMemoryReadModelStore live;
  std::optional<ProjectionRunner> runner;
  runner.emplace(p, live);
  std::size_t next = 0;  // first position not yet applied, 0-based
  while (next < h.size()) {
    // Re-send up to 3 already-applied events, then up to 5 new ones.
    const std::size_t back = *rc::gen::inRange<std::size_t>(0, std::min<std::size_t>(next, 3) + 1);
    const std::size_t len = *rc::gen::inRange<std::size_t>(1, 6);
    const std::size_t from = next - back, to = std::min(h.size(), next + len);
    auto stats = runner->apply(slice(h, from, to));
    RC_ASSERT(stats.has_value());
    RC_ASSERT(stats->skipped == back);
    RC_ASSERT(stats->applied == to - next);
    RC_ASSERT(stats->checkpoint.value == static_cast<std::int64_t>(to));
    // Sometimes the runner restarts and a new one picks up the checkpoint.
    if (*rc::gen::inRange(0, 4) == 0) runner.emplace(p, live);
    next = to;
  }
  RC_ASSERT(live.tables() == rebuilt.tables());
  RC_ASSERT(live.checkpoint("policy_values").value() == rebuilt.checkpoint("policy_values").value());
  RC_ASSERT(rebuilt.checkpoint("policy_values").value().value == static_cast<std::int64_t>(h.size()));
}

}  // namespace
}  // namespace ledger::projections
