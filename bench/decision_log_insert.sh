#!/usr/bin/env bash
# What PostgreSQL spends to store logged decisions, four ways, on the same
# rows: ROWS (5,000) of the most recent records of decision_log.decisions
# (the dev stack's, after a decision benchmark) copied into a scratch
# schema, then written again in batches of 1,000 into empty copies of the
# table (its five indexes and lz4 included), with psql's \timing:
#   statement_jsonb  the projector's statement before COPY: the batch as one
#                    JSON array, taken apart by jsonb_array_elements, into
#                    jsonb columns
#   unnest_json      fifteen text arrays (unnest), input and output cast to
#                    json
#   copy_json        COPY of the rows, fields apart, into json columns (what
#                    the projector does now, migration 008)
#   copy_jsonb       the same COPY into jsonb columns
# Prints each way's milliseconds per batch, then drops the scratch schema.
# Wall time of a single backend: run it on a machine otherwise at rest.
#
# Usage: bench/decision_log_insert.sh
# Settings: LEDGER_PROFILE (dev), ROWS (5000).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
eval "$(LEDGER_PROFILE="${LEDGER_PROFILE:-dev}" scripts/infra.sh env)"
ROWS="${ROWS:-5000}"
BATCHES=$((ROWS / 1000))
[ "$BATCHES" -ge 1 ] || { echo "ROWS must be at least 1000" >&2; exit 2; }
OUT="$(mktemp -d -t decision_log_insert.XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
PSQL=(psql -X -q -v ON_ERROR_STOP=1 "$LEDGER_PG_ADMIN_URL")
COLS="kind, decision_id, recorded_at, as_of, organization_id, project_id, actor_tenant, actor_type, actor_id, correlation_id, decision, reason_code, snapshot_version, input, output"

"${PSQL[@]}" <<SQL
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench_dl CASCADE;
CREATE SCHEMA bench_dl;
CREATE TABLE bench_dl.src AS SELECT $COLS FROM decision_log.decisions ORDER BY seq DESC LIMIT $ROWS;
CREATE TABLE bench_dl.statement_jsonb (LIKE decision_log.decisions INCLUDING ALL);
ALTER TABLE bench_dl.statement_jsonb ALTER COLUMN input TYPE jsonb USING input::jsonb,
  ALTER COLUMN output TYPE jsonb USING output::jsonb, ALTER COLUMN input SET COMPRESSION lz4,
  ALTER COLUMN output SET COMPRESSION lz4;
CREATE TABLE bench_dl.copy_jsonb (LIKE bench_dl.statement_jsonb INCLUDING ALL);
CREATE TABLE bench_dl.unnest_json (LIKE decision_log.decisions INCLUDING ALL);
ALTER TABLE bench_dl.unnest_json ALTER COLUMN input TYPE json USING input::json,
  ALTER COLUMN output TYPE json USING output::json, ALTER COLUMN input SET COMPRESSION lz4,
  ALTER COLUMN output SET COMPRESSION lz4;
CREATE TABLE bench_dl.copy_json (LIKE bench_dl.unnest_json INCLUDING ALL);
SQL
have=$("${PSQL[@]}" -At -c "SELECT count(*) FROM bench_dl.src")
[ "$have" -ge $((BATCHES * 1000)) ] || {
  echo "decision_log.decisions holds $have rows; run a decision benchmark first" >&2
  "${PSQL[@]}" -c "SET client_min_messages = warning" -c "DROP SCHEMA bench_dl CASCADE"
  exit 1
}

# Each batch's inputs, prepared outside the timed statements.
record="json_build_object('kind', kind, 'decision_id', decision_id, 'recorded_at', recorded_at, 'as_of', as_of, 'organization_id', organization_id, 'project_id', project_id, 'actor', json_build_object('tenant', actor_tenant, 'actor_type', actor_type, 'actor_id', actor_id), 'correlation_id', correlation_id, 'decision', decision, 'reason_code', reason_code, 'snapshot_version', snapshot_version, 'input', input, 'output', output)"
arrays=""
i=1
for c in ${COLS//,/}; do
  arrays="$arrays, array_agg($c::text ORDER BY decision_id) AS a$i"
  i=$((i + 1))
done
{
  echo '\timing on'
  for k in $(seq 0 $((BATCHES - 1))); do
    batch="(SELECT * FROM bench_dl.src ORDER BY decision_id OFFSET $((k * 1000)) LIMIT 1000) s"
    "${PSQL[@]}" -c "\\copy (SELECT $COLS FROM $batch) TO '$OUT/b$k.copy'"  > /dev/null
    echo '\echo setup'
    echo "SELECT '[' || string_agg($record::text, ',') || ']' AS p FROM $batch \\gset"
    echo '\echo statement_jsonb'
    echo "INSERT INTO bench_dl.statement_jsonb ($COLS) SELECT coalesce(r->>'kind', 'admission'), r->>'decision_id', (r->>'recorded_at')::timestamptz, (r->>'as_of')::timestamptz, r->>'organization_id', r->>'project_id', r->'actor'->>'tenant', r->'actor'->>'actor_type', r->'actor'->>'actor_id', r->>'correlation_id', r->>'decision', r->>'reason_code', (r->>'snapshot_version')::bigint, r->'input', r->'output' FROM jsonb_array_elements(:'p'::jsonb) WITH ORDINALITY AS t(r, n) ORDER BY n ON CONFLICT (decision_id) DO NOTHING;"
    echo '\echo setup'
    echo "SELECT ${arrays:2} FROM $batch \\gset"
    echo '\echo unnest_json'
    echo "INSERT INTO bench_dl.unnest_json ($COLS) SELECT a1, a2, a3::timestamptz, a4::timestamptz, a5, a6, a7, a8, a9, a10, a11, a12, a13::bigint, a14::json, a15::json FROM unnest(:'a1'::text[], :'a2'::text[], :'a3'::text[], :'a4'::text[], :'a5'::text[], :'a6'::text[], :'a7'::text[], :'a8'::text[], :'a9'::text[], :'a10'::text[], :'a11'::text[], :'a12'::text[], :'a13'::text[], :'a14'::text[], :'a15'::text[]) AS t(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) ON CONFLICT (decision_id) DO NOTHING;"
    echo '\echo copy_json'
    echo "\\copy bench_dl.copy_json ($COLS) FROM '$OUT/b$k.copy'"
    echo '\echo copy_jsonb'
    echo "\\copy bench_dl.copy_jsonb ($COLS) FROM '$OUT/b$k.copy'"
  done
} > "$OUT/bench.sql"
"${PSQL[@]}" -f "$OUT/bench.sql" | awk '
  /^[a-z_]+$/ { way = $1; next }
  /^Time: / && way != "setup" { ms[way] = ms[way] sprintf(" %.1f", $2); if (!(way in seen)) { seen[way] = 1; order[++n] = way } }
  END { for (i = 1; i <= n; i++) printf "%-16s ms per 1,000 rows:%s\n", order[i], ms[order[i]] }'
"${PSQL[@]}" -c "SET client_min_messages = warning" -c "DROP SCHEMA bench_dl CASCADE"
