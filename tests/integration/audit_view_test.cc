// The audit view on the real read model: events written through the command
// service, projected from the store, read through the query API's audit
// routes — filters, cursor paging, JSON Lines, "who changed this", time
// travel by position, bad input, tenant isolation, and a history holding
// PolicyValueSet v1 rows (upcast on read, never rewritten).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "adapters/http/routes/query_api.h"
#include "adapters/kafka/kafka.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_store.h"
#include "adapters/projector/projector.h"
#include "adapters/relay/relay.h"
#include "adapters/system/clock.h"
#include "commands/command_service.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"
#include "tests/support/query_request.h"
#include "tests/support/test_env.h"

namespace ledger {
namespace {

using Json = nlohmann::json;
constexpr std::int64_t kMinute = 60LL * 1'000'000;
constexpr const char* kWindow = "billing.window_seconds";
constexpr const char* kIsolation = "allocation.isolation_model";

commands::Principal admin() { return {{"user", "platform-admin", {"platform_admin"}}, "platform"}; }
commands::Principal alice() { return {{"user", "alice", {"tenant_admin"}}, "acme"}; }
commands::Principal billing() { return {{"service_account", "acme-billing", {"service"}}, "acme"}; }
commands::Principal carol() { return {{"user", "carol", {"platform_admin", "auditor"}}, "platform"}; }

class AuditViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::create_database(::testing::UnitTest::GetInstance()->current_test_info()->name());
    store_ = std::make_unique<adapters::postgres::PgEventStore>(db_.app_url, clock_);
    service_ = std::make_unique<commands::CommandService>(*store_, clock_);
    auto auth = identity::TokenAuthenticator::from_json(Json::parse(R"({"tokens":[
        {"token":"t","tenant":"platform","actor":{"type":"user","id":"auditor","roles":["auditor"]}},
        {"token":"acme","tenant":"acme","actor":{"type":"user","id":"acme-auditor","roles":["auditor"]}},
        {"token":"acme-reader","tenant":"acme","actor":{"type":"user","id":"acme-reader","roles":["reader"]}}]})"));
    ASSERT_TRUE(auth.has_value());
    auth_ = std::make_unique<identity::TokenAuthenticator>(std::move(*auth));
    queries_ = std::make_unique<adapters::postgres::PgPolicyQueries>(db_.app_url, "rm", 2);
    audit_ = std::make_unique<adapters::postgres::PgAuditQueries>(db_.app_url, "rm", 2);
    api_ = std::make_unique<routes::QueryApi>(*queries_, *auth_, clock_, audit_.get());
  }
  void TearDown() override {
    if (started_) service_->stop();
  }

  // Each command one minute after the previous, so commit times differ.
  std::int64_t run(commands::Command c, commands::Principal who = admin()) {
    if (!started_) {
      service_->start();
      started_ = true;
    }
    clock_.advance_micros(kMinute);
    commands::CommandRequest r{{"c" + std::to_string(++commands_), std::move(who), "corr-" + std::to_string(commands_),
                                "cause-" + std::to_string(commands_)},
                               std::move(c),
                               {}};
    auto out = service_->submit_async(r).get();
    EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().code);
    return out ? out->position.value : 0;
  }
  std::int64_t define_keys() {
    run(domain::DefinePolicyKey{events::PolicyKeyDefined{kWindow,
                                                         events::ValueType::kInt,
                                                         events::PolicyValue{std::int64_t{60}},
                                                         1,
                                                         86400,
                                                         {},
                                                         "window",
                                                         events::WriteAudience::kTenant}});
    return run(domain::DefinePolicyKey{events::PolicyKeyDefined{kIsolation,
                                                                events::ValueType::kString,
                                                                events::PolicyValue{std::string("user-revoke")},
                                                                {},
                                                                {},
                                                                {"user-revoke", "full-reimage"},
                                                                "",
                                                                events::WriteAudience::kTenant}});
  }
  std::int64_t set(events::ScopeLevel level, std::string id, std::int64_t v, commands::Principal who = admin(),
                   std::optional<events::Instant> at = {}, std::string reason = "r") {
    return run(
        domain::SetPolicyValue{kWindow, {level, std::move(id)}, events::PolicyValue{v}, at, std::move(reason), {}},
        std::move(who));
  }
  // The standard history, positions 1..8 (see the comments).
  void standard_history() {
    define_keys();                                                                  // 1, 2
    set(events::ScopeLevel::kOrganization, "acme", 40, alice(), {}, "acme asked");  // 3 tenant acme
    set(events::ScopeLevel::kUser, "u1", 20, alice());                              // 4 tenant acme
    set(events::ScopeLevel::kOrganization, "other", 50, carol());                   // 5 tenant other
    run(domain::SetPolicyValue{kIsolation,
                               {events::ScopeLevel::kGlobal, ""},
                               events::PolicyValue{std::string("full-reimage")},
                               {},
                               "security",
                               {}});  // 6
    set(events::ScopeLevel::kOrganization, "acme", 45, billing(), events::Instant{clock_.now().micros + 61 * kMinute},
        "future");                                // 7 tenant acme
    set(events::ScopeLevel::kProject, "p1", 30);  // 8
  }
  void project() {
    projector::ProjectorOptions o{.pg_url = db_.app_url, .brokers = "", .schema = "rm"};
    auto r = projector::catch_up_from_store(o);
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }

  adapters::http::HttpResponse get(const std::string& path, const std::string& query, const char* token = "t",
                                   const char* method = "GET") {
    return api_->handle(testing::query_request(method, path, query, {}, token ? token : ""));
  }
  adapters::http::HttpResponse audit(const std::string& query, const char* token = "t") {
    return get("/v1/audit", query, token);
  }
  adapters::http::HttpResponse changes(const std::string& key, const std::string& query) {
    return get("/v1/audit/changes/" + key, query);
  }
  static Json body(const adapters::http::HttpResponse& r) { return Json::parse(r.body); }
  static std::vector<std::int64_t> positions(const Json& items) {
    std::vector<std::int64_t> out;
    for (const auto& i : items) out.push_back(i["position"].get<std::int64_t>());
    return out;
  }
  std::vector<std::int64_t> audit_positions(const std::string& query, const char* token = "t") {
    auto r = audit(query, token);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    return r.status == 200 ? positions(body(r)["items"]) : std::vector<std::int64_t>{};
  }
  void expect_error(const adapters::http::HttpResponse& r, int status, const std::string& code,
                    const std::string& what) {
    EXPECT_EQ(r.status, status) << what << ": " << r.body;
    EXPECT_EQ(body(r)["code"], code) << what << ": " << r.body;
  }

  testing::TestDatabase db_;
  adapters::system::ManualClock clock_{events::Instant{1'780'272'000'000'000}};
  std::unique_ptr<adapters::postgres::PgEventStore> store_;
  std::unique_ptr<commands::CommandService> service_;
  bool started_ = false;
  int commands_ = 0;
  std::unique_ptr<identity::TokenAuthenticator> auth_;
  std::unique_ptr<adapters::postgres::PgPolicyQueries> queries_;
  std::unique_ptr<adapters::postgres::PgAuditQueries> audit_;
  std::unique_ptr<routes::QueryApi> api_;
};

using P = std::vector<std::int64_t>;

TEST_F(AuditViewTest, EveryEventIsOneRowWithWhoWhatWhereWhenAndWhy) {
  standard_history();
  project();
  auto r = audit("");
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = body(r);
  EXPECT_EQ(b["snapshot_version"], 8);
  EXPECT_EQ(positions(b["items"]), (P{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_TRUE(b["next_cursor"].is_null());
  EXPECT_FALSE(b["has_more"].get<bool>());

  const auto& set = b["items"][6];  // position 7: a future-dated change by a service account
  EXPECT_EQ(set["event_type"], "PolicyValueSet");
  EXPECT_EQ(set["schema_version"], 2);
  EXPECT_EQ(set["tenant"], "acme");
  EXPECT_EQ(set["stream_id"], std::string("policy-key:") + kWindow);
  EXPECT_EQ(set["subject"], (Json{{"kind", "policy_key"}, {"key", kWindow}}));
  EXPECT_EQ(set["scope"], (Json{{"level", "organization"}, {"id", "acme"}}));
  EXPECT_EQ(set["before"], 40);
  EXPECT_EQ(set["before_source"], "scope");
  EXPECT_EQ(set["after"], 45);
  EXPECT_EQ(set["reason"], "future");
  EXPECT_EQ(set["actor"], (Json{{"type", "service_account"}, {"id", "acme-billing"}, {"roles", {"service"}}}));
  EXPECT_EQ(set["correlation_id"], "corr-7");
  EXPECT_EQ(set["causation_id"], "cause-7");
  EXPECT_EQ(set["command_id"], "c7");
  EXPECT_EQ(set["recorded_at"], codec::format_instant(events::Instant{1'780'272'000'000'000 + 7 * kMinute}));
  EXPECT_EQ(set["effective_at"], codec::format_instant(events::Instant{1'780'272'000'000'000 + 67 * kMinute}));
  EXPECT_EQ(set["event_id"].get<std::string>().size(), 36u);

  const auto& first = b["items"][2];  // position 3: from the key's default
  EXPECT_EQ(first["before"], 60);
  EXPECT_EQ(first["before_source"], "default");

  const auto& def = b["items"][0];
  EXPECT_EQ(def["event_type"], "PolicyKeyDefined");
  EXPECT_TRUE(def["before"].is_null());
  EXPECT_TRUE(def["reason"].is_null());
  EXPECT_TRUE(def["effective_at"].is_null());
  EXPECT_EQ(def["after"]["default_value"], 60);
  EXPECT_EQ(def["scope"], (Json{{"level", "global"}, {"id", ""}}));
}

TEST_F(AuditViewTest, FiltersNarrowTheLog) {
  standard_history();
  project();
  EXPECT_EQ(audit_positions(std::string("key=") + kIsolation), (P{2, 6}));
  EXPECT_EQ(audit_positions("actor_id=alice"), (P{3, 4}));
  EXPECT_EQ(audit_positions("actor_type=service_account"), (P{7}));
  EXPECT_EQ(audit_positions("event_type=PolicyKeyDefined"), (P{1, 2}));
  EXPECT_EQ(audit_positions("tenant=acme"), (P{3, 4, 7}));
  EXPECT_EQ(audit_positions("correlation_id=corr-5"), (P{5}));
  EXPECT_EQ(audit_positions("command_id=c8"), (P{8}));
  EXPECT_EQ(audit_positions("scope_level=organization"), (P{3, 5, 7}));
  EXPECT_EQ(audit_positions("scope_level=organization&scope_id=acme"), (P{3, 7}));
  EXPECT_EQ(audit_positions("scope_level=organization&scope_id=acme&descendants=true"), (P{3, 4, 7}));
  EXPECT_EQ(audit_positions("scope_level=global"), (P{1, 2, 6}));
  EXPECT_EQ(audit_positions("scope_level=global&descendants=true"), (P{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(audit_positions("scope_level=user&scope_id=u1&descendants=true"), (P{4}));
  EXPECT_EQ(audit_positions(std::string("key=") + kWindow + "&scope_level=organization&actor_id=alice"), (P{3}));
  EXPECT_EQ(audit_positions("actor_id=nobody"), P{});

  // Time range on commit time: [from, to); as_of keeps rows recorded up to it.
  auto all = body(audit(""))["items"];
  const std::string t4 = all[3]["recorded_at"], t6 = all[5]["recorded_at"];
  EXPECT_EQ(audit_positions("from=" + t4 + "&to=" + t6), (P{4, 5}));
  EXPECT_EQ(audit_positions("from=" + t6), (P{6, 7, 8}));
  EXPECT_EQ(audit_positions("to=" + t4), (P{1, 2, 3}));
  EXPECT_EQ(audit_positions("as_of=" + t4), (P{1, 2, 3, 4}));
  EXPECT_EQ(audit_positions("as_of=" + t4 + "&to=" + t4), (P{1, 2, 3}));
  EXPECT_EQ(t6, "2026-06-01T00:06:00.000000Z");
  EXPECT_EQ(audit_positions("from=2026-06-01T01:06:00+01:00"), (P{6, 7, 8}));  // any RFC 3339 offset
}

TEST_F(AuditViewTest, AnOrganizationPrincipalSeesItsOwnTenantOnly) {
  standard_history();
  project();
  EXPECT_EQ(audit_positions("", "acme"), (P{3, 4, 7}));
  EXPECT_EQ(audit_positions("tenant=acme&actor_id=alice", "acme"), (P{3, 4}));
  expect_error(audit("tenant=other", "acme"), 403, "forbidden", "another tenant");
  expect_error(audit("scope_level=organization&scope_id=other", "acme"), 403, "forbidden", "another organization");
  expect_error(audit("", "acme-reader"), 403, "forbidden", "a reader has no audit role");
  auto c = body(changes(kWindow, ""));
  EXPECT_EQ(positions(c["changes"]), (P{1, 3, 4, 5, 7, 8}));
  auto own = get(std::string("/v1/audit/changes/") + kWindow, "", "acme");
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(positions(body(own)["changes"]), (P{3, 4, 7}));
}

TEST_F(AuditViewTest, CursorPagesNeitherRepeatNorSkipEvenWhileEventsArrive) {
  standard_history();
  for (int i = 0; i < 37; ++i) set(events::ScopeLevel::kUser, "u" + std::to_string(i % 4), 100 + i);  // 9..45
  project();

  std::vector<std::int64_t> seen;
  std::string cursor;
  int pages = 0;
  for (;;) {
    auto r = audit("limit=7" + (cursor.empty() ? std::string() : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200) << r.body;
    auto b = body(r);
    auto page = positions(b["items"]);
    EXPECT_LE(page.size(), 7u);
    seen.insert(seen.end(), page.begin(), page.end());
    ++pages;
    if (pages == 2) {
      // New events arrive mid-export; they show up at the end, once.
      for (int i = 0; i < 5; ++i) set(events::ScopeLevel::kProject, "p" + std::to_string(i), 200 + i);  // 46..50
      project();
      // The same cursor asked again answers the same page.
      auto again = body(audit("limit=7&cursor=" + cursor));
      EXPECT_EQ(positions(again["items"]), page);
    }
    if (b["next_cursor"].is_null()) {
      EXPECT_FALSE(b["has_more"].get<bool>());
      break;
    }
    EXPECT_TRUE(b["has_more"].get<bool>());
    EXPECT_EQ(page.size(), 7u);
    cursor = b["next_cursor"].get<std::string>();
    ASSERT_LT(pages, 100);
  }
  std::vector<std::int64_t> expected;
  for (std::int64_t p = 1; p <= 50; ++p) expected.push_back(p);
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(pages, 8);  // 50 rows, 7 a page

  // Paging a filtered view gives the unpaged answer.
  const auto all_user = audit_positions("scope_level=user&limit=1000");
  std::vector<std::int64_t> paged;
  cursor.clear();
  for (int guard = 0; guard < 100; ++guard) {
    auto b = body(audit("scope_level=user&limit=4" + (cursor.empty() ? std::string() : "&cursor=" + cursor)));
    auto page = positions(b["items"]);
    paged.insert(paged.end(), page.begin(), page.end());
    if (b["next_cursor"].is_null()) break;
    cursor = b["next_cursor"];
  }
  EXPECT_EQ(paged, all_user);
  EXPECT_EQ(all_user.size(), 38u);
  // Default page size is 100.
  EXPECT_EQ(audit_positions("").size(), 50u);
}

TEST_F(AuditViewTest, JsonLinesExportHasOneRowPerLine) {
  standard_history();
  project();
  auto r = audit("format=jsonl&limit=5");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/x-ndjson");
  ASSERT_NE(r.header("x-snapshot-version"), nullptr);
  EXPECT_EQ(*r.header("x-snapshot-version"), "8");
  EXPECT_EQ(*r.header("x-has-more"), "true");
  ASSERT_NE(r.header("x-next-cursor"), nullptr);
  const auto as_json = body(audit("limit=5"));
  std::vector<Json> lines;
  std::size_t start = 0;
  while (start < r.body.size()) {
    auto nl = r.body.find('\n', start);
    ASSERT_NE(nl, std::string::npos) << "every line ends in a newline";
    lines.push_back(Json::parse(r.body.substr(start, nl - start)));
    start = nl + 1;
  }
  ASSERT_EQ(lines.size(), 5u);
  for (std::size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i], as_json["items"][i]);
  EXPECT_EQ(*r.header("x-next-cursor"), as_json["next_cursor"].get<std::string>());

  auto rest = audit("format=jsonl&cursor=" + *r.header("x-next-cursor"));
  ASSERT_EQ(rest.status, 200);
  EXPECT_EQ(std::count(rest.body.begin(), rest.body.end(), '\n'), 3);
  EXPECT_EQ(*rest.header("x-has-more"), "false");
  EXPECT_EQ(rest.header("x-next-cursor"), nullptr);
}

TEST_F(AuditViewTest, ChangesOfAKeySayWhoChangedItWhenFromWhatToWhat) {
  standard_history();
  project();
  auto r = changes(kWindow, "scope_level=organization&scope_id=acme");
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = body(r);
  EXPECT_EQ(b["key"], kWindow);
  EXPECT_EQ(b["scope"], (Json{{"level", "organization"}, {"id", "acme"}}));
  ASSERT_EQ(positions(b["changes"]), (P{3, 7}));
  const auto& c0 = b["changes"][0];
  EXPECT_EQ(c0["actor"]["id"], "alice");
  EXPECT_EQ(c0["before"], 60);
  EXPECT_EQ(c0["before_source"], "default");
  EXPECT_EQ(c0["after"], 40);
  EXPECT_EQ(c0["reason"], "acme asked");
  const auto& c1 = b["changes"][1];
  EXPECT_EQ(c1["before"], 40);
  EXPECT_EQ(c1["after"], 45);
  EXPECT_EQ(c1["before_source"], "scope");
  EXPECT_EQ(c1["effective_at"], codec::format_instant(events::Instant{1'780'272'000'000'000 + 67 * kMinute}));
  EXPECT_EQ(b["last_updated_by"], (Json{{"type", "service_account"}, {"id", "acme-billing"}, {"roles", {"service"}}}));
  EXPECT_EQ(b["last_updated_at"], c1["recorded_at"]);
  EXPECT_EQ(b["last_updated_position"], 7);
  EXPECT_EQ(b["snapshot_version"], 8);

  // Every scope, the definition included.
  b = body(changes(kWindow, ""));
  EXPECT_EQ(positions(b["changes"]), (P{1, 3, 4, 5, 7, 8}));
  EXPECT_EQ(b["last_updated_by"]["id"], "platform-admin");
  EXPECT_EQ(b["last_updated_position"], 8);
  EXPECT_TRUE(b["scope"].is_null());

  // Paged: last_updated_* still name the newest change.
  b = body(changes(kWindow, "limit=2"));
  EXPECT_EQ(positions(b["changes"]), (P{1, 3}));
  EXPECT_EQ(b["last_updated_position"], 8);
  b = body(changes(kWindow, "limit=2&cursor=" + b["next_cursor"].get<std::string>()));
  EXPECT_EQ(positions(b["changes"]), (P{4, 5}));

  // A known key never changed at that scope; an unknown key.
  r = changes(kWindow, "scope_level=organization&scope_id=nobody");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(body(r)["changes"].empty());
  EXPECT_TRUE(body(r)["last_updated_by"].is_null());
  expect_error(changes("no.such.key", ""), 404, "unknown_policy_key", "unknown key");
}

TEST_F(AuditViewTest, AsOfPositionAnswersWhatTheLogSaidThen) {
  standard_history();
  project();
  auto b = body(audit("as_of_position=4"));
  EXPECT_EQ(positions(b["items"]), (P{1, 2, 3, 4}));
  EXPECT_EQ(b["snapshot_version"], 4);
  b = body(audit("as_of_position=0"));
  EXPECT_TRUE(b["items"].empty());
  EXPECT_EQ(b["snapshot_version"], 0);
  b = body(changes(kWindow, "scope_level=organization&scope_id=acme&as_of_position=6"));
  EXPECT_EQ(positions(b["changes"]), (P{3}));
  EXPECT_EQ(b["last_updated_by"]["id"], "alice");
  EXPECT_EQ(b["snapshot_version"], 6);
  // Before the key existed, it is unknown.
  expect_error(changes(kIsolation, "as_of_position=1"), 404, "unknown_policy_key", "key not yet defined");

  // A position the ledger has but the read model has not reached yet: wait,
  // then say so; min_position likewise.
  const auto pos = set(events::ScopeLevel::kGlobal, "", 90);
  expect_error(audit("as_of_position=" + std::to_string(pos) + "&wait_ms=50"), 503, "snapshot_not_ready", "as_of");
  auto r = audit("min_position=" + std::to_string(pos) + "&wait_ms=50");
  expect_error(r, 503, "snapshot_not_ready", "min_position");
  EXPECT_EQ(body(r)["snapshot_version"], 8);
  project();
  EXPECT_EQ(body(audit("min_position=" + std::to_string(pos)))["snapshot_version"], pos);
  EXPECT_EQ(positions(body(audit("as_of_position=" + std::to_string(pos)))["items"]).size(), 9u);
}

TEST_F(AuditViewTest, BadInputGetsStableErrorsAndChangesNothing) {
  standard_history();
  project();
  const std::string before = body(audit(""))["items"].dump();

  for (const char* q : {"from=yesterday", "to=2026-13-01T00:00:00Z", "as_of=2026-06-01",
                        "from=2026-06-02T00:00:00Z&to=2026-06-01T00:00:00Z"}) {
    auto r = audit(q);
    expect_error(r, 400, "invalid_parameter", q);
  }
  EXPECT_EQ(body(audit("from=yesterday"))["evidence"]["parameter"], "from");
  for (const char* q : {"limit=-1", "limit=0", "limit=1001", "limit=abc", "limit="}) {
    auto r = audit(q);
    expect_error(r, 400, "invalid_parameter", q);
    EXPECT_EQ(body(r)["evidence"]["parameter"], "limit") << q;
  }
  EXPECT_EQ(audit("limit=1000").status, 200);
  const std::string beyond = routes::QueryApi::encode_cursor(1000);
  for (const std::string& c :
       {std::string("not a cursor!"), std::string("abc"), std::string("YXVkaXQudjE6MDA1"), std::string(""), beyond}) {
    expect_error(audit("cursor=" + c), 400, "invalid_cursor", "cursor " + c);
  }
  expect_error(audit("as_of_position=9"), 400, "position_beyond_head", "as_of_position");
  expect_error(changes(kWindow, "as_of_position=9999"), 400, "position_beyond_head", "changes as_of_position");
  expect_error(audit("as_of_position=-3"), 400, "invalid_parameter", "negative position");
  expect_error(audit("min_position=abc"), 400, "invalid_parameter", "min_position");
  expect_error(audit("format=xml"), 400, "invalid_parameter", "format");
  expect_error(audit("actor=alice"), 400, "unknown_parameter", "unknown parameter");
  expect_error(audit("scope_id=acme"), 400, "invalid_parameter", "scope_id without level");
  expect_error(audit("scope_level=galaxy"), 400, "invalid_parameter", "scope level");
  expect_error(audit("scope_level=plan&scope_id=pro&descendants=true"), 400, "invalid_parameter", "plan descendants");
  expect_error(audit("descendants=maybe&scope_level=global"), 400, "invalid_parameter", "descendants value");
  expect_error(audit("event_type=PolicyValueDeleted"), 400, "invalid_parameter", "event type");
  expect_error(changes(kWindow, "key=x"), 400, "unknown_parameter", "changes takes no key filter");
  expect_error(audit("", nullptr), 401, "unauthenticated", "no token");
  expect_error(audit("", "wrong"), 401, "unauthenticated", "bad token");
  EXPECT_EQ(get("/v1/audit", "", "t", "POST").status, 405);
  expect_error(get("/v1/audits", ""), 404, "unknown_route", "unknown route");

  EXPECT_EQ(body(audit(""))["items"].dump(), before);
  EXPECT_EQ(testing::sql_scalar(db_.admin_url, "SELECT count(*) FROM ledger.events"), "8");
}

TEST(AuditCursor, RoundTripsAndIsOpaque) {
  for (std::int64_t p : std::vector<std::int64_t>{0, 1, 7, 123456789, INT64_MAX}) {
    const auto c = routes::QueryApi::encode_cursor(p);
    if (p > 1000) {
      EXPECT_EQ(c.find(std::to_string(p)), std::string::npos) << "the position is readable in " << c;
    }
    EXPECT_EQ(routes::QueryApi::decode_cursor(c), p);
  }
  EXPECT_FALSE(routes::QueryApi::decode_cursor("").has_value());
  EXPECT_FALSE(routes::QueryApi::decode_cursor("====").has_value());
  EXPECT_FALSE(routes::QueryApi::decode_cursor(routes::QueryApi::encode_cursor(5) + "A").has_value());
}

// A history holding PolicyValueSet v1 rows (as an older writer stored them)
// followed by v2 rows: the audit view and policy values read them as v2, the
// stored v1 rows are untouched, and a rebuild equals the live read model.
TEST_F(AuditViewTest, HistoryWithV1RowsReadsAsV2AndIsNeverRewritten) {
  auto insert = [&](const events::RecordedEvent& r) {
    std::string json = codec::to_json_text(r), quoted;
    for (char c : json) quoted += c == '\'' ? std::string("''") : std::string(1, c);
    const auto err = testing::sql_exec(
        db_.admin_url,
        "INSERT INTO ledger.events SELECT * FROM jsonb_populate_record(NULL::ledger.events, '" + quoted + "'::jsonb)");
    ASSERT_EQ(err, "") << err;
  };
  auto meta = [&](std::int64_t pos) {
    events::EventMeta m;
    m.global_position = events::GlobalPosition{pos};
    m.stream_id = std::string("policy-key:") + kWindow;
    m.stream_version = events::StreamVersion{pos};
    m.event_id = "00000000-0000-4000-8000-00000000000" + std::to_string(pos);
    m.occurred_at = m.recorded_at = events::Instant{clock_.now().micros + pos * kMinute};
    m.actor = {"user", "old-writer", {"platform_admin"}};
    m.tenant = "acme";
    m.command_id = "old-" + std::to_string(pos);
    return m;
  };
  auto v1 = [&](std::int64_t pos, std::int64_t before, bool was_default, std::int64_t after, std::string prev) {
    events::RecordedEvent r;
    r.meta = meta(pos);
    r.event_type = "PolicyValueSet";
    r.schema_version = 1;
    r.payload = codec::canonical_payload(Json{{"key", kWindow},
                                              {"scope", {{"level", "organization"}, {"id", "acme"}}},
                                              {"before", before},
                                              {"before_was_default", was_default},
                                              {"after", after},
                                              {"effective_at", codec::format_instant(r.meta.recorded_at)},
                                              {"reason", "v1 era"}});
    r.prev_hash = std::move(prev);
    r.hash = codec::compute_hash(r);
    return r;
  };
  // The definition as v1 wrote it (no write_audience: upcast to the tenant
  // audience its name implies, so acme's admin may set it below).
  events::RecordedEvent def;
  def.meta = meta(1);
  def.event_type = "PolicyKeyDefined";
  def.schema_version = 1;
  def.payload = codec::canonical_payload(Json{{"key", kWindow},
                                              {"value_type", "int"},
                                              {"default_value", 60},
                                              {"min", 1},
                                              {"max", 86400},
                                              {"allowed", Json::array()},
                                              {"description", ""}});
  def.prev_hash = events::kGenesisHash;
  def.hash = codec::compute_hash(def);
  const auto old1 = v1(2, 60, true, 40, def.hash);
  const auto old2 = v1(3, 40, false, 45, old1.hash);
  insert(def);
  insert(old1);
  insert(old2);
  clock_.advance_micros(10 * kMinute);
  // The command service decides on the upcast v1 history: before is 45, set at that scope.
  const auto pos = set(events::ScopeLevel::kOrganization, "acme", 50, alice());
  ASSERT_EQ(pos, 4);
  project();

  auto b = body(changes(kWindow, "scope_level=organization&scope_id=acme"));
  ASSERT_EQ(positions(b["changes"]), (P{2, 3, 4}));
  EXPECT_EQ(b["changes"][0]["before_source"], "default");
  EXPECT_EQ(b["changes"][1]["before_source"], "scope");
  EXPECT_EQ(b["changes"][2]["before_source"], "scope");
  EXPECT_EQ(b["changes"][2]["before"], 45);
  for (const auto& item : body(audit("event_type=PolicyValueSet"))["items"]) EXPECT_EQ(item["schema_version"], 2);
  auto value =
      get(std::string("/v1/policy-values/") + kWindow, "org_id=acme", "acme-reader");  // auditors read audit only
  ASSERT_EQ(value.status, 200) << value.body;
  EXPECT_EQ(body(value)["value"], 50);

  // Stored rows keep their version and their hash chain.
  EXPECT_EQ(testing::sql_scalar(db_.admin_url,
                                "SELECT string_agg(schema_version::text, ',' ORDER BY global_position) "
                                "FROM ledger.events"),
            "1,1,1,2");
  adapters::postgres::PgEventReader reader(db_.app_url);
  auto stored = reader.read_after(events::GlobalPosition{0}, 10);
  ASSERT_TRUE(stored.has_value());
  ASSERT_EQ(stored->size(), 4u);
  std::string prev = events::kGenesisHash;
  for (const auto& r : *stored) {
    EXPECT_EQ(r.prev_hash, prev);
    EXPECT_EQ(codec::compute_hash(r), r.hash) << r.meta.global_position.value;
    prev = r.hash;
  }
  EXPECT_EQ((*stored)[1], old1);

  projector::ProjectorOptions o{.pg_url = db_.app_url, .brokers = "", .schema = "rm_rebuilt"};
  auto rebuilt = projector::rebuild(o, projector::RebuildSource::kPostgres);
  ASSERT_TRUE(rebuilt.has_value()) << rebuilt.error().message;
  EXPECT_EQ(*rebuilt, events::GlobalPosition{4});
  for (const auto& table : adapters::postgres::read_model_tables()) {
    auto diff = adapters::postgres::diff_tables(db_.admin_url, "rm", "rm_rebuilt", table, 10);
    ASSERT_TRUE(diff.has_value());
    EXPECT_TRUE(diff->empty()) << table << " differs: " << diff->front();
  }
}

TEST_F(AuditViewTest, RebuildOfOneReadModelAndUnknownNames) {
  standard_history();
  project();
  projector::ProjectorOptions o{.pg_url = db_.app_url, .brokers = "", .schema = "rm_audit_only"};
  o.read_models = {"audit"};
  auto r = projector::rebuild(o, projector::RebuildSource::kPostgres);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(*r, events::GlobalPosition{8});
  auto diff = adapters::postgres::diff_tables(db_.admin_url, "rm", "rm_audit_only", "audit_log", 10);
  ASSERT_TRUE(diff.has_value());
  EXPECT_TRUE(diff->empty());
  EXPECT_EQ(testing::sql_scalar(db_.admin_url, "SELECT count(*) FROM rm_audit_only.policy_values"), "0");
  o.read_models = {"nope"};
  auto bad = projector::rebuild(o, projector::RebuildSource::kPostgres);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, "unknown_read_model");
  // Nothing was dropped for the refused name.
  EXPECT_EQ(testing::sql_scalar(db_.admin_url, "SELECT count(*) FROM rm_audit_only.audit_log"), "8");
}

// A read model added after the projector's consumer group had moved on (an
// upgrade): Kafka hands the audit projection events past a gap; the
// projector catches it up from the event store and both end at the head.
TEST_F(AuditViewTest, ProjectorCatchesUpAReadModelAddedLater) {
  using namespace std::chrono_literals;
  const std::string topic = testing::unique_name("ledger.events");
  ASSERT_TRUE(adapters::kafka::ensure_topics(testing::kafka_brokers(), {{topic, 1, {{"retention.ms", "-1"}}}}, 30s,
                                             testing::kafka_security()));
  standard_history();
  std::atomic<bool> stop_relay{false};
  std::thread relay([&] {
    relay::run_relay({.pg_url = db_.app_url,
                      .brokers = testing::kafka_brokers(),
                      .kafka_security = testing::kafka_security(),
                      .topic = topic,
                      .name = topic},
                     stop_relay);
  });
  projector::ProjectorOptions o{.pg_url = db_.app_url,
                                .brokers = testing::kafka_brokers(),
                                .kafka_security = testing::kafka_security(),
                                .topic = topic,
                                .schema = "rm",
                                .group_id = testing::unique_name("projector")};
  adapters::postgres::PgReadModelStore store(db_.app_url, "rm");
  auto checkpoint_of = [&](const char* projection) {
    return store.checkpoint(projection).value_or(events::GlobalPosition{0}).value;
  };
  auto wait_for = [&](const char* projection, std::int64_t position) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline && checkpoint_of(projection) < position) {
      std::this_thread::sleep_for(20ms);
    }
    return checkpoint_of(projection);
  };
  {
    auto old = o;
    old.read_models = {"policy_values"};  // the projector before the audit view existed
    std::atomic<bool> stop{false};
    std::thread projector([&] { projector::run_projector(old, stop); });
    EXPECT_EQ(wait_for("policy_values", 8), 8);
    stop = true;
    projector.join();
  }
  EXPECT_EQ(store.checkpoint("audit").value_or(events::GlobalPosition{-1}), events::GlobalPosition{0});
  const auto last = set(events::ScopeLevel::kUser, "u9", 99);  // 9: the next batch starts past audit's gap
  std::atomic<bool> stop{false};
  std::thread projector([&] { projector::run_projector(o, stop); });
  EXPECT_EQ(wait_for("audit", last), last);
  EXPECT_EQ(wait_for("policy_values", last), last);
  stop = true;
  projector.join();
  stop_relay = true;
  relay.join();
  EXPECT_EQ(positions(body(audit(""))["items"]), (P{1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

}  // namespace
}  // namespace ledger
