// The query service's published schemas of two more request bodies held to
// the routes that read them, as decision_input_test.cc holds DecisionInput:
//   EntitlementCheckRequest  POST /v1/entitlements:check (EntitlementReads)
//   EvaluationRequest        POST /v1/applications/{app_id}:evaluate (AppPolicyApi)
// The routes read their bodies inside handle(), so the API's verdict is
// the route's answer to an HttpRequest: 400, or anything else. On random
// bodies and at and past every limit, the schema refuses exactly the bodies
// the route refuses with 400.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/http/routes/app_policy_api.h"
#include "adapters/http/routes/entitlement_reads.h"
#include "adapters/http/routes/openapi.h"
#include "adapters/system/clock.h"
#include "domain/app_policy/model.h"
#include "projections/admission/admission_store.h"
#include "tests/support/query_request.h"
#include "tests/unit/openapi_schema.h"

namespace ledger::routes {
namespace {

using adapters::http::HttpResponse;
using testing::expect_agreement;
using testing::expect_random_agreement;
using testing::Field;
using testing::kJsonValues;
using testing::kWholeNumberEdges;
using testing::member;
using testing::object_body;
using testing::OpenApiSchema;
using testing::pick;
using testing::query_request;
using testing::repeat;
using testing::shuffle;
using testing::widths_at;

constexpr events::Instant kNow{1'780'272'000'000'000};  // 2026-06-01T00:00:00Z

const commands::Principal kPlatform{{"user", "ops", {"platform_admin"}}, "platform"};

// A principal of organization `org`.
commands::Principal tenant_of(const std::string& org) { return {{"user", "alice", {"tenant_admin"}}, org}; }

// Both routes over an in-memory read model that holds organization acme
// (plan pro) and its application app-1, at position 2.
class Routes {
 public:
  Routes() : entitlements_(store_, clock_, [] { return events::GlobalPosition{2}; }), apps_(store_, clock_, {}) {
    std::vector<events::Envelope> history(2);
    history[0].meta.global_position = events::GlobalPosition{1};
    history[0].meta.stream_id = "organization:acme";
    history[0].event = events::OrganizationCreated{"acme", "Acme", "pro", "acme.default"};
    history[1].meta.global_position = events::GlobalPosition{2};
    history[1].meta.stream_id = domain::app_policy::AppPolicyModel::stream_of("acme", "app-1");
    history[1].event = events::ApplicationRegistered{"app-1", "acme", "App"};
    EXPECT_TRUE(store_.apply(std::span<const events::Envelope>(history)).has_value());
    store_.mark_ready();
    apps_.head_from([] { return events::GlobalPosition{2}; });
    // Replays rebuild the chain from history; none is needed to read a body.
    apps_.history_from([](events::GlobalPosition, std::size_t) {
      return domain::Result<std::vector<events::RecordedEvent>>(std::vector<events::RecordedEvent>{});
    });
  }

  HttpResponse check(const std::string& body) const {
    return entitlements_.handle(query_request("POST", "/v1/entitlements:check", "", body), kPlatform);
  }
  // A live evaluation, or a replay (as_of_position: `time` is taken then).
  HttpResponse evaluate(const std::string& body, const commands::Principal& who, bool replay) {
    return apps_.handle(
        query_request("POST", "/v1/applications/app-1:evaluate", replay ? "as_of_position=1" : "", body), who);
  }

 private:
  projections::AdmissionStore store_;
  adapters::system::ManualClock clock_{kNow};
  EntitlementReads entitlements_;
  AppPolicyApi apps_;
};

// A body of `fields` from rapidcheck's choices, made as random_body() in
// decision_input_test.cc makes a decision: half close to what callers send
// (the `needed` fields there, plain values, a wrong one now and then), the
// rest anything (any value from kJsonValues or `odd`); whitespace, order,
// a member twice, an unknown member, trailing text, now and then.
std::string random_body(const std::vector<Field>& fields, const std::set<std::string>& needed,
                        const std::vector<std::string>& odd) {
  const bool clean = *rc::gen::arbitrary<bool>();
  const int odd_one = clean ? 100 : 4;  // 1 in n values is any value
  const int rare = clean ? 200 : 20;    // 1 in n fields twice, an unknown member, trailing text
  std::vector<std::string> members;
  for (const auto& f : fields) {
    if (!(clean && needed.contains(f.name)) && pick(4) == 0) continue;
    std::string v = *rc::gen::elementOf(f.good);
    if (pick(odd_one) == 0) v = pick(2) == 0 ? *rc::gen::elementOf(odd) : *rc::gen::elementOf(kJsonValues);
    members.push_back(member(f.name, v));
    if (pick(rare) == 0) members.push_back("\"" + std::string(f.name) + "\":" + v);  // twice
  }
  return object_body(std::move(members), rare);
}

// A JSON string of `n` copies of `c`.
std::string text_of(std::string_view c, std::size_t n) { return "\"" + repeat(c, n) + "\""; }

// ------------------------------------------------- POST /v1/entitlements:check

// The route's 400 for a check body, or nullopt (200, or 404 for an
// organization the ledger does not know). A platform principal asks: it
// may ask about any organization or plan (a tenant's principal only about
// its own organization, 403 otherwise).
std::optional<std::string> check_refused(const Routes& routes, const std::string& body) {
  const HttpResponse r = routes.check(body);
  if (r.status != 200 && r.status != 400 && r.status != 404) return "unexpected " + r.body;
  if (r.status == 400) return r.body;
  return std::nullopt;
}

const std::vector<Field> kCheckFields = {
    {"tenant", {R"("default")", R"("")", R"("acme-products")"}},
    {"environment", {R"("production")", R"("staging")", R"("dev")"}},
    {"organization_id", {R"("acme")", R"("globex")", R"("")"}},
    {"plan", {R"("pro")", R"("free")", R"("")"}},
    {"capability", {R"("export-data")", R"("sso")"}},
};

// Near misses: an environment spelled otherwise, a string one character
// past its limit, U+0000 inside a value (about 20 bodies of 500 hold one).
const std::vector<std::string> kCheckOdd = {
    R"("prod")", R"("Production")", R"("dev ")", text_of("\u00e9", 128), text_of("\u00e9", 129), R"("pro\u0000")"};

OpenApiSchema check_schema() { return OpenApiSchema(ApiDocument::kQuery, "EntitlementCheckRequest"); }

TEST(EntitlementCheckSchema, AcceptsExactlyTheBodiesTheApiAccepts) {
  OpenApiSchema schema = check_schema();
  const Routes routes;
  const auto api = [&](const std::string& body) { return check_refused(routes, body); };
  expect_random_agreement(
      schema, [] { return random_body(kCheckFields, {"environment", "capability"}, kCheckOdd); }, api);
}

TEST(EntitlementCheckSchema, AgreesWithTheApiAtEveryLimit) {
  OpenApiSchema schema = check_schema();
  const Routes routes;
  std::vector<std::pair<std::string, bool>> cases;  // body, accepted
  const std::string env = R"("environment":"production")";
  const std::string org = R"("organization_id":"acme")";
  const std::string cap = R"("capability":"export-data")";
  // Every string at most 128 characters of one to four bytes (an unknown
  // organization is 404: past the body).
  for (const char* field : {"tenant", "organization_id", "plan", "capability"}) {
    for (const auto& [c, n, ok] : widths_at(128)) {
      const std::string value = "\"" + std::string(field) + "\":" + text_of(c, n);
      const std::string who = std::string(field) == "plan" || std::string(field) == "organization_id" ? "" : org + ",";
      const std::string what = std::string(field) == "capability" ? "" : "," + cap;
      cases.emplace_back("{" + env + "," + who + value + what + "}", ok);
    }
  }
  for (const auto& [body, ok] : std::vector<std::pair<std::string, bool>>{
           // the environments, and nothing else
           {"{" + org + "," + cap + R"(,"environment":"dev"})", true},
           {"{" + org + "," + cap + R"(,"environment":"staging"})", true},
           {"{" + org + "," + cap + R"(,"environment":"qa"})", false},
           {"{" + org + "," + cap + R"(,"environment":""})", false},
           {"{" + org + "," + cap + "}", false},
           // a capability, never empty
           {"{" + env + "," + org + R"(,"capability":""})", false},
           {"{" + env + "," + org + "}", false},
           // exactly one of organization_id and plan non-empty
           {"{" + env + "," + cap + "}", false},
           {"{" + env + "," + cap + R"(,"plan":"pro"})", true},
           {"{" + env + "," + cap + R"(,"plan":"pro","organization_id":""})", true},
           {"{" + env + "," + cap + R"(,"organization_id":"acme","plan":""})", true},
           {"{" + env + "," + cap + R"(,"organization_id":"acme","plan":"pro"})", false},
           {"{" + env + "," + cap + R"(,"organization_id":"","plan":""})", false},
           {"{" + env + "," + cap + R"(,"organization_id":""})", false},
           // the default tenant, named or not
           {"{" + env + "," + org + "," + cap + R"(,"tenant":""})", true},
           // null or another type where a string goes; U+0000; an unknown field
           {"{" + env + "," + org + "," + cap + R"(,"tenant":null})", false},
           {"{" + env + "," + cap + R"(,"organization_id":"acme","plan":null})", false},
           {"{" + env + "," + cap + R"(,"organization_id":5})", false},
           {"{" + env + "," + org + R"(,"capability":["export-data"]})", false},
           {"{" + env + "," + org + R"(,"capability":"a\u0000b"})", false},
           {"{" + env + "," + org + "," + cap + R"(,"extra":"x"})", false},
       }) {
    cases.emplace_back(body, ok);
  }
  expect_agreement(schema, cases, [&](const std::string& body) { return check_refused(routes, body); });
}

// ------------------------------------- POST /v1/applications/{app_id}:evaluate

// The route's 400 for an evaluation body when every caller that may send
// it is refused with 400, or nullopt when one of them gets past the body
// (200 or 404). The callers: a platform principal (it must name the
// organization) and a principal of the organization the body names, or of
// acme when it names none (its own organization then); each live and
// replaying (`time` is taken with as_of_position only). A principal naming
// another organization is 403: refused for who it is, not for the body.
std::optional<std::string> evaluation_refused(Routes& routes, const std::string& body) {
  const auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  std::string org = "acme";
  if (doc.is_object() && doc.contains("organization_id") && doc["organization_id"].is_string() &&
      !doc["organization_id"].get<std::string>().empty()) {
    org = doc["organization_id"].get<std::string>();
  }
  std::string why;
  bool passed = false;
  for (const auto& who : {kPlatform, tenant_of(org)}) {
    for (const bool replay : {false, true}) {
      const HttpResponse r = routes.evaluate(body, who, replay);
      if (r.status != 200 && r.status != 400 && r.status != 403 && r.status != 404) return "unexpected " + r.body;
      passed = passed || r.status == 200 || r.status == 404;
      why += who.tenant + (replay ? " replaying: " : ": ") + std::to_string(r.status) + " " + r.body + "; ";
    }
  }
  if (passed) return std::nullopt;
  return why;
}

const std::vector<Field> kEvaluationFields = {
    {"phase", {R"("pre")", R"("post")"}},
    {"model", {R"("gpt-4")", R"("")"}},
    {"size_bytes", {"0", "4096", "9223372036854775807"}},
    {"estimated_tokens", {"900", "-0"}},
    {"actual_tokens", {"0", "1200"}},
    {"organization_id", {R"("acme")", R"("globex")"}},
    {"time",
     {R"("2026-06-01T00:00:00Z")", R"("2026-06-01 12:30:00.123456789+05:30")", R"("2024-02-29t23:59:60z")",
      R"("2000-02-29T00:00:00-00:00")"}},
};

// Near misses: a phase spelled otherwise, a string one character past its
// limit, U+0000 inside a value (about 15 bodies of 500 hold one), instants
// RFC 3339 does not allow or the reader does not take.
const std::vector<std::string> kEvaluationOdd = {
    R"("PRE")",
    R"("gpt\u0000")",
    R"("pre ")",
    text_of("\u4e2d", 256),
    text_of("\u4e2d", 257),
    R"("2025-02-29T00:00:00Z")",
    R"("1900-02-29T00:00:00Z")",
    R"("2026-04-31T00:00:00Z")",
    R"("2026-06-01T24:00:00Z")",
    R"("2026-06-01T00:00:00")",
    R"("2026-06-01T00:00:00.Z")",
    R"("2026-06-01T00:00:00.1234567890Z")",
    R"("2026-06-01T00:00:00+2:00")",
    R"("2026-06-01T00:00:00+24:00")",
    R"("12026-06-01T00:00:00Z")",
    R"("26-06-01T00:00:00Z")",
    R"("2026-06-01_00:00:00Z")",
};

OpenApiSchema evaluation_schema() { return OpenApiSchema(ApiDocument::kQuery, "EvaluationRequest"); }

TEST(EvaluationRequestSchema, AcceptsExactlyTheBodiesTheApiAccepts) {
  OpenApiSchema schema = evaluation_schema();
  Routes routes;
  const auto api = [&](const std::string& body) { return evaluation_refused(routes, body); };
  expect_random_agreement(schema, [] { return random_body(kEvaluationFields, {}, kEvaluationOdd); }, api);
}

TEST(EvaluationRequestSchema, AgreesWithTheApiAtEveryLimit) {
  OpenApiSchema schema = evaluation_schema();
  Routes routes;
  std::vector<std::pair<std::string, bool>> cases;  // body, accepted
  // Strings at most 256 characters of one to four bytes.
  for (const char* field : {"model", "organization_id"}) {
    for (const auto& [c, n, ok] : widths_at(256)) {
      cases.emplace_back("{\"" + std::string(field) + "\":" + text_of(c, n) + "}", ok);
    }
  }
  // Whole numbers from 0 to 2^63-1.
  for (const char* field : {"size_bytes", "estimated_tokens", "actual_tokens"}) {
    auto edges = kWholeNumberEdges;
    edges.insert(edges.end(), {{"null", false}, {R"("5")", false}});
    for (const auto& [number, ok] : edges) cases.emplace_back("{\"" + std::string(field) + "\":" + number + "}", ok);
  }
  for (const auto& [body, ok] : std::vector<std::pair<std::string, bool>>{
           // nothing at all: a principal of an organization evaluates for its own
           {"{}", true},
           {R"({"organization_id":""})", false},
           {R"({"organization_id":null})", false},
           {R"({"phase":"pre"})", true},
           {R"({"phase":"post"})", true},
           {R"({"phase":"Pre"})", false},
           {R"({"phase":""})", false},
           {R"({"model":""})", true},
           {R"({"model":null})", false},
           {R"({"model":"a\u0000b"})", false},
           {R"({"model":"gpt","extra":1})", false},
           // instants as RFC 3339 and the reader have them
           {R"({"time":"2026-06-01T00:00:00Z"})", true},
           {R"({"time":"2026-06-01t00:00:00.123456789z"})", true},
           {R"({"time":"2026-06-01 00:00:00+05:30"})", true},
           {R"({"time":"2026-06-01T23:59:60-23:59"})", true},
           {R"({"time":"2024-02-29T00:00:00Z"})", true},
           {R"({"time":"2000-02-29T00:00:00Z"})", true},
           {R"({"time":"0000-02-29T00:00:00Z"})", true},
           {R"({"time":"1900-02-29T00:00:00Z"})", false},
           {R"({"time":"2025-02-29T00:00:00Z"})", false},
           {R"({"time":"2026-02-30T00:00:00Z"})", false},
           {R"({"time":"2026-04-31T00:00:00Z"})", false},
           {R"({"time":"2026-12-31T00:00:00Z"})", true},
           {R"({"time":"2026-13-01T00:00:00Z"})", false},
           {R"({"time":"2026-06-00T00:00:00Z"})", false},
           {R"({"time":"2026-06-01T24:00:00Z"})", false},
           {R"({"time":"2026-06-01T00:60:00Z"})", false},
           {R"({"time":"2026-06-01T00:00:61Z"})", false},
           {R"({"time":"2026-06-01T00:00:00"})", false},
           {R"({"time":"2026-06-01T00:00:00.Z"})", false},
           {R"({"time":"2026-06-01T00:00:00.1234567890Z"})", false},
           {R"({"time":"2026-06-01T00:00:00+2:00"})", false},
           {R"({"time":"2026-06-01T00:00:00+24:00"})", false},
           {R"({"time":"12026-06-01T00:00:00Z"})", false},
           {R"({"time":"926-06-01T00:00:00Z"})", false},
           {R"({"time":""})", false},
           {R"({"time":null})", false},
       }) {
    cases.emplace_back(body, ok);
  }
  expect_agreement(schema, cases, [&](const std::string& body) { return evaluation_refused(routes, body); });

  // Who may leave organization_id out: a principal of an organization (its
  // own is used), not a platform principal (400 missing_field).
  EXPECT_EQ(routes.evaluate("{}", tenant_of("acme"), false).status, 200);
  EXPECT_EQ(routes.evaluate("{}", kPlatform, false).status, 400);
  EXPECT_EQ(routes.evaluate(R"({"organization_id":"acme"})", kPlatform, false).status, 200);
  // `time` only with as_of_position: the schema cannot see the query.
  const std::string at = R"({"organization_id":"acme","time":"2026-06-01T00:00:00Z"})";
  EXPECT_EQ(routes.evaluate(at, kPlatform, false).status, 400);
  EXPECT_EQ(routes.evaluate(at, kPlatform, true).status, 404);  // no such application then
}

}  // namespace
}  // namespace ledger::routes
