// Schema evolution (events/policy_events.h): PolicyValueSet v1 is upcast to
// v2 on read, never rewritten; a history holding both versions projects to
// exactly the read models an all-v2 history does.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "adapters/memory/event_store.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"
#include "projections/audit/audit_projection.h"
#include "projections/policy_values/policy_values_projection.h"

namespace ledger {
namespace {

using events::BeforeSource;
using events::Instant;
using events::PolicyKeyDefined;
using events::PolicyScope;
using events::PolicyValue;
using events::PolicyValueSet;
using events::RecordedEvent;
using events::ScopeLevel;
using Json = nlohmann::json;

constexpr std::int64_t kT0 = 1'780'272'000'000'000;  // 2026-06-01T00:00:00Z

Json v1_payload(const PolicyValueSet& e) {
  // The v1 shape, written out by hand as the v1 codec wrote it.
  return {{"key", e.key},
          {"scope", {{"level", codec::scope_level_name(e.scope.level)}, {"id", e.scope.id}}},
          {"before", codec::encode_value(e.before)},
          {"before_was_default", e.before_source == BeforeSource::kDefault},
          {"after", codec::encode_value(e.after)},
          {"effective_at", codec::format_instant(e.effective_at)},
          {"reason", e.reason}};
}

PolicyValueSet sample(BeforeSource source) {
  return PolicyValueSet{"allocation.refund_window_days", {ScopeLevel::kProject, "p-9"},
                        PolicyValue{std::int64_t{30}},   source,
                        PolicyValue{std::int64_t{45}},   Instant{kT0},
                        "Customer success request"};
}

TEST(Upcast, V1BeforeWasDefaultBecomesBeforeSource) {
  for (auto source : {BeforeSource::kDefault, BeforeSource::kScope}) {
    auto ev = codec::decode_payload("PolicyValueSet", 1, v1_payload(sample(source)));
    ASSERT_TRUE(ev.has_value()) << ev.error();
    EXPECT_EQ(std::get<PolicyValueSet>(*ev), sample(source));
    EXPECT_EQ(events::schema_version(*ev), 2);
  }
}

TEST(Upcast, CodecWritesV2Only) {
  const auto payload = codec::encode_payload(sample(BeforeSource::kScope));
  EXPECT_EQ(payload["before_source"], "scope");
  EXPECT_FALSE(payload.contains("before_was_default"));
  auto r = codec::record({}, sample(BeforeSource::kScope), events::kGenesisHash);
  EXPECT_EQ(r.event_type, "PolicyValueSet");
  EXPECT_EQ(r.schema_version, 2);
  auto back = codec::decode_payload("PolicyValueSet", 2, payload);
  ASSERT_TRUE(back.has_value()) << back.error();
  EXPECT_EQ(std::get<PolicyValueSet>(*back), sample(BeforeSource::kScope));
}

TEST(Upcast, EachVersionRefusesTheOtherShapeAndBadValues) {
  const auto v1 = v1_payload(sample(BeforeSource::kDefault));
  const auto v2 = codec::encode_payload(sample(BeforeSource::kDefault));
  auto e = codec::decode_payload("PolicyValueSet", 2, v1);  // v1 shape labelled v2
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().find("before_source"), std::string::npos) << e.error();
  e = codec::decode_payload("PolicyValueSet", 1, v2);  // v2 shape labelled v1
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().find("before_was_default"), std::string::npos) << e.error();

  auto bad = v2;
  bad["before_source"] = "plan";  // not a source this version knows
  EXPECT_FALSE(codec::decode_payload("PolicyValueSet", 2, bad).has_value());
  bad["before_source"] = true;
  EXPECT_FALSE(codec::decode_payload("PolicyValueSet", 2, bad).has_value());
  auto bad1 = v1;
  bad1["before_was_default"] = "yes";
  e = codec::decode_payload("PolicyValueSet", 1, bad1);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().find("before_was_default"), std::string::npos);
  EXPECT_FALSE(codec::decode_payload("PolicyValueSet", 3, v2).has_value());
}

events::EventMeta meta_at(std::int64_t position, const std::string& key) {
  events::EventMeta m;
  m.global_position = events::GlobalPosition{position};
  m.stream_id = "policy-key:" + key;
  m.stream_version = events::StreamVersion{position};
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012lld", static_cast<long long>(position));
  m.event_id = id;
  m.occurred_at = Instant{kT0 + position};
  m.recorded_at = Instant{kT0 + position + 3};
  m.actor = {"user", "alice", {"platform_admin"}};
  m.tenant = "platform";
  m.command_id = "cmd-" + std::to_string(position);
  return m;
}

// A v1 event as the old writer sealed it: v1 payload text, schema_version 1,
// hash over exactly that.
RecordedEvent record_v1(events::EventMeta meta, const PolicyValueSet& e, std::string prev_hash) {
  RecordedEvent r;
  r.meta = std::move(meta);
  r.event_type = "PolicyValueSet";
  r.schema_version = 1;
  r.payload = codec::canonical_payload(v1_payload(e));
  r.prev_hash = std::move(prev_hash);
  r.hash = codec::compute_hash(r);
  return r;
}

TEST(Upcast, RecordedV1EventKeepsItsPayloadAndHashAndDecodesAsV2) {
  const auto e = sample(BeforeSource::kDefault);
  const auto r = record_v1(meta_at(7, e.key), e, events::kGenesisHash);
  EXPECT_NE(r.payload.find("\"before_was_default\":true"), std::string::npos);
  auto env = codec::decode(r);
  ASSERT_TRUE(env.has_value()) << env.error();
  EXPECT_EQ(std::get<PolicyValueSet>(env->event), e);
  EXPECT_EQ(env->meta, r.meta);
  // Reading never rewrites: the chain still verifies over the v1 payload,
  // and an export round trip keeps version 1 and the v1 text.
  EXPECT_EQ(codec::compute_hash(r), r.hash);
  auto back = codec::recorded_from_text(codec::to_json_text(r));
  ASSERT_TRUE(back.has_value()) << back.error();
  EXPECT_EQ(*back, r);
  EXPECT_EQ(back->schema_version, 1);
  EXPECT_EQ(codec::compute_hash(*back), r.hash);
}

// ---------------------------------------------------------------------------
// Mixed histories project like all-v2 ones.

using Tables = std::map<std::string, adapters::memory::InMemoryReadModelStore::Table>;

// Seals `evs` at positions 1..N; value sets whose index is in `as_v1` are
// written in the v1 shape.
std::vector<RecordedEvent> history(const std::vector<events::Event>& evs, const std::vector<bool>& as_v1) {
  std::vector<RecordedEvent> out;
  std::string prev = events::kGenesisHash;
  for (std::size_t i = 0; i < evs.size(); ++i) {
    const auto pos = static_cast<std::int64_t>(i + 1);
    const auto* set = std::get_if<PolicyValueSet>(&evs[i]);
    const std::string key = std::visit(
        [](const auto& x) -> std::string {
          if constexpr (requires { x.key; })
            return x.key;
          else
            return {};
        },
        evs[i]);
    if (set && i < as_v1.size() && as_v1[i])
      out.push_back(record_v1(meta_at(pos, key), *set, prev));
    else
      out.push_back(codec::record(meta_at(pos, key), evs[i], prev));
    prev = out.back().hash;
  }
  return out;
}

// Both read models, each through its own runner, in uneven batches.
Tables project(const std::vector<RecordedEvent>& h, std::size_t batch) {
  projections::PolicyValuesProjection values;
  projections::AuditProjection audit;
  adapters::memory::InMemoryReadModelStore store;
  projections::ProjectionRunner a(values, store), b(audit, store);
  for (std::size_t from = 0; from < h.size(); from += batch) {
    std::vector<RecordedEvent> part(h.begin() + static_cast<std::ptrdiff_t>(from),
                                    h.begin() + static_cast<std::ptrdiff_t>(std::min(h.size(), from + batch)));
    EXPECT_TRUE(a.apply(part).has_value());
    EXPECT_TRUE(b.apply(part).has_value());
  }
  EXPECT_EQ(store.checkpoint("policy_values").value().value, static_cast<std::int64_t>(h.size()));
  EXPECT_EQ(store.checkpoint("audit").value().value, static_cast<std::int64_t>(h.size()));
  return store.tables();
}

std::vector<events::Event> sample_history() {
  std::vector<events::Event> evs = {PolicyKeyDefined{
      "billing.window_seconds", events::ValueType::kInt, PolicyValue{std::int64_t{60}}, 1, 3600, {}, ""}};
  const std::vector<PolicyScope> scopes = {
      {ScopeLevel::kOrganization, "org-1"}, {ScopeLevel::kUser, "u-1"}, {ScopeLevel::kGlobal, ""}};
  for (int i = 0; i < 12; ++i) {
    evs.push_back(PolicyValueSet{"billing.window_seconds", scopes[i % 3], PolicyValue{std::int64_t{60 + i}},
                                 i < 3 ? BeforeSource::kDefault : BeforeSource::kScope,
                                 PolicyValue{std::int64_t{63 + i}}, Instant{kT0 + i}, "change " + std::to_string(i)});
  }
  return evs;
}

TEST(Upcast, MixedV1AndV2HistoryProjectsToTheSameRowsAsAllV2) {
  const auto evs = sample_history();
  const auto all_v2 = project(history(evs, {}), 4);
  std::vector<bool> alternate, first_half;
  for (std::size_t i = 0; i < evs.size(); ++i) {
    alternate.push_back(i % 2 == 1);
    first_half.push_back(i < evs.size() / 2);
  }
  const auto mixed = history(evs, alternate);
  ASSERT_EQ(mixed[1].schema_version, 1);
  ASSERT_EQ(mixed[2].schema_version, 2);
  EXPECT_EQ(project(mixed, 5), all_v2);
  EXPECT_EQ(project(history(evs, first_half), 3), all_v2);  // the realistic shape: old rows first
  ASSERT_EQ(all_v2.at("audit_log").size(), evs.size());
  ASSERT_EQ(all_v2.at("policy_values").size(), evs.size() - 1);
}

RC_GTEST_PROP(Upcast, AnyMixOfVersionsProjectsLikeAllV2, ()) {
  const auto evs = sample_history();
  const auto as_v1 = *rc::gen::container<std::vector<bool>>(evs.size(), rc::gen::arbitrary<bool>());
  const auto batch = *rc::gen::inRange<std::size_t>(1, evs.size() + 1);
  RC_ASSERT(project(history(evs, as_v1), batch) == project(history(evs, {}), evs.size()));
}

}  // namespace
}  // namespace ledger
