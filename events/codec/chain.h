// The hash chain as a consumer checks it, and the writer's Ed25519 signature
// over the chain head (the anchor, events/chain_events.h).
//
// Link check, for every consumer of `ledger.events` before it applies an
// event (projector, auditor replay, and the query service's future feed):
//
//   auto fault = codec::verify_link(last_applied_hash, record);
//   if (fault) { /* never apply; fetch the true event from the store */ }
//
// Anchor signatures, for the writer and `ledger-audit verify`:
//
//   auto key = codec::ChainSigningKey::from_pem(private_pem);     // writer
//   std::string sig = key->sign(codec::chain_head_statement(pos, head_hash));
//   auto pub = codec::ChainVerifyingKey::from_pem(public_pem);     // auditor
//   bool ok = pub->verify(codec::chain_head_statement(pos, head_hash), sig);
//
// The signed statement is `policy-ledger-chain-head:v1|<position>|<hash>`
// (position in decimal, hash 64 lowercase hex digits). A key id is the first
// 16 hex digits of SHA-256 over the raw 32-byte Ed25519 public key, so the
// writer and the auditor derive the same id from the same key pair.
// Signatures are 128 lowercase hex digits (the 64-byte Ed25519 signature).
//
// Pure functions and immutable value types over OpenSSL's EVP API (no
// OpenSSL type in this header); thread-safe.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "events/event.h"

namespace ledger::codec {

// Why a record may not be applied after `prev_hash`.
enum class LinkFault {
  kHashMismatch,  // `hash` is not the SHA-256 of the record's canonical form (forged or corrupted)
  kBrokenLink,    // the record is self-consistent but its prev_hash is not the previous event's hash
};
const char* link_fault_name(LinkFault f);  // "hash_mismatch", "broken_link"

// nullopt when `r` may follow an event whose hash is `prev_hash`: its hash is
// the recomputed one over its canonical form AND its prev_hash is
// `prev_hash` (events::kGenesisHash before position 1). Never throws.
std::optional<LinkFault> verify_link(std::string_view prev_hash, const events::RecordedEvent& r);

inline constexpr const char* kChainSignatureAlgorithm = "Ed25519";
inline constexpr const char* kChainHeadStatementPrefix = "policy-ledger-chain-head:v1";

std::string chain_head_statement(std::int64_t position, std::string_view head_hash);

// An Ed25519 private key (the writer's). Copyable value.
class ChainSigningKey {
 public:
  // A PKCS#8 PEM private key ("-----BEGIN PRIVATE KEY-----", as written by
  // `openssl genpkey -algorithm ed25519`); the message says what is wrong.
  static std::expected<ChainSigningKey, std::string> from_pem(std::string_view pem);
  const std::string& key_id() const { return key_id_; }
  // The public half as a PEM SubjectPublicKeyInfo (what auditors are given).
  std::string public_pem() const;
  // 128 hex digits; empty only if OpenSSL fails (out of memory).
  std::string sign(std::string_view message) const;

 private:
  std::string private_raw_;  // 32 bytes
  std::string public_raw_;   // 32 bytes
  std::string key_id_;
};

// An Ed25519 public key (an auditor's). Copyable value.
class ChainVerifyingKey {
 public:
  // A PEM public key; a PEM private key is accepted too (its public half).
  static std::expected<ChainVerifyingKey, std::string> from_pem(std::string_view pem);
  const std::string& key_id() const { return key_id_; }
  // True when `signature_hex` is a valid signature of `message` by this key.
  bool verify(std::string_view message, std::string_view signature_hex) const;

 private:
  std::string public_raw_;
  std::string key_id_;
};

}  // namespace ledger::codec
