// The wrapped data keys of configuration secrets in PostgreSQL
// (sql/004_config_secrets.sql, config_secrets.data_keys), behind
// adapters/crypto's DataKeyStore. ledger-command reads, inserts and deletes
// (shredding); ledger-query only reads. Errors: kUnavailable
// `database_unavailable` when PostgreSQL cannot be reached, kInternal
// otherwise; nothing here throws. Thread-safe (a pool).
#pragma once

#include <memory>
#include <string>

#include "adapters/crypto/envelope_sealer.h"

namespace ledger::adapters::postgres {

class PgConfigKeys final : public crypto::DataKeyStore {
 public:
  PgConfigKeys(const std::string& url, std::size_t pool_size);
  ~PgConfigKeys() override;

  domain::Result<std::optional<crypto::WrappedKey>> current(const std::string& tenant) override;
  domain::Result<std::optional<crypto::WrappedKey>> by_id(const std::string& key_id) override;
  domain::Result<crypto::WrappedKey> insert_or_get(const crypto::WrappedKey& k) override;
  domain::Result<std::vector<std::string>> remove(const std::string& tenant) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What ledger-command and ledger-query seal and unseal with: the KEK of
// LEDGER_CONFIG_KEK over config_secrets.data_keys at `url`. `sealer` is
// null when LEDGER_CONFIG_KEK is unset (secrets are then refused on write,
// and read as `***` by everyone); an error when it is malformed.
struct ConfigSecrets {
  std::unique_ptr<PgConfigKeys> keys;
  std::unique_ptr<crypto::EnvelopeSealer> sealer;
};
domain::Result<ConfigSecrets> config_secrets_from_env(const std::string& url);

}  // namespace ledger::adapters::postgres
