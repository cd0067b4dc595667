#!/usr/bin/env bash
# Runs every libFuzzer target (tests/fuzz/) for a bounded time.
#
#   scripts/fuzz.sh [seconds]      default 60 seconds per target
#
# Configures the `sanitize` preset (clang 19, ASan + UBSan and libFuzzer's
# coverage instrumentation, into build-sanitize/, the build the sanitized
# unit tests use too) and builds its `fuzz` targets, then runs each target,
# one per core at a time, with -max_total_time over a scratch copy of
# tests/fuzz/corpus/<target>/ (the committed corpus is only read; new inputs
# stay in the scratch copy). Any crash, leak, sanitizer report
# or timeout fails the script and leaves the input that did it in
# build-sanitize/fuzz-artifacts/<target>/, with the log beside it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
SECONDS_PER_TARGET="${1:-60}"
TARGETS=(command_decoder_fuzz token_parser_fuzz header_value_fuzz command_record_fuzz decision_input_fuzz)
BUILD="$REPO/build-sanitize"

log() { echo "[fuzz] $*" >&2; }

if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || [ "$SECONDS_PER_TARGET" -lt 1 ]; then
  log "usage: scripts/fuzz.sh [seconds per target, >= 1]"; exit 2
fi
if ! command -v clang++-19 >/dev/null 2>&1; then
  log "clang++-19 is missing: run scripts/deps.sh"; exit 1
fi

cmake --preset sanitize >/dev/null
cmake --build --preset fuzz -j"$(nproc)"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

# One target per core at a time; each writes its exit status into $verdicts.
fuzz_target() {
  local target="$1" scratch artifacts status=0
  scratch="$(mktemp -d)"
  artifacts="$BUILD/fuzz-artifacts/$target"
  mkdir -p "$artifacts"
  cp -R "$REPO/tests/fuzz/corpus/$target/." "$scratch/"
  log "$target: ${SECONDS_PER_TARGET}s over $(find "$scratch" -type f | wc -l) seed inputs"
  "$BUILD/tests/fuzz/$target" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$scratch" \
    >"$artifacts/run.log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    log "$target FAILED (exit $status): see $artifacts/run.log and the crash-*/leak-*/timeout-* inputs there"
    tail -n 40 "$artifacts/run.log" >&2
  else
    log "$target: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$artifacts/run.log" | grep -o '[0-9]*$' || echo '?') runs, no crash"
  fi
  rm -rf "$scratch"
  echo "$status" >"$verdicts/$target"
}

verdicts="$(mktemp -d)"
trap 'rm -rf "$verdicts"' EXIT
running=0
for target in "${TARGETS[@]}"; do
  if [ "$running" -ge "$(nproc)" ]; then wait -n || true; running=$((running - 1)); fi
  fuzz_target "$target" &
  running=$((running + 1))
done
wait || true

failed=()
for target in "${TARGETS[@]}"; do
  if [ "$(cat "$verdicts/$target" 2>/dev/null || echo missing)" != 0 ]; then failed+=("$target"); fi
done
if [ "${#failed[@]}" -ne 0 ]; then
  log "failed: ${failed[*]}"; exit 1
fi
log "all ${#TARGETS[@]} targets ran ${SECONDS_PER_TARGET}s each without a crash"
