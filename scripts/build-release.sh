#!/usr/bin/env bash
# Builds the release dist/ and prints its gzip size.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# The release build must not inherit a development default broker (it uses the page's origin).
# How std is built for it: RELEASE_ENV in scripts/env.sh.
env -u MQTT_WEB_DEFAULT_BROKER "${RELEASE_ENV[@]}" trunk build --release --quiet
total=0
for f in dist/*; do
  [ -f "$f" ] || continue
  size=$(gzip -9 -c "$f" | wc -c); total=$((total + size))
  printf '  %-40s %8d bytes, gzip %7d\n' "$(basename "$f")" "$(stat -c %s "$f")" "$size"
done
echo "  dist/ total gzip: $total bytes ($((total / 1024)) KiB)"
