//! Connection panel: broker URL, client options, last will, connect/disconnect, status.

use leptos::prelude::*;

use crate::app::{default_broker_url, Commands, UrlParams};
use crate::components::use_store;
use crate::mqtt::{ConnectOptions, ConnectionState, LastWill, QoS};

/// `connection-status` and `connection-error`, always visible.
#[component]
pub fn StatusBadge() -> impl IntoView {
    let store = use_store();
    let status = move || {
        store.connection.track();
        store.read(|s| s.connection.status)
    };
    let error = move || {
        store.connection.track();
        store
            .read(|s| s.connection.last_error.clone())
            .unwrap_or_default()
    };
    let retry = move || {
        store.connection.track();
        store
            .read(|s| s.connection.retry)
            .map(|(attempt, delay)| format!("retry #{attempt} in {:.1} s", delay as f64 / 1000.0))
            .unwrap_or_default()
    };
    view! {
        <div class="status" role="status" aria-live="polite">
            <span class=move || format!("status-dot {}", status().as_str())></span>
            <span data-testid="connection-status" class="status-text">{move || status().as_str()}</span>
            <span class="status-retry">{retry}</span>
            <span data-testid="connection-error" class="status-error" title=error>{error}</span>
        </div>
    }
}

/// A fresh client id: `mqtt-web-` and 8 random hex digits.
fn random_client_id() -> String {
    format!(
        "mqtt-web-{:08x}",
        (js_sys::Math::random() * u32::MAX as f64) as u32
    )
}

#[component]
pub fn ConnectionPanel(params: UrlParams) -> impl IntoView {
    let store = use_store();
    let commands = expect_context::<Commands>();

    let broker_url = RwSignal::new(params.broker.clone().unwrap_or_else(default_broker_url));
    let client_id = RwSignal::new(params.client_id.clone().unwrap_or_else(random_client_id));
    let username = RwSignal::new(params.username.clone().unwrap_or_default());
    let password = RwSignal::new(String::new());
    let keepalive = RwSignal::new("60".to_string());
    let clean_session = RwSignal::new(true);
    let will_topic = RwSignal::new(String::new());
    let will_payload = RwSignal::new(String::new());
    let will_qos = RwSignal::new("0".to_string());
    let will_retain = RwSignal::new(false);
    let form_error = RwSignal::new(String::new());
    let url_subs = StoredValue::new(params.subs.clone());

    let connect = move || {
        form_error.set(String::new());
        let keepalive_secs = match keepalive.get_untracked().trim().parse::<u16>() {
            Ok(k) => k,
            Err(_) => {
                form_error.set("keepalive must be a whole number of seconds, 0–65535".into());
                return;
            }
        };
        let topic = will_topic.get_untracked();
        let last_will = (!topic.trim().is_empty()).then(|| LastWill {
            topic,
            payload: will_payload.get_untracked().into_bytes(),
            qos: QoS::from_u8(will_qos.get_untracked().parse().unwrap_or(0)).unwrap_or_default(),
            retain: will_retain.get_untracked(),
        });
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        let options = ConnectOptions {
            client_id: client_id.get_untracked(),
            username: non_empty(username.get_untracked()),
            password: non_empty(password.get_untracked()),
            keepalive_secs,
            clean_session: clean_session.get_untracked(),
            last_will,
        };
        store.update(|s| {
            s.connection.user_connect();
            crate::state::Changes {
                connection: true,
                ..Default::default()
            }
        });
        if let Err(why) = commands
            .driver()
            .connect(&broker_url.get_untracked(), options)
        {
            form_error.set(why.clone());
            store.update(|s| {
                s.connection.refused_locally(why);
                crate::state::Changes {
                    connection: true,
                    ..Default::default()
                }
            });
            return;
        }
        // `sub` URL parameters: asked for on the first successful connect (the session sends
        // them on CONNACK and again after every reconnect).
        for filter in url_subs
            .try_update_value(std::mem::take)
            .unwrap_or_default()
        {
            match commands.driver().subscribe(&filter, QoS::AtMostOnce) {
                Ok(()) => store.update(|s| {
                    s.subscriptions.want(&filter, QoS::AtMostOnce);
                    crate::state::Changes {
                        subscriptions: true,
                        ..Default::default()
                    }
                }),
                Err(why) => form_error.set(format!("sub={filter}: {why}")),
            }
        }
    };
    let disconnect = move || commands.driver().disconnect();

    if params.connect {
        connect();
    }

    let busy = move || {
        store.connection.track();
        store.read(|s| s.connection.status) != ConnectionState::Disconnected
    };

    view! {
        <form class="form connect-form" on:submit=move |ev| { ev.prevent_default(); connect(); }>
            <label class="field wide">
                <span>"Broker URL"</span>
                <input data-testid="broker-url" type="text" spellcheck="false" autocomplete="url"
                    placeholder="ws://127.0.0.1:9001/mqtt"
                    prop:value=move || broker_url.get()
                    on:input=move |ev| broker_url.set(event_target_value(&ev)) />
            </label>
            <label class="field">
                <span>"Client ID"</span>
                <input data-testid="client-id" type="text" spellcheck="false"
                    prop:value=move || client_id.get()
                    on:input=move |ev| client_id.set(event_target_value(&ev)) />
            </label>
            <label class="field">
                <span>"Keepalive (s)"</span>
                <input data-testid="keepalive" type="number" min="0" max="65535"
                    prop:value=move || keepalive.get()
                    on:input=move |ev| keepalive.set(event_target_value(&ev)) />
            </label>
            <label class="field">
                <span>"Username"</span>
                <input data-testid="username" type="text" autocomplete="username"
                    prop:value=move || username.get()
                    on:input=move |ev| username.set(event_target_value(&ev)) />
            </label>
            <label class="field">
                <span>"Password"</span>
                <input data-testid="password" type="password" autocomplete="current-password"
                    prop:value=move || password.get()
                    on:input=move |ev| password.set(event_target_value(&ev)) />
            </label>
            <label class="check">
                <input data-testid="clean-session" type="checkbox"
                    prop:checked=move || clean_session.get()
                    on:change=move |ev| clean_session.set(event_target_checked(&ev)) />
                <span>"Clean session"</span>
            </label>
            <details class="will wide">
                <summary>"Last will"</summary>
                <div class="will-grid">
                    <label class="field wide">
                        <span>"Will topic"</span>
                        <input data-testid="will-topic" type="text" spellcheck="false"
                            prop:value=move || will_topic.get()
                            on:input=move |ev| will_topic.set(event_target_value(&ev)) />
                    </label>
                    <label class="field wide">
                        <span>"Will payload"</span>
                        <input data-testid="will-payload" type="text"
                            prop:value=move || will_payload.get()
                            on:input=move |ev| will_payload.set(event_target_value(&ev)) />
                    </label>
                    <label class="field">
                        <span>"Will QoS"</span>
                        <select data-testid="will-qos" prop:value=move || will_qos.get()
                            on:change=move |ev| will_qos.set(event_target_value(&ev))>
                            <option value="0">"0"</option>
                            <option value="1">"1"</option>
                            <option value="2">"2"</option>
                        </select>
                    </label>
                    <label class="check">
                        <input data-testid="will-retain" type="checkbox"
                            prop:checked=move || will_retain.get()
                            on:change=move |ev| will_retain.set(event_target_checked(&ev)) />
                        <span>"Retain will"</span>
                    </label>
                </div>
            </details>
            <div class="actions wide">
                <button data-testid="connect-button" type="submit" class="primary">
                    {move || if busy() { "Reconnect" } else { "Connect" }}
                </button>
                <button data-testid="disconnect-button" type="button"
                    disabled=move || !busy()
                    on:click=move |_| disconnect()>"Disconnect"</button>
            </div>
            <p class="form-error" role="alert">{move || form_error.get()}</p>
        </form>
    }
}
