//! Live messages: newest first, filter by topic, pause/resume, clear, export, formats.

use leptos::prelude::*;

use crate::bridge::Command;
use crate::components::fields::{text_field, InputAttrs};
use crate::components::{download_text, format_clock, use_now, ScrollBox};
use crate::state::payload::{self, PayloadFormat};
use crate::state::Changes;
use crate::state::StateStoreFields;
use crate::store::{use_commands, use_store};

/// Pitch of a message row when the list is windowed (over 100 rows): its fixed height plus
/// the gap, as in style/ (`.messages.windowed > li.message`).
const ROW_PX: f64 = 96.0;
/// During a flood (more than FLOOD_RATE messages in the last second) the live list shows only
/// the newest FLOOD_ROWS (about a screenful), rebuilt once a second (see the store): building
/// rows is what would stall the page, and nobody reads them. Pause shows the full list again.
const FLOOD_ROWS: usize = 10;
const FLOOD_RATE: usize = 500;
/// More new messages than this since the last render also counts as a flood.
const FLOOD_BURST: u64 = crate::state::messages::FLOOD_NEW_MESSAGES;
/// How long an export waits for the session's side to hand over held payloads.
const EXPORT_WAIT_MS: u64 = 10_000;
/// Characters of a payload shown before "show all".
const PREVIEW_CHARS: usize = 600;

#[component]
pub fn MessagesPanel() -> impl IntoView {
    let store = use_store();
    let commands = use_commands();
    // Shared with the topic tree, which shows a topic's messages here.
    let filter = expect_context::<crate::components::TrafficView>().message_filter;
    // While paused the view shows messages up to this seq; the log keeps receiving.
    let paused_at = RwSignal::new(None::<u64>);
    let capacity = RwSignal::new(store.peek(|s| s.messages.capacity()).to_string());
    let messages = store.state().messages();

    let now = use_now();
    // The newest seq the list has rendered, to see a burst coming before the rate shows it.
    let rendered_up_to = StoredValue::new(0u64);
    let flooding = Memo::new(move |_| {
        now.track();
        paused_at.get().is_none()
            && messages.with(|m| {
                m.last_seq().saturating_sub(rendered_up_to.get_value()) > FLOOD_BURST
                    || m.flooding(crate::transport::clock::wall_ms(), FLOOD_RATE)
            })
    });
    let scroll = ScrollBox::new(ROW_PX);
    // Every kept message can be scrolled to; beyond 100 only the rows in view (and a few
    // either side) are in the DOM, at a fixed height.
    let window = Memo::new(move |_| {
        let filter = filter.get();
        let until = paused_at.get().unwrap_or(u64::MAX);
        let flood = flooding.get();
        messages.with(|m| {
            rendered_up_to.set_value(m.last_seq());
            let mut window = None;
            let (matching, seqs) = m.newest_first_window(&filter, until, |total| {
                let total = if flood { total.min(FLOOD_ROWS) } else { total };
                let w = scroll.window(total);
                window = Some(w);
                w.start..w.end
            });
            (window.unwrap_or_else(|| scroll.window(0)), seqs, matching)
        })
    });
    // A long list's rows have a fixed height, and so do the newest rows a flood shows of it:
    // rows keep their shape when a flood starts or stops, and a flood's render lays out two
    // payload lines a row, not whole previews.
    // Memoised: every row reads it, and the window changes with each scroll step and each
    // new message while this flips only at 100 rows; a plain derived signal would re-run
    // every row's payload rendering on every change of the window.
    let windowed: Signal<bool> = Memo::new(move |_| {
        window.with(|(_, _, matching)| crate::state::display::RowWindow::is_long(*matching))
    })
    .into();
    let shown = move || window.with(|(_, seqs, _)| seqs.clone());
    let padding = move |after: bool| window.with(|(w, _, _)| w.padding_style(ROW_PX, after));
    // A message opened in full from a windowed list (its row there has a fixed height).
    let detail = RwSignal::new(None::<u64>);
    let counts = move || {
        messages.with(|m| {
            let mut text = format!("{} kept of {} received", m.len(), m.total());
            if m.evicted > 0 {
                text.push_str(&format!(
                    " ({} oldest dropped from the {}-message history)",
                    m.evicted,
                    m.capacity()
                ));
            }
            text
        })
    };
    let toggle_pause = move |_| {
        if paused_at.get_untracked().is_some() {
            paused_at.set(None);
        } else {
            paused_at.set(Some(store.peek(|s| s.messages.last_seq())));
        }
    };
    let clear = move |_| {
        commands.send(Command::ForgetPayloads);
        store.update(|s| {
            s.messages.clear();
            s.topics.clear();
            Changes {
                messages: true,
                ..Changes::default()
            }
        });
    };
    let download = move || {
        let json = store.peek(|s| s.messages.export_json());
        download_text("mqtt-messages.json", "application/json", &json);
    };
    // The payloads held on the session's side that an export waits for (their answer comes
    // in one update, ascending keys) and since when (wall-clock ms); `exporting` while it waits.
    let export_waits_for = StoredValue::new((Vec::<u64>::new(), 0u64));
    let exporting = RwSignal::new(false);
    let export = move |_| {
        let keys = store.peek(|s| s.messages.fetchable_keys());
        if keys.is_empty() {
            download();
        } else {
            commands.send(Command::FetchPayloads { keys: keys.clone() });
            export_waits_for.set_value((keys, crate::transport::clock::wall_ms()));
            exporting.set(true);
        }
    };
    Effect::new(move |_| {
        if !exporting.get() {
            return;
        }
        // A session that never answers (its worker died) does not hold the export back for
        // ever: after 10 s it goes with what the page has, marked.
        store.state().fetched().track();
        let done = export_waits_for.with_value(|(keys, since)| {
            now.get().saturating_sub(*since) >= EXPORT_WAIT_MS
                || !messages.with_untracked(|m| m.any_fetchable(keys))
        });
        if done {
            exporting.set(false);
            download();
        }
    });
    let apply_capacity = move |ev| {
        let value = event_target_value(&ev);
        capacity.set(value.clone());
        if let Ok(n) = value.trim().parse::<usize>() {
            let n = n.clamp(10, 100_000);
            commands.send(Command::KeepMessages { count: n as u64 });
            store.update(|s| {
                s.messages.set_capacity(n);
                Changes {
                    messages: true,
                    ..Changes::default()
                }
            });
        }
    };

    view! {
        <div class="toolbar">
            {text_field("field grow", "Filter (MQTT wildcards, text or =topic)", "message-filter", filter,
                InputAttrs::SEARCH.placeholder("e.g. sensors/+/temperature"))}
            <label class="field narrow">
                <span>"Keep"</span>
                <input type="number" min="10" max="100000" aria-label="Messages kept"
                    prop:value=move || capacity.get() on:change=apply_capacity />
            </label>
            <div class="actions">
                <button type="button" on:click=toggle_pause aria-pressed=move || paused_at.get().is_some().to_string()>
                    {move || if paused_at.get().is_some() { "Resume" } else { "Pause" }}
                </button>
                <button type="button" on:click=clear>"Clear"</button>
                <button type="button" on:click=export disabled=move || exporting.get()>
                    {move || if exporting.get() { "Exporting…" } else { "Export JSON" }}
                </button>
            </div>
        </div>
        <p class="hint">
            {move || (!filter.with(|f| f.trim().is_empty())).then(|| window.with(|(_, _, matching)| {
                format!("{matching} {} the filter · ", if *matching == 1 { "matches" } else { "match" })
            }))}
            {counts}
            {move || paused_at.get().map(|_| " — paused: new messages are kept, not shown").unwrap_or_default()}
            {move || flooding.get().then(|| format!(
                " — flood (over {FLOOD_RATE}/s): showing the newest {FLOOD_ROWS}; pause to browse them all"
            ))}
        </p>
        {move || detail.get().map(|seq| view! {
            <section class="message-detail" data-testid="message-detail" aria-label="Message in full">
                <button type="button" class="small close" on:click=move |_| detail.set(None)>"Close"</button>
                <ol class="messages">
                    <MessageRow seq=seq detail=detail windowed=Signal::stored(false) expanded=true />
                </ol>
            </section>
        })}
        <ol class=move || if windowed.get() { "messages windowed" } else { "messages" }
            aria-label="Messages, newest first" on:scroll=move |ev| scroll.on_scroll(ev)>
            <li class="pad" aria-hidden="true" style=move || padding(false)></li>
            <For each=shown key=|seq| *seq let:seq>
                <MessageRow seq=seq detail=detail windowed=windowed expanded=false />
            </For>
            <li class="pad" aria-hidden="true" style=move || padding(true)></li>
        </ol>
    }
}

/// One message. In a windowed list "show all" opens it in `detail` instead of growing the
/// row (rows there have a fixed height).
#[component]
fn MessageRow(
    seq: u64,
    detail: RwSignal<Option<u64>>,
    windowed: Signal<bool>,
    expanded: bool,
) -> impl IntoView {
    let store = use_store();
    let commands = use_commands();
    // A message never changes once logged but for a held payload's rest: read it once.
    let Some(mut message) = store.peek(|s| s.messages.get(seq).cloned()) else {
        return leptos::either::Either::Left(view! { <li class="message gone"></li> });
    };
    let color = store
        .peek(|s| s.subscriptions.color_for(&message.topic))
        .unwrap_or(0);
    // A held payload's preview is the start of a document: JSON is recognised and laid out
    // though it is cut.
    let auto = if message.held.is_some() {
        payload::auto_format_cut(&message.payload)
    } else {
        payload::auto_format(&message.payload)
    };
    let format = RwSignal::new(auto);
    let expanded = RwSignal::new(expanded);
    let size = message.size();
    let bytes = StoredValue::new(std::mem::take(&mut message.payload));
    // Some while `bytes` is a preview whose rest is held on the session's side. Both change
    // at most once, when the rest comes or is known lost: `changes` counts that.
    let rest = StoredValue::new(message.held);
    let changes = RwSignal::new(0u64);
    // Opened in full: take the rest from the log if it is there, else ask for it once and
    // look again when held payloads come.
    let asked = StoredValue::new(false);
    // (Only a held payload's row needs it: rows are built often during a flood.)
    let follow_rest = message.held.is_some_and(|h| !h.lost);
    follow_rest.then(|| {
        Effect::new(move |_| {
            if !expanded.get() || !rest.with_value(|r| r.is_some_and(|h| !h.lost)) {
                return;
            }
            // Looked at again when held payloads come, which a flood does not hold back.
            store.state().fetched().track();
            let now = store.state().messages().with_untracked(|m| {
                m.get(seq)
                    .map(|e| (e.held, e.held.is_none().then(|| e.payload.clone())))
            });
            match now {
                Some((None, Some(whole))) => {
                    // The format picked for the preview may not suit the whole (what began like
                    // JSON may not be): pick again unless the user chose one.
                    if format.get_untracked() == auto {
                        format.set(payload::auto_format(&whole));
                    }
                    bytes.set_value(whole);
                    rest.set_value(None);
                }
                Some((Some(held), _)) if held.lost => rest.set_value(Some(held)),
                Some((Some(held), _)) => {
                    if !asked.get_value() {
                        asked.set_value(true);
                        commands.send(Command::FetchPayloads {
                            keys: vec![held.key],
                        });
                    }
                    return;
                }
                // Gone from the log while it was asked for.
                _ => rest.update_value(|r| {
                    if let Some(h) = r {
                        h.lost = true;
                    }
                }),
            }
            changes.update(|n| *n += 1);
        })
    });
    // Rendered once per format or expansion change (the text and the "show all" button both
    // read it; a JSON payload is parsed and pretty-printed each time, except in a fixed row).
    let body = Memo::new(move |_| {
        changes.track();
        let fixed_row = windowed.get() && !expanded.get();
        let drawn = payload::drawn_format(format.get(), fixed_row);
        let held = rest.with_value(Option::is_some);
        let full = bytes.with_value(|b| {
            if held {
                payload::render_cut(b, drawn)
            } else {
                payload::render(b, drawn)
            }
        });
        if expanded.get() {
            return (full, None);
        }
        match payload::preview(&full, PREVIEW_CHARS) {
            Some(cut) => (cut, Some(size)),
            None if held => (full, Some(size)),
            None => (full, None),
        }
    });
    // What an opened message whose payload is held says under its preview.
    let rest_note = move || {
        changes.track();
        let held = rest.get_value().filter(|_| expanded.get())?;
        Some(if held.lost {
            format!(
                "Only the first {} of {} were kept: the rest left the history before it was asked for.",
                payload::format_size(bytes.with_value(Vec::len)),
                payload::format_size(held.size)
            )
        } else {
            format!("Loading the rest of {}…", payload::format_size(held.size))
        })
    };
    let text = move || body.with(|(text, _)| text.clone());
    let cut_size = move || body.with(|(_, cut)| *cut);
    // A windowed row shows two lines of payload (one under properties, as in style/): one
    // that may need more offers "show all" even when it is not cut.
    let row_lines = if message.properties.is_some() {
        payload::ROW_LINES - 1
    } else {
        payload::ROW_LINES
    };
    let beyond_row = Memo::new(move |_| body.with(|(text, _)| !payload::fits_row(text, row_lines)));
    leptos::either::Either::Right(view! {
        <li data-testid="message" class=format!("message c{color}") data-topic=message.topic.clone()
            data-qos=message.qos.as_u8().to_string() data-retain=message.retain.to_string()>
            <div class="msg-head">
                <span class="msg-topic">{message.topic.clone()}</span>
                <span class="msg-meta">
                    <time>{format_clock(message.received_ms)}</time>
                    " · QoS " {message.qos.as_u8()}
                    {message.retain.then_some(" · retained")}
                    " · " {payload::format_size(size)}
                </span>
                // A button, not a <select>: rows are built often during a flood.
                <button type="button" class="small msg-format" title="Payload format (click to change)"
                    aria-label=move || format!("Payload format: {}", format.get().label())
                    on:click=move |_| format.update(|f| *f = next_format(*f))>
                    {move || format.get().label()}
                </button>
            </div>
            {message.properties.as_deref().map(property_list)}
            <pre class="msg-payload">{text}</pre>
            {move || rest_note().map(|note| view! { <p class="hint" data-testid="payload-rest">{note}</p> })}
            {move || {
                let cut = cut_size();
                (cut.is_some() || (windowed.get() && beyond_row.get())).then(|| view! {
                    <button type="button" class="small show-all" on:click=move |_| {
                        if windowed.get_untracked() { detail.set(Some(seq)) } else { expanded.set(true) }
                    }>
                        {match cut {
                            Some(size) => format!("cut: {size} bytes, show all"),
                            None => "show all".to_owned(),
                        }}
                    </button>
                })
            }}
        </li>
    })
}

fn next_format(format: PayloadFormat) -> PayloadFormat {
    let all = PayloadFormat::ALL;
    let at = all.iter().position(|f| *f == format).unwrap_or(0);
    all[(at + 1) % all.len()]
}

/// A message's MQTT 5 properties: user properties by name, the others by kind. Text only.
fn property_list(p: &crate::mqtt::PublishProperties) -> impl IntoView {
    let mut attributes: Vec<(&'static str, String)> = Vec::new();
    if let Some(utf8) = p.payload_is_utf8 {
        attributes.push((
            "payload-format",
            if utf8 { "UTF-8" } else { "bytes" }.into(),
        ));
    }
    if let Some(t) = &p.content_type {
        attributes.push(("content-type", t.clone()));
    }
    if let Some(t) = &p.response_topic {
        attributes.push(("response-topic", t.clone()));
    }
    if let Some(d) = &p.correlation_data {
        attributes.push(("correlation-data", String::from_utf8_lossy(d).into_owned()));
    }
    if let Some(e) = p.message_expiry_secs {
        attributes.push(("message-expiry", format!("{e} s")));
    }
    for id in &p.subscription_ids {
        attributes.push(("subscription-id", id.to_string()));
    }
    let users = p.user_properties.clone();
    view! {
        <dl class="msg-props">
            {attributes.into_iter().map(|(name, value)| view! {
                <div class="prop"><dt>{name}</dt><dd data-testid="message-attribute" data-name=name>{value}</dd></div>
            }).collect_view()}
            {users.into_iter().map(|(name, value)| view! {
                <div class="prop user"><dt>{name.clone()}</dt><dd data-testid="message-property" data-name=name>{value}</dd></div>
            }).collect_view()}
        </dl>
    }
}
