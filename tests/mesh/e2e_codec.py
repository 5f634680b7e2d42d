"""Builds and reads Meshtastic MQTT envelopes for the end-to-end tests, with an
implementation independent of the app: the `meshtastic` package's generated protobufs and
`cryptography`'s AES-CTR.

  e2e_codec.py encode        JSON packet specs on stdin, one per line -> envelope hex per line
  e2e_codec.py decode PSK    envelope hex on stdin -> one JSON object of what it says

A spec: {"channel", "psk", "gateway", "from", "to", "id", "hop_start", "hop_limit",
"rx_time", "portnum" (name), "payload" (text for TEXT_MESSAGE_APP, else the fields of the
port's message), "request_id"?, "key_for_encryption"? (encrypt with another key than the
channel's, to make a wrong-key packet)}.
"""

import base64
import importlib.util
import json
import sys
import types

# `import meshtastic` runs the package's __init__, which wants pyserial and more: load only
# its generated protobuf modules.
_spec = importlib.util.find_spec("meshtastic")
_pkg = types.ModuleType("meshtastic")
_pkg.__path__ = list(_spec.submodule_search_locations)
sys.modules["meshtastic"] = _pkg

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from meshtastic.protobuf import mesh_pb2, mqtt_pb2, portnums_pb2, telemetry_pb2  # noqa: E402

DEFAULT_KEY = base64.b64decode("1PG7OiApB1nwvP+rz05pAQ==")


def expand_key(psk_b64):
    key = base64.b64decode(psk_b64)
    if len(key) == 1:
        if key[0] == 0:
            return b""
        return DEFAULT_KEY[:-1] + bytes([(DEFAULT_KEY[-1] + key[0] - 1) & 0xFF])
    return key


def channel_hash(name, key):
    h = 0
    for b in name.encode() + key:
        h ^= b
    return h


def aes_ctr(key, packet_id, sender, data):
    if not key:
        return data
    nonce = packet_id.to_bytes(8, "little") + sender.to_bytes(4, "little") + b"\0" * 4
    c = Cipher(algorithms.AES(key), modes.CTR(nonce)).encryptor()
    return c.update(data) + c.finalize()


PAYLOAD_TYPES = {
    "NODEINFO_APP": mesh_pb2.User,
    "POSITION_APP": mesh_pb2.Position,
    "TELEMETRY_APP": telemetry_pb2.Telemetry,
    "ROUTING_APP": mesh_pb2.Routing,
}


def encode(spec):
    data = mesh_pb2.Data()
    data.portnum = portnums_pb2.PortNum.Value(spec["portnum"])
    if spec["portnum"] == "TEXT_MESSAGE_APP":
        data.payload = spec["payload"].encode()
    else:
        message = PAYLOAD_TYPES[spec["portnum"]]()
        json_format.ParseDict(spec["payload"], message, ignore_unknown_fields=False)
        data.payload = message.SerializeToString()
    if spec.get("request_id"):
        data.request_id = spec["request_id"]
    key = expand_key(spec["psk"])
    crypt_key = expand_key(spec.get("key_for_encryption", spec["psk"]))
    packet = mesh_pb2.MeshPacket()
    setattr(packet, "from", spec["from"])
    packet.to = spec["to"]
    packet.id = spec["id"]
    packet.channel = channel_hash(spec["channel"], key)
    packet.hop_limit = spec.get("hop_limit", 3)
    packet.hop_start = spec.get("hop_start", 3)
    packet.rx_time = spec.get("rx_time", 0)
    packet.rx_snr = spec.get("rx_snr", 6.25)
    packet.rx_rssi = spec.get("rx_rssi", -71)
    packet.encrypted = aes_ctr(crypt_key, spec["id"], spec["from"], data.SerializeToString())
    envelope = mqtt_pb2.ServiceEnvelope()
    envelope.packet.CopyFrom(packet)
    envelope.channel_id = spec["channel"]
    envelope.gateway_id = "!%08x" % spec["gateway"]
    return envelope.SerializeToString().hex()


def decode(hex_text, psk_b64):
    envelope = mqtt_pb2.ServiceEnvelope()
    envelope.ParseFromString(bytes.fromhex(hex_text.strip()))
    packet = envelope.packet
    key = expand_key(psk_b64)
    sender = getattr(packet, "from")
    data = mesh_pb2.Data()
    data.ParseFromString(aes_ctr(key, packet.id, sender, packet.encrypted))
    port = portnums_pb2.PortNum.Name(data.portnum)
    out = {
        "channel_id": envelope.channel_id,
        "gateway_id": envelope.gateway_id,
        "from": sender,
        "to": packet.to,
        "id": packet.id,
        "channel_hash_matches": packet.channel == channel_hash(envelope.channel_id, key),
        "hop_limit": packet.hop_limit,
        "hop_start": packet.hop_start,
        "want_ack": packet.want_ack,
        "portnum": port,
        "bitfield": data.bitfield,
    }
    if port == "TEXT_MESSAGE_APP":
        out["text"] = data.payload.decode("utf-8")
    elif port == "NODEINFO_APP":
        user = mesh_pb2.User()
        user.ParseFromString(data.payload)
        out["user"] = json_format.MessageToDict(user, preserving_proto_field_name=True)
    return out


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "encode":
        for line in sys.stdin:
            if line.strip():
                print(encode(json.loads(line)))
    elif len(sys.argv) == 3 and sys.argv[1] == "decode":
        print(json.dumps(decode(sys.stdin.read(), sys.argv[2])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
