#!/usr/bin/env bash
# The Python client's tests (pytest, Debian's python3-grpcio) against the
# wardend and wardenctl built in BUILD_DIR:
#   bash clients/python/run_tests.sh build/rel
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:?usage: run_tests.sh BUILD_DIR}" && pwd)"
bash "$here/generate.sh"
export WARDEND="$build/services/wardend" WARDENCTL="$build/services/wardenctl"
cd "$here"
# Debian's interpreter, whose packages (grpcio, protobuf, pytest) these are.
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider tests
