#!/usr/bin/env bash
# The checked-in style and static-analysis configs, enforced.
#
#   scripts/lint.sh format            clang-format (.clang-format) over every
#                                     C++ file: a file that would change fails
#   scripts/lint.sh tidy BUILD_DIR    clang-tidy (.clang-tidy) over every
#                                     source (.cc) of events, domain,
#                                     commands, projections, adapters and
#                                     services (the mains), with the build's
#                                     compile_commands.json: any finding fails
#
# Both run inside `./ledgerctl test`. clang-tidy covers the layers that hold
# the rules and the adapters and mains around them (Boost, pqxx, rdkafka);
# those are the slow part of the run, one clang-tidy per core.
# Fix a format finding with `clang-format-19 -i FILE`.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"

log() { echo "[lint] $*" >&2; }

# The tracked C++ files under the given folders (all when none is given).
sources() {
  if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -- "${@/%//*.cc}" "${@/%//*.h}"
  else
    find "${@:-.}" -name '*.cc' -o -name '*.h' | grep -v '^\./build'
  fi
}

need() {
  command -v "$1" >/dev/null 2>&1 || { log "$1 is missing: run scripts/deps.sh"; exit 1; }
}

case "${1:-}" in
  format)
    need clang-format-19
    mapfile -t files < <(sources events domain commands projections adapters services tests bench)
    log "clang-format over ${#files[@]} files"
    printf '%s\0' "${files[@]}" | xargs -0 -n 50 clang-format-19 --dry-run --Werror
    ;;
  tidy)
    need clang-tidy-19
    build="${2:?usage: scripts/lint.sh tidy BUILD_DIR}"
    [ -f "$build/compile_commands.json" ] || { log "no $build/compile_commands.json: build first"; exit 1; }
    mapfile -t files < <(sources events domain commands projections adapters services | grep '\.cc$')
    log "clang-tidy over ${#files[@]} sources ($(nproc) at a time)"
    printf '%s\0' "${files[@]}" |
      xargs -0 -n 1 -P "$(nproc)" clang-tidy-19 -p "$build" --quiet --warnings-as-errors='*' \
        --extra-arg=-Wno-unknown-warning-option
    ;;
  *)
    sed -n '2,15p' "$0"
    exit 2
    ;;
esac
