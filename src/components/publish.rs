//! Publish form: topic, payload, QoS, retain, and with MQTT 5 the publish properties and
//! "send as request"; validated before anything is sent.

use leptos::prelude::*;

use crate::bridge::Command;
use crate::components::fields::{check_field, text_area, text_field, InputAttrs};
use crate::components::message_properties::{MessagePropertyFields, MessagePropertyInputs};
use crate::components::{
    publish_from_form, shown_when, use_session_form, use_v5, OutcomeLine, QosSelect,
};
use crate::mqtt::{topic, PublishProperties, QoS, SubscribeOptions};
use crate::state::requests::{response_topic, RESPONSE_SUBSCRIPTION_ID};
use crate::state::{Changes, StateStoreFields};
use crate::store::{use_commands, use_store};

/// A request's response topic and correlation data.
type Reply = (String, Vec<u8>);

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", (js_sys::Math::random() * 256.0) as u8))
        .collect()
}

#[component]
pub fn PublishPanel() -> impl IntoView {
    let store = use_store();
    let commands = use_commands();
    let topic_name = RwSignal::new(String::new());
    let payload = RwSignal::new(String::new());
    let qos = RwSignal::new(QoS::AtMostOnce);
    let retain = RwSignal::new(false);
    let error = RwSignal::new(String::new());
    let v5 = use_v5();
    let session_form = use_session_form();
    let fields = MessagePropertyFields::default();
    let as_request = RwSignal::new(false);
    let requests = store.state().requests();

    // The MQTT 5 properties from the form, and whether it is a request (its response topic
    // and correlation data, to watch for).
    let properties = move || -> Result<(PublishProperties, Option<Reply>), String> {
        let mut p = fields.read()?;
        let mut request = None;
        if as_request.get_untracked() {
            let info = store.peek(|s| {
                s.connection
                    .capabilities
                    .as_ref()
                    .and_then(|c| c.response_information.clone())
            });
            let reply_to = p.response_topic.clone().unwrap_or_else(|| {
                response_topic(
                    info.as_deref(),
                    &session_form.client_id.get_untracked(),
                    &random_hex(4),
                )
            });
            topic::validate_topic(&reply_to)
                .map_err(|why| format!("invalid response topic: {why}"))?;
            let data = p
                .correlation_data
                .clone()
                .unwrap_or_else(|| random_hex(8).into_bytes());
            p.response_topic = Some(reply_to.clone());
            p.correlation_data = Some(data.clone());
            request = Some((reply_to, data));
        }
        Ok((p, request))
    };

    let publish = move |topic_value: String, body: Vec<u8>, retain_flag: bool| {
        let mut request = match topic::validate_topic(&topic_value) {
            Ok(()) => Ok((topic_value, body)),
            Err(why) => Err(format!("invalid topic: {why}")),
        };
        let mut props = None;
        if v5() {
            match properties() {
                Ok((p, reply)) => {
                    if let (Some((reply_to, data)), Ok((topic, _))) = (reply, &request) {
                        // Subscribed first: the SUBSCRIBE goes out before the request.
                        let filter = reply_to.clone();
                        let topic = topic.clone();
                        let subscription_id = store
                            .peek(|s| {
                                s.connection
                                    .capabilities
                                    .as_ref()
                                    .is_some_and(|c| c.subscription_identifiers)
                            })
                            .then_some(RESPONSE_SUBSCRIPTION_ID);
                        store.update(|s| {
                            s.subscriptions.want(&filter, QoS::AtLeastOnce);
                            s.requests.sent(topic, reply_to, data, subscription_id);
                            Changes {
                                subscriptions: true,
                                publish: true,
                                ..Changes::default()
                            }
                        });
                        commands.send(Command::SubscribeWith {
                            filter,
                            options: SubscribeOptions {
                                subscription_id,
                                ..SubscribeOptions::qos(QoS::AtLeastOnce)
                            },
                        });
                    }
                    props = Some(p);
                }
                Err(why) => request = Err(why),
            }
        }
        error.set(request.as_ref().err().cloned().unwrap_or_default());
        publish_from_form(
            store,
            commands,
            OutcomeLine::Publish,
            request,
            qos.get_untracked(),
            retain_flag,
            props,
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
            {text_field("field wide", "Topic", "publish-topic", topic_name, InputAttrs {
                invalid: Some(Signal::derive(move || !error.get().is_empty())),
                ..InputAttrs::CODE.placeholder("devices/pump-1/commands")
            })}
            {text_area("field wide", "Payload", "publish-payload", payload, 3, None)}
            <label class="field">
                <span>"QoS"</span>
                <QosSelect testid="publish-qos" value=qos />
            </label>
            {check_field("check", "Retain", "publish-retain", retain)}
            {shown_when(v5, move || view! {
                <details class="v5 wide" open=true>
                    <summary>"MQTT 5 properties"</summary>
                    <div class="form">
                        <MessagePropertyInputs fields=fields prefix="publish" />
                        {check_field("check", "Send as request (own response topic, subscribed)",
                            "publish-as-request", as_request)}
                    </div>
                </details>
            })}
            <div class="actions wide">
                <button data-testid="publish-button" type="submit" class="primary">"Publish"</button>
                <button type="button" title="Publish an empty retained message to remove the broker's retained message"
                    on:click=move |_| publish(topic_name.get_untracked().trim().to_string(), Vec::new(), true)>
                    "Clear retained"
                </button>
                <span class="result" aria-live="polite">"Result: " <output data-testid="publish-result">{result}</output></span>
            </div>
            <p class="field-error wide" role="alert">{move || error.get()}</p>
            <ul class="requests wide" aria-label="Requests and their responses">
                {move || requests.with(|r| r.list.iter().rev().map(|req| view! {
                    <li data-testid="request" data-topic=req.topic.clone() data-response-topic=req.response_topic.clone()>
                        <span class="req-head">"request to " <code>{req.topic.clone()}</code> " · reply to " <code>{req.response_topic.clone()}</code></span>
                        {if req.responses.is_empty() {
                            leptos::either::Either::Left(view! { <span class="hint">" — waiting for a response"</span> })
                        } else {
                            leptos::either::Either::Right(view! { <ol>{req.responses.iter().map(|body| view! {
                                <li data-testid="response"><pre>{body.clone()}</pre></li>
                            }).collect_view()}</ol> })
                        }}
                    </li>
                }).collect_view())}
            </ul>
            <ul class="dropped wide">
                {move || dropped().into_iter().map(|d| view! { <li>{d}</li> }).collect_view()}
            </ul>
        </form>
    }
}
