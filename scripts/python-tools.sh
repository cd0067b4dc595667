#!/usr/bin/env bash
# Makes sure the Python tools the tests use are installed in a virtual
# environment of the checkout (.local/cache/venv), from PyPI at pinned
# versions: schemathesis, which tests each service against its OpenAPI
# document (tests/contract/). Run by scripts/deps.sh; idempotent and instant
# when they are there. Needs Debian's python3-venv (scripts/deps.sh).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV="$REPO/.local/cache/venv"
SCHEMATHESIS_VERSION=4.32.5

log() { echo "[deps] $*" >&2; }

have() { [ -x "$VENV/bin/schemathesis" ] && "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; }
if have; then exit 0; fi

log "installing schemathesis $SCHEMATHESIS_VERSION from PyPI into $VENV"
# Debian's python3 (with python3-venv), not whatever `python3` is first on PATH.
PY=/usr/bin/python3
[ -x "$PY" ] || PY="$(command -v python3)"
# --clear: a venv made at another path (a moved or copied checkout) has
# scripts whose #! names that path; rebuilt, not patched.
"$PY" -m venv --clear "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
have || { log "schemathesis $SCHEMATHESIS_VERSION did not install"; exit 1; }
