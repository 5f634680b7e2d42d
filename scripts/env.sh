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
# A release build compiles the standard library with the app (cargo's build-std) instead of
# linking the prebuilt one: std is then optimised for size and link-time optimised with the
# rest, and a panic aborts at once instead of formatting its message, so the formatting
# machinery panics alone reached and every panic's file name go (about 22 KB of gzip). It
# takes std's sources matching the compiler: Debian's rustc-web with rust-web-src (the
# bootstrap installs both), and cargo's unstable flags on this stable toolchain
# (RUSTC_BOOTSTRAP=1, for this build only), and std's own dependencies in cargo's cache (the
# bootstrap fetches them and leaves a stamp). Without those a release build links the
# prebuilt std. A debug build (`trunk serve`, the browser tests) always keeps std's panic
# messages, which is where to look when a release build dies with "unreachable".
# RELEASE_STD says which one it is (build-std or prebuilt), for the test that checks it.
STD_SRC=/usr/lib/rustlib/src/rust/library
STD_DEPS_STAMP=""
if [ -f "$STD_SRC/Cargo.lock" ]; then
  STD_DEPS_STAMP="${CARGO_HOME:-$HOME/.cargo}/mqtt-web-std-deps.$(sha256sum "$STD_SRC/Cargo.lock" | cut -c1-16)"
fi
RELEASE_RUSTFLAGS=""
RELEASE_ENV=(RUSTC="$WASM_RUSTC")
export RELEASE_STD=prebuilt
if [ -x /usr/bin/rustc ] && [ -n "$STD_DEPS_STAMP" ] && [ -f "$STD_DEPS_STAMP" ]; then
  RELEASE_STD=build-std
  RELEASE_RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort"
  RELEASE_ENV=(RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort
    RUSTFLAGS="$RELEASE_RUSTFLAGS")
fi
export CHROMEDRIVER=/usr/bin/chromedriver
export CHROMIUM=/usr/bin/chromium
# wasm-bindgen-test runs the browser tests in headless Chromium (options in webdriver.json).
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=120
