#!/usr/bin/env bash
# Two or more ledger-query binaries measured in turn on the running dev
# stack (`./ledgerctl up`), so that the machine's drift over a session falls
# on all of them alike. For each round and each binary: wait until no
# process uses more than 30% of a core, restart ledger-query from that
# binary with the environment the running one was started with, pause the
# projector (SIGSTOP: it would otherwise write earlier probes' decision log
# on one of the two cores), probe, resume the projector. Prints one line per
# probe: decisions/s, ledger-query's CPU (utime+stime from /proc) per
# decision answered, and the decision-log records it dropped meanwhile
# (answers faster than its publisher: a full buffer counts the record as
# dropped without building it).
#
# Usage: bench/alternate_query.sh max|batch|pipelined|open BINARY...
#   BINARY:    a ledger-query binary, or a directory holding one
#              (`ledger-query`) and a `ledger-projector`; the projector is
#              then restarted from there too, before ledger-query.
#   max:       decision-load max --connections 16 --probe-seconds 8 (closed
#              loop, single decisions)
#   open:      decision-load run --rate OPEN_RATE (5000) --duration 10 (open
#              loop, 16 connections); also prints p50/p99 from the due time
#              and the service p99 (from the send). The projector is NOT
#              paused: the latencies are those of the whole stack at work.
#              Also prints the CPU per decision of the decision log's path
#              over the same interval: the projector, every PostgreSQL
#              process (its inserts), and the Kafka broker.
#   batch:     decision-load batch --duration 8 (100 per call, 4 connections)
#   pipelined: wrk -t1 -c16 -d8s with bench/pipeline.lua: single decisions,
#              PIPELINE_DEPTH (16) requests written at once per connection,
#              over 4,096 inputs drawn by `decision-load inputs`
# Settings: ROUNDS (3), BENCH_PREFIX (b10k) and BENCH_NODES (10000): a
# hierarchy decision-load loaded before (`decision-load --prefix b10k
# --nodes 10000 load`, after bench/raise_limits.sh platform-admin),
# LEDGER_BUILD_DIR (build) for decision-load.
# The dev stack's ledger-query is left running the last binary; `./ledgerctl
# down` and `up` start the built one again.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
USAGE="usage: bench/alternate_query.sh max|batch|pipelined|open BINARY..."
MODE="${1:?$USAGE}"
shift
[ "$#" -ge 1 ] || { echo "$USAGE" >&2; exit 2; }
case "$MODE" in max | batch | pipelined | open) ;; *) echo "mode must be max, batch, pipelined or open" >&2; exit 2 ;; esac
RUN=.local/dev/run
DL="${LEDGER_BUILD_DIR:-build}/bench/decision-load"
PREFIX="${BENCH_PREFIX:-b10k}"
NODES="${BENCH_NODES:-10000}"
[ -x "$DL" ] || { echo "no $DL: build the decision-load target" >&2; exit 1; }
for f in ledger-query.pid ledger-projector.pid; do
  [ -s "$RUN/$f" ] || { echo "no $RUN/$f: is the dev stack up (./ledgerctl up)?" >&2; exit 1; }
done
DEPTH="${PIPELINE_DEPTH:-16}"
if [ "$MODE" = pipelined ]; then
  command -v wrk > /dev/null || { echo "the pipelined mode needs wrk" >&2; exit 1; }
  "$DL" --prefix "$PREFIX" --nodes "$NODES" inputs --count 4096 > "$RUN/pipeline-inputs.jsonl"
fi
LABEL="$MODE"
[ "$MODE" = pipelined ] && LABEL="pipelined x$DEPTH"
OPEN_RATE="${OPEN_RATE:-5000}"
[ "$MODE" = open ] && LABEL="open ${OPEN_RATE}/s"
PROJECTOR=$(cat "$RUN/ledger-projector.pid")
KAFKA=$(cat .local/dev/kafka/kafka.pid 2>/dev/null || true)
mapfile -t ENVIRONMENT < <(tr '\0' '\n' < "/proc/$(cat "$RUN/ledger-query.pid")/environ")
mapfile -t PROJECTOR_ENVIRONMENT < <(tr '\0' '\n' < "/proc/$PROJECTOR/environ")
trap 'kill -CONT "$PROJECTOR" 2>/dev/null || true' EXIT

restart() {  # service binary environment...: the service's name picks its settings
  local name=$1 binary=$2 pid
  shift 2
  pid=$(cat "$RUN/$name.pid")
  kill -CONT "$pid" 2>/dev/null || true
  kill "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  env -i "$@" nohup "$binary" >> "$RUN/$name.log" 2>&1 &
  echo $! > "$RUN/$name.pid"
}
start() {  # binary or directory
  local query=$1
  if [ -d "$1" ]; then
    query=$1/ledger-query
    if [ -x "$1/ledger-projector" ]; then
      restart ledger-projector "$1/ledger-projector" "${PROJECTOR_ENVIRONMENT[@]}"
      PROJECTOR=$(cat "$RUN/ledger-projector.pid")
    fi
  fi
  restart ledger-query "$query" "${ENVIRONMENT[@]}"
  for _ in $(seq 1 600); do
    curl -fs -o /dev/null "http://127.0.0.1:${LEDGER_QUERY_PORT:-8082}/readyz" && return
    sleep 0.2
  done
  echo "$1 did not become ready" >&2; exit 1
}
quiet() {  # at most four minutes
  for _ in $(seq 1 120); do
    [ -z "$(top -b -n1 | awk 'NR > 7 && $9 > 30 {print $12}' | head -1)" ] && return
    sleep 2
  done
}
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# utime+stime of the projector, all PostgreSQL processes and the broker
# (a process that ends meanwhile is left out of both sums).
log_path_cpu() {
  local postgres=0 t
  for t in $(ps -C postgres -o pid=); do postgres=$((postgres + $(cpu "$t" 2>/dev/null || echo 0))); done
  echo "$(cpu "$PROJECTOR") $postgres $([ -n "$KAFKA" ] && cpu "$KAFKA" || echo 0)"
}
# Decision-log records dropped so far (the log's buffer was full: the
# publisher fell behind the answers).
dropped() {
  curl -fs "http://127.0.0.1:${LEDGER_QUERY_PORT:-8082}/metrics" |
    awk '/^ledger_decision_log_dropped_total / {printf "%d", $2}'
}
probe() {  # label
  local pid t0 t1 out answered rate latency=""
  pid=$(cat "$RUN/ledger-query.pid")
  [ "$MODE" = open ] || kill -STOP "$PROJECTOR"
  d0=$(dropped)
  [ "$MODE" = open ] && read -r p0 g0 k0 < <(log_path_cpu)
  t0=$(cpu "$pid")
  if [ "$MODE" = max ]; then
    out=$("$DL" --prefix "$PREFIX" --nodes "$NODES" --json max --connections 16 --probe-seconds 8 \
      --step-seconds 0.05 --warmup 0 --p99-bound-ms 0.0001 2>/dev/null || true)
    answered=$(grep -o '"answered_total":[0-9]*' <<<"$out" | cut -d: -f2 | sort -n | tail -1)
    rate=$(grep -o '"closed_per_s":[0-9]*' <<<"$out" | head -1 | cut -d: -f2)
  elif [ "$MODE" = pipelined ]; then
    out=$(wrk -t1 -c16 -d8s -s bench/pipeline.lua "http://127.0.0.1:${LEDGER_QUERY_PORT:-8082}" \
      -- "$RUN/pipeline-inputs.jsonl" "$DEPTH" 2>&1 || true)
    answered=$(awk '/requests in/ {print $1}' <<<"$out")
    rate=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
    if grep -q "Non-2xx" <<<"$out"; then
      kill -CONT "$PROJECTOR"
      echo "$1: answers other than 200: $(grep Non-2xx <<<"$out")" >&2
      return
    fi
  elif [ "$MODE" = open ]; then
    out=$("$DL" --prefix "$PREFIX" --nodes "$NODES" --json run --rate "$OPEN_RATE" --duration 10 --warmup 2 \
      2>/dev/null || true)
    answered=$(grep -o '"answered_total":[0-9]*' <<<"$out" | cut -d: -f2 | tail -1)
    rate=$(grep -o '"decisions_per_s":[0-9]*' <<<"$out" | cut -d: -f2 | tail -1)
    latency=$(grep -o '"p50_ms":[0-9.]*\|"p99_ms":[0-9.]*\|"service_p99_ms":[0-9.]*' <<<"$out" |
      awk -F'"' '{printf " %s=%.2f", $2, substr($3, 2)}')
    read -r p1 g1 k1 < <(log_path_cpu)
    if [ "${answered:-0}" -gt 0 ]; then
      latency+=$(awk -v n="$answered" -v hz="$(getconf CLK_TCK)" -v p=$((p1 - p0)) -v g=$((g1 - g0)) -v k=$((k1 - k0)) \
        'BEGIN {printf " log_path_us_per_decision: projector=%.1f postgres=%.1f kafka=%.1f", p*1e6/hz/n, g*1e6/hz/n, k*1e6/hz/n}')
    fi
  else
    out=$("$DL" --prefix "$PREFIX" --nodes "$NODES" batch --duration 8 --warmup 0 2>/dev/null || true)
    rate=$(grep -o 'x4 *[0-9]*/s' <<<"$out" | grep -o '[0-9]*' | tail -1)
    answered=$((${rate:-0} * 8))
  fi
  t1=$(cpu "$pid")
  d1=$(dropped)
  kill -CONT "$PROJECTOR"
  if [ "${answered:-0}" -gt 0 ]; then
    echo "$1 $LABEL ${rate}/s cpu_us_per_decision=$(echo "scale=2; ($t1 - $t0) * 1000000 / $(getconf CLK_TCK) / $answered" | bc) log_dropped=$((${d1:-0} - ${d0:-0}))$latency"
  else
    echo "$1 $MODE: nothing answered" >&2
  fi
}
for round in $(seq 1 "${ROUNDS:-3}"); do
  for binary in "$@"; do
    quiet
    start "$binary"
    probe "round $round $(basename "$binary")"
  done
done
