#!/usr/bin/env bash
# Runs every libFuzzer target (tests/fuzz/) for a bounded time.
#
#   scripts/fuzz.sh [seconds]      default 60 seconds per target
#
# Configures and builds the `fuzz` preset (clang 19, ASan + UBSan, into
# build-fuzz/), then runs each target with -max_total_time over a scratch
# copy of tests/fuzz/corpus/<target>/ (the committed corpus is only read;
# new inputs stay in the scratch copy). Any crash, leak, sanitizer report
# or timeout fails the script and leaves the input that did it in
# build-fuzz/fuzz-artifacts/<target>/, with the log beside it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
SECONDS_PER_TARGET="${1:-60}"
TARGETS=(command_decoder_fuzz token_parser_fuzz header_value_fuzz command_record_fuzz)
BUILD="$REPO/build-fuzz"

log() { echo "[fuzz] $*" >&2; }

if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || [ "$SECONDS_PER_TARGET" -lt 1 ]; then
  log "usage: scripts/fuzz.sh [seconds per target, >= 1]"; exit 2
fi
if ! command -v clang++-19 >/dev/null 2>&1; then
  log "clang++-19 is missing: run scripts/deps.sh"; exit 1
fi

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"$(nproc)"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

failed=()
for target in "${TARGETS[@]}"; do
  scratch="$(mktemp -d)"
  artifacts="$BUILD/fuzz-artifacts/$target"
  mkdir -p "$artifacts"
  cp -R "$REPO/tests/fuzz/corpus/$target/." "$scratch/"
  log "$target: ${SECONDS_PER_TARGET}s over $(find "$scratch" -type f | wc -l) seed inputs"
  status=0
  "$BUILD/tests/fuzz/$target" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$scratch" \
    >"$artifacts/run.log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    log "$target FAILED (exit $status): see $artifacts/run.log and the crash-*/leak-*/timeout-* inputs there"
    tail -n 40 "$artifacts/run.log" >&2
    failed+=("$target")
  else
    log "$target: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$artifacts/run.log" | grep -o '[0-9]*$' || echo '?') runs, no crash"
  fi
  rm -rf "$scratch"
done

if [ "${#failed[@]}" -ne 0 ]; then
  log "failed: ${failed[*]}"; exit 1
fi
log "all ${#TARGETS[@]} targets ran ${SECONDS_PER_TARGET}s each without a crash"
