//! The MQTT client session (3.1.1 or 5): every protocol decision, no I/O.
//!
//! One `Session` lives as long as the page (or its worker). It owns what must survive a
//! reconnect (wanted subscriptions, the outbox, unfinished QoS 1/2 exchanges, packet ids,
//! the backoff, UNSUBSCRIBEs owed to a persistent session). Everything that belongs to one
//! link lives in the [`Link`] state itself (the framer, SUBSCRIBE/UNSUBSCRIBE requests
//! awaiting their ack, the keepalive state), so it is dropped with that state; the packet ids
//! those requests hold go back to the pool in [`Session::end_link`]. See the module docs of
//! [`super`] for the polling order, the link contract and the behaviour choices.
//!
//! Split by concern: this file holds the commands, the inputs and the link lifecycle;
//! `subscriptions.rs`, `publish.rs` and `timers.rs` hold the rest.

mod publish;
mod subscriptions;
mod timers;

use std::collections::VecDeque;

use super::backoff::Backoff;
use super::framing::Framer;
use super::inflight::Inflight;
use super::packet::{encode_ack, encode_connect, encode_disconnect, AckKind, ConnAck, Incoming};
use super::pkid::PacketIds;
use super::properties::{BrokerCapabilities, ProtocolVersion};
use super::topic::validate_topic;
use super::{
    CommandError, ConnectField, ConnectOptions, ConnectRefused, ConnectionState, DisconnectReason,
    EncodeError, Event, Millis, ProtocolError, PublishFailure, PublishId, PublishOutcome,
    ServerDisconnect, SessionConfig, Transmit, TransportError,
};
use publish::Queued;
use subscriptions::{PendingUnsub, Wanted};
use timers::PendingPing;

/// A huge frame is fed to the framer in pieces this big, so an oversized packet is refused
/// from its header without copying the rest of the frame.
const FEED_CHUNK: usize = 64 * 1024;

/// Longest string field MQTT can encode.
const MAX_FIELD: usize = 65_535;

/// The current link to the broker, with the data that lives exactly as long as it.
#[derive(Debug)]
enum Link {
    /// No link: not started, user-disconnected, or waiting for the reconnect deadline.
    Idle,
    /// `Transmit::Open` emitted; waiting for `handle_open` (bounded by the CONNACK timeout).
    Opening {
        since: Millis,
    },
    /// CONNECT sent at `opened_at`; only CONNACK may come.
    AwaitingConnack {
        opened_at: Millis,
        framer: Framer,
    },
    Connected(Conn),
}

impl Link {
    /// The framer of an open link (`None`: no link is open, ignore its bytes).
    fn framer(&mut self) -> Option<&mut Framer> {
        match self {
            Link::AwaitingConnack { framer, .. } | Link::Connected(Conn { framer, .. }) => {
                Some(framer)
            }
            Link::Idle | Link::Opening { .. } => None,
        }
    }

    fn is_open(&self) -> bool {
        matches!(self, Link::AwaitingConnack { .. } | Link::Connected(_))
    }
}

/// A connection whose CONNACK accepted us.
#[derive(Debug)]
struct Conn {
    framer: Framer,
    /// When CONNACK arrived (for the backoff reset).
    since: Millis,
    /// When we last sent a packet (keepalive counts from here).
    last_sent: Millis,
    /// A PINGREQ waiting for any sign of life.
    ping: Option<PendingPing>,
    /// SUBSCRIBEs awaiting SUBACK (packet id, filter), in send order.
    sub_requests: Vec<(u16, String)>,
    /// UNSUBSCRIBEs awaiting UNSUBACK, in send order.
    unsub_requests: Vec<(u16, PendingUnsub)>,
    /// The first QoS 1/2 PUBLISH sent since the broker last sent anything: if the broker then
    /// closes the link, this is the publish it most likely refused.
    unanswered_publish: Option<u16>,
    /// MQTT 5: what the CONNACK allowed (3.1.1: the defaults, i.e. no limits).
    caps: Box<BrokerCapabilities>,
    /// Topic aliases the broker set towards us on this link: alias `n` at `n - 1` (at most
    /// the maximum we announced).
    aliases_in: Vec<Option<String>>,
    /// Topic aliases we set towards the broker on this link, in order: alias `n` names
    /// `aliases_out[n - 1]`. Vectors, not hash maps: the broker's side is bounded by what we
    /// announce, ours by what a user publishes, and a hash map's code weighs in the download.
    aliases_out: Vec<String>,
}

/// A publish after which the broker closed the link this many times in a row, with nothing
/// answered between, is reported failed rather than sent forever (some brokers drop the
/// connection for a topic they refuse, e.g. `$SYS/…`, instead of acking it).
pub(super) const MAX_CLOSES_RIGHT_AFTER_PUBLISH: u8 = 3;

/// Who closes the socket when a link is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    /// We end it: emit `Transmit::Close`.
    Send,
    /// The transport reported it closed: nothing to send.
    AlreadyClosed,
}

/// The link ended while a step was under way (it could not encode a packet, or the broker
/// broke the protocol): stop that step, the loss is already reported.
#[derive(Debug)]
pub(super) struct LinkEnded;

pub struct Session {
    config: SessionConfig,
    options: Option<ConnectOptions>,
    /// `connect` was called and `disconnect` was not: keep (re)connecting.
    running: bool,
    state: ConnectionState,
    link: Link,
    reconnect_at: Option<Millis>,
    backoff: Backoff,
    pkids: PacketIds,
    wanted: Vec<Wanted>,
    /// UNSUBSCRIBEs to send when connected (and packet ids are free), in order.
    unsubs_to_send: VecDeque<PendingUnsub>,
    inflight: Inflight,
    /// Set by `broker_moved`: the next CONNACK comes from a broker that never saw our
    /// in-flight publishes.
    fresh_broker: bool,
    outbox: VecDeque<Queued>,
    /// A CONNACK accepted us since the last user `connect`: an MQTT 5 reconnect then resumes
    /// the session (clean start off) if it outlives the link.
    connected_since_connect: bool,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

fn refusal(code: u8) -> ConnectRefused {
    match code {
        1 => ConnectRefused::UnacceptableProtocolVersion,
        2 => ConnectRefused::IdentifierRejected,
        3 => ConnectRefused::ServerUnavailable,
        4 => ConnectRefused::BadUserNameOrPassword,
        5 => ConnectRefused::NotAuthorized,
        other => ConnectRefused::Other(other),
    }
}

fn validate_connect_options(options: &ConnectOptions) -> Result<(), CommandError> {
    if options.client_id.is_empty() && !options.clean_session {
        return Err(CommandError::EmptyClientIdNeedsCleanSession);
    }
    let fields = [
        (ConnectField::ClientId, Some(options.client_id.len())),
        (
            ConnectField::UserName,
            options.username.as_ref().map(String::len),
        ),
        (
            ConnectField::Password,
            options.password.as_ref().map(String::len),
        ),
        (
            ConnectField::WillPayload,
            options.last_will.as_ref().map(|w| w.payload.len()),
        ),
    ];
    for (field, len) in fields {
        if let Some(len) = len.filter(|&len| len > MAX_FIELD) {
            return Err(CommandError::FieldTooLong { field, len });
        }
    }
    if let Some(will) = &options.last_will {
        validate_topic(&will.topic).map_err(CommandError::InvalidTopic)?;
    }
    Ok(())
}

impl Session {
    pub fn new(config: SessionConfig) -> Session {
        Session {
            backoff: Backoff::new(config.backoff_base_ms, config.backoff_cap_ms, config.seed),
            config,
            options: None,
            running: false,
            state: ConnectionState::Disconnected,
            link: Link::Idle,
            reconnect_at: None,
            pkids: PacketIds::new(),
            wanted: Vec::new(),
            unsubs_to_send: VecDeque::new(),
            inflight: Inflight::default(),
            fresh_broker: false,
            outbox: VecDeque::new(),
            connected_since_connect: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// How long later publishes may wait in the outbox while offline (entries already queued
    /// keep their expiry).
    pub fn set_outbox_expiry(&mut self, ms: Millis) {
        self.config.outbox_expiry_ms = ms;
    }

    /// Current connection state (as last reported by `Event::State`).
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// Start connecting with these options (replacing any earlier ones). Emits `Transmit::Open`.
    /// Reconnects by itself until `disconnect`.
    pub fn connect(&mut self, options: ConnectOptions, now: Millis) -> Result<(), CommandError> {
        validate_connect_options(&options)?;
        self.expire_outbox(now);
        // Restart: end the old link gracefully (decisions use the old options).
        self.drop_link(now);
        if self
            .options
            .as_ref()
            .is_some_and(|old| old.client_id != options.client_id)
        {
            self.leave_session();
        }
        self.options = Some(options);
        // A user connect (maybe another client id) asks for every filter again, whatever the
        // broker's session holds; retained messages then repopulate the view.
        self.resubscribe_all();
        self.running = true;
        self.connected_since_connect = false;
        self.reconnect_at = None;
        self.backoff.reset();
        self.set_state(ConnectionState::Connecting);
        self.open(now);
        Ok(())
    }

    /// Send DISCONNECT (if connected), close the link and stop reconnecting.
    pub fn disconnect(&mut self, now: Millis) {
        if !self.running {
            return;
        }
        self.drop_link(now);
        self.running = false;
        self.reconnect_at = None;
        self.backoff.reset();
        self.events
            .push_back(Event::ConnectionLost(DisconnectReason::User));
        self.set_state(ConnectionState::Disconnected);
        for q in std::mem::take(&mut self.outbox) {
            self.publish_failed(q.id, PublishFailure::DisconnectedBeforeSent);
        }
        if self.clean_session() {
            for o in self.inflight.drain_outgoing() {
                self.pkids.release(o.pkid);
                self.publish_failed(o.id, PublishFailure::DisconnectedUnacknowledged);
            }
        }
    }

    /// The link asked for by `Transmit::Open` is open: send CONNECT.
    pub fn handle_open(&mut self, now: Millis) {
        self.expire_outbox(now);
        if !matches!(self.link, Link::Opening { .. }) {
            return; // stale: a link we already gave up on
        }
        let Some(options) = &self.options else {
            return;
        };
        let version = options.protocol;
        let mut clean_start = options.clean_session;
        let connect = if version == ProtocolVersion::V5 {
            // A reconnect resumes a session that outlives the link; the user's connect
            // starts as the clean-start box says.
            if self.connected_since_connect && !self.clean_session() {
                clean_start = false;
            }
            // Tell the broker our own packet limit, so it does not send what we must refuse.
            let mut options = options.clone();
            let ours = u32::try_from(self.config.max_incoming_packet).unwrap_or(u32::MAX);
            let limit = options
                .properties
                .maximum_packet_size
                .map_or(ours, |m| m.min(ours));
            options.properties.maximum_packet_size = Some(limit);
            encode_connect(&options, clean_start)
        } else {
            encode_connect(options, clean_start)
        };
        self.link = Link::AwaitingConnack {
            opened_at: now,
            framer: Framer::new(self.incoming_limit(), version),
        };
        match connect {
            Ok(bytes) => self.send_bytes(bytes, now),
            Err(e) => self.lose(DisconnectReason::LocalEncode(e), now, Close::Send),
        }
    }

    /// Bytes of one binary frame from the broker (any split, any number of packets).
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Millis) {
        self.expire_outbox(now);
        for chunk in bytes.chunks(FEED_CHUNK) {
            let Some(framer) = self.link.framer() else {
                return; // no link open (any more): ignore the rest
            };
            framer.push(chunk);
            loop {
                let Some(framer) = self.link.framer() else {
                    return;
                };
                match framer.next_frame() {
                    Ok(Some(frame)) => {
                        if self.on_frame(frame, now).is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        self.lose(DisconnectReason::Protocol(e), now, Close::Send);
                        return;
                    }
                }
            }
        }
    }

    /// The broker sent a text frame: a protocol error.
    pub fn handle_text_frame(&mut self, now: Millis) {
        self.expire_outbox(now);
        if self.link.is_open() {
            let reason = DisconnectReason::Protocol(ProtocolError::TextFrame);
            self.lose(reason, now, Close::Send);
        }
    }

    /// The link failed to open or closed.
    pub fn handle_closed(&mut self, error: TransportError, now: Millis) {
        self.expire_outbox(now);
        if !self.running || matches!(self.link, Link::Idle) {
            return; // user-disconnected, or a link we already closed ourselves
        }
        self.lose(
            DisconnectReason::Transport(error),
            now,
            Close::AlreadyClosed,
        );
    }

    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Publishes waiting in the outbox (offline, not yet sent).
    pub fn queued_publishes(&self) -> usize {
        self.outbox.len()
    }

    /// QoS 1/2 publishes sent and not yet acknowledged.
    pub fn unacked_publishes(&self) -> usize {
        self.inflight.outgoing_len()
    }

    // ----- internals -----

    /// The broker forgets the session when the link ends: 3.1.1 clean session, or an
    /// MQTT 5 session expiry of 0.
    fn clean_session(&self) -> bool {
        self.options.as_ref().is_none_or(|o| match o.protocol {
            ProtocolVersion::V311 => o.clean_session,
            ProtocolVersion::V5 => o.properties.session_expiry_secs.unwrap_or(0) == 0,
        })
    }

    pub(super) fn version(&self) -> ProtocolVersion {
        self.options
            .as_ref()
            .map_or(ProtocolVersion::V311, |o| o.protocol)
    }

    /// Largest packet we accept: the configured limit, or the smaller one the user asked the
    /// broker to respect.
    fn incoming_limit(&self) -> usize {
        let asked = self
            .options
            .as_ref()
            .filter(|o| o.protocol == ProtocolVersion::V5)
            .and_then(|o| o.properties.maximum_packet_size);
        match asked {
            Some(m) => self.config.max_incoming_packet.min(m as usize),
            None => self.config.max_incoming_packet,
        }
    }

    fn set_state(&mut self, state: ConnectionState) {
        if self.state != state {
            self.state = state;
            self.events.push_back(Event::State(state));
        }
    }

    fn publish_event(&mut self, id: PublishId, outcome: PublishOutcome) {
        self.events.push_back(Event::Publish { id, outcome });
    }

    fn publish_failed(&mut self, id: PublishId, failure: PublishFailure) {
        self.publish_event(id, PublishOutcome::Failed(failure));
    }

    /// Hand one encoded packet to the link.
    fn send_bytes(&mut self, bytes: Vec<u8>, now: Millis) {
        self.transmits.push_back(Transmit::Bytes(bytes));
        if let Link::Connected(conn) = &mut self.link {
            conn.last_sent = now;
        }
    }

    /// Send an encoded packet of the protocol's own (SUBSCRIBE, UNSUBSCRIBE…). One that
    /// could not be encoded ends the connection (`DisconnectReason::LocalEncode`): skipping
    /// it would leave the broker and us disagreeing about the session.
    pub(super) fn send_encoded(
        &mut self,
        packet: Result<Vec<u8>, EncodeError>,
        now: Millis,
    ) -> Result<(), LinkEnded> {
        match packet {
            Ok(bytes) => {
                self.send_bytes(bytes, now);
                Ok(())
            }
            Err(e) => self.fail(DisconnectReason::LocalEncode(e), now),
        }
    }

    /// A publish ack (success with 3.1.1).
    pub(super) fn send_ack(&mut self, kind: AckKind, pkid: u16, now: Millis) {
        let bytes = encode_ack(self.version(), kind, pkid, 0);
        self.send_bytes(bytes, now);
    }

    /// End the link on our side for `reason` (see [`Session::lose`]).
    fn fail(&mut self, reason: DisconnectReason, now: Millis) -> Result<(), LinkEnded> {
        self.lose(reason, now, Close::Send);
        Err(LinkEnded)
    }

    // ----- link lifecycle -----

    fn open(&mut self, now: Millis) {
        self.link = Link::Opening { since: now };
        self.transmits.push_back(Transmit::Open);
    }

    /// End the current link on our initiative: DISCONNECT if connected, then Close.
    fn drop_link(&mut self, now: Millis) {
        match self.link {
            Link::Idle => return,
            Link::Connected(_) => self.send_bytes(encode_disconnect(self.version(), 0), now),
            Link::Opening { .. } | Link::AwaitingConnack { .. } => {}
        }
        self.transmits.push_back(Transmit::Close);
        self.end_link();
    }

    /// The one place a link ends: its state is taken by value (dropping its framer, ping
    /// and request maps) and the packet ids its requests held go back to the pool. Returns
    /// since when it was connected, if it was.
    fn end_link(&mut self) -> Option<Millis> {
        let Link::Connected(conn) = std::mem::replace(&mut self.link, Link::Idle) else {
            self.link_requests_ended(Vec::new());
            return None;
        };
        for (pkid, _) in conn.sub_requests {
            self.pkids.release(pkid);
        }
        let unsubs = conn
            .unsub_requests
            .into_iter()
            .map(|(pkid, unsub)| {
                self.pkids.release(pkid);
                unsub
            })
            .collect();
        self.link_requests_ended(unsubs);
        Some(conn.since)
    }

    /// The link is over: close it if `close` says so, say why, schedule the next attempt.
    fn lose(&mut self, reason: DisconnectReason, now: Millis, close: Close) {
        if close == Close::Send {
            // MQTT 5: tell the broker which rule it broke before closing (§4.13).
            if let (DisconnectReason::Protocol(e), true, ProtocolVersion::V5) =
                (&reason, self.link.is_open(), self.version())
            {
                self.transmits.push_back(Transmit::Bytes(encode_disconnect(
                    ProtocolVersion::V5,
                    e.reason_code(),
                )));
            }
            self.transmits.push_back(Transmit::Close);
        }
        let suspect = match (&self.link, &reason) {
            (Link::Connected(conn), DisconnectReason::Transport(TransportError::Closed { .. })) => {
                conn.unanswered_publish
            }
            _ => None,
        };
        let up_since = self.end_link();
        self.events.push_back(Event::ConnectionLost(reason));
        if let Some(pkid) = suspect {
            self.broker_closed_right_after(pkid);
        }
        if up_since
            .is_some_and(|since| now.saturating_sub(since) >= self.config.backoff_reset_after_ms)
        {
            self.backoff.reset();
        }
        let (attempt, delay_ms) = self.backoff.next_delay();
        self.reconnect_at = Some(now.saturating_add(delay_ms));
        self.set_state(ConnectionState::Reconnecting);
        self.events
            .push_back(Event::ReconnectScheduled { attempt, delay_ms });
    }

    // ----- incoming packets -----

    fn on_frame(&mut self, frame: Incoming, now: Millis) -> Result<(), LinkEnded> {
        match (&self.link, frame) {
            (Link::AwaitingConnack { .. }, Incoming::ConnAck(connack)) => {
                self.on_connack(connack, now)
            }
            (Link::AwaitingConnack { .. }, other) => {
                let what = format!("{} before CONNACK", other.name());
                self.fail(
                    DisconnectReason::Protocol(ProtocolError::Unexpected(what)),
                    now,
                )
            }
            (Link::Connected(_), Incoming::ConnAck(_)) => self.fail(
                DisconnectReason::Protocol(ProtocolError::Unexpected("a second CONNACK".into())),
                now,
            ),
            (Link::Connected(_), packet) => {
                if let Link::Connected(conn) = &mut self.link {
                    conn.ping = None; // any packet is a sign of life
                    conn.unanswered_publish = None;
                }
                self.on_packet(packet, now)
            }
            _ => Ok(()),
        }
    }

    fn on_connack(&mut self, connack: ConnAck, now: Millis) -> Result<(), LinkEnded> {
        let v5 = self.version() == ProtocolVersion::V5;
        if connack.code != 0 {
            let reason = if v5 {
                DisconnectReason::RefusedV5(ServerDisconnect {
                    code: connack.code,
                    reason_string: connack
                        .capabilities
                        .as_ref()
                        .and_then(|c| c.reason_string.clone()),
                    server_reference: connack.server_reference,
                })
            } else {
                DisconnectReason::Refused(refusal(connack.code))
            };
            return self.fail(reason, now);
        }
        let session_present = connack.session_present;
        let Link::AwaitingConnack { opened_at, framer } =
            std::mem::replace(&mut self.link, Link::Idle)
        else {
            unreachable!("on_connack is only called while awaiting CONNACK")
        };
        let caps = connack.capabilities.unwrap_or_default();
        if v5 {
            self.events.push_back(Event::Capabilities(caps.clone()));
        }
        self.link = Link::Connected(Conn {
            framer,
            since: now,
            last_sent: opened_at,
            ping: None,
            sub_requests: Vec::new(),
            unsub_requests: Vec::new(),
            unanswered_publish: None,
            caps,
            aliases_in: Vec::new(),
            aliases_out: Vec::new(),
        });
        self.connected_since_connect = true;
        self.set_state(ConnectionState::Connected);
        self.events.push_back(Event::Connected { session_present });
        if !session_present {
            // The broker has nothing: no PUBREL will come for old ids, no subscription is
            // left to remove, and every wanted filter must be asked for again.
            self.inflight.forget_incoming();
            self.unsubs_to_send.clear();
            self.resubscribe_all();
        }
        // An MQTT 5 broker that kept nothing never saw our in-flight publishes.
        self.retransmit(v5 && !session_present, now)?;
        self.flush(now)
    }

    fn on_packet(&mut self, packet: Incoming, now: Millis) -> Result<(), LinkEnded> {
        match packet {
            Incoming::Publish(publish) => self.on_publish(publish, now),
            Incoming::PubAck(ack) => self.on_puback(ack, now),
            Incoming::PubRec(ack) => self.on_pubrec(ack, now),
            Incoming::PubRel(ack) => {
                // Answered even for an unknown id (MQTT-4.3.3-11 asks for a PUBCOMP).
                self.inflight.release_qos2(ack.pkid);
                self.send_ack(AckKind::PubComp, ack.pkid, now);
                Ok(())
            }
            Incoming::PubComp(ack) => self.on_pubcomp(ack.pkid, now),
            Incoming::SubAck(suback) => self.on_suback(suback, now),
            Incoming::UnsubAck(unsuback) => self.on_unsuback(unsuback, now),
            Incoming::PingResp => Ok(()),
            Incoming::Disconnect(d) => {
                // The broker closes the socket after it; we close our side at once.
                self.lose(DisconnectReason::ByServer(d), now, Close::Send);
                Err(LinkEnded)
            }
            other => {
                let what = match other {
                    Incoming::Auth { .. } => "AUTH (we did not ask for enhanced authentication)",
                    _ => other.name(),
                };
                self.fail(
                    DisconnectReason::Protocol(ProtocolError::Unexpected(what.to_owned())),
                    now,
                )
            }
        }
    }

    /// Send whatever waits for a connection, in order: UNSUBSCRIBEs, SUBSCRIBEs, the outbox.
    /// Stops (to resume on the next ack) if all packet ids are in flight.
    fn flush(&mut self, now: Millis) -> Result<(), LinkEnded> {
        if !matches!(self.link, Link::Connected(_)) {
            return Ok(());
        }
        let result = (|| {
            self.flush_unsubscribes(now)?;
            self.flush_subscribes(now)?;
            self.flush_outbox(now)
        })();
        match result {
            Ok(()) | Err(Stop::NoIds) => Ok(()),
            Err(Stop::LinkEnded) => Err(LinkEnded),
        }
    }
}

/// Why a flush stopped early.
#[derive(Debug)]
enum Stop {
    /// All packet ids are in flight: resume on the next ack.
    NoIds,
    /// The link ended.
    LinkEnded,
}

impl From<LinkEnded> for Stop {
    fn from(_: LinkEnded) -> Stop {
        Stop::LinkEnded
    }
}
