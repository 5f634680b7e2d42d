//! The connection slice: status and the last error, always visible.

use crate::bridge::BrokerInUse;
use crate::mqtt::{BrokerCapabilities, ConnectionState, DisconnectReason, Event, Millis};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionView {
    pub status: ConnectionState,
    /// The last error or disconnect reason (`connection-error`); kept after reconnecting so
    /// the user can see what happened, cleared by a new user connect.
    pub last_error: Option<String>,
    pub session_present: bool,
    /// Wall-clock ms of the last CONNACK.
    pub connected_since: Option<u64>,
    /// Current reconnect attempt and its delay, while reconnecting.
    pub retry: Option<(u32, Millis)>,
    /// The broker in use and why the session moved there (failover).
    pub broker: Option<BrokerInUse>,
    /// MQTT 5: what the last accepting CONNACK said about the broker.
    pub capabilities: Option<Box<BrokerCapabilities>>,
}

impl Default for ConnectionView {
    fn default() -> Self {
        ConnectionView {
            status: ConnectionState::Disconnected,
            last_error: None,
            session_present: false,
            connected_since: None,
            retry: None,
            broker: None,
            capabilities: None,
        }
    }
}

impl ConnectionView {
    /// The user pressed Connect: forget the previous attempt's error.
    pub fn user_connect(&mut self) {
        self.last_error = None;
        self.retry = None;
        self.capabilities = None;
    }

    /// The session took the user's connect. Everything it reported before this answer
    /// belongs to the previous attempt (an old refusal can arrive after the press), so the
    /// error line starts clean here too.
    pub fn connect_taken(&mut self) {
        self.last_error = None;
        self.retry = None;
    }

    /// A connect refused locally (bad URL, bad options): nothing was sent.
    pub fn refused_locally(&mut self, reason: String) {
        self.last_error = Some(reason);
    }

    pub fn apply(&mut self, event: &Event, now_ms: u64) -> bool {
        match event {
            Event::State(status) => {
                self.status = *status;
                if *status != ConnectionState::Reconnecting {
                    self.retry = None;
                }
                if *status != ConnectionState::Connected {
                    self.connected_since = None;
                }
            }
            Event::Capabilities(caps) => self.capabilities = Some(caps.clone()),
            Event::Connected { session_present } => {
                self.session_present = *session_present;
                self.connected_since = Some(now_ms);
                self.retry = None;
            }
            Event::ConnectionLost(DisconnectReason::User) => {
                self.last_error = Some(DisconnectReason::User.to_string());
            }
            Event::ConnectionLost(reason) => self.last_error = Some(reason.to_string()),
            Event::ReconnectScheduled { attempt, delay_ms } => {
                self.retry = Some((*attempt, *delay_ms));
            }
            _ => return false,
        }
        true
    }
}

/// Checks a broker URL before anything is opened; the error says what to fix.
pub fn validate_broker_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("enter the broker's WebSocket URL, e.g. ws://127.0.0.1:9001/mqtt".into());
    }
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("ws") || scheme.eq_ignore_ascii_case("wss") => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "broker URL must start with ws:// or wss:// (got {scheme}://); MQTT in a browser needs the broker's WebSocket listener"
            ))
        }
        None => return Err("broker URL must start with ws:// or wss://, e.g. ws://127.0.0.1:9001/mqtt".into()),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => host,
        None => authority,
    };
    if host.is_empty() {
        return Err("broker URL has no host, e.g. ws://127.0.0.1:9001/mqtt".into());
    }
    if rest.contains(char::is_whitespace) {
        return Err("broker URL must not contain spaces".into());
    }
    if let Some(port) = host
        .rsplit_once(':')
        .map(|(_, p)| p)
        .filter(|_| !host.ends_with(']'))
    {
        if port.parse::<u16>().map(|p| p == 0).unwrap_or(true) {
            return Err(format!("broker URL has an invalid port: {port:?}"));
        }
    }
    if url.contains('#') {
        return Err("broker URL must not contain a fragment ('#')".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::{ConnectRefused, TransportError};

    #[test]
    fn the_last_error_stays_visible_after_reconnecting() {
        let mut view = ConnectionView::default();
        let lost = TransportError::Closed {
            code: 1006,
            reason: String::new(),
        };
        view.apply(&Event::ConnectionLost(DisconnectReason::Transport(lost)), 0);
        view.apply(&Event::State(ConnectionState::Reconnecting), 0);
        view.apply(
            &Event::ReconnectScheduled {
                attempt: 1,
                delay_ms: 700,
            },
            0,
        );
        assert_eq!(view.retry, Some((1, 700)));
        view.apply(&Event::State(ConnectionState::Connected), 5);
        view.apply(
            &Event::Connected {
                session_present: true,
            },
            5,
        );
        assert_eq!(view.status, ConnectionState::Connected);
        assert_eq!(
            view.last_error.as_deref(),
            Some("connection closed (code 1006)")
        );
        assert_eq!(view.retry, None);
        assert_eq!(view.connected_since, Some(5));
    }

    #[test]
    fn a_refused_connect_reads_as_a_sentence() {
        let mut view = ConnectionView::default();
        let refused = DisconnectReason::Refused(ConnectRefused::BadUserNameOrPassword);
        view.apply(&Event::ConnectionLost(refused), 0);
        assert_eq!(
            view.last_error.as_deref(),
            Some("broker refused the connection: bad user name or password")
        );
    }

    #[test]
    fn broker_urls_are_checked_before_connecting() {
        assert!(validate_broker_url("ws://127.0.0.1:9001/mqtt").is_ok());
        assert!(validate_broker_url("wss://broker.example/mqtt?x=1").is_ok());
        assert!(validate_broker_url("ws://[::1]:9001").is_ok());
        assert!(validate_broker_url("ws://user:pw@host:9001/mqtt").is_ok());
        assert!(validate_broker_url("")
            .unwrap_err()
            .contains("enter the broker"));
        assert!(validate_broker_url("http://127.0.0.1:9001")
            .unwrap_err()
            .contains("ws://"));
        assert!(validate_broker_url("mqtt://127.0.0.1:1883")
            .unwrap_err()
            .contains("WebSocket"));
        assert!(validate_broker_url("127.0.0.1:9001")
            .unwrap_err()
            .contains("ws://"));
        assert!(validate_broker_url("ws://")
            .unwrap_err()
            .contains("no host"));
        assert!(validate_broker_url("ws://host:99999/")
            .unwrap_err()
            .contains("port"));
        assert!(validate_broker_url("ws://host:abc/")
            .unwrap_err()
            .contains("port"));
        assert!(validate_broker_url("ws://ho st/")
            .unwrap_err()
            .contains("spaces"));
        assert!(validate_broker_url("ws://host/#frag")
            .unwrap_err()
            .contains("fragment"));
    }
}
