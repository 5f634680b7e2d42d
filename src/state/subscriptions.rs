//! The subscriptions slice: each filter with its state, colour and message count.

use crate::mqtt::{topic, Event, QoS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionState {
    Pending,
    Active,
    Failed(String),
}

impl SubscriptionState {
    /// The `data-state` value.
    pub fn as_str(&self) -> &'static str {
        match self {
            SubscriptionState::Pending => "pending",
            SubscriptionState::Active => "active",
            SubscriptionState::Failed(_) => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub filter: String,
    pub qos: QoS,
    pub state: SubscriptionState,
    /// Messages received on it since it was added.
    pub count: u64,
    /// Index into the palette; stable for the subscription's life.
    pub color: usize,
}

/// Number of distinct subscription colours in the stylesheet.
pub const PALETTE_SIZE: usize = 8;

#[derive(Debug, Default, Clone)]
pub struct Subscriptions {
    list: Vec<Subscription>,
    next_color: usize,
}

impl Subscriptions {
    pub fn iter(&self) -> impl Iterator<Item = &Subscription> {
        self.list.iter()
    }
    pub fn len(&self) -> usize {
        self.list.len()
    }
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    pub fn get(&self, filter: &str) -> Option<&Subscription> {
        self.list.iter().find(|s| s.filter == filter)
    }

    /// The user asked for a filter (shown as pending until the SUBACK).
    pub fn want(&mut self, filter: &str, qos: QoS) {
        if let Some(existing) = self.list.iter_mut().find(|s| s.filter == filter) {
            existing.qos = qos;
            existing.state = SubscriptionState::Pending;
            return;
        }
        let color = self.next_color % PALETTE_SIZE;
        self.next_color += 1;
        self.list.push(Subscription {
            filter: filter.to_string(),
            qos,
            state: SubscriptionState::Pending,
            count: 0,
            color,
        });
    }

    /// The user removed a filter (or a failed one is dismissed).
    pub fn remove(&mut self, filter: &str) -> bool {
        let before = self.list.len();
        self.list.retain(|s| s.filter != filter);
        before != self.list.len()
    }

    /// Counts a message on every subscription whose filter matches; the colour of the first.
    pub fn count_message(&mut self, topic_name: &str) -> bool {
        let mut any = false;
        for sub in &mut self.list {
            if topic::matches(topic_name, &sub.filter) {
                sub.count += 1;
                any = true;
            }
        }
        any
    }

    /// The colour of the first subscription that matches a topic.
    pub fn color_for(&self, topic_name: &str) -> Option<usize> {
        self.list
            .iter()
            .find(|s| topic::matches(topic_name, &s.filter))
            .map(|s| s.color)
    }

    pub fn apply(&mut self, event: &Event) -> bool {
        match event {
            Event::SubscribeRequested { filter, qos } => {
                match self.list.iter_mut().find(|s| &s.filter == filter) {
                    Some(sub) => {
                        sub.qos = *qos;
                        sub.state = SubscriptionState::Pending;
                    }
                    None => self.want(filter, *qos),
                }
                true
            }
            Event::Subscribed { filter, qos } => self.set(filter, |s| {
                s.qos = *qos;
                s.state = SubscriptionState::Active;
            }),
            Event::SubscribeFailed { filter, reason } => self.fail(filter, reason.to_string()),
            Event::Unsubscribed { filter } => self.remove(filter),
            Event::UnsubscribeFailed { filter, reason } => self.fail(filter, reason.to_string()),
            _ => false,
        }
    }

    /// The filter was refused (by the broker, or by the session before anything was sent).
    pub fn fail(&mut self, filter: &str, reason: String) -> bool {
        self.set(filter, |s| s.state = SubscriptionState::Failed(reason))
    }

    fn set(&mut self, filter: &str, change: impl FnOnce(&mut Subscription)) -> bool {
        match self.list.iter_mut().find(|s| s.filter == filter) {
            Some(sub) => {
                change(sub);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_goes_pending_then_active_and_counts_matching_messages() {
        let mut subs = Subscriptions::default();
        subs.want("sensors/+/temp", QoS::AtLeastOnce);
        assert_eq!(
            subs.get("sensors/+/temp").unwrap().state.as_str(),
            "pending"
        );
        subs.apply(&Event::Subscribed {
            filter: "sensors/+/temp".into(),
            qos: QoS::AtLeastOnce,
        });
        assert_eq!(subs.get("sensors/+/temp").unwrap().state.as_str(), "active");
        assert!(subs.count_message("sensors/a/temp"));
        assert!(!subs.count_message("sensors/a/humidity"));
        assert_eq!(subs.get("sensors/+/temp").unwrap().count, 1);
    }

    #[test]
    fn a_refused_filter_stays_listed_as_failed_with_its_reason() {
        let mut subs = Subscriptions::default();
        subs.want("$SYS/#", QoS::AtMostOnce);
        subs.apply(&Event::SubscribeFailed {
            filter: "$SYS/#".into(),
            reason: "not authorized".into(),
        });
        let sub = subs.get("$SYS/#").unwrap();
        assert_eq!(
            sub.state,
            SubscriptionState::Failed("not authorized".into())
        );
        assert_eq!(sub.state.as_str(), "failed");
    }

    #[test]
    fn resubscribing_keeps_the_colour_and_count_and_unsubscribe_removes() {
        let mut subs = Subscriptions::default();
        subs.want("a/#", QoS::AtMostOnce);
        subs.want("b/#", QoS::AtMostOnce);
        subs.count_message("a/1");
        subs.apply(&Event::SubscribeRequested {
            filter: "a/#".into(),
            qos: QoS::ExactlyOnce,
        });
        let a = subs.get("a/#").unwrap();
        assert_eq!((a.count, a.color, a.qos), (1, 0, QoS::ExactlyOnce));
        assert_eq!(subs.get("b/#").unwrap().color, 1);
        assert_eq!(subs.len(), 2);
        subs.apply(&Event::Unsubscribed {
            filter: "a/#".into(),
        });
        assert!(subs.get("a/#").is_none());
        assert_eq!(subs.color_for("b/x"), Some(1));
    }
}
