#!/usr/bin/env bash
# Lifts the benchmark principal's request budget to the catalog's maximum
# (rate_limit.api_requests_per_minute = 1,000,000 at its user scope), so a
# load run measures the ledger, not its rate limiter (README "Rate limits").
# The value is an ordinary, audited policy value; a ledger without the key
# has no limit to lift.
# Usage: bench/raise_limits.sh PRINCIPAL_ID [command_port] [token]
set -euo pipefail
PRINCIPAL="$1"
PORT="${2:-${LEDGER_COMMAND_PORT:-8081}}"
TOKEN="${3:-${LEDGER_ADMIN_TOKEN:-dev-platform-admin}}"
body='{"key":"rate_limit.api_requests_per_minute","scope":{"user_id":"'"$PRINCIPAL"'"},"value":1000000,"reason":"benchmark principal"}'
answer=$(curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -X POST "http://127.0.0.1:$PORT/api/v1/admin/policy-values" -d "$body" || true)
case "$answer" in
  *'"accepted"'*) echo "rate limit of $PRINCIPAL raised to 1,000,000 requests/minute";
                  sleep 2 ;;  # projection, then the services' one-second refresh
  *unknown_policy_key*) echo "rate_limit.api_requests_per_minute is not defined: no limit to raise" ;;
  *) echo "could not raise the rate limit of $PRINCIPAL: $answer" >&2; exit 1 ;;
esac
