#!/usr/bin/env bash
# The whole test suite: installs what is missing, configures, builds and runs ctest.
#   scripts/test.sh                                   the normal build, every test
#   scripts/test.sh --sanitize address,undefined      the same suite under ASan+UBSan
#   scripts/test.sh --sanitize thread -L concurrent   TSan over the concurrent tests only
# -R/-L/-E pass on to ctest; with -L concurrent only the binaries carrying that label build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_args=()
ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) build_args+=(--sanitize "$2"); shift 2 ;;
    -L)
      ctest_args+=(-L "$2")
      # Build only what the label selects (CMake groups the concurrent binaries in a target).
      if [ "$2" = concurrent ]; then build_args+=(--target livemod_concurrent_tests); fi
      shift 2 ;;
    -R|-E) ctest_args+=("$1" "$2"); shift 2 ;;
    *) echo "test.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
build_dir=$("$root/scripts/build.sh" "${build_args[@]}" | tail -n 1)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error -j "$(nproc)" "${ctest_args[@]}"
