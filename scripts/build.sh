#!/usr/bin/env bash
# Configures and builds livemod into a build directory, installing what is missing first.
#   scripts/build.sh [--sanitize address,undefined|thread] [--build-dir DIR] [--target T]...
# Plain builds are optimised (-O2) in build/; sanitizer builds are unoptimised without
# benchmarks, in build-<sanitizers>/. LIVEMOD_WERROR=ON (CI sets it)
# turns warnings into errors. The last line printed is the build directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sanitize=""
build_dir=""
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) sanitize="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --target) targets+=(--target "$2"); shift 2 ;;
    *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

# Debug information is most of the compile time of the gmock-heavy tests: plain builds go
# without it (-O2), sanitizer builds keep line tables only, for the reports' stack traces.
config=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG")
if [ -n "$sanitize" ]; then
  config=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g1" "-DCMAKE_C_FLAGS_DEBUG=-O0 -g1"
          -DLIVEMOD_BUILD_BENCH=OFF)
fi
[ -n "$build_dir" ] || build_dir="$root/build${sanitize:+-${sanitize//,/-}}"

"$root/scripts/install-deps.sh" >&2
cmake -S "$root" -B "$build_dir" -G Ninja "${config[@]}" \
  -DLIVEMOD_SANITIZE="$sanitize" -DLIVEMOD_WERROR="${LIVEMOD_WERROR:-OFF}" >&2
cmake --build "$build_dir" "${targets[@]}" >&2
echo "$build_dir"
