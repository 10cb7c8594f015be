#!/usr/bin/env bash
# Installs the Debian packages Custos builds, runs and tests with. Safe to run
# again: it only calls apt-get when something is missing.
set -euo pipefail

packages=(
  bazel-bootstrap g++ ca-certificates openssl
  protobuf-compiler protobuf-compiler-grpc libgrpc++-dev libprotobuf-dev
  libabsl-dev libssl-dev libsqlite3-dev libgtest-dev libgmock-dev sqlite3
  prometheus-cpp-dev util-linux
  libcpp-httplib-dev libargon2-dev chromium fonts-dejavu-core nodejs
  clang-14 libclang-rt-14-dev nlohmann-json3-dev tzdata
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm ships with the nodejs package of nodesource and with Debian's npm; only
# ask for Debian's when there is none.
if ! command -v npm >/dev/null; then
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends npm
fi
