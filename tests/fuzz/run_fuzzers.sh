#!/usr/bin/env bash
# Runs every fuzzer for SECONDS against its corpus (tests/fuzz/corpus/<name>,
# read only; new inputs go to a temp dir). A crash, leak or sanitizer report
# fails the run and leaves the input in the temp dir, printed.
#
#   run_fuzzers.sh BUILD_DIR SECONDS
set -euo pipefail
build="$1"; seconds="$2"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d /tmp/warden-fuzz-XXXXXX)"
status=0
for name in bundle amount request calldata x402; do
  mkdir -p "$work/$name"
  echo "== fuzz $name for ${seconds}s"
  if ! "$build/tests/fuzz/${name}_fuzzer" -max_total_time="$seconds" \
      -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="$work/$name/crash-" \
      "$work/$name" "$here/corpus/$name" >"$work/$name.log" 2>&1; then
    tail -40 "$work/$name.log"
    echo "fuzzer $name failed; inputs in $work/$name"
    status=1
    continue
  fi
  grep -E "^#[0-9]+.*(DONE|pulse)" "$work/$name.log" | tail -1 || true
done
[ "$status" -eq 0 ] && rm -rf "$work"
exit "$status"
