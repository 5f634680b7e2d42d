//! MQTT 5 scripted conversations on a simulated clock.
//!
//! Like `tests.rs`, the harness plays the transport and the broker. What the session sends
//! is decoded with `mqttbytes::v5` (CONNECT, PUBLISH, SUBSCRIBE, UNSUBSCRIBE, acks), except
//! DISCONNECT, which that crate cannot read in its short forms (tested below). What the
//! broker sends is built byte by byte with the property writer, so the session's decoder is
//! checked against bytes it did not write itself.

use bytes::{Bytes, BytesMut};
use mqttbytes::v5::{self, Packet};

use super::v5::{frame, id, PropertyWriter};
use super::*;

// ---------------------------------------------------------------- harness

#[allow(clippy::large_enum_variant)] // test harness
#[derive(Debug, Clone, PartialEq)]
enum Out {
    Open,
    Packet(Packet),
    /// DISCONNECT with its reason code.
    Disconnect(u8),
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
        outbox_capacity: 10,
        outbox_expiry_ms: 60_000,
    }
}

fn opts() -> ConnectOptions {
    ConnectOptions {
        client_id: "web-5".into(),
        keepalive_secs: 10,
        protocol: ProtocolVersion::V5,
        ..ConnectOptions::default()
    }
}

fn mq(qos: QoS) -> mqttbytes::QoS {
    framing::to_mqttbytes_qos(qos)
}

fn decode_one(bytes: &[u8]) -> Out {
    if bytes[0] == 0xE0 {
        return match bytes {
            [0xE0, 0x00] => Out::Disconnect(0),
            [0xE0, 0x01, code] => Out::Disconnect(*code),
            other => panic!("unexpected DISCONNECT form {other:02x?}"),
        };
    }
    let mut buf = BytesMut::from(bytes);
    let packet = v5::read(&mut buf, usize::MAX).expect("session sent a decodable v5 packet");
    assert!(buf.is_empty(), "one packet per frame");
    Out::Packet(packet)
}

struct Sim {
    s: Session,
    now: Millis,
    last_id: u64,
}

impl Sim {
    fn new() -> Sim {
        Sim {
            s: Session::new(config()),
            now: 0,
            last_id: 0,
        }
    }

    /// Connected with these options and this CONNACK; transmits and events so far drained.
    fn online_with(options: ConnectOptions, connack: Vec<u8>) -> Sim {
        let mut sim = Sim::new();
        sim.s.connect(options, 0).unwrap();
        sim.s.handle_open(0);
        sim.feed(&connack);
        sim.out();
        let events = sim.events();
        assert!(
            events.contains(&Event::State(ConnectionState::Connected)),
            "{events:?}"
        );
        sim
    }

    fn online(props: PropertyWriter) -> Sim {
        Sim::online_with(opts(), connack(false, 0, props))
    }

    fn out(&mut self) -> Vec<Out> {
        let mut out = Vec::new();
        while let Some(t) = self.s.poll_transmit() {
            out.push(match t {
                Transmit::Open => Out::Open,
                Transmit::Close => Out::Close,
                Transmit::Bytes(bytes) => decode_one(&bytes),
            });
        }
        out
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.s.poll_event()).collect()
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.s.handle_bytes(bytes, self.now);
    }

    fn publish(
        &mut self,
        topic: &str,
        qos: QoS,
        properties: Option<PublishProperties>,
    ) -> Result<PublishId, CommandError> {
        self.last_id += 1;
        let id = PublishId(self.last_id);
        self.s
            .publish_with(id, topic, b"x".to_vec(), qos, false, properties, self.now)?;
        Ok(id)
    }

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
        panic!("timer loop");
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
}

fn props() -> PropertyWriter {
    PropertyWriter::default()
}

fn with_props(first: u8, head: &[u8], props: &PropertyWriter, tail: &[u8]) -> Vec<u8> {
    let mut body = BytesMut::from(head);
    props.finish("test", &mut body).unwrap();
    body.extend_from_slice(tail);
    frame(first, &body, "test").unwrap()
}

fn connack(session_present: bool, code: u8, props: PropertyWriter) -> Vec<u8> {
    with_props(0x20, &[u8::from(session_present), code], &props, &[])
}

fn ack(first: u8, pkid: u16, code: u8, props: PropertyWriter) -> Vec<u8> {
    let [hi, lo] = pkid.to_be_bytes();
    with_props(first, &[hi, lo, code], &props, &[])
}

fn suback(pkid: u16, codes: &[u8], props: PropertyWriter) -> Vec<u8> {
    with_props(0x90, &pkid.to_be_bytes(), &props, codes)
}

fn unsuback(pkid: u16, codes: &[u8]) -> Vec<u8> {
    with_props(0xB0, &pkid.to_be_bytes(), &props(), codes)
}

/// A broker PUBLISH (QoS 0) with these properties.
fn incoming(topic: &str, props: PropertyWriter, payload: &[u8]) -> Vec<u8> {
    let mut head = (topic.len() as u16).to_be_bytes().to_vec();
    head.extend_from_slice(topic.as_bytes());
    with_props(0x30, &head, &props, payload)
}

fn sent_publish(out: &Out) -> &v5::Publish {
    match out {
        Out::Packet(Packet::Publish(p)) => p,
        other => panic!("not a PUBLISH: {other:?}"),
    }
}

fn lost(events: &[Event]) -> &DisconnectReason {
    events
        .iter()
        .find_map(|e| match e {
            Event::ConnectionLost(r) => Some(r),
            _ => None,
        })
        .expect("the connection was lost")
}

// ---------------------------------------------------------------- mqttbytes 0.6 defects

#[test]
fn mqttbytes_v5_cannot_read_short_disconnects_or_auth_and_we_can() {
    // Why DISCONNECT and AUTH are decoded by our own code (see `v5.rs`).
    let mut zero = BytesMut::from(&[0xE0, 0x00][..]);
    assert_eq!(
        v5::read(&mut zero, 100),
        Err(mqttbytes::Error::PayloadRequired)
    );
    let mut code_only = BytesMut::from(&[0xE0, 0x01, 0x8E][..]);
    assert_eq!(
        v5::read(&mut code_only, 100),
        Err(mqttbytes::Error::InsufficientBytes(1)),
        "a framer trusting this would wait forever for a byte that never comes"
    );
    let mut auth = BytesMut::from(&[0xF0, 0x00][..]);
    assert!(v5::read(&mut auth, 100).is_err());
    // And it refuses reason codes it does not list (0xA5 here), where we keep them.
    let mut puback = BytesMut::from(&[0x40, 0x03, 0x00, 0x01, 0xA5][..]);
    assert!(v5::read(&mut puback, 100).is_err());

    for (bytes, code) in [(&[0xE0, 0x00][..], 0u8), (&[0xE0, 0x01, 0x8E], 0x8E)] {
        let mut sim = Sim::online(props());
        sim.feed(bytes);
        assert_eq!(
            sim.out(),
            [Out::Close],
            "we close at once, nothing else sent"
        );
        let events = sim.events();
        let reason = lost(&events);
        assert_eq!(
            reason,
            &DisconnectReason::ByServer(ServerDisconnect {
                code,
                reason_string: None,
                server_reference: None,
            })
        );
        assert!(events.contains(&Event::State(ConnectionState::Reconnecting)));
    }
    let mut sim = Sim::online(props());
    sim.feed(&[0xE0, 0x01, 0x8E]);
    assert_eq!(
        lost(&sim.events()).to_string(),
        "broker disconnected: session taken over (0x8e)"
    );
}

#[test]
fn auth_from_the_broker_is_a_protocol_error_we_name_in_our_disconnect() {
    let mut sim = Sim::online(props());
    sim.feed(&[0xF0, 0x00]);
    assert_eq!(sim.out(), [Out::Disconnect(0x82), Out::Close]);
    let events = sim.events();
    assert!(
        lost(&events).to_string().contains("AUTH"),
        "{}",
        lost(&events)
    );
}

#[test]
fn malformed_v5_packets_are_answered_with_disconnect_0x81() {
    let mut sim = Sim::online(props());
    // PUBACK whose property length runs past the packet.
    sim.feed(&[0x40, 0x04, 0x00, 0x01, 0x00, 0x09]);
    assert_eq!(sim.out(), [Out::Disconnect(0x81), Out::Close]);
    assert!(matches!(
        lost(&sim.events()),
        DisconnectReason::Protocol(ProtocolError::Malformed(_))
    ));
}

// ---------------------------------------------------------------- CONNECT / CONNACK

#[test]
fn connect_carries_the_v5_properties_and_will_properties() {
    let mut s = Session::new(config());
    let options = ConnectOptions {
        username: Some("alice".into()),
        password: Some("pw".into()),
        clean_session: false,
        properties: ConnectProperties {
            session_expiry_secs: Some(300),
            receive_maximum: Some(20),
            maximum_packet_size: Some(100_000),
            topic_alias_maximum: Some(8),
            request_response_information: true,
            user_properties: vec![("app".into(), "mqtt-web".into())],
        },
        last_will: Some(LastWill {
            topic: "devices/web-5/status".into(),
            payload: b"offline".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: WillProperties {
                delay_interval_secs: Some(5),
                payload_is_utf8: true,
                message_expiry_secs: Some(3600),
                content_type: Some("text/plain".into()),
                response_topic: Some("r/t".into()),
                correlation_data: Some(vec![1, 2]),
                user_properties: vec![("k".into(), "v".into())],
            },
        }),
        ..opts()
    };
    s.connect(options, 0).unwrap();
    assert_eq!(s.poll_transmit(), Some(Transmit::Open));
    s.handle_open(0);
    let Some(Transmit::Bytes(bytes)) = s.poll_transmit() else {
        panic!("CONNECT expected")
    };
    let level_at = bytes.windows(4).position(|w| w == b"MQTT").unwrap() + 4;
    assert_eq!(bytes[level_at], 5, "protocol level 5");
    let Out::Packet(Packet::Connect(c)) = decode_one(&bytes) else {
        panic!("not a CONNECT")
    };
    assert_eq!(c.client_id, "web-5");
    assert!(!c.clean_session, "clean start off, as asked");
    let p = c.properties.unwrap();
    assert_eq!(p.session_expiry_interval, Some(300));
    assert_eq!(p.receive_maximum, Some(20));
    assert_eq!(
        p.max_packet_size,
        Some(4_096),
        "our own incoming limit (4,096) is smaller than the 100,000 asked for"
    );
    assert_eq!(p.topic_alias_max, Some(8));
    assert_eq!(p.request_response_info, Some(1));
    assert_eq!(p.user_properties, vec![("app".into(), "mqtt-web".into())]);
    let login = c.login.unwrap();
    assert_eq!(
        (login.username.as_str(), login.password.as_str()),
        ("alice", "pw")
    );
    let will = c.last_will.unwrap();
    assert_eq!(will.topic, "devices/web-5/status");
    assert!(will.retain);
    let wp = will.properties.unwrap();
    assert_eq!(wp.delay_interval, Some(5));
    assert_eq!(wp.payload_format_indicator, Some(1));
    assert_eq!(wp.message_expiry_interval, Some(3600));
    assert_eq!(wp.content_type.as_deref(), Some("text/plain"));
    assert_eq!(wp.response_topic.as_deref(), Some("r/t"));
    assert_eq!(wp.correlation_data, Some(Bytes::from_static(&[1, 2])));
    assert_eq!(wp.user_properties, vec![("k".into(), "v".into())]);
}

#[test]
fn a_smaller_maximum_packet_size_is_advertised_and_enforced() {
    let options = ConnectOptions {
        properties: ConnectProperties {
            maximum_packet_size: Some(200),
            ..ConnectProperties::default()
        },
        ..opts()
    };
    let mut s = Session::new(config());
    s.connect(options.clone(), 0).unwrap();
    assert_eq!(s.poll_transmit(), Some(Transmit::Open));
    s.handle_open(0);
    let Some(Transmit::Bytes(bytes)) = s.poll_transmit() else {
        panic!("CONNECT expected")
    };
    let Out::Packet(Packet::Connect(c)) = decode_one(&bytes) else {
        panic!("not a CONNECT")
    };
    assert_eq!(
        c.properties.unwrap().max_packet_size,
        Some(200),
        "the user's limit, smaller than our own 4,096"
    );

    let mut sim = Sim::online_with(options, connack(false, 0, props()));
    sim.feed(&incoming("t/ok", props(), &[b'a'; 150]));
    assert!(sim
        .events()
        .iter()
        .any(|e| matches!(e, Event::Message(m) if m.topic == "t/ok")));
    // A broker that ignores the limit: the packet is refused, as the spec says, with 0x95.
    sim.feed(&incoming("t/big", props(), &[b'a'; 300]));
    assert_eq!(sim.out(), [Out::Disconnect(0x95), Out::Close]);
    assert!(matches!(
        lost(&sim.events()),
        DisconnectReason::Protocol(ProtocolError::PacketTooLarge { max: 200, .. })
    ));
}

#[test]
fn connack_capabilities_are_reported_and_obeyed() {
    let mut p = props();
    p.byte(id::MAXIMUM_QOS, 1)
        .byte(id::RETAIN_AVAILABLE, 0)
        .four(id::MAXIMUM_PACKET_SIZE, 200)
        .two(id::SERVER_KEEPALIVE, 4)
        .text(id::ASSIGNED_CLIENT_ID, "auto-123", "x")
        .byte(id::SHARED_SUB_AVAILABLE, 0);
    let mut sim = Sim::new();
    sim.s.connect(opts(), 0).unwrap();
    sim.s.handle_open(0);
    sim.out();
    sim.feed(&connack(false, 0, p));
    let events = sim.events();
    let caps = events
        .iter()
        .find_map(|e| match e {
            Event::Capabilities(c) => Some(c.clone()),
            _ => None,
        })
        .expect("capabilities reported");
    let at = |want: &Event| events.iter().position(|e| e == want);
    assert!(
        at(&Event::Capabilities(caps.clone()))
            < at(&Event::Connected {
                session_present: false
            }),
        "capabilities come before Connected: {events:?}"
    );
    assert_eq!(caps.maximum_qos, QoS::AtLeastOnce);
    assert!(!caps.retain_available);
    assert_eq!(caps.maximum_packet_size, Some(200));
    assert_eq!(caps.server_keepalive_secs, Some(4));
    assert_eq!(caps.assigned_client_id.as_deref(), Some("auto-123"));
    assert!(!caps.shared_subscriptions);
    assert_eq!(caps.receive_maximum, 65_535, "default when left out");

    // Maximum QoS, retain available, maximum packet size: refused before sending.
    assert_eq!(
        sim.publish("t", QoS::ExactlyOnce, None),
        Err(CommandError::QosNotSupported {
            max: QoS::AtLeastOnce
        })
    );
    sim.last_id += 1;
    assert_eq!(
        sim.s
            .publish(PublishId(99), "t", vec![], QoS::AtMostOnce, true, 0),
        Err(CommandError::RetainNotSupported)
    );
    assert!(matches!(
        sim.s
            .publish(PublishId(98), "t", vec![0; 300], QoS::AtMostOnce, false, 0),
        Err(CommandError::PayloadTooLarge { max: 200, .. })
    ));
    assert!(matches!(
        sim.s.subscribe("$share/g/a/#", QoS::AtMostOnce, 0),
        Err(CommandError::NotSupportedByBroker(_))
    ));
    assert_eq!(sim.out(), []);

    // Server keepalive 4 s replaces our 10 s: a PINGREQ after 4 s of silence.
    assert_eq!(sim.s.poll_timeout(), Some(4_000));
    sim.advance_to(4_000);
    assert_eq!(sim.out(), [Out::Packet(Packet::PingReq)]);
}

#[test]
fn a_refusing_connack_is_shown_by_reason_name_and_string() {
    let mut p = props();
    p.text(id::REASON_STRING, "user alice is locked", "x");
    let mut sim = Sim::new();
    sim.s.connect(opts(), 0).unwrap();
    sim.s.handle_open(0);
    sim.out();
    sim.feed(&connack(false, 0x86, p));
    assert_eq!(sim.out(), [Out::Close]);
    assert_eq!(
        lost(&sim.events()).to_string(),
        "broker refused the connection: bad user name or password (0x86): user alice is locked"
    );

    // A broker without MQTT 5 may answer with a 3.1.1 CONNACK, code 1.
    let mut sim = Sim::new();
    sim.s.connect(opts(), 0).unwrap();
    sim.s.handle_open(0);
    sim.out();
    sim.feed(&[0x20, 0x02, 0x00, 0x01]);
    let text = lost(&sim.events()).to_string();
    assert!(text.contains("choose 3.1.1"), "{text}");
}

#[test]
fn server_moved_disconnect_carries_its_reference() {
    let mut sim = Sim::online(props());
    let mut p = props();
    p.text(id::REASON_STRING, "maintenance", "x").text(
        id::SERVER_REFERENCE,
        "ws://127.0.0.1:9002/mqtt",
        "x",
    );
    sim.feed(&with_props(0xE0, &[0x9D], &p, &[]));
    assert_eq!(sim.out(), [Out::Close]);
    let events = sim.events();
    let DisconnectReason::ByServer(d) = lost(&events) else {
        panic!("{events:?}")
    };
    assert!(d.moves());
    assert_eq!(
        d.server_reference.as_deref(),
        Some("ws://127.0.0.1:9002/mqtt")
    );
    assert_eq!(
        lost(&events).to_string(),
        "broker disconnected: server moved (0x9d): maintenance; server reference: ws://127.0.0.1:9002/mqtt"
    );
}

#[test]
fn session_expiry_resumes_the_session_on_reconnect() {
    let options = ConnectOptions {
        clean_session: true,
        properties: ConnectProperties {
            session_expiry_secs: Some(300),
            ..ConnectProperties::default()
        },
        ..opts()
    };
    let mut sim = Sim::online_with(options, connack(false, 0, props()));
    let id = sim.publish("q/1", QoS::AtLeastOnce, None).unwrap();
    assert_eq!(sent_publish(&sim.out()[0]).pkid, 1);
    sim.closed();
    sim.events();
    let at = sim.s.poll_timeout().unwrap();
    sim.advance_to(at);
    assert_eq!(sim.out(), [Out::Open]);
    sim.s.handle_open(sim.now);
    let [Out::Packet(Packet::Connect(c))] = &sim.out()[..] else {
        panic!("CONNECT expected")
    };
    assert!(!c.clean_session, "a reconnect resumes: clean start off");
    assert_eq!(
        c.properties.as_ref().unwrap().session_expiry_interval,
        Some(300)
    );
    sim.feed(&connack(true, 0, props()));
    let out = sim.out();
    let again = sent_publish(&out[0]);
    assert!(again.dup, "the broker kept the session: DUP re-send");
    assert_eq!(again.pkid, 1);
    sim.events();
    sim.feed(&ack(0x40, 1, 0, props()));
    assert_eq!(
        sim.events(),
        [Event::Publish {
            id,
            outcome: PublishOutcome::Acked
        }]
    );

    // Expiry 0 (the default): every CONNECT starts clean, and an unacked publish goes out
    // again as a new one.
    let mut sim = Sim::online(props());
    sim.publish("q/1", QoS::AtLeastOnce, None).unwrap();
    sim.out();
    sim.closed();
    sim.events();
    let at = sim.s.poll_timeout().unwrap();
    sim.advance_to(at);
    sim.out();
    sim.s.handle_open(sim.now);
    let [Out::Packet(Packet::Connect(c))] = &sim.out()[..] else {
        panic!("CONNECT expected")
    };
    assert!(c.clean_session);
    sim.feed(&connack(false, 0, props()));
    assert!(!sent_publish(&sim.out()[0]).dup);

    // Expiry set but the broker lost the session (session present 0): new publish too.
    let options = ConnectOptions {
        properties: ConnectProperties {
            session_expiry_secs: Some(60),
            ..ConnectProperties::default()
        },
        ..opts()
    };
    let mut sim = Sim::online_with(options, connack(false, 0, props()));
    sim.publish("q/1", QoS::AtLeastOnce, None).unwrap();
    sim.out();
    sim.closed();
    let at = sim.s.poll_timeout().unwrap();
    sim.advance_to(at);
    sim.out();
    sim.s.handle_open(sim.now);
    sim.out();
    sim.feed(&connack(false, 0, props()));
    assert!(!sent_publish(&sim.out()[0]).dup);
}

// ---------------------------------------------------------------- publish

#[test]
fn receive_maximum_bounds_publishes_in_flight() {
    let mut p = props();
    p.two(id::RECEIVE_MAXIMUM, 2);
    let mut sim = Sim::online(p);
    let a = sim.publish("t/a", QoS::AtLeastOnce, None).unwrap();
    let b = sim.publish("t/b", QoS::ExactlyOnce, None).unwrap();
    let c = sim.publish("t/c", QoS::AtLeastOnce, None).unwrap();
    let zero = sim.publish("t/0", QoS::AtMostOnce, None).unwrap();
    let out = sim.out();
    assert_eq!(out.len(), 2, "two in flight, the rest wait: {out:?}");
    assert_eq!(sent_publish(&out[0]).topic, "t/a");
    assert_eq!(sent_publish(&out[1]).topic, "t/b");
    assert_eq!(
        sim.events(),
        [
            Event::Publish {
                id: c,
                outcome: PublishOutcome::Queued
            },
            Event::Publish {
                id: zero,
                outcome: PublishOutcome::Queued
            },
        ],
        "QoS 0 keeps its place behind the waiting QoS 1"
    );
    // PUBACK for a: c goes out, then the QoS 0 behind it.
    sim.feed(&ack(0x40, 1, 0, props()));
    let out = sim.out();
    assert_eq!(
        out.iter()
            .map(|o| sent_publish(o).topic.clone())
            .collect::<Vec<_>>(),
        ["t/c", "t/0"]
    );
    assert_eq!(
        sim.events(),
        [
            Event::Publish {
                id: a,
                outcome: PublishOutcome::Acked
            },
            Event::Publish {
                id: zero,
                outcome: PublishOutcome::Sent
            },
        ]
    );
    // Still two in flight (b, c): a fourth waits for b's PUBCOMP.
    let d = sim.publish("t/d", QoS::AtLeastOnce, None).unwrap();
    assert_eq!(sim.out(), []);
    assert_eq!(
        sim.events(),
        [Event::Publish {
            id: d,
            outcome: PublishOutcome::Queued
        }]
    );
    sim.feed(&ack(0x50, 2, 0, props()));
    assert!(matches!(sim.out()[..], [Out::Packet(Packet::PubRel(_))]));
    assert_eq!(sim.out(), [], "PUBREC does not free the slot");
    sim.feed(&ack(0x70, 2, 0, props()));
    assert_eq!(sent_publish(&sim.out()[0]).topic, "t/d");
    assert_eq!(
        sim.events(),
        [Event::Publish {
            id: b,
            outcome: PublishOutcome::Acked
        }]
    );
}

#[test]
fn refusing_acks_fail_the_publish_by_reason_name() {
    let mut sim = Sim::online(props());
    let one = sim.publish("t/1", QoS::AtLeastOnce, None).unwrap();
    let two = sim.publish("t/2", QoS::ExactlyOnce, None).unwrap();
    let odd = sim.publish("t/3", QoS::AtLeastOnce, None).unwrap();
    sim.out();
    sim.events();
    let mut p = props();
    p.text(id::REASON_STRING, "no writes to t/1", "x");
    sim.feed(&ack(0x40, 1, 0x87, p));
    sim.feed(&ack(0x50, 2, 0x97, props()));
    sim.feed(&ack(0x40, 3, 0xA5, props())); // a code MQTT 5 does not define
    assert_eq!(sim.out(), [], "no PUBREL after a refusing PUBREC");
    let events = sim.events();
    let text = |id| {
        events
            .iter()
            .find_map(|e| match e {
                Event::Publish {
                    id: i,
                    outcome: PublishOutcome::Failed(f),
                } if *i == id => Some(f.to_string()),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(text(one), "not authorized (0x87): no writes to t/1");
    assert_eq!(text(two), "quota exceeded (0x97)");
    assert_eq!(text(odd), "unknown reason code (0xa5)");
    assert_eq!(sim.s.unacked_publishes(), 0);
    // 0x10 "no matching subscribers" is a success.
    let ok = sim.publish("t/4", QoS::AtLeastOnce, None).unwrap();
    let pkid = sent_publish(&sim.out()[0]).pkid;
    sim.events();
    sim.feed(&ack(0x40, pkid, 0x10, props()));
    assert_eq!(
        sim.events(),
        [Event::Publish {
            id: ok,
            outcome: PublishOutcome::Acked
        }]
    );
}

#[test]
fn publish_properties_go_out_and_come_in() {
    let mut sim = Sim::online(props());
    let properties = PublishProperties {
        payload_is_utf8: Some(true),
        message_expiry_secs: Some(30),
        content_type: Some("application/json".into()),
        response_topic: Some("mqtt-web/web-5/responses/1".into()),
        correlation_data: Some(b"req-1".to_vec()),
        user_properties: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
        subscription_ids: vec![],
    };
    sim.publish("svc/echo", QoS::AtLeastOnce, Some(properties))
        .unwrap();
    let out = sim.out();
    let p = sent_publish(&out[0]).properties.clone().unwrap();
    assert_eq!(p.payload_format_indicator, Some(1));
    assert_eq!(p.message_expiry_interval, Some(30));
    assert_eq!(p.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        p.response_topic.as_deref(),
        Some("mqtt-web/web-5/responses/1")
    );
    assert_eq!(p.correlation_data, Some(Bytes::from_static(b"req-1")));
    assert_eq!(
        p.user_properties,
        vec![("a".into(), "1".into()), ("a".into(), "2".into())]
    );
    // A response topic must be a valid topic name.
    let bad = PublishProperties {
        response_topic: Some("r/+".into()),
        ..PublishProperties::default()
    };
    assert!(matches!(
        sim.publish("t", QoS::AtMostOnce, Some(bad)),
        Err(CommandError::InvalidTopic(why)) if why.starts_with("response topic")
    ));

    let mut p = props();
    p.byte(id::PAYLOAD_FORMAT, 1)
        .text(id::CONTENT_TYPE, "text/plain", "x")
        .binary(id::CORRELATION_DATA, b"req-1", "x")
        .text(id::RESPONSE_TOPIC, "back/here", "x")
        .four(id::MESSAGE_EXPIRY, 9)
        .users(&vec![("site".into(), "north".into())]);
    sim.feed(&incoming("sensors/1", p, b"21.5"));
    let events = sim.events();
    let [Event::Message(m)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(m.topic, "sensors/1");
    assert_eq!(m.payload, b"21.5");
    let p = m.properties.as_deref().unwrap();
    assert_eq!(p.payload_is_utf8, Some(true));
    assert_eq!(p.content_type.as_deref(), Some("text/plain"));
    assert_eq!(p.correlation_data.as_deref(), Some(&b"req-1"[..]));
    assert_eq!(p.response_topic.as_deref(), Some("back/here"));
    assert_eq!(p.message_expiry_secs, Some(9));
    assert_eq!(p.user_properties, vec![("site".into(), "north".into())]);

    // A message without properties carries none (no allocation per message).
    sim.feed(&incoming("plain", props(), b""));
    let events = sim.events();
    let [Event::Message(m)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(m.properties, None);

    // Subscription identifier 300 (a two-byte varint) comes back on the message.
    let mut head = 1u16.to_be_bytes().to_vec();
    head.push(b'x');
    let raw = frame(0x30, &[&head[..], &[0x03, 0x0B, 0xAC, 0x02]].concat(), "t").unwrap();
    sim.feed(&raw);
    let events = sim.events();
    let [Event::Message(m)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(m.properties.as_deref().unwrap().subscription_ids, [300]);
}

#[test]
fn repeated_topics_go_by_alias_when_the_broker_allows() {
    let mut p = props();
    p.two(id::TOPIC_ALIAS_MAXIMUM, 2);
    let mut sim = Sim::online(p);
    for topic in ["t/one", "t/one", "t/two", "t/three", "t/two"] {
        sim.publish(topic, QoS::AtMostOnce, None).unwrap();
    }
    let sent: Vec<_> = sim
        .out()
        .iter()
        .map(|o| {
            let p = sent_publish(o);
            (
                p.topic.clone(),
                p.properties.as_ref().and_then(|p| p.topic_alias),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            ("t/one".to_owned(), Some(1)),
            (String::new(), Some(1)),
            ("t/two".to_owned(), Some(2)),
            ("t/three".to_owned(), None), // aliases used up
            (String::new(), Some(2)),
        ]
    );
    // Without the broker's topic alias maximum, never.
    let mut sim = Sim::online(props());
    sim.publish("t/one", QoS::AtMostOnce, None).unwrap();
    sim.publish("t/one", QoS::AtMostOnce, None).unwrap();
    for o in sim.out() {
        let p = sent_publish(&o);
        assert_eq!(p.topic, "t/one");
        assert!(p.properties.is_none());
    }
}

#[test]
fn incoming_topic_aliases_resolve_and_an_unknown_one_closes_with_0x94() {
    let options = ConnectOptions {
        properties: ConnectProperties {
            topic_alias_maximum: Some(4),
            ..ConnectProperties::default()
        },
        ..opts()
    };
    let mut sim = Sim::online_with(options.clone(), connack(false, 0, props()));
    let mut set = props();
    set.two(id::TOPIC_ALIAS, 3);
    sim.feed(&incoming("room/1/temp", set, b"20"));
    let mut use_it = props();
    use_it.two(id::TOPIC_ALIAS, 3);
    sim.feed(&incoming("", use_it, b"21"));
    let topics: Vec<_> = sim
        .events()
        .into_iter()
        .map(|e| match e {
            Event::Message(m) => (m.topic, m.payload),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        topics,
        [
            ("room/1/temp".to_owned(), b"20".to_vec()),
            ("room/1/temp".to_owned(), b"21".to_vec())
        ],
        "an empty topic with a known alias shows the real topic"
    );
    let mut unknown = props();
    unknown.two(id::TOPIC_ALIAS, 2);
    sim.feed(&incoming("", unknown, b"22"));
    assert_eq!(sim.out(), [Out::Disconnect(0x94), Out::Close]);
    let events = sim.events();
    assert!(!events.iter().any(|e| matches!(e, Event::Message(_))));
    assert_eq!(
        lost(&events).to_string(),
        "topic alias invalid (0x94): the broker used topic alias 2 before setting it"
    );

    // Alias 0 (never valid; the alias table is indexed from 1), over the maximum we
    // announced (4), or any alias when we announced none.
    for (options, alias) in [(options.clone(), 0u16), (options, 5), (opts(), 1)] {
        let mut sim = Sim::online_with(options, connack(false, 0, props()));
        let mut p = props();
        p.two(id::TOPIC_ALIAS, alias);
        sim.feed(&incoming("a", p, b""));
        assert_eq!(sim.out(), [Out::Disconnect(0x94), Out::Close]);
    }

    // Aliases belong to one link: after a reconnect the old one is unknown.
    let options = ConnectOptions {
        properties: ConnectProperties {
            topic_alias_maximum: Some(4),
            ..ConnectProperties::default()
        },
        ..opts()
    };
    let mut sim = Sim::online_with(options, connack(false, 0, props()));
    let mut set = props();
    set.two(id::TOPIC_ALIAS, 1);
    sim.feed(&incoming("x/y", set, b""));
    sim.closed();
    let at = sim.s.poll_timeout().unwrap();
    sim.advance_to(at);
    sim.s.handle_open(sim.now);
    sim.feed(&connack(false, 0, props()));
    sim.out();
    sim.events();
    let mut again = props();
    again.two(id::TOPIC_ALIAS, 1);
    sim.feed(&incoming("", again, b""));
    assert_eq!(sim.out(), [Out::Disconnect(0x94), Out::Close]);
}

// ---------------------------------------------------------------- subscribe

#[test]
fn subscription_options_and_identifier_go_on_the_wire() {
    let mut sim = Sim::online(props());
    let options = SubscribeOptions {
        qos: QoS::AtLeastOnce,
        no_local: true,
        retain_as_published: true,
        retain_handling: RetainHandling::DoNotSend,
        subscription_id: Some(7),
    };
    sim.s.subscribe_with("rh/#", options, 0).unwrap();
    let out = sim.out();
    let [Out::Packet(Packet::Subscribe(s))] = &out[..] else {
        panic!("{out:?}")
    };
    let f = &s.filters[0];
    assert_eq!(f.path, "rh/#");
    assert_eq!(f.qos, mq(QoS::AtLeastOnce));
    assert!(f.nolocal);
    assert!(f.preserve_retain);
    assert_eq!(f.retain_forward_rule, v5::RetainForwardRule::Never);
    assert_eq!(s.properties.as_ref().unwrap().id, Some(7));
    // The same filter with other options is sent again.
    sim.s
        .subscribe_with("rh/#", SubscribeOptions::qos(QoS::AtLeastOnce), 0)
        .unwrap();
    assert_eq!(sim.out().len(), 1);
    // Identifier 0 is not allowed.
    let zero = SubscribeOptions {
        subscription_id: Some(0),
        ..SubscribeOptions::default()
    };
    assert!(sim.s.subscribe_with("z", zero, 0).is_err());
}

#[test]
fn suback_and_unsuback_reason_codes_are_shown_per_filter() {
    let mut sim = Sim::online(props());
    sim.s.subscribe("ok/#", QoS::ExactlyOnce, 0).unwrap();
    sim.s.subscribe("secret/#", QoS::AtLeastOnce, 0).unwrap();
    sim.out();
    sim.events();
    sim.feed(&suback(1, &[0x01], props()));
    let mut p = props();
    p.text(id::REASON_STRING, "ACL", "x");
    sim.feed(&suback(2, &[0x87], p));
    assert_eq!(
        sim.events(),
        [
            Event::Subscribed {
                filter: "ok/#".into(),
                qos: QoS::AtLeastOnce
            },
            Event::SubscribeFailed {
                filter: "secret/#".into(),
                reason: "the broker refused this subscription: not authorized (0x87): ACL".into()
            },
        ]
    );
    assert_eq!(
        sim.s.subscriptions(),
        [("ok/#".to_owned(), QoS::ExactlyOnce)]
    );

    sim.s.unsubscribe("ok/#", 0).unwrap();
    sim.s.unsubscribe("never/was", 0).unwrap();
    let ids: Vec<u16> = sim
        .out()
        .iter()
        .map(|o| match o {
            Out::Packet(Packet::Unsubscribe(u)) => u.pkid,
            other => panic!("{other:?}"),
        })
        .collect();
    sim.feed(&unsuback(ids[0], &[0x87]));
    sim.feed(&unsuback(ids[1], &[0x11]));
    assert_eq!(
        sim.events(),
        [
            Event::UnsubscribeFailed {
                filter: "ok/#".into(),
                reason: "the broker refused to unsubscribe: not authorized (0x87)".into()
            },
            Event::Unsubscribed {
                filter: "never/was".into()
            },
        ]
    );
}

#[test]
fn shared_subscriptions_are_validated_and_match_their_inner_filter() {
    use super::topic::{matches, validate_filter};
    assert!(validate_filter("$share/g1/sensors/#").is_ok());
    for bad in [
        "$share//x",
        "$share/g1",
        "$share/g1/",
        "$share/g+/x",
        "$share/g/a/#/b",
    ] {
        assert!(validate_filter(bad).is_err(), "{bad}");
    }
    assert!(matches("sensors/1/t", "$share/g1/sensors/#"));
    assert!(!matches("$share/g1/sensors/1", "sensors/#"));
    assert!(!matches("other/1", "$share/g1/sensors/#"));

    let mut sim = Sim::online(props());
    let shared_no_local = SubscribeOptions {
        no_local: true,
        ..SubscribeOptions::default()
    };
    assert!(sim
        .s
        .subscribe_with("$share/g/a", shared_no_local, 0)
        .is_err());
    sim.s.subscribe("$share/g/a/+", QoS::AtMostOnce, 0).unwrap();
    let out = sim.out();
    let [Out::Packet(Packet::Subscribe(s))] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(s.filters[0].path, "$share/g/a/+");
}

// ---------------------------------------------------------------- 3.1.1 untouched

#[test]
fn with_3_1_1_no_v5_field_reaches_the_wire() {
    let mut s = Session::new(config());
    let options = ConnectOptions {
        protocol: ProtocolVersion::V311,
        properties: ConnectProperties {
            session_expiry_secs: Some(60),
            user_properties: vec![("a".into(), "b".into())],
            ..ConnectProperties::default()
        },
        ..opts()
    };
    s.connect(options, 0).unwrap();
    let _ = s.poll_transmit();
    s.handle_open(0);
    let Some(Transmit::Bytes(connect)) = s.poll_transmit() else {
        panic!()
    };
    assert_eq!(connect[8], 4, "protocol level 4");
    assert_eq!(
        connect,
        framing::encode_connect(&ConnectOptions {
            client_id: "web-5".into(),
            keepalive_secs: 10,
            ..ConnectOptions::default()
        })
        .unwrap()
    );
    s.handle_bytes(&[0x20, 0x02, 0x00, 0x00], 0);
    while s.poll_transmit().is_some() {}
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(!events.iter().any(|e| matches!(e, Event::Capabilities(_))));
    let props = PublishProperties {
        user_properties: vec![("a".into(), "b".into())],
        ..PublishProperties::default()
    };
    s.publish_with(
        PublishId(1),
        "t",
        vec![1],
        QoS::AtMostOnce,
        false,
        Some(props),
        0,
    )
    .unwrap();
    let Some(Transmit::Bytes(bytes)) = s.poll_transmit() else {
        panic!()
    };
    assert_eq!(
        bytes,
        [0x30, 0x04, 0x00, 0x01, b't', 1],
        "a plain 3.1.1 PUBLISH"
    );
    // A broker's DISCONNECT is still a protocol violation with 3.1.1.
    s.handle_bytes(&[0xE0, 0x00], 0);
    assert_eq!(s.poll_transmit(), Some(Transmit::Close));
}

// ---------------------------------------------------------------- hostile broker bytes

mod hostile {
    use super::*;
    use proptest::prelude::*;

    /// Frames that pass the fixed-header checks (a valid first byte and length), with any
    /// body: the v5 decoders (properties, acks, DISCONNECT, AUTH, aliases) get garbage.
    fn frame_of_any_body() -> impl Strategy<Value = Vec<u8>> {
        let first = prop::sample::select(vec![
            0x30u8, 0x32, 0x34, 0x3B, 0x40, 0x50, 0x62, 0x70, 0x90, 0xB0, 0xD0, 0xE0, 0xF0,
        ]);
        (first, prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(first, body)| frame(first, &body, "fuzz").unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(512) })]

        #[test]
        fn garbage_after_a_v5_connack_never_panics_and_ends_in_a_stated_reason(
            frames in prop::collection::vec(frame_of_any_body(), 1..6),
            alias_max in 0u16..4,
        ) {
            let options = ConnectOptions {
                properties: ConnectProperties {
                    topic_alias_maximum: Some(alias_max),
                    ..ConnectProperties::default()
                },
                ..opts()
            };
            let mut caps = props();
            caps.two(id::TOPIC_ALIAS_MAXIMUM, 2).two(id::RECEIVE_MAXIMUM, 1);
            let mut sim = Sim::online_with(options, connack(false, 0, caps));
            for f in &frames {
                sim.feed(f);
            }
            let out = sim.out();
            let events = sim.events();
            // Whatever happened, the session is in a stated state and, if the link ended,
            // it said why and asked to close it (after at most one DISCONNECT).
            if let Some(reason) = events.iter().find_map(|e| match e {
                Event::ConnectionLost(r) => Some(r),
                _ => None,
            }) {
                prop_assert!(!reason.to_string().is_empty());
                prop_assert!(out.contains(&Out::Close), "{:?}", out);
                prop_assert_eq!(sim.s.state(), ConnectionState::Reconnecting);
            } else {
                prop_assert_eq!(sim.s.state(), ConnectionState::Connected);
            }
        }
    }
}
