#!/bin/sh
# Installs a livemod build to a scratch prefix, builds tests/package/hello against it with
# find_package(livemod), and checks the results: the module carries its manifest section and
# the host runs. Run by ctest (see CMakeLists.txt); every argument is required.
set -eu

while [ $# -gt 0 ]; do
  case "$1" in
    --cmake) cmake=$2 ;;
    --build-dir) build_dir=$2 ;;
    --project) project=$2 ;;
    --generator) generator=$2 ;;
    --c-compiler) cc=$2 ;;
    --cxx-compiler) cxx=$2 ;;
    --config) config=$2 ;;
    --sanitize) sanitize=$2 ;;
    *) echo "package_test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done

work=$(mktemp -d "${TMPDIR:-/tmp}/livemod-package.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

fail() {
  echo "package test: $*" >&2
  exit 1
}

echo "== install $build_dir to $work/prefix"
"$cmake" --install "$build_dir" --prefix "$work/prefix" ${config:+--config "$config"} \
  >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "cmake --install failed"; }

# A sanitized livemod needs a sanitized host; the module gets the flags from the same variable.
flags=""
if [ -n "$sanitize" ]; then
  flags="-fsanitize=$sanitize -fno-omit-frame-pointer"
fi

echo "== configure $project"
"$cmake" -S "$project" -B "$work/build" -G "$generator" \
  -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE="${config:-Debug}" \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" \
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON \
  >"$work/configure.log" 2>&1 || { cat "$work/configure.log" >&2; fail "configure failed"; }

# The package must have come from the scratch prefix, not from this tree or the system.
grep -q "^livemod_DIR:PATH=$work/prefix/" "$work/build/CMakeCache.txt" ||
  fail "livemod was not found in the installed prefix: $(grep '^livemod_DIR' "$work/build/CMakeCache.txt")"

echo "== build"
"$cmake" --build "$work/build" -j 2 >"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; fail "build failed"; }

module="$work/build/libhello.so"
[ -f "$module" ] || fail "$module was not built"

echo "== check $module"
section=$(readelf -p .livemod.manifest "$module" 2>&1) ||
  fail "readelf failed on $module: $section"
echo "$section"
case "$section" in
  *"\"fingerprint\":{\"compiler\""*) ;;
  *) fail "the .livemod.manifest section of $module has no build fingerprint" ;;
esac
case "$section" in
  *'"name": "hello"'*) ;;
  *) fail "the .livemod.manifest section of $module does not hold hello.json" ;;
esac
# The SDK macro must have exported the entry point under its C name.
readelf --dyn-syms -W "$module" | grep -q ' hello_on_load$' ||
  fail "$module does not export hello_on_load"

echo "== run the host"
out=$("$work/build/hello_host") || fail "hello_host failed: $out"
[ "$out" = "hello 0.1.0 abi 1" ] || fail "hello_host printed \"$out\", expected \"hello 0.1.0 abi 1\""
echo "package test passed"
