//! MQTT 5 request/response from the publish form, and the form's text fields for
//! properties. Plain data: the view sends the request and feeds every message here.

use crate::mqtt::{Message, UserProperties};

/// Requests kept (the oldest goes first).
pub const MAX_REQUESTS: usize = 20;
/// Responses kept per request.
pub const MAX_RESPONSES: usize = 20;
/// The subscription identifier a request's response topic is subscribed with, where the
/// broker has them: the largest MQTT allows, out of the way of the small ones people pick.
/// When another subscription of ours (`#`) matches the response topic too, the broker sends
/// a copy for each; only the copy for this subscription carries it, so a response counts
/// once.
pub const RESPONSE_SUBSCRIPTION_ID: u32 = 268_435_455;

/// `name=value` lines (blank lines skipped; the value may hold `=`). A line without `=`
/// is refused with its number.
pub fn parse_user_properties(text: &str) -> Result<UserProperties, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!(
                "user property on line {} needs name=value (got {line:?})",
                n + 1
            ));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("user property on line {} has no name", n + 1));
        }
        out.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(out)
}

/// An optional whole number of seconds (empty: not set).
pub fn parse_seconds(text: &str, what: &str) -> Result<Option<u32>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| format!("{what} must be a whole number, 0–4294967295"))
}

/// The response topic of a request: under the broker's response information if it gave
/// one, else under our own client id, then a per-request token.
pub fn response_topic(response_information: Option<&str>, client_id: &str, token: &str) -> String {
    match response_information
        .map(|p| p.trim_end_matches('/'))
        .filter(|p| !p.is_empty())
    {
        Some(prefix) => format!("{prefix}/{token}"),
        None => format!("mqtt-web/{client_id}/responses/{token}"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub topic: String,
    pub response_topic: String,
    pub correlation: Vec<u8>,
    /// The subscription identifier its responses come with ([`RESPONSE_SUBSCRIPTION_ID`]);
    /// `None` where the broker has none (then every copy counts).
    pub subscription_id: Option<u32>,
    /// Payloads of the matching responses, as text.
    pub responses: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requests {
    pub list: Vec<Request>,
}

impl Requests {
    pub fn sent(
        &mut self,
        topic: String,
        response_topic: String,
        correlation: Vec<u8>,
        subscription_id: Option<u32>,
    ) {
        if self.list.len() >= MAX_REQUESTS {
            self.list.remove(0);
        }
        self.list.push(Request {
            topic,
            response_topic,
            correlation,
            subscription_id,
            responses: Vec::new(),
        });
    }

    /// A message on a request's response topic with its correlation data (and, where it
    /// was subscribed with one, its subscription identifier) is a response; `true` if it
    /// matched one.
    pub fn observe(&mut self, message: &Message) -> bool {
        let properties = message.properties.as_deref();
        let correlation = properties.and_then(|p| p.correlation_data.as_deref());
        let subscription_ids = properties.map_or(&[][..], |p| &p.subscription_ids[..]);
        let Some(request) = self.list.iter_mut().find(|r| {
            r.response_topic == message.topic
                && Some(&r.correlation[..]) == correlation
                && r.subscription_id
                    .is_none_or(|id| subscription_ids.contains(&id))
        }) else {
            return false;
        };
        if request.responses.len() < MAX_RESPONSES {
            request
                .responses
                .push(String::from_utf8_lossy(&message.payload).into_owned());
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::{PublishProperties, QoS};

    fn message(topic: &str, correlation: Option<&[u8]>, payload: &str) -> Message {
        Message {
            topic: topic.into(),
            payload: payload.into(),
            qos: QoS::AtMostOnce,
            retain: false,
            dup: false,
            properties: correlation.map(|c| {
                Box::new(PublishProperties {
                    correlation_data: Some(c.to_vec()),
                    ..PublishProperties::default()
                })
            }),
        }
    }

    #[test]
    fn user_property_lines_parse_or_say_which_line_is_wrong() {
        assert_eq!(
            parse_user_properties("k=v\n\n second = 2 \nurl=a=b").unwrap(),
            vec![
                ("k".into(), "v".into()),
                ("second".into(), "2".into()),
                ("url".into(), "a=b".into())
            ]
        );
        assert_eq!(
            parse_user_properties("ok=1\nnope").unwrap_err(),
            "user property on line 2 needs name=value (got \"nope\")"
        );
        assert!(parse_user_properties("=x").is_err());
        assert_eq!(parse_seconds(" ", "expiry"), Ok(None));
        assert_eq!(parse_seconds("30", "expiry"), Ok(Some(30)));
        assert!(parse_seconds("-1", "expiry").is_err());
    }

    #[test]
    fn responses_match_by_topic_and_correlation_only() {
        let topic = response_topic(None, "web-1", "a1b2");
        assert_eq!(topic, "mqtt-web/web-1/responses/a1b2");
        assert_eq!(response_topic(Some("resp/"), "web-1", "a1"), "resp/a1");
        let mut r = Requests::default();
        r.sent("svc/echo".into(), topic.clone(), b"c-1".to_vec(), None);
        assert!(!r.observe(&message(&topic, Some(b"c-2"), "other request")));
        assert!(!r.observe(&message(&topic, None, "no correlation")));
        assert!(!r.observe(&message("elsewhere", Some(b"c-1"), "wrong topic")));
        assert!(r.observe(&message(&topic, Some(b"c-1"), "pong")));
        assert_eq!(r.list[0].responses, ["pong"]);
        for i in 0..MAX_REQUESTS {
            r.sent(format!("t/{i}"), format!("r/{i}"), vec![i as u8], None);
        }
        assert_eq!(r.list.len(), MAX_REQUESTS);
        assert_eq!(r.list[0].topic, "t/0", "the oldest went first");
    }

    #[test]
    fn with_a_subscription_identifier_only_the_copy_for_the_response_subscription_counts() {
        let topic = response_topic(None, "web-1", "a1");
        let copy = |ids: &[u32], payload: &str| {
            let mut m = message(&topic, Some(b"c-1"), payload);
            m.properties.as_mut().unwrap().subscription_ids = ids.to_vec();
            m
        };
        let mut r = Requests::default();
        r.sent(
            "svc".into(),
            topic.clone(),
            b"c-1".to_vec(),
            Some(RESPONSE_SUBSCRIPTION_ID),
        );
        // The broker's copy for our '#' (no identifier, or the user's own) is not it...
        assert!(!r.observe(&copy(&[], "pong")));
        assert!(!r.observe(&copy(&[7], "pong")));
        // ...the one for the response subscription is, and so is one copy for both.
        assert!(r.observe(&copy(&[RESPONSE_SUBSCRIPTION_ID], "pong")));
        assert!(r.observe(&copy(&[7, RESPONSE_SUBSCRIPTION_ID], "again")));
        assert_eq!(r.list[0].responses, ["pong", "again"]);
        // Without identifiers (a broker that has none) every copy counts.
        let mut r = Requests::default();
        r.sent("svc".into(), topic.clone(), b"c-1".to_vec(), None);
        assert!(r.observe(&copy(&[], "pong")));
    }
}
