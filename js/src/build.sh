#!/usr/bin/env bash
# Rebuild nvnb/static/nvnb.js from js/src/ (see build.mjs); extra arguments go to build.mjs.
# Node packages live outside the repository: $NVNB_JS_DEPS, default ~/.cache/nvnb-js.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export NVNB_JS_DEPS="${NVNB_JS_DEPS:-${XDG_CACHE_HOME:-$HOME/.cache}/nvnb-js}"
mkdir -p "$NVNB_JS_DEPS"
if ! cmp -s "$here/package-lock.json" "$NVNB_JS_DEPS/package-lock.json" || [ ! -d "$NVNB_JS_DEPS/node_modules/esbuild" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$NVNB_JS_DEPS/"
  (cd "$NVNB_JS_DEPS" && npm ci --no-audit --no-fund --loglevel=error)
fi
node "$here/build.mjs" "$@"
