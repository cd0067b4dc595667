-- The decision log (issue 13 part 6): every decision ledger-query answered,
-- projected from the topic ledger.decisions by ledger-projector. Not a read
-- model of ledger.events (nothing in the event store derives it), so it has
-- a schema of its own: rebuilds and `ledger-audit replay` never drop or
-- compare it. Idempotent.
CREATE SCHEMA IF NOT EXISTS decision_log;

CREATE TABLE IF NOT EXISTS decision_log.decisions (
  decision_id      text        PRIMARY KEY,  -- unique per record: a redelivery is stored once
  recorded_at      timestamptz NOT NULL,     -- when it was answered
  as_of            timestamptz NOT NULL,     -- the instant it was decided for
  organization_id  text        NOT NULL,
  project_id       text        NOT NULL,
  actor_tenant     text        NOT NULL,
  actor_type       text        NOT NULL,
  actor_id         text        NOT NULL,
  correlation_id   text        NOT NULL,
  decision         text        NOT NULL,
  reason_code      text        NOT NULL,
  snapshot_version bigint      NOT NULL,
  input            jsonb       NOT NULL,
  output           jsonb       NOT NULL,
  seq              bigserial   NOT NULL UNIQUE  -- arrival order: the paging key
);
CREATE INDEX IF NOT EXISTS decisions_by_org ON decision_log.decisions (organization_id, recorded_at, seq);
CREATE INDEX IF NOT EXISTS decisions_by_correlation ON decision_log.decisions (correlation_id);

-- ledger-projector writes it (INSERT only, and reads what it wrote);
-- ledger-query answers GET /v1/decisions/log from it; auditors read it.
REVOKE ALL ON SCHEMA decision_log FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA decision_log
  FROM PUBLIC, ledger_command, ledger_relay, ledger_projector, ledger_query, ledger_auditor, ledger_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA decision_log
  FROM PUBLIC, ledger_command, ledger_relay, ledger_projector, ledger_query, ledger_auditor, ledger_app;
GRANT USAGE ON SCHEMA decision_log TO ledger_projector, ledger_query, ledger_auditor;
GRANT SELECT, INSERT ON decision_log.decisions TO ledger_projector;
GRANT USAGE ON SEQUENCE decision_log.decisions_seq_seq TO ledger_projector;
GRANT SELECT ON decision_log.decisions TO ledger_query, ledger_auditor;
