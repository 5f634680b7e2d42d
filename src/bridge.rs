//! The wire between the UI thread and the session worker: commands one way, updates the
//! other, packed into one byte buffer per batch (transferred, not copied, by postMessage).
//!
//! Plain Rust, tested natively. Disconnect reasons cross as their text (the UI only shows
//! them): a non-user reason arrives as `TransportError::Other(text)`, which displays the same.

use crate::mqtt::{
    ConnectOptions, ConnectionState, DisconnectReason, Event, LastWill, Message, PublishId,
    PublishOutcome, QoS, TransportError,
};

/// What the UI asks of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Connect {
        url: String,
        options: ConnectOptions,
    },
    Disconnect,
    Subscribe {
        filter: String,
        qos: QoS,
    },
    Unsubscribe {
        filter: String,
    },
    /// `ticket` is chosen by the UI; the answer is `Update::Accepted` or `Update::Refused`.
    Publish {
        ticket: u64,
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
    },
    /// How long offline publishes may wait before they are reported not sent.
    SetOutboxExpiry {
        ms: u64,
    },
}

/// Which command a refusal answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    Connect,
    Subscribe,
    Unsubscribe,
    Publish,
}

/// What the worker tells the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    Session(Event),
    /// The publish with this ticket got this id (its outcomes follow as session events).
    Accepted {
        ticket: u64,
        id: PublishId,
    },
    /// A command was refused before anything was sent.
    Refused {
        kind: CommandKind,
        ticket: u64,
        subject: String,
        reason: String,
    },
    /// The worker is running and takes commands.
    Ready,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

// ---- writer / reader ----

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bool(&mut self, v: bool) {
        self.u8(v as u8);
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
    }
    fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    fn opt_str(&mut self, v: &Option<String>) {
        match v {
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
            None => self.u8(0),
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError("truncated batch"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().unwrap_or_default(),
        ))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.u8()? != 0)
    }
    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        String::from_utf8(self.bytes()?).map_err(|_| DecodeError("bad UTF-8"))
    }
    fn opt_str(&mut self) -> Result<Option<String>, DecodeError> {
        Ok(if self.u8()? == 1 {
            Some(self.str()?)
        } else {
            None
        })
    }
    fn qos(&mut self) -> Result<QoS, DecodeError> {
        QoS::from_u8(self.u8()?).ok_or(DecodeError("bad QoS"))
    }
}

fn state_code(s: ConnectionState) -> u8 {
    match s {
        ConnectionState::Disconnected => 0,
        ConnectionState::Connecting => 1,
        ConnectionState::Connected => 2,
        ConnectionState::Reconnecting => 3,
    }
}

fn state_from(code: u8) -> Result<ConnectionState, DecodeError> {
    Ok(match code {
        0 => ConnectionState::Disconnected,
        1 => ConnectionState::Connecting,
        2 => ConnectionState::Connected,
        3 => ConnectionState::Reconnecting,
        _ => return Err(DecodeError("bad state")),
    })
}

fn kind_code(k: CommandKind) -> u8 {
    match k {
        CommandKind::Connect => 0,
        CommandKind::Subscribe => 1,
        CommandKind::Unsubscribe => 2,
        CommandKind::Publish => 3,
    }
}

fn kind_from(code: u8) -> Result<CommandKind, DecodeError> {
    Ok(match code {
        0 => CommandKind::Connect,
        1 => CommandKind::Subscribe,
        2 => CommandKind::Unsubscribe,
        3 => CommandKind::Publish,
        _ => return Err(DecodeError("bad command kind")),
    })
}

// ---- commands ----

pub fn encode_commands(commands: &[Command]) -> Vec<u8> {
    let mut w = Writer::default();
    for command in commands {
        match command {
            Command::Connect { url, options } => {
                w.u8(1);
                w.str(url);
                w.str(&options.client_id);
                w.opt_str(&options.username);
                w.opt_str(&options.password);
                w.u16(options.keepalive_secs);
                w.bool(options.clean_session);
                match &options.last_will {
                    Some(will) => {
                        w.u8(1);
                        w.str(&will.topic);
                        w.bytes(&will.payload);
                        w.u8(will.qos.as_u8());
                        w.bool(will.retain);
                    }
                    None => w.u8(0),
                }
            }
            Command::Disconnect => w.u8(2),
            Command::Subscribe { filter, qos } => {
                w.u8(3);
                w.str(filter);
                w.u8(qos.as_u8());
            }
            Command::Unsubscribe { filter } => {
                w.u8(4);
                w.str(filter);
            }
            Command::Publish {
                ticket,
                topic,
                payload,
                qos,
                retain,
            } => {
                w.u8(5);
                w.u64(*ticket);
                w.str(topic);
                w.bytes(payload);
                w.u8(qos.as_u8());
                w.bool(*retain);
            }
            Command::SetOutboxExpiry { ms } => {
                w.u8(6);
                w.u64(*ms);
            }
        }
    }
    w.0
}

pub fn decode_commands(bytes: &[u8]) -> Result<Vec<Command>, DecodeError> {
    let mut r = Reader(bytes);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        out.push(match r.u8()? {
            1 => {
                let url = r.str()?;
                let client_id = r.str()?;
                let username = r.opt_str()?;
                let password = r.opt_str()?;
                let keepalive_secs = r.u16()?;
                let clean_session = r.bool()?;
                let last_will = if r.u8()? == 1 {
                    Some(LastWill {
                        topic: r.str()?,
                        payload: r.bytes()?,
                        qos: r.qos()?,
                        retain: r.bool()?,
                    })
                } else {
                    None
                };
                Command::Connect {
                    url,
                    options: ConnectOptions {
                        client_id,
                        username,
                        password,
                        keepalive_secs,
                        clean_session,
                        last_will,
                    },
                }
            }
            2 => Command::Disconnect,
            3 => Command::Subscribe {
                filter: r.str()?,
                qos: r.qos()?,
            },
            4 => Command::Unsubscribe { filter: r.str()? },
            5 => Command::Publish {
                ticket: r.u64()?,
                topic: r.str()?,
                payload: r.bytes()?,
                qos: r.qos()?,
                retain: r.bool()?,
            },
            6 => Command::SetOutboxExpiry { ms: r.u64()? },
            _ => return Err(DecodeError("unknown command")),
        });
    }
    Ok(out)
}

// ---- updates ----

/// Appends one update to a batch buffer (the worker keeps one buffer per flush).
pub fn encode_update(buffer: &mut Vec<u8>, update: &Update) {
    let mut w = Writer(std::mem::take(buffer));
    match update {
        Update::Session(event) => match event {
            Event::Message(m) => {
                // The hot path: first, and compact.
                w.u8(1);
                w.str(&m.topic);
                w.bytes(&m.payload);
                w.u8(m.qos.as_u8() | (m.retain as u8) << 2 | (m.dup as u8) << 3);
            }
            Event::State(s) => {
                w.u8(2);
                w.u8(state_code(*s));
            }
            Event::Connected { session_present } => {
                w.u8(3);
                w.bool(*session_present);
            }
            Event::ConnectionLost(reason) => {
                w.u8(4);
                w.bool(*reason == DisconnectReason::User);
                w.str(&reason.to_string());
            }
            Event::ReconnectScheduled { attempt, delay_ms } => {
                w.u8(5);
                w.u32(*attempt);
                w.u64(*delay_ms);
            }
            Event::SubscribeRequested { filter, qos } => {
                w.u8(6);
                w.str(filter);
                w.u8(qos.as_u8());
            }
            Event::Subscribed { filter, qos } => {
                w.u8(7);
                w.str(filter);
                w.u8(qos.as_u8());
            }
            Event::SubscribeFailed { filter, reason } => {
                w.u8(8);
                w.str(filter);
                w.str(reason);
            }
            Event::Unsubscribed { filter } => {
                w.u8(9);
                w.str(filter);
            }
            Event::Publish { id, outcome } => {
                w.u8(10);
                w.u64(id.0);
                match outcome {
                    PublishOutcome::Sent => w.u8(0),
                    PublishOutcome::Acked => w.u8(1),
                    PublishOutcome::Queued => w.u8(2),
                    PublishOutcome::Failed(why) => {
                        w.u8(3);
                        w.str(&serde_json::to_string(why).unwrap_or_default());
                    }
                }
            }
        },
        Update::Accepted { ticket, id } => {
            w.u8(20);
            w.u64(*ticket);
            w.u64(id.0);
        }
        Update::Refused {
            kind,
            ticket,
            subject,
            reason,
        } => {
            w.u8(21);
            w.u8(kind_code(*kind));
            w.u64(*ticket);
            w.str(subject);
            w.str(reason);
        }
        Update::Ready => w.u8(22),
    }
    *buffer = w.0;
}

pub fn decode_updates(bytes: &[u8]) -> Result<Vec<Update>, DecodeError> {
    let mut r = Reader(bytes);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        let event = match r.u8()? {
            1 => {
                let topic = r.str()?;
                let payload = r.bytes()?;
                let flags = r.u8()?;
                let qos = QoS::from_u8(flags & 3).ok_or(DecodeError("bad QoS"))?;
                Event::Message(Message {
                    topic,
                    payload,
                    qos,
                    retain: flags & 4 != 0,
                    dup: flags & 8 != 0,
                })
            }
            2 => Event::State(state_from(r.u8()?)?),
            3 => Event::Connected {
                session_present: r.bool()?,
            },
            4 => {
                let user = r.bool()?;
                let text = r.str()?;
                Event::ConnectionLost(if user {
                    DisconnectReason::User
                } else {
                    DisconnectReason::Transport(TransportError::Other(text))
                })
            }
            5 => Event::ReconnectScheduled {
                attempt: r.u32()?,
                delay_ms: r.u64()?,
            },
            6 => Event::SubscribeRequested {
                filter: r.str()?,
                qos: r.qos()?,
            },
            7 => Event::Subscribed {
                filter: r.str()?,
                qos: r.qos()?,
            },
            8 => Event::SubscribeFailed {
                filter: r.str()?,
                reason: r.str()?,
            },
            9 => Event::Unsubscribed { filter: r.str()? },
            10 => {
                let id = PublishId(r.u64()?);
                let outcome = match r.u8()? {
                    0 => PublishOutcome::Sent,
                    1 => PublishOutcome::Acked,
                    2 => PublishOutcome::Queued,
                    3 => PublishOutcome::Failed(
                        serde_json::from_str(&r.str()?)
                            .map_err(|_| DecodeError("bad publish failure"))?,
                    ),
                    _ => return Err(DecodeError("bad outcome")),
                };
                Event::Publish { id, outcome }
            }
            20 => {
                out.push(Update::Accepted {
                    ticket: r.u64()?,
                    id: PublishId(r.u64()?),
                });
                continue;
            }
            21 => {
                out.push(Update::Refused {
                    kind: kind_from(r.u8()?)?,
                    ticket: r.u64()?,
                    subject: r.str()?,
                    reason: r.str()?,
                });
                continue;
            }
            22 => {
                out.push(Update::Ready);
                continue;
            }
            _ => return Err(DecodeError("unknown update")),
        };
        out.push(Update::Session(event));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::{ConnectRefused, LastWill, PublishFailure};

    #[test]
    fn every_command_survives_the_trip_to_the_worker() {
        let commands = vec![
            Command::Connect {
                url: "ws://127.0.0.1:9001/mqtt".into(),
                options: ConnectOptions {
                    client_id: "é-client".into(),
                    username: Some("u".into()),
                    password: None,
                    keepalive_secs: 30,
                    clean_session: false,
                    last_will: Some(LastWill {
                        topic: "w".into(),
                        payload: vec![0, 255],
                        qos: QoS::ExactlyOnce,
                        retain: true,
                    }),
                },
            },
            Command::Subscribe {
                filter: "a/+/#".into(),
                qos: QoS::AtLeastOnce,
            },
            Command::Unsubscribe {
                filter: "a/+/#".into(),
            },
            Command::Publish {
                ticket: 7,
                topic: "t".into(),
                payload: vec![1, 2, 3],
                qos: QoS::ExactlyOnce,
                retain: true,
            },
            Command::Disconnect,
        ];
        assert_eq!(
            decode_commands(&encode_commands(&commands)).unwrap(),
            commands
        );
    }

    #[test]
    fn every_update_survives_the_trip_to_the_ui() {
        let updates = vec![
            Update::Ready,
            Update::Session(Event::State(ConnectionState::Reconnecting)),
            Update::Session(Event::Connected {
                session_present: true,
            }),
            Update::Session(Event::ConnectionLost(DisconnectReason::User)),
            Update::Session(Event::ReconnectScheduled {
                attempt: 3,
                delay_ms: 1234,
            }),
            Update::Session(Event::SubscribeRequested {
                filter: "f".into(),
                qos: QoS::AtLeastOnce,
            }),
            Update::Session(Event::Subscribed {
                filter: "f".into(),
                qos: QoS::AtMostOnce,
            }),
            Update::Session(Event::SubscribeFailed {
                filter: "f".into(),
                reason: "no".into(),
            }),
            Update::Session(Event::Unsubscribed { filter: "f".into() }),
            Update::Session(Event::Message(Message {
                topic: "日本".into(),
                payload: vec![0; 3],
                qos: QoS::ExactlyOnce,
                retain: true,
                dup: true,
            })),
            Update::Session(Event::Publish {
                id: PublishId(9),
                outcome: PublishOutcome::Failed(PublishFailure::Expired { after_ms: 60_000 }),
            }),
            Update::Session(Event::Publish {
                id: PublishId(9),
                outcome: PublishOutcome::Acked,
            }),
            Update::Accepted {
                ticket: 5,
                id: PublishId(9),
            },
            Update::Refused {
                kind: CommandKind::Subscribe,
                ticket: 0,
                subject: "a/#/b".into(),
                reason: "bad".into(),
            },
        ];
        let mut buffer = Vec::new();
        for update in &updates {
            encode_update(&mut buffer, update);
        }
        assert_eq!(decode_updates(&buffer).unwrap(), updates);
    }

    #[test]
    fn a_lost_connection_keeps_its_words_across_the_bridge() {
        let mut buffer = Vec::new();
        let reason = DisconnectReason::Refused(ConnectRefused::NotAuthorized);
        encode_update(
            &mut buffer,
            &Update::Session(Event::ConnectionLost(reason.clone())),
        );
        let Update::Session(Event::ConnectionLost(back)) = &decode_updates(&buffer).unwrap()[0]
        else {
            panic!("not a connection loss");
        };
        assert_eq!(back.to_string(), reason.to_string());
    }

    #[test]
    fn truncated_or_garbage_batches_are_errors_not_panics() {
        let mut buffer = Vec::new();
        encode_update(
            &mut buffer,
            &Update::Session(Event::Subscribed {
                filter: "abc".into(),
                qos: QoS::AtMostOnce,
            }),
        );
        for cut in 0..buffer.len() {
            let _ = decode_updates(&buffer[..cut]);
        }
        assert!(decode_updates(&buffer[..buffer.len() - 1]).is_err());
        assert!(decode_updates(&[99]).is_err());
        assert!(decode_commands(&[5, 1]).is_err());
    }
}
