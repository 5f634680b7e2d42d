//! Large payloads stay on the session's side. The UI's message log gets the first
//! [`PREVIEW_BYTES`] of a payload over [`HOLD_OVER_BYTES`] and the size of the whole; the
//! rest is kept here until the UI asks for it (a message opened in full, an export) or the
//! message leaves the UI's history. A flood of 4 KiB messages then crosses to the page's
//! thread as a flood of 512-byte previews: the page copies, decodes, allocates and collects
//! an eighth of the bytes.
//!
//! Payloads the UI reads whole as they arrive are never cut: those on the topics the device
//! list parses (up to the 64 KiB it reads) and MQTT 5 messages with correlation data
//! (responses to requests), see [`crate::state::reads_whole_payload`]. Plain Rust, tested
//! natively.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::FetchedPayload;
use crate::mqtt::Message;
use crate::state::messages::{DEFAULT_CAPACITY, MAX_LOG_BYTES};

/// Payloads up to this size go to the UI whole: a round trip for the rest is not worth it.
pub const HOLD_OVER_BYTES: usize = 1024;
/// How much of a held payload the UI gets at once (about what a list row shows).
pub const PREVIEW_BYTES: usize = 512;

/// A message's payload was cut to a preview; `key` asks for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldPayload {
    pub key: u64,
    /// Bytes of the whole payload.
    pub size: usize,
}

/// The held payloads, oldest first, for the newest `keep` messages.
#[derive(Debug)]
pub struct HeldPayloads {
    entries: VecDeque<(u64, Vec<u8>)>,
    bytes: usize,
    /// Messages seen so far (held or not): the key of the next one is this plus one.
    messages: u64,
    keep: usize,
}

impl Default for HeldPayloads {
    fn default() -> Self {
        HeldPayloads {
            entries: VecDeque::new(),
            bytes: 0,
            messages: 0,
            keep: DEFAULT_CAPACITY,
        }
    }
}

impl HeldPayloads {
    /// Cuts `message`'s payload to a preview if it is large and the UI does not read it
    /// whole, and keeps the rest; says what was held. Every message counts towards the UI's
    /// history, held or not.
    pub fn observe(&mut self, message: &mut Message) -> Option<HeldPayload> {
        self.messages += 1;
        if message.payload.len() <= HOLD_OVER_BYTES || crate::state::reads_whole_payload(message) {
            self.trim();
            return None;
        }
        let key = self.messages;
        let size = message.payload.len();
        let preview = message.payload[..preview_end(&message.payload)].to_vec();
        let whole = std::mem::replace(&mut message.payload, preview);
        self.bytes += whole.len();
        self.entries.push_back((key, whole));
        self.trim();
        Some(HeldPayload { key, size })
    }

    /// Hands over the whole payloads of `keys` that are still held (the UI keeps them from
    /// now on) and the keys that are not.
    pub fn take(&mut self, keys: &[u64]) -> (Vec<FetchedPayload>, Vec<u64>) {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for &key in keys {
            match self.entries.binary_search_by_key(&key, |(k, _)| *k) {
                Ok(at) => {
                    let (key, payload) = self.entries.remove(at).expect("found at this index");
                    self.bytes -= payload.len();
                    found.push(FetchedPayload { key, payload });
                }
                Err(_) => missing.push(key),
            }
        }
        (found, missing)
    }

    /// The UI keeps its newest `messages` messages: hold no payload of an older one.
    pub fn keep(&mut self, messages: usize) {
        self.keep = messages.max(1);
        self.trim();
    }

    /// The UI cleared its history.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Payloads held, and their bytes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn trim(&mut self) {
        let oldest_kept = self.messages.saturating_sub(self.keep as u64) + 1;
        while let Some((key, payload)) = self.entries.front() {
            // The UI's own bound on bytes applies here too; the newest is always held.
            let over = self.bytes > MAX_LOG_BYTES && self.entries.len() > 1;
            if *key >= oldest_kept && !over {
                break;
            }
            self.bytes -= payload.len();
            self.entries.pop_front();
        }
    }
}

/// Where the preview ends: [`PREVIEW_BYTES`], moved back to the start of a UTF-8 character
/// it would split (a text preview then ends cleanly; binary loses at most three bytes).
fn preview_end(payload: &[u8]) -> usize {
    let mut end = PREVIEW_BYTES.min(payload.len());
    while end > 0 && end < payload.len() && payload[end] & 0xC0 == 0x80 && PREVIEW_BYTES - end < 3 {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::{PublishProperties, QoS};

    fn message(topic: &str, payload: Vec<u8>) -> Message {
        Message {
            topic: topic.into(),
            payload,
            qos: QoS::AtMostOnce,
            retain: false,
            dup: false,
            properties: None,
        }
    }

    #[test]
    fn a_large_payload_is_cut_to_a_preview_and_its_whole_is_handed_over_once() {
        let mut held = HeldPayloads::default();
        let whole: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        let mut m = message("bench/x", whole.clone());
        let cut = held.observe(&mut m);
        assert_eq!(cut, Some(HeldPayload { key: 1, size: 4096 }));
        assert_eq!(m.payload, whole[..PREVIEW_BYTES]);
        assert_eq!((held.len(), held.bytes()), (1, 4096));

        assert_eq!(
            held.take(&[1]),
            (
                vec![FetchedPayload {
                    key: 1,
                    payload: whole
                }],
                vec![]
            )
        );
        assert_eq!(held.take(&[1]), (vec![], vec![1]));
        assert!(held.is_empty());
        assert_eq!(held.bytes(), 0);
    }

    #[test]
    fn small_payloads_go_whole_but_count_as_messages() {
        let mut held = HeldPayloads::default();
        let mut small = message("a", vec![b'x'; HOLD_OVER_BYTES]);
        assert_eq!(held.observe(&mut small), None);
        assert_eq!(small.payload.len(), HOLD_OVER_BYTES);
        let mut large = message("a", vec![b'x'; HOLD_OVER_BYTES + 1]);
        // The UI logged the small one as its message 1: keys follow the UI's count.
        assert_eq!(
            held.observe(&mut large),
            Some(HeldPayload {
                key: 2,
                size: HOLD_OVER_BYTES + 1
            })
        );
    }

    #[test]
    fn payloads_the_ui_reads_whole_are_never_cut() {
        let mut held = HeldPayloads::default();
        let big = vec![b' '; 8 * 1024];
        for topic in [
            "devices/d1/status",
            "sensors/s1/temp",
            "msh/US/2/json/LongFast/!1",
        ] {
            let mut m = message(topic, big.clone());
            assert_eq!(held.observe(&mut m), None, "{topic}");
            assert_eq!(m.payload.len(), big.len());
        }
        let mut response = message("replies/1", big.clone());
        response.properties = Some(Box::new(PublishProperties {
            correlation_data: Some(b"r1".to_vec()),
            ..PublishProperties::default()
        }));
        assert_eq!(held.observe(&mut response), None);
        // A topic that only looks similar is not one the device list reads.
        let mut other = message("device/d1/status", big);
        assert!(held.observe(&mut other).is_some());
        // Nor is a payload larger than the device list reads.
        let mut huge = message("devices/d1/status", vec![b' '; 64 * 1024 + 1]);
        assert!(held.observe(&mut huge).is_some());
        assert_eq!(huge.payload.len(), PREVIEW_BYTES);
    }

    #[test]
    fn a_preview_does_not_split_a_utf8_character() {
        let mut held = HeldPayloads::default();
        // 'é' is two bytes: 511 ASCII bytes put one across the 512-byte line.
        let mut text = "a".repeat(PREVIEW_BYTES - 1);
        text.push_str(&"é".repeat(1000));
        let mut m = message("t", text.clone().into_bytes());
        held.observe(&mut m);
        assert_eq!(m.payload.len(), PREVIEW_BYTES - 1);
        assert!(std::str::from_utf8(&m.payload).is_ok());
        // Binary data is cut at most three bytes short.
        let mut binary = message("t", vec![0x80; 2000]);
        held.observe(&mut binary);
        assert_eq!(binary.payload.len(), PREVIEW_BYTES - 3);
    }

    #[test]
    fn payloads_of_messages_older_than_the_ui_keeps_are_dropped() {
        let mut held = HeldPayloads::default();
        held.keep(3);
        for _ in 0..5 {
            held.observe(&mut message("t", vec![1; 2000]));
        }
        assert_eq!(held.len(), 3);
        assert_eq!(
            held.take(&[1, 2, 3]),
            (
                vec![FetchedPayload {
                    key: 3,
                    payload: vec![1; 2000]
                }],
                vec![1, 2]
            )
        );
        // Small messages push held ones out too: the UI counts them.
        held.observe(&mut message("t", vec![1; 10]));
        held.observe(&mut message("t", vec![1; 10]));
        assert_eq!(held.len(), 1);
        assert_eq!(held.take(&[5]).0.len(), 1);
        // Keeping fewer drops at once; clearing drops all.
        for _ in 0..3 {
            held.observe(&mut message("t", vec![1; 2000]));
        }
        held.keep(1);
        assert_eq!(held.len(), 1);
        held.clear();
        assert!(held.is_empty());
        assert_eq!(held.bytes(), 0);
    }

    #[test]
    fn held_bytes_are_bounded_like_the_ui_history() {
        let mut held = HeldPayloads::default();
        let mib = vec![0u8; 1024 * 1024];
        for _ in 0..70 {
            held.observe(&mut message("t", mib.clone()));
        }
        assert!(held.bytes() <= MAX_LOG_BYTES);
        assert_eq!(held.len(), MAX_LOG_BYTES / mib.len());
    }
}
