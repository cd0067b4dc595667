// Signed digests of the hash chain's head, so an auditor can later prove that
// nothing up to a position changed.
//
//   auto d = codec::sign_chain_head(key, 1234, head_hash);   // HMAC-SHA256
//   std::string file = codec::digest_to_json(d).dump();      // hand it out
//   ...
//   auto back = codec::digest_from_json(Json::parse(file));  // later
//   bool ok = back && codec::digest_signature_valid(key, *back);
//   // then: the store's hash at back->position must still be back->hash,
//   // and the chain up to it must verify.
//
// The signed statement is `policy-ledger-digest:v1|<position>|<hash>`: the
// position in decimal, the hash as 64 lowercase hex digits. Because every
// hash seals the whole history before it, signing the head at a position
// signs everything up to it.
//
// Pure functions over OpenSSL's HMAC; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace ledger::codec {

inline constexpr const char* kDigestAlgorithm = "HMAC-SHA256";
inline constexpr const char* kDigestStatementPrefix = "policy-ledger-digest:v1";

// `len` bytes as 2*len lowercase hex digits (hashes, signatures, MACs).
std::string to_hex(const unsigned char* data, std::size_t len);

// HMAC-SHA256 of `data` under `key`, as 64 lowercase hex digits (RFC 2104).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// Equality that takes the same time wherever the inputs differ (for
// comparing signatures).
bool equal_constant_time(std::string_view a, std::string_view b);

// The canonical statement a digest signs.
std::string digest_statement(std::int64_t position, std::string_view hash);

struct ChainDigest {
  std::int64_t position = 0;
  std::string hash;       // the event hash at `position`
  std::string algorithm;  // kDigestAlgorithm
  std::string signature;  // hex HMAC over digest_statement(position, hash)
  friend bool operator==(const ChainDigest&, const ChainDigest&) = default;
};

ChainDigest sign_chain_head(std::string_view key, std::int64_t position, std::string_view hash);
// True when `d` names a known algorithm and its signature is the HMAC of its
// own statement under `key`.
bool digest_signature_valid(std::string_view key, const ChainDigest& d);

// {"statement", "position", "hash", "algorithm", "signature"}; `statement` is
// informative (recomputed on reading, and must match when present).
nlohmann::json digest_to_json(const ChainDigest& d);
// Strict: every field present with the right type, position >= 1, hash and
// signature 64 hex digits; the message names what is wrong.
std::expected<ChainDigest, std::string> digest_from_json(const nlohmann::json& j);

}  // namespace ledger::codec
