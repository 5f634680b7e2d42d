//! Device registry: a list of devices built from traffic alone.
//!
//! Messages are read into a [`DeviceUpdate`] by [`generic`] (`devices/<id>/status`,
//! `sensors/<id>/<kind>`) or by [`crate::mesh`] (Meshtastic JSON uplinks
//! `msh/<region>/2/json/<channel>/!<gateway>`, keyed by node number); the registry applies
//! updates and knows nothing of their formats. Everything else is ignored.
//!
//! Plain data, no clock reads: every input carries `now_ms` (wall-clock milliseconds since
//! the Unix epoch). Memory is bounded: devices, readings per device, history per reading,
//! gateways, regions and remembered packet ids are all capped.

mod device;
pub(crate) mod generic;

use std::collections::BTreeMap;

pub use device::{Device, DeviceFind, DeviceKind, Liveness, Reading, ReadingValue};

use crate::device_update::{DeviceUpdate, Relay, UpdateReading};
use crate::mesh::{self, PacketDedup};

/// Default cap on the number of devices kept.
pub(crate) const DEFAULT_MAX_DEVICES: usize = 2_000;
/// Default number of numeric values kept per reading (for a sparkline).
pub(crate) const DEFAULT_HISTORY_LEN: usize = 30;
/// Readings kept per device; further new keys are ignored.
pub(crate) const MAX_READINGS_PER_DEVICE: usize = 64;
/// Gateways remembered (most recently heard first).
pub(crate) const MAX_GATEWAYS: usize = 64;
/// Gateways remembered per node ("heard via").
pub(crate) const MAX_VIA_PER_DEVICE: usize = 8;
/// Regions remembered (most recently heard first).
pub(crate) const MAX_REGIONS: usize = 32;
/// Payloads larger than this are not parsed.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Device ids (topic level) longer than this are ignored.
pub(crate) const MAX_ID_BYTES: usize = 128;
/// Text values (names, text readings, units, last text) are cut to this many bytes.
pub(crate) const MAX_TEXT_BYTES: usize = 512;

/// A Meshtastic gateway seen forwarding uplinks, for the send-to-node form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GatewaySeen {
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
    pub(crate) fn new() -> Self {
        DeviceRegistry::with_limits(DEFAULT_MAX_DEVICES, DEFAULT_HISTORY_LEN)
    }

    /// A registry keeping at most `max_devices` devices (at least 1) and `history_len`
    /// values per reading.
    pub(crate) fn with_limits(max_devices: usize, history_len: usize) -> Self {
        DeviceRegistry {
            devices: BTreeMap::new(),
            gateways: Vec::new(),
            regions: Vec::new(),
            dedup: PacketDedup::default(),
            max_devices: max_devices.max(1),
            history_len,
        }
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
        let (update, _) = read_message(topic, payload);
        self.apply(update, retained, now_ms)
    }

    /// Applies what [`read_message`] read; whether anything shown changed.
    pub(crate) fn apply(
        &mut self,
        update: Option<DeviceUpdate>,
        retained: bool,
        now_ms: u64,
    ) -> bool {
        match update {
            Some(update) => self.apply_update(update, retained, now_ms),
            None => false,
        }
    }

    /// Applies a packet the mesh decoder read from a protobuf envelope (same node model as
    /// the JSON uplinks: one device per node number, de-duplicated across gateways).
    pub fn apply_mesh_packet(&mut self, packet: &mesh::MeshPacketSeen, now_ms: u64) -> bool {
        match mesh::packet_device_update(packet) {
            Some(update) => self.apply_update(update, false, now_ms),
            None => false,
        }
    }

    /// The display name of a Meshtastic node, if it is known (for chat senders).
    pub fn node_name(&self, num: u32) -> Option<&str> {
        self.devices
            .get(&mesh::format_node_id(num))
            .and_then(|d| d.name.as_deref().or(d.short_name.as_deref()))
    }

    /// Applies what one message says about one device. A retained message counts as heard
    /// at the time it carries (if any), a live one as `now_ms`. Returns whether anything
    /// shown changed: a packet already applied (relayed again by another gateway) changes
    /// only the gateway list.
    fn apply_update(&mut self, update: DeviceUpdate, retained: bool, now_ms: u64) -> bool {
        let mut changed = false;
        if let Some(relay) = &update.relay {
            changed |= self.note_gateway(relay, now_ms);
            changed |= self.note_region(&relay.region);
        }
        // A repeat heard through another gateway still adds to "heard via".
        if let (Some(relay), Some(dev)) = (&update.relay, self.devices.get_mut(&update.id)) {
            if note_via(dev, relay.gateway) {
                dev.revision = dev.revision.wrapping_add(1);
                changed = true;
            }
        }
        if let Some((source, id)) = update.packet {
            if !self.dedup.first_time(source, id) {
                return changed;
            }
        }
        let seen = match (retained, update.sent_ms) {
            (true, Some(t)) => t.min(now_ms),
            _ => now_ms,
        };
        let history_len = self.history_len;
        let dev = self.device_entry(&update.id, update.kind);
        // A device once heard as a Meshtastic node stays one.
        if update.kind == DeviceKind::Meshtastic {
            dev.kind = DeviceKind::Meshtastic;
        }
        dev.last_seen_ms = dev.last_seen_ms.max(seen);
        dev.message_count = dev.message_count.saturating_add(1);
        dev.revision = dev.revision.wrapping_add(1);
        if update.node_num.is_some() {
            dev.node_num = update.node_num;
        }
        if let Some(relay) = &update.relay {
            note_via(dev, relay.gateway);
        }
        if let Some(online) = update.online {
            dev.online = Some(online);
        }
        let texts = [
            (&mut dev.name, update.name),
            (&mut dev.short_name, update.short_name),
            (&mut dev.hardware, update.hardware),
            (&mut dev.role, update.role),
            (&mut dev.last_text, update.text),
        ];
        for (field, text) in texts {
            if let Some(text) = text {
                *field = Some(cut(&text));
            }
        }
        for reading in update.readings {
            set_reading(dev, reading, retained, now_ms, history_len);
        }
        true
    }

    /// Records a gateway at the front of the list; returns whether the list changed shape.
    fn note_gateway(&mut self, relay: &Relay, now_ms: u64) -> bool {
        let seen = GatewaySeen {
            node: relay.gateway,
            region: relay.region.clone(),
            channel_name: relay.channel_name.clone(),
            channel_index: relay.channel_index,
            last_seen_ms: now_ms,
        };
        match self.gateways.iter().position(|g| g.node == seen.node) {
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

    #[cfg(test)]
    /// The device with this id (`<id>` of the topic, or `!xxxxxxxx`).
    pub(crate) fn get(&self, id: &str) -> Option<&Device> {
        self.devices.get(id)
    }

    #[cfg(test)]
    /// The Meshtastic node with this number.
    pub(crate) fn get_node(&self, num: u32) -> Option<&Device> {
        self.devices.get(&mesh::format_node_id(num))
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
        let by_id: Vec<&Device> = self.devices.values().collect();
        // Newest first, then by id (the map's order): sorted as (u64, u32) keys, the one
        // sort the session's inflight list uses too, so the download has one sort, not two.
        let mut keys: Vec<(u64, u32)> = by_id
            .iter()
            .enumerate()
            .map(|(i, d)| (u64::MAX - d.last_seen_ms, i as u32))
            .collect();
        keys.sort_unstable();
        keys.into_iter().map(|(_, i)| by_id[i as usize]).collect()
    }

    /// Node numbers of the gateways seen forwarding uplinks, most recently heard first.
    pub fn gateways(&self) -> Vec<u32> {
        self.gateways.iter().map(|g| g.node).collect()
    }

    #[cfg(test)]
    /// Gateways with the region and channel of their last uplink, most recently heard first.
    pub(crate) fn gateway_info(&self) -> &[GatewaySeen] {
        &self.gateways
    }

    /// Meshtastic regions seen in uplink topics, most recently heard first.
    pub fn regions(&self) -> Vec<String> {
        self.regions.clone()
    }
}

/// Puts `gateway` first in the device's "heard via" list; whether the list changed.
fn note_via(dev: &mut Device, gateway: u32) -> bool {
    if dev.via.first() == Some(&gateway) {
        return false;
    }
    dev.via.retain(|g| *g != gateway);
    dev.via.insert(0, gateway);
    dev.via.truncate(MAX_VIA_PER_DEVICE);
    true
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
    reading: UpdateReading,
    retained: bool,
    now_ms: u64,
    history_len: usize,
) {
    let UpdateReading { key, value, unit } = reading;
    let value = match value {
        ReadingValue::Text(t) => ReadingValue::Text(cut(&t)),
        number => number,
    };
    if !dev.readings.contains_key(&key) && dev.readings.len() >= MAX_READINGS_PER_DEVICE {
        return;
    }
    let reading = dev.readings.entry(key).or_insert_with(|| Reading {
        value: value.clone(),
        unit: None,
        history: Vec::new(),
        updated_ms: now_ms,
    });
    if let Some(unit) = unit {
        reading.unit = Some(cut(&unit));
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

/// Whether [`read_message`] looks at messages on `topic` (their payloads must reach it
/// whole).
pub(crate) fn reads_topic(topic: &str) -> bool {
    matches!(topic.split('/').next(), Some("devices" | "sensors" | "msh"))
}

/// What a message says about a device (`devices/…`, `sensors/…`, a Meshtastic JSON uplink)
/// and, for a Meshtastic JSON text, the packet the mesh chat shows: read once, for both.
pub(crate) fn read_message(
    topic: &str,
    payload: &[u8],
) -> (Option<DeviceUpdate>, Option<mesh::MeshPacketSeen>) {
    if payload.is_empty() || payload.len() > MAX_PAYLOAD_BYTES || !reads_topic(topic) {
        return (None, None);
    }
    match topic.split('/').next() {
        Some("devices" | "sensors") => (generic::parse(topic, payload), None),
        Some("msh") => mesh::read_json_uplink(topic, payload)
            .map_or((None, None), |(update, chat)| (Some(update), chat)),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-05-01T12:00:00Z
    const NOW: u64 = 1_714_564_800_000;
    const GW1: &str = "msh/US/2/json/LongFast/!0000aaaa";
    const GW2: &str = "msh/US/2/json/LongFast/!0000bbbb";

    fn reg() -> DeviceRegistry {
        DeviceRegistry::new()
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

    /// A Meshtastic JSON nodeinfo uplink (also used by the device tests).
    pub(super) fn nodeinfo(id: u32, from: u32) -> String {
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
        let ids = |r: &DeviceRegistry| -> Vec<String> {
            r.devices_by_last_seen()
                .iter()
                .map(|d| d.id.clone())
                .collect()
        };
        assert_eq!(ids(&r), ["b", "c", "a"]);
        r.apply_message("sensors/a/t", b"1", false, NOW + 3_000);
        assert_eq!(ids(&r), ["a", "b", "c"]);
        // Seen at the same moment: by id.
        r.apply_message("devices/0/status", b"online", false, NOW + 3_000);
        assert_eq!(ids(&r), ["0", "a", "b", "c"]);
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
    fn the_revision_moves_with_every_applied_update_and_only_then() {
        let mut r = reg();
        r.apply_message("sensors/s/t", b"1", false, NOW);
        assert_eq!(r.get("s").unwrap().revision, 1);
        r.apply_message("devices/s/status", b"online", false, NOW + 1);
        assert_eq!(r.get("s").unwrap().revision, 2);
        r.apply_message("devices/s/status", b"rebooting", false, NOW + 2);
        assert_eq!(r.get("s").unwrap().revision, 2, "ignored message");
        let tele = br#"{"from":9,"id":7,"payload":{"voltage":4},"type":"telemetry"}"#;
        r.apply_message(GW1, tele, false, NOW);
        r.apply_message(GW2, tele, false, NOW);
        let node = r.get_node(9).unwrap();
        assert_eq!(node.message_count, 1, "a relayed copy is not applied");
        assert_eq!(node.revision, 2, "but the row shows the second gateway");
        assert_eq!(node.via.len(), 2);
        r.apply_message(GW2, tele, false, NOW);
        assert_eq!(r.get_node(9).unwrap().revision, 2, "nothing new to show");
    }
}
