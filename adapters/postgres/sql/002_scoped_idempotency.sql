-- Idempotency keys scoped per caller (commands/idempotency.h): an outcome is
-- recorded under (tenant, actor_type, actor_id, command_id) with the SHA-256
-- of the request it answered, so no tenant can squat or replay another's
-- command ids. Applied by the migrator after 001 on every run; idempotent.
--
-- Upgrading a database from before: the columns are added with the empty
-- string, which no caller's key has, so old records keep their rows (the
-- table is append-only; nothing is rewritten) and no principal can claim
-- them by id alone. The writer still answers a retry of an old command to
-- the principal its events name (adapters/postgres/event_store.cc,
-- find_outcomes), with any body (no hash was kept).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                 WHERE table_schema = 'ledger' AND table_name = 'command_outcomes'
                   AND column_name = 'request_hash') THEN
    ALTER TABLE ledger.command_outcomes
      ADD COLUMN tenant       text NOT NULL DEFAULT '',
      ADD COLUMN actor_type   text NOT NULL DEFAULT '',
      ADD COLUMN actor_id     text NOT NULL DEFAULT '',
      ADD COLUMN request_hash text NOT NULL DEFAULT '';
    ALTER TABLE ledger.command_outcomes DROP CONSTRAINT IF EXISTS command_outcomes_pkey;
    ALTER TABLE ledger.command_outcomes ADD PRIMARY KEY (tenant, actor_type, actor_id, command_id);
  END IF;
END $$;
