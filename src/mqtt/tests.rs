//! Scripted conversations with the session on a simulated clock.
//!
//! The harness plays the transport and the broker: it decodes every packet the session
//! sends with `mqttbytes` (so assertions are on exact packets) and feeds broker packets
//! encoded with `mqttbytes`. Section numbers follow the session's behaviour list.

use bytes::BytesMut;
use mqttbytes::v4::{
    self, ConnAck, Connect, ConnectReturnCode, LastWill as WireWill, Login, Packet, PubAck,
    PubComp, PubRec, PubRel, Publish, SubAck, Subscribe, SubscribeFilter, SubscribeReasonCode,
    UnsubAck, Unsubscribe,
};
use proptest::prelude::*;

use super::backoff::Backoff;
use super::framing::encode;
use super::*;

// ---------------------------------------------------------------- harness

#[derive(Debug, Clone, PartialEq)]
enum Out {
    Open,
    Packet(Packet),
    Close,
}

fn config() -> SessionConfig {
    SessionConfig {
        connack_timeout_ms: 5_000,
        ping_timeout_ms: 3_000,
        backoff_base_ms: 1_000,
        backoff_cap_ms: 8_000,
        backoff_reset_after_ms: 20_000,
        seed: 1,
        max_incoming_packet: 4_096,
        max_outgoing_packet: 4_096,
        outbox_capacity: 3,
        outbox_expiry_ms: 60_000,
    }
}

fn opts() -> ConnectOptions {
    ConnectOptions {
        client_id: "web-1".into(),
        keepalive_secs: 10,
        ..ConnectOptions::default()
    }
}

fn persistent() -> ConnectOptions {
    ConnectOptions {
        clean_session: false,
        ..opts()
    }
}

fn mq(qos: QoS) -> mqttbytes::QoS {
    framing::to_mqttbytes_qos(qos)
}

struct Sim {
    s: Session,
    now: Millis,
    /// The last publish id handed out (the caller allocates them, as the UI does).
    last_id: u64,
}

impl Sim {
    fn new() -> Sim {
        Sim::with(config())
    }

    fn with(config: SessionConfig) -> Sim {
        Sim {
            s: Session::new(config),
            now: 0,
            last_id: 0,
        }
    }

    /// `Session::publish` with the next id, as the UI allocates them.
    fn publish(
        &mut self,
        topic: &str,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
        now: Millis,
    ) -> Result<PublishId, CommandError> {
        self.last_id += 1;
        let id = PublishId(self.last_id);
        self.s.publish(id, topic, payload, qos, retain, now)?;
        Ok(id)
    }

    /// Connected with these options; transmits and events so far are drained.
    fn online(options: ConnectOptions, session_present: bool) -> Sim {
        let mut sim = Sim::new();
        sim.s.connect(options, 0).unwrap();
        sim.s.handle_open(0);
        sim.feed(connack(session_present));
        sim.out();
        sim.events();
        sim
    }

    fn out(&mut self) -> Vec<Out> {
        let mut out = Vec::new();
        while let Some(t) = self.s.poll_transmit() {
            out.push(match t {
                Transmit::Open => Out::Open,
                Transmit::Close => Out::Close,
                Transmit::Bytes(bytes) => Out::Packet(decode_one(&bytes)),
            });
        }
        out
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.s.poll_event()).collect()
    }

    fn feed(&mut self, packet: Packet) {
        let bytes = encode(&packet).unwrap();
        self.s.handle_bytes(&bytes, self.now);
    }

    fn feed_raw(&mut self, bytes: &[u8]) {
        self.s.handle_bytes(bytes, self.now);
    }

    /// Move the clock to `t`, firing every deadline that comes due on the way.
    fn advance_to(&mut self, t: Millis) {
        for _ in 0..10_000 {
            match self.s.poll_timeout() {
                Some(deadline) if deadline <= t => {
                    self.now = self.now.max(deadline);
                    self.s.handle_timeout(self.now);
                }
                _ => {
                    self.now = t;
                    return;
                }
            }
        }
        panic!("timer loop: poll_timeout never moved past {t}");
    }

    /// A single, late timer call at `t` (what a throttled tab does).
    fn late_timer(&mut self, t: Millis) {
        self.now = t;
        self.s.handle_timeout(t);
    }

    fn closed(&mut self) {
        self.s.handle_closed(
            TransportError::Closed {
                code: 1006,
                reason: String::new(),
            },
            self.now,
        );
    }

    /// After a loss: the scheduled delay.
    fn delay_of(events: &[Event]) -> Millis {
        events
            .iter()
            .find_map(|e| match e {
                Event::ReconnectScheduled { delay_ms, .. } => Some(*delay_ms),
                _ => None,
            })
            .expect("a reconnect was scheduled")
    }

    /// Lose the link, wait for the reconnect, open, CONNACK; returns what was sent after it.
    /// (If still connected, the link drops first.)
    fn reconnect(&mut self, session_present: bool) -> (Vec<Out>, Vec<Event>) {
        if self.s.state() == ConnectionState::Connected {
            self.closed();
            self.events();
        }
        let at = self.s.poll_timeout().expect("a reconnect is scheduled");
        self.advance_to(at);
        assert_eq!(self.out(), [Out::Open]);
        self.s.handle_open(self.now);
        assert!(matches!(self.out()[..], [Out::Packet(Packet::Connect(_))]));
        self.feed(connack(session_present));
        (self.out(), self.events())
    }
}

fn decode_one(bytes: &[u8]) -> Packet {
    let mut buf = BytesMut::from(bytes);
    let packet = v4::read(&mut buf, usize::MAX).expect("session sent a decodable packet");
    assert!(buf.is_empty(), "one packet per frame");
    packet
}

fn connack(session_present: bool) -> Packet {
    Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, session_present))
}

fn publish(topic: &str, qos: QoS, pkid: u16, payload: &[u8]) -> Packet {
    let mut p = Publish::new(topic, mq(qos), payload.to_vec());
    p.pkid = pkid;
    Packet::Publish(p)
}

fn publish_dup(topic: &str, qos: QoS, pkid: u16, payload: &[u8]) -> Packet {
    let Packet::Publish(mut p) = publish(topic, qos, pkid, payload) else {
        unreachable!()
    };
    p.dup = true;
    Packet::Publish(p)
}

fn subscribe(pkid: u16, filter: &str, qos: QoS) -> Packet {
    Packet::Subscribe(Subscribe {
        pkid,
        filters: vec![SubscribeFilter::new(filter.into(), mq(qos))],
    })
}

fn unsubscribe(pkid: u16, filter: &str) -> Packet {
    Packet::Unsubscribe(Unsubscribe {
        pkid,
        topics: vec![filter.into()],
    })
}

fn granted(pkid: u16, qos: QoS) -> Packet {
    Packet::SubAck(SubAck::new(
        pkid,
        vec![SubscribeReasonCode::Success(mq(qos))],
    ))
}

fn message(topic: &str, payload: &[u8], qos: QoS) -> Event {
    Event::Message(Message {
        topic: topic.into(),
        payload: payload.to_vec(),
        qos,
        retain: false,
        dup: false,
        properties: None,
    })
}

fn requested(filter: &str, qos: QoS) -> Event {
    Event::SubscribeRequested {
        filter: filter.into(),
        qos,
    }
}

fn outcome(id: PublishId, outcome: PublishOutcome) -> Event {
    Event::Publish { id, outcome }
}

/// The three events of a lost link; returns the scheduled attempt and delay.
fn assert_lost(events: &[Event], reason: DisconnectReason) -> (u32, Millis) {
    match events {
        [Event::ConnectionLost(got), Event::State(ConnectionState::Reconnecting), Event::ReconnectScheduled { attempt, delay_ms }] =>
        {
            assert_eq!(got, &reason);
            (*attempt, *delay_ms)
        }
        other => panic!("expected a lost link ({reason:?}), got {other:?}"),
    }
}

fn protocol_lost(sim: &mut Sim) -> ProtocolError {
    assert_eq!(sim.out(), [Out::Close]);
    let events = sim.events();
    let Some(Event::ConnectionLost(DisconnectReason::Protocol(e))) = events.first().cloned() else {
        panic!("expected a protocol error, got {events:?}");
    };
    assert_lost(&events, DisconnectReason::Protocol(e.clone()));
    assert_eq!(sim.s.state(), ConnectionState::Reconnecting);
    e
}

// ---------------------------------------------------------------- 1. connect

#[test]
fn connect_opens_then_sends_connect_with_login_keepalive_and_will() {
    let mut sim = Sim::new();
    let options = ConnectOptions {
        client_id: "web-1".into(),
        username: Some("alice".into()),
        password: Some("s3cret".into()),
        keepalive_secs: 30,
        clean_session: false,
        last_will: Some(LastWill {
            topic: "devices/web-1/status".into(),
            payload: b"offline".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Default::default(),
        }),
        ..ConnectOptions::default()
    };
    sim.s.connect(options, 0).unwrap();
    assert_eq!(sim.out(), [Out::Open]);
    assert_eq!(sim.events(), [Event::State(ConnectionState::Connecting)]);
    assert_eq!(sim.s.state(), ConnectionState::Connecting);

    sim.now = 40;
    sim.s.handle_open(40);
    let expected = Connect {
        protocol: mqttbytes::Protocol::V4,
        keep_alive: 30,
        client_id: "web-1".into(),
        clean_session: false,
        last_will: Some(WireWill::new(
            "devices/web-1/status",
            b"offline".to_vec(),
            mqttbytes::QoS::AtLeastOnce,
            true,
        )),
        login: Some(Login::new("alice", "s3cret")),
    };
    assert_eq!(sim.out(), [Out::Packet(Packet::Connect(expected))]);
    assert_eq!(sim.events(), []);
    assert_eq!(
        sim.s.poll_timeout(),
        Some(40 + 5_000),
        "CONNACK timeout from open"
    );
}

#[test]
fn connack_accepted_reports_connected_with_session_present() {
    let mut sim = Sim::new();
    sim.s.connect(persistent(), 0).unwrap();
    sim.s.handle_open(0);
    sim.out();
    sim.events();
    sim.feed(connack(true));
    assert_eq!(
        sim.events(),
        [
            Event::State(ConnectionState::Connected),
            Event::Connected {
                session_present: true
            }
        ]
    );
    assert_eq!(sim.out(), []);
    assert_eq!(sim.s.state(), ConnectionState::Connected);
    assert_eq!(sim.s.poll_timeout(), Some(10_000), "next keepalive ping");
}

#[test]
fn empty_client_id_needs_clean_session_and_nothing_is_sent() {
    let mut sim = Sim::new();
    let no_id = ConnectOptions {
        client_id: String::new(),
        clean_session: false,
        ..opts()
    };
    assert_eq!(
        sim.s.connect(no_id, 0),
        Err(CommandError::EmptyClientIdNeedsCleanSession)
    );
    assert_eq!(sim.out(), []);
    assert_eq!(sim.events(), []);
    assert_eq!(sim.s.state(), ConnectionState::Disconnected);

    let no_id_clean = ConnectOptions {
        client_id: String::new(),
        ..opts()
    };
    assert_eq!(sim.s.connect(no_id_clean, 0), Ok(()));
    sim.s.handle_open(0);
    let out = sim.out();
    let [Out::Open, Out::Packet(Packet::Connect(c))] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(c.client_id, "");
    assert!(c.clean_session);
}

#[test]
fn will_topic_is_validated_like_a_publish_topic() {
    let mut sim = Sim::new();
    let bad_will = ConnectOptions {
        last_will: Some(LastWill {
            topic: "devices/+/status".into(),
            payload: vec![],
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Default::default(),
        }),
        ..opts()
    };
    let err = sim.s.connect(bad_will, 0).unwrap_err();
    assert!(matches!(&err, CommandError::InvalidTopic(why) if why.contains("wildcards")));
    assert!(err.to_string().starts_with("invalid topic: "));
    assert_eq!(sim.out(), []);
    assert_eq!(sim.events(), []);
}

#[test]
fn overlong_connect_fields_are_refused() {
    let mut sim = Sim::new();
    let long = ConnectOptions {
        password: Some("p".repeat(70_000)),
        ..opts()
    };
    assert_eq!(
        sim.s.connect(long, 0),
        Err(CommandError::FieldTooLong {
            field: ConnectField::Password,
            len: 70_000
        })
    );
    assert_eq!(sim.out(), []);
}

#[test]
fn connack_refused_bad_password_is_typed_and_readable() {
    let mut sim = Sim::new();
    sim.s.connect(opts(), 0).unwrap();
    sim.s.handle_open(0);
    sim.out();
    sim.events();
    sim.feed(Packet::ConnAck(ConnAck::new(
        ConnectReturnCode::BadUserNamePassword,
        false,
    )));
    assert_eq!(sim.out(), [Out::Close]);
    let events = sim.events();
    let reason = DisconnectReason::Refused(ConnectRefused::BadUserNameOrPassword);
    assert_eq!(
        reason.to_string(),
        "broker refused the connection: bad user name or password"
    );
    let (attempt, delay) = assert_lost(&events, reason);
    assert_eq!(attempt, 1);
    assert_eq!(
        sim.s.poll_timeout(),
        Some(delay),
        "retried after the backoff"
    );
}

#[test]
fn every_connack_refusal_code_is_typed() {
    let cases = [
        (1u8, ConnectRefused::UnacceptableProtocolVersion),
        (2, ConnectRefused::IdentifierRejected),
        (3, ConnectRefused::ServerUnavailable),
        (4, ConnectRefused::BadUserNameOrPassword),
        (5, ConnectRefused::NotAuthorized),
        (0x86, ConnectRefused::Other(0x86)),
    ];
    for (code, refused) in cases {
        let mut sim = Sim::new();
        sim.s.connect(opts(), 0).unwrap();
        sim.s.handle_open(0);
        sim.out();
        sim.events();
        sim.feed_raw(&[0x20, 0x02, 0x00, code]);
        assert_eq!(sim.out(), [Out::Close], "code {code}");
        assert_lost(&sim.events(), DisconnectReason::Refused(refused));
    }
}

#[test]
fn connack_timeout_closes_and_schedules_reconnect() {
    let mut sim = Sim::new();
    sim.s.connect(opts(), 0).unwrap();
    sim.now = 100;
    sim.s.handle_open(100);
    sim.out();
    sim.events();
    sim.advance_to(5_099);
    assert_eq!(sim.out(), [], "not yet");
    sim.advance_to(5_100);
    assert_eq!(sim.out(), [Out::Close]);
    let (attempt, delay) = assert_lost(&sim.events(), DisconnectReason::ConnackTimeout);
    assert_eq!(attempt, 1);
    sim.advance_to(5_100 + delay);
    assert_eq!(sim.out(), [Out::Open]);
    assert_eq!(sim.events(), [], "state stays reconnecting until CONNACK");
    assert_eq!(sim.s.state(), ConnectionState::Reconnecting);
}

#[test]
fn open_that_never_completes_is_abandoned_after_the_connack_timeout() {
    let mut sim = Sim::new();
    sim.s.connect(opts(), 0).unwrap();
    sim.out();
    sim.events();
    sim.advance_to(5_000);
    assert_eq!(sim.out(), [Out::Close]);
    assert_lost(
        &sim.events(),
        DisconnectReason::Transport(TransportError::OpenFailed(
            "the connection to the broker did not open within 5 s".into(),
        )),
    );
    // The abandoned socket's late reports change nothing.
    sim.s.handle_open(5_001);
    sim.closed();
    assert_eq!(sim.out(), []);
    assert_eq!(sim.events(), []);
}

#[test]
fn connect_while_connected_closes_old_link_and_restarts_with_new_options() {
    let mut sim = Sim::online(opts(), false);
    let other = ConnectOptions {
        client_id: "web-2".into(),
        ..opts()
    };
    sim.s.connect(other, 50).unwrap();
    let out = sim.out();
    assert_eq!(
        out,
        [Out::Packet(Packet::Disconnect), Out::Close, Out::Open]
    );
    assert_eq!(sim.events(), [Event::State(ConnectionState::Connecting)]);
    sim.s.handle_open(60);
    let out = sim.out();
    let [Out::Packet(Packet::Connect(c))] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(c.client_id, "web-2");
    // The old socket's close report is ignored: we are waiting for the new CONNACK.
    sim.feed(connack(false));
    assert_eq!(sim.s.state(), ConnectionState::Connected);
}

#[test]
fn connect_while_reconnecting_opens_at_once_with_a_fresh_backoff() {
    let mut sim = Sim::online(opts(), false);
    for _ in 0..3 {
        sim.closed();
        let d = Sim::delay_of(&sim.events());
        sim.advance_to(sim.now + d);
        sim.out();
    }
    sim.closed();
    sim.events();
    sim.s.connect(opts(), sim.now).unwrap();
    assert_eq!(sim.out(), [Out::Open]);
    assert_eq!(sim.events(), [Event::State(ConnectionState::Connecting)]);
    sim.closed();
    let (attempt, _) = assert_lost(
        &sim.events(),
        DisconnectReason::Transport(TransportError::Closed {
            code: 1006,
            reason: String::new(),
        }),
    );
    assert_eq!(attempt, 1);
}

#[test]
fn state_events_only_on_change() {
    let mut sim = Sim::new();
    sim.s.connect(opts(), 0).unwrap();
    sim.s.connect(opts(), 1).unwrap();
    assert_eq!(sim.out(), [Out::Open, Out::Close, Out::Open]);
    assert_eq!(sim.events(), [Event::State(ConnectionState::Connecting)]);
    // Two failed attempts in a row: one `Reconnecting`.
    sim.closed();
    let first = sim.events();
    assert_eq!(first.len(), 3);
    sim.advance_to(Sim::delay_of(&first));
    sim.closed();
    let second = sim.events();
    assert!(
        matches!(
            &second[..],
            [
                Event::ConnectionLost(_),
                Event::ReconnectScheduled { attempt: 2, .. }
            ]
        ),
        "{second:?}"
    );
}

// ---------------------------------------------------------------- 2. keepalive

#[test]
fn pingreq_after_idle_keepalive_and_reconnect_when_no_pingresp() {
    let mut sim = Sim::online(opts(), false);
    sim.advance_to(9_999);
    assert_eq!(sim.out(), []);
    sim.advance_to(10_000);
    assert_eq!(sim.out(), [Out::Packet(Packet::PingReq)]);
    assert_eq!(sim.s.poll_timeout(), Some(13_000));
    sim.advance_to(12_999);
    assert_eq!(sim.out(), []);
    sim.advance_to(13_000);
    assert_eq!(sim.out(), [Out::Close]);
    let (_, delay) = assert_lost(&sim.events(), DisconnectReason::KeepaliveTimeout);
    assert_eq!(
        DisconnectReason::KeepaliveTimeout.to_string(),
        "broker stopped answering keepalive pings; connection lost"
    );
    sim.advance_to(13_000 + delay);
    assert_eq!(sim.out(), [Out::Open]);
}

#[test]
fn any_incoming_packet_answers_a_pending_ping() {
    let mut sim = Sim::online(opts(), false);
    sim.advance_to(10_000);
    assert_eq!(sim.out(), [Out::Packet(Packet::PingReq)]);
    sim.advance_to(11_000);
    sim.feed(publish("a", QoS::AtMostOnce, 0, b"x"));
    assert_eq!(sim.events(), [message("a", b"x", QoS::AtMostOnce)]);
    assert_eq!(
        sim.s.poll_timeout(),
        Some(20_000),
        "next ping, no pong deadline"
    );
    sim.advance_to(20_000);
    assert_eq!(sim.out(), [Out::Packet(Packet::PingReq)]);
    sim.advance_to(20_500);
    sim.feed(Packet::PingResp);
    sim.advance_to(29_999);
    assert_eq!(sim.out(), []);
    assert_eq!(sim.events(), []);
    assert_eq!(sim.s.state(), ConnectionState::Connected);
}

#[test]
fn sending_anything_postpones_the_next_ping() {
    let mut sim = Sim::online(opts(), false);
    sim.advance_to(6_000);
    sim.publish("a", b"1".to_vec(), QoS::AtMostOnce, false, 6_000)
        .unwrap();
    assert_eq!(sim.out().len(), 1);
    assert_eq!(sim.s.poll_timeout(), Some(16_000));
    sim.advance_to(15_999);
    assert_eq!(sim.out(), []);
    sim.advance_to(16_000);
    assert_eq!(sim.out(), [Out::Packet(Packet::PingReq)]);
}

#[test]
fn a_timer_that_fires_before_the_deadline_changes_nothing() {
    // The driver keeps an armed timer when the deadline only moves later (every packet sent
    // moves the keepalive's), so the session is often woken early: it must do nothing then.
    let mut sim = Sim::online(opts(), false);
    sim.advance_to(6_000);
    sim.publish("a", b"1".to_vec(), QoS::AtMostOnce, false, 6_000)
        .unwrap();
    assert_eq!(sim.out().len(), 1);
    let _ = sim.events(); // the publish's outcome
    sim.late_timer(10_000); // the first deadline, now early
    assert_eq!(sim.out(), []);
    assert_eq!(sim.events(), []);
    assert_eq!(sim.s.poll_timeout(), Some(16_000));
    // Pinging, the pong deadline too.
    sim.advance_to(16_000);
    assert_eq!(sim.out(), [Out::Packet(Packet::PingReq)]);
    sim.late_timer(18_999);
    assert_eq!(sim.out(), []);
    assert_eq!(sim.s.state(), ConnectionState::Connected);
    assert_eq!(sim.s.poll_timeout(), Some(19_000));
    // And before a reconnect.
    sim.advance_to(19_000);
    assert_eq!(sim.out(), [Out::Close]);
    let _ = sim.events();
    let reconnect_at = sim.s.poll_timeout().unwrap();
    sim.late_timer(reconnect_at - 1);
    assert_eq!(sim.out(), []);
    assert_eq!(sim.s.poll_timeout(), Some(reconnect_at));
}

#[test]
fn keepalive_zero_never_pings() {
    let no_keepalive = ConnectOptions {
        keepalive_secs: 0,
        ..opts()
    };
    let mut sim = Sim::online(no_keepalive, false);
    assert_eq!(sim.s.poll_timeout(), None);
    sim.advance_to(10_000_000);
    sim.late_timer(20_000_000);
    assert_eq!(sim.out(), []);
    assert_eq!(sim.events(), []);
    assert_eq!(sim.s.state(), ConnectionState::Connected);
}

#[test]
fn late_timer_sends_pingreq_now_instead_of_declaring_the_link_dead() {
    let mut sim = Sim::online(opts(), false);
    // Due at 10 s; the throttled tab only runs the timer at 100 s.
    sim.late_timer(100_000);
    assert_eq!(sim.out(), [Out::Packet(Packet::PingReq)]);
    assert_eq!(sim.events(), []);
    assert_eq!(
        sim.s.poll_timeout(),
        Some(103_000),
        "judged from when it was sent"
    );
    sim.now = 100_040;
    sim.feed(Packet::PingResp);
    assert_eq!(sim.s.poll_timeout(), Some(110_000));
    assert_eq!(sim.s.state(), ConnectionState::Connected);
}

#[test]
fn very_late_pong_check_gets_one_grace_ping_then_times_out() {
    let mut sim = Sim::online(opts(), false);
    sim.advance_to(10_000);
    assert_eq!(sim.out(), [Out::Packet(Packet::PingReq)]);
    // The answer check was due at 13 s but runs at 60 s: we were asleep, not the broker.
    sim.late_timer(60_000);
    assert_eq!(sim.out(), [Out::Packet(Packet::PingReq)]);
    assert_eq!(sim.events(), []);
    assert_eq!(sim.s.poll_timeout(), Some(63_000));
    // Still nothing, and late again: now it is the broker.
    sim.late_timer(120_000);
    assert_eq!(sim.out(), [Out::Close]);
    assert_lost(&sim.events(), DisconnectReason::KeepaliveTimeout);

    // A slightly late check (by less than the ping timeout) is judged at once.
    let mut sim = Sim::online(opts(), false);
    sim.advance_to(10_000);
    sim.out();
    sim.late_timer(14_000);
    assert_eq!(sim.out(), [Out::Close]);
    assert_lost(&sim.events(), DisconnectReason::KeepaliveTimeout);
}

#[test]
fn ping_timeout_is_capped_at_the_keepalive_interval() {
    let mut sim = Sim::with(SessionConfig {
        ping_timeout_ms: 60_000,
        ..config()
    });
    sim.s.connect(opts(), 0).unwrap();
    sim.s.handle_open(0);
    sim.feed(connack(false));
    sim.out();
    sim.events();
    sim.advance_to(10_000);
    assert_eq!(sim.out(), [Out::Packet(Packet::PingReq)]);
    assert_eq!(
        sim.s.poll_timeout(),
        Some(20_000),
        "min(60 s, keepalive 10 s)"
    );
}

// ---------------------------------------------------------------- 3. reconnect

#[test]
fn lost_connection_reconnects_after_the_scheduled_delay() {
    let mut sim = Sim::online(opts(), false);
    sim.now = 1_000;
    sim.closed();
    assert_eq!(sim.out(), [], "the transport closed it; nothing to close");
    let (attempt, delay) = assert_lost(
        &sim.events(),
        DisconnectReason::Transport(TransportError::Closed {
            code: 1006,
            reason: String::new(),
        }),
    );
    assert_eq!(attempt, 1);
    assert!(delay <= 1_000);
    assert_eq!(sim.s.poll_timeout(), Some(1_000 + delay));
    sim.advance_to(1_000 + delay);
    assert_eq!(sim.out(), [Out::Open]);
    sim.s.handle_open(sim.now);
    assert!(matches!(sim.out()[..], [Out::Packet(Packet::Connect(_))]));
    assert_eq!(sim.events(), []);
    sim.feed(connack(false));
    assert_eq!(
        sim.events(),
        [
            Event::State(ConnectionState::Connected),
            Event::Connected {
                session_present: false
            }
        ]
    );
}

#[test]
fn backoff_is_capped_full_jitter_and_resets_after_stable_connection() {
    let cfg = config();
    let mut model = Backoff::new(cfg.backoff_base_ms, cfg.backoff_cap_ms, cfg.seed);
    let quiet = ConnectOptions {
        keepalive_secs: 0,
        ..opts()
    };
    let mut sim = Sim::new();
    sim.s.connect(quiet, 0).unwrap();
    sim.out();
    sim.events();
    let mut delays = Vec::new();
    for n in 1..=10u32 {
        sim.s
            .handle_closed(TransportError::OpenFailed("refused".into()), sim.now);
        let events = sim.events();
        let (attempt, delay) = assert_lost(
            &normalise_loss(&events),
            DisconnectReason::Transport(TransportError::OpenFailed("refused".into())),
        );
        assert_eq!(attempt, n);
        assert_eq!(
            (attempt, delay),
            model.next_delay(),
            "deterministic for the seed"
        );
        assert!(delay <= 8_000.min(1_000 << (n - 1)), "attempt {n}: {delay}");
        delays.push(delay);
        sim.advance_to(sim.now + delay);
        assert_eq!(sim.out(), [Out::Open]);
    }
    // Capped, and jittered (not all at the ceiling).
    assert!(delays[4..].iter().all(|&d| d <= 8_000));
    assert!(delays[3..].iter().any(|&d| d < 4_000), "{delays:?}");

    // A connection that stays up 20 s resets the count.
    sim.s.handle_open(sim.now);
    sim.feed(connack(false));
    sim.events();
    sim.advance_to(sim.now + 20_000);
    sim.closed();
    let (attempt, _) = assert_lost(
        &normalise_loss(&sim.events()),
        DisconnectReason::Transport(TransportError::Closed {
            code: 1006,
            reason: String::new(),
        }),
    );
    assert_eq!(attempt, 1);
}

/// The events of a loss with `State(Reconnecting)` present even when the state did not change.
fn normalise_loss(events: &[Event]) -> Vec<Event> {
    let mut v: Vec<Event> = events
        .iter()
        .filter(|e| !matches!(e, Event::State(_)))
        .cloned()
        .collect();
    v.insert(1, Event::State(ConnectionState::Reconnecting));
    v
}

#[test]
fn broker_that_accepts_then_drops_at_once_still_backs_off() {
    let mut sim = Sim::online(opts(), false);
    let mut attempts = Vec::new();
    for _ in 0..4 {
        sim.advance_to(sim.now + 1_000);
        sim.closed();
        let events = sim.events();
        let (attempt, delay) = assert_lost(
            &events,
            DisconnectReason::Transport(TransportError::Closed {
                code: 1006,
                reason: String::new(),
            }),
        );
        attempts.push(attempt);
        sim.advance_to(sim.now + delay);
        assert_eq!(sim.out(), [Out::Open]);
        sim.s.handle_open(sim.now);
        sim.feed(connack(false));
        sim.out();
        sim.events();
    }
    assert_eq!(attempts, [1, 2, 3, 4]);
}

#[test]
fn reconnect_attempts_continue_forever() {
    let mut sim = Sim::new();
    sim.s.connect(opts(), 0).unwrap();
    sim.out();
    sim.events();
    for n in 1..=200u32 {
        sim.s
            .handle_closed(TransportError::OpenFailed("refused".into()), sim.now);
        let events = sim.events();
        let Some(Event::ReconnectScheduled { attempt, delay_ms }) = events.last().cloned() else {
            panic!("{events:?}")
        };
        assert_eq!(attempt, n);
        assert!(delay_ms <= 8_000);
        sim.advance_to(sim.now + delay_ms);
        assert_eq!(sim.out(), [Out::Open]);
    }
    assert_eq!(sim.s.state(), ConnectionState::Reconnecting);
}

#[test]
fn user_disconnect_sends_disconnect_closes_and_never_reconnects() {
    let mut sim = Sim::online(opts(), false);
    sim.s.disconnect(500);
    assert_eq!(sim.out(), [Out::Packet(Packet::Disconnect), Out::Close]);
    assert_eq!(
        sim.events(),
        [
            Event::ConnectionLost(DisconnectReason::User),
            Event::State(ConnectionState::Disconnected)
        ]
    );
    assert_eq!(sim.s.poll_timeout(), None);
    sim.advance_to(10_000_000);
    assert_eq!(sim.out(), []);
    assert_eq!(sim.s.state(), ConnectionState::Disconnected);
    // A second disconnect is a no-op.
    sim.s.disconnect(10_000_001);
    assert_eq!(sim.events(), []);
}

#[test]
fn user_disconnect_while_reconnecting_stops_the_retries() {
    let mut sim = Sim::online(opts(), false);
    sim.closed();
    sim.events();
    sim.s.disconnect(sim.now);
    assert_eq!(sim.out(), [], "no link to close");
    assert_eq!(
        sim.events(),
        [
            Event::ConnectionLost(DisconnectReason::User),
            Event::State(ConnectionState::Disconnected)
        ]
    );
    assert_eq!(sim.s.poll_timeout(), None);
}

#[test]
fn closed_and_late_link_reports_after_user_disconnect_are_ignored() {
    let mut sim = Sim::online(opts(), false);
    sim.s.disconnect(10);
    sim.out();
    sim.events();
    sim.closed();
    sim.s.handle_open(20);
    sim.feed(publish("a", QoS::AtLeastOnce, 1, b"x"));
    sim.s.handle_text_frame(30);
    assert_eq!(sim.out(), []);
    assert_eq!(sim.events(), []);
    assert_eq!(sim.s.state(), ConnectionState::Disconnected);
}

// ---------------------------------------------------------------- 4. subscriptions

#[test]
fn subscribe_when_connected_sends_subscribe_and_reports_granted_qos() {
    let mut sim = Sim::online(opts(), false);
    sim.s
        .subscribe("sensors/+/temp", QoS::ExactlyOnce, 0)
        .unwrap();
    assert_eq!(
        sim.out(),
        [Out::Packet(subscribe(
            1,
            "sensors/+/temp",
            QoS::ExactlyOnce
        ))]
    );
    assert_eq!(
        sim.events(),
        [requested("sensors/+/temp", QoS::ExactlyOnce)]
    );
    sim.feed(granted(1, QoS::AtLeastOnce));
    assert_eq!(
        sim.events(),
        [Event::Subscribed {
            filter: "sensors/+/temp".into(),
            qos: QoS::AtLeastOnce
        }]
    );
    assert_eq!(
        sim.s.subscriptions(),
        [("sensors/+/temp".to_string(), QoS::ExactlyOnce)]
    );
}

#[test]
fn subscribe_before_connack_goes_out_after_connack() {
    let mut sim = Sim::new();
    sim.s.connect(opts(), 0).unwrap();
    sim.s.subscribe("a/#", QoS::AtLeastOnce, 0).unwrap();
    assert_eq!(sim.out(), [Out::Open]);
    assert_eq!(sim.events(), [Event::State(ConnectionState::Connecting)]);
    sim.s.handle_open(0);
    sim.out();
    sim.feed(connack(false));
    assert_eq!(
        sim.out(),
        [Out::Packet(subscribe(1, "a/#", QoS::AtLeastOnce))]
    );
    assert_eq!(
        sim.events(),
        [
            Event::State(ConnectionState::Connected),
            Event::Connected {
                session_present: false
            },
            requested("a/#", QoS::AtLeastOnce)
        ]
    );
}

#[test]
fn resubscribes_each_filter_exactly_once_when_broker_has_no_session() {
    let mut sim = Sim::online(opts(), false);
    for f in ["a", "b", "c"] {
        sim.s.subscribe(f, QoS::AtLeastOnce, 0).unwrap();
    }
    sim.out();
    sim.events();
    sim.feed(granted(1, QoS::AtLeastOnce)); // "a" granted; "b" and "c" never acked
    sim.events();
    let (out, events) = sim.reconnect(false);
    assert_eq!(
        out,
        [
            Out::Packet(subscribe(4, "a", QoS::AtLeastOnce)),
            Out::Packet(subscribe(5, "b", QoS::AtLeastOnce)),
            Out::Packet(subscribe(6, "c", QoS::AtLeastOnce)),
        ]
    );
    assert_eq!(
        events[2..],
        [
            requested("a", QoS::AtLeastOnce),
            requested("b", QoS::AtLeastOnce),
            requested("c", QoS::AtLeastOnce)
        ]
    );
    for pkid in [4, 5, 6] {
        sim.feed(granted(pkid, QoS::AtLeastOnce));
    }
    assert_eq!(sim.events().len(), 3);
    sim.advance_to(sim.now + 9_000);
    assert_eq!(sim.out(), [], "nothing sent twice");
}

#[test]
fn session_present_resends_only_filters_never_acked() {
    let mut sim = Sim::online(persistent(), false);
    for f in ["a", "b", "c"] {
        sim.s.subscribe(f, QoS::AtMostOnce, 0).unwrap();
    }
    sim.out();
    sim.feed(granted(2, QoS::AtMostOnce)); // "b" granted
    sim.events();
    let (out, events) = sim.reconnect(true);
    assert_eq!(
        out,
        [
            Out::Packet(subscribe(4, "a", QoS::AtMostOnce)),
            Out::Packet(subscribe(5, "c", QoS::AtMostOnce)),
        ]
    );
    assert_eq!(
        events,
        [
            Event::State(ConnectionState::Connected),
            Event::Connected {
                session_present: true
            },
            requested("a", QoS::AtMostOnce),
            requested("c", QoS::AtMostOnce)
        ]
    );
}

#[test]
fn suback_failure_reports_and_drops_the_filter_for_good() {
    let mut sim = Sim::online(opts(), false);
    sim.s.subscribe("secret/#", QoS::AtLeastOnce, 0).unwrap();
    sim.s.subscribe("open/#", QoS::AtLeastOnce, 0).unwrap();
    sim.out();
    sim.events();
    sim.feed(Packet::SubAck(SubAck::new(
        1,
        vec![SubscribeReasonCode::Failure],
    )));
    let events = sim.events();
    let [Event::SubscribeFailed { filter, reason }] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(filter, "secret/#");
    assert!(reason.contains("refused"), "{reason}");
    assert_eq!(
        sim.s.subscriptions(),
        [("open/#".to_string(), QoS::AtLeastOnce)]
    );
    let (out, _) = sim.reconnect(false);
    assert_eq!(out, [Out::Packet(subscribe(3, "open/#", QoS::AtLeastOnce))]);
}

#[test]
fn resubscribing_with_a_new_qos_updates_and_resends() {
    let mut sim = Sim::online(opts(), false);
    sim.s.subscribe("a", QoS::AtMostOnce, 0).unwrap();
    sim.feed(granted(1, QoS::AtMostOnce));
    sim.out();
    sim.events();
    sim.s.subscribe("a", QoS::ExactlyOnce, 0).unwrap();
    assert_eq!(
        sim.out(),
        [Out::Packet(subscribe(2, "a", QoS::ExactlyOnce))]
    );
    assert_eq!(sim.events(), [requested("a", QoS::ExactlyOnce)]);
    assert_eq!(sim.s.subscriptions(), [("a".to_string(), QoS::ExactlyOnce)]);
    // A change while the first SUBACK is still pending: the stale SUBACK is ignored.
    sim.s.subscribe("a", QoS::AtLeastOnce, 0).unwrap();
    assert_eq!(
        sim.out(),
        [Out::Packet(subscribe(3, "a", QoS::AtLeastOnce))]
    );
    sim.events();
    sim.feed(granted(2, QoS::ExactlyOnce));
    assert_eq!(sim.events(), []);
    sim.feed(granted(3, QoS::AtLeastOnce));
    assert_eq!(
        sim.events(),
        [Event::Subscribed {
            filter: "a".into(),
            qos: QoS::AtLeastOnce
        }]
    );
}

#[test]
fn subscribing_again_with_the_same_qos_sends_nothing() {
    let mut sim = Sim::online(opts(), false);
    sim.s.subscribe("a", QoS::AtLeastOnce, 0).unwrap();
    sim.out();
    sim.events();
    sim.s.subscribe("a", QoS::AtLeastOnce, 0).unwrap();
    assert_eq!(sim.out(), []);
    assert_eq!(sim.events(), []);
    assert_eq!(sim.s.subscriptions().len(), 1);
}

#[test]
fn unsubscribe_when_connected_sends_unsubscribe_and_reports_on_unsuback() {
    let mut sim = Sim::online(opts(), false);
    sim.s.subscribe("a/+", QoS::AtLeastOnce, 0).unwrap();
    sim.feed(granted(1, QoS::AtLeastOnce));
    sim.out();
    sim.events();
    sim.s.unsubscribe("a/+", 0).unwrap();
    assert_eq!(sim.out(), [Out::Packet(unsubscribe(2, "a/+"))]);
    assert_eq!(sim.events(), []);
    assert_eq!(sim.s.subscriptions(), []);
    sim.feed(Packet::UnsubAck(UnsubAck::new(2)));
    assert_eq!(
        sim.events(),
        [Event::Unsubscribed {
            filter: "a/+".into()
        }]
    );
    let (out, _) = sim.reconnect(false);
    assert_eq!(out, [], "not resubscribed");
}

#[test]
fn unsubscribe_while_offline_reports_at_once() {
    let mut sim = Sim::online(opts(), false);
    sim.s.subscribe("a", QoS::AtLeastOnce, 0).unwrap();
    sim.s.subscribe("b", QoS::AtLeastOnce, 0).unwrap();
    sim.closed();
    sim.out();
    sim.events();
    sim.s.unsubscribe("a", sim.now).unwrap();
    assert_eq!(sim.out(), []);
    assert_eq!(sim.events(), [Event::Unsubscribed { filter: "a".into() }]);
    let (out, _) = sim.reconnect(false);
    assert_eq!(out, [Out::Packet(subscribe(3, "b", QoS::AtLeastOnce))]);

    // Before any connect it only forgets the filter.
    let mut fresh = Sim::new();
    fresh.s.unsubscribe("x/#", 0).unwrap();
    assert_eq!(
        fresh.events(),
        [Event::Unsubscribed {
            filter: "x/#".into()
        }]
    );
    assert_eq!(fresh.out(), []);
}

#[test]
fn unsubscribe_pending_when_the_link_drops_is_reported_then() {
    let mut sim = Sim::online(opts(), false);
    sim.s.subscribe("a", QoS::AtLeastOnce, 0).unwrap();
    sim.s.unsubscribe("a", 0).unwrap();
    sim.out();
    sim.events();
    sim.closed();
    let events = sim.events();
    assert_eq!(events[0], Event::Unsubscribed { filter: "a".into() });
    let (out, _) = sim.reconnect(false);
    assert_eq!(out, []);
}

#[test]
fn offline_unsubscribe_reaches_a_persistent_session_on_reconnect() {
    let mut sim = Sim::online(persistent(), false);
    sim.s.subscribe("a", QoS::AtLeastOnce, 0).unwrap();
    sim.feed(granted(1, QoS::AtLeastOnce));
    sim.closed();
    sim.out();
    sim.events();
    sim.s.unsubscribe("a", sim.now).unwrap();
    assert_eq!(sim.events(), [Event::Unsubscribed { filter: "a".into() }]);
    let (out, _) = sim.reconnect(true);
    assert_eq!(out, [Out::Packet(unsubscribe(2, "a"))]);
    sim.feed(Packet::UnsubAck(UnsubAck::new(2)));
    assert_eq!(sim.events(), [], "already reported");
}

#[test]
fn subscribe_and_publish_before_connect_are_not_started() {
    let mut sim = Sim::new();
    assert_eq!(
        sim.s.subscribe("a", QoS::AtMostOnce, 0),
        Err(CommandError::NotStarted)
    );
    assert_eq!(
        sim.publish("a", vec![], QoS::AtMostOnce, false, 0),
        Err(CommandError::NotStarted)
    );
    assert_eq!(sim.out(), []);
    assert_eq!(sim.events(), []);
}

#[test]
fn restart_with_new_options_resubscribes_even_with_a_session_present() {
    let mut sim = Sim::online(persistent(), false);
    sim.s.subscribe("a", QoS::AtLeastOnce, 0).unwrap();
    sim.feed(granted(1, QoS::AtLeastOnce));
    let other = ConnectOptions {
        client_id: "web-2".into(),
        ..persistent()
    };
    sim.s.connect(other, 10).unwrap();
    sim.s.handle_open(10);
    sim.out();
    sim.feed(connack(true));
    assert_eq!(
        sim.out(),
        [Out::Packet(subscribe(2, "a", QoS::AtLeastOnce))]
    );
}

#[test]
fn wanted_subscriptions_survive_a_user_disconnect() {
    let mut sim = Sim::online(opts(), false);
    sim.s.subscribe("a", QoS::AtLeastOnce, 0).unwrap();
    sim.feed(granted(1, QoS::AtLeastOnce));
    sim.s.disconnect(10);
    sim.out();
    sim.events();
    sim.s.connect(opts(), 20).unwrap();
    sim.s.handle_open(20);
    sim.out();
    sim.feed(connack(false));
    assert_eq!(
        sim.out(),
        [Out::Packet(subscribe(2, "a", QoS::AtLeastOnce))]
    );
}

// ---------------------------------------------------------------- 5. QoS

#[test]
fn qos0_publish_is_sent_once_and_reported_sent() {
    let mut sim = Sim::online(opts(), false);
    let id = sim
        .publish("t/é", b"hi".to_vec(), QoS::AtMostOnce, true, 0)
        .unwrap();
    let Packet::Publish(mut expected) = publish("t/é", QoS::AtMostOnce, 0, b"hi") else {
        unreachable!()
    };
    expected.retain = true;
    assert_eq!(sim.out(), [Out::Packet(Packet::Publish(expected))]);
    assert_eq!(sim.events(), [outcome(id, PublishOutcome::Sent)]);
    let (out, _) = sim.reconnect(false);
    assert_eq!(out, [], "QoS 0 is never resent");
}

#[test]
fn qos1_publish_is_acked_on_puback() {
    let mut sim = Sim::online(opts(), false);
    let id = sim
        .publish("t", b"1".to_vec(), QoS::AtLeastOnce, false, 0)
        .unwrap();
    assert_eq!(
        sim.out(),
        [Out::Packet(publish("t", QoS::AtLeastOnce, 1, b"1"))]
    );
    assert_eq!(sim.events(), []);
    sim.feed(Packet::PubAck(PubAck::new(1)));
    assert_eq!(sim.events(), [outcome(id, PublishOutcome::Acked)]);
    assert_eq!(sim.s.unacked_publishes(), 0);
    sim.feed(Packet::PubAck(PubAck::new(1)));
    assert_eq!(sim.events(), [], "a duplicate PUBACK is ignored");
}

#[test]
fn qos2_publish_completes_pubrec_pubrel_pubcomp_and_is_acked() {
    let mut sim = Sim::online(opts(), false);
    let id = sim
        .publish("t", b"2".to_vec(), QoS::ExactlyOnce, false, 0)
        .unwrap();
    assert_eq!(
        sim.out(),
        [Out::Packet(publish("t", QoS::ExactlyOnce, 1, b"2"))]
    );
    sim.feed(Packet::PubAck(PubAck::new(1)));
    assert_eq!(sim.events(), [], "PUBACK is not the QoS 2 answer");
    sim.feed(Packet::PubRec(PubRec::new(1)));
    assert_eq!(sim.out(), [Out::Packet(Packet::PubRel(PubRel::new(1)))]);
    assert_eq!(sim.events(), []);
    sim.feed(Packet::PubRec(PubRec::new(1)));
    assert_eq!(
        sim.out(),
        [Out::Packet(Packet::PubRel(PubRel::new(1)))],
        "a repeated PUBREC gets PUBREL again"
    );
    sim.feed(Packet::PubComp(PubComp::new(1)));
    assert_eq!(sim.events(), [outcome(id, PublishOutcome::Acked)]);
    assert_eq!(sim.out(), []);
}

#[test]
fn incoming_qos0_and_qos1_are_delivered_and_qos1_is_pubacked() {
    let mut sim = Sim::online(opts(), false);
    sim.feed(publish("a/0", QoS::AtMostOnce, 0, b"zero"));
    sim.feed(publish("a/1", QoS::AtLeastOnce, 9, b"one"));
    assert_eq!(sim.out(), [Out::Packet(Packet::PubAck(PubAck::new(9)))]);
    assert_eq!(
        sim.events(),
        [
            message("a/0", b"zero", QoS::AtMostOnce),
            message("a/1", b"one", QoS::AtLeastOnce)
        ]
    );
    let Packet::Publish(mut retained) = publish("dev/x/status", QoS::AtMostOnce, 0, b"online")
    else {
        unreachable!()
    };
    retained.retain = true;
    sim.feed(Packet::Publish(retained));
    assert_eq!(
        sim.events(),
        [Event::Message(Message {
            topic: "dev/x/status".into(),
            payload: b"online".to_vec(),
            qos: QoS::AtMostOnce,
            retain: true,
            dup: false,
            properties: None,
        })]
    );
}

#[test]
fn qos2_incoming_duplicate_before_pubrel_is_delivered_once() {
    let mut sim = Sim::online(opts(), false);
    sim.feed(publish("q2", QoS::ExactlyOnce, 7, b"once"));
    assert_eq!(sim.out(), [Out::Packet(Packet::PubRec(PubRec::new(7)))]);
    assert_eq!(sim.events(), [message("q2", b"once", QoS::ExactlyOnce)]);
    sim.feed(publish_dup("q2", QoS::ExactlyOnce, 7, b"once"));
    assert_eq!(sim.out(), [Out::Packet(Packet::PubRec(PubRec::new(7)))]);
    assert_eq!(sim.events(), [], "not delivered twice");
    sim.feed(Packet::PubRel(PubRel::new(7)));
    assert_eq!(sim.out(), [Out::Packet(Packet::PubComp(PubComp::new(7)))]);
    // After PUBREL the id is free: a new message with it is new.
    sim.feed(publish("q2", QoS::ExactlyOnce, 7, b"again"));
    assert_eq!(sim.events(), [message("q2", b"again", QoS::ExactlyOnce)]);
}

#[test]
fn qos2_incoming_ids_survive_a_reconnect_with_session_present() {
    let mut sim = Sim::online(persistent(), false);
    sim.feed(publish("q2", QoS::ExactlyOnce, 3, b"x"));
    sim.out();
    sim.events();
    sim.reconnect(true);
    sim.feed(publish_dup("q2", QoS::ExactlyOnce, 3, b"x"));
    assert_eq!(sim.out(), [Out::Packet(Packet::PubRec(PubRec::new(3)))]);
    assert_eq!(
        sim.events(),
        [],
        "redelivery after reconnect not shown twice"
    );
    // Without a session the broker starts over: the same id is a new message.
    sim.reconnect(false);
    sim.feed(publish("q2", QoS::ExactlyOnce, 3, b"y"));
    assert_eq!(sim.events(), [message("q2", b"y", QoS::ExactlyOnce)]);
}

/// A user `connect` with `options`, then open and CONNACK; returns what was sent after it.
fn user_reconnect(sim: &mut Sim, options: ConnectOptions, session_present: bool) -> Vec<Out> {
    sim.s.connect(options, sim.now).unwrap();
    sim.out();
    sim.s.handle_open(sim.now);
    assert!(matches!(sim.out()[..], [Out::Packet(Packet::Connect(_))]));
    sim.feed(connack(session_present));
    sim.out()
}

#[test]
fn another_client_id_leaves_the_old_sessions_inflight_state_behind() {
    let mut sim = Sim::online(persistent(), false);
    // Inbound QoS 2 id 7 awaits PUBREL; an outbound QoS 1 publish awaits PUBACK.
    sim.feed(publish("in", QoS::ExactlyOnce, 7, b"old"));
    let id = sim
        .publish("out", b"1".to_vec(), QoS::AtLeastOnce, false, 0)
        .unwrap();
    sim.out();
    sim.events();
    let other = ConnectOptions {
        client_id: "web-2".into(),
        ..persistent()
    };
    // Even a broker that says it has a session for the new id gets nothing of the old one.
    let out = user_reconnect(&mut sim, other, true);
    assert!(
        !out.iter()
            .any(|o| matches!(o, Out::Packet(Packet::Publish(_)))),
        "the old client's publish is not re-sent into the new session: {out:?}"
    );
    let events = sim.events();
    assert!(
        events.contains(&outcome(
            id,
            PublishOutcome::Failed(PublishFailure::SessionLeft)
        )),
        "{events:?}"
    );
    // A new QoS 2 PUBLISH reusing id 7 is a new message: shown and PUBREC'd.
    sim.feed(publish("in", QoS::ExactlyOnce, 7, b"new"));
    assert_eq!(sim.out(), [Out::Packet(Packet::PubRec(PubRec::new(7)))]);
    assert_eq!(sim.events(), [message("in", b"new", QoS::ExactlyOnce)]);
    assert_eq!(sim.s.unacked_publishes(), 0, "its packet id was freed");
}

#[test]
fn the_same_client_id_reconnecting_keeps_its_inflight_state() {
    let mut sim = Sim::online(persistent(), false);
    sim.feed(publish("in", QoS::ExactlyOnce, 7, b"old"));
    sim.publish("out", b"1".to_vec(), QoS::AtLeastOnce, false, 0)
        .unwrap();
    sim.out();
    sim.events();
    let out = user_reconnect(&mut sim, persistent(), true);
    assert_eq!(
        out,
        [Out::Packet(publish_dup("out", QoS::AtLeastOnce, 1, b"1"))]
    );
    sim.events();
    sim.feed(publish_dup("in", QoS::ExactlyOnce, 7, b"old"));
    assert_eq!(sim.events(), [], "still the same message, not shown twice");
}

#[test]
fn a_failover_move_forgets_incoming_ids_and_resends_unacked_publishes_as_new() {
    let mut sim = Sim::online(persistent(), false);
    sim.feed(publish("in", QoS::ExactlyOnce, 7, b"old"));
    let id = sim
        .publish("out", b"1".to_vec(), QoS::AtLeastOnce, false, 0)
        .unwrap();
    sim.out();
    sim.events();
    sim.closed();
    sim.s.broker_moved();
    // The new broker happens to hold a session for us: still none of the old broker's ids.
    let (out, _) = sim.reconnect(true);
    assert_eq!(
        out,
        [Out::Packet(publish("out", QoS::AtLeastOnce, 1, b"1"))],
        "DUP=0: the new broker never saw it"
    );
    sim.feed(publish("in", QoS::ExactlyOnce, 7, b"new"));
    assert_eq!(sim.events(), [message("in", b"new", QoS::ExactlyOnce)]);
    sim.feed(Packet::PubAck(PubAck::new(1)));
    assert_eq!(sim.events(), [outcome(id, PublishOutcome::Acked)]);
    // Only that one CONNACK counts as fresh: the next reconnect to the same broker resends
    // with DUP as usual.
    sim.publish("out", b"2".to_vec(), QoS::AtLeastOnce, false, sim.now)
        .unwrap();
    sim.out();
    let (out, _) = sim.reconnect(true);
    assert_eq!(
        out,
        [Out::Packet(publish_dup("out", QoS::AtLeastOnce, 2, b"2"))]
    );
}

#[test]
fn a_failover_move_starts_the_backoff_over() {
    let mut sim = Sim::online(opts(), false);
    let mut attempts = Vec::new();
    for round in 0..4 {
        if round == 3 {
            sim.s.broker_moved();
        }
        sim.closed();
        for e in sim.events() {
            if let Event::ReconnectScheduled { attempt, .. } = e {
                attempts.push(attempt);
            }
        }
        let at = sim.s.poll_timeout().unwrap();
        sim.advance_to(at);
        sim.out();
    }
    assert_eq!(attempts, [1, 2, 3, 1]);
}

#[test]
fn a_publish_the_broker_closes_the_link_on_fails_after_three_times_instead_of_looping() {
    // Some brokers (aedes for `$SYS/…`) close the connection instead of acking a publish.
    let mut sim = Sim::online(opts(), false);
    let bad = sim
        .publish("$SYS/probe", b"x".to_vec(), QoS::AtLeastOnce, false, 0)
        .unwrap();
    sim.out();
    sim.closed();
    let mut failed = Vec::new();
    // Sent three times in all: once, then again after each of the first two closes.
    for round in 1..=2 {
        let (out, events) = sim.reconnect(false);
        failed.extend(events);
        assert_eq!(
            out,
            [Out::Packet(publish(
                "$SYS/probe",
                QoS::AtLeastOnce,
                1,
                b"x"
            ))],
            "round {round}"
        );
        sim.closed();
        failed.extend(sim.events());
    }
    let expected = outcome(
        bad,
        PublishOutcome::Failed(PublishFailure::ClosedByBroker { times: 3 }),
    );
    assert_eq!(
        failed.iter().filter(|e| **e == expected).count(),
        1,
        "{failed:?}"
    );
    let (out, _) = sim.reconnect(false);
    assert_eq!(out, [], "not sent a fourth time");
    assert_eq!(sim.s.unacked_publishes(), 0);
}

#[test]
fn a_close_after_the_broker_answered_something_blames_no_publish() {
    let mut sim = Sim::online(opts(), false);
    let id = sim
        .publish("ok", b"x".to_vec(), QoS::AtLeastOnce, false, 0)
        .unwrap();
    sim.out();
    for _ in 0..5 {
        // The broker answers (a PINGRESP here) before the link drops: not the publish's fault.
        sim.feed(Packet::PingResp);
        sim.closed();
        sim.events();
        sim.reconnect(false);
    }
    assert_eq!(sim.s.unacked_publishes(), 1, "still waiting for its ack");
    sim.feed(Packet::PubAck(PubAck::new(1)));
    assert!(sim.events().contains(&outcome(id, PublishOutcome::Acked)));
}

#[test]
fn pubrel_for_an_unknown_id_is_still_answered_with_pubcomp() {
    let mut sim = Sim::online(opts(), false);
    sim.feed(Packet::PubRel(PubRel::new(42)));
    assert_eq!(sim.out(), [Out::Packet(Packet::PubComp(PubComp::new(42)))]);
    assert_eq!(sim.events(), []);
}

#[test]
fn stray_acks_are_ignored() {
    let mut sim = Sim::online(opts(), false);
    sim.feed(Packet::PubAck(PubAck::new(5)));
    sim.feed(Packet::PubRec(PubRec::new(6)));
    sim.feed(Packet::PubComp(PubComp::new(7)));
    sim.feed(granted(8, QoS::AtMostOnce));
    sim.feed(Packet::UnsubAck(UnsubAck::new(9)));
    assert_eq!(sim.out(), []);
    assert_eq!(sim.events(), []);
    assert_eq!(sim.s.state(), ConnectionState::Connected);
}

#[test]
fn packet_ids_are_shared_by_publish_subscribe_and_unsubscribe() {
    let mut sim = Sim::online(opts(), false);
    sim.publish("t", vec![], QoS::AtLeastOnce, false, 0)
        .unwrap();
    sim.s.subscribe("s", QoS::AtMostOnce, 0).unwrap();
    sim.s.unsubscribe("u", 0).unwrap();
    sim.publish("t", vec![], QoS::ExactlyOnce, false, 0)
        .unwrap();
    sim.publish("t", vec![], QoS::AtMostOnce, false, 0).unwrap();
    assert_eq!(
        sim.out(),
        [
            Out::Packet(publish("t", QoS::AtLeastOnce, 1, b"")),
            Out::Packet(subscribe(2, "s", QoS::AtMostOnce)),
            Out::Packet(unsubscribe(3, "u")),
            Out::Packet(publish("t", QoS::ExactlyOnce, 4, b"")),
            Out::Packet(publish("t", QoS::AtMostOnce, 0, b"")),
        ]
    );
}

#[test]
fn packet_ids_wrap_from_65535_to_1_skipping_ids_in_flight() {
    let mut sim = Sim::online(
        ConnectOptions {
            keepalive_secs: 0,
            ..opts()
        },
        false,
    );
    sim.publish("held", vec![], QoS::AtLeastOnce, false, 0)
        .unwrap(); // id 1, never acked
    sim.s.subscribe("s", QoS::AtMostOnce, 0).unwrap(); // id 2
    sim.publish("held", vec![], QoS::ExactlyOnce, false, 0)
        .unwrap(); // id 3, never acked
    sim.feed(granted(2, QoS::AtMostOnce)); // frees 2
    sim.out();
    sim.events();
    for pkid in 4..=65_535u16 {
        sim.publish("t", vec![], QoS::AtLeastOnce, false, 0)
            .unwrap();
        let Some(Transmit::Bytes(bytes)) = sim.s.poll_transmit() else {
            panic!("no publish for {pkid}")
        };
        assert_eq!(&bytes[bytes.len() - 2..], &pkid.to_be_bytes(), "in order");
        sim.feed_raw(&[0x40, 0x02, (pkid >> 8) as u8, pkid as u8]);
    }
    sim.events();
    assert_eq!(sim.out(), []);
    sim.s.subscribe("s2", QoS::AtMostOnce, 0).unwrap();
    sim.publish("t", vec![], QoS::AtLeastOnce, false, 0)
        .unwrap();
    assert_eq!(
        sim.out(),
        [
            Out::Packet(subscribe(2, "s2", QoS::AtMostOnce)),
            Out::Packet(publish("t", QoS::AtLeastOnce, 4, b"")),
        ],
        "after 65535 comes 1 (in flight, skipped), then 2; 3 is skipped too"
    );
}

#[test]
fn all_ids_in_flight_holds_publishes_until_an_ack_frees_one() {
    let mut sim = Sim::with(SessionConfig {
        outbox_capacity: 10,
        ..config()
    });
    sim.s
        .connect(
            ConnectOptions {
                keepalive_secs: 0,
                ..opts()
            },
            0,
        )
        .unwrap();
    sim.s.handle_open(0);
    sim.feed(connack(false));
    sim.out();
    for _ in 1..=65_535u32 {
        sim.publish("t", vec![], QoS::AtLeastOnce, false, 0)
            .unwrap();
        while sim.s.poll_transmit().is_some() {}
    }
    sim.events();
    let id = sim
        .publish("t", vec![], QoS::AtLeastOnce, false, 0)
        .unwrap();
    assert_eq!(sim.out(), []);
    assert_eq!(sim.events(), [outcome(id, PublishOutcome::Queued)]);
    sim.feed(Packet::PubAck(PubAck::new(500)));
    assert_eq!(
        sim.out(),
        [Out::Packet(publish("t", QoS::AtLeastOnce, 500, b""))]
    );
}

#[test]
fn unacked_publish_resent_with_dup_and_same_id_when_clean_session_off() {
    let mut sim = Sim::online(persistent(), false);
    let a = sim
        .publish("a", b"1".to_vec(), QoS::AtLeastOnce, false, 0)
        .unwrap();
    let b = sim
        .publish("b", b"2".to_vec(), QoS::ExactlyOnce, true, 0)
        .unwrap();
    sim.out();
    let (out, _) = sim.reconnect(true);
    let Packet::Publish(mut b_dup) = publish_dup("b", QoS::ExactlyOnce, 2, b"2") else {
        unreachable!()
    };
    b_dup.retain = true;
    assert_eq!(
        out,
        [
            Out::Packet(publish_dup("a", QoS::AtLeastOnce, 1, b"1")),
            Out::Packet(Packet::Publish(b_dup)),
        ]
    );
    sim.feed(Packet::PubAck(PubAck::new(1)));
    sim.feed(Packet::PubRec(PubRec::new(2)));
    sim.feed(Packet::PubComp(PubComp::new(2)));
    assert_eq!(
        sim.events(),
        [
            outcome(a, PublishOutcome::Acked),
            outcome(b, PublishOutcome::Acked)
        ]
    );
}

#[test]
fn pubrecd_message_resends_pubrel_not_publish() {
    let mut sim = Sim::online(persistent(), false);
    let id = sim
        .publish("a", b"x".to_vec(), QoS::ExactlyOnce, false, 0)
        .unwrap();
    sim.feed(Packet::PubRec(PubRec::new(1)));
    assert_eq!(
        sim.out(),
        [
            Out::Packet(publish("a", QoS::ExactlyOnce, 1, b"x")),
            Out::Packet(Packet::PubRel(PubRel::new(1)))
        ]
    );
    let (out, _) = sim.reconnect(true);
    assert_eq!(out, [Out::Packet(Packet::PubRel(PubRel::new(1)))]);
    sim.feed(Packet::PubComp(PubComp::new(1)));
    assert_eq!(sim.events(), [outcome(id, PublishOutcome::Acked)]);
}

#[test]
fn inflight_publishes_resent_as_new_after_reconnect_with_clean_session() {
    let mut sim = Sim::online(opts(), false);
    let a = sim
        .publish("a", b"1".to_vec(), QoS::AtLeastOnce, false, 0)
        .unwrap();
    let b = sim
        .publish("b", b"2".to_vec(), QoS::ExactlyOnce, false, 0)
        .unwrap();
    sim.feed(Packet::PubRec(PubRec::new(2)));
    sim.out();
    let (out, _) = sim.reconnect(false);
    assert_eq!(
        out,
        [
            Out::Packet(publish("a", QoS::AtLeastOnce, 1, b"1")),
            Out::Packet(publish("b", QoS::ExactlyOnce, 2, b"2")),
        ],
        "DUP=0: the new session never saw them"
    );
    sim.feed(Packet::PubAck(PubAck::new(1)));
    sim.feed(Packet::PubRec(PubRec::new(2)));
    assert_eq!(sim.out(), [Out::Packet(Packet::PubRel(PubRel::new(2)))]);
    sim.feed(Packet::PubComp(PubComp::new(2)));
    assert_eq!(
        sim.events(),
        [
            outcome(a, PublishOutcome::Acked),
            outcome(b, PublishOutcome::Acked)
        ]
    );
}

#[test]
fn user_disconnect_keeps_unacked_publishes_only_for_a_persistent_session() {
    let mut sim = Sim::online(opts(), false);
    let id = sim
        .publish("a", vec![], QoS::AtLeastOnce, false, 0)
        .unwrap();
    sim.s.disconnect(1);
    let events = sim.events();
    let Some(Event::Publish {
        id: failed,
        outcome: PublishOutcome::Failed(why),
    }) = events.last()
    else {
        panic!("{events:?}")
    };
    assert_eq!(*failed, id);
    assert!(why.to_string().contains("disconnected"), "{why}");
    assert_eq!(sim.s.unacked_publishes(), 0);

    let mut sim = Sim::online(persistent(), false);
    sim.publish("a", vec![], QoS::AtLeastOnce, false, 0)
        .unwrap();
    sim.s.disconnect(1);
    sim.out();
    assert!(!sim
        .events()
        .iter()
        .any(|e| matches!(e, Event::Publish { .. })));
    sim.s.connect(persistent(), 2).unwrap();
    sim.s.handle_open(2);
    sim.out();
    sim.feed(connack(true));
    assert_eq!(
        sim.out(),
        [Out::Packet(publish_dup("a", QoS::AtLeastOnce, 1, b""))]
    );
}

// ---------------------------------------------------------------- 6. outbox

#[test]
fn offline_publishes_are_queued_and_sent_in_order_after_resubscribe() {
    let mut sim = Sim::new();
    sim.s.connect(opts(), 0).unwrap();
    sim.s.subscribe("cmd/#", QoS::AtLeastOnce, 0).unwrap();
    let p1 = sim
        .publish("x", b"1".to_vec(), QoS::AtMostOnce, false, 0)
        .unwrap();
    let p2 = sim
        .publish("y", b"2".to_vec(), QoS::AtLeastOnce, false, 0)
        .unwrap();
    let p3 = sim
        .publish("z", b"3".to_vec(), QoS::AtMostOnce, false, 0)
        .unwrap();
    assert_eq!(sim.out(), [Out::Open]);
    assert_eq!(
        sim.events(),
        [
            Event::State(ConnectionState::Connecting),
            outcome(p1, PublishOutcome::Queued),
            outcome(p2, PublishOutcome::Queued),
            outcome(p3, PublishOutcome::Queued),
        ]
    );
    assert_eq!(sim.s.queued_publishes(), 3);
    sim.s.handle_open(0);
    sim.out();
    sim.feed(connack(false));
    assert_eq!(
        sim.out(),
        [
            Out::Packet(subscribe(1, "cmd/#", QoS::AtLeastOnce)),
            Out::Packet(publish("x", QoS::AtMostOnce, 0, b"1")),
            Out::Packet(publish("y", QoS::AtLeastOnce, 2, b"2")),
            Out::Packet(publish("z", QoS::AtMostOnce, 0, b"3")),
        ]
    );
    assert_eq!(
        sim.events()[2..],
        [
            requested("cmd/#", QoS::AtLeastOnce),
            outcome(p1, PublishOutcome::Sent),
            outcome(p3, PublishOutcome::Sent),
        ]
    );
    sim.feed(Packet::PubAck(PubAck::new(2)));
    assert_eq!(sim.events(), [outcome(p2, PublishOutcome::Acked)]);
    assert_eq!(sim.s.queued_publishes(), 0);
}

#[test]
fn outbox_expired_entries_reported_failed() {
    let mut sim = Sim::with(SessionConfig {
        connack_timeout_ms: 1_000_000,
        ..config()
    });
    sim.s.connect(opts(), 0).unwrap(); // never opens in this test
    let old = sim
        .publish("a", vec![], QoS::AtLeastOnce, false, 100)
        .unwrap();
    let new = sim
        .publish("b", vec![], QoS::AtMostOnce, false, 30_000)
        .unwrap();
    sim.events();
    assert_eq!(sim.s.poll_timeout(), Some(60_100), "the first expiry");
    sim.advance_to(60_100);
    assert_eq!(
        sim.events(),
        [outcome(
            old,
            PublishOutcome::Failed(PublishFailure::Expired { after_ms: 60_000 })
        )]
    );
    assert_eq!(sim.s.poll_timeout(), Some(90_000));
    // Also checked on connect-side inputs, not only on the timer.
    sim.now = 95_000;
    sim.s.handle_open(95_000);
    assert_eq!(
        sim.events(),
        [outcome(
            new,
            PublishOutcome::Failed(PublishFailure::Expired { after_ms: 60_000 })
        )]
    );
    sim.feed(connack(false));
    let out = sim.out();
    assert!(
        !out.iter()
            .any(|o| matches!(o, Out::Packet(Packet::Publish(_)))),
        "{out:?}"
    );
}

#[test]
fn outbox_full_refuses_the_new_publish_with_failed() {
    let mut sim = Sim::new();
    sim.s.connect(opts(), 0).unwrap();
    sim.events();
    let ids: Vec<_> = (0..4)
        .map(|i| {
            sim.publish("t", vec![i], QoS::AtMostOnce, false, 0)
                .unwrap()
        })
        .collect();
    let events = sim.events();
    assert_eq!(
        events,
        [
            outcome(ids[0], PublishOutcome::Queued),
            outcome(ids[1], PublishOutcome::Queued),
            outcome(ids[2], PublishOutcome::Queued),
            outcome(
                ids[3],
                PublishOutcome::Failed(PublishFailure::OutboxFull { waiting: 3 })
            ),
        ]
    );
    sim.s.handle_open(0);
    sim.out();
    sim.feed(connack(false));
    let sent: Vec<_> = sim
        .out()
        .into_iter()
        .map(|o| match o {
            Out::Packet(Packet::Publish(p)) => p.payload[0],
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sent, [0, 1, 2], "the oldest are kept, in order");
}

#[test]
fn poll_timeout_includes_the_next_outbox_expiry() {
    let mut sim = Sim::with(SessionConfig {
        outbox_expiry_ms: 50,
        backoff_base_ms: 100_000,
        backoff_cap_ms: 100_000,
        ..config()
    });
    sim.s.connect(opts(), 0).unwrap();
    sim.closed();
    let delay = Sim::delay_of(&sim.events());
    assert!(delay > 1_000, "seed gives a long first delay: {delay}");
    assert_eq!(sim.s.poll_timeout(), Some(delay));
    let id = sim
        .publish("t", vec![], QoS::AtMostOnce, false, 10)
        .unwrap();
    assert_eq!(sim.s.poll_timeout(), Some(60));
    sim.advance_to(60);
    assert_eq!(
        sim.events()[1..],
        [outcome(
            id,
            PublishOutcome::Failed(PublishFailure::Expired { after_ms: 50 })
        )]
    );
    assert_eq!(sim.s.poll_timeout(), Some(delay));
}

#[test]
fn user_disconnect_fails_queued_publishes() {
    let mut sim = Sim::new();
    sim.s.connect(opts(), 0).unwrap();
    let id = sim
        .publish("t", vec![], QoS::AtLeastOnce, false, 0)
        .unwrap();
    sim.events();
    sim.s.disconnect(5);
    assert_eq!(sim.out(), [Out::Open, Out::Close]);
    assert_eq!(
        sim.events(),
        [
            Event::ConnectionLost(DisconnectReason::User),
            Event::State(ConnectionState::Disconnected),
            outcome(
                id,
                PublishOutcome::Failed(PublishFailure::DisconnectedBeforeSent)
            ),
        ]
    );
    assert_eq!(sim.s.poll_timeout(), None);
}

// ---------------------------------------------------------------- 7. validation

#[test]
fn publish_with_invalid_topic_is_refused_before_anything_is_sent() {
    let mut sim = Sim::online(opts(), false);
    for (topic, needle) in [
        ("a/+", "wildcards"),
        ("a/#", "wildcards"),
        ("", "empty"),
        ("a\0b", "NUL"),
    ] {
        let err = sim
            .publish(topic, b"x".to_vec(), QoS::AtLeastOnce, false, 0)
            .unwrap_err();
        assert!(
            matches!(&err, CommandError::InvalidTopic(why) if why.contains(needle)),
            "{topic:?}: {err:?}"
        );
    }
    let long = "t".repeat(65_536);
    assert!(matches!(
        sim.publish(&long, vec![], QoS::AtMostOnce, false, 0),
        Err(CommandError::InvalidTopic(_))
    ));
    assert_eq!(sim.out(), []);
    assert_eq!(sim.events(), []);
}

#[test]
fn subscribe_and_unsubscribe_with_invalid_filters_are_refused() {
    let mut sim = Sim::online(opts(), false);
    assert_eq!(
        sim.s.subscribe("a/#/b", QoS::AtMostOnce, 0),
        Err(CommandError::InvalidFilter(
            "'#' must be the last level (e.g. 'a/b/#')".into()
        ))
    );
    for bad in ["a+", "a/b+/c", "a#", "", "x\0"] {
        assert!(
            matches!(
                sim.s.subscribe(bad, QoS::AtMostOnce, 0),
                Err(CommandError::InvalidFilter(_))
            ),
            "{bad:?}"
        );
        assert!(matches!(
            sim.s.unsubscribe(bad, 0),
            Err(CommandError::InvalidFilter(_))
        ));
    }
    assert_eq!(sim.out(), []);
    assert_eq!(sim.events(), []);
    assert_eq!(sim.s.subscriptions(), []);
}

#[test]
fn oversize_publish_is_refused_as_payload_too_large() {
    let mut sim = Sim::online(opts(), false);
    // max_outgoing_packet 4096: 1 + 2 (length) + 2 + 1 (topic "t") + payload.
    assert!(sim
        .publish("t", vec![0; 4_090], QoS::AtMostOnce, false, 0)
        .is_ok());
    assert_eq!(sim.out().len(), 1);
    assert_eq!(
        sim.publish("t", vec![0; 4_091], QoS::AtMostOnce, false, 0),
        Err(CommandError::PayloadTooLarge {
            size: 4_091,
            max: 4_096
        })
    );
    assert_eq!(
        sim.publish("t", vec![0; 4_090], QoS::AtLeastOnce, false, 0),
        Err(CommandError::PayloadTooLarge {
            size: 4_090,
            max: 4_096
        }),
        "the packet id counts too"
    );
    assert_eq!(sim.out(), []);
    sim.events();
    assert_eq!(sim.events(), []);
}

// ---------------------------------------------------------------- 8. bad input

fn sample_broker_stream() -> Vec<u8> {
    let mut bytes = encode(&connack(false)).unwrap();
    for p in [
        publish("a/1", QoS::AtLeastOnce, 1, b"one"),
        publish("é/ü", QoS::ExactlyOnce, 2, "日本".as_bytes()),
        publish("a/0", QoS::AtMostOnce, 0, &[0; 300]),
        Packet::PubRel(PubRel::new(2)),
        Packet::PingResp,
        publish_dup("é/ü", QoS::ExactlyOnce, 2, b"again"),
    ] {
        bytes.extend(encode(&p).unwrap());
    }
    bytes
}

/// Feed `bytes` after CONNECT in the given pieces; everything that came out.
fn run_pieces(bytes: &[u8], cuts: &[usize]) -> (Vec<Transmit>, Vec<Event>) {
    let mut s = Session::new(config());
    s.connect(opts(), 0).unwrap();
    s.subscribe("a/+", QoS::AtLeastOnce, 0).unwrap();
    s.subscribe("é/#", QoS::ExactlyOnce, 0).unwrap();
    s.publish(
        PublishId(1),
        "out/1",
        b"q1".to_vec(),
        QoS::AtLeastOnce,
        false,
        0,
    )
    .unwrap();
    s.publish(
        PublishId(2),
        "out/2",
        b"q2".to_vec(),
        QoS::ExactlyOnce,
        false,
        0,
    )
    .unwrap();
    s.handle_open(0);
    let mut start = 0;
    for &cut in cuts.iter().chain([bytes.len()].iter()) {
        let cut = cut.clamp(start, bytes.len());
        s.handle_bytes(&bytes[start..cut], 0);
        start = cut;
    }
    let transmits = std::iter::from_fn(|| s.poll_transmit()).collect();
    let events = std::iter::from_fn(|| s.poll_event()).collect();
    (transmits, events)
}

#[test]
fn bytes_split_anywhere_or_coalesced_give_the_same_result() {
    let bytes = sample_broker_stream();
    let whole = run_pieces(&bytes, &[]);
    assert!(!whole
        .1
        .iter()
        .any(|e| matches!(e, Event::ConnectionLost(_))));
    let messages = whole
        .1
        .iter()
        .filter(|e| matches!(e, Event::Message(_)))
        .count();
    assert_eq!(messages, 4, "the PUBREL freed id 2, so the last one is new");
    for cut in 0..=bytes.len() {
        assert_eq!(run_pieces(&bytes, &[cut]), whole, "cut at {cut}");
    }
    let every: Vec<usize> = (1..bytes.len()).collect();
    assert_eq!(run_pieces(&bytes, &every), whole, "byte by byte");
}

#[test]
fn qos3_publish_is_a_protocol_error_that_closes_and_reconnects() {
    let mut sim = Sim::online(opts(), false);
    sim.feed_raw(&[0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01]);
    let e = protocol_lost(&mut sim);
    assert_eq!(e, ProtocolError::Malformed("PUBLISH with QoS 3".into()));
    assert_eq!(
        DisconnectReason::Protocol(e).to_string(),
        "malformed packet from broker: PUBLISH with QoS 3"
    );
}

#[test]
fn five_byte_remaining_length_closes_the_connection() {
    let mut sim = Sim::online(opts(), false);
    sim.feed_raw(&[0x30, 0x80, 0x80, 0x80]);
    assert_eq!(sim.out(), [], "partial header: wait");
    sim.feed_raw(&[0x80, 0x01]);
    assert_eq!(
        protocol_lost(&mut sim),
        ProtocolError::Malformed("remaining length longer than 4 bytes".into())
    );
}

#[test]
fn oversized_incoming_packet_is_refused_from_its_header() {
    let mut sim = Sim::online(opts(), false);
    // A 200 MB PUBLISH announced in one frame with a 1 MB body: refused at the header.
    let mut frame = vec![0x30];
    let mut len = 200_000_000usize;
    while len > 0 {
        let more = if len >= 128 { 0x80 } else { 0 };
        frame.push((len % 128) as u8 | more);
        len /= 128;
    }
    frame.extend(std::iter::repeat_n(0u8, 1 << 20));
    sim.feed_raw(&frame);
    assert_eq!(
        protocol_lost(&mut sim),
        ProtocolError::PacketTooLarge {
            size: 200_000_005,
            max: 4_096
        }
    );
}

#[test]
fn broker_sending_a_client_only_packet_is_unexpected() {
    for (packet, name) in [
        (subscribe(1, "a", QoS::AtMostOnce), "SUBSCRIBE"),
        (unsubscribe(1, "a"), "UNSUBSCRIBE"),
        (Packet::PingReq, "PINGREQ"),
        (Packet::Disconnect, "DISCONNECT"),
        (Packet::Connect(Connect::new("x")), "CONNECT"),
    ] {
        let mut sim = Sim::online(opts(), false);
        sim.feed(packet);
        let e = protocol_lost(&mut sim);
        assert!(
            matches!(&e, ProtocolError::Unexpected(what) if what.starts_with(name)),
            "{e:?}"
        );
    }
}

#[test]
fn packet_before_connack_is_unexpected() {
    let mut sim = Sim::new();
    sim.s.connect(opts(), 0).unwrap();
    sim.s.handle_open(0);
    sim.out();
    sim.events();
    sim.feed(publish("a", QoS::AtMostOnce, 0, b"early"));
    assert_eq!(
        protocol_lost(&mut sim),
        ProtocolError::Unexpected("PUBLISH before CONNACK".into())
    );
}

#[test]
fn second_connack_is_unexpected() {
    let mut sim = Sim::online(opts(), false);
    sim.feed(connack(false));
    assert_eq!(
        protocol_lost(&mut sim),
        ProtocolError::Unexpected("a second CONNACK".into())
    );
}

#[test]
fn bad_utf8_topic_is_malformed() {
    let mut sim = Sim::online(opts(), false);
    sim.feed_raw(&[0x30, 0x04, 0x00, 0x02, 0xC3, 0x28]);
    assert_eq!(
        protocol_lost(&mut sim),
        ProtocolError::Malformed("PUBLISH: a string is not valid UTF-8".into())
    );
}

#[test]
fn text_frame_is_a_protocol_error() {
    let mut sim = Sim::online(opts(), false);
    sim.s.handle_text_frame(0);
    assert_eq!(protocol_lost(&mut sim), ProtocolError::TextFrame);
}

#[test]
fn bytes_after_a_protocol_error_in_the_same_frame_are_dropped() {
    let mut sim = Sim::online(opts(), false);
    let mut frame = vec![0x00, 0x00]; // reserved type 0
    frame.extend(encode(&publish("a", QoS::AtMostOnce, 0, b"late")).unwrap());
    sim.feed_raw(&frame);
    protocol_lost(&mut sim);
    assert_eq!(sim.events(), []);
}

// ---------------------------------------------------------------- properties

fn arb_qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn arb_broker_packet() -> impl Strategy<Value = Packet> {
    let topic = prop::sample::select(vec!["a/1", "a/2", "é/ü", "日本/東京", "$SYS/x", "/"]);
    prop_oneof![
        4 => (topic, arb_qos(), 1u16..6, prop::collection::vec(any::<u8>(), 0..40), any::<bool>(), any::<bool>())
            .prop_map(|(t, q, pkid, payload, retain, dup)| {
                let mut p = Publish::new(t, mq(q), payload);
                p.pkid = if q == QoS::AtMostOnce { 0 } else { pkid };
                p.retain = retain;
                p.dup = dup && q != QoS::AtMostOnce;
                Packet::Publish(p)
            }),
        1 => (1u16..4, prop_oneof![arb_qos().prop_map(Some), Just(None)]).prop_map(|(pkid, q)| {
            let code = match q {
                Some(q) => SubscribeReasonCode::Success(mq(q)),
                None => SubscribeReasonCode::Failure,
            };
            Packet::SubAck(SubAck::new(pkid, vec![code]))
        }),
        1 => (1u16..6).prop_map(|p| Packet::PubAck(PubAck::new(p))),
        1 => (1u16..6).prop_map(|p| Packet::PubRec(PubRec::new(p))),
        1 => (1u16..6).prop_map(|p| Packet::PubRel(PubRel::new(p))),
        1 => (1u16..6).prop_map(|p| Packet::PubComp(PubComp::new(p))),
        1 => (1u16..6).prop_map(|p| Packet::UnsubAck(UnsubAck::new(p))),
        1 => Just(Packet::PingResp),
    ]
}

/// Splits: `(offsets, label)`.
fn random_cuts(len: usize, seeds: &[usize]) -> Vec<usize> {
    let mut cuts: Vec<usize> = seeds.iter().map(|s| s % (len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

/// Count transmitted Close and lost links; check every loss is a protocol error (or a
/// refusal, when random bytes happen to form a refusing CONNACK).
fn check_losses(transmits: &[Transmit], events: &[Event], allow_refused: bool) -> usize {
    let closes = transmits.iter().filter(|t| **t == Transmit::Close).count();
    let mut losses = 0;
    for e in events {
        if let Event::ConnectionLost(reason) = e {
            losses += 1;
            let ok = matches!(reason, DisconnectReason::Protocol(_))
                || (allow_refused && matches!(reason, DisconnectReason::Refused(_)));
            assert!(ok, "unexpected loss {reason:?}");
        }
    }
    assert_eq!(closes, losses, "every loss closes the link exactly once");
    assert!(losses <= 1, "nothing is processed after a loss");
    losses
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(64) })]

    #[test]
    fn same_events_for_any_split_of_a_valid_broker_stream(
        session_present in any::<bool>(),
        packets in prop::collection::vec(arb_broker_packet(), 0..14),
        chunk_seeds in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut bytes = encode(&connack(session_present)).unwrap();
        for p in &packets {
            bytes.extend(encode(p).unwrap());
        }
        let whole = run_pieces(&bytes, &[]);
        prop_assert!(!whole.1.iter().any(|e| matches!(e, Event::ConnectionLost(_))), "{:?}", whole.1);
        let delivered = whole.1.iter().filter(|e| matches!(e, Event::Message(_))).count();
        let sent = packets.iter().filter(|p| matches!(p, Packet::Publish(_))).count();
        prop_assert!(delivered <= sent);
        // (a) split at every byte offset
        for cut in 0..=bytes.len() {
            prop_assert_eq!(&run_pieces(&bytes, &[cut]), &whole, "cut at {}", cut);
        }
        let every: Vec<usize> = (1..bytes.len()).collect();
        prop_assert_eq!(&run_pieces(&bytes, &every), &whole, "byte by byte");
        // (c) random chunking
        let cuts = random_cuts(bytes.len(), &chunk_seeds);
        prop_assert_eq!(&run_pieces(&bytes, &cuts), &whole, "cuts {:?}", cuts);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(2000) })]

    #[test]
    fn random_bytes_never_panic_and_losses_are_protocol_errors_with_close(
        after_connack in any::<bool>(),
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        chunk_seeds in prop::collection::vec(any::<usize>(), 0..4),
    ) {
        let mut s = Session::new(config());
        s.connect(opts(), 0).unwrap();
        s.subscribe("a/#", QoS::AtLeastOnce, 0).unwrap();
        s.handle_open(0);
        if after_connack {
            s.handle_bytes(&encode(&connack(false)).unwrap(), 0);
        }
        let _ = std::iter::from_fn(|| s.poll_transmit()).count();
        let _ = std::iter::from_fn(|| s.poll_event()).count();
        let mut start = 0;
        for cut in random_cuts(bytes.len(), &chunk_seeds).into_iter().chain([bytes.len()]) {
            s.handle_bytes(&bytes[start..cut], 1);
            start = cut;
        }
        s.handle_timeout(2);
        let transmits: Vec<_> = std::iter::from_fn(|| s.poll_transmit()).collect();
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        let losses = check_losses(&transmits, &events, !after_connack);
        if losses == 1 {
            prop_assert_eq!(s.state(), ConnectionState::Reconnecting);
        }
        // Whatever was sent back decodes.
        for t in transmits {
            if let Transmit::Bytes(b) = t {
                decode_one(&b);
            }
        }
    }

    #[test]
    fn malformed_packet_after_valid_traffic_ends_in_protocol_loss_and_close(
        prefix in prop::collection::vec(arb_broker_packet(), 0..4),
        first in prop::sample::select(vec![0x00u8, 0xF0, 0x10, 0x80, 0x82, 0xA2, 0xC0, 0xE0, 0x36, 0x3E, 0x60, 0x41, 0x21, 0xD1]),
        rest in prop::collection::vec(any::<u8>(), 0..64),
        cut_seed in any::<usize>(),
    ) {
        let mut bytes = encode(&connack(false)).unwrap();
        for p in &prefix {
            bytes.extend(encode(p).unwrap());
        }
        bytes.push(first);
        bytes.extend(&rest);
        let cut = cut_seed % (bytes.len() + 1);
        let mut s = Session::new(config());
        s.connect(opts(), 0).unwrap();
        s.handle_open(0);
        s.handle_bytes(&bytes[..cut], 0);
        s.handle_bytes(&bytes[cut..], 0);
        let transmits: Vec<_> = std::iter::from_fn(|| s.poll_transmit()).collect();
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        prop_assert_eq!(check_losses(&transmits, &events, false), 1, "{:?}", events);
        prop_assert_eq!(transmits.last(), Some(&Transmit::Close));
        prop_assert_eq!(s.state(), ConnectionState::Reconnecting);
    }
}

#[test]
fn payload_bytes_are_kept_exactly() {
    let mut sim = Sim::online(opts(), false);
    let payload: Vec<u8> = (0..=255).collect();
    sim.feed(publish("bin", QoS::AtMostOnce, 0, &payload));
    assert_eq!(sim.events(), [message("bin", &payload, QoS::AtMostOnce)]);
}

// ---------------------------------------------------------------- encoding failures

#[test]
fn an_internal_packet_that_cannot_be_encoded_ends_the_connection() {
    let mut sim = Sim::online(opts(), false);
    sim.s.subscribe("a", QoS::AtLeastOnce, 0).unwrap();
    assert_eq!(
        sim.out(),
        [Out::Packet(subscribe(1, "a", QoS::AtLeastOnce))]
    );
    sim.events();
    // Every packet the session builds passes mqttbytes; a QoS 1 PUBLISH without a packet
    // id does not, so it stands in for "an internal packet the encoder refuses".
    let bad = encode(&Packet::Publish(Publish::new(
        "t",
        mq(QoS::AtLeastOnce),
        vec![],
    )));
    assert!(sim.s.send_encoded(bad, sim.now).is_err());
    assert_eq!(sim.out(), [Out::Close], "closed, not skipped");
    let reason = DisconnectReason::LocalEncode(EncodeError {
        packet: "PUBLISH".into(),
        detail: "packet id 0 with QoS 1 or 2".into(),
    });
    assert_eq!(
        reason.to_string(),
        "could not encode PUBLISH: packet id 0 with QoS 1 or 2; connection closed"
    );
    assert_lost(&sim.events(), reason);
    // The link's SUBSCRIBE was forgotten with it (its id released) and goes out again.
    let (out, events) = sim.reconnect(false);
    assert_eq!(out, [Out::Packet(subscribe(2, "a", QoS::AtLeastOnce))]);
    assert!(
        events.contains(&requested("a", QoS::AtLeastOnce)),
        "{events:?}"
    );
    sim.feed(granted(1, QoS::AtLeastOnce)); // the old link's id: not ours any more
    assert_eq!(sim.events(), []);
}

#[test]
fn typed_reasons_display_the_same_text_as_before() {
    for (failure, text) in [
        (
            PublishFailure::Expired { after_ms: 300_000 },
            "expired: not sent within 5 min",
        ),
        (
            PublishFailure::Expired { after_ms: 1_500 },
            "expired: not sent within 1500 ms",
        ),
        (
            PublishFailure::OutboxFull { waiting: 3 },
            "outbox full: 3 publishes are already waiting for the connection",
        ),
        (
            PublishFailure::DisconnectedBeforeSent,
            "disconnected before it was sent",
        ),
        (
            PublishFailure::DisconnectedUnacknowledged,
            "disconnected before the broker acknowledged it (it may or may not have arrived)",
        ),
    ] {
        assert_eq!(failure.to_string(), text);
    }
    assert_eq!(
        CommandError::FieldTooLong {
            field: ConnectField::WillPayload,
            len: 70_000
        }
        .to_string(),
        "will payload is 70000 bytes long; MQTT allows at most 65,535"
    );
    assert_eq!(
        CommandError::NotStarted.to_string(),
        "not connected (the session was not started)"
    );
}

#[test]
fn events_round_trip_through_serde() {
    let events = [
        outcome(
            PublishId(7),
            PublishOutcome::Failed(PublishFailure::OutboxFull { waiting: 2 }),
        ),
        Event::ConnectionLost(DisconnectReason::LocalEncode(EncodeError {
            packet: "PUBLISH".into(),
            detail: "x".into(),
        })),
        Event::ConnectionLost(DisconnectReason::Refused(ConnectRefused::Other(9))),
        message("é", b"\0\xff", QoS::ExactlyOnce),
    ];
    for event in events {
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
    }
    let error = CommandError::FieldTooLong {
        field: ConnectField::ClientId,
        len: 1,
    };
    let json = serde_json::to_string(&error).unwrap();
    assert_eq!(serde_json::from_str::<CommandError>(&json).unwrap(), error);
}
