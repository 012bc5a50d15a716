#!/usr/bin/env bash
# Run by npm before `npm test` (the `pretest` script): the dashboard's browser test drives Debian's
# Chromium through playwright-core, never a downloaded browser. Finds it; installs it when this runs as
# root on Debian (as .ci/run does); otherwise stops at once with the command to run.
set -euo pipefail
browser="${ACCORD_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$browser" ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "npm test: installing Debian's chromium for the dashboard's browser test (apt-get install chromium)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "npm test: the dashboard's browser test needs Debian's chromium at $browser." >&2
echo "  Install it with: sudo apt-get install chromium   (or set ACCORD_CHROMIUM to a Chromium binary)" >&2
exit 1
