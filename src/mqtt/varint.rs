//! MQTT's variable byte integer (the fixed header's "remaining length", MQTT 3.1.1 §2.2.3):
//! 7 bits per byte, least significant group first, high bit set when another byte follows,
//! at most 4 bytes. The one implementation used by the session's framing and the test proxy.

use std::fmt;

/// The largest value 4 bytes can hold (256 MB - 1).
pub const MAX: usize = 268_435_455;

/// The most bytes an encoded value may take.
pub const MAX_BYTES: usize = 4;

/// Why a varint cannot be decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The 4th byte still says "more follows".
    TooLong,
    /// The value is over [`MAX`].
    TooLarge(usize),
}

impl fmt::Display for VarintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarintError::TooLong => write!(f, "remaining length longer than 4 bytes"),
            VarintError::TooLarge(v) => {
                write!(f, "length {v} is over the {MAX} an MQTT packet can carry")
            }
        }
    }
}

impl std::error::Error for VarintError {}

/// Decode the varint at the start of `buf`: `Ok(Some((value, bytes_used)))`, `Ok(None)` if
/// `buf` ends before the last byte (need more bytes), `Err(TooLong)` if 4 bytes all say
/// "more follows" (malformed, whatever comes next).
pub fn decode(buf: &[u8]) -> Result<Option<(usize, usize)>, VarintError> {
    let mut value = 0usize;
    for (i, &byte) in buf.iter().take(MAX_BYTES).enumerate() {
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= MAX_BYTES {
        Err(VarintError::TooLong)
    } else {
        Ok(None)
    }
}

/// Append the encoding of `value` (1 to 4 bytes) to `out`.
pub fn encode(value: usize, out: &mut impl Extend<u8>) -> Result<(), VarintError> {
    if value > MAX {
        return Err(VarintError::TooLarge(value));
    }
    let mut x = value;
    loop {
        let mut byte = (x % 128) as u8;
        x /= 128;
        if x > 0 {
            byte |= 0x80;
        }
        out.extend([byte]);
        if x == 0 {
            return Ok(());
        }
    }
}

/// Bytes the encoding of `value` takes (4 for anything over [`MAX`], which cannot be encoded).
pub fn encoded_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encoded(value: usize) -> Vec<u8> {
        let mut out = Vec::new();
        encode(value, &mut out).unwrap();
        out
    }

    #[test]
    fn boundaries_take_the_documented_number_of_bytes() {
        for (value, bytes) in [
            (0, vec![0x00]),
            (127, vec![0x7F]),
            (128, vec![0x80, 0x01]),
            (16_383, vec![0xFF, 0x7F]),
            (16_384, vec![0x80, 0x80, 0x01]),
            (2_097_151, vec![0xFF, 0xFF, 0x7F]),
            (2_097_152, vec![0x80, 0x80, 0x80, 0x01]),
            (MAX, vec![0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            assert_eq!(encoded(value), bytes, "{value}");
            assert_eq!(encoded_len(value), bytes.len(), "{value}");
            assert_eq!(decode(&bytes), Ok(Some((value, bytes.len()))));
        }
        assert_eq!(
            encode(MAX + 1, &mut Vec::new()),
            Err(VarintError::TooLarge(MAX + 1))
        );
    }

    #[test]
    fn need_more_bytes_is_not_malformed() {
        assert_eq!(decode(&[]), Ok(None));
        assert_eq!(decode(&[0x80]), Ok(None));
        assert_eq!(decode(&[0xFF, 0xFF, 0xFF]), Ok(None));
        assert_eq!(decode(&[0xFF, 0xFF, 0xFF, 0xFF]), Err(VarintError::TooLong));
        assert_eq!(
            decode(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Err(VarintError::TooLong)
        );
    }

    proptest! {
        #[test]
        fn round_trip(value in 0..=MAX, tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut bytes = encoded(value);
            let len = bytes.len();
            prop_assert!((1..=MAX_BYTES).contains(&len));
            prop_assert_eq!(len, encoded_len(value));
            bytes.extend(&tail);
            prop_assert_eq!(decode(&bytes), Ok(Some((value, len))));
            // Every proper prefix asks for more bytes.
            for cut in 0..len {
                prop_assert_eq!(decode(&bytes[..cut]), Ok(None));
            }
        }

        #[test]
        fn four_continuation_bytes_are_always_malformed(
            prefix in proptest::collection::vec(0x80u8..=0xFF, 4),
            tail in proptest::collection::vec(any::<u8>(), 0..4),
        ) {
            let mut bytes = prefix;
            bytes.extend(tail);
            prop_assert_eq!(decode(&bytes), Err(VarintError::TooLong));
        }

        #[test]
        fn over_max_does_not_encode(value in (MAX + 1)..=usize::MAX) {
            prop_assert_eq!(encode(value, &mut Vec::new()), Err(VarintError::TooLarge(value)));
        }
    }
}
