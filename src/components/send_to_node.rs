//! Send to node: a Meshtastic text, as our own node (encrypted protobuf envelope, the
//! default) or through a gateway (JSON downlink, firmware 2.7 and older); or a JSON command
//! to a generic device.

use leptos::prelude::*;

use crate::components::devices::PickedTarget;
use crate::components::fields::{text_field, InputAttrs};
use crate::components::mesh::send_as_node;
use crate::components::{publish_from_form, shown_when, OutcomeLine};
use crate::mesh::{
    build_sendtext, format_node_id, parse_gateway, parse_node_target, EnvelopeError, OutgoingBody,
    MAX_PROTOBUF_TEXT_BYTES, MAX_TEXT_BYTES,
};
use crate::mqtt::{topic, QoS};
use crate::state::devices::DeviceKind;
use crate::state::StateStoreFields;
use crate::store::{use_commands, use_store};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Meshtastic,
    Generic,
}

/// Node ids offered as suggestions in the node field.
const MAX_NODE_SUGGESTIONS: usize = 50;

#[component]
pub fn SendToNodePanel() -> impl IntoView {
    let store = use_store();
    let commands = use_commands();
    let picked = expect_context::<PickedTarget>();
    let mode = RwSignal::new(Mode::Meshtastic);
    // `protobuf` (as our own node) or `json` (through a gateway).
    let format = RwSignal::new("protobuf".to_string());
    let protobuf = move || format.get() == "protobuf";
    // Protobuf: the channel by name (its key is in the settings).
    let channel_name = RwSignal::new(String::new());
    let mesh = store.state().mesh();
    let channel_names = move || {
        mesh.with(|m| {
            m.settings
                .decoder_channels()
                .into_iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
        })
    };
    let target = RwSignal::new(String::new());
    let gateway = RwSignal::new(String::new());
    let channel = RwSignal::new("0".to_string());
    let region = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let command_topic = RwSignal::new(String::new());
    let error = RwSignal::new(String::new());

    // A device picked in the list becomes the target (and picks the mode).
    Effect::new(move |_| {
        if let Some((id, kind)) = picked.0.get() {
            target.set(id.clone());
            match kind {
                DeviceKind::Meshtastic => mode.set(Mode::Meshtastic),
                DeviceKind::Generic => {
                    mode.set(Mode::Generic);
                    command_topic.set(format!("devices/{id}/commands"));
                }
            }
        }
    });

    // Once per change of the device registry, however many fields read it.
    let seen_now = Memo::new(move |_| {
        store.state().devices().with(|devices| {
            // Suggestions, not a directory: the most recently heard nodes (a busy mesh has
            // thousands, which as <option>s would be most of the page's DOM). Any id can be
            // typed.
            let nodes: Vec<(String, String)> = devices
                .devices_by_last_seen()
                .into_iter()
                .filter(|d| d.kind == DeviceKind::Meshtastic)
                .take(MAX_NODE_SUGGESTIONS)
                .map(|d| (d.id.clone(), d.display_name().to_string()))
                .collect();
            (nodes, devices.gateways(), devices.regions())
        })
    });
    let seen = move || seen_now.get();
    let region_or_default = move || {
        let typed = region.get_untracked().trim().to_string();
        if !typed.is_empty() {
            return typed;
        }
        seen().2.first().cloned().unwrap_or_else(|| "US".into())
    };
    let gateway_or_seen = move || {
        let typed = gateway.get_untracked().trim().to_string();
        if !typed.is_empty() {
            return Some(parse_gateway(&typed));
        }
        seen().1.first().map(|g| Ok(*g))
    };
    let bytes_used = move || text.get().len();
    let byte_limit = move || {
        if protobuf() {
            MAX_PROTOBUF_TEXT_BYTES
        } else {
            MAX_TEXT_BYTES
        }
    };

    let finish = move |request: Result<(String, Vec<u8>), String>| {
        error.set(request.as_ref().err().cloned().unwrap_or_default());
        publish_from_form(
            store,
            commands,
            OutcomeLine::Send,
            request,
            QoS::AtLeastOnce,
            false,
            None,
        );
    };

    let send = move || {
        if mode.get_untracked() == Mode::Generic {
            let topic_name = match command_topic.get_untracked().trim() {
                "" => format!("devices/{}/commands", target.get_untracked().trim()),
                typed => typed.to_string(),
            };
            let body = text.get_untracked();
            let result = topic::validate_topic(&topic_name)
                .map_err(|why| format!("invalid topic: {why}"))
                .and_then(|_| {
                    serde_json::from_str::<serde_json::Value>(&body)
                        .map_err(|e| format!("the command must be JSON: {e}"))
                })
                .map(|_| (topic_name, body.into_bytes()));
            finish(result);
            return;
        }
        if format.get_untracked() == "protobuf" {
            let text_now = text.get_untracked();
            let picked = channel_name.get_untracked();
            let channels = store.peek(|s| s.mesh.settings.decoder_channels());
            let channel = channels
                .iter()
                .find(|c| c.name == picked)
                .or(channels.first())
                .cloned();
            let checked = parse_node_target(target.get_untracked().trim())
                .map_err(|why| format!("target: {why}"))
                .and_then(|to| {
                    // The same checks the session side makes, so the reason shows at once.
                    if text_now.trim().is_empty() {
                        return Err(EnvelopeError::EmptyText.to_string());
                    }
                    if text_now.len() > MAX_PROTOBUF_TEXT_BYTES {
                        let (bytes, limit) = (text_now.len(), MAX_PROTOBUF_TEXT_BYTES);
                        return Err(EnvelopeError::TextTooLong { bytes, limit }.to_string());
                    }
                    let channel = channel.ok_or_else(|| {
                        "add a channel with its key under Meshtastic node and channels".to_string()
                    })?;
                    Ok((to, channel))
                });
            match checked {
                Ok((to, channel)) => {
                    error.set(String::new());
                    send_as_node(
                        store,
                        commands,
                        OutcomeLine::Send,
                        channel,
                        to,
                        OutgoingBody::Text {
                            text: text_now,
                            reply_id: None,
                            emoji: false,
                        },
                    );
                }
                Err(why) => finish(Err(why)),
            }
            return;
        }
        let result = parse_node_target(target.get_untracked().trim())
            .map_err(|why| format!("target: {why}"))
            .and_then(|to| {
                let gw = match gateway_or_seen() {
                    Some(Ok(g)) => Some(g),
                    Some(Err(why)) => return Err(format!("gateway: {why}")),
                    None => None,
                };
                let channel: u32 = channel
                    .get_untracked()
                    .trim()
                    .parse()
                    .map_err(|_| "channel must be an index 0–7".to_string())?;
                build_sendtext(&region_or_default(), gw, to, channel, &text.get_untracked())
                    .map_err(|e| e.to_string())
            })
            .map(|downlink| (downlink.topic, downlink.payload.into_bytes()));
        finish(result);
    };

    let outcome = store.state().send();
    let result = move || outcome.with(|send| send.result.clone());

    view! {
        <div class="tabs" role="tablist">
            <button type="button" role="tab" aria-selected=move || (mode.get() == Mode::Meshtastic).to_string()
                on:click=move |_| mode.set(Mode::Meshtastic)>"Meshtastic text"</button>
            <button type="button" role="tab" aria-selected=move || (mode.get() == Mode::Generic).to_string()
                on:click=move |_| mode.set(Mode::Generic)>"Device command"</button>
        </div>
        <form class="form" on:submit=move |ev| { ev.prevent_default(); send(); }>
            <label class="field">
                <span>{move || if mode.get() == Mode::Meshtastic { "Node (!hex or number)" } else { "Device id" }}</span>
                <input data-testid="node-target" type="text" spellcheck="false" list="known-nodes"
                    placeholder=move || if mode.get() == Mode::Meshtastic { "!a1b2c3d4 or ^all" } else { "pump-1" }
                    prop:value=move || target.get() on:input=move |ev| target.set(event_target_value(&ev)) />
                <datalist id="known-nodes">
                    {move || seen().0.into_iter().map(|(id, name)| view! { <option value=id>{name}</option> }).collect_view()}
                </datalist>
            </label>
            {shown_when(move || mode.get() == Mode::Meshtastic, move || view! {
                <label class="field">
                    <span>"Format"</span>
                    <select data-testid="node-format" prop:value=move || format.get()
                        on:change=move |ev| format.set(event_target_value(&ev))>
                        <option value="protobuf">"protobuf — as our own node"</option>
                        <option value="json">"JSON — via a gateway (2.7)"</option>
                    </select>
                </label>
            })}
            {shown_when(move || mode.get() == Mode::Meshtastic && protobuf(), move || view! {
                <label class="field">
                    <span>"Channel"</span>
                    <select data-testid="node-channel"
                        on:change=move |ev| channel_name.set(event_target_value(&ev))>
                        // `selected` on the option: the list can arrive after the select.
                        {move || {
                            let picked = channel_name.get();
                            channel_names().into_iter().map(|name| {
                                let selected = name == picked;
                                view! { <option value=name.clone() selected=selected>{name.clone()}</option> }
                            }).collect_view()
                        }}
                    </select>
                </label>
            })}
            {shown_when(move || mode.get() == Mode::Generic, move || text_field("field", "Topic", "", command_topic,
                InputAttrs::CODE.placeholder("devices/<id>/commands")))}
            {shown_when(move || mode.get() == Mode::Meshtastic && !protobuf(), move || view! {
                <label class="field">
                    <span>"Gateway node"</span>
                    <input data-testid="node-gateway" type="text" spellcheck="false" list="known-gateways"
                        placeholder=move || seen().1.first().map(|g| format!("{} (seen)", format_node_id(*g))).unwrap_or_else(|| "!gateway".into())
                        prop:value=move || gateway.get() on:input=move |ev| gateway.set(event_target_value(&ev)) />
                    <datalist id="known-gateways">
                        {move || seen().1.into_iter().map(|g| view! { <option value=format_node_id(g)></option> }).collect_view()}
                    </datalist>
                </label>
                {text_field("field", "Channel index", "node-channel", channel,
                    InputAttrs::NUMBER.range(0, Some(7)))}
                <label class="field">
                    <span>"Region"</span>
                    <input type="text" spellcheck="false" list="known-regions"
                        placeholder=move || seen().2.first().cloned().unwrap_or_else(|| "US".into())
                        prop:value=move || region.get() on:input=move |ev| region.set(event_target_value(&ev)) />
                    <datalist id="known-regions">
                        {move || seen().2.into_iter().map(|r| view! { <option value=r></option> }).collect_view()}
                    </datalist>
                </label>
            })}
            <label class="field wide">
                <span>{move || if mode.get() == Mode::Meshtastic {
                    format!("Message ({} / {} bytes)", bytes_used(), byte_limit())
                } else { "Command (JSON)".to_string() }}</span>
                <textarea data-testid="node-message" rows="2"
                    aria-invalid=move || (mode.get() == Mode::Meshtastic && bytes_used() > byte_limit()).to_string()
                    prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))></textarea>
            </label>
            <div class="actions wide">
                <button data-testid="send-to-node-button" type="submit" class="primary">"Send"</button>
                <span class="result" aria-live="polite">"Result: " <output data-testid="send-result">{result}</output></span>
            </div>
            <p class="field-error wide" role="alert">{move || error.get()}</p>
        </form>
    }
}
