#include "events/codec/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <nlohmann/json.hpp>

namespace ledger::codec {
namespace {

bool is_hex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string to_hex(const unsigned char* data, std::size_t len) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (std::size_t i = 0; i < len; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 0xf]);
  }
  return out;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  // HMAC() accepts an empty key only with a non-null pointer.
  static const unsigned char kEmpty = 0;
  const void* key_ptr = key.empty() ? static_cast<const void*>(&kEmpty) : static_cast<const void*>(key.data());
  if (!HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
            data.size(), md.data(), &len)) {
    return {};
  }
  return to_hex(md.data(), len);
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string digest_statement(std::int64_t position, std::string_view hash) {
  return std::string(kDigestStatementPrefix) + "|" + std::to_string(position) + "|" + std::string(hash);
}

ChainDigest sign_chain_head(std::string_view key, std::int64_t position, std::string_view hash) {
  return ChainDigest{position, std::string(hash), kDigestAlgorithm,
                     hmac_sha256_hex(key, digest_statement(position, hash))};
}

bool digest_signature_valid(std::string_view key, const ChainDigest& d) {
  if (d.algorithm != kDigestAlgorithm) return false;
  return equal_constant_time(hmac_sha256_hex(key, digest_statement(d.position, d.hash)), d.signature);
}

nlohmann::json digest_to_json(const ChainDigest& d) {
  return {{"statement", digest_statement(d.position, d.hash)},
          {"position", d.position},
          {"hash", d.hash},
          {"algorithm", d.algorithm},
          {"signature", d.signature}};
}

std::expected<ChainDigest, std::string> digest_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::unexpected("a digest must be a JSON object");
  auto str = [&](const char* name) -> std::expected<std::string, std::string> {
    auto it = j.find(name);
    if (it == j.end()) return std::unexpected(std::string("missing field '") + name + "'");
    if (!it->is_string()) return std::unexpected(std::string("field '") + name + "' must be a string");
    return it->get<std::string>();
  };
  ChainDigest d;
  auto pos = j.find("position");
  if (pos == j.end()) return std::unexpected("missing field 'position'");
  if (!pos->is_number_integer() || pos->get<std::int64_t>() < 1) {
    return std::unexpected("field 'position' must be an integer >= 1");
  }
  d.position = pos->get<std::int64_t>();
  auto hash = str("hash");
  if (!hash) return std::unexpected(hash.error());
  if (!is_hex64(*hash)) return std::unexpected("field 'hash' must be 64 lowercase hex digits");
  d.hash = std::move(*hash);
  auto algorithm = str("algorithm");
  if (!algorithm) return std::unexpected(algorithm.error());
  if (*algorithm != kDigestAlgorithm) {
    return std::unexpected("unsupported algorithm '" + *algorithm + "' (expected " + kDigestAlgorithm + ")");
  }
  d.algorithm = std::move(*algorithm);
  auto signature = str("signature");
  if (!signature) return std::unexpected(signature.error());
  if (!is_hex64(*signature)) return std::unexpected("field 'signature' must be 64 lowercase hex digits");
  d.signature = std::move(*signature);
  if (auto st = j.find("statement"); st != j.end()) {
    if (!st->is_string() || st->get<std::string>() != digest_statement(d.position, d.hash)) {
      return std::unexpected("field 'statement' does not match position and hash");
    }
  }
  return d;
}

}  // namespace ledger::codec
