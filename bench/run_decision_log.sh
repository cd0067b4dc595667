#!/usr/bin/env bash
# The decision benchmark with the decision log on and off, side by side
# (issue 13 part 6), on a ledger of its own: a new database on the running
# PostgreSQL and topics of its own on the running Kafka of LEDGER_PROFILE
# (default test: `scripts/infra.sh` must have started them), the four
# services started here with the superuser's and the Kafka admin's logins
# (this measures the decision path, not the roles), stopped again at the
# end. For each mode ledger-query is (re)started with --decision-log on|off
# and build/bench/decision-load runs the open-loop rates and a batch run;
# with the log on the script then counts decisions answered against
# records in decision_log.decisions (GET /v1/decisions/log/status), and
# divides the CPU ledger-projector and PostgreSQL spent, from the first
# decision until the last record was stored, by the records.
#
# Usage: bench/run_decision_log.sh [nodes]
# Settings: BENCH_SECONDS (10), BENCH_RATES ("200 500"), BENCH_CONNECTIONS
# (8), BATCH_SIZE (100), BATCH_CONNECTIONS (4), LEDGER_BUILD_DIR (build/).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
NODES="${1:-2000}"
SECS="${BENCH_SECONDS:-10}"
RATES="${BENCH_RATES:-200 500}"
CONNS="${BENCH_CONNECTIONS:-8}"
BATCH_SIZE="${BATCH_SIZE:-100}"
BATCH_CONNECTIONS="${BATCH_CONNECTIONS:-4}"
BUILD_DIR="${LEDGER_BUILD_DIR:-$REPO/build}"
INFRA="${LEDGER_INFRA_SCRIPT:-$REPO/scripts/infra.sh}"
eval "$(cd "$(dirname "$INFRA")/.." && LEDGER_PROFILE="${LEDGER_PROFILE:-test}" "$INFRA" env)"
OUT="$(mktemp -d -t run_decision_log.XXXXXX)"
TAG="dlbench$$"
DB="$TAG"
ADMIN_URL="${LEDGER_PG_ADMIN_URL%/*}/$DB"
CPORT=$((18000 + $$ % 1000)); QPORT=$((CPORT + 1000))
log() { echo "== $*"; }

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "${LEDGER_PG_ADMIN_URL}" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
}
trap cleanup EXIT

psql -q "$LEDGER_PG_ADMIN_URL" -c "CREATE DATABASE $DB" >/dev/null
LEDGER_PG_ADMIN_URL="$ADMIN_URL" "$BUILD_DIR/services/ledger-admin" migrate >"$OUT/migrate.log" 2>&1
export LEDGER_PG_URL="$ADMIN_URL"
export LEDGER_EVENTS_TOPIC="ledger.events.$TAG" LEDGER_COMMANDS_TOPIC="ledger.commands.$TAG"
export LEDGER_RESULTS_TOPIC="ledger.command-results.$TAG" LEDGER_COMMANDS_DLQ_TOPIC="ledger.commands-dlq.$TAG"
export LEDGER_DECISIONS_TOPIC="ledger.decisions.$TAG" LEDGER_DECISION_LOG_RETENTION_MS=3600000
export LEDGER_COMMAND_GROUP="ledger-command.$TAG" LEDGER_PROJECTOR_GROUP="ledger-projector.$TAG"
export LEDGER_QUERY_MEMORY_GROUP="ledger-query.$TAG" LEDGER_COMMAND_PORT="$CPORT" LEDGER_QUERY_PORT="$QPORT"
export LEDGER_TOKENS_FILE="$REPO/config/tokens.json" LEDGER_LOG_LEVEL=warn
ready() { curl -fs -o /dev/null "http://127.0.0.1:$1/readyz" 2>/dev/null; }
wait_ready() { for _ in $(seq 1 120); do ready "$1" && return 0; sleep 0.5; done; echo "port $1 not ready" >&2; exit 1; }

start() {  # binary [args...]
  "$BUILD_DIR/services/$1" "${@:2}" >"$OUT/$1.log" 2>&1 &
  PIDS+=($!)
}
start ledger-command
wait_ready "$CPORT"
start ledger-relay
start ledger-projector
PROJECTOR_PID="${PIDS[-1]}"
DL=("$BUILD_DIR/bench/decision-load" --prefix "$TAG" --nodes "$NODES" --command-port "$CPORT" --query-port "$QPORT")

QUERY_PID=""
start_query() {  # on|off
  [ -n "$QUERY_PID" ] && { kill "$QUERY_PID"; wait "$QUERY_PID" 2>/dev/null || true; }
  LEDGER_DECISION_LOG="$1" "$BUILD_DIR/services/ledger-query" >"$OUT/ledger-query.$1.log" 2>&1 &
  QUERY_PID=$!
  PIDS+=("$QUERY_PID")
  wait_ready "$QPORT"
}
start_query on
log "load: $NODES scope nodes"
"${DL[@]}" load --clients 8 >"$OUT/load.out"
status() { curl -s -H 'Authorization: Bearer dev-platform-admin' "http://127.0.0.1:$QPORT/v1/decisions/log/status"; }

# CPU time in clock ticks (1/100 s): of one process, and of every
# PostgreSQL process (the server's backends write the log's rows).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pg_ticks() {
  local p s=0
  for p in $(pgrep -x postgres); do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$s"
}
for mode in off on; do
  start_query "$mode"
  p0="$(ticks "$PROJECTOR_PID")"; g0="$(pg_ticks)"
  log "decision log $mode: open loop at $RATES/s for ${SECS}s, $CONNS connections"
  "${DL[@]}" run --rate $RATES --duration "$SECS" --connections "$CONNS" | tee "$OUT/run.$mode.out"
  log "decision log $mode: batches of $BATCH_SIZE x $BATCH_CONNECTIONS for ${SECS}s"
  "${DL[@]}" batch --batch-size "$BATCH_SIZE" --connections "$BATCH_CONNECTIONS" --duration "$SECS" | tee "$OUT/batch.$mode.out"
  if [ "$mode" = on ]; then
    # Counted end to end: every answered decision went through the buffer
    # (accepted) or was dropped; the table must reach `accepted`.
    for _ in $(seq 1 120); do
      s="$(status)"
      acc="$(sed -nE 's/.*"accepted":([0-9]+).*/\1/p' <<<"$s")"
      logged="$(sed -nE 's/.*"logged":([0-9]+).*/\1/p' <<<"$s")"
      [ -n "$acc" ] && [ "$acc" = "$logged" ] && break
      sleep 1
    done
    log "decision log on: status $(status)"
    p1="$(ticks "$PROJECTOR_PID")"; g1="$(pg_ticks)"
    # From the first decision of this mode until the table held them all:
    # decoding, inserting and committing each record.
    [ "${logged:-0}" -gt 0 ] &&
      log "decision log on: ledger-projector $(((p1 - p0) * 10000 / logged)) us and PostgreSQL" \
      "$(((g1 - g0) * 10000 / logged)) us of CPU per stored record ($logged records)"
  fi
done
log "full output in $OUT"
