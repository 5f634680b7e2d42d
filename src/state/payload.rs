//! Payload display: text, pretty JSON, hex or base64, picked automatically or by the user.
//! The result is always plain text for a text node, never HTML.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadFormat {
    Text,
    Json,
    Hex,
    Base64,
}

impl PayloadFormat {
    pub const ALL: [PayloadFormat; 4] = [
        PayloadFormat::Text,
        PayloadFormat::Json,
        PayloadFormat::Hex,
        PayloadFormat::Base64,
    ];

    pub fn label(self) -> &'static str {
        match self {
            PayloadFormat::Text => "text",
            PayloadFormat::Json => "json",
            PayloadFormat::Hex => "hex",
            PayloadFormat::Base64 => "base64",
        }
    }

    pub fn from_label(label: &str) -> Option<PayloadFormat> {
        PayloadFormat::ALL.into_iter().find(|f| f.label() == label)
    }
}

/// JSON for an object or array, text for valid UTF-8 without control bytes, else hex.
pub fn auto_format(payload: &[u8]) -> PayloadFormat {
    let Ok(text) = std::str::from_utf8(payload) else {
        return PayloadFormat::Hex;
    };
    let trimmed = text.trim_start();
    if (trimmed.starts_with('{') || trimmed.starts_with('['))
        && serde_json::from_str::<serde_json::Value>(text).is_ok()
    {
        return PayloadFormat::Json;
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return PayloadFormat::Hex;
    }
    PayloadFormat::Text
}

/// Renders the payload in `format`. Formats that do not fit (JSON that does not parse) fall
/// back to text with replacement characters, so nothing is hidden.
pub fn render(payload: &[u8], format: PayloadFormat) -> String {
    match format {
        PayloadFormat::Text => String::from_utf8_lossy(payload).into_owned(),
        PayloadFormat::Json => crate::json::parse_bytes(payload)
            .ok()
            .map(|v| crate::json::pretty(&v))
            .unwrap_or_else(|| String::from_utf8_lossy(payload).into_owned()),
        PayloadFormat::Hex => hex(payload),
        PayloadFormat::Base64 => base64(payload),
    }
}

/// The format for the start of a payload whose rest is held elsewhere: as [`auto_format`],
/// but what starts as a JSON object or array counts as JSON though it is cut (it cannot parse).
pub fn auto_format_cut(preview: &[u8]) -> PayloadFormat {
    match auto_format(preview) {
        PayloadFormat::Text
            if std::str::from_utf8(preview)
                .is_ok_and(|t| t.trim_start().starts_with(['{', '['])) =>
        {
            PayloadFormat::Json
        }
        format => format,
    }
}

/// Renders the start of a payload whose rest is held elsewhere. JSON, which a cut document
/// cannot be parsed as, is laid out as [`render`] lays out the whole (two-space indents, one
/// value a line) by its punctuation alone, as far as it goes, in its own key order.
pub fn render_cut(preview: &[u8], format: PayloadFormat) -> String {
    match (format, std::str::from_utf8(preview)) {
        (PayloadFormat::Json, Ok(text)) => crate::json::indent(text),
        _ => render(preview, format),
    }
}

/// The format a payload is drawn in. In a fixed-height row (a long list) JSON is shown as it
/// came, usually one line, rather than pretty-printed over many of which the row shows two.
pub fn drawn_format(chosen: PayloadFormat, fixed_row: bool) -> PayloadFormat {
    if fixed_row && chosen == PayloadFormat::Json {
        PayloadFormat::Text
    } else {
        chosen
    }
}

/// Lines of payload a row of a long (windowed, fixed-height) message list shows; one less
/// when the row also lists MQTT 5 properties.
pub const ROW_LINES: usize = 2;
/// Characters a payload line holds in the narrowest message list the layout gives (about
/// 300 px of 12 px monospace): a longer line wraps there.
const NARROW_LINE_CHARS: usize = 40;

/// Whether a rendered payload surely fits in `lines` lines of a windowed row, at any width.
/// A row whose payload may not fit offers "show all": the rest would be out of sight, with
/// no other way to read it.
pub fn fits_row(rendered: &str, lines: usize) -> bool {
    let text = rendered.strip_suffix('\n').unwrap_or(rendered);
    let mut needed = 0;
    for line in text.split('\n') {
        needed += line.chars().count().div_ceil(NARROW_LINE_CHARS).max(1);
        if needed > lines {
            return false;
        }
    }
    true
}

/// Cuts a rendered payload for the list; `None` when it fits.
pub fn preview(rendered: &str, max_chars: usize) -> Option<String> {
    let mut end = None;
    for (count, (index, _)) in rendered.char_indices().enumerate() {
        if count == max_chars {
            end = Some(index);
            break;
        }
    }
    end.map(|end| rendered[..end].to_string())
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(if i % 16 == 0 { '\n' } else { ' ' });
        }
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        out.push(ALPHABET[(n >> 18) as usize & 63] as char);
        out.push(ALPHABET[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// "12 B", "3.4 KiB", "1.0 MiB".
pub fn format_size(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{} KiB", crate::decimal::fixed(bytes as f64 / 1024.0, 1))
    } else {
        format!(
            "{} MiB",
            crate::decimal::fixed(bytes as f64 / (1024.0 * 1024.0), 1)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_objects_are_pretty_printed_and_text_stays_text() {
        assert_eq!(auto_format(br#"{"a":1}"#), PayloadFormat::Json);
        assert_eq!(
            render(br#"{"a":1}"#, PayloadFormat::Json),
            "{\n  \"a\": 1\n}"
        );
        assert_eq!(auto_format(b"21.5"), PayloadFormat::Text);
        assert_eq!(
            auto_format(b"<img src=x onerror=alert(1)>"),
            PayloadFormat::Text
        );
        assert_eq!(auto_format(b"{not json"), PayloadFormat::Text);
    }

    #[test]
    fn a_cut_json_preview_is_laid_out_as_the_whole_would_be_as_far_as_it_goes() {
        let whole = br#"{"a":1,"b":[2,3],"c":{"d":"x, y: {z}","e":"q\"}"},"f":[],"g":{}}"#;
        // serde_json's own layout of the whole (its keys here already in order).
        let pretty = render(whole, PayloadFormat::Json);
        assert_eq!(render_cut(whole, PayloadFormat::Json), pretty);
        // Any cut of it is the start of that layout (but for spaces a cut leaves at its end).
        for end in 1..whole.len() {
            let cut = render_cut(&whole[..end], PayloadFormat::Json);
            assert!(pretty.starts_with(cut.trim_end()), "cut at {end}: {cut:?}");
        }
        // Spaced-out input gets the same layout; strings keep their spaces and braces.
        assert_eq!(
            render_cut(
                b"{ \"k\" : [ 1 ,\n 2 ] , \"s\": \"a { b\" ",
                PayloadFormat::Json
            ),
            "{\n  \"k\": [\n    1,\n    2\n  ],\n  \"s\": \"a { b\""
        );
        assert_eq!(auto_format_cut(br#"  {"values":[1,2"#), PayloadFormat::Json);
        assert_eq!(auto_format_cut(br#"[1,2"#), PayloadFormat::Json);
        assert_eq!(auto_format_cut(b"plain text"), PayloadFormat::Text);
        assert_eq!(auto_format_cut(&[0xff, 0x00]), PayloadFormat::Hex);
        // Other formats render a cut as they render anything.
        assert_eq!(render_cut(b"ab", PayloadFormat::Hex), "61 62");
    }

    #[test]
    fn binary_payloads_show_as_hex_and_base64() {
        let bytes = [0u8, 1, 0xfe, 0xff];
        assert_eq!(auto_format(&bytes), PayloadFormat::Hex);
        assert_eq!(render(&bytes, PayloadFormat::Hex), "00 01 fe ff");
        assert_eq!(render(&bytes, PayloadFormat::Base64), "AAH+/w==");
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(hex(&[0u8; 17]).lines().count(), 2);
    }

    #[test]
    fn long_payloads_are_cut_on_a_character_boundary() {
        assert_eq!(preview("ééééé", 3).as_deref(), Some("ééé"));
        assert_eq!(preview("short", 10), None);
        assert_eq!(render(&[0xff, b'a'], PayloadFormat::Text), "\u{fffd}a");
        assert_eq!(format_size(2048), "2.0 KiB");
    }

    #[test]
    fn a_payload_that_may_need_more_than_two_lines_does_not_fit_a_windowed_row() {
        assert!(fits_row("n=42", ROW_LINES));
        assert!(fits_row("temperature 21.5\nhumidity 40\n", ROW_LINES));
        // 80 characters wrap to two lines at the narrowest width, 81 to three.
        assert!(fits_row(&"é".repeat(80), ROW_LINES));
        assert!(!fits_row(&"é".repeat(81), ROW_LINES));
        assert!(!fits_row("one\ntwo\nthree", ROW_LINES));
        assert!(!fits_row(
            &render(br#"{"a":1}"#, PayloadFormat::Json),
            ROW_LINES
        ));
        assert!(!fits_row(&format!("{}\nb", "a".repeat(41)), ROW_LINES));
        // JSON in a fixed row is drawn as it came: a short object fits.
        let json = br#"{"temperature":21.5,"unit":"C"}"#;
        let drawn = render(json, drawn_format(PayloadFormat::Json, true));
        assert_eq!(drawn, r#"{"temperature":21.5,"unit":"C"}"#);
        assert!(fits_row(&drawn, ROW_LINES));
        assert!(!fits_row(
            &render(json, drawn_format(PayloadFormat::Json, false)),
            ROW_LINES
        ));
        assert_eq!(drawn_format(PayloadFormat::Hex, true), PayloadFormat::Hex);
        // Under a line of MQTT 5 properties there is room for one.
        assert!(fits_row("21.5", 1));
        assert!(!fits_row("21.5\nC", 1));
    }
}
