#!/usr/bin/env bash
# README's main job: builds livemod and its examples, shows briefly what livemod learns about a
# module without running any of its code (inspect, check, a broken module), then runs the
# hot-swap demo: two threads call a module while it is replaced under them (v1 -> v2 with its
# state, a crashing v3 rolled back, an incompatible v4 refused, a rebuild picked up).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$("$root/scripts/build.sh" | tail -n 1)
livemod="$build_dir/tools/livemod/livemod"
modules="$build_dir/examples/modules"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "livemod $*"; "$livemod" "$@" || echo "(exit code $?)"; }

run inspect "$modules/libcalculator.so" | head -n 25
run check "$modules/libcalculator.so"
run check "$modules/libbroken.so"
truncated=$(mktemp --suffix=.so)
trap 'rm -f "$truncated"' EXIT
head -c 3000 "$modules/libcalculator.so" > "$truncated"
run inspect "$truncated"

step "hotswap_demo   # examples/hotswap: swap a module under two busy caller threads"
"$build_dir/examples/hotswap/hotswap_demo" "$build_dir/examples/hotswap"
