#!/usr/bin/env bash
# Starts a mosquitto on free loopback ports for a script or test.
#   scripts/mosquitto.sh start DIR [WS_PORT] [MQTT_PORT]  -> writes DIR/pid, DIR/ws_port, DIR/mqtt_port
#   scripts/mosquitto.sh stop DIR                         -> stops that mosquitto by its pid
# Extra config lines may be put in DIR/extra.conf before starting.
set -euo pipefail
cmd="$1"; dir="$2"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
case "$cmd" in
  start)
    mkdir -p "$dir"
    ws_port="${3:-$(free_port)}"; mqtt_port="${4:-$(free_port)}"
    {
      echo "per_listener_settings false"
      echo "allow_anonymous true"
      echo "listener $mqtt_port 127.0.0.1"
      echo "protocol mqtt"
      echo "listener $ws_port 127.0.0.1"
      echo "protocol websockets"
      [ -f "$dir/extra.conf" ] && cat "$dir/extra.conf"
    } > "$dir/mosquitto.conf"
    mosquitto -c "$dir/mosquitto.conf" > "$dir/mosquitto.log" 2>&1 &
    echo $! > "$dir/pid"; echo "$ws_port" > "$dir/ws_port"; echo "$mqtt_port" > "$dir/mqtt_port"
    for _ in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$mqtt_port") 2>/dev/null; then exit 0; fi
      kill -0 "$(cat "$dir/pid")" 2>/dev/null || { cat "$dir/mosquitto.log" >&2; exit 1; }
      sleep 0.1
    done
    echo "mosquitto did not start listening on $mqtt_port" >&2; cat "$dir/mosquitto.log" >&2; exit 1
    ;;
  stop)
    [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
