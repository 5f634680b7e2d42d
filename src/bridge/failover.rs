//! Broker failover: an ordered list of broker URLs for one service. The session retries
//! the current broker with its backoff; after [`MOVE_AFTER_FAILURES`] failed attempts in a
//! row it moves to the next one (wrapping round, so a list returns to the first broker
//! when the others fail). Plain Rust, driven by the session's own events.

use serde::{Deserialize, Serialize};

use crate::mqtt::{DisconnectReason, Event, Session};

/// Failed attempts in a row on one broker before moving to the next (the first counts the
/// loss of an established link).
pub const MOVE_AFTER_FAILURES: u32 = 3;

/// Brokers a connection may use, at most (the form and imported profiles are capped too).
pub const MAX_BROKERS: usize = 8;

/// Which broker the session uses, and why it moved there (`None` for the user's choice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerInUse {
    pub url: String,
    /// 0 for the first (primary) broker.
    pub index: usize,
    pub of: usize,
    pub moved_because: Option<String>,
}

#[derive(Debug, Default)]
pub struct Brokers {
    urls: Vec<String>,
    current: usize,
    failures: u32,
}

impl Brokers {
    /// The URL the transport opens on the session's next `Transmit::Open` ("" before any).
    pub fn current(&self) -> &str {
        self.urls.get(self.current).map_or("", String::as_str)
    }

    /// A user connect: the list starts again at its first broker.
    pub fn set(&mut self, urls: Vec<String>) -> BrokerInUse {
        self.urls = urls;
        self.current = 0;
        self.failures = 0;
        self.in_use(None)
    }

    /// Watches one session event; on the failure that crosses the limit, moves to the next
    /// broker (telling the session) and says so.
    pub fn observe(&mut self, event: &Event, session: &mut Session) -> Option<BrokerInUse> {
        match event {
            Event::Connected { .. } => self.failures = 0,
            Event::ConnectionLost(DisconnectReason::User) => self.failures = 0,
            // MQTT 5 "use another server" / "server moved": followed only to a broker the
            // user listed (a broker cannot send us, and our credentials, anywhere else).
            Event::ConnectionLost(
                DisconnectReason::ByServer(d) | DisconnectReason::RefusedV5(d),
            ) if d.moves() => {
                let target = d
                    .server_reference
                    .as_deref()
                    .and_then(|r| self.position_of(r))
                    .filter(|&i| i != self.current);
                if let Some(i) = target {
                    let from = self.current().to_string();
                    self.current = i;
                    self.failures = 0;
                    session.broker_moved();
                    return Some(self.in_use(Some(format!("{from} sent us here ({d})"))));
                }
                self.failures += 1;
            }
            Event::ConnectionLost(reason) if self.urls.len() > 1 => {
                self.failures += 1;
                if self.failures >= MOVE_AFTER_FAILURES {
                    let from = self.current().to_string();
                    self.current = (self.current + 1) % self.urls.len();
                    self.failures = 0;
                    session.broker_moved();
                    return Some(self.in_use(Some(format!(
                        "{from} failed {MOVE_AFTER_FAILURES} times in a row ({reason})"
                    ))));
                }
            }
            _ => {}
        }
        None
    }

    /// The listed broker a server reference names: the whole URL, or its `host:port`.
    fn position_of(&self, reference: &str) -> Option<usize> {
        let reference = reference.trim();
        self.urls.iter().position(|url| {
            let authority = url
                .split_once("://")
                .map_or(url.as_str(), |(_, rest)| rest)
                .split(['/', '?'])
                .next()
                .unwrap_or("");
            url == reference || authority == reference
        })
    }

    fn in_use(&self, moved_because: Option<String>) -> BrokerInUse {
        BrokerInUse {
            url: self.current().to_string(),
            index: self.current,
            of: self.urls.len(),
            moved_because,
        }
    }
}

#[cfg(test)]
mod server_reference_tests {
    use super::*;
    use crate::mqtt::{ServerDisconnect, SessionConfig};

    fn moved(reference: &str) -> Event {
        Event::ConnectionLost(DisconnectReason::ByServer(ServerDisconnect {
            code: 0x9D,
            reason_string: None,
            server_reference: Some(reference.into()),
        }))
    }

    #[test]
    fn a_server_reference_moves_only_to_a_listed_broker() {
        let mut session = Session::new(SessionConfig::default());
        let mut brokers = Brokers::default();
        brokers.set(vec![
            "ws://127.0.0.1:9001/mqtt".into(),
            "ws://127.0.0.1:9002/mqtt".into(),
        ]);
        // Not on the list: counted as a failure, not followed.
        assert_eq!(
            brokers.observe(&moved("evil.example:9001"), &mut session),
            None
        );
        assert_eq!(brokers.current(), "ws://127.0.0.1:9001/mqtt");
        // On the list, by host:port: followed at once.
        let moved_to = brokers
            .observe(&moved("127.0.0.1:9002"), &mut session)
            .expect("moved");
        assert_eq!(moved_to.url, "ws://127.0.0.1:9002/mqtt");
        assert!(moved_to
            .moved_because
            .unwrap()
            .contains("server moved (0x9d)"));
        // By whole URL.
        let back = brokers.observe(&moved("ws://127.0.0.1:9001/mqtt"), &mut session);
        assert_eq!(back.unwrap().index, 0);
    }
}
