//! What the session side tells the UI about Meshtastic protobuf traffic: plain, decoded
//! data (the keys and the ciphertext stay in the worker).

use serde::{Deserialize, Serialize};

/// A channel the user has the key for: its name (as in the topic and the envelope's
/// `channel_id`) and its PSK in base64 (`AQ==` is the default key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelConfig {
    pub name: String,
    pub psk: String,
}

impl ChannelConfig {
    /// The channel every Meshtastic node starts with.
    pub fn default_channel() -> ChannelConfig {
        ChannelConfig {
            name: "LongFast".into(),
            psk: "AQ==".into(),
        }
    }
}

/// One packet read off `msh/<root>/2/e/<channel>/!<gateway>` (or `…/2/map/…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeshPacketSeen {
    /// The topic's root before `/2/`, e.g. `msh/EU_868` → `EU_868` (what a downlink needs).
    pub region: String,
    /// The envelope's `channel_id` (channel name, or `PKI` for direct messages).
    pub channel: String,
    /// The gateway that put it on the broker (`gateway_id`, `!%08x`), if it parsed.
    pub gateway: Option<u32>,
    pub from: u32,
    pub to: u32,
    /// Packet id; with `from` the key that identifies a packet heard by several gateways.
    pub id: u32,
    /// Seconds since the epoch the gateway received it, if the gateway had a clock.
    pub rx_time: Option<u32>,
    pub rx_snr: Option<f32>,
    pub rx_rssi: Option<i32>,
    /// `hop_start - hop_limit`, when the sender set `hop_start`.
    pub hops_away: Option<u32>,
    pub via_mqtt: bool,
    pub want_ack: bool,
    pub body: MeshBody,
}

/// What the packet says, as far as the app understands it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MeshBody {
    /// TEXT_MESSAGE_APP: UTF-8 text (lossy), maybe a reply (`reply_id`) or an emoji
    /// reaction (`emoji` non-zero) to another packet.
    Text {
        text: String,
        reply_id: Option<u32>,
        emoji: bool,
    },
    /// NODEINFO_APP: `User`.
    NodeInfo {
        long_name: Option<String>,
        short_name: Option<String>,
        /// Hardware model by name (`RAK4631`, …) or number.
        hardware: Option<String>,
        /// Role by name (`CLIENT`, `ROUTER`, …) or number.
        role: Option<String>,
    },
    /// POSITION_APP: degrees and metres.
    Position {
        latitude: Option<f64>,
        longitude: Option<f64>,
        altitude: Option<f64>,
    },
    /// TELEMETRY_APP: device and environment metrics, as `(field name, value)` with the
    /// names the JSON uplink uses (`battery_level`, `voltage`, `temperature`, …).
    Telemetry(Vec<(String, f64)>),
    /// ROUTING_APP: `request_id` is the packet it answers; `error` is the reason by name
    /// (`NONE` is a delivery ACK).
    Routing {
        request_id: Option<u32>,
        error: String,
    },
    /// MAP_REPORT_APP (unencrypted, on `…/2/map/`).
    MapReport {
        long_name: Option<String>,
        short_name: Option<String>,
        hardware: Option<String>,
        role: Option<String>,
        firmware_version: Option<String>,
        latitude: Option<f64>,
        longitude: Option<f64>,
    },
    /// A PKI-encrypted direct message: only the addressed node can read it.
    EncryptedDirect,
    /// Decrypted and parsed, but a port the app does not show (port number).
    Other { portnum: u32 },
}

/// Why an envelope on a mesh topic yielded no packet (counted per channel in the UI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MeshUndecodable {
    /// The envelope itself is not valid protobuf.
    BadEnvelope,
    /// No key is configured for the channel named in the envelope.
    NoKey,
    /// Decrypted with the channel's key, the bytes are not a valid `Data`: the key is wrong.
    WrongKey,
}

/// One update from the mesh decoder to the UI.
// Updates are made once and moved to the UI; boxing the packet would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MeshUpdate {
    Packet(MeshPacketSeen),
    Undecodable {
        channel: String,
        why: MeshUndecodable,
    },
}
