// Signed digests of the chain head: HMAC-SHA256 against RFC 4231's vectors,
// the canonical statement, and strict reading of digest files.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "events/codec/digest.h"

namespace ledger {
namespace {

using nlohmann::json;

const std::string kHash = "3f2a9c4b1e0d8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a";

TEST(Digest, HmacSha256MatchesRfc4231) {
  // Test case 2.
  EXPECT_EQ(codec::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 1: a 20-byte key of 0x0b.
  EXPECT_EQ(codec::hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 6: a key longer than the block size is hashed first.
  EXPECT_EQ(codec::hmac_sha256_hex(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Digest, StatementIsCanonical) {
  EXPECT_EQ(codec::digest_statement(42, kHash), "policy-ledger-digest:v1|42|" + kHash);
}

TEST(Digest, SignedDigestVerifiesOnlyUnderItsKeyAndStatement) {
  const auto d = codec::sign_chain_head("secret", 42, kHash);
  EXPECT_EQ(d.position, 42);
  EXPECT_EQ(d.hash, kHash);
  EXPECT_EQ(d.algorithm, "HMAC-SHA256");
  EXPECT_EQ(d.signature, codec::hmac_sha256_hex("secret", codec::digest_statement(42, kHash)));
  EXPECT_TRUE(codec::digest_signature_valid("secret", d));
  EXPECT_FALSE(codec::digest_signature_valid("other", d));

  auto moved = d;
  moved.position = 43;  // the same signature claimed for another position
  EXPECT_FALSE(codec::digest_signature_valid("secret", moved));
  auto rehashed = d;
  rehashed.hash[0] = rehashed.hash[0] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(codec::digest_signature_valid("secret", rehashed));
}

TEST(Digest, JsonRoundTrips) {
  const auto d = codec::sign_chain_head("secret", 7, kHash);
  const json j = codec::digest_to_json(d);
  EXPECT_EQ(j["statement"], codec::digest_statement(7, kHash));
  auto back = codec::digest_from_json(json::parse(j.dump()));
  ASSERT_TRUE(back.has_value()) << back.error();
  EXPECT_EQ(*back, d);
  // The statement is informative: a digest without it still reads.
  json bare = j;
  bare.erase("statement");
  EXPECT_TRUE(codec::digest_from_json(bare).has_value());
}

TEST(Digest, MalformedDigestsAreRefusedWithTheReason) {
  const json good = codec::digest_to_json(codec::sign_chain_head("k", 7, kHash));
  auto with = [&](const char* field, json value) {
    json j = good;
    if (value.is_null())
      j.erase(field);
    else
      j[field] = std::move(value);
    return codec::digest_from_json(j);
  };
  EXPECT_FALSE(codec::digest_from_json(json::array()).has_value());
  for (const char* field : {"position", "hash", "algorithm", "signature"}) {
    auto r = with(field, nullptr);
    ASSERT_FALSE(r.has_value()) << field;
    EXPECT_NE(r.error().find(field), std::string::npos) << r.error();
  }
  EXPECT_FALSE(with("position", 0).has_value());
  EXPECT_FALSE(with("position", "7").has_value());
  EXPECT_FALSE(with("hash", "abc").has_value());
  EXPECT_FALSE(with("hash", std::string(64, 'G')).has_value());
  EXPECT_FALSE(with("signature", std::string(63, 'a')).has_value());
  EXPECT_FALSE(with("algorithm", "HMAC-MD5").has_value());
  EXPECT_FALSE(with("statement", "policy-ledger-digest:v1|8|" + kHash).has_value());
}

TEST(Digest, ConstantTimeEqualityComparesWholeStrings) {
  EXPECT_TRUE(codec::equal_constant_time("abc", "abc"));
  EXPECT_FALSE(codec::equal_constant_time("abc", "abd"));
  EXPECT_FALSE(codec::equal_constant_time("abc", "abcd"));
  EXPECT_TRUE(codec::equal_constant_time("", ""));
}

}  // namespace
}  // namespace ledger
