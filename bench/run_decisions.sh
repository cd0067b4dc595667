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
#   5. batch:    POST /v1/decisions:batch, BATCH_SIZE decisions per call;
#   6. opa:      Open Policy Agent beside it (BENCH_OPA=0 skips): the read
#                model exported as OPA's data (bench/opa/export.sh), the
#                Rego port of the decision (bench/opa/admission.rego), an
#                agreement check of AGREE_INPUTS random inputs against the
#                ledger (bench/opa/agree.py; no OPA figures unless all
#                agree), then stages 3 and 4 against OPA with the same
#                decision-load (same inputs, connections and open-loop
#                rates, each body sent as {"input": ...}).
# CPU per decision, for stages 3+4: utime+stime from /proc/<pid>/stat of
# ledger-query and of PostgreSQL (postmaster, its backends, and what exited
# backends left in its cutime/cstime), and of the opa process, divided by
# the decisions answered over the same time (warm-ups included). Kafka, the
# relay and the projector (the decision log's path) are not counted.
# Then a summary with the ratios to the baselines and ledger / OPA.
#
# Usage: bench/run_decisions.sh [nodes] [connections]
# Starts PostgreSQL, Kafka and the four services (`./ledgerctl up`, dev
# profile) when the command and query services are not both ready; builds
# decision-load in LEDGER_BUILD_DIR (default build/).
# Settings: BENCH_SECONDS (20, per measured run), BENCH_RATES ("200 500 1000"),
# P99_BOUND_MS (50), BATCH_SIZE (100), BATCH_CONNECTIONS (4),
# LOAD_CLIENTS (32), BENCH_PREFIX (bench: the ids of the hierarchy; loading
# the same prefix again only replays duplicates), BENCH_OUT (a directory for
# every tool's full output; default a new temporary one), BENCH_OPA (1; 0
# skips stage 6), OPA_PORT (8181), OPA_VERSION (v1.22.4: `go install`ed
# once into .local/cache/opa-<version>/; GO, default go or
# /usr/local/go/bin/go), AGREE_INPUTS (300), LEDGER_BUILD_LOCK (a file to
# flock around the decision-load build, for a build tree others share).
#
# Example (a smoke run): BENCH_SECONDS=5 BENCH_RATES="200" bench/run_decisions.sh 2000 8
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
BENCH_OPA="${BENCH_OPA:-1}"
OPA_PORT="${OPA_PORT:-8181}"
OPA_VERSION="${OPA_VERSION:-v1.22.4}"
AGREE_INPUTS="${AGREE_INPUTS:-300}"

log() { echo "== $*"; }
ready() { curl -fs -o /dev/null "http://127.0.0.1:$1/readyz" 2>/dev/null; }
# field JSON-LINE NAME: the value of a (unique) key of a flat JSON line.
field() { sed -nE "s/.*\"$2\":\"?([^\",}]*)\"?[,}].*/\1/p" <<<"$1"; }
# ticks PID...: utime+stime of the processes (clock ticks; 0 for one that is
# gone). Fields counted after the ") " that closes the command name.
ticks() {
  local t=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] && t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$t"
}
# pg_ticks: PostgreSQL's CPU so far: the postmaster with its reaped children
# (cutime+cstime) and every live child.
pg_ticks() {
  local pm t
  pm=$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null) || { echo 0; return; }
  t=$(sed 's/.*) //' "/proc/$pm/stat" | awk '{print $12 + $13 + $14 + $15}')
  # shellcheck disable=SC2046
  echo $((t + $(ticks $(pgrep -P "$pm"))))
}
# answered FILE...: decisions answered in decision-load's JSON lines
# (warm-ups included), plus one probe per file.
answered() { grep -ho '"answered_total":[0-9]*' "$@" | awk -F: -v n=$# '{s += $2} END {print s + n}'; }
# us_per PERIOD_TICKS DECISIONS: CPU microseconds per decision.
us_per() { awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0) }'; }

if ! ready "$COMMAND_PORT" || ! ready "$QUERY_PORT"; then
  log "starting the ledger: ./ledgerctl up (LEDGER_BUILD_DIR=$BUILD_DIR)"
  LEDGER_BUILD_DIR="$BUILD_DIR" ./ledgerctl up
fi
eval "$(LEDGER_PROFILE=dev scripts/infra.sh env)"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
SCHEMA="${LEDGER_READ_MODEL_SCHEMA:-rm}"
PG_DATA=$(psql -qtAX "$LEDGER_PG_ADMIN_URL" -c 'SHOW data_directory' 2>/dev/null || true)
QUERY_PID=$(cat "$REPO/.local/dev/run/ledger-query.pid" 2>/dev/null || true)

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
build_lock=()
[ -z "${LEDGER_BUILD_LOCK:-}" ] || build_lock=(flock "$LEDGER_BUILD_LOCK")
if ! "${build_lock[@]}" cmake --build "$BUILD_DIR" --target decision-load >/dev/null; then
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

ledger_cpu0=$(ticks "$QUERY_PID"); pg_cpu0=$(pg_ticks)
log "3. run: POST /v1/decisions open loop at $RATES decisions/s ($CONNECTIONS connections, ${SECONDS_RUN}s each)"
# shellcheck disable=SC2086
"${DL[@]}" run --rate $RATES --duration "$SECONDS_RUN" --connections "$CONNECTIONS" | tee "$OUT/run.out"
run_out=$(cat "$OUT/run.out")

log "4. max: closed loop, then open-loop steps until p99 > ${P99_BOUND_MS} ms ($CONNECTIONS connections)"
"${DL[@]}" max --connections "$CONNECTIONS" --probe-seconds "$SECONDS_RUN" --p99-bound-ms "$P99_BOUND_MS" \
  | tee "$OUT/max.out" || true
max_out=$(cat "$OUT/max.out")
max_json=$(grep '"mode":"max"' <<<"$max_out" | tail -n1)
ledger_cpu=$(($(ticks "$QUERY_PID") - ledger_cpu0)); pg_cpu=$(($(pg_ticks) - pg_cpu0))
ledger_decisions=$(answered "$OUT/run.out" "$OUT/max.out")

log "5. batch: POST /v1/decisions:batch, $BATCH_SIZE per call ($BATCH_CONNECTIONS connections, ${SECONDS_RUN}s)"
"${DL[@]}" batch --batch-size "$BATCH_SIZE" --connections "$BATCH_CONNECTIONS" --duration "$SECONDS_RUN" \
  | tee "$OUT/batch.out"
batch_out=$(cat "$OUT/batch.out")
batch_json=$(grep '^{' <<<"$batch_out" | tail -n1)

# 6. Open Policy Agent answering the same decisions from an export of the
# read model. opa_state: skipped | disagree | measured.
opa_state=skipped
OPA_PID=
stop_opa() {
  if [ -n "$OPA_PID" ] && kill -0 "$OPA_PID" 2>/dev/null; then
    kill "$OPA_PID" && wait "$OPA_PID" 2>/dev/null || true
  fi
  OPA_PID=
}
trap stop_opa EXIT
if [ "$BENCH_OPA" != 0 ]; then
  log "6. opa: Open Policy Agent $OPA_VERSION on port $OPA_PORT with bench/opa/admission.rego"
  OPA_BIN="$REPO/.local/cache/opa-$OPA_VERSION/opa"
  if [ ! -x "$OPA_BIN" ]; then
    GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
    echo "installing opa $OPA_VERSION into ${OPA_BIN%/opa} (go install, once)"
    GOBIN="${OPA_BIN%/opa}" GOPATH="$REPO/.local/cache/go/path" GOMODCACHE="$REPO/.local/cache/go/mod" \
      GOCACHE="$REPO/.local/cache/go/build" "$GO" install "github.com/open-policy-agent/opa@$OPA_VERSION"
  fi
  "$OPA_BIN" version | sed -n 1p
  position=$(psql -qtAX "$LEDGER_PG_ADMIN_URL" \
    -c "SELECT position FROM $SCHEMA.checkpoints WHERE projection = 'admission'")
  t0=$(date +%s.%N)
  LEDGER_READ_MODEL_SCHEMA="$SCHEMA" bench/opa/export.sh "$position" >"$OUT/read_model.json"
  echo "read model at position $position exported in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}') s:" \
    "$(du -h "$OUT/read_model.json" | cut -f1), $OUT/read_model.json"
  if curl -s -o /dev/null "http://127.0.0.1:$OPA_PORT/"; then
    echo "port $OPA_PORT is taken (another OPA?): set OPA_PORT" >&2
    exit 1
  fi
  "$OPA_BIN" run --server --addr "127.0.0.1:$OPA_PORT" --log-level error "$REPO/bench/opa/admission.rego" \
    >"$OUT/opa.log" 2>&1 &
  OPA_PID=$!
  for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$OPA_PORT/health" && break; sleep 0.1; done
  kill -0 "$OPA_PID" 2>/dev/null || { echo "opa did not start: $OUT/opa.log" >&2; cat "$OUT/opa.log" >&2; exit 1; }
  curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/json' --data-binary @"$OUT/read_model.json" \
    "http://127.0.0.1:$OPA_PORT/v1/data/ledger/read_model"
  echo "opa pid $OPA_PID, data loaded (PUT /v1/data/ledger/read_model)"
  if python3 bench/opa/agree.py --data "$OUT/read_model.json" -n "$AGREE_INPUTS" --prefix "$PREFIX-" \
    --query-url "http://127.0.0.1:$QUERY_PORT" --opa-url "http://127.0.0.1:$OPA_PORT" --token "$TOKEN" \
    2>&1 | tee "$OUT/agree.out"; then
    OPA_DL=("$BUILD_DIR/bench/decision-load" --prefix "$PREFIX" --nodes "$NODES" --query-port "$OPA_PORT"
            --decision-path /v1/data/ledger/admission/decision --input-envelope --json)
    opa_cpu0=$(ticks "$OPA_PID")
    log "6a. opa run: open loop at $RATES decisions/s ($CONNECTIONS connections, ${SECONDS_RUN}s each)"
    # shellcheck disable=SC2086
    "${OPA_DL[@]}" run --rate $RATES --duration "$SECONDS_RUN" --connections "$CONNECTIONS" | tee "$OUT/opa_run.out"
    log "6b. opa max: closed loop, then open-loop steps until p99 > ${P99_BOUND_MS} ms ($CONNECTIONS connections)"
    "${OPA_DL[@]}" max --connections "$CONNECTIONS" --probe-seconds "$SECONDS_RUN" --p99-bound-ms "$P99_BOUND_MS" \
      | tee "$OUT/opa_max.out" || true
    opa_cpu=$(($(ticks "$OPA_PID") - opa_cpu0))
    opa_decisions=$(answered "$OUT/opa_run.out" "$OUT/opa_max.out")
    opa_state=measured
  else
    opa_state=disagree
    echo "the ledger and the Rego port disagree (above): no OPA figures" >&2
  fi
  stop_opa
fi

log "summary ($(field "$load_json" scope_nodes) scope nodes, $projects projects; pgbench PK SELECT $pg_tps tx/s)"
printf '%-34s %12s %10s %10s %10s %10s %22s\n' "" "decisions/s" "p50 ms" "p90 ms" "p99 ms" "max ms" "allow/warn/deny %"
row() {  # label json
  local j=$2 a w d n
  a=$(field "$j" allow); w=$(field "$j" warn); d=$(field "$j" deny); n=$((a + w + d))
  if [ "$(field "$j" ok)" = 0 ]; then  # nothing answered in time: no latencies to show
    printf '%-34s %12s   overloaded: no answer measured, %s due but not sent\n' "$1" 0 "$(field "$j" not_sent)"
    return
  fi
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
ledger_us=$(us_per "$ledger_cpu" "$ledger_decisions"); pg_us=$(us_per "$pg_cpu" "$ledger_decisions")
[ -n "$QUERY_PID" ] || ledger_us="n/a (no .local/dev/run/ledger-query.pid)"
echo "CPU per decision over stages 3+4 ($ledger_decisions decisions): ledger-query $ledger_us us + PostgreSQL $pg_us us" \
  "= $(awk -v a="$ledger_us" -v b="$pg_us" 'BEGIN{printf "%.1f", a + b}') us"
case "$opa_state" in
  skipped) echo "OPA: skipped (BENCH_OPA=0)" ;;
  disagree) echo "OPA: no figures: its answers differ from the ledger's ($OUT/agree.out)" ;;
  measured)
    opa_run_out=$(cat "$OUT/opa_run.out"); opa_max_out=$(cat "$OUT/opa_max.out")
    log "OPA $OPA_VERSION, the same inputs ($(tail -n1 "$OUT/agree.out" | sed 's/^agree: //'))"
    printf '%-34s %12s %10s %10s %10s %10s %22s\n' "" "decisions/s" "p50 ms" "p90 ms" "p99 ms" "max ms" "allow/warn/deny %"
    while read -r j; do
      row "OPA open loop $(field "$j" target_rate | cut -d. -f1)/s" "$j"
    done < <(grep '"mode":"run"' <<<"$opa_run_out")
    row "OPA closed loop x$CONNECTIONS" "$(grep '"mode":"max_closed"' <<<"$opa_max_out" | tail -n1)"
    while read -r j; do
      if [ "$(field "$j" held)" = true ]; then row "OPA max held: $(field "$j" target_rate | cut -d. -f1)/s" "$j"; fi
    done < <(grep '"mode":"max_step"' <<<"$opa_max_out") | tail -n1
    opa_us=$(us_per "$opa_cpu" "$opa_decisions")
    echo "OPA CPU per decision over 6a+6b ($opa_decisions decisions): opa $opa_us us"
    opa_closed=$(field "$(grep '"mode":"max_closed"' <<<"$opa_max_out" | tail -n1)" decisions_per_s)
    opa_max_json=$(grep '"mode":"max"' <<<"$opa_max_out" | tail -n1)
    echo "ratios ledger / OPA:"
    awk -v c="$closed" -v oc="$opa_closed" -v m="$(field "$max_json" max_held_rate)" \
      -v om="$(field "$opa_max_json" max_held_rate)" -v l="$ledger_us" -v p="$pg_us" -v o="$opa_us" 'BEGIN {
      printf "  closed-loop decisions/s %.3f   max held %s\n", c / oc, (om > 0 ? sprintf("%.3f", m / om) : "n/a");
      printf "  CPU per decision: ledger-query %.2f   ledger-query + PostgreSQL %.2f\n", l / o, (l + p) / o }'
    paste <(grep '"mode":"run"' <<<"$run_out") <(grep '"mode":"run"' <<<"$opa_run_out") | while IFS=$'\t' read -r lj oj; do
      awk -v r="$(field "$lj" target_rate | cut -d. -f1)" -v l50="$(field "$lj" p50_ms)" -v l99="$(field "$lj" p99_ms)" \
        -v o50="$(field "$oj" p50_ms)" -v o99="$(field "$oj" p99_ms)" \
        'BEGIN { if (o50 <= 0 || o99 <= 0) printf "  open loop %s/s: n/a (OPA answered nothing measured at this rate)\n", r;
                 else printf "  open loop %s/s: p50 %.3g (%.2f / %.2f ms)   p99 %.3g (%.2f / %.2f ms)\n", r, l50 / o50, l50, o50, l99 / o99, l99, o99 }'
    done ;;
esac
echo "full output: $OUT"
[ "$opa_state" != disagree ]
