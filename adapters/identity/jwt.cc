#include "adapters/identity/jwt.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "commands/access/authorization.h"
#include "commands/decode.h"
#include "domain/text.h"

namespace ledger::identity {

using commands::parse_json_document;

namespace {

using domain::Error;
using domain::ErrorKind;
using Json = nlohmann::json;

// 9999-12-31T23:59:59Z: later NumericDates are refused, which also keeps
// every seconds-to-microseconds conversion below far from overflow.
constexpr std::int64_t kMaxNumericDate = 253402300799;
constexpr std::int64_t kMicrosPerSecond = 1'000'000;
constexpr std::size_t kMinHs256SecretBytes = 32;  // RFC 7518 section 3.2: at least the hash size
constexpr std::size_t kMaxClaimChars = 256;
constexpr std::size_t kMaxRoles = 64;

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

std::unexpected<Error> invalid_config(std::string message) {
  return domain::fail(ErrorKind::kInvalidArgument, "invalid_token_config", std::move(message));
}

// Every refusal looks the same to the caller apart from the check it names;
// `reason` is a stable word for logs and audit evidence.
std::unexpected<Error> refuse(std::string_view reason, std::string_view what) {
  Error e{ErrorKind::kUnauthenticated, "unauthenticated", "bearer token refused: " + std::string(what), {}};
  e.with("reason", std::string(reason));
  return std::unexpected(std::move(e));
}

// A refusal of a well-formed token with a good signature: from here on the
// key and the token id are safe to hand to operators.
std::unexpected<Error> refuse_decided(std::string_view reason, std::string_view what, const std::string& kid,
                                      const std::string& token_id) {
  auto e = refuse(reason, what);
  e.error().with("kid", kid).with("jti", token_id);
  return e;
}

// The token's validity window at `now`, with the leeway either side. A new
// token and a remembered one go through these same checks in this order, so
// both are refused alike.
domain::Result<void> check_window(const JwtClaims& c, const std::string& kid, std::int64_t leeway_seconds,
                                  events::Instant now) {
  const std::int64_t leeway_micros = leeway_seconds * kMicrosPerSecond;
  if (now.micros >= c.expires_at * kMicrosPerSecond + leeway_micros) {
    return refuse_decided("expired", "token expired", kid, c.token_id);
  }
  if (c.not_before && now.micros < *c.not_before * kMicrosPerSecond - leeway_micros) {
    return refuse_decided("not_yet_valid", "token not yet valid", kid, c.token_id);
  }
  if (c.issued_at * kMicrosPerSecond - leeway_micros > now.micros) {
    return refuse_decided("not_yet_valid", "token issued in the future", kid, c.token_id);
  }
  return {};
}

using TokenDigest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

TokenDigest token_digest(std::string_view token) {
  TokenDigest d{};
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), d.data());
  return d;
}

// A SHA-256 digest is already uniformly spread: eight of its bytes are the
// hash (the shard is picked by another byte, see VerifiedTokenCache).
struct DigestHash {
  std::size_t operator()(const TokenDigest& d) const noexcept {
    std::size_t h = 0;
    std::memcpy(&h, d.data() + 8, sizeof h);
    return h;
  }
};

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};

// Never prompt for a passphrase: an encrypted PEM simply fails to load.
int no_passphrase(char*, int, int, void*) { return 0; }

domain::Result<std::shared_ptr<EVP_PKEY>> load_ed25519(const std::string& pem, bool private_key) {
  if (pem.size() > std::size_t{16} * 1024) return invalid_config("an EdDSA key PEM is too long");
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return invalid_config("cannot read an EdDSA key");
  EVP_PKEY* raw = private_key ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)
                              : PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr);
  ERR_clear_error();
  if (raw == nullptr) {
    return invalid_config(private_key ? "private_key_pem is not an unencrypted PEM private key"
                                      : "public_key_pem is not a PEM public key");
  }
  std::shared_ptr<EVP_PKEY> key(raw, PkeyDeleter{});
  if (EVP_PKEY_get_id(raw) != EVP_PKEY_ED25519) return invalid_config("EdDSA keys must be Ed25519 keys");
  return key;
}

std::optional<std::string> string_member(const Json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// An integer setting within [lo, hi], or `fallback` when absent.
domain::Result<std::int64_t> int_setting(const Json& obj, const char* name, std::int64_t fallback, std::int64_t lo,
                                         std::int64_t hi) {
  auto it = obj.find(name);
  if (it == obj.end()) return fallback;
  if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<std::uint64_t>() > std::uint64_t(hi)) ||
      it->get<std::int64_t>() < lo || it->get<std::int64_t>() > hi) {
    return invalid_config("jwt." + std::string(name) + " must be an integer from " + std::to_string(lo) + " to " +
                          std::to_string(hi));
  }
  return it->get<std::int64_t>();
}

// Counted in characters, as the refusals say and as the commands that carry
// an actor onwards count theirs (access.record_refusal: 256).
bool valid_claim_string(const std::string& s) { return !s.empty() && domain::code_points(s) <= kMaxClaimChars; }

// A NumericDate claim: an integer in [0, kMaxNumericDate]. Fractions are
// refused; the ledger mints whole seconds and so should everybody else.
enum class DateClaim { kOk, kMissing, kInvalid };
DateClaim numeric_date(const Json& payload, const char* name, std::int64_t& out) {
  auto it = payload.find(name);
  if (it == payload.end()) return DateClaim::kMissing;
  if (!it->is_number_integer()) return DateClaim::kInvalid;
  if (it->is_number_unsigned()) {
    if (it->get<std::uint64_t>() > std::uint64_t(kMaxNumericDate)) return DateClaim::kInvalid;
  } else if (it->get<std::int64_t>() < 0 || it->get<std::int64_t>() > kMaxNumericDate) {
    return DateClaim::kInvalid;
  }
  out = it->get<std::int64_t>();
  return DateClaim::kOk;
}

// Splits "a.b.c" into exactly three parts.
bool split_compact(std::string_view token, std::array<std::string_view, 3>& parts) {
  const auto first = token.find('.');
  if (first == std::string_view::npos) return false;
  const auto second = token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) return false;
  parts = {token.substr(0, first), token.substr(first + 1, second - first - 1), token.substr(second + 1)};
  return true;
}

}  // namespace

std::string_view jwt_algorithm_name(JwtAlgorithm alg) {
  switch (alg) {
    case JwtAlgorithm::kHs256:
      return "HS256";
    case JwtAlgorithm::kEdDsa:
      return "EdDSA";
  }
  return "HS256";
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t(p[i]) << 16) | (std::uint32_t(p[i + 1]) << 8) | p[i + 2];
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const std::uint32_t v = std::uint32_t(p[i]) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
  } else if (rest == 2) {
    const std::uint32_t v = (std::uint32_t(p[i]) << 16) | (std::uint32_t(p[i + 1]) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;  // no byte string encodes to this length
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = base64url_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
      acc &= (1u << bits) - 1;
    }
  }
  // Leftover bits (2 or 4) must be zero, or two texts would decode alike.
  if (acc != 0) return std::nullopt;
  return out;
}

// ---------------------------------------------------------------------------
// JwtKey

domain::Result<JwtKey> JwtKey::from_json(const Json& key) {
  if (!key.is_object()) return invalid_config("each jwt key must be an object");
  JwtKey k;
  auto kid = string_member(key, "kid");
  if (!kid || kid->empty() || kid->size() > 128)
    return invalid_config("each jwt key needs a 'kid' of 1 to 128 characters");
  k.kid_ = *kid;
  auto alg = string_member(key, "alg");
  if (alg == "HS256") {
    k.alg_ = JwtAlgorithm::kHs256;
    auto secret = string_member(key, "secret_base64url");
    if (!secret) return invalid_config("HS256 key '" + k.kid_ + "' needs 'secret_base64url'");
    auto bytes = base64url_decode(*secret);
    if (!bytes) return invalid_config("HS256 key '" + k.kid_ + "': secret_base64url is not unpadded base64url");
    if (bytes->size() < kMinHs256SecretBytes) {
      return invalid_config("HS256 key '" + k.kid_ + "': the secret must have at least 32 bytes");
    }
    k.secret_ = std::move(*bytes);
    return k;
  }
  if (alg == "EdDSA") {
    k.alg_ = JwtAlgorithm::kEdDsa;
    auto priv = string_member(key, "private_key_pem");
    auto pub = string_member(key, "public_key_pem");
    if (!priv && !pub) return invalid_config("EdDSA key '" + k.kid_ + "' needs 'public_key_pem' or 'private_key_pem'");
    auto pkey = load_ed25519(priv ? *priv : *pub, priv.has_value());
    if (!pkey) return std::unexpected(pkey.error());
    k.pkey_ = std::move(*pkey);
    k.has_private_key_ = priv.has_value();
    return k;
  }
  return invalid_config("jwt key '" + k.kid_ + "': alg must be HS256 or EdDSA");
}

domain::Result<JwtKey> JwtKey::from_key_file(const Json& file, std::string_view kid) {
  const Json* keys = nullptr;
  if (file.is_object() && file.contains("jwt") && file["jwt"].is_object() && file["jwt"].contains("keys")) {
    keys = &file["jwt"]["keys"];
  } else if (file.is_object() && file.contains("keys")) {
    keys = &file["keys"];
  } else if (file.is_object() && file.contains("kid")) {
    if (string_member(file, "kid") != std::string(kid))
      return invalid_config("the key file's key is not '" + std::string(kid) + "'");
    return from_json(file);
  }
  if (keys == nullptr || !keys->is_array()) return invalid_config("the key file holds no jwt keys");
  for (const auto& k : *keys) {
    if (k.is_object() && string_member(k, "kid") == std::string(kid)) return from_json(k);
  }
  return invalid_config("the key file has no key '" + std::string(kid) + "'");
}

std::optional<std::string> JwtKey::sign(std::string_view data) const {
  if (alg_ == JwtAlgorithm::kHs256) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), md.data(), &len) == nullptr) {
      return std::nullopt;
    }
    return std::string(reinterpret_cast<const char*>(md.data()), len);
  }
  if (!has_private_key_ || !pkey_) return std::nullopt;
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  std::string sig(64, '\0');
  std::size_t len = sig.size();
  const bool ok = ctx && EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) == 1 &&
                  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                                 reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  ERR_clear_error();
  if (!ok) return std::nullopt;
  sig.resize(len);
  return sig;
}

bool JwtKey::verify(std::string_view data, std::string_view signature) const {
  if (alg_ == JwtAlgorithm::kHs256) {
    auto expected = sign(data);
    return expected && expected->size() == signature.size() &&
           CRYPTO_memcmp(expected->data(), signature.data(), signature.size()) == 0;
  }
  if (!pkey_ || signature.size() != 64) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  const bool ok =
      ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  ERR_clear_error();
  return ok;
}

// ---------------------------------------------------------------------------
// JwtPolicy

std::optional<std::int64_t> JwtPolicy::max_lifetime_seconds(std::string_view actor_type) const {
  if (actor_type == "service_account") return service_account_token_ttl_seconds;
  if (actor_type == "user") return user_max_lifetime_seconds;
  if (actor_type == "api_key") return api_key_max_lifetime_seconds;
  if (actor_type == "worker") return worker_max_lifetime_seconds;
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// VerifiedTokenCache

namespace {

// What verifying a token produced: its claims, and the kid of the key that
// verified it (a later refusal names it, as a fresh one does).
struct VerifiedToken {
  JwtClaims claims;
  std::string kid;
};

}  // namespace

// Accepted tokens by the SHA-256 of their compact form, in kShards shards
// (picked by the digest's first byte) so that concurrent requests seldom
// wait on one another. Each shard keeps two generations: new and recently
// used tokens go into `current`; when it is full, `current` becomes
// `previous` and the old `previous` is dropped. A token found in `previous`
// moves back into `current`, so the tokens in use survive and the shard
// never holds more than 2 * kGenerationSize. The critical sections are a
// lookup and a pointer copy; dropped generations are freed after unlocking.
class VerifiedTokenCache {
 public:
  std::shared_ptr<const VerifiedToken> find(const TokenDigest& digest);
  void remember(const TokenDigest& digest, std::shared_ptr<const VerifiedToken> token);
  std::size_t size() const;

 private:
  using Generation = std::unordered_map<TokenDigest, std::shared_ptr<const VerifiedToken>, DigestHash>;
  struct alignas(64) Shard {
    mutable std::mutex mutex;
    Generation current;
    Generation previous;
  };
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kGenerationSize = kVerifiedTokenCacheCapacity / kShards / 2;
  static_assert(kGenerationSize > 0);

  Shard& shard_for(const TokenDigest& digest) { return shards_[digest[0] % kShards]; }
  // Makes room in `current`; returns what was dropped, for the caller to free
  // once it has unlocked.
  static Generation make_room(Shard& shard);

  std::array<Shard, kShards> shards_;
};

VerifiedTokenCache::Generation VerifiedTokenCache::make_room(Shard& shard) {
  if (shard.current.size() < kGenerationSize) return {};
  Generation dropped = std::move(shard.previous);
  shard.previous = std::move(shard.current);
  shard.current.clear();  // a moved-from map is valid but unspecified
  return dropped;
}

std::shared_ptr<const VerifiedToken> VerifiedTokenCache::find(const TokenDigest& digest) {
  Shard& shard = shard_for(digest);
  Generation dropped;  // destroyed after the lock is released
  std::lock_guard lock(shard.mutex);
  if (auto it = shard.current.find(digest); it != shard.current.end()) return it->second;
  auto it = shard.previous.find(digest);
  if (it == shard.previous.end()) return nullptr;
  auto node = shard.previous.extract(it);
  auto found = node.mapped();
  dropped = make_room(shard);
  shard.current.insert(std::move(node));
  return found;
}

void VerifiedTokenCache::remember(const TokenDigest& digest, std::shared_ptr<const VerifiedToken> token) {
  Shard& shard = shard_for(digest);
  Generation dropped;  // destroyed after the lock is released
  std::lock_guard lock(shard.mutex);
  // Another thread may have verified the same token meanwhile.
  if (shard.current.contains(digest)) return;
  shard.previous.erase(digest);
  dropped = make_room(shard);
  shard.current.emplace(digest, std::move(token));
}

std::size_t VerifiedTokenCache::size() const {
  std::size_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    n += shard.current.size() + shard.previous.size();
  }
  return n;
}

// ---------------------------------------------------------------------------
// JwtVerifier

JwtVerifier::JwtVerifier() : cache_(std::make_unique<VerifiedTokenCache>()) {}

// A copy has the same keys and policy but remembers nothing yet; an assigned
// verifier forgets what it accepted under its old keys.
JwtVerifier::JwtVerifier(const JwtVerifier& other)
    : policy_(other.policy_), keys_(other.keys_), cache_(std::make_unique<VerifiedTokenCache>()) {}

JwtVerifier& JwtVerifier::operator=(const JwtVerifier& other) {
  if (this != &other) {
    policy_ = other.policy_;
    keys_ = other.keys_;
    cache_ = std::make_unique<VerifiedTokenCache>();
  }
  return *this;
}

// Moving carries the cache along with the keys that filled it.
JwtVerifier::JwtVerifier(JwtVerifier&& other) noexcept = default;
JwtVerifier& JwtVerifier::operator=(JwtVerifier&& other) noexcept = default;
JwtVerifier::~JwtVerifier() = default;

domain::Result<JwtVerifier> JwtVerifier::from_json(const Json& jwt) {
  if (!jwt.is_object()) return invalid_config("'jwt' must be an object");
  JwtVerifier v;
  auto issuer = string_member(jwt, "issuer");
  auto audience = string_member(jwt, "audience");
  if (!issuer || issuer->empty()) return invalid_config("jwt.issuer must be a non-empty string");
  if (!audience || audience->empty()) return invalid_config("jwt.audience must be a non-empty string");
  v.policy_.issuer = *issuer;
  v.policy_.audience = *audience;
  auto leeway = int_setting(jwt, "leeway_seconds", kDefaultJwtLeewaySeconds, 0, 300);
  if (!leeway) return std::unexpected(leeway.error());
  v.policy_.leeway_seconds = *leeway;
  // Seed 000's bounds for auth.service_account_token_ttl_seconds.
  auto ttl = int_setting(jwt, "service_account_token_ttl_seconds", kDefaultServiceAccountTokenTtlSeconds, 60, 86400);
  if (!ttl) return std::unexpected(ttl.error());
  v.policy_.service_account_token_ttl_seconds = *ttl;
  if (auto max = jwt.find("max_token_lifetime_seconds"); max != jwt.end()) {
    if (!max->is_object()) return invalid_config("jwt.max_token_lifetime_seconds must be an object");
    for (const auto& [type, value] : max->items()) {
      if (type != "user" && type != "api_key" && type != "worker") {
        return invalid_config(
            "jwt.max_token_lifetime_seconds names user, api_key and worker (service accounts: "
            "service_account_token_ttl_seconds)");
      }
    }
    for (auto [type, out] : {std::pair{"user", &v.policy_.user_max_lifetime_seconds},
                             std::pair{"api_key", &v.policy_.api_key_max_lifetime_seconds},
                             std::pair{"worker", &v.policy_.worker_max_lifetime_seconds}}) {
      auto value = int_setting(*max, type, *out, 60, kMaxConfigurableTokenLifetimeSeconds);
      if (!value)
        return invalid_config("jwt.max_token_lifetime_seconds." + std::string(type) +
                              " must be an integer from 60 to " + std::to_string(kMaxConfigurableTokenLifetimeSeconds));
      *out = *value;
    }
  }
  auto keys = jwt.find("keys");
  if (keys == jwt.end() || !keys->is_array() || keys->empty())
    return invalid_config("jwt.keys must be a non-empty array");
  for (const auto& k : *keys) {
    auto key = JwtKey::from_json(k);
    if (!key) return std::unexpected(key.error());
    for (const auto& seen : v.keys_) {
      if (seen.kid() == key->kid()) return invalid_config("jwt key '" + key->kid() + "' is listed twice");
    }
    v.keys_.push_back(std::move(*key));
  }
  return v;
}

domain::Result<JwtClaims> JwtVerifier::verify_fresh(std::string_view token, events::Instant now,
                                                    std::string& verified_kid) const {
  if (token.size() > kMaxJwtBytes) return refuse("malformed", "token too long");
  std::array<std::string_view, 3> parts;
  if (!split_compact(token, parts) || parts[0].empty() || parts[1].empty() || parts[2].empty()) {
    return refuse("malformed", "not a compact JWS");
  }

  // Header: which key and algorithm. The algorithm is the key's, never the
  // token's choice: the header only has to agree with it.
  auto header_text = base64url_decode(parts[0]);
  if (!header_text) return refuse("malformed", "header is not base64url");
  auto header = parse_json_document(*header_text);
  if (!header) return refuse("malformed", "header is not a JSON object");
  auto alg = string_member(*header, "alg");
  if (!alg) return refuse("malformed", "header has no alg");
  if (*alg != "HS256" && *alg != "EdDSA") return refuse("unsupported_algorithm", "alg must be HS256 or EdDSA");
  if (header->contains("crit")) return refuse("unsupported_header", "crit header parameters are not supported");
  if (auto typ = header->find("typ"); typ != header->end() && !(typ->is_string() && *typ == "JWT")) {
    return refuse("malformed", "typ must be JWT");
  }
  auto kid = string_member(*header, "kid");
  if (!kid) return refuse("malformed", "header has no kid");
  const JwtKey* key = nullptr;
  for (const auto& k : keys_) {
    if (k.kid() == *kid) key = &k;
  }
  if (key == nullptr) return refuse("unknown_key", "unknown kid");
  if (jwt_algorithm_name(key->algorithm()) != *alg) return refuse("algorithm_mismatch", "alg does not match the key");

  auto signature = base64url_decode(parts[2]);
  if (!signature) return refuse("malformed", "signature is not base64url");
  const std::string_view signing_input = token.substr(0, parts[0].size() + 1 + parts[1].size());
  if (!key->verify(signing_input, *signature)) {
    auto e = refuse("bad_signature", "signature does not verify");
    e.error().with("kid", key->kid());
    return e;
  }

  // Payload: only now, with the signature known good.
  auto payload_text = base64url_decode(parts[1]);
  if (!payload_text) return refuse("malformed", "payload is not base64url");
  auto payload = parse_json_document(*payload_text);
  if (!payload) return refuse("malformed", "payload is not a JSON object");
  const Json& p = *payload;

  JwtClaims c;
  auto required = [&](const char* name, std::string& out) -> domain::Result<void> {
    auto it = p.find(name);
    if (it == p.end()) return refuse("missing_claim", std::string("claim '") + name + "' is missing");
    if (!it->is_string() || !valid_claim_string(it->get_ref<const std::string&>())) {
      return refuse("invalid_claim", std::string("claim '") + name + "' must be a string of 1 to 256 characters");
    }
    out = it->get<std::string>();
    return {};
  };
  for (auto [name, out] :
       {std::pair{"iss", &c.issuer}, std::pair{"sub", &c.subject}, std::pair{"actor_type", &c.actor_type},
        std::pair{"org", &c.organization}, std::pair{"jti", &c.token_id}}) {
    if (auto ok = required(name, *out); !ok) return std::unexpected(ok.error());
  }

  auto aud = p.find("aud");
  if (aud == p.end()) return refuse("missing_claim", "claim 'aud' is missing");
  if (aud->is_string()) {
    c.audience.push_back(aud->get<std::string>());
  } else if (aud->is_array() && !aud->empty() && aud->size() <= 16) {
    for (const auto& a : *aud) {
      if (!a.is_string()) return refuse("invalid_claim", "claim 'aud' must be a string or an array of strings");
      c.audience.push_back(a.get<std::string>());
    }
  } else {
    return refuse("invalid_claim", "claim 'aud' must be a string or an array of strings");
  }

  auto roles = p.find("roles");
  if (roles == p.end()) return refuse("missing_claim", "claim 'roles' is missing");
  if (!roles->is_array() || roles->size() > kMaxRoles)
    return refuse("invalid_claim", "claim 'roles' must be an array of strings");
  for (const auto& r : *roles) {
    if (!r.is_string() || !valid_claim_string(r.get_ref<const std::string&>())) {
      return refuse("invalid_claim", "claim 'roles' must be an array of strings");
    }
    c.roles.push_back(r.get<std::string>());
  }

  for (auto [name, out] : {std::pair{"iat", &c.issued_at}, std::pair{"exp", &c.expires_at}}) {
    switch (numeric_date(p, name, *out)) {
      case DateClaim::kOk:
        break;
      case DateClaim::kMissing:
        return refuse("missing_claim", std::string("claim '") + name + "' is missing");
      case DateClaim::kInvalid:
        return refuse("invalid_claim", std::string("claim '") + name + "' must be an integer NumericDate");
    }
  }
  std::int64_t nbf = 0;
  switch (numeric_date(p, "nbf", nbf)) {
    case DateClaim::kOk:
      c.not_before = nbf;
      break;
    case DateClaim::kMissing:
      break;
    case DateClaim::kInvalid:
      return refuse("invalid_claim", "claim 'nbf' must be an integer NumericDate");
  }

  // The rest are decisions about a well-formed, authentic token.
  auto decided = [&](std::string_view reason, std::string_view what) {
    return refuse_decided(reason, what, key->kid(), c.token_id);
  };
  if (c.issuer != policy_.issuer) return decided("wrong_issuer", "issuer not accepted");
  if (std::find(c.audience.begin(), c.audience.end(), policy_.audience) == c.audience.end()) {
    return decided("wrong_audience", "audience not accepted");
  }
  if (!commands::is_principal_actor_type(c.actor_type)) return decided("invalid_claim", "unknown actor_type");

  if (c.expires_at <= c.issued_at) return decided("invalid_claim", "exp is not after iat");
  if (auto in_window = check_window(c, key->kid(), policy_.leeway_seconds, now); !in_window) {
    return std::unexpected(std::move(in_window.error()));
  }
  // Every actor type has a maximum lifetime: a long-lived token is refused
  // even while it is within its (too distant) exp.
  if (const auto max = policy_.max_lifetime_seconds(c.actor_type); max && c.expires_at - c.issued_at > *max) {
    auto e =
        decided("lifetime_too_long", c.actor_type + " token lives longer than " + std::to_string(*max) + " seconds");
    e.error().with("max_lifetime_seconds", *max);
    return e;
  }
  verified_kid = key->kid();
  return c;
}

domain::Result<JwtClaims> JwtVerifier::verify(std::string_view token, events::Instant now) const {
  std::string kid;
  // An oversized token is refused before it costs a digest.
  if (cache_ == nullptr || token.size() > kMaxJwtBytes) return verify_fresh(token, now, kid);
  const TokenDigest digest = token_digest(token);
  if (auto known = cache_->find(digest)) {
    // The same bytes passed every check before, against these same keys and
    // policy; of those checks only the window depends on `now`.
    if (auto in_window = check_window(known->claims, known->kid, policy_.leeway_seconds, now); !in_window) {
      return std::unexpected(std::move(in_window.error()));
    }
    return known->claims;
  }
  auto claims = verify_fresh(token, now, kid);
  if (claims) cache_->remember(digest, std::make_shared<const VerifiedToken>(VerifiedToken{*claims, std::move(kid)}));
  return claims;
}

std::size_t JwtVerifier::cached_tokens() const { return cache_ == nullptr ? 0 : cache_->size(); }

domain::Result<Principal> JwtVerifier::authenticate(std::string_view token, events::Instant now) const {
  auto claims = verify(token, now);
  if (!claims) return std::unexpected(claims.error());
  Principal p;
  p.actor.type = std::move(claims->actor_type);
  p.actor.id = std::move(claims->subject);
  p.actor.roles = std::move(claims->roles);
  std::sort(p.actor.roles.begin(), p.actor.roles.end());
  p.tenant = std::move(claims->organization);
  p.token_lifetime_seconds = claims->expires_at - claims->issued_at;
  p.token_id = std::move(claims->token_id);
  return p;
}

// ---------------------------------------------------------------------------
// Minting

domain::Result<std::string> sign_compact_jws(const JwtKey& key, std::string_view header_json,
                                             std::string_view payload_json) {
  std::string input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  auto sig = key.sign(input);
  if (!sig) return domain::fail(ErrorKind::kInvalidArgument, "invalid_claims", "key '" + key.kid() + "' cannot sign");
  return input + "." + base64url_encode(*sig);
}

domain::Result<std::string> mint_jwt(const JwtKey& key, const JwtClaims& c) {
  auto bad = [](std::string m) { return domain::fail(ErrorKind::kInvalidArgument, "invalid_claims", std::move(m)); };
  if (!key.can_sign()) return bad("key '" + key.kid() + "' has no private key");
  for (const auto* s : {&c.issuer, &c.subject, &c.organization, &c.token_id}) {
    if (!valid_claim_string(*s)) return bad("issuer, subject, organization and token id need 1 to 256 characters");
  }
  if (c.audience.empty()) return bad("an audience is required");
  if (c.roles.size() > kMaxRoles) return bad("too many roles");
  for (const auto& r : c.roles) {
    if (!valid_claim_string(r)) return bad("roles need 1 to 256 characters");
  }
  if (c.issued_at < 0 || c.expires_at > kMaxNumericDate || (c.not_before && *c.not_before < 0)) {
    return bad("dates must lie between 1970 and 9999");
  }
  if (!commands::is_principal_actor_type(c.actor_type))
    return bad("actor type must be user, service_account, api_key or worker");
  if (c.expires_at <= c.issued_at) return bad("the token must expire after it is issued");
  const Json header = {{"alg", jwt_algorithm_name(key.algorithm())}, {"kid", key.kid()}, {"typ", "JWT"}};
  Json payload = {{"iss", c.issuer},       {"sub", c.subject},  {"actor_type", c.actor_type}, {"roles", c.roles},
                  {"org", c.organization}, {"jti", c.token_id}, {"iat", c.issued_at},         {"exp", c.expires_at}};
  payload["aud"] = c.audience.size() == 1 ? Json(c.audience.front()) : Json(c.audience);
  if (c.not_before) payload["nbf"] = *c.not_before;
  return sign_compact_jws(key, header.dump(), payload.dump());
}

domain::Result<std::string> new_token_id() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    ERR_clear_error();
    return domain::fail(ErrorKind::kInternal, "random_unavailable", "the random number generator failed");
  }
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace ledger::identity
