#!/usr/bin/env bash
# Installs what troupe needs to build and test, from Debian's packages only.
# Does nothing when everything is already there (so `make` stays fast).
set -euo pipefail

# build-essential's gcc-12 brings libasan, libubsan and libtsan (make asan,
# make tsan); clang-14 and libclang-rt-14-dev build the fuzz targets.
PACKAGES=(
  build-essential cmake ccache pkg-config
  libcaf-dev cppzmq-dev libzmq3-dev nlohmann-json3-dev libspdlog-dev libcli11-dev
  libssl-dev libgtest-dev python3 python3-zmq python3-watchdog jq inotify-tools
  libcpp-httplib-dev libcurl4-openssl-dev openssl prometheus-cpp-dev python3-prometheus-client
  chromium python3-websocket redis-server libhiredis-dev
  iproute2 docker-compose
  clang-14 libclang-rt-14-dev
)

# The tests run the real Claude Code CLI (npm); Debian's nodejs and npm only
# when the machine has no npm of its own.
command -v npm >/dev/null || PACKAGES+=(nodejs npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
