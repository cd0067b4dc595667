// The admission projection (projections/admission/admission_projection.h): history
// rows keyed by entity and position, written from each event alone; and the
// audit rows of admission events (projections/audit/audit_projection.h).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "adapters/memory/event_store.h"
#include "domain/app_policy/model.h"
#include "events/codec/json_codec.h"
#include "projections/admission/admission_projection.h"
#include "projections/audit/audit_projection.h"

namespace ledger::projections {
namespace {

using events::Instant;
using events::QuotaLevel;
using events::QuotaScope;
using Cells = std::vector<std::pair<std::string, Cell>>;

constexpr std::int64_t kT0 = 1'780'272'000'000'000;  // 2026-06-01T00:00:00Z

events::EventMeta meta(std::int64_t position, std::string stream, std::int64_t version, std::string tenant = "acme") {
  events::EventMeta m;
  m.global_position = events::GlobalPosition{position};
  m.stream_id = std::move(stream);
  m.stream_version = events::StreamVersion{version};
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012lld", static_cast<long long>(position));
  m.event_id = id;
  m.occurred_at = Instant{kT0 + position};
  m.recorded_at = Instant{kT0 + position + 7};
  m.actor = {"user", "alice", {"platform_admin"}};
  m.tenant = std::move(tenant);
  m.correlation_id = "corr-" + std::to_string(position);
  m.causation_id = "cause-" + std::to_string(position);
  m.command_id = "cmd-" + std::to_string(position);
  return m;
}

Cell value(const RowOp& op, const std::string& name) {
  for (const auto& [k, v] : op.values) {
    if (k == name) return v;
  }
  ADD_FAILURE() << "no column " << name << " in " << op.table;
  return std::nullopt;
}

const QuotaScope kAcme{QuotaLevel::kOrganization, "acme"};

TEST(AdmissionProjection, OrganizationCreatedAlsoCreatesItsDefaultDepartment) {
  AdmissionProjection p;
  EXPECT_EQ(p.name(), "admission");
  auto ops =
      p.apply({meta(3, "organization:acme", 1), events::OrganizationCreated{"acme", "Acme", "pro", "acme.default"}});
  ASSERT_EQ(ops.size(), 4u);
  EXPECT_EQ(ops[0], (RowOp{"scope_nodes",
                           {{"level", "organization"}, {"node_id", "acme"}},
                           {{"organization_id", "acme"},
                            {"name", "Acme"},
                            {"principal_type", ""},
                            {"expires_at", std::nullopt},
                            {"default_department_id", "acme.default"},
                            {"position", "3"}},
                           false}));
  // An organization hangs under its plan.
  EXPECT_EQ(ops[1], (RowOp{"scope_links",
                           {{"level", "organization"}, {"node_id", "acme"}, {"position", "3"}},
                           {{"parent_level", "plan"}, {"parent_id", "pro"}, {"version", "1"}},
                           false}));
  EXPECT_EQ(ops[2].table, "scope_nodes");
  EXPECT_EQ(ops[2].key, (Cells{{"level", "department"}, {"node_id", "acme.default"}}));
  EXPECT_EQ(value(ops[2], "organization_id"), "acme");
  EXPECT_EQ(value(ops[2], "name"), "default");
  EXPECT_EQ(ops[3], (RowOp{"scope_links",
                           {{"level", "department"}, {"node_id", "acme.default"}, {"position", "3"}},
                           {{"parent_level", "organization"}, {"parent_id", "acme"}, {"version", "1"}},
                           false}));
}

TEST(AdmissionProjection, MovesAndPlanChangesAddLinkRowsWithTheNewParent) {
  AdmissionProjection p;
  auto plan = p.apply({meta(9, "organization:acme", 2), events::OrganizationPlanChanged{"acme", "pro", "enterprise"}});
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0], (RowOp{"scope_links",
                            {{"level", "organization"}, {"node_id", "acme"}, {"position", "9"}},
                            {{"parent_level", "plan"}, {"parent_id", "enterprise"}, {"version", "2"}},
                            false}));
  // A department moved to the top of its organization hangs under it.
  auto top = p.apply({meta(10, "department:ml", 3), events::DepartmentMoved{"ml", "acme", "research", ""}});
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].key, (Cells{{"level", "department"}, {"node_id", "ml"}, {"position", "10"}}));
  EXPECT_EQ(value(top[0], "parent_level"), "organization");
  EXPECT_EQ(value(top[0], "parent_id"), "acme");
  EXPECT_EQ(value(top[0], "version"), "3");
  auto nested = p.apply({meta(11, "department:ml", 4), events::DepartmentMoved{"ml", "acme", "", "research"}});
  EXPECT_EQ(value(nested[0], "parent_level"), "department");
  EXPECT_EQ(value(nested[0], "parent_id"), "research");
  auto project = p.apply({meta(12, "project:p1", 2), events::ProjectMoved{"p1", "acme", "ml", "ops"}});
  ASSERT_EQ(project.size(), 1u);
  EXPECT_EQ(project[0], (RowOp{"scope_links",
                               {{"level", "project"}, {"node_id", "p1"}, {"position", "12"}},
                               {{"parent_level", "department"}, {"parent_id", "ops"}, {"version", "2"}},
                               false}));
}

TEST(AdmissionProjection, PrincipalsCarryTypeAndExpiry) {
  AdmissionProjection p;
  auto ops = p.apply({meta(5, "principal:k1", 1), events::PrincipalCreated{"k1", "api_key", "acme", "p1", "CI key",
                                                                           Instant{kT0 + 86'400'000'000}}});
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(value(ops[0], "principal_type"), "api_key");
  EXPECT_EQ(value(ops[0], "expires_at"), "2026-06-02T00:00:00.000000Z");
  EXPECT_EQ(value(ops[1], "parent_level"), "project");
  EXPECT_EQ(value(ops[1], "parent_id"), "p1");
}

TEST(AdmissionProjection, ClearedCeilingIsARowWithNoQuantity) {
  AdmissionProjection p;
  const events::CeilingTarget t{"gpu.count", "", "eu-1", "h100"};
  auto set = p.apply({meta(20, "ceilings:organization:acme", 1),
                      events::CeilingSet{kAcme, "acme", "rule-1", 2, t, 64, "gpu", 32, "more"}});
  ASSERT_EQ(set.size(), 1u);
  EXPECT_EQ(set[0],
            (RowOp{"ceiling_rules",
                   {{"scope_level", "organization"}, {"scope_id", "acme"}, {"rule_id", "rule-1"}, {"position", "20"}},
                   {{"dimension", "gpu.count"},
                    {"window", ""},
                    {"region", "eu-1"},
                    {"sku_or_model", "h100"},
                    {"quantity", "64"},
                    {"unit", "gpu"},
                    {"rule_version", "2"},
                    {"organization_id", "acme"}},
                   false}));
  auto cleared = p.apply({meta(21, "ceilings:organization:acme", 2),
                          events::CeilingCleared{kAcme, "acme", "rule-1", 3, t, 64, "gpu", "done"}});
  ASSERT_EQ(cleared.size(), 1u);
  EXPECT_FALSE(cleared[0].remove);  // history stays: the row says "cleared here"
  EXPECT_EQ(value(cleared[0], "quantity"), std::nullopt);
  EXPECT_EQ(value(cleared[0], "rule_version"), "3");
}

TEST(AdmissionProjection, DelegationAndRevocation) {
  AdmissionProjection p;
  auto d = p.apply({meta(30, "ceilings:organization:acme", 3),
                    events::CeilingDelegated{kAcme, "acme", "del-1", "gpu.count", 100, "trust"}});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(
      d[0],
      (RowOp{"delegations",
             {{"scope_level", "organization"}, {"scope_id", "acme"}, {"dimension", "gpu.count"}, {"position", "30"}},
             {{"delegation_id", "del-1"}, {"active", "true"}, {"max_quantity", "100"}},
             false}));
  auto r = p.apply({meta(31, "ceilings:organization:acme", 4),
                    events::CeilingDelegationRevoked{kAcme, "acme", "del-1", "gpu.count", "no"}});
  EXPECT_EQ(value(r[0], "active"), "false");
  EXPECT_EQ(value(r[0], "max_quantity"), std::nullopt);
}

events::ReservationDrafted drafted() {
  return events::ReservationDrafted{"res-1",
                                    "acme",
                                    {QuotaLevel::kProject, "p1"},
                                    "gpu_nodes",
                                    "gpu.count",
                                    "eu-1",
                                    "h100",
                                    8,
                                    "gpu",
                                    Instant{kT0},
                                    Instant{kT0 + 3'600'000'000},
                                    {{"sku", "h100"}, {"region", "eu-1"}},
                                    "launch"};
}

TEST(AdmissionProjection, ReservationDefinitionAndStateHistory) {
  AdmissionProjection p;
  auto ops = p.apply({meta(40, "reservation:res-1", 1), drafted()});
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].table, "reservations");
  EXPECT_EQ(ops[0].key, (Cells{{"organization_id", "acme"}, {"reservation_id", "res-1"}}));
  EXPECT_EQ(value(ops[0], "owner_level"), "project");
  EXPECT_EQ(value(ops[0], "owner_id"), "p1");
  EXPECT_EQ(value(ops[0], "quantity"), "8");
  EXPECT_EQ(value(ops[0], "window_end"), "2026-06-01T01:00:00.000000Z");
  EXPECT_EQ(value(ops[0], "attributes"), R"({"region":"eu-1","sku":"h100"})");
  EXPECT_EQ(ops[1], (RowOp{"reservation_states",
                           {{"organization_id", "acme"}, {"reservation_id", "res-1"}, {"position", "40"}},
                           {{"state", "draft"}, {"consumed", "0"}, {"version", "1"}},
                           false}));
  // Each later event writes only what it carries; the other column is NULL
  // ("unchanged"), and the query takes the latest non-NULL value.
  auto active = p.apply(
      {meta(41, "reservation:res-1", 2), events::ReservationStateChanged{"res-1", "acme", "draft", "active", "go"}});
  EXPECT_EQ(active[0], (RowOp{"reservation_states",
                              {{"organization_id", "acme"}, {"reservation_id", "res-1"}, {"position", "41"}},
                              {{"state", "active"}, {"consumed", std::nullopt}, {"version", "2"}},
                              false}));
  auto consumed =
      p.apply({meta(42, "reservation:res-1", 3), events::ReservationConsumed{"res-1", "acme", 3, 0, 3, "job"}});
  EXPECT_EQ(consumed[0], (RowOp{"reservation_states",
                                {{"organization_id", "acme"}, {"reservation_id", "res-1"}, {"position", "42"}},
                                {{"state", std::nullopt}, {"consumed", "3"}, {"version", "3"}},
                                false}));
  auto released =
      p.apply({meta(43, "reservation:res-1", 4), events::ReservationReleased{"res-1", "acme", 2, 3, 1, "done"}});
  EXPECT_EQ(value(released[0], "consumed"), "1");
}

TEST(AdmissionProjection, RegistryEntriesKeepEveryVersion) {
  AdmissionProjection p;
  events::RegistryEntryRegistered e{"quota_dimension",
                                    "gpu.count",
                                    2,
                                    "GPUs",
                                    {{"product", "gpuaas"}, {"unit", "gpu"}},
                                    std::map<std::string, std::string>{}};
  auto ops = p.apply({meta(2, "registry:quota_dimension:gpu.count", 2, "platform"), e});
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0],
            (RowOp{"registry_entries",
                   {{"kind", "quota_dimension"}, {"entry_id", "gpu.count"}, {"position", "2"}},
                   {{"version", "2"}, {"description", "GPUs"}, {"attributes", R"({"product":"gpuaas","unit":"gpu"})"}},
                   false}));
}

TEST(AdmissionProjection, PolicyEventsAreNotAdmissions) {
  AdmissionProjection p;
  events::PolicyKeyDefined k{"x.y", events::ValueType::kInt, events::PolicyValue{std::int64_t{1}}, 0, 9, {}, ""};
  EXPECT_TRUE(p.apply({meta(1, "policy-key:x.y", 1), k}).empty());
}

TEST(AdmissionProjection, EveryAdmissionEventWritesOnlyKnownTables) {
  AdmissionProjection p;
  const auto& tables = AdmissionProjection::tables();
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          using T = std::variant_alternative_t<I, events::Event>;
          auto ops = p.apply({meta(1, "s", 1), events::Event{T{}}});
          const bool admission =
              !std::is_same_v<T, events::PolicyKeyDefined> && !std::is_same_v<T, events::PolicyValueSet> &&
              !std::is_same_v<T, events::AccessRefused> &&    // only the audit log records refusals
              !std::is_same_v<T, events::ChainHeadSigned> &&  // and the writer's anchors
              // application chains live in the query service's memory only
              !domain::app_policy::AppPolicyModel::handles(events::Event{T{}}) &&
              !events::kIsEntitlementEvent<T> &&             // entitlements: their own model (seed 003)
              !std::is_same_v<T, events::ConfigLayerSet> &&  // configuration: its own model
              !std::is_same_v<T, events::ConfigReloaded> && !std::is_same_v<T, events::ConfigSecretsShredded>;
          EXPECT_EQ(!ops.empty(), admission) << T::kType;
          for (const auto& op : ops) {
            EXPECT_NE(std::find(tables.begin(), tables.end(), op.table), tables.end()) << T::kType << " " << op.table;
            EXPECT_FALSE(op.remove) << T::kType;
            if (op.table != "scope_nodes" && op.table != "reservations") {
              EXPECT_EQ(op.key.back().first, "position") << T::kType << " " << op.table;  // history rows
            }
          }
        }(),
        ...);
  }(std::make_index_sequence<std::variant_size_v<events::Event>>{});
}

// The pure part end to end: through the runner into the in-memory store,
// then "latest link at or below P" answers a project's department before and
// after a move, and a replay gives the same tables.
std::string department_of(const adapters::memory::InMemoryReadModelStore::Table& links, const std::string& project,
                          std::int64_t at) {
  std::string out;
  std::int64_t best = -1;
  for (const auto& [key, values] : links) {
    if (key[0].second != "project" || key[1].second != project) continue;
    const std::int64_t pos = std::stoll(*key[2].second);
    if (pos <= at && pos > best) {
      best = pos;
      out = *values[1].second;
    }
  }
  return out;
}

std::vector<events::RecordedEvent> history() {
  std::vector<events::Event> evs = {
      events::OrganizationCreated{"acme", "Acme", "pro", "acme.default"},
      events::DepartmentCreated{"ml", "acme", "", "ML"},
      events::ProjectCreated{"p1", "acme", "acme.default", "P1"},
      events::CeilingSet{kAcme, "acme", "r1", 1, {"gpu.count", "", "", ""}, 10, "gpu", std::nullopt, ""},
      events::ProjectMoved{"p1", "acme", "acme.default", "ml"},
      events::CeilingCleared{kAcme, "acme", "r1", 2, {"gpu.count", "", "", ""}, 10, "gpu", ""},
  };
  std::vector<events::RecordedEvent> out;
  std::string prev = events::kGenesisHash;
  for (std::size_t i = 0; i < evs.size(); ++i) {
    out.push_back(codec::record(meta(static_cast<std::int64_t>(i + 1), "s" + std::to_string(i), 1), evs[i], prev));
    prev = out.back().hash;
  }
  return out;
}

TEST(AdmissionProjection, HistoryRowsAnswerEveryPastPositionAndReplayIsIdentical) {
  AdmissionProjection p;
  adapters::memory::InMemoryReadModelStore live, rebuilt;
  ProjectionRunner a(p, live), b(p, rebuilt);
  const auto h = history();
  ASSERT_TRUE(a.apply(std::span(h).subspan(0, 3)).has_value());
  ASSERT_TRUE(a.apply(h).has_value());  // overlaps: duplicates skipped
  ASSERT_TRUE(b.apply(h).has_value());
  EXPECT_EQ(live.tables(), rebuilt.tables());
  const auto tables = live.tables();
  const auto& links = tables.at("scope_links");
  EXPECT_EQ(department_of(links, "p1", 4), "acme.default");
  EXPECT_EQ(department_of(links, "p1", 5), "ml");
  EXPECT_EQ(department_of(links, "p1", 2), "");      // did not exist yet
  EXPECT_EQ(tables.at("ceiling_rules").size(), 2u);  // the set and the clearing
}

// ---------------------------------------------------------------- audit

TEST(AdmissionAudit, CeilingChangeCarriesScopeDimensionBeforeAndAfter) {
  AuditProjection p;
  events::CeilingSet e{kAcme, "acme", "rule-1", 2, {"gpu.count", "", "", ""}, 64, "gpu", 32, "more GPUs"};
  auto ops = p.apply({meta(20, "ceilings:organization:acme", 1), e});
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(value(ops[0], "event_type"), "CeilingSet");
  EXPECT_EQ(value(ops[0], "subject_kind"), "ceiling");
  EXPECT_EQ(value(ops[0], "subject_key"), "gpu.count");
  EXPECT_EQ(value(ops[0], "scope_level"), "organization");
  EXPECT_EQ(value(ops[0], "scope_id"), "acme");
  EXPECT_EQ(value(ops[0], "before"), R"({"quantity":32,"unit":"gpu"})");
  EXPECT_EQ(value(ops[0], "after"), codec::encode_payload(events::Event{e}).dump());
  EXPECT_EQ(value(ops[0], "reason"), "more GPUs");
  EXPECT_EQ(value(ops[0], "tenant"), "acme");
  EXPECT_EQ(value(ops[0], "correlation_id"), "corr-20");
  // A new rule has nothing before it.
  e.before_quantity.reset();
  EXPECT_EQ(value(p.apply({meta(21, "ceilings:organization:acme", 2), e})[0], "before"), std::nullopt);
}

TEST(AdmissionAudit, SubjectsOfEveryKind) {
  AuditProjection p;
  struct Case {
    events::Event event;
    std::string kind, key, level, id;
    Cell before;
  };
  const std::vector<Case> cases = {
      {events::RegistryEntryRegistered{
           "product", "gpuaas", 2, "GPU", {}, std::map<std::string, std::string>{{"a", "b"}}},
       "registry", "product:gpuaas", "global", "", R"({"a":"b"})"},
      {events::OrganizationCreated{"acme", "Acme", "pro", "acme.default"}, "hierarchy", "acme", "organization", "acme",
       std::nullopt},
      {events::OrganizationPlanChanged{"acme", "pro", "ent"}, "hierarchy", "acme", "organization", "acme",
       R"({"plan_id":"pro"})"},
      {events::DepartmentMoved{"ml", "acme", "research", ""}, "hierarchy", "ml", "department", "ml",
       R"({"parent_department_id":"research"})"},
      {events::ProjectMoved{"p1", "acme", "ml", "ops"}, "hierarchy", "p1", "project", "p1",
       R"({"department_id":"ml"})"},
      {events::PrincipalCreated{"k1", "api_key", "acme", "p1", "k", std::nullopt}, "hierarchy", "k1", "principal", "k1",
       std::nullopt},
      {events::CeilingDelegated{kAcme, "acme", "d1", "gpu.count", std::nullopt, "r"}, "delegation", "gpu.count",
       "organization", "acme", std::nullopt},
      {drafted(), "reservation", "res-1", "project", "p1", std::nullopt},
      {events::ReservationStateChanged{"res-1", "acme", "draft", "active", "go"}, "reservation", "res-1",
       "organization", "acme", R"({"state":"draft"})"},
      {events::ReservationConsumed{"res-1", "acme", 2, 1, 3, "job"}, "reservation", "res-1", "organization", "acme",
       R"({"consumed":1})"},
  };
  for (const auto& c : cases) {
    auto ops = p.apply({meta(7, "s", 1), c.event});
    ASSERT_EQ(ops.size(), 1u) << events::type_name(c.event);
    EXPECT_EQ(value(ops[0], "subject_kind"), c.kind) << events::type_name(c.event);
    EXPECT_EQ(value(ops[0], "subject_key"), c.key) << events::type_name(c.event);
    EXPECT_EQ(value(ops[0], "scope_level"), c.level) << events::type_name(c.event);
    EXPECT_EQ(value(ops[0], "scope_id"), c.id) << events::type_name(c.event);
    EXPECT_EQ(value(ops[0], "before"), c.before) << events::type_name(c.event);
    EXPECT_EQ(value(ops[0], "after"), codec::encode_payload(c.event).dump()) << events::type_name(c.event);
    EXPECT_EQ(value(ops[0], "event_type"), events::type_name(c.event));
  }
}

}  // namespace
}  // namespace ledger::projections
