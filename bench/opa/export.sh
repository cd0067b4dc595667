#!/usr/bin/env bash
# The read model (schema rm) at one position as Open Policy Agent's data
# document for bench/opa/admission.rego (data.ledger.read_model):
#
#   bench/opa/export.sh [position] > read_model.json
#   curl -X PUT --data-binary @read_model.json http://127.0.0.1:8181/v1/data/ledger/read_model
#
# position: default the admission checkpoint (what the query service has
# projected). Every table is read as the ledger's SQL path reads it: the
# latest row of each entity at or below the position, in one read-only
# repeatable-read transaction. The document:
#   position
#   nodes[<scope>]     {chain: [<scope>, ... "organization:o", "plan:p", "global"],
#                       version, expires_at_ns}: the chain is followed through the
#                       latest scope_links (only nodes whose links reach an
#                       organization); version is the node's latest link's
#   rules[<scope>][<dimension>]        [{rule_id, rule_version, window, region,
#                                        sku_or_model, quantity, unit}] (not cleared)
#   delegations[<scope>][<dimension>]  {delegation_id, max_quantity, version} (active;
#                                        version = its delegation rows so far)
#   reservations[<org>][<dimension>]   [{reservation_id, owner, region, sku_or_model,
#                                        quantity, state, window_start_ns, window_end_ns}]
#   registry[<kind>][<entry_id>]       {version, attributes}
#   warn_threshold     {defined, default, values[<scope>]: [{value, tenant,
#                       effective_at_ns, position}]} for quota.warn_threshold_percent
# <scope> is "global" or "<level>:<id>" (domain::scope_text).
#
# Connection: LEDGER_PG_ADMIN_URL (scripts/infra.sh env), schema
# LEDGER_READ_MODEL_SCHEMA (default rm).
set -euo pipefail
: "${LEDGER_PG_ADMIN_URL:?set it: eval \"\$(LEDGER_PROFILE=dev scripts/infra.sh env)\"}"
SCHEMA="${LEDGER_READ_MODEL_SCHEMA:-rm}"
[[ "$SCHEMA" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "bad schema name: $SCHEMA" >&2; exit 2; }
POSITION="${1:-}"
if [ -z "$POSITION" ]; then
  POSITION=$(psql -qtAX "$LEDGER_PG_ADMIN_URL" \
    -c "SELECT coalesce((SELECT position FROM $SCHEMA.checkpoints WHERE projection = 'admission'), 0)")
fi
[[ "$POSITION" =~ ^[0-9]+$ ]] || { echo "bad position: $POSITION" >&2; exit 2; }

# ns since the epoch of a timestamptz (OPA's time.now_ns() scale).
ns() { echo "((extract(epoch from $1) * 1000000)::bigint * 1000)"; }

psql -qtAX -v ON_ERROR_STOP=1 "$LEDGER_PG_ADMIN_URL" <<SQL
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
WITH RECURSIVE
latest AS (
  SELECT DISTINCT ON (level, node_id) level, node_id, parent_level, parent_id, version
  FROM $SCHEMA.scope_links WHERE position <= $POSITION
  ORDER BY level, node_id, position DESC
),
up AS (
  SELECT l.level AS start_level, l.node_id AS start_id, 0 AS depth, l.level, l.node_id, l.parent_level, l.parent_id
  FROM latest l
  UNION ALL
  SELECT u.start_level, u.start_id, u.depth + 1, l.level, l.node_id, l.parent_level, l.parent_id
  FROM up u JOIN latest l ON l.level = u.parent_level AND l.node_id = u.parent_id
  WHERE u.level <> 'organization' AND u.depth < 64
),
chains AS (
  SELECT start_level, start_id,
         array_agg(level || ':' || node_id ORDER BY depth)
           || array['plan:' || max(parent_id) FILTER (WHERE level = 'organization'), 'global'] AS chain
  FROM up GROUP BY start_level, start_id
  HAVING bool_or(level = 'organization')
),
nodes AS (
  SELECT jsonb_object_agg(c.start_level || ':' || c.start_id,
           jsonb_build_object('chain', to_jsonb(c.chain), 'version', l.version,
                              'expires_at_ns', $(ns n.expires_at))) AS doc
  FROM chains c
  JOIN latest l ON l.level = c.start_level AND l.node_id = c.start_id
  LEFT JOIN $SCHEMA.scope_nodes n ON n.level = c.start_level AND n.node_id = c.start_id
),
rule_rows AS (
  SELECT * FROM (
    SELECT DISTINCT ON (scope_level, scope_id, rule_id) *
    FROM $SCHEMA.ceiling_rules WHERE position <= $POSITION
    ORDER BY scope_level, scope_id, rule_id, position DESC) r
  WHERE quantity IS NOT NULL
),
rules_by_dim AS (
  SELECT CASE WHEN scope_level = 'global' THEN 'global' ELSE scope_level || ':' || scope_id END AS scope, dimension,
         jsonb_agg(jsonb_build_object('rule_id', rule_id, 'rule_version', rule_version, 'window', "window",
                                      'region', region, 'sku_or_model', sku_or_model, 'quantity', quantity,
                                      'unit', unit) ORDER BY rule_id) AS list
  FROM rule_rows GROUP BY 1, 2
),
rules AS (
  SELECT jsonb_object_agg(scope, dims) AS doc
  FROM (SELECT scope, jsonb_object_agg(dimension, list) AS dims FROM rules_by_dim GROUP BY scope) s
),
delegation_rows AS (
  SELECT * FROM (
    SELECT DISTINCT ON (scope_level, scope_id, dimension) d.*,
           count(*) OVER (PARTITION BY scope_level, scope_id, dimension) AS version
    FROM $SCHEMA.delegations d WHERE position <= $POSITION
    ORDER BY scope_level, scope_id, dimension, position DESC) x
  WHERE active
),
delegations AS (
  SELECT jsonb_object_agg(scope, dims) AS doc FROM (
    SELECT CASE WHEN scope_level = 'global' THEN 'global' ELSE scope_level || ':' || scope_id END AS scope,
           jsonb_object_agg(dimension, jsonb_build_object('delegation_id', delegation_id,
                                                          'max_quantity', max_quantity, 'version', version)) AS dims
    FROM delegation_rows GROUP BY 1) s
),
reservation_rows AS (
  SELECT r.organization_id, r.dimension,
         jsonb_build_object(
           'reservation_id', r.reservation_id, 'owner', r.owner_level || ':' || r.owner_id,
           'region', r.region, 'sku_or_model', r.sku_or_model, 'quantity', r.quantity,
           'state', coalesce((SELECT t.state FROM $SCHEMA.reservation_states t
                              WHERE t.organization_id = r.organization_id AND t.reservation_id = r.reservation_id
                                AND t.position <= $POSITION AND t.state IS NOT NULL
                              ORDER BY t.position DESC LIMIT 1), 'draft'),
           'window_start_ns', $(ns r.window_start), 'window_end_ns', $(ns r.window_end)) AS item,
         r.reservation_id
  FROM $SCHEMA.reservations r WHERE r.position <= $POSITION
),
reservations AS (
  SELECT jsonb_object_agg(organization_id, dims) AS doc FROM (
    SELECT organization_id, jsonb_object_agg(dimension, list) AS dims FROM (
      SELECT organization_id, dimension, jsonb_agg(item ORDER BY reservation_id) AS list
      FROM reservation_rows GROUP BY 1, 2) x
    GROUP BY organization_id) s
),
registry AS (
  SELECT jsonb_object_agg(kind, entries) AS doc FROM (
    SELECT kind, jsonb_object_agg(entry_id, jsonb_build_object('version', version, 'attributes', attributes)) AS entries
    FROM (SELECT DISTINCT ON (kind, entry_id) * FROM $SCHEMA.registry_entries WHERE position <= $POSITION
          ORDER BY kind, entry_id, position DESC) e
    GROUP BY kind) s
),
threshold_values AS (
  SELECT jsonb_object_agg(scope, list) AS doc FROM (
    SELECT CASE WHEN scope_level = 'global' THEN 'global' ELSE scope_level || ':' || scope_id END AS scope,
           jsonb_agg(jsonb_build_object('value', value, 'tenant', tenant,
                                        'effective_at_ns', $(ns effective_at), 'position', position)
                     ORDER BY position) AS list
    FROM $SCHEMA.policy_values
    WHERE key = 'quota.warn_threshold_percent' AND position <= $POSITION AND scope_level <> 'user'
    GROUP BY 1) s
),
threshold AS (
  SELECT jsonb_build_object(
    'defined', k.key IS NOT NULL,
    'default', coalesce(k.default_value, '80'::jsonb),
    'values', coalesce((SELECT doc FROM threshold_values), '{}'::jsonb)) AS doc
  FROM (SELECT 1) one
  LEFT JOIN $SCHEMA.policy_keys k ON k.key = 'quota.warn_threshold_percent' AND k.position <= $POSITION
)
SELECT jsonb_build_object(
  'position', $POSITION,
  'nodes', coalesce((SELECT doc FROM nodes), '{}'::jsonb),
  'rules', coalesce((SELECT doc FROM rules), '{}'::jsonb),
  'delegations', coalesce((SELECT doc FROM delegations), '{}'::jsonb),
  'reservations', coalesce((SELECT doc FROM reservations), '{}'::jsonb),
  'registry', coalesce((SELECT doc FROM registry), '{}'::jsonb),
  'warn_threshold', (SELECT doc FROM threshold))::text;
COMMIT;
SQL
