#!/usr/bin/env bash
# Rebuild js/stream_pane.js and js/chat_history.js, which bundle `marked` (see package.json).
# Node packages go outside js/ (js/ ships in the wheel as nvnb/static/): $NVNB_JS_DEPS, default
# ~/.cache/nvnb-js.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export NVNB_JS_DEPS="${NVNB_JS_DEPS:-${XDG_CACHE_HOME:-$HOME/.cache}/nvnb-js}"
mkdir -p "$NVNB_JS_DEPS"
cp "$here/package.json" "$here/package-lock.json" "$NVNB_JS_DEPS/"
(cd "$NVNB_JS_DEPS" && npm ci --no-audit --no-fund --loglevel=error)
node "$here/build.mjs"
