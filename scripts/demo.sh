#!/usr/bin/env bash
# README's main job: builds livemod and its example modules, then shows what livemod learns
# about a module without running any of its code: `inspect` reads it, `check` proves it fits
# this host, or says exactly why not.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$("$root/scripts/build.sh" | tail -n 1)
livemod="$build_dir/tools/livemod/livemod"
modules="$build_dir/examples/modules"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "livemod $*"; "$livemod" "$@" || echo "(exit code $?)"; }

run inspect "$modules/libcalculator.so"
run check "$modules/libcalculator.so"
run check "$modules/libbroken.so"
truncated=$(mktemp --suffix=.so)
trap 'rm -f "$truncated"' EXIT
head -c 3000 "$modules/libcalculator.so" > "$truncated"
run inspect "$truncated"
run check --json "$modules/libcalculator.so"
