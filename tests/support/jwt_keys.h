// The throw-away keys of the JWT unit tests (tests/unit/jwt_test.cc,
// tests/unit/jwt_cache_test.cc), as the key entries of a token file's "jwt"
// section and as signing keys, and the three segments of a compact token.
// Header-only; test code only.
//
//   Json keys = Json::array({hs_key("hs-a", kSecretA), ed_public("ed-1", kEd1Public)});
//   std::string token = *identity::mint_jwt(ed_1(), claims);
//   std::string payload = segments(token)[1];
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "adapters/identity/jwt.h"

namespace ledger::testing {

inline const std::string kSecretA = "jwt-unit-test-secret-A-0123456789abcdefghij";  // 43 bytes
inline const std::string kSecretB = "jwt-unit-test-secret-B-klmnopqrstuvwxyz012345";

// Ed25519 pairs made with `openssl genpkey -algorithm ed25519` for these tests only.
inline const std::string kEd1Private =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIP+KsqVVvgdQvB/+c7RK28MK3W7Gg2eKtg76Ved53l7J\n"
    "-----END PRIVATE KEY-----\n";
inline const std::string kEd1Public =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAvutyqjUj3/obECuoK6ZjAbL6Rf0JtOMdANZ3cfZ+1O4=\n"
    "-----END PUBLIC KEY-----\n";
inline const std::string kEd2Private =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEICYoRhbqdp4LDivY+l2X6ZtIhJD60+toNuWMKW2ug9zv\n"
    "-----END PRIVATE KEY-----\n";
inline const std::string kEd2Public =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEA1TPU35x/MV1XDIiVTU4PJvBYTzNOkqRl6umZQBK+ax4=\n"
    "-----END PUBLIC KEY-----\n";

// Key entries of a token file's "jwt.keys".
inline nlohmann::json hs_key(const std::string& kid, const std::string& secret) {
  return {{"kid", kid}, {"alg", "HS256"}, {"secret_base64url", identity::base64url_encode(secret)}};
}
inline nlohmann::json ed_public(const std::string& kid, const std::string& pem) {
  return {{"kid", kid}, {"alg", "EdDSA"}, {"public_key_pem", pem}};
}
inline nlohmann::json ed_private(const std::string& kid, const std::string& pem) {
  return {{"kid", kid}, {"alg", "EdDSA"}, {"private_key_pem", pem}};
}

// The key of an entry the test holds to be valid: the test fails if it is not.
inline identity::JwtKey signing_key(const nlohmann::json& key_json) {
  auto k = identity::JwtKey::from_json(key_json);
  EXPECT_TRUE(k.has_value()) << k.error().message;
  return std::move(*k);
}
inline identity::JwtKey hs_a() { return signing_key(hs_key("hs-a", kSecretA)); }
inline identity::JwtKey hs_b() { return signing_key(hs_key("hs-b", kSecretB)); }
inline identity::JwtKey ed_1() { return signing_key(ed_private("ed-1", kEd1Private)); }

// The '.'-separated segments of a token, however many it has.
inline std::vector<std::string> segments(const std::string& token) {
  std::vector<std::string> out;
  std::stringstream in(token);
  for (std::string s; std::getline(in, s, '.');) out.push_back(s);
  return out;
}

}  // namespace ledger::testing
