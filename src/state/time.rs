//! Times as devices send them: seconds or milliseconds since the Unix epoch (a number or a
//! numeric string), or RFC 3339 text.

use serde_json::Value;

/// A timestamp as devices send it: seconds or milliseconds since the epoch (number or
/// numeric string), or RFC 3339 text (`2024-05-01T12:00:00Z`). `None` if implausible
/// (before 2001 or after 5000).
pub(crate) fn timestamp_ms_of(v: &Value) -> Option<u64> {
    let from_number = |x: f64| -> Option<u64> {
        if (1e9..1e11).contains(&x) {
            Some((x * 1000.0) as u64)
        } else if (1e12..1e14).contains(&x) {
            Some(x as u64)
        } else {
            None
        }
    };
    match v {
        Value::Number(n) => from_number(n.as_f64()?),
        Value::String(s) => match crate::decimal::parse(s) {
            Some(x) => from_number(x),
            None => parse_rfc3339_ms(s.trim()),
        },
        _ => None,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]` (also with a space instead of `T`; no zone = UTC).
fn parse_rfc3339_ms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 19 || !s.is_ascii() {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let ms_digits = &frac[..digits.min(3)];
        millis = ms_digits.parse::<i64>().ok()? * 10i64.pow(3 - ms_digits.len() as u32);
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || rb[3] != b':' {
                return None;
            }
            let sign = match rb[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            sign * (h * 60 + m)
        }
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3_600 + min * 60 + sec - offset_min * 60;
    let ms = secs.checked_mul(1000)?.checked_add(millis)?;
    u64::try_from(ms).ok().filter(|&ms| ms >= 978_307_200_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-05-01T12:00:00Z
    const NOW: u64 = 1_714_564_800_000;

    #[test]
    fn timestamps_are_read_as_seconds_milliseconds_or_rfc3339() {
        let n = |v: Value| timestamp_ms_of(&v);
        assert_eq!(n(serde_json::json!(1_714_564_800)), Some(NOW));
        assert_eq!(n(serde_json::json!(1_714_564_800_000u64)), Some(NOW));
        assert_eq!(n(serde_json::json!("1714564800")), Some(NOW));
        assert_eq!(n(serde_json::json!("2024-05-01T12:00:00Z")), Some(NOW));
        assert_eq!(
            n(serde_json::json!("2024-05-01 14:00:00.250+02:00")),
            Some(NOW + 250)
        );
        assert_eq!(n(serde_json::json!("2024-05-01T12:00:00")), Some(NOW));
        assert_eq!(n(serde_json::json!(3600)), None, "uptime, not a time");
        assert_eq!(n(serde_json::json!("yesterday")), None);
        assert_eq!(n(serde_json::json!("2024-13-01T12:00:00Z")), None);
        assert_eq!(n(serde_json::json!("2024-05-01T12:00:00+2")), None);
        assert_eq!(n(serde_json::json!("2024-05-01T12:00:00Zé")), None);
    }
}
