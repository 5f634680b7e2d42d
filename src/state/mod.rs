//! UI state: plain data and reducers, testable natively.
//!
//! The session's events are folded in with [`apply`], which reports which slices changed so
//! the UI can notify only the components that read them (once per animation frame).

pub mod connection;
pub mod devices;
pub mod display;
pub mod mesh;
pub mod messages;
pub mod payload;
pub mod profile;
pub mod requests;
pub mod subscriptions;
mod time;
pub mod topics;

use crate::bridge::{Refused, Update};
use crate::mesh::MeshUpdate;
use crate::mqtt::{Event, Message, PublishId, PublishOutcome};
use mesh::Delivery;

pub use connection::ConnectionView;
pub use devices::DeviceRegistry;
pub use mesh::MeshView;
pub use messages::MessageLog;
pub use subscriptions::Subscriptions;
pub use topics::TopicTree;

/// Everything the UI shows, as plain data. In the browser it is also a reactive store
/// (`crate::store`): each field can be tracked and notified on its own.
#[derive(Debug, Default)]
#[cfg_attr(target_arch = "wasm32", derive(reactive_stores::Store))]
pub struct State {
    pub connection: ConnectionView,
    pub subscriptions: Subscriptions,
    pub messages: MessageLog,
    pub devices: DeviceRegistry,
    pub topics: TopicTree,
    /// Meshtastic chat, unreadable-packet counts, channel settings.
    pub mesh: MeshView,
    /// The publish form's last outcome.
    pub publish: PublishView,
    /// The send-to-node form's last outcome.
    pub send: PublishView,
    /// MQTT 5 requests sent from the publish form and their responses.
    pub requests: requests::Requests,
    /// Answers with held payloads so far ([`Update::Payloads`]): what a message opened in
    /// full, or an export, waits on (rather than the whole log, which a flood holds back).
    pub fetched: u64,
}

/// Which slices an [`apply`] touched.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changes {
    pub connection: bool,
    pub subscriptions: bool,
    pub messages: bool,
    pub devices: bool,
    pub publish: bool,
    pub mesh: bool,
    /// Held payloads came ([`State::fetched`]).
    pub fetched: bool,
}

impl Changes {
    pub fn merge(&mut self, other: Changes) {
        self.connection |= other.connection;
        self.subscriptions |= other.subscriptions;
        self.messages |= other.messages;
        self.devices |= other.devices;
        self.publish |= other.publish;
        self.mesh |= other.mesh;
        self.fetched |= other.fetched;
    }
    pub fn any(&self) -> bool {
        self.connection
            || self.subscriptions
            || self.messages
            || self.devices
            || self.publish
            || self.mesh
            || self.fetched
    }
}

/// The outcome of the last publish made from one form (`publish-result`, `send-result`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PublishView {
    /// The publish whose outcome is shown (the UI allocates ids before sending, so every
    /// outcome arrives after this is set); other ids' outcomes are ignored.
    pub last_id: Option<PublishId>,
    /// `sending`, `sent`, `acked`, `queued` or `failed: <reason>`.
    pub result: String,
    /// Publishes dropped from the outbox (expired / full), newest last, for the user to see.
    pub dropped: Vec<String>,
}

impl PublishView {
    /// The user started a publish with this id.
    pub fn started(&mut self, id: PublishId) {
        self.last_id = Some(id);
        self.result = "sending".into();
    }
    /// The form refused the publish before anything was sent.
    pub fn refused(&mut self, reason: &str) {
        self.last_id = None;
        self.result = format!("failed: {reason}");
    }
    /// Records an outcome; true when it is the one shown.
    pub(crate) fn outcome(&mut self, id: PublishId, text: &str) -> bool {
        if self.last_id == Some(id) {
            self.result = text.to_string();
            return true;
        }
        false
    }
}

/// Text for `publish-result`.
pub fn outcome_text(outcome: &PublishOutcome) -> String {
    match outcome {
        PublishOutcome::Sent => "sent".into(),
        PublishOutcome::Acked => "acked".into(),
        PublishOutcome::Queued => "queued".into(),
        PublishOutcome::Failed(why) => format!("failed: {why}"),
    }
}

/// Folds one update from the session (in the page or in the worker) into the state.
pub fn apply_update(state: &mut State, update: Update, now_ms: u64) -> Changes {
    let mut changes = Changes::default();
    match update {
        Update::Session(Event::Message(message)) => return apply_message(state, message, now_ms),
        Update::Session(event) => return apply(state, &event, now_ms),
        // The store acts on `Quiet` (when to show what its cadence holds back).
        Update::Ready | Update::Quiet => {}
        Update::Broker(in_use) => {
            if in_use.moved_because.is_none() {
                state.connection.connect_taken();
            }
            state.connection.broker = Some(in_use);
            changes.connection = true;
        }
        Update::WorkerFailed(why) => {
            state.connection.refused_locally(why);
            changes.connection = true;
        }
        Update::Held(held) => {
            state.messages.mark_held(held);
            changes.messages = true;
        }
        Update::Payloads { found, missing } => {
            // The list shows previews either way: only those waiting for these see a change.
            state.messages.fill_held(found, &missing);
            state.fetched += 1;
            changes.fetched = true;
        }
        Update::Mesh(MeshUpdate::Packet(packet)) => {
            changes.devices = state.devices.apply_mesh_packet(&packet, now_ms);
            let (shown, delivery) = state.mesh.apply_packet(&packet, now_ms);
            changes.mesh = shown;
            if let (Some(delivery), Some(publish)) = (delivery, state.mesh.last_publish) {
                let text = match delivery {
                    Delivery::Acked => "acked".to_string(),
                    Delivery::Failed(error) => format!("failed: {error}"),
                };
                changes.publish |= state.send.outcome(publish, &text);
            }
        }
        Update::Mesh(MeshUpdate::Undecodable { channel, why }) => {
            changes.mesh = state.mesh.count_unreadable(&channel, &why);
        }
        Update::MeshKeys { refused } => {
            state.mesh.key_errors = refused;
            changes.mesh = true;
        }
        Update::Refused { command, reason } => match command {
            Refused::Publish { id } => {
                let text = format!("failed: {reason}");
                for view in [&mut state.publish, &mut state.send] {
                    changes.publish |= view.outcome(id, &text);
                }
            }
            Refused::Connect { .. } => {
                state.connection.refused_locally(reason.to_string());
                changes.connection = true;
            }
            Refused::Subscribe { filter } | Refused::Unsubscribe { filter } => {
                changes.subscriptions = state.subscriptions.fail(&filter, reason.to_string());
            }
        },
    }
    changes
}

/// Whether the UI reads `message`'s payload whole as it arrives, so that the session's side
/// must not cut it to a preview ([`crate::bridge::held`]): on the device list's topics, up to
/// the size the device list reads, and MQTT 5 messages with correlation data (responses to
/// the publish form's requests).
pub fn reads_whole_payload(message: &Message) -> bool {
    (devices::reads_topic(&message.topic) && message.payload.len() <= devices::MAX_PAYLOAD_BYTES)
        || message
            .properties
            .as_deref()
            .is_some_and(|p| p.correlation_data.is_some())
}

/// Folds one received message into the state; the log takes its bytes.
fn apply_message(state: &mut State, message: Message, now_ms: u64) -> Changes {
    // A Meshtastic JSON text goes to the chat as well as to its node.
    let (device, chat) = devices::read_message(&message.topic, &message.payload);
    let chat = chat.is_some_and(|packet| state.mesh.apply_packet(&packet, now_ms).0);
    let changes = Changes {
        mesh: chat,
        subscriptions: state.subscriptions.count_message(&message.topic),
        messages: true,
        publish: state.requests.observe(&message),
        devices: state.devices.apply(device, message.retain, now_ms),
        ..Changes::default()
    };
    state
        .topics
        .record(&message.topic, &message.payload, message.retain, now_ms);
    state.messages.push(message, now_ms);
    changes
}

/// Folds one session event into the state. `now_ms` is wall-clock time (ms since the epoch).
pub fn apply(state: &mut State, event: &Event, now_ms: u64) -> Changes {
    let mut changes = Changes::default();
    match event {
        Event::Message(message) => return apply_message(state, message.clone(), now_ms),
        Event::Publish { id, outcome } => {
            if let PublishOutcome::Failed(why) = outcome {
                state
                    .publish
                    .dropped
                    .push(format!("publish #{} not sent: {why}", id.0));
                if state.publish.dropped.len() > 50 {
                    state.publish.dropped.remove(0);
                }
                changes.publish = true;
            }
            let mut text = outcome_text(outcome);
            // For a mesh packet the broker's PUBACK only means "on the broker": `acked` is
            // kept for the mesh's own ACK.
            if state.mesh.last_publish == Some(*id) && *outcome == PublishOutcome::Acked {
                text = "sent".into();
            }
            for view in [&mut state.publish, &mut state.send] {
                changes.publish |= view.outcome(*id, &text);
            }
        }
        Event::SubscribeRequested { .. }
        | Event::Subscribed { .. }
        | Event::SubscribeFailed { .. }
        | Event::Unsubscribed { .. }
        | Event::UnsubscribeFailed { .. } => {
            changes.subscriptions = state.subscriptions.apply(event);
        }
        Event::State(_)
        | Event::Capabilities(_)
        | Event::Connected { .. }
        | Event::ConnectionLost(_)
        | Event::ReconnectScheduled { .. } => {
            changes.connection = state.connection.apply(event, now_ms);
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::Refusal;
    use crate::mqtt::{CommandError, ConnectionState, Message, PublishFailure, QoS};

    fn message(topic: &str, payload: &str) -> Event {
        Event::Message(Message {
            topic: topic.into(),
            payload: payload.as_bytes().to_vec(),
            qos: QoS::AtMostOnce,
            retain: false,
            dup: false,
            properties: None,
        })
    }

    #[test]
    fn a_held_payload_is_logged_as_its_preview_and_completed_by_the_session_side() {
        use crate::bridge::held::{HeldPayloads, PREVIEW_BYTES};
        use crate::bridge::{execute, Brokers, Command, FetchedPayload};
        // The session's side as the transport runs it: the message, then what follows it.
        let mut held = HeldPayloads::default();
        let mut state = State::default();
        let whole = format!("{{\"values\":[{}0]}}", "1,".repeat(3000));
        let mut event = message("telemetry/big", &whole);
        let after = crate::bridge::observe(&Default::default(), &mut held, &mut event);
        apply_update(&mut state, Update::Session(event), 0);
        for update in after {
            apply_update(&mut state, update, 0);
        }
        let logged = state.messages.get(1).unwrap();
        assert_eq!(logged.payload.len(), PREVIEW_BYTES);
        assert_eq!(logged.size(), whole.len());
        // The topic tree's value is the preview's start.
        assert!(state.topics.get("telemetry/big").is_some());

        let keys = state.messages.fetchable_keys();
        let mut session = crate::mqtt::Session::new(Default::default());
        let answer = execute(
            &mut session,
            &mut Brokers::default(),
            &mut Default::default(),
            &mut held,
            Command::FetchPayloads { keys },
            0,
        )
        .unwrap();
        assert!(matches!(&answer, Update::Payloads { found, .. }
            if found == &vec![FetchedPayload { key: 1, payload: whole.clone().into_bytes() }]));
        let changes = apply_update(&mut state, answer, 0);
        assert!(changes.fetched && !changes.messages);
        assert_eq!(state.fetched, 1);
        assert_eq!(state.messages.get(1).unwrap().payload, whole.as_bytes());
        assert_eq!(state.messages.get(1).unwrap().held, None);
    }

    #[test]
    fn large_payloads_on_device_topics_still_reach_the_device_list_whole() {
        let mut held = crate::bridge::held::HeldPayloads::default();
        let mut state = State::default();
        let padding = "x".repeat(3000);
        let status = format!("{{\"state\":\"online\",\"battery\":88,\"note\":\"{padding}\"}}");
        let mut event = message("devices/d1/status", &status);
        let after = crate::bridge::observe(&Default::default(), &mut held, &mut event);
        assert_eq!(after, vec![]);
        apply_update(&mut state, Update::Session(event), 0);
        assert!(state.devices.get("d1").is_some());
        assert_eq!(state.messages.get(1).unwrap().payload.len(), status.len());
    }

    #[test]
    fn a_message_is_logged_counted_on_its_subscription_and_feeds_the_device_list() {
        let mut state = State::default();
        state.subscriptions.want("devices/#", QoS::AtLeastOnce);
        state.subscriptions.want("other/#", QoS::AtMostOnce);
        let changes = apply(
            &mut state,
            &message("devices/pump-1/status", "online"),
            1_000,
        );
        assert!(changes.messages && changes.subscriptions && changes.devices);
        assert_eq!(state.messages.len(), 1);
        assert_eq!(state.subscriptions.get("devices/#").unwrap().count, 1);
        assert_eq!(state.subscriptions.get("other/#").unwrap().count, 0);
        assert!(state.devices.get("pump-1").is_some());
    }

    #[test]
    fn a_meshtastic_json_text_shows_once_in_the_chat_however_many_gateways_forward_it() {
        let mut state = State::default();
        let uplink = |gateway: &str, kind: &str, payload: &str| {
            message(
                &format!("msh/US/2/json/LongFast/{gateway}"),
                &format!(
                    r#"{{"channel":0,"from":439041101,"id":77,"sender":"{gateway}","timestamp":1700000000,"to":4294967295,"type":"{kind}","payload":{payload}}}"#
                ),
            )
        };
        let text = r#"{"text":"hello <b>mesh</b>"}"#;
        let first = apply(&mut state, &uplink("!0000aaaa", "text", text), 1_000);
        assert!(first.mesh && first.devices);
        let again = apply(&mut state, &uplink("!0000bbbb", "text", text), 1_100);
        assert!(!again.mesh, "a second gateway's copy is not a new text");
        // The same packet decrypted from an envelope (the worker's decoder) is not new either.
        let mut envelope = devices::read_message(
            "msh/US/2/json/LongFast/!0000aaaa",
            br#"{"from":439041101,"id":77,"type":"text","payload":{"text":"hello <b>mesh</b>"}}"#,
        )
        .1
        .unwrap();
        envelope.channel = "LongFast".into();
        let decrypted = apply_update(
            &mut state,
            Update::Mesh(crate::mesh::MeshUpdate::Packet(envelope)),
            1_150,
        );
        assert!(!decrypted.mesh);
        let shown: Vec<_> = state
            .mesh
            .texts()
            .map(|t| (t.from, t.id, t.text.clone()))
            .collect();
        assert_eq!(shown, [(0x1a2b3c4d, 77, "hello <b>mesh</b>".to_string())]);
        // Other uplinks feed the node only.
        let info = r#"{"id":"!1a2b3c4d","longname":"Ridge","shortname":"RDG"}"#;
        let nodeinfo = apply(&mut state, &uplink("!0000aaaa", "nodeinfo", info), 1_200);
        assert!(!nodeinfo.mesh && nodeinfo.devices);
        assert_eq!(state.mesh.texts().len(), 1);
    }

    #[test]
    fn publish_result_follows_only_the_latest_publish() {
        let mut state = State::default();
        state.publish.started(PublishId(1));
        state.publish.started(PublishId(2));
        let outcome = |id, outcome| Event::Publish {
            id: PublishId(id),
            outcome,
        };
        apply(&mut state, &outcome(1, PublishOutcome::Acked), 0);
        assert_eq!(state.publish.result, "sending");
        apply(&mut state, &outcome(2, PublishOutcome::Queued), 0);
        assert_eq!(state.publish.result, "queued");
        apply(&mut state, &outcome(2, PublishOutcome::Acked), 0);
        assert_eq!(state.publish.result, "acked");
    }

    #[test]
    fn a_dropped_outbox_publish_is_reported_even_when_it_is_not_the_latest() {
        let mut state = State::default();
        state.publish.started(PublishId(9));
        let failed = PublishOutcome::Failed(PublishFailure::Expired { after_ms: 300_000 });
        let changes = apply(
            &mut state,
            &Event::Publish {
                id: PublishId(3),
                outcome: failed,
            },
            0,
        );
        assert!(changes.publish);
        assert_eq!(
            state.publish.dropped,
            vec!["publish #3 not sent: expired: not sent within 5 min"]
        );
        assert_eq!(state.publish.result, "sending");
    }

    #[test]
    fn connection_events_touch_only_the_connection_slice() {
        let mut state = State::default();
        let changes = apply(&mut state, &Event::State(ConnectionState::Connecting), 0);
        assert_eq!(
            changes,
            Changes {
                connection: true,
                ..Changes::default()
            }
        );
    }

    #[test]
    fn each_form_follows_its_own_publish_and_a_refusal_reaches_the_right_one() {
        let mut state = State::default();
        state.publish.started(PublishId(40));
        state.send.started(PublishId(41));
        let acked = Event::Publish {
            id: PublishId(40),
            outcome: PublishOutcome::Acked,
        };
        apply_update(&mut state, Update::Session(acked), 0);
        assert_eq!(state.publish.result, "acked");
        assert_eq!(state.send.result, "sending");
        let refusal = Update::Refused {
            command: Refused::Publish { id: PublishId(41) },
            reason: Refusal::Session(CommandError::NotStarted),
        };
        assert!(apply_update(&mut state, refusal, 0).publish);
        assert!(
            state.send.result.starts_with("failed: not connected"),
            "{}",
            state.send.result
        );
        assert_eq!(state.publish.result, "acked");
    }

    #[test]
    fn a_refused_subscribe_marks_the_subscription_failed_with_the_reason() {
        let mut state = State::default();
        state.subscriptions.want("a/b", QoS::AtMostOnce);
        let refusal = Update::Refused {
            command: Refused::Subscribe {
                filter: "a/b".into(),
            },
            reason: Refusal::Session(CommandError::NotStarted),
        };
        assert!(apply_update(&mut state, refusal, 0).subscriptions);
        let sub = state.subscriptions.get("a/b").unwrap();
        assert_eq!(sub.state.as_str(), "failed");
    }

    #[test]
    fn a_refused_connect_or_a_failed_worker_is_shown_as_the_connection_error() {
        let mut state = State::default();
        let refusal = Update::Refused {
            command: Refused::Connect {
                url: "http://x".into(),
            },
            reason: Refusal::BrokerUrl("broker URL must start with ws://".into()),
        };
        assert!(apply_update(&mut state, refusal, 0).connection);
        assert_eq!(
            state.connection.last_error.as_deref(),
            Some("broker URL must start with ws://")
        );
        apply_update(&mut state, Update::WorkerFailed("no worker".into()), 0);
        assert_eq!(state.connection.last_error.as_deref(), Some("no worker"));
    }

    #[test]
    fn a_failover_move_shows_the_broker_in_use_and_why() {
        let mut state = State::default();
        let moved = crate::bridge::BrokerInUse {
            url: "ws://b/mqtt".into(),
            index: 1,
            of: 2,
            moved_because: Some("ws://a/mqtt failed 3 times in a row (refused)".into()),
        };
        let changes = apply_update(&mut state, Update::Broker(moved.clone()), 0);
        assert!(changes.connection);
        assert_eq!(state.connection.broker, Some(moved));
    }

    #[test]
    fn an_old_refusal_arriving_after_the_connect_press_is_cleared_by_the_connect_answer() {
        let mut state = State::default();
        state.connection.user_connect();
        let refused = Event::ConnectionLost(crate::mqtt::DisconnectReason::Refused(
            crate::mqtt::ConnectRefused::NotAuthorized,
        ));
        apply(&mut state, &refused, 0);
        assert!(
            state.connection.last_error.is_some(),
            "the old attempt's refusal"
        );
        let answer = crate::bridge::BrokerInUse {
            url: "ws://a/mqtt".into(),
            index: 0,
            of: 1,
            moved_because: None,
        };
        apply_update(&mut state, Update::Broker(answer), 0);
        assert_eq!(state.connection.last_error, None);
        apply(
            &mut state,
            &Event::Connected {
                session_present: false,
            },
            0,
        );
        assert_eq!(
            state.connection.last_error, None,
            "connected with a clean error line"
        );
    }

    fn mesh_packet(from: u32, id: u32, gateway: u32, body: crate::mesh::MeshBody) -> Update {
        Update::Mesh(MeshUpdate::Packet(crate::mesh::MeshPacketSeen {
            region: "EU_868".into(),
            channel: "LongFast".into(),
            gateway: Some(gateway),
            from,
            to: crate::mesh::BROADCAST,
            id,
            rx_time: None,
            rx_snr: Some(6.25),
            rx_rssi: Some(-71),
            hops_away: Some(1),
            via_mqtt: false,
            want_ack: false,
            body,
        }))
    }

    #[test]
    fn decoded_mesh_packets_fill_one_node_row_and_the_chat_once_across_gateways() {
        use crate::mesh::MeshBody;
        let mut state = State::default();
        let info = MeshBody::NodeInfo {
            long_name: Some("Ridge".into()),
            short_name: Some("RDG".into()),
            hardware: Some("RAK4631".into()),
            role: Some("ROUTER".into()),
        };
        let battery = MeshBody::Telemetry(vec![("battery_level".into(), 64.0)]);
        let text = MeshBody::Text {
            text: "hi".into(),
            reply_id: None,
            emoji: false,
        };
        for gateway in [0xaaaa, 0xbbbb] {
            apply_update(&mut state, mesh_packet(7, 1, gateway, info.clone()), 10);
            apply_update(&mut state, mesh_packet(7, 2, gateway, battery.clone()), 10);
            let changes = apply_update(&mut state, mesh_packet(7, 3, gateway, text.clone()), 10);
            assert_eq!(
                changes.mesh,
                gateway == 0xaaaa,
                "the repeat is not shown again"
            );
        }
        let node = state.devices.iter().next().unwrap();
        assert_eq!(state.devices.iter().count(), 1);
        assert_eq!(node.id, "!00000007");
        assert_eq!(node.name.as_deref(), Some("Ridge"));
        assert_eq!(node.role.as_deref(), Some("ROUTER"));
        assert_eq!(node.number("battery_level"), Some(64.0));
        assert_eq!(node.number("hops_away"), Some(1.0));
        assert_eq!(node.via, [0xbbbb, 0xaaaa]);
        assert_eq!(node.message_count, 3);
        assert_eq!(state.mesh.texts().count(), 1);
        assert_eq!(state.devices.node_name(7), Some("Ridge"));
    }

    #[test]
    fn a_mesh_send_shows_sent_on_the_brokers_puback_and_acked_on_the_meshes_ack() {
        use crate::mesh::MeshBody;
        let mut state = State::default();
        let id = PublishId(5);
        state.send.started(id);
        state.mesh.last_publish = Some(id);
        state.mesh.await_ack(id, 0xbeef, 0);
        let puback = Update::Session(Event::Publish {
            id,
            outcome: PublishOutcome::Acked,
        });
        apply_update(&mut state, puback, 1);
        assert_eq!(state.send.result, "sent");
        let routing = |error: &str| MeshBody::Routing {
            request_id: Some(0xbeef),
            error: error.into(),
        };
        let changes = apply_update(&mut state, mesh_packet(9, 77, 0xaaaa, routing("NONE")), 2);
        assert!(changes.publish);
        assert_eq!(state.send.result, "acked");
        // A refusal from the mesh shows its name.
        let id = PublishId(6);
        state.send.started(id);
        state.mesh.last_publish = Some(id);
        state.mesh.await_ack(id, 0xbeef, 0);
        apply_update(
            &mut state,
            mesh_packet(9, 78, 0xaaaa, routing("NO_ROUTE")),
            3,
        );
        assert_eq!(state.send.result, "failed: NO_ROUTE");
    }

    #[test]
    fn unreadable_envelopes_and_refused_keys_are_counted_not_shown_as_messages_of_the_chat() {
        let mut state = State::default();
        let bad = Update::Mesh(MeshUpdate::Undecodable {
            channel: "LongFast".into(),
            why: crate::mesh::MeshUndecodable::WrongKey,
        });
        assert!(apply_update(&mut state, bad, 0).mesh);
        assert_eq!(state.mesh.unreadable["LongFast"].wrong_key, 1);
        assert_eq!(state.mesh.texts().count(), 0);
        let keys = Update::MeshKeys {
            refused: vec![("Broken".into(), "not base64".into())],
        };
        apply_update(&mut state, keys, 0);
        assert_eq!(state.mesh.key_errors.len(), 1);
    }
}
