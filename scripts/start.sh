#!/usr/bin/env bash
# Starts the app for development: a local mosquitto (WebSocket listener on loopback), the
# demo publisher feeding it simulated devices, and `trunk serve` with that broker as the
# default. Open the printed URL. Ctrl-C stops everything (by pid).
#   --no-demo        do not start the demo publisher
#   MQTT_WS_PORT, MQTT_TCP_PORT, APP_PORT override the ports (defaults 19001, 18830, 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
demo=1
for arg in "$@"; do
  case "$arg" in
    --no-demo) demo=0 ;;
    *) echo "unknown option: $arg (known: --no-demo)" >&2; exit 2 ;;
  esac
done
bash scripts/bootstrap.sh
source scripts/env.sh
ws_port="${MQTT_WS_PORT:-19001}"; tcp_port="${MQTT_TCP_PORT:-18830}"; app_port="${APP_PORT:-8080}"
run_dir="$(mktemp -d)"
demo_pid=""
cleanup() {
  [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null || true
  bash scripts/mosquitto.sh stop "$run_dir"
  rm -rf "$run_dir"
}
trap cleanup EXIT INT TERM
bash scripts/mosquitto.sh start "$run_dir" "$ws_port" "$tcp_port"
echo "mosquitto: mqtt://127.0.0.1:$tcp_port, ws://127.0.0.1:$ws_port/mqtt (pid $(cat "$run_dir/pid"))"
if [ "$demo" = 1 ]; then
  cargo build -q --release --example demo-publisher
  target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
  "$target_dir/release/examples/demo-publisher" --host 127.0.0.1 --port "$tcp_port" &
  demo_pid=$!
  echo "demo publisher: pid $demo_pid (start with --no-demo to skip)"
fi
echo "app: http://127.0.0.1:$app_port/?connect=1&sub=%23  (default broker ws://127.0.0.1:$ws_port/mqtt)"
# A debug build with this broker baked in: served from target/, so dist/ stays the release
# build a host serves (which defaults to its own origin).
MQTT_WEB_DEFAULT_BROKER="ws://127.0.0.1:$ws_port/mqtt" RUSTC="$WASM_RUSTC" \
  trunk serve --address 127.0.0.1 --port "$app_port" --dist target/dev-dist
