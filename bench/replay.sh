#!/usr/bin/env bash
# Replay speed: rebuild every read model from position 0 out of the running
# ledger's history, from PostgreSQL and from Kafka (ledger.events at offset
# 0), each compared with the live read models by `ledger-audit replay`.
# Usage: ./ledgerctl up && bench/run_e2e.sh && bench/replay.sh
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
BUILD_DIR="${LEDGER_BUILD_DIR:-$REPO/build}"
eval "$(LEDGER_PROFILE=dev scripts/infra.sh env)"
export LEDGER_PG_URL="${LEDGER_PG_URL/postgres@/ledger_app@}"
events=$(psql -tA "$LEDGER_PG_ADMIN_URL" -c "SELECT count(*) FROM ledger.events")
echo "== history: $events events; $(nproc) cores; $(date -u +%FT%TZ)"
for source in postgres kafka; do
  start=$(date +%s.%N)
  "$BUILD_DIR/services/ledger-audit" replay --source "$source" --schema "rm_replay_$source" >/tmp/replay.$$ 2>&1 \
    || { cat /tmp/replay.$$; exit 1; }
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" -v n="$events" -v src="$source" \
    'BEGIN { printf "replay from %-8s %8.1f s  %8.0f events/s (rebuild + compare of every table)\n", src, e - s, n / (e - s) }'
done
rm -f /tmp/replay.$$
