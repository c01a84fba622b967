#!/usr/bin/env bash
# Build the web console (console/, TypeScript + Vite) into chalicelib/api/console_dist/, which the API
# serves at /console. The typed client is generated from the API's own OpenAPI document first.
# Skips the work when nothing it depends on changed (a stamp holds the inputs' hash).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
out=chalicelib/api/console_dist
stamp=console/node_modules/.console-build
"$PY" -c "import json, app; from chalicelib.api.openapi import build_spec; print(json.dumps(build_spec(), indent=1))" \
  > console/openapi.json.new
# Inputs: the sources, the build scripts, the lock file and the OpenAPI document (the console's types and form
# validators come from it); not the files generated from that document into src/.
hash=$( (find console/src console/scripts console/index.html console/vite.config.ts console/tsconfig.json \
          console/package.json console/package-lock.json -type f -not -name '*.gen.*' -not -name schema.d.ts -print0 \
          | sort -z | xargs -0 cat; cat console/openapi.json.new) | sha256sum | cut -d' ' -f1)
mv console/openapi.json.new console/openapi.json
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && [ -f "$out/index.html" ]; then
  exit 0
fi
lock_hash=$(sha256sum console/package-lock.json | cut -d' ' -f1)
if [ ! -f console/node_modules/.lock-hash ] || [ "$(cat console/node_modules/.lock-hash)" != "$lock_hash" ]; then
  (cd console && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_hash" > console/node_modules/.lock-hash
fi
# Quiet when it works; the compiler's output when it does not (a type error is otherwise only "exit 2").
if ! build_log=$(cd console && npm run --silent build 2>&1); then
  echo "$build_log" >&2
  echo "console build failed" >&2
  exit 1
fi
echo "$hash" > "$stamp"
echo "console built into $out"
