// The verifier's cache of accepted tokens (adapters/identity/jwt.h): a
// remembered token gets the answer a fresh verification would give, at every
// `now`; the cache is keyed by the whole token, never by its signature; it
// remembers no refusal; it dies with its verifier, so a removed key stops
// working; it stays within its capacity; and it answers correctly from
// several threads at once. Keys are fixed test keys and "now" is a fixed
// instant.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "adapters/identity/identity.h"
#include "adapters/identity/jwt.h"
#include "tests/support/jwt_keys.h"

namespace ledger::identity {
namespace {

using namespace ::ledger::testing;
using domain::ErrorKind;
using Json = nlohmann::json;

// ---------------------------------------------------------------------------
// Fixtures (keys from tests/support/jwt_keys.h)

constexpr std::int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z
constexpr std::int64_t kLeeway = 30;

events::Instant at(std::int64_t seconds) { return events::Instant{seconds * 1'000'000}; }

Json jwt_config(Json keys) {
  return {{"issuer", "policy-ledger"},
          {"audience", "policy-ledger"},
          {"leeway_seconds", kLeeway},
          {"keys", std::move(keys)}};
}

// hs-a (HS256), hs-b (HS256) and ed-1 (EdDSA).
Json all_keys() {
  return Json::array({hs_key("hs-a", kSecretA), hs_key("hs-b", kSecretB), ed_public("ed-1", kEd1Public)});
}

JwtVerifier verifier(Json keys = all_keys()) {
  auto v = JwtVerifier::from_json(jwt_config(std::move(keys)));
  EXPECT_TRUE(v.has_value()) << v.error().message;
  return std::move(*v);
}

// Claims the verifier accepts from kNow - 10 - leeway to kNow + 300 + leeway.
JwtClaims claims(const std::string& subject = "acme-admin") {
  JwtClaims c;
  c.issuer = "policy-ledger";
  c.audience = {"policy-ledger"};
  c.subject = subject;
  c.actor_type = "user";
  c.roles = {"tenant_admin", "auditor"};
  c.organization = "org-acme";
  c.token_id = "tok-" + subject;
  c.issued_at = kNow - 10;
  c.expires_at = kNow + 300;
  return c;
}

std::string mint(const JwtKey& key, const JwtClaims& c) {
  auto t = mint_jwt(key, c);
  EXPECT_TRUE(t.has_value()) << t.error().message;
  return t.value_or("");
}

void expect_same_principal(const Principal& a, const Principal& b) {
  EXPECT_EQ(a.actor.type, b.actor.type);
  EXPECT_EQ(a.actor.id, b.actor.id);
  EXPECT_EQ(a.actor.roles, b.actor.roles);
  EXPECT_EQ(a.tenant, b.tenant);
  EXPECT_EQ(a.token_lifetime_seconds, b.token_lifetime_seconds);
  EXPECT_EQ(a.token_id, b.token_id);
}

// `token` is refused at `now` by `v` exactly as by a verifier that has never
// seen it (kind, code, message and evidence), with `reason`.
void expect_refused_as_fresh(const JwtVerifier& v, const std::string& token, events::Instant now,
                             std::string_view reason) {
  auto got = v.authenticate(token, now);
  auto fresh = verifier().authenticate(token, now);
  ASSERT_FALSE(got.has_value()) << "accepted at " << now.micros;
  ASSERT_FALSE(fresh.has_value());
  EXPECT_EQ(got.error().kind, ErrorKind::kUnauthenticated);
  EXPECT_EQ(got.error().kind, fresh.error().kind);
  EXPECT_EQ(got.error().code, "unauthenticated");
  EXPECT_EQ(got.error().code, fresh.error().code);
  EXPECT_EQ(got.error().message, fresh.error().message);
  EXPECT_EQ(got.error().evidence_texts(), fresh.error().evidence_texts());
  EXPECT_EQ(got.error().evidence_text("reason"), reason) << got.error().message;
}

// Distinct valid HS256 tokens for subjects user-0, user-1, ...: more than the
// cache holds. Minted once for the tests that need many.
const std::vector<std::string>& many_tokens() {
  static const std::vector<std::string> tokens = [] {
    const JwtKey key = hs_a();
    std::vector<std::string> out;
    for (std::size_t i = 0; i < kVerifiedTokenCacheCapacity + 256; ++i) {
      out.push_back(mint(key, claims("user-" + std::to_string(i))));
    }
    return out;
  }();
  return tokens;
}

// ---------------------------------------------------------------------------
// Hits

TEST(JwtCache, ARepeatedTokenGivesTheSamePrincipal) {
  for (const JwtKey& key : {hs_a(), ed_1()}) {
    SCOPED_TRACE(key.kid());
    const JwtVerifier v = verifier();
    const std::string token = mint(key, claims());
    auto first = v.authenticate(token, at(kNow));
    ASSERT_TRUE(first.has_value()) << first.error().message;
    EXPECT_EQ(v.cached_tokens(), 1u);
    for (int i = 0; i < 3; ++i) {
      auto again = v.authenticate(token, at(kNow + i));
      ASSERT_TRUE(again.has_value()) << again.error().message;
      expect_same_principal(*again, *first);
    }
    EXPECT_EQ(first->actor.id, "acme-admin");
    EXPECT_EQ(first->actor.roles, (std::vector<std::string>{"auditor", "tenant_admin"}));
    EXPECT_EQ(first->tenant, "org-acme");
    EXPECT_EQ(first->token_id, "tok-acme-admin");
    EXPECT_EQ(v.cached_tokens(), 1u);

    auto claims_again = v.verify(token, at(kNow));
    ASSERT_TRUE(claims_again.has_value());
    EXPECT_EQ(claims_again->subject, "acme-admin");
    EXPECT_EQ(claims_again->expires_at, kNow + 300);
  }
}

TEST(JwtCache, TheAuthenticatorRemembersThroughItsVerifier) {
  auto auth = TokenAuthenticator::from_json(Json{{"jwt", jwt_config(all_keys())}});
  ASSERT_TRUE(auth.has_value()) << auth.error().message;
  const std::string bearer = "Bearer " + mint(hs_a(), claims());
  for (int i = 0; i < 3; ++i) {
    auto p = auth->authenticate(bearer, at(kNow));
    ASSERT_TRUE(p.has_value()) << p.error().message;
    EXPECT_EQ(p->actor.id, "acme-admin");
  }
  auto late = auth->authenticate(bearer, at(kNow + 300 + kLeeway));
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code, "unauthenticated");
  EXPECT_EQ(late.error().evidence_text("reason"), "expired");
}

// ---------------------------------------------------------------------------
// The time window, on every hit

TEST(JwtCache, ATokenThatExpiresBetweenTwoCallsIsRefusedAsToday) {
  for (const JwtKey& key : {hs_a(), ed_1()}) {
    SCOPED_TRACE(key.kid());
    const JwtVerifier v = verifier();
    const std::string token = mint(key, claims());
    ASSERT_TRUE(v.authenticate(token, at(kNow)).has_value());
    // Still inside the leeway, to the microsecond; then refused.
    EXPECT_TRUE(v.authenticate(token, events::Instant{(kNow + 300 + kLeeway) * 1'000'000 - 1}).has_value());
    expect_refused_as_fresh(v, token, at(kNow + 300 + kLeeway), "expired");
    expect_refused_as_fresh(v, token, at(kNow + 86400), "expired");
    // Still remembered, and still good at a time inside its window.
    EXPECT_TRUE(v.authenticate(token, at(kNow)).has_value());
    EXPECT_EQ(v.cached_tokens(), 1u);
  }
}

TEST(JwtCache, NotBeforeAndIssuedAtAreCheckedOnEveryHit) {
  const JwtVerifier v = verifier();
  JwtClaims later = claims("later");
  later.not_before = kNow + 60;
  const std::string not_yet = mint(hs_a(), later);
  ASSERT_TRUE(v.authenticate(not_yet, at(kNow + 60)).has_value());
  EXPECT_TRUE(v.authenticate(not_yet, at(kNow + 60 - kLeeway)).has_value());
  expect_refused_as_fresh(v, not_yet, events::Instant{(kNow + 60 - kLeeway) * 1'000'000 - 1}, "not_yet_valid");

  JwtClaims ahead = claims("ahead");
  ahead.issued_at = kNow + 20;  // inside the leeway at kNow
  const std::string issued_ahead = mint(ed_1(), ahead);
  ASSERT_TRUE(v.authenticate(issued_ahead, at(kNow)).has_value());
  expect_refused_as_fresh(v, issued_ahead, at(kNow - 11), "not_yet_valid");
  EXPECT_EQ(v.cached_tokens(), 2u);
}

// ---------------------------------------------------------------------------
// The key: the whole token

TEST(JwtCache, ARememberedSignatureWithAnotherHeaderOrPayloadIsRefused) {
  for (const JwtKey& key : {hs_a(), ed_1()}) {
    SCOPED_TRACE(key.kid());
    const JwtVerifier v = verifier();
    const std::string token = mint(key, claims());
    ASSERT_TRUE(v.authenticate(token, at(kNow)).has_value());
    const auto parts = segments(token);
    const std::string alg(jwt_algorithm_name(key.algorithm()));

    JwtClaims admin = claims();
    admin.roles = {"platform_admin"};
    admin.organization = "platform";
    const std::string other_payload = segments(mint(key, admin))[1];
    const std::vector<std::string> headers = {
        base64url_encode(Json{{"alg", alg}, {"kid", key.kid()}}.dump()),                           // typ left out
        base64url_encode(R"({"typ":"JWT","kid":")" + key.kid() + R"(","alg":")" + alg + R"("})"),  // reordered
    };
    std::vector<std::string> forged = {parts[0] + "." + other_payload + "." + parts[2]};
    for (const auto& h : headers) forged.push_back(h + "." + parts[1] + "." + parts[2]);
    for (const auto& f : forged) expect_refused_as_fresh(v, f, at(kNow), "bad_signature");

    // A header naming another key of the same algorithm: that key does not verify it.
    if (key.algorithm() == JwtAlgorithm::kHs256) {
      const std::string to_b = base64url_encode(Json{{"alg", "HS256"}, {"kid", "hs-b"}, {"typ", "JWT"}}.dump());
      expect_refused_as_fresh(v, to_b + "." + parts[1] + "." + parts[2], at(kNow), "bad_signature");
    }
    EXPECT_TRUE(v.authenticate(token, at(kNow)).has_value());
    EXPECT_EQ(v.cached_tokens(), 1u);
  }
}

TEST(JwtCache, RefusalsAreNeverRemembered) {
  const JwtVerifier v = verifier();
  const std::string good = mint(hs_a(), claims());
  const auto parts = segments(good);
  JwtClaims foreign = claims();
  foreign.audience = {"someone-else"};
  for (int i = 0; i < 100; ++i) {
    const std::string tampered_sig = parts[0] + "." + parts[1] + "." + base64url_encode("forged-" + std::to_string(i));
    EXPECT_FALSE(v.authenticate(tampered_sig, at(kNow)).has_value());
    foreign.token_id = "foreign-" + std::to_string(i);
    EXPECT_FALSE(v.authenticate(mint(hs_a(), foreign), at(kNow)).has_value());
    EXPECT_FALSE(v.authenticate("not.a.token" + std::to_string(i), at(kNow)).has_value());
  }
  // A good token first seen outside its window is not remembered either,
  // and is accepted once the time is right.
  expect_refused_as_fresh(v, good, at(kNow + 3600), "expired");
  EXPECT_EQ(v.cached_tokens(), 0u);
  EXPECT_TRUE(v.authenticate(good, at(kNow)).has_value());
  EXPECT_EQ(v.cached_tokens(), 1u);
}

// ---------------------------------------------------------------------------
// The cache lives and dies with its verifier

TEST(JwtCache, ATokenOfARemovedKeyIsRefusedByTheNewVerifier) {
  const std::string by_b = mint(hs_b(), claims());
  JwtVerifier v = verifier();
  ASSERT_TRUE(v.authenticate(by_b, at(kNow)).has_value());
  ASSERT_EQ(v.cached_tokens(), 1u);

  // The services build a new authenticator from the new token file.
  Json without_b = Json::array({hs_key("hs-a", kSecretA), ed_public("ed-1", kEd1Public)});
  auto old_auth = TokenAuthenticator::from_json(Json{{"jwt", jwt_config(all_keys())}});
  auto new_auth = TokenAuthenticator::from_json(Json{{"jwt", jwt_config(without_b)}});
  ASSERT_TRUE(old_auth.has_value() && new_auth.has_value());
  ASSERT_TRUE(old_auth->authenticate("Bearer " + by_b, at(kNow)).has_value());
  auto refused = new_auth->authenticate("Bearer " + by_b, at(kNow));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, "unauthenticated");
  EXPECT_EQ(refused.error().evidence_text("reason"), "unknown_key");

  // A verifier assigned new keys (copied here, moved below) forgets what the
  // old ones accepted.
  const JwtVerifier other = verifier(without_b);
  v = other;
  EXPECT_EQ(v.cached_tokens(), 0u);
  auto after = v.authenticate(by_b, at(kNow));
  ASSERT_FALSE(after.has_value());
  EXPECT_EQ(after.error().evidence_text("reason"), "unknown_key");

  // The same kid with a new secret: the old token's signature no longer holds.
  JwtVerifier rolled = verifier();
  ASSERT_TRUE(rolled.authenticate(by_b, at(kNow)).has_value());
  rolled = verifier(Json::array({hs_key("hs-b", kSecretA)}));
  auto rolled_refusal = rolled.authenticate(by_b, at(kNow));
  ASSERT_FALSE(rolled_refusal.has_value());
  EXPECT_EQ(rolled_refusal.error().evidence_text("reason"), "bad_signature");
}

TEST(JwtCache, ACopyStartsEmptyAndAMoveKeepsTheCacheWithItsKeys) {
  JwtVerifier v = verifier();
  const std::string token = mint(hs_a(), claims());
  ASSERT_TRUE(v.authenticate(token, at(kNow)).has_value());
  const JwtVerifier copy = v;
  EXPECT_EQ(copy.cached_tokens(), 0u);
  EXPECT_TRUE(copy.authenticate(token, at(kNow)).has_value());
  const JwtVerifier moved = std::move(v);
  EXPECT_EQ(moved.cached_tokens(), 1u);
  EXPECT_TRUE(moved.authenticate(token, at(kNow)).has_value());
}

// ---------------------------------------------------------------------------
// Bounds and threads

TEST(JwtCache, StaysWithinItsCapacityAfterMoreTokensThanItHolds) {
  const JwtVerifier v = verifier();
  const auto& tokens = many_tokens();
  ASSERT_GT(tokens.size(), kVerifiedTokenCacheCapacity);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    auto p = v.authenticate(tokens[i], at(kNow));
    ASSERT_TRUE(p.has_value()) << p.error().message;
    ASSERT_EQ(p->actor.id, "user-" + std::to_string(i));
    ASSERT_LE(v.cached_tokens(), kVerifiedTokenCacheCapacity);
  }
  // Full enough to be of use, and every token, remembered or forgotten,
  // still gets its own answer.
  EXPECT_GE(v.cached_tokens(), kVerifiedTokenCacheCapacity / 4);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    auto p = v.authenticate(tokens[i], at(kNow));
    ASSERT_TRUE(p.has_value()) << p.error().message;
    ASSERT_EQ(p->actor.id, "user-" + std::to_string(i));
  }
  EXPECT_LE(v.cached_tokens(), kVerifiedTokenCacheCapacity);
}

TEST(JwtCache, ConcurrentUseGivesEveryCallerItsOwnAnswer) {
  const JwtVerifier v = verifier();
  const auto& tokens = many_tokens();
  // A few tokens every thread uses all the time (hits), of both algorithms,
  // and a forgery of each: its signature with another payload.
  std::vector<std::string> hot;
  std::vector<std::string> forged;
  for (int h = 0; h < 8; ++h) {
    const JwtClaims c = claims("hot-" + std::to_string(h));
    hot.push_back(h % 2 == 0 ? mint(hs_a(), c) : mint(ed_1(), c));
    const auto parts = segments(hot.back());
    forged.push_back(parts[0] + "." + segments(tokens[static_cast<std::size_t>(h)])[1] + "." + parts[2]);
  }

  constexpr int kThreads = 4;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = 0; i < tokens.size(); ++i) {
        // Each thread walks all the tokens in its own order: misses, inserts
        // and evictions from every thread at once.
        const std::size_t n = (i * 7 + static_cast<std::size_t>(t) * 1031) % tokens.size();
        auto p = v.authenticate(tokens[n], at(kNow));
        if (!p || p->actor.id != "user-" + std::to_string(n)) ++wrong;
        const std::size_t h = (i + static_cast<std::size_t>(t)) % hot.size();
        auto q = v.authenticate(hot[h], at(kNow));
        if (!q || q->actor.id != "hot-" + std::to_string(h)) ++wrong;
        if (i % 16 == 0) {
          auto f = v.authenticate(forged[h], at(kNow));
          if (f || f.error().evidence_text("reason") != "bad_signature") ++wrong;
        }
        if (i % 16 == 8) {
          auto e = v.authenticate(hot[h], at(kNow + 400));
          if (e || e.error().evidence_text("reason") != "expired") ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(v.cached_tokens(), kVerifiedTokenCacheCapacity);
}

}  // namespace
}  // namespace ledger::identity
