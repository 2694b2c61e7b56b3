#!/usr/bin/env bash
# Regenerates the console's screenshots in docs/images/ (docs/console.md)
# from the browser test's run: builds what it needs, then runs it with
# WARDEN_SCREENSHOTS set.
#   bash tests/browser/screenshots.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build/rel}"
bash deploy/dev/install-tools.sh > /dev/null
[ -f "$build/build.ninja" ] ||
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
ninja -C "$build" console_browser_test wardend wardenctl > /dev/null
WARDEN_SCREENSHOTS="$PWD/docs/images" "$build/tests/console_browser_test"
ls -l docs/images/console-*.png
