//! Topic tree: every topic seen with its last value, count, rate, last seen and last payload
//! size.

use std::collections::BTreeSet;

use leptos::prelude::*;

use crate::components::{use_now, ScrollBox};
use crate::state::display::{format_relative, RowWindow};
use crate::state::payload::format_size;
use crate::state::topics::RowKind;
use crate::state::StateStoreFields;
use crate::store::use_store;

/// Height of a row of the tree when windowed (as in style/: `.topics.windowed tr`).
const ROW_PX: f64 = 24.0;

/// A row in view, formatted.
#[derive(Clone, PartialEq)]
enum ShownRow {
    Topic {
        depth: usize,
        label: String,
        topic: String,
        value: String,
        count: u64,
        rate: String,
        seen: String,
        size: usize,
    },
    Branch {
        depth: usize,
        label: String,
        path: String,
        hidden: usize,
    },
}

#[component]
pub fn TopicsPanel(
    /// Whether the panel is shown: a hidden tree is not rebuilt on every message.
    visible: Signal<bool>,
) -> impl IntoView {
    let store = use_store();
    let now = use_now();
    let topics = store.state().topics();
    let scroll = ScrollBox::new(ROW_PX);
    // The branches the user closed, by path (`a/b`).
    let collapsed = RwSignal::new(BTreeSet::<String>::new());
    let traffic = expect_context::<crate::components::TrafficView>();
    let toggle = move |path: String| {
        collapsed.update(|c| {
            if !c.remove(&path) {
                c.insert(path);
            }
        })
    };
    // Only the rows in view are formatted and rendered: the tree holds up to 5,000 topics and
    // ticks once a second.
    let window = Memo::new(move |_| {
        if !visible.get() {
            return (RowWindow::of(0.0, 0.0, ROW_PX, 0), Vec::new());
        }
        let now = now.get();
        topics.with(|t| {
            let all = collapsed.with(|c| t.rows_with(c));
            let window = scroll.window(all.len());
            let rows = all[window.start..window.end]
                .iter()
                .map(|row| match row.kind {
                    RowKind::Topic { topic, stat } => ShownRow::Topic {
                        depth: row.depth,
                        label: row.label.to_string(),
                        topic: topic.to_string(),
                        value: stat.value_preview(),
                        count: stat.count,
                        rate: format!("{}/s", crate::decimal::fixed(stat.rate(now), 1)),
                        seen: format_relative(now.saturating_sub(stat.last_seen_ms)),
                        size: stat.last_size,
                    },
                    RowKind::Branch { path, hidden } => ShownRow::Branch {
                        depth: row.depth,
                        label: row.label.to_string(),
                        path: path.to_string(),
                        hidden,
                    },
                })
                .collect::<Vec<_>>();
            (window, rows)
        })
    });
    let padding = move |after: bool| window.with(|(w, _)| w.padding_style(ROW_PX, after));
    view! {
        <div class="topics-scroll" on:scroll=move |ev| scroll.on_scroll(ev)>
        <table class=move || if window.with(|(w, _)| w.is_windowed()) { "topics windowed" } else { "topics" }>
            <thead><tr><th>"Topic"</th><th>"Value"</th><th>"Msgs"</th><th>"Rate"</th><th>"Last seen"</th><th>"Size"</th></tr></thead>
            <tbody>
                <tr class="pad" aria-hidden="true" style=move || padding(false)></tr>
                {move || window.get().1.into_iter().map(|row| {
                    let indent = |depth: usize| format!("padding-left: {}px", 6 + depth * 14);
                    match row {
                        ShownRow::Topic { depth, label, topic, value, count, rate, seen, size } => {
                            let title = value.clone();
                            let pick = topic.clone();
                            leptos::either::Either::Left(view! {
                                <tr data-testid="topic-row" data-topic=topic>
                                    <td style=indent(depth) class="topic-leaf">
                                        <button type="button" class="twisty" title="Show this topic's messages"
                                            on:click=move |_| traffic.show_topic(&pick)>
                                            {label}
                                        </button>
                                    </td>
                                    <td class="topic-value" data-testid="topic-value" title=title>{value}</td>
                                    <td class="num">{count}</td>
                                    <td class="num">{rate}</td>
                                    <td class="num">{seen}</td>
                                    <td class="num">{format_size(size)}</td>
                                </tr>
                            })
                        }
                        ShownRow::Branch { depth, label, path, hidden } => {
                            let open = hidden == 0;
                            let click_path = path.clone();
                            leptos::either::Either::Right(view! {
                                <tr class="topic-branch" data-testid="topic-branch" data-path=path>
                                    <td style=indent(depth) colspan="6">
                                        <button type="button" class="twisty" aria-expanded=open.to_string()
                                            title=if open { "Close this branch" } else { "Open this branch" }
                                            on:click=move |_| toggle(click_path.clone())>
                                            {if open { "▾ " } else { "▸ " }} {label} "/"
                                        </button>
                                        {(!open).then(|| view! {
                                            <span class="branch-hidden">{format!(" {hidden} topic{}", if hidden == 1 { "" } else { "s" })}</span>
                                        })}
                                    </td>
                                </tr>
                            })
                        }
                    }
                }).collect_view()}
                <tr class="pad" aria-hidden="true" style=move || padding(true)></tr>
            </tbody>
        </table>
        </div>
    }
}
