#!/usr/bin/env bash
# Lifts the benchmark principal's request budgets (README "Rate limits") to
# the catalog's maxima at its user scope — api 1,000,000, financial 10,000
# and admin overview 100,000 requests per minute — so a load run measures
# the ledger, not its rate limiter. Each is an ordinary, audited policy
# value; a ledger without a key has no limit to lift.
# Usage: bench/raise_limits.sh PRINCIPAL_ID [command_port] [token]
set -euo pipefail
PRINCIPAL="$1"
PORT="${2:-${LEDGER_COMMAND_PORT:-8081}}"
TOKEN="${3:-${LEDGER_ADMIN_TOKEN:-dev-platform-admin}}"
raise() {  # key value
  local body='{"key":"'"$1"'","scope":{"user_id":"'"$PRINCIPAL"'"},"value":'"$2"',"reason":"benchmark principal"}'
  local answer
  answer=$(curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -X POST "http://127.0.0.1:$PORT/api/v1/admin/policy-values" -d "$body" || true)
  case "$answer" in
    *'"accepted"'*) echo "$1 of $PRINCIPAL raised to $2 per minute" ;;
    *unknown_policy_key*) echo "$1 is not defined: no limit to raise" ;;
    *) echo "could not raise $1 of $PRINCIPAL: $answer" >&2; return 1 ;;
  esac
}
raise rate_limit.api_requests_per_minute 1000000
raise rate_limit.financial_requests_per_minute 10000
raise rate_limit.admin_overview_requests_per_minute 100000
sleep 2  # projection, then the services' one-second refresh
