#!/usr/bin/env bash
# Install what the tests and the dev stack need on a fresh Debian machine: system packages
# (espeak-ng, sox: real speech audio; haproxy: the deploy-shaped run's load balancer; chromium: the
# console's browser tests), Node.js (CDK, the console), the Python virtualenv, and the web console's build (scripts/build_console.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need_apt+=(sox)
# The load balancer of `make dev-aws` and tests/deploy (the ALB's stand-in).
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
# Playwright's own browser download is not used: tests/console drive Debian's chromium.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
stamp=.venv/.installed
reqs="requirements.txt requirements-dev.txt media/requirements.txt constraints.txt $(ls layers/*.txt)"
[ -f infra/requirements.txt ] && reqs="$reqs infra/requirements.txt"
hash=$(cat $reqs | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
  [ -d .venv ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -r requirements-dev.txt
  if [ -f infra/requirements.txt ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -r infra/requirements.txt
  fi
  echo "$hash" > "$stamp"
fi

bash scripts/build_console.sh
