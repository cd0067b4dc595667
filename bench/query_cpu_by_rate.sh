#!/usr/bin/env bash
# ledger-query's CPU per decision at fixed open-loop rates (issue 12): for
# each rate, build/bench/decision-load's `run` against the running query
# service, and the CPU its threads used over the run, read from
# /proc/<pid>/task/*/schedstat (the scheduler's own nanoseconds, not 10 ms
# ticks), divided by the decisions sent (warm-up included). Shows how much of
# a decision's CPU is paid per request woken, not per decision decided.
#
# Usage: bench/query_cpu_by_rate.sh [rate...]   (default 1000 5000 10000)
# Needs a hierarchy loaded with the same prefix (bench/run_decisions.sh, or
# decision-load --prefix P --nodes N load after bench/raise_limits.sh).
# Settings: LEDGER_BUILD_DIR (build), BENCH_PREFIX (bench), BENCH_NODES
# (10000), BENCH_SECONDS (20), BENCH_WARMUP (2), BENCH_CONNECTIONS (16),
# LEDGER_QUERY_PORT (8082).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${LEDGER_BUILD_DIR:-build}
SECONDS_PER_RUN=${BENCH_SECONDS:-20}
WARMUP=${BENCH_WARMUP:-2}
PORT=${LEDGER_QUERY_PORT:-8082}
RATES=("$@")
[ ${#RATES[@]} -gt 0 ] || RATES=(1000 5000 10000)

# The process listening on the query port.
PID=$(ss -Hltnp "sport = :$PORT" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
[ -n "$PID" ] || { echo "nothing listens on port $PORT" >&2; exit 1; }
cpu_ns() { cat /proc/"$PID"/task/*/schedstat | awk '{s += $1} END {printf "%.0f\n", s}'; }

for rate in "${RATES[@]}"; do
  before=$(cpu_ns)
  line=$("$BUILD_DIR/bench/decision-load" --prefix "${BENCH_PREFIX:-bench}" --nodes "${BENCH_NODES:-10000}" \
    --query-port "$PORT" run --rate "$rate" --duration "$SECONDS_PER_RUN" --warmup "$WARMUP" \
    --connections "${BENCH_CONNECTIONS:-16}" 2>&1 | grep '^open loop')
  after=$(cpu_ns)
  sent=$((rate * (SECONDS_PER_RUN + WARMUP)))
  echo "$line"
  awk -v ns=$((after - before)) -v n="$sent" -v r="$rate" \
    'BEGIN {printf "  %d/s: ledger-query CPU %.2f s for %d decisions = %.1f us per decision\n", r, ns / 1e9, n, ns / 1e3 / n}'
done
