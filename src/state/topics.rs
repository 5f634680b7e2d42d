//! The topic tree: every topic seen, with its last value, message count, rate, last seen and
//! last size.

use std::collections::{BTreeMap, BTreeSet};

/// Topics remembered at most; the least recently seen go first.
pub const MAX_TOPICS: usize = 5_000;

/// Bytes of a topic's last payload kept for its value column: a line's worth, so a flood on
/// one topic copies a few bytes per message and allocates nothing.
pub const VALUE_BYTES: usize = 96;
/// Bytes of a binary value shown, in hex.
const VALUE_HEX_BYTES: usize = 16;

/// Window of the rate estimate.
const RATE_WINDOW_MS: u64 = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct TopicStat {
    pub count: u64,
    pub last_seen_ms: u64,
    pub last_size: usize,
    pub retained: bool,
    /// The first [`VALUE_BYTES`] of the last payload.
    last_value: Vec<u8>,
    window_start_ms: u64,
    window_count: u64,
    /// Messages per second over the last complete window.
    previous_rate: f64,
    /// Whether a window has completed (before that, the current one is the estimate).
    has_previous: bool,
}

impl TopicStat {
    fn count_one(&mut self, payload: &[u8], retained: bool, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.window_start_ms);
        if elapsed >= RATE_WINDOW_MS {
            self.previous_rate = if elapsed >= 2 * RATE_WINDOW_MS {
                0.0
            } else {
                self.window_count as f64 * 1000.0 / elapsed as f64
            };
            self.window_start_ms = now_ms;
            self.window_count = 0;
            self.has_previous = true;
        }
        self.window_count += 1;
        self.count += 1;
        self.last_seen_ms = now_ms;
        self.last_size = payload.len();
        self.retained = retained;
        self.last_value.clear();
        self.last_value
            .extend_from_slice(&payload[..payload.len().min(VALUE_BYTES)]);
    }

    /// The last payload on one line: text as it came (line breaks and tabs as spaces), any
    /// other bytes as hex; "…" when there is more than is shown.
    pub fn value_preview(&self) -> String {
        let bytes = &self.last_value[..];
        let cut = self.last_size > bytes.len();
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => Some(text),
            // A character cut by the prefix is still text.
            Err(e) if cut && e.error_len().is_none() => {
                std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()
            }
            Err(_) => None,
        }
        .filter(|t| {
            !t.chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        });
        let (mut line, more) = match text {
            Some(text) => (text.replace(['\n', '\r', '\t'], " "), cut),
            None => {
                let shown = &bytes[..bytes.len().min(VALUE_HEX_BYTES)];
                // At most 16 bytes: `hex` gives one line.
                (
                    crate::state::payload::hex(shown),
                    cut || bytes.len() > shown.len(),
                )
            }
        };
        if more {
            line.push('…');
        }
        line
    }

    /// Messages per second: the last complete window, or the current one once it is longer.
    pub fn rate(&self, now_ms: u64) -> f64 {
        let elapsed = now_ms.saturating_sub(self.window_start_ms);
        if elapsed >= 2 * RATE_WINDOW_MS {
            return 0.0;
        }
        if elapsed >= RATE_WINDOW_MS || (!self.has_previous && elapsed >= 1_000) {
            return self.window_count as f64 * 1000.0 / elapsed as f64;
        }
        self.previous_rate
    }
}

#[derive(Debug, Default, Clone)]
pub struct TopicTree {
    topics: BTreeMap<String, TopicStat>,
}

impl TopicTree {
    pub fn len(&self) -> usize {
        self.topics.len()
    }
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }
    pub fn get(&self, topic: &str) -> Option<&TopicStat> {
        self.topics.get(topic)
    }

    pub fn record(&mut self, topic: &str, payload: &[u8], retained: bool, now_ms: u64) {
        // The usual case, a topic seen before, allocates nothing.
        if let Some(stat) = self.topics.get_mut(topic) {
            stat.count_one(payload, retained, now_ms);
            return;
        }
        if self.topics.len() >= MAX_TOPICS {
            self.evict_oldest();
        }
        let stat = self.topics.entry(topic.to_string()).or_insert(TopicStat {
            count: 0,
            last_seen_ms: now_ms,
            last_size: 0,
            retained,
            last_value: Vec::new(),
            window_start_ms: now_ms,
            window_count: 0,
            previous_rate: 0.0,
            has_previous: false,
        });
        stat.count_one(payload, retained, now_ms);
    }

    /// Rows in tree order, every branch open: see [`TopicTree::rows_with`].
    pub fn rows(&self) -> Vec<TreeRow<'_>> {
        self.rows_with(&BTreeSet::new())
    }

    /// Rows in tree order. Parent levels that carry no message of their own appear once as
    /// branches; a branch whose path (`a/b` for the `b` under `a`) is in `collapsed` shows how
    /// many topics it holds instead of them. Labels and paths borrow from the topics: the
    /// whole tree is walked once a second while it is shown.
    pub fn rows_with(&self, collapsed: &BTreeSet<String>) -> Vec<TreeRow<'_>> {
        let mut rows = Vec::new();
        let mut previous: Vec<&str> = Vec::new();
        let mut topics = self.topics.iter().peekable();
        while let Some((topic, stat)) = topics.next() {
            let levels: Vec<&str> = topic.split('/').collect();
            let common = previous
                .iter()
                .zip(&levels)
                .take_while(|(a, b)| a == b)
                .count();
            let last = levels.len() - 1;
            let mut closed_at = None;
            for depth in common..last {
                // The path up to and with this level: a prefix of the topic.
                let path_len = levels[..=depth].iter().map(|l| l.len() + 1).sum::<usize>() - 1;
                let path = &topic[..path_len];
                let is_collapsed = collapsed.contains(path);
                let mut hidden = 0;
                if is_collapsed {
                    // This topic and every later one under the branch.
                    hidden = 1;
                    let under = |t: &str| t.strip_prefix(path).is_some_and(|r| r.starts_with('/'));
                    while topics.next_if(|(t, _)| under(t)).is_some() {
                        hidden += 1;
                    }
                }
                rows.push(TreeRow {
                    depth,
                    label: levels[depth],
                    kind: RowKind::Branch { path, hidden },
                });
                if is_collapsed {
                    closed_at = Some(depth);
                    break;
                }
            }
            if let Some(depth) = closed_at {
                previous = levels[..=depth].to_vec();
                continue;
            }
            rows.push(TreeRow {
                depth: last,
                label: levels[last],
                kind: RowKind::Topic { topic, stat },
            });
            previous = levels;
        }
        rows
    }

    pub fn clear(&mut self) {
        self.topics.clear();
    }

    fn evict_oldest(&mut self) {
        if let Some(oldest) = self
            .topics
            .iter()
            .min_by_key(|(_, s)| s.last_seen_ms)
            .map(|(t, _)| t.clone())
        {
            self.topics.remove(&oldest);
        }
    }
}

#[derive(Debug, PartialEq)]
pub struct TreeRow<'a> {
    pub depth: usize,
    /// This row's level of the topic.
    pub label: &'a str,
    pub kind: RowKind<'a>,
}

#[derive(Debug, PartialEq)]
pub enum RowKind<'a> {
    /// A topic ends here.
    Topic { topic: &'a str, stat: &'a TopicStat },
    /// A level with no message of its own: the path to close it by, and the topics it hides
    /// when closed (0 when open).
    Branch { path: &'a str, hidden: usize },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_is_counted_with_its_last_size_and_time() {
        let mut tree = TopicTree::default();
        tree.record("a/b", b"abc", false, 1_000);
        tree.record("a/b", b"1234567", true, 2_000);
        let stat = tree.get("a/b").unwrap();
        assert_eq!(
            (stat.count, stat.last_size, stat.last_seen_ms, stat.retained),
            (2, 7, 2_000, true)
        );
    }

    #[test]
    fn the_last_value_shows_on_one_line_as_text_or_hex_with_a_mark_when_cut() {
        let mut tree = TopicTree::default();
        let mut value = |payload: &[u8]| {
            tree.record("v", payload, false, 0);
            tree.get("v").unwrap().value_preview()
        };
        assert_eq!(value(b"21.5"), "21.5");
        assert_eq!(
            value(b"{\"t\": 21.5,\n \"u\": \"C\"}"),
            "{\"t\": 21.5,  \"u\": \"C\"}"
        );
        assert_eq!(
            value(b"<b>hi</b>"),
            "<b>hi</b>",
            "markup is text, shown as text"
        );
        assert_eq!(value(&[0, 1, 0xfe]), "00 01 fe");
        assert_eq!(value(&[7; 17]), format!("{}…", ["07"; 16].join(" ")));
        let long = "é".repeat(100);
        let shown = value(long.as_bytes());
        assert_eq!(shown, format!("{}…", "é".repeat(VALUE_BYTES / 2)));
        // Cut inside a character: the whole characters before it are shown.
        let odd = format!("a{long}");
        assert_eq!(
            value(odd.as_bytes()),
            format!("a{}…", "é".repeat(VALUE_BYTES / 2 - 1))
        );
        assert_eq!(value(b""), "");
        assert_eq!(tree.get("v").unwrap().last_size, 0);
    }

    #[test]
    fn the_rate_is_messages_per_second_over_the_last_window_and_decays_to_zero() {
        let mut tree = TopicTree::default();
        for i in 0..20 {
            tree.record("t", b"1", false, i * 500); // 2 per second for 10 s
        }
        tree.record("t", b"1", false, 10_000);
        assert!((tree.get("t").unwrap().rate(10_000) - 2.0).abs() < 0.01);
        assert_eq!(tree.get("t").unwrap().rate(40_000), 0.0);
        let mut fresh = TopicTree::default();
        for i in 0..6 {
            fresh.record("u", b"1", false, i * 500);
        }
        assert!(
            (fresh.get("u").unwrap().rate(3_000) - 2.0).abs() < 0.01,
            "estimated before the first window ends"
        );
    }

    #[test]
    fn rows_form_a_tree_with_shared_parents_shown_once() {
        let mut tree = TopicTree::default();
        for t in ["sensors/a/temp", "sensors/a/hum", "sensors/b/temp", "x"] {
            tree.record(t, b"1", false, 0);
        }
        let rows: Vec<(usize, String, bool)> = tree
            .rows()
            .into_iter()
            .map(|r| {
                let is_topic = matches!(r.kind, RowKind::Topic { .. });
                (r.depth, r.label.to_string(), is_topic)
            })
            .collect();
        assert_eq!(
            rows,
            [
                (0, "sensors".into(), false),
                (1, "a".into(), false),
                (2, "hum".into(), true),
                (2, "temp".into(), true),
                (1, "b".into(), false),
                (2, "temp".into(), true),
                (0, "x".into(), true),
            ]
        );
    }

    #[test]
    fn a_collapsed_branch_shows_how_many_topics_it_holds_instead_of_them() {
        let mut tree = TopicTree::default();
        for t in [
            "sensors/a/temp",
            "sensors/a/hum",
            "sensors/a/x/deep",
            "sensors/ab/temp",
            "sensors/b/temp",
            "x",
        ] {
            tree.record(t, b"1", false, 0);
        }
        let shown = |collapsed: &[&str]| -> Vec<(usize, String, usize)> {
            let collapsed = collapsed.iter().map(|c| c.to_string()).collect();
            tree.rows_with(&collapsed)
                .into_iter()
                .map(|r| {
                    let hidden = match r.kind {
                        RowKind::Branch { hidden, .. } => hidden,
                        RowKind::Topic { .. } => usize::MAX,
                    };
                    (r.depth, r.label.to_string(), hidden)
                })
                .collect()
        };
        let leaf = usize::MAX;
        assert_eq!(
            shown(&["sensors/a"]),
            [
                (0, "sensors".into(), 0),
                (1, "a".into(), 3),
                (1, "ab".into(), 0),
                (2, "temp".into(), leaf),
                (1, "b".into(), 0),
                (2, "temp".into(), leaf),
                (0, "x".into(), leaf),
            ],
            "sensors/ab is not under sensors/a"
        );
        assert_eq!(
            shown(&["sensors"]),
            [(0, "sensors".into(), 5), (0, "x".into(), leaf)]
        );
        assert_eq!(tree.rows_with(&Default::default()), tree.rows());
        let paths: Vec<String> = tree
            .rows()
            .into_iter()
            .filter_map(|r| match r.kind {
                RowKind::Branch { path, .. } => Some(path.to_string()),
                RowKind::Topic { .. } => None,
            })
            .collect();
        assert_eq!(
            paths,
            [
                "sensors",
                "sensors/a",
                "sensors/a/x",
                "sensors/ab",
                "sensors/b"
            ]
        );
    }

    #[test]
    fn the_tree_is_bounded_by_forgetting_the_least_recently_seen() {
        let mut tree = TopicTree::default();
        for i in 0..MAX_TOPICS as u64 + 1 {
            tree.record(&format!("t/{i}"), b"1", false, i);
        }
        assert_eq!(tree.len(), MAX_TOPICS);
        assert!(tree.get("t/0").is_none());
    }
}
