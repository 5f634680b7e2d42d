//! Meshtastic channel encryption: the PSK, the channel hash and AES-CTR.
//!
//! A channel's PSK is 16 bytes (AES-128) or 32 (AES-256). A 1-byte PSK `N` stands for the
//! well-known default key with its last byte increased by `N - 1` (`AQ==` is the default
//! key itself); `AA==` or an empty PSK means the channel is not encrypted.

use std::fmt;

use aes::{Aes128, Aes256};
use ctr::cipher::{KeyIvInit, StreamCipher};
use serde::{Deserialize, Serialize};

/// The default channel key (`1PG7OiApB1nwvP+rz05pAQ==`), what `AQ==` expands to.
const DEFAULT_KEY: [u8; 16] = [
    0xd4, 0xf1, 0xbb, 0x3a, 0x20, 0x29, 0x07, 0x59, 0xf0, 0xbc, 0xff, 0xab, 0xcf, 0x4e, 0x69, 0x01,
];

/// A channel's expanded key: none, AES-128 or AES-256.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelKey(KeyBytes);

#[derive(Clone, PartialEq, Eq)]
enum KeyBytes {
    Unencrypted,
    Aes128([u8; 16]),
    Aes256([u8; 32]),
}

/// Why a PSK is not a usable channel key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyError {
    /// Not standard base64.
    NotBase64,
    /// Base64 of a length no key has.
    WrongLength { bytes: usize },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotBase64 => f.write_str(
                "the key is not valid base64 (e.g. AQ== for the default key, or 24 or 44 \
                 characters for a 16- or 32-byte key)",
            ),
            KeyError::WrongLength { bytes } => write!(
                f,
                "the key is {bytes} bytes; a channel key is 16 bytes (AES-128) or 32 bytes \
                 (AES-256), 1 byte for a default key (AQ==), or empty for no encryption"
            ),
        }
    }
}

impl std::error::Error for KeyError {}

impl fmt::Debug for ChannelKey {
    // Says which kind of key, never the key itself (Debug output ends up in logs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0 {
            KeyBytes::Unencrypted => "unencrypted",
            KeyBytes::Aes128(_) => "AES-128",
            KeyBytes::Aes256(_) => "AES-256",
        };
        write!(f, "ChannelKey({kind})")
    }
}

impl ChannelKey {
    /// Reads a PSK as the Meshtastic apps show it (base64, surrounding spaces ignored).
    /// `""` and `AA==` mean no encryption.
    pub fn from_psk_base64(psk: &str) -> Result<ChannelKey, KeyError> {
        let bytes = base64_decode(psk.trim()).ok_or(KeyError::NotBase64)?;
        ChannelKey::from_psk(&bytes)
    }

    /// The key a raw PSK stands for.
    pub fn from_psk(psk: &[u8]) -> Result<ChannelKey, KeyError> {
        let key = match psk {
            [] | [0] => KeyBytes::Unencrypted,
            [index] => {
                let mut key = DEFAULT_KEY;
                if let Some(last) = key.last_mut() {
                    *last = last.wrapping_add(index.wrapping_sub(1));
                }
                KeyBytes::Aes128(key)
            }
            _ => {
                if let Ok(key) = <[u8; 16]>::try_from(psk) {
                    KeyBytes::Aes128(key)
                } else if let Ok(key) = <[u8; 32]>::try_from(psk) {
                    KeyBytes::Aes256(key)
                } else {
                    return Err(KeyError::WrongLength { bytes: psk.len() });
                }
            }
        };
        Ok(ChannelKey(key))
    }

    pub fn is_encrypted(&self) -> bool {
        !matches!(self.0, KeyBytes::Unencrypted)
    }

    fn key_bytes(&self) -> &[u8] {
        match &self.0 {
            KeyBytes::Unencrypted => &[],
            KeyBytes::Aes128(k) => k,
            KeyBytes::Aes256(k) => k,
        }
    }

    /// The 8-bit hash a packet carries in `MeshPacket.channel` so that receivers can pick
    /// the key: XOR of the name's bytes and of the expanded key's bytes.
    pub fn channel_hash(&self, channel_name: &str) -> u32 {
        let xor = |bytes: &[u8]| bytes.iter().fold(0u8, |h, b| h ^ b);
        u32::from(xor(channel_name.as_bytes()) ^ xor(self.key_bytes()))
    }

    /// AES-CTR in place (encrypt == decrypt); no-op when not encrypted. The initial counter
    /// block is the packet id (u64 little-endian), the sender (u32 little-endian) and four
    /// zero bytes, counted up big-endian over all 128 bits.
    pub fn apply(&self, packet_id: u32, from: u32, data: &mut [u8]) {
        let mut nonce = [0u8; 16];
        let (id_part, rest) = nonce.split_at_mut(8);
        id_part.copy_from_slice(&u64::from(packet_id).to_le_bytes());
        if let Some(from_part) = rest.get_mut(..4) {
            from_part.copy_from_slice(&from.to_le_bytes());
        }
        // The keystream cannot run out: the counter starts below 2^96 (bytes 4..8 of the
        // block are zero) and a message is far shorter than 2^32 blocks. The fallible call
        // is used anyway so that no input can reach a panic.
        let _ =
            match &self.0 {
                KeyBytes::Unencrypted => Ok(()),
                KeyBytes::Aes128(key) => ctr::Ctr128BE::<Aes128>::new(key.into(), (&nonce).into())
                    .try_apply_keystream(data),
                KeyBytes::Aes256(key) => ctr::Ctr128BE::<Aes256>::new(key.into(), (&nonce).into())
                    .try_apply_keystream(data),
            };
    }
}

/// Decodes standard base64 (`A–Z a–z 0–9 + /`), with or without `=` padding. `None` for
/// anything else, including whitespace inside.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let unpadded = s.trim_end_matches('=');
    let padding = s.len() - unpadded.len();
    if padding > 2 || (padding > 0 && !s.len().is_multiple_of(4)) || unpadded.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(unpadded.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in unpadded.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of a line of the Python-made vector file.
    fn vector(name: &str) -> Vec<u8> {
        crate::mesh::envelope::tests::vector(name).1
    }

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(base64_decode(""), Some(vec![]));
        assert_eq!(base64_decode("AQ=="), Some(vec![1]));
        assert_eq!(base64_decode("AQ"), Some(vec![1]));
        assert_eq!(base64_decode("AAE="), Some(vec![0, 1]));
        assert_eq!(base64_decode("AAE"), Some(vec![0, 1]));
        assert_eq!(base64_decode("TWFu"), Some(b"Man".to_vec()));
        assert_eq!(base64_decode("+/+/"), Some(vec![0xfb, 0xff, 0xbf]));
        assert_eq!(
            base64_decode("1PG7OiApB1nwvP+rz05pAQ=="),
            Some(DEFAULT_KEY.to_vec())
        );
    }

    #[test]
    fn malformed_base64_is_refused() {
        for bad in [
            "A", "A===", "AQ=", "AQ=A", "A Q==", "AQ==\n", "-_8=", "AQ===", "é",
        ] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn aq_is_the_default_key_and_ag_the_default_key_with_its_last_byte_plus_one() {
        let default = ChannelKey::from_psk_base64("AQ==").unwrap();
        assert_eq!(default.key_bytes(), DEFAULT_KEY);
        assert_eq!(
            ChannelKey::from_psk_base64("1PG7OiApB1nwvP+rz05pAQ=="),
            Ok(default)
        );
        let second = ChannelKey::from_psk_base64("Ag==").unwrap();
        assert_eq!(second.key_bytes()[..15], DEFAULT_KEY[..15]);
        assert_eq!(second.key_bytes()[15], 0x02);
        // The largest index: 0x01 + (255 - 1) = 0xff.
        let last = ChannelKey::from_psk(&[0xff]).unwrap();
        assert_eq!(last.key_bytes()[15], 0xff);
    }

    #[test]
    fn an_empty_or_zero_psk_means_no_encryption() {
        for psk in ["", "  ", "AA==", "AA"] {
            let key = ChannelKey::from_psk_base64(psk).unwrap();
            assert!(!key.is_encrypted(), "{psk:?}");
            let mut data = *b"plain";
            key.apply(1, 2, &mut data);
            assert_eq!(&data, b"plain");
        }
    }

    #[test]
    fn sixteen_and_thirty_two_byte_keys_are_aes_128_and_aes_256() {
        let k16 = ChannelKey::from_psk(&[7; 16]).unwrap();
        let k32 = ChannelKey::from_psk(&[7; 32]).unwrap();
        assert!(k16.is_encrypted() && k32.is_encrypted());
        assert_eq!(format!("{k16:?}"), "ChannelKey(AES-128)");
        assert_eq!(format!("{k32:?}"), "ChannelKey(AES-256)");
        let via_base64 =
            ChannelKey::from_psk_base64(" 4dAqAzQaUAyKDnLUGyhdbTnVhaBq++lTyCn2pkpus8M= ").unwrap();
        assert_eq!(via_base64.key_bytes().len(), 32);
    }

    #[test]
    fn keys_of_other_lengths_are_refused_with_the_allowed_lengths() {
        for len in [2usize, 15, 17, 24, 31, 33, 64] {
            assert_eq!(
                ChannelKey::from_psk(&vec![1; len]),
                Err(KeyError::WrongLength { bytes: len })
            );
        }
        let message = KeyError::WrongLength { bytes: 8 }.to_string();
        assert!(
            message.contains("16 bytes") && message.contains("32 bytes"),
            "{message}"
        );
        assert_eq!(
            ChannelKey::from_psk_base64("not base64!"),
            Err(KeyError::NotBase64)
        );
        assert!(KeyError::NotBase64.to_string().contains("base64"));
    }

    #[test]
    fn longfast_with_the_default_key_hashes_to_8() {
        let key = ChannelKey::from_psk_base64("AQ==").unwrap();
        assert_eq!(key.channel_hash("LongFast"), 8);
        let none = ChannelKey::from_psk_base64("").unwrap();
        let name_xor = b"LongFast".iter().fold(0u8, |h, b| h ^ b);
        assert_eq!(none.channel_hash("LongFast"), u32::from(name_xor));
        assert!((0..=255).contains(&key.channel_hash("any name at all, even long")));
    }

    /// Decrypts the `encrypted` field of a Python-made envelope and compares with the Data
    /// bytes Python encrypted (the `<name>.data` line).
    fn assert_decrypts_like_python(name: &str, psk: &str) {
        use crate::mesh::proto::{PacketPayload, ServiceEnvelope};
        let envelope = ServiceEnvelope::parse(&vector(name)).unwrap();
        let packet = envelope.packet.unwrap();
        let PacketPayload::Encrypted(mut bytes) = packet.payload else {
            panic!("{name} is not encrypted");
        };
        let key = ChannelKey::from_psk_base64(psk).unwrap();
        assert_eq!(
            key.channel_hash(&envelope.channel_id),
            packet.channel,
            "{name}"
        );
        key.apply(packet.id, packet.from, &mut bytes);
        assert_eq!(bytes, vector(&format!("{name}.data")), "{name}");
        // And back: encrypting Python's plaintext gives Python's ciphertext.
        key.apply(packet.id, packet.from, &mut bytes);
        let PacketPayload::Encrypted(original) = ServiceEnvelope::parse(&vector(name))
            .unwrap()
            .packet
            .unwrap()
            .payload
        else {
            unreachable!()
        };
        assert_eq!(bytes, original);
    }

    #[test]
    fn aes_ctr_decrypts_python_ciphertext_to_python_plaintext() {
        for name in [
            "nodeinfo",
            "position",
            "telemetry_device",
            "text",
            "routing_ack",
        ] {
            assert_decrypts_like_python(name, "AQ==");
        }
        let secret = "4dAqAzQaUAyKDnLUGyhdbTnVhaBq++lTyCn2pkpus8M=";
        assert_decrypts_like_python("aes256", secret);
        assert_decrypts_like_python("unknown_channel", "Ciiq21Xn+8eiRhjsNJQbsQ==");
    }
}
