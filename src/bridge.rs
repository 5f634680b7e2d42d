//! Commands from the UI to the session and updates back, and the one place a command is
//! carried out.
//!
//! The session runs either in a dedicated Web Worker (the normal case) or in the page
//! (`?worker=0`, browser tests). Both backends hand every [`Command`] to [`execute`] and
//! every answer comes back as an [`Update`], refusals included, in the same stream as the
//! session's events, so the UI has one path whatever runs the session.
//!
//! Between the page and the worker, batches travel as `postcard` bytes (a compact, stable
//! serde format) in one transferred `ArrayBuffer` per batch. Plain Rust, tested natively.

pub mod failover;
pub mod held;

use serde::{Deserialize, Serialize};

use crate::mesh::packet::ChannelConfig;
use crate::mesh::{build_envelope, MeshDecoder, MeshUpdate, OutgoingPacket};
use crate::mqtt::{
    CommandError, ConnectOptions, Event, Millis, PublishId, PublishProperties, QoS, Session,
    SubscribeOptions,
};
use crate::state::connection::validate_broker_url;
pub use failover::{BrokerInUse, Brokers};
use held::{HeldPayload, HeldPayloads};

/// What the UI asks of the session.
// `Connect` is sent once per user connect; boxing its options would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// `url` first; `failover` are the brokers to move to, in order, when it fails.
    Connect {
        url: String,
        failover: Vec<String>,
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
    /// `id` is allocated by the UI; the outcomes come back as `Event::Publish` with it.
    Publish {
        id: PublishId,
        topic: String,
        #[serde(with = "crate::mqtt::byte_buf")]
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
    },
    /// `Subscribe` with MQTT 5 subscription options.
    SubscribeWith {
        filter: String,
        options: SubscribeOptions,
    },
    /// `Publish` with MQTT 5 properties.
    PublishWith {
        id: PublishId,
        topic: String,
        #[serde(with = "crate::mqtt::byte_buf")]
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
        properties: PublishProperties,
    },
    /// How long offline publishes may wait before they are reported not sent.
    SetOutboxExpiry {
        ms: Millis,
    },
    /// The Meshtastic channels (name + key) to decrypt with. The keys stay on the session
    /// side; the UI gets decoded packets only.
    SetMeshChannels {
        channels: Vec<ChannelConfig>,
    },
    /// Sends a Meshtastic packet as our own node: built and encrypted on the session side,
    /// published at QoS 1 with `id` (its outcomes come back as `Event::Publish`).
    MeshSend {
        id: PublishId,
        packet: OutgoingPacket,
    },
    /// The whole payloads of these held messages ([`Update::Held`]); they come back as
    /// [`Update::Payloads`] and are no longer held.
    FetchPayloads {
        keys: Vec<u64>,
    },
    /// The UI keeps its newest `count` messages: payloads of older ones are not held.
    KeepMessages {
        count: u64,
    },
    /// The UI cleared its message history: drop every held payload.
    ForgetPayloads,
}

/// What the UI learns from the session side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Update {
    Session(Event),
    /// The broker the session uses now (after a connect, or a failover move).
    Broker(BrokerInUse),
    /// A command was refused before anything was sent.
    Refused {
        command: Refused,
        reason: Refusal,
    },
    /// The worker is running and takes commands (handled by the page's client).
    Ready,
    /// The session worker could not start or failed; the session is not running.
    WorkerFailed(String),
    /// What the mesh decoder read from a message on a Meshtastic protobuf topic (sent right
    /// after the `Session(Event::Message)` it came from).
    Mesh(MeshUpdate),
    /// Channels of the last `SetMeshChannels` whose key was refused: `(name, reason)`.
    MeshKeys {
        refused: Vec<(String, String)>,
    },
    /// The message just before this one had a large payload, of which it carries only a
    /// preview: the rest is held on the session's side ([`held`]).
    Held(HeldPayload),
    /// Answers [`Command::FetchPayloads`]: the whole payloads still held, and the keys whose
    /// payload is no longer held (the message left the history).
    Payloads {
        found: Vec<FetchedPayload>,
        missing: Vec<u64>,
    },
    /// The messages have stopped: none came for a whole [`QUIET_MS`] after the last one
    /// the session passed on ([`QuietWatch`]). The UI shows what its flood cadence holds
    /// back now rather than when its own quiet rule would (the page's thread, busy rendering,
    /// cannot tell a pause from a batch that waited behind a long task).
    Quiet,
}

/// One whole payload handed over by the session's side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchedPayload {
    pub key: u64,
    #[serde(with = "crate::mqtt::byte_buf")]
    pub payload: Vec<u8>,
}

/// Which command a refusal answers, with what the UI needs to match it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refused {
    Connect { url: String },
    Subscribe { filter: String },
    Unsubscribe { filter: String },
    Publish { id: PublishId },
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The broker URL is not a usable ws:// or wss:// URL.
    BrokerUrl(String),
    /// The session refused it (invalid topic, not started, too large…).
    Session(CommandError),
    /// A Meshtastic packet could not be built (text too long, bad key…).
    Mesh(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::BrokerUrl(why) => f.write_str(why),
            Refusal::Session(e) => write!(f, "{e}"),
            Refusal::Mesh(why) => f.write_str(why),
        }
    }
}

/// Carries out one command on the session. `brokers` holds the URLs the transport opens on
/// the session's `Transmit::Open` (set by `Connect`); `mesh` holds the Meshtastic channel
/// keys; `held` the large payloads the UI has previews of. Returns the answer, if any (a
/// refusal, the broker now in use, refused keys, payloads); the caller then runs the
/// session's polling order.
pub fn execute(
    session: &mut Session,
    brokers: &mut Brokers,
    mesh: &mut MeshDecoder,
    held: &mut HeldPayloads,
    command: Command,
    now: Millis,
) -> Option<Update> {
    let refused = |command, reason| Some(Update::Refused { command, reason });
    match command {
        Command::Connect {
            url,
            failover,
            options,
        } => {
            let url = url.trim().to_string();
            let mut urls = vec![url.clone()];
            urls.extend(
                failover
                    .iter()
                    .map(|u| u.trim().to_string())
                    .filter(|u| !u.is_empty() && *u != url),
            );
            urls.dedup();
            if urls.len() > failover::MAX_BROKERS {
                let why = format!(
                    "at most {} brokers in a failover list",
                    failover::MAX_BROKERS
                );
                return refused(Refused::Connect { url }, Refusal::BrokerUrl(why));
            }
            for candidate in &urls {
                if let Err(why) = validate_broker_url(candidate) {
                    return refused(Refused::Connect { url }, Refusal::BrokerUrl(why));
                }
            }
            match session.connect(options, now) {
                Ok(()) => {
                    // Another broker is another session (the old link is already closed).
                    if !brokers.current().is_empty() && brokers.current() != url {
                        session.leave_session();
                    }
                    Some(Update::Broker(brokers.set(urls)))
                }
                Err(e) => refused(Refused::Connect { url }, Refusal::Session(e)),
            }
        }
        Command::Disconnect => {
            session.disconnect(now);
            None
        }
        Command::Subscribe { filter, qos } => match session.subscribe(&filter, qos, now) {
            Ok(()) => None,
            Err(e) => refused(Refused::Subscribe { filter }, Refusal::Session(e)),
        },
        Command::Unsubscribe { filter } => match session.unsubscribe(&filter, now) {
            Ok(()) => None,
            Err(e) => refused(Refused::Unsubscribe { filter }, Refusal::Session(e)),
        },
        Command::Publish {
            id,
            topic,
            payload,
            qos,
            retain,
        } => match session.publish(id, &topic, payload, qos, retain, now) {
            Ok(()) => None,
            Err(e) => refused(Refused::Publish { id }, Refusal::Session(e)),
        },
        Command::SubscribeWith { filter, options } => {
            match session.subscribe_with(&filter, options, now) {
                Ok(()) => None,
                Err(e) => refused(Refused::Subscribe { filter }, Refusal::Session(e)),
            }
        }
        Command::PublishWith {
            id,
            topic,
            payload,
            qos,
            retain,
            properties,
        } => match session.publish_with(id, &topic, payload, qos, retain, Some(properties), now) {
            Ok(()) => None,
            Err(e) => refused(Refused::Publish { id }, Refusal::Session(e)),
        },
        Command::SetOutboxExpiry { ms } => {
            session.set_outbox_expiry(ms);
            None
        }
        Command::SetMeshChannels { channels } => {
            let refused = mesh
                .set_channels(&channels)
                .into_iter()
                .map(|(name, why)| (name, why.to_string()))
                .collect();
            Some(Update::MeshKeys { refused })
        }
        Command::MeshSend { id, packet } => {
            let (topic, payload) = match build_envelope(&packet) {
                Ok(built) => built,
                Err(why) => {
                    return refused(Refused::Publish { id }, Refusal::Mesh(why.to_string()))
                }
            };
            match session.publish(id, &topic, payload, QoS::AtLeastOnce, false, now) {
                Ok(()) => None,
                Err(e) => refused(Refused::Publish { id }, Refusal::Session(e)),
            }
        }
        Command::FetchPayloads { keys } => {
            let (found, missing) = held.take(&keys);
            Some(Update::Payloads { found, missing })
        }
        Command::KeepMessages { count } => {
            held.keep(usize::try_from(count).unwrap_or(usize::MAX));
            None
        }
        Command::ForgetPayloads => {
            held.clear();
            None
        }
    }
}

/// What the session side adds after one session event: for a message on a Meshtastic
/// protobuf topic, the decoded packet (or why it could not be read); for a large payload,
/// what is held of it (the message itself then carries a preview).
pub fn observe(mesh: &MeshDecoder, held: &mut HeldPayloads, event: &mut Event) -> Vec<Update> {
    let Event::Message(message) = event else {
        return Vec::new();
    };
    // The decoder reads the whole payload, before it is cut.
    let decoded = mesh
        .decode(&message.topic, &message.payload)
        .map(Update::Mesh);
    let cut = held.observe(message).map(Update::Held);
    // `Held` first: it is about the message just before it.
    cut.into_iter().chain(decoded).collect()
}

/// The session side posts the UI at most one batch per frame (about 16 ms).
pub const FRAME_MS: f64 = 16.0;

/// How long an update waits before its batch is posted, given how long ago the last batch
/// went: none after a quiet frame, so a lone update (a CONNACK, an ack, one message) reaches
/// the UI at once; else the rest of the frame, so a flood still crosses once per frame.
pub fn batch_delay_ms(since_last_post_ms: f64) -> u32 {
    if since_last_post_ms.is_nan() || since_last_post_ms >= FRAME_MS {
        0
    } else {
        (FRAME_MS - since_last_post_ms.max(0.0)).ceil() as u32
    }
}

impl Update {
    /// Whether the batch holding this update goes to the UI at once, whatever
    /// [`batch_delay_ms`] says: a change of connection status (the CONNACK the user waits
    /// for, a dropped link) should not wait out the frame behind the batch before it.
    pub fn posts_at_once(&self) -> bool {
        matches!(
            self,
            Update::Session(Event::State(_)) | Update::WorkerFailed(_)
        )
    }
}

/// How long the session's thread waits for another message before it tells the UI that
/// the messages have stopped ([`Update::Quiet`]): about two frames, so a flood (a message
/// every few microseconds on this side) never looks stopped, and a burst's last count shows
/// 25–50 ms after its last message.
pub const QUIET_MS: u32 = 25;

/// Tells the end of a burst of messages from a flood, with a timer the transport runs every
/// [`QUIET_MS`] while messages flow: a count per message, not a clock read.
#[derive(Debug, Default)]
pub struct QuietWatch {
    messages: u64,
    at_last_check: u64,
    timer_set: bool,
}

/// What to do when the [`QuietWatch`] timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuietCheck {
    /// Messages came since the last check: set the timer again.
    Again,
    /// None came for a whole interval: post [`Update::Quiet`]; the timer stays unset until
    /// the next message.
    Quiet,
}

impl QuietWatch {
    /// A message went to the UI; `true` when the timer is to be set.
    pub fn message(&mut self) -> bool {
        self.messages += 1;
        !std::mem::replace(&mut self.timer_set, true)
    }

    /// The timer set on [`QuietWatch::message`]'s word fired.
    pub fn timer_fired(&mut self) -> QuietCheck {
        if self.messages == self.at_last_check {
            self.timer_set = false;
            QuietCheck::Quiet
        } else {
            self.at_last_check = self.messages;
            QuietCheck::Again
        }
    }
}

/// A batch is posted at once, whatever [`batch_delay_ms`] says, when it holds this many
/// updates or bytes. After a stall (a busy machine, a GC) the worker drains its socket's
/// backlog in a burst; one batch of all of it was one long task on the page (over 100 ms
/// seen), where several of these are short tasks the page can paint between.
pub const BATCH_MAX_UPDATES: usize = 1_000;
pub const BATCH_MAX_BYTES: usize = 1 << 20;

/// The updates the worker has for the page and not yet posted, encoded.
#[derive(Debug, Default)]
pub struct Batch {
    bytes: Vec<u8>,
    updates: usize,
}

impl Batch {
    /// Adds `update`; `true` when the batch is full and is to be posted now.
    pub fn push(&mut self, update: &Update) -> bool {
        if !encode_into(&mut self.bytes, update) {
            // Never seen; if it happens the page hears that something was lost.
            let why = Update::WorkerFailed("the session worker could not pass an update on".into());
            encode_into(&mut self.bytes, &why);
        }
        self.updates += 1;
        self.updates >= BATCH_MAX_UPDATES || self.bytes.len() >= BATCH_MAX_BYTES
    }

    /// The encoded batch (empty if there is nothing to post), leaving this one empty.
    pub fn take(&mut self) -> Vec<u8> {
        self.updates = 0;
        std::mem::take(&mut self.bytes)
    }
}

/// A batch could not be decoded (a bug or a foreign message, never a panic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Appends one item to a batch (the worker keeps one buffer per flush), in place.
/// Serializing these plain enums cannot fail (no maps, no fallible `Serialize` impls);
/// should one ever, that item is left out, the items already in the batch are kept, and
/// `false` says so.
pub fn encode_into<T: Serialize>(batch: &mut Vec<u8>, item: &T) -> bool {
    /// Appends to the caller's buffer. postcard's own `Extend` flavor copies byte by byte
    /// through an iterator, which for 4 KiB payloads was the worker's largest cost after
    /// the browser's own copies; a payload here is one `extend_from_slice`.
    struct Append<'a>(&'a mut Vec<u8>);
    impl postcard::ser_flavors::Flavor for Append<'_> {
        type Output = ();
        fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
            self.0.push(byte);
            Ok(())
        }
        fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
            self.0.extend_from_slice(bytes);
            Ok(())
        }
        fn finalize(self) -> postcard::Result<()> {
            Ok(())
        }
    }
    let kept = batch.len();
    if postcard::serialize_with_flavor(item, Append(batch)).is_ok() {
        true
    } else {
        // What the failed item wrote before it failed would garble the rest of the batch.
        batch.truncate(kept);
        false
    }
}

/// A whole batch of items.
pub fn encode_batch<T: Serialize>(items: &[T]) -> Vec<u8> {
    let mut batch = Vec::new();
    for item in items {
        encode_into(&mut batch, item);
    }
    batch
}

/// Splits a batch back into its items.
pub fn decode_batch<T: for<'de> Deserialize<'de>>(mut bytes: &[u8]) -> Result<Vec<T>, DecodeError> {
    let mut items = Vec::new();
    while !bytes.is_empty() {
        let (item, rest) =
            postcard::take_from_bytes(bytes).map_err(|e| DecodeError(e.to_string()))?;
        items.push(item);
        bytes = rest;
    }
    Ok(items)
}

#[cfg(test)]
mod tests;
