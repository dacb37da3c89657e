#!/usr/bin/env bash
# What the page and its browser tests need: web_demo's npm packages (npm ci from the
# committed lockfile: @litertjs/core, playwright-core) and Debian's chromium.
#   bash web_demo/scripts/install_deps.sh            (make web_deps; make test runs it)
# In CI (CI=true) anything that cannot be installed is an error; elsewhere a warning, and
# the browser tests skip with the reason.
set -uo pipefail
cd "$(dirname "$0")/.."
case "${CI:-}" in 1 | true | TRUE | True | yes) in_ci=1 ;; *) in_ci=0 ;; esac
problems=()

if command -v npm >/dev/null && command -v node >/dev/null; then
  if [ ! -f node_modules/.package-lock.json ] ||
     [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "web_deps: npm ci in web_demo/"
    npm ci --no-audit --no-fund --loglevel=error || problems+=("npm ci in web_demo failed")
  fi
else
  problems+=("node and npm (Node.js >= 20) not found")
fi

chromium="${CHROMIUM:-$(command -v chromium || true)}"
if [ -z "$chromium" ] || [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "web_deps: apt-get install chromium"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } ||
      problems+=("apt-get install chromium failed")
  else
    problems+=("chromium not found (as root: apt-get install chromium)")
  fi
fi

if [ "${#problems[@]}" -gt 0 ]; then
  for problem in "${problems[@]}"; do echo "web_deps: $problem" >&2; done
  if [ "$in_ci" = 1 ]; then exit 1; fi
  echo "web_deps: the browser tests (tests/apps/test_web_demo.py) will skip" >&2
fi
exit 0
