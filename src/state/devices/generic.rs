//! Generic devices: `devices/<id>/status` and `sensors/<id>/<kind>` read into a
//! [`DeviceUpdate`].
//!
//! - `devices/<id>/status`: JSON (`status` online/offline plus any fields, kept as readings)
//!   or plain text `online` / `offline` (also as a last will).
//! - `sensors/<id>/<kind>`: JSON `{value, unit, timestamp}` or a bare number.

use serde_json::{Map, Value};

use super::MAX_ID_BYTES;
use crate::device_update::{DeviceKind, DeviceUpdate, ReadingValue, UpdateReading};
use crate::state::time::timestamp_ms_of;

/// What a `devices/…` or `sensors/…` message says; `None` for any other topic and for a
/// payload that says nothing usable.
pub(crate) fn parse(topic: &str, payload: &[u8]) -> Option<DeviceUpdate> {
    let mut levels = topic.split('/');
    match levels.next() {
        Some("devices") => {
            let (Some(id), Some("status"), None) = (levels.next(), levels.next(), levels.next())
            else {
                return None;
            };
            parse_status(id, payload)
        }
        Some("sensors") => {
            let id = levels.next()?;
            let rest = &topic[("sensors/".len() + id.len()).min(topic.len())..];
            let kind = rest.strip_prefix('/')?;
            parse_sensor(id, kind, payload)
        }
        _ => None,
    }
}

fn valid_id(id: &str) -> bool {
    !id.trim().is_empty() && id.len() <= MAX_ID_BYTES
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

fn parse_status(id: &str, payload: &[u8]) -> Option<DeviceUpdate> {
    if !valid_id(id) {
        return None;
    }
    let text = std::str::from_utf8(payload).ok()?.trim();
    let word = |online| DeviceUpdate {
        online: Some(online),
        ..DeviceUpdate::new(id, DeviceKind::Generic)
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return online_word(text).map(word),
    };
    match value {
        Value::String(s) => online_word(&s).map(word),
        Value::Object(obj) => parse_status_object(id, &obj),
        _ => None,
    }
}

fn parse_status_object(id: &str, obj: &Map<String, Value>) -> Option<DeviceUpdate> {
    let mut update = DeviceUpdate::new(id, DeviceKind::Generic);
    for (key, v) in obj {
        match (key.as_str(), v) {
            ("status", Value::String(s)) if online_word(s).is_some() => {
                update.online = online_word(s)
            }
            ("status", Value::Bool(b)) | ("online", Value::Bool(b)) => update.online = Some(*b),
            ("timestamp", v) => update.sent_ms = timestamp_ms_of(v),
            ("name", Value::String(s)) if !s.trim().is_empty() => {
                update.name = Some(s.trim().to_string())
            }
            (_, v) => {
                if let Some(value) = reading_value_of(v) {
                    if key.len() <= MAX_ID_BYTES {
                        update.readings.push(UpdateReading::new(key, value, None));
                    }
                }
            }
        }
    }
    if update.online.is_none() && update.name.is_none() && update.readings.is_empty() {
        return None;
    }
    Some(update)
}

/// Numbers stay numbers, strings and booleans become text; objects, arrays and null are skipped.
fn reading_value_of(v: &Value) -> Option<ReadingValue> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .filter(|x| x.is_finite())
            .map(ReadingValue::Number),
        Value::String(s) => Some(ReadingValue::Text(s.clone())),
        Value::Bool(b) => Some(ReadingValue::Text(b.to_string())),
        _ => None,
    }
}

fn parse_sensor(id: &str, kind: &str, payload: &[u8]) -> Option<DeviceUpdate> {
    if !valid_id(id) || kind.is_empty() || kind.len() > MAX_ID_BYTES {
        return None;
    }
    let text = std::str::from_utf8(payload).ok()?;
    let value: Value = serde_json::from_str(text.trim()).ok()?;
    let (value, unit, sent_ms) = match value {
        Value::Number(n) => (
            ReadingValue::Number(n.as_f64().filter(|x| x.is_finite())?),
            None,
            None,
        ),
        Value::Object(obj) => {
            let value = match obj.get("value")? {
                Value::String(s) => match crate::decimal::parse(s) {
                    Some(x) if x.is_finite() => ReadingValue::Number(x),
                    _ => ReadingValue::Text(s.clone()),
                },
                other => reading_value_of(other)?,
            };
            let unit = obj
                .get("unit")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string);
            (value, unit, obj.get("timestamp").and_then(timestamp_ms_of))
        }
        _ => return None,
    };
    Some(DeviceUpdate {
        readings: vec![UpdateReading::new(kind, value, unit)],
        sent_ms,
        ..DeviceUpdate::new(id, DeviceKind::Generic)
    })
}

#[cfg(test)]
mod tests {
    use super::super::DeviceRegistry;
    use super::*;
    use crate::state::devices::Liveness;
    use crate::state::display::format_relative;

    /// 2024-05-01T12:00:00Z
    const NOW: u64 = 1_714_564_800_000;
    const MIN: u64 = 60_000;

    fn reg() -> DeviceRegistry {
        DeviceRegistry::new()
    }

    #[test]
    fn a_status_or_sensor_message_reads_into_an_update_and_other_topics_do_not() {
        let u = parse("devices/boiler-7/status", br#"{"status":"online","t":1}"#).unwrap();
        assert_eq!(u.id, "boiler-7");
        assert_eq!(u.kind, DeviceKind::Generic);
        assert_eq!(u.online, Some(true));
        assert_eq!(
            u.readings,
            vec![UpdateReading::new("t", ReadingValue::Number(1.0), None)]
        );
        let u = parse("sensors/k/env/t", br#"{"value":2,"unit":"C"}"#).unwrap();
        assert_eq!(
            u.readings,
            vec![UpdateReading::new(
                "env/t",
                ReadingValue::Number(2.0),
                Some("C".into())
            )]
        );
        assert_eq!(parse("msh/US/2/json/LongFast/!0000aaaa", b"1"), None);
        assert_eq!(parse("home/x/status", b"online"), None);
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
}
