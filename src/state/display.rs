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

/// Which rows of a list of fixed-height rows a scroll box shows: the rows under the
/// viewport plus `overscan` on each side (so a fast scroll does not flash empty space).
/// A list of at most `render_all_up_to` rows is rendered whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowWindow {
    pub start: usize,
    pub end: usize,
    pub total: usize,
}

impl RowWindow {
    pub fn of(scroll_top: f64, viewport_px: f64, row_px: f64, total: usize) -> RowWindow {
        const OVERSCAN: usize = 8;
        if !RowWindow::is_long(total) || row_px <= 0.0 {
            return RowWindow {
                start: 0,
                end: total,
                total,
            };
        }
        let in_view = (viewport_px.max(row_px) / row_px).ceil() as usize + 1;
        // A box scrolled past the end (the list just shrank) shows the last rows.
        let first = ((scroll_top.max(0.0) / row_px) as usize).min(total.saturating_sub(in_view));
        let start = first.saturating_sub(OVERSCAN).min(total);
        let end = (first + in_view + OVERSCAN).min(total);
        RowWindow { start, end, total }
    }

    /// Whether the list is windowed (rows then have a fixed height).
    pub fn is_windowed(&self) -> bool {
        RowWindow::is_long(self.total)
    }

    /// Whether a list of `total` rows is long enough to be windowed (a list that shows only
    /// some of them, as in a flood, keeps the form of the whole).
    pub fn is_long(total: usize) -> bool {
        total > RENDER_ALL_UP_TO
    }

    /// Heights of the space before and after the rendered rows.
    pub fn padding_px(&self, row_px: f64) -> (f64, f64) {
        (
            self.start as f64 * row_px,
            (self.total - self.end) as f64 * row_px,
        )
    }

    /// The CSS of the spacer row before (`after` false) or after the rendered rows. Whole
    /// pixels (rows have whole heights): printing an integer keeps float printing out of the
    /// download (see `crate::decimal`).
    pub fn padding_style(&self, row_px: f64, after: bool) -> String {
        let (before, rest) = self.padding_px(row_px);
        let px = if after { rest } else { before };
        format!("height: {}px", px.round() as u64)
    }
}

/// Lists this short are rendered whole, with rows at their natural height.
pub const RENDER_ALL_UP_TO: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_list_renders_only_the_rows_in_view() {
        // 2,000 rows of 20 px in a 400 px box scrolled to row 500.
        let w = RowWindow::of(10_000.0, 400.0, 20.0, 2_000);
        assert_eq!((w.start, w.end), (492, 529));
        assert!(w.is_windowed());
        assert_eq!(w.padding_px(20.0), (9_840.0, 29_420.0));
        // Top and bottom clamp; the rows and the padding always add up to the whole list.
        let top = RowWindow::of(0.0, 400.0, 20.0, 2_000);
        assert_eq!((top.start, top.end), (0, 29));
        let bottom = RowWindow::of(1e9, 400.0, 20.0, 2_000);
        assert_eq!((bottom.start, bottom.end), (1_971, 2_000));
        for w in [w, top, bottom] {
            let (before, after) = w.padding_px(20.0);
            assert_eq!(before + after + (w.end - w.start) as f64 * 20.0, 40_000.0);
        }
        assert_eq!(w.padding_style(20.0, false), "height: 9840px");
        assert_eq!(w.padding_style(20.0, true), "height: 29420px");
    }

    #[test]
    fn a_short_list_renders_whole() {
        let w = RowWindow::of(5_000.0, 400.0, 20.0, RENDER_ALL_UP_TO);
        assert_eq!((w.start, w.end), (0, RENDER_ALL_UP_TO));
        assert!(!w.is_windowed());
        assert_eq!(w.padding_px(20.0), (0.0, 0.0));
        assert_eq!(RowWindow::of(0.0, 0.0, 20.0, 0).end, 0);
    }

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
