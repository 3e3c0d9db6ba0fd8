#!/usr/bin/env bash
# Configures and builds livemod into a build directory.
#   scripts/build.sh [--sanitize address,undefined|thread] [--build-dir DIR]
# LIVEMOD_WERROR=ON (CI sets it) turns warnings into errors.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sanitize=""
build_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) sanitize="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$build_dir" ]; then
  build_dir="$root/build"
  [ -n "$sanitize" ] && build_dir="$root/build-${sanitize//,/-}"
fi

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLIVEMOD_SANITIZE="$sanitize" -DLIVEMOD_WERROR="${LIVEMOD_WERROR:-OFF}" >/dev/null
cmake --build "$build_dir"
echo "$build_dir"
