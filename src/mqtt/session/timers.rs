//! Deadlines: the open and CONNACK timeouts, keepalive pings, the reconnect delay and the
//! outbox expiry, behind one `poll_timeout` / `handle_timeout` pair.

use super::{Close, Link, Session};
use crate::mqtt::error::human_duration;
use crate::mqtt::packet::PINGREQ;
use crate::mqtt::{DisconnectReason, Millis, TransportError};

/// A PINGREQ waiting for any sign of life.
#[derive(Debug, Clone, Copy)]
pub(super) struct PendingPing {
    deadline: Millis,
    /// The one extra PINGREQ for a timer that fired very late was already spent.
    grace_used: bool,
}

/// What a timer check decided (computed first, acted on after the borrow ends).
enum TimerAction {
    None,
    OpenTimedOut,
    ConnackTimedOut,
    SendPing { grace_used: bool },
    KeepaliveTimedOut,
    Reconnect,
}

impl Session {
    /// The deadline from `poll_timeout` passed (calling early or late is harmless).
    pub fn handle_timeout(&mut self, now: Millis) {
        self.expire_outbox(now);
        let limit = self.config.connack_timeout_ms;
        let keepalive = self.keepalive_ms();
        let ping_timeout = self.ping_timeout_ms();
        let action = match &self.link {
            Link::Opening { since } if now >= since.saturating_add(limit) => {
                TimerAction::OpenTimedOut
            }
            Link::AwaitingConnack { opened_at, .. } if now >= opened_at.saturating_add(limit) => {
                TimerAction::ConnackTimedOut
            }
            Link::Connected(conn) => match (keepalive, conn.ping) {
                (None, _) => TimerAction::None,
                (Some(k), None) if now >= conn.last_sent.saturating_add(k) => {
                    // However late we are, a due ping is sent now and judged from now.
                    TimerAction::SendPing { grace_used: false }
                }
                (Some(_), Some(ping)) if now >= ping.deadline => {
                    let very_late = now - ping.deadline > ping_timeout;
                    if very_late && !ping.grace_used {
                        TimerAction::SendPing { grace_used: true }
                    } else {
                        TimerAction::KeepaliveTimedOut
                    }
                }
                _ => TimerAction::None,
            },
            Link::Idle if self.running && self.reconnect_at.is_some_and(|at| now >= at) => {
                TimerAction::Reconnect
            }
            _ => TimerAction::None,
        };
        match action {
            TimerAction::None => {}
            TimerAction::OpenTimedOut => {
                let why = format!(
                    "the connection to the broker did not open within {}",
                    human_duration(limit)
                );
                let reason = DisconnectReason::Transport(TransportError::OpenFailed(why));
                self.lose(reason, now, Close::Send);
            }
            TimerAction::ConnackTimedOut => {
                self.lose(DisconnectReason::ConnackTimeout, now, Close::Send)
            }
            TimerAction::SendPing { grace_used } => {
                self.send_bytes(PINGREQ.to_vec(), now);
                if let Link::Connected(conn) = &mut self.link {
                    conn.ping = Some(PendingPing {
                        deadline: now.saturating_add(ping_timeout),
                        grace_used,
                    });
                }
            }
            TimerAction::KeepaliveTimedOut => {
                self.lose(DisconnectReason::KeepaliveTimeout, now, Close::Send)
            }
            TimerAction::Reconnect => {
                self.reconnect_at = None;
                self.open(now);
            }
        }
    }

    /// The next deadline (arm one timer for it), or `None` if nothing is due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Millis> {
        let limit = self.config.connack_timeout_ms;
        let link = match &self.link {
            Link::Idle => self.reconnect_at.filter(|_| self.running),
            Link::Opening { since } => Some(since.saturating_add(limit)),
            Link::AwaitingConnack { opened_at, .. } => Some(opened_at.saturating_add(limit)),
            Link::Connected(conn) => self.keepalive_ms().map(|k| match conn.ping {
                Some(ping) => ping.deadline,
                None => conn.last_sent.saturating_add(k),
            }),
        };
        match (link, self.outbox_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Ours, or the one an MQTT 5 broker imposed in its CONNACK (MQTT-3.2.2-21).
    fn keepalive_ms(&self) -> Option<Millis> {
        let server = match &self.link {
            Link::Connected(conn) => conn.caps.server_keepalive_secs,
            _ => None,
        };
        match server.or(self.options.as_ref().map(|o| o.keepalive_secs)) {
            Some(secs) if secs > 0 => Some(secs as Millis * 1000),
            _ => None,
        }
    }

    /// How long a PINGREQ may go unanswered: the configured bound, but never more than the
    /// keepalive interval itself (a dead link is noticed within two intervals).
    fn ping_timeout_ms(&self) -> Millis {
        let k = self.keepalive_ms().unwrap_or(Millis::MAX);
        self.config.ping_timeout_ms.min(k).max(1)
    }
}
