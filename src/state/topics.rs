//! The topic tree: every topic seen, with message count, rate, last seen and last size.

use std::collections::BTreeMap;

/// Topics remembered at most; the least recently seen go first.
pub const MAX_TOPICS: usize = 5_000;

/// Window of the rate estimate.
const RATE_WINDOW_MS: u64 = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct TopicStat {
    pub count: u64,
    pub last_seen_ms: u64,
    pub last_size: usize,
    pub retained: bool,
    window_start_ms: u64,
    window_count: u64,
    /// Messages per second over the last complete window.
    previous_rate: f64,
    /// Whether a window has completed (before that, the current one is the estimate).
    has_previous: bool,
}

impl TopicStat {
    fn count_one(&mut self, size: usize, retained: bool, now_ms: u64) {
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
        self.last_size = size;
        self.retained = retained;
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

    pub fn record(&mut self, topic: &str, size: usize, retained: bool, now_ms: u64) {
        // The usual case, a topic seen before, allocates nothing.
        if let Some(stat) = self.topics.get_mut(topic) {
            stat.count_one(size, retained, now_ms);
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
            window_start_ms: now_ms,
            window_count: 0,
            previous_rate: 0.0,
            has_previous: false,
        });
        stat.count_one(size, retained, now_ms);
    }

    /// Rows in tree order: (depth, label, full topic if a topic ends here, stat).
    /// Parent levels that carry no message of their own appear once as headings.
    pub fn rows(&self) -> Vec<TreeRow<'_>> {
        let mut rows = Vec::new();
        let mut previous: Vec<&str> = Vec::new();
        for (topic, stat) in &self.topics {
            let levels: Vec<&str> = topic.split('/').collect();
            let common = previous
                .iter()
                .zip(&levels)
                .take_while(|(a, b)| a == b)
                .count();
            let last = levels.len() - 1;
            for (depth, label) in levels.iter().enumerate().take(last).skip(common) {
                rows.push(TreeRow {
                    depth,
                    label: label.to_string(),
                    topic: None,
                    stat: None,
                });
            }
            rows.push(TreeRow {
                depth: levels.len() - 1,
                label: levels[levels.len() - 1].to_string(),
                topic: Some(topic.as_str()),
                stat: Some(stat),
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
    pub label: String,
    pub topic: Option<&'a str>,
    pub stat: Option<&'a TopicStat>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_is_counted_with_its_last_size_and_time() {
        let mut tree = TopicTree::default();
        tree.record("a/b", 3, false, 1_000);
        tree.record("a/b", 7, true, 2_000);
        let stat = tree.get("a/b").unwrap();
        assert_eq!(
            (stat.count, stat.last_size, stat.last_seen_ms, stat.retained),
            (2, 7, 2_000, true)
        );
    }

    #[test]
    fn the_rate_is_messages_per_second_over_the_last_window_and_decays_to_zero() {
        let mut tree = TopicTree::default();
        for i in 0..20 {
            tree.record("t", 1, false, i * 500); // 2 per second for 10 s
        }
        tree.record("t", 1, false, 10_000);
        assert!((tree.get("t").unwrap().rate(10_000) - 2.0).abs() < 0.01);
        assert_eq!(tree.get("t").unwrap().rate(40_000), 0.0);
        let mut fresh = TopicTree::default();
        for i in 0..6 {
            fresh.record("u", 1, false, i * 500);
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
            tree.record(t, 1, false, 0);
        }
        let rows: Vec<(usize, String, bool)> = tree
            .rows()
            .into_iter()
            .map(|r| (r.depth, r.label, r.topic.is_some()))
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
    fn the_tree_is_bounded_by_forgetting_the_least_recently_seen() {
        let mut tree = TopicTree::default();
        for i in 0..MAX_TOPICS as u64 + 1 {
            tree.record(&format!("t/{i}"), 1, false, i);
        }
        assert_eq!(tree.len(), MAX_TOPICS);
        assert!(tree.get("t/0").is_none());
    }
}
