//! Meshtastic protobuf MQTT traffic: read the `ServiceEnvelope`s gateways publish on
//! `msh/<root>/2/e/<channel>/!<gateway>` (and map reports on `msh/<root>/2/map/`), and build
//! encrypted envelopes to publish as our own virtual node.
//!
//! The firmware takes an envelope from `<root>/2/e/<channel>/<id>` onto the mesh only if it
//! can decrypt it (the channel hash matches), its hop counts are at most 7 and neither
//! `gateway_id` nor `from` is the gateway's own node; hence [`build_envelope`] sends as our
//! own node, with hop_limit = hop_start = 3 and the OK_TO_MQTT bit set.
//!
//! [`build_uplink_envelope`] builds what a gateway publishes for another node's packet
//! (gateway and sender differ, with rx time, SNR, RSSI and hop counts), for the demo
//! publisher and tests.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::decimal::f32_as_written;

use super::crypto::{ChannelKey, KeyError};
use super::node_id::{format_node_id, parse_bang_hex, BROADCAST};
use super::packet::{ChannelConfig, MeshBody, MeshPacketSeen, MeshUndecodable, MeshUpdate};
use super::proto::{
    port, Data, MapReport, MeshPacket, PacketPayload, Position, Routing, ServiceEnvelope,
    Telemetry, User, WireWriter,
};
use super::uplink::hardware_model_name;

/// Envelopes longer than this are not read (a real one is a few hundred bytes).
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;
/// A received text is cut to this many UTF-8 bytes for the UI.
pub const MAX_SHOWN_TEXT_BYTES: usize = 1000;
/// Received names (node names, channel names, firmware version) are cut to this many bytes.
pub const MAX_SHOWN_NAME_BYTES: usize = 100;
/// Longest channel name [`build_envelope`] takes (Meshtastic itself allows 11).
pub const MAX_CHANNEL_NAME_BYTES: usize = 32;
/// `User.long_name` and `short_name` limits in the firmware (nanopb `max_size` 40 and 5,
/// including the NUL): a longer name would make the whole packet undecodable there.
pub const MAX_LONG_NAME_BYTES: usize = 39;
pub const MAX_SHORT_NAME_BYTES: usize = 4;

/// Hops our packets may take, counted from the gateway (the firmware default).
const HOP_LIMIT: u32 = 3;
/// `Data.bitfield` bit 0: the sender allows the packet to be uplinked to MQTT again.
const OK_TO_MQTT: u32 = 1;

/// Which kind of mesh protobuf topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MeshTopicKind {
    /// `msh/<root>/2/e/<channel>/!<gateway>`: a `ServiceEnvelope`, usually encrypted.
    Encrypted,
    /// `msh/<root>/2/map/…`: a `ServiceEnvelope` with an unencrypted map report.
    Map,
}

/// A mesh protobuf topic: its root (the region) and kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeshTopic {
    /// Everything between `msh/` and `/2/`, e.g. `EU_868` or `US/bayarea`.
    pub region: String,
    pub kind: MeshTopicKind,
}

/// Which mesh protobuf topic this is; None for any other topic (`…/2/json/…` and
/// `…/2/stat/…` included).
pub fn mesh_topic_kind(topic: &str) -> Option<MeshTopic> {
    split_mesh_topic(topic).map(|(topic, _)| topic)
}

/// The topic, and the level after `e` / `map` (the channel name on `/2/e/`, else often "").
fn split_mesh_topic(topic: &str) -> Option<(MeshTopic, &str)> {
    let levels: Vec<&str> = topic.strip_prefix("msh/")?.split('/').collect();
    // The first `2` after at least one root level is the protocol version level.
    let version = levels.iter().skip(1).position(|&level| level == "2")? + 1;
    let root = levels.get(..version)?;
    if root.iter().any(|level| level.is_empty()) {
        return None;
    }
    let kind = match *levels.get(version + 1)? {
        "e" => MeshTopicKind::Encrypted,
        "map" => MeshTopicKind::Map,
        _ => return None,
    };
    let next_level = levels.get(version + 2).copied().unwrap_or("");
    Some((
        MeshTopic {
            region: root.join("/"),
            kind,
        },
        next_level,
    ))
}

#[derive(Debug, Clone)]
struct DecoderChannel {
    name: String,
    key: ChannelKey,
    hash: u32,
}

/// Reads mesh protobuf messages with the channel keys the user configured.
#[derive(Debug, Clone)]
pub struct MeshDecoder {
    channels: Vec<DecoderChannel>,
}

impl Default for MeshDecoder {
    /// A decoder for the default channel, LongFast with key `AQ==`.
    fn default() -> Self {
        let mut decoder = MeshDecoder {
            channels: Vec::new(),
        };
        decoder.set_channels(&[ChannelConfig::default_channel()]);
        decoder
    }
}

impl MeshDecoder {
    /// Replaces the channel list. Channels whose PSK does not parse are skipped and returned
    /// with the reason, for the UI to show. A MeshDecoder::default() has the default channel
    /// LongFast/AQ==.
    pub fn set_channels(&mut self, channels: &[ChannelConfig]) -> Vec<(String, KeyError)> {
        let mut refused = Vec::new();
        self.channels.clear();
        for channel in channels {
            match ChannelKey::from_psk_base64(&channel.psk) {
                Ok(key) => self.channels.push(DecoderChannel {
                    hash: key.channel_hash(&channel.name),
                    name: channel.name.clone(),
                    key,
                }),
                Err(e) => refused.push((channel.name.clone(), e)),
            }
        }
        refused
    }

    /// None when `topic` is not a mesh protobuf topic; otherwise a packet or the reason it
    /// could not be read. Never panics on any bytes.
    pub fn decode(&self, topic: &str, payload: &[u8]) -> Option<MeshUpdate> {
        let (topic, topic_channel) = split_mesh_topic(topic)?;
        Some(match self.read(&topic, topic_channel, payload) {
            Ok(packet) => MeshUpdate::Packet(packet),
            Err((channel, why)) => MeshUpdate::Undecodable { channel, why },
        })
    }

    fn read(
        &self,
        topic: &MeshTopic,
        topic_channel: &str,
        payload: &[u8],
    ) -> Result<MeshPacketSeen, (String, MeshUndecodable)> {
        let bad_envelope = |channel: &str| {
            (
                cut(channel, MAX_SHOWN_NAME_BYTES).to_string(),
                MeshUndecodable::BadEnvelope,
            )
        };
        if payload.len() > MAX_ENVELOPE_BYTES {
            return Err(bad_envelope(topic_channel));
        }
        let envelope = ServiceEnvelope::parse(payload).map_err(|_| bad_envelope(topic_channel))?;
        let channel_name = if envelope.channel_id.is_empty() {
            topic_channel
        } else {
            envelope.channel_id.as_str()
        };
        let channel = cut(channel_name, MAX_SHOWN_NAME_BYTES).to_string();
        let Some(packet) = envelope.packet else {
            return Err((channel, MeshUndecodable::BadEnvelope));
        };
        let body = match &packet.payload {
            PacketPayload::Decoded(data) => body_of(data),
            PacketPayload::Absent => return Err((channel, MeshUndecodable::BadEnvelope)),
            // Sealed with the addressed node's public key: no channel key opens it.
            PacketPayload::Encrypted(_) if packet.pki_encrypted || channel == "PKI" => {
                MeshBody::EncryptedDirect
            }
            PacketPayload::Encrypted(ciphertext) => {
                match self.decrypt(&envelope.channel_id, &packet, ciphertext) {
                    Ok(data) => body_of(&data),
                    Err(why) => return Err((channel, why)),
                }
            }
        };
        Ok(MeshPacketSeen {
            region: topic.region.clone(),
            channel,
            gateway: parse_bang_hex(&envelope.gateway_id),
            from: packet.from,
            to: packet.to,
            id: packet.id,
            rx_time: non_zero(packet.rx_time),
            rx_snr: (packet.rx_snr != 0.0 && packet.rx_snr.is_finite()).then_some(packet.rx_snr),
            rx_rssi: (packet.rx_rssi != 0).then_some(packet.rx_rssi),
            hops_away: packet
                .hop_start
                .checked_sub(packet.hop_limit)
                .filter(|_| packet.hop_start > 0),
            via_mqtt: packet.via_mqtt,
            want_ack: packet.want_ack,
            body,
        })
    }

    /// Tries the channel named in the envelope, then every other channel with the packet's
    /// hash (8-bit hashes collide). The first key giving a `Data` with a port wins, which
    /// is also how the firmware tells a wrong key.
    fn decrypt(
        &self,
        channel_id: &str,
        packet: &MeshPacket,
        ciphertext: &[u8],
    ) -> Result<Data, MeshUndecodable> {
        let by_name = self
            .channels
            .iter()
            .position(|c| !channel_id.is_empty() && c.name == channel_id);
        let by_hash = self
            .channels
            .iter()
            .enumerate()
            .filter(|&(i, c)| Some(i) != by_name && c.hash == packet.channel)
            .map(|(_, c)| c);
        let candidates = by_name
            .and_then(|i| self.channels.get(i))
            .into_iter()
            .chain(by_hash);
        let mut tried_a_key = false;
        for channel in candidates {
            tried_a_key = true;
            let mut plain = ciphertext.to_vec();
            channel.key.apply(packet.id, packet.from, &mut plain);
            if let Ok(data) = Data::parse(&plain) {
                if data.portnum != 0 {
                    return Ok(data);
                }
            }
        }
        Err(if tried_a_key {
            MeshUndecodable::WrongKey
        } else {
            MeshUndecodable::NoKey
        })
    }
}

/// What a decoded `Data` says; a payload that does not parse for its port is `Other`.
fn body_of(data: &Data) -> MeshBody {
    let payload = data.payload.as_slice();
    let body = match data.portnum {
        port::TEXT_MESSAGE_APP => Some(MeshBody::Text {
            text: cut(&String::from_utf8_lossy(payload), MAX_SHOWN_TEXT_BYTES).to_string(),
            reply_id: non_zero(data.reply_id),
            emoji: data.emoji != 0,
        }),
        port::POSITION_APP => Position::parse(payload).ok().map(|p| MeshBody::Position {
            latitude: p.latitude_i.map(degrees),
            longitude: p.longitude_i.map(degrees),
            altitude: p.altitude.map(f64::from),
        }),
        port::NODEINFO_APP => User::parse(payload).ok().map(|u| MeshBody::NodeInfo {
            long_name: shown_name(&u.long_name),
            short_name: shown_name(&u.short_name),
            hardware: hardware_text(u.hw_model),
            role: Some(role_text(u.role)),
        }),
        port::ROUTING_APP => Routing::parse(payload).ok().map(|r| MeshBody::Routing {
            request_id: non_zero(data.request_id),
            error: routing_error_name(r.error_reason.unwrap_or(0)),
        }),
        port::TELEMETRY_APP => Telemetry::parse(payload)
            .ok()
            .map(|t| MeshBody::Telemetry(telemetry_fields(&t))),
        port::MAP_REPORT_APP => MapReport::parse(payload).ok().map(|m| MeshBody::MapReport {
            long_name: shown_name(&m.long_name),
            short_name: shown_name(&m.short_name),
            hardware: hardware_text(m.hw_model),
            role: Some(role_text(m.role)),
            firmware_version: shown_name(&m.firmware_version),
            latitude: m.latitude_i.map(degrees),
            longitude: m.longitude_i.map(degrees),
        }),
        _ => None,
    };
    body.unwrap_or(MeshBody::Other {
        portnum: data.portnum,
    })
}

/// Telemetry as `(name, value)` with the JSON uplink's names; environment voltage and
/// current are `env_voltage` / `env_current` so they do not clash with the battery's.
fn telemetry_fields(t: &Telemetry) -> Vec<(String, f64)> {
    let mut fields = Vec::new();
    let mut push = |name: &str, value: Option<f64>| {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            fields.push((name.to_string(), value));
        }
    };
    if let Some(d) = &t.device_metrics {
        push("battery_level", d.battery_level.map(f64::from));
        push("voltage", d.voltage.map(f32_as_written));
        push(
            "channel_utilization",
            d.channel_utilization.map(f32_as_written),
        );
        push("air_util_tx", d.air_util_tx.map(f32_as_written));
        push("uptime_seconds", d.uptime_seconds.map(f64::from));
    }
    if let Some(e) = &t.environment_metrics {
        push("temperature", e.temperature.map(f32_as_written));
        push("relative_humidity", e.relative_humidity.map(f32_as_written));
        push(
            "barometric_pressure",
            e.barometric_pressure.map(f32_as_written),
        );
        push("gas_resistance", e.gas_resistance.map(f32_as_written));
        push("env_voltage", e.voltage.map(f32_as_written));
        push("env_current", e.current.map(f32_as_written));
    }
    fields
}

fn degrees(e7: i32) -> f64 {
    f64::from(e7) / 1e7
}

fn non_zero(value: u32) -> Option<u32> {
    (value != 0).then_some(value)
}

/// A name for the UI: `None` when blank, else cut to [`MAX_SHOWN_NAME_BYTES`].
fn shown_name(name: &str) -> Option<String> {
    (!name.trim().is_empty()).then(|| cut(name, MAX_SHOWN_NAME_BYTES).to_string())
}

/// Hardware model by name or number; `None` when absent or UNSET (0).
fn hardware_text(model: Option<u32>) -> Option<String> {
    let model = model.filter(|&m| m != 0)?;
    Some(
        hardware_model_name(model)
            .map(str::to_string)
            .unwrap_or_else(|| model.to_string()),
    )
}

/// Role by name or number; absent is CLIENT (0), the proto3 default.
fn role_text(role: Option<u32>) -> String {
    let role = role.unwrap_or(0);
    role_name(role)
        .map(str::to_string)
        .unwrap_or_else(|| role.to_string())
}

/// Names of `Config.DeviceConfig.Role` values.
pub fn role_name(role: u32) -> Option<&'static str> {
    const NAMES: [&str; 13] = [
        "CLIENT",
        "CLIENT_MUTE",
        "ROUTER",
        "ROUTER_CLIENT",
        "REPEATER",
        "TRACKER",
        "SENSOR",
        "TAK",
        "CLIENT_HIDDEN",
        "LOST_AND_FOUND",
        "TAK_TRACKER",
        "ROUTER_LATE",
        "CLIENT_BASE",
    ];
    usize::try_from(role)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
}

/// Name of a `Routing.Error` value; unknown values as their number. `NONE` on a routing
/// packet whose `request_id` is ours is the delivery ACK.
pub fn routing_error_name(error: u32) -> String {
    let name = match error {
        0 => "NONE",
        1 => "NO_ROUTE",
        2 => "GOT_NAK",
        3 => "TIMEOUT",
        4 => "NO_INTERFACE",
        5 => "MAX_RETRANSMIT",
        6 => "NO_CHANNEL",
        7 => "TOO_LARGE",
        8 => "NO_RESPONSE",
        9 => "DUTY_CYCLE_LIMIT",
        32 => "BAD_REQUEST",
        33 => "NOT_AUTHORIZED",
        34 => "PKI_FAILED",
        35 => "PKI_UNKNOWN_PUBKEY",
        36 => "ADMIN_BAD_SESSION_KEY",
        37 => "ADMIN_PUBLIC_KEY_UNAUTHORIZED",
        other => return other.to_string(),
    };
    name.to_string()
}

/// `s` cut to at most `max` bytes, at a char boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let end = (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    s.get(..end).unwrap_or("")
}

/// What we send.
/// Longest text we put in one packet, in UTF-8 bytes: the firmware's `Data.payload` holds
/// at most 233 bytes (`DATA_PAYLOAD_LEN`), and a longer one fails to decode on the gateway,
/// which then drops the packet. (The JSON downlink's limit of 237 is the JSON path's.)
pub const MAX_PROTOBUF_TEXT_BYTES: usize = 233;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutgoingBody {
    /// TEXT_MESSAGE_APP. `reply_id` is the packet replied to; `emoji` makes the text a
    /// reaction (tapback) to it.
    Text {
        text: String,
        reply_id: Option<u32>,
        emoji: bool,
    },
    /// NODEINFO_APP: announce our virtual node. Names are trimmed and cut to the firmware's
    /// limits ([`MAX_LONG_NAME_BYTES`], [`MAX_SHORT_NAME_BYTES`]); blank ones get the
    /// firmware's defaults (`Meshtastic abcd`, `abcd` from the node id's last 4 hex digits).
    NodeInfo {
        long_name: String,
        short_name: String,
    },
}

/// A packet to publish as an encrypted envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingPacket {
    /// Topic root after `msh/`, e.g. `EU_868` or `US/bayarea`.
    pub region: String,
    /// Name and PSK of the channel to send on.
    pub channel: ChannelConfig,
    /// Our own virtual node (the gateway drops packets that claim to be from itself).
    pub from: u32,
    /// Target node, or [`BROADCAST`] (4294967295).
    pub to: u32,
    /// Fresh, non-zero, chosen by the caller.
    pub packet_id: u32,
    /// True for direct messages: the target answers with a routing ACK.
    pub want_ack: bool,
    pub body: OutgoingBody,
}

/// Why a packet cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnvelopeError {
    /// The text is empty or only whitespace.
    EmptyText,
    /// The text is longer than [`MAX_PROTOBUF_TEXT_BYTES`].
    TextTooLong {
        bytes: usize,
        limit: usize,
    },
    /// The channel's PSK is not a key.
    BadKey(KeyError),
    /// The region cannot be used as topic levels.
    BadRegion(String),
    /// The channel name cannot be used as a topic level.
    BadChannelName(String),
    ZeroPacketId,
    /// `from` is broadcast (or 0, which the firmware reads as "from this node"): we must
    /// send as one node of our own.
    BroadcastSender,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::EmptyText => f.write_str("type a message to send"),
            EnvelopeError::TextTooLong { bytes, limit } => write!(
                f,
                "message is {bytes} bytes (UTF-8); the limit is {limit} bytes"
            ),
            EnvelopeError::BadKey(e) => write!(f, "channel key: {e}"),
            EnvelopeError::BadRegion(why) => write!(f, "region: {why}"),
            EnvelopeError::BadChannelName(why) => write!(f, "channel name: {why}"),
            EnvelopeError::ZeroPacketId => f.write_str("the packet id must not be 0"),
            EnvelopeError::BroadcastSender => f.write_str(
                "the sender must be our own node number, not broadcast (!ffffffff) or 0",
            ),
        }
    }
}

impl std::error::Error for EnvelopeError {}

fn check_region(region: &str) -> Result<&str, EnvelopeError> {
    let region = region.trim();
    let why = if region.is_empty() {
        "pick the region (e.g. US, EU_868)"
    } else if region.contains(['+', '#', '\0']) {
        "a region cannot contain '+', '#' or NUL"
    } else if region.split('/').any(str::is_empty) {
        "a region cannot start or end with '/' or contain '//'"
    } else {
        return Ok(region);
    };
    Err(EnvelopeError::BadRegion(why.into()))
}

fn check_channel_name(name: &str) -> Result<(), EnvelopeError> {
    let why = if name.is_empty() {
        "type the channel name (e.g. LongFast)".to_string()
    } else if name.contains(['+', '#', '\0', '/']) {
        "a channel name cannot contain '+', '#', '/' or NUL".to_string()
    } else if name.len() > MAX_CHANNEL_NAME_BYTES {
        format!(
            "'{}…' is {} bytes; a channel name has at most {MAX_CHANNEL_NAME_BYTES}",
            cut(name, 12),
            name.len()
        )
    } else {
        return Ok(());
    };
    Err(EnvelopeError::BadChannelName(why))
}

/// Topic `msh/<region>/2/e/<channel>/!<from as %08x>` and the encrypted ServiceEnvelope bytes:
/// MeshPacket{from, to, channel = channel hash, encrypted = AES-CTR(Data), id = packet_id,
/// hop_limit = 3, hop_start = 3, want_ack}, channel_id = channel name, gateway_id =
/// format_node_id(from).
/// Data{portnum, payload, bitfield = 1 (OK_TO_MQTT)}; NodeInfo payload is a User{id =
/// format_node_id(from), long_name, short_name, hw_model = 0 (UNSET), role = CLIENT(0)};
/// Data.want_response = false.
pub fn build_envelope(packet: &OutgoingPacket) -> Result<(String, Vec<u8>), EnvelopeError> {
    let (region, key) = check_packet(&packet.region, &packet.channel, packet.packet_id)?;
    if packet.from == BROADCAST || packet.from == 0 {
        return Err(EnvelopeError::BroadcastSender);
    }
    let node_id = format_node_id(packet.from);
    let data = match &packet.body {
        OutgoingBody::Text {
            text,
            reply_id,
            emoji,
        } => {
            check_text(text)?;
            Data {
                portnum: port::TEXT_MESSAGE_APP,
                payload: text.as_bytes().to_vec(),
                reply_id: reply_id.unwrap_or(0),
                emoji: u32::from(*emoji),
                bitfield: OK_TO_MQTT,
                ..Data::default()
            }
        }
        OutgoingBody::NodeInfo {
            long_name,
            short_name,
        } => {
            let (long_name, short_name) = node_names(&node_id, long_name, short_name);
            let user = User {
                id: node_id.clone(),
                long_name,
                short_name,
                hw_model: None,
                role: None,
                ..User::default()
            };
            Data {
                portnum: port::NODEINFO_APP,
                payload: user.encode(),
                bitfield: OK_TO_MQTT,
                ..Data::default()
            }
        }
    };
    let mesh_packet = MeshPacket {
        from: packet.from,
        to: packet.to,
        id: packet.packet_id,
        hop_limit: HOP_LIMIT,
        hop_start: HOP_LIMIT,
        want_ack: packet.want_ack,
        ..MeshPacket::default()
    };
    Ok(seal(
        region,
        &packet.channel.name,
        &key,
        &data,
        mesh_packet,
        node_id,
    ))
}

/// What every built envelope needs, checked in this order: the region (returned trimmed),
/// the channel name, the key (returned expanded) and a non-zero packet id.
fn check_packet<'a>(
    region: &'a str,
    channel: &ChannelConfig,
    packet_id: u32,
) -> Result<(&'a str, ChannelKey), EnvelopeError> {
    let region = check_region(region)?;
    check_channel_name(&channel.name)?;
    let key = ChannelKey::from_psk_base64(&channel.psk).map_err(EnvelopeError::BadKey)?;
    if packet_id == 0 {
        return Err(EnvelopeError::ZeroPacketId);
    }
    Ok((region, key))
}

/// A text fits one packet: not blank, at most [`MAX_PROTOBUF_TEXT_BYTES`].
fn check_text(text: &str) -> Result<(), EnvelopeError> {
    if text.trim().is_empty() {
        return Err(EnvelopeError::EmptyText);
    }
    if text.len() > MAX_PROTOBUF_TEXT_BYTES {
        return Err(EnvelopeError::TextTooLong {
            bytes: text.len(),
            limit: MAX_PROTOBUF_TEXT_BYTES,
        });
    }
    Ok(())
}

/// `User` names as the firmware keeps them: trimmed and cut to its limits; blank ones get
/// its defaults (`Meshtastic abcd`, `abcd` from the last 4 hex digits of `node_id`).
fn node_names(node_id: &str, long_name: &str, short_name: &str) -> (String, String) {
    let last4 = node_id.get(5..).unwrap_or_default();
    let long_name = match cut(long_name.trim(), MAX_LONG_NAME_BYTES) {
        "" => format!("Meshtastic {last4}"),
        name => name.to_string(),
    };
    let short_name = match cut(short_name.trim(), MAX_SHORT_NAME_BYTES) {
        "" => last4.to_string(),
        name => name.to_string(),
    };
    (long_name, short_name)
}

/// Encrypts `data` into `packet` (AES-CTR with the packet's id and `from`; `channel` set to
/// the channel hash) and wraps it in a ServiceEnvelope from `gateway_id`. Returns the topic
/// `msh/<region>/2/e/<channel>/<gateway_id>` and the envelope bytes.
fn seal(
    region: &str,
    channel: &str,
    key: &ChannelKey,
    data: &Data,
    mut packet: MeshPacket,
    gateway_id: String,
) -> (String, Vec<u8>) {
    let mut encrypted = data.encode();
    key.apply(packet.id, packet.from, &mut encrypted);
    packet.channel = key.channel_hash(channel);
    packet.payload = PacketPayload::Encrypted(encrypted);
    let topic = format!("msh/{region}/2/e/{channel}/{gateway_id}");
    let envelope = ServiceEnvelope {
        packet: Some(packet),
        channel_id: channel.to_string(),
        gateway_id,
    };
    (topic, envelope.encode())
}

/// What a node sent, in an [`UplinkPacket`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UplinkBody {
    /// TEXT_MESSAGE_APP; the same limits as [`OutgoingBody::Text`].
    Text(String),
    /// NODEINFO_APP: a `User` with `id` = the node's `!%08x`. Names are trimmed and cut as
    /// in [`OutgoingBody::NodeInfo`]; `hw_model` is a `HardwareModel` number (see
    /// [`hardware_model_name`]) and `role` a `Config.DeviceConfig.Role` number (see
    /// [`role_name`]).
    NodeInfo {
        long_name: String,
        short_name: String,
        hw_model: u32,
        role: u32,
    },
    /// POSITION_APP: degrees (sent as `latitude_i` / `longitude_i`, degrees × 1e7, rounded
    /// and saturated to i32), metres, and the node's Unix time (left out when 0).
    Position {
        latitude: f64,
        longitude: f64,
        altitude: i32,
        time: u32,
    },
    /// TELEMETRY_APP with `device_metrics`; `Telemetry.time` is the packet's `rx_time`.
    DeviceTelemetry {
        battery_level: u32,
        voltage: f32,
        channel_utilization: f32,
        air_util_tx: f32,
        uptime_seconds: u32,
    },
    /// TELEMETRY_APP with `environment_metrics` (°C, %, hPa); `Telemetry.time` is the
    /// packet's `rx_time`.
    EnvironmentTelemetry {
        temperature: f32,
        relative_humidity: f32,
        barometric_pressure: f32,
    },
}

/// An envelope as a gateway puts a node's packet on the broker (demo publisher, tests):
/// unlike [`OutgoingPacket`], the gateway and the sender are different nodes, and the packet
/// carries what the gateway's radio measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UplinkPacket {
    /// Topic root after `msh/`, e.g. `EU_868` or `US/bayarea`.
    pub region: String,
    /// Name and PSK of the channel the node sent on.
    pub channel: ChannelConfig,
    /// The gateway that uplinks it (`gateway_id` and the topic's last level).
    pub gateway: u32,
    /// The node that sent it.
    pub from: u32,
    /// Target node, or [`BROADCAST`] (4294967295).
    pub to: u32,
    /// The sender's packet id, non-zero; several gateways uplink the same id.
    pub packet_id: u32,
    /// Hops the sender allowed, and the hops left when the gateway heard it: the decoder's
    /// `hops_away` is `hop_start - hop_limit`.
    pub hop_start: u32,
    pub hop_limit: u32,
    /// Unix seconds the gateway received it (0: no clock, left out).
    pub rx_time: u32,
    /// As the gateway's radio measured it (0: left out, as the firmware does).
    pub rx_snr: f32,
    pub rx_rssi: i32,
    pub body: UplinkBody,
}

/// Topic `msh/<region>/2/e/<channel>/!<gateway as %08x>` and the encrypted ServiceEnvelope
/// bytes a gateway publishes for `packet`: MeshPacket{from, to, channel = channel hash,
/// encrypted = AES-CTR(Data), id = packet_id, rx_time, rx_snr, rx_rssi, hop_limit,
/// hop_start}, channel_id = channel name, gateway_id = format_node_id(gateway);
/// Data{portnum, payload, bitfield = 1 (OK_TO_MQTT)}.
///
/// Refused as [`build_envelope`] refuses (region, channel name, key, packet id 0, text), and
/// with [`EnvelopeError::BroadcastSender`] when `from` or `gateway` is 0 or broadcast.
pub fn build_uplink_envelope(packet: &UplinkPacket) -> Result<(String, Vec<u8>), EnvelopeError> {
    let (region, key) = check_packet(&packet.region, &packet.channel, packet.packet_id)?;
    if [packet.from, packet.gateway]
        .iter()
        .any(|&node| node == BROADCAST || node == 0)
    {
        return Err(EnvelopeError::BroadcastSender);
    }
    let (portnum, payload) = match &packet.body {
        UplinkBody::Text(text) => {
            check_text(text)?;
            (port::TEXT_MESSAGE_APP, text.as_bytes().to_vec())
        }
        UplinkBody::NodeInfo {
            long_name,
            short_name,
            hw_model,
            role,
        } => {
            let id = format_node_id(packet.from);
            let (long_name, short_name) = node_names(&id, long_name, short_name);
            let user = User {
                id,
                long_name,
                short_name,
                hw_model: Some(*hw_model),
                role: Some(*role),
                ..User::default()
            };
            (port::NODEINFO_APP, user.encode())
        }
        UplinkBody::Position {
            latitude,
            longitude,
            altitude,
            time,
        } => {
            // `as` rounds toward zero and saturates; NaN becomes 0.
            let e7 = |degrees: f64| (degrees * 1e7).round() as i32;
            let mut w = WireWriter::new();
            w.sfixed32(1, e7(*latitude))
                .sfixed32(2, e7(*longitude))
                .int32(3, *altitude);
            if *time != 0 {
                w.fixed32(4, *time);
            }
            (port::POSITION_APP, w.into_bytes())
        }
        UplinkBody::DeviceTelemetry {
            battery_level,
            voltage,
            channel_utilization,
            air_util_tx,
            uptime_seconds,
        } => {
            let mut metrics = WireWriter::new();
            metrics
                .uint32(1, *battery_level)
                .float(2, *voltage)
                .float(3, *channel_utilization)
                .float(4, *air_util_tx)
                .uint32(5, *uptime_seconds);
            (port::TELEMETRY_APP, telemetry(packet.rx_time, 2, &metrics))
        }
        UplinkBody::EnvironmentTelemetry {
            temperature,
            relative_humidity,
            barometric_pressure,
        } => {
            let mut metrics = WireWriter::new();
            metrics
                .float(1, *temperature)
                .float(2, *relative_humidity)
                .float(3, *barometric_pressure);
            (port::TELEMETRY_APP, telemetry(packet.rx_time, 3, &metrics))
        }
    };
    let data = Data {
        portnum,
        payload,
        bitfield: OK_TO_MQTT,
        ..Data::default()
    };
    let mesh_packet = MeshPacket {
        from: packet.from,
        to: packet.to,
        id: packet.packet_id,
        rx_time: packet.rx_time,
        rx_snr: packet.rx_snr,
        rx_rssi: packet.rx_rssi,
        hop_limit: packet.hop_limit,
        hop_start: packet.hop_start,
        ..MeshPacket::default()
    };
    Ok(seal(
        region,
        &packet.channel.name,
        &key,
        &data,
        mesh_packet,
        format_node_id(packet.gateway),
    ))
}

/// A `Telemetry` with `time` (left out when 0) and `metrics` as its field `variant`
/// (2 = device_metrics, 3 = environment_metrics).
fn telemetry(time: u32, variant: u32, metrics: &WireWriter) -> Vec<u8> {
    let mut w = WireWriter::new();
    if time != 0 {
        w.fixed32(1, time);
    }
    w.message(variant, metrics);
    w.into_bytes()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    const VECTORS: &str = include_str!("../../tests/mesh/vectors.txt");
    const SECRET_PSK: &str = "4dAqAzQaUAyKDnLUGyhdbTnVhaBq++lTyCn2pkpus8M=";
    const ALPINE: u32 = 0xa1b2c3d4;
    const BASE: u32 = 0x0badcafe;
    const MAPPER: u32 = 0x5ea5ea5e;
    const OUR_NODE: u32 = 0x4d515454;
    const GATEWAY: u32 = 0x11223344;

    fn hex(s: &str) -> Vec<u8> {
        assert!(s.len().is_multiple_of(2) && s.is_ascii(), "bad hex {s}");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Every `name topic hex` line of the Python-made vector file.
    pub(crate) fn vectors() -> Vec<(&'static str, &'static str, Vec<u8>)> {
        VECTORS
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let parts: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(parts.len(), 3, "{line}");
                (parts[0], parts[1], hex(parts[2]))
            })
            .collect()
    }

    /// The topic and bytes of one vector (`<name>.data` is a plaintext `Data`).
    pub(crate) fn vector(name: &str) -> (&'static str, Vec<u8>) {
        vectors()
            .into_iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, topic, bytes)| (topic, bytes))
            .unwrap_or_else(|| panic!("no vector {name}"))
    }

    fn decoder_with_secret() -> MeshDecoder {
        let mut decoder = MeshDecoder::default();
        let refused = decoder.set_channels(&[
            ChannelConfig::default_channel(),
            ChannelConfig {
                name: "Secret".into(),
                psk: SECRET_PSK.into(),
            },
        ]);
        assert!(refused.is_empty());
        decoder
    }

    /// A packet with the fields most vectors share; tests override the rest.
    fn seen(region: &str, from: u32, to: u32, id: u32, body: MeshBody) -> MeshPacketSeen {
        MeshPacketSeen {
            region: region.into(),
            channel: "LongFast".into(),
            gateway: Some(GATEWAY),
            from,
            to,
            id,
            rx_time: None,
            rx_snr: None,
            rx_rssi: None,
            hops_away: Some(0),
            via_mqtt: false,
            want_ack: false,
            body,
        }
    }

    fn text(text: &str) -> MeshBody {
        MeshBody::Text {
            text: text.into(),
            reply_id: None,
            emoji: false,
        }
    }

    fn undecodable(channel: &str, why: MeshUndecodable) -> MeshUpdate {
        MeshUpdate::Undecodable {
            channel: channel.into(),
            why,
        }
    }

    fn expected(name: &str) -> MeshUpdate {
        let eu = "EU_868";
        let packet = match name {
            "nodeinfo" => MeshPacketSeen {
                rx_time: Some(1_700_000_000),
                rx_snr: Some(6.25),
                rx_rssi: Some(-97),
                hops_away: Some(1),
                ..seen(
                    eu,
                    ALPINE,
                    BROADCAST,
                    0x1000_0001,
                    MeshBody::NodeInfo {
                        long_name: Some("Alpine Relay".into()),
                        short_name: Some("ALP".into()),
                        hardware: Some("RAK4631".into()),
                        role: Some("ROUTER".into()),
                    },
                )
            },
            "position" => seen(
                "US/bayarea",
                ALPINE,
                BROADCAST,
                0x1000_0002,
                MeshBody::Position {
                    latitude: Some(37.7749295),
                    longitude: Some(-122.4194155),
                    altitude: Some(52.0),
                },
            ),
            "telemetry_device" => MeshPacketSeen {
                rx_rssi: Some(-120),
                hops_away: Some(2),
                ..seen(
                    eu,
                    ALPINE,
                    BROADCAST,
                    0x1000_0003,
                    MeshBody::Telemetry(vec![
                        ("battery_level".into(), 87.0),
                        ("voltage".into(), 4.05),
                        ("channel_utilization".into(), 12.5),
                        ("air_util_tx".into(), 3.25),
                        ("uptime_seconds".into(), 86400.0),
                    ]),
                )
            },
            "telemetry_environment" => seen(
                eu,
                BASE,
                BROADCAST,
                0x1000_0004,
                MeshBody::Telemetry(vec![
                    ("temperature".into(), 21.5),
                    ("relative_humidity".into(), 48.0),
                    ("barometric_pressure".into(), 1013.25),
                    ("gas_resistance".into(), 150.5),
                    ("env_voltage".into(), 3.3),
                    ("env_current".into(), 0.125),
                ]),
            ),
            "text" => MeshPacketSeen {
                via_mqtt: true,
                rx_snr: Some(-7.5),
                hops_away: None,
                ..seen(
                    eu,
                    BASE,
                    BROADCAST,
                    0x1000_0005,
                    text("Hello mesh ✓ ünïcode"),
                )
            },
            "reply" => MeshPacketSeen {
                want_ack: true,
                ..seen(
                    eu,
                    ALPINE,
                    BASE,
                    0x1000_0006,
                    MeshBody::Text {
                        text: "👍".into(),
                        reply_id: Some(0x1000_0005),
                        emoji: true,
                    },
                )
            },
            "routing_ack" => seen(
                eu,
                ALPINE,
                OUR_NODE,
                0x1000_0007,
                MeshBody::Routing {
                    request_id: Some(0x5eed_0001),
                    error: "NONE".into(),
                },
            ),
            "routing_nak" => seen(
                eu,
                GATEWAY,
                OUR_NODE,
                0x1000_0008,
                MeshBody::Routing {
                    request_id: Some(0x5eed_0002),
                    error: "MAX_RETRANSMIT".into(),
                },
            ),
            "traceroute" => seen(
                eu,
                ALPINE,
                BASE,
                0x1000_0009,
                MeshBody::Other { portnum: 70 },
            ),
            "map_report" => MeshPacketSeen {
                gateway: Some(MAPPER),
                ..seen(
                    "US",
                    MAPPER,
                    BROADCAST,
                    0x1000_000a,
                    MeshBody::MapReport {
                        long_name: Some("Mapper Hill".into()),
                        short_name: Some("MAP".into()),
                        hardware: Some("HELTEC_V3".into()),
                        role: Some("ROUTER_LATE".into()),
                        firmware_version: Some("2.7.11.ee68575".into()),
                        latitude: Some(-33.8688),
                        longitude: Some(151.2093),
                    },
                )
            },
            "text_unencrypted" => seen(eu, BASE, BROADCAST, 0x1000_000b, text("sent in the clear")),
            "aes256" => MeshPacketSeen {
                channel: "Secret".into(),
                ..seen(eu, BASE, BROADCAST, 0x1000_000c, text("over AES-256"))
            },
            "aes256_unnamed" => MeshPacketSeen {
                channel: "Secret".into(),
                ..seen(eu, BASE, BROADCAST, 0x1000_000d, text("found by hash"))
            },
            "pki" => MeshPacketSeen {
                channel: "PKI".into(),
                want_ack: true,
                ..seen(eu, ALPINE, BASE, 0x1000_000e, MeshBody::EncryptedDirect)
            },
            "wrong_key" => return undecodable("LongFast", MeshUndecodable::WrongKey),
            "unknown_channel" => return undecodable("Hidden", MeshUndecodable::NoKey),
            "no_packet" | "garbage" => {
                return undecodable("LongFast", MeshUndecodable::BadEnvelope)
            }
            other => panic!("vector {other} has no expected fields in this test"),
        };
        MeshUpdate::Packet(packet)
    }

    #[test]
    fn every_envelope_made_by_python_decodes_to_its_expected_fields() {
        let decoder = decoder_with_secret();
        let mut checked = 0;
        for (name, topic, bytes) in vectors() {
            if name.ends_with(".data") {
                continue;
            }
            assert_eq!(
                decoder.decode(topic, &bytes),
                Some(expected(name)),
                "vector {name}"
            );
            checked += 1;
        }
        assert_eq!(checked, 18, "vectors in tests/mesh/vectors.txt");
    }

    #[test]
    fn an_envelope_encrypted_by_python_decodes_to_its_fields() {
        let (topic, bytes) = vector("nodeinfo");
        let Some(MeshUpdate::Packet(p)) = MeshDecoder::default().decode(topic, &bytes) else {
            panic!("nodeinfo did not decode");
        };
        assert_eq!((p.from, p.to, p.id), (ALPINE, BROADCAST, 0x1000_0001));
        assert_eq!(p.hops_away, Some(1));
        assert_eq!(p.gateway, Some(GATEWAY));
    }

    #[test]
    fn a_channel_without_a_configured_key_is_no_key_and_a_wrong_key_is_wrong_key() {
        let decoder = MeshDecoder::default();
        let (topic, bytes) = vector("aes256");
        assert_eq!(
            decoder.decode(topic, &bytes),
            Some(undecodable("Secret", MeshUndecodable::NoKey))
        );
        let (topic, bytes) = vector("unknown_channel");
        assert_eq!(
            decoder.decode(topic, &bytes),
            Some(undecodable("Hidden", MeshUndecodable::NoKey))
        );
        // Secret configured under the right name but with another key.
        let mut decoder = MeshDecoder::default();
        decoder.set_channels(&[ChannelConfig {
            name: "Secret".into(),
            psk: "Ag==".into(),
        }]);
        let (topic, bytes) = vector("aes256");
        assert_eq!(
            decoder.decode(topic, &bytes),
            Some(undecodable("Secret", MeshUndecodable::WrongKey))
        );
    }

    #[test]
    fn pki_packets_are_encrypted_direct_messages_even_without_any_key() {
        let mut decoder = MeshDecoder::default();
        decoder.set_channels(&[]);
        let (topic, bytes) = vector("pki");
        let Some(MeshUpdate::Packet(p)) = decoder.decode(topic, &bytes) else {
            panic!("pki did not decode");
        };
        assert_eq!(p.body, MeshBody::EncryptedDirect);
    }

    #[test]
    fn channels_with_bad_keys_are_skipped_and_reported() {
        let mut decoder = MeshDecoder::default();
        let refused = decoder.set_channels(&[
            ChannelConfig {
                name: "Bad".into(),
                psk: "AAEC".into(),
            },
            ChannelConfig {
                name: "Worse".into(),
                psk: "%%".into(),
            },
            ChannelConfig::default_channel(),
        ]);
        assert_eq!(
            refused,
            vec![
                ("Bad".to_string(), KeyError::WrongLength { bytes: 3 }),
                ("Worse".to_string(), KeyError::NotBase64),
            ]
        );
        let (topic, bytes) = vector("text");
        assert!(matches!(
            decoder.decode(topic, &bytes),
            Some(MeshUpdate::Packet(_))
        ));
    }

    #[test]
    fn only_e_and_map_topics_under_msh_are_mesh_protobuf_topics() {
        let encrypted = |region: &str| {
            Some(MeshTopic {
                region: region.into(),
                kind: MeshTopicKind::Encrypted,
            })
        };
        assert_eq!(
            mesh_topic_kind("msh/US/bayarea/2/e/LongFast/!abcd1234"),
            encrypted("US/bayarea")
        );
        assert_eq!(
            mesh_topic_kind("msh/EU_868/2/e/PKI/!abcd1234"),
            encrypted("EU_868")
        );
        let map = Some(MeshTopic {
            region: "US".into(),
            kind: MeshTopicKind::Map,
        });
        assert_eq!(mesh_topic_kind("msh/US/2/map/"), map);
        assert_eq!(mesh_topic_kind("msh/US/2/map"), map);
        assert_eq!(mesh_topic_kind("msh/US/2/map/LongFast"), map);
        for other in [
            "msh/US/2/json/LongFast/!abcd1234",
            "msh/US/2/json/mqtt/",
            "msh/US/2/stat/!abcd1234",
            "msh/US/2",
            "msh/2/e/LongFast/!abcd1234",
            "msh//2/e/LongFast/!abcd1234",
            "meshtastic/US/2/e/LongFast/!abcd1234",
            "msh",
            "",
        ] {
            assert_eq!(mesh_topic_kind(other), None, "{other}");
        }
    }

    #[test]
    fn a_json_topic_is_not_decoded_here() {
        let (_, bytes) = vector("text");
        assert_eq!(
            MeshDecoder::default().decode("msh/EU_868/2/json/LongFast/!11223344", &bytes),
            None
        );
    }

    #[test]
    fn an_oversized_envelope_is_a_bad_envelope_without_being_read() {
        let (topic, bytes) = vector("text");
        let mut big = bytes.clone();
        // Valid protobuf: an unknown bytes field padding the envelope past the limit.
        let mut w = crate::mesh::proto::WireWriter::new();
        w.bytes(15, &vec![0; MAX_ENVELOPE_BYTES]);
        big.extend(w.into_bytes());
        assert_eq!(
            MeshDecoder::default().decode(topic, &big),
            Some(undecodable("LongFast", MeshUndecodable::BadEnvelope))
        );
    }

    #[test]
    fn received_text_and_names_are_cut_at_char_boundaries() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("😀", 3), "");
        assert_eq!(cut("abc", 10), "abc");
        let long = "é".repeat(600);
        let data = Data {
            portnum: port::TEXT_MESSAGE_APP,
            payload: long.as_bytes().to_vec(),
            ..Data::default()
        };
        let MeshBody::Text { text, .. } = body_of(&data) else {
            panic!("not text");
        };
        assert_eq!(text.len(), MAX_SHOWN_TEXT_BYTES);
        let user = User {
            long_name: "x".repeat(300),
            ..User::default()
        };
        let data = Data {
            portnum: port::NODEINFO_APP,
            payload: user.encode(),
            ..Data::default()
        };
        let MeshBody::NodeInfo {
            long_name, role, ..
        } = body_of(&data)
        else {
            panic!("not nodeinfo");
        };
        assert_eq!(long_name.map(|n| n.len()), Some(MAX_SHOWN_NAME_BYTES));
        assert_eq!(role.as_deref(), Some("CLIENT"));
    }

    #[test]
    fn invalid_utf8_text_is_shown_lossily() {
        let data = Data {
            portnum: port::TEXT_MESSAGE_APP,
            payload: b"ok \xff\xfe end".to_vec(),
            ..Data::default()
        };
        assert_eq!(body_of(&data), text("ok \u{fffd}\u{fffd} end"));
    }

    #[test]
    fn a_payload_that_does_not_parse_for_its_port_is_other() {
        let data = Data {
            portnum: port::POSITION_APP,
            payload: vec![0xff; 3],
            ..Data::default()
        };
        assert_eq!(body_of(&data), MeshBody::Other { portnum: 3 });
    }

    #[test]
    fn roles_and_routing_errors_have_their_names_or_numbers() {
        assert_eq!(role_name(0), Some("CLIENT"));
        assert_eq!(role_name(12), Some("CLIENT_BASE"));
        assert_eq!(role_name(13), None);
        assert_eq!(role_text(Some(99)), "99");
        assert_eq!(routing_error_name(0), "NONE");
        assert_eq!(routing_error_name(9), "DUTY_CYCLE_LIMIT");
        assert_eq!(routing_error_name(37), "ADMIN_PUBLIC_KEY_UNAUTHORIZED");
        assert_eq!(routing_error_name(10), "10");
        assert_eq!(hardware_text(Some(0)), None);
        assert_eq!(hardware_text(Some(9)).as_deref(), Some("RAK4631"));
        assert_eq!(hardware_text(Some(100_000)).as_deref(), Some("100000"));
    }

    fn outgoing(body: OutgoingBody) -> OutgoingPacket {
        OutgoingPacket {
            region: "EU_868".into(),
            channel: ChannelConfig::default_channel(),
            from: OUR_NODE,
            to: BROADCAST,
            packet_id: 0x0102_0304,
            want_ack: false,
            body,
        }
    }

    fn outgoing_text(text: &str) -> OutgoingPacket {
        outgoing(OutgoingBody::Text {
            text: text.into(),
            reply_id: None,
            emoji: false,
        })
    }

    #[test]
    fn a_built_envelope_decodes_back_to_the_same_packet_on_the_exact_topic() {
        let mut packet = outgoing_text("hello from mqtt-web");
        packet.to = ALPINE;
        packet.want_ack = true;
        let (topic, bytes) = build_envelope(&packet).unwrap();
        assert_eq!(topic, "msh/EU_868/2/e/LongFast/!4d515454");
        let Some(MeshUpdate::Packet(seen)) = MeshDecoder::default().decode(&topic, &bytes) else {
            panic!("did not decode");
        };
        assert_eq!(
            seen,
            MeshPacketSeen {
                region: "EU_868".into(),
                channel: "LongFast".into(),
                gateway: Some(OUR_NODE),
                from: OUR_NODE,
                to: ALPINE,
                id: 0x0102_0304,
                rx_time: None,
                rx_snr: None,
                rx_rssi: None,
                hops_away: Some(0),
                via_mqtt: false,
                want_ack: true,
                body: text("hello from mqtt-web"),
            }
        );
    }

    #[test]
    fn a_built_envelope_has_the_fields_the_gateway_requires() {
        let (_, bytes) = build_envelope(&outgoing_text("hi")).unwrap();
        let envelope = ServiceEnvelope::parse(&bytes).unwrap();
        assert_eq!(envelope.channel_id, "LongFast");
        assert_eq!(envelope.gateway_id, "!4d515454");
        let packet = envelope.packet.unwrap();
        assert_eq!((packet.hop_limit, packet.hop_start), (3, 3));
        assert_eq!(packet.channel, 8);
        let PacketPayload::Encrypted(mut data) = packet.payload else {
            panic!("not encrypted");
        };
        ChannelKey::from_psk_base64("AQ==")
            .unwrap()
            .apply(packet.id, packet.from, &mut data);
        let data = Data::parse(&data).unwrap();
        assert_eq!(data.bitfield, 1);
        assert!(!data.want_response);
        assert_eq!(data.payload, b"hi");
    }

    #[test]
    fn replies_reactions_and_node_info_round_trip() {
        let reaction = outgoing(OutgoingBody::Text {
            text: "❤️".into(),
            reply_id: Some(0x1000_0005),
            emoji: true,
        });
        let (topic, bytes) = build_envelope(&reaction).unwrap();
        let Some(MeshUpdate::Packet(seen)) = MeshDecoder::default().decode(&topic, &bytes) else {
            panic!("did not decode");
        };
        assert_eq!(
            seen.body,
            MeshBody::Text {
                text: "❤️".into(),
                reply_id: Some(0x1000_0005),
                emoji: true
            }
        );

        let info = outgoing(OutgoingBody::NodeInfo {
            long_name: "  mqtt-web browser node with a very long name indeed  ".into(),
            short_name: "MQWX!".into(),
        });
        let (topic, bytes) = build_envelope(&info).unwrap();
        let Some(MeshUpdate::Packet(seen)) = MeshDecoder::default().decode(&topic, &bytes) else {
            panic!("did not decode");
        };
        assert_eq!(
            seen.body,
            MeshBody::NodeInfo {
                long_name: Some("mqtt-web browser node with a very long ".into()),
                short_name: Some("MQWX".into()),
                hardware: None,
                role: Some("CLIENT".into()),
            }
        );

        let blank = outgoing(OutgoingBody::NodeInfo {
            long_name: " ".into(),
            short_name: String::new(),
        });
        let (topic, bytes) = build_envelope(&blank).unwrap();
        let Some(MeshUpdate::Packet(seen)) = MeshDecoder::default().decode(&topic, &bytes) else {
            panic!("did not decode");
        };
        let MeshBody::NodeInfo {
            long_name,
            short_name,
            ..
        } = seen.body
        else {
            panic!("not nodeinfo");
        };
        assert_eq!(long_name.as_deref(), Some("Meshtastic 5454"));
        assert_eq!(short_name.as_deref(), Some("5454"));
    }

    #[test]
    fn an_aes_256_channel_round_trips_on_a_multi_level_region() {
        let mut packet = outgoing_text("over AES-256");
        packet.region = " US/bayarea ".into();
        packet.channel = ChannelConfig {
            name: "Secret".into(),
            psk: SECRET_PSK.into(),
        };
        let (topic, bytes) = build_envelope(&packet).unwrap();
        assert_eq!(topic, "msh/US/bayarea/2/e/Secret/!4d515454");
        let Some(MeshUpdate::Packet(seen)) = decoder_with_secret().decode(&topic, &bytes) else {
            panic!("did not decode");
        };
        assert_eq!(
            (seen.region.as_str(), seen.channel.as_str()),
            ("US/bayarea", "Secret")
        );
        assert_eq!(seen.body, text("over AES-256"));
        assert_eq!(
            MeshDecoder::default().decode(&topic, &bytes),
            Some(undecodable("Secret", MeshUndecodable::NoKey))
        );
    }

    #[test]
    fn the_text_limit_is_233_bytes_counted_in_utf8() {
        assert_eq!(
            build_envelope(&outgoing_text(&"a".repeat(234))),
            Err(EnvelopeError::TextTooLong {
                bytes: 234,
                limit: 233
            })
        );
        // 25 × (2 + 3 + 4 bytes) + 2 × 4 bytes = 233.
        let multibyte = format!("{}😀😀", "ü€😀".repeat(25));
        assert_eq!(multibyte.len(), 233);
        let (topic, bytes) = build_envelope(&outgoing_text(&multibyte)).unwrap();
        let Some(MeshUpdate::Packet(seen)) = MeshDecoder::default().decode(&topic, &bytes) else {
            panic!("did not decode");
        };
        assert_eq!(seen.body, text(&multibyte));
        assert_eq!(
            build_envelope(&outgoing_text(&format!("{multibyte}a"))),
            Err(EnvelopeError::TextTooLong {
                bytes: 234,
                limit: 233
            })
        );
        assert_eq!(
            build_envelope(&outgoing_text(" \n ")),
            Err(EnvelopeError::EmptyText)
        );
    }

    #[test]
    fn bad_packets_are_refused_with_clear_errors() {
        let mut zero = outgoing_text("hi");
        zero.packet_id = 0;
        assert_eq!(build_envelope(&zero), Err(EnvelopeError::ZeroPacketId));
        for from in [0, BROADCAST] {
            let mut p = outgoing_text("hi");
            p.from = from;
            assert_eq!(build_envelope(&p), Err(EnvelopeError::BroadcastSender));
        }
        for region in ["", " ", "US/+", "US/#", "/US", "US/", "US//x", "a\0b"] {
            let mut p = outgoing_text("hi");
            p.region = region.into();
            assert!(
                matches!(build_envelope(&p), Err(EnvelopeError::BadRegion(_))),
                "{region:?}"
            );
        }
        for name in ["", "Long/Fast", "Long+", "#", "a\0", &"x".repeat(33)] {
            let mut p = outgoing_text("hi");
            p.channel.name = name.to_string();
            assert!(
                matches!(build_envelope(&p), Err(EnvelopeError::BadChannelName(_))),
                "{name:?}"
            );
        }
        let mut p = outgoing_text("hi");
        p.channel.name = "x".repeat(32);
        assert!(build_envelope(&p).is_ok());
        p.channel.psk = "AAE=".into();
        let err = build_envelope(&p).unwrap_err();
        assert_eq!(
            err,
            EnvelopeError::BadKey(KeyError::WrongLength { bytes: 2 })
        );
        assert!(err
            .to_string()
            .starts_with("channel key: the key is 2 bytes"));
        assert!(EnvelopeError::BroadcastSender
            .to_string()
            .contains("our own node"));
    }

    const UPLINK_NODE: u32 = 0xe2e0_b101;
    const UPLINK_GATEWAY: u32 = 0xe2e0_a001;

    fn uplink(body: UplinkBody) -> UplinkPacket {
        UplinkPacket {
            region: "EU_868".into(),
            channel: ChannelConfig::default_channel(),
            gateway: UPLINK_GATEWAY,
            from: UPLINK_NODE,
            to: BROADCAST,
            packet_id: 0x2000_0001,
            hop_start: 3,
            hop_limit: 3,
            rx_time: 1_700_000_000,
            rx_snr: 6.25,
            rx_rssi: -97,
            body,
        }
    }

    fn decode_uplink(packet: &UplinkPacket) -> MeshPacketSeen {
        let (topic, bytes) = build_uplink_envelope(packet).unwrap();
        match MeshDecoder::default().decode(&topic, &bytes) {
            Some(MeshUpdate::Packet(seen)) => seen,
            other => panic!("{:?} did not decode: {other:?}", packet.body),
        }
    }

    #[test]
    fn an_uplinked_envelope_decodes_to_the_node_the_gateway_and_its_rx_values() {
        let packet = uplink(UplinkBody::Text("morning all".into()));
        let (topic, bytes) = build_uplink_envelope(&packet).unwrap();
        assert_eq!(topic, "msh/EU_868/2/e/LongFast/!e2e0a001");
        assert_eq!(
            decode_uplink(&packet),
            MeshPacketSeen {
                region: "EU_868".into(),
                channel: "LongFast".into(),
                gateway: Some(UPLINK_GATEWAY),
                from: UPLINK_NODE,
                to: BROADCAST,
                id: 0x2000_0001,
                rx_time: Some(1_700_000_000),
                rx_snr: Some(6.25),
                rx_rssi: Some(-97),
                hops_away: Some(0),
                via_mqtt: false,
                want_ack: false,
                body: text("morning all"),
            }
        );
        // The fields a gateway sets, and the Data as the firmware would have sent it.
        let packet = ServiceEnvelope::parse(&bytes).unwrap().packet.unwrap();
        assert_eq!(
            (packet.channel, packet.hop_start, packet.hop_limit),
            (8, 3, 3)
        );
        let PacketPayload::Encrypted(mut data) = packet.payload else {
            panic!("not encrypted");
        };
        ChannelKey::from_psk_base64("AQ==")
            .unwrap()
            .apply(packet.id, packet.from, &mut data);
        let data = Data::parse(&data).unwrap();
        assert_eq!((data.portnum, data.bitfield), (port::TEXT_MESSAGE_APP, 1));
    }

    #[test]
    fn the_same_packet_through_a_second_gateway_is_one_hop_further_and_weaker() {
        let first = uplink(UplinkBody::Text("hi".into()));
        let second = UplinkPacket {
            gateway: 0xe2e0_a002,
            hop_limit: 2,
            rx_snr: -3.5,
            rx_rssi: -112,
            ..first.clone()
        };
        let (topic, _) = build_uplink_envelope(&second).unwrap();
        assert_eq!(topic, "msh/EU_868/2/e/LongFast/!e2e0a002");
        let (a, b) = (decode_uplink(&first), decode_uplink(&second));
        assert_eq!((a.from, a.id), (b.from, b.id));
        assert_eq!(
            (b.gateway, b.hops_away, b.rx_snr, b.rx_rssi),
            (Some(0xe2e0_a002), Some(1), Some(-3.5), Some(-112))
        );
    }

    #[test]
    fn uplinked_node_info_position_and_telemetry_decode_to_their_fields() {
        let info = uplink(UplinkBody::NodeInfo {
            long_name: "Harbour Master".into(),
            short_name: "HRBR".into(),
            hw_model: 9,
            role: 2,
        });
        assert_eq!(
            decode_uplink(&info).body,
            MeshBody::NodeInfo {
                long_name: Some("Harbour Master".into()),
                short_name: Some("HRBR".into()),
                hardware: Some("RAK4631".into()),
                role: Some("ROUTER".into()),
            }
        );
        let position = uplink(UplinkBody::Position {
            latitude: 47.3667,
            longitude: -8.545,
            altitude: -12,
            time: 1_699_999_990,
        });
        assert_eq!(
            decode_uplink(&position).body,
            MeshBody::Position {
                latitude: Some(47.3667),
                longitude: Some(-8.545),
                altitude: Some(-12.0),
            }
        );
        let device = uplink(UplinkBody::DeviceTelemetry {
            battery_level: 87,
            voltage: 4.05,
            channel_utilization: 12.5,
            air_util_tx: 3.25,
            uptime_seconds: 86_400,
        });
        assert_eq!(
            decode_uplink(&device).body,
            MeshBody::Telemetry(vec![
                ("battery_level".into(), 87.0),
                ("voltage".into(), 4.05),
                ("channel_utilization".into(), 12.5),
                ("air_util_tx".into(), 3.25),
                ("uptime_seconds".into(), 86400.0),
            ])
        );
        let environment = uplink(UplinkBody::EnvironmentTelemetry {
            temperature: 21.5,
            relative_humidity: 48.0,
            barometric_pressure: 1013.25,
        });
        assert_eq!(
            decode_uplink(&environment).body,
            MeshBody::Telemetry(vec![
                ("temperature".into(), 21.5),
                ("relative_humidity".into(), 48.0),
                ("barometric_pressure".into(), 1013.25),
            ])
        );
        // Telemetry carries the receive time as its own time, as a node with a clock does.
        let (_, bytes) = build_uplink_envelope(&environment).unwrap();
        let packet = ServiceEnvelope::parse(&bytes).unwrap().packet.unwrap();
        let PacketPayload::Encrypted(mut data) = packet.payload else {
            panic!("not encrypted");
        };
        ChannelKey::from_psk_base64("AQ==")
            .unwrap()
            .apply(packet.id, packet.from, &mut data);
        let telemetry = Telemetry::parse(&Data::parse(&data).unwrap().payload).unwrap();
        assert_eq!(telemetry.time, 1_700_000_000);
        assert_eq!(telemetry.device_metrics, None);
    }

    #[test]
    fn uplinks_without_rx_values_leave_them_out_and_on_another_channel_need_its_key() {
        let packet = UplinkPacket {
            region: "US/bayarea".into(),
            channel: ChannelConfig {
                name: "Secret".into(),
                psk: SECRET_PSK.into(),
            },
            hop_start: 0,
            hop_limit: 0,
            rx_time: 0,
            rx_snr: 0.0,
            rx_rssi: 0,
            ..uplink(UplinkBody::Text("quiet".into()))
        };
        let (topic, bytes) = build_uplink_envelope(&packet).unwrap();
        assert_eq!(topic, "msh/US/bayarea/2/e/Secret/!e2e0a001");
        let Some(MeshUpdate::Packet(seen)) = decoder_with_secret().decode(&topic, &bytes) else {
            panic!("did not decode");
        };
        assert_eq!(
            (seen.rx_time, seen.rx_snr, seen.rx_rssi, seen.hops_away),
            (None, None, None, None)
        );
        assert_eq!(
            MeshDecoder::default().decode(&topic, &bytes),
            Some(undecodable("Secret", MeshUndecodable::NoKey))
        );
    }

    #[test]
    fn bad_uplinks_are_refused_like_outgoing_packets() {
        for node in [0, BROADCAST] {
            let mut p = uplink(UplinkBody::Text("hi".into()));
            p.from = node;
            assert_eq!(
                build_uplink_envelope(&p),
                Err(EnvelopeError::BroadcastSender)
            );
            let mut p = uplink(UplinkBody::Text("hi".into()));
            p.gateway = node;
            assert_eq!(
                build_uplink_envelope(&p),
                Err(EnvelopeError::BroadcastSender)
            );
        }
        let mut p = uplink(UplinkBody::Text("hi".into()));
        p.packet_id = 0;
        assert_eq!(build_uplink_envelope(&p), Err(EnvelopeError::ZeroPacketId));
        let mut p = uplink(UplinkBody::Text("hi".into()));
        p.region = "US/#".into();
        assert!(matches!(
            build_uplink_envelope(&p),
            Err(EnvelopeError::BadRegion(_))
        ));
        let p = uplink(UplinkBody::Text(" ".into()));
        assert_eq!(build_uplink_envelope(&p), Err(EnvelopeError::EmptyText));
        let p = uplink(UplinkBody::Text("a".repeat(234)));
        assert_eq!(
            build_uplink_envelope(&p),
            Err(EnvelopeError::TextTooLong {
                bytes: 234,
                limit: 233
            })
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_on_a_mesh_topic_never_panic_and_always_answer(
            bytes in proptest::collection::vec(any::<u8>(), 0..600)
        ) {
            let decoder = decoder_with_secret();
            prop_assert!(decoder.decode("msh/EU_868/2/e/LongFast/!11223344", &bytes).is_some());
            prop_assert!(decoder.decode("msh/US/2/map/", &bytes).is_some());
        }

        #[test]
        fn corrupted_python_envelopes_never_panic(
            which in 0usize..18,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut_at in any::<usize>(),
        ) {
            let all: Vec<_> = vectors().into_iter().filter(|(n, _, _)| !n.ends_with(".data")).collect();
            let (_, topic, mut bytes) = all[which % all.len()].clone();
            for (at, value) in edits {
                let len = bytes.len().max(1);
                if let Some(b) = bytes.get_mut(at % len) {
                    *b = value;
                }
            }
            bytes.truncate(cut_at % (bytes.len() + 1));
            prop_assert!(decoder_with_secret().decode(topic, &bytes).is_some());
        }

        #[test]
        fn arbitrary_topics_never_panic(topic in ".{0,80}") {
            let _ = mesh_topic_kind(&topic);
            let _ = MeshDecoder::default().decode(&topic, b"");
        }

        #[test]
        fn any_valid_text_round_trips(text in "\\PC{1,60}", id in 1u32.., to in any::<u32>()) {
            prop_assume!(!text.trim().is_empty() && text.len() <= MAX_PROTOBUF_TEXT_BYTES);
            let mut packet = outgoing_text(&text);
            packet.packet_id = id;
            packet.to = to;
            let (topic, bytes) = build_envelope(&packet).unwrap();
            let decoded = MeshDecoder::default().decode(&topic, &bytes);
            let Some(MeshUpdate::Packet(seen)) = decoded else {
                return Err(TestCaseError::fail(format!("{decoded:?}")));
            };
            prop_assert_eq!((seen.from, seen.to, seen.id), (OUR_NODE, to, id));
            prop_assert_eq!(seen.body, super::tests::text(&text));
        }
    }
}
