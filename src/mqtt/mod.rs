//! Sans-IO MQTT client session, 3.1.1 or 5 (`ConnectOptions::protocol`).
//!
//! Why sans-IO: the same session runs in a dedicated Web Worker (the app's default) or on
//! the page's main thread (`?worker=0`), natively in the benchmark, and its tests are
//! scripted conversations on a simulated clock. So there are no sockets, no timers, no clock
//! reads: every input carries `now` (milliseconds on any monotonic clock the caller
//! chooses), and every output is pulled with a `poll_*` call. Everything that crosses to the
//! UI (`Event`, `PublishOutcome`, the errors and reasons, the options) is serde-serializable.
//!
//! Polling order after any `handle_*` or command call:
//! 1. `poll_transmit()` until `None` (link actions, in order: open, bytes, close),
//! 2. `poll_event()` until `None` (what the UI state should learn),
//! 3. `poll_timeout()` once, to (re)arm the caller's single timer; when it fires, call
//!    `handle_timeout(now)`. Calling it early or late is harmless.
//!
//! # Link contract (what the transport must do)
//! - `Transmit::Open`: open a new WebSocket (subprotocol `mqtt`, binary type `arraybuffer`),
//!   then report `handle_open` or `handle_closed`.
//! - `Transmit::Bytes`: send as one binary frame. Each holds exactly one MQTT packet.
//! - `Transmit::Close`: close the current socket and stop reporting its events. The session
//!   already counts that link as gone; reports that arrive while it has no link open are
//!   ignored (`handle_open`, `handle_bytes`, `handle_closed`), so a late `onclose` of a
//!   socket it closed is harmless. `Close` followed by `Open` means: close the old socket,
//!   then open a new one.
//! - Incoming binary frames go to `handle_bytes` as they are (any split), text frames to
//!   `handle_text_frame`.
//!
//! # Behaviour choices (where MQTT leaves room)
//! - **Connect/restart.** `connect` while a link exists sends DISCONNECT (if connected),
//!   `Close`, then `Open` with the new options; no `ConnectionLost` is reported for that.
//!   A user `connect` also resets the backoff. A link that does not open within
//!   `connack_timeout_ms` is abandoned like a failed open (`Transport(OpenFailed)`), so a
//!   hung WebSocket handshake cannot stall reconnecting; the CONNACK wait is a separate
//!   `connack_timeout_ms` counted from `handle_open`. Both are judged as soon as the timer
//!   runs, however late (unlike the keepalive answer below).
//! - **Reconnect.** Every lost link or failed attempt emits `ConnectionLost(reason)`,
//!   `State(Reconnecting)` (if it changed) and `ReconnectScheduled { attempt, delay_ms }`;
//!   `attempt` counts consecutive failures from 1 and its delay is uniform in
//!   `[0, min(cap, base·2^(attempt-1))]`. The count resets only when a connection that
//!   stayed up `backoff_reset_after_ms` is lost (or on a user `connect`), so a broker that
//!   accepts and drops at once keeps backing off. Refusals (bad password…) are retried too.
//! - **Disconnect.** `disconnect` sends DISCONNECT if connected, then `Close`, and emits
//!   `ConnectionLost(User)` then `State(Disconnected)`; nothing is retried after it.
//!   Subscribe and publish are then refused (`CommandError::NotStarted`) until `connect`.
//!   Queued (never sent) publishes are reported `Failed`. Unacknowledged QoS 1/2 publishes are kept
//!   for the next `connect` with a persistent session (`clean_session = false`, they belong
//!   to the broker's session) and reported `Failed` with a clean session. Wanted
//!   subscriptions are kept and asked for again on the next `connect`.
//! - **Keepalive.** A PINGREQ goes out when nothing was *sent* for the keepalive interval;
//!   any incoming packet answers it. The wait for an answer is `ping_timeout_ms`, capped at
//!   the keepalive interval. Late timer calls (throttled background tab): a due ping is sent
//!   when the timer finally runs and judged from then; if the answer check itself runs later
//!   than a whole ping timeout past its deadline, we assume we were asleep rather than the
//!   broker and send one more PINGREQ (once per ping) instead of dropping the link.
//! - **Subscriptions.** One SUBSCRIBE per filter. Subscribing an already wanted filter with
//!   the same QoS does nothing; with another QoS it is updated and sent again. `unsubscribe`
//!   offline reports `Unsubscribed` at once and, with a persistent session, sends the
//!   UNSUBSCRIBE on the next connection whose CONNACK says the session is present.
//!   After a user `connect` every wanted filter is sent on the first CONNACK, even with
//!   a session present (the options, e.g. the client id, may have changed).
//!   `unsubscribe` works even before `connect` (it only forgets the filter); connected, it
//!   sends UNSUBSCRIBE even for a filter it does not know (a persistent session may have it).
//!   A pending UNSUBSCRIBE whose link drops is reported `Unsubscribed` then.
//! - **Publishes.** `Sent` is reported for QoS 0 only (handed to the link); QoS 1/2 report
//!   `Acked` on PUBACK / PUBCOMP. On reconnect, unacknowledged publishes go out first, in
//!   their original order, then UNSUBSCRIBEs, SUBSCRIBEs and the outbox. With
//!   `clean_session = false`: PUBLISH again with DUP=1 and the original id, or PUBREL for a
//!   message already PUBREC'd (MQTT-4.4.0-1). With `clean_session = true` the broker's new
//!   session knows none of them, so each is sent again as a new PUBLISH (DUP=0, same id,
//!   PUBREC'd ones included): at least once rather than lost.
//! - **Publish ids.** The caller picks each publish's `PublishId`; the session never reads
//!   it, only echoes it in `Event::Publish`.
//! - **Outbox.** Offline publishes queue up to `outbox_capacity`; a publish over that is
//!   reported `Failed(PublishFailure::OutboxFull)` (the queue keeps its order). Entries older
//!   than `outbox_expiry_ms` are reported `Failed(PublishFailure::Expired)`, checked on every
//!   input. `disconnect` reports `DisconnectedBeforeSent` / `DisconnectedUnacknowledged`.
//! - **Encoding.** Nothing is dropped silently. A publish that passes validation but cannot
//!   be encoded is refused with `CommandError::Encode` (nothing sent or queued; queued ones
//!   are checked when queued). A packet of the protocol's own (CONNECT, acks, PINGREQ,
//!   SUBSCRIBE…) that cannot be encoded ends the connection with
//!   `DisconnectReason::LocalEncode`, then reconnects as after any loss.
//! - **A publish the broker will not take.** Some brokers close the connection instead of
//!   acking a publish they refuse (aedes does for `$SYS/…`). If the broker closes the link
//!   right after a QoS 1/2 PUBLISH with nothing answered between, that publish gets a mark;
//!   at 3 marks it is reported `Failed(ClosedByBroker)` instead of being re-sent forever.
//! - **One session per (broker, client id).** In-flight state belongs to the broker's
//!   session for one client id. A `connect` with another client id, or the caller's
//!   `leave_session` when the user picks another broker, reports unacknowledged publishes
//!   `Failed(SessionLeft)` and forgets incoming QoS 2 ids (whatever the next CONNACK says).
//!   A failover move (`broker_moved`) also forgets incoming ids but sends unacknowledged
//!   publishes again as new ones: the brokers of one service should get them at least once.
//! - **Incoming.** QoS 2 ids stay "delivered" until PUBREL, across reconnects whose CONNACK
//!   says the session is present. PUBREL for an unknown id is still answered with PUBCOMP.
//!   Acks for unknown ids are ignored. Incoming PUBLISH topics are checked like ours
//!   (a wildcard, NUL or empty topic from the broker is malformed).

pub(crate) mod backoff;
pub(crate) mod byte_buf;
mod error;
pub(crate) mod framing;
pub(crate) mod inflight;
pub(crate) mod packet;
pub(crate) mod pkid;
pub mod properties;
mod session;
pub(crate) mod topic;
mod v5;
pub mod varint;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_v5;

pub use error::{
    CommandError, ConnectField, ConnectRefused, DisconnectReason, EncodeError, ProtocolError,
    PublishFailure, ServerDisconnect, TransportError,
};
pub use properties::{
    BrokerCapabilities, ConnectProperties, ProtocolVersion, PublishProperties, RetainHandling,
    SubscribeOptions, UserProperties, WillProperties, MIN_PACKET_SIZE_LIMIT,
};
pub use session::Session;

use serde::{Deserialize, Serialize};

/// Milliseconds on the caller's monotonic clock.
pub type Millis = u64;

/// Quality of service, as in MQTT 3.1.1 §4.3.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum QoS {
    #[default]
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

impl QoS {
    pub fn from_u8(v: u8) -> Option<QoS> {
        match v {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

/// The last will the broker publishes if this client vanishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastWill {
    pub topic: String,
    #[serde(with = "byte_buf")]
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
    /// MQTT 5 only.
    pub properties: WillProperties,
}

/// Everything that goes into CONNECT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectOptions {
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Seconds; 0 disables keepalive pings.
    pub keepalive_secs: u16,
    /// 3.1.1 clean session; MQTT 5 clean start (on the user's connect; reconnects resume
    /// the session when its expiry is above 0).
    pub clean_session: bool,
    pub last_will: Option<LastWill>,
    pub protocol: ProtocolVersion,
    /// MQTT 5 only.
    pub properties: ConnectProperties,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            client_id: String::new(),
            username: None,
            password: None,
            keepalive_secs: 60,
            clean_session: true,
            last_will: None,
            protocol: ProtocolVersion::V311,
            properties: ConnectProperties::default(),
        }
    }
}

/// Tunables that are not part of CONNECT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionConfig {
    /// Give up on a CONNACK after this long and treat the attempt as failed.
    pub connack_timeout_ms: Millis,
    /// How long to wait for PINGRESP (or any packet) after a PINGREQ.
    pub ping_timeout_ms: Millis,
    /// First reconnect delay ceiling; doubles per failed attempt (full jitter).
    pub backoff_base_ms: Millis,
    /// Largest reconnect delay ceiling.
    pub backoff_cap_ms: Millis,
    /// A connection that stayed up this long resets the backoff.
    pub backoff_reset_after_ms: Millis,
    /// Seed for the jitter generator (inject for deterministic tests).
    pub seed: u64,
    /// Largest incoming packet accepted (whole packet, header included).
    pub max_incoming_packet: usize,
    /// Largest outgoing packet we build; larger publishes are refused locally.
    pub max_outgoing_packet: usize,
    /// Publishes kept while offline.
    pub outbox_capacity: usize,
    /// A queued publish not sent within this long is dropped and reported.
    pub outbox_expiry_ms: Millis,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            connack_timeout_ms: 10_000,
            ping_timeout_ms: 10_000,
            backoff_base_ms: 500,
            backoff_cap_ms: 30_000,
            backoff_reset_after_ms: 30_000,
            seed: 0x5eed,
            max_incoming_packet: 1024 * 1024 + 1024,
            max_outgoing_packet: 1024 * 1024 + 1024,
            outbox_capacity: 1000,
            outbox_expiry_ms: 5 * 60_000,
        }
    }
}

/// What the session asks of the link, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Open a new connection to the broker (the transport answers `handle_open` or `handle_closed`).
    Open,
    /// Send these bytes as one binary frame.
    Bytes(Vec<u8>),
    /// Close the connection (after sending anything queued before this).
    Close,
}

/// Connection state as the UI shows it (`connection-status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConnectionState {
    Disconnected,
    Connecting,
    Connected,
    Reconnecting,
}

impl ConnectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            ConnectionState::Reconnecting => "reconnecting",
        }
    }
}

/// Identifies one user publish through its whole life (queued, sent, acked, failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PublishId(pub u64);

/// A message received from the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub topic: String,
    #[serde(with = "byte_buf")]
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
    pub dup: bool,
    /// MQTT 5 properties, if it had any (boxed: most messages have none).
    pub properties: Option<Box<PublishProperties>>,
}

/// Outcome of a user publish (`publish-result`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PublishOutcome {
    /// QoS 0 handed to the link.
    Sent,
    /// QoS 1 PUBACK or QoS 2 PUBCOMP received.
    Acked,
    /// Offline: kept in the outbox, goes out on reconnect.
    Queued,
    /// Not delivered and never will be (expired, outbox full, disconnected…); `Display` gives
    /// the sentence for the UI.
    Failed(PublishFailure),
}

/// What the UI state learns from the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// `connection-status` changed.
    State(ConnectionState),
    /// MQTT 5: what the accepting CONNACK said about the broker (sent just before
    /// `Connected`).
    Capabilities(Box<BrokerCapabilities>),
    /// CONNACK accepted.
    Connected { session_present: bool },
    /// The connection ended (or an attempt failed); human-readable via `Display`.
    ConnectionLost(DisconnectReason),
    /// Next attempt scheduled after `delay_ms`.
    ReconnectScheduled { attempt: u32, delay_ms: Millis },
    /// A filter was asked for (also on automatic resubscribe).
    SubscribeRequested { filter: String, qos: QoS },
    /// SUBACK granted the filter at `qos`.
    Subscribed { filter: String, qos: QoS },
    /// SUBACK refused the filter (0x80); it is not retried.
    SubscribeFailed { filter: String, reason: String },
    /// UNSUBACK received (or the filter dropped locally while offline).
    Unsubscribed { filter: String },
    /// MQTT 5: UNSUBACK refused it (0x80 and up); the broker may still deliver on it.
    UnsubscribeFailed { filter: String, reason: String },
    /// An application message; QoS 2 ones exactly once.
    Message(Message),
    /// Progress of a user publish.
    Publish {
        id: PublishId,
        outcome: PublishOutcome,
    },
}
