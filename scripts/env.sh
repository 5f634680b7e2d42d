# Sourced by the project's scripts: puts the project's tools on PATH and picks the rustc
# that has a wasm32 std (rustup's when its target is installed, else Debian's rustc-web).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
export PATH="$HOME/.cargo/bin:$ROOT/tests/e2e/node_modules/.bin:$PATH"
if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  WASM_RUSTC="$(rustup which rustc)"
  WASM_CLIPPY=(cargo clippy)
else
  WASM_RUSTC=/usr/bin/rustc
  WASM_CLIPPY=(/usr/bin/cargo-clippy clippy)
fi
export WASM_RUSTC
export CHROMEDRIVER=/usr/bin/chromedriver
export CHROMIUM=/usr/bin/chromium
# wasm-bindgen-test runs the browser tests in headless Chromium (options in webdriver.json).
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=120
