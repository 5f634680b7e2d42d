//! Connection panel: broker URL, client options, last will, connect/disconnect, status.

use leptos::prelude::*;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::bridge::Command;
use crate::components::fields::{check_field, text_area, text_field, InputAttrs};
use crate::components::message_properties::{MessagePropertyFields, MessagePropertyInputs};
use crate::components::{download_text, shown_when, QosSelect};
use crate::mqtt::{
    ConnectOptions, ConnectProperties, ConnectionState, LastWill, ProtocolVersion, QoS,
    MIN_PACKET_SIZE_LIMIT,
};
use crate::params::{default_broker_url, UrlParams};
use crate::state::connection::validate_broker_url;
use crate::state::profile::{plan_start, too_large, LoadedProfile, OnLoad, MAX_PROFILE_BYTES};
use crate::state::profile::{Profile, SavedConnectProperties, SavedSubscription, STORAGE_KEY};
use crate::state::requests::{parse_seconds, parse_user_properties};
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
            .map(|(attempt, delay)| {
                format!(
                    "retry #{attempt} in {} s",
                    crate::decimal::fixed(delay as f64 / 1000.0, 1)
                )
            })
            .unwrap_or_default()
    };
    // Shown when there is a failover list: which broker, and why the session moved.
    let broker = move || connection.with(|c| c.broker.clone()).filter(|b| b.of > 1);
    view! {
        <div class="status" role="status" aria-live="polite">
            <span class=move || format!("status-dot {}", status().as_str())></span>
            <span data-testid="connection-status" class="status-text">{move || status().as_str()}</span>
            <span class="status-retry">{retry}</span>
            <span data-testid="connection-error" class="status-error" title=error>{error}</span>
            {move || broker().map(|b| view! {
                <span class="status-broker" title=b.moved_because.clone().unwrap_or_default()>
                    "broker " {b.index + 1} "/" {b.of} ": "
                    <span data-testid="broker-in-use">{b.url.clone()}</span>
                    {b.moved_because.clone().map(|why| view! {
                        <span data-testid="failover-note" class="status-note">{format!(" — moved: {why}")}</span>
                    })}
                </span>
            })}
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

    // The saved profile prefills the form; the URL may name another broker, which then gets
    // empty credential fields and, with `connect=1`, a question before anything is sent.
    let stored = load_profile();
    let (mut prefill, on_load) = plan_start(stored.as_ref(), &params, &default_broker_url());
    if prefill.client_id.is_empty() {
        prefill.client_id = random_client_id();
    }
    let broker_url = RwSignal::new(prefill.broker_url.clone());
    let failover = RwSignal::new(prefill.failover.join("\n"));
    let failover_list = move || {
        failover
            .get_untracked()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let form = crate::components::use_session_form();
    let client_id = form.client_id;
    client_id.set(prefill.client_id.clone());
    let protocol = form.protocol;
    protocol.set(ProtocolVersion::from_level(prefill.protocol).unwrap_or_default());
    let v5 = move || protocol.get() == ProtocolVersion::V5;
    let session_expiry = RwSignal::new(match prefill.session_expiry_secs {
        0 => String::new(),
        n => n.to_string(),
    });
    let saved_connect = &prefill.connect_properties;
    let receive_maximum = RwSignal::new(saved_connect.receive_maximum.clone());
    let alias_maximum = RwSignal::new(saved_connect.topic_alias_maximum.clone());
    let maximum_packet_size = RwSignal::new(saved_connect.maximum_packet_size.clone());
    let will_delay = RwSignal::new(prefill.will_properties.delay.clone());
    let will_properties = MessagePropertyFields::default();
    will_properties.fill(&prefill.will_properties);
    let request_response_info = RwSignal::new(saved_connect.request_response_information);
    let connect_user_properties = RwSignal::new(saved_connect.user_properties.clone());
    let username = RwSignal::new(prefill.username.clone());
    let password = RwSignal::new(prefill.password.clone().unwrap_or_default());
    let remember = RwSignal::new(prefill.remember_password);
    let include_password = RwSignal::new(false);
    let confirm_broker = RwSignal::new(match &on_load {
        OnLoad::Confirm(url) => Some(url.clone()),
        _ => None,
    });
    let keepalive = RwSignal::new(prefill.keepalive_secs.to_string());
    let clean_session = RwSignal::new(prefill.clean_session);
    let will_topic = RwSignal::new(prefill.will_topic.clone());
    let will_payload = RwSignal::new(prefill.will_payload.clone());
    let will_qos = RwSignal::new(QoS::from_u8(prefill.will_qos).unwrap_or_default());
    let will_retain = RwSignal::new(prefill.will_retain);
    let form_error = RwSignal::new(String::new());
    // Filters to ask for on the first connect: the URL's `sub`s, else the profile's.
    let initial_subs: Vec<(String, QoS)> = if params.subs.is_empty() {
        prefill
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
        failover: failover_list(),
        client_id: client_id.get_untracked(),
        username: username.get_untracked(),
        password: Some(password.get_untracked()).filter(|p| !p.is_empty()),
        remember_password: remember.get_untracked(),
        keepalive_secs: keepalive.get_untracked().trim().parse().unwrap_or(60),
        protocol: protocol.get_untracked().level(),
        session_expiry_secs: session_expiry.get_untracked().trim().parse().unwrap_or(0),
        clean_session: clean_session.get_untracked(),
        will_topic: will_topic.get_untracked(),
        will_payload: will_payload.get_untracked(),
        will_qos: will_qos.get_untracked().as_u8(),
        will_retain: will_retain.get_untracked(),
        will_properties: will_properties.saved_will(will_delay.get_untracked()),
        connect_properties: SavedConnectProperties {
            receive_maximum: receive_maximum.get_untracked(),
            topic_alias_maximum: alias_maximum.get_untracked(),
            maximum_packet_size: maximum_packet_size.get_untracked(),
            request_response_information: request_response_info.get_untracked(),
            user_properties: connect_user_properties.get_untracked(),
        },
        mesh: store.peek(|s| s.mesh.settings.clone()),
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
        crate::components::mesh::apply_settings(store, commands, p.mesh.clone());
        broker_url.set(p.broker_url);
        failover.set(p.failover.join("\n"));
        client_id.set(p.client_id);
        username.set(p.username);
        password.set(p.password.unwrap_or_default());
        remember.set(p.remember_password);
        keepalive.set(p.keepalive_secs.to_string());
        protocol.set(ProtocolVersion::from_level(p.protocol).unwrap_or_default());
        session_expiry.set(match p.session_expiry_secs {
            0 => String::new(),
            n => n.to_string(),
        });
        clean_session.set(p.clean_session);
        will_topic.set(p.will_topic);
        will_payload.set(p.will_payload);
        will_qos.set(QoS::from_u8(p.will_qos).unwrap_or_default());
        will_retain.set(p.will_retain);
        will_delay.set(p.will_properties.delay.clone());
        will_properties.fill(&p.will_properties);
        receive_maximum.set(p.connect_properties.receive_maximum);
        alias_maximum.set(p.connect_properties.topic_alias_maximum);
        maximum_packet_size.set(p.connect_properties.maximum_packet_size);
        request_response_info.set(p.connect_properties.request_response_information);
        connect_user_properties.set(p.connect_properties.user_properties);
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
    // Only the filter list is written back here: the broker and credentials are saved when
    // the user connects, so a URL typed but never used cannot rebind a stored password.
    Effect::new(move |first: Option<()>| {
        let filters = saved_filters.get();
        if first.is_some() {
            if let Some(mut profile) = load_profile() {
                profile.subscriptions = filters
                    .into_iter()
                    .map(|(filter, qos)| SavedSubscription { filter, qos })
                    .collect();
                save_profile(&profile);
            }
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
        let v5_properties = (|| -> Result<ConnectProperties, String> {
            let u16_field = |text: String, what: &str| -> Result<Option<u16>, String> {
                let text = text.trim().to_owned();
                if text.is_empty() {
                    return Ok(None);
                }
                match text.parse::<u16>() {
                    Ok(0) | Err(_) => Err(format!("{what} must be a whole number, 1–65535")),
                    Ok(n) => Ok(Some(n)),
                }
            };
            Ok(ConnectProperties {
                session_expiry_secs: parse_seconds(
                    &session_expiry.get_untracked(),
                    "session expiry",
                )?,
                receive_maximum: u16_field(receive_maximum.get_untracked(), "receive maximum")?,
                maximum_packet_size: match maximum_packet_size.get_untracked().trim() {
                    "" => None,
                    text => match text.parse::<u32>() {
                        // Below this not even a CONNACK with a reason string would fit.
                        Ok(n) if n >= MIN_PACKET_SIZE_LIMIT => Some(n),
                        _ => {
                            return Err(format!(
                                "maximum packet size must be a whole number of bytes, {MIN_PACKET_SIZE_LIMIT}–4294967295"
                            ))
                        }
                    },
                },
                topic_alias_maximum: u16_field(
                    alias_maximum.get_untracked(),
                    "topic alias maximum",
                )?,
                request_response_information: request_response_info.get_untracked(),
                user_properties: parse_user_properties(&connect_user_properties.get_untracked())?,
            })
        })();
        let properties = match v5_properties {
            Ok(p) => p,
            Err(why) => {
                form_error.set(why);
                return;
            }
        };
        let topic = will_topic.get_untracked();
        let last_will = if topic.trim().is_empty() {
            None
        } else {
            let properties = if protocol.get_untracked() == ProtocolVersion::V5 {
                match will_properties.read_will(&will_delay.get_untracked()) {
                    Ok(p) => p,
                    Err(why) => {
                        form_error.set(format!("last will: {why}"));
                        return;
                    }
                }
            } else {
                Default::default()
            };
            Some(LastWill {
                topic,
                payload: will_payload.get_untracked().into_bytes(),
                qos: will_qos.get_untracked(),
                retain: will_retain.get_untracked(),
                properties,
            })
        };
        let url = broker_url.get_untracked().trim().to_string();
        if let Some(stored) = load_profile() {
            if let Err(why) = stored.check_password_use(&url, &password.get_untracked()) {
                password.set(String::new());
                form_error.set(why);
                return;
            }
        }
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        let options = ConnectOptions {
            client_id: client_id.get_untracked(),
            username: non_empty(username.get_untracked()),
            password: non_empty(password.get_untracked()),
            keepalive_secs,
            clean_session: clean_session.get_untracked(),
            last_will,
            protocol: protocol.get_untracked(),
            properties,
        };
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
        save_profile(&current_profile());
        store.update(|s| {
            s.connection.user_connect();
            changed
        });
        commands.send(Command::Connect {
            url,
            failover: failover_list(),
            options,
        });
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

    if on_load == OnLoad::Connect {
        connect();
    }

    let connection = store.state().connection();
    let busy = move || connection.with(|c| c.status) != ConnectionState::Disconnected;

    view! {
        <form class="form connect-form" on:submit=move |ev| { ev.prevent_default(); connect(); }>
            {move || confirm_broker.get().map(|url| view! {
                <div data-testid="confirm-connect" class="confirm wide" role="alertdialog" aria-label="Connect to this broker?">
                    <p>"This link asks to connect to " <code data-testid="confirm-connect-url">{url}</code>
                        ". It is not the broker you saved; no stored username or password is sent to it. Connect?"</p>
                    <div class="actions">
                        <button data-testid="confirm-connect-yes" type="button" class="primary"
                            on:click=move |_| { confirm_broker.set(None); connect(); }>"Connect"</button>
                        <button data-testid="confirm-connect-no" type="button"
                            on:click=move |_| confirm_broker.set(None)>"Not now"</button>
                    </div>
                </div>
            })}
            {text_field("field wide", "Broker URL", "broker-url", broker_url, InputAttrs {
                autocomplete: Some("url"),
                ..InputAttrs::CODE.placeholder("ws://127.0.0.1:9001/mqtt")
            })}
            <details class="failover wide" open=!prefill.failover.is_empty()>
                <summary>"Failover brokers"</summary>
                {text_area("field wide",
                    "Tried in order when the broker above fails 3 times in a row (one URL per line)",
                    "failover-urls", failover, 2, Some("ws://backup.example:9001/mqtt"))}
            </details>
            {text_field("field", "Client ID", "client-id", client_id, InputAttrs::CODE)}
            <label class="field">
                <span>"MQTT version"</span>
                <select data-testid="protocol-version"
                    on:change=move |ev| {
                        let level = event_target_value(&ev).parse().ok().and_then(ProtocolVersion::from_level);
                        protocol.set(level.unwrap_or_default());
                    }>
                    <option value="4" selected=move || !v5()>"3.1.1"</option>
                    <option value="5" selected=v5>"5.0"</option>
                </select>
            </label>
            {text_field("field", "Keepalive (s)", "keepalive", keepalive,
                InputAttrs::NUMBER.range(0, Some(65535)))}
            {text_field("field", "Username", "username", username,
                InputAttrs { autocomplete: Some("username"), ..InputAttrs::TEXT })}
            {text_field("field", "Password", "password", password,
                InputAttrs { kind: "password", autocomplete: Some("current-password"), ..InputAttrs::TEXT })}
            <label class="check">
                <input data-testid="clean-session" type="checkbox"
                    prop:checked=move || clean_session.get()
                    on:change=move |ev| clean_session.set(event_target_checked(&ev)) />
                <span>{move || if v5() { "Clean start" } else { "Clean session" }}</span>
            </label>
            {check_field("check", "Remember password", "remember-password", remember)}
            {shown_when(v5, move || view! {
                <details class="v5 wide" open=true>
                    <summary>"MQTT 5 connect properties"</summary>
                    <div class="form">
                        {text_field("field", "Session expiry (s)", "session-expiry", session_expiry,
                            InputAttrs::NUMBER.range(0, None).placeholder("0: ends with the link"))}
                        {text_field("field", "Receive maximum", "receive-maximum", receive_maximum,
                            InputAttrs::NUMBER.range(1, Some(65535)).placeholder("65535"))}
                        {text_field("field", "Topic alias maximum", "topic-alias-maximum", alias_maximum,
                            InputAttrs::NUMBER.range(0, Some(65535)))}
                        {text_field("field", "Maximum packet size (bytes)", "maximum-packet-size",
                            maximum_packet_size,
                            InputAttrs::NUMBER.range(MIN_PACKET_SIZE_LIMIT, None).placeholder("no limit"))}
                        {check_field("check", "Request response information", "request-response-info",
                            request_response_info)}
                        {text_area("field wide", "User properties (name=value per line)",
                            "connect-user-properties", connect_user_properties, 2, None)}
                    </div>
                </details>
            })}
            <details class="will wide">
                <summary>"Last will"</summary>
                <div class="will-grid">
                    {text_field("field wide", "Will topic", "will-topic", will_topic, InputAttrs::CODE)}
                    {text_field("field wide", "Will payload", "will-payload", will_payload, InputAttrs::TEXT)}
                    <label class="field">
                        <span>"Will QoS"</span>
                        <QosSelect testid="will-qos" value=will_qos />
                    </label>
                    {check_field("check", "Retain will", "will-retain", will_retain)}
                    {shown_when(v5, move || view! {
                        {text_field("field", "Will delay (s)", "will-delay", will_delay,
                            InputAttrs::NUMBER.range(0, None).placeholder("0: at once"))}
                        <MessagePropertyInputs fields=will_properties prefix="will" />
                    })}
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
                <button data-testid="export-profile" type="button" class="small" on:click=move |_| {
                    let json = current_profile().to_export_json(include_password.get_untracked());
                    download_text("mqtt-web-profile.json", "application/json", &json)
                }>"Export profile"</button>
                {check_field("check small", "include password and channel keys",
                    "export-include-password", include_password)}
                <label class="button small">
                    "Import profile"
                    <input type="file" accept="application/json,.json" class="visually-hidden"
                        data-testid="import-profile"
                        on:change=move |ev| import_profile(ev, move |result| match result {
                            Ok(loaded) => {
                                form_error.set(loaded.notice.unwrap_or_default());
                                apply_profile(loaded.profile);
                            }
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

pub(crate) fn load_profile() -> Option<Profile> {
    let text = storage()?.get_item(STORAGE_KEY).ok().flatten()?;
    Profile::from_json(&text).ok().map(|loaded| loaded.profile)
}

/// Stores the profile (the password only when "remember" is ticked: `Profile::to_json`).
fn save_profile(profile: &Profile) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(STORAGE_KEY, &profile.to_json());
    }
}

/// Stores the mesh settings with the profile (creating one if none is stored yet).
pub(crate) fn save_mesh_settings(mesh: &crate::state::mesh::MeshSettings) {
    let mut profile = load_profile().unwrap_or_default();
    if profile.mesh != *mesh {
        profile.mesh = mesh.clone();
        save_profile(&profile);
    }
}

/// Reads the picked file and hands the parsed profile (or why not) to `done`. Files over
/// the cap are refused before reading; a failed read says so.
fn import_profile(ev: web_sys::Event, done: impl FnOnce(Result<LoadedProfile, String>) + 'static) {
    let Some(input) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
    else {
        return;
    };
    let Some(file) = input.files().and_then(|files| files.get(0)) else {
        return;
    };
    // The same file can be picked again after an edit.
    input.set_value("");
    if file.size() > MAX_PROFILE_BYTES as f64 {
        done(Err(too_large(file.size() as usize)));
        return;
    }
    let Ok(reader) = web_sys::FileReader::new() else {
        done(Err("this browser cannot read files here".into()));
        return;
    };
    let reader_in_callback = reader.clone();
    // `loadend` fires once, after success or failure (then `result` is null); the closure
    // frees itself when called.
    let on_end = Closure::once_into_js(move || {
        let text = reader_in_callback.result().ok().and_then(|v| v.as_string());
        done(match text {
            Some(text) => Profile::from_json(&text),
            None => Err("the file could not be read".into()),
        });
    });
    reader.set_onloadend(Some(on_end.unchecked_ref()));
    if reader.read_as_text(&file).is_err() {
        reader.set_onloadend(None);
    }
}

/// What an MQTT 5 broker's CONNACK said about itself (limits the session obeys).
#[component]
pub fn BrokerCapabilitiesPanel() -> impl IntoView {
    let store = use_store();
    let connection = store.state().connection();
    let caps = move || connection.with(|c| c.capabilities.clone());
    move || {
        caps().map(|c| {
            let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
            let rows: Vec<(&'static str, &'static str, String)> = vec![
                (
                    "maximum-qos",
                    "Maximum QoS",
                    c.maximum_qos.as_u8().to_string(),
                ),
                (
                    "retain-available",
                    "Retain available",
                    yes_no(c.retain_available),
                ),
                (
                    "maximum-packet-size",
                    "Maximum packet size",
                    c.maximum_packet_size
                        .map_or("no limit".into(), |m| m.to_string()),
                ),
                (
                    "topic-alias-maximum",
                    "Topic alias maximum",
                    c.topic_alias_maximum.to_string(),
                ),
                (
                    "receive-maximum",
                    "Receive maximum",
                    c.receive_maximum.to_string(),
                ),
                (
                    "wildcard-subscriptions",
                    "Wildcard subscriptions",
                    yes_no(c.wildcard_subscriptions),
                ),
                (
                    "shared-subscriptions",
                    "Shared subscriptions",
                    yes_no(c.shared_subscriptions),
                ),
                (
                    "subscription-identifiers",
                    "Subscription identifiers",
                    yes_no(c.subscription_identifiers),
                ),
                (
                    "server-keepalive",
                    "Server keepalive (s)",
                    c.server_keepalive_secs
                        .map_or("—".into(), |k| k.to_string()),
                ),
                (
                    "assigned-client-id",
                    "Assigned client id",
                    c.assigned_client_id.clone().unwrap_or_else(|| "—".into()),
                ),
                (
                    "response-information",
                    "Response information",
                    c.response_information.clone().unwrap_or_else(|| "—".into()),
                ),
            ];
            view! {
                <details data-testid="broker-capabilities" class="capabilities" open=true>
                    <summary>"Broker capabilities (MQTT 5)"</summary>
                    <dl>
                        {rows.into_iter().map(|(name, label, value)| view! {
                            <div class="cap">
                                <dt>{label}</dt>
                                <dd data-testid="capability" data-name=name>{value}</dd>
                            </div>
                        }).collect_view()}
                    </dl>
                </details>
            }
        })
    }
}
