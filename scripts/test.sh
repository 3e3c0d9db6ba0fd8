#!/usr/bin/env bash
# The whole test suite: installs what is missing, configures, builds and runs ctest.
#   scripts/test.sh                                  the normal build
#   scripts/test.sh --sanitize address,undefined     the same suite under ASan+UBSan
#   scripts/test.sh --sanitize thread -R 'Thread'    TSan, over the tests matching -R
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_args=()
ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) build_args+=(--sanitize "$2"); shift 2 ;;
    -R|-L|-E) ctest_args+=("$1" "$2"); shift 2 ;;
    *) echo "test.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
build_dir=$("$root/scripts/build.sh" "${build_args[@]}" | tail -n 1)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" "${ctest_args[@]}"
