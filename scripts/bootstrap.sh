#!/usr/bin/env bash
# Installs everything the project needs on a bare Debian 12 machine of this kind.
# Idempotent (a second run takes seconds) and bounded: every network step has a timeout,
# so a machine without internet fails fast instead of hanging.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { echo "[bootstrap] $*" >&2; }
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

# 1. Debian packages: Debian's rustc-web (has a buildable wasm32 std), lld, Chromium +
#    chromedriver, mosquitto, node (for playwright-core and binaryen's wasm-opt), zopfli
#    (the release build's gzip of the module).
APT_PACKAGES=(rustc-web cargo-web rust-web-src rust-web-clippy lld-22 chromium chromium-driver
  mosquitto mosquitto-clients nodejs npm curl ca-certificates python3 python3-venv zopfli)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from elsewhere (the machine image ships its own).
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs/}"); missing=("${missing[@]/npm/}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  timeout 600 $SUDO apt-get update -q || log "apt-get update failed; trying with the lists we have"
  DEBIAN_FRONTEND=noninteractive timeout 1800 $SUDO apt-get install -y -q "${missing[@]}"
fi

# 2. A wasm32 std. rustup's target if it can be had; else build one for Debian's rustc-web
#    (docs/building-wasm.md: `rustup target add` can hang where only package registries are reachable).
WASM_STD_DIR=/usr/lib/rustlib/wasm32-unknown-unknown/lib
if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  log "wasm32 std: rustup target installed"
elif ls "$WASM_STD_DIR"/libstd-*.rlib >/dev/null 2>&1; then
  log "wasm32 std: present in Debian rustc-web's sysroot"
elif command -v rustup >/dev/null && timeout 60 rustup target add wasm32-unknown-unknown; then
  log "wasm32 std: rustup target added"
else
  log "wasm32 std: building it for /usr/bin/rustc (about a minute)"
  scratch="$(mktemp -d)"
  mkdir -p "$scratch/src"
  printf '[package]\nname = "wasmstdscratch"\nversion = "0.0.0"\nedition = "2021"\n[lib]\npath = "src/lib.rs"\n' \
    > "$scratch/Cargo.toml"
  echo '#![no_std]' > "$scratch/src/lib.rs"
  (cd "$scratch" && RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Cembed-bitcode=yes" \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/lib/llvm-22/bin/wasm-ld \
    timeout 1800 /usr/bin/cargo build -q --release --target wasm32-unknown-unknown \
      -Zbuild-std=std,panic_abort,test,proc_macro)
  $SUDO mkdir -p "$WASM_STD_DIR"
  $SUDO cp "$scratch"/target/wasm32-unknown-unknown/release/deps/*.rlib "$WASM_STD_DIR"/
  $SUDO rm -f "$WASM_STD_DIR"/libwasmstdscratch-*.rlib
  rm -rf "$scratch"
fi
# 2b. std's own dependencies (compiler_builtins, moto-rt, ...) in cargo's cache: the release
#     build compiles std with the app (RELEASE_ENV in scripts/env.sh) and Trunk runs cargo
#     offline, so they must be there first. Nothing else fetches them when rustup's wasm32
#     target could be had. The stamp names the std sources it was fetched for; env.sh names
#     it (read in a subshell: the rest of env.sh is not for the bootstrap) and reads it.
read -r STD_SRC std_stamp < <(source "$ROOT/scripts/env.sh" && echo "$STD_SRC $STD_DEPS_STAMP")
if [ -n "$std_stamp" ]; then
  if [ -f "$std_stamp" ]; then
    log "std's dependencies: in cargo's cache"
  elif RUSTC_BOOTSTRAP=1 timeout 600 /usr/bin/cargo fetch -q --locked \
      --manifest-path "$STD_SRC/Cargo.toml"; then
    touch "$std_stamp"
    log "std's dependencies: fetched"
  else
    log "std's dependencies could not be fetched: release builds link the prebuilt std"
  fi
fi
if [ -x /usr/lib/llvm-22/bin/lld ] && [ ! -e /usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld ]; then
  $SUDO mkdir -p /usr/lib/rustlib/x86_64-unknown-linux-gnu/bin
  $SUDO ln -sf /usr/lib/llvm-22/bin/lld /usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld
fi

# 3. wasm-bindgen-cli at exactly the version in Cargo.lock, and trunk.
export PATH="$HOME/.cargo/bin:$PATH"
WBG_VERSION="$(grep -A1 '^name = "wasm-bindgen"$' "$ROOT/Cargo.lock" | sed -n 's/^version = "\(.*\)"$/\1/p')"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WBG_VERSION" ]; then
  log "cargo install wasm-bindgen-cli $WBG_VERSION"
  # Not --locked: its lock file pins a yanked webpki-roots (docs/building-wasm.md).
  timeout 1800 cargo install -q wasm-bindgen-cli --version "$WBG_VERSION" --force
fi
if [ "$(trunk --version 2>/dev/null | awk '{print $2}')" != "0.21.14" ]; then
  log "cargo install trunk 0.21.14"
  # --locked: without it lightningcss fails against a newer cssparser.
  timeout 2400 cargo install -q trunk --version 0.21.14 --locked --force
fi

# 4. npm packages: wasm-opt 132 (binaryen; Debian's 108 breaks the app), terser (the release
#    build's script minifier), playwright-core, mqtt, aedes (the end-to-end tests' second broker).
if [ ! -x "$ROOT/tests/e2e/node_modules/.bin/wasm-opt" ] || [ ! -d "$ROOT/tests/e2e/node_modules/playwright-core" ] \
  || [ ! -d "$ROOT/tests/e2e/node_modules/aedes" ] || [ ! -d "$ROOT/tests/e2e/node_modules/terser" ] \
  || [ "$ROOT/tests/e2e/package-lock.json" -nt "$ROOT/tests/e2e/node_modules/.package-lock.json" ]; then
  log "npm ci (tests/e2e)"
  (cd "$ROOT/tests/e2e" && timeout 900 npm ci --no-audit --no-fund --loglevel=error)
fi
# 5. A Python venv with the Meshtastic protobufs and `cryptography`: the independent
#    implementation the mesh tests check our envelopes against (scripts/mesh-venv.sh).
bash "$ROOT/scripts/mesh-venv.sh" >/dev/null
log "ready"
