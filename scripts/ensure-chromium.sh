#!/usr/bin/env bash
# Run by npm before `npm test` (the `pretest` script): the tools the suite drives, from Debian, never
# downloaded. Run as root on Debian (as .ci/run does), each missing one is installed.
# - chromium: the dashboard's browser test (playwright-core). Required: without it, this stops at once
#   with the command to run.
# - promtool (package prometheus): test/prometheus-rules.test.ts checks and unit-tests
#   deploy/prometheus/. Optional: without it those cases are skipped, and this says how to install it.
# - python3-jwcrypto and python3-pika: test/python-sender.test.ts runs conformance/python/sender.py, a
#   second implementation of the sending side. Optional: without them that test is skipped, and this
#   says how to install them; a failed install never fails npm test.
set -euo pipefail
root_on_debian() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
updated=""
install() { # package [apt-get options]
  if [ -z "$updated" ]; then
    apt-get update -qq
    updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v promtool >/dev/null 2>&1; then
  if root_on_debian; then
    echo "npm test: installing Debian's prometheus for promtool, which checks deploy/prometheus/ (apt-get install prometheus)" >&2
    # Only promtool is needed: not the exporters and web assets the package recommends.
    install prometheus --no-install-recommends
  else
    echo "npm test: promtool is missing; the Prometheus rule tests will be skipped." >&2
    echo "  Install it with: sudo apt-get install -y prometheus" >&2
  fi
fi

has_python_modules() {
  local py
  for py in /usr/bin/python3 python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import jwcrypto, pika' >/dev/null 2>&1; then return 0; fi
  done
  return 1
}
if ! has_python_modules; then
  if root_on_debian; then
    echo "npm test: installing Debian's python3-jwcrypto and python3-pika for the independent python sender (conformance/python)" >&2
    install python3-jwcrypto python3-pika ||
      echo "npm test: could not install python3-jwcrypto python3-pika; the python sender test will be skipped." >&2
  else
    echo "npm test: python3 with jwcrypto and pika is missing; the python sender test will be skipped." >&2
    echo "  Install them with: sudo apt-get install -y python3-jwcrypto python3-pika" >&2
  fi
fi

browser="${ACCORD_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$browser" ]; then exit 0; fi
if root_on_debian; then
  echo "npm test: installing Debian's chromium for the dashboard's browser test (apt-get install chromium)" >&2
  install chromium
  exit 0
fi
echo "npm test: the dashboard's browser test needs Debian's chromium at $browser." >&2
echo "  Install it with: sudo apt-get install chromium   (or set ACCORD_CHROMIUM to a Chromium binary)" >&2
exit 1
