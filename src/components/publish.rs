//! Publish form: topic, payload, QoS, retain; validated before anything is sent.

use leptos::prelude::*;

use crate::components::{publish_from_form, OutcomeLine, QosSelect};
use crate::mqtt::{topic, QoS};
use crate::state::StateStoreFields;
use crate::store::{use_commands, use_store};

#[component]
pub fn PublishPanel() -> impl IntoView {
    let store = use_store();
    let commands = use_commands();
    let topic_name = RwSignal::new(String::new());
    let payload = RwSignal::new(String::new());
    let qos = RwSignal::new(QoS::AtMostOnce);
    let retain = RwSignal::new(false);
    let error = RwSignal::new(String::new());

    let publish = move |topic_value: String, body: Vec<u8>, retain_flag: bool| {
        let request = match topic::validate_topic(&topic_value) {
            Ok(()) => Ok((topic_value, body)),
            Err(why) => Err(format!("invalid topic: {why}")),
        };
        error.set(request.as_ref().err().cloned().unwrap_or_default());
        publish_from_form(
            store,
            commands,
            OutcomeLine::Publish,
            request,
            qos.get_untracked(),
            retain_flag,
        );
    };
    let outcome = store.state().publish();
    let result = move || outcome.with(|p| p.result.clone());
    let dropped = move || outcome.with(|p| p.dropped.clone());

    view! {
        <form class="form" on:submit=move |ev| {
            ev.prevent_default();
            publish(topic_name.get_untracked().trim().to_string(), payload.get_untracked().into_bytes(), retain.get_untracked());
        }>
            <label class="field wide">
                <span>"Topic"</span>
                <input data-testid="publish-topic" type="text" spellcheck="false" placeholder="devices/pump-1/commands"
                    prop:value=move || topic_name.get() on:input=move |ev| topic_name.set(event_target_value(&ev))
                    aria-invalid=move || (!error.get().is_empty()).to_string() />
            </label>
            <label class="field wide">
                <span>"Payload"</span>
                <textarea data-testid="publish-payload" rows="3" spellcheck="false"
                    prop:value=move || payload.get() on:input=move |ev| payload.set(event_target_value(&ev))></textarea>
            </label>
            <label class="field">
                <span>"QoS"</span>
                <QosSelect testid="publish-qos" value=qos />
            </label>
            <label class="check">
                <input data-testid="publish-retain" type="checkbox" prop:checked=move || retain.get()
                    on:change=move |ev| retain.set(event_target_checked(&ev)) />
                <span>"Retain"</span>
            </label>
            <div class="actions wide">
                <button data-testid="publish-button" type="submit" class="primary">"Publish"</button>
                <button type="button" title="Publish an empty retained message to remove the broker's retained message"
                    on:click=move |_| publish(topic_name.get_untracked().trim().to_string(), Vec::new(), true)>
                    "Clear retained"
                </button>
                <span class="result" aria-live="polite">"Result: " <output data-testid="publish-result">{result}</output></span>
            </div>
            <p class="field-error wide" role="alert">{move || error.get()}</p>
            <ul class="dropped wide">
                {move || dropped().into_iter().map(|d| view! { <li>{d}</li> }).collect_view()}
            </ul>
        </form>
    }
}
