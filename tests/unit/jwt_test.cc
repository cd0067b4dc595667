// Signed bearer tokens (adapters/identity/jwt.h) and how TokenAuthenticator routes to
// them: HS256 and EdDSA, rotation, time checks, and the forgeries an attacker
// would try (tampering, alg none, algorithm confusion, sloppy base64url,
// duplicate claims, single-byte mutations). Keys are fixed test keys and
// "now" is a fixed instant; only the tests of the one-argument authenticate
// (a token valid from 1970 to 9999) and of new_token_id touch the system
// clock or the random source.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "adapters/http/routes/http_json.h"
#include "adapters/identity/identity.h"
#include "adapters/identity/jwt.h"
#include "tests/support/jwt_keys.h"

namespace ledger::commands {
namespace {

using namespace ::ledger::identity;
using namespace ::ledger::testing;

using domain::ErrorKind;
using Json = nlohmann::json;

// ---------------------------------------------------------------------------
// Fixtures (keys from tests/support/jwt_keys.h)

constexpr std::int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z
constexpr std::int64_t kMicros = 1'000'000;
const events::Instant kNowInstant{kNow * kMicros};

Json jwt_config(Json keys) {
  return {{"issuer", "policy-ledger"},
          {"audience", "policy-ledger"},
          {"leeway_seconds", 30},
          {"service_account_token_ttl_seconds", 900},
          {"keys", std::move(keys)}};
}

// The verifier's default keys: hs-a (HS256) and ed-1 (EdDSA).
Json default_keys() { return Json::array({hs_key("hs-a", kSecretA), ed_public("ed-1", kEd1Public)}); }

TokenAuthenticator authenticator(Json keys = default_keys()) {
  Json config = {
      {"jwt", jwt_config(std::move(keys))},
      {"tokens", Json::array({{{"token", "static-admin"},
                               {"tenant", "platform"},
                               {"actor", {{"type", "user"}, {"id", "ops"}, {"roles", {"platform_admin"}}}}}})}};
  auto a = TokenAuthenticator::from_json(config);
  EXPECT_TRUE(a.has_value()) << a.error().message;
  return std::move(*a);
}

// A payload the default verifier accepts at kNow.
Json claims() {
  return {{"iss", "policy-ledger"},
          {"aud", "policy-ledger"},
          {"sub", "acme-admin"},
          {"actor_type", "user"},
          {"roles", {"tenant_admin", "auditor"}},
          {"org", "org-acme"},
          {"jti", "tok-0001"},
          {"iat", kNow - 10},
          {"exp", kNow + 300}};
}

std::string header_for(const JwtKey& key) {
  return Json{{"alg", jwt_algorithm_name(key.algorithm())}, {"kid", key.kid()}, {"typ", "JWT"}}.dump();
}

std::string sign(const JwtKey& key, const Json& payload) {
  auto t = sign_compact_jws(key, header_for(key), payload.dump());
  EXPECT_TRUE(t.has_value());
  return *t;
}
std::string sign(const JwtKey& key, const std::string& header, const Json& payload) {
  auto t = sign_compact_jws(key, header, payload.dump());
  EXPECT_TRUE(t.has_value());
  return *t;
}

domain::Result<Principal> auth_at(const TokenAuthenticator& auth, const std::string& token,
                                  events::Instant now = kNowInstant) {
  return auth.authenticate("Bearer " + token, now);
}

// Refused as 401 `unauthenticated`, with `reason` in the evidence when given,
// and neither the token, any of its segments, nor a secret in the message
// or the evidence.
void expect_refused(const TokenAuthenticator& auth, const std::string& token, std::string_view reason = {},
                    events::Instant now = kNowInstant) {
  auto p = auth_at(auth, token, now);
  ASSERT_FALSE(p.has_value()) << "accepted: " << token;
  EXPECT_EQ(p.error().kind, ErrorKind::kUnauthenticated);
  EXPECT_EQ(p.error().code, "unauthenticated");
  EXPECT_EQ(::ledger::routes::http_status(p.error().kind), 401);
  if (!reason.empty()) {
    std::string got;
    for (const auto& [k, v] : p.error().evidence_texts()) {
      if (k == "reason") got = v;
    }
    EXPECT_EQ(got, reason) << p.error().message;
  }
  std::vector<std::string> never = {token, kSecretA, kSecretB, base64url_encode(kSecretA), base64url_encode(kSecretB)};
  for (const auto& s : segments(token)) {
    if (s.size() >= 8) never.push_back(s);
  }
  std::string everything = p.error().message;
  for (const auto& [k, v] : p.error().evidence_texts()) everything += "|" + k + "=" + v;
  for (const auto& s : never) {
    EXPECT_EQ(everything.find(s), std::string::npos) << "error text leaks '" << s << "': " << everything;
  }
}

// ---------------------------------------------------------------------------
// base64url

TEST(JwtBase64Url, EncodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode("\xfb\xff\xbf"), "-_-_");  // the URL-safe characters
}

TEST(JwtBase64Url, DecodesStrictly) {
  EXPECT_EQ(base64url_decode("Zm9vYmE"), "fooba");
  EXPECT_EQ(base64url_decode("-_-_"), "\xfb\xff\xbf");
  EXPECT_EQ(base64url_decode(""), "");
  for (const char* bad : {"Zm9vYmE=", "Zg==", "+/+/", "Zm9v YmE", "Zm9v\nYmE", "Z", "Zm9vY", "Zm9v.", "Zh", "Zm9"}) {
    EXPECT_FALSE(base64url_decode(bad).has_value()) << bad;
  }
}

RC_GTEST_PROP(JwtBase64Url, RoundTripsAndEveryByteStringHasOneEncoding, (const std::string& bytes)) {
  const auto text = base64url_encode(bytes);
  RC_ASSERT(base64url_decode(text) == std::optional<std::string>(bytes));
  // Any other text of the same length decodes to something else or nothing.
  if (!text.empty()) {
    const auto i = *rc::gen::inRange<std::size_t>(0, text.size());
    const char c =
        *rc::gen::elementOf(std::string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/"));
    RC_PRE(c != text[i]);
    auto changed = text;
    changed[i] = c;
    RC_ASSERT(base64url_decode(changed) != std::optional<std::string>(bytes));
  }
}

// ---------------------------------------------------------------------------
// Valid tokens

TEST(JwtHs256, ValidTokenGivesItsPrincipal) {
  auto p = auth_at(authenticator(), sign(hs_a(), claims()));
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->actor.type, "user");
  EXPECT_EQ(p->actor.id, "acme-admin");
  EXPECT_EQ(p->actor.roles, (std::vector<std::string>{"auditor", "tenant_admin"}));  // sorted
  EXPECT_EQ(p->tenant, "org-acme");
}

TEST(JwtEdDsa, ValidTokenGivesItsPrincipal) {
  Json c = claims();
  c["sub"] = "billing";
  c["actor_type"] = "service_account";
  c["roles"] = {"service"};
  auto p = auth_at(authenticator(), sign(ed_1(), c));
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->actor.type, "service_account");
  EXPECT_EQ(p->actor.id, "billing");
  EXPECT_EQ(p->actor.roles, (std::vector<std::string>{"service"}));
  EXPECT_EQ(p->tenant, "org-acme");
}

TEST(JwtMint, MintedTokensVerifyWithBothAlgorithms) {
  JwtClaims c;
  c.issuer = "policy-ledger";
  c.audience = {"policy-ledger"};
  c.subject = "platform-admin";
  c.actor_type = "user";
  c.roles = {"platform_admin"};
  c.organization = "platform";
  c.token_id = "jti-1";
  c.issued_at = kNow;
  c.expires_at = kNow + 60;
  c.not_before = kNow;
  const auto auth = authenticator();
  for (const JwtKey& key : {hs_a(), ed_1()}) {
    auto token = mint_jwt(key, c);
    ASSERT_TRUE(token.has_value()) << token.error().message;
    auto p = auth_at(auth, *token);
    ASSERT_TRUE(p.has_value()) << key.kid() << ": " << p.error().message;
    EXPECT_EQ(p->actor.id, "platform-admin");
    EXPECT_EQ(p->tenant, "platform");
    // Round trip through verify(): every claim comes back.
    auto verifier = JwtVerifier::from_json(jwt_config(default_keys()));
    ASSERT_TRUE(verifier.has_value());
    auto back = verifier->verify(*token, kNowInstant);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->token_id, "jti-1");
    EXPECT_EQ(back->audience, c.audience);
    EXPECT_EQ(back->not_before, c.not_before);
    EXPECT_EQ(back->expires_at, kNow + 60);
  }
}

// Claims mint_jwt takes: a user's minute-long token.
JwtClaims mintable() {
  JwtClaims c;
  c.issuer = "policy-ledger";
  c.audience = {"policy-ledger"};
  c.subject = "u";
  c.actor_type = "user";
  c.organization = "org-1";
  c.token_id = "j";
  c.issued_at = kNow;
  c.expires_at = kNow + 60;
  return c;
}

TEST(JwtMint, RefusesKeysThatCannotSignAndIncompleteClaims) {
  const JwtClaims c = mintable();
  EXPECT_TRUE(mint_jwt(hs_a(), c).has_value());
  auto public_only = signing_key(ed_public("ed-1", kEd1Public));
  EXPECT_FALSE(public_only.can_sign());
  EXPECT_EQ(mint_jwt(public_only, c).error().code, "invalid_claims");
  auto bad = c;
  bad.actor_type = "system";
  EXPECT_EQ(mint_jwt(hs_a(), bad).error().code, "invalid_claims");
  bad = c;
  bad.expires_at = bad.issued_at;
  EXPECT_EQ(mint_jwt(hs_a(), bad).error().code, "invalid_claims");
  bad = c;
  bad.subject.clear();
  EXPECT_EQ(mint_jwt(hs_a(), bad).error().code, "invalid_claims");
  bad = c;
  bad.roles = {"reader", ""};
  EXPECT_EQ(mint_jwt(hs_a(), bad).error().code, "invalid_claims");
  bad = c;
  bad.audience.clear();
  EXPECT_EQ(mint_jwt(hs_a(), bad).error().code, "invalid_claims");
  bad = c;
  bad.expires_at = 253402300800;
  EXPECT_EQ(mint_jwt(hs_a(), bad).error().code, "invalid_claims");
}

// String claims hold 1 to 256 characters, whatever their bytes: 256 of two,
// three or four bytes each are taken, one more is refused, by the verifier
// and by mint_jwt alike.
TEST(JwtClaimLimits, StringClaimsCountCharactersNotBytes) {
  auto repeat = [](std::string_view c, std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += c;
    return s;
  };
  const auto auth = authenticator();
  for (const std::string_view c : {"\u00e9", "\u4e2d", "\U0001F600"}) {
    for (const char* field : {"sub", "jti", "roles"}) {
      SCOPED_TRACE(std::string(field) + " of " + std::string(c));
      for (const std::size_t n : {std::size_t{256}, std::size_t{257}}) {
        Json p = claims();
        const std::string value = repeat(c, n);
        if (std::string_view(field) == "roles") {
          p[field] = Json::array({value});
        } else {
          p[field] = value;
        }
        if (n == 256) {
          auto ok = auth_at(auth, sign(hs_a(), p));
          ASSERT_TRUE(ok.has_value()) << ok.error().message;
          const std::string_view f = field;
          if (f == "sub") {
            EXPECT_EQ(ok->actor.id, value);
          } else if (f == "jti") {
            EXPECT_EQ(ok->token_id, std::optional<std::string>(value));
          } else {
            EXPECT_EQ(ok->actor.roles, std::vector<std::string>{value});
          }
        } else {
          expect_refused(auth, sign(hs_a(), p), "invalid_claim");
        }
      }
    }
    JwtClaims m = mintable();
    m.subject = repeat(c, 256);
    m.roles = {repeat(c, 256)};
    EXPECT_TRUE(mint_jwt(hs_a(), m).has_value());
    m.subject = repeat(c, 257);
    EXPECT_EQ(mint_jwt(hs_a(), m).error().code, "invalid_claims");
  }
}

TEST(JwtMint, TokenIdsAreFreshAndUrlSafe) {
  auto a = new_token_id();
  auto b = new_token_id();
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->size(), 22u);  // 16 bytes
  EXPECT_EQ(base64url_decode(*a)->size(), 16u);
}

TEST(JwtAudience, AnArrayContainingTheAudienceIsAccepted) {
  Json c = claims();
  c["aud"] = {"another-service", "policy-ledger"};
  EXPECT_TRUE(auth_at(authenticator(), sign(hs_a(), c)).has_value());
}

TEST(JwtIdentity, StaticTokensKeepWorkingBesideJwts) {
  auto auth = authenticator();
  auto p = auth.authenticate("Bearer static-admin", kNowInstant);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->actor.id, "ops");
  // The one-argument form still works (and uses the system clock for JWTs:
  // a token issued a minute ago for an hour is valid now; tokens can no
  // longer live from 1970 to 9999).
  EXPECT_TRUE(auth.authenticate("Bearer static-admin").has_value());
  const auto now_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  Json current = claims();
  current["iat"] = now_s - 60;
  current["exp"] = now_s + 3600;
  EXPECT_TRUE(auth.authenticate("Bearer " + sign(hs_a(), current)).has_value());
}

TEST(JwtIdentity, JwtsAreRefusedWhenNoJwtKeysAreConfigured) {
  auto a = TokenAuthenticator::from_json(Json{{"tokens", Json::array()}});
  ASSERT_TRUE(a.has_value());
  expect_refused(*a, sign(hs_a(), claims()));
}

TEST(JwtIdentity, AJwtOnlyConfigNeedsNoStaticTokens) {
  auto a = TokenAuthenticator::from_json(Json{{"jwt", jwt_config(default_keys())}});
  ASSERT_TRUE(a.has_value()) << a.error().message;
  EXPECT_TRUE(auth_at(*a, sign(hs_a(), claims())).has_value());
  expect_refused(*a, "static-admin");
}

TEST(JwtIdentity, StaticTokensThatLookLikeJwtsAreRefusedInConfig) {
  auto a = TokenAuthenticator::from_json(
      Json{{"tokens", {{{"token", "a.b.c"}, {"actor", {{"type", "user"}, {"id", "u"}}}}}}});
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().code, "invalid_token_config");
}

TEST(JwtIdentity, TheDevelopmentTokenFileVerifiesMintedTokens) {
  std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/config/tokens.json");
  const Json file = Json::parse(in);
  auto auth = TokenAuthenticator::from_json(file);
  ASSERT_TRUE(auth.has_value()) << auth.error().message;
  auto key = JwtKey::from_key_file(file, "dev-hs256-1");
  ASSERT_TRUE(key.has_value()) << key.error().message;
  JwtClaims c;
  c.issuer = "policy-ledger";
  c.audience = {"policy-ledger"};
  c.subject = "acme-billing";
  c.actor_type = "service_account";
  c.roles = {"service"};
  c.organization = "org-acme";
  c.token_id = "dev-1";
  c.issued_at = kNow;
  c.expires_at = kNow + 900;
  auto token = mint_jwt(*key, c);
  ASSERT_TRUE(token.has_value());
  auto p = auth_at(*auth, *token);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->actor.id, "acme-billing");
  // The static development tokens are still there.
  EXPECT_TRUE(auth->authenticate("Bearer dev-platform-admin", kNowInstant).has_value());
}

TEST(JwtIdentity, TheFuzzSeedTokensAreValidAtTheFuzzersInstant) {
  // tests/fuzz/corpus/token_parser_fuzz/ was signed with this file's hs-a and
  // ed-1 keys at kNow; if they stopped verifying, the fuzzer would never get
  // past the signature.
  const auto auth = authenticator();
  for (const char* name : {"hs256_valid", "eddsa_valid"}) {
    std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/tests/fuzz/corpus/token_parser_fuzz/" + name);
    const std::string header((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto p = auth.authenticate(header, kNowInstant);
    ASSERT_TRUE(p.has_value()) << name << ": " << p.error().message;
    EXPECT_EQ(p->actor.id, "u-1");
  }
}

// ---------------------------------------------------------------------------
// Rotation

TEST(JwtRotation, OldAndNewKeysBothVerifyDuringARollOver) {
  const auto old_key = hs_a();
  const auto new_key = signing_key(hs_key("hs-b", kSecretB));
  const auto new_ed = signing_key(ed_private("ed-2", kEd2Private));
  auto during = authenticator(Json::array({hs_key("hs-a", kSecretA), hs_key("hs-b", kSecretB),
                                           ed_public("ed-1", kEd1Public), ed_public("ed-2", kEd2Public)}));
  EXPECT_TRUE(auth_at(during, sign(old_key, claims())).has_value());
  EXPECT_TRUE(auth_at(during, sign(new_key, claims())).has_value());
  EXPECT_TRUE(auth_at(during, sign(ed_1(), claims())).has_value());
  EXPECT_TRUE(auth_at(during, sign(new_ed, claims())).has_value());

  // After the roll-over the old kids are gone: their tokens are refused.
  auto after = authenticator(Json::array({hs_key("hs-b", kSecretB), ed_public("ed-2", kEd2Public)}));
  expect_refused(after, sign(old_key, claims()), "unknown_key");
  expect_refused(after, sign(ed_1(), claims()), "unknown_key");
  EXPECT_TRUE(auth_at(after, sign(new_key, claims())).has_value());
  EXPECT_TRUE(auth_at(after, sign(new_ed, claims())).has_value());
}

TEST(JwtRotation, TheKidSelectsTheKeyAndAWrongKidFails) {
  // Signed with hs-b's secret but claiming to be hs-a: the kid picks hs-a,
  // whose secret does not verify it.
  auto auth = authenticator(Json::array({hs_key("hs-a", kSecretA), hs_key("hs-b", kSecretB)}));
  const auto b_secret_named_a = signing_key(hs_key("hs-a", kSecretB));
  expect_refused(auth, sign(b_secret_named_a, claims()), "bad_signature");
  // Ed25519 the same: ed-2's private key under kid ed-1.
  auto ed_auth = authenticator(Json::array({ed_public("ed-1", kEd1Public), ed_public("ed-2", kEd2Public)}));
  expect_refused(ed_auth, sign(signing_key(ed_private("ed-1", kEd2Private)), claims()), "bad_signature");
}

// ---------------------------------------------------------------------------
// Time

TEST(JwtTime, ExpiryHonoursTheLeewayToTheMicrosecond) {
  const auto auth = authenticator();          // leeway 30 s
  const auto token = sign(hs_a(), claims());  // exp = kNow + 300
  const std::int64_t limit = (kNow + 300 + 30) * kMicros;
  EXPECT_TRUE(auth_at(auth, token, events::Instant{kNow * kMicros + 300 * kMicros}).has_value());
  EXPECT_TRUE(auth_at(auth, token, events::Instant{limit - 1}).has_value());
  expect_refused(auth, token, "expired", events::Instant{limit});
  expect_refused(auth, token, "expired", events::Instant{limit + 3600 * kMicros});
}

TEST(JwtTime, ExpiredTokensAreRefused) {
  Json c = claims();
  c["iat"] = kNow - 7200;
  c["exp"] = kNow - 3600;
  expect_refused(authenticator(), sign(hs_a(), c), "expired");
  expect_refused(authenticator(), sign(ed_1(), c), "expired");
}

TEST(JwtTime, NotBeforeInTheFutureIsRefusedBeyondTheLeeway) {
  const auto auth = authenticator();
  Json c = claims();
  c["nbf"] = kNow + 60;
  expect_refused(auth, sign(hs_a(), c), "not_yet_valid");
  c["nbf"] = kNow + 31;
  expect_refused(auth, sign(hs_a(), c), "not_yet_valid");
  c["nbf"] = kNow + 30;  // exactly the leeway: accepted
  EXPECT_TRUE(auth_at(auth, sign(hs_a(), c)).has_value());
  c["nbf"] = kNow - 5;
  EXPECT_TRUE(auth_at(auth, sign(hs_a(), c)).has_value());
}

TEST(JwtTime, TokensIssuedInTheFutureAreRefused) {
  Json c = claims();
  c["iat"] = kNow + 120;
  c["exp"] = kNow + 400;
  expect_refused(authenticator(), sign(hs_a(), c), "not_yet_valid");
  c["iat"] = kNow + 30;  // within the leeway
  EXPECT_TRUE(auth_at(authenticator(), sign(hs_a(), c)).has_value());
}

TEST(JwtTime, DatesMustBeIntegerSecondsInRange) {
  const auto auth = authenticator();
  for (const Json& bad :
       {Json(double(kNow + 300) + 0.5), Json(std::to_string(kNow + 300)), Json(-1), Json(std::int64_t{253402300800}),
        Json(std::uint64_t{18446744073709551615u}), Json(nullptr), Json::array({kNow + 300})}) {
    Json c = claims();
    c["exp"] = bad;
    expect_refused(auth, sign(hs_a(), c), "invalid_claim");
  }
  Json c = claims();
  c["exp"] = c["iat"];
  expect_refused(auth, sign(hs_a(), c), "invalid_claim");  // no lifetime at all
}

// ---------------------------------------------------------------------------
// Service-account lifetime (seed 000 auth.service_account_token_ttl_seconds)

TEST(JwtServiceAccount, LifetimeIsCappedByTheConfiguredTtl) {
  const auto auth = authenticator();  // ttl 900
  Json c = claims();
  c["actor_type"] = "service_account";
  c["iat"] = kNow - 10;
  c["exp"] = kNow - 10 + 900;
  EXPECT_TRUE(auth_at(auth, sign(ed_1(), c)).has_value());
  c["exp"] = kNow - 10 + 901;
  expect_refused(auth, sign(ed_1(), c), "lifetime_too_long");
  c["exp"] = kNow + 86400 * 365;
  expect_refused(auth, sign(hs_a(), c), "lifetime_too_long");
  // Other actor types are not capped by it, but by their own maximum.
  c["actor_type"] = "user";
  c["exp"] = kNow - 10 + 3600;
  EXPECT_TRUE(auth_at(auth, sign(hs_a(), c)).has_value());
}

// ---------------------------------------------------------------------------
// Every actor type's maximum lifetime (issue 10, item 8)

TEST(JwtLifetime, EveryActorTypeHasADefaultMaximum) {
  const auto auth = authenticator();  // no max_token_lifetime_seconds: the defaults
  for (const auto& [type, max] : {std::pair<std::string, std::int64_t>{"user", 12 * 3600},
                                  {"api_key", 90 * 86400},
                                  {"worker", 24 * 3600},
                                  {"service_account", 900}}) {
    Json c = claims();
    c["actor_type"] = type;
    c["iat"] = kNow - 10;
    c["exp"] = kNow - 10 + max;
    EXPECT_TRUE(auth_at(auth, sign(hs_a(), c)).has_value()) << type;
    c["exp"] = kNow - 10 + max + 1;
    expect_refused(auth, sign(hs_a(), c), "lifetime_too_long");
    // The ten-year tokens the ledger used to accept.
    c["exp"] = kNow - 10 + 10 * 365 * 86400;
    expect_refused(auth, sign(ed_1(), c), "lifetime_too_long");
  }
}

TEST(JwtLifetime, RefusalNamesTheMaximumButNeverTheToken) {
  const auto auth = authenticator();
  Json c = claims();
  c["actor_type"] = "api_key";
  c["exp"] = kNow + 3650 * 86400;
  auto p = auth_at(auth, sign(hs_a(), c));
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().kind, ErrorKind::kUnauthenticated);
  bool named = false;
  for (const auto& [k, v] : p.error().evidence_texts()) {
    if (k == "max_lifetime_seconds") named = v == std::to_string(90 * 86400);
  }
  EXPECT_TRUE(named);
}

TEST(JwtLifetime, MaximaFollowTheConfig) {
  Json cfg = jwt_config(default_keys());
  cfg["max_token_lifetime_seconds"] = {{"user", 600}, {"worker", 120}};
  auto v = JwtVerifier::from_json(cfg);
  ASSERT_TRUE(v.has_value()) << v.error().message;
  EXPECT_EQ(v->policy().max_lifetime_seconds("user"), 600);
  EXPECT_EQ(v->policy().max_lifetime_seconds("worker"), 120);
  EXPECT_EQ(v->policy().max_lifetime_seconds("api_key"), 90 * 86400);  // default kept
  EXPECT_EQ(v->policy().max_lifetime_seconds("service_account"), 900);
  EXPECT_EQ(v->policy().max_lifetime_seconds("robot"), std::nullopt);
  auto a = TokenAuthenticator::from_json(Json{{"jwt", cfg}});
  ASSERT_TRUE(a.has_value());
  Json c = claims();
  c["iat"] = kNow;
  c["exp"] = kNow + 600;
  EXPECT_TRUE(auth_at(*a, sign(hs_a(), c)).has_value());
  c["exp"] = kNow + 601;
  expect_refused(*a, sign(hs_a(), c), "lifetime_too_long");

  for (const Json& bad : {Json(5), Json{{"user", 59}}, Json{{"worker", 366 * 86400 + 1}}, Json{{"user", "600"}},
                          Json{{"service_account", 600}}, Json{{"robot", 600}}}) {
    Json b = jwt_config(default_keys());
    b["max_token_lifetime_seconds"] = bad;
    auto r = JwtVerifier::from_json(b);
    ASSERT_FALSE(r.has_value()) << bad.dump();
    EXPECT_EQ(r.error().code, "invalid_token_config");
  }
}

TEST(JwtLifetime, TheDevelopmentFileStatesTheDefaults) {
  std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/config/tokens.json");
  auto v = JwtVerifier::from_json(Json::parse(in)["jwt"]);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->policy().max_lifetime_seconds("user"), kDefaultUserTokenMaxLifetimeSeconds);
  EXPECT_EQ(v->policy().max_lifetime_seconds("api_key"), kDefaultApiKeyTokenMaxLifetimeSeconds);
  EXPECT_EQ(v->policy().max_lifetime_seconds("worker"), kDefaultWorkerTokenMaxLifetimeSeconds);
}

TEST(JwtLifetime, TheTokenIdReachesThePrincipal) {
  auto p = auth_at(authenticator(), sign(hs_a(), claims()));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->token_id, "tok-0001");
}

TEST(JwtServiceAccount, TtlDefaultsToNineHundredSecondsAndFollowsConfig) {
  Json cfg = jwt_config(default_keys());
  cfg.erase("service_account_token_ttl_seconds");
  auto v = JwtVerifier::from_json(cfg);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->policy().service_account_token_ttl_seconds, 900);
  EXPECT_EQ(v->policy().leeway_seconds, 30);

  cfg["service_account_token_ttl_seconds"] = 60;
  auto a = TokenAuthenticator::from_json(Json{{"jwt", cfg}});
  ASSERT_TRUE(a.has_value());
  Json c = claims();
  c["actor_type"] = "service_account";
  c["iat"] = kNow;
  c["exp"] = kNow + 61;
  expect_refused(*a, sign(hs_a(), c), "lifetime_too_long");
  c["exp"] = kNow + 60;
  EXPECT_TRUE(auth_at(*a, sign(hs_a(), c)).has_value());
}

// ---------------------------------------------------------------------------
// Forgeries

TEST(JwtForgery, TamperedPayloadIsRefused) {
  for (const JwtKey& key : {hs_a(), ed_1()}) {
    const auto token = sign(key, claims());
    auto parts = segments(token);
    Json evil = claims();
    evil["org"] = "org-victim";
    evil["roles"] = {"platform_admin"};
    const auto forged = parts[0] + "." + base64url_encode(evil.dump()) + "." + parts[2];
    expect_refused(authenticator(), forged, "bad_signature");
  }
}

TEST(JwtForgery, TamperedSignatureIsRefused) {
  for (const JwtKey& key : {hs_a(), ed_1()}) {
    const auto token = sign(key, claims());
    auto parts = segments(token);
    auto sig = *base64url_decode(parts[2]);
    for (std::size_t i : {std::size_t{0}, sig.size() / 2, sig.size() - 1}) {
      auto flipped = sig;
      flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
      expect_refused(authenticator(), parts[0] + "." + parts[1] + "." + base64url_encode(flipped), "bad_signature");
    }
    // Truncated, extended and empty signatures.
    expect_refused(authenticator(), parts[0] + "." + parts[1] + "." + base64url_encode(sig.substr(1)), "bad_signature");
    expect_refused(authenticator(), parts[0] + "." + parts[1] + "." + base64url_encode(sig + "x"), "bad_signature");
    expect_refused(authenticator(), parts[0] + "." + parts[1] + ".", "malformed");
  }
}

TEST(JwtForgery, AlgNoneAndOtherAlgorithmsAreRefused) {
  const auto auth = authenticator();
  const auto payload = base64url_encode(claims().dump());
  for (const char* alg :
       {"none", "None", "NONE", "", "hs256", "HS512", "HS384", "RS256", "ES256", "Ed25519", "eddsa"}) {
    const auto header = base64url_encode(Json{{"alg", alg}, {"kid", "hs-a"}}.dump());
    // Unsigned, and signed with HS256 under the alg claimed.
    expect_refused(auth, header + "." + payload + ".", {});
    expect_refused(auth, header + "." + payload + "." + base64url_encode(std::string(32, 'x')),
                   "unsupported_algorithm");
    expect_refused(auth, sign(hs_a(), Json{{"alg", alg}, {"kid", "hs-a"}}.dump(), claims()), "unsupported_algorithm");
  }
  // No alg at all, or not a string.
  expect_refused(auth, sign(hs_a(), R"({"kid":"hs-a"})", claims()), "malformed");
  expect_refused(auth, sign(hs_a(), R"({"alg":["HS256"],"kid":"hs-a"})", claims()), "malformed");
}

TEST(JwtForgery, AlgorithmConfusionIsRefused) {
  // The classic attack: take the verifier's EdDSA public key, use its bytes
  // as an HMAC secret and claim alg HS256 under the EdDSA key's kid.
  const auto auth = authenticator();
  const auto confused = signing_key(hs_key("ed-1", kEd1Public));
  expect_refused(auth, sign(confused, claims()), "algorithm_mismatch");
  // And the other way round: EdDSA claimed under the HS256 key's kid.
  const auto ed_named_hs = signing_key(ed_private("hs-a", kEd1Private));
  expect_refused(auth, sign(ed_named_hs, claims()), "algorithm_mismatch");
  // A correct HS256 signature with the header saying EdDSA.
  expect_refused(auth, sign(hs_a(), R"({"alg":"EdDSA","kid":"hs-a"})", claims()), "algorithm_mismatch");
}

TEST(JwtForgery, UnknownOrMissingKidIsRefused) {
  const auto auth = authenticator();
  expect_refused(auth, sign(signing_key(hs_key("hs-zz", kSecretA)), claims()), "unknown_key");
  expect_refused(auth, sign(hs_a(), R"({"alg":"HS256"})", claims()), "malformed");
  expect_refused(auth, sign(hs_a(), R"({"alg":"HS256","kid":7})", claims()), "malformed");
}

TEST(JwtForgery, HeaderExtensionsAreRefused) {
  const auto auth = authenticator();
  expect_refused(auth, sign(hs_a(), R"({"alg":"HS256","kid":"hs-a","crit":["exp"],"exp":1})", claims()),
                 "unsupported_header");
  expect_refused(auth, sign(hs_a(), R"({"alg":"HS256","kid":"hs-a","typ":"JOSE+JSON"})", claims()), "malformed");
  EXPECT_TRUE(auth_at(auth, sign(hs_a(), R"({"alg":"HS256","kid":"hs-a"})", claims())).has_value());
}

TEST(JwtForgery, DuplicateKeysInHeaderOrPayloadAreRefused) {
  // A signed payload naming two organizations must not be read as either.
  const auto auth = authenticator();
  auto payload = claims().dump();
  payload.pop_back();
  payload += R"(,"org":"org-victim"})";
  auto token = sign_compact_jws(hs_a(), header_for(hs_a()), payload);
  ASSERT_TRUE(token.has_value());
  expect_refused(auth, *token, "malformed");
  auto dup_header = sign_compact_jws(hs_a(), R"({"alg":"HS256","kid":"hs-a","kid":"ed-1"})", claims().dump());
  ASSERT_TRUE(dup_header.has_value());
  expect_refused(auth, *dup_header, "malformed");
}

TEST(JwtForgery, BadBase64UrlIsRefused) {
  const auto auth = authenticator();
  const auto token = sign(hs_a(), claims());
  const auto p = segments(token);
  const std::vector<std::string> bad = {
      p[0] + "=." + p[1] + "." + p[2],                 // padding
      p[0] + "." + p[1] + "." + p[2] + "=",            // padding on the signature
      "+" + p[0].substr(1) + "." + p[1] + "." + p[2],  // standard alphabet
      p[0] + "." + p[1].substr(0, 4) + "/" + p[1].substr(5) + "." + p[2],
      p[0] + "." + p[1] + "." + p[2].substr(0, p[2].size() - 1) + "!",
      p[0] + "." + p[1] + " ." + p[2],       // whitespace
      p[0] + "." + p[1] + "." + p[2] + "A",  // impossible length
      "." + p[1] + "." + p[2],               // empty header
      p[0] + ".." + p[2],                    // empty payload
      "a.b.c",
      "..",
      p[0] + "." + p[1] + "." + p[2] + ".x",  // four segments: a static token, unknown
  };
  for (const auto& t : bad) expect_refused(auth, t);
  // The signature's last character with its unused bits set: the same bytes
  // in a second spelling. HS256 signatures are 32 bytes (43 characters, the
  // last carrying 4 bits and 2 unused ones).
  auto sig = p[2];
  ASSERT_EQ(sig.size(), 43u);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const auto v = alphabet.find(sig.back());
  ASSERT_EQ(v % 4, 0u);
  sig.back() = alphabet[v + 1];
  expect_refused(auth, p[0] + "." + p[1] + "." + sig, "malformed");
}

TEST(JwtForgery, NonJsonHeaderOrPayloadIsRefused) {
  const auto auth = authenticator();
  for (const std::string& junk : {std::string("not json"), std::string("[1,2]"), std::string("\"s\""),
                                  std::string("{\"alg\":\"HS256\""), std::string("\xff\xfe{}", 4)}) {
    auto t1 = sign_compact_jws(hs_a(), junk, claims().dump());
    expect_refused(auth, *t1, "malformed");
    auto t2 = sign_compact_jws(hs_a(), header_for(hs_a()), junk);
    expect_refused(auth, *t2, "malformed");
  }
}

TEST(JwtForgery, OverlongTokensAreRefused) {
  Json c = claims();
  c["pad"] = std::string(kMaxJwtBytes, 'x');
  expect_refused(authenticator(), sign(hs_a(), c), "malformed");
}

// ---------------------------------------------------------------------------
// Claims

TEST(JwtClaims, EveryRequiredClaimMustBePresent) {
  const auto auth = authenticator();
  for (const char* name : {"iss", "aud", "sub", "actor_type", "roles", "org", "jti", "iat", "exp"}) {
    Json c = claims();
    c.erase(name);
    expect_refused(auth, sign(hs_a(), c), "missing_claim");
    expect_refused(auth, sign(ed_1(), c), "missing_claim");
  }
}

TEST(JwtClaims, ClaimsOfTheWrongTypeAreRefused) {
  const auto auth = authenticator();
  const std::vector<std::pair<const char*, Json>> cases = {
      {"sub", 42},
      {"sub", ""},
      {"sub", std::string(300, 'u')},
      {"org", nullptr},
      {"org", Json::array()},
      {"jti", Json::object()},
      {"actor_type", true},
      {"actor_type", "system"},
      {"actor_type", "admin"},
      {"roles", "platform_admin"},
      {"roles", {"a", 1}},
      {"roles", {""}},
      {"aud", 5},
      {"aud", Json::array()},
      {"aud", {"policy-ledger", 3}},
      {"iss", Json::array({"policy-ledger"})},
  };
  for (const auto& [name, value] : cases) {
    Json c = claims();
    c[name] = value;
    expect_refused(auth, sign(hs_a(), c), "invalid_claim");
  }
}

TEST(JwtClaims, WrongIssuerOrAudienceIsRefused) {
  const auto auth = authenticator();
  Json c = claims();
  c["iss"] = "someone-else";
  expect_refused(auth, sign(hs_a(), c), "wrong_issuer");
  c = claims();
  c["aud"] = "another-service";
  expect_refused(auth, sign(hs_a(), c), "wrong_audience");
  c["aud"] = {"another-service", "policy-ledger-x"};
  expect_refused(auth, sign(ed_1(), c), "wrong_audience");
}

TEST(JwtClaims, RefusalsOfAuthenticTokensNameTheKeyAndTokenId) {
  Json c = claims();
  c["exp"] = kNow - 100;
  c["iat"] = kNow - 200;
  auto p = auth_at(authenticator(), sign(hs_a(), c));
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().evidence_text("jti"), "tok-0001");
  EXPECT_EQ(p.error().evidence_text("kid"), "hs-a");
}

// ---------------------------------------------------------------------------
// Single-byte mutations: none of them is still a valid token.

void expect_every_mutation_refused(const TokenAuthenticator& auth, const std::string& token) {
  ASSERT_TRUE(auth_at(auth, token).has_value());
  for (std::size_t i = 0; i < token.size(); ++i) {
    for (unsigned char b : {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80}) {
      if (b == 0) continue;
      auto m = token;
      m[i] = static_cast<char>(m[i] ^ b);
      auto p = auth_at(auth, m);
      ASSERT_FALSE(p.has_value()) << "byte " << i << " ^ " << int(b) << " still verifies";
    }
  }
}

TEST(JwtMutation, EveryBitFlipOfAValidTokenIsRefused) {
  const auto auth = authenticator();
  expect_every_mutation_refused(auth, sign(hs_a(), claims()));
  expect_every_mutation_refused(auth, sign(ed_1(), claims()));
}

RC_GTEST_PROP(JwtMutation, AnySingleByteChangeOfAValidTokenIsRefused, ()) {
  static const auto auth = authenticator();
  static const std::string tokens[2] = {sign(hs_a(), claims()), sign(ed_1(), claims())};
  const auto& token = tokens[*rc::gen::inRange(0, 2)];
  const auto i = *rc::gen::inRange<std::size_t>(0, token.size());
  const auto byte = *rc::gen::arbitrary<unsigned char>();
  RC_PRE(static_cast<char>(byte) != token[i]);
  auto m = token;
  m[i] = static_cast<char>(byte);
  auto p = auth.authenticate("Bearer " + m, kNowInstant);
  RC_ASSERT(!p.has_value());
  RC_ASSERT(p.error().code == std::string("unauthenticated"));
  RC_ASSERT(p.error().message.find(m) == std::string::npos);
}

RC_GTEST_PROP(JwtMutation, ArbitraryBearerTextIsRefusedWithoutEchoingIt, (const std::string& text)) {
  static const auto auth = authenticator();
  auto p = auth.authenticate("Bearer " + text, kNowInstant);
  RC_PRE(text != "static-admin");
  RC_ASSERT(!p.has_value());
  if (text.size() >= 4) RC_ASSERT(p.error().message.find(text) == std::string::npos);
}

// ---------------------------------------------------------------------------
// Key configuration

void expect_invalid_jwt_config(const Json& jwt, const char* why) {
  auto a = TokenAuthenticator::from_json(Json{{"jwt", jwt}, {"tokens", Json::array()}});
  ASSERT_FALSE(a.has_value()) << why;
  EXPECT_EQ(a.error().code, "invalid_token_config") << why;
  EXPECT_EQ(a.error().kind, ErrorKind::kInvalidArgument) << why;
  for (const auto& s :
       {kSecretA, base64url_encode(kSecretA), std::string("short-secret"), base64url_encode("short-secret")}) {
    EXPECT_EQ(a.error().message.find(s), std::string::npos) << why << ": " << a.error().message;
  }
}

TEST(JwtConfig, RefusesBadKeysAndSettings) {
  auto with = [](Json keys) { return jwt_config(std::move(keys)); };
  expect_invalid_jwt_config(Json::array(), "jwt an array");
  expect_invalid_jwt_config(with(Json::array()), "no keys");
  expect_invalid_jwt_config(with(Json::object()), "keys an object");
  expect_invalid_jwt_config(with({hs_key("k", "short-secret")}), "HS256 secret under 32 bytes");
  expect_invalid_jwt_config(
      with({{{"kid", "k"}, {"alg", "HS256"}, {"secret_base64url", base64url_encode(kSecretA) + "="}}}),
      "padded secret");
  expect_invalid_jwt_config(with({{{"kid", "k"}, {"alg", "HS256"}}}), "no secret");
  expect_invalid_jwt_config(with({{{"kid", "k"}, {"alg", "none"}, {"secret_base64url", base64url_encode(kSecretA)}}}),
                            "alg none");
  expect_invalid_jwt_config(with({{{"kid", "k"}, {"alg", "RS256"}, {"public_key_pem", kEd1Public}}}), "alg RS256");
  expect_invalid_jwt_config(with({{{"alg", "HS256"}, {"secret_base64url", base64url_encode(kSecretA)}}}), "no kid");
  expect_invalid_jwt_config(with({hs_key("k", kSecretA), hs_key("k", kSecretB)}), "kid twice");
  expect_invalid_jwt_config(with({ed_public("e", "not a pem")}), "bad PEM");
  expect_invalid_jwt_config(with({ed_public("e", kEd1Private)}), "a private key where a public one belongs");
  expect_invalid_jwt_config(with({ed_public("e",
                                            "-----BEGIN PUBLIC KEY-----\n"
                                            "MEMwBQYDK2VxAzoAt8Y1tZx/6i8944Y6DyWTQFyLsKAkqb3SKaLVWWztqGsmdV3E\n"
                                            "QBiMXvJ1mSNyHiIyQTet+iITZuIA\n"
                                            "-----END PUBLIC KEY-----\n")}),
                            "an Ed448 key is no Ed25519 key");
  expect_invalid_jwt_config(with({{{"kid", "e"}, {"alg", "EdDSA"}}}), "no EdDSA key");
  Json cfg = with(default_keys());
  cfg.erase("issuer");
  expect_invalid_jwt_config(cfg, "no issuer");
  cfg = with(default_keys());
  cfg["audience"] = "";
  expect_invalid_jwt_config(cfg, "empty audience");
  for (const Json& ttl : {Json(59), Json(86401), Json("900"), Json(900.5), Json(-1)}) {
    cfg = with(default_keys());
    cfg["service_account_token_ttl_seconds"] = ttl;
    expect_invalid_jwt_config(cfg, "ttl out of seed 000's bounds");
  }
  cfg = with(default_keys());
  cfg["leeway_seconds"] = 301;
  expect_invalid_jwt_config(cfg, "leeway too large");
}

TEST(JwtConfig, KeyFilesNameTheirKeys) {
  const Json file = {{"jwt", jwt_config(Json::array({hs_key("hs-a", kSecretA), ed_private("ed-1", kEd1Private)}))}};
  auto hs = JwtKey::from_key_file(file, "hs-a");
  ASSERT_TRUE(hs.has_value());
  EXPECT_EQ(hs->algorithm(), JwtAlgorithm::kHs256);
  auto ed = JwtKey::from_key_file(file, "ed-1");
  ASSERT_TRUE(ed.has_value());
  EXPECT_TRUE(ed->can_sign());
  EXPECT_FALSE(JwtKey::from_key_file(file, "nope").has_value());
  EXPECT_TRUE(JwtKey::from_key_file(ed_private("ed-1", kEd1Private), "ed-1").has_value());
  EXPECT_FALSE(JwtKey::from_key_file(ed_private("ed-1", kEd1Private), "ed-2").has_value());
  EXPECT_TRUE(JwtKey::from_key_file(Json{{"keys", {hs_key("x", kSecretB)}}}, "x").has_value());
}

}  // namespace
}  // namespace ledger::commands
