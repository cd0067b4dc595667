#!/usr/bin/env bash
# End-to-end benchmark of the running ledger, with its baselines measured in
# the same run on the same machine:
#   1. raw PostgreSQL: pgbench, --clients sessions each inserting one
#      event-sized row per transaction into a plain table (durable commits);
#   2. raw Kafka: Apache Kafka's own ProducerPerformance tool, idempotent
#      producer, acks=all, event-sized records;
#   3. the ledger: build/bench/ledger-load (commands over HTTP -> event store
#      -> relay -> Kafka -> projector -> read model -> query service).
# Usage: ./ledgerctl up && bench/run_e2e.sh [seconds] [clients]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
SECONDS_RUN="${1:-20}"
CLIENTS="${2:-16}"
BUILD_DIR="${LEDGER_BUILD_DIR:-$REPO/build}"
eval "$(LEDGER_PROFILE=dev scripts/infra.sh env)"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(date -u +%FT%TZ)"

echo "== baseline 1: raw PostgreSQL inserts (pgbench, $CLIENTS clients, ${SECONDS_RUN}s)"
psql -q "$LEDGER_PG_ADMIN_URL" -c "DROP TABLE IF EXISTS bench_raw_events; CREATE TABLE bench_raw_events (id bigserial PRIMARY KEY, stream_id text, payload jsonb, hash text)"
script=$(mktemp)
cat >"$script" <<'SQL'
INSERT INTO bench_raw_events (stream_id, payload, hash) VALUES ('policy-key:allocation.max_concurrent_per_user', '{"key":"allocation.max_concurrent_per_user","scope":{"level":"user","id":"load-1"},"before":50,"after":51,"before_source":"default","effective_at":"2026-11-23T00:00:00.000000Z","reason":"load test","actor":{"type":"user","id":"platform-admin","roles":["platform_admin"]}}', md5(random()::text) || md5(random()::text));
SQL
pg_tps=$("$PG_BIN/pgbench" -n -f "$script" -c "$CLIENTS" -j 2 -T "$SECONDS_RUN" "$LEDGER_PG_ADMIN_URL" 2>/dev/null \
  | awk '/^tps/{print int($3)}')
rm -f "$script"
psql -q "$LEDGER_PG_ADMIN_URL" -c "DROP TABLE bench_raw_events"
echo "raw PostgreSQL inserts/s: $pg_tps"

echo "== baseline 2: raw Kafka producer (ProducerPerformance, idempotent, acks=all, 700-byte records)"
topic="bench.raw.$$"
java -Xmx256m -cp "$LEDGER_KAFKA_LIBS/*" -Dlog4j2.configurationFile="$REPO/scripts/kafka/log4j2.properties" \
  org.apache.kafka.tools.TopicCommand --bootstrap-server "$LEDGER_KAFKA_BROKERS" \
  --command-config "$LEDGER_KAFKA_ADMIN_PROPERTIES" --create --topic "$topic" \
  --partitions 1 --replication-factor 1 >/dev/null 2>&1
kafka_out=$(java -Xmx512m -cp "$LEDGER_KAFKA_LIBS/*" -Dlog4j2.configurationFile="$REPO/scripts/kafka/log4j2.properties" \
  org.apache.kafka.tools.ProducerPerformance --topic "$topic" --num-records 300000 --record-size 700 \
  --throughput -1 --producer.config "$LEDGER_KAFKA_ADMIN_PROPERTIES" \
  --producer-props bootstrap.servers="$LEDGER_KAFKA_BROKERS" acks=all enable.idempotence=true \
  linger.ms=5 2>/dev/null | tail -n1)
java -Xmx256m -cp "$LEDGER_KAFKA_LIBS/*" -Dlog4j2.configurationFile="$REPO/scripts/kafka/log4j2.properties" \
  org.apache.kafka.tools.TopicCommand --bootstrap-server "$LEDGER_KAFKA_BROKERS" \
  --command-config "$LEDGER_KAFKA_ADMIN_PROPERTIES" --delete --topic "$topic" >/dev/null 2>&1 || true
kafka_rps=$(echo "$kafka_out" | sed -E 's/^[0-9]+ records sent, ([0-9.]+) records\/sec.*/\1/' | cut -d. -f1)
echo "raw Kafka records/s: $kafka_rps   ($kafka_out)"

echo "== the ledger end to end ($CLIENTS clients, ${SECONDS_RUN}s)"
# The load principal's requests must not meet the catalog's 120/minute.
bench/raise_limits.sh "${BENCH_PRINCIPAL:-platform-admin}"
load_out=$("$BUILD_DIR/bench/ledger-load" --duration "$SECONDS_RUN" --clients "$CLIENTS" --json)
echo "$load_out" | grep -v '^{'
ledger_rps=$(echo "$load_out" | grep '^{' | sed -E 's/.*"accepted_per_s":([0-9.]+).*/\1/' | cut -d. -f1)

echo "== ratios"
awk -v l="$ledger_rps" -v p="$pg_tps" -v k="$kafka_rps" 'BEGIN {
  printf "ledger accepted commands/s vs raw PostgreSQL single-row inserts/s: %.2f\n", l / p;
  printf "ledger accepted commands/s vs raw Kafka producer records/s:       %.3f\n", l / k }'
