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

GRANT USAGE ON SCHEMA __SCHEMA__ TO ledger_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA __SCHEMA__ TO ledger_app;
