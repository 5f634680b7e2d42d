//! Device registry: a list of devices built from traffic alone.
//!
//! Recognised topics (everything else is ignored):
//! - `devices/<id>/status`: JSON (`status` online/offline plus any fields, kept as readings)
//!   or plain text `online` / `offline` (also as a last will).
//! - `sensors/<id>/<kind>`: JSON `{value, unit, timestamp}` or a bare number.
//! - `msh/<region>/2/json/<channel>/!<gateway>`: Meshtastic JSON uplinks, keyed by node
//!   number (`from`), de-duplicated on the packet id.
//!
//! Plain data, no clock reads: every input carries `now_ms` (wall-clock milliseconds since
//! the Unix epoch). Memory is bounded: devices, readings per device, history per reading,
//! gateways, regions and remembered packet ids are all capped.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::time::timestamp_ms_of;

use crate::mesh::{format_node_id, parse_uplink, PacketDedup, UplinkPayload, UplinkTopic};

/// Default cap on the number of devices kept.
pub const DEFAULT_MAX_DEVICES: usize = 2_000;
/// Default number of numeric values kept per reading (for a sparkline).
pub const DEFAULT_HISTORY_LEN: usize = 30;
/// Readings kept per device; further new keys are ignored.
pub const MAX_READINGS_PER_DEVICE: usize = 64;
/// Gateways remembered (most recently heard first).
pub const MAX_GATEWAYS: usize = 64;
/// Regions remembered (most recently heard first).
pub const MAX_REGIONS: usize = 32;
/// Payloads larger than this are not parsed.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Device ids (topic level) longer than this are ignored.
pub const MAX_ID_BYTES: usize = 128;
/// Text values (names, text readings, last text) are cut to this many bytes.
pub const MAX_TEXT_BYTES: usize = 512;

/// Where a device's information comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// `devices/<id>/status` and `sensors/<id>/<kind>`.
    Generic,
    /// A Meshtastic node heard through a JSON uplink.
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

/// What the device list shows as a device's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Liveness {
    Online,
    Offline,
    Stale,
}

impl Liveness {
    pub fn as_str(self) -> &'static str {
        match self {
            Liveness::Online => "online",
            Liveness::Offline => "offline",
            Liveness::Stale => "stale",
        }
    }

    /// For `data-online`: only `Online` is `true`.
    pub fn is_online(self) -> bool {
        self == Liveness::Online
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

/// One reading of a device (a sensor kind, a status field, a telemetry field).
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub value: ReadingValue,
    pub unit: Option<String>,
    /// The last numeric values, oldest first, at most the registry's history length.
    pub history: Vec<f64>,
    /// When this reading last changed (caller's `now_ms`).
    pub updated_ms: u64,
}

/// A device as the list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// The `<id>` of the topic, or `!xxxxxxxx` for a Meshtastic node.
    pub id: String,
    pub kind: DeviceKind,
    /// Meshtastic node number.
    pub node_num: Option<u32>,
    /// Long name (Meshtastic `longname`, or a `name` field of a status).
    pub name: Option<String>,
    pub short_name: Option<String>,
    pub hardware: Option<String>,
    /// From a status message: `Some(true)` online, `Some(false)` offline, `None` never said.
    pub online: Option<bool>,
    /// Best estimate of when the device was last heard (wall-clock ms). Live messages count
    /// as now; a retained message counts as the time it carries, if any, else now.
    pub last_seen_ms: u64,
    pub readings: BTreeMap<String, Reading>,
    /// Last Meshtastic text message sent by this node.
    pub last_text: Option<String>,
    /// Messages applied to this device (a mesh packet forwarded by several gateways counts once).
    pub message_count: u64,
}

impl Device {
    fn new(id: String, kind: DeviceKind) -> Self {
        Device {
            id,
            kind,
            node_num: None,
            name: None,
            short_name: None,
            hardware: None,
            online: None,
            last_seen_ms: 0,
            readings: BTreeMap::new(),
            last_text: None,
            message_count: 0,
        }
    }

    /// Explicit offline wins; otherwise no traffic for `stale_after_ms` is `Stale`; otherwise
    /// `Online` (a status said online, or the device was simply heard recently).
    pub fn liveness(&self, now_ms: u64, stale_after_ms: u64) -> Liveness {
        if self.online == Some(false) {
            Liveness::Offline
        } else if self.age_ms(now_ms) >= stale_after_ms {
            Liveness::Stale
        } else {
            Liveness::Online
        }
    }

    /// Milliseconds since last heard (0 if the clock went backwards).
    pub fn age_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.last_seen_ms)
    }

    /// The long name if known, else the id.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// A reading's numeric value, if present and numeric.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.readings.get(key).and_then(|r| r.value.as_f64())
    }
}

/// A Meshtastic gateway seen forwarding uplinks, for the send-to-node form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySeen {
    pub node: u32,
    /// Region of its last uplink (for the downlink topic).
    pub region: String,
    pub channel_name: String,
    /// Channel index of its last uplink.
    pub channel_index: Option<u32>,
    pub last_seen_ms: u64,
}

/// All known devices plus what the send-to-node form needs (gateways, regions).
#[derive(Debug, Clone)]
pub struct DeviceRegistry {
    devices: BTreeMap<String, Device>,
    gateways: Vec<GatewaySeen>,
    regions: Vec<String>,
    dedup: PacketDedup,
    max_devices: usize,
    history_len: usize,
}

impl Default for DeviceRegistry {
    fn default() -> Self {
        DeviceRegistry::new()
    }
}

impl DeviceRegistry {
    pub fn new() -> Self {
        DeviceRegistry::with_limits(DEFAULT_MAX_DEVICES, DEFAULT_HISTORY_LEN)
    }

    /// A registry keeping at most `max_devices` devices (at least 1) and `history_len`
    /// values per reading.
    pub fn with_limits(max_devices: usize, history_len: usize) -> Self {
        DeviceRegistry {
            devices: BTreeMap::new(),
            gateways: Vec::new(),
            regions: Vec::new(),
            dedup: PacketDedup::default(),
            max_devices: max_devices.max(1),
            history_len,
        }
    }

    /// Applies a received message ([`DeviceRegistry::apply_message`]).
    pub fn apply(&mut self, msg: &crate::mqtt::Message, now_ms: u64) -> bool {
        self.apply_message(&msg.topic, &msg.payload, msg.retain, now_ms)
    }

    /// Applies one received message. Returns whether anything the device list or the
    /// send-to-node form shows changed; unrecognised topics and unusable payloads are
    /// ignored (`false`) and never panic.
    pub fn apply_message(
        &mut self,
        topic: &str,
        payload: &[u8],
        retained: bool,
        now_ms: u64,
    ) -> bool {
        if payload.is_empty() || payload.len() > MAX_PAYLOAD_BYTES {
            return false;
        }
        let mut levels = topic.split('/');
        match levels.next() {
            Some("devices") => {
                let (Some(id), Some("status"), None) =
                    (levels.next(), levels.next(), levels.next())
                else {
                    return false;
                };
                self.apply_status(id, payload, retained, now_ms)
            }
            Some("sensors") => {
                let Some(id) = levels.next() else {
                    return false;
                };
                let rest = &topic[("sensors/".len() + id.len()).min(topic.len())..];
                let Some(kind) = rest.strip_prefix('/') else {
                    return false;
                };
                self.apply_sensor(id, kind, payload, retained, now_ms)
            }
            Some("msh") => self.apply_mesh(topic, payload, retained, now_ms),
            _ => false,
        }
    }

    fn apply_status(&mut self, id: &str, payload: &[u8], retained: bool, now_ms: u64) -> bool {
        if !valid_id(id) {
            return false;
        }
        let Some(update) = parse_status(payload) else {
            return false;
        };
        let seen = seen_at(retained, update.timestamp_ms, now_ms);
        let history_len = self.history_len;
        let dev = self.device_entry(id, DeviceKind::Generic);
        touch(dev, seen);
        if let Some(online) = update.online {
            dev.online = Some(online);
        }
        if let Some(name) = update.name {
            dev.name = Some(name);
        }
        for (key, value) in update.fields {
            set_reading(dev, &key, value, None, retained, now_ms, history_len);
        }
        true
    }

    fn apply_sensor(
        &mut self,
        id: &str,
        kind: &str,
        payload: &[u8],
        retained: bool,
        now_ms: u64,
    ) -> bool {
        if !valid_id(id) || kind.is_empty() || kind.len() > MAX_ID_BYTES {
            return false;
        }
        let Some(reading) = parse_sensor(payload) else {
            return false;
        };
        let seen = seen_at(retained, reading.timestamp_ms, now_ms);
        let history_len = self.history_len;
        let dev = self.device_entry(id, DeviceKind::Generic);
        touch(dev, seen);
        set_reading(
            dev,
            kind,
            reading.value,
            reading.unit,
            retained,
            now_ms,
            history_len,
        );
        true
    }

    fn apply_mesh(&mut self, topic: &str, payload: &[u8], retained: bool, now_ms: u64) -> bool {
        let Ok(up) = parse_uplink(topic, payload) else {
            return false;
        };
        let mut changed = self.note_gateway(up.gateway(), &up.topic, up.channel, now_ms);
        changed |= self.note_region(&up.topic.region);
        if let Some(id) = up.id {
            if !self.dedup.first_time(up.from, id) {
                return changed;
            }
        }
        let seen = seen_at(
            retained,
            up.timestamp
                .filter(|&s| s > 0)
                .map(|s| s.saturating_mul(1000)),
            now_ms,
        );
        let history_len = self.history_len;
        let id = format_node_id(up.from);
        let dev = self.device_entry(&id, DeviceKind::Meshtastic);
        dev.kind = DeviceKind::Meshtastic;
        dev.node_num = Some(up.from);
        touch(dev, seen);
        let put = |dev: &mut Device, key: &str, x: f64| {
            let unit = mesh_unit(key).map(str::to_string);
            set_reading(
                dev,
                key,
                ReadingValue::Number(x),
                unit,
                retained,
                now_ms,
                history_len,
            );
        };
        match up.payload {
            UplinkPayload::NodeInfo {
                long_name,
                short_name,
                hardware,
                ..
            } => {
                if let Some(n) = long_name {
                    dev.name = Some(cut(&n));
                }
                if let Some(n) = short_name {
                    dev.short_name = Some(cut(&n));
                }
                if let Some(h) = hardware {
                    dev.hardware = Some(cut(&h));
                }
            }
            UplinkPayload::Telemetry(fields) => {
                for (key, x) in fields {
                    put(dev, &key, x);
                }
            }
            UplinkPayload::Position {
                latitude,
                longitude,
                altitude,
            } => {
                if let (Some(lat), Some(lon)) = (latitude, longitude) {
                    put(dev, "latitude", lat);
                    put(dev, "longitude", lon);
                }
                if let Some(alt) = altitude {
                    put(dev, "altitude", alt);
                }
            }
            UplinkPayload::Text(t) => dev.last_text = Some(cut(&t)),
            UplinkPayload::Other { .. } => {}
        }
        if let Some(x) = up.rssi {
            put(dev, "rssi", x);
        }
        if let Some(x) = up.snr {
            put(dev, "snr", x);
        }
        if let Some(h) = up.hops_away {
            put(dev, "hops_away", f64::from(h));
        }
        true
    }

    /// Records a gateway at the front of the list; returns whether the list changed shape.
    fn note_gateway(
        &mut self,
        node: u32,
        topic: &UplinkTopic,
        channel: Option<u32>,
        now_ms: u64,
    ) -> bool {
        let seen = GatewaySeen {
            node,
            region: topic.region.clone(),
            channel_name: topic.channel_name.clone(),
            channel_index: channel,
            last_seen_ms: now_ms,
        };
        match self.gateways.iter().position(|g| g.node == node) {
            Some(0) => {
                let changed = self.gateways[0].region != seen.region
                    || self.gateways[0].channel_index != seen.channel_index
                    || self.gateways[0].channel_name != seen.channel_name;
                self.gateways[0] = seen;
                changed
            }
            Some(i) => {
                self.gateways.remove(i);
                self.gateways.insert(0, seen);
                true
            }
            None => {
                self.gateways.insert(0, seen);
                self.gateways.truncate(MAX_GATEWAYS);
                true
            }
        }
    }

    fn note_region(&mut self, region: &str) -> bool {
        match self.regions.iter().position(|r| r == region) {
            Some(0) => false,
            Some(i) => {
                let r = self.regions.remove(i);
                self.regions.insert(0, r);
                true
            }
            None => {
                self.regions.insert(0, region.to_string());
                self.regions.truncate(MAX_REGIONS);
                true
            }
        }
    }

    /// The device with this id, creating it (and evicting the least recently seen device
    /// when full) if needed.
    fn device_entry(&mut self, id: &str, kind: DeviceKind) -> &mut Device {
        if !self.devices.contains_key(id) && self.devices.len() >= self.max_devices {
            let oldest = self
                .devices
                .values()
                .min_by(|a, b| {
                    a.last_seen_ms
                        .cmp(&b.last_seen_ms)
                        .then_with(|| a.id.cmp(&b.id))
                })
                .map(|d| d.id.clone());
            if let Some(oldest) = oldest {
                self.devices.remove(&oldest);
            }
        }
        self.devices
            .entry(id.to_string())
            .or_insert_with(|| Device::new(id.to_string(), kind))
    }

    /// The device with this id (`<id>` of the topic, or `!xxxxxxxx`).
    pub fn get(&self, id: &str) -> Option<&Device> {
        self.devices.get(id)
    }

    /// The Meshtastic node with this number.
    pub fn get_node(&self, num: u32) -> Option<&Device> {
        self.devices.get(&format_node_id(num))
    }

    /// All devices, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }

    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Devices, most recently seen first (ties by id).
    pub fn devices_by_last_seen(&self) -> Vec<&Device> {
        let mut v: Vec<&Device> = self.devices.values().collect();
        v.sort_by(|a, b| {
            b.last_seen_ms
                .cmp(&a.last_seen_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        v
    }

    /// Node numbers of the gateways seen forwarding uplinks, most recently heard first.
    pub fn gateways(&self) -> Vec<u32> {
        self.gateways.iter().map(|g| g.node).collect()
    }

    /// Gateways with the region and channel of their last uplink, most recently heard first.
    pub fn gateway_info(&self) -> &[GatewaySeen] {
        &self.gateways
    }

    /// Meshtastic regions seen in uplink topics, most recently heard first.
    pub fn regions(&self) -> Vec<String> {
        self.regions.clone()
    }

    pub fn max_devices(&self) -> usize {
        self.max_devices
    }

    pub fn history_len(&self) -> usize {
        self.history_len
    }

    /// Forgets everything (devices, gateways, regions, remembered packet ids).
    pub fn clear(&mut self) {
        self.devices.clear();
        self.gateways.clear();
        self.regions.clear();
        self.dedup.clear();
    }
}

fn valid_id(id: &str) -> bool {
    !id.trim().is_empty() && id.len() <= MAX_ID_BYTES
}

fn seen_at(retained: bool, embedded_ms: Option<u64>, now_ms: u64) -> u64 {
    match (retained, embedded_ms) {
        (true, Some(t)) => t.min(now_ms),
        _ => now_ms,
    }
}

fn touch(dev: &mut Device, seen_ms: u64) {
    dev.last_seen_ms = dev.last_seen_ms.max(seen_ms);
    dev.message_count = dev.message_count.saturating_add(1);
}

/// Cuts a string to at most [`MAX_TEXT_BYTES`] bytes on a character boundary.
fn cut(s: &str) -> String {
    if s.len() <= MAX_TEXT_BYTES {
        return s.to_string();
    }
    let mut end = MAX_TEXT_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn set_reading(
    dev: &mut Device,
    key: &str,
    value: ReadingValue,
    unit: Option<String>,
    retained: bool,
    now_ms: u64,
    history_len: usize,
) {
    if !dev.readings.contains_key(key) && dev.readings.len() >= MAX_READINGS_PER_DEVICE {
        return;
    }
    let reading = dev
        .readings
        .entry(key.to_string())
        .or_insert_with(|| Reading {
            value: value.clone(),
            unit: None,
            history: Vec::new(),
            updated_ms: now_ms,
        });
    if unit.is_some() {
        reading.unit = unit;
    }
    // A retained message delivered again (on reconnect) repeats the last value: keep the
    // history as it is.
    let repeat = retained && reading.value == value && !reading.history.is_empty();
    if let ReadingValue::Number(x) = value {
        if !repeat {
            reading.history.push(x);
            if reading.history.len() > history_len {
                let excess = reading.history.len() - history_len;
                reading.history.drain(..excess);
            }
        }
    }
    if !repeat {
        reading.updated_ms = now_ms;
    }
    reading.value = value;
}

fn mesh_unit(key: &str) -> Option<&'static str> {
    Some(match key {
        "battery_level" | "channel_utilization" | "air_util_tx" | "relative_humidity" => "%",
        "voltage" | "voltage_ch1" | "voltage_ch2" | "voltage_ch3" => "V",
        "current" | "current_ch1" | "current_ch2" | "current_ch3" => "mA",
        "uptime_seconds" => "s",
        "temperature" => "°C",
        "barometric_pressure" => "hPa",
        "gas_resistance" => "MΩ",
        "lux" | "white_lux" => "lx",
        "wind_speed" | "wind_gust" | "wind_lull" => "m/s",
        "wind_direction" | "latitude" | "longitude" => "°",
        "altitude" => "m",
        "pm10" | "pm25" | "pm100" | "pm10_e" | "pm25_e" | "pm100_e" => "µg/m³",
        "rssi" => "dBm",
        "snr" => "dB",
        _ => return None,
    })
}

struct StatusUpdate {
    online: Option<bool>,
    name: Option<String>,
    fields: Vec<(String, ReadingValue)>,
    timestamp_ms: Option<u64>,
}

fn online_word(s: &str) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("online") {
        Some(true)
    } else if s.eq_ignore_ascii_case("offline") {
        Some(false)
    } else {
        None
    }
}

fn parse_status(payload: &[u8]) -> Option<StatusUpdate> {
    let text = std::str::from_utf8(payload).ok()?.trim();
    let word = |online| StatusUpdate {
        online: Some(online),
        name: None,
        fields: Vec::new(),
        timestamp_ms: None,
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return online_word(text).map(word),
    };
    match value {
        Value::String(s) => online_word(&s).map(word),
        Value::Object(obj) => parse_status_object(&obj),
        _ => None,
    }
}

fn parse_status_object(obj: &Map<String, Value>) -> Option<StatusUpdate> {
    let mut online = None;
    let mut name = None;
    let mut fields = Vec::new();
    let mut timestamp_ms = None;
    for (key, v) in obj {
        match (key.as_str(), v) {
            ("status", Value::String(s)) if online_word(s).is_some() => online = online_word(s),
            ("status", Value::Bool(b)) | ("online", Value::Bool(b)) => online = Some(*b),
            ("timestamp", v) => timestamp_ms = timestamp_ms_of(v),
            ("name", Value::String(s)) if !s.trim().is_empty() => name = Some(cut(s.trim())),
            (_, v) => {
                if let Some(rv) = reading_value_of(v) {
                    if key.len() <= MAX_ID_BYTES {
                        fields.push((key.clone(), rv));
                    }
                }
            }
        }
    }
    if online.is_none() && name.is_none() && fields.is_empty() {
        return None;
    }
    Some(StatusUpdate {
        online,
        name,
        fields,
        timestamp_ms,
    })
}

/// Numbers stay numbers, strings and booleans become text; objects, arrays and null are skipped.
fn reading_value_of(v: &Value) -> Option<ReadingValue> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .filter(|x| x.is_finite())
            .map(ReadingValue::Number),
        Value::String(s) => Some(ReadingValue::Text(cut(s))),
        Value::Bool(b) => Some(ReadingValue::Text(b.to_string())),
        _ => None,
    }
}

struct SensorReading {
    value: ReadingValue,
    unit: Option<String>,
    timestamp_ms: Option<u64>,
}

fn parse_sensor(payload: &[u8]) -> Option<SensorReading> {
    let text = std::str::from_utf8(payload).ok()?;
    let value: Value = serde_json::from_str(text.trim()).ok()?;
    match value {
        Value::Number(n) => Some(SensorReading {
            value: ReadingValue::Number(n.as_f64().filter(|x| x.is_finite())?),
            unit: None,
            timestamp_ms: None,
        }),
        Value::Object(obj) => {
            let value = match obj.get("value")? {
                Value::String(s) => match s.trim().parse::<f64>() {
                    Ok(x) if x.is_finite() => ReadingValue::Number(x),
                    _ => ReadingValue::Text(cut(s)),
                },
                other => reading_value_of(other)?,
            };
            let unit = obj
                .get("unit")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(cut);
            Some(SensorReading {
                value,
                unit,
                timestamp_ms: obj.get("timestamp").and_then(timestamp_ms_of),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::display::format_relative;

    /// 2024-05-01T12:00:00Z
    const NOW: u64 = 1_714_564_800_000;
    const MIN: u64 = 60_000;
    const GW1: &str = "msh/US/2/json/LongFast/!0000aaaa";
    const GW2: &str = "msh/US/2/json/LongFast/!0000bbbb";

    fn reg() -> DeviceRegistry {
        DeviceRegistry::new()
    }

    #[test]
    fn a_retained_json_status_makes_the_device_appear_online_with_its_readings() {
        let mut r = reg();
        let body = br#"{"status":"online","battery_level":87,"signal_strength":-61,
            "uptime":3600,"firmware_version":"1.4.2","charging":false,"extra":{"x":1}}"#;
        assert!(r.apply_message("devices/boiler-7/status", body, true, NOW));
        let d = r.get("boiler-7").expect("device listed");
        assert_eq!(d.kind, DeviceKind::Generic);
        assert_eq!(d.online, Some(true));
        assert_eq!(d.liveness(NOW, 10 * MIN), Liveness::Online);
        assert!(d.liveness(NOW, 10 * MIN).is_online());
        assert_eq!(d.number("battery_level"), Some(87.0));
        assert_eq!(d.number("signal_strength"), Some(-61.0));
        assert_eq!(d.number("uptime"), Some(3600.0));
        assert_eq!(
            d.readings["firmware_version"].value,
            ReadingValue::Text("1.4.2".into())
        );
        assert_eq!(
            d.readings["charging"].value,
            ReadingValue::Text("false".into())
        );
        assert!(!d.readings.contains_key("status"));
        assert!(!d.readings.contains_key("extra"));
    }

    #[test]
    fn a_plain_text_offline_last_will_flips_the_device_offline() {
        let mut r = reg();
        r.apply_message(
            "devices/boiler-7/status",
            br#"{"status":"online"}"#,
            true,
            NOW,
        );
        assert!(r.apply_message("devices/boiler-7/status", b"offline", false, NOW + 1_000));
        let d = r.get("boiler-7").unwrap();
        assert_eq!(d.online, Some(false));
        assert_eq!(d.liveness(NOW + 1_000, 10 * MIN), Liveness::Offline);
        assert!(!d.liveness(NOW + 1_000, 10 * MIN).is_online());
        assert!(r.apply_message("devices/boiler-7/status", b" Online\n", false, NOW + 2_000));
        assert_eq!(r.get("boiler-7").unwrap().online, Some(true));
    }

    #[test]
    fn plain_text_status_is_trimmed_case_insensitive_and_may_be_a_json_string() {
        let mut r = reg();
        assert!(r.apply_message("devices/a/status", b"  OFFLINE \r\n", true, NOW));
        assert_eq!(r.get("a").unwrap().online, Some(false));
        assert!(r.apply_message("devices/b/status", br#""online""#, false, NOW));
        assert_eq!(r.get("b").unwrap().online, Some(true));
        assert!(!r.apply_message("devices/c/status", b"rebooting", false, NOW));
        assert!(r.get("c").is_none());
    }

    #[test]
    fn explicit_offline_wins_over_recent_traffic() {
        let mut r = reg();
        r.apply_message("devices/pump/status", b"offline", true, NOW);
        r.apply_message("sensors/pump/pressure", b"2.5", false, NOW + 1_000);
        let d = r.get("pump").unwrap();
        assert_eq!(d.liveness(NOW + 1_000, 10 * MIN), Liveness::Offline);
    }

    #[test]
    fn sensor_readings_keep_the_latest_value_per_kind() {
        let mut r = reg();
        let t = br#"{"value":21.5,"unit":"\u00b0C","timestamp":1714564790}"#;
        assert!(r.apply_message("sensors/kitchen/temperature", t, false, NOW));
        assert!(r.apply_message(
            "sensors/kitchen/humidity",
            br#"{"value":"48","unit":"%"}"#,
            false,
            NOW
        ));
        assert!(r.apply_message(
            "sensors/kitchen/temperature",
            br#"{"value":22.0}"#,
            false,
            NOW + 1_000
        ));
        let d = r.get("kitchen").unwrap();
        assert_eq!(d.readings.len(), 2);
        let temp = &d.readings["temperature"];
        assert_eq!(temp.value, ReadingValue::Number(22.0));
        assert_eq!(temp.unit.as_deref(), Some("°C"), "unit kept when omitted");
        assert_eq!(temp.history, vec![21.5, 22.0]);
        assert_eq!(temp.updated_ms, NOW + 1_000);
        assert_eq!(d.number("humidity"), Some(48.0));
        assert_eq!(d.liveness(NOW + 1_000, 10 * MIN), Liveness::Online);
        assert_eq!(d.online, None);
    }

    #[test]
    fn a_bare_number_or_text_value_on_a_sensor_topic_is_a_reading() {
        let mut r = reg();
        assert!(r.apply_message("sensors/door/battery", b" 3.7 ", false, NOW));
        assert!(r.apply_message("sensors/door/state", br#"{"value":"open"}"#, false, NOW));
        assert!(r.apply_message("sensors/door/env/lux", b"120", false, NOW));
        let d = r.get("door").unwrap();
        assert_eq!(d.number("battery"), Some(3.7));
        assert_eq!(d.readings["state"].value, ReadingValue::Text("open".into()));
        assert!(d.readings["state"].history.is_empty());
        assert_eq!(d.number("env/lux"), Some(120.0));
    }

    #[test]
    fn sensor_history_is_capped_at_the_history_length() {
        let mut r = reg();
        for i in 0..100 {
            let body = format!(r#"{{"value":{i}}}"#);
            r.apply_message("sensors/s1/count", body.as_bytes(), false, NOW + i);
        }
        let h = &r.get("s1").unwrap().readings["count"].history;
        assert_eq!(h.len(), DEFAULT_HISTORY_LEN);
        assert_eq!(h.first(), Some(&70.0));
        assert_eq!(h.last(), Some(&99.0));

        let mut short = DeviceRegistry::with_limits(10, 3);
        for i in 0..5 {
            short.apply_message("sensors/s1/count", i.to_string().as_bytes(), false, NOW);
        }
        assert_eq!(
            short.get("s1").unwrap().readings["count"].history,
            vec![2.0, 3.0, 4.0]
        );
    }

    #[test]
    fn a_retained_reading_delivered_again_on_reconnect_adds_no_history_point() {
        let mut r = reg();
        r.apply_message("sensors/s/t", b"20", true, NOW);
        r.apply_message("sensors/s/t", b"21", false, NOW + 1_000);
        r.apply_message("sensors/s/t", b"21", true, NOW + 60_000);
        assert_eq!(r.get("s").unwrap().readings["t"].history, vec![20.0, 21.0]);
    }

    #[test]
    fn a_retained_status_with_an_old_timestamp_shows_when_it_was_really_heard() {
        let mut r = reg();
        let day_ago_s = (NOW - 24 * 3_600_000) / 1000;
        let body = format!(r#"{{"status":"online","timestamp":{day_ago_s}}}"#);
        r.apply_message("devices/old/status", body.as_bytes(), true, NOW);
        let d = r.get("old").unwrap();
        assert_eq!(d.last_seen_ms, NOW - 24 * 3_600_000);
        assert_eq!(d.liveness(NOW, 10 * MIN), Liveness::Stale);
        assert_eq!(format_relative(d.age_ms(NOW)), "1 d ago");

        r.apply_message(
            "devices/iso/status",
            br#"{"status":"online","timestamp":"2024-05-01T11:55:00Z"}"#,
            true,
            NOW,
        );
        assert_eq!(r.get("iso").unwrap().last_seen_ms, NOW - 5 * MIN);

        // A live message is heard now, whatever time it carries.
        r.apply_message("devices/live/status", body.as_bytes(), false, NOW);
        assert_eq!(r.get("live").unwrap().last_seen_ms, NOW);
    }

    fn nodeinfo(id: u32, from: u32) -> String {
        format!(
            r#"{{"channel":0,"from":{from},"id":{id},"payload":{{"hardware":9,"id":"!a1b2c3d4",
            "longname":"Hilltop Relay","shortname":"HTR","role":2}},"sender":"!0000aaaa",
            "timestamp":1714564790,"to":4294967295,"type":"nodeinfo"}}"#
        )
    }

    #[test]
    fn meshtastic_nodeinfo_telemetry_and_position_build_one_node() {
        let mut r = reg();
        let from = 0xa1b2c3d4u32;
        assert!(r.apply_message(GW1, nodeinfo(1, from).as_bytes(), false, NOW));
        let tele = format!(
            r#"{{"channel":0,"from":{from},"id":2,"payload":{{"air_util_tx":1.5,
            "battery_level":87,"channel_utilization":9.25,"uptime_seconds":100,"voltage":4.1}},
            "rssi":-90,"snr":5.75,"hops_away":0,"sender":"!0000aaaa","to":4294967295,
            "type":"telemetry"}}"#
        );
        assert!(r.apply_message(GW1, tele.as_bytes(), false, NOW + 1_000));
        let pos = format!(
            r#"{{"from":{from},"id":3,"payload":{{"latitude_i":515007000,
            "longitude_i":-1246000,"altitude":35}},"sender":"!0000aaaa","type":"position"}}"#
        );
        assert!(r.apply_message(GW1, pos.as_bytes(), false, NOW + 2_000));

        assert_eq!(r.len(), 1);
        let d = r.get("!a1b2c3d4").expect("node listed as !a1b2c3d4");
        assert_eq!(r.get_node(from), Some(d));
        assert_eq!(d.kind, DeviceKind::Meshtastic);
        assert_eq!(d.node_num, Some(from));
        assert_eq!(d.name.as_deref(), Some("Hilltop Relay"));
        assert_eq!(d.display_name(), "Hilltop Relay");
        assert_eq!(d.short_name.as_deref(), Some("HTR"));
        assert_eq!(d.hardware.as_deref(), Some("RAK4631"));
        assert_eq!(d.number("battery_level"), Some(87.0));
        assert_eq!(d.readings["battery_level"].unit.as_deref(), Some("%"));
        assert_eq!(d.number("voltage"), Some(4.1));
        assert_eq!(d.number("channel_utilization"), Some(9.25));
        assert_eq!(d.number("air_util_tx"), Some(1.5));
        assert_eq!(d.number("snr"), Some(5.75));
        assert!((d.number("latitude").unwrap() - 51.5007).abs() < 1e-9);
        assert!((d.number("longitude").unwrap() + 0.1246).abs() < 1e-9);
        assert_eq!(d.number("altitude"), Some(35.0));
        assert_eq!(d.message_count, 3);
        assert_eq!(d.online, None);
        assert_eq!(d.last_seen_ms, NOW + 2_000);
    }

    #[test]
    fn the_same_packet_via_two_gateways_counts_once_but_both_gateways_are_remembered() {
        let mut r = reg();
        let tele = |sender: &str| {
            format!(
                r#"{{"from":305419896,"id":4242,"payload":{{"battery_level":50}},
                "sender":"{sender}","type":"telemetry"}}"#
            )
        };
        assert!(r.apply_message(GW1, tele("!0000aaaa").as_bytes(), false, NOW));
        assert!(r.apply_message(GW2, tele("!0000bbbb").as_bytes(), false, NOW + 200));
        let d = r.get("!12345678").unwrap();
        assert_eq!(d.message_count, 1);
        assert_eq!(d.readings["battery_level"].history, vec![50.0]);
        assert_eq!(r.gateways(), vec![0xbbbb, 0xaaaa], "most recent first");
        assert_eq!(r.gateway_info()[0].region, "US");
        assert_eq!(r.gateway_info()[0].channel_name, "LongFast");
        // The same copy again from the same gateway changes nothing.
        assert!(!r.apply_message(GW2, tele("!0000bbbb").as_bytes(), false, NOW + 300));
    }

    #[test]
    fn the_gateway_comes_from_the_topic_when_sender_is_missing() {
        let mut r = reg();
        r.apply_message(
            GW2,
            br#"{"from":7,"id":9,"type":"text","payload":{"text":"hi"}}"#,
            false,
            NOW,
        );
        assert_eq!(r.gateways(), vec![0xbbbb]);
        let d = r.get_node(7).unwrap();
        assert_eq!(d.last_text.as_deref(), Some("hi"));
        assert_eq!(d.id, "!00000007");
    }

    #[test]
    fn regions_seen_are_remembered_most_recent_first() {
        let mut r = reg();
        r.apply_message(GW1, br#"{"from":1,"id":1}"#, false, NOW);
        r.apply_message(
            "msh/EU_868/2/json/LongFast/!0000cccc",
            br#"{"from":2,"id":2}"#,
            false,
            NOW,
        );
        r.apply_message(GW1, br#"{"from":3,"id":3}"#, false, NOW);
        assert_eq!(r.regions(), vec!["US".to_string(), "EU_868".to_string()]);
        assert_eq!(r.gateways(), vec![0xaaaa, 0xcccc]);
        assert_eq!(r.len(), 3, "packets of unknown type still show the node");
    }

    #[test]
    fn a_meshtastic_node_heard_recently_is_online_then_goes_stale() {
        let mut r = reg();
        r.apply_message(GW1, nodeinfo(1, 0xa1b2c3d4).as_bytes(), false, NOW);
        let d = r.get("!a1b2c3d4").unwrap();
        let stale = DeviceKind::Meshtastic.default_stale_after_ms();
        assert_eq!(d.liveness(NOW + stale - 1, stale), Liveness::Online);
        assert_eq!(d.liveness(NOW + stale, stale), Liveness::Stale);
    }

    #[test]
    fn a_device_goes_stale_after_the_settable_time() {
        let mut r = reg();
        r.apply_message("devices/x/status", b"online", false, NOW);
        let d = r.get("x").unwrap();
        assert_eq!(d.liveness(NOW + 59_999, 60_000), Liveness::Online);
        assert_eq!(d.liveness(NOW + 60_000, 60_000), Liveness::Stale);
        assert_eq!(d.liveness(NOW + 60_000, 120_000), Liveness::Online);
        assert_eq!(
            d.liveness(NOW - 5_000, 60_000),
            Liveness::Online,
            "clock went back"
        );
        assert_eq!(Liveness::Stale.as_str(), "stale");
    }

    #[test]
    fn garbage_json_binary_payloads_and_missing_fields_are_ignored_without_panic() {
        let mut r = reg();
        let bad: [&[u8]; 10] = [
            b"",
            b"{not json",
            &[0xff, 0xfe, 0x00, 0x80, 0xc3],
            b"null",
            b"[1,2,3]",
            b"{}",
            br#"{"status":null}"#,
            b"NaN",
            b"true",
            br#"{"status":{"nested":true}}"#,
        ];
        for body in bad {
            assert!(!r.apply_message("devices/g/status", body, false, NOW));
            assert!(!r.apply_message("sensors/g/t", body, true, NOW));
            assert!(!r.apply_message(GW1, body, false, NOW));
        }
        // Sensors: no usable `value`.
        for body in [
            &br#"{"value":null,"unit":"C"}"#[..],
            br#"{"unit":"C"}"#,
            br#"{"value":[1]}"#,
        ] {
            assert!(!r.apply_message("sensors/g/t", body, false, NOW));
        }
        // Meshtastic: `from` missing or wrong-typed.
        assert!(!r.apply_message(
            GW1,
            br#"{"id":1,"type":"text","payload":{"text":"x"}}"#,
            false,
            NOW
        ));
        assert!(!r.apply_message(GW1, br#"{"from":"me","id":1}"#, false, NOW));
        assert!(r.is_empty());
        assert!(r.gateways().is_empty());
    }

    #[test]
    fn random_bytes_on_every_topic_never_panic() {
        let mut r = DeviceRegistry::with_limits(50, 5);
        let topics = [
            "devices/r/status",
            "sensors/r/k",
            GW1,
            "msh/US/2/json/x/!1",
            "devices//status",
            "sensors/r",
            "sensors/r/",
        ];
        let mut seed: u64 = 0x1234_5678_9abc_def0;
        let mut next = || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as u32
        };
        let alphabet = br#"{}[]":,0123456789.-eE truefalsnl\u"statusonlinevaluefromidtype"#;
        for i in 0..5_000u64 {
            let len = (next() % 64) as usize;
            let body: Vec<u8> = (0..len)
                .map(|_| {
                    let x = next();
                    if i % 2 == 0 {
                        alphabet[x as usize % alphabet.len()]
                    } else {
                        x as u8
                    }
                })
                .collect();
            let topic = topics[next() as usize % topics.len()];
            r.apply_message(topic, &body, i % 3 == 0, NOW + i);
        }
        assert!(r.len() <= 50);
    }

    #[test]
    fn unrelated_topics_are_ignored() {
        let mut r = reg();
        for t in [
            "devices/x",
            "devices/x/status/extra",
            "devices/x/config",
            "sensors",
            "sensors/x",
            "sensors/x/",
            "home/x/status",
            "msh/US/2/e/LongFast/!0000aaaa",
            "msh/US/2/json/mqtt/",
            "$SYS/broker/uptime",
        ] {
            assert!(!r.apply_message(t, b"online", false, NOW), "{t}");
            assert!(
                !r.apply_message(t, br#"{"from":1,"id":1}"#, false, NOW),
                "{t}"
            );
        }
        assert!(r.is_empty());
    }

    #[test]
    fn devices_are_listed_newest_first() {
        let mut r = reg();
        r.apply_message("devices/a/status", b"online", false, NOW);
        r.apply_message("devices/b/status", b"online", false, NOW + 2_000);
        r.apply_message("sensors/c/t", b"1", false, NOW + 1_000);
        let ids: Vec<&str> = r
            .devices_by_last_seen()
            .iter()
            .map(|d| d.id.as_str())
            .collect();
        assert_eq!(ids, ["b", "c", "a"]);
        r.apply_message("sensors/a/t", b"1", false, NOW + 3_000);
        assert_eq!(r.devices_by_last_seen()[0].id, "a");
    }

    #[test]
    fn the_number_of_devices_is_capped_by_evicting_the_least_recently_seen() {
        let mut r = DeviceRegistry::with_limits(3, 30);
        r.apply_message("devices/a/status", b"online", false, NOW);
        r.apply_message("devices/b/status", b"online", false, NOW + 1);
        r.apply_message("devices/c/status", b"online", false, NOW + 2);
        r.apply_message("devices/a/status", b"online", false, NOW + 3);
        r.apply_message("devices/d/status", b"online", false, NOW + 4);
        assert_eq!(r.len(), 3);
        assert!(r.get("b").is_none(), "b was the least recently seen");
        assert!(r.get("a").is_some() && r.get("c").is_some() && r.get("d").is_some());
        let mut big = reg();
        for i in 0..(DEFAULT_MAX_DEVICES as u64 + 10) {
            big.apply_message(&format!("sensors/n{i}/t"), b"1", false, NOW + i);
        }
        assert_eq!(big.len(), DEFAULT_MAX_DEVICES);
        assert!(big.get("n0").is_none());
    }

    #[test]
    fn readings_per_device_and_long_texts_are_bounded() {
        let mut r = reg();
        let mut body = String::from("{");
        for i in 0..200 {
            body.push_str(&format!(r#""f{i}":{i},"#));
        }
        body.push_str(r#""status":"online"}"#);
        assert!(r.apply_message("devices/wide/status", body.as_bytes(), false, NOW));
        assert_eq!(
            r.get("wide").unwrap().readings.len(),
            MAX_READINGS_PER_DEVICE
        );
        let long = format!(r#"{{"value":"{}"}}"#, "é".repeat(1_000));
        r.apply_message("sensors/wide2/t", long.as_bytes(), false, NOW);
        let ReadingValue::Text(t) = &r.get("wide2").unwrap().readings["t"].value else {
            panic!()
        };
        assert!(t.len() <= MAX_TEXT_BYTES && t.starts_with('é'));
        let long_id = format!("devices/{}/status", "x".repeat(MAX_ID_BYTES + 1));
        assert!(!r.apply_message(&long_id, b"online", false, NOW));
    }

    #[test]
    fn a_received_message_can_be_applied_directly() {
        use crate::mqtt::{Message, QoS};
        let mut r = reg();
        let msg = Message {
            topic: "devices/m/status".into(),
            payload: b"offline".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: true,
            dup: false,
        };
        assert!(r.apply(&msg, NOW));
        assert_eq!(r.get("m").unwrap().online, Some(false));
        r.clear();
        assert!(r.is_empty());
    }
}
