#include "adapters/crypto/envelope_sealer.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdlib>

namespace ledger::adapters::crypto {

namespace {

using Bytes = std::vector<std::uint8_t>;
using domain::ErrorKind;
namespace cfg = domain::config;

constexpr std::size_t kNonce = 12;
constexpr std::size_t kTag = 16;

std::string hex(const std::uint8_t* p, std::size_t n) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(d[p[i] >> 4]);
    out.push_back(d[p[i] & 15]);
  }
  return out;
}
std::string hex(const Bytes& b) { return hex(b.data(), b.size()); }

std::optional<Bytes> unhex(const std::string& s) {
  if (s.size() % 2) return std::nullopt;
  auto v = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Bytes out(s.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = v(s[2 * i]), lo = v(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

domain::Result<Bytes> random_bytes(std::size_t n) {
  Bytes b(n);
  if (RAND_bytes(b.data(), static_cast<int>(n)) != 1) {
    return domain::fail(ErrorKind::kInternal, "crypto_failed", "no random bytes");
  }
  return b;
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

// AES-256-GCM; out: ciphertext, tag.
domain::Result<std::pair<Bytes, Bytes>> gcm_encrypt(const Key256& key, const Bytes& nonce, const std::string& aad,
                                                    const std::uint8_t* pt, std::size_t n) {
  Ctx ctx(EVP_CIPHER_CTX_new());
  Bytes ct(n + 16), tag(kTag);
  int len = 0, total = 0;
  const bool ok =
      ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()), nullptr) == 1 &&
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) == 1 &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_EncryptUpdate(ctx.get(), ct.data(), &len, pt, static_cast<int>(n)) == 1 && (total = len, true) &&
      EVP_EncryptFinal_ex(ctx.get(), ct.data() + total, &len) == 1 && (total += len, true) &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTag), tag.data()) == 1;
  if (!ok) return domain::fail(ErrorKind::kInternal, "crypto_failed", "AES-256-GCM encryption failed");
  ct.resize(static_cast<std::size_t>(total));
  return std::pair{std::move(ct), std::move(tag)};
}

// nullopt: the tag does not verify (tampered, wrong key or wrong aad).
std::optional<Bytes> gcm_decrypt(const Key256& key, const Bytes& nonce, const std::string& aad, const Bytes& ct,
                                 Bytes tag) {
  if (nonce.size() != kNonce || tag.size() != kTag) return std::nullopt;
  Ctx ctx(EVP_CIPHER_CTX_new());
  Bytes pt(ct.size() + 16);
  int len = 0, total = 0;
  const bool ok =
      ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()), nullptr) == 1 &&
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), pt.data(), &len, ct.data(), static_cast<int>(ct.size())) == 1 &&
      (total = len, true) &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTag), tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), pt.data() + total, &len) == 1;
  if (!ok) return std::nullopt;
  pt.resize(static_cast<std::size_t>(total) + static_cast<std::size_t>(len));
  return pt;
}

std::string wrap_aad(const std::string& tenant, const std::string& key_id) {
  return "ledger-config-dek:" + tenant + ":" + key_id;
}
std::string seal_aad(const std::string& tenant, const std::string& key_id) {
  return "ledger-config-secret:" + tenant + ":" + key_id;
}

domain::Error unsealable(const std::string& why) {
  domain::Error e{ErrorKind::kFailedPrecondition, "secret_unsealable", "the sealed secret does not open: " + why, {}};
  return e;
}

}  // namespace

domain::Result<std::optional<WrappedKey>> MemoryKeyStore::current(const std::string& tenant) {
  std::lock_guard lock(mu_);
  auto it = by_tenant_.find(tenant);
  if (it == by_tenant_.end()) return std::optional<WrappedKey>{};
  return std::optional<WrappedKey>{it->second};
}
domain::Result<std::optional<WrappedKey>> MemoryKeyStore::by_id(const std::string& key_id) {
  std::lock_guard lock(mu_);
  for (const auto& [t, k] : by_tenant_) {
    if (k.key_id == key_id) return std::optional<WrappedKey>{k};
  }
  return std::optional<WrappedKey>{};
}
domain::Result<WrappedKey> MemoryKeyStore::insert_or_get(const WrappedKey& k) {
  std::lock_guard lock(mu_);
  return by_tenant_.emplace(k.tenant, k).first->second;
}
domain::Result<std::vector<std::string>> MemoryKeyStore::remove(const std::string& tenant) {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  if (auto it = by_tenant_.find(tenant); it != by_tenant_.end()) {
    out.push_back(it->second.key_id);
    by_tenant_.erase(it);
  }
  return out;
}

domain::Result<Key256> parse_kek(const std::string& text) {
  auto b = unhex(text);
  if (!b || b->size() != 32) {
    return domain::fail(ErrorKind::kInvalidArgument, "invalid_config_kek",
                        "LEDGER_CONFIG_KEK must be 64 hex digits (a 256-bit key)");
  }
  Key256 k{};
  std::copy(b->begin(), b->end(), k.begin());
  return k;
}

domain::Result<std::optional<Key256>> kek_from_env() {
  // Read once, at startup; nothing in the process calls setenv.
  const char* v = std::getenv("LEDGER_CONFIG_KEK");  // NOLINT(concurrency-mt-unsafe): no setenv anywhere
  if (!v || !*v) return std::optional<Key256>{};
  auto k = parse_kek(v);
  if (!k) return std::unexpected(k.error());
  return std::optional<Key256>{*k};
}

domain::Result<EnvelopeSealer::DataKey> EnvelopeSealer::unwrap(const WrappedKey& w) const {
  auto all = unhex(w.wrapped);
  if (!all || all->size() != kNonce + 32 + kTag) return std::unexpected(unsealable("malformed wrapped data key"));
  Bytes nonce(all->begin(), all->begin() + kNonce);
  Bytes ct(all->begin() + kNonce, all->end() - kTag);
  Bytes tag(all->end() - kTag, all->end());
  auto raw = gcm_decrypt(kek_, nonce, wrap_aad(w.tenant, w.key_id), ct, std::move(tag));
  if (!raw || raw->size() != 32) return std::unexpected(unsealable("the data key does not unwrap under this KEK"));
  DataKey k{w.key_id, w.tenant, {}};
  std::copy(raw->begin(), raw->end(), k.key.begin());
  return k;
}

domain::Result<cfg::SealedSecret> EnvelopeSealer::seal(const std::string& tenant, const std::string& plaintext) {
  std::lock_guard lock(mu_);
  const DataKey* key = nullptr;
  if (auto it = current_id_.find(tenant); it != current_id_.end()) {
    if (auto k = by_id_.find(it->second); k != by_id_.end()) key = &k->second;
  }
  if (!key) {
    auto found = store_.current(tenant);
    if (!found) return std::unexpected(found.error());
    WrappedKey w;
    if (const auto& existing = *found) {
      w = *existing;
    } else {
      auto id = random_bytes(16);
      auto raw = random_bytes(32);
      auto nonce = random_bytes(kNonce);
      if (!id || !raw || !nonce) return domain::fail(ErrorKind::kInternal, "crypto_failed", "no random bytes");
      w.key_id = hex(*id);
      w.tenant = tenant;
      auto wrapped = gcm_encrypt(kek_, *nonce, wrap_aad(tenant, w.key_id), raw->data(), raw->size());
      if (!wrapped) return std::unexpected(wrapped.error());
      w.wrapped = hex(*nonce) + hex(wrapped->first) + hex(wrapped->second);
      auto stored = store_.insert_or_get(w);  // another writer may have made one first: use theirs
      if (!stored) return std::unexpected(stored.error());
      w = *stored;
    }
    auto k = unwrap(w);
    if (!k) return std::unexpected(k.error());
    current_id_[tenant] = w.key_id;
    key = &(by_id_[w.key_id] = *k);
  }
  auto nonce = random_bytes(kNonce);
  if (!nonce) return std::unexpected(nonce.error());
  auto ct = gcm_encrypt(key->key, *nonce, seal_aad(tenant, key->key_id),
                        reinterpret_cast<const std::uint8_t*>(plaintext.data()), plaintext.size());
  if (!ct) return std::unexpected(ct.error());
  return cfg::SealedSecret{key->key_id, cfg::kSealedAlg, hex(*nonce), hex(ct->first), hex(ct->second)};
}

domain::Result<std::string> EnvelopeSealer::unseal(const std::string& tenant, const cfg::SealedSecret& s) {
  if (s.alg != cfg::kSealedAlg) return std::unexpected(unsealable("unknown algorithm"));
  DataKey key;
  {
    std::lock_guard lock(mu_);
    if (auto k = by_id_.find(s.key_id); k != by_id_.end()) key = k->second;
  }
  if (key.key_id.empty()) {
    auto found = store_.by_id(s.key_id);
    if (!found) return std::unexpected(found.error());
    const auto& wrapped = *found;
    if (!wrapped) {
      domain::Error e{ErrorKind::kFailedPrecondition,
                      "secret_shredded",
                      "the data key of this secret was deleted (crypto-shredded)",
                      {}};
      e.with("key_id", s.key_id);
      return std::unexpected(std::move(e));
    }
    auto k = unwrap(*wrapped);
    if (!k) return std::unexpected(k.error());
    key = *k;
    std::lock_guard lock(mu_);
    by_id_[key.key_id] = key;
  }
  if (key.tenant != tenant) return std::unexpected(unsealable("sealed for another tenant"));
  auto nonce = unhex(s.nonce), ct = unhex(s.ciphertext), tag = unhex(s.tag);
  if (!nonce || !ct || !tag) return std::unexpected(unsealable("malformed"));
  auto pt = gcm_decrypt(key.key, *nonce, seal_aad(tenant, key.key_id), *ct, std::move(*tag));
  if (!pt) return std::unexpected(unsealable("authentication tag mismatch"));
  return std::string(pt->begin(), pt->end());
}

domain::Result<std::vector<std::string>> EnvelopeSealer::shred(const std::string& tenant) {
  std::lock_guard lock(mu_);
  auto removed = store_.remove(tenant);
  if (!removed) return std::unexpected(removed.error());
  current_id_.erase(tenant);
  for (auto it = by_id_.begin(); it != by_id_.end();) {
    it = it->second.tenant == tenant ? by_id_.erase(it) : std::next(it);
  }
  return removed;
}

std::string EnvelopeSealer::keyed_digest(std::string_view data) const {
  static constexpr std::string_view kLabel = "ledger/request-digest/v1";
  unsigned char sub[EVP_MAX_MD_SIZE];
  unsigned int sub_len = 0;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  if (HMAC(EVP_sha256(), kek_.data(), static_cast<int>(kek_.size()),
           reinterpret_cast<const unsigned char*>(kLabel.data()), kLabel.size(), sub, &sub_len) == nullptr ||
      HMAC(EVP_sha256(), sub, static_cast<int>(sub_len), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), out, &out_len) == nullptr) {
    // Cannot happen short of memory exhaustion; never empty (an empty
    // stored digest would match any retry): the plain digest, marked.
    return "!" + std::string(data);
  }
  return hex(out, out_len);
}

}  // namespace ledger::adapters::crypto
