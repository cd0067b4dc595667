// The admission read model on the real PostgreSQL: events appended with the
// real event store, projected by the real projector into schema "rm", read
// back with PgAdmissionQueries. Moves, parents changed after their
// children, cleared ceilings, time travel by position, the read model equal
// to domain::AdmissionModel at EVERY position of a history, and a rebuild
// equal to the live schema row for row.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>

#include "adapters/postgres/admission_queries.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_store.h"
#include "adapters/projector/projector.h"
#include "adapters/system/clock.h"
#include "domain/admission.h"
#include "tests/support/admission_history.h"
#include "tests/support/test_env.h"

namespace ledger {
namespace {

using adapters::postgres::PgAdmissionQueries;
using events::QuotaLevel;
using events::QuotaScope;
using testing::AdmissionHistory;

std::vector<std::string> chain_text(const std::vector<domain::ChainNode>& chain) {
  std::vector<std::string> out;
  for (const auto& c : chain) out.push_back(domain::scope_text(c.scope) + "@" + std::to_string(c.version));
  return out;
}

std::vector<std::string> scopes_of(const std::vector<domain::ChainNode>& chain) {
  std::vector<std::string> out;
  for (const auto& c : chain) out.push_back(domain::scope_text(c.scope));
  return out;
}

domain::DecisionInput input(std::string actor, std::string org, std::string project, std::string dimension) {
  domain::DecisionInput in;
  in.actor.actor_type = "user";
  in.actor.actor_id = std::move(actor);
  in.hierarchy.organization_id = std::move(org);
  in.hierarchy.project_id = std::move(project);
  in.request.dimension = std::move(dimension);
  return in;
}

class AdmissionReadModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::create_database(::testing::UnitTest::GetInstance()->current_test_info()->name());
    history_ = std::make_unique<AdmissionHistory>(db_.app_url, clock_);
    queries_ = std::make_unique<PgAdmissionQueries>(db_.app_url, "rm", 2);
  }
  void project() {
    projector::ProjectorOptions o{.pg_url = db_.app_url, .brokers = "", .schema = "rm"};
    auto r = projector::catch_up_from_store(o);
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }
  domain::DecisionSnapshot snapshot(const domain::DecisionInput& in, std::optional<events::GlobalPosition> at = {}) {
    auto s = queries_->decision_snapshot(in, at);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
    return s ? *s : domain::DecisionSnapshot{};
  }
  domain::Effective effective(const QuotaScope& scope, const std::string& dimension,
                              std::optional<events::GlobalPosition> at = {}) {
    auto s = queries_->effective_ceilings(scope, dimension, at);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
    if (!s) return {};
    return domain::evaluate_ceiling(s->chain, s->rules, s->delegations, {dimension, "", "", ""}, false).effective;
  }

  testing::TestDatabase db_;
  adapters::system::ManualClock clock_{events::Instant{1'780'272'000'000'000}};
  std::unique_ptr<AdmissionHistory> history_;
  std::unique_ptr<PgAdmissionQueries> queries_;
};

TEST_F(AdmissionReadModelTest, MovedProjectAnswersWithItsNewChainAndTheOldOneBefore) {
  auto& h = *history_;
  h.organization("acme", "pro");
  h.department("research", "acme", "");
  h.department("ml", "acme", "research");  // departments nest
  h.project("p1", "acme", "ml");
  h.principal("alice", "p1");
  const auto before_move = h.department("ops", "acme", "");
  const auto moved = h.move_project("p1", "ops");
  project();

  auto now = snapshot(input("alice", "acme", "p1", "gpu.count"));
  EXPECT_EQ(now.snapshot_version, moved);
  EXPECT_EQ(scopes_of(now.chain), (std::vector<std::string>{"principal:alice", "project:p1", "department:ops",
                                                            "organization:acme", "plan:pro", "global"}));
  EXPECT_EQ(now.chain[1].version, 2);  // the project's stream: created, moved
  auto then = snapshot(input("alice", "acme", "p1", "gpu.count"), events::GlobalPosition{before_move});
  EXPECT_EQ(then.snapshot_version, before_move);
  EXPECT_EQ(scopes_of(then.chain),
            (std::vector<std::string>{"principal:alice", "project:p1", "department:ml", "department:research",
                                      "organization:acme", "plan:pro", "global"}));
  // Someone who is not a principal of the project asks as the project.
  EXPECT_EQ(scopes_of(snapshot(input("mallory", "acme", "p1", "gpu.count")).chain).front(), "project:p1");
  // Unknown project: empty chain (the domain answers 404).
  EXPECT_TRUE(snapshot(input("alice", "acme", "nope", "gpu.count")).chain.empty());
  // Before the project existed it was unknown too.
  EXPECT_TRUE(snapshot(input("alice", "acme", "p1", "gpu.count"), events::GlobalPosition{2}).chain.empty());
}

TEST_F(AdmissionReadModelTest, SubtreeMoveCarriesItsProjectsAlong) {
  auto& h = *history_;
  h.organization("acme", "pro");
  h.department("research", "acme", "");
  h.department("ml", "acme", "research");
  h.project("p1", "acme", "ml");
  h.ceiling({QuotaLevel::kDepartment, "research"}, "gpu.count", 8);
  const auto moved = h.move_department("ml", "");
  h.ceiling({QuotaLevel::kOrganization, "acme"}, "gpu.count", 100);
  project();
  EXPECT_EQ(effective({QuotaLevel::kProject, "p1"}, "gpu.count", events::GlobalPosition{moved - 1}).quantity, 8);
  auto e = effective({QuotaLevel::kProject, "p1"}, "gpu.count");
  EXPECT_EQ(e.quantity, 100);  // research no longer bounds it
  EXPECT_EQ(e.inherited_from, (QuotaScope{QuotaLevel::kOrganization, "acme"}));
}

TEST_F(AdmissionReadModelTest, ParentLoweredAfterItsChildrenClampsThem) {
  auto& h = *history_;
  h.organization("acme", "pro");
  h.project("p1", "acme", "acme.default");
  h.ceiling({QuotaLevel::kOrganization, "acme"}, "gpu.count", 100);
  const auto child = h.ceiling({QuotaLevel::kProject, "p1"}, "gpu.count", 40);
  const auto lowered = h.ceiling({QuotaLevel::kOrganization, "acme"}, "gpu.count", 30);
  project();
  auto e = effective({QuotaLevel::kProject, "p1"}, "gpu.count");
  EXPECT_EQ(e.quantity, 30);
  EXPECT_EQ(e.inherited_from, (QuotaScope{QuotaLevel::kOrganization, "acme"}));
  // The organization's rule is at version 2 now; the project's own rule stays.
  auto snap = queries_->effective_ceilings({QuotaLevel::kProject, "p1"}, std::nullopt, std::nullopt);
  ASSERT_TRUE(snap.has_value());
  ASSERT_EQ(snap->rules.size(), 2u);
  EXPECT_EQ(snap->rules[0].scope.level, QuotaLevel::kProject);  // chain order: requester first
  EXPECT_EQ(snap->rules[0].quantity, 40);
  EXPECT_EQ(snap->rules[1].rule_version, 2);
  EXPECT_EQ(snap->snapshot_version, lowered);
  EXPECT_EQ(effective({QuotaLevel::kProject, "p1"}, "gpu.count", events::GlobalPosition{child}).quantity, 40);
}

TEST_F(AdmissionReadModelTest, ClearedCeilingsVanishButStayInThePast) {
  auto& h = *history_;
  h.organization("acme", "pro");
  const auto set = h.ceiling({QuotaLevel::kOrganization, "acme"}, "gpu.count", 64);
  h.ceiling({QuotaLevel::kOrganization, "acme"}, "tokens.day", 5, "day");
  const auto cleared = h.clear({QuotaLevel::kOrganization, "acme"}, "gpu.count");
  project();
  auto now = queries_->effective_ceilings({QuotaLevel::kOrganization, "acme"}, std::nullopt, std::nullopt);
  ASSERT_TRUE(now.has_value());
  ASSERT_EQ(now->rules.size(), 1u);
  EXPECT_EQ(now->rules[0].target.dimension, "tokens.day");
  EXPECT_EQ(now->rules[0].target.window, "day");
  EXPECT_EQ(now->snapshot_version, cleared);
  auto then =
      queries_->effective_ceilings({QuotaLevel::kOrganization, "acme"}, "gpu.count", events::GlobalPosition{set});
  ASSERT_TRUE(then.has_value());
  ASSERT_EQ(then->rules.size(), 1u);
  EXPECT_EQ(then->rules[0].quantity, 64);
  EXPECT_EQ(then->snapshot_version, set);
}

// The brute-force check: for a history touching every admission event type,
// the snapshot read at position p equals what domain::AdmissionModel built
// from the events up to p says, for every p and several requesters.
TEST_F(AdmissionReadModelTest, SnapshotEqualsTheDomainModelAtEveryPosition) {
  auto& h = *history_;
  h.standard_history();
  h.project("p3", "acme", "research");  // under the re-delegating department
  h.delegate({QuotaLevel::kDepartment, "research"}, "gpu.count", 70);
  project();
  const std::vector<domain::DecisionInput> inputs = {
      input("carol", "acme", "p3", "gpu.count"),  input("alice", "acme", "p1", "gpu.count"),
      input("key1", "acme", "p2", "gpu.count"),   input("alice", "acme", "p2", "gpu.count"),
      input("bob", "beta", "q1", "gpu.count"),    input("alice", "acme", "nope", "gpu.count"),
      input("alice", "acme", "p1", "tokens.day"),
  };
  auto with_product = input("key1", "acme", "p2", "gpu.count");
  with_product.product.product_id = "gpuaas";
  with_product.product.resource_type = "gpu_node";
  auto all = inputs;
  all.push_back(with_product);

  domain::AdmissionModel model;
  std::size_t checked = 0;
  for (const auto& [stream, event, position] : h.appended()) {
    model.apply(stream, event);
    auto snaps = queries_->decision_snapshots(all, events::GlobalPosition{position});
    ASSERT_TRUE(snaps.has_value()) << snaps.error().message;
    for (std::size_t i = 0; i < all.size(); ++i) {
      const auto want = model.snapshot_for(all[i]);
      const auto& got = (*snaps)[i];
      SCOPED_TRACE("position " + std::to_string(position) + " (" + events::type_name(event) + "), input " +
                   std::to_string(i));
      EXPECT_EQ(got.snapshot_version, position);
      EXPECT_EQ(chain_text(got.chain), chain_text(want.chain));
      EXPECT_EQ(domain::rules_of(got), domain::rules_of(want));
      EXPECT_EQ(got.delegations, want.delegations);
      EXPECT_EQ(got.reservations, want.reservations);
      EXPECT_EQ(got.dimension, want.dimension);
      EXPECT_EQ(got.product, want.product);
      EXPECT_EQ(got.resource_type, want.resource_type);
      EXPECT_EQ(got.usage_unit, want.usage_unit);
      ++checked;
    }
  }
  EXPECT_GT(checked, 200u);
}

TEST_F(AdmissionReadModelTest, ReservationsAndNodesReadAsTheyStood) {
  auto& h = *history_;
  h.standard_history();
  project();
  auto r = queries_->reservation("acme", "res-1", std::nullopt);
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->reservation);
  EXPECT_EQ(r->reservation->view.state, "active");
  EXPECT_EQ(r->reservation->view.consumed, 15);
  EXPECT_EQ(r->reservation->kind, "gpu_nodes");
  EXPECT_EQ(r->reservation->attributes.at("sku"), "h100");
  EXPECT_EQ(r->reservation->view.owner_chain, (std::vector<QuotaScope>{{QuotaLevel::kProject, "p2"},
                                                                       {QuotaLevel::kDepartment, "acme.default"},
                                                                       {QuotaLevel::kOrganization, "acme"}}));
  auto missing = queries_->reservation("acme", "res-404", std::nullopt);
  ASSERT_TRUE(missing.has_value());
  EXPECT_FALSE(missing->reservation);

  projections::ReservationFilter f;
  f.organization_id = "acme";
  f.limit = 2;
  auto page = queries_->reservations(f, std::nullopt);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_TRUE(page->has_more);
  f.after_id = page->items.back().view.reservation_id;
  f.after_organization_id = page->items.back().organization_id;  // pages run in (id, organization) order
  auto rest = queries_->reservations(f, std::nullopt);
  ASSERT_TRUE(rest.has_value());
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_FALSE(rest->has_more);
  EXPECT_EQ(rest->items[0].view.reservation_id, "res-3");
  // By state as it reads at an instant: past its window res-1 reads expired.
  f = {};
  f.state = "expired";
  f.as_of = events::Instant{AdmissionHistory::kWindowEnd.micros + 1};
  auto expired = queries_->reservations(f, std::nullopt);
  ASSERT_TRUE(expired.has_value());
  ASSERT_EQ(expired->items.size(), 2u);  // res-1 (active) and res-2 (suspended)
  f.as_of = clock_.now();
  EXPECT_TRUE(queries_->reservations(f, std::nullopt)->items.empty());
  f = {};
  f.owner = QuotaScope{QuotaLevel::kDepartment, "ops"};
  auto owned = queries_->reservations(f, std::nullopt);
  ASSERT_EQ(owned->items.size(), 1u);
  EXPECT_EQ(owned->items[0].view.reservation_id, "res-2");

  // Nodes: a lookup with its chain, children by parent and by organization.
  auto node = queries_->node({QuotaLevel::kOrganization, "acme"}, std::nullopt);
  ASSERT_TRUE(node.has_value() && node->node);
  EXPECT_EQ(node->node->plan_id, "enterprise");
  EXPECT_EQ(node->node->default_department_id, "acme.default");
  EXPECT_EQ(node->node->name, "Acme");
  projections::NodeFilter nf;
  nf.parent = QuotaScope{QuotaLevel::kDepartment, "ops"};
  auto children = queries_->nodes(nf, std::nullopt);
  ASSERT_TRUE(children.has_value());
  ASSERT_EQ(children->items.size(), 1u);  // p1, moved here
  EXPECT_EQ(children->items[0].scope.id, "p1");
  auto before = queries_->nodes(nf, events::GlobalPosition{h.position_of("ProjectMoved") - 1});
  EXPECT_TRUE(before->items.empty());
  nf = {};
  nf.organization_id = "acme";
  nf.level = QuotaLevel::kProject;
  auto projects = queries_->nodes(nf, std::nullopt);
  ASSERT_EQ(projects->items.size(), 2u);
  nf = {};
  nf.parent = QuotaScope{QuotaLevel::kProject, "p2"};
  auto keys = queries_->nodes(nf, std::nullopt);
  ASSERT_EQ(keys->items.size(), 1u);
  EXPECT_EQ(keys->items[0].principal_type, "api_key");
  EXPECT_EQ(keys->items[0].expires_at, AdmissionHistory::kWindowEnd);

  auto registry = queries_->registry("quota_dimension", std::nullopt);
  ASSERT_TRUE(registry.has_value());
  ASSERT_EQ(registry->entries.size(), 2u);
  EXPECT_EQ(registry->entries[0].entry_id, "gpu.count");
  EXPECT_EQ(registry->entries[0].version, 2);
}

TEST_F(AdmissionReadModelTest, RebuildFromHistoryEqualsLive) {
  history_->standard_history();
  project();
  projector::ProjectorOptions o{.pg_url = db_.app_url, .brokers = "", .schema = "rm_rebuilt"};
  auto rebuilt = projector::rebuild(o, projector::RebuildSource::kPostgres);
  ASSERT_TRUE(rebuilt.has_value()) << rebuilt.error().message;
  EXPECT_EQ(rebuilt->value, history_->appended().back().position);
  const auto& tables = adapters::postgres::read_model_tables();
  for (const char* t : {"registry_entries", "scope_nodes", "scope_links", "ceiling_rules", "delegations",
                        "reservations", "reservation_states"}) {
    EXPECT_NE(std::find(tables.begin(), tables.end(), t), tables.end()) << t;
    EXPECT_NE(testing::sql_scalar(db_.admin_url, std::string("SELECT count(*) FROM rm.") + t), "0") << t;
  }
  for (const auto& table : tables) {
    auto diff = adapters::postgres::diff_tables(db_.admin_url, "rm", "rm_rebuilt", table, 10);
    ASSERT_TRUE(diff.has_value());
    EXPECT_TRUE(diff->empty()) << table << " differs: " << diff->front();
  }
  // Every admission event is in the audit view too.
  EXPECT_EQ(testing::sql_scalar(db_.admin_url,
                                "SELECT count(*) FROM rm.audit_log WHERE subject_kind IN "
                                "('registry','hierarchy','ceiling','delegation','reservation')"),
            std::to_string(history_->appended().size()));
}

}  // namespace
}  // namespace ledger
