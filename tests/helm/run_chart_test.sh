#!/usr/bin/env bash
# The Helm chart, with the real Helm (deploy/dev/install-tools.sh puts it in
# .tools/helm/):
#   - `helm lint --strict`; `helm template` with the default values and each
#     file in examples/; a misspelt value refused by Helm's schema check;
#   - Helm renders (helm install --dry-run=client) the default values, the
#     production example, 1 and 2 replicas, TLS off and autoscaling, and
#     tests/helm/check_chart.go checks Helm's output structurally (its
#     header lists the checks: secrets, comments, selectors, probes,
#     disruption budget, plaintext, NOTES); wardend accepts the config each
#     render carries (wardend --check-config);
#   - each check is shown to fail: a chart with a broken template, values
#     that drop the security context, typos in the values, a value of the
#     wrong type, an undocumented value, a selector without the component,
#     no startup probe, a budget that blocks drains, plaintext without its
#     switch, NOTES without the TLS flags or the HPA's range, a
#     ServiceMonitor that misses the Service, a Grafana dashboard charting
#     a metric wardend lacks or reading outside the reporting views.
#
#   tests/helm/run_chart_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src="$1"
build="$2"
out="$(mktemp -d /tmp/warden-helm-XXXXXX)"
trap 'rm -rf "$out"' EXIT

# Go in GOPATH mode, offline, with Debian's yaml.v3.
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$build/go-cache" \
  go build -o "$out/check_chart" "$src/tests/helm/check_chart.go"

chart="$src/helm/warden"
# What the Grafana dashboard may chart: the metrics wardend exports.
CHECK_METRICS="$(grep -o '"warden_[a-z_]*"' "$src/services/metrics.cc" | tr -d '"' | sort -u | tr '\n' ' ')"
export CHECK_METRICS

helm="$src/.tools/helm/helm"
"$helm" lint --strict "$chart"
for values in "" "$chart"/examples/*.yaml; do
  echo "== helm template ${values:-default values}"
  "$helm" template warden "$chart" ${values:+-f "$values"} \
    > "$out/helm.yaml"
  grep -q '^kind: Deployment$' "$out/helm.yaml"
done
printf 'replicaCont: 3\n' > "$out/helm-typo.yaml"
if "$helm" template warden "$chart" -f "$out/helm-typo.yaml" \
     > /dev/null 2> "$out/helm-err.txt"; then
  echo "FAIL: helm rendered values with a misspelt key" >&2
  exit 1
fi
grep -q "additional properties 'replicaCont' not allowed" "$out/helm-err.txt"

# render CHART [VALUES_FILE ...]: Helm renders the chart as an install
# would, and check_chart checks the result (manifests in
# $out/manifests.yaml); fails when either does.
render() {
  local chart_dir="$1"
  shift
  local args=()
  for v in "$@"; do args+=(-f "$v"); done
  "$helm" install warden "$chart_dir" --dry-run=client -o json "${args[@]}" \
    > "$out/release.json" &&
    CHECK_MANIFESTS_OUT="$out/manifests.yaml" \
      "$out/check_chart" "$chart_dir" "$out/release.json" "$@"
}

# The vendor secrets the pod mounts from adapters.existingSecret: stand-ins
# here, so that --check-config can read them.
mkdir -p "$out/adapters"
for f in cdp-api-key-secret cdp-wallet-secret privy-app-secret \
         privy-authorization-key; do
  echo "stand-in" > "$out/adapters/$f"
done
echo "base=https://base.example/v2/stand-in" > "$out/adapters/chain-rpc"

printf 'replicaCount: 1\n' > "$out/one-replica.yaml"
printf 'replicaCount: 2\n' > "$out/two-replicas.yaml"
printf 'tls: {enabled: false}\n' > "$out/plaintext.yaml"
printf 'autoscaling: {enabled: true, minReplicas: 2, maxReplicas: 5}\n' \
  > "$out/autoscaling.yaml"
printf 'grafana: {dashboards: {enabled: true, labels: {team: finance}}}\n' \
  > "$out/dashboards.yaml"

for values in "" "$chart/examples/values-production.yaml" \
              "$out/one-replica.yaml" "$out/two-replicas.yaml" \
              "$out/plaintext.yaml" "$out/autoscaling.yaml" \
              "$out/dashboards.yaml"; do
  echo "== render ${values:-default values}"
  CHECK_CONFIG_OUT="$out/wardend.yaml" CHECK_NOTES_OUT="$out/notes.txt" \
    render "$chart" $values
  sed -i "s#/etc/warden/adapters/#$out/adapters/#g" "$out/wardend.yaml"
  WARDEN_REDIS_URL=redis://redis:6379 \
  WARDEN_POSTGRES_URL=postgresql://warden_app@postgres/warden \
    "$build/services/wardend" --config "$out/wardend.yaml" --check-config \
    > "$out/check.txt"
  grep -q "configuration is valid" "$out/check.txt"
  # The production example's node URLs come from the Secret, key masked.
  if [ "$values" = "$chart/examples/values-production.yaml" ]; then
    grep -q '^adapters.local.chain_rpc: "base=https://base.example/\*\*\*"$' \
      "$out/check.txt"
  fi
done
# TLS to Redis from a Secret (CA and client certificate), with real
# certificates standing in for the Secret's files.
printf 'redis: {tls: {existingSecret: warden-redis-tls, clientCertificate: true}}\n' \
  > "$out/redis-tls.yaml"
bash "$src/deploy/dev/make-certs.sh" "$out/certs" chart >/dev/null
mkdir -p "$out/redis-tls"
cp "$out/certs/ca.pem" "$out/redis-tls/ca.crt"
cp "$out/certs/redis-client.pem" "$out/redis-tls/tls.crt"
cp "$out/certs/redis-client.key" "$out/redis-tls/tls.key"
CHECK_CONFIG_OUT="$out/wardend.yaml" render "$chart" "$out/redis-tls.yaml" \
  2> /dev/null
grep -q 'mountPath: /etc/warden/redis-tls$' "$out/manifests.yaml"
grep -q 'secretName: warden-redis-tls$' "$out/manifests.yaml"
grep -q 'key_file: /etc/warden/redis-tls/tls.key$' "$out/wardend.yaml"
sed -i "s#/etc/warden/redis-tls/#$out/redis-tls/#g" "$out/wardend.yaml"
WARDEN_REDIS_URL=rediss://redis:6380 \
WARDEN_POSTGRES_URL=postgresql://warden_app@postgres/warden \
  "$build/services/wardend" --config "$out/wardend.yaml" --check-config \
  > "$out/check.txt"
grep -q "configuration is valid" "$out/check.txt"
# ... and a rediss:// URL is what those settings need.
if WARDEN_REDIS_URL=redis://redis:6379 \
   WARDEN_POSTGRES_URL=postgresql://warden_app@postgres/warden \
   "$build/services/wardend" --config "$out/wardend.yaml" --check-config \
   > /dev/null 2>&1; then
  echo "FAIL: Redis TLS files accepted with a redis:// URL" >&2
  exit 1
fi
# The read replica's URL comes from the Postgres Secret when asked.
if grep -q WARDEN_POSTGRES_READ_URL "$out/manifests.yaml"; then
  echo "FAIL: a read replica URL rendered without postgres.readKey" >&2
  exit 1
fi
printf 'postgres: {readKey: read-url}\n' > "$out/read-replica.yaml"
render "$chart" "$out/read-replica.yaml" 2> /dev/null
grep -A4 'name: WARDEN_POSTGRES_READ_URL$' "$out/manifests.yaml" |
  grep -q 'key: read-url$'
# Redis Cluster: the setting passes through config, and wardend accepts the
# seed nodes with it (and refuses them without it).
printf 'config: {redis: {cluster: true}}\n' > "$out/redis-cluster.yaml"
CHECK_CONFIG_OUT="$out/wardend.yaml" render "$chart" "$out/redis-cluster.yaml" \
  2> /dev/null
grep -q '^  cluster: true$' "$out/wardend.yaml"
seeds=redis://r1:6379,redis://r2:6379,redis://r3:6379
WARDEN_REDIS_URL=$seeds \
WARDEN_POSTGRES_URL=postgresql://warden_app@postgres/warden \
  "$build/services/wardend" --config "$out/wardend.yaml" --check-config \
  > "$out/check.txt"
grep -q 'redis.cluster: "true"' "$out/check.txt"
if WARDEN_REDIS_URL=$seeds \
   WARDEN_POSTGRES_URL=postgresql://warden_app@postgres/warden \
   "$build/services/wardend" --check-config --bundle "$out/check.txt" \
   > /dev/null 2>&1; then
  echo "FAIL: several Redis URLs accepted without redis.cluster" >&2
  exit 1
fi
# The renders did what their values asked (and wardend accepted them above).
render "$chart" "$out/one-replica.yaml" 2> /dev/null
grep -q '^  maxUnavailable: 1$' "$out/manifests.yaml"
render "$chart" "$out/plaintext.yaml" 2> /dev/null
grep -q '^      insecure_plaintext: true$' "$out/manifests.yaml"
# The dashboard ships only when asked, labelled for Grafana's sidecar.
render "$chart" "$out/dashboards.yaml" 2> /dev/null
grep -q '^    grafana_dashboard: "1"$' "$out/manifests.yaml"
grep -q '"uid": "warden-overview"' "$out/manifests.yaml"
render "$chart" 2> /dev/null
if grep -q 'grafana_dashboard' "$out/manifests.yaml"; then
  echo "FAIL: the Grafana dashboard rendered while disabled" >&2
  exit 1
fi
# A null in the values removes a default label (Helm's merge): the
# production NetworkPolicy asks for its own label only.
render "$chart" "$chart/examples/values-production.yaml" 2> /dev/null
grep -q 'platform.example.com/agents: "true"' "$out/manifests.yaml"
if grep -q 'warden.io/agents' "$out/manifests.yaml"; then
  echo "FAIL: the production NetworkPolicy kept the default label" >&2
  exit 1
fi

# rejected DESCRIPTION CHART EXPECTED_ERROR [VALUES_FILE ...]: the render
# must fail, with EXPECTED_ERROR among its problems.
rejected() {
  local what="$1" chart_dir="$2" expected="$3"
  shift 3
  echo "== rejected: $what"
  if render "$chart_dir" "$@" > /dev/null 2> "$out/err.txt"; then
    echo "FAIL: rendered although $what" >&2
    exit 1
  fi
  if ! grep -qF -- "$expected" "$out/err.txt"; then
    echo "FAIL: $what: expected \"$expected\" among:" >&2
    cat "$out/err.txt" >&2
    exit 1
  fi
}

# mutant NAME FILE SED_SCRIPT: a copy of the chart with FILE edited; fails
# if the edit changed nothing (the test would prove nothing).
mutant() {
  rm -rf "$out/$1"
  cp -r "$chart" "$out/$1"
  sed -i "$3" "$out/$1/$2"
  if cmp -s "$chart/$2" "$out/$1/$2"; then
    echo "FAIL: mutant $1: \"$3\" did not change $2" >&2
    exit 1
  fi
}

mutant broken templates/deployment.yaml \
  '$a {{ .Values.image.repository | nosuchfunction }}'
rejected "a template is broken" "$out/broken" \
  'function "nosuchfunction" not defined'

printf 'securityContext: {runAsNonRoot: false}\n' > "$out/insecure.yaml"
rejected "a container runs as root" "$chart" \
  "runAsNonRoot must be true" "$out/insecure.yaml"

printf 'replicaCont: 3\n' > "$out/typo.yaml"
rejected "a top-level key is misspelt" "$chart" \
  "additional properties 'replicaCont' not allowed" "$out/typo.yaml"
printf 'probes: {startup: {periodSecond: 5}}\n' > "$out/typo.yaml"
rejected "a nested key is misspelt" "$chart" \
  "at '/probes/startup': additional properties 'periodSecond' not allowed" \
  "$out/typo.yaml"
printf 'service: {grpcPort: "7400"}\n' > "$out/typo.yaml"
rejected "a value has the wrong type" "$chart" \
  "at '/service/grpcPort': got string, want integer" "$out/typo.yaml"

mutant undocumented values.yaml '/-- Most replicas\./d'
rejected "a value has no comment" "$out/undocumented" \
  "values.yaml: autoscaling.maxReplicas has no comment"

mutant no-component templates/_helpers.tpl \
  '/define "warden.selectorLabels"/,/end/{/component: server/d}'
rejected "the selectors lack the component" "$out/no-component" \
  "Service spec.selector: also selects the migration Job's pod"
grep -qF "PodDisruptionBudget spec.selector.matchLabels: lacks app.kubernetes.io/component: server" \
  "$out/err.txt"
grep -qF "NetworkPolicy spec.podSelector.matchLabels: also selects the migration Job's pod" \
  "$out/err.txt"

mutant no-startup templates/deployment.yaml \
  '/startupProbe:/,/probes.startup/d'
rejected "there is no startup probe" "$out/no-startup" \
  "startupProbe must be a gRPC probe"

mutant blocking-pdb templates/pdb.yaml \
  's/maxUnavailable: 1/minAvailable: {{ $min }}/'
rejected "the budget blocks drains at 1 replica" "$out/blocking-pdb" \
  "it blocks node drains" "$out/one-replica.yaml"

mutant no-plaintext-switch templates/_helpers.tpl '/"insecure_plaintext" true/d'
rejected "plaintext lacks tls.insecure_plaintext" "$out/no-plaintext-switch" \
  "without tls.insecure_plaintext: wardend refuses to start" \
  "$out/plaintext.yaml"

mutant notes-no-tls templates/NOTES.txt 's/ --tls-ca ca.crt//'
rejected "NOTES omits --tls-ca" "$out/notes-no-tls" \
  "TLS is on but the command lacks --tls-ca"

mutant notes-no-hpa templates/NOTES.txt \
  's/{{ .Values.autoscaling.minReplicas }} to {{ .Values.autoscaling.maxReplicas }} replicas/several replicas/'
rejected "NOTES omits the HPA's range" "$out/notes-no-hpa" \
  'autoscaling is on but NOTES does not say "2 to 5 replicas"' \
  "$out/autoscaling.yaml"

mutant unlabelled-service templates/service.yaml \
  '0,/warden.serverLabels/s//warden.labels/'
printf 'serviceMonitor: {enabled: true}\n' > "$out/monitor.yaml"
rejected "the ServiceMonitor misses the Service" "$out/unlabelled-service" \
  "ServiceMonitor: its selector does not match the Service" "$out/monitor.yaml"

mutant dashboard-metric dashboards/warden.json \
  's/warden_decisions_total{/warden_decisions{/'
rejected "a dashboard panel charts a metric wardend does not export" \
  "$out/dashboard-metric" "uses warden_decisions, which wardend does not export" \
  "$out/dashboards.yaml"
mutant dashboard-table dashboards/warden.json 's/FROM reporting.decisions/FROM audit_events/'
rejected "a dashboard panel reads outside the reporting schema" \
  "$out/dashboard-table" "reads audit_events, outside the reporting schema" \
  "$out/dashboards.yaml"

echo "helm chart: OK"
