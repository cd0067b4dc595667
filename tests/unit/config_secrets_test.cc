// Configuration secrets (issue 16 part 4): which values are secrets, their
// sealed form, and AES-256-GCM envelope sealing (adapters/crypto).
#include <gtest/gtest.h>

#include "adapters/crypto/envelope_sealer.h"
#include "domain/config/secrets.h"

namespace {

namespace cfg = ledger::domain::config;
using ledger::adapters::crypto::EnvelopeSealer;
using ledger::adapters::crypto::MemoryKeyStore;
using ledger::adapters::crypto::parse_kek;
using Json = cfg::Json;

const std::string kKek = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const std::string kOtherKek = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
const cfg::LayerRef kRisk{cfg::Layer::kTenantRisk, "org-acme", ""};

Json notification() {
  return Json::parse(R"({"webhook": {"url": "https://a.example/h", "auth": {"type": "basic", "username": "u",
    "password": "pw-PLAIN"}, "secret": "hmac-PLAIN",
    "endpoints": [{"url": "https://b.example/h", "auth": {"type": "bearer", "token": "tok-PLAIN"}},
                  {"url": "https://c.example/h", "auth": {"type": "api_key", "api_key": "key-PLAIN",
                   "header_name": "X-API-Key"}}]},
    "email": {"from_email": "no-reply@example.com"}})");
}

TEST(ConfigSecrets, SecretPathsFollowTheNotificationSchema) {
  Json doc = {{"notification_config", notification()}, {"secret", "not-a-webhook-secret"}};
  std::vector<std::string> paths;
  cfg::for_each_secret(doc, kRisk, [&](const std::string& p, Json&) { paths.push_back(p); });
  EXPECT_EQ(paths, (std::vector<std::string>{"/notification_config/webhook/secret",
                                             "/notification_config/webhook/auth/password",
                                             "/notification_config/webhook/endpoints/0/auth/token",
                                             "/notification_config/webhook/endpoints/1/auth/api_key"}));
  // The global key notification_config is itself a notification_config.
  Json g = notification();
  paths.clear();
  cfg::for_each_secret(g, {cfg::Layer::kGlobal, "platform", "notification_config"},
                       [&](const std::string& p, Json&) { paths.push_back(p); });
  EXPECT_EQ(paths.size(), 4u);
  EXPECT_EQ(paths[0], "/webhook/secret");
}

TEST(ConfigSecrets, SealedDocumentsHoldNoPlaintextAndReadMaskedOrRevealed) {
  MemoryKeyStore keys;
  EnvelopeSealer sealer(*parse_kek(kKek), keys);
  Json doc = {{"notification_config", notification()}};
  auto sealed = cfg::seal_document(doc, nullptr, kRisk, sealer);
  ASSERT_TRUE(sealed) << sealed.error().message;
  const std::string text = sealed->dump();
  for (const char* p : {"pw-PLAIN", "hmac-PLAIN", "tok-PLAIN", "key-PLAIN"})
    EXPECT_EQ(text.find(p), std::string::npos) << p;
  EXPECT_FALSE(cfg::has_plaintext_secret(*sealed, kRisk));
  const Json& s = (*sealed)["notification_config"]["webhook"]["endpoints"][0]["auth"]["token"];
  ASSERT_TRUE(cfg::parse_sealed(s)) << s.dump();
  EXPECT_EQ(s["$sealed"]["alg"], "AES-256-GCM");
  EXPECT_EQ(s["$sealed"]["nonce"].get<std::string>().size(), 24u);
  // Non-secret fields are untouched.
  EXPECT_EQ((*sealed)["notification_config"]["webhook"]["auth"]["username"], "u");

  Json masked = cfg::present_secrets(*sealed, kRisk, [](const cfg::SealedSecret&) { return Json(cfg::kMasked); });
  EXPECT_EQ(masked["notification_config"]["webhook"]["secret"], "***");
  Json revealed = cfg::present_secrets(*sealed, kRisk,
                                       [&](const cfg::SealedSecret& x) { return Json(*sealer.unseal("org-acme", x)); });
  EXPECT_EQ(revealed, doc);

  // "***" sent back for a sealed value keeps it; a new plaintext is sealed afresh.
  Json again = masked;
  again["notification_config"]["webhook"]["auth"]["password"] = "pw-NEW";
  auto resealed = cfg::seal_document(again, *sealed, kRisk, sealer);
  ASSERT_TRUE(resealed);
  EXPECT_EQ((*resealed)["notification_config"]["webhook"]["secret"],
            (*sealed)["notification_config"]["webhook"]["secret"]);
  EXPECT_EQ(
      *sealer.unseal("org-acme", *cfg::parse_sealed((*resealed)["notification_config"]["webhook"]["auth"]["password"])),
      "pw-NEW");
}

TEST(ConfigSecrets, TamperWrongKeyWrongTenantAndShreddingFail) {
  MemoryKeyStore keys;
  EnvelopeSealer sealer(*parse_kek(kKek), keys);
  auto s = sealer.seal("org-acme", "tok-PLAIN");
  ASSERT_TRUE(s);
  EXPECT_EQ(*sealer.unseal("org-acme", *s), "tok-PLAIN");

  auto flip = [](std::string hex) {
    hex[0] = hex[0] == '0' ? '1' : '0';
    return hex;
  };
  cfg::SealedSecret t = *s;
  t.ciphertext = flip(t.ciphertext);
  EXPECT_EQ(sealer.unseal("org-acme", t).error().code, "secret_unsealable");
  t = *s;
  t.tag = flip(t.tag);
  EXPECT_EQ(sealer.unseal("org-acme", t).error().code, "secret_unsealable");
  t = *s;
  t.nonce = flip(t.nonce);
  EXPECT_EQ(sealer.unseal("org-acme", t).error().code, "secret_unsealable");
  // Another tenant's sealer path: bound to the tenant.
  EXPECT_EQ(sealer.unseal("org-globex", *s).error().code, "secret_unsealable");
  // Another tenant's data key does not open it either.
  auto g = sealer.seal("org-globex", "x");
  ASSERT_TRUE(g);
  EXPECT_NE(g->key_id, s->key_id);
  t = *s;
  t.key_id = g->key_id;
  EXPECT_EQ(sealer.unseal("org-acme", t).error().code, "secret_unsealable");

  // The wrong key-encryption key cannot unwrap the data key.
  EnvelopeSealer wrong(*parse_kek(kOtherKek), keys);
  EXPECT_EQ(wrong.unseal("org-acme", *s).error().code, "secret_unsealable");
  EXPECT_FALSE(parse_kek("abc"));

  // Shredding: the data key is gone, the secret with it; other tenants keep theirs.
  auto shredded = sealer.shred("org-acme");
  ASSERT_TRUE(shredded);
  EXPECT_EQ(*shredded, std::vector<std::string>{s->key_id});
  EXPECT_EQ(sealer.unseal("org-acme", *s).error().code, "secret_shredded");
  EnvelopeSealer fresh(*parse_kek(kKek), keys);
  EXPECT_EQ(fresh.unseal("org-acme", *s).error().code, "secret_shredded");
  EXPECT_EQ(*fresh.unseal("org-globex", *g), "x");
  // A new secret after shredding gets a new data key.
  auto n = sealer.seal("org-acme", "new");
  ASSERT_TRUE(n);
  EXPECT_NE(n->key_id, s->key_id);
}

TEST(ConfigSecrets, SealedFormIsStrict) {
  cfg::SealedSecret s{"k1", cfg::kSealedAlg, "00", "ab", "cd"};
  EXPECT_EQ(cfg::parse_sealed(cfg::sealed_json(s)), s);
  Json j = cfg::sealed_json(s);
  j["$sealed"]["extra"] = 1;
  EXPECT_FALSE(cfg::parse_sealed(j));
  EXPECT_FALSE(cfg::parse_sealed(Json{{"$sealed", {{"key_id", "k"}}}}));
  EXPECT_FALSE(cfg::parse_sealed("***"));
}

TEST(ConfigSecrets, RequestDigestsAreKeyedDeterministicAndNeverThePlainHash) {
  MemoryKeyStore keys;
  const EnvelopeSealer sealer(*parse_kek(kKek), keys);
  const EnvelopeSealer other(*parse_kek(kOtherKek), keys);
  const std::string plain(64, 'a');
  const std::string d = sealer.keyed_digest(plain);
  EXPECT_EQ(d.size(), 64u);
  EXPECT_EQ(d, sealer.keyed_digest(plain)) << "a retry must digest equal";
  EXPECT_NE(d, plain);
  EXPECT_NE(d, other.keyed_digest(plain)) << "keyed by the KEK";
  EXPECT_NE(d, sealer.keyed_digest(std::string(63, 'a') + "b"));
}

// What a Kafka record may not carry (routes::run_kafka_commands): any
// secret in clear, but a sealed value or the mask read back is fine; and the
// screen for undecodable bytes errs on the side of "may hold one".
TEST(ConfigSecrets, WhatMayNotTravelInClear) {
  MemoryKeyStore keys;
  EnvelopeSealer sealer(*parse_kek(kKek), keys);
  const Json doc = {{"notification_config", notification()}};
  EXPECT_TRUE(cfg::carries_secret_text(doc, kRisk));
  auto sealed = cfg::seal_document(doc, nullptr, kRisk, sealer);
  ASSERT_TRUE(sealed);
  EXPECT_FALSE(cfg::carries_secret_text(*sealed, kRisk));
  const Json masked = cfg::present_secrets(*sealed, kRisk, [](const cfg::SealedSecret&) { return Json(cfg::kMasked); });
  EXPECT_FALSE(cfg::carries_secret_text(masked, kRisk));
  Json one_left = masked;
  one_left["notification_config"]["webhook"]["endpoints"][1]["auth"]["api_key"] = "key-NEW";
  EXPECT_TRUE(cfg::carries_secret_text(one_left, kRisk));
  // A field named like a secret outside the notification schema is no secret.
  EXPECT_FALSE(cfg::carries_secret_text({{"secret", "x"}, {"region", "eu"}}, kRisk));

  for (const std::string bytes : {R"({"auth":{"token":"t"})", R"({"PassWord":1})", R"({"API_KEY":"k")",
                                  R"({"webhook":{"Secret":)", R"({"pass\u0077ord":"x"})", "apikey=1"}) {
    EXPECT_TRUE(cfg::may_carry_secret(bytes)) << bytes;
  }
  for (const std::string bytes : {R"({"type":"registry.register","product":"gpuaas"})", "", "\xff\xfe"}) {
    EXPECT_FALSE(cfg::may_carry_secret(bytes)) << bytes;
  }
}

}  // namespace
