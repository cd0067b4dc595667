#!/usr/bin/env bash
# Runs schemathesis (scripts/python-tools.sh) against one running service.
# Usage: tests/contract/run.sh SCHEMA BASE_URL [extra schemathesis args...]
#   SCHEMA    the service's /openapi.json URL, or a file
#   BASE_URL  e.g. http://127.0.0.1:8082
# Env: LEDGER_CONTRACT_TOKEN (a platform admin's bearer token).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$HERE/../.." && pwd -P)"
ST="${LEDGER_SCHEMATHESIS:-$REPO/.local/cache/venv/bin/schemathesis}"
[ -x "$ST" ] || { echo "schemathesis is not installed: run scripts/python-tools.sh" >&2; exit 2; }
: "${LEDGER_CONTRACT_TOKEN:?a platform admin token}"
schema="$1" url="$2"; shift 2
exec "$ST" --no-color --config-file "$HERE/schemathesis.toml" run "$schema" --url "$url" \
  --seed "${LEDGER_CONTRACT_SEED:-20261203}" "$@"
