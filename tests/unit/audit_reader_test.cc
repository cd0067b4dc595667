// The audit routes (adapters/http/routes/query_api.h) over the in-memory
// audit reader (adapters/memory/audit_reader.h), with no server: a history
// written by the command service, projected by the audit projection into
// the in-memory read-model store, read page by page. Paging by cursor
// repeats and skips nothing; each row's mutation evidence is the position
// the writer answered the command with; an organization's principal sees
// its own organization's rows only.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "adapters/http/routes/query_api.h"
#include "adapters/memory/audit_reader.h"
#include "adapters/memory/event_store.h"
#include "adapters/memory/projector_ports.h"
#include "adapters/system/clock.h"
#include "commands/command_service.h"
#include "projections/admission/admission_store.h"
#include "projections/admission/snapshot_reader.h"
#include "tests/support/query_request.h"

namespace ledger {
namespace {

using Json = nlohmann::json;
using commands::Principal;

constexpr events::Instant kT0{1'780'272'000'000'000};  // 2026-06-01T00:00:00Z
constexpr const char* kWindow = "billing.window_seconds";

Principal admin() { return {{"user", "platform-admin", {"platform_admin"}}, "platform"}; }
Principal org1_admin() { return {{"user", "org1-admin", {"tenant_admin"}}, "org-1"}; }

class AuditReaderTest : public ::testing::Test {
 protected:
  AuditReaderTest() {
    auto auth = identity::TokenAuthenticator::from_json(Json::parse(R"({"tokens":[
        {"token":"t","tenant":"platform","actor":{"type":"user","id":"auditor","roles":["auditor"]}},
        {"token":"org1","tenant":"org-1","actor":{"type":"user","id":"org1-auditor","roles":["auditor"]}}]})"));
    EXPECT_TRUE(auth.has_value());
    auth_ = std::make_unique<identity::TokenAuthenticator>(std::move(*auth));
    api_ = std::make_unique<routes::QueryApi>(policy_, *auth_, clock_, &audit_);
    service_.start();
  }
  ~AuditReaderTest() override { service_.stop(); }

  // Each command a minute after the previous; its answer by command id.
  void run(commands::Command c, Principal who = admin()) {
    clock_.advance_micros(60'000'000);
    const std::string id = "c" + std::to_string(answers_.size() + refused_ + 1);
    commands::CommandRequest r{{id, std::move(who), "corr-" + id, "cause-" + id}, std::move(c), {}};
    auto out = service_.submit_async(r).get();
    if (out) {
      answers_[id] = *out;
    } else {
      ++refused_;
    }
  }
  static commands::Command define_window() {
    events::PolicyKeyDefined d;
    d.key = kWindow;
    d.value_type = events::ValueType::kInt;
    d.default_value = events::PolicyValue{std::int64_t{60}};
    d.min = 1;
    d.max = 3600;
    return domain::DefinePolicyKey{d};
  }
  static commands::Command set(const std::string& org, std::int64_t v) {
    domain::SetPolicyValue c;
    c.key = kWindow;
    c.scope = {events::ScopeLevel::kOrganization, org};
    c.value = events::PolicyValue{v};
    c.reason = "r";
    return c;
  }
  // Projects everything written so far into the in-memory read models.
  void project() {
    history_.committed = events_.all();
    auto set = projections::ProjectionSet::create(read_models_);
    ASSERT_TRUE(set.has_value());
    ASSERT_TRUE(projections::catch_up(**set, history_, 3).has_value());
  }
  Json get(const std::string& query, const std::string& token = "t") {
    auto r = api_->handle(testing::query_request("GET", "/v1/audit", query, {}, token));
    EXPECT_EQ(r.status, 200) << r.body;
    return Json::parse(r.body, nullptr, false);
  }
  // Every row of `query`, page by page (`limit` a page).
  std::vector<Json> all_pages(const std::string& query, int limit, const std::string& token = "t") {
    std::vector<Json> rows;
    std::string cursor;
    for (int pages = 0; pages < 100; ++pages) {
      std::string q = "limit=" + std::to_string(limit);
      if (!query.empty()) q += "&" + query;
      if (!cursor.empty()) q += "&cursor=" + cursor;
      Json page = get(q, token);
      for (auto& row : page["items"]) rows.push_back(row);
      if (!page.value("has_more", false)) break;
      cursor = page["next_cursor"].get<std::string>();
    }
    return rows;
  }

  adapters::system::ManualClock clock_{kT0};
  adapters::memory::InMemoryEventStore events_{clock_};
  commands::CommandService service_{events_, clock_};
  adapters::memory::MemoryHistory history_;
  adapters::memory::InMemoryReadModelStore read_models_;
  adapters::memory::MemoryAuditReader audit_{read_models_, events_};
  projections::AdmissionStore no_policy_values_;
  projections::SnapshotReader policy_{no_policy_values_.snapshot()};
  std::unique_ptr<identity::TokenAuthenticator> auth_;
  std::unique_ptr<routes::QueryApi> api_;
  std::map<std::string, commands::Accepted> answers_;
  int refused_ = 0;
};

TEST_F(AuditReaderTest, PagesRepeatAndSkipNothingAndCarryTheWritersEvidence) {
  run(define_window());
  for (int i = 1; i <= 4; ++i) {
    run(set("org-1", 60 * i));
    run(set("org-2", 30 * i));
  }
  run(set("org-2", 999), org1_admin());  // refused, recorded as AccessRefused
  project();
  ASSERT_EQ(refused_, 1);

  const auto whole = all_pages("", 1000);
  ASSERT_EQ(whole.size(), events_.all().size());
  for (int limit : {1, 2, 3, 7}) {
    const auto paged = all_pages("", limit);
    ASSERT_EQ(paged.size(), whole.size()) << limit;
    for (std::size_t i = 0; i < whole.size(); ++i) EXPECT_EQ(paged[i], whole[i]) << limit << " " << i;
  }
  std::int64_t last = 0;
  for (const auto& row : whole) {
    EXPECT_GT(row["position"].get<std::int64_t>(), last);
    last = row["position"].get<std::int64_t>();
    const auto answer = answers_.find(row["command_id"].get<std::string>());
    if (answer == answers_.end()) continue;  // the refusal's record
    // The same number the writer answered the command with.
    EXPECT_EQ(row["evidence"]["snapshot_version"].get<std::int64_t>(),
              answer->second.decided_at_position.value_or(events::GlobalPosition{-1}).value)
        << row.dump();
  }
  // Filters: one organization's rows, and the refusal.
  for (const auto& row : all_pages("scope_level=organization&scope_id=org-1", 2))
    EXPECT_EQ(row["scope"]["id"], "org-1") << row.dump();
  EXPECT_EQ(all_pages("scope_level=organization&scope_id=org-1", 2).size(), 4U);
  EXPECT_EQ(all_pages("event_type=AccessRefused", 2).size(), 1U);
}

TEST_F(AuditReaderTest, AnOrganizationsPrincipalReadsOnlyItsOwnRows) {
  run(define_window());
  run(set("org-1", 120));
  run(set("org-2", 240));
  project();
  const auto own = all_pages("", 1, "org1");
  ASSERT_FALSE(own.empty());
  for (const auto& row : own) EXPECT_EQ(row["tenant"], "org-1") << row.dump();
  auto other = api_->handle(testing::query_request("GET", "/v1/audit", "tenant=org-2", {}, "org1"));
  EXPECT_EQ(other.status, 403) << other.body;
}

TEST_F(AuditReaderTest, ASubtreePageIsLeftToTheStoredReadModel) {
  project();
  projections::AuditFilter f;
  f.scope_level = "department";
  f.scope_id = "d1";
  f.include_descendants = true;
  ASSERT_TRUE(f.in_subtree());
  auto page = audit_.audit_page(f);
  ASSERT_FALSE(page.has_value());
  EXPECT_EQ(page.error().kind, domain::ErrorKind::kInternal);
}

}  // namespace
}  // namespace ledger
