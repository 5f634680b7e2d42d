//! JSON from bytes, one way for the whole app.

/// Parses a JSON document from bytes, through `&str` like every other JSON parse here:
/// serde_json's parser is generic over its input, and each kind of input (`from_slice`,
/// `from_str`) is another copy of it in the download.
pub fn parse_bytes(payload: &[u8]) -> Result<serde_json::Value, String> {
    let text = std::str::from_utf8(payload).map_err(|e| e.to_string())?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// `value` as indented JSON text, as `serde_json::to_string_pretty` writes it: printed
/// compact and laid out by [`indent`], which the app has for cut payloads anyway (a second
/// serde_json serializer, the pretty one, is that much more download).
pub fn pretty(value: &serde_json::Value) -> String {
    indent(&value.to_string())
}

/// Lays out JSON text (whole or cut anywhere) like `serde_json::to_string_pretty` (two-space
/// indents, one value a line), without parsing it: strings are copied as they are,
/// whitespace outside them is dropped.
pub fn indent(text: &str) -> String {
    fn new_line(out: &mut String, depth: usize) {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    }
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.next_if(|n| n.is_whitespace()).is_some() {}
                let close = if c == '{' { '}' } else { ']' };
                if chars.next_if_eq(&close).is_some() {
                    out.push(close);
                } else {
                    depth += 1;
                    new_line(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                new_line(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                new_line(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{indent, parse_bytes, pretty};

    #[test]
    fn parses_json_and_says_why_not() {
        assert_eq!(parse_bytes(br#"{"a":[1,"x"]}"#).unwrap()["a"][1], "x");
        assert!(parse_bytes(b"{\"a\":").unwrap_err().contains("EOF"));
        // Invalid UTF-8 is refused before parsing, with the position of the bad byte.
        assert!(parse_bytes(b"{\"a\":\"\xff\"}")
            .unwrap_err()
            .contains("utf-8"));
    }

    #[test]
    fn pretty_is_what_serde_json_writes_pretty() {
        for text in [
            r#"{"a":[1,"x",{"b":null,"c":[]}],"d":{},"e":"q\"uo:te,{["}"#,
            "[]",
            "{}",
            "42",
            r#""just text""#,
            r#"[[1,2],[3,[4,{"k":"v"}]],true,false,-1.5e-7]"#,
            r#"{"nested":{"deeper":{"deepest":["é",{"":0}]}}}"#,
        ] {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(
                pretty(&value),
                serde_json::to_string_pretty(&value).unwrap(),
                "{text}"
            );
        }
        // Whitespace outside strings goes, inside them it stays.
        assert_eq!(indent("{ \"a b\" :\n 1 }"), "{\n  \"a b\": 1\n}");
    }
}
