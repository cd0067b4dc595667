// Envelope encryption of configuration secrets (domain/config/secrets.h's
// SecretSealer) with OpenSSL EVP, AES-256-GCM throughout:
//   - each tenant has one random 256-bit data key (id: 32 hex chars), made
//     on its first secret; stored only wrapped (AES-256-GCM under the
//     key-encryption key, additional data "ledger-config-dek:<tenant>:<key_id>")
//     in a DataKeyStore (PostgreSQL: adapters/postgres/config_key_store.h,
//     table ledger.config_data_keys, which is mutable, unlike the event log);
//   - a secret is sealed under its tenant's data key with a fresh 96-bit
//     nonce, additional data "ledger-config-secret:<tenant>:<key_id>";
//   - the key-encryption key (KEK) comes from the process settings:
//     LEDGER_CONFIG_KEK, 64 hex digits (scripts/infra.sh env makes one per
//     profile). It never leaves the process; no event or table holds it.
// Shredding deletes the tenant's wrapped data key: every secret sealed
// under it is unrecoverable, wherever its ciphertext was copied.
// Unwrapped data keys are cached in memory by key id; shred() drops them.
// Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "domain/config/secrets.h"

namespace ledger::adapters::crypto {

using Key256 = std::array<std::uint8_t, 32>;

struct WrappedKey {
  std::string key_id;
  std::string tenant;
  std::string wrapped;  // hex of nonce(12) || ciphertext(32) || tag(16)
};

// Where wrapped data keys live. Errors: kUnavailable when unreachable.
class DataKeyStore {
 public:
  virtual ~DataKeyStore() = default;
  virtual domain::Result<std::optional<WrappedKey>> current(const std::string& tenant) = 0;
  virtual domain::Result<std::optional<WrappedKey>> by_id(const std::string& key_id) = 0;
  // Inserts `k` unless the tenant already has a key; returns the tenant's key.
  virtual domain::Result<WrappedKey> insert_or_get(const WrappedKey& k) = 0;
  // Deletes the tenant's keys; returns their ids.
  virtual domain::Result<std::vector<std::string>> remove(const std::string& tenant) = 0;
};

// For tests and the in-process stack.
class MemoryKeyStore final : public DataKeyStore {
 public:
  domain::Result<std::optional<WrappedKey>> current(const std::string& tenant) override;
  domain::Result<std::optional<WrappedKey>> by_id(const std::string& key_id) override;
  domain::Result<WrappedKey> insert_or_get(const WrappedKey& k) override;
  domain::Result<std::vector<std::string>> remove(const std::string& tenant) override;

 private:
  std::mutex mu_;
  std::map<std::string, WrappedKey> by_tenant_;
};

// LEDGER_CONFIG_KEK parsed: nullopt when unset or empty; an error when it is
// not 64 hex digits.
domain::Result<std::optional<Key256>> kek_from_env();
domain::Result<Key256> parse_kek(const std::string& hex);

class EnvelopeSealer final : public domain::config::SecretSealer {
 public:
  EnvelopeSealer(Key256 kek, DataKeyStore& store) : kek_(kek), store_(store) {}

  domain::Result<domain::config::SealedSecret> seal(const std::string& tenant, const std::string& plaintext) override;
  domain::Result<std::string> unseal(const std::string& tenant, const domain::config::SealedSecret& sealed) override;
  domain::Result<std::vector<std::string>> shred(const std::string& tenant) override;
  // HMAC-SHA256(HMAC-SHA256(kek, "ledger/request-digest/v1"), data): the
  // KEK itself never keys anything but the data keys' wrapping.
  std::string keyed_digest(std::string_view data) const override;

 private:
  struct DataKey {
    std::string key_id;
    std::string tenant;
    Key256 key;
  };
  domain::Result<DataKey> unwrap(const WrappedKey& w) const;

  Key256 kek_;
  DataKeyStore& store_;
  std::mutex mu_;
  std::map<std::string, DataKey> by_id_;           // cache of unwrapped keys
  std::map<std::string, std::string> current_id_;  // tenant -> key id
};

}  // namespace ledger::adapters::crypto
