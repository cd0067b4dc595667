// Signed bearer tokens: JWTs in compact JWS form (RFC 7519, RFC 7515), signed
// with HS256 (HMAC-SHA256, RFC 7518) or EdDSA (Ed25519, RFC 8037).
//
//   auto verifier = JwtVerifier::from_json(config["jwt"]);     // keys + policy
//   auto principal = verifier->authenticate(token, now);         // or an error
//
//   auto key = JwtKey::from_json(key_json);                      // a signing key
//   auto token = mint_jwt(*key, claims);                         // operators, tests
//
// The "jwt" configuration object (part of the token file, see identity.h):
//   {"issuer": "policy-ledger", "audience": "policy-ledger",
//    "leeway_seconds": 30,                        // clock skew allowed, 0..300
//    "service_account_token_ttl_seconds": 900,    // seed 000's auth key, 60..86400
//    "max_token_lifetime_seconds": {"user": 43200, "api_key": 7776000, "worker": 86400},
//    "keys": [{"kid": "k1", "alg": "HS256", "secret_base64url": "<at least 32 bytes>"},
//             {"kid": "k2", "alg": "EdDSA", "public_key_pem": "-----BEGIN PUBLIC KEY-----..."}]}
// Every listed key verifies: list the old and the new key during a roll-over,
// then drop the old one. A key used for minting may instead carry
// "private_key_pem" (EdDSA); a verifier needs only the public key.
//
// What a token must be to pass (anything else is kUnauthenticated with code
// `unauthenticated`; the message names the failed check but never echoes the
// token, a claim value or key material):
//   - three base64url segments (strict: no padding, no other characters, no
//     stray bits), at most kMaxJwtBytes in all;
//   - header: a JSON object with `alg` exactly "HS256" or "EdDSA", `kid`
//     naming a configured key of that same algorithm, `typ` absent or "JWT",
//     no `crit`;
//   - a signature by that key over the first two segments as received;
//   - payload: a JSON object (no duplicate keys) with `iss` equal to the
//     issuer, `aud` (string or array) containing the audience, `sub`,
//     `actor_type` (user | service_account | api_key | worker), `roles` (array
//     of strings), `org` (the tenant: an organization id or "platform"),
//     `jti`, and integer NumericDates `iat`, `exp` and optionally `nbf`;
//   - now < exp + leeway, now >= nbf - leeway, iat <= now + leeway, iat < exp;
//   - a token lives (exp - iat) at most the maximum of its actor type:
//     service_account_token_ttl_seconds for a service_account (default 900 s),
//     max_token_lifetime_seconds.<type> for the others (defaults: user 12 h,
//     api_key 90 days, worker 24 h; each 60 s .. 366 days). Longer-lived
//     tokens are refused with reason `lifetime_too_long`, whatever their exp.
//
// A verifier remembers the tokens it accepted (see JwtVerifier), so a client
// that repeats its token pays for the signature and the JSON once per token
// instead of once per request.
//
// All types here are immutable after construction and safe to share between
// threads (the verifier's cache of accepted tokens locks internally).
// OpenSSL stays inside jwt.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "commands/command.h"
#include "domain/error.h"
#include "events/values.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, defined only in jwt.cc

namespace ledger::identity {

using commands::Principal;

inline constexpr std::size_t kMaxJwtBytes = std::size_t{8} * 1024;
inline constexpr std::int64_t kDefaultJwtLeewaySeconds = 30;
inline constexpr std::int64_t kDefaultServiceAccountTokenTtlSeconds = 900;
inline constexpr std::int64_t kDefaultUserTokenMaxLifetimeSeconds = std::int64_t{12} * 3600;
inline constexpr std::int64_t kDefaultApiKeyTokenMaxLifetimeSeconds = std::int64_t{90} * 86400;
inline constexpr std::int64_t kDefaultWorkerTokenMaxLifetimeSeconds = std::int64_t{24} * 3600;
inline constexpr std::int64_t kMaxConfigurableTokenLifetimeSeconds = std::int64_t{366} * 86400;
// How many accepted tokens a verifier remembers. A service sees a few
// hundred live tokens at a time (one per user session, API key or worker),
// so 4096 keeps them all; the memory stays near 2 MiB for tokens of typical
// size and below 40 MiB even if every token were kMaxJwtBytes. When full,
// roughly the least recently used half is forgotten and verified afresh on
// its next use.
inline constexpr std::size_t kVerifiedTokenCacheCapacity = 4096;

enum class JwtAlgorithm { kHs256, kEdDsa };

// "HS256" or "EdDSA", as the `alg` header spells it.
std::string_view jwt_algorithm_name(JwtAlgorithm alg);

// Base64url without padding (RFC 4648 section 5). Decoding is strict: only the
// URL-safe alphabet, no '=', no length that cannot occur, and the unused low
// bits of the last character must be zero, so each byte string has exactly
// one encoding. nullopt for anything else.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

// The claims the ledger reads. NumericDates are seconds since the epoch.
struct JwtClaims {
  std::string issuer;                 // iss
  std::vector<std::string> audience;  // aud; minted as a string when it has one entry
  std::string subject;                // sub: the actor id
  std::string actor_type;             // user | service_account | api_key | worker
  std::vector<std::string> roles;
  std::string organization;                // org: the tenant
  std::string token_id;                    // jti
  std::int64_t issued_at = 0;              // iat
  std::int64_t expires_at = 0;             // exp
  std::optional<std::int64_t> not_before;  // nbf
};

// One signing or verification key, named by its `kid`.
class JwtKey {
 public:
  // {"kid", "alg": "HS256", "secret_base64url"} or
  // {"kid", "alg": "EdDSA", "public_key_pem" | "private_key_pem"} (Ed25519 only).
  // Bad key material -> kInvalidArgument `invalid_token_config`; the message
  // never contains the secret.
  static domain::Result<JwtKey> from_json(const nlohmann::json& key);
  // The key named `kid` in a key file: a single key object, {"keys": [...]}
  // or a whole token file ({"jwt": {"keys": [...]}}).
  static domain::Result<JwtKey> from_key_file(const nlohmann::json& file, std::string_view kid);

  const std::string& kid() const { return kid_; }
  JwtAlgorithm algorithm() const { return alg_; }
  // HS256 keys always can; EdDSA keys only when loaded from a private key.
  bool can_sign() const { return alg_ == JwtAlgorithm::kHs256 || has_private_key_; }

  // The raw signature of `data`, or nullopt when this key cannot sign.
  std::optional<std::string> sign(std::string_view data) const;
  // True when `signature` (raw bytes) is this key's signature of `data`.
  bool verify(std::string_view data, std::string_view signature) const;

 private:
  JwtKey() = default;

  std::string kid_;
  JwtAlgorithm alg_ = JwtAlgorithm::kHs256;
  std::string secret_;                 // HS256
  std::shared_ptr<evp_pkey_st> pkey_;  // EdDSA
  bool has_private_key_ = false;
};

// What the verifier accepts besides a good signature.
struct JwtPolicy {
  std::string issuer;
  std::string audience;
  std::int64_t leeway_seconds = kDefaultJwtLeewaySeconds;
  std::int64_t service_account_token_ttl_seconds = kDefaultServiceAccountTokenTtlSeconds;
  std::int64_t user_max_lifetime_seconds = kDefaultUserTokenMaxLifetimeSeconds;
  std::int64_t api_key_max_lifetime_seconds = kDefaultApiKeyTokenMaxLifetimeSeconds;
  std::int64_t worker_max_lifetime_seconds = kDefaultWorkerTokenMaxLifetimeSeconds;

  // The longest lifetime (exp - iat) a token of `actor_type` may have;
  // nullopt for an unknown type.
  std::optional<std::int64_t> max_lifetime_seconds(std::string_view actor_type) const;
};

class VerifiedTokenCache;  // jwt.cc

// Verifies tokens against its keys and policy, and remembers the tokens it
// accepted: up to kVerifiedTokenCacheCapacity of them, keyed by the SHA-256
// of the whole compact token (never by its signature alone, and never the
// token itself, which stays out of memory dumps). A token seen before skips
// the signature and the JSON; its time window (exp, nbf, iat, with the
// leeway) is checked against `now` on every call exactly as for a new token,
// so it is refused with the same error once it expires. Refusals are never
// remembered. The cache belongs to this verifier: a verifier built from new
// keys (a new token file) starts empty, so a removed key stops working at
// once; a copy starts empty too.
//
// Thread-safe: any number of threads may verify concurrently (the cache is
// sharded, each shard under its own short lock).
class JwtVerifier {
 public:
  // `jwt` is the "jwt" object described at the top of this file. Missing or
  // malformed settings, no keys, or a kid listed twice -> kInvalidArgument
  // `invalid_token_config`.
  static domain::Result<JwtVerifier> from_json(const nlohmann::json& jwt);

  JwtVerifier(const JwtVerifier& other);
  JwtVerifier& operator=(const JwtVerifier& other);
  JwtVerifier(JwtVerifier&& other) noexcept;
  JwtVerifier& operator=(JwtVerifier&& other) noexcept;
  ~JwtVerifier();

  // `token` is the compact form, without "Bearer ".
  domain::Result<JwtClaims> verify(std::string_view token, events::Instant now) const;
  // verify(), then the principal: actor {actor_type, sub, sorted roles}, tenant org.
  domain::Result<Principal> authenticate(std::string_view token, events::Instant now) const;

  const JwtPolicy& policy() const { return policy_; }
  // How many accepted tokens are remembered now (at most kVerifiedTokenCacheCapacity).
  std::size_t cached_tokens() const;

 private:
  JwtVerifier();

  // verify() without the cache; on success also sets `verified_kid` to the
  // kid of the key that verified the token.
  domain::Result<JwtClaims> verify_fresh(std::string_view token, events::Instant now, std::string& verified_kid) const;

  JwtPolicy policy_;
  std::vector<JwtKey> keys_;
  std::unique_ptr<VerifiedTokenCache> cache_;  // null only in a moved-from verifier
};

// Signs arbitrary header and payload JSON texts as a compact JWS. No checks on
// the texts at all: this is what tests and fuzzers use to build hostile tokens.
domain::Result<std::string> sign_compact_jws(const JwtKey& key, std::string_view header_json,
                                             std::string_view payload_json);

// A token the verifier accepts (given matching policy and time): header
// {"alg", "kid", "typ": "JWT"} and the claims above. Refuses (kInvalidArgument
// `invalid_claims`) a key that cannot sign, an issuer, subject, organization,
// token id or role that is empty or longer than 256 characters, no audience,
// an unknown actor type, dates outside 1970..9999, or exp <= iat.
domain::Result<std::string> mint_jwt(const JwtKey& key, const JwtClaims& claims);

// A fresh token id: 128 random bits from OpenSSL's CSPRNG, base64url
// (kInternal `random_unavailable` if the generator fails).
domain::Result<std::string> new_token_id();

}  // namespace ledger::identity
