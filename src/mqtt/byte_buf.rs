//! Serde for payload bytes as one byte string (`#[serde(with = "byte_buf")]`). A plain
//! `Vec<u8>` goes through serde as a sequence, one call per byte each way; in postcard (the
//! page <-> worker wire) the two are the same bytes on the wire, a length and the bytes, but
//! as a byte string a 4 KiB payload is one copy instead of 4,096 visits. JSON still reads
//! and writes it as an array of numbers.

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Serializer;

pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bytes(bytes)
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    deserializer.deserialize_byte_buf(ByteBufVisitor)
}

struct ByteBufVisitor;

impl<'de> Visitor<'de> for ByteBufVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("bytes")
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(b) = seq.next_element()? {
            bytes.push(b);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Plain {
        payload: Vec<u8>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct AsBytes {
        #[serde(with = "super")]
        payload: Vec<u8>,
    }

    #[test]
    fn postcard_wire_is_the_same_as_a_plain_vec_and_round_trips() {
        let payload: Vec<u8> = (0..=255).cycle().take(5000).collect();
        let plain = postcard::to_allocvec(&Plain {
            payload: payload.clone(),
        })
        .unwrap();
        let bytes = postcard::to_allocvec(&AsBytes {
            payload: payload.clone(),
        })
        .unwrap();
        assert_eq!(plain, bytes);
        let back: AsBytes = postcard::from_bytes(&plain).unwrap();
        assert_eq!(back.payload, payload);
    }

    #[test]
    fn json_round_trips_as_an_array_of_numbers() {
        let json = serde_json::to_string(&AsBytes {
            payload: vec![0, 7, 255],
        })
        .unwrap();
        assert_eq!(json, r#"{"payload":[0,7,255]}"#);
        let back: AsBytes = serde_json::from_str(&json).unwrap();
        assert_eq!(back.payload, vec![0, 7, 255]);
    }

    #[test]
    fn a_truncated_byte_string_is_an_error_not_a_short_payload() {
        let mut wire = postcard::to_allocvec(&AsBytes {
            payload: vec![1; 300],
        })
        .unwrap();
        wire.truncate(100);
        assert!(postcard::from_bytes::<AsBytes>(&wire).is_err());
    }
}
