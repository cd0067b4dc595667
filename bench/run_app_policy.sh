#!/usr/bin/env bash
# Application policy chains (seed 002) over HTTP, closed loop with wrk, with
# the ledger's own HTTP floor measured in the same run as the baseline:
#   floor:    POST /v1/applications/{app}:evaluate with an unreadable body
#             (token check, rate gate and JSON parse, then 400): what any
#             answer of the query service costs at least;
#   empty:    an application with no policies (allow, empty chain);
#   builtins: rate_limit (never denying), token_limit, model_allowlist,
#             request_size;
#   cel:      the four built-ins and a custom_cel policy.
# Then the ratios to the floor.
#
# Usage: bench/run_app_policy.sh
# Starts PostgreSQL, Kafka and the services (`./ledgerctl up`, dev profile)
# unless the command and query services are ready. Installs wrk (Debian) if
# missing. Settings: BENCH_SECONDS (10), BENCH_CONNECTIONS (16),
# BENCH_THREADS (2), BENCH_PREFIX (bench: the ids it creates).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
SECONDS_RUN="${BENCH_SECONDS:-10}"
CONNECTIONS="${BENCH_CONNECTIONS:-16}"
THREADS="${BENCH_THREADS:-2}"
PREFIX="${BENCH_PREFIX:-bench}"
COMMAND_PORT="${LEDGER_COMMAND_PORT:-8081}"
QUERY_PORT="${LEDGER_QUERY_PORT:-8082}"
ADMIN="Authorization: Bearer ${LEDGER_ADMIN_TOKEN:-dev-platform-admin}"
SERVICE_TOKEN="${LEDGER_SERVICE_TOKEN:-dev-platform-admin}"
ORG="$PREFIX-org-apps"

log() { echo "== $*"; }
ready() { curl -fs -o /dev/null "http://127.0.0.1:$1/readyz" 2>/dev/null; }
command -v wrk >/dev/null || { log "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
if ! ready "$COMMAND_PORT" || ! ready "$QUERY_PORT"; then
  log "starting the ledger: ./ledgerctl up"
  ./ledgerctl up
fi
# Load runs need more than the per-minute API budget of the benchmark principal.
bench/raise_limits.sh "${BENCH_PRINCIPAL:-platform-admin}" "$COMMAND_PORT" >/dev/null

post() {  # post PATH JSON: the answer's position
  curl -fsS -H "$ADMIN" -X POST "http://127.0.0.1:$COMMAND_PORT$1" --json "$2" | sed -nE 's/.*"position":([0-9]+).*/\1/p'
}
log "creating $ORG with three applications"
post /v1/commands/organization.create "{\"organization_id\":\"$ORG\",\"plan_id\":\"pro\",\"command_id\":\"$ORG\"}" >/dev/null || true
for app in empty builtins cel; do
  post /api/v1/admin/applications "{\"application_id\":\"$app\",\"organization_id\":\"$ORG\",\"name\":\"$app\",\"command_id\":\"$ORG-$app\"}" >/dev/null || true
done
attach() {  # attach APP N JSON
  post "/api/v1/admin/applications/$1/policies" "${3%\}},\"organization_id\":\"$ORG\",\"command_id\":\"$ORG-$1-$2\"}" || true
}
for app in builtins cel; do
  attach "$app" 1 '{"policy_type":"rate_limit","config":{"requests_per_minute":1000000000,"burst":1000000000}}' >/dev/null
  attach "$app" 2 '{"policy_type":"token_limit","config":{"max_tokens":8192}}' >/dev/null
  attach "$app" 3 '{"policy_type":"model_allowlist","config":{"models":["gpt-4*","claude-*"]}}' >/dev/null
  attach "$app" 4 '{"policy_type":"request_size","config":{"max_bytes":1048576}}' >/dev/null
done
POS=$(attach cel 5 '{"policy_type":"custom_cel","config":{"name":"large","pre_check_expression":"estimated_tokens < 5000 && request.model.startsWith('"'gpt-'"')"}}')
POS="${POS:-0}"
# Wait until the query service has the chains (read-your-writes).
curl -fsS -H "$ADMIN" "http://127.0.0.1:$QUERY_PORT/api/v1/admin/applications/cel?organization_id=$ORG&min_position=$POS&wait_ms=10000" >/dev/null

LUA="$(mktemp -t app_policy.XXXXXX.lua)"
trap 'rm -f "$LUA"' EXIT
run() {  # run NAME APP BODY
  cat >"$LUA" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $SERVICE_TOKEN"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$3'
LUA
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_RUN}s" --latency -s "$LUA" \
        "http://127.0.0.1:$QUERY_PORT/v1/applications/$2:evaluate")
  local rps p50 p99 non2xx
  rps=$(sed -nE 's/^Requests\/sec: *([0-9.]+).*/\1/p' <<<"$out")
  p50=$(sed -nE 's/^ *50% *([0-9.]+[a-z]+).*/\1/p' <<<"$out")
  p99=$(sed -nE 's/^ *99% *([0-9.]+[a-z]+).*/\1/p' <<<"$out")
  non2xx=$(sed -nE 's/^ *Non-2xx or 3xx responses: *([0-9]+).*/\1/p' <<<"$out")
  printf '%-9s %10s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$1" "$rps" "$p50" "$p99" "${non2xx:-0}"
  echo "$rps" >"$LUA.$1"
}
BODY="{\"organization_id\":\"$ORG\",\"model\":\"gpt-4o\",\"estimated_tokens\":900,\"size_bytes\":2048}"
log "closed loop, $CONNECTIONS connections, ${SECONDS_RUN}s each (wrk)"
run floor empty '{not json'
run empty empty "$BODY"
run builtins builtins "$BODY"
run cel cel "$BODY"
floor=$(cat "$LUA.floor")
for m in empty builtins cel; do
  awk -v a="$(cat "$LUA.$m")" -v f="$floor" -v m="$m" 'BEGIN { printf "%-9s %.2f of the floor'"'"'s rate\n", m, a / f }'
done
rm -f "$LUA".*
