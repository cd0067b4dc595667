// Bearer-token identity (adapters/identity/identity.h): the token file and the
// Authorization header.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "adapters/http/routes/http_json.h"
#include "adapters/identity/identity.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger::commands {
namespace {

using namespace ::ledger::identity;

using domain::ErrorKind;
using Json = nlohmann::json;

Json sample_config() {
  return Json::parse(R"({"tokens": [
    {"token": "dev-admin", "tenant": "platform",
     "actor": {"type": "user", "id": "ops", "roles": ["platform_admin", "auditor"]}},
    {"token": "org1-key", "tenant": "org-1", "actor": {"type": "api_key", "id": "key-1"}},
    {"token": "no-tenant", "actor": {"type": "service_account", "id": "billing"}},
    {"token_sha256": ")" +
                     codec::sha256_hex("s3cret-worker") + R"(",
     "tenant": "platform", "actor": {"type": "worker", "id": "relay", "roles": []}}
  ]})");
}

TokenAuthenticator authenticator() {
  auto a = TokenAuthenticator::from_json(sample_config());
  EXPECT_TRUE(a.has_value()) << a.error().message;
  return std::move(*a);
}

void expect_unauthenticated(const TokenAuthenticator& auth, std::string_view header) {
  auto p = auth.authenticate(header);
  ASSERT_FALSE(p.has_value()) << "'" << header << "'";
  EXPECT_EQ(p.error().kind, ErrorKind::kUnauthenticated) << header;
  EXPECT_EQ(p.error().code, "unauthenticated") << header;
  EXPECT_EQ(::ledger::routes::http_status(p.error().kind), 401);
  // The message never echoes the token.
  EXPECT_EQ(p.error().message.find("dev-admin"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Token config

void expect_invalid_config(const Json& config, const char* why) {
  auto a = TokenAuthenticator::from_json(config);
  ASSERT_FALSE(a.has_value()) << why;
  EXPECT_EQ(a.error().code, "invalid_token_config") << why;
  EXPECT_EQ(a.error().kind, ErrorKind::kInvalidArgument) << why;
}

TEST(TokenConfig, RefusesAConfigWithoutATokensArray) {
  expect_invalid_config(Json::array(), "array document");
  expect_invalid_config(Json("tokens"), "string document");
  expect_invalid_config(Json::object(), "no tokens");
  expect_invalid_config(Json{{"tokens", Json::object()}}, "tokens an object");
  expect_invalid_config(Json{{"tokens", "dev-admin"}}, "tokens a string");
  expect_invalid_config(Json{{"tokens", nullptr}}, "tokens null");
}

TEST(TokenConfig, RefusesMalformedEntries) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"entry not an object", R"(["dev-admin"])"},
      {"no actor", R"([{"token": "t"}])"},
      {"actor not an object", R"([{"token": "t", "actor": "ops"}])"},
      {"no token at all", R"([{"actor": {"type": "user", "id": "ops"}}])"},
      {"token not a string", R"([{"token": 42, "actor": {"type": "user", "id": "ops"}}])"},
      {"digest not a string", R"([{"token_sha256": 42, "actor": {"type": "user", "id": "ops"}}])"},
      {"actor without type", R"([{"token": "t", "actor": {"id": "ops"}}])"},
      {"actor without id", R"([{"token": "t", "actor": {"type": "user"}}])"},
      {"actor with empty id", R"([{"token": "t", "actor": {"type": "user", "id": ""}}])"},
      {"roles not an array", R"([{"token": "t", "actor": {"type": "user", "id": "ops", "roles": "admin"}}])"},
      {"role not a string", R"([{"token": "t", "actor": {"type": "user", "id": "ops", "roles": ["a", 1]}}])"},
  };
  for (const auto& [why, tokens] : cases) {
    expect_invalid_config(Json{{"tokens", Json::parse(tokens)}}, why);
  }
}

TEST(TokenConfig, RefusesFieldsOfTheWrongJsonTypeWithoutThrowing) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"numeric actor id", R"([{"token": "t", "actor": {"type": "user", "id": 7}}])"},
      {"numeric actor type", R"([{"token": "t", "actor": {"type": 1, "id": "ops"}}])"},
      {"numeric tenant", R"([{"token": "t", "tenant": 5, "actor": {"type": "user", "id": "ops"}}])"},
  };
  for (const auto& [why, tokens] : cases) {
    domain::Result<TokenAuthenticator> a = domain::fail(ErrorKind::kInternal, "not_run", "");
    EXPECT_NO_THROW(a = TokenAuthenticator::from_json(Json{{"tokens", Json::parse(tokens)}})) << why;
    ASSERT_FALSE(a.has_value()) << why;
    EXPECT_EQ(a.error().code, "invalid_token_config") << why;
  }
}

TEST(TokenConfig, AcceptsAnEmptyTokenList) {
  auto a = TokenAuthenticator::from_json(Json{{"tokens", Json::array()}});
  ASSERT_TRUE(a.has_value());
  expect_unauthenticated(*a, "Bearer dev-admin");
}

// ---------------------------------------------------------------------------
// authenticate

TEST(BearerAuth, KnownTokenGivesItsPrincipal) {
  auto auth = authenticator();
  auto p = auth.authenticate("Bearer dev-admin");
  ASSERT_TRUE(p.has_value()) << p.error().code;
  EXPECT_EQ(p->actor.type, "user");
  EXPECT_EQ(p->actor.id, "ops");
  EXPECT_EQ(p->actor.roles, (std::vector<std::string>{"auditor", "platform_admin"}));  // sorted
  EXPECT_EQ(p->tenant, "platform");

  auto k = auth.authenticate("Bearer org1-key");
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->actor.type, "api_key");
  EXPECT_EQ(k->actor.id, "key-1");
  EXPECT_TRUE(k->actor.roles.empty());
  EXPECT_EQ(k->tenant, "org-1");
}

TEST(BearerAuth, TenantDefaultsToPlatform) {
  auto p = authenticator().authenticate("Bearer no-tenant");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->tenant, "platform");
  EXPECT_EQ(p->actor.id, "billing");
}

TEST(BearerAuth, SchemeIsCaseInsensitive) {
  auto auth = authenticator();
  for (const char* header : {"Bearer dev-admin", "bearer dev-admin", "BEARER dev-admin", "bEaReR dev-admin"}) {
    auto p = auth.authenticate(header);
    ASSERT_TRUE(p.has_value()) << header;
    EXPECT_EQ(p->actor.id, "ops") << header;
  }
}

TEST(BearerAuth, TokenIsCaseSensitive) {
  auto auth = authenticator();
  expect_unauthenticated(auth, "Bearer DEV-ADMIN");
  expect_unauthenticated(auth, "Bearer Dev-admin");
}

TEST(BearerAuth, MissingOrEmptyTokenIsUnauthenticated) {
  auto auth = authenticator();
  for (const char* header : {"", "Bearer", "Bearer ", "bearer ", " ", "dev-admin"}) {
    expect_unauthenticated(auth, header);
  }
}

TEST(BearerAuth, UnknownTokenIsUnauthenticated) {
  auto auth = authenticator();
  for (const char* header : {"Bearer nope", "Bearer dev-admin ", "Bearer  dev-admin", "Bearer dev-admi",
                             "Bearer dev-adminx", "Bearer s3cret-worke"}) {
    expect_unauthenticated(auth, header);
  }
}

TEST(BearerAuth, OtherSchemesAreUnauthenticated) {
  auto auth = authenticator();
  for (const char* header : {"Basic dev-admin", "Token dev-admin", "Bearerdev-admin", "Bearer:dev-admin",
                             "Bearer\tdev-admin", "dev-admin Bearer"}) {
    expect_unauthenticated(auth, header);
  }
}

TEST(BearerAuth, TokenSha256EntriesMatchThePlainToken) {
  auto auth = authenticator();
  auto p = auth.authenticate("Bearer s3cret-worker");
  ASSERT_TRUE(p.has_value()) << p.error().code;
  EXPECT_EQ(p->actor.type, "worker");
  EXPECT_EQ(p->actor.id, "relay");
  EXPECT_TRUE(p->actor.roles.empty());
  // The digest is not itself a token.
  expect_unauthenticated(auth, "Bearer " + codec::sha256_hex("s3cret-worker"));
}

TEST(BearerAuth, PlainAndDigestEntriesForTheSameTokenAreInterchangeable) {
  Json by_plain = {{"tokens", {{{"token", "abc"}, {"actor", {{"type", "user"}, {"id", "u-1"}}}}}}};
  Json by_digest = {
      {"tokens", {{{"token_sha256", codec::sha256_hex("abc")}, {"actor", {{"type", "user"}, {"id", "u-1"}}}}}}};
  auto a = TokenAuthenticator::from_json(by_plain);
  auto b = TokenAuthenticator::from_json(by_digest);
  ASSERT_TRUE(a.has_value() && b.has_value());
  auto pa = a->authenticate("Bearer abc");
  auto pb = b->authenticate("Bearer abc");
  ASSERT_TRUE(pa.has_value() && pb.has_value());
  EXPECT_EQ(pa->actor, pb->actor);
  EXPECT_EQ(pa->tenant, pb->tenant);
}

TEST(BearerAuth, TokensWithUnusualBytesWork) {
  // Whatever follows "Bearer " is the token, byte for byte.
  Json config = {{"tokens",
                  {{{"token", "tok/with+symbols=="}, {"actor", {{"type", "user"}, {"id", "u"}}}},
                   {{"token", "\xc3\xa9t\xc3\xa9"}, {"actor", {{"type", "user"}, {"id", "v"}}}}}}};
  auto auth = TokenAuthenticator::from_json(config);
  ASSERT_TRUE(auth.has_value());
  EXPECT_EQ(auth->authenticate("Bearer tok/with+symbols==")->actor.id, "u");
  EXPECT_EQ(auth->authenticate("Bearer \xc3\xa9t\xc3\xa9")->actor.id, "v");
}

// ---------------------------------------------------------------------------
// Hashed, expiring static tokens and the production profile (issue 10, item 8)

constexpr std::int64_t kT = 1767225600LL * 1'000'000;  // 2026-01-01T00:00:00Z
const events::Instant kBefore{kT - 1};
const events::Instant kAt{kT};

Json hashed(const std::string& token, const std::string& id, const char* expires_at = "2026-01-01T00:00:00Z") {
  Json e = {{"token_sha256", codec::sha256_hex(token)},
            {"tenant", "org-1"},
            {"actor", {{"type", "service_account"}, {"id", id}, {"roles", {"service"}}}}};
  if (expires_at != nullptr) e["expires_at"] = expires_at;
  return e;
}

std::string reason_of(const domain::Error& e) {
  for (const auto& [k, v] : e.evidence_texts()) {
    if (k == "reason") return v;
  }
  return "";
}

TEST(StaticTokens, AStaticTokenIsRefusedFromItsExpiry) {
  auto auth = TokenAuthenticator::from_json(Json{{"tokens", {hashed("billing-token-0001", "billing")}}},
                                            {.development = false});
  ASSERT_TRUE(auth.has_value()) << auth.error().message;
  auto ok = auth->authenticate("Bearer billing-token-0001", kBefore);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->actor.id, "billing");
  EXPECT_EQ(ok->token_id, std::nullopt);
  auto late = auth->authenticate("Bearer billing-token-0001", kAt);
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code, "unauthenticated");
  EXPECT_EQ(reason_of(late.error()), "expired");
  EXPECT_EQ(late.error().message.find("billing-token"), std::string::npos);
}

// An actor type is one a principal may have; anything else refuses the
// whole file (a typo would otherwise stamp events with an unknown type).
TEST(StaticTokens, AnActorTypeOtherThanThePrincipalTypesRefusesTheFile) {
  for (const char* type : {"user", "service_account", "api_key", "worker"}) {
    Json e = hashed("typed-token-00001", "typed");
    e["actor"]["type"] = type;
    auto auth = TokenAuthenticator::from_json(Json{{"tokens", {e}}});
    ASSERT_TRUE(auth.has_value()) << type << ": " << auth.error().message;
    auto who = auth->authenticate("Bearer typed-token-00001", kBefore);
    ASSERT_TRUE(who.has_value()) << type;
    EXPECT_EQ(who->actor.type, type);
  }
  for (const char* type : {"robot", "User", "system", "service-account", "user "}) {
    Json e = hashed("typed-token-00001", "typed");
    e["actor"]["type"] = type;
    expect_invalid_config(Json{{"tokens", {e}}}, type);
  }
}

TEST(StaticTokens, UpperCaseDigestsMatchAndMalformedOnesAreRefused) {
  Json e = hashed("billing-token-0001", "billing");
  std::string upper = e["token_sha256"];
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  e["token_sha256"] = upper;
  auto auth = TokenAuthenticator::from_json(Json{{"tokens", {e}}});
  ASSERT_TRUE(auth.has_value());
  EXPECT_TRUE(auth->authenticate("Bearer billing-token-0001", kBefore).has_value());
  for (const char* bad : {"abc", "zz", ""}) {
    Json b = hashed("x-token-000000001", "x");
    b["token_sha256"] = bad;
    expect_invalid_config(Json{{"tokens", {b}}}, bad);
  }
  Json b = hashed("x-token-000000001", "x");
  b["expires_at"] = "next tuesday";
  expect_invalid_config(Json{{"tokens", {b}}}, "bad expires_at");
}

TEST(StaticTokens, ProductionRefusesClearTextNeverExpiringAndDevelopmentTokens) {
  auto insecure = [](const Json& config, const char* why) {
    auto a = TokenAuthenticator::from_json(config, {.development = false});
    ASSERT_FALSE(a.has_value()) << why;
    EXPECT_EQ(a.error().code, "insecure_token_config") << why;
    // In a development profile the same file loads, with a warning.
    auto dev = TokenAuthenticator::from_json(config, {.development = true});
    ASSERT_TRUE(dev.has_value()) << why << ": " << dev.error().message;
  };
  insecure(Json{{"tokens",
                 {{{"token", "clear-text-token-01"},
                   {"expires_at", "2030-01-01T00:00:00Z"},
                   {"actor", {{"type", "user"}, {"id", "u"}}}}}}},
           "clear text");
  insecure(Json{{"tokens", {hashed("billing-token-0001", "billing", nullptr)}}}, "no expires_at");
  insecure(Json{{"tokens", {hashed("dev-platform-admin", "platform-admin")}}}, "a development token");
  auto dev = TokenAuthenticator::from_json(
      Json{{"tokens", {{{"token", "clear-text-token-01"}, {"actor", {{"type", "user"}, {"id", "u"}}}}}}});
  ASSERT_TRUE(dev.has_value());
  EXPECT_FALSE(dev->warnings().empty());
}

TEST(StaticTokens, TheRepositoryTokenFileLoadsOnlyInDevelopmentProfiles) {
  std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/config/tokens.json");
  const Json file = Json::parse(in);
  // Stored hashed, with an expiry: no clear-text token left in it.
  for (const auto& t : file["tokens"]) {
    EXPECT_FALSE(t.contains("token")) << t.dump();
    EXPECT_TRUE(t.contains("token_sha256") && t.contains("expires_at")) << t.dump();
  }
  auto dev = TokenAuthenticator::from_json(file, {.development = true});
  ASSERT_TRUE(dev.has_value()) << dev.error().message;
  EXPECT_FALSE(dev->warnings().empty());  // the public signing key
  EXPECT_TRUE(dev->authenticate("Bearer dev-acme-reader", kAt).has_value());
  auto prod = TokenAuthenticator::from_json(file, {.development = false});
  ASSERT_FALSE(prod.has_value());
  EXPECT_EQ(prod.error().code, "insecure_token_config");
  EXPECT_NE(prod.error().message.find("dev-hs256-1"), std::string::npos) << prod.error().message;
  // The development key under another kid is still the development key.
  Json renamed = file;
  renamed.erase("tokens");
  renamed["jwt"]["keys"][0]["kid"] = "prod-1";
  auto again = TokenAuthenticator::from_json(renamed, {.development = false});
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, "insecure_token_config");
}

TEST(StaticTokens, ProfilesDevAndTestAreDevelopmentOnly) {
  EXPECT_TRUE(is_development_profile("dev"));
  EXPECT_TRUE(is_development_profile("test"));
  for (const char* p : {"prod", "production", "staging", "", "DEV"}) EXPECT_FALSE(is_development_profile(p)) << p;
}

TEST(StaticTokens, TheEntryOfHashTokenLoadsInProduction) {
  Json e = static_token_entry("a-long-random-token-value", *codec::parse_instant("2027-06-01T00:00:00Z"));
  EXPECT_EQ(e["token_sha256"], codec::sha256_hex("a-long-random-token-value"));
  EXPECT_EQ(e["expires_at"], "2027-06-01T00:00:00.000000Z");
  e["tenant"] = "org-1";
  e["actor"] = {{"type", "api_key"}, {"id", "k"}, {"roles", {"reader"}}};
  auto a = TokenAuthenticator::from_json(Json{{"tokens", {e}}}, {.development = false});
  ASSERT_TRUE(a.has_value()) << a.error().message;
  EXPECT_TRUE(a->authenticate("Bearer a-long-random-token-value", kAt).has_value());
  EXPECT_FALSE(a->authenticate("Bearer a-long-random-token-valuf", kAt).has_value());
}

}  // namespace
}  // namespace ledger::commands
