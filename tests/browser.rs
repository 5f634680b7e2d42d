//! Browser tests: wasm-bindgen-test in headless Chromium. The transport and the mounted app
//! against the real mosquitto whose WebSocket URL `scripts/test.sh` passes at build time.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use mqtt_web::app::mount_into;
use mqtt_web::bridge::{Command, Update};
use mqtt_web::mqtt::{ConnectOptions, Event, PublishId, PublishOutcome, QoS, SessionConfig};
use mqtt_web::params::UrlParams;
use mqtt_web::transport::Driver;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

// Not `env!`: clippy and other builds that run no browser test compile this without it.
#[allow(clippy::option_env_unwrap)]
fn broker() -> &'static str {
    option_env!("MQTT_WEB_TEST_BROKER").expect("scripts/test.sh sets MQTT_WEB_TEST_BROKER")
}

/// Polls `check` every 20 ms until it is true or `ms` pass.
async fn wait_until(ms: u32, mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..ms / 20 {
        if check() {
            return true;
        }
        TimeoutFuture::new(20).await;
    }
    check()
}

/// A driver whose session events are recorded; any refusal fails the test at once.
fn recording_driver() -> (Driver, Rc<RefCell<Vec<Event>>>) {
    let events = Rc::new(RefCell::new(Vec::new()));
    let sink = events.clone();
    let driver = Driver::new(
        SessionConfig::default(),
        Box::new(move |batch| {
            for update in batch {
                match update {
                    Update::Session(event) => sink.borrow_mut().push(event),
                    // The broker in use, answering each connect.
                    Update::Broker(_) => {}
                    other => panic!("unexpected answer: {other:?}"),
                }
            }
        }),
    );
    (driver, events)
}

fn connect(url: &str, client_id: &str) -> Command {
    Command::Connect {
        url: url.into(),
        failover: Vec::new(),
        options: ConnectOptions {
            client_id: client_id.into(),
            ..ConnectOptions::default()
        },
    }
}

/// A recording driver connected as `client_id` with a QoS 1 subscription to `filter` the
/// broker has acknowledged.
async fn subscribed_driver(client_id: &str, filter: &str) -> (Driver, Rc<RefCell<Vec<Event>>>) {
    let (driver, events) = recording_driver();
    driver.execute(connect(broker(), client_id));
    driver.execute(Command::Subscribe {
        filter: filter.into(),
        qos: QoS::AtLeastOnce,
    });
    let subscribed = wait_until(5000, || {
        events
            .borrow()
            .iter()
            .any(|e| matches!(e, Event::Subscribed { filter: f, .. } if f == filter))
    })
    .await;
    assert!(subscribed, "no SUBACK: {:?}", events.borrow());
    (driver, events)
}

#[wasm_bindgen_test]
async fn the_driver_connects_subscribes_and_receives_its_own_qos1_publish() {
    let (driver, events) = subscribed_driver("browser-test-1", "browser-test/#").await;
    let id = PublishId(1);
    driver.execute(Command::Publish {
        id,
        topic: "browser-test/a".into(),
        payload: b"hello".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: false,
    });
    let got = wait_until(5000, || {
        let events = events.borrow();
        let acked = events.contains(&Event::Publish { id, outcome: PublishOutcome::Acked });
        let received = events.iter().any(|e| matches!(e, Event::Message(m) if m.topic == "browser-test/a" && m.payload == b"hello"));
        acked && received
    })
    .await;
    assert!(got, "publish not acked and received: {:?}", events.borrow());
    driver.execute(Command::Disconnect);
}

/// The broker sends a QoS 1 subscriber only a few messages ahead of its PUBACKs (mosquitto:
/// 20), so a flood from another client that arrives whole, in order, shows that the acks the
/// driver holds back for the frames queued behind them do go out with nothing else to send.
#[wasm_bindgen_test]
async fn a_qos1_flood_from_another_client_arrives_whole_on_the_acks_the_driver_sends() {
    const COUNT: usize = 300;
    let (subscriber, received) =
        subscribed_driver("browser-test-acks-sub", "browser-test/acks/#").await;
    let (publisher, _) = recording_driver();
    publisher.execute(connect(broker(), "browser-test-acks-pub"));
    for i in 0..COUNT {
        publisher.execute(Command::Publish {
            id: PublishId(i as u64 + 1),
            topic: "browser-test/acks/flood".into(),
            payload: i.to_string().into_bytes(),
            qos: QoS::AtLeastOnce,
            retain: false,
        });
    }
    let payloads = || -> Vec<String> {
        received
            .borrow()
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) if m.topic == "browser-test/acks/flood" => {
                    Some(String::from_utf8_lossy(&m.payload).into_owned())
                }
                _ => None,
            })
            .collect()
    };
    let all = wait_until(15000, || payloads().len() >= COUNT).await;
    assert!(all, "{} of {COUNT} arrived", payloads().len());
    let expected: Vec<String> = (0..COUNT).map(|i| i.to_string()).collect();
    assert_eq!(payloads(), expected);
    publisher.execute(Command::Disconnect);
    subscriber.execute(Command::Disconnect);
}

#[wasm_bindgen_test]
async fn an_unreachable_broker_is_reported_in_words() {
    let (driver, events) = recording_driver();
    driver.execute(connect("ws://127.0.0.1:1/", "x"));
    let reported = wait_until(5000, || {
        events.borrow().iter().any(|e| matches!(e, Event::ConnectionLost(reason) if reason.to_string().contains("could not connect to ws://127.0.0.1:1/")))
    })
    .await;
    assert!(reported, "{:?}", events.borrow());
    driver.execute(Command::Disconnect);
}

fn container() -> web_sys::HtmlElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let div = document
        .create_element("div")
        .unwrap()
        .dyn_into::<web_sys::HtmlElement>()
        .unwrap();
    document.body().unwrap().append_child(&div).unwrap();
    div
}

fn text(root: &web_sys::HtmlElement, testid: &str) -> String {
    root.query_selector(&format!("[data-testid=\"{testid}\"]"))
        .unwrap()
        .unwrap_or_else(|| panic!("no {testid}"))
        .text_content()
        .unwrap_or_default()
}

fn click(root: &web_sys::HtmlElement, testid: &str) {
    root.query_selector(&format!("[data-testid=\"{testid}\"]"))
        .unwrap()
        .unwrap_or_else(|| panic!("no {testid}"))
        .dyn_into::<web_sys::HtmlElement>()
        .unwrap()
        .click();
}

/// The text of the first element `selector` finds, if there is one.
fn text_at(root: &web_sys::HtmlElement, selector: &str) -> Option<String> {
    root.query_selector(selector)
        .unwrap()
        .and_then(|e| e.text_content())
}

/// Clicks the first element `selector` finds.
fn click_at(root: &web_sys::Element, selector: &str) {
    root.query_selector(selector)
        .unwrap()
        .unwrap_or_else(|| panic!("nothing at {selector}"))
        .unchecked_into::<web_sys::HtmlElement>()
        .click();
}

fn exists(root: &web_sys::HtmlElement, testid: &str) -> bool {
    root.query_selector(&format!("[data-testid=\"{testid}\"]"))
        .unwrap()
        .is_some()
}

#[wasm_bindgen_test]
async fn the_mounted_app_connects_from_its_settings_and_shows_connected() {
    // No saved profile: the test's broker is one only the link names.
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    storage.clear().unwrap();
    let root = container();
    let params = UrlParams {
        broker: Some(broker().into()),
        client_id: Some("browser-test-app".into()),
        connect: true,
        ..UrlParams::default()
    };
    mount_into(root.clone(), params);
    // A broker named only by the link: the page asks before connecting.
    assert!(exists(&root, "confirm-connect"));
    assert_eq!(text(&root, "confirm-connect-url"), broker());
    TimeoutFuture::new(300).await;
    assert_eq!(text(&root, "connection-status"), "disconnected");
    click(&root, "confirm-connect-yes");
    assert!(
        wait_until(5000, || text(&root, "connection-status") == "connected").await,
        "status: {} / {}",
        text(&root, "connection-status"),
        text(&root, "connection-error")
    );
    let disconnect = root
        .query_selector("[data-testid=\"disconnect-button\"]")
        .unwrap()
        .unwrap();
    disconnect
        .dyn_into::<web_sys::HtmlElement>()
        .unwrap()
        .click();
    assert!(wait_until(3000, || text(&root, "connection-status") == "disconnected").await);
    root.remove();
}

/// The element with `testid` under `root`, as a `T`.
fn element<T: JsCast>(root: &web_sys::HtmlElement, testid: &str) -> T {
    root.query_selector(&format!("[data-testid=\"{testid}\"]"))
        .unwrap()
        .unwrap_or_else(|| panic!("no {testid}"))
        .dyn_into::<T>()
        .unwrap()
}

fn input_value(root: &web_sys::HtmlElement, testid: &str) -> String {
    element::<web_sys::HtmlInputElement>(root, testid).value()
}

#[wasm_bindgen_test]
async fn the_connect_form_takes_the_saved_mqtt5_will_and_connect_properties() {
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    let key = "mqtt-web.profile";
    let before = storage.get_item(key).unwrap();
    let saved = r#"{"broker_url":"ws://127.0.0.1:9/mqtt","protocol":5,"will_topic":"gone/x",
        "will_properties":{"delay":"45","content_type":"application/json","payload_utf8":true},
        "connect_properties":{"receive_maximum":"9","topic_alias_maximum":"0","user_properties":"a=b"}}"#;
    storage.set_item(key, saved).unwrap();
    let root = container();
    mount_into(root.clone(), UrlParams::default());
    // The inputs take their values from the form's signals once the view has settled.
    wait_until(1000, || input_value(&root, "will-delay") == "45").await;
    let shown = (
        input_value(&root, "will-delay"),
        input_value(&root, "will-content-type"),
        element::<web_sys::HtmlInputElement>(&root, "will-payload-format").checked(),
        input_value(&root, "receive-maximum"),
        input_value(&root, "topic-alias-maximum"),
        element::<web_sys::HtmlTextAreaElement>(&root, "connect-user-properties").value(),
    );
    root.remove();
    match before {
        Some(text) => storage.set_item(key, &text).unwrap(),
        None => storage.remove_item(key).unwrap(),
    }
    assert_eq!(
        shown,
        (
            "45".into(),
            "application/json".into(),
            true,
            "9".into(),
            "0".into(),
            "a=b".into()
        )
    );
}

#[wasm_bindgen_test]
async fn the_mounted_app_refuses_a_malformed_broker_url_without_connecting() {
    let root = container();
    let params = UrlParams {
        broker: Some("mqtt://127.0.0.1:1883".into()),
        connect: true,
        ..UrlParams::default()
    };
    mount_into(root.clone(), params);
    click(&root, "confirm-connect-yes");
    assert!(wait_until(1000, || text(&root, "connection-error").contains("ws://")).await);
    assert_eq!(text(&root, "connection-status"), "disconnected");
    root.remove();
}

/// A driver recording every update (mesh packets included).
fn recording_all() -> (Driver, Rc<RefCell<Vec<Update>>>) {
    let updates = Rc::new(RefCell::new(Vec::new()));
    let sink = updates.clone();
    let driver = Driver::new(
        SessionConfig::default(),
        Box::new(move |batch| sink.borrow_mut().extend(batch)),
    );
    (driver, updates)
}

#[wasm_bindgen_test]
async fn a_mesh_text_sent_as_our_node_comes_back_from_the_broker_decrypted_in_the_browser() {
    use mqtt_web::mesh::{ChannelConfig, MeshBody, MeshUpdate, OutgoingBody, OutgoingPacket};
    let (driver, updates) = recording_all();
    driver.execute(connect(broker(), "browser-test-mesh"));
    driver.execute(Command::SetMeshChannels {
        channels: vec![ChannelConfig::default_channel()],
    });
    driver.execute(Command::Subscribe {
        filter: "msh/BROWSER/2/e/#".into(),
        qos: QoS::AtMostOnce,
    });
    let subscribed = wait_until(5000, || {
        updates.borrow().iter().any(|u| {
            matches!(u, Update::Session(Event::Subscribed { filter, .. }) if filter == "msh/BROWSER/2/e/#")
        })
    })
    .await;
    assert!(subscribed, "no SUBACK: {:?}", updates.borrow());
    driver.execute(Command::MeshSend {
        id: PublishId(2),
        packet: OutgoingPacket {
            region: "BROWSER".into(),
            channel: ChannelConfig::default_channel(),
            from: 0x0b0e0e0f,
            to: 0xa1b2c3d4,
            packet_id: 4242,
            want_ack: true,
            body: OutgoingBody::Text {
                text: "über den Berg".into(),
                reply_id: None,
                emoji: false,
            },
        },
    });
    let decoded = wait_until(5000, || {
        updates.borrow().iter().any(|u| match u {
            Update::Mesh(MeshUpdate::Packet(p)) => {
                p.from == 0x0b0e0e0f
                    && p.to == 0xa1b2c3d4
                    && p.id == 4242
                    && p.gateway == Some(0x0b0e0e0f)
                    && matches!(&p.body, MeshBody::Text { text, .. } if text == "über den Berg")
            }
            _ => false,
        })
    })
    .await;
    assert!(
        decoded,
        "our text did not come back decoded: {:?}",
        updates.borrow()
    );
    driver.execute(Command::Disconnect);
}

/// A [`recording_driver`] connecting to the test broker with MQTT 5 as `client_id`.
fn v5_recording_driver(client_id: &str) -> (Driver, Rc<RefCell<Vec<Event>>>) {
    let (driver, events) = recording_driver();
    driver.execute(Command::Connect {
        url: broker().into(),
        failover: Vec::new(),
        options: ConnectOptions {
            client_id: client_id.into(),
            protocol: mqtt_web::mqtt::ProtocolVersion::V5,
            ..ConnectOptions::default()
        },
    });
    (driver, events)
}

#[wasm_bindgen_test]
async fn an_mqtt5_session_in_the_browser_gets_capabilities_and_round_trips_user_properties() {
    use mqtt_web::mqtt::{PublishProperties, RetainHandling, SubscribeOptions};
    let (driver, events) = v5_recording_driver("browser-test-v5");
    driver.execute(Command::SubscribeWith {
        filter: "browser-test-v5/#".into(),
        options: SubscribeOptions {
            qos: QoS::AtLeastOnce,
            retain_handling: RetainHandling::DoNotSend,
            subscription_id: Some(42),
            ..SubscribeOptions::default()
        },
    });
    let ready = wait_until(5000, || {
        let events = events.borrow();
        events
            .iter()
            .any(|e| matches!(e, Event::Capabilities(c) if c.maximum_qos == QoS::ExactlyOnce))
            && events.iter().any(
                |e| matches!(e, Event::Subscribed { filter, .. } if filter == "browser-test-v5/#"),
            )
    })
    .await;
    assert!(
        ready,
        "no v5 CONNACK capabilities or SUBACK: {:?}",
        events.borrow()
    );
    let id = PublishId(7);
    driver.execute(Command::PublishWith {
        id,
        topic: "browser-test-v5/a".into(),
        payload: b"hi".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: PublishProperties {
            content_type: Some("text/plain".into()),
            user_properties: vec![("site".into(), "north".into())],
            ..PublishProperties::default()
        },
    });
    let got = wait_until(5000, || {
        let events = events.borrow();
        let acked = events.contains(&Event::Publish {
            id,
            outcome: PublishOutcome::Acked,
        });
        let received = events.iter().any(|e| match e {
            Event::Message(m) if m.topic == "browser-test-v5/a" => {
                m.properties.as_deref().is_some_and(|p| {
                    p.user_properties == [("site".to_owned(), "north".to_owned())]
                        && p.content_type.as_deref() == Some("text/plain")
                        && p.subscription_ids == [42]
                })
            }
            _ => false,
        });
        acked && received
    })
    .await;
    assert!(
        got,
        "v5 publish not acked and received with its properties: {:?}",
        events.borrow()
    );
    driver.execute(Command::Disconnect);
}

#[wasm_bindgen_test]
async fn a_response_that_also_matches_another_subscription_counts_once() {
    use mqtt_web::mqtt::{PublishProperties, SubscribeOptions};
    use mqtt_web::state::requests::{Requests, RESPONSE_SUBSCRIPTION_ID};
    let (driver, events) = v5_recording_driver("browser-test-response");
    let reply_to = "browser-test-response/replies/1";
    // Everything under our prefix, and the response topic as a request subscribes it.
    for (filter, subscription_id) in [
        ("browser-test-response/#", None),
        (reply_to, Some(RESPONSE_SUBSCRIPTION_ID)),
    ] {
        driver.execute(Command::SubscribeWith {
            filter: filter.into(),
            options: SubscribeOptions {
                subscription_id,
                ..SubscribeOptions::qos(QoS::AtLeastOnce)
            },
        });
    }
    let subscribed = |events: &[Event]| {
        events
            .iter()
            .filter(|e| matches!(e, Event::Subscribed { .. }))
            .count()
    };
    assert!(wait_until(5000, || subscribed(&events.borrow()) == 2).await);
    driver.execute(Command::PublishWith {
        id: PublishId(1),
        topic: reply_to.into(),
        payload: b"pong".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: PublishProperties {
            correlation_data: Some(b"c-1".to_vec()),
            ..PublishProperties::default()
        },
    });
    let copies = || -> Vec<mqtt_web::mqtt::Message> {
        events
            .borrow()
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) if m.topic == reply_to => Some(m.clone()),
                _ => None,
            })
            .collect()
    };
    assert!(
        wait_until(5000, || copies().len() >= 2).await,
        "mosquitto sent {} copies",
        copies().len()
    );
    let mut requests = Requests::default();
    requests.sent(
        "svc".into(),
        reply_to.into(),
        b"c-1".to_vec(),
        Some(RESPONSE_SUBSCRIPTION_ID),
    );
    for copy in copies() {
        requests.observe(&copy);
    }
    assert_eq!(requests.list[0].responses, ["pong"], "{:?}", copies());
    driver.execute(Command::Disconnect);
}

/// The app mounted from a link that connects as `client_id` and subscribes to `subs`, all
/// active, and a second client to publish from, connected.
async fn app_subscribed_with_publisher(
    client_id: &str,
    subs: &[&str],
) -> (web_sys::HtmlElement, Driver) {
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    storage.clear().unwrap();
    let root = container();
    mount_into(
        root.clone(),
        UrlParams {
            broker: Some(broker().into()),
            client_id: Some(client_id.into()),
            subs: subs.iter().map(|s| s.to_string()).collect(),
            connect: true,
            ..UrlParams::default()
        },
    );
    click(&root, "confirm-connect-yes");
    assert!(wait_until(5000, || text(&root, "connection-status") == "connected").await);
    let subscribed = wait_until(5000, || {
        root.query_selector_all("[data-testid=\"subscription\"][data-state=\"active\"]")
            .unwrap()
            .length() as usize
            == subs.len()
    })
    .await;
    assert!(subscribed, "the link's subscriptions did not become active");
    let (publisher, events) = recording_driver();
    publisher.execute(connect(broker(), &format!("{client_id}-publisher")));
    assert!(
        wait_until(5000, || events
            .borrow()
            .iter()
            .any(|e| matches!(e, Event::Connected { .. })))
        .await
    );
    (root, publisher)
}

#[wasm_bindgen_test]
async fn a_long_message_list_keeps_only_the_rows_in_view_in_the_page() {
    let (root, publisher) =
        app_subscribed_with_publisher("browser-test-list", &["browser-test-list/#"]).await;
    for n in 0..400 {
        publisher.execute(Command::Publish {
            id: PublishId(n + 1),
            topic: "browser-test-list/x".into(),
            // The newest needs more than the two lines a windowed row shows; the one before
            // is JSON, which a windowed row shows as it came (one line), not pretty-printed.
            payload: match n {
                399 => b"line 1\nline 2\nline 3".to_vec(),
                398 => br#"{"a":1,"b":[2,3]}"#.to_vec(),
                _ => format!("n={n}").into_bytes(),
            },
            qos: QoS::AtMostOnce,
            retain: false,
        });
    }
    let list = root.query_selector("ol.messages").unwrap().unwrap();
    let rows = || {
        root.query_selector_all("[data-testid=\"message\"] .msg-payload")
            .unwrap()
            .length()
    };
    // All 400 are kept and scrollable, but only the rows in view are built.
    assert!(
        wait_until(8000, || list.class_name().contains("windowed")
            && rows() > 0)
        .await,
        "the list never windowed: {} rows",
        rows()
    );
    assert!(
        rows() < 60,
        "{} rows in the page for 400 messages ({})",
        rows(),
        text_at(&root, ".hint").unwrap_or_default()
    );
    // Once all 400 are in and their burst is over (the list follows at most every 250 ms;
    // while a burst lasts it holds only the newest rows, so there is no end to scroll to): a
    // row shows two lines, the three-line payload offers "show all", which opens it in full;
    // a one-line payload does not.
    let show_all = |row: u32| {
        root.query_selector_all("[data-testid=\"message\"]")
            .unwrap()
            .item(row)
            .and_then(|r| r.dyn_into::<web_sys::Element>().ok())
            .and_then(|r| r.query_selector(".show-all").unwrap())
    };
    let all_in = wait_until(5000, || {
        text_at(&root, ".hint")
            .is_some_and(|h| h.starts_with("400 kept of 400 received") && !h.contains("flood"))
    })
    .await;
    assert!(
        all_in,
        "not all 400 kept, or still a flood: {:?}",
        text_at(&root, ".hint")
    );
    let newest = show_all(0).expect("no \"show all\" on the three-line payload's row");
    assert_eq!(newest.text_content().as_deref(), Some("show all"));
    assert!(show_all(1).is_none(), "\"show all\" on a one-line payload");
    assert_eq!(
        text_at(&root, "[data-testid=\"message\"]:nth-child(3) .msg-payload").as_deref(),
        Some(r#"{"a":1,"b":[2,3]}"#),
        "JSON in a windowed row is not shown as it came"
    );
    newest.unchecked_ref::<web_sys::HtmlElement>().click();
    let opened = wait_until(3000, || {
        root.query_selector("[data-testid=\"message-detail\"] .msg-payload")
            .unwrap()
            .and_then(|p| p.text_content())
            .is_some_and(|t| t == "line 1\nline 2\nline 3")
    })
    .await;
    assert!(opened, "\"show all\" did not open the message in full");
    let list: web_sys::HtmlElement = list.dyn_into().unwrap();
    // The test page has no stylesheet: give the list the scroll box the app's CSS gives it.
    list.set_attribute("style", "display: block; max-height: 600px; overflow: auto")
        .unwrap();
    list.set_scroll_top(1_000_000);
    list.dispatch_event(&web_sys::Event::new("scroll").unwrap())
        .unwrap();
    let oldest_shown = wait_until(3000, || {
        root.query_selector_all("[data-testid=\"message\"] .msg-payload")
            .unwrap()
            .item(rows().saturating_sub(1))
            .and_then(|n| n.text_content())
            .is_some_and(|t| t == "n=0")
    })
    .await;
    assert!(
        oldest_shown,
        "scrolled to the end, the oldest message is not shown"
    );
    assert!(rows() < 60);
    publisher.execute(Command::Disconnect);
    root.remove();
}

#[wasm_bindgen_test]
async fn a_large_payload_shows_as_a_preview_and_show_all_brings_the_rest_from_the_session() {
    let (root, publisher) =
        app_subscribed_with_publisher("browser-test-held", &["browser-test-held/#"]).await;
    // About 6 KiB of JSON: the session's side keeps all but the first 512 bytes.
    let whole = format!("{{\"values\":[{}\"end\"]}}", "12345,".repeat(1000));
    publisher.execute(Command::Publish {
        id: PublishId(1),
        topic: "browser-test-held/x".into(),
        payload: whole.clone().into_bytes(),
        qos: QoS::AtMostOnce,
        retain: false,
    });
    let row = "[data-testid=\"message\"][data-topic=\"browser-test-held/x\"]";
    let cut = wait_until(5000, || {
        text_at(&root, &format!("{row} .show-all")).is_some_and(|t| t.starts_with("cut: "))
    })
    .await;
    assert!(cut, "no cut preview: {:?}", text_at(&root, row));
    assert_eq!(
        text_at(&root, &format!("{row} .show-all")).unwrap(),
        format!("cut: {} bytes, show all", whole.len())
    );
    // The preview is the start of the document, laid out as JSON though it is cut.
    let preview = text_at(&root, &format!("{row} .msg-payload")).unwrap();
    let pretty = mqtt_web::state::payload::render(
        whole.as_bytes(),
        mqtt_web::state::payload::PayloadFormat::Json,
    );
    assert!(
        preview.starts_with("{\n  \"values\": [\n    12345,") && pretty.starts_with(&preview),
        "the preview is not the start of the laid-out payload: {preview:?}"
    );
    assert!(!preview.contains("end"));
    click_at(&root, &format!("{row} .show-all"));
    // The whole payload, and since it is whole JSON now, pretty-printed.
    let whole_shown = wait_until(5000, || {
        text_at(&root, &format!("{row} .msg-payload"))
            .is_some_and(|t| t.contains("\"end\"") && t.contains("\n  "))
    })
    .await;
    assert!(
        whole_shown,
        "show all did not bring the rest: {:?}",
        text_at(&root, &format!("{row} .msg-payload")).map(|t| t.len())
    );
    assert!(!exists(&root, "payload-rest"), "still says it is loading");
    publisher.execute(Command::Disconnect);
    root.remove();
}

/// The messages panel alone, fed by hand through its store (the session's side would answer
/// a fetch; here the test does), and the clock it reads.
fn messages_panel_alone() -> (
    web_sys::HtmlElement,
    mqtt_web::store::AppStore,
    leptos::prelude::RwSignal<u64>,
) {
    use leptos::prelude::{provide_context, RwSignal};
    use mqtt_web::components::{messages::MessagesPanel, Now, TrafficView};
    use mqtt_web::store::{AppStore, Commands};
    use mqtt_web::transport::client::{SessionClient, UpdateSink};

    let root = container();
    type Handles = (AppStore, RwSignal<u64>);
    let slot: Rc<std::cell::Cell<Option<Handles>>> = Rc::default();
    let store_out = slot.clone();
    leptos::mount::mount_to(root.clone(), move || {
        let store = AppStore::new();
        let now = RwSignal::new(mqtt_web::transport::clock::wall_ms());
        store_out.set(Some((store, now)));
        let sink: UpdateSink = Rc::new(RefCell::new(|_| {}));
        provide_context(store);
        provide_context(Commands::new(SessionClient::missing(sink)));
        provide_context(TrafficView {
            tab: RwSignal::new("messages"),
            message_filter: RwSignal::new(String::new()),
        });
        provide_context(Now(now));
        leptos::view! { <MessagesPanel /> }
    })
    .forget();
    let (store, now) = slot.get().unwrap();
    (root, store, now)
}

/// What the session's side sends for a payload of `size` bytes of `fill` it holds: its
/// preview, then `Held`.
fn held_message(topic: &str, key: u64, fill: u8, size: usize) -> Vec<Update> {
    vec![
        Update::Session(Event::Message(mqtt_web::mqtt::Message {
            topic: topic.into(),
            payload: vec![fill; 512],
            qos: QoS::AtMostOnce,
            retain: false,
            dup: false,
            properties: None,
        })),
        Update::Held(mqtt_web::bridge::held::HeldPayload { key, size }),
    ]
}

#[wasm_bindgen_test]
async fn a_held_rest_that_was_let_go_is_said_and_an_export_does_not_wait_for_it_for_ever() {
    use leptos::prelude::Set;

    let (root, store, now) = messages_panel_alone();
    let whole = "w".repeat(3000);
    store.absorb(held_message("held/x", 1, b'w', 3000));
    let cut = wait_until(3000, || {
        text_at(&root, ".show-all").as_deref() == Some("cut: 3000 bytes, show all")
    })
    .await;
    assert!(cut, "{:?}", text_at(&root, "[data-testid=\"message\"]"));
    click_at(&root, ".show-all");
    let loading = wait_until(3000, || {
        text_at(&root, "[data-testid=\"payload-rest\"]").as_deref()
            == Some("Loading the rest of 2.9 KiB…")
    })
    .await;
    assert!(loading, "{:?}", text_at(&root, "[data-testid=\"message\"]"));
    store.absorb(vec![Update::Payloads {
        found: vec![],
        missing: vec![1],
    }]);
    let lost = wait_until(3000, || {
        text_at(&root, "[data-testid=\"payload-rest\"]")
            .is_some_and(|t| t.starts_with("Only the first 512 B of 2.9 KiB were kept"))
    })
    .await;
    assert!(
        lost,
        "{:?}",
        text_at(&root, "[data-testid=\"payload-rest\"]")
    );
    assert_eq!(
        text_at(&root, ".msg-payload").as_deref(),
        Some(&whole[..512])
    );
    // An export waits for the held payloads it asked for; a session that never answers does
    // not hold it back for more than 10 s.
    store.absorb(held_message("held/y", 2, b'w', 3000));
    let export_button = || {
        root.query_selector_all(".actions button")
            .unwrap()
            .item(2)
            .and_then(|b| b.dyn_into::<web_sys::HtmlButtonElement>().ok())
            .unwrap()
    };
    export_button().click();
    assert!(
        wait_until(1000, || export_button().text_content().as_deref()
            == Some("Exporting…"))
        .await
    );
    TimeoutFuture::new(300).await;
    assert!(
        export_button().disabled(),
        "the export went before its payloads came"
    );
    now.set(mqtt_web::transport::clock::wall_ms() + 10_000);
    assert!(
        wait_until(1000, || export_button().text_content().as_deref()
            == Some("Export JSON"))
        .await,
        "the export still waits"
    );
    root.remove();
}

#[wasm_bindgen_test]
async fn a_held_rest_shows_on_the_next_frames_even_while_a_flood_holds_the_list_back() {
    let (root, store, _now) = messages_panel_alone();
    // Over 100 messages (but not a flood's burst): a long (windowed) list, whose "show all"
    // opens the message above it.
    store.absorb((0..120).map(flood_message).collect());
    store.absorb(held_message("held/z", 121, b'z', 5000));
    let row = "ol.messages.windowed [data-testid=\"message\"][data-topic=\"held/z\"]";
    assert!(
        wait_until(3000, || text_at(&root, &format!("{row} .show-all"))
            .is_some())
        .await,
        "{:?}",
        text_at(&root, ".hint")
    );
    click_at(&root, &format!("{row} .show-all"));
    let detail = "[data-testid=\"message-detail\"]";
    assert!(
        wait_until(2000, || text_at(
            &root,
            &format!("{detail} [data-testid=\"payload-rest\"]")
        )
        .is_some())
        .await
    );
    // A flood: the list now waits its turn (up to a second); the rest the user asked for
    // does not wait with it.
    store.absorb((122..700).map(flood_message).collect());
    next_frame().await;
    store.absorb(vec![Update::Payloads {
        found: vec![mqtt_web::bridge::FetchedPayload {
            key: 121,
            payload: vec![b'z'; 5000],
        }],
        missing: vec![],
    }]);
    next_frame().await;
    next_frame().await;
    assert_eq!(
        text_at(&root, &format!("{detail} .msg-payload")).map(|t| t.len()),
        Some(5000),
        "two frames after the rest came the detail showed {:?}",
        text_at(&root, &format!("{detail} [data-testid=\"payload-rest\"]"))
    );
    root.remove();
}

#[wasm_bindgen_test]
async fn a_long_list_keeps_its_fixed_rows_while_a_flood_shows_only_its_newest() {
    let (root, store, _now) = messages_panel_alone();
    let rows = |root: &web_sys::HtmlElement, selector: &str| {
        let found = root.query_selector_all(selector).unwrap();
        (0..found.length())
            .filter_map(|i| found.item(i))
            .filter_map(|n| n.text_content())
            .collect::<Vec<_>>()
    };
    // Over 100 messages: a long list, its rows of a fixed height.
    store.absorb((0..120).map(flood_message).collect());
    assert!(
        wait_until(3000, || !rows(&root, "ol.messages.windowed > li.message")
            .is_empty())
        .await,
        "{:?}",
        text_at(&root, ".hint")
    );
    // A burst: the list shows its newest ten, still as fixed rows (they do not change shape
    // when a flood starts, nor lay out whole previews while it lasts).
    store.absorb((120..800).map(flood_message).collect());
    assert!(
        wait_until(3000, || text_at(&root, ".hint")
            .is_some_and(|t| t.contains("showing the newest 10")))
        .await,
        "{:?}",
        text_at(&root, ".hint")
    );
    let shown = rows(&root, "ol.messages.windowed > li.message .msg-payload");
    let newest: Vec<String> = (790..800).rev().map(|n| n.to_string()).collect();
    assert_eq!(shown, newest);
    assert!(rows(&root, "ol.messages:not(.windowed)").is_empty());
    root.remove();
}

#[wasm_bindgen_test]
async fn a_long_device_list_offers_show_all_for_a_device_its_fixed_row_cannot_hold() {
    let (root, publisher) = app_subscribed_with_publisher(
        "browser-test-devices",
        &["devices/+/status", "sensors/bt-dev-1/#"],
    )
    .await;
    let publish = |id: u64, topic: String, payload: &str| {
        publisher.execute(Command::Publish {
            id: PublishId(id),
            topic,
            payload: payload.as_bytes().to_vec(),
            qos: QoS::AtMostOnce,
            retain: false,
        })
    };
    for n in 1..=120 {
        publish(n, format!("devices/bt-dev-{n:03}/status"), "online");
    }
    // A batch of messages shares one time: the readings come in a later one.
    assert!(wait_until(8000, || text(&root, "device-count") == "120 devices").await);
    // Heard last, so listed first: more readings than the one line a fixed row shows. Its id
    // is part of 21 others' (bt-dev-100 to bt-dev-120), which "show all" must leave out.
    for (n, kind) in ["temperature", "humidity", "pressure"].iter().enumerate() {
        publish(200 + n as u64, format!("sensors/bt-dev-1/{kind}"), "21");
    }
    let show_all = |id: &str| {
        root.query_selector(&format!("[data-device-id=\"{id}\"] .show-all"))
            .unwrap()
    };
    let offered = wait_until(8000, || {
        root.query_selector("ul.devices.windowed")
            .unwrap()
            .is_some()
            && show_all("bt-dev-1").is_some()
            && root
                .query_selector("[data-device-id=\"bt-dev-120\"]")
                .unwrap()
                .is_some()
    })
    .await;
    assert!(
        offered,
        "no \"show all\" on the device with three readings ({})",
        text(&root, "device-count")
    );
    assert!(
        show_all("bt-dev-120").is_none(),
        "\"show all\" on a device with no readings"
    );
    click_at(&root, "[data-device-id=\"bt-dev-1\"] .show-all");
    let alone = wait_until(3000, || {
        input_value(&root, "device-filter") == "=bt-dev-1"
            && text(&root, "device-count").starts_with("1 of ")
            && root
                .query_selector("ul.devices.windowed")
                .unwrap()
                .is_none()
    })
    .await;
    assert!(alone, "\"show all\" did not show the device alone, in full");
    publisher.execute(Command::Disconnect);
    root.remove();
}

#[wasm_bindgen_test]
async fn the_topic_tree_shows_a_topics_last_value_closes_its_branch_and_shows_its_messages() {
    let (root, publisher) =
        app_subscribed_with_publisher("browser-test-tree", &["browser-test-tree/#"]).await;
    for (n, payload) in ["21.5", "22.0"].into_iter().enumerate() {
        publisher.execute(Command::Publish {
            id: PublishId(n as u64 + 1),
            topic: "browser-test-tree/temp".into(),
            payload: payload.into(),
            qos: QoS::AtLeastOnce,
            retain: false,
        });
    }
    let tab = root
        .query_selector_all("[role=\"tab\"]")
        .unwrap()
        .item(1)
        .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
        .expect("the topic tree's tab");
    assert_eq!(tab.text_content().as_deref(), Some("Topic tree"));
    tab.click();
    let row = "[data-testid=\"topic-row\"][data-topic=\"browser-test-tree/temp\"]";
    let shown = wait_until(5000, || {
        text_at(&root, &format!("{row} [data-testid=\"topic-value\"]")).as_deref() == Some("22.0")
    })
    .await;
    assert!(shown, "the topic's last value is not shown in the tree");
    // Closing its branch hides the topic and counts it.
    let branch = "[data-testid=\"topic-branch\"][data-path=\"browser-test-tree\"]";
    click_at(&root, &format!("{branch} button"));
    let closed = wait_until(3000, || {
        root.query_selector(row).unwrap().is_none()
            && text_at(&root, branch).is_some_and(|t| t.contains("1 topic"))
    })
    .await;
    assert!(closed, "the closed branch still shows its topic");
    // Open again, the topic's name shows its messages.
    click_at(&root, &format!("{branch} button"));
    assert!(wait_until(3000, || root.query_selector(row).unwrap().is_some()).await);
    click_at(&root, &format!("{row} button"));
    let filtered = wait_until(3000, || {
        input_value(&root, "message-filter") == "browser-test-tree/temp"
            && text_at(&root, "[role=\"tab\"][aria-selected=\"true\"]").as_deref()
                == Some("Messages")
            && text_at(&root, ".hint").is_some_and(|h| h.starts_with("2 match the filter · "))
    })
    .await;
    assert!(filtered, "the topic's name did not show its messages");
    publisher.execute(Command::Disconnect);
    root.remove();
}

/// A store of its own, with effects running: they run on the executor a mount starts (a
/// test may run before any other mounts). Keep the owner alive for the test.
fn flood_store() -> (leptos::prelude::Owner, mqtt_web::store::AppStore) {
    let root = container();
    leptos::mount::mount_to(root.clone(), || ()).forget();
    root.remove();
    let owner = leptos::prelude::Owner::new();
    owner.set();
    (owner, mqtt_web::store::AppStore::new())
}

fn performance_now() -> f64 {
    web_sys::window().unwrap().performance().unwrap().now()
}

/// Message `n` of a flood on `flood/x`.
fn flood_message(n: u32) -> Update {
    Update::Session(Event::Message(mqtt_web::mqtt::Message {
        topic: "flood/x".into(),
        payload: n.to_string().into_bytes(),
        qos: QoS::AtMostOnce,
        retain: false,
        dup: false,
        properties: None,
    }))
}

/// The count `flood/#` shows (0 before it is subscribed); read in an effect, it tracks it.
fn flood_count(store: mqtt_web::store::AppStore) -> u64 {
    use leptos::prelude::With;
    use mqtt_web::state::StateStoreFields;
    store
        .state()
        .subscriptions()
        .with(|s| s.get("flood/#").map_or(0, |s| s.count))
}

/// Connected, with `flood/#` subscribed.
fn connected_and_subscribed_to_flood() -> Vec<Update> {
    vec![
        Update::Session(Event::State(mqtt_web::mqtt::ConnectionState::Connected)),
        Update::Session(Event::SubscribeRequested {
            filter: "flood/#".into(),
            qos: QoS::AtMostOnce,
        }),
        Update::Session(Event::Subscribed {
            filter: "flood/#".into(),
            qos: QoS::AtMostOnce,
        }),
    ]
}

#[wasm_bindgen_test]
async fn in_a_flood_the_connection_status_does_not_wait_for_the_counters() {
    use leptos::prelude::{Effect, Track, With};
    use mqtt_web::mqtt::ConnectionState;
    use mqtt_web::state::StateStoreFields;

    let (owner, store) = flood_store();
    let now = performance_now;
    // When each field's view would have re-rendered: an effect that reads it.
    let status_seen: Rc<RefCell<Vec<(ConnectionState, f64)>>> = Rc::default();
    let counts_seen: Rc<RefCell<Vec<f64>>> = Rc::default();
    let log = status_seen.clone();
    Effect::new(move |_| {
        let status = store.state().connection().with(|c| c.status);
        log.borrow_mut().push((status, now()));
    });
    let log = counts_seen.clone();
    Effect::new(move |_| {
        store.state().subscriptions().track();
        log.borrow_mut().push(now());
    });
    let message = flood_message;
    store.absorb(connected_and_subscribed_to_flood());
    TimeoutFuture::new(400).await;
    // A flood: far more than a frame's worth of messages at once, twice, so the subscription
    // count renders once and then waits for its flood interval.
    let renders = counts_seen.borrow().len();
    store.absorb((0..500).map(message).collect());
    assert!(wait_until(2000, || counts_seen.borrow().len() > renders).await);
    let counted_at = *counts_seen.borrow().last().unwrap();
    store.absorb((500..1000).map(message).collect());
    // A frame later the count is waiting on its timer; then the connection drops.
    TimeoutFuture::new(50).await;
    store.absorb(vec![Update::Session(Event::State(
        ConnectionState::Reconnecting,
    ))]);
    let sent_at = now();
    assert!(
        wait_until(2000, || status_seen
            .borrow()
            .iter()
            .any(|(s, _)| *s == ConnectionState::Reconnecting))
        .await
    );
    assert!(wait_until(2000, || counts_seen.borrow().len() > renders + 1).await);
    let status_at = status_seen.borrow().last().unwrap().1;
    let recounted_at = counts_seen.borrow()[renders + 1];
    assert!(
        recounted_at - counted_at >= 200.0,
        "in a flood the count re-rendered {:.0} ms after the last time",
        recounted_at - counted_at
    );
    // Shown on the next frame: well before the count's next render, not with it.
    assert!(
        recounted_at - status_at >= 100.0,
        "the new status waited for the counters ({:.0} ms after it arrived; the count {:.0} ms)",
        status_at - sent_at,
        recounted_at - sent_at
    );
    drop(owner);
}

#[wasm_bindgen_test]
async fn when_a_flood_stops_its_newest_rows_show_without_waiting_out_the_list_cadence() {
    use leptos::prelude::{Effect, With};
    use mqtt_web::state::StateStoreFields;

    let (owner, store) = flood_store();
    let now = performance_now;
    // What the subscription count and the message list would show, and when.
    let counts_seen: Rc<RefCell<Vec<(u64, f64)>>> = Rc::default();
    let rows_seen: Rc<RefCell<Vec<(u64, f64)>>> = Rc::default();
    let log = counts_seen.clone();
    Effect::new(move |_| {
        log.borrow_mut().push((flood_count(store), now()));
    });
    let log = rows_seen.clone();
    Effect::new(move |_| {
        let newest = store.state().messages().with(|m| m.last_seq());
        log.borrow_mut().push((newest, now()));
    });
    let message = flood_message;
    store.absorb(connected_and_subscribed_to_flood());
    TimeoutFuture::new(400).await;
    // A short burst: the first part renders at once, the rest is a flood the list holds
    // back for a second...
    store.absorb((0..500).map(message).collect());
    assert!(wait_until(2000, || counts_seen.borrow().iter().any(|(c, _)| *c == 500)).await);
    TimeoutFuture::new(20).await;
    store.absorb((500..1000).map(message).collect());
    let last_at = now();
    // ...unless the stream stops: then the newest rows show once it has been quiet for
    // SETTLE_MS (the count shows at its own turn, within 250 ms).
    // When each first showed the burst's end.
    let end_shown = |seen: &Rc<RefCell<Vec<(u64, f64)>>>| {
        seen.borrow()
            .iter()
            .find(|(newest, _)| *newest == 1000)
            .map(|(_, at)| *at)
    };
    assert!(wait_until(2000, || end_shown(&counts_seen).is_some()).await);
    assert!(wait_until(2000, || end_shown(&rows_seen).is_some()).await);
    let (counted_at, listed_at) = (
        end_shown(&counts_seen).unwrap(),
        end_shown(&rows_seen).unwrap(),
    );
    assert!(
        counted_at - last_at < 400.0,
        "the final count showed {:.0} ms after the last message",
        counted_at - last_at
    );
    assert!(
        listed_at - last_at < 600.0,
        "the newest rows showed {:.0} ms after the last message",
        listed_at - last_at
    );
    drop(owner);
}

/// Resolves on the next animation frame, after the frame callbacks requested before it
/// (the store's) and the effects they started.
async fn next_frame() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .request_animation_frame(&resolve)
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

#[wasm_bindgen_test]
async fn when_the_session_says_the_messages_stopped_the_held_count_shows_on_the_next_frame() {
    use leptos::prelude::Effect;

    let (owner, store) = flood_store();
    let counts_seen: Rc<RefCell<Vec<u64>>> = Rc::default();
    let log = counts_seen.clone();
    Effect::new(move |_| {
        log.borrow_mut().push(flood_count(store));
    });
    store.absorb(connected_and_subscribed_to_flood());
    TimeoutFuture::new(400).await;
    // A flood: the count renders once, then holds the rest for its flood interval (250 ms).
    store.absorb((0..500).map(flood_message).collect());
    assert!(wait_until(2000, || counts_seen.borrow().contains(&500)).await);
    store.absorb((500..1000).map(flood_message).collect());
    next_frame().await;
    // The session's thread saw no message for a while after the last: the flood is over.
    store.absorb(vec![Update::Quiet]);
    next_frame().await;
    next_frame().await;
    assert_eq!(
        counts_seen.borrow().last(),
        Some(&1000),
        "two frames after the messages stopped the count still showed {:?}",
        counts_seen.borrow()
    );
    drop(owner);
}

#[wasm_bindgen_test]
fn the_device_find_box_ignores_case_beyond_ascii() {
    use mqtt_web::state::devices::{DeviceFind, DeviceRegistry};
    // In the browser the non-ASCII case goes through JavaScript's toLowerCase.
    let mut registry = DeviceRegistry::default();
    registry.apply_message("devices/Москва-ÉTÉ/status", b"online", false, 1_000);
    let device = registry.devices_by_last_seen()[0];
    assert_eq!(device.id, "Москва-ÉTÉ");
    for (text, found) in [
        ("москва", true),
        ("été", true),
        ("МОСКВА-été", true),
        ("moskva", false),
    ] {
        assert_eq!(device.matches(&DeviceFind::parse(text)), found, "{text}");
    }
}
