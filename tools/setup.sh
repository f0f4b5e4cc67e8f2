#!/usr/bin/env bash
# setup.sh - install what desk needs from Debian's packages, if missing.
# Idempotent: it installs only packages that are not installed yet, and runs
# `apt-get update` only when it has something to install.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config git clang libclang-rt-14-dev
  liburing-dev libssl-dev libsimdjson-dev libwslay-dev libhttp-parser-dev
  libtomlplusplus-dev libbenchmark-dev libcmocka-dev zlib1g-dev
  libck-dev libquickfix-dev libcjson-dev libboost-dev
  gnuplot-nox strace curl ca-certificates
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
