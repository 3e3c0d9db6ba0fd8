#!/usr/bin/env bash
# Installs what livemod needs from Debian 12's packages, only what is missing. Idempotent:
# a second run installs nothing and takes a second.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config binutils     # toolchain (binutils: readelf/nm for the tests)
  libelf-dev                                    # reading ELF files (elfutils' libelf)
  liburcu-dev                                   # liburcu's read side, benchmarked beside livemod's own RCU
  nlohmann-json3-dev libexpected-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  googletest                                    # GoogleTest's sources, built for the AArch64 tests
  g++-aarch64-linux-gnu gcc-i686-linux-gnu      # foreign-arch fixture modules
  graphviz                                      # `dot -Tsvg` renders `livemod deps --dot` in a test
  qemu-user                                     # runs the AArch64 tests (qemu-aarch64)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "livemod: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
