use proptest::prelude::*;

use super::held::{self, HeldPayload, HeldPayloads};
use super::*;
use crate::mesh::MeshDecoder;
use crate::mqtt::{
    ConnectField, ConnectRefused, ConnectionState, DisconnectReason, EncodeError, LastWill,
    Message, ProtocolError, PublishFailure, PublishOutcome, SessionConfig, Transmit,
    TransportError,
};

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn text() -> impl Strategy<Value = String> {
    // Any Unicode, NUL and multibyte included: the wire must not care.
    ".{0,12}"
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..40)
}

fn options() -> impl Strategy<Value = ConnectOptions> {
    let will = (text(), bytes(), qos(), any::<bool>()).prop_map(|(topic, payload, qos, retain)| {
        LastWill {
            topic,
            payload,
            qos,
            retain,
            properties: Default::default(),
        }
    });
    (
        text(),
        prop::option::of(text()),
        prop::option::of(text()),
        any::<u16>(),
        any::<bool>(),
        prop::option::of(will),
    )
        .prop_map(
            |(client_id, username, password, keepalive_secs, clean_session, last_will)| {
                ConnectOptions {
                    client_id,
                    username,
                    password,
                    keepalive_secs,
                    clean_session,
                    last_will,
                    ..ConnectOptions::default()
                }
            },
        )
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (text(), prop::collection::vec(text(), 0..3), options()).prop_map(
            |(url, failover, options)| Command::Connect {
                url,
                failover,
                options
            }
        ),
        Just(Command::Disconnect),
        (text(), qos()).prop_map(|(filter, qos)| Command::Subscribe { filter, qos }),
        text().prop_map(|filter| Command::Unsubscribe { filter }),
        (any::<u64>(), text(), bytes(), qos(), any::<bool>()).prop_map(
            |(id, topic, payload, qos, retain)| Command::Publish {
                id: PublishId(id),
                topic,
                payload,
                qos,
                retain,
            }
        ),
        any::<u64>().prop_map(|ms| Command::SetOutboxExpiry { ms }),
        prop::collection::vec(any::<u64>(), 0..4).prop_map(|keys| Command::FetchPayloads { keys }),
        any::<u64>().prop_map(|count| Command::KeepMessages { count }),
        Just(Command::ForgetPayloads),
    ]
}

fn disconnect_reason() -> impl Strategy<Value = DisconnectReason> {
    prop_oneof![
        Just(DisconnectReason::User),
        any::<u8>().prop_map(|c| DisconnectReason::Refused(ConnectRefused::Other(c))),
        Just(DisconnectReason::Refused(ConnectRefused::NotAuthorized)),
        Just(DisconnectReason::ConnackTimeout),
        Just(DisconnectReason::KeepaliveTimeout),
        text().prop_map(|w| DisconnectReason::Protocol(ProtocolError::Malformed(w))),
        (any::<usize>(), any::<usize>()).prop_map(|(size, max)| DisconnectReason::Protocol(
            ProtocolError::PacketTooLarge { size, max }
        )),
        Just(DisconnectReason::Protocol(ProtocolError::TextFrame)),
        (any::<u16>(), text()).prop_map(|(code, reason)| DisconnectReason::Transport(
            TransportError::Closed { code, reason }
        )),
        text().prop_map(|w| DisconnectReason::Transport(TransportError::OpenFailed(w))),
        text().prop_map(|w| DisconnectReason::Transport(TransportError::Other(w))),
        text().prop_map(|w| DisconnectReason::Protocol(ProtocolError::Unexpected(w))),
        encode_error().prop_map(DisconnectReason::LocalEncode),
    ]
}

fn state() -> impl Strategy<Value = ConnectionState> {
    prop_oneof![
        Just(ConnectionState::Disconnected),
        Just(ConnectionState::Connecting),
        Just(ConnectionState::Connected),
        Just(ConnectionState::Reconnecting),
    ]
}

fn outcome() -> impl Strategy<Value = PublishOutcome> {
    prop_oneof![
        Just(PublishOutcome::Sent),
        Just(PublishOutcome::Acked),
        Just(PublishOutcome::Queued),
        publish_failure().prop_map(PublishOutcome::Failed),
    ]
}

fn encode_error() -> impl Strategy<Value = EncodeError> {
    (text(), text()).prop_map(|(packet, detail)| EncodeError { packet, detail })
}

fn publish_failure() -> impl Strategy<Value = PublishFailure> {
    prop_oneof![
        any::<u64>().prop_map(|after_ms| PublishFailure::Expired { after_ms }),
        any::<usize>().prop_map(|waiting| PublishFailure::OutboxFull { waiting }),
        Just(PublishFailure::DisconnectedBeforeSent),
        Just(PublishFailure::DisconnectedUnacknowledged),
        Just(PublishFailure::SessionLeft),
        any::<u8>().prop_map(|times| PublishFailure::ClosedByBroker { times }),
        encode_error().prop_map(PublishFailure::Unencodable),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        state().prop_map(Event::State),
        any::<bool>().prop_map(|session_present| Event::Connected { session_present }),
        disconnect_reason().prop_map(Event::ConnectionLost),
        (any::<u32>(), any::<u64>())
            .prop_map(|(attempt, delay_ms)| Event::ReconnectScheduled { attempt, delay_ms }),
        (text(), qos()).prop_map(|(filter, qos)| Event::SubscribeRequested { filter, qos }),
        (text(), qos()).prop_map(|(filter, qos)| Event::Subscribed { filter, qos }),
        (text(), text()).prop_map(|(filter, reason)| Event::SubscribeFailed { filter, reason }),
        text().prop_map(|filter| Event::Unsubscribed { filter }),
        (text(), bytes(), qos(), any::<bool>(), any::<bool>()).prop_map(
            |(topic, payload, qos, retain, dup)| Event::Message(Message {
                topic,
                payload,
                qos,
                retain,
                dup,
                properties: None,
            })
        ),
        (any::<u64>(), outcome()).prop_map(|(id, outcome)| Event::Publish {
            id: PublishId(id),
            outcome,
        }),
    ]
}

fn command_error() -> impl Strategy<Value = CommandError> {
    prop_oneof![
        text().prop_map(CommandError::InvalidTopic),
        text().prop_map(CommandError::InvalidFilter),
        Just(CommandError::EmptyClientIdNeedsCleanSession),
        (any::<usize>(), any::<usize>())
            .prop_map(|(size, max)| CommandError::PayloadTooLarge { size, max }),
        Just(CommandError::NotStarted),
        (
            prop_oneof![
                Just(ConnectField::ClientId),
                Just(ConnectField::UserName),
                Just(ConnectField::Password),
                Just(ConnectField::WillPayload),
            ],
            any::<usize>()
        )
            .prop_map(|(field, len)| CommandError::FieldTooLong { field, len }),
        encode_error().prop_map(CommandError::Encode),
    ]
}

fn update() -> impl Strategy<Value = Update> {
    let refused = prop_oneof![
        text().prop_map(|url| Refused::Connect { url }),
        text().prop_map(|filter| Refused::Subscribe { filter }),
        text().prop_map(|filter| Refused::Unsubscribe { filter }),
        any::<u64>().prop_map(|id| Refused::Publish { id: PublishId(id) }),
    ];
    let refusal = prop_oneof![
        text().prop_map(Refusal::BrokerUrl),
        command_error().prop_map(Refusal::Session),
    ];
    prop_oneof![
        event().prop_map(Update::Session),
        (refused, refusal).prop_map(|(command, reason)| Update::Refused { command, reason }),
        Just(Update::Ready),
        Just(Update::Quiet),
        text().prop_map(Update::WorkerFailed),
        (any::<u64>(), any::<usize>())
            .prop_map(|(key, size)| Update::Held(HeldPayload { key, size })),
        (
            prop::collection::vec((any::<u64>(), bytes()), 0..3),
            prop::collection::vec(any::<u64>(), 0..3)
        )
            .prop_map(|(found, missing)| Update::Payloads {
                found: found
                    .into_iter()
                    .map(|(key, payload)| FetchedPayload { key, payload })
                    .collect(),
                missing,
            }),
    ]
}

proptest! {
    #[test]
    fn every_command_batch_survives_the_trip_to_the_worker(
        commands in prop::collection::vec(command(), 0..8)
    ) {
        let back: Vec<Command> = decode_batch(&encode_batch(&commands)).unwrap();
        prop_assert_eq!(back, commands);
    }

    #[test]
    fn every_update_batch_survives_the_trip_to_the_page(
        updates in prop::collection::vec(update(), 0..8)
    ) {
        let mut batch = Vec::new();
        for update in &updates {
            encode_into(&mut batch, update);
        }
        let back: Vec<Update> = decode_batch(&batch).unwrap();
        prop_assert_eq!(back, updates);
    }

    #[test]
    fn garbage_batches_are_errors_never_panics(garbage in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_batch::<Update>(&garbage);
        let _ = decode_batch::<Command>(&garbage);
    }
}

#[test]
fn a_lost_connection_keeps_its_type_across_the_bridge() {
    let reason = DisconnectReason::Refused(ConnectRefused::NotAuthorized);
    let batch = encode_batch(&[Update::Session(Event::ConnectionLost(reason.clone()))]);
    let back: Vec<Update> = decode_batch(&batch).unwrap();
    assert_eq!(back, vec![Update::Session(Event::ConnectionLost(reason))]);
}

#[test]
fn a_truncated_batch_is_an_error() {
    let batch = encode_batch(&[Update::Session(Event::Subscribed {
        filter: "abc".into(),
        qos: QoS::AtMostOnce,
    })]);
    for cut in 1..batch.len() {
        assert!(
            decode_batch::<Update>(&batch[..cut]).is_err(),
            "cut at {cut}"
        );
    }
}

fn session() -> Session {
    Session::new(SessionConfig::default())
}

/// [`execute`] with no mesh keys and no held payloads.
fn execute_plain(
    session: &mut Session,
    brokers: &mut Brokers,
    command: Command,
    now: Millis,
) -> Option<Update> {
    execute(
        session,
        brokers,
        &mut MeshDecoder::default(),
        &mut HeldPayloads::default(),
        command,
        now,
    )
}

fn connect(url: &str) -> Command {
    Command::Connect {
        url: url.into(),
        failover: Vec::new(),
        options: ConnectOptions {
            client_id: "c".into(),
            ..ConnectOptions::default()
        },
    }
}

#[test]
fn connect_sets_the_url_the_transport_opens_and_asks_for_a_link() {
    let mut s = session();
    let mut url = Brokers::default();
    assert!(matches!(
        execute_plain(&mut s, &mut url, connect(" ws://127.0.0.1:9001/mqtt "), 0),
        Some(Update::Broker(BrokerInUse {
            index: 0,
            of: 1,
            moved_because: None,
            ..
        }))
    ));
    assert_eq!(url.current(), "ws://127.0.0.1:9001/mqtt");
    assert_eq!(s.poll_transmit(), Some(Transmit::Open));
}

#[test]
fn a_bad_broker_url_is_refused_as_an_update_and_nothing_is_opened() {
    let mut s = session();
    let mut url = Brokers::default();
    url.set(vec!["ws://old/mqtt".into()]);
    let answer = execute_plain(&mut s, &mut url, connect("http://127.0.0.1:9001"), 0);
    let Some(Update::Refused {
        command: Refused::Connect { url: refused_url },
        reason: Refusal::BrokerUrl(why),
    }) = answer
    else {
        panic!("not a URL refusal: {answer:?}");
    };
    assert_eq!(refused_url, "http://127.0.0.1:9001");
    assert!(why.contains("ws://"), "{why}");
    assert_eq!(url.current(), "ws://old/mqtt", "the old URL stays");
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn refusals_name_the_command_they_answer() {
    let mut s = session();
    let mut url = Brokers::default();
    let publish = Command::Publish {
        id: PublishId(41),
        topic: "a/+".into(),
        payload: vec![],
        qos: QoS::AtMostOnce,
        retain: false,
    };
    assert!(matches!(
        execute_plain(&mut s, &mut url, publish, 0),
        Some(Update::Refused {
            command: Refused::Publish { id: PublishId(41) },
            reason: Refusal::Session(CommandError::InvalidTopic(_)),
        })
    ));
    let subscribe = Command::Subscribe {
        filter: "a/b".into(),
        qos: QoS::AtLeastOnce,
    };
    assert_eq!(
        execute_plain(&mut s, &mut url, subscribe, 0),
        Some(Update::Refused {
            command: Refused::Subscribe {
                filter: "a/b".into()
            },
            reason: Refusal::Session(CommandError::NotStarted),
        })
    );
    let unsubscribe = Command::Unsubscribe {
        filter: "a/#/b".into(),
    };
    assert!(matches!(
        execute_plain(&mut s, &mut url, unsubscribe, 0),
        Some(Update::Refused {
            command: Refused::Unsubscribe { .. },
            reason: Refusal::Session(CommandError::InvalidFilter(_)),
        })
    ));
}

#[test]
fn a_publish_keeps_the_id_the_ui_gave_it() {
    let mut s = session();
    let mut url = Brokers::default();
    execute_plain(&mut s, &mut url, connect("ws://h/mqtt"), 0);
    let publish = Command::Publish {
        id: PublishId(7),
        topic: "t".into(),
        payload: b"x".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: false,
    };
    assert_eq!(execute_plain(&mut s, &mut url, publish, 1), None);
    let events: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(
        events.contains(&Event::Publish {
            id: PublishId(7),
            outcome: PublishOutcome::Queued
        }),
        "{events:?}"
    );
}

#[test]
fn connecting_to_another_broker_leaves_the_old_sessions_unacked_publishes() {
    let mut s = session();
    let mut url = Brokers::default();
    execute_plain(&mut s, &mut url, connect("ws://a/mqtt"), 0);
    s.handle_open(0);
    s.handle_bytes(&[0x20, 0x02, 0x00, 0x00], 0); // CONNACK accepted
    let publish = Command::Publish {
        id: PublishId(5),
        topic: "t".into(),
        payload: b"x".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: false,
    };
    execute_plain(&mut s, &mut url, publish, 1);
    let _: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
    // Same broker again: the publish stays in flight.
    execute_plain(&mut s, &mut url, connect("ws://a/mqtt"), 2);
    assert_eq!(s.unacked_publishes(), 1);
    execute_plain(&mut s, &mut url, connect("ws://b/mqtt"), 3);
    assert_eq!(s.unacked_publishes(), 0);
    let events: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(
        events.contains(&Event::Publish {
            id: PublishId(5),
            outcome: PublishOutcome::Failed(PublishFailure::SessionLeft),
        }),
        "{events:?}"
    );
    assert_eq!(url.current(), "ws://b/mqtt");
}

/// Connected to the first of `urls`, events drained.
fn online_with_failover(urls: &[&str]) -> (Session, Brokers) {
    let mut s = session();
    let mut brokers = Brokers::default();
    let connect = Command::Connect {
        url: urls[0].into(),
        failover: urls[1..].iter().map(|u| u.to_string()).collect(),
        options: ConnectOptions {
            client_id: "c".into(),
            ..ConnectOptions::default()
        },
    };
    execute_plain(&mut s, &mut brokers, connect, 0);
    s.handle_open(0);
    s.handle_bytes(&[0x20, 0x02, 0x00, 0x00], 0);
    drain(&mut s, &mut brokers);
    (s, brokers)
}

/// The session's events run through failover, as the driver does; returns the moves.
fn drain(s: &mut Session, brokers: &mut Brokers) -> Vec<BrokerInUse> {
    while s.poll_transmit().is_some() {}
    let mut moves = Vec::new();
    while let Some(event) = s.poll_event() {
        moves.extend(brokers.observe(&event, s));
    }
    moves
}

/// One failed attempt: the link closes (or the retry's open fails), the retry comes due.
fn fail_once(s: &mut Session, brokers: &mut Brokers, now: &mut Millis) -> Vec<BrokerInUse> {
    s.handle_closed(TransportError::OpenFailed("refused".into()), *now);
    let moves = drain(s, brokers);
    *now = s.poll_timeout().expect("a retry is scheduled");
    s.handle_timeout(*now);
    assert_eq!(s.poll_transmit(), Some(Transmit::Open));
    moves
}

#[test]
fn failover_moves_after_three_failures_in_a_row_and_wraps_back_to_the_first() {
    let (mut s, mut brokers) = online_with_failover(&["ws://a/mqtt", "ws://b/mqtt"]);
    let mut now = 0;
    assert_eq!(fail_once(&mut s, &mut brokers, &mut now), []);
    assert_eq!(fail_once(&mut s, &mut brokers, &mut now), []);
    let moves = fail_once(&mut s, &mut brokers, &mut now);
    assert_eq!(
        brokers.current(),
        "ws://b/mqtt",
        "the retry opens the next broker"
    );
    let [moved] = &moves[..] else {
        panic!("{moves:?}")
    };
    assert_eq!(
        (moved.url.as_str(), moved.index, moved.of),
        ("ws://b/mqtt", 1, 2)
    );
    let why = moved.moved_because.as_deref().unwrap();
    assert!(
        why.starts_with("ws://a/mqtt failed 3 times in a row"),
        "{why}"
    );
    // A success on b resets the count; b failing three times goes back to a.
    s.handle_open(now);
    s.handle_bytes(&[0x20, 0x02, 0x00, 0x00], now);
    drain(&mut s, &mut brokers);
    for _ in 0..2 {
        assert_eq!(fail_once(&mut s, &mut brokers, &mut now), []);
    }
    assert_eq!(fail_once(&mut s, &mut brokers, &mut now).len(), 1);
    assert_eq!(brokers.current(), "ws://a/mqtt");
}

#[test]
fn a_single_broker_never_moves_and_a_user_disconnect_resets_the_count() {
    let (mut s, mut brokers) = online_with_failover(&["ws://a/mqtt"]);
    let mut now = 0;
    for _ in 0..6 {
        assert_eq!(fail_once(&mut s, &mut brokers, &mut now), []);
    }
    let (mut s, mut brokers) = online_with_failover(&["ws://a/mqtt", "ws://b/mqtt"]);
    fail_once(&mut s, &mut brokers, &mut now);
    fail_once(&mut s, &mut brokers, &mut now);
    s.disconnect(now);
    drain(&mut s, &mut brokers);
    let connect = Command::Connect {
        url: "ws://a/mqtt".into(),
        failover: vec!["ws://b/mqtt".into()],
        options: ConnectOptions {
            client_id: "c".into(),
            ..ConnectOptions::default()
        },
    };
    execute_plain(&mut s, &mut brokers, connect, now);
    drain(&mut s, &mut brokers);
    s.handle_open(now);
    assert_eq!(
        fail_once(&mut s, &mut brokers, &mut now),
        [],
        "counting starts again"
    );
    assert_eq!(brokers.current(), "ws://a/mqtt");
}

#[test]
fn a_bad_failover_url_refuses_the_connect_and_names_the_problem() {
    let mut s = session();
    let mut brokers = Brokers::default();
    let connect = Command::Connect {
        url: "ws://a/mqtt".into(),
        failover: vec!["http://b".into()],
        options: ConnectOptions {
            client_id: "c".into(),
            ..ConnectOptions::default()
        },
    };
    let answer = execute_plain(&mut s, &mut brokers, connect, 0);
    assert!(
        matches!(
            answer,
            Some(Update::Refused {
                reason: Refusal::BrokerUrl(_),
                ..
            })
        ),
        "{answer:?}"
    );
    assert_eq!(s.poll_transmit(), None, "nothing opened");
}

fn mesh_text(to: u32, text: &str, psk: &str) -> OutgoingPacket {
    OutgoingPacket {
        region: "EU_868".into(),
        channel: ChannelConfig {
            name: "LongFast".into(),
            psk: psk.into(),
        },
        from: 0x0a0b0c0d,
        to,
        packet_id: 0x1234,
        want_ack: true,
        body: crate::mesh::OutgoingBody::Text {
            text: text.into(),
            reply_id: None,
            emoji: false,
        },
    }
}

#[test]
fn a_mesh_send_publishes_the_encrypted_envelope_as_our_node_with_the_ui_id() {
    let (mut s, mut brokers) = online_with_failover(&["ws://a/mqtt"]);
    let _ = std::iter::from_fn(|| s.poll_transmit()).count();
    let mut mesh = MeshDecoder::default();
    let send = Command::MeshSend {
        id: PublishId(9),
        packet: mesh_text(0xa1b2c3d4, "over", "AQ=="),
    };
    assert_eq!(
        execute(
            &mut s,
            &mut brokers,
            &mut mesh,
            &mut HeldPayloads::default(),
            send,
            5
        ),
        None
    );
    let Some(Transmit::Bytes(bytes)) = s.poll_transmit() else {
        panic!("nothing sent");
    };
    let Ok(mqttbytes::v4::Packet::Publish(publish)) =
        mqttbytes::v4::read(&mut bytes::BytesMut::from(&bytes[..]), 1 << 20)
    else {
        panic!("not a PUBLISH");
    };
    assert_eq!(publish.topic, "msh/EU_868/2/e/LongFast/!0a0b0c0d");
    assert_eq!(publish.qos, mqttbytes::QoS::AtLeastOnce);
    // Our own decoder reads it back as the text we sent, to the node we chose.
    let Some(MeshUpdate::Packet(seen)) = mesh.decode(&publish.topic, &publish.payload) else {
        panic!("our envelope does not decode");
    };
    assert_eq!(
        (seen.from, seen.to, seen.id),
        (0x0a0b0c0d, 0xa1b2c3d4, 0x1234)
    );
    assert!(seen.want_ack);
    // The broker's PUBACK answers with the UI's id.
    s.handle_bytes(&[0x40, 0x02, 0x00, publish.pkid as u8], 6);
    let events: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(
        events.contains(&Event::Publish {
            id: PublishId(9),
            outcome: PublishOutcome::Acked
        }),
        "{events:?}"
    );
}

#[test]
fn a_mesh_send_that_cannot_be_built_is_refused_by_id_and_nothing_is_sent() {
    let (mut s, mut brokers) = online_with_failover(&["ws://a/mqtt"]);
    let _ = std::iter::from_fn(|| s.poll_transmit()).count();
    let mut mesh = MeshDecoder::default();
    for packet in [
        mesh_text(1, &"x".repeat(234), "AQ=="),
        mesh_text(1, "hi", "not base64!"),
    ] {
        let answer = execute(
            &mut s,
            &mut brokers,
            &mut mesh,
            &mut HeldPayloads::default(),
            Command::MeshSend {
                id: PublishId(3),
                packet,
            },
            0,
        );
        let Some(Update::Refused {
            command: Refused::Publish { id: PublishId(3) },
            reason: Refusal::Mesh(why),
        }) = answer
        else {
            panic!("not refused: {answer:?}");
        };
        assert!(!why.is_empty());
        assert_eq!(s.poll_transmit(), None);
    }
}

#[test]
fn channel_keys_the_decoder_refuses_are_reported_by_name() {
    let mut s = session();
    let mut mesh = MeshDecoder::default();
    let channels = vec![
        ChannelConfig::default_channel(),
        ChannelConfig {
            name: "Broken".into(),
            psk: "AAAA".into(),
        },
    ];
    let answer = execute(
        &mut s,
        &mut Brokers::default(),
        &mut mesh,
        &mut HeldPayloads::default(),
        Command::SetMeshChannels { channels },
        0,
    );
    let Some(Update::MeshKeys { refused }) = answer else {
        panic!("{answer:?}");
    };
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, "Broken");
}

#[test]
fn only_messages_on_mesh_protobuf_topics_are_decoded_after_the_event() {
    let mesh = MeshDecoder::default();
    let mut held = HeldPayloads::default();
    let mut observe = |mut event: Event| observe(&mesh, &mut held, &mut event);
    let message = message_event;
    assert_eq!(observe(message("devices/x/status", b"online")), vec![]);
    assert_eq!(
        observe(message("msh/US/2/json/LongFast/!01", b"{}")),
        vec![]
    );
    let garbage = observe(message("msh/US/2/e/LongFast/!01", b"\xff\xff"));
    assert!(
        matches!(
            &garbage[..],
            [Update::Mesh(MeshUpdate::Undecodable {
                why: crate::mesh::MeshUndecodable::BadEnvelope,
                ..
            })]
        ),
        "{garbage:?}"
    );
    let (topic, envelope) = build_envelope(&mesh_text(5, "yo", "AQ==")).unwrap();
    assert!(matches!(
        &observe(message(&topic, &envelope))[..],
        [Update::Mesh(MeshUpdate::Packet(_))]
    ));
}

#[test]
fn a_large_payload_reaches_the_ui_as_a_preview_and_its_rest_comes_on_request() {
    let mesh = MeshDecoder::default();
    let mut held = HeldPayloads::default();
    let whole = vec![b'x'; 4096];
    let mut event = message_event("bench/x", &whole);
    let after = observe(&mesh, &mut held, &mut event);
    assert_eq!(
        after,
        vec![Update::Held(HeldPayload { key: 1, size: 4096 })]
    );
    let Event::Message(preview) = &event else {
        panic!("{event:?}");
    };
    assert_eq!(preview.payload.len(), held::PREVIEW_BYTES);

    let mut s = session();
    let mut brokers = Brokers::default();
    let mut fetch = |keys: Vec<u64>, held: &mut HeldPayloads| {
        execute(
            &mut s,
            &mut brokers,
            &mut MeshDecoder::default(),
            held,
            Command::FetchPayloads { keys },
            0,
        )
    };
    assert_eq!(
        fetch(vec![1, 7], &mut held),
        Some(Update::Payloads {
            found: vec![FetchedPayload {
                key: 1,
                payload: whole
            }],
            missing: vec![7],
        })
    );
    // Handed over: the UI keeps it from now on.
    assert_eq!(
        fetch(vec![1], &mut held),
        Some(Update::Payloads {
            found: vec![],
            missing: vec![1]
        })
    );
}

/// The worker's outbox as the transport runs it: the first update of a batch schedules the
/// post `batch_delay_ms` after it; later ones join that batch. Returns the post times.
fn posts_for(arrivals: &[f64]) -> Vec<f64> {
    let mut posts: Vec<f64> = Vec::new();
    let mut due: Option<f64> = None;
    for &at in arrivals {
        if let Some(post_at) = due.filter(|&d| d <= at) {
            posts.push(post_at);
            due = None;
        }
        if due.is_none() {
            let since = posts.last().map_or(f64::INFINITY, |last| at - last);
            due = Some(at + f64::from(batch_delay_ms(since)));
        }
    }
    posts.extend(due);
    posts
}

#[test]
fn a_lone_update_is_posted_at_once_and_a_flood_once_per_frame() {
    // A CONNACK after a quiet second: no wait.
    assert_eq!(posts_for(&[1000.0]), vec![1000.0]);
    assert_eq!(posts_for(&[0.0, 500.0]), vec![0.0, 500.0]);
    // Two updates 5 ms apart: the second waits out the frame of the first post.
    assert_eq!(posts_for(&[100.0, 105.0]), vec![100.0, 116.0]);
    // A flood of one update per ms for a second: at most one post per frame, and no update
    // waits longer than a frame.
    let flood: Vec<f64> = (0..1000).map(f64::from).collect();
    let posts = posts_for(&flood);
    assert!(
        posts.windows(2).all(|w| w[1] - w[0] >= FRAME_MS),
        "{posts:?}"
    );
    assert!(posts.len() >= 1000 / 17, "{} posts", posts.len());
    for at in &flood {
        let posted = posts.iter().find(|&&p| p >= *at).unwrap();
        assert!(posted - at <= FRAME_MS, "update at {at} posted at {posted}");
    }
    // Clock oddities never make a negative or endless wait.
    assert_eq!(batch_delay_ms(f64::NAN), 0);
    assert_eq!(batch_delay_ms(-5.0), 16);
    assert_eq!(batch_delay_ms(15.5), 1);
}

/// The worker's quiet timer as the transport runs it, over messages at `arrivals` (ms):
/// when it says [`Update::Quiet`].
fn quiets_for(arrivals: &[f64]) -> Vec<f64> {
    let mut watch = QuietWatch::default();
    let mut timer: Option<f64> = None;
    let mut quiets = Vec::new();
    let mut fire_until = |t: f64, watch: &mut QuietWatch, timer: &mut Option<f64>| {
        while let Some(due) = timer.filter(|&due| due <= t) {
            *timer = match watch.timer_fired() {
                QuietCheck::Again => Some(due + f64::from(QUIET_MS)),
                QuietCheck::Quiet => {
                    quiets.push(due);
                    None
                }
            };
        }
    };
    for &at in arrivals {
        fire_until(at, &mut watch, &mut timer);
        if watch.message() {
            assert!(timer.is_none(), "the timer was set twice");
            timer = Some(at + f64::from(QUIET_MS));
        }
    }
    fire_until(f64::INFINITY, &mut watch, &mut timer);
    quiets
}

#[test]
fn the_end_of_a_burst_is_told_once_within_two_quiet_intervals() {
    let quiet = f64::from(QUIET_MS);
    // A flood of a message a millisecond for a second: never quiet until it stops.
    let flood: Vec<f64> = (0..1000).map(f64::from).collect();
    let quiets = quiets_for(&flood);
    assert_eq!(quiets.len(), 1, "{quiets:?}");
    assert!(
        quiets[0] >= 999.0 + quiet && quiets[0] <= 999.0 + 2.0 * quiet,
        "{quiets:?}"
    );
    // Gaps shorter than the interval are not an end either.
    let gappy: Vec<f64> = (0..100).map(|n| f64::from(n) * (quiet - 1.0)).collect();
    assert_eq!(quiets_for(&gappy).len(), 1);
    // Two bursts a second apart, and a lone message: each end is told, once.
    let mut two = flood.clone();
    two.extend((2000..2100).map(f64::from));
    two.push(5000.0);
    let quiets = quiets_for(&two);
    assert_eq!(quiets.len(), 3, "{quiets:?}");
    assert!(quiets[1] > 2099.0 && quiets[2] > 5000.0, "{quiets:?}");
    // Nothing at all: nothing to tell.
    assert!(quiets_for(&[]).is_empty());
}

#[test]
fn a_change_of_connection_status_goes_to_the_ui_without_waiting_out_the_frame() {
    for state in [
        ConnectionState::Connecting,
        ConnectionState::Connected,
        ConnectionState::Reconnecting,
        ConnectionState::Disconnected,
    ] {
        assert!(
            Update::Session(Event::State(state)).posts_at_once(),
            "{state:?}"
        );
    }
    assert!(Update::WorkerFailed("out of memory".into()).posts_at_once());
    // What a flood is made of waits for its frame.
    assert!(!Update::Session(Event::Message(Message {
        topic: "t".into(),
        payload: b"1".to_vec(),
        qos: QoS::AtMostOnce,
        retain: false,
        dup: false,
        properties: None,
    }))
    .posts_at_once());
    assert!(!Update::Session(Event::Subscribed {
        filter: "t/#".into(),
        qos: QoS::AtMostOnce,
    })
    .posts_at_once());
}

#[test]
fn an_item_that_cannot_be_encoded_is_left_out_and_the_batch_kept() {
    /// Writes a field, then fails (as a fallible Serialize impl would).
    struct Failing;
    impl serde::Serialize for Failing {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::{Error, SerializeTuple};
            let mut tuple = s.serialize_tuple(2)?;
            tuple.serialize_element(&0xABCD_u32)?;
            Err(S::Error::custom("cannot"))
        }
    }
    let mut batch = Vec::new();
    assert!(encode_into(&mut batch, &Update::Ready));
    assert!(!encode_into(&mut batch, &Failing));
    assert!(encode_into(
        &mut batch,
        &Update::WorkerFailed("after".into())
    ));
    assert_eq!(
        decode_batch::<Update>(&batch),
        Ok(vec![Update::Ready, Update::WorkerFailed("after".into())])
    );
}

/// A QoS 0 message as the session reports it.
fn message_event(topic: &str, payload: &[u8]) -> Event {
    Event::Message(Message {
        topic: topic.into(),
        payload: payload.to_vec(),
        qos: QoS::AtMostOnce,
        retain: false,
        dup: false,
        properties: None,
    })
}

fn message_update(topic: &str, payload: &[u8]) -> Update {
    Update::Session(message_event(topic, payload))
}

#[test]
fn a_burst_crosses_in_batches_the_page_can_take_one_at_a_time() {
    // A backlog drained in one go: 5,500 messages, then an ack.
    let mut batch = Batch::default();
    let mut posted: Vec<Vec<u8>> = Vec::new();
    let mut sent = Vec::new();
    for i in 0..5_500u32 {
        let update = message_update("burst/x", &i.to_be_bytes());
        if batch.push(&update) {
            posted.push(batch.take());
        }
        sent.push(update);
    }
    let ack = Update::Ready;
    assert!(!batch.push(&ack), "a lone update waits for its frame");
    sent.push(ack);
    posted.push(batch.take());
    assert!(batch.take().is_empty());
    let batches: Vec<Vec<Update>> = posted.iter().map(|b| decode_batch(b).unwrap()).collect();
    assert_eq!(batches.len(), 6);
    assert!(batches.iter().all(|b| b.len() <= BATCH_MAX_UPDATES));
    assert_eq!(batches.concat(), sent, "all of it, in order");
    // Large payloads fill a batch by size first.
    let big = message_update("big", &[7; 300 * 1024]);
    let mut batch = Batch::default();
    assert_eq!(
        (0..4).map(|_| batch.push(&big)).collect::<Vec<_>>(),
        [false, false, false, true]
    );
    assert_eq!(decode_batch::<Update>(&batch.take()).unwrap().len(), 4);
}
