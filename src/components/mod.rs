//! Leptos views. They read narrow slices of the store and send commands; no protocol logic.

pub mod connection;
pub mod devices;
pub mod fields;
pub mod mesh;
pub mod message_properties;
pub mod messages;
pub mod publish;
pub mod send_to_node;
pub mod subscriptions;
pub mod topics;

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::bridge::Command;
use crate::mqtt::QoS;
use crate::params::UrlParams;
use crate::state::{Changes, PublishView, State};
use crate::store::{use_commands, AppStore, Commands};
use crate::transport::clock;
use connection::{ConnectionPanel, StatusBadge};
use devices::{DevicesPanel, PickedTarget};
use mesh::{MeshChatPanel, MeshSettingsPanel};
use messages::MessagesPanel;
use publish::PublishPanel;
use send_to_node::SendToNodePanel;
use subscriptions::SubscriptionsPanel;
use topics::TopicsPanel;

/// Wall-clock ms, ticking once a second, for "last seen" and rates.
#[derive(Clone, Copy)]
pub struct Now(pub RwSignal<u64>);

/// The traffic panel's tab and the message list's filter: the topic tree sets both to show
/// one topic's messages.
#[derive(Clone, Copy)]
pub struct TrafficView {
    pub tab: RwSignal<&'static str>,
    pub message_filter: RwSignal<String>,
}

impl TrafficView {
    /// Shows the messages of `topic` alone.
    pub fn show_topic(self, topic: &str) {
        self.message_filter
            .set(crate::state::messages::view_filter_for_topic(topic));
        self.tab.set("messages");
    }
}

#[component]
pub fn App(params: UrlParams) -> impl IntoView {
    let now = RwSignal::new(clock::wall_ms());
    // Lives as long as the page.
    gloo_timers::callback::Interval::new(1_000, move || now.set(clock::wall_ms())).forget();
    provide_context(Now(now));
    provide_context(PickedTarget(RwSignal::new(None)));
    provide_context(SessionForm {
        protocol: RwSignal::new(crate::mqtt::ProtocolVersion::V311),
        client_id: RwSignal::new(String::new()),
    });
    mesh::start_mesh(
        crate::store::use_store(),
        use_commands(),
        connection::load_profile().map(|p| p.mesh),
    );
    let tab = RwSignal::new("messages");
    provide_context(TrafficView {
        tab,
        message_filter: RwSignal::new(String::new()),
    });
    let tab_button = move |id: &'static str, label: &'static str| {
        view! {
            <button type="button" role="tab" aria-selected=move || (tab.get() == id).to_string()
                on:click=move |_| tab.set(id)>{label}</button>
        }
    };
    // Read with the clock: a worker that fails to start is replaced by the page's thread.
    let commands = use_commands();
    let now = use_now();
    let thread = move || {
        now.track();
        if commands.in_worker_thread() {
            "worker"
        } else {
            "page"
        }
    };
    view! {
        <header class="topbar" data-session-thread=thread>
            <h1 class="brand">"MQTT Web"</h1>
            <StatusBadge />
            <span class="thread-note" title="Where the MQTT session and its WebSocket run">
                {move || format!("session: {} thread", thread())}
            </span>
        </header>
        <main class="layout">
            <div class="column area-conn">
                <section class="panel" aria-labelledby="connection-heading">
                    <h2 id="connection-heading">"Connection"</h2>
                    <ConnectionPanel params=params />
                    <connection::BrokerCapabilitiesPanel />
                </section>
                <section class="panel" aria-labelledby="subscriptions-heading">
                    <h2 id="subscriptions-heading">"Subscriptions"</h2>
                    <SubscriptionsPanel />
                </section>
            </div>
            <section class="panel area-messages" aria-label="Traffic">
                <div class="tabs" role="tablist">
                    {tab_button("messages", "Messages")}
                    {tab_button("topics", "Topic tree")}
                    {tab_button("chat", "Mesh chat")}
                </div>
                <div hidden=move || tab.get() != "messages"><MessagesPanel /></div>
                <div hidden=move || tab.get() != "topics">
                    <TopicsPanel visible=Signal::derive(move || tab.get() == "topics") />
                </div>
                <div hidden=move || tab.get() != "chat"><MeshChatPanel /></div>
            </section>
            <div class="column area-side">
                <section class="panel" aria-labelledby="publish-heading">
                    <h2 id="publish-heading">"Publish"</h2>
                    <PublishPanel />
                </section>
                <section class="panel" aria-labelledby="devices-heading">
                    <h2 id="devices-heading">"Devices"</h2>
                    <DevicesPanel />
                </section>
                <section class="panel" aria-labelledby="send-heading">
                    <h2 id="send-heading">"Send to node"</h2>
                    <SendToNodePanel />
                </section>
                <section class="panel" aria-labelledby="mesh-heading">
                    <details>
                        <summary><h2 id="mesh-heading" class="inline">"Meshtastic node and channels"</h2></summary>
                        <MeshSettingsPanel />
                    </details>
                </section>
            </div>
        </main>
    }
}

/// Which form's outcome line a publish feeds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OutcomeLine {
    /// `publish-result`
    Publish,
    /// `send-result`
    Send,
}

impl OutcomeLine {
    fn view(self, state: &mut State) -> &mut PublishView {
        match self {
            OutcomeLine::Publish => &mut state.publish,
            OutcomeLine::Send => &mut state.send,
        }
    }
}

/// Publishes (or shows why not) and makes `line` follow the outcome. `request` is the
/// checked topic and payload, or the reason the form refused them (nothing is sent).
pub fn publish_from_form(
    store: AppStore,
    commands: Commands,
    line: OutcomeLine,
    request: Result<(String, Vec<u8>), String>,
    qos: QoS,
    retain: bool,
    properties: Option<crate::mqtt::PublishProperties>,
) {
    let changed = Changes {
        publish: true,
        ..Default::default()
    };
    match request {
        Ok((topic, payload)) => {
            // Shown before sending: an in-page session answers at once.
            let id = commands.next_publish_id();
            store.update(|s| {
                line.view(s).started(id);
                changed
            });
            commands.send(match properties {
                Some(properties) => Command::PublishWith {
                    id,
                    topic,
                    payload,
                    qos,
                    retain,
                    properties,
                },
                None => Command::Publish {
                    id,
                    topic,
                    payload,
                    qos,
                    retain,
                },
            });
        }
        Err(why) => store.update(move |s| {
            line.view(s).refused(&why);
            changed
        }),
    }
}

/// `children` while `when()` holds, as `<Show>` does: built when it turns true, dropped when
/// it turns false, and (a memo) not rebuilt by a change that leaves it true. `<Show>` takes
/// its children type-erased, and each use compiled the `AnyView` machinery for its view.
pub fn shown_when<V: IntoView + 'static>(
    when: impl Fn() -> bool + Send + Sync + 'static,
    children: impl Fn() -> V + Send + Sync + 'static,
) -> impl IntoView {
    let when = Memo::new(move |_| when());
    move || when.get().then(&children)
}

/// The once-a-second wall clock.
pub fn use_now() -> RwSignal<u64> {
    expect_context::<Now>().0
}

/// A QoS picker bound to a typed signal.
#[component]
pub fn QosSelect(testid: &'static str, value: RwSignal<QoS>) -> impl IntoView {
    view! {
        <select data-testid=testid prop:value=move || value.get().as_u8().to_string()
            on:change=move |ev| {
                let picked = event_target_value(&ev).parse().ok().and_then(QoS::from_u8);
                value.set(picked.unwrap_or_default());
            }>
            <option value="0">"0 — at most once"</option>
            <option value="1">"1 — at least once"</option>
            <option value="2">"2 — exactly once"</option>
        </select>
    }
}

/// "14:03:07.123" in the browser's local time.
pub fn format_clock(wall_ms: u64) -> String {
    let date = js_sys::Date::new(&(wall_ms as f64).into());
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds(),
        date.get_milliseconds()
    )
}

/// Offers `text` as a file download.
pub fn download_text(file_name: &str, mime: &str, text: &str) {
    let parts = js_sys::Array::of1(&text.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Some(anchor) = document()
        .create_element("a")
        .ok()
        .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok())
    {
        anchor.set_href(&url);
        anchor.set_download(file_name);
        anchor.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

/// What the connect form holds that other panels need: the protocol chosen (MQTT 5 fields
/// show only with 5) and the client id (the prefix of our response topics).
#[derive(Clone, Copy)]
pub struct SessionForm {
    pub protocol: RwSignal<crate::mqtt::ProtocolVersion>,
    pub client_id: RwSignal<String>,
}

pub fn use_session_form() -> SessionForm {
    expect_context::<SessionForm>()
}

/// Is the form set to MQTT 5?
pub fn use_v5() -> impl Fn() -> bool + Copy {
    let form = use_session_form();
    move || form.protocol.get() == crate::mqtt::ProtocolVersion::V5
}

/// The scroll position of a list box, for rendering only the rows in view (see
/// `RowWindow`). The box calls `on_scroll`; the list reads `window(total)`.
#[derive(Clone, Copy)]
pub struct ScrollBox {
    scroll_top: RwSignal<f64>,
    height: RwSignal<f64>,
    /// The fixed height of a row when the list is windowed (kept equal to the CSS).
    pub row_px: f64,
}

impl ScrollBox {
    pub fn new(row_px: f64) -> Self {
        Self {
            scroll_top: RwSignal::new(0.0),
            // Until the first scroll: about a screen.
            height: RwSignal::new(900.0),
            row_px,
        }
    }

    pub fn on_scroll(self, ev: web_sys::Event) {
        if let Some(el) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        {
            self.scroll_top.set(f64::from(el.scroll_top()));
            // No more of a box is visible than the window holds (a box without its
            // stylesheet's max-height is as tall as its whole list).
            let window_px = web_sys::window()
                .and_then(|w| w.inner_height().ok())
                .and_then(|h| h.as_f64())
                .unwrap_or(f64::MAX);
            self.height
                .set(f64::from(el.client_height()).min(window_px));
        }
    }

    pub fn window(self, total: usize) -> crate::state::display::RowWindow {
        crate::state::display::RowWindow::of(
            self.scroll_top.get(),
            self.height.get(),
            self.row_px,
            total,
        )
    }
}
