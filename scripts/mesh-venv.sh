#!/usr/bin/env bash
# Makes (idempotently) the Python venv for tests/mesh/independent.py: the `meshtastic`
# package's generated protobufs and `cryptography`, pinned. Prints the venv's python.
#
#   PY="$(bash scripts/mesh-venv.sh)"
#   cargo run -q --example mesh-vectors | "$PY" tests/mesh/independent.py check
#   "$PY" tests/mesh/independent.py generate > tests/mesh/vectors.txt
#
# The venv is ${MESH_VENV:-<repo>/target/mesh-venv}. meshtastic is installed with --no-deps:
# only its protobuf modules are used, and its other dependencies (pyserial, bleak, …) are
# large and not needed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MESH_VENV:-$ROOT/target/mesh-venv}"
MESHTASTIC_VERSION=2.7.11
PROTOBUF_VERSION=7.36.2
CRYPTOGRAPHY_VERSION=50.0.2
log() { echo "[mesh-venv] $*" >&2; }

PY="$VENV/bin/python"
# What independent.py imports, without running meshtastic's __init__ (it needs pyserial).
IMPORT_CHECK='import importlib.util, sys, types
spec = importlib.util.find_spec("meshtastic")
pkg = types.ModuleType("meshtastic"); pkg.__path__ = list(spec.submodule_search_locations)
sys.modules["meshtastic"] = pkg
from meshtastic.protobuf import mqtt_pb2, mesh_pb2, portnums_pb2, telemetry_pb2, config_pb2
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes'

if [ -x "$PY" ] && "$PY" -c "$IMPORT_CHECK" >/dev/null 2>&1; then
  echo "$PY"
  exit 0
fi

command -v python3 >/dev/null || { log "python3 is not installed"; exit 1; }
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  log "python3 cannot make venvs: install the python3-venv package (apt-get install python3-venv)"
  exit 1
fi

if [ ! -x "$PY" ]; then
  log "python3 -m venv $VENV"
  python3 -m venv "$VENV"
fi
PIP=("$VENV/bin/pip" install --disable-pip-version-check -q)
# protobuf and cryptography first: installed after meshtastic, pip would complain about
# meshtastic's dependencies that --no-deps leaves out.
log "pip install protobuf==$PROTOBUF_VERSION cryptography==$CRYPTOGRAPHY_VERSION"
timeout 300 "${PIP[@]}" "protobuf==$PROTOBUF_VERSION" "cryptography==$CRYPTOGRAPHY_VERSION"
log "pip install meshtastic==$MESHTASTIC_VERSION (--no-deps)"
timeout 300 "${PIP[@]}" --no-deps "meshtastic==$MESHTASTIC_VERSION"

if ! "$PY" -c "$IMPORT_CHECK"; then
  log "the venv at $VENV still cannot import the meshtastic protobufs and cryptography"
  exit 1
fi
echo "$PY"
