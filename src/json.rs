//! JSON from bytes, one way for the whole app.

/// Parses a JSON document from bytes, through `&str` like every other JSON parse here:
/// serde_json's parser is generic over its input, and each kind of input (`from_slice`,
/// `from_str`) is another copy of it in the download.
pub fn parse_bytes(payload: &[u8]) -> Result<serde_json::Value, String> {
    let text = std::str::from_utf8(payload).map_err(|e| e.to_string())?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn parses_json_and_says_why_not() {
        assert_eq!(parse_bytes(br#"{"a":[1,"x"]}"#).unwrap()["a"][1], "x");
        assert!(parse_bytes(b"{\"a\":").unwrap_err().contains("EOF"));
        // Invalid UTF-8 is refused before parsing, with the position of the bad byte.
        assert!(parse_bytes(b"{\"a\":\"\xff\"}")
            .unwrap_err()
            .contains("utf-8"));
    }
}
