#include "events/codec/chain.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <array>
#include <memory>

#include "events/codec/digest.h"
#include "events/codec/json_codec.h"

namespace ledger::codec {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>((hi << 4) | lo));
  }
  return out;
}

int no_passphrase(char*, int, int, void*) { return 0; }

// The key a PEM text holds (private or public), checked to be Ed25519.
std::expected<Pkey, std::string> read_pem(std::string_view pem, bool private_key) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return std::unexpected("out of memory");
  EVP_PKEY* raw = private_key ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)
                              : PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr);
  if (raw == nullptr) {
    return std::unexpected(private_key ? "not a PEM private key (expected -----BEGIN PRIVATE KEY-----)"
                                       : "not a PEM public key (expected -----BEGIN PUBLIC KEY-----)");
  }
  Pkey key(raw);
  if (EVP_PKEY_get_id(raw) != EVP_PKEY_ED25519) return std::unexpected("the key is not an Ed25519 key");
  return key;
}

std::string raw_public(EVP_PKEY* key) {
  std::array<unsigned char, 32> buf{};
  std::size_t len = buf.size();
  if (EVP_PKEY_get_raw_public_key(key, buf.data(), &len) != 1) return {};
  return std::string(reinterpret_cast<const char*>(buf.data()), len);
}

std::string key_id_of(std::string_view public_raw) { return sha256_hex(public_raw).substr(0, 16); }

}  // namespace

const char* link_fault_name(LinkFault f) {
  switch (f) {
    case LinkFault::kHashMismatch:
      return "hash_mismatch";
    case LinkFault::kBrokenLink:
      return "broken_link";
  }
  return "unknown";
}

std::optional<LinkFault> verify_link(std::string_view prev_hash, const events::RecordedEvent& r) {
  std::string recomputed;
  try {
    recomputed = compute_hash(r);
  } catch (const std::exception&) {
    return LinkFault::kHashMismatch;  // a payload that is not JSON cannot be sealed by anything
  }
  if (recomputed != r.hash) return LinkFault::kHashMismatch;
  if (r.prev_hash != prev_hash) return LinkFault::kBrokenLink;
  return std::nullopt;
}

std::string chain_head_statement(std::int64_t position, std::string_view head_hash) {
  return std::string(kChainHeadStatementPrefix) + "|" + std::to_string(position) + "|" + std::string(head_hash);
}

std::expected<ChainSigningKey, std::string> ChainSigningKey::from_pem(std::string_view pem) {
  auto key = read_pem(pem, /*private_key=*/true);
  if (!key) return std::unexpected(key.error());
  std::array<unsigned char, 32> priv{};
  std::size_t len = priv.size();
  if (EVP_PKEY_get_raw_private_key(key->get(), priv.data(), &len) != 1 || len != priv.size()) {
    return std::unexpected("cannot read the Ed25519 private key");
  }
  ChainSigningKey k;
  k.private_raw_.assign(reinterpret_cast<const char*>(priv.data()), len);
  k.public_raw_ = raw_public(key->get());
  if (k.public_raw_.size() != 32) return std::unexpected("cannot derive the Ed25519 public key");
  k.key_id_ = key_id_of(k.public_raw_);
  return k;
}

std::string ChainSigningKey::public_pem() const {
  Pkey key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                       reinterpret_cast<const unsigned char*>(public_raw_.data()), public_raw_.size()));
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!key || !bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) return {};
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

std::string ChainSigningKey::sign(std::string_view message) const {
  Pkey key(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(private_raw_.data()), private_raw_.size()));
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  std::array<unsigned char, 64> sig{};
  std::size_t len = sig.size();
  // Ed25519 is "pure": no digest, the whole message in one call.
  if (!key || !ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1) {
    return {};
  }
  return to_hex(sig.data(), len);
}

std::expected<ChainVerifyingKey, std::string> ChainVerifyingKey::from_pem(std::string_view pem) {
  const bool is_private = pem.find("PRIVATE KEY") != std::string_view::npos;
  auto key = read_pem(pem, is_private);
  if (!key) return std::unexpected(key.error());
  ChainVerifyingKey k;
  k.public_raw_ = raw_public(key->get());
  if (k.public_raw_.size() != 32) return std::unexpected("cannot read the Ed25519 public key");
  k.key_id_ = key_id_of(k.public_raw_);
  return k;
}

bool ChainVerifyingKey::verify(std::string_view message, std::string_view signature_hex) const {
  auto sig = from_hex(signature_hex);
  if (!sig || sig->size() != 64) return false;
  Pkey key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                       reinterpret_cast<const unsigned char*>(public_raw_.data()), public_raw_.size()));
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  return key && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

}  // namespace ledger::codec
