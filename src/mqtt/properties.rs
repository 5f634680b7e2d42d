//! MQTT 5 beside 3.1.1: the protocol choice, the properties a user sets or sees, what a
//! v5 broker says about itself, and reason codes by name.
//!
//! Everything here is plain data that crosses to the UI. With 3.1.1 the session ignores
//! the v5-only fields (nothing of them goes on the wire) and reports none of them.

use serde::{Deserialize, Serialize};

use super::QoS;

/// The MQTT version spoken on the wire (the CONNECT's protocol level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ProtocolVersion {
    /// MQTT 3.1.1, protocol level 4.
    #[default]
    V311,
    /// MQTT 5.0, protocol level 5.
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte (also the `protocol-version` select's value).
    pub fn level(self) -> u8 {
        match self {
            ProtocolVersion::V311 => 4,
            ProtocolVersion::V5 => 5,
        }
    }

    pub fn from_level(level: u8) -> Option<ProtocolVersion> {
        match level {
            4 => Some(ProtocolVersion::V311),
            5 => Some(ProtocolVersion::V5),
            _ => None,
        }
    }
}

/// Name/value pairs of MQTT 5 user properties, in order (a name may repeat).
pub type UserProperties = Vec<(String, String)>;

/// The smallest maximum packet size the connect form accepts: below it even a CONNACK with
/// a short reason string could be refused.
pub const MIN_PACKET_SIZE_LIMIT: u32 = 64;

/// CONNECT properties (MQTT 5 §3.1.2.11). `None` leaves a property out, so the broker
/// applies the spec's default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConnectProperties {
    /// Seconds the broker keeps the session after the link ends (0: ends with the link;
    /// `u32::MAX`: never expires).
    pub session_expiry_secs: Option<u32>,
    /// How many QoS 1/2 publishes we accept at once.
    pub receive_maximum: Option<u16>,
    /// Largest packet we accept (also the session's own incoming limit when smaller).
    pub maximum_packet_size: Option<u32>,
    /// How many topic aliases the broker may use towards us.
    pub topic_alias_maximum: Option<u16>,
    /// Ask the broker for a response-topic prefix (CONNACK's response information).
    pub request_response_information: bool,
    pub user_properties: UserProperties,
}

/// Will properties (MQTT 5 §3.1.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WillProperties {
    pub delay_interval_secs: Option<u32>,
    /// The will payload is UTF-8 text (payload format indicator 1).
    pub payload_is_utf8: bool,
    pub message_expiry_secs: Option<u32>,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Vec<u8>>,
    pub user_properties: UserProperties,
}

/// PUBLISH properties, both ways (MQTT 5 §3.3.2.3). The topic alias is not here: the
/// session picks and resolves aliases itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PublishProperties {
    /// Payload format indicator: `Some(true)` UTF-8 text, `Some(false)` unspecified bytes.
    pub payload_is_utf8: Option<bool>,
    pub message_expiry_secs: Option<u32>,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Vec<u8>>,
    pub user_properties: UserProperties,
    /// Incoming only: the identifiers of the subscriptions this message matched.
    pub subscription_ids: Vec<u32>,
}

impl PublishProperties {
    pub fn is_empty(&self) -> bool {
        *self == PublishProperties::default()
    }
}

/// Which retained messages a new subscription gets (MQTT 5 §3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum RetainHandling {
    /// Retained messages at every SUBSCRIBE (0, also what 3.1.1 does).
    #[default]
    SendAlways,
    /// Only when the subscription is new (1).
    SendIfNew,
    /// Never (2).
    DoNotSend,
}

impl RetainHandling {
    pub fn as_u8(self) -> u8 {
        match self {
            RetainHandling::SendAlways => 0,
            RetainHandling::SendIfNew => 1,
            RetainHandling::DoNotSend => 2,
        }
    }

    pub fn from_u8(v: u8) -> Option<RetainHandling> {
        match v {
            0 => Some(RetainHandling::SendAlways),
            1 => Some(RetainHandling::SendIfNew),
            2 => Some(RetainHandling::DoNotSend),
            _ => None,
        }
    }
}

/// One subscription's options. With 3.1.1 only `qos` goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SubscribeOptions {
    pub qos: QoS,
    /// Do not send us our own publishes.
    pub no_local: bool,
    /// Keep the retain flag as the publisher set it.
    pub retain_as_published: bool,
    pub retain_handling: RetainHandling,
    /// 1..=268,435,455; messages matching this subscription carry it back.
    pub subscription_id: Option<u32>,
}

impl SubscribeOptions {
    pub fn qos(qos: QoS) -> SubscribeOptions {
        SubscribeOptions {
            qos,
            ..SubscribeOptions::default()
        }
    }
}

/// What a v5 CONNACK said about the broker (its properties with the spec's defaults
/// filled in), for the "broker capabilities" panel. The session obeys the limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerCapabilities {
    pub maximum_qos: QoS,
    pub retain_available: bool,
    /// Largest packet the broker accepts (`None`: no limit beyond the protocol's).
    pub maximum_packet_size: Option<u32>,
    /// How many topic aliases we may use towards the broker (0: none).
    pub topic_alias_maximum: u16,
    /// How many QoS 1/2 publishes of ours the broker takes at once.
    pub receive_maximum: u16,
    pub wildcard_subscriptions: bool,
    pub shared_subscriptions: bool,
    pub subscription_identifiers: bool,
    /// The keepalive the broker imposes (the session uses it instead of ours).
    pub server_keepalive_secs: Option<u16>,
    /// The client id the broker assigned (we sent an empty one).
    pub assigned_client_id: Option<String>,
    /// The session expiry the broker settled on, if it differs from ours.
    pub session_expiry_secs: Option<u32>,
    /// A response-topic prefix (asked for with `request_response_information`).
    pub response_information: Option<String>,
    pub reason_string: Option<String>,
    pub user_properties: UserProperties,
}

impl Default for BrokerCapabilities {
    fn default() -> Self {
        BrokerCapabilities {
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            maximum_packet_size: None,
            topic_alias_maximum: 0,
            receive_maximum: u16::MAX,
            wildcard_subscriptions: true,
            shared_subscriptions: true,
            subscription_identifiers: true,
            server_keepalive_secs: None,
            assigned_client_id: None,
            session_expiry_secs: None,
            response_information: None,
            reason_string: None,
            user_properties: Vec::new(),
        }
    }
}

/// The name MQTT 5 gives a reason code (§2.4), as words for the UI. Codes whose meaning
/// depends on the packet (0x00, 0x80…) take the general name.
pub fn reason_name(code: u8) -> &'static str {
    match code {
        0x00 => "success",
        0x01 => "granted QoS 1",
        0x02 => "granted QoS 2",
        0x04 => "disconnect with will message",
        0x10 => "no matching subscribers",
        0x11 => "no subscription existed",
        0x18 => "continue authentication",
        0x19 => "re-authenticate",
        0x80 => "unspecified error",
        0x81 => "malformed packet",
        0x82 => "protocol error",
        0x83 => "implementation specific error",
        0x84 => "unsupported protocol version",
        0x85 => "client identifier not valid",
        0x86 => "bad user name or password",
        0x87 => "not authorized",
        0x88 => "server unavailable",
        0x89 => "server busy",
        0x8A => "banned",
        0x8B => "server shutting down",
        0x8C => "bad authentication method",
        0x8D => "keep alive timeout",
        0x8E => "session taken over",
        0x8F => "topic filter invalid",
        0x90 => "topic name invalid",
        0x91 => "packet identifier in use",
        0x92 => "packet identifier not found",
        0x93 => "receive maximum exceeded",
        0x94 => "topic alias invalid",
        0x95 => "packet too large",
        0x96 => "message rate too high",
        0x97 => "quota exceeded",
        0x98 => "administrative action",
        0x99 => "payload format invalid",
        0x9A => "retain not supported",
        0x9B => "QoS not supported",
        0x9C => "use another server",
        0x9D => "server moved",
        0x9E => "shared subscriptions not supported",
        0x9F => "connection rate exceeded",
        0xA0 => "maximum connect time",
        0xA1 => "subscription identifiers not supported",
        0xA2 => "wildcard subscriptions not supported",
        _ => "unknown reason code",
    }
}

/// "not authorized (0x87)", with the broker's reason string after it if it sent one.
pub fn describe_reason(code: u8, reason_string: Option<&str>) -> String {
    let mut text = format!("{} ({code:#04x})", reason_name(code));
    if let Some(why) = reason_string.filter(|s| !s.is_empty()) {
        text.push_str(": ");
        text.push_str(why);
    }
    text
}
