#!/usr/bin/env bash
# Generates the Python stubs of Warden's protos into warden/v1/ (next to
# the client, so that `import warden.v1.authorization_pb2` works), with
# Debian's protoc and its gRPC Python plugin:
#   bash clients/python/generate.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
proto="$here/../../proto"
mkdir -p "$here/warden/v1"
protoc -I "$proto" --python_out="$here" \
  --grpc_out="$here" --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" \
  "$proto"/warden/v1/*.proto
touch "$here/warden/v1/__init__.py"
