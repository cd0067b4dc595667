-- The event store: append-only, hash-chained, gap-free global positions.
-- Applied by the migrator as a superuser; idempotent.

CREATE SCHEMA IF NOT EXISTS ledger;

CREATE TABLE IF NOT EXISTS ledger.events (
  global_position bigint      PRIMARY KEY CHECK (global_position > 0),
  stream_id       text        NOT NULL,
  stream_version  bigint      NOT NULL CHECK (stream_version > 0),
  event_id        uuid        NOT NULL UNIQUE,
  event_type      text        NOT NULL,
  schema_version  integer     NOT NULL CHECK (schema_version > 0),
  occurred_at     timestamptz NOT NULL,
  recorded_at     timestamptz NOT NULL,
  actor           jsonb       NOT NULL,
  tenant          text        NOT NULL,
  correlation_id  text        NOT NULL,
  causation_id    text        NOT NULL,
  command_id      text        NOT NULL,
  payload         jsonb       NOT NULL,
  prev_hash       text        NOT NULL,
  hash            text        NOT NULL UNIQUE,
  UNIQUE (stream_id, stream_version)
);
CREATE INDEX IF NOT EXISTS events_tenant_idx ON ledger.events (tenant, global_position);

-- The idempotency record of every accepted command.
CREATE TABLE IF NOT EXISTS ledger.command_outcomes (
  command_id     text        PRIMARY KEY,
  stream_id      text        NOT NULL,
  event_ids      jsonb       NOT NULL,
  position       bigint      NOT NULL,
  stream_version bigint      NOT NULL,
  recorded_at    timestamptz NOT NULL
);

-- Where each relay has durably published up to.
CREATE TABLE IF NOT EXISTS ledger.relay_checkpoints (
  relay      text        PRIMARY KEY,
  position   bigint      NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- History is never updated or deleted: the database refuses it, whoever asks.
CREATE OR REPLACE FUNCTION ledger.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger.% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE TRIGGER events_append_only
  BEFORE UPDATE OR DELETE ON ledger.events FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change();
CREATE OR REPLACE TRIGGER events_no_truncate
  BEFORE TRUNCATE ON ledger.events FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();
CREATE OR REPLACE TRIGGER outcomes_append_only
  BEFORE UPDATE OR DELETE ON ledger.command_outcomes FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change();
CREATE OR REPLACE TRIGGER outcomes_no_truncate
  BEFORE TRUNCATE ON ledger.command_outcomes FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();

-- Every insert must extend the chain exactly: the next global position, the
-- head's hash as prev_hash, the next version of its stream. Rows inserted
-- earlier by the same statement are visible here, so a batch is checked row
-- by row; two writers racing for the same position collide on the primary key.
CREATE OR REPLACE FUNCTION ledger.check_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  head_position bigint;
  head_hash     text;
BEGIN
  SELECT global_position, hash INTO head_position, head_hash
    FROM ledger.events ORDER BY global_position DESC LIMIT 1;
  IF head_position IS NULL THEN
    head_position := 0;
    head_hash := repeat('0', 64);
  END IF;
  IF NEW.global_position <> head_position + 1 OR NEW.prev_hash <> head_hash THEN
    RAISE EXCEPTION 'chain_conflict: position % does not extend head %', NEW.global_position, head_position
      USING ERRCODE = 'serialization_failure';
  END IF;
  -- Contiguous stream versions: version v needs v - 1 (an equality probe of
  -- the unique index, cheap at any stream length); the unique constraint
  -- refuses a second v.
  IF NEW.stream_version > 1 AND NOT EXISTS (
       SELECT 1 FROM ledger.events WHERE stream_id = NEW.stream_id AND stream_version = NEW.stream_version - 1) THEN
    RAISE EXCEPTION 'stream_version_conflict: % version % skips a version', NEW.stream_id, NEW.stream_version
      USING ERRCODE = 'unique_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER events_extend_chain
  BEFORE INSERT ON ledger.events FOR EACH ROW EXECUTE FUNCTION ledger.check_chain();

-- Database roles, one login role per service (README "Database roles"); no
-- passwords: PostgreSQL listens on loopback only with trust authentication
-- (scripts/infra.sh). Roles belong to the cluster, so migrations of other
-- databases may create them at the same moment: losing that race is fine.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['ledger_command', 'ledger_relay', 'ledger_projector', 'ledger_query',
                           'ledger_auditor', 'ledger_app'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I LOGIN', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
  END LOOP;
END $$;

-- Start from nothing on every migration, so a privilege removed here is
-- removed from existing databases too.
REVOKE ALL ON SCHEMA ledger FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA ledger
  FROM PUBLIC, ledger_command, ledger_relay, ledger_projector, ledger_query, ledger_auditor, ledger_app;
GRANT USAGE ON SCHEMA ledger
  TO ledger_command, ledger_relay, ledger_projector, ledger_query, ledger_auditor, ledger_app;

-- ledger-command: the only one that appends; never UPDATE or DELETE (and the
-- triggers above refuse those to everyone, the owner included).
GRANT SELECT, INSERT ON ledger.events, ledger.command_outcomes TO ledger_command;
-- ledger-relay: reads the events, keeps its own published position.
GRANT SELECT ON ledger.events TO ledger_relay;
GRANT SELECT, INSERT, UPDATE ON ledger.relay_checkpoints TO ledger_relay;
-- ledger-projector: reads the events; writes only read-model schemas
-- (read_model.sql), and may create scratch ones for --rebuild.
GRANT SELECT ON ledger.events TO ledger_projector;
-- ledger-query: reads the events (issue 12: its in-memory read models start
-- from the store and check the topic against it like every consumer of
-- ledger.events); never writes.
GRANT SELECT ON ledger.events TO ledger_query;
-- ledger-audit, ledger-admin diff: read everything; replay builds scratch schemas.
GRANT SELECT ON ledger.events, ledger.command_outcomes, ledger.relay_checkpoints TO ledger_auditor;
-- ledger_app: the former single application role, kept for in-process
-- integration tests that play several services at once. No service uses it.
GRANT SELECT, INSERT ON ledger.events, ledger.command_outcomes TO ledger_app;
GRANT SELECT, INSERT, UPDATE ON ledger.relay_checkpoints TO ledger_app;

-- Scratch read-model schemas (rebuild, replay) are created by their role.
DO $$
BEGIN
  EXECUTE format('REVOKE CREATE ON DATABASE %I FROM PUBLIC, ledger_command, ledger_relay, ledger_query',
                 current_database());
  EXECUTE format('GRANT CREATE ON DATABASE %I TO ledger_projector, ledger_auditor, ledger_app', current_database());
END $$;
