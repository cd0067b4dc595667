// libFuzzer target: the bearer-token parser (adapters/identity/identity.h, jwt.h).
//
// Each input is used three ways against a TokenAuthenticator that knows an
// HS256 key, an EdDSA key and one static token, at a fixed "now":
//   1. as the whole Authorization header value;
//   2. as a JWT payload, correctly signed with the HS256 key, so the claim
//      checks behind the signature are reached too;
//   3. as a JWT header, correctly signed, with a valid payload.
// Must never crash, leak, throw or trip UBSan; a refusal is always
// `unauthenticated` and never echoes a JWT-shaped token; an accepted principal always
// has an actor type, id and tenant.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "adapters/identity/identity.h"
#include "adapters/identity/jwt.h"

namespace {

using ledger::identity::JwtKey;
using ledger::identity::TokenAuthenticator;
using Json = nlohmann::json;

// Fuzzing keys only (the same throw-away pair as tests/unit/jwt_test.cc).
constexpr const char* kHsSecret = "jwt-unit-test-secret-A-0123456789abcdefghij";
constexpr const char* kEdPublic =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAvutyqjUj3/obECuoK6ZjAbL6Rf0JtOMdANZ3cfZ+1O4=\n"
    "-----END PUBLIC KEY-----\n";
constexpr std::int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z
const ledger::events::Instant kNowInstant{kNow * 1'000'000};

struct Fixture {
  TokenAuthenticator auth;
  JwtKey hs_key;
};

Fixture make_fixture() {
  const Json hs = {
      {"kid", "hs-a"}, {"alg", "HS256"}, {"secret_base64url", ledger::identity::base64url_encode(kHsSecret)}};
  const Json config = {
      {"jwt",
       {{"issuer", "policy-ledger"},
        {"audience", "policy-ledger"},
        {"leeway_seconds", 30},
        {"service_account_token_ttl_seconds", 900},
        {"keys", Json::array({hs, {{"kid", "ed-1"}, {"alg", "EdDSA"}, {"public_key_pem", kEdPublic}}})}}},
      {"tokens", Json::array({{{"token", "static-admin"},
                               {"tenant", "platform"},
                               {"actor", {{"type", "user"}, {"id", "ops"}, {"roles", {"platform_admin"}}}}}})}};
  auto auth = TokenAuthenticator::from_json(config);
  auto key = JwtKey::from_json(hs);
  if (!auth || !key) std::abort();
  return Fixture{std::move(*auth), std::move(*key)};
}

const Fixture& fixture() {
  static const Fixture f = make_fixture();
  return f;
}

void check(std::string_view header_value, std::string_view token) {
  auto p = fixture().auth.authenticate(header_value, kNowInstant);
  if (p) {
    if (p->actor.type.empty() || p->actor.id.empty() || p->tenant.empty()) std::abort();
    return;
  }
  if (p.error().code != "unauthenticated") std::abort();
  // No refusal text contains a '.', so a token with one (every JWT) showing
  // up in the message or evidence can only be an echo.
  if (token.size() < 8 || token.find('.') == std::string_view::npos) return;
  if (p.error().message.find(token) != std::string::npos) std::abort();
  for (const auto& [k, v] : p.error().evidence_texts()) {
    if (v.find(token) != std::string::npos) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto& f = fixture();

  // 1. Raw header value, and the same bytes as the token after "Bearer ".
  check(input, input);
  check("Bearer " + std::string(input), input);

  // 2. The input as a signed payload.
  const std::string header = R"({"alg":"HS256","kid":"hs-a","typ":"JWT"})";
  if (auto t = ledger::identity::sign_compact_jws(f.hs_key, header, input)) check("Bearer " + *t, *t);

  // 3. The input as a signed header over a valid payload.
  static const std::string payload = Json{{"iss", "policy-ledger"}, {"aud", "policy-ledger"}, {"sub", "u-1"},
                                          {"actor_type", "user"},   {"roles", {"reader"}},    {"org", "org-1"},
                                          {"jti", "j-1"},           {"iat", kNow - 10},       {"exp", kNow + 300}}
                                         .dump();
  if (auto t = ledger::identity::sign_compact_jws(f.hs_key, input, payload)) check("Bearer " + *t, *t);
  return 0;
}
