#!/usr/bin/env bash
# Installs every Debian 12 package Warden needs to build, run and test.
# Idempotent: packages already present are skipped. Run as root (or with sudo).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang-format git
  # fuzzing (libFuzzer comes with clang's compiler-rt)
  clang libclang-rt-14-dev
  # RPC and core libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libssl-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev
  # backends and adapters (used by later components; cheap to install up front)
  libpqxx-dev libhiredis-dev libsecp256k1-dev libcurl4-openssl-dev libcpp-httplib-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # the Helm chart's structural checks of Helm's output (Go, offline)
  golang-go golang-gopkg-yaml.v3-dev
  # servers (run.sh, integration tests) and their clients
  redis-server redis-tools postgresql postgresql-client openssl curl
  # time zone database for calendar windows
  tzdata
  # the web console's browser test (driven by playwright-core from npm)
  chromium fonts-dejavu-core
  # the Python client and its tests
  python3-grpcio python3-protobuf python3-pytest
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
