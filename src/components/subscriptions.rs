//! Subscriptions panel: add a filter with QoS, see its state and count, unsubscribe.

use leptos::prelude::*;

use crate::bridge::Command;
use crate::components::fields::{check_field, text_field, InputAttrs};
use crate::components::{shown_when, QosSelect};
use crate::mqtt::{topic, QoS, RetainHandling, SubscribeOptions};
use crate::state::subscriptions::SubscriptionState;
use crate::state::{Changes, StateStoreFields};
use crate::store::{use_commands, use_store};

#[component]
pub fn SubscriptionsPanel() -> impl IntoView {
    let store = use_store();
    let commands = use_commands();
    let filter = RwSignal::new(String::new());
    let qos = RwSignal::new(QoS::AtMostOnce);
    let error = RwSignal::new(String::new());
    let v5 = crate::components::use_v5();
    let no_local = RwSignal::new(false);
    let retain_as_published = RwSignal::new(false);
    let retain_handling = RwSignal::new(RetainHandling::SendAlways);
    let subscription_id = RwSignal::new(String::new());

    let subscribe = move || {
        let wanted = filter.get_untracked().trim().to_string();
        // Checked here so the message stands next to the field and nothing is listed.
        if let Err(why) = topic::validate_filter(&wanted) {
            error.set(format!("invalid topic filter: {why}"));
            return;
        }
        let qos = qos.get_untracked();
        let id_text = subscription_id.get_untracked().trim().to_owned();
        let subscription_id = if id_text.is_empty() {
            None
        } else {
            match id_text.parse::<u32>() {
                Ok(id) if (1..=268_435_455).contains(&id) => Some(id),
                _ => {
                    error.set(
                        "a subscription identifier is a whole number, 1 to 268,435,455".into(),
                    );
                    return;
                }
            }
        };
        error.set(String::new());
        filter.set(String::new());
        store.update(|s| {
            s.subscriptions.want(&wanted, qos);
            Changes {
                subscriptions: true,
                ..Changes::default()
            }
        });
        if v5() {
            let options = SubscribeOptions {
                qos,
                no_local: no_local.get_untracked(),
                retain_as_published: retain_as_published.get_untracked(),
                retain_handling: retain_handling.get_untracked(),
                subscription_id,
            };
            commands.send(Command::SubscribeWith {
                filter: wanted,
                options,
            });
        } else {
            commands.send(Command::Subscribe {
                filter: wanted,
                qos,
            });
        }
    };

    let subscriptions = store.state().subscriptions();
    let filters = move || {
        subscriptions.with(|subs| {
            subs.iter()
                .map(|sub| sub.filter.clone())
                .collect::<Vec<_>>()
        })
    };

    view! {
        <form class="inline-form" on:submit=move |ev| { ev.prevent_default(); subscribe(); }>
            {text_field("field grow", "Topic filter", "subscribe-topic", filter, InputAttrs {
                invalid: Some(Signal::derive(move || !error.get().is_empty())),
                ..InputAttrs::CODE.placeholder("sensors/+/temperature or #")
            })}
            <label class="field narrow">
                <span>"QoS"</span>
                <QosSelect testid="subscribe-qos" value=qos />
            </label>
            <button data-testid="subscribe-button" type="submit" class="primary">"Subscribe"</button>
        </form>
        {shown_when(v5, move || view! {
            <div class="inline-form v5-options">
                {check_field("check", "No local", "subscribe-no-local", no_local)}
                {check_field("check", "Retain as published", "subscribe-retain-as-published",
                    retain_as_published)}
                <label class="field narrow">
                    <span>"Retained"</span>
                    <select data-testid="subscribe-retain-handling"
                        on:change=move |ev| {
                            let v = event_target_value(&ev).parse().ok().and_then(RetainHandling::from_u8);
                            retain_handling.set(v.unwrap_or_default());
                        }>
                        <option value="0">"0 — always send"</option>
                        <option value="1">"1 — if new"</option>
                        <option value="2">"2 — never"</option>
                    </select>
                </label>
                {text_field("field narrow", "Subscription id", "subscribe-identifier", subscription_id,
                    InputAttrs::NUMBER.range(1, None))}
            </div>
        })}
        <p class="field-error" role="alert">{move || error.get()}</p>
        <ul class="subscriptions" aria-label="Subscriptions">
            <For each=filters key=|f| f.clone() let:filter_name>
                <SubscriptionRow filter=filter_name />
            </For>
        </ul>
        {shown_when(move || filters().is_empty(), move || view! {
            <p class="hint">"No subscriptions yet: try " <code>"#"</code> " to see everything."</p>
        })}
    }
}

#[component]
fn SubscriptionRow(filter: String) -> impl IntoView {
    let store = use_store();
    let commands = use_commands();
    let name = filter.clone();
    let subscriptions = store.state().subscriptions();
    let sub = Memo::new(move |_| subscriptions.with(|subs| subs.get(&name).cloned()));
    let sub = move || sub.get();
    let state = move || sub().map(|s| s.state.as_str()).unwrap_or("pending");
    let count = move || sub().map(|s| s.count).unwrap_or(0);
    let qos = move || sub().map(|s| s.qos.as_u8()).unwrap_or(0);
    let color = move || sub().map(|s| s.color).unwrap_or(0);
    let reason = move || match sub().map(|s| s.state) {
        Some(SubscriptionState::Failed(why)) => why,
        _ => String::new(),
    };
    let unsubscribe_filter = filter.clone();
    let unsubscribe = move |_| {
        let failed = matches!(sub().map(|s| s.state), Some(SubscriptionState::Failed(_)));
        let filter = unsubscribe_filter.clone();
        if failed {
            // A refused filter is not held by the session: just drop it from the list.
            store.update(move |s| Changes {
                subscriptions: s.subscriptions.remove(&filter),
                ..Changes::default()
            });
        } else {
            // The row goes when the session reports `Unsubscribed`.
            commands.send(Command::Unsubscribe { filter });
        }
    };
    view! {
        <li data-testid="subscription" class="subscription" data-filter=filter.clone()
            data-state=state data-count=move || count().to_string()>
            <span class=move || format!("swatch c{}", color()) aria-hidden="true"></span>
            <span class="sub-filter" title=filter.clone()>{filter.clone()}</span>
            <span class="sub-meta">"QoS " {qos}</span>
            <span class=move || format!("badge {}", state())>{state}</span>
            <span class="sub-count" title="messages received">{count}</span>
            <button data-testid="unsubscribe-button" type="button" class="small"
                aria-label=format!("Unsubscribe {filter}") on:click=unsubscribe>"✕"</button>
            <span data-testid="subscription-reason" class="sub-reason">{reason}</span>
        </li>
    }
}
