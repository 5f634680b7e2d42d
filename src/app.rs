//! Wires the pieces together: URL parameters, the store, the driver, the root view.

use leptos::prelude::*;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;

use crate::bridge::Update;
use crate::components::App;
use crate::mqtt::SessionConfig;
use crate::state::{apply_update, Changes, State};
use crate::transport::client::{SessionClient, UpdateSink};
use crate::transport::clock;

/// The UI state plus one trigger per slice, so a component re-renders only when the slice
/// it reads changed. Copy: pass it anywhere.
#[derive(Clone, Copy)]
pub struct Store {
    pub state: StoredValue<State, LocalStorage>,
    pub connection: Trigger,
    pub subscriptions: Trigger,
    pub messages: Trigger,
    pub devices: Trigger,
    pub publish: Trigger,
    pending: StoredValue<Changes, LocalStorage>,
    frame_scheduled: StoredValue<bool, LocalStorage>,
    /// When the message list was last told to re-render (performance.now() ms).
    messages_notified_at: StoredValue<f64, LocalStorage>,
}

/// The message list re-renders at most this often (4 per second): nobody reads faster, and building rows
/// is the UI's main cost during a flood. Counts and status still update every frame.
const MESSAGE_LIST_INTERVAL_MS: f64 = 250.0;

impl Store {
    fn new() -> Store {
        Store {
            state: StoredValue::new_local(State::default()),
            connection: Trigger::new(),
            subscriptions: Trigger::new(),
            messages: Trigger::new(),
            devices: Trigger::new(),
            publish: Trigger::new(),
            pending: StoredValue::new_local(Changes::default()),
            frame_scheduled: StoredValue::new_local(false),
            messages_notified_at: StoredValue::new_local(f64::NEG_INFINITY),
        }
    }

    /// Reads a slice of the state (track the matching trigger first for reactivity).
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        self.state.with_value(f)
    }

    /// Changes the state outside the event stream (user actions) and notifies at once.
    pub fn update(&self, f: impl FnOnce(&mut State) -> Changes) {
        let changes = self.state.try_update_value(f).unwrap_or_default();
        self.notify(changes);
    }

    /// Folds session updates in now (plain data, bounded) and notifies the views on the next
    /// animation frame, so a flood costs one render per frame.
    fn absorb(&self, events: Vec<Update>) {
        let now = clock::wall_ms();
        let changes = self
            .state
            .try_update_value(|state| {
                let mut changes = Changes::default();
                for event in &events {
                    changes.merge(apply_update(state, event, now));
                }
                changes
            })
            .unwrap_or_default();
        self.pending.update_value(|p| p.merge(changes));
        if changes.any() {
            self.schedule_frame();
        }
    }

    fn schedule_frame(&self) {
        if !self.frame_scheduled.get_value() {
            self.frame_scheduled.set_value(true);
            let store = *self;
            request_animation_frame(move || store.flush());
        }
    }

    fn flush(&self) {
        self.frame_scheduled.set_value(false);
        let mut changes = self
            .pending
            .try_update_value(std::mem::take)
            .unwrap_or_default();
        if changes.messages {
            let now = clock::now_ms() as f64;
            if now - self.messages_notified_at.get_value() < MESSAGE_LIST_INTERVAL_MS {
                // Not yet: keep it for a later frame.
                changes.messages = false;
                self.pending.update_value(|p| p.messages = true);
                self.schedule_frame();
            } else {
                self.messages_notified_at.set_value(now);
            }
        }
        self.notify(changes);
    }

    fn notify(&self, changes: Changes) {
        if changes.connection {
            self.connection.notify();
        }
        if changes.subscriptions {
            self.subscriptions.notify();
        }
        if changes.messages {
            self.messages.notify();
        }
        if changes.devices {
            self.devices.notify();
        }
        if changes.publish {
            self.publish.notify();
        }
    }
}

/// Commands for the session; Copy handle to the client.
#[derive(Clone, Copy)]
pub struct Commands {
    client: StoredValue<SessionClient, LocalStorage>,
}

impl Commands {
    pub fn client(&self) -> SessionClient {
        self.client.get_value()
    }
}

/// Settings read from the page URL on load (`?broker=…&client_id=…&username=…&sub=…&connect=1`).
#[derive(Debug, Clone, Default)]
pub struct UrlParams {
    pub broker: Option<String>,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub subs: Vec<String>,
    pub connect: bool,
    /// `worker=0`: run the session in the page even when a worker was started.
    pub no_worker: bool,
    /// `outbox_expiry` (seconds): how long offline publishes wait before they are dropped.
    pub outbox_expiry_s: Option<u64>,
}

impl UrlParams {
    fn from_location() -> UrlParams {
        let search = window().location().search().unwrap_or_default();
        let Ok(params) = web_sys::UrlSearchParams::new_with_str(&search) else {
            return UrlParams::default();
        };
        let subs = params.get_all("sub");
        UrlParams {
            broker: params.get("broker").filter(|s| !s.is_empty()),
            client_id: params.get("client_id").filter(|s| !s.is_empty()),
            username: params.get("username").filter(|s| !s.is_empty()),
            subs: subs
                .iter()
                .filter_map(|v| v.as_string())
                .filter(|s| !s.is_empty())
                .collect(),
            connect: params
                .get("connect")
                .is_some_and(|v| v == "1" || v == "true"),
            no_worker: params.get("worker").is_some_and(|v| v == "0"),
            outbox_expiry_s: params.get("outbox_expiry").and_then(|v| v.parse().ok()),
        }
    }
}

/// The broker used when the URL names none: the build's setting under `trunk serve`
/// (see README), else the page's own origin at `/mqtt`.
pub fn default_broker_url() -> String {
    if let Some(url) = option_env!("MQTT_WEB_DEFAULT_BROKER").filter(|u| !u.is_empty()) {
        return url.to_string();
    }
    let location = window().location();
    let scheme = match location.protocol().as_deref() {
        Ok("https:") => "wss",
        _ => "ws",
    };
    match location.host() {
        Ok(host) if !host.is_empty() => format!("{scheme}://{host}/mqtt"),
        _ => "ws://127.0.0.1:9001/mqtt".to_string(),
    }
}

pub fn start() {
    console_error_panic_hook::set_once();
    if bench_session_only() {
        return;
    }
    mount_into(
        document().body().expect("page has a body"),
        UrlParams::from_location(),
    );
}

/// Mounts the app into `parent` with these settings (the browser tests mount it too).
pub fn mount_into(parent: web_sys::HtmlElement, params: UrlParams) {
    leptos::mount::mount_to(parent, move || {
        let store = Store::new();
        let sink: UpdateSink = Rc::new(RefCell::new(move |updates| store.absorb(updates)));
        let client = match started_worker().filter(|_| !params.no_worker) {
            Some(worker) => SessionClient::in_worker(worker, sink),
            None => SessionClient::in_page(
                SessionConfig {
                    seed: (js_sys::Math::random() * 1e15) as u64,
                    ..SessionConfig::default()
                },
                sink,
            ),
        };
        if let Some(seconds) = params.outbox_expiry_s {
            client.set_outbox_expiry(seconds.saturating_mul(1000));
        }
        let commands = Commands {
            client: StoredValue::new_local(client),
        };
        provide_context(store);
        provide_context(commands);
        view! { <App params=params.clone() /> }
    })
    .forget();
}

/// The session worker the page's loader started (`globalThis.mqttWebWorker`), if any.
fn started_worker() -> Option<web_sys::Worker> {
    js_sys::Reflect::get(&js_sys::global(), &"mqttWebWorker".into())
        .ok()
        .and_then(|w| w.dyn_into::<web_sys::Worker>().ok())
}

/// `?bench=session&broker=…&sub=…`: the session alone in this page (no UI, no worker),
/// counting messages into `globalThis.mqttWebBench` ([count, first, last]) for the benchmark.
fn bench_session_only() -> bool {
    let search = window().location().search().unwrap_or_default();
    let Ok(query) = web_sys::UrlSearchParams::new_with_str(&search) else {
        return false;
    };
    if query.get("bench").as_deref() != Some("session") {
        return false;
    }
    let params = UrlParams::from_location();
    // [count, first arrival ms, last arrival ms]: a typed array is cheap to update per batch.
    let counter = js_sys::Float64Array::new_with_length(3);
    let _ = js_sys::Reflect::set(&js_sys::global(), &"mqttWebBench".into(), &counter);
    let count = std::cell::Cell::new(0u64);
    let sink: UpdateSink = Rc::new(RefCell::new(move |updates: Vec<Update>| {
        let before = count.get();
        for update in &updates {
            if matches!(update, Update::Session(crate::mqtt::Event::Message(_))) {
                count.set(count.get() + 1);
            }
        }
        if count.get() != before {
            let now = clock::now_ms() as f64;
            if before == 0 {
                counter.set_index(1, now);
            }
            counter.set_index(2, now);
            counter.set_index(0, count.get() as f64);
        }
    }));
    let client = SessionClient::in_page(SessionConfig::default(), sink);
    let options = crate::mqtt::ConnectOptions {
        client_id: params
            .client_id
            .clone()
            .unwrap_or_else(|| "mqtt-web-bench".into()),
        ..Default::default()
    };
    let url = params.broker.clone().unwrap_or_else(default_broker_url);
    if client.connect(&url, options).is_ok() {
        for filter in &params.subs {
            let _ = client.subscribe(filter, crate::mqtt::QoS::AtLeastOnce);
        }
    }
    // Lives as long as the page.
    std::mem::forget(client);
    true
}
