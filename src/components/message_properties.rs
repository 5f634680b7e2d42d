//! The MQTT 5 message properties a user can set, in one set of inputs shared by the publish
//! form and the last will (both carry the same properties on the wire).

use leptos::prelude::*;

use crate::components::fields::{check_field, text_area, text_field, InputAttrs};
use crate::mqtt::{topic, PublishProperties, WillProperties};
use crate::state::profile::SavedWillProperties;
use crate::state::requests::{parse_seconds, parse_user_properties};

/// The fields' text, as typed.
#[derive(Clone, Copy)]
pub struct MessagePropertyFields {
    pub content_type: RwSignal<String>,
    pub expiry: RwSignal<String>,
    pub response_topic: RwSignal<String>,
    pub correlation: RwSignal<String>,
    pub user_properties: RwSignal<String>,
    pub payload_utf8: RwSignal<bool>,
}

impl Default for MessagePropertyFields {
    fn default() -> Self {
        Self {
            content_type: RwSignal::new(String::new()),
            expiry: RwSignal::new(String::new()),
            response_topic: RwSignal::new(String::new()),
            correlation: RwSignal::new(String::new()),
            user_properties: RwSignal::new(String::new()),
            payload_utf8: RwSignal::new(false),
        }
    }
}

impl MessagePropertyFields {
    /// The properties as typed, or what is wrong with them.
    pub fn read(&self) -> Result<PublishProperties, String> {
        let non_empty = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let p = PublishProperties {
            payload_is_utf8: self.payload_utf8.get_untracked().then_some(true),
            message_expiry_secs: parse_seconds(&self.expiry.get_untracked(), "message expiry")?,
            content_type: non_empty(self.content_type.get_untracked()),
            response_topic: non_empty(self.response_topic.get_untracked()),
            correlation_data: non_empty(self.correlation.get_untracked()).map(String::into_bytes),
            user_properties: parse_user_properties(&self.user_properties.get_untracked())?,
            subscription_ids: Vec::new(),
        };
        if let Some(t) = &p.response_topic {
            topic::validate_topic(t).map_err(|why| format!("invalid response topic: {why}"))?;
        }
        Ok(p)
    }

    /// The fields as the profile keeps them for the last will (with its delay).
    pub fn saved_will(&self, delay: String) -> SavedWillProperties {
        SavedWillProperties {
            delay,
            content_type: self.content_type.get_untracked(),
            expiry: self.expiry.get_untracked(),
            response_topic: self.response_topic.get_untracked(),
            correlation: self.correlation.get_untracked(),
            user_properties: self.user_properties.get_untracked(),
            payload_utf8: self.payload_utf8.get_untracked(),
        }
    }

    /// Fills the fields from a saved last will (its delay is the caller's field).
    pub fn fill(&self, saved: &SavedWillProperties) {
        self.content_type.set(saved.content_type.clone());
        self.expiry.set(saved.expiry.clone());
        self.response_topic.set(saved.response_topic.clone());
        self.correlation.set(saved.correlation.clone());
        self.user_properties.set(saved.user_properties.clone());
        self.payload_utf8.set(saved.payload_utf8);
    }

    /// The same fields as will properties, with the will's delay.
    pub fn read_will(&self, delay: &str) -> Result<WillProperties, String> {
        let p = self.read()?;
        Ok(WillProperties {
            delay_interval_secs: parse_seconds(delay, "will delay")?,
            payload_is_utf8: p.payload_is_utf8 == Some(true),
            message_expiry_secs: p.message_expiry_secs,
            content_type: p.content_type,
            response_topic: p.response_topic,
            correlation_data: p.correlation_data,
            user_properties: p.user_properties,
        })
    }
}

/// The inputs, with test ids `<prefix>-content-type`, `-expiry`, `-response-topic`,
/// `-correlation-data`, `-user-properties` and `-payload-format`.
#[component]
pub fn MessagePropertyInputs(fields: MessagePropertyFields, prefix: &'static str) -> impl IntoView {
    let id = move |name: &str| format!("{prefix}-{name}");
    let MessagePropertyFields {
        content_type,
        expiry,
        response_topic,
        correlation,
        user_properties,
        payload_utf8,
    } = fields;
    view! {
        {text_field("field", "Content type", &id("content-type"), content_type,
            InputAttrs::CODE.placeholder("application/json"))}
        {text_field("field", "Message expiry (s)", &id("expiry"), expiry, InputAttrs::NUMBER.range(0, None))}
        {text_field("field", "Response topic", &id("response-topic"), response_topic, InputAttrs::CODE)}
        {text_field("field", "Correlation data", &id("correlation-data"), correlation, InputAttrs::CODE)}
        {text_area("field wide", "User properties (name=value per line)", &id("user-properties"),
            user_properties, 2, None)}
        {check_field("check", "Payload is UTF-8 text", &id("payload-format"), payload_utf8)}
    }
}
