#!/usr/bin/env bash
# Makes sure a Go toolchain recent enough for the CEL module (adapters/cel,
# cel-go as a Go c-archive) is on this machine. Run by scripts/deps.sh;
# idempotent and instant when one is there.
#
# Looked for, in this order (adapters/cel/CMakeLists.txt looks in the same
# places): $LEDGER_GO, `go` on PATH, /usr/local/go/bin/go, and the one this
# script fetched before into .local/cache/go/toolchain/go. When none is
# >= go$GO_MIN (Debian 12's golang-go is 1.19: too old), the toolchain is
# fetched from the Go module proxy ($GOPROXY's first entry, default the
# public proxy) as the module golang.org/toolchain — the zip the go command
# itself downloads for GOTOOLCHAIN — checked against the SHA-256 pinned
# below, and unpacked into .local/cache/go/toolchain/go. Nothing outside the
# checkout is written.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
GO_MIN=1.23
GO_VERSION=1.26.8
declare -A GO_ZIP_SHA256=(
  [amd64]=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7
  [arm64]=02b36b6787b3ac767668f630e2998df45a3b1f9ffee08d1bf3ef6487cd658d99
)
DEST="$REPO/.local/cache/go/toolchain"

log() { echo "[deps] $*" >&2; }

# "1.26" of `go env GOVERSION` (go1.26.8), or nothing.
go_minor() { "$1" env GOVERSION 2>/dev/null | sed -n 's/^go\([0-9]*\.[0-9]*\).*/\1/p'; }
recent_enough() {
  local v; v="$(go_minor "$1")"
  [ -n "$v" ] && [ "$(printf '%s\n%s\n' "$GO_MIN" "$v" | sort -V | head -1)" = "$GO_MIN" ]
}

candidates=()
[ -n "${LEDGER_GO:-}" ] && candidates+=("$LEDGER_GO")
command -v go >/dev/null 2>&1 && candidates+=("$(command -v go)")
candidates+=(/usr/local/go/bin/go "$DEST/go/bin/go")
for g in "${candidates[@]}"; do
  if [ -x "$g" ] && recent_enough "$g"; then
    echo "[deps] go: $g ($("$g" env GOVERSION))"
    exit 0
  fi
done

case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) log "no Go >= $GO_MIN and no pinned toolchain for $(uname -m)"; exit 1 ;;
esac
proxy="${GOPROXY:-https://proxy.golang.org}"
proxy="${proxy%%[,|]*}"
case "$proxy" in off | direct | "") proxy=https://proxy.golang.org ;; esac
url="$proxy/golang.org/toolchain/@v/v0.0.1-go$GO_VERSION.linux-$arch.zip"
log "no Go >= $GO_MIN here: fetching go$GO_VERSION (golang.org/toolchain) from the Go module proxy"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
curl -fsSL --retry 3 -o "$tmp/go.zip" "$url"
echo "${GO_ZIP_SHA256[$arch]}  $tmp/go.zip" | sha256sum -c --quiet - || { log "checksum mismatch for $url"; exit 1; }
mkdir -p "$tmp/x"
(cd "$tmp/x" && cmake -E tar xf "$tmp/go.zip")
root="$tmp/x/golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-$arch"
# Module zips keep no file modes: the binaries get theirs back.
chmod +x "$root"/bin/* "$root"/pkg/tool/*/* 2>/dev/null || true
rm -rf "$DEST"
mkdir -p "$DEST"
mv "$root" "$DEST/go"
recent_enough "$DEST/go/bin/go" || { log "the fetched toolchain does not run"; exit 1; }
echo "[deps] go: $DEST/go/bin/go ($("$DEST/go/bin/go" env GOVERSION), fetched)"
