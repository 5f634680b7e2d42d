//! Typed errors and reasons. Protocol errors end the connection; transport errors come from
//! the link; command errors refuse a user command before anything is sent. Every type
//! displays as a human-readable sentence and crosses to the UI with serde.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::properties::describe_reason;
use super::Millis;

/// The broker refused CONNECT (CONNACK return codes 1–5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectRefused {
    UnacceptableProtocolVersion,
    IdentifierRejected,
    ServerUnavailable,
    BadUserNameOrPassword,
    NotAuthorized,
    /// A code MQTT 3.1.1 does not define.
    Other(u8),
}

impl fmt::Display for ConnectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectRefused::UnacceptableProtocolVersion => {
                write!(f, "broker refused the connection: unacceptable protocol version (it may not speak MQTT 3.1.1)")
            }
            ConnectRefused::IdentifierRejected => {
                write!(f, "broker refused the connection: client id rejected")
            }
            ConnectRefused::ServerUnavailable => {
                write!(f, "broker refused the connection: server unavailable")
            }
            ConnectRefused::BadUserNameOrPassword => {
                write!(
                    f,
                    "broker refused the connection: bad user name or password"
                )
            }
            ConnectRefused::NotAuthorized => {
                write!(f, "broker refused the connection: not authorized")
            }
            ConnectRefused::Other(code) => {
                write!(
                    f,
                    "broker refused the connection: unknown return code {code}"
                )
            }
        }
    }
}

/// The broker sent something MQTT 3.1.1 forbids. Final for that connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProtocolError {
    /// The packet could not be decoded (bad QoS, bad remaining length, bad UTF-8, truncated field…).
    Malformed(String),
    /// A packet larger than the configured maximum.
    PacketTooLarge { size: usize, max: usize },
    /// A packet type a client must never receive, or one out of order (e.g. before CONNACK).
    Unexpected(String),
    /// A text frame where MQTT needs binary frames.
    TextFrame,
    /// MQTT 5: a PUBLISH with a topic alias we never gave out, or an alias the broker
    /// never set.
    TopicAliasInvalid(String),
}

impl ProtocolError {
    /// The MQTT 5 reason code our DISCONNECT gives for it.
    pub fn reason_code(&self) -> u8 {
        match self {
            ProtocolError::Malformed(_) | ProtocolError::TextFrame => 0x81,
            ProtocolError::PacketTooLarge { .. } => 0x95,
            ProtocolError::Unexpected(_) => 0x82,
            ProtocolError::TopicAliasInvalid(_) => 0x94,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Malformed(what) => write!(f, "malformed packet from broker: {what}"),
            ProtocolError::PacketTooLarge { size, max } => {
                write!(
                    f,
                    "broker sent a {size}-byte packet, over the {max}-byte limit"
                )
            }
            ProtocolError::Unexpected(what) => write!(f, "unexpected packet from broker: {what}"),
            ProtocolError::TextFrame => {
                write!(
                    f,
                    "broker sent a text WebSocket frame; MQTT uses binary frames"
                )
            }
            ProtocolError::TopicAliasInvalid(what) => {
                write!(f, "topic alias invalid (0x94): {what}")
            }
        }
    }
}

/// The link failed or closed; described by the transport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransportError {
    /// The connection could not be opened (refused, unreachable, handshake failed).
    OpenFailed(String),
    /// An open connection closed (code and reason as the link reported them).
    Closed { code: u16, reason: String },
    /// Anything else the link reports.
    Other(String),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::OpenFailed(what) => write!(f, "{what}"),
            TransportError::Closed { code, reason } if reason.is_empty() => {
                write!(f, "connection closed (code {code})")
            }
            TransportError::Closed { code, reason } => {
                write!(f, "connection closed (code {code}): {reason}")
            }
            TransportError::Other(what) => write!(f, "{what}"),
        }
    }
}

/// An MQTT 5 broker's DISCONNECT (or a refusing CONNACK): its reason code, its reason
/// string, and where it sends us for "use another server" (0x9C) / "server moved" (0x9D).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerDisconnect {
    pub code: u8,
    pub reason_string: Option<String>,
    pub server_reference: Option<String>,
}

impl ServerDisconnect {
    /// The broker asked us to connect elsewhere.
    pub fn moves(&self) -> bool {
        matches!(self.code, 0x9C | 0x9D)
    }
}

impl fmt::Display for ServerDisconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&describe_reason(self.code, self.reason_string.as_deref()))?;
        if let Some(to) = self.server_reference.as_deref().filter(|s| !s.is_empty()) {
            write!(f, "; server reference: {to}")?;
        }
        Ok(())
    }
}

/// Why a connection (or an attempt) ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisconnectReason {
    /// The user asked to disconnect.
    User,
    Refused(ConnectRefused),
    ConnackTimeout,
    /// No PINGRESP within the bound after a PINGREQ.
    KeepaliveTimeout,
    Protocol(ProtocolError),
    Transport(TransportError),
    /// A packet of ours could not be encoded; the connection was closed rather than skip it.
    LocalEncode(EncodeError),
    /// MQTT 5: the CONNACK refused us with this reason code (0x80 and up).
    RefusedV5(ServerDisconnect),
    /// MQTT 5: the broker sent DISCONNECT.
    ByServer(ServerDisconnect),
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::User => write!(f, "disconnected by user"),
            DisconnectReason::Refused(r) => write!(f, "{r}"),
            DisconnectReason::ConnackTimeout => {
                write!(
                    f,
                    "no CONNACK from the broker in time (is this an MQTT WebSocket listener?)"
                )
            }
            DisconnectReason::KeepaliveTimeout => {
                write!(
                    f,
                    "broker stopped answering keepalive pings; connection lost"
                )
            }
            DisconnectReason::Protocol(p) => write!(f, "{p}"),
            DisconnectReason::Transport(t) => write!(f, "{t}"),
            DisconnectReason::LocalEncode(e) => write!(f, "{e}; connection closed"),
            // A broker without MQTT 5 may answer with a 3.1.1 CONNACK, code 1.
            DisconnectReason::RefusedV5(d) if d.code == 0x01 => write!(
                f,
                "broker refused the connection: unacceptable protocol version (a 3.1.1 answer: it does not speak MQTT 5; choose 3.1.1)"
            ),
            DisconnectReason::RefusedV5(d) if d.code == 0x84 => write!(
                f,
                "broker refused the connection: {d} (it may not speak MQTT 5; choose 3.1.1)"
            ),
            DisconnectReason::RefusedV5(d) => write!(f, "broker refused the connection: {d}"),
            DisconnectReason::ByServer(d) => write!(f, "broker disconnected: {d}"),
        }
    }
}

/// A packet we built that could not be turned into bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncodeError {
    /// The packet type, e.g. "PUBLISH".
    pub packet: String,
    /// What the encoder refused.
    pub detail: String,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not encode {}: {}", self.packet, self.detail)
    }
}

/// A CONNECT field with a length limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectField {
    ClientId,
    UserName,
    Password,
    WillPayload,
}

impl fmt::Display for ConnectField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectField::ClientId => "client id",
            ConnectField::UserName => "user name",
            ConnectField::Password => "password",
            ConnectField::WillPayload => "will payload",
        })
    }
}

/// A user command refused locally; nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandError {
    InvalidTopic(String),
    InvalidFilter(String),
    /// Empty client id requires clean session (MQTT-3.1.3-7).
    EmptyClientIdNeedsCleanSession,
    PayloadTooLarge {
        size: usize,
        max: usize,
    },
    /// A CONNECT field over the 65,535 bytes an MQTT string can hold.
    FieldTooLong {
        field: ConnectField,
        len: usize,
    },
    /// Subscribe/publish need `connect` first.
    NotStarted,
    /// The publish passed our checks but could not be encoded; nothing was sent or queued.
    Encode(EncodeError),
    /// MQTT 5: the broker's CONNACK said it takes at most this QoS.
    QosNotSupported {
        max: super::QoS,
    },
    /// MQTT 5: the broker's CONNACK said it keeps no retained messages.
    RetainNotSupported,
    /// MQTT 5: the broker does not take this kind of subscription (shared, wildcard,
    /// subscription identifier), as its CONNACK said.
    NotSupportedByBroker(String),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::InvalidTopic(why) => write!(f, "invalid topic: {why}"),
            CommandError::InvalidFilter(why) => write!(f, "invalid topic filter: {why}"),
            CommandError::EmptyClientIdNeedsCleanSession => {
                write!(
                    f,
                    "an empty client id is only allowed with clean session on"
                )
            }
            CommandError::PayloadTooLarge { size, max } => {
                write!(
                    f,
                    "payload of {size} bytes makes a packet over the {max}-byte limit"
                )
            }
            CommandError::FieldTooLong { field, len } => {
                write!(f, "{field} is {len} bytes long; MQTT allows at most 65,535")
            }
            CommandError::NotStarted => write!(f, "not connected (the session was not started)"),
            CommandError::Encode(e) => write!(f, "{e}"),
            CommandError::QosNotSupported { max } => {
                write!(f, "the broker takes at most QoS {}", max.as_u8())
            }
            CommandError::RetainNotSupported => {
                write!(
                    f,
                    "the broker does not keep retained messages (retain not available)"
                )
            }
            CommandError::NotSupportedByBroker(what) => {
                write!(f, "the broker does not support {what}")
            }
        }
    }
}

/// Why a user publish was not delivered (`PublishOutcome::Failed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PublishFailure {
    /// Waited in the outbox longer than the outbox expiry.
    Expired { after_ms: Millis },
    /// Offline and the outbox already held this many publishes.
    OutboxFull { waiting: usize },
    /// `disconnect` while it was still in the outbox.
    DisconnectedBeforeSent,
    /// `disconnect` with a clean session while its ack was pending.
    DisconnectedUnacknowledged,
    /// It could not be encoded when its turn came to be sent.
    Unencodable(EncodeError),
    /// Its ack was pending when the user connected with another client id or to another
    /// broker: the session it was sent in is left behind.
    SessionLeft,
    /// The broker closed the connection right after it each time it was sent.
    ClosedByBroker { times: u8 },
    /// MQTT 5: PUBACK or PUBREC with a reason code of 0x80 or more.
    Refused {
        code: u8,
        reason_string: Option<String>,
    },
}

impl fmt::Display for PublishFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishFailure::Expired { after_ms } => {
                write!(f, "expired: not sent within {}", human_duration(*after_ms))
            }
            PublishFailure::OutboxFull { waiting } => write!(
                f,
                "outbox full: {waiting} publishes are already waiting for the connection"
            ),
            PublishFailure::DisconnectedBeforeSent => write!(f, "disconnected before it was sent"),
            PublishFailure::DisconnectedUnacknowledged => write!(
                f,
                "disconnected before the broker acknowledged it (it may or may not have arrived)"
            ),
            PublishFailure::Unencodable(e) => write!(f, "{e}"),
            PublishFailure::ClosedByBroker { times } => write!(
                f,
                "the broker closed the connection right after it, {times} times in a row (does it refuse this topic?)"
            ),
            PublishFailure::Refused {
                code,
                reason_string,
            } => f.write_str(&describe_reason(*code, reason_string.as_deref())),
            PublishFailure::SessionLeft => write!(
                f,
                "the client id or broker changed before the broker acknowledged it (it may or may not have arrived)"
            ),
        }
    }
}

/// "10 s", "5 min", "250 ms".
pub(crate) fn human_duration(ms: Millis) -> String {
    if ms >= 60_000 && ms.is_multiple_of(60_000) {
        format!("{} min", ms / 60_000)
    } else if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

impl std::error::Error for ConnectRefused {}
impl std::error::Error for ProtocolError {}
impl std::error::Error for TransportError {}
impl std::error::Error for DisconnectReason {}
impl std::error::Error for CommandError {}
impl std::error::Error for EncodeError {}
impl std::error::Error for PublishFailure {}
