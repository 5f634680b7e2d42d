//! The live message log: a bounded ring, newest last in memory, shown newest first.

use std::collections::VecDeque;

use crate::bridge::held::HeldPayload;
use crate::bridge::FetchedPayload;
use crate::mqtt::{topic, Message, PublishProperties, QoS};

/// Default number of messages kept.
pub const DEFAULT_CAPACITY: usize = 5_000;

/// Topic and payload bytes kept at most, whatever the count: a broker sending 1 MiB
/// payloads must not make 5,000 of them (5 GiB) live in the page. The newest message is
/// always kept.
pub const MAX_LOG_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedMessage {
    /// Increasing per log; a stable key for the list view.
    pub seq: u64,
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
    /// Wall-clock ms when it arrived.
    pub received_ms: u64,
    /// MQTT 5 properties it carried.
    pub properties: Option<Box<PublishProperties>>,
    /// `payload` is a preview: the whole is held on the session's side.
    pub held: Option<HeldRest>,
}

/// The rest of a payload the log has a preview of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldRest {
    /// Asks the session's side for it ([`crate::bridge::Command::FetchPayloads`]).
    pub key: u64,
    /// Bytes of the whole payload.
    pub size: usize,
    /// The session's side no longer has it (the message left its history first).
    pub lost: bool,
}

impl LoggedMessage {
    /// Bytes of the whole payload, held or here.
    pub fn size(&self) -> usize {
        self.held.map_or(self.payload.len(), |h| h.size)
    }

    /// The key to fetch the rest of the payload with, while it can be fetched.
    pub fn fetchable(&self) -> Option<u64> {
        self.held.filter(|h| !h.lost).map(|h| h.key)
    }
}

#[derive(Debug, Clone)]
pub struct MessageLog {
    capacity: usize,
    entries: VecDeque<LoggedMessage>,
    /// Topic and payload bytes of `entries`.
    bytes: usize,
    next_seq: u64,
    /// Messages that fell off the end of the ring (the user sees this count).
    pub evicted: u64,
}

impl Default for MessageLog {
    fn default() -> Self {
        MessageLog::with_capacity(DEFAULT_CAPACITY)
    }
}

impl MessageLog {
    pub fn with_capacity(capacity: usize) -> MessageLog {
        MessageLog {
            capacity: capacity.max(1),
            entries: VecDeque::new(),
            bytes: 0,
            next_seq: 1,
            evicted: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes the bound; drops the oldest entries if it shrinks.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        self.trim();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total messages ever logged (kept or evicted).
    pub fn total(&self) -> u64 {
        self.next_seq - 1
    }

    /// The newest `seq` (0 when nothing was logged).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Whether more than `threshold` messages arrived in the second before `now_ms`
    /// (looks at no more than `threshold + 1` entries).
    pub fn flooding(&self, now_ms: u64, threshold: usize) -> bool {
        let since = now_ms.saturating_sub(1_000);
        self.entries
            .iter()
            .rev()
            .take(threshold + 1)
            .filter(|m| m.received_ms >= since)
            .count()
            > threshold
    }

    /// Logs `message`, taking its bytes (no copy: payloads can be large and many).
    pub fn push(&mut self, message: Message, now_ms: u64) {
        self.bytes += message.topic.len() + message.payload.len();
        self.entries.push_back(LoggedMessage {
            seq: self.next_seq,
            topic: message.topic,
            payload: message.payload,
            qos: message.qos,
            retain: message.retain,
            received_ms: now_ms,
            properties: message.properties,
            held: None,
        });
        self.next_seq += 1;
        self.trim();
    }

    /// The newest message's payload is a preview of `held` ([`crate::bridge::Update::Held`]
    /// follows its message).
    pub fn mark_held(&mut self, held: HeldPayload) {
        if let Some(last) = self.entries.back_mut() {
            if last.payload.len() < held.size {
                last.held = Some(HeldRest {
                    key: held.key,
                    size: held.size,
                    lost: false,
                });
            }
        }
    }

    /// Puts whole payloads in place of their previews; `missing` ones are lost.
    pub fn fill_held(&mut self, found: Vec<FetchedPayload>, missing: &[u64]) {
        let keys: Vec<u64> = found.iter().map(|f| f.key).collect();
        let (found_at, missing) = (KeyIndex::new(&keys), KeyIndex::new(missing));
        let mut payloads: Vec<Option<Vec<u8>>> =
            found.into_iter().map(|f| Some(f.payload)).collect();
        for entry in self.entries.iter_mut() {
            let Some(held) = entry.held.as_mut() else {
                continue;
            };
            let whole = found_at.find(held.key).and_then(|at| payloads[at].take());
            match whole {
                Some(whole) if whole.len() == held.size => {
                    self.bytes = self.bytes - entry.payload.len() + whole.len();
                    entry.payload = whole;
                    entry.held = None;
                }
                _ if missing.find(held.key).is_some() => held.lost = true,
                _ => {}
            }
        }
        self.trim();
    }

    /// Whether any of `keys` is still a payload the log can fetch.
    pub fn any_fetchable(&self, keys: &[u64]) -> bool {
        let keys = KeyIndex::new(keys);
        self.entries
            .iter()
            .filter_map(LoggedMessage::fetchable)
            .any(|key| keys.find(key).is_some())
    }

    /// Keys of the payloads the log has previews of and can fetch, oldest first.
    pub fn fetchable_keys(&self) -> Vec<u64> {
        self.entries
            .iter()
            .filter_map(LoggedMessage::fetchable)
            .collect()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    pub fn get(&self, seq: u64) -> Option<&LoggedMessage> {
        let first = self.entries.front()?.seq;
        self.entries.get(seq.checked_sub(first)? as usize)
    }

    /// Newest first, up to `limit`, only `seq <= until_seq` (a paused view) and only topics
    /// matching `filter` (MQTT wildcard syntax; empty shows all).
    pub fn newest_first<'a>(
        &'a self,
        filter: &'a str,
        until_seq: u64,
        limit: usize,
    ) -> impl Iterator<Item = &'a LoggedMessage> + 'a {
        let filter = filter.trim();
        self.entries
            .iter()
            .rev()
            .filter(move |m| m.seq <= until_seq)
            .filter(move |m| filter.is_empty() || topic_filter_matches(&m.topic, filter))
            .take(limit)
    }

    /// One window of the newest-first view: how many messages match in all, and the seqs at
    /// the positions `range_of(total)` picks. Without a filter it reads only those rows, so a
    /// scrolled list of 100,000 kept messages costs what is on screen.
    pub fn newest_first_window(
        &self,
        filter: &str,
        until_seq: u64,
        range_of: impl FnOnce(usize) -> std::ops::Range<usize>,
    ) -> (usize, Vec<u64>) {
        let filter = filter.trim();
        if filter.is_empty() {
            // Seqs are contiguous in the ring, so the paused cut-off is an index.
            let Some(first) = self.entries.front().map(|m| m.seq) else {
                return (0, Vec::new());
            };
            let total = if until_seq < first {
                0
            } else {
                self.entries
                    .len()
                    .min(usize::try_from(until_seq - first + 1).unwrap_or(usize::MAX))
            };
            let range = clamp_range(range_of(total), total);
            let seqs = range
                .map(|position| self.entries[total - 1 - position].seq)
                .collect();
            return (total, seqs);
        }
        let matching: Vec<u64> = self
            .newest_first(filter, until_seq, usize::MAX)
            .map(|m| m.seq)
            .collect();
        let range = clamp_range(range_of(matching.len()), matching.len());
        (matching.len(), matching[range].to_vec())
    }

    /// All kept messages, oldest first, as a JSON array (payloads as UTF-8 text when they
    /// are, else base64), for export. Fetch held payloads first: one whose rest could not be
    /// had is exported as its preview, marked `"payload_incomplete": true`.
    pub fn export_json(&self) -> String {
        let items: Vec<serde_json::Value> = self
            .entries
            .iter()
            .map(|m| {
                let mut item = serde_json::json!({
                    "topic": m.topic,
                    "qos": m.qos.as_u8(),
                    "retain": m.retain,
                    "received_ms": m.received_ms,
                    "size": m.size(),
                });
                if m.held.is_some() {
                    item["payload_incomplete"] = true.into();
                }
                match std::str::from_utf8(&m.payload) {
                    Ok(text) => item["payload"] = text.into(),
                    Err(_) => item["payload_base64"] = super::payload::base64(&m.payload).into(),
                }
                item
            })
            .collect();
        crate::json::pretty(&serde_json::Value::Array(items))
    }

    fn trim(&mut self) {
        while self.entries.len() > self.capacity
            || (self.bytes > MAX_LOG_BYTES && self.entries.len() > 1)
        {
            if let Some(old) = self.entries.pop_front() {
                self.bytes -= old.topic.len() + old.payload.len();
            }
            self.evicted += 1;
        }
    }
}

/// Finds keys in a list of them: by halves when they are ascending (the session's side
/// answers in the order it was asked, which is the log's), else one by one. Whether they
/// are is checked once, not per lookup (an export looks up every held message).
struct KeyIndex<'a> {
    keys: &'a [u64],
    ascending: bool,
}

impl<'a> KeyIndex<'a> {
    fn new(keys: &'a [u64]) -> Self {
        KeyIndex {
            keys,
            ascending: keys.is_sorted(),
        }
    }

    /// Where `key` is in the list.
    fn find(&self, key: u64) -> Option<usize> {
        if self.ascending {
            self.keys.binary_search(&key).ok()
        } else {
            self.keys.iter().position(|&k| k == key)
        }
    }
}

fn clamp_range(range: std::ops::Range<usize>, total: usize) -> std::ops::Range<usize> {
    let end = range.end.min(total);
    range.start.min(end)..end
}

/// The message list re-renders at most every this many ms (4 per second): nobody reads
/// faster, and building rows is the UI's main cost.
pub const LIST_INTERVAL_MS: f64 = 250.0;
/// During a flood (more than [`FLOOD_NEW_MESSAGES`] since the last render) once a second:
/// the rows are gone before anyone reads them, and each render costs a frame.
pub const FLOOD_LIST_INTERVAL_MS: f64 = 1_000.0;
pub const FLOOD_NEW_MESSAGES: u64 = 150;

/// How long until the message list is due to re-render (0 or less: now), `elapsed_ms` after
/// its last render with `new_messages` logged since.
pub fn list_render_in(elapsed_ms: f64, new_messages: u64) -> f64 {
    let interval = if new_messages <= FLOOD_NEW_MESSAGES {
        LIST_INTERVAL_MS
    } else {
        FLOOD_LIST_INTERVAL_MS
    };
    interval - elapsed_ms
}

/// The list's turn once the session's thread has said the messages stopped
/// ([`crate::bridge::Update::Quiet`]): the burst is over, so its flood hold ends, but the list
/// still renders at most 4 times a second (a slow stream is told "quiet" after each message).
pub fn list_render_in_when_quiet(elapsed_ms: f64, new_messages: u64) -> f64 {
    list_render_in(elapsed_ms, new_messages.min(FLOOD_NEW_MESSAGES))
}

/// During a flood the counters the messages feed (subscription counts, devices, mesh nodes)
/// are re-rendered at most every this many ms (4 a second) instead of every frame: each
/// frame that changes the page costs its style, layout, paint, commit and the browser's
/// hover hit-test, several ms, which at 60 a second was most of the page's main-thread time
/// (at 10 a second, still about a quarter of its CPU time in a 64 B flood).
pub const FLOOD_COUNTS_INTERVAL_MS: f64 = 250.0;
/// More new messages than this since the counters' last render is a flood (over ~1,200 a
/// second at 60 frames a second).
pub const FLOOD_COUNTS_NEW_MESSAGES: u64 = 20;

/// How long until the message-fed counters are due to re-render (0 or less: now),
/// `elapsed_ms` after their last render with `new_messages` logged since: at once below a
/// flood, else [`FLOOD_COUNTS_INTERVAL_MS`] after the last.
pub fn counts_render_in(elapsed_ms: f64, new_messages: u64) -> f64 {
    if new_messages <= FLOOD_COUNTS_NEW_MESSAGES {
        0.0
    } else {
        FLOOD_COUNTS_INTERVAL_MS - elapsed_ms
    }
}

/// A flood is over once no message has arrived for this long (the list's cadence outside a
/// flood). The list's flood render is then due, so a burst's newest rows show as it ends,
/// not up to a second later. Not shorter: on a loaded page a batch can wait behind a long
/// task for 50 ms or more, and a 50 ms rule (for the counters too) rendered 2.6 times as
/// often in a 64 B flood.
pub const SETTLE_MS: f64 = 250.0;

/// A list render held back by its cadence, `cadence_wait_ms` from its turn (see
/// [`list_render_in`]), with no message for `quiet_ms`: `None` when it is due now, else
/// how many ms until it is looked at again (its turn, or the moment the flood would count
/// as over).
pub fn held_render_recheck_in(cadence_wait_ms: f64, quiet_ms: f64) -> Option<f64> {
    if cadence_wait_ms <= 0.0 || quiet_ms >= SETTLE_MS {
        None
    } else {
        Some(cadence_wait_ms.min(SETTLE_MS - quiet_ms.max(0.0)))
    }
}

/// The view filter: `=<topic>` is that topic alone; a valid MQTT filter matches by MQTT
/// rules; anything else is a plain substring search so typing half a filter still narrows
/// the list.
pub fn topic_filter_matches(topic_name: &str, filter: &str) -> bool {
    if let Some(exact) = filter.strip_prefix('=') {
        topic_name == exact
    } else if is_mqtt_view_filter(filter) {
        topic::matches(topic_name, filter)
    } else {
        topic_name.contains(filter)
    }
}

fn is_mqtt_view_filter(filter: &str) -> bool {
    topic::validate_filter(filter).is_ok() && filter.contains(['+', '#', '/'])
}

/// The view filter that shows `topic` alone: the topic itself where it reads as an MQTT
/// filter with no wildcards (`a/b`), else `=<topic>` (a one-level `status` would be a
/// substring search that also finds `status2` and `a/status`).
pub fn view_filter_for_topic(topic: &str) -> String {
    let plain = is_mqtt_view_filter(topic)
        && !topic.contains(['+', '#'])
        && !topic.starts_with('=')
        && topic.trim() == topic;
    if plain {
        topic.to_owned()
    } else {
        format!("={topic}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(topic: &str) -> Message {
        Message {
            topic: topic.into(),
            payload: b"x".to_vec(),
            qos: QoS::AtMostOnce,
            retain: false,
            dup: false,
            properties: None,
        }
    }

    /// What the log receives for a 4 KiB payload whose rest is held: the message with its
    /// preview, then `Held`.
    fn push_held(log: &mut MessageLog, key: u64, whole: &[u8]) {
        let mut m = msg("big");
        m.payload = whole[..512].to_vec();
        log.push(m, 0);
        log.mark_held(HeldPayload {
            key,
            size: whole.len(),
        });
    }

    #[test]
    fn a_held_payload_shows_its_whole_size_and_is_replaced_by_the_whole_when_it_comes() {
        let mut log = MessageLog::default();
        let whole: Vec<u8> = (0..4096u32).map(|i| b'a' + (i % 26) as u8).collect();
        log.push(msg("small"), 0);
        push_held(&mut log, 2, &whole);
        push_held(&mut log, 3, &whole);
        let seq = log.last_seq() - 1;
        assert_eq!(log.get(seq).unwrap().size(), 4096);
        assert_eq!(log.get(seq).unwrap().payload.len(), 512);
        assert_eq!(log.fetchable_keys(), vec![2, 3]);

        log.fill_held(
            vec![FetchedPayload {
                key: 2,
                payload: whole.clone(),
            }],
            &[3],
        );
        let filled = log.get(seq).unwrap();
        assert_eq!((filled.payload.as_slice(), filled.held), (&whole[..], None));
        let lost = log.get(seq + 1).unwrap();
        assert_eq!(lost.held.map(|h| (h.lost, h.size)), Some((true, 4096)));
        assert_eq!(log.fetchable_keys(), Vec::<u64>::new());

        // A payload that does not match the size it was held with is not taken.
        push_held(&mut log, 4, &whole);
        log.fill_held(
            vec![FetchedPayload {
                key: 4,
                payload: b"other".to_vec(),
            }],
            &[],
        );
        assert_eq!(log.fetchable_keys(), vec![4]);
    }

    #[test]
    fn an_export_says_which_payloads_are_incomplete_and_gives_whole_sizes() {
        let mut log = MessageLog::default();
        let whole = vec![b'y'; 2000];
        push_held(&mut log, 1, &whole);
        push_held(&mut log, 2, &whole);
        log.fill_held(
            vec![FetchedPayload {
                key: 1,
                payload: whole.clone(),
            }],
            &[2],
        );
        let exported: serde_json::Value = serde_json::from_str(&log.export_json()).unwrap();
        assert_eq!(exported[0]["payload"], "y".repeat(2000));
        assert_eq!(exported[0].get("payload_incomplete"), None);
        assert_eq!(exported[1]["size"], 2000);
        assert_eq!(exported[1]["payload"], "y".repeat(512));
        assert_eq!(exported[1]["payload_incomplete"], true);
    }

    #[test]
    fn held_is_only_marked_on_a_message_that_is_a_preview() {
        let mut log = MessageLog::default();
        log.push(msg("whole"), 0);
        // A `Held` for a payload no larger than what the log has is not about this message.
        log.mark_held(HeldPayload { key: 1, size: 1 });
        assert_eq!(log.get(1).unwrap().held, None);
        // On an empty log nothing happens.
        MessageLog::default().mark_held(HeldPayload { key: 1, size: 10 });
    }

    #[test]
    fn huge_payloads_are_bounded_by_bytes_not_only_by_count() {
        let mut log = MessageLog::default();
        let big = Message {
            topic: "flood".into(),
            payload: vec![b'x'; 1024 * 1024],
            qos: QoS::AtMostOnce,
            retain: false,
            dup: false,
            properties: None,
        };
        for _ in 0..200 {
            log.push(big.clone(), 0);
        }
        assert!(log.len() < 64, "{} messages of 1 MiB kept", log.len());
        assert!(log.len() >= 60, "still as many as fit: {}", log.len());
        assert_eq!(log.total(), 200);
        assert_eq!(
            log.evicted as usize,
            200 - log.len(),
            "every dropped one is counted"
        );
        let newest = log.newest_first("", u64::MAX, 1).next().unwrap();
        assert_eq!(newest.seq, 200, "the newest is kept");
        log.clear();
        log.push(big, 0);
        assert_eq!(log.len(), 1);
    }

    #[test]
    fn the_ring_keeps_the_newest_messages_and_counts_what_fell_off() {
        let mut log = MessageLog::with_capacity(3);
        for i in 0..5 {
            log.push(msg(&format!("t/{i}")), i);
        }
        let topics: Vec<_> = log
            .newest_first("", u64::MAX, 10)
            .map(|m| m.topic.clone())
            .collect();
        assert_eq!(topics, ["t/4", "t/3", "t/2"]);
        assert_eq!((log.len(), log.evicted, log.total()), (3, 2, 5));
        assert_eq!(log.get(4).unwrap().topic, "t/3");
        assert!(log.get(1).is_none());
    }

    #[test]
    fn the_view_filter_uses_mqtt_wildcards_or_a_substring() {
        let mut log = MessageLog::default();
        for t in ["a/b/c", "a/x/c", "b/b/c", "a/b"] {
            log.push(msg(t), 0);
        }
        let shown = |f: &str| {
            log.newest_first(f, u64::MAX, 10)
                .map(|m| m.topic.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(shown("a/+/c"), ["a/x/c", "a/b/c"]);
        assert_eq!(shown("a/#"), ["a/b", "a/x/c", "a/b/c"]);
        assert_eq!(shown("x"), ["a/x/c"]);
        assert_eq!(shown(""), ["a/b", "b/b/c", "a/x/c", "a/b/c"]);
        assert_eq!(shown("=a/b"), ["a/b"]);
        assert!(shown("=a").is_empty());
    }

    #[test]
    fn a_topic_picked_in_the_tree_filters_to_that_topic_alone() {
        let mut log = MessageLog::default();
        for t in [
            "status", "status2", "a/status", "a/b", "a/b/c", "=x/y", "x/y",
        ] {
            log.push(msg(t), 0);
        }
        let shown = |topic: &str| {
            log.newest_first(&view_filter_for_topic(topic), u64::MAX, 10)
                .map(|m| m.topic.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            view_filter_for_topic("a/b"),
            "a/b",
            "readable where it can be"
        );
        assert_eq!(view_filter_for_topic("status"), "=status");
        for topic in ["status", "a/b", "=x/y", "x/y"] {
            assert_eq!(shown(topic), [topic], "{topic}");
        }
    }

    #[test]
    fn a_flood_is_more_than_the_threshold_within_the_last_second() {
        let mut log = MessageLog::default();
        for i in 0..10 {
            log.push(msg("t"), 10_000 + i);
        }
        assert!(log.flooding(10_500, 9));
        assert!(!log.flooding(10_500, 10));
        assert!(!log.flooding(12_000, 5), "a burst that is over is no flood");
    }

    #[test]
    fn a_paused_view_shows_only_what_arrived_before_the_pause() {
        let mut log = MessageLog::default();
        log.push(msg("old"), 0);
        let paused_at = log.last_seq();
        log.push(msg("new"), 1);
        let shown: Vec<_> = log
            .newest_first("", paused_at, 10)
            .map(|m| m.topic.clone())
            .collect();
        assert_eq!(shown, ["old"]);
        assert_eq!(log.len(), 2, "nothing is lost while paused");
    }

    #[test]
    fn shrinking_the_capacity_drops_the_oldest_and_export_is_json() {
        let mut log = MessageLog::default();
        log.push(msg("a"), 1);
        log.push(
            Message {
                payload: vec![0xff],
                ..msg("b")
            },
            2,
        );
        let exported: serde_json::Value = serde_json::from_str(&log.export_json()).unwrap();
        assert_eq!(exported[0]["payload"], "x");
        assert_eq!(exported[1]["payload_base64"], "/w==");
        log.set_capacity(1);
        assert_eq!(log.newest_first("", u64::MAX, 5).count(), 1);
    }

    #[test]
    fn a_window_of_the_newest_first_view_reads_only_its_rows() {
        let mut log = MessageLog::with_capacity(1_000);
        for i in 0..1_200 {
            log.push(msg(if i % 3 == 0 { "a/x" } else { "b/y" }), i);
        }
        // 200 evicted: seqs 201..=1200 kept, newest first.
        let (total, seqs) = log.newest_first_window("", u64::MAX, |n| 10..n.min(13));
        assert_eq!(total, 1_000);
        assert_eq!(seqs, vec![1_190, 1_189, 1_188]);
        // Paused at seq 700: the view ends there, newer ones are kept but not counted.
        let (total, seqs) = log.newest_first_window("", 700, |_| 0..2);
        assert_eq!((total, seqs), (500, vec![700, 699]));
        assert_eq!(log.newest_first_window("", 100, |_| 0..5), (0, vec![]));
        // A range past the end is cut to what exists.
        let (_, tail) = log.newest_first_window("", u64::MAX, |n| n - 2..n + 50);
        assert_eq!(tail, vec![202, 201]);
        // With a filter the window is over the matching messages only; the same order as
        // newest_first.
        let (total, seqs) = log.newest_first_window("a/#", u64::MAX, |_| 1..3);
        let expected: Vec<u64> = log
            .newest_first("a/#", u64::MAX, 3)
            .skip(1)
            .map(|m| m.seq)
            .collect();
        assert_eq!(total, log.newest_first("a/#", u64::MAX, usize::MAX).count());
        assert_eq!(seqs, expected);
        assert!(seqs.iter().all(|s| log.get(*s).unwrap().topic == "a/x"));
    }

    #[test]
    fn the_list_renders_four_times_a_second_and_once_a_second_in_a_flood() {
        let list_render_due =
            |elapsed_ms, new_messages| list_render_in(elapsed_ms, new_messages) <= 0.0;
        assert!(!list_render_due(100.0, 1));
        assert!(list_render_due(250.0, 1));
        assert!(list_render_due(250.0, FLOOD_NEW_MESSAGES));
        assert!(!list_render_due(250.0, FLOOD_NEW_MESSAGES + 1));
        assert!(!list_render_due(999.0, 10_000));
        assert!(list_render_due(1_000.0, 10_000));
    }

    #[test]
    fn once_the_messages_stop_the_flood_hold_ends_but_not_the_four_a_second_cap() {
        // A flood's list, held for a second, is due 250 ms after its last render...
        assert!(list_render_in(300.0, 10_000) > 0.0);
        assert!(list_render_in_when_quiet(300.0, 10_000) <= 0.0);
        assert_eq!(list_render_in_when_quiet(100.0, 10_000), 150.0);
        // ...and a slow stream, told "quiet" after each message, still waits for its turn.
        assert_eq!(list_render_in_when_quiet(100.0, 1), 150.0);
        assert!(list_render_in_when_quiet(250.0, 1) <= 0.0);
    }

    #[test]
    fn a_held_render_waits_for_its_turn_while_messages_flow_and_shows_when_they_stop() {
        assert_eq!(held_render_recheck_in(0.0, 0.0), None, "its turn");
        assert_eq!(held_render_recheck_in(-5.0, 10.0), None);
        // Messages still flowing: looked at again when the burst could be over, or at its
        // turn if that comes first.
        assert_eq!(held_render_recheck_in(900.0, 16.0), Some(SETTLE_MS - 16.0));
        assert_eq!(held_render_recheck_in(900.0, 0.0), Some(SETTLE_MS));
        assert_eq!(held_render_recheck_in(900.0, 200.0), Some(50.0));
        assert_eq!(held_render_recheck_in(10.0, 16.0), Some(10.0));
        // No message for SETTLE_MS: the burst is over and the render is due, whatever its
        // cadence says.
        assert_eq!(held_render_recheck_in(900.0, SETTLE_MS), None);
        assert_eq!(held_render_recheck_in(234.0, f64::INFINITY), None);
    }

    #[test]
    fn counters_follow_every_frame_until_a_flood_then_four_times_a_second() {
        assert_eq!(counts_render_in(16.0, 1), 0.0, "a trickle shows at once");
        assert_eq!(counts_render_in(16.0, FLOOD_COUNTS_NEW_MESSAGES), 0.0);
        assert_eq!(counts_render_in(16.0, FLOOD_COUNTS_NEW_MESSAGES + 1), 234.0);
        assert_eq!(counts_render_in(249.0, 5_000), 1.0);
        assert!(counts_render_in(250.0, 5_000) <= 0.0);
        assert!(
            counts_render_in(f64::INFINITY, 5_000) <= 0.0,
            "the first render"
        );
    }
}
