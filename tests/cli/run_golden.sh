#!/bin/sh
# Runs one CLI golden case and compares what it printed with what a person approved.
#
#   run_golden.sh <dir>/<case>     runs <case>.sh, compares with <case>.stdout, .stderr, .exit
#   LIVEMOD_UPDATE_GOLDEN=1 ...    writes the expected files instead (review the diff!)
#
# The case runs with cwd = a fresh temporary directory ($CASE_TMP, removed afterwards), with
# colour off and a fixed locale, and sees the environment ctest sets (tests/cli/CMakeLists.txt):
# $LIVEMOD and fixture paths. Before comparing, the parts that differ between checkouts and
# machines are replaced by placeholders:
#   the build and source directories -> @BUILD@ @SRC@, the temporary directory -> @TMP@
#   the file size lines of inspect   -> @SIZE@ (any code change would move them)
#   GLIBC_x.y / GLIBCXX_x / CXXABI_x -> GLIBC_@V@ ... (which ones a module needs follows the
#                                       toolchain, not livemod)
#   livemod's version                -> @VERSION@
#   times printed as milliseconds    -> @MS@ ms ("0.123 ms": swap steps of run and watch)
# What remains is tied to the reference system (g++ 12, Debian's x86_64 multiarch layout): the
# compiler major in fingerprints, symbol counts, system library paths. Regenerate with
# LIVEMOD_UPDATE_GOLDEN=1 on another and review the diff.
set -u

case_base=$1
name=$(basename "$case_base")
: "${LIVEMOD:?set by ctest: the livemod binary}"
: "${BUILD_DIR:?set by ctest}" "${SRC_DIR:?set by ctest}"

CASE_TMP=$(mktemp -d "${TMPDIR:-/tmp}/livemod-cli-$name.XXXXXX") || exit 1
trap 'rm -rf "$CASE_TMP"' EXIT INT TERM
export CASE_TMP NO_COLOR=1 LC_ALL=C
# The search path is part of what check reports: the case sets it if it wants one.
unset LD_LIBRARY_PATH LIVEMOD_PATH

(cd "$CASE_TMP" && sh -u "$case_base.sh") >"$CASE_TMP/.stdout" 2>"$CASE_TMP/.stderr"
echo $? >"$CASE_TMP/.exit"

# A literal string as a sed pattern.
quote() { printf '%s\n' "$1" | sed 's/[][\.*^$|/]/\\&/g'; }

normalize() {
  sed -e "s/$(quote "$CASE_TMP")/@TMP@/g" \
      -e "s/$(quote "$BUILD_DIR")/@BUILD@/g" \
      -e "s/$(quote "$SRC_DIR")/@SRC@/g" \
      -e 's/^\(size: *\)[0-9][0-9]* bytes$/\1@SIZE@ bytes/' \
      -e 's/^  "size": [0-9][0-9]*/  "size": @SIZE@/' \
      -e 's/GLIBC_2\.[0-9][0-9]*\(\.[0-9][0-9]*\)*/GLIBC_@V@/g' \
      -e 's/GLIBCXX_3\.4\(\.[0-9][0-9]*\)*/GLIBCXX_@V@/g' \
      -e 's/CXXABI_1\.3\(\.[0-9][0-9]*\)*/CXXABI_@V@/g' \
      -e "s/livemod $(quote "${LIVEMOD_VERSION:-}")\$/livemod @VERSION@/" \
      -e 's/[0-9][0-9]*\.[0-9][0-9][0-9] ms/@MS@ ms/g'
}

status=0
for stream in stdout stderr exit; do
  normalize <"$CASE_TMP/.$stream" >"$CASE_TMP/.$stream.actual"
  expected="$case_base.$stream"
  if [ "${LIVEMOD_UPDATE_GOLDEN:-}" = 1 ]; then
    cp "$CASE_TMP/.$stream.actual" "$expected"
    continue
  fi
  if [ ! -f "$expected" ]; then
    echo "$name: no $expected; run with LIVEMOD_UPDATE_GOLDEN=1 and review it" >&2
    status=1
    continue
  fi
  if ! diff -u --label "expected $name.$stream" --label "actual $name.$stream" \
      "$expected" "$CASE_TMP/.$stream.actual"; then
    status=1
  fi
done
[ "${LIVEMOD_UPDATE_GOLDEN:-}" = 1 ] && echo "$name: expected files written"
exit $status
