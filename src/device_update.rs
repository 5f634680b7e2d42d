//! What one message says about one device, whatever it came in as: the common currency
//! between the parsers that read messages (`state::devices::generic` for
//! `devices/…`/`sensors/…`, `mesh` for Meshtastic uplinks) and the registry that applies
//! them (`state::devices::DeviceRegistry`).
//!
//! Neither side depends on the other: both depend on this module.

use std::fmt;

/// Where a device's information comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// `devices/<id>/status` and `sensors/<id>/<kind>`.
    Generic,
    /// A Meshtastic node heard through a JSON uplink or a protobuf envelope.
    Meshtastic,
}

impl DeviceKind {
    /// A sensible silence after which a device of this kind shows as stale: 10 minutes
    /// for generic devices, 2 hours for Meshtastic nodes (which report every 15–30 min by
    /// default and whose apps count a node as online if heard within 2 hours).
    pub fn default_stale_after_ms(self) -> u64 {
        match self {
            DeviceKind::Generic => 10 * 60_000,
            DeviceKind::Meshtastic => 2 * 3_600_000,
        }
    }
}

/// The latest value of a reading.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadingValue {
    Number(f64),
    Text(String),
}

impl ReadingValue {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ReadingValue::Number(x) => Some(*x),
            ReadingValue::Text(_) => None,
        }
    }
}

impl fmt::Display for ReadingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadingValue::Number(x) => write!(f, "{x}"),
            ReadingValue::Text(s) => f.write_str(s),
        }
    }
}

/// One reading a message carries (a sensor kind, a status field, a telemetry field).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UpdateReading {
    pub key: String,
    pub value: ReadingValue,
    /// `None` keeps the unit the reading already has.
    pub unit: Option<String>,
}

impl UpdateReading {
    pub fn new(key: impl Into<String>, value: ReadingValue, unit: Option<String>) -> Self {
        UpdateReading {
            key: key.into(),
            value,
            unit,
        }
    }
}

/// The gateway that relayed a message onto the broker (Meshtastic uplinks), remembered for
/// the send-to-node form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Relay {
    pub gateway: u32,
    /// Region of the uplink (for the downlink topic).
    pub region: String,
    pub channel_name: String,
    pub channel_index: Option<u32>,
}

/// What one message says about one device. `None` and empty fields change nothing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeviceUpdate {
    /// The device's key in the list.
    pub id: String,
    pub kind: DeviceKind,
    /// Meshtastic node number.
    pub node_num: Option<u32>,
    /// `Some(true)` online, `Some(false)` offline.
    pub online: Option<bool>,
    pub name: Option<String>,
    pub short_name: Option<String>,
    pub hardware: Option<String>,
    /// Meshtastic role (`CLIENT`, `ROUTER`, …).
    pub role: Option<String>,
    /// A text message the device sent.
    pub text: Option<String>,
    pub readings: Vec<UpdateReading>,
    /// The time the message itself carries (wall-clock ms since the epoch), if any.
    pub sent_ms: Option<u64>,
    /// `(source, packet id)`: the same packet relayed several times carries the same key
    /// and is applied once.
    pub packet: Option<(u32, u32)>,
    /// The gateway that relayed the message.
    pub relay: Option<Relay>,
}

impl DeviceUpdate {
    /// An update that says only that the device was heard.
    pub fn new(id: impl Into<String>, kind: DeviceKind) -> Self {
        DeviceUpdate {
            id: id.into(),
            kind,
            node_num: None,
            online: None,
            name: None,
            short_name: None,
            hardware: None,
            role: None,
            text: None,
            readings: Vec::new(),
            sent_ms: None,
            packet: None,
            relay: None,
        }
    }
}
