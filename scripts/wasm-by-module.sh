#!/usr/bin/env bash
# Where the release wasm's code goes, per module of ours, with the UI runtime's generic code
# charged to the view it was compiled for (a form with many inline fields shows up here, not
# as "tachys"). Builds the release module with v0 symbol names (they keep generic arguments)
# into target/wasm-by-module, so the normal build cache is untouched. About 4 minutes the first
# time (std is compiled too), 1 after.
#   bash scripts/wasm-by-module.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out=target/wasm-by-module
# The release build's std (RELEASE_ENV in scripts/env.sh), so the figures are the shipped code's.
env "${RELEASE_ENV[@]}" RUSTFLAGS="$RELEASE_RUSTFLAGS -Csymbol-mangling-version=v0" CARGO_TARGET_DIR="$out" \
  cargo build --release --target wasm32-unknown-unknown --bin mqtt-web --no-default-features -q
wasm-bindgen --target no-modules --out-dir "$out/bindgen" \
  "$out/wasm32-unknown-unknown/release/mqtt-web.wasm"
node tests/bench/wasm-size.mjs --by-module "$out/bindgen/mqtt-web_bg.wasm" "${1:-30}"
