#!/usr/bin/env bash
# The benchmark (not part of the test command): native decode throughput, then the browser
# side by side (our app, our session alone, MQTT.js, a bare WebSocket). Prints figures and
# ratios; the browser report is also written to target/bench-report.md.
#   --quick   floods a tenth the size (a smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
source scripts/env.sh
echo "=== native: session framing decode throughput"
cargo run -q --release --example bench-framing
echo "=== release build"
bash scripts/build-release.sh
echo "=== browser: floods through mosquitto"
node tests/bench/bench.mjs "$@"
