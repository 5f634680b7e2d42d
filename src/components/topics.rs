//! Topic tree: every topic seen with count, rate, last seen and last payload size.

use leptos::prelude::*;

use crate::components::use_now;
use crate::state::display::format_relative;
use crate::state::payload::format_size;
use crate::state::StateStoreFields;
use crate::store::use_store;

#[component]
pub fn TopicsPanel(
    /// Whether the panel is shown: a hidden tree is not rebuilt on every message.
    visible: Signal<bool>,
) -> impl IntoView {
    let store = use_store();
    let now = use_now();
    let topics = store.state().topics();
    let rows = move || {
        if !visible.get() {
            return Vec::new();
        }
        let now = now.get();
        topics.with(|t| {
            t.rows()
                .into_iter()
                .map(|row| {
                    let stat = row.stat.map(|st| {
                        (
                            st.count,
                            st.rate(now),
                            format_relative(now.saturating_sub(st.last_seen_ms)),
                            st.last_size,
                        )
                    });
                    (row.depth, row.label, row.topic.map(str::to_string), stat)
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <table class="topics">
            <thead><tr><th>"Topic"</th><th>"Msgs"</th><th>"Rate"</th><th>"Last seen"</th><th>"Size"</th></tr></thead>
            <tbody>
                {move || rows().into_iter().map(|(depth, label, topic, stat)| {
                    let indent = format!("padding-left: {}px", 6 + depth * 14);
                    match stat {
                        Some((count, rate, seen, size)) => view! {
                            <tr data-topic=topic.unwrap_or_default()>
                                <td style=indent class="topic-leaf">{label}</td>
                                <td>{count}</td>
                                <td>{format!("{rate:.1}/s")}</td>
                                <td>{seen}</td>
                                <td>{format_size(size)}</td>
                            </tr>
                        }.into_any(),
                        None => view! {
                            <tr class="topic-branch"><td style=indent colspan="5">{label} "/"</td></tr>
                        }.into_any(),
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
