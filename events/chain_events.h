// Events of the chain itself: the writer's signed anchors.
//
// Stream: chain-anchors   ChainHeadSigned
//
// The single writer (ledger-command, under the advisory lock) periodically
// signs the head of the hash chain with its Ed25519 key and appends the
// signature as an event (commands/chain_anchor.h). Why an event rather than
// a side table: it is then itself sealed into the chain, published on
// `ledger.events` and part of every export, so anyone holding the public key
// can check a copy of history anywhere; a superuser who rewrites an event and
// recomputes every later hash cannot recompute the signature, so the signed
// head no longer matches (`ledger-audit verify --public-key`). Tenant
// `platform`; actor the worker `chain-anchor`.
#pragma once

#include <cstdint>
#include <string>

namespace ledger::events {

struct ChainHeadSigned {
  static constexpr const char* kType = "ChainHeadSigned";
  static constexpr int kSchemaVersion = 1;

  std::int64_t position = 0;  // the signed head: the last event before this one was appended
  std::string head_hash;      // that event's hash (64 hex digits)
  std::string key_id;         // codec::ChainSigningKey::key_id() of the signing key
  std::string algorithm;      // codec::kChainSignatureAlgorithm ("Ed25519")
  std::string signature;      // hex Ed25519 signature of codec::chain_head_statement(position, head_hash)
  friend bool operator==(const ChainHeadSigned&, const ChainHeadSigned&) = default;
};

}  // namespace ledger::events
