//! Meshtastic JSON downlink ("send to node").
//!
//! Published to `msh/<REGION>/2/json/mqtt/` (the gateway subscribes to `…/json/mqtt/+`):
//! `{"from":<gateway>,"to":<node>,"channel":<index>,"type":"sendtext","payload":"<text>"}`.

use std::fmt;

/// Longest text payload the firmware takes, in UTF-8 bytes.
pub const MAX_TEXT_BYTES: usize = 237;

/// Highest channel index (Meshtastic has channels 0–7).
pub const MAX_CHANNEL_INDEX: u8 = 7;

/// A downlink ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downlink {
    pub topic: String,
    pub payload: String,
}

/// Why a send-to-node was refused. [`DownlinkError::field`] names the form field to show it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownlinkError {
    /// The text is empty or only whitespace.
    EmptyText,
    /// The text is longer than [`MAX_TEXT_BYTES`].
    TextTooLong { bytes: usize, limit: usize },
    /// No gateway node was picked or typed.
    MissingGateway,
    /// The gateway given is the broadcast address.
    BroadcastGateway,
    /// The region cannot be used in a topic.
    BadRegion(String),
    /// The channel index is above [`MAX_CHANNEL_INDEX`].
    BadChannel(u32),
}

impl DownlinkError {
    /// The `data-testid` of the form field the error belongs next to.
    pub fn field(&self) -> &'static str {
        match self {
            DownlinkError::EmptyText | DownlinkError::TextTooLong { .. } => "node-message",
            DownlinkError::MissingGateway
            | DownlinkError::BroadcastGateway
            | DownlinkError::BadRegion(_) => "node-gateway",
            DownlinkError::BadChannel(_) => "node-channel",
        }
    }
}

impl fmt::Display for DownlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownlinkError::EmptyText => f.write_str("type a message to send"),
            DownlinkError::TextTooLong { bytes, limit } => write!(
                f,
                "message is {bytes} bytes (UTF-8); the limit is {limit} bytes"
            ),
            DownlinkError::MissingGateway => f.write_str(
                "pick or type the gateway node (!aabbccdd): the one that forwards to the mesh",
            ),
            DownlinkError::BroadcastGateway => {
                f.write_str("the gateway must be one node, not broadcast")
            }
            DownlinkError::BadRegion(why) => write!(f, "region: {why}"),
            DownlinkError::BadChannel(c) => write!(
                f,
                "channel index {c} is out of range: use 0–{MAX_CHANNEL_INDEX}"
            ),
        }
    }
}

impl std::error::Error for DownlinkError {}

/// The downlink topic for a region: `msh/<region>/2/json/mqtt/`. The region is used as
/// given (trimmed), since topics are case-sensitive and must match what the gateway uses
/// (`US`, `EU_868`, or a longer root such as `US/bayarea`).
pub fn downlink_topic(region: &str) -> Result<String, DownlinkError> {
    let region = region.trim();
    if region.is_empty() {
        return Err(DownlinkError::BadRegion(
            "pick the region (e.g. US, EU_868)".into(),
        ));
    }
    if region.contains(['+', '#', '\0']) {
        return Err(DownlinkError::BadRegion(
            "a region cannot contain '+', '#' or NUL".into(),
        ));
    }
    if region.split('/').any(str::is_empty) {
        return Err(DownlinkError::BadRegion(
            "a region cannot start or end with '/' or contain '//'".into(),
        ));
    }
    Ok(format!("msh/{region}/2/json/mqtt/"))
}

/// Checks a text for sending: not blank, at most [`MAX_TEXT_BYTES`] UTF-8 bytes.
pub fn check_text(text: &str) -> Result<(), DownlinkError> {
    if text.trim().is_empty() {
        return Err(DownlinkError::EmptyText);
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(DownlinkError::TextTooLong {
            bytes: text.len(),
            limit: MAX_TEXT_BYTES,
        });
    }
    Ok(())
}

/// Builds the `sendtext` downlink. `gateway` is the gateway's own node number (it drops
/// anything else), `to` the destination (4294967295 for broadcast), `channel` the index.
/// The text is sent exactly as given (not trimmed), JSON-escaped.
pub fn build_sendtext(
    region: &str,
    gateway: Option<u32>,
    to: u32,
    channel: u32,
    text: &str,
) -> Result<Downlink, DownlinkError> {
    check_text(text)?;
    let gateway = gateway.ok_or(DownlinkError::MissingGateway)?;
    if gateway == u32::MAX {
        return Err(DownlinkError::BroadcastGateway);
    }
    if channel > u32::from(MAX_CHANNEL_INDEX) {
        return Err(DownlinkError::BadChannel(channel));
    }
    let topic = downlink_topic(region)?;
    // serde_json escapes quotes, backslashes and control characters and keeps other
    // characters as UTF-8, so the byte count the firmware sees is the one checked above.
    let text_json = serde_json::Value::String(text.to_string()).to_string();
    let payload = format!(
        r#"{{"from":{gateway},"to":{to},"channel":{channel},"type":"sendtext","payload":{text_json}}}"#
    );
    Ok(Downlink { topic, payload })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::node_id::parse_node_target;

    #[test]
    fn a_text_to_one_node_is_the_exact_json_on_the_mqtt_topic() {
        let to = parse_node_target("!a1b2c3d4").unwrap();
        let d = build_sendtext("US", Some(0xdeadbeef), to, 0, "hello mesh").unwrap();
        assert_eq!(d.topic, "msh/US/2/json/mqtt/");
        assert_eq!(
            d.payload,
            r#"{"from":3735928559,"to":2712847316,"channel":0,"type":"sendtext","payload":"hello mesh"}"#
        );
    }

    #[test]
    fn a_broadcast_text_goes_to_4294967295() {
        let to = parse_node_target("^all").unwrap();
        let d = build_sendtext("EU_868", Some(305419896), to, 2, "hi all").unwrap();
        assert_eq!(d.topic, "msh/EU_868/2/json/mqtt/");
        assert_eq!(
            d.payload,
            r#"{"from":305419896,"to":4294967295,"channel":2,"type":"sendtext","payload":"hi all"}"#
        );
    }

    #[test]
    fn quotes_backslashes_newlines_and_markup_are_json_escaped() {
        let d = build_sendtext("US", Some(1), 2, 0, "say \"hi\"\\\n<b>é</b>\u{1}").unwrap();
        assert_eq!(
            d.payload,
            r#"{"from":1,"to":2,"channel":0,"type":"sendtext","payload":"say \"hi\"\\\n<b>é</b>\u0001"}"#
        );
        let back: serde_json::Value = serde_json::from_str(&d.payload).unwrap();
        assert_eq!(back["payload"], "say \"hi\"\\\n<b>é</b>\u{1}");
    }

    #[test]
    fn a_237_byte_text_is_accepted_and_238_refused() {
        let ok = "a".repeat(237);
        assert!(build_sendtext("US", Some(1), 2, 0, &ok).is_ok());
        let long = "a".repeat(238);
        let err = build_sendtext("US", Some(1), 2, 0, &long).unwrap_err();
        assert_eq!(
            err,
            DownlinkError::TextTooLong {
                bytes: 238,
                limit: 237
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("238") && msg.contains("237"), "{msg}");
        assert_eq!(err.field(), "node-message");
    }

    #[test]
    fn the_limit_counts_utf8_bytes_not_characters() {
        // 'é' is 2 bytes: 118 × 2 + 1 = 237 bytes in 119 characters.
        let ok = format!("{}a", "é".repeat(118));
        assert_eq!(ok.len(), 237);
        assert!(build_sendtext("US", Some(1), 2, 0, &ok).is_ok());
        // '€' is 3 bytes: 79 × 3 + 1 = 238 bytes in only 80 characters.
        let long = format!("{}a", "€".repeat(79));
        assert_eq!(long.chars().count(), 80);
        assert_eq!(
            build_sendtext("US", Some(1), 2, 0, &long),
            Err(DownlinkError::TextTooLong {
                bytes: 238,
                limit: 237
            })
        );
    }

    #[test]
    fn empty_text_and_a_missing_gateway_are_refused() {
        assert_eq!(
            build_sendtext("US", Some(1), 2, 0, ""),
            Err(DownlinkError::EmptyText)
        );
        assert_eq!(
            build_sendtext("US", Some(1), 2, 0, "  \n"),
            Err(DownlinkError::EmptyText)
        );
        let err = build_sendtext("US", None, 2, 0, "hi").unwrap_err();
        assert_eq!(err, DownlinkError::MissingGateway);
        assert!(err.to_string().starts_with("pick or type the gateway node"));
        assert_eq!(err.field(), "node-gateway");
        assert_eq!(
            build_sendtext("US", Some(u32::MAX), 2, 0, "hi"),
            Err(DownlinkError::BroadcastGateway)
        );
    }

    #[test]
    fn bad_regions_and_channels_are_refused() {
        for r in ["", " ", "U+", "US/#", "/US", "US/", "a//b"] {
            assert!(
                matches!(
                    build_sendtext(r, Some(1), 2, 0, "hi"),
                    Err(DownlinkError::BadRegion(_))
                ),
                "{r:?}"
            );
        }
        assert_eq!(
            build_sendtext("US/bayarea", Some(1), 2, 7, "hi")
                .unwrap()
                .topic,
            "msh/US/bayarea/2/json/mqtt/"
        );
        let err = build_sendtext("US", Some(1), 2, 8, "hi").unwrap_err();
        assert_eq!(err, DownlinkError::BadChannel(8));
        assert_eq!(err.field(), "node-channel");
    }
}
