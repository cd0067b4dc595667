// Tokens and the refusal recorder through the real ledger-command and
// ledger-query processes (issue 10, items 8 and 9): every token type has a
// maximum lifetime, static tokens expire, a principal the ledger records as
// expired stops authenticating without a restart, the services refuse to
// start outside the development profiles with the repository's development
// key, and access.record has its own budget, names only the caller's own
// tenant unless the caller is the refusal recorder, whose credential can do
// nothing else.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "adapters/identity/jwt.h"
#include "events/codec/json_codec.h"
#include "tests/support/e2e_stack.h"
#include "tests/support/e2e_support.h"

namespace {

using namespace std::chrono_literals;
using ledger::testing::ChildProcess;
using ledger::testing::eventually;
using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using Json = nlohmann::json;
using Stack = ledger::testing::ServiceStack;

const std::string kRecorderToken = "Bearer dev-query-service";
const std::string kAcmeService = "Bearer dev-acme-service";

Json dev_token_file() {
  std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/config/tokens.json");
  return Json::parse(in);
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A JWT signed with the development key, issued 5 s ago.
std::string mint(const std::string& sub, const std::string& actor_type, std::vector<std::string> roles,
                 const std::string& org, std::int64_t lifetime_seconds, const std::string& jti) {
  auto key = ledger::identity::JwtKey::from_key_file(dev_token_file(), "dev-hs256-1");
  EXPECT_TRUE(key.has_value());
  const auto iat = now_seconds() - 5;
  ledger::identity::JwtClaims c{
      "policy-ledger",        {"policy-ledger"}, sub, actor_type, std::move(roles), org, jti, iat,
      iat + lifetime_seconds, std::nullopt};
  auto jwt = ledger::identity::mint_jwt(*key, c);
  EXPECT_TRUE(jwt.has_value());
  return "Bearer " + jwt.value_or("");
}

std::string evidence(const Reply& r, const std::string& key) {
  if (!r.body.is_object() || !r.body.contains("evidence") || !r.body["evidence"].contains(key)) return "";
  return r.body["evidence"][key].get<std::string>();
}

Json refusal_body(const std::string& actor_id, const std::string& principal_tenant, const std::string& target_tenant) {
  return {{"actor_type", "user"},
          {"actor_id", actor_id},
          {"actor_roles", {"reader"}},
          {"principal_tenant", principal_tenant},
          {"target_tenant", target_tenant},
          {"route_family", "audit.read"},
          {"method", "GET"},
          {"target", "/v1/audit"},
          {"reason", "role_not_allowed"}};
}

// The same, as a command on ledger.commands.
Json recorded(const std::string& actor_id) {
  Json body = refusal_body(actor_id, "org-globex", "org-acme");
  body["type"] = "access.record_refusal";
  return body;
}

void acme_hierarchy(Stack& s) {
  s.ok("organization.create", {{"organization_id", "org-acme"}, {"plan_id", "pro"}});
  s.ok("project.create", {{"project_id", "acme-p"}, {"organization_id", "org-acme"}});
}

// --------------------------------------------------------------- item 8

TEST(TokensE2e, EveryTokenTypeHasAMaximumLifetime) {
  Stack s("tokens_lifetime_e2e");
  ASSERT_TRUE(s.start());
  // Within their type's maximum: accepted.
  EXPECT_EQ(s.query("GET", "/v1/reservations", mint("acme-u", "user", {"reader"}, "org-acme", 3600, "j-ok-1")).status,
            200);
  EXPECT_EQ(s.query("GET", "/v1/reservations", mint("acme-k", "api_key", {"reader"}, "org-acme", 30 * 86400, "j-ok-2"))
                .status,
            200);
  // Longer-lived than user 12 h, api_key 90 days, worker 24 h, service
  // account 900 s: refused, however far away their exp.
  struct Case {
    std::string type;
    std::int64_t lifetime;
  };
  for (const auto& c : {Case{"user", 13 * 3600}, Case{"user", 10 * 365 * 86400LL}, Case{"api_key", 10 * 365 * 86400LL},
                        Case{"worker", 10 * 365 * 86400LL}, Case{"service_account", 3600}}) {
    const auto token = mint("acme-x", c.type, {"reader"}, "org-acme", c.lifetime, "j-long-" + c.type);
    for (Reply r : {s.query("GET", "/v1/reservations", token),
                    s.command("project.create", {{"project_id", "p-x"}, {"organization_id", "org-acme"}}, token)}) {
      EXPECT_EQ(r.status, 401) << c.type << " " << c.lifetime << ": " << r.describe();
      EXPECT_EQ(r.code(), "unauthenticated");
      EXPECT_EQ(evidence(r, "reason"), "lifetime_too_long") << r.describe();
    }
  }
}

TEST(TokensE2e, AStaticTokenIsRefusedOnceItExpires) {
  Json file = dev_token_file();
  const Json actor = {{"type", "service_account"}, {"id", "acme-billing"}, {"roles", {"service"}}};
  Json expired = {{"token_sha256", ledger::codec::sha256_hex("e2e-expired-static-token")},
                  {"expires_at", "2026-01-01T00:00:00Z"},
                  {"tenant", "org-acme"},
                  {"actor", actor}};
  Json live = {{"token_sha256", ledger::codec::sha256_hex("e2e-live-static-token")},
               {"expires_at", "2031-01-01T00:00:00Z"},
               {"tenant", "org-acme"},
               {"actor", actor}};
  file["tokens"].push_back(expired);
  file["tokens"].push_back(live);
  const std::string path = ::testing::TempDir() + "tokens_e2e_static.json";
  std::ofstream(path) << file.dump();

  Stack s("tokens_static_e2e");
  s.set_env("LEDGER_TOKENS_FILE", path);
  ASSERT_TRUE(s.start());
  EXPECT_EQ(s.query("GET", "/v1/reservations", "Bearer e2e-live-static-token").status, 200);
  for (Reply r : {s.query("GET", "/v1/reservations", "Bearer e2e-expired-static-token"),
                  s.command("reservation.release", {{"reservation_id", "r-1"}, {"quantity", 1}},
                            "Bearer e2e-expired-static-token")}) {
    EXPECT_EQ(r.status, 401) << r.describe();
    EXPECT_EQ(evidence(r, "reason"), "expired") << r.describe();
  }
  std::remove(path.c_str());
}

TEST(TokensE2e, APrincipalTheLedgerRecordsAsExpiredNoLongerAuthenticates) {
  Stack s("tokens_principal_expiry_e2e");
  ASSERT_TRUE(s.start());
  acme_hierarchy(s);
  const auto token = mint("acme-contractor", "user", {"reader"}, "org-acme", 3600, "j-contractor");
  ASSERT_EQ(s.query("GET", "/v1/reservations", token).status, 200);
  // The ledger records the principal with an expiry that has passed: both
  // services refuse its (otherwise valid) token without a restart.
  s.ok("principal.create", {{"principal_id", "acme-contractor"},
                            {"principal_type", "user"},
                            {"project_id", "acme-p"},
                            {"expires_at", "2026-01-01T00:00:00Z"}});
  Reply q;
  EXPECT_TRUE(eventually(30s, [&] {
    q = s.query("GET", "/v1/reservations", token);
    return q.status == 401;
  })) << q.describe();
  EXPECT_EQ(evidence(q, "reason"), "principal_expired") << q.describe();
  Reply c;
  EXPECT_TRUE(eventually(30s, [&] {
    c = s.command("project.create", {{"project_id", "acme-p2"}, {"organization_id", "org-acme"}}, token);
    return c.status == 401;
  })) << c.describe();
  EXPECT_EQ(evidence(c, "reason"), "principal_expired") << c.describe();
  // The same id in another organization is another principal.
  EXPECT_EQ(
      s.query("GET", "/v1/reservations", mint("acme-contractor", "user", {"reader"}, "org-globex", 3600, "j-g")).status,
      200);
}

TEST(TokensE2e, TheServicesRefuseToStartWithTheDevelopmentKeyOutsideDev) {
  Stack s("tokens_profile_e2e");  // only for its environment
  auto env = s.env();
  env.emplace_back("LEDGER_PROFILE", "prod");
  for (const char* binary : {"ledger-command", "ledger-query"}) {
    ChildProcess p({std::string(LEDGER_BINARY_DIR) + "/services/" + binary}, env);
    EXPECT_EQ(p.wait_for_port(20s), 0) << binary << " started in profile prod";
    EXPECT_TRUE(eventually(20s, [&] { return !p.running(); })) << binary;
    EXPECT_NE(p.log().find("development signing key"), std::string::npos) << ledger::testing::tail(p);
  }
  // The repository's chain-anchor key is refused the same way.
  auto with_dev_anchor = env;
  with_dev_anchor.emplace_back("LEDGER_ANCHOR_KEY_FILE",
                               std::string(LEDGER_SOURCE_DIR) + "/config/dev-only-chain-anchor-key.pem");
  ChildProcess writer({std::string(LEDGER_BINARY_DIR) + "/services/ledger-command"}, with_dev_anchor);
  EXPECT_EQ(writer.wait_for_port(20s), 0) << "ledger-command started with the dev anchor key in profile prod";
  EXPECT_TRUE(eventually(20s, [&] { return !writer.running(); }));
  EXPECT_NE(writer.log().find("development chain-anchor key"), std::string::npos) << ledger::testing::tail(writer);
  // The same file in the test profile starts (with a loud warning).
  env.back().second = "test";
  ChildProcess ok({std::string(LEDGER_BINARY_DIR) + "/services/ledger-query"}, env);
  EXPECT_NE(ok.wait_for_port(30s), 0) << ledger::testing::tail(ok);
  EXPECT_NE(ok.log().find("INSECURE TOKEN FILE"), std::string::npos);
}

TEST(TokensE2e, ARevokedTokenOrPrincipalIsRefusedWithoutARestart) {
  Stack s("tokens_revocation_e2e");
  ASSERT_TRUE(s.start());
  acme_hierarchy(s);
  const std::string acme_admin = "Bearer dev-acme-tenant-admin";
  const auto first = mint("acme-ops", "user", {"reader"}, "org-acme", 3600, "jti-revoke-1");
  const auto second = mint("acme-ops", "user", {"reader"}, "org-acme", 3600, "jti-revoke-2");
  ASSERT_EQ(s.query("GET", "/v1/reservations", first).status, 200);
  ASSERT_EQ(s.query("GET", "/v1/reservations", second).status, 200);
  ASSERT_EQ(s.query("GET", "/v1/reservations", "Bearer dev-acme-reader").status, 200);

  // Another organization's admin may not revoke acme's tokens; a reader may not revoke at all.
  Reply foreign = s.command("token.revoke", {{"tenant", "org-acme"}, {"token_id", "jti-revoke-1"}, {"reason", "x"}},
                            "Bearer dev-globex-tenant-admin");
  EXPECT_EQ(foreign.status, 403) << foreign.describe();
  EXPECT_EQ(s.command("token.revoke", {{"tenant", "org-acme"}, {"token_id", "jti-revoke-1"}, {"reason", "x"}},
                      "Bearer dev-acme-reader")
                .status,
            403);

  // Revoking one JWT by its jti: refused at both services within about a
  // second of projection, without a restart; the principal's other token works.
  Reply revoked = s.command(
      "token.revoke", {{"tenant", "org-acme"}, {"token_id", "jti-revoke-1"}, {"reason", "laptop stolen"}}, acme_admin);
  ASSERT_EQ(revoked.status, 200) << revoked.describe();
  Reply q;
  EXPECT_TRUE(eventually(30s, [&] {
    q = s.query("GET", "/v1/reservations", first);
    return q.status == 401;
  })) << q.describe();
  EXPECT_EQ(evidence(q, "reason"), "token_revoked");
  Reply c;
  EXPECT_TRUE(eventually(30s, [&] {
    c = s.command("project.create", {{"project_id", "acme-p3"}, {"organization_id", "org-acme"}}, first);
    return c.status == 401;
  })) << c.describe();
  EXPECT_EQ(evidence(c, "reason"), "token_revoked");
  EXPECT_EQ(s.query("GET", "/v1/reservations", second).status, 200);

  // Revoking the principal: every token of it, new ones included, and static tokens alike.
  ASSERT_EQ(
      s.command("token.revoke", {{"tenant", "org-acme"}, {"principal_id", "acme-ops"}, {"reason", "left"}}, acme_admin)
          .status,
      200);
  ASSERT_EQ(s.command("token.revoke", {{"tenant", "org-acme"}, {"principal_id", "acme-reader"}, {"reason", "left"}},
                      acme_admin)
                .status,
            200);
  const auto fresh = mint("acme-ops", "user", {"reader"}, "org-acme", 3600, "jti-revoke-3");
  for (const auto& token : {second, fresh, std::string("Bearer dev-acme-reader")}) {
    EXPECT_TRUE(eventually(30s, [&] {
      q = s.query("GET", "/v1/reservations", token);
      return q.status == 401;
    })) << q.describe();
    EXPECT_EQ(evidence(q, "reason"), "principal_revoked");
  }
  // The same principal id in another organization is not revoked.
  EXPECT_EQ(
      s.query("GET", "/v1/reservations", mint("acme-ops", "user", {"reader"}, "org-globex", 3600, "jti-g")).status,
      200);
  // The revocation is an audit fact of the organization.
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events WHERE event_type = 'TokenRevoked' AND tenant = 'org-acme'"), "3");
}

// --------------------------------------------------------------- item 9

TEST(TokensE2e, RefusalRecordsHaveTheirOwnBudgetAndNameOnlyTheCallersTenant) {
  Stack s("tokens_refusal_budget_e2e");
  ASSERT_TRUE(s.start());
  const std::int64_t defined = s.ok("policy_key.define", {{"key", "rate_limit.access_refusal_records_per_minute"},
                                                          {"value_type", "int"},
                                                          {"default", 2},
                                                          {"min", 1},
                                                          {"max", 100000}});
  acme_hierarchy(s);
  // Wait for the key to reach the read model the command service's gate
  // reads: PostgreSQL's, which an as_of_position read is answered from (a
  // plain read is answered from ledger-query's memory, which may be ahead
  // of the projector). No principal below has been gated yet, so none has a
  // cached value.
  Reply known = s.query("GET",
                        "/v1/policy-values/rate_limit.access_refusal_records_per_minute?as_of_position=" +
                            std::to_string(defined) + "&wait_ms=10000",
                        kAdminToken);
  ASSERT_EQ(known.status, 200) << known.describe();
  ASSERT_EQ(known.read_model, "postgresql");

  // A platform admin may not file a refusal under an organization.
  Reply foreign = s.command("access.record_refusal", refusal_body("mallory", "org-globex", "org-acme"));
  EXPECT_EQ(foreign.status, 403) << foreign.describe();
  EXPECT_EQ(foreign.code(), "forbidden");

  // An organization's service: its own tenant only, and two a minute.
  EXPECT_EQ(s.command("access.record_refusal", refusal_body("m1", "org-acme", "org-acme"), kAcmeService).status, 200);
  EXPECT_EQ(s.command("access.record_refusal", refusal_body("m2", "org-acme", "org-acme"), kAcmeService).status, 200);
  Reply over = s.command("access.record_refusal", refusal_body("m3", "org-acme", "org-acme"), kAcmeService);
  EXPECT_EQ(over.status, 429) << over.describe();
  EXPECT_EQ(evidence(over, "limit_key"), "rate_limit.access_refusal_records_per_minute");
  const auto written =
      s.sql("SELECT count(*) FROM ledger.events WHERE event_type = 'AccessRefused' AND payload->>'actor_id' LIKE 'm_'");
  EXPECT_EQ(written, "2");

  // The refusal recorder (the query service's credential) may name any
  // organization, and its reports draw on the budget of the principal refused.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(s.publish("rec-mallory-" + std::to_string(i), recorded("mallory"), kRecorderToken));
  }
  ASSERT_TRUE(s.publish("rec-eve-0", recorded("eve"), kRecorderToken));
  int accepted = 0, limited = 0;
  for (int i = 0; i < 3; ++i) {
    const Json r = s.result_of("rec-mallory-" + std::to_string(i));
    ASSERT_TRUE(r.is_object()) << "no result for rec-mallory-" << i;
    if (r.value("status", "") == "accepted")
      ++accepted;
    else if (r.value("code", "") == "rate_limited")
      ++limited;
    else
      ADD_FAILURE() << r.dump();
  }
  EXPECT_EQ(accepted, 2);
  EXPECT_EQ(limited, 1);
  const Json eve = s.result_of("rec-eve-0");
  EXPECT_EQ(eve.value("status", ""), "accepted") << eve.dump();
}

TEST(TokensE2e, TheRecorderCredentialCanDoNothingButRecordRefusals) {
  Stack s("tokens_recorder_e2e");
  ASSERT_TRUE(s.start());
  acme_hierarchy(s);
  for (const auto& path : {"/v1/reservations", "/v1/audit", "/v1/views/organizations/org-acme"}) {
    EXPECT_EQ(s.query("GET", path, kRecorderToken).status, 403) << path;
  }
  EXPECT_EQ(
      s.command("project.create", {{"project_id", "p-r"}, {"organization_id", "org-acme"}}, kRecorderToken).status,
      403);
  // A platform-wide token with the recorder's role is not the recorder: the
  // role grants nothing outside the recorder's own tenant marker.
  const auto platform_recorder = mint("ledger-query", "service_account", {"refusal_recorder"}, "platform", 600, "j-r");
  Reply r = s.command("access.record_refusal", refusal_body("mallory", "org-globex", "org-acme"), platform_recorder);
  EXPECT_EQ(r.status, 403) << r.describe();
  // The recorder itself files under any organization.
  Reply ok = s.command("access.record_refusal", refusal_body("mallory", "org-globex", "org-acme"), kRecorderToken);
  EXPECT_EQ(ok.status, 200) << ok.describe();
}

}  // namespace
