//! Connection profiles: what the connect form saves in localStorage and exports as JSON.
//!
//! Trust rules, because anyone can send the user a link or a file:
//! - The password is stored only when the user ticked "remember", and it is bound to the
//!   broker URL it was saved with (as a browser's password manager binds to an origin): a
//!   page opened for another broker starts with empty username and password fields, and a
//!   remembered password is never sent to another broker. The MQTT 5 connect's user
//!   properties are treated the same way: some brokers authenticate with them.
//! - `connect=1` connects at once only to the saved broker or the build/same-origin default;
//!   for a broker only the link names, the page asks first ([`OnLoad::Confirm`]).
//! - An export holds the password only when the user asks for it.
//! - A stored or imported file is size-capped and its subscription list is capped.

use crate::params::UrlParams;
use crate::state::mesh::MeshSettings;

/// localStorage key of the current profile.
pub const STORAGE_KEY: &str = "mqtt-web.profile";

/// Larger profile files are refused unread (a real one is a few KiB).
pub const MAX_PROFILE_BYTES: usize = 1024 * 1024;

/// Subscriptions kept from a profile; each is one SUBSCRIBE on connect.
pub const MAX_PROFILE_SUBSCRIPTIONS: usize = 256;

/// Stored as JSON by [`Profile::to_json`] and read back by [`Profile::from_json`] (see
/// [`stored`]): every field may be missing and then takes its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub broker_url: String,
    /// Brokers to move to, in order, when `broker_url` keeps failing.
    pub failover: Vec<String>,
    pub client_id: String,
    pub username: String,
    /// Present only when `remember_password` is set.
    pub password: Option<String>,
    pub remember_password: bool,
    pub keepalive_secs: u16,
    pub clean_session: bool,
    pub will_topic: String,
    pub will_payload: String,
    pub will_qos: u8,
    pub will_retain: bool,
    pub subscriptions: Vec<SavedSubscription>,
    /// Meshtastic: our own node and the channels (with their keys) we read.
    pub mesh: MeshSettings,
    /// MQTT protocol level: 4 (3.1.1) or 5.
    pub protocol: u8,
    /// MQTT 5 session expiry interval, seconds (0: the session ends with the link).
    pub session_expiry_secs: u32,
    /// The MQTT 5 last will's delay and properties, as typed (checked when connecting).
    pub will_properties: SavedWillProperties,
    /// The MQTT 5 CONNECT's limits and properties, as typed (checked when connecting).
    pub connect_properties: SavedConnectProperties,
}

/// The MQTT 5 connect fields as the form holds them: text, like the will's, so that a value
/// the form would refuse comes back as typed and is refused at connect with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedConnectProperties {
    pub receive_maximum: String,
    pub topic_alias_maximum: String,
    pub maximum_packet_size: String,
    pub request_response_information: bool,
    pub user_properties: String,
}

/// Topic aliases the form offers the broker unless the user changes it.
pub const DEFAULT_TOPIC_ALIAS_MAXIMUM: u16 = 16;

impl Default for SavedConnectProperties {
    fn default() -> Self {
        SavedConnectProperties {
            receive_maximum: String::new(),
            topic_alias_maximum: DEFAULT_TOPIC_ALIAS_MAXIMUM.to_string(),
            maximum_packet_size: String::new(),
            request_response_information: false,
            user_properties: String::new(),
        }
    }
}

/// The last will's MQTT 5 fields as the form holds them: text, so that what the user typed
/// comes back as typed, and a value the form would refuse is refused at connect, with its
/// reason, not lost on load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavedWillProperties {
    pub delay: String,
    pub content_type: String,
    pub expiry: String,
    pub response_topic: String,
    pub correlation: String,
    pub user_properties: String,
    pub payload_utf8: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedSubscription {
    pub filter: String,
    pub qos: u8,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            broker_url: String::new(),
            failover: Vec::new(),
            client_id: String::new(),
            username: String::new(),
            password: None,
            remember_password: false,
            keepalive_secs: 60,
            protocol: 4,
            session_expiry_secs: 0,
            clean_session: true,
            will_topic: String::new(),
            will_payload: String::new(),
            will_qos: 0,
            will_retain: false,
            subscriptions: Vec::new(),
            mesh: MeshSettings::default(),
            will_properties: SavedWillProperties::default(),
            connect_properties: SavedConnectProperties::default(),
        }
    }
}

/// A profile read from storage or a file, with what was left out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedProfile {
    pub profile: Profile,
    /// Set when something was dropped (too many subscriptions); shown to the user.
    pub notice: Option<String>,
}

impl Profile {
    /// JSON for localStorage; drops the password unless it is to be remembered.
    pub fn to_json(&self) -> String {
        let mut copy = self.clone();
        if !copy.remember_password {
            copy.password = None;
        }
        stored::write(&copy)
    }

    /// JSON for an exported file: the password and the channel keys only when the user
    /// ticked "include password and keys" (the password then comes back as remembered on
    /// import, bound to this profile's broker).
    pub fn to_export_json(&self, include_password: bool) -> String {
        let mut copy = self.clone();
        copy.mesh = copy.mesh.for_export(include_password);
        copy.remember_password = include_password && copy.password.is_some();
        if !include_password {
            copy.password = None;
        }
        stored::write(&copy)
    }

    /// Reads a stored or imported profile; the error says what is wrong with the file.
    pub fn from_json(text: &str) -> Result<LoadedProfile, String> {
        if text.len() > MAX_PROFILE_BYTES {
            return Err(too_large(text.len()));
        }
        let mut profile = stored::read(text).map_err(|e| format!("not a profile file: {e}"))?;
        if !profile.remember_password {
            profile.password = None;
        }
        profile.will_qos = profile.will_qos.min(2);
        if profile.protocol != 5 {
            profile.protocol = 4;
        }
        profile.mesh = profile.mesh.sanitized();
        profile
            .subscriptions
            .retain(|s| crate::mqtt::topic::validate_filter(&s.filter).is_ok());
        for sub in &mut profile.subscriptions {
            sub.qos = sub.qos.min(2);
        }
        profile
            .failover
            .truncate(crate::bridge::failover::MAX_BROKERS - 1);
        let listed = profile.subscriptions.len();
        let notice = (listed > MAX_PROFILE_SUBSCRIPTIONS).then(|| {
            profile.subscriptions.truncate(MAX_PROFILE_SUBSCRIPTIONS);
            format!(
                "the profile lists {listed} subscriptions; the first {MAX_PROFILE_SUBSCRIPTIONS} were kept"
            )
        });
        Ok(LoadedProfile { profile, notice })
    }

    /// The form for a page opened on `broker`: this profile, with its username and password
    /// only if they were saved for that same broker.
    pub fn for_broker(&self, broker: &str) -> Profile {
        let mut form = self.clone();
        if !same_broker(&self.broker_url, broker) {
            form.failover.clear();
            form.username.clear();
            form.password = None;
            form.remember_password = false;
            form.connect_properties.user_properties.clear();
        }
        form.broker_url = broker.to_string();
        form
    }

    /// Whether connecting to `broker` with `password` would send this profile's remembered
    /// password to a broker it was not saved for. The error is the sentence for the form.
    pub fn check_password_use(&self, broker: &str, password: &str) -> Result<(), String> {
        match &self.password {
            Some(stored)
                if !password.is_empty()
                    && stored == password
                    && !same_broker(&self.broker_url, broker) =>
            {
                Err(format!(
                    "the remembered password belongs to {}; type it again to send it to {}",
                    self.broker_url.trim(),
                    broker.trim()
                ))
            }
            _ => Ok(()),
        }
    }
}

/// "File of N bytes" refusal, shared by the file picker (which knows the size before reading).
pub fn too_large(bytes: usize) -> String {
    format!(
        "the file is {bytes} bytes; a profile file is at most {} KiB",
        MAX_PROFILE_BYTES / 1024
    )
}

/// Two broker URLs name the same broker (surrounding spaces aside). Deliberately strict: a
/// credential goes only where it was saved, so anything else counts as another broker.
pub fn same_broker(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    !a.is_empty() && a == b
}

/// What the page does on load about connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnLoad {
    /// Wait for the user.
    Wait,
    /// Connect at once (`connect=1` for the saved or default broker).
    Connect,
    /// `connect=1` for a broker only the link names: show it and ask once.
    Confirm(String),
}

/// The connect form and the on-load action for a page: the saved profile, adjusted by the
/// URL (which only the user's own choices may make more powerful).
pub fn plan_start(
    saved: Option<&Profile>,
    params: &UrlParams,
    default_broker: &str,
) -> (Profile, OnLoad) {
    let saved_broker = saved.map(|p| p.broker_url.as_str()).unwrap_or("");
    let (broker, on_load) = start_broker(saved_broker, params, default_broker);
    let mut form = saved.cloned().unwrap_or_default().for_broker(&broker);
    if let Some(client_id) = &params.client_id {
        form.client_id = client_id.clone();
    }
    if let Some(username) = &params.username {
        form.username = username.clone();
    }
    if let Some(protocol) = params.protocol {
        form.protocol = protocol;
    }
    (form, on_load)
}

/// The broker a page starts with and what it does about it on load: the URL's broker, else
/// the saved one, else the default; `connect=1` connects at once only to the saved or the
/// default broker. The loader's preconnect (scripts/preconnect.mjs) follows the same rule in
/// JS, before any wasm has loaded.
fn start_broker(saved_broker: &str, params: &UrlParams, default_broker: &str) -> (String, OnLoad) {
    let broker = params
        .broker
        .clone()
        .or_else(|| (!saved_broker.trim().is_empty()).then(|| saved_broker.to_string()))
        .unwrap_or_else(|| default_broker.to_string());
    let trusted = params.broker.is_none()
        || same_broker(&broker, saved_broker)
        || same_broker(&broker, default_broker);
    let on_load = match (params.connect, trusted) {
        (false, _) => OnLoad::Wait,
        (true, true) => OnLoad::Connect,
        (true, false) => OnLoad::Confirm(broker.clone()),
    };
    (broker, on_load)
}

/// The profile as JSON text, written and read by hand over `serde_json::Value` (which the
/// app parses and prints anyway): derived serde code for these structs cost more of the
/// download than the rest of the profile module.
///
/// Reading is lenient about what is missing and strict about what is there: a missing field
/// (or `null`) keeps its default, unknown fields are ignored, and a field of the wrong type
/// refuses the whole file, by its name. Keys are written in alphabetical order.
mod stored {
    use serde_json::{Map, Value};

    use super::{Profile, SavedConnectProperties, SavedSubscription, SavedWillProperties};
    use crate::state::mesh::{MeshSettings, SavedChannel};

    pub fn write(profile: &Profile) -> String {
        let p = profile;
        let mut out = Map::new();
        let mut put = |key: &str, value: Value| {
            out.insert(key.to_string(), value);
        };
        put("broker_url", text(&p.broker_url));
        put("failover", p.failover.iter().map(|u| text(u)).collect());
        put("client_id", text(&p.client_id));
        put("username", text(&p.username));
        if let Some(password) = &p.password {
            put("password", text(password));
        }
        put("remember_password", p.remember_password.into());
        put("keepalive_secs", p.keepalive_secs.into());
        put("clean_session", p.clean_session.into());
        put("will_topic", text(&p.will_topic));
        put("will_payload", text(&p.will_payload));
        put("will_qos", p.will_qos.into());
        put("will_retain", p.will_retain.into());
        put(
            "subscriptions",
            p.subscriptions
                .iter()
                .map(|s| object(vec![("filter", text(&s.filter)), ("qos", s.qos.into())]))
                .collect(),
        );
        put("mesh", write_mesh(&p.mesh));
        put("protocol", p.protocol.into());
        put("session_expiry_secs", p.session_expiry_secs.into());
        let w = &p.will_properties;
        put(
            "will_properties",
            object(vec![
                ("delay", text(&w.delay)),
                ("content_type", text(&w.content_type)),
                ("expiry", text(&w.expiry)),
                ("response_topic", text(&w.response_topic)),
                ("correlation", text(&w.correlation)),
                ("user_properties", text(&w.user_properties)),
                ("payload_utf8", w.payload_utf8.into()),
            ]),
        );
        let c = &p.connect_properties;
        put(
            "connect_properties",
            object(vec![
                ("receive_maximum", text(&c.receive_maximum)),
                ("topic_alias_maximum", text(&c.topic_alias_maximum)),
                ("maximum_packet_size", text(&c.maximum_packet_size)),
                (
                    "request_response_information",
                    c.request_response_information.into(),
                ),
                ("user_properties", text(&c.user_properties)),
            ]),
        );
        crate::json::pretty(&Value::Object(out))
    }

    fn write_mesh(mesh: &MeshSettings) -> Value {
        let channels = mesh
            .channels
            .iter()
            .map(|c| {
                let mut channel = Map::new();
                channel.insert("name".into(), text(&c.name));
                if let Some(psk) = &c.psk {
                    channel.insert("psk".into(), text(psk));
                }
                Value::Object(channel)
            })
            .collect();
        object(vec![
            ("channels", channels),
            ("node_num", mesh.node_num.into()),
            ("long_name", text(&mesh.long_name)),
            ("short_name", text(&mesh.short_name)),
            ("region", text(&mesh.region)),
        ])
    }

    fn text(s: &str) -> Value {
        Value::String(s.to_string())
    }

    /// One insert at a time: collecting into the map sorts, and its sort was 10 KB of code.
    fn object(fields: Vec<(&str, Value)>) -> Value {
        let mut map = Map::new();
        for (key, value) in fields {
            map.insert(key.to_string(), value);
        }
        Value::Object(map)
    }

    pub fn read(json: &str) -> Result<Profile, String> {
        let value: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let f = Fields::of(&value, String::new())?;
        let mut p = Profile::default();
        f.text("broker_url", &mut p.broker_url)?;
        if let Some(items) = f.list("failover")? {
            p.failover = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let url = item.as_str().map(str::to_string);
                    url.ok_or_else(|| f.wrong_item("failover", i))
                })
                .collect::<Result<_, _>>()?;
        }
        f.text("client_id", &mut p.client_id)?;
        f.text("username", &mut p.username)?;
        if f.get("password").is_some() {
            f.text("password", p.password.insert(String::new()))?;
        }
        f.flag("remember_password", &mut p.remember_password)?;
        p.keepalive_secs = f
            .number("keepalive_secs", u16::MAX.into())?
            .map_or(p.keepalive_secs, |n| n as u16);
        f.flag("clean_session", &mut p.clean_session)?;
        f.text("will_topic", &mut p.will_topic)?;
        f.text("will_payload", &mut p.will_payload)?;
        p.will_qos = f
            .number("will_qos", u8::MAX.into())?
            .map_or(p.will_qos, |n| n as u8);
        f.flag("will_retain", &mut p.will_retain)?;
        if let Some(items) = f.list("subscriptions")? {
            p.subscriptions = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let sub = Fields::of(item, format!("subscriptions[{i}]."))?;
                    Ok(SavedSubscription {
                        filter: sub.required_text("filter")?,
                        qos: sub.required_number("qos", u8::MAX.into())? as u8,
                    })
                })
                .collect::<Result<_, String>>()?;
        }
        if let Some(mesh) = f.object("mesh")? {
            read_mesh(&mesh, &mut p.mesh)?;
        }
        p.protocol = f
            .number("protocol", u8::MAX.into())?
            .map_or(p.protocol, |n| n as u8);
        p.session_expiry_secs = f
            .number("session_expiry_secs", u32::MAX.into())?
            .map_or(p.session_expiry_secs, |n| n as u32);
        if let Some(w) = f.object("will_properties")? {
            let into: &mut SavedWillProperties = &mut p.will_properties;
            w.text("delay", &mut into.delay)?;
            w.text("content_type", &mut into.content_type)?;
            w.text("expiry", &mut into.expiry)?;
            w.text("response_topic", &mut into.response_topic)?;
            w.text("correlation", &mut into.correlation)?;
            w.text("user_properties", &mut into.user_properties)?;
            w.flag("payload_utf8", &mut into.payload_utf8)?;
        }
        if let Some(c) = f.object("connect_properties")? {
            let into: &mut SavedConnectProperties = &mut p.connect_properties;
            c.text("receive_maximum", &mut into.receive_maximum)?;
            c.text("topic_alias_maximum", &mut into.topic_alias_maximum)?;
            c.text("maximum_packet_size", &mut into.maximum_packet_size)?;
            c.flag(
                "request_response_information",
                &mut into.request_response_information,
            )?;
            c.text("user_properties", &mut into.user_properties)?;
        }
        Ok(p)
    }

    fn read_mesh(f: &Fields, into: &mut MeshSettings) -> Result<(), String> {
        if let Some(items) = f.list("channels")? {
            into.channels = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let channel = Fields::of(item, format!("mesh.channels[{i}]."))?;
                    let mut psk = None;
                    if channel.get("psk").is_some() {
                        channel.text("psk", psk.insert(String::new()))?;
                    }
                    Ok(SavedChannel {
                        name: channel.required_text("name")?,
                        psk,
                    })
                })
                .collect::<Result<_, String>>()?;
        }
        into.node_num = f
            .number("node_num", u32::MAX.into())?
            .map_or(into.node_num, |n| n as u32);
        f.text("long_name", &mut into.long_name)?;
        f.text("short_name", &mut into.short_name)?;
        f.text("region", &mut into.region)
    }

    /// One JSON object of the file; `path` names it in errors (`mesh.`, `subscriptions[2].`).
    struct Fields<'a> {
        map: &'a Map<String, Value>,
        path: String,
    }

    impl<'a> Fields<'a> {
        fn of(value: &'a Value, path: String) -> Result<Fields<'a>, String> {
            match value.as_object() {
                Some(map) => Ok(Fields { map, path }),
                None if path.is_empty() => Err("it is not a JSON object".into()),
                None => Err(format!(
                    "{} should be an object",
                    path.trim_end_matches('.')
                )),
            }
        }

        /// The field's value; `null` counts as missing.
        fn get(&self, key: &str) -> Option<&'a Value> {
            self.map.get(key).filter(|v| !v.is_null())
        }

        fn wrong(&self, key: &str, what: &str) -> String {
            format!("{}{key} should be {what}", self.path)
        }

        fn missing(&self, key: &str) -> String {
            format!("{}{key} is missing", self.path)
        }

        fn wrong_item(&self, key: &str, index: usize) -> String {
            format!("{}{key}[{index}] should be text", self.path)
        }

        fn text(&self, key: &str, into: &mut String) -> Result<(), String> {
            if let Some(value) = self.get(key) {
                let text = value.as_str().ok_or_else(|| self.wrong(key, "text"))?;
                *into = text.to_string();
            }
            Ok(())
        }

        fn required_text(&self, key: &str) -> Result<String, String> {
            let mut text = String::new();
            match self.get(key) {
                Some(_) => self.text(key, &mut text).map(|()| text),
                None => Err(self.missing(key)),
            }
        }

        fn flag(&self, key: &str, into: &mut bool) -> Result<(), String> {
            if let Some(value) = self.get(key) {
                *into = value
                    .as_bool()
                    .ok_or_else(|| self.wrong(key, "true or false"))?;
            }
            Ok(())
        }

        /// A whole number from 0 to `max`, if present.
        fn number(&self, key: &str, max: u64) -> Result<Option<u64>, String> {
            let Some(value) = self.get(key) else {
                return Ok(None);
            };
            match value.as_u64() {
                Some(n) if n <= max => Ok(Some(n)),
                _ => Err(self.wrong(key, &format!("a whole number from 0 to {max}"))),
            }
        }

        fn required_number(&self, key: &str, max: u64) -> Result<u64, String> {
            self.number(key, max)?.ok_or_else(|| self.missing(key))
        }

        fn object(&self, key: &str) -> Result<Option<Fields<'a>>, String> {
            let path = format!("{}{key}.", self.path);
            self.get(key)
                .map(|value| Fields::of(value, path))
                .transpose()
        }

        fn list(&self, key: &str) -> Result<Option<&'a Vec<Value>>, String> {
            self.get(key)
                .map(|value| value.as_array().ok_or_else(|| self.wrong(key, "a list")))
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::mesh::{MeshSettings, SavedChannel};

    fn sample() -> Profile {
        Profile {
            broker_url: "ws://127.0.0.1:9001/mqtt".into(),
            client_id: "me".into(),
            username: "alice".into(),
            password: Some("s3cret".into()),
            subscriptions: vec![SavedSubscription {
                filter: "a/#".into(),
                qos: 1,
            }],
            ..Profile::default()
        }
    }

    #[test]
    fn the_password_is_not_stored_unless_remember_is_ticked() {
        let json = sample().to_json();
        assert!(!json.contains("s3cret"), "{json}");
        let back = Profile::from_json(&json).unwrap().profile;
        assert_eq!(back.password, None);
        assert_eq!(back.subscriptions, sample().subscriptions);
    }

    #[test]
    fn a_remembered_password_round_trips() {
        let profile = Profile {
            remember_password: true,
            ..sample()
        };
        assert_eq!(
            Profile::from_json(&profile.to_json()).unwrap().profile,
            profile
        );
    }

    /// `profile` read back from localStorage and from an exported file.
    fn stored_and_exported(profile: &Profile) -> [Profile; 2] {
        [profile.to_json(), profile.to_export_json(false)]
            .map(|json| Profile::from_json(&json).unwrap().profile)
    }

    #[test]
    fn the_mqtt5_connect_properties_come_back_as_typed() {
        let profile = Profile {
            protocol: 5,
            connect_properties: SavedConnectProperties {
                receive_maximum: "8".into(),
                topic_alias_maximum: "0".into(),
                maximum_packet_size: "4096".into(),
                request_response_information: true,
                user_properties: "site=lab\nowner=ana".into(),
            },
            ..sample()
        };
        for back in stored_and_exported(&profile) {
            assert_eq!(back.connect_properties, profile.connect_properties);
        }
        // A profile saved before they were kept: the form's defaults.
        let older = r#"{"broker_url":"ws://127.0.0.1:9001/mqtt","protocol":5}"#;
        let loaded = Profile::from_json(older)
            .unwrap()
            .profile
            .connect_properties;
        assert_eq!(loaded, SavedConnectProperties::default());
        assert_eq!(loaded.topic_alias_maximum, "16");
        // A hostile file: what the form would refuse comes back as typed, to be refused at
        // connect; a value of the wrong type refuses the whole file.
        let hostile = r#"{"connect_properties":{"receive_maximum":"0","maximum_packet_size":"<b>9</b>","user_properties":"no equals sign"}}"#;
        let loaded = Profile::from_json(hostile)
            .unwrap()
            .profile
            .connect_properties;
        assert_eq!(loaded.maximum_packet_size, "<b>9</b>");
        assert!(crate::state::requests::parse_user_properties(&loaded.user_properties).is_err());
        assert!(Profile::from_json(r#"{"connect_properties":{"receive_maximum":8}}"#).is_err());
    }

    #[test]
    fn the_mqtt5_last_will_properties_come_back_as_typed() {
        let profile = Profile {
            protocol: 5,
            will_properties: SavedWillProperties {
                delay: "30".into(),
                content_type: "application/json".into(),
                expiry: "600".into(),
                response_topic: "replies/me".into(),
                correlation: "req-7".into(),
                user_properties: "site=lab\nowner=ana".into(),
                payload_utf8: true,
            },
            ..sample()
        };
        for back in stored_and_exported(&profile) {
            assert_eq!(back.will_properties, profile.will_properties);
        }
        // A hostile file: values the form would refuse come back as typed, to be refused
        // with their reason at connect; a value of the wrong type refuses the whole file.
        let hostile = r#"{"will_properties":{"delay":"-1","expiry":"9999999999","content_type":"<img src=x onerror=alert(1)>"}}"#;
        let loaded = Profile::from_json(hostile).unwrap().profile.will_properties;
        assert_eq!(loaded.content_type, "<img src=x onerror=alert(1)>");
        assert!(crate::state::requests::parse_seconds(&loaded.delay, "will delay").is_err());
        assert!(crate::state::requests::parse_seconds(&loaded.expiry, "message expiry").is_err());
        assert!(
            Profile::from_json(r#"{"will_properties":{"payload_utf8":"yes"}}"#)
                .unwrap_err()
                .starts_with("not a profile file")
        );
        // A profile saved before these existed loads with none.
        let old = r#"{"broker_url":"ws://127.0.0.1:9001/mqtt","will_topic":"a/b"}"#;
        let loaded = Profile::from_json(old).unwrap().profile;
        assert_eq!(loaded.will_properties, SavedWillProperties::default());
    }

    #[test]
    fn an_imported_file_is_checked_and_cleaned() {
        assert!(Profile::from_json("[1,2]")
            .unwrap_err()
            .starts_with("not a profile file"));
        let text = r##"{"password":"x","will_qos":7,"subscriptions":[{"filter":"a/#/b","qos":1},{"filter":"ok/+","qos":9}]}"##;
        let profile = Profile::from_json(text).unwrap().profile;
        assert_eq!(
            profile.password, None,
            "a password without remember is dropped"
        );
        assert_eq!(profile.will_qos, 2);
        assert_eq!(
            profile.subscriptions,
            vec![SavedSubscription {
                filter: "ok/+".into(),
                qos: 2
            }]
        );
        assert_eq!(profile.keepalive_secs, 60, "missing fields take defaults");
    }

    /// Every field away from its default, the mesh settings included.
    fn everything() -> Profile {
        Profile {
            remember_password: true,
            failover: vec![
                "ws://127.0.0.1:9002/mqtt".into(),
                "wss://b.example/mqtt".into(),
            ],
            keepalive_secs: 15,
            clean_session: false,
            will_topic: "devices/me/status".into(),
            will_payload: "offline \"quoted\" ✓".into(),
            will_qos: 2,
            will_retain: true,
            protocol: 5,
            session_expiry_secs: u32::MAX,
            mesh: MeshSettings {
                channels: vec![
                    SavedChannel {
                        name: "LongFast".into(),
                        psk: Some("AQ==".into()),
                    },
                    SavedChannel {
                        name: "no key".into(),
                        psk: None,
                    },
                ],
                node_num: 0xdeadbeef,
                long_name: "Base".into(),
                short_name: "BS".into(),
                region: "EU_868".into(),
            },
            will_properties: SavedWillProperties {
                delay: "5".into(),
                payload_utf8: true,
                ..SavedWillProperties::default()
            },
            connect_properties: SavedConnectProperties {
                receive_maximum: "8".into(),
                request_response_information: true,
                ..SavedConnectProperties::default()
            },
            ..sample()
        }
    }

    #[test]
    fn every_field_round_trips_and_a_file_of_the_older_writer_reads_the_same() {
        let profile = everything();
        assert_eq!(
            Profile::from_json(&profile.to_json()).unwrap().profile,
            profile
        );
        // As the serde-derived writer of earlier versions laid it out (field order, `psk`
        // left out when absent): stored profiles keep working.
        let older = r#"{
  "broker_url": "ws://127.0.0.1:9001/mqtt",
  "failover": ["ws://127.0.0.1:9002/mqtt", "wss://b.example/mqtt"],
  "client_id": "me", "username": "alice", "password": "s3cret", "remember_password": true,
  "keepalive_secs": 15, "clean_session": false, "will_topic": "devices/me/status",
  "will_payload": "offline \"quoted\" ✓", "will_qos": 2, "will_retain": true,
  "subscriptions": [{"filter": "a/#", "qos": 1}],
  "mesh": {"channels": [{"name": "LongFast", "psk": "AQ=="}, {"name": "no key"}],
           "node_num": 3735928559, "long_name": "Base", "short_name": "BS", "region": "EU_868"},
  "protocol": 5, "session_expiry_secs": 4294967295,
  "will_properties": {"delay": "5", "content_type": "", "expiry": "", "response_topic": "",
                      "correlation": "", "user_properties": "", "payload_utf8": true},
  "connect_properties": {"receive_maximum": "8", "topic_alias_maximum": "16",
                         "maximum_packet_size": "", "request_response_information": true,
                         "user_properties": ""}
}"#;
        assert_eq!(Profile::from_json(older).unwrap().profile, profile);
    }

    #[test]
    fn a_field_of_the_wrong_type_refuses_the_file_naming_it_and_null_counts_as_missing() {
        let why = |json: &str| Profile::from_json(json).unwrap_err();
        assert_eq!(
            why(r#"{"keepalive_secs":"60"}"#),
            "not a profile file: keepalive_secs should be a whole number from 0 to 65535"
        );
        assert_eq!(
            why(r#"{"keepalive_secs":70000}"#),
            "not a profile file: keepalive_secs should be a whole number from 0 to 65535"
        );
        assert_eq!(
            why(r#"{"mesh":{"channels":[{"name":"a"},{"psk":"AQ=="}]}}"#),
            "not a profile file: mesh.channels[1].name is missing"
        );
        assert_eq!(
            why(r#"{"subscriptions":[{"filter":"a","qos":-1}]}"#),
            "not a profile file: subscriptions[0].qos should be a whole number from 0 to 255"
        );
        assert_eq!(
            why(r#"{"failover":["ws://a",7]}"#),
            "not a profile file: failover[1] should be text"
        );
        assert_eq!(
            why(r#"{"will_properties":[]}"#),
            "not a profile file: will_properties should be an object"
        );
        assert_eq!(
            why(r#"{"clean_session":1}"#),
            "not a profile file: clean_session should be true or false"
        );
        assert!(why("{").starts_with("not a profile file: EOF"));
        let nulls = r#"{"client_id":null,"keepalive_secs":null,"mesh":null,"password":null}"#;
        assert_eq!(
            Profile::from_json(nulls).unwrap().profile,
            Profile::default()
        );
    }

    #[test]
    fn a_hostile_file_is_refused_with_a_reason_not_a_panic() {
        let deep = format!("{{\"mesh\":{}1{}}}", "[".repeat(5000), "]".repeat(5000));
        assert!(Profile::from_json(&deep)
            .unwrap_err()
            .contains("recursion limit"));
        let why = Profile::from_json(r#"{"keepalive_secs":1e400}"#).unwrap_err();
        assert!(why.starts_with("not a profile file"), "{why}");
        let why = Profile::from_json(r#"{"protocol":5.0}"#).unwrap_err();
        assert!(why.contains("protocol should be a whole number"), "{why}");
        // Text fields keep what they hold, markup included: the views show it as text.
        let loaded = Profile::from_json(
            r#"{"client_id":"<img src=x onerror=alert(1)>","mesh":{"node_num":4294967295}}"#,
        )
        .unwrap()
        .profile;
        assert_eq!(loaded.client_id, "<img src=x onerror=alert(1)>");
        assert_eq!(loaded.mesh.node_num, 0, "broadcast is not a node of ours");
    }

    fn remembered() -> Profile {
        Profile {
            remember_password: true,
            failover: vec!["ws://127.0.0.1:9002/mqtt".into()],
            connect_properties: SavedConnectProperties {
                receive_maximum: "8".into(),
                user_properties: "token=abc".into(),
                ..SavedConnectProperties::default()
            },
            ..sample()
        }
    }

    fn params(query: &str) -> UrlParams {
        UrlParams::from_query(query)
    }

    const DEFAULT: &str = "ws://127.0.0.1:8080/mqtt";
    const EVIL: &str = "ws://127.0.0.2:9001/mqtt";

    #[test]
    fn a_link_to_another_broker_gets_no_stored_credential_and_asks_before_connecting() {
        let saved = remembered();
        let query = format!("broker={EVIL}&connect=1");
        let (form, on_load) = plan_start(Some(&saved), &params(&query), DEFAULT);
        assert_eq!(form.broker_url, EVIL);
        assert_eq!(form.username, "");
        assert_eq!(form.password, None);
        assert!(!form.remember_password);
        assert_eq!(
            form.connect_properties.user_properties, "",
            "connect user properties may carry a token"
        );
        assert_eq!(form.connect_properties.receive_maximum, "8");
        assert_eq!(on_load, OnLoad::Confirm(EVIL.into()));
        assert_eq!(form.subscriptions, saved.subscriptions, "the rest is kept");
        assert!(
            form.failover.is_empty(),
            "the saved failover list stays with its broker"
        );
    }

    #[test]
    fn the_saved_broker_connects_at_once_with_its_credentials() {
        let saved = remembered();
        for query in [
            "connect=1".to_string(),
            format!("broker={}&connect=1", saved.broker_url),
        ] {
            let (form, on_load) = plan_start(Some(&saved), &params(&query), DEFAULT);
            assert_eq!(on_load, OnLoad::Connect, "{query}");
            assert_eq!(form.password.as_deref(), Some("s3cret"));
            assert_eq!(form.username, "alice");
            assert_eq!(form.connect_properties.user_properties, "token=abc");
        }
        let (_, on_load) = plan_start(Some(&saved), &params(""), DEFAULT);
        assert_eq!(on_load, OnLoad::Wait, "no connect=1, no connect");
    }

    #[test]
    fn the_default_broker_is_trusted_but_gets_no_credential_saved_for_another() {
        let saved = remembered();
        let query = format!("broker={DEFAULT}&connect=1");
        let (form, on_load) = plan_start(Some(&saved), &params(&query), DEFAULT);
        assert_eq!(on_load, OnLoad::Connect);
        assert_eq!((form.username.as_str(), form.password), ("", None));
        let (form, on_load) = plan_start(None, &params("connect=1"), DEFAULT);
        assert_eq!(
            (form.broker_url.as_str(), on_load),
            (DEFAULT, OnLoad::Connect)
        );
    }

    #[test]
    fn without_a_saved_profile_a_linked_broker_still_asks() {
        let query = format!("broker={EVIL}&connect=1&username=bob&client_id=x");
        let (form, on_load) = plan_start(None, &params(&query), DEFAULT);
        assert_eq!(on_load, OnLoad::Confirm(EVIL.into()));
        assert_eq!(
            (form.username.as_str(), form.client_id.as_str()),
            ("bob", "x")
        );
        assert_eq!(form.password, None, "a link never carries a password");
    }

    #[test]
    fn a_remembered_password_is_refused_for_another_broker_but_a_typed_one_is_not() {
        let saved = remembered();
        assert_eq!(
            saved.check_password_use(&saved.broker_url, "s3cret"),
            Ok(())
        );
        let why = saved.check_password_use(EVIL, "s3cret").unwrap_err();
        assert!(
            why.contains(EVIL) && why.contains(&saved.broker_url),
            "{why}"
        );
        assert_eq!(saved.check_password_use(EVIL, "other"), Ok(()));
        assert_eq!(saved.check_password_use(EVIL, ""), Ok(()));
    }

    #[test]
    fn an_export_has_a_password_only_when_asked_and_it_comes_back_bound_to_its_broker() {
        let profile = remembered();
        let plain = profile.to_export_json(false);
        assert!(!plain.contains("s3cret"), "{plain}");
        let with = profile.to_export_json(true);
        let back = Profile::from_json(&with).unwrap().profile;
        assert_eq!(back.password.as_deref(), Some("s3cret"));
        assert_eq!(back.broker_url, profile.broker_url);
        let not_remembered = Profile {
            remember_password: false,
            ..sample()
        };
        assert!(!not_remembered.to_export_json(false).contains("s3cret"));
    }

    #[test]
    fn an_oversize_file_is_refused_and_a_long_subscription_list_is_capped_with_a_notice() {
        let huge = format!("{{\"client_id\":\"{}\"}}", "x".repeat(MAX_PROFILE_BYTES));
        let why = Profile::from_json(&huge).unwrap_err();
        assert!(why.contains("at most 1024 KiB"), "{why}");
        let subs: Vec<String> = (0..5000)
            .map(|i| format!("{{\"filter\":\"t/{i}\",\"qos\":0}}"))
            .collect();
        let text = format!("{{\"subscriptions\":[{}]}}", subs.join(","));
        let loaded = Profile::from_json(&text).unwrap();
        assert_eq!(
            loaded.profile.subscriptions.len(),
            MAX_PROFILE_SUBSCRIPTIONS
        );
        assert_eq!(loaded.profile.subscriptions[0].filter, "t/0");
        assert_eq!(
            loaded.notice.as_deref(),
            Some("the profile lists 5000 subscriptions; the first 256 were kept")
        );
    }

    proptest::proptest! {
        /// Stored or imported text is untrusted: any input is a profile or a reason, never a
        /// panic, and what comes out is within the caps.
        #[test]
        fn any_text_is_a_capped_profile_or_a_reason(text in ".{0,400}") {
            if let Ok(loaded) = Profile::from_json(&text) {
                proptest::prop_assert!(loaded.profile.subscriptions.len() <= MAX_PROFILE_SUBSCRIPTIONS);
                proptest::prop_assert!(loaded.profile.will_qos <= 2);
            }
        }
    }
}
