-- Data keys of configuration secrets (issue 16 part 4): one random 256-bit
-- key per tenant, stored only wrapped under the key-encryption key
-- (LEDGER_CONFIG_KEK, never in the database). Unlike ledger.events this
-- table is mutable on purpose: deleting a tenant's row crypto-shreds every
-- secret sealed under it, in the event store, on Kafka and in every export
-- (adapters/crypto/envelope_sealer.h). Idempotent.
CREATE SCHEMA IF NOT EXISTS config_secrets;

CREATE TABLE IF NOT EXISTS config_secrets.data_keys (
  key_id      text        PRIMARY KEY,
  tenant_id   text        NOT NULL UNIQUE,  -- one current key per tenant
  wrapped_key text        NOT NULL,         -- hex: nonce(12) || AES-256-GCM(KEK, key) || tag(16)
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- ledger-command seals (reads, inserts a tenant's first key) and shreds
-- (deletes); ledger-query unseals for callers with secrets:read (reads);
-- nobody else, auditors included: they audit ciphertext.
REVOKE ALL ON SCHEMA config_secrets FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA config_secrets
  FROM PUBLIC, ledger_command, ledger_relay, ledger_projector, ledger_query, ledger_auditor, ledger_app;
GRANT USAGE ON SCHEMA config_secrets TO ledger_command, ledger_query, ledger_app;
GRANT SELECT, INSERT, DELETE ON config_secrets.data_keys TO ledger_command, ledger_app;
GRANT SELECT ON config_secrets.data_keys TO ledger_query;
