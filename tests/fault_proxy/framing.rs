//! Broker→client byte handling: MQTT packet boundaries, PINGRESP withholding and re-chunking.
//!
//! The proxy only needs MQTT's fixed header: one type/flags byte, then the remaining length as
//! a little-endian base-128 varint of at most four bytes (decoded by the session's own
//! [`varint`] module). Everything after that is opaque.

use std::time::{Duration, Instant};

use mqtt_web::mqtt::varint;

/// How long `chunk coalesce` holds complete packets before sending them as one frame.
pub const COALESCE_WINDOW: Duration = Duration::from_millis(20);

/// The exact bytes of a PINGRESP packet.
const PINGRESP: [u8; 2] = [0xD0, 0x00];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the first byte (packet type and flags) of the next packet.
    Header,
    /// Reading remaining-length bytes; the fixed header so far is in `header`.
    Length,
    /// Passing through `body_left` more bytes of the current packet.
    Body,
    /// A remaining length longer than four bytes was seen: boundaries are unknowable from here
    /// on, so every byte passes and each input chunk counts as ending a packet.
    Lost,
}

/// The result of feeding one broker frame's bytes through [`PacketSplitter::feed`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fed {
    /// The bytes to forward (input minus withheld PINGRESPs; a fixed header split across
    /// frames is held back until it is complete).
    pub bytes: Vec<u8>,
    /// Offsets in `bytes` where a packet ends (exclusive), ascending.
    pub ends: Vec<usize>,
    /// How many PINGRESP packets were swallowed.
    pub withheld: u64,
}

/// Streaming MQTT packet splitter over the broker→client byte stream.
#[derive(Debug)]
pub struct PacketSplitter {
    state: State,
    header: [u8; 5],
    header_len: usize,
    body_left: usize,
}

impl Default for PacketSplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl PacketSplitter {
    pub fn new() -> Self {
        Self {
            state: State::Header,
            header: [0; 5],
            header_len: 0,
            body_left: 0,
        }
    }

    /// Feeds the next bytes of the stream; with `withhold`, PINGRESP packets are dropped.
    pub fn feed(&mut self, data: &[u8], withhold: bool) -> Fed {
        let mut fed = Fed {
            bytes: Vec::with_capacity(data.len()),
            ..Fed::default()
        };
        let mut i = 0;
        while i < data.len() {
            match self.state {
                State::Header => {
                    self.header[0] = data[i];
                    self.header_len = 1;
                    self.state = State::Length;
                    i += 1;
                }
                State::Length => {
                    let b = data[i];
                    i += 1;
                    self.header[self.header_len] = b;
                    self.header_len += 1;
                    let header = &self.header[..self.header_len];
                    match varint::decode(&header[1..]) {
                        Ok(None) => {}
                        Ok(Some((length, _))) => {
                            if withhold && header == PINGRESP {
                                fed.withheld += 1;
                                self.state = State::Header;
                            } else {
                                fed.bytes.extend_from_slice(header);
                                if length == 0 {
                                    fed.ends.push(fed.bytes.len());
                                    self.state = State::Header;
                                } else {
                                    self.body_left = length;
                                    self.state = State::Body;
                                }
                            }
                        }
                        Err(_) => {
                            // Four bytes that all say "more follows": malformed, stop parsing.
                            fed.bytes.extend_from_slice(header);
                            self.state = State::Lost;
                        }
                    }
                }
                State::Body => {
                    let n = self.body_left.min(data.len() - i);
                    fed.bytes.extend_from_slice(&data[i..i + n]);
                    i += n;
                    self.body_left -= n;
                    if self.body_left == 0 {
                        fed.ends.push(fed.bytes.len());
                        self.state = State::Header;
                    }
                }
                State::Lost => {
                    fed.bytes.extend_from_slice(&data[i..]);
                    i = data.len();
                }
            }
        }
        if self.state == State::Lost && fed.ends.last() != Some(&fed.bytes.len()) {
            fed.ends.push(fed.bytes.len());
        }
        fed
    }
}

/// Broker→client re-chunking mode (`chunk ...` on the control port).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// Each broker frame goes on as one frame.
    None,
    /// Every byte in its own frame.
    One,
    /// Frames of 1..=64 bytes, lengths drawn from a xorshift seeded with this value.
    Random(u64),
    /// Complete packets are held up to [`COALESCE_WINDOW`] and sent together as one frame.
    Coalesce,
}

impl std::fmt::Display for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Chunk::None => write!(f, "none"),
            Chunk::One => write!(f, "one"),
            Chunk::Random(seed) => write!(f, "random {seed}"),
            Chunk::Coalesce => write!(f, "coalesce"),
        }
    }
}

/// xorshift64: small, seeded, reproducible.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        // Zero is the one state xorshift never leaves.
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A chunk length in 1..=64.
    pub fn chunk_len(&mut self) -> usize {
        (self.next_u64() % 64) as usize + 1
    }
}

/// Turns filtered broker bytes into the frames sent to the client.
#[derive(Debug)]
pub struct Chunker {
    mode: Chunk,
    rng: XorShift,
    /// Coalesce only: bytes held back; `pending[..complete]` are whole packets.
    pending: Vec<u8>,
    complete: usize,
    deadline: Option<Instant>,
}

impl Chunker {
    pub fn new(mode: Chunk) -> Self {
        let seed = if let Chunk::Random(seed) = mode {
            seed
        } else {
            0
        };
        Self {
            mode,
            rng: XorShift::new(seed),
            pending: Vec::new(),
            complete: 0,
            deadline: None,
        }
    }

    /// Switches mode (re-seeding for `random`); anything held back is flushed first.
    pub fn set_mode(&mut self, mode: Chunk, out: &mut Vec<Vec<u8>>) {
        self.flush_all(out);
        *self = Self::new(mode);
    }

    /// Adds one broker frame's filtered bytes (`ends` as in [`Fed::ends`]).
    pub fn push(&mut self, bytes: &[u8], ends: &[usize], now: Instant, out: &mut Vec<Vec<u8>>) {
        match self.mode {
            Chunk::None => {
                if !bytes.is_empty() {
                    out.push(bytes.to_vec());
                }
            }
            Chunk::One => out.extend(bytes.iter().map(|b| vec![*b])),
            Chunk::Random(_) => {
                let mut rest = bytes;
                while !rest.is_empty() {
                    let n = self.rng.chunk_len().min(rest.len());
                    out.push(rest[..n].to_vec());
                    rest = &rest[n..];
                }
            }
            Chunk::Coalesce => {
                let base = self.pending.len();
                self.pending.extend_from_slice(bytes);
                if let Some(last) = ends.last() {
                    self.complete = base + last;
                    self.deadline.get_or_insert(now + COALESCE_WINDOW);
                }
            }
        }
    }

    /// Coalesce only: sends the held complete packets once their window has passed.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        if self.deadline.is_some_and(|d| now >= d) {
            out.push(self.pending.drain(..self.complete).collect());
            self.complete = 0;
            self.deadline = None;
        }
    }

    /// Sends everything held back, complete packets or not, as one frame.
    pub fn flush_all(&mut self, out: &mut Vec<Vec<u8>>) {
        if !self.pending.is_empty() {
            out.push(std::mem::take(&mut self.pending));
        }
        self.complete = 0;
        self.deadline = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(topic: &str, payload_len: usize) -> Vec<u8> {
        let remaining = 2 + topic.len() + payload_len;
        let mut p = vec![0x30];
        varint::encode(remaining, &mut p).unwrap();
        p.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        p.extend_from_slice(topic.as_bytes());
        p.extend(std::iter::repeat_n(b'x', payload_len));
        p
    }

    #[test]
    fn finds_boundaries_across_any_split() {
        let a = publish("a/b", 3);
        let b = publish("big", 20_000); // three-byte remaining length
        let mut stream = a.clone();
        stream.extend_from_slice(&PINGRESP);
        stream.extend_from_slice(&b);
        for split in 0..=stream.len().min(40) {
            let mut s = PacketSplitter::new();
            let first = s.feed(&stream[..split], false);
            let second = s.feed(&stream[split..], false);
            let mut all = first.bytes.clone();
            all.extend_from_slice(&second.bytes);
            assert_eq!(all, stream);
            let mut ends: Vec<usize> = first.ends.clone();
            ends.extend(second.ends.iter().map(|e| e + first.bytes.len()));
            assert_eq!(
                ends,
                vec![a.len(), a.len() + 2, stream.len()],
                "split at {split}"
            );
        }
    }

    #[test]
    fn withholds_pingresp_even_split_over_frames() {
        let a = publish("t", 1);
        let mut stream = PINGRESP.to_vec();
        stream.extend_from_slice(&a);
        stream.extend_from_slice(&PINGRESP);
        let mut s = PacketSplitter::new();
        let mut out = Vec::new();
        let mut withheld = 0;
        for byte in &stream {
            let fed = s.feed(std::slice::from_ref(byte), true);
            out.extend_from_slice(&fed.bytes);
            withheld += fed.withheld;
        }
        assert_eq!(out, a);
        assert_eq!(withheld, 2);
        // A PUBLISH whose body happens to contain D0 00 is not touched.
        let mut s = PacketSplitter::new();
        let tricky = [0x30, 0x04, 0x00, 0x00, 0xD0, 0x00];
        assert_eq!(s.feed(&tricky, true).bytes, tricky);
    }

    #[test]
    fn malformed_length_passes_everything() {
        let mut s = PacketSplitter::new();
        let bad = [0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02];
        let fed = s.feed(&bad, true);
        assert_eq!(fed.bytes, bad);
        assert_eq!(fed.ends, vec![bad.len()]);
        assert_eq!(s.feed(&[0xD0, 0x00], true).bytes, vec![0xD0, 0x00]);
    }

    #[test]
    fn chunk_modes() {
        let now = Instant::now();
        let data: Vec<u8> = (0..200u8).collect();
        let mut out = Vec::new();
        Chunker::new(Chunk::One).push(&data, &[200], now, &mut out);
        assert_eq!(out.len(), 200);
        assert!(out.iter().all(|f| f.len() == 1));

        let run = |seed| {
            let mut out = Vec::new();
            Chunker::new(Chunk::Random(seed)).push(&data, &[200], now, &mut out);
            out
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        assert!(a.iter().all(|f| (1..=64).contains(&f.len())));
        assert_eq!(a.concat(), data);
        assert!(run(0).len() > 1);

        let mut c = Chunker::new(Chunk::Coalesce);
        let mut out = Vec::new();
        c.push(&data[..10], &[4, 10], now, &mut out);
        c.push(&data[10..15], &[], now, &mut out);
        c.push(&data[15..30], &[5], now, &mut out);
        c.poll(now + Duration::from_millis(5), &mut out);
        assert!(out.is_empty());
        c.poll(now + COALESCE_WINDOW, &mut out);
        assert_eq!(out, vec![data[..20].to_vec()]);
        c.set_mode(Chunk::None, &mut out);
        assert_eq!(out.concat(), data[..30]);
    }
}
