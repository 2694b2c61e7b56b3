#!/usr/bin/env bash
# The Helm chart, rendered with Go's text/template and sprig (the engine
# Helm uses) by tests/helm/render.go, since there is no helm binary here:
#   - the default values and the production example render, pass the
#     structural checks, and give wardend a config it accepts
#     (wardend --check-config);
#   - a chart with a broken template, and values that drop the security
#     context, are rejected (so the checks can fail).
#
#   tests/helm/run_render_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src="$1"
build="$2"
out="$(mktemp -d /tmp/warden-helm-XXXXXX)"
trap 'rm -rf "$out"' EXIT

# Go in GOPATH mode, offline, with Debian's sprig and yaml.v3.
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$build/go-cache" \
  go build -o "$out/render" "$src/tests/helm/render.go"

chart="$src/helm/warden"
for values in "" "$chart/examples/values-production.yaml"; do
  echo "== render ${values:-default values}"
  RENDER_CONFIG_OUT="$out/wardend.yaml" \
    "$out/render" "$chart" $values > "$out/manifests.yaml"
  # The vendor secrets the pod mounts from adapters.existingSecret: stand-ins
  # here, so that --check-config can read them.
  mkdir -p "$out/adapters"
  for f in cdp-api-key-secret cdp-wallet-secret privy-app-secret \
           privy-authorization-key; do
    echo "stand-in" > "$out/adapters/$f"
  done
  sed -i "s#/etc/warden/adapters/#$out/adapters/#g" "$out/wardend.yaml"
  WARDEN_REDIS_URL=redis://redis:6379 \
  WARDEN_POSTGRES_URL=postgresql://warden_app@postgres/warden \
    "$build/services/wardend" --config "$out/wardend.yaml" --check-config \
    > "$out/check.txt"
  grep -q "configuration is valid" "$out/check.txt"
done

echo "== a broken template is rejected"
cp -r "$chart" "$out/broken"
echo '{{ .Values.image.repository | nosuchfunction }}' \
  >> "$out/broken/templates/deployment.yaml"
if "$out/render" "$out/broken" > /dev/null 2> "$out/err.txt"; then
  echo "FAIL: the broken chart rendered" >&2
  exit 1
fi
grep -q 'function "nosuchfunction" not defined' "$out/err.txt"

echo "== values without a security context are rejected"
printf 'securityContext: {runAsNonRoot: false}\n' > "$out/insecure.yaml"
if "$out/render" "$chart" "$out/insecure.yaml" > /dev/null 2> "$out/err.txt"; then
  echo "FAIL: a container without its security context passed" >&2
  exit 1
fi
grep -q "runAsNonRoot must be true" "$out/err.txt"
echo "helm chart: OK"
