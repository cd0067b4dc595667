// The audit projection (projections/audit/audit_projection.h): one row per event
// with the full envelope, before/after values and scope; pure and
// exactly-once through the runner.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "adapters/memory/event_store.h"
#include "events/codec/json_codec.h"
#include "projections/audit/audit_projection.h"

namespace ledger::projections {
namespace {

using adapters::memory::InMemoryReadModelStore;
using events::BeforeSource;
using events::Instant;
using events::PolicyKeyDefined;
using events::PolicyValue;
using events::PolicyValueSet;
using events::ScopeLevel;

constexpr std::int64_t kT0 = 1'780'272'000'000'000;  // 2026-06-01T00:00:00Z

PolicyKeyDefined window_seconds() {
  return PolicyKeyDefined{
      "billing.window_seconds",  events::ValueType::kInt, PolicyValue{std::int64_t{60}}, 1, 3600, {},
      "Billing accrual interval"};
}

events::EventMeta meta_at(std::int64_t position) {
  events::EventMeta m;
  m.global_position = events::GlobalPosition{position};
  m.stream_id = "policy-key:billing.window_seconds";
  m.stream_version = events::StreamVersion{position};
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012lld", static_cast<long long>(position));
  m.event_id = id;
  m.occurred_at = Instant{kT0 + position};
  m.recorded_at = Instant{kT0 + position + 7};
  m.actor = {"user", "alice", {"platform_admin", "auditor"}};
  m.tenant = "org-1";
  m.correlation_id = "corr-" + std::to_string(position);
  m.causation_id = "cause-" + std::to_string(position);
  m.command_id = "cmd-" + std::to_string(position);
  return m;
}

using Cells = std::vector<std::pair<std::string, Cell>>;

// The envelope columns every row carries, for meta_at(position).
Cells envelope_cells(std::int64_t position, const char* type, const char* tenant = "org-1") {
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012lld", static_cast<long long>(position));
  return {{"event_id", id},
          {"tenant", tenant},
          {"stream_id", "policy-key:billing.window_seconds"},
          {"stream_version", std::to_string(position)},
          {"event_type", type}};
}

Cell column(const RowOp& op, const std::string& name) {
  for (const auto& [k, v] : op.values) {
    if (k == name) return v;
  }
  ADD_FAILURE() << "no column " << name;
  return std::nullopt;
}

TEST(AuditProjection, ValueSetBecomesOneRowWithWhoWhatWhereWhenAndWhy) {
  AuditProjection p;
  EXPECT_EQ(p.name(), "audit");
  PolicyValueSet e{"billing.window_seconds", {ScopeLevel::kOrganization, "org-1"}, PolicyValue{std::int64_t{60}},
                   BeforeSource::kDefault,   PolicyValue{std::int64_t{120}},       Instant{kT0 + 3'600'000'000},
                   "customer request"};
  auto ops = p.apply({meta_at(2), e});
  ASSERT_EQ(ops.size(), 1u);
  Cells values = envelope_cells(2, "PolicyValueSet");
  Cells rest = {{"schema_version", "2"},
                {"subject_kind", "policy_key"},
                {"subject_key", "billing.window_seconds"},
                {"scope_level", "organization"},
                {"scope_id", "org-1"},
                {"before", "60"},
                {"before_source", "default"},
                {"after", "120"},
                {"reason", "customer request"},
                {"actor_type", "user"},
                {"actor_id", "alice"},
                {"actor_roles", R"(["platform_admin","auditor"])"},
                {"occurred_at", "2026-06-01T00:00:00.000002Z"},
                {"recorded_at", "2026-06-01T00:00:00.000009Z"},
                {"effective_at", "2026-06-01T01:00:00.000000Z"},
                {"correlation_id", "corr-2"},
                {"causation_id", "cause-2"},
                {"command_id", "cmd-2"}};
  values.insert(values.end(), rest.begin(), rest.end());
  EXPECT_EQ(ops[0], (RowOp{"audit_log", {{"position", "2"}}, values, false}));
}

TEST(AuditProjection, KeyDefinitionIsAGlobalChangeFromNothing) {
  AuditProjection p;
  auto ops = p.apply({meta_at(1), window_seconds()});
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].table, "audit_log");
  EXPECT_EQ(ops[0].key, (Cells{{"position", "1"}}));
  EXPECT_EQ(column(ops[0], "event_type"), "PolicyKeyDefined");
  EXPECT_EQ(column(ops[0], "schema_version"), "2");  // PolicyKeyDefined v2: with its write audience
  EXPECT_EQ(column(ops[0], "subject_key"), "billing.window_seconds");
  EXPECT_EQ(column(ops[0], "scope_level"), "global");
  EXPECT_EQ(column(ops[0], "scope_id"), "");
  EXPECT_EQ(column(ops[0], "before"), std::nullopt);
  EXPECT_EQ(column(ops[0], "before_source"), std::nullopt);
  EXPECT_EQ(column(ops[0], "reason"), std::nullopt);
  EXPECT_EQ(column(ops[0], "effective_at"), std::nullopt);
  EXPECT_EQ(
      column(ops[0], "after"),
      R"({"allowed":[],"default_value":60,"description":"Billing accrual interval","max":3600,"min":1,"value_type":"int",)"
      R"("write_audience":"platform"})");
}

TEST(AuditProjection, AccessRefusedIsFiledUnderTheOrganizationReachedFor) {
  AuditProjection p;
  events::AccessRefused refused{"user",
                                "mallory",
                                {"tenant_admin"},
                                "org-globex",
                                "org-1",
                                "reservation.read",
                                "GET",
                                "/v1/reservations/res-1",
                                "tenant_mismatch"};
  auto ops = p.apply({meta_at(3), refused});
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(column(ops[0], "event_type"), "AccessRefused");
  EXPECT_EQ(column(ops[0], "subject_kind"), "access");
  EXPECT_EQ(column(ops[0], "subject_key"), "reservation.read");
  EXPECT_EQ(column(ops[0], "scope_level"), "organization");
  EXPECT_EQ(column(ops[0], "scope_id"), "org-1");
  EXPECT_EQ(column(ops[0], "reason"), "tenant_mismatch");
  EXPECT_EQ(column(ops[0], "before"), std::nullopt);
  EXPECT_EQ(column(ops[0], "after"), codec::encode_payload(refused).dump());
  refused.target_tenant = "platform";
  auto platform = p.apply({meta_at(4), refused});
  EXPECT_EQ(column(platform[0], "scope_level"), "global");
  EXPECT_EQ(column(platform[0], "scope_id"), "");
}

// Every event type gets a row that names its subject and scope (the audit
// table's columns are NOT NULL): a type added without its own case is filed
// under its stream rather than stopping the projector.
TEST(AuditProjection, EveryEventTypeNamesASubjectAndAScope) {
  AuditProjection p;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (([&] {
       using T = std::variant_alternative_t<I, events::Event>;
       auto ops = p.apply({meta_at(9), events::Event(T{})});
       ASSERT_EQ(ops.size(), 1u) << T::kType;
       EXPECT_FALSE(column(ops[0], "subject_kind").value_or("").empty()) << T::kType;
       EXPECT_TRUE(column(ops[0], "subject_key").has_value()) << T::kType;
       EXPECT_TRUE(column(ops[0], "scope_level").has_value()) << T::kType;
       EXPECT_TRUE(column(ops[0], "scope_id").has_value()) << T::kType;
     }()),
     ...);
  }(std::make_index_sequence<std::variant_size_v<events::Event>>{});
}

TEST(AuditProjection, PolicyChangesKeepTheirBeforeConfigAndReason) {
  AuditProjection p;
  events::PolicyUpdated u;
  u.policy_id = "pol_1";
  u.organization_id = "org-1";
  u.before_config.text = R"({"requests_per_minute":1000})";
  u.config.text = R"({"requests_per_minute":100})";
  u.reason = "tighter";
  auto ops = p.apply({meta_at(3), u});
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(column(ops[0], "subject_kind"), "app_policy");
  EXPECT_EQ(column(ops[0], "subject_key"), "pol_1");
  EXPECT_EQ(column(ops[0], "scope_id"), "org-1");
  EXPECT_EQ(nlohmann::json::parse(column(ops[0], "before").value())["config"]["requests_per_minute"], 1000);
  EXPECT_EQ(column(ops[0], "reason"), "tighter");
}

TEST(AuditProjection, ValuesOfEveryTypeAndScopeSourceAreJson) {
  AuditProjection p;
  PolicyValueSet s{"allocation.isolation_model",
                   {ScopeLevel::kUser, "u-1"},
                   PolicyValue{std::string("user-revoke")},
                   BeforeSource::kScope,
                   PolicyValue{std::string("full \"reimage\"")},
                   Instant{kT0},
                   ""};
  auto ops = p.apply({meta_at(3), s});
  EXPECT_EQ(column(ops[0], "before"), "\"user-revoke\"");
  EXPECT_EQ(column(ops[0], "after"), R"("full \"reimage\"")");
  EXPECT_EQ(column(ops[0], "before_source"), "scope");
  EXPECT_EQ(column(ops[0], "scope_level"), "user");
  EXPECT_EQ(column(ops[0], "reason"), "");  // an empty reason is still a reason, not NULL
  PolicyValueSet b{"maas.enabled",
                   {ScopeLevel::kGlobal, ""},
                   PolicyValue{false},
                   BeforeSource::kDefault,
                   PolicyValue{true},
                   Instant{kT0},
                   "r"};
  ops = p.apply({meta_at(4), b});
  EXPECT_EQ(column(ops[0], "before"), "false");
  EXPECT_EQ(column(ops[0], "after"), "true");
}

TEST(AuditProjection, SameEnvelopeAlwaysGivesSameRows) {
  AuditProjection p;
  events::Envelope e{meta_at(5), window_seconds()};
  EXPECT_EQ(p.apply(e), p.apply(e));
}

TEST(AuditProjection, RunnerWritesOneRowPerEventUnderItsOwnCheckpoint) {
  std::vector<events::Event> evs = {window_seconds()};
  for (int i = 0; i < 5; ++i) {
    evs.push_back(PolicyValueSet{"billing.window_seconds",
                                 {ScopeLevel::kOrganization, "org-1"},
                                 PolicyValue{std::int64_t{60 + i}},
                                 i == 0 ? BeforeSource::kDefault : BeforeSource::kScope,
                                 PolicyValue{std::int64_t{61 + i}},
                                 Instant{kT0},
                                 "r"});
  }
  std::vector<events::RecordedEvent> h;
  std::string prev = events::kGenesisHash;
  for (std::size_t i = 0; i < evs.size(); ++i) {
    h.push_back(codec::record(meta_at(static_cast<std::int64_t>(i + 1)), evs[i], prev));
    prev = h.back().hash;
  }
  AuditProjection p;
  InMemoryReadModelStore store;
  ProjectionRunner runner(p, store);
  ASSERT_TRUE(runner.apply(h).has_value());
  auto again = runner.apply(h);  // a redelivered batch changes nothing
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->skipped, h.size());
  EXPECT_EQ(store.checkpoint("audit").value(), events::GlobalPosition{6});
  EXPECT_EQ(store.checkpoint("policy_values").value(), events::GlobalPosition{0});
  auto tables = store.tables();
  ASSERT_EQ(tables.size(), 1u);
  EXPECT_EQ(tables["audit_log"].size(), 6u);
}

}  // namespace
}  // namespace ledger::projections
