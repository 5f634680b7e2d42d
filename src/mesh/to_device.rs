//! A Meshtastic uplink read as a [`DeviceUpdate`]: node names, telemetry with units,
//! position, text, radio metrics, and the gateway that relayed it.

use crate::device_update::{DeviceKind, DeviceUpdate, ReadingValue, Relay, UpdateReading};

use super::node_id::{format_node_id, BROADCAST};
use super::packet::{MeshBody, MeshPacketSeen};
use super::uplink::{parse_uplink, Uplink, UplinkPayload};

/// What a Meshtastic JSON uplink (`msh/<region>/2/json/<channel>/!<gateway>`) says about
/// the node it came from and, for a `text`, the packet the mesh chat shows
/// ([`json_text_packet`]): read once for both. `None` if it is not a usable uplink.
pub(crate) fn read_json_uplink(
    topic: &str,
    payload: &[u8],
) -> Option<(DeviceUpdate, Option<MeshPacketSeen>)> {
    let up = parse_uplink(topic, payload).ok()?;
    let chat = json_text_packet(&up);
    Some((from_uplink(up), chat))
}

/// A JSON `text` uplink as the packet the mesh chat shows. The same packet heard through
/// another gateway, or as a protobuf envelope, has the same `(from, id)`, so it shows once.
/// `None` for any other uplink, and for one without a packet id (its copies could not be
/// told apart).
fn json_text_packet(up: &Uplink) -> Option<MeshPacketSeen> {
    let UplinkPayload::Text(text) = &up.payload else {
        return None;
    };
    Some(MeshPacketSeen {
        region: up.topic.region.clone(),
        channel: up.topic.channel_name.clone(),
        gateway: Some(up.gateway()),
        from: up.from,
        to: up.to.unwrap_or(BROADCAST),
        id: up.id?,
        rx_time: up
            .timestamp
            .filter(|&s| s > 0)
            .and_then(|s| u32::try_from(s).ok()),
        rx_snr: up.snr.map(|x| x as f32),
        rx_rssi: up.rssi.map(|x| x as i32),
        hops_away: up.hops_away,
        via_mqtt: false,
        want_ack: false,
        body: MeshBody::Text {
            text: text.clone(),
            reply_id: None,
            emoji: false,
        },
    })
}

/// The node is keyed `!xxxxxxxx`; a packet relayed by several gateways has the same
/// `(from, id)`; the receive time counts when the gateway had a clock (non-zero).
fn from_uplink(up: Uplink) -> DeviceUpdate {
    let mut update = DeviceUpdate {
        node_num: Some(up.from),
        sent_ms: up
            .timestamp
            .filter(|&s| s > 0)
            .map(|s| s.saturating_mul(1000)),
        packet: up.id.map(|id| (up.from, id)),
        relay: Some(Relay {
            gateway: up.gateway(),
            region: up.topic.region.clone(),
            channel_name: up.topic.channel_name.clone(),
            channel_index: up.channel,
        }),
        ..DeviceUpdate::new(format_node_id(up.from), DeviceKind::Meshtastic)
    };
    let readings = &mut update.readings;
    match up.payload {
        UplinkPayload::NodeInfo {
            long_name,
            short_name,
            hardware,
            ..
        } => {
            update.name = long_name;
            update.short_name = short_name;
            update.hardware = hardware;
        }
        UplinkPayload::Telemetry(fields) => {
            for (key, x) in fields {
                put(readings, &key, x);
            }
        }
        UplinkPayload::Position {
            latitude,
            longitude,
            altitude,
        } => {
            if let (Some(lat), Some(lon)) = (latitude, longitude) {
                put(readings, "latitude", lat);
                put(readings, "longitude", lon);
            }
            if let Some(alt) = altitude {
                put(readings, "altitude", alt);
            }
        }
        UplinkPayload::Text(t) => update.text = Some(t),
        UplinkPayload::Other { .. } => {}
    }
    if let Some(x) = up.rssi {
        put(readings, "rssi", x);
    }
    if let Some(x) = up.snr {
        put(readings, "snr", x);
    }
    if let Some(h) = up.hops_away {
        put(readings, "hops_away", f64::from(h));
    }
    update
}

/// What a decoded protobuf packet says about the node it came from, in the same terms as a
/// JSON uplink; `None` for packets that say nothing about their sender (PKI direct messages
/// still count as "heard").
pub(crate) fn packet_device_update(p: &MeshPacketSeen) -> Option<DeviceUpdate> {
    if p.from == 0 || p.from == super::BROADCAST {
        return None;
    }
    let mut update = DeviceUpdate {
        node_num: Some(p.from),
        sent_ms: p.rx_time.map(|s| u64::from(s) * 1000),
        packet: Some((p.from, p.id)),
        relay: p.gateway.map(|gateway| Relay {
            gateway,
            region: p.region.clone(),
            channel_name: p.channel.clone(),
            channel_index: None,
        }),
        ..DeviceUpdate::new(format_node_id(p.from), DeviceKind::Meshtastic)
    };
    let readings = &mut update.readings;
    match &p.body {
        MeshBody::NodeInfo {
            long_name,
            short_name,
            hardware,
            role,
        } => {
            update.name = long_name.clone();
            update.short_name = short_name.clone();
            update.hardware = hardware.clone();
            update.role = role.clone();
        }
        MeshBody::MapReport {
            long_name,
            short_name,
            hardware,
            role,
            firmware_version,
            latitude,
            longitude,
        } => {
            update.name = long_name.clone();
            update.short_name = short_name.clone();
            update.hardware = hardware.clone();
            update.role = role.clone();
            if let Some(v) = firmware_version {
                readings.push(UpdateReading::new(
                    "firmware_version",
                    ReadingValue::Text(v.clone()),
                    None,
                ));
            }
            if let (Some(lat), Some(lon)) = (latitude, longitude) {
                put(readings, "latitude", *lat);
                put(readings, "longitude", *lon);
            }
        }
        MeshBody::Telemetry(fields) => {
            for (key, x) in fields {
                put(readings, key, *x);
            }
        }
        MeshBody::Position {
            latitude,
            longitude,
            altitude,
        } => {
            if let (Some(lat), Some(lon)) = (latitude, longitude) {
                put(readings, "latitude", *lat);
                put(readings, "longitude", *lon);
            }
            if let Some(alt) = altitude {
                put(readings, "altitude", *alt);
            }
        }
        MeshBody::Text { text, emoji, .. } if !emoji => update.text = Some(text.clone()),
        _ => {}
    }
    if let Some(x) = p.rx_rssi {
        put(readings, "rssi", f64::from(x));
    }
    if let Some(x) = p.rx_snr {
        put(readings, "snr", f64::from(x));
    }
    if let Some(h) = p.hops_away {
        put(readings, "hops_away", f64::from(h));
    }
    Some(update)
}

fn put(readings: &mut Vec<UpdateReading>, key: &str, x: f64) {
    let unit = unit(key).map(str::to_string);
    readings.push(UpdateReading::new(key, ReadingValue::Number(x), unit));
}

/// The unit Meshtastic uses for a telemetry, position or radio field.
fn unit(key: &str) -> Option<&'static str> {
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

#[cfg(test)]
mod tests {
    fn device_update(topic: &str, payload: &[u8]) -> Option<DeviceUpdate> {
        read_json_uplink(topic, payload).map(|(update, _)| update)
    }

    use super::*;

    const TOPIC: &str = "msh/EU_868/2/json/LongFast/!0000aaaa";

    #[test]
    fn an_uplink_reads_as_one_node_update_with_units_relay_and_packet_key() {
        let body = br#"{"from":305419896,"id":42,"channel":1,"timestamp":1714564790,
            "rssi":-90,"snr":5.5,"hops_away":2,"type":"telemetry",
            "payload":{"battery_level":87,"mystery":1}}"#;
        let u = device_update(TOPIC, body).unwrap();
        assert_eq!(u.id, "!12345678");
        assert_eq!(u.kind, DeviceKind::Meshtastic);
        assert_eq!(u.node_num, Some(0x12345678));
        assert_eq!(u.sent_ms, Some(1_714_564_790_000));
        assert_eq!(u.packet, Some((0x12345678, 42)));
        assert_eq!(
            u.relay,
            Some(Relay {
                gateway: 0xaaaa,
                region: "EU_868".into(),
                channel_name: "LongFast".into(),
                channel_index: Some(1),
            })
        );
        let unit_of = |key: &str| {
            let r = u.readings.iter().find(|r| r.key == key).unwrap();
            r.unit.as_deref()
        };
        assert_eq!(unit_of("battery_level"), Some("%"));
        assert_eq!(unit_of("mystery"), None);
        assert_eq!(unit_of("rssi"), Some("dBm"));
        assert_eq!(unit_of("snr"), Some("dB"));
        assert_eq!(unit_of("hops_away"), None);
    }

    #[test]
    fn names_and_text_are_passed_on_and_a_clockless_gateway_time_is_ignored() {
        let body = br#"{"from":1,"timestamp":0,"type":"nodeinfo",
            "payload":{"longname":"Hilltop","shortname":"HT","hardware":9}}"#;
        let u = device_update(TOPIC, body).unwrap();
        assert_eq!(u.name.as_deref(), Some("Hilltop"));
        assert_eq!(u.short_name.as_deref(), Some("HT"));
        assert_eq!(u.hardware.as_deref(), Some("RAK4631"));
        assert_eq!((u.sent_ms, u.packet), (None, None));
        let body = br#"{"from":1,"type":"text","payload":{"text":"hi"}}"#;
        assert_eq!(
            device_update(TOPIC, body).unwrap().text.as_deref(),
            Some("hi")
        );
        assert_eq!(device_update(TOPIC, b"{}"), None);
        assert_eq!(device_update("devices/x/status", br#"{"from":1}"#), None);
    }
}
