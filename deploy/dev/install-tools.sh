#!/usr/bin/env bash
# Installs the test tools that come from npm rather than Debian, into
# .tools/ in the checkout (no global install): a real Ethereum node,
# `anvil`, from @foundry-rs/anvil-linux-amd64 (pinned). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=1.7.1
anvil=".tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
if [ -x "$anvil" ] && "$anvil" --version 2>/dev/null | grep -q "Version: $version"; then
  echo "install-tools: anvil $version present"
  exit 0
fi
command -v npm >/dev/null || {
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
}
mkdir -p .tools
npm install --silent --no-save --no-audit --no-fund --prefix .tools \
  "@foundry-rs/anvil-linux-amd64@$version"
"$anvil" --version | head -1
