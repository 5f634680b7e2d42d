//! The MQTT 3.1.1 client session: every protocol decision, no I/O.
//!
//! One `Session` lives as long as the page. It owns what must survive a reconnect (wanted
//! subscriptions, the outbox, unfinished QoS 1/2 exchanges, packet ids, the backoff) and
//! the state of the current link (`Link`). See the module docs of [`super`] for the polling
//! order, the link contract and the behaviour choices.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use mqttbytes::v4::{
    Packet, PubAck, PubComp, PubRec, PubRel, Publish, SubAck, Subscribe, SubscribeReasonCode,
    Unsubscribe,
};

use super::backoff::Backoff;
use super::framing::{
    encode, encode_connect, from_mqttbytes_qos, packet_name, publish_len, to_mqttbytes_qos, Frame,
    Framer,
};
use super::inflight::{Awaiting, Inflight, Outgoing};
use super::pkid::PacketIds;
use super::topic::{validate_filter, validate_topic};
use super::varint;
use super::{
    CommandError, ConnectOptions, ConnectRefused, ConnectionState, DisconnectReason, Event,
    Message, Millis, ProtocolError, PublishId, PublishOutcome, QoS, SessionConfig, Transmit,
    TransportError,
};

/// A huge frame is fed to the framer in pieces this big, so an oversized packet is refused
/// from its header without copying the rest of the frame.
const FEED_CHUNK: usize = 64 * 1024;

/// Longest string field MQTT can encode.
const MAX_FIELD: usize = 65_535;

/// The current link to the broker.
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
    },
    Connected(Conn),
}

#[derive(Debug)]
struct Conn {
    /// When CONNACK arrived (for the backoff reset).
    since: Millis,
    /// When we last sent a packet (keepalive counts from here).
    last_sent: Millis,
    /// A PINGREQ waiting for any sign of life.
    ping: Option<PendingPing>,
}

#[derive(Debug, Clone, Copy)]
struct PendingPing {
    deadline: Millis,
    /// The one extra PINGREQ for a timer that fired very late was already spent.
    grace_used: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubStatus {
    /// To be sent on the next (or current) connection.
    Unsent,
    /// SUBSCRIBE sent with this packet id, SUBACK pending.
    Requested(u16),
    /// SUBACK granted this QoS.
    Granted(QoS),
}

#[derive(Debug)]
struct Wanted {
    filter: String,
    qos: QoS,
    status: SubStatus,
}

#[derive(Debug)]
struct PendingUnsub {
    filter: String,
    /// Emit `Unsubscribed` on UNSUBACK (false when it was already reported offline).
    report: bool,
}

#[derive(Debug)]
struct Queued {
    id: PublishId,
    topic: String,
    payload: Bytes,
    qos: QoS,
    retain: bool,
    expires_at: Millis,
}

/// What a timer check decided (computed first, acted on after the borrow ends).
enum TimerAction {
    None,
    OpenTimedOut,
    ConnackTimedOut,
    SendPing { grace_used: bool },
    KeepaliveTimedOut,
    Reconnect,
}

pub struct Session {
    config: SessionConfig,
    options: Option<ConnectOptions>,
    /// `connect` was called and `disconnect` was not: keep (re)connecting.
    running: bool,
    state: ConnectionState,
    link: Link,
    reconnect_at: Option<Millis>,
    backoff: Backoff,
    framer: Framer,
    pkids: PacketIds,
    wanted: Vec<Wanted>,
    /// SUBSCRIBE packet id → filter, for every SUBSCRIBE awaiting its SUBACK on this link.
    sub_requests: BTreeMap<u16, String>,
    /// UNSUBSCRIBEs to send when connected (and packet ids are free), in order.
    unsubs_to_send: VecDeque<PendingUnsub>,
    /// UNSUBSCRIBEs awaiting UNSUBACK on this link, in send order.
    unsub_requests: Vec<(u16, PendingUnsub)>,
    inflight: Inflight,
    outbox: VecDeque<Queued>,
    next_publish_id: u64,
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

/// "10 s", "5 min", "250 ms".
fn human_duration(ms: Millis) -> String {
    if ms >= 60_000 && ms.is_multiple_of(60_000) {
        format!("{} min", ms / 60_000)
    } else if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

fn validate_connect_options(options: &ConnectOptions) -> Result<(), CommandError> {
    if options.client_id.is_empty() && !options.clean_session {
        return Err(CommandError::EmptyClientIdNeedsCleanSession);
    }
    let fields = [
        ("client id", Some(options.client_id.len())),
        ("user name", options.username.as_ref().map(String::len)),
        ("password", options.password.as_ref().map(String::len)),
        (
            "will payload",
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

fn publish_packet(
    topic: &str,
    payload: &Bytes,
    qos: QoS,
    retain: bool,
    pkid: u16,
    dup: bool,
) -> Vec<u8> {
    let mut p = Publish::from_bytes(topic, to_mqttbytes_qos(qos), payload.clone());
    p.retain = retain;
    p.dup = dup;
    p.pkid = if qos == QoS::AtMostOnce { 0 } else { pkid };
    encode(&Packet::Publish(p))
}

impl Session {
    pub fn new(config: SessionConfig) -> Session {
        Session {
            backoff: Backoff::new(config.backoff_base_ms, config.backoff_cap_ms, config.seed),
            framer: Framer::new(config.max_incoming_packet),
            config,
            options: None,
            running: false,
            state: ConnectionState::Disconnected,
            link: Link::Idle,
            reconnect_at: None,
            pkids: PacketIds::new(),
            wanted: Vec::new(),
            sub_requests: BTreeMap::new(),
            unsubs_to_send: VecDeque::new(),
            unsub_requests: Vec::new(),
            inflight: Inflight::default(),
            outbox: VecDeque::new(),
            next_publish_id: 1,
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
        self.options = Some(options);
        // A user connect (maybe another client id) asks for every filter again, whatever the
        // broker's session holds; retained messages then repopulate the view.
        for w in &mut self.wanted {
            w.status = SubStatus::Unsent;
        }
        self.running = true;
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
            self.publish_event(
                q.id,
                PublishOutcome::Failed("disconnected before it was sent".into()),
            );
        }
        if self.clean_session() {
            for o in self.inflight.drain_outgoing() {
                self.pkids.release(o.pkid);
                self.publish_event(
                    o.id,
                    PublishOutcome::Failed(
                        "disconnected before the broker acknowledged it (it may or may not have arrived)"
                            .into(),
                    ),
                );
            }
        }
    }

    /// Ask for a filter. Validated first; remembered and (re)sent whenever connected.
    pub fn subscribe(&mut self, filter: &str, qos: QoS, now: Millis) -> Result<(), CommandError> {
        validate_filter(filter).map_err(CommandError::InvalidFilter)?;
        if !self.running {
            return Err(CommandError::NotStarted);
        }
        self.expire_outbox(now);
        match self.wanted.iter_mut().find(|w| w.filter == filter) {
            Some(w) if w.qos == qos => return Ok(()),
            Some(w) => {
                w.qos = qos;
                w.status = SubStatus::Unsent;
            }
            None => self.wanted.push(Wanted {
                filter: filter.to_owned(),
                qos,
                status: SubStatus::Unsent,
            }),
        }
        self.flush(now);
        Ok(())
    }

    /// Drop a filter (UNSUBSCRIBE when connected).
    pub fn unsubscribe(&mut self, filter: &str, now: Millis) -> Result<(), CommandError> {
        validate_filter(filter).map_err(CommandError::InvalidFilter)?;
        self.expire_outbox(now);
        self.wanted.retain(|w| w.filter != filter);
        let filter = filter.to_owned();
        if matches!(self.link, Link::Connected(_)) {
            self.unsubs_to_send.push_back(PendingUnsub {
                filter,
                report: true,
            });
            self.flush(now);
        } else {
            self.events.push_back(Event::Unsubscribed {
                filter: filter.clone(),
            });
            let pending = self.unsubs_to_send.iter().any(|u| u.filter == filter);
            if self.options.is_some() && !self.clean_session() && !pending {
                // The broker keeps this subscription in its session: remove it there too.
                self.unsubs_to_send.push_back(PendingUnsub {
                    filter,
                    report: false,
                });
            }
        }
        Ok(())
    }

    /// Publish; validated first. Offline it goes to the outbox (`PublishOutcome::Queued`).
    pub fn publish(
        &mut self,
        topic: &str,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
        now: Millis,
    ) -> Result<PublishId, CommandError> {
        validate_topic(topic).map_err(CommandError::InvalidTopic)?;
        let max = self.max_outgoing_packet();
        if publish_len(topic, qos, payload.len()) > max {
            return Err(CommandError::PayloadTooLarge {
                size: payload.len(),
                max,
            });
        }
        if !self.running {
            return Err(CommandError::NotStarted);
        }
        self.expire_outbox(now);
        let id = PublishId(self.next_publish_id);
        self.next_publish_id += 1;
        let payload = Bytes::from(payload);
        if matches!(self.link, Link::Connected(_)) && self.outbox.is_empty() {
            if qos == QoS::AtMostOnce {
                self.send(publish_packet(topic, &payload, qos, retain, 0, false), now);
                self.publish_event(id, PublishOutcome::Sent);
                return Ok(id);
            }
            if let Some(pkid) = self.pkids.allocate() {
                self.send(
                    publish_packet(topic, &payload, qos, retain, pkid, false),
                    now,
                );
                self.inflight
                    .insert(id, pkid, topic.to_owned(), payload, qos, retain);
                return Ok(id);
            }
        }
        if self.outbox.len() >= self.config.outbox_capacity {
            let why = format!(
                "outbox full: {} publishes are already waiting for the connection",
                self.outbox.len()
            );
            self.publish_event(id, PublishOutcome::Failed(why));
            return Ok(id);
        }
        self.outbox.push_back(Queued {
            id,
            topic: topic.to_owned(),
            payload,
            qos,
            retain,
            expires_at: now.saturating_add(self.config.outbox_expiry_ms),
        });
        self.publish_event(id, PublishOutcome::Queued);
        Ok(id)
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
        let connect = encode_connect(options);
        self.link = Link::AwaitingConnack { opened_at: now };
        self.framer.clear();
        self.send(connect, now);
    }

    /// Bytes of one binary frame from the broker (any split, any number of packets).
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Millis) {
        self.expire_outbox(now);
        for chunk in bytes.chunks(FEED_CHUNK) {
            if !self.link_is_open() {
                return;
            }
            self.framer.push(chunk);
            loop {
                match self.framer.next_frame() {
                    Ok(Some(frame)) => {
                        self.on_frame(frame, now);
                        if !self.link_is_open() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        self.lose(DisconnectReason::Protocol(e), now, true);
                        return;
                    }
                }
            }
        }
    }

    /// The broker sent a text frame: a protocol error.
    pub fn handle_text_frame(&mut self, now: Millis) {
        self.expire_outbox(now);
        if self.link_is_open() {
            self.lose(
                DisconnectReason::Protocol(ProtocolError::TextFrame),
                now,
                true,
            );
        }
    }

    /// The link failed to open or closed.
    pub fn handle_closed(&mut self, error: TransportError, now: Millis) {
        self.expire_outbox(now);
        if !self.running || matches!(self.link, Link::Idle) {
            return; // user-disconnected, or a link we already closed ourselves
        }
        self.lose(DisconnectReason::Transport(error), now, false);
    }

    /// The deadline from `poll_timeout` passed (calling early or late is harmless).
    pub fn handle_timeout(&mut self, now: Millis) {
        self.expire_outbox(now);
        let limit = self.config.connack_timeout_ms;
        let keepalive = self.keepalive_ms();
        let ping_timeout = self.ping_timeout_ms();
        let action = match &self.link {
            Link::Opening { since } if now >= since.saturating_add(limit) => {
                TimerAction::OpenTimedOut
            }
            Link::AwaitingConnack { opened_at } if now >= opened_at.saturating_add(limit) => {
                TimerAction::ConnackTimedOut
            }
            Link::Connected(conn) => match (keepalive, conn.ping) {
                (None, _) => TimerAction::None,
                (Some(k), None) if now >= conn.last_sent.saturating_add(k) => {
                    // However late we are, a due ping is sent now and judged from now.
                    TimerAction::SendPing { grace_used: false }
                }
                (Some(_), Some(ping)) if now >= ping.deadline => {
                    let very_late = now - ping.deadline > ping_timeout;
                    if very_late && !ping.grace_used {
                        TimerAction::SendPing { grace_used: true }
                    } else {
                        TimerAction::KeepaliveTimedOut
                    }
                }
                _ => TimerAction::None,
            },
            Link::Idle if self.running && self.reconnect_at.is_some_and(|at| now >= at) => {
                TimerAction::Reconnect
            }
            _ => TimerAction::None,
        };
        match action {
            TimerAction::None => {}
            TimerAction::OpenTimedOut => {
                let why = format!(
                    "the connection to the broker did not open within {}",
                    human_duration(limit)
                );
                self.lose(
                    DisconnectReason::Transport(TransportError::OpenFailed(why)),
                    now,
                    true,
                );
            }
            TimerAction::ConnackTimedOut => self.lose(DisconnectReason::ConnackTimeout, now, true),
            TimerAction::SendPing { grace_used } => {
                self.send(encode(&Packet::PingReq), now);
                if let Link::Connected(conn) = &mut self.link {
                    conn.ping = Some(PendingPing {
                        deadline: now.saturating_add(ping_timeout),
                        grace_used,
                    });
                }
            }
            TimerAction::KeepaliveTimedOut => {
                self.lose(DisconnectReason::KeepaliveTimeout, now, true)
            }
            TimerAction::Reconnect => {
                self.reconnect_at = None;
                self.open(now);
            }
        }
    }

    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Millis> {
        let limit = self.config.connack_timeout_ms;
        let link = match &self.link {
            Link::Idle => self.reconnect_at.filter(|_| self.running),
            Link::Opening { since } => Some(since.saturating_add(limit)),
            Link::AwaitingConnack { opened_at } => Some(opened_at.saturating_add(limit)),
            Link::Connected(conn) => self.keepalive_ms().map(|k| match conn.ping {
                Some(ping) => ping.deadline,
                None => conn.last_sent.saturating_add(k),
            }),
        };
        let outbox = self.outbox.front().map(|q| q.expires_at);
        match (link, outbox) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Wanted subscriptions, in the order they were added.
    pub fn subscriptions(&self) -> Vec<(String, QoS)> {
        self.wanted
            .iter()
            .map(|w| (w.filter.clone(), w.qos))
            .collect()
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

    fn clean_session(&self) -> bool {
        self.options.as_ref().is_none_or(|o| o.clean_session)
    }

    fn keepalive_ms(&self) -> Option<Millis> {
        match &self.options {
            Some(o) if o.keepalive_secs > 0 => Some(o.keepalive_secs as Millis * 1000),
            _ => None,
        }
    }

    /// How long a PINGREQ may go unanswered: the configured bound, but never more than the
    /// keepalive interval itself (a dead link is noticed within two intervals).
    fn ping_timeout_ms(&self) -> Millis {
        let k = self.keepalive_ms().unwrap_or(Millis::MAX);
        self.config.ping_timeout_ms.min(k).max(1)
    }

    fn max_outgoing_packet(&self) -> usize {
        // Header (1 + 4 length bytes) plus the largest remaining length MQTT can express.
        self.config.max_outgoing_packet.min(varint::MAX + 5)
    }

    fn link_is_open(&self) -> bool {
        matches!(self.link, Link::AwaitingConnack { .. } | Link::Connected(_))
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

    fn send(&mut self, bytes: Vec<u8>, now: Millis) {
        if bytes.is_empty() {
            return;
        }
        self.transmits.push_back(Transmit::Bytes(bytes));
        if let Link::Connected(conn) = &mut self.link {
            conn.last_sent = now;
        }
    }

    fn open(&mut self, now: Millis) {
        self.framer.clear();
        self.link = Link::Opening { since: now };
        self.transmits.push_back(Transmit::Open);
    }

    /// End the current link on our initiative: DISCONNECT if connected, then Close.
    fn drop_link(&mut self, now: Millis) {
        match self.link {
            Link::Idle => return,
            Link::Connected(_) => self.send(encode(&Packet::Disconnect), now),
            Link::Opening { .. } | Link::AwaitingConnack { .. } => {}
        }
        self.transmits.push_back(Transmit::Close);
        self.end_link();
    }

    /// Forget everything tied to the link that just ended.
    fn end_link(&mut self) {
        self.link = Link::Idle;
        self.framer.clear();
        for (pkid, _) in std::mem::take(&mut self.sub_requests) {
            self.pkids.release(pkid);
        }
        for w in &mut self.wanted {
            if let SubStatus::Requested(_) = w.status {
                w.status = SubStatus::Unsent;
            }
        }
        // UNSUBSCRIBEs in flight or not yet sent: the user sees them done now; a persistent
        // session gets them (again) on the next connection.
        let persistent = self.options.is_some() && !self.clean_session();
        let in_flight = std::mem::take(&mut self.unsub_requests);
        let waiting = std::mem::take(&mut self.unsubs_to_send);
        let mut later = VecDeque::new();
        for (pkid, unsub) in in_flight {
            self.pkids.release(pkid);
            later.push_back(unsub);
        }
        later.extend(waiting);
        for mut unsub in later {
            if unsub.report {
                self.events.push_back(Event::Unsubscribed {
                    filter: unsub.filter.clone(),
                });
                unsub.report = false;
            }
            if persistent {
                self.unsubs_to_send.push_back(unsub);
            }
        }
    }

    /// The link is over: say why, close it if the transport did not, schedule the next attempt.
    fn lose(&mut self, reason: DisconnectReason, now: Millis, close: bool) {
        let up_since = match &self.link {
            Link::Connected(conn) => Some(conn.since),
            _ => None,
        };
        if close {
            self.transmits.push_back(Transmit::Close);
        }
        self.end_link();
        self.events.push_back(Event::ConnectionLost(reason));
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

    fn expire_outbox(&mut self, now: Millis) {
        if self.outbox.front().is_none_or(|q| q.expires_at > now) {
            return;
        }
        let why = format!(
            "expired: not sent within {}",
            human_duration(self.config.outbox_expiry_ms)
        );
        let (expired, kept): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.outbox)
            .into_iter()
            .partition(|q| q.expires_at <= now);
        self.outbox = kept;
        for q in expired {
            self.publish_event(q.id, PublishOutcome::Failed(why.clone()));
        }
    }

    fn on_frame(&mut self, frame: Frame, now: Millis) {
        match (&mut self.link, frame) {
            (
                Link::AwaitingConnack { opened_at },
                Frame::ConnAck {
                    session_present,
                    code,
                },
            ) => {
                let opened_at = *opened_at;
                if code == 0 {
                    self.on_connack(session_present, opened_at, now);
                } else {
                    self.lose(DisconnectReason::Refused(refusal(code)), now, true);
                }
            }
            (Link::AwaitingConnack { .. }, Frame::Packet(packet)) => {
                let what = format!("{} before CONNACK", name_of(&packet));
                self.lose(
                    DisconnectReason::Protocol(ProtocolError::Unexpected(what)),
                    now,
                    true,
                );
            }
            (Link::Connected(conn), frame) => {
                conn.ping = None; // any packet is a sign of life
                match frame {
                    Frame::ConnAck { .. } => self.lose(
                        DisconnectReason::Protocol(ProtocolError::Unexpected(
                            "a second CONNACK".into(),
                        )),
                        now,
                        true,
                    ),
                    Frame::Packet(packet) => self.on_packet(packet, now),
                }
            }
            _ => {}
        }
    }

    fn on_connack(&mut self, session_present: bool, opened_at: Millis, now: Millis) {
        self.link = Link::Connected(Conn {
            since: now,
            last_sent: opened_at,
            ping: None,
        });
        self.set_state(ConnectionState::Connected);
        self.events.push_back(Event::Connected { session_present });
        if !session_present {
            // The broker has nothing: no PUBREL will come for old ids, no subscription is
            // left to remove, and every wanted filter must be asked for again.
            self.inflight.forget_incoming();
            self.unsubs_to_send.clear();
            for w in &mut self.wanted {
                w.status = SubStatus::Unsent;
            }
        }
        self.retransmit(now);
        self.flush(now);
    }

    /// Unfinished QoS 1/2 publishes after a reconnect, in their original order.
    fn retransmit(&mut self, now: Millis) {
        let clean = self.clean_session();
        for pkid in self.inflight.send_order() {
            let Some(o) = self.inflight.get_mut(pkid) else {
                continue;
            };
            let bytes = if clean {
                // A new session knows nothing of it: send it again as a new publish.
                o.awaiting = Outgoing::first_ack(o.qos);
                publish_packet(&o.topic, &o.payload, o.qos, o.retain, pkid, false)
            } else {
                match o.awaiting {
                    Awaiting::PubAck | Awaiting::PubRec => {
                        publish_packet(&o.topic, &o.payload, o.qos, o.retain, pkid, true)
                    }
                    Awaiting::PubComp => encode(&Packet::PubRel(PubRel::new(pkid))),
                }
            };
            self.send(bytes, now);
        }
    }

    /// Send whatever waits for a connection, in order: UNSUBSCRIBEs, SUBSCRIBEs, the outbox.
    /// Stops (to resume on the next ack) if all packet ids are in flight.
    fn flush(&mut self, now: Millis) {
        if !matches!(self.link, Link::Connected(_)) {
            return;
        }
        while !self.unsubs_to_send.is_empty() {
            let Some(pkid) = self.pkids.allocate() else {
                return;
            };
            let Some(unsub) = self.unsubs_to_send.pop_front() else {
                break;
            };
            let mut packet = Unsubscribe::new(unsub.filter.clone());
            packet.pkid = pkid;
            self.send(encode(&Packet::Unsubscribe(packet)), now);
            self.unsub_requests.push((pkid, unsub));
        }
        for i in 0..self.wanted.len() {
            if self.wanted[i].status != SubStatus::Unsent {
                continue;
            }
            let Some(pkid) = self.pkids.allocate() else {
                return;
            };
            let (filter, qos) = (self.wanted[i].filter.clone(), self.wanted[i].qos);
            self.wanted[i].status = SubStatus::Requested(pkid);
            self.sub_requests.insert(pkid, filter.clone());
            let mut packet = Subscribe::new(filter.clone(), to_mqttbytes_qos(qos));
            packet.pkid = pkid;
            self.send(encode(&Packet::Subscribe(packet)), now);
            self.events
                .push_back(Event::SubscribeRequested { filter, qos });
        }
        while let Some(front) = self.outbox.front() {
            let pkid = if front.qos == QoS::AtMostOnce {
                0
            } else {
                match self.pkids.allocate() {
                    Some(pkid) => pkid,
                    None => return,
                }
            };
            let Some(q) = self.outbox.pop_front() else {
                break;
            };
            self.send(
                publish_packet(&q.topic, &q.payload, q.qos, q.retain, pkid, false),
                now,
            );
            if q.qos == QoS::AtMostOnce {
                self.publish_event(q.id, PublishOutcome::Sent);
            } else {
                self.inflight
                    .insert(q.id, pkid, q.topic, q.payload, q.qos, q.retain);
            }
        }
    }

    fn on_packet(&mut self, packet: Packet, now: Millis) {
        match packet {
            Packet::Publish(publish) => self.on_publish(publish, now),
            Packet::PubAck(PubAck { pkid }) => {
                if self.inflight.get(pkid).map(|o| o.awaiting) == Some(Awaiting::PubAck) {
                    self.complete(pkid, now);
                }
            }
            Packet::PubRec(PubRec { pkid }) => {
                let Some(o) = self.inflight.get_mut(pkid) else {
                    return;
                };
                if matches!(o.awaiting, Awaiting::PubRec | Awaiting::PubComp) {
                    o.awaiting = Awaiting::PubComp;
                    self.send(encode(&Packet::PubRel(PubRel::new(pkid))), now);
                }
            }
            Packet::PubRel(PubRel { pkid }) => {
                // Answered even for an unknown id (MQTT-4.3.3-11 asks for a PUBCOMP).
                self.inflight.release_qos2(pkid);
                self.send(encode(&Packet::PubComp(PubComp::new(pkid))), now);
            }
            Packet::PubComp(PubComp { pkid }) => {
                if self.inflight.get(pkid).map(|o| o.awaiting) == Some(Awaiting::PubComp) {
                    self.complete(pkid, now);
                }
            }
            Packet::SubAck(suback) => self.on_suback(suback, now),
            Packet::UnsubAck(unsuback) => {
                let pkid = unsuback.pkid;
                if let Some(pos) = self.unsub_requests.iter().position(|(id, _)| *id == pkid) {
                    let (_, unsub) = self.unsub_requests.remove(pos);
                    self.pkids.release(pkid);
                    if unsub.report {
                        self.events.push_back(Event::Unsubscribed {
                            filter: unsub.filter,
                        });
                    }
                    self.flush(now);
                }
            }
            Packet::PingResp => {}
            other => {
                // The framer refuses these already; kept so no packet is ever ignored silently.
                let what = name_of(&other).to_owned();
                self.lose(
                    DisconnectReason::Protocol(ProtocolError::Unexpected(what)),
                    now,
                    true,
                );
            }
        }
    }

    /// A QoS 1/2 publish of ours finished.
    fn complete(&mut self, pkid: u16, now: Millis) {
        if let Some(o) = self.inflight.remove(pkid) {
            self.pkids.release(pkid);
            self.publish_event(o.id, PublishOutcome::Acked);
            self.flush(now);
        }
    }

    fn on_publish(&mut self, publish: Publish, now: Millis) {
        let qos = from_mqttbytes_qos(publish.qos);
        let pkid = publish.pkid;
        let message = Message {
            topic: publish.topic,
            payload: publish.payload.to_vec(),
            qos,
            retain: publish.retain,
            dup: publish.dup,
        };
        match qos {
            QoS::AtMostOnce => self.events.push_back(Event::Message(message)),
            QoS::AtLeastOnce => {
                self.events.push_back(Event::Message(message));
                self.send(encode(&Packet::PubAck(PubAck::new(pkid))), now);
            }
            QoS::ExactlyOnce => {
                if self.inflight.receive_qos2(pkid) {
                    self.events.push_back(Event::Message(message));
                }
                self.send(encode(&Packet::PubRec(PubRec::new(pkid))), now);
            }
        }
    }

    fn on_suback(&mut self, suback: SubAck, now: Millis) {
        let [code] = suback.return_codes[..] else {
            let what = format!(
                "SUBACK with {} return codes for a SUBSCRIBE of 1 filter",
                suback.return_codes.len()
            );
            self.lose(
                DisconnectReason::Protocol(ProtocolError::Unexpected(what)),
                now,
                true,
            );
            return;
        };
        let pkid = suback.pkid;
        let Some(filter) = self.sub_requests.remove(&pkid) else {
            return; // not ours (any more)
        };
        self.pkids.release(pkid);
        let current = self
            .wanted
            .iter()
            .position(|w| w.filter == filter && w.status == SubStatus::Requested(pkid));
        // No match: the filter was dropped or re-requested with another QoS since; the newer
        // request decides.
        if let Some(i) = current {
            match code {
                SubscribeReasonCode::Success(granted) => {
                    let qos = from_mqttbytes_qos(granted);
                    self.wanted[i].status = SubStatus::Granted(qos);
                    self.events.push_back(Event::Subscribed { filter, qos });
                }
                SubscribeReasonCode::Failure => {
                    self.wanted.remove(i);
                    self.events.push_back(Event::SubscribeFailed {
                        filter,
                        reason: "the broker refused this subscription (SUBACK 0x80), e.g. not authorized for this filter"
                            .into(),
                    });
                }
            }
        }
        self.flush(now);
    }
}

fn name_of(packet: &Packet) -> &'static str {
    let kind = match packet {
        Packet::Connect(_) => 1,
        Packet::ConnAck(_) => 2,
        Packet::Publish(_) => 3,
        Packet::PubAck(_) => 4,
        Packet::PubRec(_) => 5,
        Packet::PubRel(_) => 6,
        Packet::PubComp(_) => 7,
        Packet::Subscribe(_) => 8,
        Packet::SubAck(_) => 9,
        Packet::Unsubscribe(_) => 10,
        Packet::UnsubAck(_) => 11,
        Packet::PingReq => 12,
        Packet::PingResp => 13,
        Packet::Disconnect => 14,
    };
    packet_name(kind)
}
