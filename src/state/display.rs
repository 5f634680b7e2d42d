//! Display formatting shared by the views.

/// "just now", "12 s ago", "5 min ago", "3 h ago", "2 d ago".
pub fn format_relative(age_ms: u64) -> String {
    let s = age_ms / 1000;
    match s {
        0..=4 => "just now".to_string(),
        5..=59 => format!("{s} s ago"),
        60..=3_599 => format!("{} min ago", s / 60),
        3_600..=86_399 => format!("{} h ago", s / 3_600),
        _ => format!("{} d ago", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(format_relative(0), "just now");
        assert_eq!(format_relative(4_999), "just now");
        assert_eq!(format_relative(12_000), "12 s ago");
        assert_eq!(format_relative(59_999), "59 s ago");
        assert_eq!(format_relative(5 * MIN + 30_000), "5 min ago");
        assert_eq!(format_relative(3 * 3_600_000 + 1), "3 h ago");
        assert_eq!(format_relative(2 * 86_400_000 + 5), "2 d ago");
    }
}
