//! Meshtastic as a node: our node and channel keys (settings), the text chat, and the one
//! path that sends a protobuf packet as our node.

use leptos::prelude::*;

use crate::bridge::Command;
use crate::components::fields::{text_field, InputAttrs};
use crate::components::{shown_when, use_now, OutcomeLine};
use crate::mesh::{
    format_node_id, parse_bang_hex, ChannelConfig, OutgoingBody, OutgoingPacket, BROADCAST,
};
use crate::mqtt::ConnectionState;
use crate::state::mesh::{node_label, ChatText, Conversation, MeshSettings, SavedChannel};
use crate::state::{Changes, State, StateStoreFields};
use crate::store::{use_commands, use_store, AppStore, Commands};
use crate::transport::clock;

fn changed_mesh() -> Changes {
    Changes {
        mesh: true,
        publish: true,
        ..Default::default()
    }
}

/// A fresh non-zero packet id (or node number), never broadcast.
pub fn random_node_or_packet_id() -> u32 {
    let x = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    match x {
        0 | BROADCAST => 1,
        x => x,
    }
}

/// The topic root to send on: the one set, else the region seen in traffic, else `US`.
pub fn send_region(state: &State) -> String {
    let set = state.mesh.settings.region.trim();
    if !set.is_empty() {
        return set.to_string();
    }
    state
        .devices
        .regions()
        .into_iter()
        .next()
        .unwrap_or_else(|| "US".into())
}

/// Sends `body` to `to` on `channel` as our own node; `line` follows the outcome (and, for a
/// direct text, the mesh's ACK). A text also shows in the chat at once.
pub fn send_as_node(
    store: AppStore,
    commands: Commands,
    line: OutcomeLine,
    channel: ChannelConfig,
    to: u32,
    body: OutgoingBody,
) {
    let id = commands.next_publish_id();
    let packet_id = random_node_or_packet_id();
    let now = clock::wall_ms();
    let packet = store.peek(|s| OutgoingPacket {
        region: send_region(s),
        channel,
        from: s.mesh.settings.node_num,
        to,
        packet_id,
        want_ack: to != BROADCAST && matches!(body, OutgoingBody::Text { .. }),
        body,
    });
    store.update(|s| {
        line.view(s).started(id);
        s.mesh.last_publish = Some(id);
        s.mesh.awaiting = None;
        if packet.want_ack {
            s.mesh.await_ack(id, packet_id, now);
        }
        if let OutgoingBody::Text { text, reply_id, .. } = &packet.body {
            s.mesh.sent_text(ChatText {
                from: packet.from,
                to,
                id: packet_id,
                channel: packet.channel.name.clone(),
                text: text.clone(),
                reply_id: *reply_id,
                reactions: Vec::new(),
                received_ms: now,
                own: true,
                sealed: false,
            });
        }
        changed_mesh()
    });
    commands.send(Command::MeshSend { id, packet });
}

/// Loads the stored mesh settings into the store (drawing our node number the first time),
/// hands the channel keys to the session side and saves the settings back. Also starts the
/// mesh's duties that belong to no panel (they run whether or not a panel is shown):
/// announcing our node on connect, and giving up on a direct send's ACK.
pub fn start_mesh(store: AppStore, commands: Commands, stored: Option<MeshSettings>) {
    let mut settings = stored.unwrap_or_default().sanitized();
    if settings.node_num == 0 {
        settings.node_num = random_node_or_packet_id();
    }
    apply_settings(store, commands, settings);

    // Announce on connect when the user has given the node a name.
    let connection = store.state().connection();
    let status = Memo::new(move |_| connection.with(|c| c.status));
    Effect::new(move |previous: Option<ConnectionState>| {
        let now = status.get();
        let named = store.peek(|s| !s.mesh.settings.long_name.is_empty());
        if now == ConnectionState::Connected && previous != Some(now) && named {
            // Without a keyed channel there is nothing to announce on; the settings panel
            // says so when the user announces by hand.
            let _ = announce_node(store, commands);
        }
        now
    });

    // Direct sends wait for the mesh's ACK; after the timeout the send line says so.
    let now = use_now();
    Effect::new(move |_| {
        let now = now.get();
        if store.peek(|s| s.mesh.awaiting.is_some()) {
            store.update(|s| {
                let mut changes = Changes::default();
                if let Some(a) = s.mesh.ack_timed_out(now) {
                    changes.publish = s.send.outcome(a.publish, "no ack");
                }
                changes
            });
        }
    });
}

/// Broadcasts our node's NodeInfo on the first channel that has a key (the outcome shows on
/// the send-to-node line); `Err` says why nothing was sent.
fn announce_node(store: AppStore, commands: Commands) -> Result<(), &'static str> {
    let channel = store
        .peek(|s| s.mesh.settings.decoder_channels().into_iter().next())
        .ok_or("add a channel with a key first")?;
    let (long, short) = store.peek(|s| {
        (
            s.mesh.settings.long_name.clone(),
            s.mesh.settings.short_name.clone(),
        )
    });
    send_as_node(
        store,
        commands,
        OutcomeLine::Send,
        channel,
        BROADCAST,
        OutgoingBody::NodeInfo {
            long_name: long,
            short_name: short,
        },
    );
    Ok(())
}

/// Uses `settings` from now on: the store, the decoder's keys, the stored profile.
pub fn apply_settings(store: AppStore, commands: Commands, settings: MeshSettings) {
    commands.send(Command::SetMeshChannels {
        channels: settings.decoder_channels(),
    });
    crate::components::connection::save_mesh_settings(&settings);
    store.update(move |s| {
        s.mesh.settings = settings;
        s.mesh.key_errors.clear();
        changed_mesh()
    });
}

/// Our node, the channel list with keys, announce, and what could not be read.
#[component]
pub fn MeshSettingsPanel() -> impl IntoView {
    let store = use_store();
    let commands = use_commands();
    let mesh = store.state().mesh();
    let initial = store.peek(|s| s.mesh.settings.clone());
    let node_id = RwSignal::new(format_node_id(initial.node_num));
    let long_name = RwSignal::new(initial.long_name.clone());
    let short_name = RwSignal::new(initial.short_name.clone());
    let region = RwSignal::new(initial.region.clone());
    let channels = RwSignal::new(initial.channels.clone());
    let error = RwSignal::new(String::new());
    let note = RwSignal::new(String::new());

    // An imported profile replaces the settings: follow them. Only when they change, not on
    // every mesh packet (the mesh slice changes with traffic): what the user is typing here
    // would be overwritten by the saved values.
    let saved = Memo::new(move |_| mesh.with(|m| m.settings.clone()));
    Effect::new(move |_| {
        let s = saved.get();
        node_id.set(format_node_id(s.node_num));
        long_name.set(s.long_name);
        short_name.set(s.short_name);
        region.set(s.region);
        channels.set(s.channels);
    });

    let apply = move || {
        error.set(String::new());
        let Some(node_num) =
            parse_bang_hex(node_id.get_untracked().trim()).filter(|n| *n != 0 && *n != BROADCAST)
        else {
            error.set("node id: use !xxxxxxxx (8 hex digits, not 0 or ffffffff)".into());
            return;
        };
        let settings = MeshSettings {
            channels: channels.get_untracked(),
            node_num,
            long_name: long_name.get_untracked().trim().to_string(),
            short_name: short_name.get_untracked().trim().to_string(),
            region: region.get_untracked(),
        }
        .sanitized();
        apply_settings(store, commands, settings);
        note.set("saved".into());
    };
    let announce = move || match announce_node(store, commands) {
        Ok(()) => note.set("announced (see Send to node for the result)".into()),
        Err(why) => error.set(why.into()),
    };

    let key_errors = move || {
        mesh.with(|m| {
            m.key_errors
                .iter()
                .map(|(name, why)| format!("{name}: {why}"))
                .collect::<Vec<_>>()
        })
    };
    let unreadable = move || {
        mesh.with(|m| {
            m.unreadable
                .iter()
                .map(|(channel, u)| (channel.clone(), u.describe()))
                .collect::<Vec<_>>()
        })
    };
    let channel_row = move |index: usize, channel: SavedChannel| {
        let set = move |f: &dyn Fn(&mut SavedChannel)| {
            channels.update(|list| {
                if let Some(c) = list.get_mut(index) {
                    f(c)
                }
            })
        };
        let missing_key = channel.psk.is_none();
        view! {
            <li class="channel-row">
                <input type="text" spellcheck="false" aria-label="Channel name" data-testid="mesh-channel-name"
                    prop:value=channel.name.clone()
                    on:change=move |ev| { let v = event_target_value(&ev); set(&|c| c.name = v.clone()) } />
                <input type="text" spellcheck="false" aria-label="Channel key (base64)" data-testid="mesh-channel-psk"
                    placeholder=if missing_key { "key not in the file" } else { "AQ==" }
                    prop:value=channel.psk.clone().unwrap_or_default()
                    on:change=move |ev| { let v = event_target_value(&ev); set(&|c| c.psk = Some(v.clone())) } />
                <button type="button" class="small" aria-label="Remove channel"
                    on:click=move |_| channels.update(|list| { if index < list.len() { list.remove(index); } })>"✕"</button>
            </li>
        }
    };
    view! {
        <form class="form" on:submit=move |ev| { ev.prevent_default(); apply(); }>
            {text_field("field", "Our node id", "mesh-node-id", node_id, InputAttrs::CODE)}
            {text_field("field", "Region (topic root)", "mesh-region", region,
                InputAttrs::CODE.placeholder("seen, else US"))}
            {text_field("field", "Long name", "mesh-long-name", long_name,
                InputAttrs { maxlength: Some(39), ..InputAttrs::TEXT })}
            {text_field("field", "Short name", "mesh-short-name", short_name,
                InputAttrs { maxlength: Some(4), ..InputAttrs::TEXT })}
            <div class="field wide">
                <span>"Channels (name, key in base64; " <code>"AQ=="</code> " is the default key). Keys stay in this browser."</span>
                <ul class="channels">
                    {move || channels.get().into_iter().enumerate().map(|(i, c)| channel_row(i, c)).collect_view()}
                </ul>
            </div>
            <div class="actions wide">
                <button type="button" class="small" on:click=move |_| channels.update(|list| {
                    if list.len() < crate::state::mesh::MAX_CHANNELS {
                        list.push(SavedChannel { name: String::new(), psk: Some(String::new()) });
                    }
                })>"Add channel"</button>
                <button data-testid="mesh-apply" type="submit" class="primary">"Save"</button>
                <button data-testid="mesh-announce" type="button" on:click=move |_| announce()>"Announce node"</button>
                <span class="result">{move || note.get()}</span>
            </div>
            <p class="field-error wide" role="alert">{move || error.get()}</p>
            <ul class="dropped wide">
                {move || key_errors().into_iter().map(|e| view! { <li>{e}</li> }).collect_view()}
            </ul>
            <ul class="unreadable wide" aria-label="Packets that could not be read">
                {move || unreadable().into_iter().map(|(channel, text)| view! {
                    <li data-testid="mesh-unreadable" data-channel=channel.clone()><b>{channel.clone()}</b> ": " {text}</li>
                }).collect_view()}
            </ul>
        </form>
    }
}

/// Received and sent texts, per channel and per node, deduplicated across gateways.
#[component]
pub fn MeshChatPanel() -> impl IntoView {
    let store = use_store();
    let mesh = store.state().mesh();
    let devices = store.state().devices();
    // "" = every conversation.
    let picked = RwSignal::new(String::new());

    let conversations = move || {
        mesh.with(|m| {
            m.conversations()
                .into_iter()
                .map(|c| {
                    let label = match &c {
                        Conversation::Channel(name) => format!("# {name}"),
                        Conversation::Node(num) => format!("@ {}", node_label(*num)),
                    };
                    (c.key(), label)
                })
                .collect::<Vec<_>>()
        })
    };
    let rows = move || {
        let wanted = Conversation::from_key(&picked.get());
        mesh.with(|m| {
            let me = m.settings.node_num;
            m.texts()
                .rev()
                .filter(|t| wanted.as_ref().is_none_or(|w| t.conversation(me) == *w))
                .take(300)
                .map(|t| {
                    let quoted = t
                        .reply_id
                        .and_then(|r| m.text_by_id(r))
                        .map(|q| q.text.chars().take(60).collect::<String>());
                    (t.clone(), quoted)
                })
                .collect::<Vec<_>>()
        })
    };
    let name_of = move |num: u32| {
        devices
            .with(|d| d.node_name(num).map(str::to_string))
            .unwrap_or_else(|| format_node_id(num))
    };
    view! {
        <div class="toolbar">
            <label class="field grow">
                <span>"Conversation"</span>
                <select data-testid="mesh-conversation" prop:value=move || picked.get()
                    on:change=move |ev| picked.set(event_target_value(&ev))>
                    <option value="">"All"</option>
                    {move || conversations().into_iter().map(|(key, label)| view! { <option value=key>{label}</option> }).collect_view()}
                </select>
            </label>
        </div>
        {shown_when(move || mesh.with(|m| m.texts().len() == 0), move || view! {
            <p class="hint">"Texts from Meshtastic nodes appear here: subscribe to " <code>"msh/#"</code>
                " (encrypted channels need their keys under Meshtastic node)."</p>
        })}
        <ul class="chat" aria-label="Mesh texts">
            {move || rows().into_iter().map(|(t, quoted)| {
                let sender = if t.own { "me".to_string() } else { name_of(t.from) };
                let target = if t.to == BROADCAST { format!("#{}", t.channel) } else { format!("@{}", name_of(t.to)) };
                let reactions = t.reactions.iter().map(|(from, emoji)| format!("{emoji} {}", name_of(*from))).collect::<Vec<_>>().join("  ");
                view! {
                    <li data-testid="mesh-text" class=if t.own { "chat-text own" } else { "chat-text" }
                        data-from=format_node_id(t.from) data-to=node_label(t.to) data-channel=t.channel.clone() data-packet-id=t.id.to_string()>
                        <div class="chat-head">
                            <span class="chat-sender">{sender}</span>
                            <span class="msg-meta">{format!("{} → {target}", format_node_id(t.from))}</span>
                            <span class="msg-meta">{crate::components::format_clock(t.received_ms)}</span>
                        </div>
                        {quoted.map(|q| view! { <div class="chat-quote">"↪ " {q}</div> })}
                        {if t.sealed {
                            leptos::either::Either::Left(view! { <div class="chat-body sealed">"🔒 encrypted direct message"</div> })
                        } else {
                            leptos::either::Either::Right(view! { <div class="chat-body">{t.text.clone()}</div> })
                        }}
                        {(!reactions.is_empty()).then(|| view! { <div class="chat-reactions">{reactions}</div> })}
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}
