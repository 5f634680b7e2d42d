//! Connection panel: broker URL, client options, last will, connect/disconnect, status.

use leptos::prelude::*;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::bridge::Command;
use crate::components::{download_text, QosSelect};
use crate::mqtt::{ConnectOptions, ConnectionState, LastWill, QoS};
use crate::params::{default_broker_url, UrlParams};
use crate::state::connection::validate_broker_url;
use crate::state::profile::{Profile, SavedSubscription, STORAGE_KEY};
use crate::state::subscriptions::SubscriptionState;
use crate::state::{Changes, StateStoreFields};
use crate::store::{use_commands, use_store};

/// `connection-status` and `connection-error`, always visible.
#[component]
pub fn StatusBadge() -> impl IntoView {
    let store = use_store();
    let connection = store.state().connection();
    let status = move || connection.with(|c| c.status);
    let error = move || {
        connection
            .with(|c| c.last_error.clone())
            .unwrap_or_default()
    };
    let retry = move || {
        connection
            .with(|c| c.retry)
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
    let commands = use_commands();

    // The saved profile prefills the form; URL parameters win over it.
    let saved = load_profile().unwrap_or_default();
    let non_empty = |s: &String| (!s.is_empty()).then(|| s.clone());
    let broker_url = RwSignal::new(
        params
            .broker
            .clone()
            .or(non_empty(&saved.broker_url))
            .unwrap_or_else(default_broker_url),
    );
    let client_id = RwSignal::new(
        params
            .client_id
            .clone()
            .or(non_empty(&saved.client_id))
            .unwrap_or_else(random_client_id),
    );
    let username = RwSignal::new(params.username.clone().unwrap_or(saved.username.clone()));
    let password = RwSignal::new(saved.password.clone().unwrap_or_default());
    let remember = RwSignal::new(saved.remember_password);
    let keepalive = RwSignal::new(saved.keepalive_secs.to_string());
    let clean_session = RwSignal::new(saved.clean_session);
    let will_topic = RwSignal::new(saved.will_topic.clone());
    let will_payload = RwSignal::new(saved.will_payload.clone());
    let will_qos = RwSignal::new(QoS::from_u8(saved.will_qos).unwrap_or_default());
    let will_retain = RwSignal::new(saved.will_retain);
    let form_error = RwSignal::new(String::new());
    // Filters to ask for on the first connect: the URL's `sub`s, else the profile's.
    let initial_subs: Vec<(String, QoS)> = if params.subs.is_empty() {
        saved
            .subscriptions
            .iter()
            .map(|s| (s.filter.clone(), QoS::from_u8(s.qos).unwrap_or_default()))
            .collect()
    } else {
        params
            .subs
            .iter()
            .map(|f| (f.clone(), QoS::AtMostOnce))
            .collect()
    };
    let url_subs = StoredValue::new(initial_subs);
    let current_profile = move || Profile {
        broker_url: broker_url.get_untracked(),
        client_id: client_id.get_untracked(),
        username: username.get_untracked(),
        password: Some(password.get_untracked()).filter(|p| !p.is_empty()),
        remember_password: remember.get_untracked(),
        keepalive_secs: keepalive.get_untracked().trim().parse().unwrap_or(60),
        clean_session: clean_session.get_untracked(),
        will_topic: will_topic.get_untracked(),
        will_payload: will_payload.get_untracked(),
        will_qos: will_qos.get_untracked().as_u8(),
        will_retain: will_retain.get_untracked(),
        subscriptions: store.peek(|s| {
            s.subscriptions
                .iter()
                .filter(|sub| !matches!(sub.state, SubscriptionState::Failed(_)))
                .map(|sub| SavedSubscription {
                    filter: sub.filter.clone(),
                    qos: sub.qos.as_u8(),
                })
                .collect()
        }),
    };
    let apply_profile = move |p: Profile| {
        broker_url.set(p.broker_url);
        client_id.set(p.client_id);
        username.set(p.username);
        password.set(p.password.unwrap_or_default());
        remember.set(p.remember_password);
        keepalive.set(p.keepalive_secs.to_string());
        clean_session.set(p.clean_session);
        will_topic.set(p.will_topic);
        will_payload.set(p.will_payload);
        will_qos.set(QoS::from_u8(p.will_qos).unwrap_or_default());
        will_retain.set(p.will_retain);
        url_subs.set_value(
            p.subscriptions
                .iter()
                .map(|s| (s.filter.clone(), QoS::from_u8(s.qos).unwrap_or_default()))
                .collect(),
        );
    };
    // Keep the stored profile in step with the list of filters (not with their counts,
    // which change every frame during a flood).
    let subscriptions = store.state().subscriptions();
    let saved_filters = Memo::new(move |_| {
        subscriptions.with(|subscriptions| {
            subscriptions
                .iter()
                .filter(|sub| !matches!(sub.state, SubscriptionState::Failed(_)))
                .map(|sub| (sub.filter.clone(), sub.qos.as_u8()))
                .collect::<Vec<_>>()
        })
    });
    Effect::new(move |first: Option<()>| {
        saved_filters.track();
        if first.is_some() {
            save_profile(&current_profile());
        }
    });

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
            qos: will_qos.get_untracked(),
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
        save_profile(&current_profile());
        let url = broker_url.get_untracked().trim().to_string();
        let changed = Changes {
            connection: true,
            ..Default::default()
        };
        // Checked here too so the message stands next to the form; the session side
        // checks again (every command path refuses the same way).
        if let Err(why) = validate_broker_url(&url) {
            form_error.set(why.clone());
            store.update(|s| {
                s.connection.refused_locally(why);
                changed
            });
            return;
        }
        store.update(|s| {
            s.connection.user_connect();
            changed
        });
        commands.send(Command::Connect { url, options });
        // `sub` URL parameters (or the profile's filters): asked for on the first successful
        // connect; the session sends them on CONNACK and again after every reconnect.
        for (filter, qos) in url_subs
            .try_update_value(std::mem::take)
            .unwrap_or_default()
        {
            // A bad filter from a link shows as a failed subscription with its reason.
            store.update(|s| {
                s.subscriptions.want(&filter, qos);
                Changes {
                    subscriptions: true,
                    ..Default::default()
                }
            });
            commands.send(Command::Subscribe { filter, qos });
        }
    };
    let disconnect = move || commands.send(Command::Disconnect);

    if params.connect {
        connect();
    }

    let connection = store.state().connection();
    let busy = move || connection.with(|c| c.status) != ConnectionState::Disconnected;

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
            <label class="check">
                <input data-testid="remember-password" type="checkbox"
                    prop:checked=move || remember.get()
                    on:change=move |ev| remember.set(event_target_checked(&ev)) />
                <span>"Remember password"</span>
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
                        <QosSelect testid="will-qos" value=will_qos />
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
            <div class="actions wide profile-actions">
                <button type="button" class="small" on:click=move |_| {
                    download_text("mqtt-web-profile.json", "application/json", &current_profile().to_json())
                }>"Export profile"</button>
                <label class="button small">
                    "Import profile"
                    <input type="file" accept="application/json,.json" class="visually-hidden"
                        on:change=move |ev| import_profile(ev, move |result| match result {
                            Ok(p) => { form_error.set(String::new()); apply_profile(p); }
                            Err(why) => form_error.set(why),
                        }) />
                </label>
            </div>
            <p class="form-error" role="alert">{move || form_error.get()}</p>
        </form>
    }
}

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

fn load_profile() -> Option<Profile> {
    let text = storage()?.get_item(STORAGE_KEY).ok().flatten()?;
    Profile::from_json(&text).ok()
}

/// Stores the profile (the password only when "remember" is ticked: `Profile::to_json`).
fn save_profile(profile: &Profile) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(STORAGE_KEY, &profile.to_json());
    }
}

/// Reads the picked file and hands the parsed profile (or why not) to `done`.
fn import_profile(ev: web_sys::Event, done: impl Fn(Result<Profile, String>) + 'static) {
    let Some(file) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        .and_then(|input| input.files())
        .and_then(|files| files.get(0))
    else {
        return;
    };
    let Ok(reader) = web_sys::FileReader::new() else {
        return;
    };
    let reader_in_callback = reader.clone();
    let on_load = Closure::<dyn FnMut()>::new(move || {
        let text = reader_in_callback
            .result()
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default();
        done(Profile::from_json(&text));
    });
    reader.set_onload(Some(on_load.as_ref().unchecked_ref()));
    on_load.forget();
    let _ = reader.read_as_text(&file);
}
