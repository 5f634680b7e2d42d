//! Topic names and filters (MQTT 3.1.1 §4.7): validation and matching.
//!
//! Our own code because `mqttbytes::matches` panics on multibyte text and its validators
//! accept `a+`, `a/b+/c`, `""` and NUL (all seen with mqttbytes 0.6). Everything here works on `str`
//! levels split at `/`, so multibyte characters are never sliced.

/// Longest topic or filter MQTT can encode (a UTF-8 string with a 16-bit length).
pub const MAX_TOPIC_BYTES: usize = 65_535;

fn check_common(s: &str, what: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if s.len() > MAX_TOPIC_BYTES {
        return Err(format!(
            "{what} is {} bytes long; MQTT allows at most 65,535",
            s.len()
        ));
    }
    if s.contains('\0') {
        return Err(format!(
            "{what} must not contain the NUL character (U+0000)"
        ));
    }
    Ok(())
}

/// A topic name one may publish to: non-empty, no wildcards, no NUL, at most 65,535 bytes.
pub fn validate_topic(topic: &str) -> Result<(), String> {
    check_common(topic, "topic")?;
    if topic.contains(['+', '#']) {
        return Err(
            "wildcards ('+', '#') are only allowed in subscriptions, not in a publish topic".into(),
        );
    }
    Ok(())
}

/// A topic filter one may subscribe to: `+` only as a whole level, `#` only as the whole
/// last level, no NUL, non-empty, at most 65,535 bytes.
pub fn validate_filter(filter: &str) -> Result<(), String> {
    check_common(filter, "topic filter")?;
    if filter.starts_with("$share/") || filter == "$share" {
        let Some((group, inner)) = shared_group(filter) else {
            return Err(
                "a shared subscription is $share/<group>/<filter> (e.g. '$share/g1/sensors/#')"
                    .into(),
            );
        };
        if group.contains(['+', '#']) {
            return Err(format!(
                "the share name '{group}' cannot hold '+' or '#' (MQTT-4.8.2-2)"
            ));
        }
        return validate_filter(inner);
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        if level.contains('#') {
            if level != "#" {
                return Err(format!(
                    "'#' must be a whole level (e.g. 'a/#', not '{level}')"
                ));
            }
            if !last {
                return Err("'#' must be the last level (e.g. 'a/b/#')".into());
            }
        }
        if level.contains('+') && level != "+" {
            return Err(format!(
                "'+' must be a whole level (e.g. 'a/+/c', not '{level}')"
            ));
        }
    }
    Ok(())
}

/// `$share/<group>/<filter>` → `(group, filter)`; `None` for any other filter (or a shared
/// one with an empty group or filter).
pub fn shared_group(filter: &str) -> Option<(&str, &str)> {
    let rest = filter.strip_prefix("$share/")?;
    let (group, inner) = rest.split_once('/')?;
    (!group.is_empty() && !inner.is_empty()).then_some((group, inner))
}

/// Does `topic` match `filter`? A shared subscription matches as its inner filter (the
/// message arrives on its own topic, never on `$share/…`). Both are assumed valid; invalid input never panics, it just
/// matches by the same level rules. Topics starting with `$` are not matched by a filter
/// whose first level is a wildcard (MQTT-4.7.2-1).
pub fn matches(topic: &str, filter: &str) -> bool {
    let filter = shared_group(filter).map_or(filter, |(_, inner)| inner);
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for f in filter.split('/') {
        if f == "#" {
            // `a/#` matches `a` itself and everything below it.
            return true;
        }
        match topic_levels.next() {
            None => return false,
            Some(t) => {
                if f != "+" && f != t {
                    return false;
                }
            }
        }
    }
    topic_levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_topic_rejects_wildcards_empty_nul_and_oversize() {
        assert!(validate_topic("a/b").is_ok());
        assert!(validate_topic("/").is_ok());
        assert!(validate_topic("é/ü/日本").is_ok());
        assert!(validate_topic("$SYS/broker").is_ok());
        assert_eq!(validate_topic("").unwrap_err(), "topic must not be empty");
        assert!(validate_topic("a/+/c").unwrap_err().contains("wildcards"));
        assert!(validate_topic("a/#").unwrap_err().contains("wildcards"));
        assert!(validate_topic("a\0b").unwrap_err().contains("NUL"));
        assert!(validate_topic(&"x".repeat(65_535)).is_ok());
        let long = validate_topic(&"x".repeat(65_536)).unwrap_err();
        assert!(
            long.contains("65,536 bytes") || long.contains("65536 bytes"),
            "{long}"
        );
        // Multibyte length is counted in bytes.
        assert!(validate_topic(&"é".repeat(32_768)).is_err());
    }

    #[test]
    fn validate_filter_requires_whole_level_wildcards_with_hash_last() {
        for ok in [
            "#", "+", "a/#", "a/+/c", "+/+", "/+", "a//b", "é/+/#", "$SYS/#",
        ] {
            assert!(validate_filter(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            validate_filter("a/#/c").unwrap_err(),
            "'#' must be the last level (e.g. 'a/b/#')"
        );
        assert!(validate_filter("a#")
            .unwrap_err()
            .contains("'#' must be a whole level"));
        assert!(validate_filter("a/b#").unwrap_err().contains("whole level"));
        assert!(validate_filter("a+")
            .unwrap_err()
            .contains("'+' must be a whole level"));
        assert!(validate_filter("a/b+/c").unwrap_err().contains("'+'"));
        assert!(validate_filter("").unwrap_err().contains("empty"));
        assert!(validate_filter("a/\0").unwrap_err().contains("NUL"));
        assert!(validate_filter(&"x".repeat(65_536))
            .unwrap_err()
            .contains("65,535"));
    }

    #[test]
    fn matches_levels_wildcards_multibyte_and_dollar_topics() {
        assert!(matches("a/b/c", "a/b/c"));
        assert!(matches("a/b/c", "a/+/c"));
        assert!(matches("a/b/c", "a/#"));
        assert!(matches("a", "a/#"), "'#' includes the parent level");
        assert!(matches("a/b/c", "#"));
        assert!(matches("/finance", "+/+"));
        assert!(matches("/finance", "/+"));
        assert!(!matches("/finance", "+"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b/c", "a/b"));
        assert!(!matches("a/b/c", "a/+"));
        // Multibyte: the case that panics in mqttbytes.
        assert!(matches("é/x", "é/x"));
        assert!(matches("é/x", "+/x"));
        assert!(matches("ü", "#"));
        assert!(matches("日本/東京", "日本/+"));
        assert!(!matches("日本/東京", "日本/大阪"));
        assert!(!matches("é", "e"));
        // `$` topics are not matched by a leading wildcard.
        assert!(!matches("$SYS/broker/uptime", "#"));
        assert!(!matches("$SYS/broker/uptime", "+/broker/uptime"));
        assert!(matches("$SYS/broker/uptime", "$SYS/#"));
        assert!(matches("$SYS/broker/uptime", "$SYS/+/uptime"));
        // Invalid input does not panic.
        assert!(!matches("", "a#"));
        assert!(matches("", "#"));
    }
}
