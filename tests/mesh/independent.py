#!/usr/bin/env python3
"""Independent Meshtastic MQTT vectors for src/mesh (the Rust decoder and envelope builder).

Uses the `meshtastic` package's generated protobufs and `cryptography`'s AES-CTR, so the
Rust code is checked against an implementation it shares no code with.

  generate   print tests/mesh/vectors.txt (fixed ids, nodes and keys: same bytes every run)
  check      read our envelopes on stdin, one per line:
               name topic psk_base64 expected_to want_ack(0|1) port text_hex envelope_hex
             (port is TEXT_MESSAGE_APP or NODEINFO_APP; text_hex is the text, or the User
             long_name, as UTF-8 hex) and check each with the Python protobufs.

Usage (scripts/mesh-venv.sh makes the venv):
  python tests/mesh/independent.py generate > tests/mesh/vectors.txt
  cargo run -q --example mesh-vectors | python tests/mesh/independent.py check
"""

import base64
import hashlib
import importlib.metadata
import importlib.util
import platform
import sys
import types

# `import meshtastic` runs the package's __init__, which needs pyserial and more; only the
# generated protobufs are wanted, so register a bare package for them to load under.
_spec = importlib.util.find_spec("meshtastic")
if _spec is None or not _spec.submodule_search_locations:
    sys.exit("the `meshtastic` package is not installed (run scripts/mesh-venv.sh)")
_pkg = types.ModuleType("meshtastic")
_pkg.__path__ = list(_spec.submodule_search_locations)
sys.modules["meshtastic"] = _pkg

from meshtastic.protobuf import config_pb2, mesh_pb2, mqtt_pb2, portnums_pb2, telemetry_pb2  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402

DEFAULT_KEY = base64.b64decode("1PG7OiApB1nwvP+rz05pAQ==")
BROADCAST = 0xFFFFFFFF

# Fixed nodes and keys of the generated vectors.
NODE_ALPINE = 0xA1B2C3D4
NODE_BASE = 0x0BADCAFE
NODE_MAPPER = 0x5EA5EA5E
OUR_NODE = 0x4D515454
GATEWAY = 0x11223344
SECRET_PSK = base64.b64encode(hashlib.sha256(b"mqtt-web Secret channel").digest()).decode()
HIDDEN_PSK = base64.b64encode(hashlib.sha256(b"mqtt-web Hidden channel").digest()[:16]).decode()
WRONG_PSK = base64.b64encode(hashlib.sha256(b"not the LongFast key").digest()[:16]).decode()


def expand_psk(psk_base64):
    """The AES key a channel PSK stands for; b"" for no encryption."""
    psk = base64.b64decode(psk_base64) if psk_base64 else b""
    if len(psk) == 0 or psk == b"\x00":
        return b""
    if len(psk) == 1:
        return DEFAULT_KEY[:-1] + bytes([(DEFAULT_KEY[-1] + psk[0] - 1) & 0xFF])
    if len(psk) not in (16, 32):
        raise ValueError(f"PSK of {len(psk)} bytes")
    return psk


def xor_bytes(data):
    h = 0
    for b in data:
        h ^= b
    return h


def channel_hash(name, psk_base64):
    return xor_bytes(name.encode("utf-8")) ^ xor_bytes(expand_psk(psk_base64))


def aes_ctr(key, packet_id, sender, data):
    """Encrypts or decrypts (the same in CTR mode); no-op without a key."""
    if not key:
        return data
    nonce = packet_id.to_bytes(8, "little") + sender.to_bytes(4, "little") + bytes(4)
    cipher = Cipher(algorithms.AES(key), modes.CTR(nonce)).encryptor()
    return cipher.update(data) + cipher.finalize()


def envelope(packet, channel_id, gateway):
    env = mqtt_pb2.ServiceEnvelope()
    env.packet.CopyFrom(packet)
    env.channel_id = channel_id
    env.gateway_id = f"!{gateway:08x}"
    return env.SerializeToString()


def mesh_packet(**fields):
    # `from` is a Python keyword, so it is passed as from_.
    sender = fields.pop("from_")
    packet = mesh_pb2.MeshPacket(**fields)
    setattr(packet, "from", sender)
    return packet


def data(port, payload, **fields):
    return mesh_pb2.Data(portnum=portnums_pb2.PortNum.Value(port), payload=payload, **fields)


def generate():
    vectors = []  # (name, topic, envelope bytes, plaintext Data bytes or None)

    def encrypted(name, topic, channel_id, psk, channel_name, payload_data, **fields):
        sender = fields.pop("from_")
        packet = mesh_pb2.MeshPacket(**fields)
        setattr(packet, "from", sender)
        plain = payload_data.SerializeToString()
        packet.channel = channel_hash(channel_name, psk)
        packet.encrypted = aes_ctr(expand_psk(psk), packet.id, sender, plain)
        vectors.append((name, topic, envelope(packet, channel_id, GATEWAY), plain))

    lf = "msh/EU_868/2/e/LongFast/!11223344"

    user = mesh_pb2.User(
        id=f"!{NODE_ALPINE:08x}",
        long_name="Alpine Relay",
        short_name="ALP",
        macaddr=bytes.fromhex("deadbeefc3d4"),
        hw_model=mesh_pb2.HardwareModel.Value("RAK4631"),
        role=config_pb2.Config.DeviceConfig.Role.Value("ROUTER"),
        public_key=bytes(range(32)),
    )
    encrypted(
        "nodeinfo", lf, "LongFast", "AQ==", "LongFast",
        data("NODEINFO_APP", user.SerializeToString(), bitfield=1),
        from_=NODE_ALPINE, to=BROADCAST, id=0x10000001, rx_time=1700000000, rx_snr=6.25,
        rx_rssi=-97, hop_limit=2, hop_start=3,
    )

    position = mesh_pb2.Position(latitude_i=377749295, longitude_i=-1224194155, altitude=52, time=1700000100)
    encrypted(
        "position", "msh/US/bayarea/2/e/LongFast/!11223344", "LongFast", "AQ==", "LongFast",
        data("POSITION_APP", position.SerializeToString()),
        from_=NODE_ALPINE, to=BROADCAST, id=0x10000002, hop_limit=3, hop_start=3,
    )

    device = telemetry_pb2.Telemetry(time=1700000200)
    device.device_metrics.battery_level = 87
    device.device_metrics.voltage = 4.05
    device.device_metrics.channel_utilization = 12.5
    device.device_metrics.air_util_tx = 3.25
    device.device_metrics.uptime_seconds = 86400
    encrypted(
        "telemetry_device", lf, "LongFast", "AQ==", "LongFast",
        data("TELEMETRY_APP", device.SerializeToString()),
        from_=NODE_ALPINE, to=BROADCAST, id=0x10000003, hop_limit=1, hop_start=3, rx_rssi=-120,
    )

    environment = telemetry_pb2.Telemetry(time=1700000300)
    environment.environment_metrics.temperature = 21.5
    environment.environment_metrics.relative_humidity = 48.0
    environment.environment_metrics.barometric_pressure = 1013.25
    environment.environment_metrics.gas_resistance = 150.5
    environment.environment_metrics.voltage = 3.3
    environment.environment_metrics.current = 0.125
    encrypted(
        "telemetry_environment", lf, "LongFast", "AQ==", "LongFast",
        data("TELEMETRY_APP", environment.SerializeToString()),
        from_=NODE_BASE, to=BROADCAST, id=0x10000004, hop_limit=3, hop_start=3,
    )

    encrypted(
        "text", lf, "LongFast", "AQ==", "LongFast",
        data("TEXT_MESSAGE_APP", "Hello mesh ✓ ünïcode".encode("utf-8"), bitfield=1),
        from_=NODE_BASE, to=BROADCAST, id=0x10000005, via_mqtt=True, hop_limit=3, rx_snr=-7.5,
    )

    encrypted(
        "reply", lf, "LongFast", "AQ==", "LongFast",
        data("TEXT_MESSAGE_APP", "👍".encode("utf-8"), reply_id=0x10000005, emoji=1),
        from_=NODE_ALPINE, to=NODE_BASE, id=0x10000006, want_ack=True, hop_limit=3, hop_start=3,
    )

    ack = mesh_pb2.Routing(error_reason=mesh_pb2.Routing.Error.Value("NONE"))
    encrypted(
        "routing_ack", lf, "LongFast", "AQ==", "LongFast",
        data("ROUTING_APP", ack.SerializeToString(), request_id=0x5EED0001),
        from_=NODE_ALPINE, to=OUR_NODE, id=0x10000007, hop_limit=3, hop_start=3,
        priority=mesh_pb2.MeshPacket.Priority.Value("ACK"),
    )

    nak = mesh_pb2.Routing(error_reason=mesh_pb2.Routing.Error.Value("MAX_RETRANSMIT"))
    encrypted(
        "routing_nak", lf, "LongFast", "AQ==", "LongFast",
        data("ROUTING_APP", nak.SerializeToString(), request_id=0x5EED0002),
        from_=GATEWAY, to=OUR_NODE, id=0x10000008, hop_limit=7, hop_start=7,
    )

    route = mesh_pb2.RouteDiscovery(route=[NODE_BASE], snr_towards=[24])
    encrypted(
        "traceroute", lf, "LongFast", "AQ==", "LongFast",
        data("TRACEROUTE_APP", route.SerializeToString(), request_id=0x5EED0003),
        from_=NODE_ALPINE, to=NODE_BASE, id=0x10000009, hop_limit=3, hop_start=3,
    )

    report = mqtt_pb2.MapReport(
        long_name="Mapper Hill",
        short_name="MAP",
        role=config_pb2.Config.DeviceConfig.Role.Value("ROUTER_LATE"),
        hw_model=mesh_pb2.HardwareModel.Value("HELTEC_V3"),
        firmware_version="2.7.11.ee68575",
        region=1,  # US
        modem_preset=0,  # LONG_FAST
        has_default_channel=True,
        latitude_i=-338688000,
        longitude_i=1512093000,
        altitude=58,
    )
    packet = mesh_packet(from_=NODE_MAPPER, to=BROADCAST, id=0x1000000A, hop_limit=3, hop_start=3)
    packet.decoded.CopyFrom(data("MAP_REPORT_APP", report.SerializeToString()))
    vectors.append(("map_report", "msh/US/2/map/", envelope(packet, "LongFast", NODE_MAPPER), None))

    packet = mesh_packet(from_=NODE_BASE, to=BROADCAST, id=0x1000000B, hop_limit=3, hop_start=3)
    packet.decoded.CopyFrom(data("TEXT_MESSAGE_APP", b"sent in the clear", bitfield=1))
    vectors.append(("text_unencrypted", lf, envelope(packet, "LongFast", GATEWAY), None))

    encrypted(
        "aes256", "msh/EU_868/2/e/Secret/!11223344", "Secret", SECRET_PSK, "Secret",
        data("TEXT_MESSAGE_APP", b"over AES-256"),
        from_=NODE_BASE, to=BROADCAST, id=0x1000000C, hop_limit=3, hop_start=3,
    )

    # The same channel, but the envelope does not name it: found by its hash.
    encrypted(
        "aes256_unnamed", "msh/EU_868/2/e/Secret/!11223344", "", SECRET_PSK, "Secret",
        data("TEXT_MESSAGE_APP", b"found by hash"),
        from_=NODE_BASE, to=BROADCAST, id=0x1000000D, hop_limit=3, hop_start=3,
    )

    packet = mesh_packet(
        from_=NODE_ALPINE, to=NODE_BASE, id=0x1000000E, hop_limit=3, hop_start=3, want_ack=True,
        pki_encrypted=True, public_key=bytes(range(100, 132)),
    )
    packet.encrypted = hashlib.sha256(b"sealed for one node").digest() + bytes(range(12))
    vectors.append(("pki", "msh/EU_868/2/e/PKI/!11223344", envelope(packet, "PKI", GATEWAY), None))

    # Encrypted with another key but sent as LongFast with LongFast's hash.
    packet = mesh_packet(from_=NODE_BASE, to=BROADCAST, id=0x1000000F, hop_limit=3, hop_start=3)
    packet.channel = channel_hash("LongFast", "AQ==")
    packet.encrypted = aes_ctr(
        expand_psk(WRONG_PSK), packet.id, NODE_BASE,
        data("TEXT_MESSAGE_APP", b"you cannot read this").SerializeToString(),
    )
    vectors.append(("wrong_key", lf, envelope(packet, "LongFast", GATEWAY), None))

    hidden_hash = channel_hash("Hidden", HIDDEN_PSK)
    assert hidden_hash != channel_hash("LongFast", "AQ=="), "pick another Hidden key"
    encrypted(
        "unknown_channel", "msh/EU_868/2/e/Hidden/!11223344", "Hidden", HIDDEN_PSK, "Hidden",
        data("TEXT_MESSAGE_APP", b"no key for this"),
        from_=NODE_BASE, to=BROADCAST, id=0x10000010, hop_limit=3, hop_start=3,
    )

    no_packet = mqtt_pb2.ServiceEnvelope(channel_id="LongFast", gateway_id=f"!{GATEWAY:08x}")
    vectors.append(("no_packet", lf, no_packet.SerializeToString(), None))

    # Not protobuf: an over-long varint in the first tag.
    vectors.append(("garbage", lf, b"\xff" * 12, None))

    for name, _topic, env, _plain in vectors:
        if name != "garbage":
            mqtt_pb2.ServiceEnvelope().ParseFromString(env)  # each parses back in Python

    versions = {p: importlib.metadata.version(p) for p in ("meshtastic", "protobuf", "cryptography")}
    print("# Meshtastic MQTT envelopes made by an independent implementation: the `meshtastic`")
    print("# package's generated protobufs and `cryptography`'s AES-CTR.")
    print("# Produced by: python tests/mesh/independent.py generate > tests/mesh/vectors.txt")
    print(f"# with Python {platform.python_version()}, "
          + ", ".join(f"{p} {v}" for p, v in versions.items())
          + " (venv: scripts/mesh-venv.sh).")
    print("# Read by the tests in src/mesh/envelope.rs and src/mesh/crypto.rs, which hold the expected fields.")
    print("# Lines: `name topic envelope_hex`; `name.data - hex` is the plaintext Data of an encrypted one.")
    print(f"# Keys: LongFast AQ==, Secret {SECRET_PSK}, Hidden {HIDDEN_PSK}, wrong_key {WRONG_PSK}")
    for name, topic, env, plain in vectors:
        print(f"{name} {topic} {env.hex()}")
        if plain is not None:
            print(f"{name}.data - {plain.hex()}")


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def expect(self, name, what, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}: {what}")
        else:
            self.failed += 1
            print(f"FAIL {name}: {what}" + (f" ({detail})" if detail else ""))
        return ok


def check_line(c, line):
    fields = line.split()
    if len(fields) != 8:
        c.expect(line[:40], "line has 8 fields", False, f"{len(fields)} fields")
        return
    name, topic, psk, expected_to, want_ack, port, text_hex, env_hex = fields
    levels = topic.split("/")
    if not c.expect(
        name, "topic is msh/<region>/2/e/<channel>/!<gateway>",
        len(levels) >= 6 and levels[0] == "msh" and levels[-4:-2] == ["2", "e"]
        and levels[-1].startswith("!"), topic,
    ):
        return
    channel_name, gateway_id = levels[-2], levels[-1]
    raw = bytes.fromhex(env_hex)
    env = mqtt_pb2.ServiceEnvelope()
    try:
        env.ParseFromString(raw)
    except Exception as e:  # noqa: BLE001 - any parse failure is the finding
        c.expect(name, "parses as ServiceEnvelope", False, repr(e))
        return
    c.expect(name, "parses as ServiceEnvelope", env.HasField("packet"), "no packet")
    c.expect(name, "envelope bytes are canonical (re-serialize identically)",
             env.SerializeToString() == raw, env.SerializeToString().hex())
    c.expect(name, "channel_id is the topic's channel", env.channel_id == channel_name, env.channel_id)
    c.expect(name, "gateway_id is the topic's gateway", env.gateway_id == gateway_id, env.gateway_id)
    p = env.packet
    sender = getattr(p, "from")
    c.expect(name, "from is the gateway id (our own node)", f"!{sender:08x}" == gateway_id, f"{sender:#x}")
    c.expect(name, "to", p.to == int(expected_to), f"{p.to} != {expected_to}")
    c.expect(name, "want_ack", p.want_ack == (want_ack == "1"), str(p.want_ack))
    c.expect(name, "hop_limit == hop_start == 3", p.hop_limit == 3 and p.hop_start == 3,
             f"{p.hop_limit}/{p.hop_start}")
    c.expect(name, "id is non-zero", p.id != 0)
    c.expect(name, "channel is the channel hash", p.channel == channel_hash(channel_name, psk),
             f"{p.channel} != {channel_hash(channel_name, psk)}")
    if not c.expect(name, "payload is encrypted (not decoded)", p.WhichOneof("payload_variant") == "encrypted",
                    str(p.WhichOneof("payload_variant"))):
        return
    plain = aes_ctr(expand_psk(psk), p.id, sender, p.encrypted)
    d = mesh_pb2.Data()
    try:
        d.ParseFromString(plain)
    except Exception as e:  # noqa: BLE001
        c.expect(name, "decrypts to a Data", False, repr(e))
        return
    c.expect(name, "decrypted Data is canonical", d.SerializeToString() == plain)
    c.expect(name, f"portnum is {port}", d.portnum == portnums_pb2.PortNum.Value(port),
             portnums_pb2.PortNum.Name(d.portnum) if d.portnum in portnums_pb2.PortNum.values() else str(d.portnum))
    c.expect(name, "bitfield has OK_TO_MQTT", d.bitfield & 1 == 1, str(d.bitfield))
    c.expect(name, "want_response is false", not d.want_response)
    expected_text = bytes.fromhex(text_hex).decode("utf-8")
    if port == "TEXT_MESSAGE_APP":
        c.expect(name, "text", d.payload == expected_text.encode("utf-8"), repr(d.payload))
    elif port == "NODEINFO_APP":
        user = mesh_pb2.User()
        try:
            user.ParseFromString(d.payload)
        except Exception as e:  # noqa: BLE001
            c.expect(name, "payload parses as User", False, repr(e))
            return
        c.expect(name, "User.long_name", user.long_name == expected_text, user.long_name)
        c.expect(name, "User.id is the sender", user.id == gateway_id, user.id)
        c.expect(name, "User.short_name is set", user.short_name != "", user.short_name)


def check():
    c = Checker()
    lines = [line.strip() for line in sys.stdin if line.strip() and not line.startswith("#")]
    if not lines:
        c.expect("input", "at least one envelope on stdin", False)
    for line in lines:
        check_line(c, line)
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("generate", "check"):
        sys.exit(__doc__)
    if sys.argv[1] == "generate":
        generate()
        return 0
    return check()


if __name__ == "__main__":
    sys.exit(main())
