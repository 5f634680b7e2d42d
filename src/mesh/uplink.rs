//! Meshtastic JSON uplinks: `msh/<region>/2/json/<channel>/!<gateway>`.
//!
//! Parsing is lenient: unknown fields are skipped and optional fields of the wrong type are
//! treated as absent. Only a missing or unusable `from` (the node the packet came from) or a
//! body that is not a JSON object is an error. Nothing here panics on any input.

use std::fmt;

use serde_json::{Map, Value};

use super::node_id::parse_bang_hex;

/// Where an uplink was published: `msh/<region>/2/json/<channel>/!<gateway>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UplinkTopic {
    /// Everything between `msh/` and `/2/json/`, e.g. `US`, `EU_868` or `US/bayarea`.
    pub region: String,
    /// The channel name, e.g. `LongFast`.
    pub channel_name: String,
    /// The gateway that published it (the last topic level, `!hex`).
    pub gateway: u32,
}

/// Why a message is not a usable Meshtastic JSON uplink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UplinkError {
    /// The topic is not `msh/<region>/2/json/<channel>/!<gateway>`.
    NotUplinkTopic,
    /// The body is not UTF-8 JSON.
    NotJson(String),
    /// The body is JSON but not an object.
    NotObject,
    /// A required field is absent.
    MissingField(&'static str),
    /// A required field has the wrong type or is out of range.
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
}

impl fmt::Display for UplinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UplinkError::NotUplinkTopic => f.write_str(
                "not a Meshtastic JSON uplink topic (msh/<region>/2/json/<channel>/!<gateway>)",
            ),
            UplinkError::NotJson(e) => write!(f, "uplink body is not JSON: {e}"),
            UplinkError::NotObject => f.write_str("uplink body is not a JSON object"),
            UplinkError::MissingField(name) => write!(f, "uplink has no `{name}` field"),
            UplinkError::WrongType { field, expected } => {
                write!(f, "uplink field `{field}` should be {expected}")
            }
        }
    }
}

impl std::error::Error for UplinkError {}

/// What a packet carried, by its `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum UplinkPayload {
    /// `nodeinfo`: who the node is.
    NodeInfo {
        /// The node's own `!hex` id as it reports it.
        id: Option<String>,
        long_name: Option<String>,
        short_name: Option<String>,
        /// The hardware model: its name when the number is known (`HELTEC_V3`), else the
        /// number or string as sent.
        hardware: Option<String>,
    },
    /// `telemetry`: every numeric field of the payload (`battery_level`, `voltage`, …).
    /// Numeric fields in key order (as protobuf telemetry is read: [`crate::mesh::packet::MeshBody`]).
    Telemetry(Vec<(String, f64)>),
    /// `position`, in degrees (from `latitude_i` / 1e7) and metres. `None` when absent,
    /// out of range, or (0, 0) which Meshtastic sends for "no fix".
    Position {
        latitude: Option<f64>,
        longitude: Option<f64>,
        altitude: Option<f64>,
    },
    /// `text`: the message text.
    Text(String),
    /// Any other `type` (including `""`, sent for packets the gateway could not decode).
    Other { kind: String },
}

/// One parsed Meshtastic JSON uplink.
#[derive(Debug, Clone, PartialEq)]
pub struct Uplink {
    pub topic: UplinkTopic,
    /// Node number the packet came from.
    pub from: u32,
    pub to: Option<u32>,
    /// Packet id; the same packet forwarded by several gateways has the same `(from, id)`.
    pub id: Option<u32>,
    /// Channel index on the gateway.
    pub channel: Option<u32>,
    /// The gateway that forwarded it (`sender`, `!hex`).
    pub sender: Option<u32>,
    /// Receive time at the gateway, seconds since the Unix epoch (0 when the gateway had no clock).
    pub timestamp: Option<u64>,
    pub rssi: Option<f64>,
    pub snr: Option<f64>,
    pub hops_away: Option<u32>,
    pub payload: UplinkPayload,
}

impl Uplink {
    /// The gateway that forwarded this packet: `sender`, else the topic's last level.
    pub fn gateway(&self) -> u32 {
        self.sender.unwrap_or(self.topic.gateway)
    }
}

/// Parses the topic alone. Region may span several levels (`msh/US/bayarea/2/json/…`).
pub fn parse_uplink_topic(topic: &str) -> Option<UplinkTopic> {
    let levels: Vec<&str> = topic.split('/').collect();
    // msh / region… / 2 / json / channel / !gateway
    if levels.len() < 6 || levels[0] != "msh" {
        return None;
    }
    let n = levels.len();
    if levels[n - 4] != "2" || levels[n - 3] != "json" {
        return None;
    }
    let region_levels = &levels[1..n - 4];
    if region_levels.iter().any(|l| l.is_empty()) {
        return None;
    }
    let channel_name = levels[n - 2];
    if channel_name.is_empty() {
        return None;
    }
    let gateway = parse_bang_hex(levels[n - 1])?;
    Some(UplinkTopic {
        region: region_levels.join("/"),
        channel_name: channel_name.to_string(),
        gateway,
    })
}

/// An object's fields, read leniently: a field of another type than asked reads as absent
/// (as serde would read it: `u32` from a whole number in range, `f64` from any number).
/// Read by hand rather than with serde's derive: its visitors, once per struct and per kind
/// of input, were most of this module's code in the download.
#[derive(Clone, Copy)]
struct Fields<'a>(Option<&'a Map<String, Value>>);

impl<'a> Fields<'a> {
    fn of(value: Option<&'a Value>) -> Fields<'a> {
        Fields(value.and_then(Value::as_object))
    }

    fn get(self, key: &str) -> Option<&'a Value> {
        self.0?.get(key)
    }

    fn u64(self, key: &str) -> Option<u64> {
        self.get(key)?.as_u64()
    }

    fn u32(self, key: &str) -> Option<u32> {
        self.u64(key).and_then(|n| u32::try_from(n).ok())
    }

    fn i64(self, key: &str) -> Option<i64> {
        self.get(key)?.as_i64()
    }

    fn f64(self, key: &str) -> Option<f64> {
        self.get(key)?.as_f64()
    }

    fn string(self, key: &str) -> Option<String> {
        self.get(key)?.as_str().map(str::to_string)
    }
}

/// Parses a Meshtastic JSON uplink (topic and body).
pub fn parse_uplink(topic: &str, payload: &[u8]) -> Result<Uplink, UplinkError> {
    let topic = parse_uplink_topic(topic).ok_or(UplinkError::NotUplinkTopic)?;
    let value: Value = crate::json::parse_bytes(payload).map_err(UplinkError::NotJson)?;
    if !value.is_object() {
        return Err(UplinkError::NotObject);
    }
    let raw = Fields::of(Some(&value));

    // A missing `from` and a wrong-typed one are different errors.
    let from = match raw.get("from") {
        None | Some(Value::Null) => return Err(UplinkError::MissingField("from")),
        Some(_) => raw.u32("from").ok_or(UplinkError::WrongType {
            field: "from",
            expected: "a node number (0–4294967295)",
        })?,
    };

    let kind = raw.string("type").unwrap_or_default();
    let body = raw.get("payload");
    let payload = match kind.as_str() {
        "nodeinfo" => nodeinfo(Fields::of(body)),
        "telemetry" => UplinkPayload::Telemetry(numeric_fields(body.and_then(Value::as_object))),
        "position" => position(Fields::of(body)),
        "text" => match body.and_then(text_of) {
            Some(t) => UplinkPayload::Text(t),
            None => UplinkPayload::Other { kind },
        },
        _ => UplinkPayload::Other { kind },
    };

    Ok(Uplink {
        topic,
        from,
        to: raw.u32("to"),
        id: raw.u32("id"),
        channel: raw.u32("channel"),
        sender: raw.string("sender").as_deref().and_then(parse_bang_hex),
        timestamp: raw.u64("timestamp"),
        rssi: raw.f64("rssi"),
        snr: raw.f64("snr"),
        hops_away: raw.u32("hops_away"),
        payload,
    })
}

/// Trimmed, and `None` when blank.
fn non_blank(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// A `nodeinfo` payload; `hardware` is a `HardwareModel` number or a name.
fn nodeinfo(raw: Fields) -> UplinkPayload {
    let hardware = match raw.get("hardware") {
        Some(Value::Number(n)) => n.as_u64().map(|h| match u32::try_from(h) {
            Ok(h) => hardware_model_name(h)
                .map(str::to_string)
                .unwrap_or_else(|| h.to_string()),
            Err(_) => h.to_string(),
        }),
        Some(Value::String(s)) => non_blank(Some(s.clone())),
        _ => None,
    };
    UplinkPayload::NodeInfo {
        id: non_blank(raw.string("id")),
        long_name: non_blank(raw.string("longname")),
        short_name: non_blank(raw.string("shortname")),
        hardware,
    }
}

/// The object's finite numbers, in key order (serde_json's map iterates in key order).
fn numeric_fields(obj: Option<&Map<String, Value>>) -> Vec<(String, f64)> {
    obj.into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_f64().filter(|x| x.is_finite()).map(|x| (k.clone(), x)))
        .collect()
}

/// A `position` payload: degrees as `latitude_i` / 1e7 (or plain `latitude`), metres.
fn position(raw: Fields) -> UplinkPayload {
    let degrees = |int: Option<i64>, float: Option<f64>, limit: f64| {
        int.map(|i| i as f64 / 1e7)
            .or(float)
            .filter(|d| d.is_finite() && d.abs() <= limit)
    };
    let mut latitude = degrees(raw.i64("latitude_i"), raw.f64("latitude"), 90.0);
    let mut longitude = degrees(raw.i64("longitude_i"), raw.f64("longitude"), 180.0);
    if latitude == Some(0.0) && longitude == Some(0.0) {
        latitude = None;
        longitude = None;
    }
    UplinkPayload::Position {
        latitude,
        longitude,
        altitude: raw.f64("altitude").filter(|x| x.is_finite()),
    }
}

/// The firmware sends `{"text": "..."}`, or, when the text itself parses as JSON, that JSON.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => match m.get("text") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => Some(v.to_string()),
        },
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Names of Meshtastic `HardwareModel` values (meshtastic/protobufs `mesh.proto`).
pub fn hardware_model_name(model: u32) -> Option<&'static str> {
    const NAMES: [&str; 102] = [
        "UNSET",
        "TLORA_V2",
        "TLORA_V1",
        "TLORA_V2_1_1P6",
        "TBEAM",
        "HELTEC_V2_0",
        "TBEAM_V0P7",
        "T_ECHO",
        "TLORA_V1_1P3",
        "RAK4631",
        "HELTEC_V2_1",
        "HELTEC_V1",
        "LILYGO_TBEAM_S3_CORE",
        "RAK11200",
        "NANO_G1",
        "TLORA_V2_1_1P8",
        "TLORA_T3_S3",
        "NANO_G1_EXPLORER",
        "NANO_G2_ULTRA",
        "LORA_TYPE",
        "WIPHONE",
        "WIO_WM1110",
        "RAK2560",
        "HELTEC_HRU_3601",
        "HELTEC_WIRELESS_BRIDGE",
        "STATION_G1",
        "RAK11310",
        "MAKERFABS_TRACKER",
        "MAKERFABS_RESERVED",
        "CANARYONE",
        "RP2040_LORA",
        "STATION_G2",
        "LORA_RELAY_V1",
        "T_ECHO_PLUS",
        "PPR",
        "GENIEBLOCKS",
        "NRF52_UNKNOWN",
        "PORTDUINO",
        "ANDROID_SIM",
        "DIY_V1",
        "NRF52840_PCA10059",
        "DR_DEV",
        "M5STACK",
        "HELTEC_V3",
        "HELTEC_WSL_V3",
        "BETAFPV_2400_TX",
        "BETAFPV_900_NANO_TX",
        "RPI_PICO",
        "HELTEC_WIRELESS_TRACKER",
        "HELTEC_WIRELESS_PAPER",
        "T_DECK",
        "T_WATCH_S3",
        "PICOMPUTER_S3",
        "HELTEC_HT62",
        "EBYTE_ESP32_S3",
        "ESP32_S3_PICO",
        "CHATTER_2",
        "HELTEC_WIRELESS_PAPER_V1_0",
        "HELTEC_WIRELESS_TRACKER_V1_0",
        "UNPHONE",
        "TD_LORAC",
        "CDEBYTE_EORA_S3",
        "TWC_MESH_V4",
        "NRF52_PROMICRO_DIY",
        "RADIOMASTER_900_BANDIT_NANO",
        "HELTEC_CAPSULE_SENSOR_V3",
        "HELTEC_VISION_MASTER_T190",
        "HELTEC_VISION_MASTER_E213",
        "HELTEC_VISION_MASTER_E290",
        "HELTEC_MESH_NODE_T114",
        "SENSECAP_INDICATOR",
        "TRACKER_T1000_E",
        "RAK3172",
        "WIO_E5",
        "RADIOMASTER_900_BANDIT",
        "ME25LS01_4Y10TD",
        "RP2040_FEATHER_RFM95",
        "M5STACK_COREBASIC",
        "M5STACK_CORE2",
        "RPI_PICO2",
        "M5STACK_CORES3",
        "SEEED_XIAO_S3",
        "MS24SF1",
        "TLORA_C6",
        "WISMESH_TAP",
        "ROUTASTIC",
        "MESH_TAB",
        "MESHLINK",
        "XIAO_NRF52_KIT",
        "THINKNODE_M1",
        "THINKNODE_M2",
        "T_ETH_ELITE",
        "HELTEC_SENSOR_HUB",
        "MUZI_BASE",
        "HELTEC_MESH_POCKET",
        "SEEED_SOLAR_NODE",
        "NOMADSTAR_METEOR_PRO",
        "CROWPANEL",
        "LINK_32",
        "SEEED_WIO_TRACKER_L1",
        "SEEED_WIO_TRACKER_L1_EINK",
        "MUZI_R1_NEO",
    ];
    match model {
        255 => Some("PRIVATE_HW"),
        m => NAMES.get(m as usize).copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "msh/US/2/json/LongFast/!a1b2c3d4";

    #[test]
    fn the_topic_gives_region_channel_and_gateway() {
        let t = parse_uplink_topic(TOPIC).unwrap();
        assert_eq!(t.region, "US");
        assert_eq!(t.channel_name, "LongFast");
        assert_eq!(t.gateway, 0xa1b2c3d4);
        let t = parse_uplink_topic("msh/US/bayarea/2/json/MediumSlow/!0000abcd").unwrap();
        assert_eq!(t.region, "US/bayarea");
        assert_eq!(t.gateway, 0xabcd);
    }

    #[test]
    fn other_topics_are_not_uplinks() {
        for t in [
            "msh/US/2/e/LongFast/!a1b2c3d4",
            "msh/US/2/json/mqtt/",
            "msh/2/json/LongFast/!a1b2c3d4",
            "msh/US/2/json/LongFast/a1b2c3d4",
            "msh/US/2/json//!a1b2c3d4",
            "devices/x/status",
            "",
            "msh",
        ] {
            assert_eq!(parse_uplink_topic(t), None, "{t}");
        }
    }

    #[test]
    fn a_telemetry_uplink_keeps_every_numeric_field() {
        let body = br#"{"channel":0,"from":2712847316,"hops_away":1,"hop_start":3,"id":1234567,
            "payload":{"voltage":4.05,"air_util_tx":0.5,"battery_level":87,"note":"x",
            "channel_utilization":12.25,"uptime_seconds":3600},
            "rssi":-97,"sender":"!deadbeef","snr":-4.5,"timestamp":1700000000,
            "to":4294967295,"type":"telemetry"}"#;
        let u = parse_uplink(TOPIC, body).unwrap();
        assert_eq!(u.from, 0xa1b2c3d4);
        assert_eq!(u.to, Some(u32::MAX));
        assert_eq!(u.id, Some(1234567));
        assert_eq!(u.channel, Some(0));
        assert_eq!(u.sender, Some(0xdeadbeef));
        assert_eq!(u.gateway(), 0xdeadbeef);
        assert_eq!(u.timestamp, Some(1700000000));
        assert_eq!(u.rssi, Some(-97.0));
        assert_eq!(u.snr, Some(-4.5));
        assert_eq!(u.hops_away, Some(1));
        let UplinkPayload::Telemetry(m) = u.payload else {
            panic!("not telemetry")
        };
        // Every finite number, in key order; the text field is not a reading.
        let expected = [
            ("air_util_tx", 0.5),
            ("battery_level", 87.0),
            ("channel_utilization", 12.25),
            ("uptime_seconds", 3600.0),
            ("voltage", 4.05),
        ];
        let expected: Vec<(String, f64)> =
            expected.iter().map(|(k, x)| (k.to_string(), *x)).collect();
        assert_eq!(m, expected);
    }

    #[test]
    fn a_nodeinfo_uplink_gives_names_and_hardware_by_name_or_as_sent() {
        let body = br#"{"from":2712847316,"type":"nodeinfo","payload":{"id":"!a1b2c3d4",
            "longname":"Hilltop Relay","shortname":"HTR","hardware":43,"role":2}}"#;
        let u = parse_uplink(TOPIC, body).unwrap();
        assert_eq!(
            u.payload,
            UplinkPayload::NodeInfo {
                id: Some("!a1b2c3d4".into()),
                long_name: Some("Hilltop Relay".into()),
                short_name: Some("HTR".into()),
                hardware: Some("HELTEC_V3".into()),
            }
        );
        assert_eq!(u.gateway(), 0xa1b2c3d4, "no sender: the topic's gateway");
        let body = br#"{"from":1,"type":"nodeinfo","payload":{"hardware":"T_DECK_PRO"}}"#;
        let UplinkPayload::NodeInfo { hardware, .. } = parse_uplink(TOPIC, body).unwrap().payload
        else {
            panic!()
        };
        assert_eq!(hardware.as_deref(), Some("T_DECK_PRO"));
        let body = br#"{"from":1,"type":"nodeinfo","payload":{"hardware":4000}}"#;
        let UplinkPayload::NodeInfo { hardware, .. } = parse_uplink(TOPIC, body).unwrap().payload
        else {
            panic!()
        };
        assert_eq!(hardware.as_deref(), Some("4000"));
    }

    #[test]
    fn a_position_uplink_is_converted_to_degrees() {
        let body = br#"{"from":1,"type":"position","payload":{"latitude_i":377749000,
            "longitude_i":-1224194000,"altitude":52,"sats_in_view":7}}"#;
        let u = parse_uplink(TOPIC, body).unwrap();
        let UplinkPayload::Position {
            latitude,
            longitude,
            altitude,
        } = u.payload
        else {
            panic!()
        };
        assert!((latitude.unwrap() - 37.7749).abs() < 1e-9);
        assert!((longitude.unwrap() + 122.4194).abs() < 1e-9);
        assert_eq!(altitude, Some(52.0));
    }

    #[test]
    fn a_position_at_zero_zero_or_out_of_range_means_no_fix() {
        let body = br#"{"from":1,"type":"position","payload":{"latitude_i":0,"longitude_i":0}}"#;
        let u = parse_uplink(TOPIC, body).unwrap();
        assert_eq!(
            u.payload,
            UplinkPayload::Position {
                latitude: None,
                longitude: None,
                altitude: None
            }
        );
        let body =
            br#"{"from":1,"type":"position","payload":{"latitude_i":2000000000,"longitude_i":10}}"#;
        let UplinkPayload::Position { latitude, .. } = parse_uplink(TOPIC, body).unwrap().payload
        else {
            panic!()
        };
        assert_eq!(latitude, None);
    }

    #[test]
    fn a_text_uplink_gives_the_text_even_when_the_text_was_json() {
        let body = br#"{"from":1,"type":"text","payload":{"text":"hello <b>mesh</b>"}}"#;
        assert_eq!(
            parse_uplink(TOPIC, body).unwrap().payload,
            UplinkPayload::Text("hello <b>mesh</b>".into())
        );
        let body = br#"{"from":1,"type":"text","payload":{"a":1}}"#;
        assert_eq!(
            parse_uplink(TOPIC, body).unwrap().payload,
            UplinkPayload::Text(r#"{"a":1}"#.into())
        );
        let body = br#"{"from":1,"type":"text","payload":42}"#;
        assert_eq!(
            parse_uplink(TOPIC, body).unwrap().payload,
            UplinkPayload::Text("42".into())
        );
    }

    #[test]
    fn unknown_types_are_kept_as_other() {
        let body = br#"{"from":1,"type":"neighborinfo","payload":{"node_id":1}}"#;
        assert_eq!(
            parse_uplink(TOPIC, body).unwrap().payload,
            UplinkPayload::Other {
                kind: "neighborinfo".into()
            }
        );
        let body = br#"{"from":1}"#;
        assert_eq!(
            parse_uplink(TOPIC, body).unwrap().payload,
            UplinkPayload::Other { kind: "".into() }
        );
    }

    #[test]
    fn wrong_typed_optional_fields_are_treated_as_absent() {
        let body = br#"{"from":5,"to":"everyone","id":-3,"channel":1.5,"sender":42,
            "timestamp":"now","rssi":"loud","hops_away":-1,"type":"telemetry","payload":[1,2]}"#;
        let u = parse_uplink(TOPIC, body).unwrap();
        assert_eq!(u.from, 5);
        assert_eq!((u.to, u.id, u.channel, u.sender), (None, None, None, None));
        assert_eq!((u.timestamp, u.rssi, u.hops_away), (None, None, None));
        assert_eq!(u.payload, UplinkPayload::Telemetry(Vec::new()));
    }

    #[test]
    fn a_missing_or_wrong_typed_from_is_a_typed_error() {
        assert_eq!(
            parse_uplink(TOPIC, br#"{"type":"text"}"#),
            Err(UplinkError::MissingField("from"))
        );
        for body in [
            &br#"{"from":"!a1b2c3d4"}"#[..],
            br#"{"from":-1}"#,
            br#"{"from":4294967296}"#,
            br#"{"from":1.5}"#,
        ] {
            assert!(
                matches!(
                    parse_uplink(TOPIC, body),
                    Err(UplinkError::WrongType { field: "from", .. })
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn garbage_bodies_are_errors_not_panics() {
        assert!(matches!(
            parse_uplink(TOPIC, b"{not json"),
            Err(UplinkError::NotJson(_))
        ));
        assert!(matches!(
            parse_uplink(TOPIC, &[0xff, 0xfe, 0x00, 0x80]),
            Err(UplinkError::NotJson(_))
        ));
        assert_eq!(parse_uplink(TOPIC, b"[1,2]"), Err(UplinkError::NotObject));
        assert_eq!(
            parse_uplink("a/b", br#"{"from":1}"#),
            Err(UplinkError::NotUplinkTopic)
        );
        assert!(!UplinkError::MissingField("from").to_string().is_empty());
    }
}
