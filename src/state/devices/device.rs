//! A device as the list shows it: identity, liveness, readings.

use std::collections::BTreeMap;

pub use crate::device_update::{DeviceKind, ReadingValue};

/// What the device list shows as a device's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Liveness {
    Online,
    Offline,
    Stale,
}

impl Liveness {
    /// Explicit offline wins; then silence for `stale_after_ms` is `Stale`; else `Online`.
    /// Takes the two fields it needs so a rendered row can follow the clock without a copy
    /// of the whole device.
    pub fn of(
        online: Option<bool>,
        last_seen_ms: u64,
        now_ms: u64,
        stale_after_ms: u64,
    ) -> Liveness {
        if online == Some(false) {
            Liveness::Offline
        } else if now_ms.saturating_sub(last_seen_ms) >= stale_after_ms {
            Liveness::Stale
        } else {
            Liveness::Online
        }
    }

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
    /// Meshtastic role (`CLIENT`, `ROUTER`, …).
    pub role: Option<String>,
    /// Meshtastic gateways that relayed this node's packets, most recent first (capped).
    pub via: Vec<u32>,
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
    /// Bumped on every change to this device: with `id` as the key, a list can re-render
    /// only the rows whose revision moved (liveness and "last seen" also move with the clock).
    pub revision: u64,
}

/// Characters of a device's last text sure to fit one line of the narrowest device list.
const NARROW_TEXT_CHARS: usize = 40;

impl Device {
    /// Whether a fixed-height row of a long list (one line of readings, one of text) may
    /// leave some of this device out of sight: more than one reading, or a long text. Such
    /// a row offers to show the device in full.
    pub fn may_overflow_a_row(&self) -> bool {
        self.readings.len() > 1
            || self
                .last_text
                .as_ref()
                .is_some_and(|t| t.chars().count() > NARROW_TEXT_CHARS)
    }

    pub(super) fn new(id: String, kind: DeviceKind) -> Self {
        Device {
            id,
            kind,
            node_num: None,
            name: None,
            short_name: None,
            hardware: None,
            role: None,
            via: Vec::new(),
            online: None,
            last_seen_ms: 0,
            readings: BTreeMap::new(),
            last_text: None,
            message_count: 0,
            revision: 0,
        }
    }

    /// Explicit offline wins; otherwise no traffic for `stale_after_ms` is `Stale`; otherwise
    /// `Online` (a status said online, or the device was simply heard recently).
    pub fn liveness(&self, now_ms: u64, stale_after_ms: u64) -> Liveness {
        Liveness::of(self.online, self.last_seen_ms, now_ms, stale_after_ms)
    }

    /// Milliseconds since last heard (0 if the clock went backwards).
    pub fn age_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.last_seen_ms)
    }

    /// The long name if known, else the id.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// Whether the device list's Find box lists this device.
    pub fn matches(&self, find: &DeviceFind) -> bool {
        match find {
            DeviceFind::All => true,
            DeviceFind::Id(id) => self.id == *id,
            DeviceFind::Text(needle) => [
                Some(&self.id),
                self.name.as_ref(),
                self.short_name.as_ref(),
                self.hardware.as_ref(),
            ]
            .into_iter()
            .flatten()
            .any(|field| lower_case(field).contains(needle)),
        }
    }

    /// A reading's numeric value, if present and numeric.
    #[cfg(test)]
    pub(crate) fn number(&self, key: &str) -> Option<f64> {
        self.readings.get(key).and_then(|r| r.value.as_f64())
    }
}

/// `text` in lower case, by Unicode's rules (`Москва` → `москва`). In the browser the
/// non-ASCII case goes to JavaScript's `toLowerCase`: Rust's own would put Unicode's case
/// tables in the download (8 KB gzip, measured) for the one search box that needs them.
fn lower_case(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::JsString::from(text).to_lower_case().into()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        text.to_lowercase()
    }
}

/// What the device list's Find box asks for: `=<id>` is that one device (what a row's
/// "show all" puts there, so `dev-1` does not also list `dev-10`); other text matches a
/// device's id, long or short name or hardware as a case-insensitive substring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceFind {
    All,
    Id(String),
    /// Lower-cased.
    Text(String),
}

impl DeviceFind {
    pub fn parse(text: &str) -> DeviceFind {
        let text = text.trim();
        match text.strip_prefix('=').map(str::trim) {
            Some("") => DeviceFind::All,
            Some(id) => DeviceFind::Id(id.to_owned()),
            None if text.is_empty() => DeviceFind::All,
            None => DeviceFind::Text(lower_case(text)),
        }
    }

    /// The Find text that lists the device `id` alone.
    pub fn exactly(id: &str) -> String {
        format!("={id}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::nodeinfo;
    use super::super::DeviceRegistry;
    use super::*;

    /// 2024-05-01T12:00:00Z
    const NOW: u64 = 1_714_564_800_000;
    const GW1: &str = "msh/US/2/json/LongFast/!0000aaaa";

    fn reg() -> DeviceRegistry {
        DeviceRegistry::new()
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
    fn the_find_box_matches_id_names_and_hardware_ignoring_case() {
        let mut r = reg();
        r.apply_message(GW1, nodeinfo(1, 0xa1b2c3d4).as_bytes(), false, NOW);
        r.apply_message("devices/pump-7/status", b"online", false, NOW);
        let node = r.get("!a1b2c3d4").unwrap();
        let pump = r.get("pump-7").unwrap();
        let finds = |d: &Device, text: &str| d.matches(&DeviceFind::parse(text));
        let name = node.name.clone().unwrap().to_uppercase();
        assert!(finds(node, &name[..3]));
        assert!(finds(node, "A1b2"));
        assert!(finds(pump, " pump "));
        assert!(!finds(pump, "a1b2"));
        assert!(finds(node, "") && finds(pump, "  "));
        let mut moscow = Device::new("!0000abcd".into(), DeviceKind::Meshtastic);
        moscow.name = Some("Москва ÉTÉ".into());
        assert!(finds(&moscow, "москва") && finds(&moscow, "été"));
        assert!(!finds(&moscow, "moskva"));
    }

    #[test]
    fn show_all_finds_one_device_by_its_whole_id() {
        let mut r = reg();
        r.apply_message("devices/dev-1/status", b"online", false, NOW);
        r.apply_message("devices/dev-10/status", b"online", false, NOW);
        let find = DeviceFind::parse(&DeviceFind::exactly("dev-1"));
        assert_eq!(find, DeviceFind::Id("dev-1".into()));
        assert!(r.get("dev-1").unwrap().matches(&find));
        assert!(!r.get("dev-10").unwrap().matches(&find));
        // Typed text still finds both, and a lone "=" finds everything.
        assert!(r
            .get("dev-10")
            .unwrap()
            .matches(&DeviceFind::parse("dev-1")));
        assert_eq!(DeviceFind::parse(" = "), DeviceFind::All);
        assert_eq!(
            DeviceFind::parse("= dev-1 "),
            DeviceFind::Id("dev-1".into())
        );
    }

    #[test]
    fn a_device_with_more_than_one_reading_or_a_long_text_may_overflow_a_fixed_row() {
        let mut r = reg();
        r.apply_message("sensors/pump-7/temperature", b"21.5", false, NOW);
        assert!(!r.get("pump-7").unwrap().may_overflow_a_row());
        r.apply_message("sensors/pump-7/pressure", b"1.2", false, NOW);
        assert!(r.get("pump-7").unwrap().may_overflow_a_row());
        let mut node = Device::new("!a1b2c3d4".into(), DeviceKind::Meshtastic);
        node.last_text = Some("see you at noon".into());
        assert!(!node.may_overflow_a_row());
        node.last_text = Some("é".repeat(41));
        assert!(node.may_overflow_a_row());
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
}
