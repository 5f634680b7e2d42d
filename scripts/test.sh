#!/usr/bin/env bash
# Runs every test: formatting and lints (host and wasm32), native tests, browser tests
# (wasm-bindgen-test in headless Chromium against a real mosquitto), the release build,
# and the end-to-end suite (the built page in Chromium against real brokers: mosquitto, and aedes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
source scripts/env.sh
start=$(date +%s)
logs="$(mktemp -d)"   # every runner's output, for the closing count
broker_dir="$(mktemp -d)"
# Stops the browser tests' mosquitto (by its pid) if a step fails, and leaves no temp dirs.
trap 'bash scripts/mosquitto.sh stop "$broker_dir"; rm -rf "$logs" "$broker_dir"' EXIT
step() { echo; echo "=== $* ($(( $(date +%s) - start )) s)"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy (host)"
cargo clippy --all-targets -q -- -D warnings

step "clippy (wasm32)"
RUSTC="$WASM_RUSTC" "${WASM_CLIPPY[@]}" -q --target wasm32-unknown-unknown --lib --bins --test browser -- -D warnings
# As Trunk builds the bins: without the session inside the UI binary.
RUSTC="$WASM_RUSTC" "${WASM_CLIPPY[@]}" -q --target wasm32-unknown-unknown --lib --bins --no-default-features -- -D warnings

step "native tests (cargo test)"
cargo test -q 2>&1 | tee "$logs/native.log" | grep -Ev '^$|^running 0 tests|^test result: ok. 0 passed' || true
grep -q "test result: FAILED" "$logs/native.log" && { echo "native tests failed"; exit 1; }
grep -q "test result: ok" "$logs/native.log" || { echo "native tests did not run"; exit 1; }

step "Meshtastic envelopes read back by an independent implementation (Python meshtastic + cryptography)"
MESH_PYTHON="$(bash scripts/mesh-venv.sh)"
export MESH_PYTHON
cargo run -q --example mesh-vectors | "$MESH_PYTHON" tests/mesh/independent.py check | tee "$logs/mesh.log"

step "browser tests (wasm-bindgen-test, headless Chromium, real mosquitto)"
bash scripts/mosquitto.sh start "$broker_dir"
MQTT_WEB_TEST_BROKER="ws://127.0.0.1:$(cat "$broker_dir/ws_port")/mqtt" RUSTC="$WASM_RUSTC" \
  cargo test --target wasm32-unknown-unknown --test browser 2>&1 | tee "$logs/browser.log"
bash scripts/mosquitto.sh stop "$broker_dir"

step "fault proxy (unit tests, build)"
cargo test -q --example fault-proxy 2>&1 | tee "$logs/proxy.log" | grep -E "test result|FAILED|panicked"
cargo build -q --example fault-proxy
FAULT_PROXY="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/examples/fault-proxy"
export FAULT_PROXY
node tests/fault_proxy/selfcheck.mjs "$FAULT_PROXY" | tee "$logs/selfcheck.log"

step "release build (trunk build --release)"
bash scripts/build-release.sh

step "end-to-end tests (playwright-core + Chromium + mosquitto and aedes)"
node --test --test-concurrency=1 tests/e2e/*.test.mjs | tee "$logs/e2e.log"

step "all tests passed"
passed=$(cat "$logs"/*.log | sed -nE 's/^test result: ok\. ([0-9]+) passed.*/\1/p; s/^# pass ([0-9]+)$/\1/p; s/^([0-9]+) passed, [0-9]+ failed$/\1/p' | awk '{ total += $1 } END { print total + 0 }')
echo "all: $passed passed, 0 failed"
