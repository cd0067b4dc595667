-- Read-model tables, created per schema: the live one ("rm" by default) and
-- scratch schemas that rebuilds and replays write into. __SCHEMA__ is
-- replaced by the migrator. Idempotent.

CREATE SCHEMA IF NOT EXISTS __SCHEMA__;

CREATE TABLE IF NOT EXISTS __SCHEMA__.checkpoints (
  projection text   PRIMARY KEY,
  position   bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS __SCHEMA__.policy_keys (
  key           text   PRIMARY KEY,
  value_type    text   NOT NULL,
  default_value jsonb  NOT NULL,
  min_value     bigint,
  max_value     bigint,
  allowed       jsonb  NOT NULL,
  description   text   NOT NULL,
  position      bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS __SCHEMA__.policy_values (
  key          text        NOT NULL,
  scope_level  text        NOT NULL,
  scope_id     text        NOT NULL,
  position     bigint      NOT NULL,
  value        jsonb       NOT NULL,
  effective_at timestamptz NOT NULL,
  event_id     uuid        NOT NULL,
  actor_id     text        NOT NULL,
  reason       text        NOT NULL,
  recorded_at  timestamptz NOT NULL,
  PRIMARY KEY (key, scope_level, scope_id, position)
);

-- The audit view (projections/audit_projection.h): one row per event, never
-- removed, so every past position stays answerable. `schema_version` is the
-- version after upcasting; the recorded one stays in ledger.events.
CREATE TABLE IF NOT EXISTS __SCHEMA__.audit_log (
  position       bigint      PRIMARY KEY,
  event_id       uuid        NOT NULL,
  tenant         text        NOT NULL,
  stream_id      text        NOT NULL,
  stream_version bigint      NOT NULL,
  event_type     text        NOT NULL,
  schema_version integer     NOT NULL,
  subject_kind   text        NOT NULL,
  subject_key    text        NOT NULL,
  scope_level    text,
  scope_id       text,
  before         jsonb,
  before_source  text,
  after          jsonb       NOT NULL,
  reason         text,
  actor_type     text        NOT NULL,
  actor_id       text        NOT NULL,
  actor_roles    jsonb       NOT NULL,
  occurred_at    timestamptz NOT NULL,
  recorded_at    timestamptz NOT NULL,
  effective_at   timestamptz,
  correlation_id text        NOT NULL,
  causation_id   text        NOT NULL,
  command_id     text        NOT NULL
);
-- Filters of GET /v1/audit; each ends in position, the page order.
CREATE INDEX IF NOT EXISTS audit_log_subject ON __SCHEMA__.audit_log (subject_kind, subject_key, scope_level, scope_id, position);
CREATE INDEX IF NOT EXISTS audit_log_tenant ON __SCHEMA__.audit_log (tenant, position);
CREATE INDEX IF NOT EXISTS audit_log_actor ON __SCHEMA__.audit_log (actor_id, position);
CREATE INDEX IF NOT EXISTS audit_log_recorded_at ON __SCHEMA__.audit_log (recorded_at);

GRANT USAGE ON SCHEMA __SCHEMA__ TO ledger_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA __SCHEMA__ TO ledger_app;
