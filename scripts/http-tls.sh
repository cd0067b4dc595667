#!/usr/bin/env bash
# A local CA and a server certificate for the HTTP services (ledger-command,
# ledger-query) of a profile, generated with openssl; idempotent (kept while
# the server certificate is valid for at least another day).
#
# Usage: scripts/http-tls.sh      ensure the files, then print `export` lines:
#                                 eval "$(scripts/http-tls.sh)"
#   LEDGER_TLS_CERT / LEDGER_TLS_KEY  the server's certificate and key (the services' --tls-cert / --tls-key)
#   LEDGER_TLS_CA                     the CA certificate clients trust
#
# Environment: LEDGER_PROFILE (dev | test, default dev); LEDGER_TLS_DIR
# (default $REPO/.local/<profile>/tls). The server certificate names
# localhost, 127.0.0.1 and ::1. Keys are mode 600 in a mode 700 folder.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd -P)"
PROFILE="${LEDGER_PROFILE:-dev}"
DIR="${LEDGER_TLS_DIR:-$REPO/.local/$PROFILE/tls}"

log() { echo "[http-tls] $*" >&2; }

mkdir -p "$DIR"
chmod 700 "$DIR"
umask 077

if [ ! -s "$DIR/ca.key" ] || [ ! -s "$DIR/ca.pem" ] || ! openssl x509 -in "$DIR/ca.pem" -noout -checkend 86400 >/dev/null 2>&1; then
  log "creating the local CA in $DIR"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$DIR/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$DIR/ca.key" -sha256 -days 825 -subj "/CN=Policy Ledger local CA ($PROFILE)" \
    -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$DIR/ca.pem" 2>/dev/null
  rm -f "$DIR/server.pem"  # signed by the old CA
fi

if [ ! -s "$DIR/server.key" ] || [ ! -s "$DIR/server.pem" ] ||
   ! openssl x509 -in "$DIR/server.pem" -noout -checkend 86400 >/dev/null 2>&1 ||
   ! openssl verify -CAfile "$DIR/ca.pem" "$DIR/server.pem" >/dev/null 2>&1; then
  log "creating the server certificate in $DIR"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$DIR/server.key" 2>/dev/null
  openssl req -new -key "$DIR/server.key" -subj "/CN=localhost" -out "$DIR/server.csr" 2>/dev/null
  cat >"$DIR/server.ext" <<EXT
basicConstraints=critical,CA:false
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EXT
  openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial -sha256 \
    -days 397 -extfile "$DIR/server.ext" -out "$DIR/server.pem" 2>/dev/null
  rm -f "$DIR/server.csr" "$DIR/server.ext"
fi
chmod 600 "$DIR"/*.key

printf 'export LEDGER_TLS_CERT=%q\n' "$DIR/server.pem"
printf 'export LEDGER_TLS_KEY=%q\n' "$DIR/server.key"
printf 'export LEDGER_TLS_CA=%q\n' "$DIR/ca.pem"
