#!/usr/bin/env bash
# Admission decisions under load (issue 3), with a PostgreSQL baseline
# measured in the same run on the same machine:
#   1. load:     build/bench/decision-load builds a hierarchy of at least
#                NODES scope nodes through the command API and waits until the
#                query service's admission read model has it;
#   2. baseline: pgbench, CONNECTIONS sessions each running one primary-key
#                SELECT of a random project row of the read model's
#                scope_nodes table per transaction; and a decision-shaped
#                variant: 9 such SELECTs in 2 read-only repeatable-read
#                transactions (the statements and transactions of one
#                decision, each reduced to a primary-key probe);
#   3. run:      POST /v1/decisions open-loop at fixed rates (latency from the
#                due time, so queueing counts);
#   4. max:      closed loop to find the capacity, then open-loop steps: the
#                highest rate held with p99 under P99_BOUND_MS;
#   5. batch:    POST /v1/decisions:batch, BATCH_SIZE decisions per call.
# Then a summary with the ratios to the baseline.
#
# Usage: bench/run_decisions.sh [nodes] [connections]
# Starts PostgreSQL, Kafka and the four services (`./ledgerctl up`, dev
# profile) when the command and query services are not both ready; builds
# decision-load in LEDGER_BUILD_DIR (default build/).
# Settings: BENCH_SECONDS (20, per measured run), BENCH_RATES ("200 500 1000"),
# P99_BOUND_MS (50), BATCH_SIZE (100), BATCH_CONNECTIONS (4),
# LOAD_CLIENTS (32), BENCH_PREFIX (bench: the ids of the hierarchy; loading
# the same prefix again only replays duplicates), BENCH_OUT (a directory for
# every tool's full output; default a new temporary one).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
NODES="${1:-100000}"
CONNECTIONS="${2:-16}"
SECONDS_RUN="${BENCH_SECONDS:-20}"
RATES="${BENCH_RATES:-200 500 1000}"
P99_BOUND_MS="${P99_BOUND_MS:-50}"
BATCH_SIZE="${BATCH_SIZE:-100}"
BATCH_CONNECTIONS="${BATCH_CONNECTIONS:-4}"
LOAD_CLIENTS="${LOAD_CLIENTS:-32}"
PREFIX="${BENCH_PREFIX:-bench}"
OUT="${BENCH_OUT:-$(mktemp -d -t run_decisions.XXXXXX)}"  # every tool's full output
BUILD_DIR="${LEDGER_BUILD_DIR:-$REPO/build}"
COMMAND_PORT="${LEDGER_COMMAND_PORT:-8081}"
QUERY_PORT="${LEDGER_QUERY_PORT:-8082}"
TOKEN="${LEDGER_ADMIN_TOKEN:-dev-platform-admin}"

log() { echo "== $*"; }
ready() { curl -fs -o /dev/null "http://127.0.0.1:$1/readyz" 2>/dev/null; }
# field JSON-LINE NAME: the value of a (unique) key of a flat JSON line.
field() { sed -nE "s/.*\"$2\":\"?([^\",}]*)\"?[,}].*/\1/p" <<<"$1"; }

if ! ready "$COMMAND_PORT" || ! ready "$QUERY_PORT"; then
  log "starting the ledger: ./ledgerctl up (LEDGER_BUILD_DIR=$BUILD_DIR)"
  LEDGER_BUILD_DIR="$BUILD_DIR" ./ledgerctl up
fi
eval "$(LEDGER_PROFILE=dev scripts/infra.sh env)"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
SCHEMA="${LEDGER_READ_MODEL_SCHEMA:-rm}"

# The running query service must have the decision API (an old binary
# answers 404 unknown_route).
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -X POST \
  "http://127.0.0.1:$QUERY_PORT/v1/decisions" --json '{}')
if [ "$status" = 404 ]; then
  echo "the running ledger-query has no POST /v1/decisions; restart it from a current build:" >&2
  echo "  ./ledgerctl down && LEDGER_BUILD_DIR=$BUILD_DIR ./ledgerctl up" >&2
  exit 1
fi

if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S "$REPO" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${LEDGER_BUILD_TYPE:-Release}" >/dev/null
fi
if ! cmake --build "$BUILD_DIR" --target decision-load >/dev/null; then
  [ -x "$BUILD_DIR/bench/decision-load" ] || { echo "decision-load does not build" >&2; exit 1; }
  echo "warning: decision-load did not rebuild; using the existing binary" >&2
fi
# The load principal's requests must not meet the catalog's 120/minute.
bench/raise_limits.sh "${BENCH_PRINCIPAL:-platform-admin}" "$COMMAND_PORT" "$TOKEN"
DL=("$BUILD_DIR/bench/decision-load" --prefix "$PREFIX" --nodes "$NODES" --command-port "$COMMAND_PORT"
    --query-port "$QUERY_PORT" --token "$TOKEN" --json)

log "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ); build $(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")"

log "1. load: a hierarchy of $NODES+ scope nodes through the command API ($LOAD_CLIENTS clients)"
"${DL[@]}" load --clients "$LOAD_CLIENTS" | tee "$OUT/load.out"
load_out=$(cat "$OUT/load.out")
load_json=$(grep '^{' <<<"$load_out" | tail -n1)
projects=$(field "$load_json" projects)
[ "$(field "$load_json" read_model_ready)" = true ] || { echo "the read model did not catch up" >&2; exit 1; }
node_rows=$(psql -qtA "$LEDGER_PG_ADMIN_URL" -c "SELECT count(*) FROM $SCHEMA.scope_nodes")
log "read model: $node_rows rows in $SCHEMA.scope_nodes"

log "2. baseline: pgbench primary-key SELECT on $SCHEMA.scope_nodes ($CONNECTIONS clients, ${SECONDS_RUN}s)"
script=$(mktemp)
cat >"$script" <<SQL
\set k random(0, $((projects - 1)))
SELECT level, node_id, organization_id, name, position FROM $SCHEMA.scope_nodes WHERE level = 'project' AND node_id = '$PREFIX-p' || :k;
SQL
pg_out=$("$PG_BIN/pgbench" -n -M extended -f "$script" -c "$CONNECTIONS" -j 2 -T "$SECONDS_RUN" "$LEDGER_PG_ADMIN_URL" 2>/dev/null)
rm -f "$script"
pg_tps=$(awk '/^tps/{print int($3)}' <<<"$pg_out")
pg_lat=$(awk '/^latency average/{print $4}' <<<"$pg_out")
echo "pgbench PK SELECT transactions/s: $pg_tps (average latency $pg_lat ms)"
# The round trips of one decision without their query work: a decision reads
# in two read-only repeatable-read transactions (admission: checkpoint, chain,
# rules, delegations, reservations, registry; policy values: checkpoint, key,
# values), so: the same shape, every statement a primary-key probe.
script=$(mktemp)
{
  echo "\\set k random(0, $((projects - 1)))"
  echo "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
  for _ in 1 2 3 4 5 6; do
    echo "SELECT level, node_id, organization_id, name, position FROM $SCHEMA.scope_nodes WHERE level = 'project' AND node_id = '$PREFIX-p' || :k;"
  done
  echo "COMMIT;"
  echo "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
  for _ in 1 2 3; do
    echo "SELECT level, node_id, organization_id, name, position FROM $SCHEMA.scope_nodes WHERE level = 'project' AND node_id = '$PREFIX-p' || :k;"
  done
  echo "COMMIT;"
} >"$script"
pg9_out=$("$PG_BIN/pgbench" -n -M extended -f "$script" -c "$CONNECTIONS" -j 2 -T "$SECONDS_RUN" "$LEDGER_PG_ADMIN_URL" 2>/dev/null)
rm -f "$script"
pg9_tps=$(awk '/^tps/{print int($3)}' <<<"$pg9_out")
echo "pgbench decision-shaped (9 PK SELECTs in 2 read-only transactions) transactions/s: $pg9_tps"

log "3. run: POST /v1/decisions open loop at $RATES decisions/s ($CONNECTIONS connections, ${SECONDS_RUN}s each)"
# shellcheck disable=SC2086
"${DL[@]}" run --rate $RATES --duration "$SECONDS_RUN" --connections "$CONNECTIONS" | tee "$OUT/run.out"
run_out=$(cat "$OUT/run.out")

log "4. max: closed loop, then open-loop steps until p99 > ${P99_BOUND_MS} ms ($CONNECTIONS connections)"
"${DL[@]}" max --connections "$CONNECTIONS" --probe-seconds "$SECONDS_RUN" --p99-bound-ms "$P99_BOUND_MS" \
  | tee "$OUT/max.out" || true
max_out=$(cat "$OUT/max.out")
max_json=$(grep '"mode":"max"' <<<"$max_out" | tail -n1)

log "5. batch: POST /v1/decisions:batch, $BATCH_SIZE per call ($BATCH_CONNECTIONS connections, ${SECONDS_RUN}s)"
"${DL[@]}" batch --batch-size "$BATCH_SIZE" --connections "$BATCH_CONNECTIONS" --duration "$SECONDS_RUN" \
  | tee "$OUT/batch.out"
batch_out=$(cat "$OUT/batch.out")
batch_json=$(grep '^{' <<<"$batch_out" | tail -n1)

log "summary ($(field "$load_json" scope_nodes) scope nodes, $projects projects; pgbench PK SELECT $pg_tps tx/s)"
printf '%-34s %12s %10s %10s %10s %10s %22s\n' "" "decisions/s" "p50 ms" "p90 ms" "p99 ms" "max ms" "allow/warn/deny %"
row() {  # label json
  local j=$2 a w d n
  a=$(field "$j" allow); w=$(field "$j" warn); d=$(field "$j" deny); n=$((a + w + d))
  [ "$n" -gt 0 ] || n=1
  printf '%-34s %12.0f %10.2f %10.2f %10.2f %10.2f %22s\n' "$1" "$(field "$j" decisions_per_s)" "$(field "$j" p50_ms)" \
    "$(field "$j" p90_ms)" "$(field "$j" p99_ms)" "$(field "$j" max_ms)" \
    "$((100 * a / n))/$((100 * w / n))/$((100 * d / n))"
}
while read -r j; do
  row "open loop $(field "$j" target_rate | cut -d. -f1)/s" "$j"
done < <(grep '"mode":"run"' <<<"$run_out")
row "closed loop x$CONNECTIONS" "$(grep '"mode":"max_closed"' <<<"$max_out" | tail -n1)"
while read -r j; do
  if [ "$(field "$j" held)" = true ]; then row "max held: $(field "$j" target_rate | cut -d. -f1)/s" "$j"; fi
done < <(grep '"mode":"max_step"' <<<"$max_out") | tail -n1
row "batch of $BATCH_SIZE x$BATCH_CONNECTIONS (per call)" "$batch_json"
closed=$(field "$(grep '"mode":"max_closed"' <<<"$max_out" | tail -n1)" decisions_per_s)
awk -v m="$(field "$max_json" max_held_rate)" -v c="$closed" -v b="$(field "$batch_json" decisions_per_s)" \
  -v p="$pg_tps" -v p9="$pg9_tps" -v bound="$P99_BOUND_MS" 'BEGIN {
  printf "highest rate held with p99 <= %s ms: %.0f decisions/s\n", bound, m;
  printf "ratios to pgbench PK SELECT tx/s (%d):          max held %.3f   closed loop %.3f   batch %.3f\n", p, m / p, c / p, b / p;
  printf "ratios to pgbench decision-shaped tx/s (%d):    max held %.3f   closed loop %.3f   batch %.3f\n", p9, m / p9, c / p9, b / p9 }'
echo "full output: $OUT"
