// Admission histories for integration tests: appends admission events with
// the real PostgreSQL event store, one stream append per call, filling the
// before_* fields and versions the way the command side does, and remembers
// every (stream, event, position) so a test can replay them into
// domain::AdmissionModel. Header-only; thread-compatible.
//
//   AdmissionHistory h(db.app_url, clock);
//   h.organization("acme", "pro");            // + its default department acme.default
//   h.project("p1", "acme", "acme.default");
//   auto pos = h.ceiling({QuotaLevel::kProject, "p1"}, "gpu.count", 8);
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/postgres/event_store.h"
#include "commands/ports.h"
#include "domain/admission.h"

namespace ledger::testing {

class AdmissionHistory {
 public:
  static constexpr events::Instant kNow{1'780'272'000'000'000};  // 2026-06-01T00:00:00Z
  static constexpr events::Instant kWindowStart{kNow.micros - 3'600'000'000LL};
  static constexpr events::Instant kWindowEnd{kNow.micros + 86'400'000'000LL};

  struct Appended {
    std::string stream;
    events::Event event;
    std::int64_t position = 0;
  };

  AdmissionHistory(const std::string& url, commands::Clock& clock)
      : store_(std::make_unique<adapters::postgres::PgEventStore>(url, clock)) {
    auto w = store_->acquire_writer();
    EXPECT_TRUE(w.has_value()) << (w ? "" : w.error().message);
  }

  // Appends `evs` to `stream` in one transaction; returns the last position.
  std::int64_t append(const std::string& stream, std::vector<events::Event> evs, const std::string& tenant) {
    commands::StreamAppend a;
    a.stream_id = stream;
    a.expected_version = events::StreamVersion{versions_[stream]};
    a.meta.command_id = "cmd-" + std::to_string(++commands_);
    a.meta.correlation_id = "corr-" + std::to_string(commands_);
    a.meta.actor = {"user", "tester", {"platform_admin"}};
    a.meta.tenant = tenant;
    a.meta.occurred_at = kNow;
    a.events = evs;
    auto out = store_->append(std::span(&a, 1));
    EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().code + ": " + out.error().message);
    if (!out) return 0;
    const std::int64_t last = out->front().position.value;
    std::int64_t pos = last - static_cast<std::int64_t>(evs.size()) + 1;
    for (auto& e : evs) appended_.push_back({stream, std::move(e), pos++});
    versions_[stream] += static_cast<std::int64_t>(evs.size());
    return last;
  }
  std::int64_t append(const std::string& stream, events::Event e, const std::string& tenant) {
    return append(stream, std::vector<events::Event>{std::move(e)}, tenant);
  }

  const std::vector<Appended>& appended() const { return appended_; }
  std::int64_t position_of(const std::string& type) const {
    for (const auto& a : appended_) {
      if (events::type_name(a.event) == type) return a.position;
    }
    return 0;
  }

  // -------------------------------------------------------------- registry
  std::int64_t registry(const std::string& kind, const std::string& id, std::map<std::string, std::string> attrs = {}) {
    const std::string key = kind + ":" + id;
    std::optional<std::map<std::string, std::string>> before;
    if (auto it = registry_.find(key); it != registry_.end()) before = it->second;
    registry_[key] = attrs;
    return append("registry:" + key,
                  events::RegistryEntryRegistered{kind, id, versions_["registry:" + key] + 1, id, attrs, before},
                  "platform");
  }

  // ------------------------------------------------------------- hierarchy
  std::int64_t organization(const std::string& id, const std::string& plan, std::string name = "") {
    org_of_[{events::QuotaLevel::kOrganization, id}] = id;
    org_of_[{events::QuotaLevel::kDepartment, id + ".default"}] = id;
    plan_[id] = plan;
    return append("organization:" + id,
                  events::OrganizationCreated{id, name.empty() ? id : name, plan, id + ".default"}, id);
  }
  std::int64_t change_plan(const std::string& org, const std::string& plan) {
    const std::string before = plan_[org];
    plan_[org] = plan;
    return append("organization:" + org, events::OrganizationPlanChanged{org, before, plan}, org);
  }
  std::int64_t department(const std::string& id, const std::string& org, const std::string& parent) {
    org_of_[{events::QuotaLevel::kDepartment, id}] = org;
    parent_dept_[id] = parent;
    return append("department:" + id, events::DepartmentCreated{id, org, parent, id}, org);
  }
  std::int64_t move_department(const std::string& id, const std::string& parent) {
    const std::string org = org_of_[{events::QuotaLevel::kDepartment, id}];
    const std::string before = parent_dept_[id];
    parent_dept_[id] = parent;
    return append("department:" + id, events::DepartmentMoved{id, org, before, parent}, org);
  }
  std::int64_t project(const std::string& id, const std::string& org, const std::string& dept) {
    org_of_[{events::QuotaLevel::kProject, id}] = org;
    dept_of_[id] = dept;
    return append("project:" + id, events::ProjectCreated{id, org, dept, id}, org);
  }
  std::int64_t move_project(const std::string& id, const std::string& dept) {
    const std::string org = org_of_[{events::QuotaLevel::kProject, id}];
    const std::string before = dept_of_[id];
    dept_of_[id] = dept;
    return append("project:" + id, events::ProjectMoved{id, org, before, dept}, org);
  }
  std::int64_t principal(const std::string& id, const std::string& project, const std::string& type = "user",
                         std::optional<events::Instant> expires_at = std::nullopt) {
    const std::string org = org_of_[{events::QuotaLevel::kProject, project}];
    org_of_[{events::QuotaLevel::kPrincipal, id}] = org;
    return append("principal:" + id, events::PrincipalCreated{id, type, org, project, id, expires_at}, org);
  }

  // -------------------------------------------------------------- ceilings
  std::string org_of(const events::QuotaScope& s) {
    auto it = org_of_.find(s);
    return it == org_of_.end() ? "" : it->second;
  }
  std::string tenant_of(const events::QuotaScope& s) {
    const std::string org = org_of(s);
    return org.empty() ? "platform" : org;
  }
  std::int64_t ceiling(const events::QuotaScope& scope, const std::string& dimension, std::int64_t quantity,
                       const std::string& window = "", const std::string& unit = "gpu") {
    const events::CeilingTarget t{dimension, window, "", ""};
    const std::string id = domain::ceiling_rule_id(scope, t);
    std::optional<std::int64_t> before;
    if (auto it = quantities_.find({scope, id}); it != quantities_.end()) before = it->second;
    quantities_[{scope, id}] = quantity;
    const std::int64_t version = ++rule_versions_[{scope, id}];
    return append(domain::ceilings_stream_id(scope),
                  events::CeilingSet{scope, org_of(scope), id, version, t, quantity, unit, before, "test"},
                  tenant_of(scope));
  }
  std::int64_t clear(const events::QuotaScope& scope, const std::string& dimension, const std::string& window = "",
                     const std::string& unit = "gpu") {
    const events::CeilingTarget t{dimension, window, "", ""};
    const std::string id = domain::ceiling_rule_id(scope, t);
    const std::int64_t before = quantities_[{scope, id}];
    quantities_.erase({scope, id});
    const std::int64_t version = ++rule_versions_[{scope, id}];
    return append(domain::ceilings_stream_id(scope),
                  events::CeilingCleared{scope, org_of(scope), id, version, t, before, unit, "test"}, tenant_of(scope));
  }
  std::int64_t delegate(const events::QuotaScope& scope, const std::string& dimension,
                        std::optional<std::int64_t> max) {
    return append(
        domain::ceilings_stream_id(scope),
        events::CeilingDelegated{scope, org_of(scope), delegation_id(scope, dimension), dimension, max, "test"},
        tenant_of(scope));
  }
  std::int64_t revoke(const events::QuotaScope& scope, const std::string& dimension) {
    return append(
        domain::ceilings_stream_id(scope),
        events::CeilingDelegationRevoked{scope, org_of(scope), delegation_id(scope, dimension), dimension, "test"},
        tenant_of(scope));
  }

  // ---------------------------------------------------------- reservations
  std::int64_t draft(const std::string& id, const events::QuotaScope& owner, const std::string& dimension,
                     std::int64_t quantity) {
    const std::string org = org_of(owner);
    reservation_org_[id] = org;
    reservation_quantity_[id] = quantity;
    state_[id] = "draft";
    return append("reservation:" + id,
                  events::ReservationDrafted{id,
                                             org,
                                             owner,
                                             "gpu_nodes",
                                             dimension,
                                             "eu-1",
                                             "h100",
                                             quantity,
                                             "gpu",
                                             kWindowStart,
                                             kWindowEnd,
                                             {{"sku", "h100"}, {"region", "eu-1"}},
                                             "test"},
                  org);
  }
  std::int64_t transition(const std::string& id, const std::string& state) {
    const std::string before = state_[id];
    state_[id] = state;
    return append("reservation:" + id, events::ReservationStateChanged{id, reservation_org_[id], before, state, "test"},
                  reservation_org_[id]);
  }
  std::int64_t consume(const std::string& id, std::int64_t quantity) {
    const std::int64_t before = consumed_[id];
    consumed_[id] += quantity;
    std::vector<events::Event> evs = {
        events::ReservationConsumed{id, reservation_org_[id], quantity, before, consumed_[id], "test"}};
    if (consumed_[id] == reservation_quantity_[id]) {
      evs.push_back(events::ReservationStateChanged{id, reservation_org_[id], state_[id], "exhausted", "test"});
      state_[id] = "exhausted";
    }
    return append("reservation:" + id, std::move(evs), reservation_org_[id]);
  }
  std::int64_t release(const std::string& id, std::int64_t quantity) {
    const std::int64_t before = consumed_[id];
    consumed_[id] -= quantity;
    std::vector<events::Event> evs = {
        events::ReservationReleased{id, reservation_org_[id], quantity, before, consumed_[id], "test"}};
    if (state_[id] == "exhausted") {
      evs.push_back(events::ReservationStateChanged{id, reservation_org_[id], "exhausted", "active", "test"});
      state_[id] = "active";
    }
    return append("reservation:" + id, std::move(evs), reservation_org_[id]);
  }

  // Every admission event type, moves after children, a parent lowered
  // below its children, a cleared ceiling, a revoked and renewed delegation,
  // reservations through their lifecycle.
  //   acme (plan pro -> enterprise): research > ml (ml later moved to the top), ops, acme.default
  //     p1 (ml -> ops) with principal alice; p2 (acme.default) with api key key1
  //   beta (plan free): q1
  void standard_history() {
    using events::QuotaLevel;
    registry("product", "gpuaas");
    registry("resource_type", "gpu_node", {{"product", "gpuaas"}});
    registry("usage_unit", "gpu");
    registry("quota_dimension", "gpu.count", {{"product", "gpuaas"}, {"resource_type", "gpu_node"}, {"unit", "gpu"}});
    registry("quota_dimension", "tokens.day", {{"unit", "token"}});
    organization("acme", "pro", "Acme");
    organization("beta", "free", "Beta");
    department("research", "acme", "");
    department("ml", "acme", "research");
    department("ops", "acme", "");
    project("p1", "acme", "ml");
    project("p2", "acme", "acme.default");
    project("q1", "beta", "beta.default");
    principal("alice", "p1");
    principal("key1", "p2", "api_key", kWindowEnd);
    ceiling({QuotaLevel::kGlobal, ""}, "gpu.count", 1000);
    ceiling({QuotaLevel::kPlan, "pro"}, "gpu.count", 200);
    ceiling({QuotaLevel::kOrganization, "acme"}, "gpu.count", 100);
    ceiling({QuotaLevel::kOrganization, "acme"}, "tokens.day", 1'000'000, "day", "token");
    ceiling({QuotaLevel::kDepartment, "research"}, "gpu.count", 50);
    ceiling({QuotaLevel::kProject, "p1"}, "gpu.count", 40);
    ceiling({QuotaLevel::kPrincipal, "alice"}, "gpu.count", 10);
    delegate({QuotaLevel::kDepartment, "research"}, "gpu.count", 80);
    draft("res-1", {QuotaLevel::kProject, "p2"}, "gpu.count", 20);
    transition("res-1", "active");
    consume("res-1", 5);
    draft("res-2", {QuotaLevel::kDepartment, "ops"}, "gpu.count", 10);
    transition("res-2", "active");
    draft("res-3", {QuotaLevel::kProject, "p1"}, "gpu.count", 5);
    move_project("p1", "ops");
    move_department("ml", "");
    change_plan("acme", "enterprise");
    ceiling({QuotaLevel::kOrganization, "acme"}, "gpu.count", 30);  // lowered below research's 50
    clear({QuotaLevel::kProject, "p1"}, "gpu.count");
    revoke({QuotaLevel::kDepartment, "research"}, "gpu.count");
    delegate({QuotaLevel::kDepartment, "research"}, "gpu.count", std::nullopt);
    transition("res-2", "suspended");
    consume("res-1", 15);  // exhausted
    release("res-1", 5);   // active again
    ceiling({QuotaLevel::kPlan, "enterprise"}, "gpu.count", 500);
    registry("quota_dimension", "gpu.count",
             {{"product", "gpuaas"}, {"resource_type", "gpu_node"}, {"unit", "gpu"}, {"family", "compute"}});
  }

 private:
  static std::string delegation_id(const events::QuotaScope& scope, const std::string& dimension) {
    return "delegation:" + domain::scope_text(scope) + ":" + dimension;
  }

  std::unique_ptr<adapters::postgres::PgEventStore> store_;
  std::map<std::string, std::int64_t> versions_;
  std::int64_t commands_ = 0;
  std::vector<Appended> appended_;
  std::map<std::string, std::map<std::string, std::string>> registry_;
  std::map<events::QuotaScope, std::string> org_of_;
  std::map<std::string, std::string> plan_, parent_dept_, dept_of_;
  std::map<std::pair<events::QuotaScope, std::string>, std::int64_t> quantities_, rule_versions_;
  std::map<std::string, std::string> reservation_org_, state_;
  std::map<std::string, std::int64_t> reservation_quantity_, consumed_;
};

}  // namespace ledger::testing
