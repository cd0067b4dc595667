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
  tenant       text,
  PRIMARY KEY (key, scope_level, scope_id, position)
);
-- The organization a value was written for (the event's tenant; "platform"
-- for the operators'). A read for an organization sees user and project
-- values written for it or by the platform only: user and project ids the
-- hierarchy does not know are not unique across organizations. NULL: a row
-- projected before the column existed (seen by everyone until a rebuild).
ALTER TABLE __SCHEMA__.policy_values ADD COLUMN IF NOT EXISTS tenant text;

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
-- scope_level/scope_id filters, and descendants of a department, project or
-- principal: one range probe per subtree member over the positions it was
-- inside the subtree (read_model_store.cc, audit_rows_query).
CREATE INDEX IF NOT EXISTS audit_log_scope ON __SCHEMA__.audit_log (scope_level, scope_id, position);
-- ... and the rows of each reservation a subtree member owns (most are filed
-- at the organization): one range probe per reservation, in position order.
CREATE INDEX IF NOT EXISTS audit_log_reservation ON __SCHEMA__.audit_log (subject_key, position)
  WHERE subject_kind = 'reservation';

-- The admission read model (projections/admission_projection.h): history
-- rows keyed by entity and position, never removed; "current" is the latest
-- row at or below a position. Every primary key ends in position, so "the
-- latest row of X at or below P" is one backward index probe.
CREATE TABLE IF NOT EXISTS __SCHEMA__.registry_entries (
  kind        text   NOT NULL,
  entry_id    text   NOT NULL,
  position    bigint NOT NULL,
  version     bigint NOT NULL,
  description text   NOT NULL,
  attributes  jsonb  NOT NULL,
  PRIMARY KEY (kind, entry_id, position)
);

-- What a scope node is (from its creation; never changes).
CREATE TABLE IF NOT EXISTS __SCHEMA__.scope_nodes (
  level                 text   NOT NULL,
  node_id               text   NOT NULL,
  organization_id       text   NOT NULL,
  name                  text   NOT NULL,
  principal_type        text   NOT NULL,
  expires_at            timestamptz,
  default_department_id text   NOT NULL,
  position              bigint NOT NULL,
  PRIMARY KEY (level, node_id)
);
CREATE INDEX IF NOT EXISTS scope_nodes_organization ON __SCHEMA__.scope_nodes (organization_id, level, node_id);

-- Revoked credentials (TokenRevoked): every token of a principal of a tenant
-- (kind 'principal', subject_id its id) or one JWT (kind 'token', its jti).
CREATE TABLE IF NOT EXISTS __SCHEMA__.token_revocations (
  tenant     text   NOT NULL,
  kind       text   NOT NULL,
  subject_id text   NOT NULL,
  reason     text   NOT NULL,
  position   bigint NOT NULL,
  PRIMARY KEY (tenant, kind, subject_id, position)
);

-- Where a scope node hangs, over time (created, moved, plan changed).
CREATE TABLE IF NOT EXISTS __SCHEMA__.scope_links (
  level        text   NOT NULL,
  node_id      text   NOT NULL,
  position     bigint NOT NULL,
  parent_level text   NOT NULL,
  parent_id    text   NOT NULL,
  version      bigint NOT NULL,
  PRIMARY KEY (level, node_id, position)
);
-- Children listing: every node that ever hung under a parent.
CREATE INDEX IF NOT EXISTS scope_links_parent ON __SCHEMA__.scope_links (parent_level, parent_id, level, node_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.ceiling_rules (
  scope_level     text   NOT NULL,
  scope_id        text   NOT NULL,
  rule_id         text   NOT NULL,
  position        bigint NOT NULL,
  dimension       text   NOT NULL,
  "window"        text   NOT NULL,
  region          text   NOT NULL,
  sku_or_model    text   NOT NULL,
  quantity        bigint,  -- NULL: cleared
  unit            text   NOT NULL,
  rule_version    bigint NOT NULL,
  organization_id text   NOT NULL,
  PRIMARY KEY (scope_level, scope_id, rule_id, position)
);
CREATE INDEX IF NOT EXISTS ceiling_rules_dimension ON __SCHEMA__.ceiling_rules (scope_level, scope_id, dimension, rule_id, position);

CREATE TABLE IF NOT EXISTS __SCHEMA__.delegations (
  scope_level   text    NOT NULL,
  scope_id      text    NOT NULL,
  dimension     text    NOT NULL,
  position      bigint  NOT NULL,
  delegation_id text    NOT NULL,
  active        boolean NOT NULL,
  max_quantity  bigint,
  PRIMARY KEY (scope_level, scope_id, dimension, position)
);

-- Reservation ids are unique per organization (issue 10 item 12): the key
-- is (organization_id, reservation_id), here and in reservation_states.
CREATE TABLE IF NOT EXISTS __SCHEMA__.reservations (
  reservation_id  text        NOT NULL,
  organization_id text        NOT NULL,
  owner_level     text        NOT NULL,
  owner_id        text        NOT NULL,
  kind            text        NOT NULL,
  dimension       text        NOT NULL,
  region          text        NOT NULL,
  sku_or_model    text        NOT NULL,
  quantity        bigint      NOT NULL,
  unit            text        NOT NULL,
  window_start    timestamptz NOT NULL,
  window_end      timestamptz NOT NULL,
  attributes      jsonb       NOT NULL,
  position        bigint      NOT NULL,
  PRIMARY KEY (organization_id, reservation_id)
);
CREATE INDEX IF NOT EXISTS reservations_organization ON __SCHEMA__.reservations (organization_id, dimension);
CREATE INDEX IF NOT EXISTS reservations_owner ON __SCHEMA__.reservations (owner_level, owner_id, reservation_id);

-- NULL state / consumed: that event did not change it.
-- organization_id comes last so that a table upgraded in place (below) has
-- the columns in the same order as a new one (replay diffs compare rows).
CREATE TABLE IF NOT EXISTS __SCHEMA__.reservation_states (
  reservation_id  text   NOT NULL,
  position        bigint NOT NULL,
  state           text,
  consumed        bigint,
  version         bigint NOT NULL,
  organization_id text   NOT NULL,
  PRIMARY KEY (organization_id, reservation_id, position)
);

-- Upgrading a read model from before ids were scoped per organization
-- (keys reservation_id and (reservation_id, position)): ids were global
-- then, so each state row's organization is its reservation's. Idempotent:
-- does nothing once the keys include organization_id.
ALTER TABLE __SCHEMA__.reservation_states ADD COLUMN IF NOT EXISTS organization_id text;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_constraint
             WHERE conrelid = '__SCHEMA__.reservations'::regclass AND contype = 'p' AND cardinality(conkey) = 1) THEN
    UPDATE __SCHEMA__.reservation_states t SET organization_id = r.organization_id
      FROM __SCHEMA__.reservations r WHERE t.organization_id IS NULL AND t.reservation_id = r.reservation_id;
    ALTER TABLE __SCHEMA__.reservation_states ALTER COLUMN organization_id SET NOT NULL;
    ALTER TABLE __SCHEMA__.reservation_states DROP CONSTRAINT reservation_states_pkey;
    ALTER TABLE __SCHEMA__.reservation_states ADD PRIMARY KEY (organization_id, reservation_id, position);
    ALTER TABLE __SCHEMA__.reservations DROP CONSTRAINT reservations_pkey;
    ALTER TABLE __SCHEMA__.reservations ADD PRIMARY KEY (organization_id, reservation_id);
  END IF;
END $$;

-- Who may do what here (README "Database roles"): the projector (and the
-- legacy ledger_app) read and write, the query service and auditors only read.
-- Only the schema's owner grants: the migrator for the live schema, the
-- projector or auditor for the scratch schema it just created. Default
-- privileges give tables added later by that owner the same grants.
DO $$
DECLARE
  schema_owner name := (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = '__SCHEMA__');
  r     text;
BEGIN
  IF NOT pg_has_role(schema_owner, 'USAGE') THEN
    RETURN;
  END IF;
  REVOKE ALL ON ALL TABLES IN SCHEMA __SCHEMA__ FROM PUBLIC;
  FOREACH r IN ARRAY ARRAY['ledger_command', 'ledger_relay', 'ledger_query', 'ledger_auditor'] LOOP
    IF r <> schema_owner THEN
      EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA __SCHEMA__ FROM %I', r);
    END IF;
  END LOOP;
  GRANT USAGE ON SCHEMA __SCHEMA__ TO ledger_projector, ledger_query, ledger_auditor, ledger_app, ledger_command;
  GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA __SCHEMA__ TO ledger_projector, ledger_app;
  GRANT SELECT ON ALL TABLES IN SCHEMA __SCHEMA__ TO ledger_query, ledger_auditor;
  -- ledger_command resolves policy values for the principals it serves (live
  -- token lifetime and rate limits, commands/request_gate.h):
  -- it reads these tables and writes no read model.
  GRANT SELECT ON __SCHEMA__.checkpoints, __SCHEMA__.policy_keys, __SCHEMA__.policy_values,
    __SCHEMA__.scope_nodes, __SCHEMA__.scope_links, __SCHEMA__.token_revocations TO ledger_command;
  ALTER DEFAULT PRIVILEGES IN SCHEMA __SCHEMA__
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ledger_projector, ledger_app;
  ALTER DEFAULT PRIVILEGES IN SCHEMA __SCHEMA__ GRANT SELECT ON TABLES TO ledger_query, ledger_auditor;
END $$;
