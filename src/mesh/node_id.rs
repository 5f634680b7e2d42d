//! Meshtastic node ids: `!aabbccdd` for display, decimal on the wire.

/// The node number Meshtastic uses for "everyone" (`^all`).
pub const BROADCAST: u32 = u32::MAX;

/// `!` followed by the node number as 8 lowercase hex digits (`!a1b2c3d4`).
pub fn format_node_id(num: u32) -> String {
    format!("!{num:08x}")
}

/// Parses what a user types as the destination of a text: `!aabbccdd` (1–8 hex digits,
/// any case), a decimal node number up to 4294967295, or `^all` / `broadcast` (→ 4294967295).
///
/// Bare hex (`a1b2c3d4`) is refused: `12345678` would be ambiguous between hex and decimal.
pub fn parse_node_target(input: &str) -> Result<u32, String> {
    let s = input.trim();
    if s.eq_ignore_ascii_case("^all") || s.eq_ignore_ascii_case("broadcast") {
        return Ok(BROADCAST);
    }
    parse_node_number(s)
}

/// Parses a gateway node: like [`parse_node_target`] but broadcast is refused, since the
/// gateway drops a downlink whose `from` is not its own node number.
pub fn parse_gateway(input: &str) -> Result<u32, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("pick or type the gateway node (!aabbccdd or its decimal node number)".into());
    }
    if s.eq_ignore_ascii_case("^all") || s.eq_ignore_ascii_case("broadcast") {
        return Err("the gateway must be one node, not broadcast".into());
    }
    let n = parse_node_number(s)?;
    if n == BROADCAST {
        return Err("the gateway must be one node, not broadcast (4294967295)".into());
    }
    Ok(n)
}

/// Parses a `!hex` node id as found in uplinks (`sender`, nodeinfo `id`, topic gateway).
/// Returns `None` for anything else.
pub fn parse_bang_hex(s: &str) -> Option<u32> {
    let hex = s.strip_prefix('!')?;
    if hex.is_empty() || hex.len() > 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

fn parse_node_number(s: &str) -> Result<u32, String> {
    if s.is_empty() {
        return Err("type a node: !aabbccdd, a decimal node number, or ^all for broadcast".into());
    }
    if let Some(hex) = s.strip_prefix('!') {
        if hex.is_empty() {
            return Err("'!' must be followed by the node's hex id, e.g. !a1b2c3d4".into());
        }
        if let Some(bad) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(format!(
                "'{s}' is not a node id: '{bad}' is not a hex digit (use !a1b2c3d4)"
            ));
        }
        if hex.len() > 8 {
            return Err(format!(
                "'{s}' has {} hex digits; a node id has at most 8 (e.g. !a1b2c3d4)",
                hex.len()
            ));
        }
        return u32::from_str_radix(hex, 16)
            .map_err(|_| format!("'{s}' is not a node id (use !a1b2c3d4)"));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<u64>() {
            Ok(n) if n <= u64::from(u32::MAX) => Ok(n as u32),
            _ => Err(format!(
                "{s} is larger than 4294967295, the largest node number"
            )),
        };
    }
    let hexish = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if !hexish.is_empty() && hexish.len() <= 8 && hexish.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "'{s}' looks like hex: write it as !{} (a number without '!' is read as decimal)",
            hexish.to_ascii_lowercase()
        ));
    }
    Err(format!(
        "'{s}' is not a node: use !aabbccdd, a decimal node number, or ^all"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_shown_as_bang_and_eight_lowercase_hex_digits() {
        assert_eq!(format_node_id(0xa1b2c3d4), "!a1b2c3d4");
        assert_eq!(format_node_id(0x1f), "!0000001f");
        assert_eq!(format_node_id(u32::MAX), "!ffffffff");
    }

    #[test]
    fn a_node_id_formatted_then_parsed_round_trips() {
        for n in [
            0u32,
            1,
            0x1f,
            0xa1b2c3d4,
            0x7fffffff,
            u32::MAX - 1,
            u32::MAX,
        ] {
            assert_eq!(parse_node_target(&format_node_id(n)), Ok(n));
            assert_eq!(parse_node_target(&n.to_string()), Ok(n));
        }
    }

    #[test]
    fn bang_hex_accepts_one_to_eight_digits_in_any_case() {
        assert_eq!(parse_node_target("!A1B2C3D4"), Ok(0xa1b2c3d4));
        assert_eq!(parse_node_target("  !1f  "), Ok(0x1f));
        assert_eq!(parse_node_target("!0"), Ok(0));
    }

    #[test]
    fn broadcast_can_be_written_as_caret_all_or_broadcast() {
        assert_eq!(parse_node_target("^all"), Ok(4294967295));
        assert_eq!(parse_node_target("Broadcast"), Ok(4294967295));
        assert_eq!(parse_node_target("4294967295"), Ok(4294967295));
    }

    #[test]
    fn bare_hex_is_refused_with_a_hint_to_add_the_bang() {
        let err = parse_node_target("a1b2c3d4").unwrap_err();
        assert!(err.contains("!a1b2c3d4"), "{err}");
        let err = parse_node_target("0xA1B2").unwrap_err();
        assert!(err.contains("!a1b2"), "{err}");
    }

    #[test]
    fn bad_node_ids_get_clear_messages() {
        assert!(parse_node_target("").unwrap_err().contains("!aabbccdd"));
        assert!(parse_node_target("!").unwrap_err().contains("hex"));
        assert!(parse_node_target("!a1b2c3d4e")
            .unwrap_err()
            .contains("9 hex digits"));
        assert!(parse_node_target("!zz").unwrap_err().contains("'z'"));
        assert!(parse_node_target("4294967296")
            .unwrap_err()
            .contains("4294967295"));
        assert!(parse_node_target("99999999999999999999999").is_err());
        assert!(parse_node_target("-1").is_err());
        assert!(parse_node_target("node one").is_err());
    }

    #[test]
    fn the_gateway_must_be_a_single_node() {
        assert_eq!(parse_gateway("!a1b2c3d4"), Ok(0xa1b2c3d4));
        assert!(parse_gateway("")
            .unwrap_err()
            .contains("pick or type the gateway"));
        assert!(parse_gateway("^all").is_err());
        assert!(parse_gateway("!ffffffff").is_err());
    }

    #[test]
    fn uplink_ids_parse_only_in_bang_hex_form() {
        assert_eq!(parse_bang_hex("!a1b2c3d4"), Some(0xa1b2c3d4));
        assert_eq!(parse_bang_hex("a1b2c3d4"), None);
        assert_eq!(parse_bang_hex("!"), None);
        assert_eq!(parse_bang_hex("!123456789"), None);
        assert_eq!(parse_bang_hex("!+1"), None);
    }
}
