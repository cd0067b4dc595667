#!/usr/bin/env bash
# Installs the Debian 12 packages Policy Ledger needs for building, testing and
# running its local servers. Idempotent: a fast no-op when all are installed.
# Non-interactive (no stdin needed). Run as root, or as a user with sudo.
set -euo pipefail

PACKAGES=(
  build-essential g++ cmake ninja-build pkg-config ccache git curl ca-certificates
  libpqxx-dev librdkafka-dev nlohmann-json3-dev libboost-dev libspdlog-dev
  libgtest-dev libgmock-dev libcli11-dev librapidcheck-dev googletest libbenchmark-dev libssl-dev
  # JSON Schema validation of configuration documents (domain/config/schema.cc, seed 004)
  libvalijson-dev
  # /metrics in Prometheus text format (adapters/metrics)
  prometheus-cpp-dev
  # decision bodies read straight from their bytes (adapters/http/routes/decision_input.cc)
  libsimdjson-dev
  # the services' allocator (CMakeLists.txt LEDGER_JEMALLOC)
  libjemalloc-dev
  # schemathesis from PyPI in a virtual environment (scripts/python-tools.sh)
  python3-venv
  kcat postgresql postgresql-contrib openjdk-17-jdk-headless maven procps
  # libFuzzer targets (scripts/fuzz.sh): clang 19 is bookworm's first clang
  # with which libstdc++ 12 offers std::expected; the -rt package ships libFuzzer.
  clang-19 libclang-rt-19-dev
  # scripts/lint.sh: the checked-in .clang-format and .clang-tidy, run by the tests
  clang-format-19 clang-tidy-19
)

log() { echo "[deps] $*" >&2; }

is_installed() {
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

missing=()
for p in "${PACKAGES[@]}"; do
  is_installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "[deps] all ${#PACKAGES[@]} packages present"
  # Go for the CEL module (cel-go): not a Debian package (bookworm's is too old).
  "$(dirname "${BASH_SOURCE[0]}")/go-toolchain.sh"
  "$(dirname "${BASH_SOURCE[0]}")/python-tools.sh"
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo -n); else
    log "not root and no sudo: cannot install: ${missing[*]}"; exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
log "installing ${#missing[@]} missing package(s): ${missing[*]}"
"${SUDO[@]}" apt-get update -qq </dev/null
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  --no-install-recommends -o Dpkg::Options::=--force-confdef \
  -o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null

still=()
for p in "${missing[@]}"; do is_installed "$p" || still+=("$p"); done
if [ "${#still[@]}" -ne 0 ]; then
  log "FAILED to install: ${still[*]}"; exit 1
fi
echo "[deps] installed ${#missing[@]} package(s), all ${#PACKAGES[@]} present"
"$(dirname "${BASH_SOURCE[0]}")/go-toolchain.sh"
"$(dirname "${BASH_SOURCE[0]}")/python-tools.sh"
