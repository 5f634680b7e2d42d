//! Bytes in, packets out: a stream accumulator over `mqttbytes`, plus the encoders.
//!
//! WebSocket frames do not line up with MQTT packets: one frame may hold several packets or
//! a piece of one. [`Framer`] keeps the bytes until a whole packet is there (a partial packet
//! is a state, not an error). It checks the fixed header itself before `mqttbytes` sees the
//! body, so that:
//! - a remaining length with a 5th continuation byte is `Malformed`;
//! - a packet over the size limit is refused as soon as its header arrives (nothing is
//!   buffered for it);
//! - packet types a broker must never send (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ,
//!   DISCONNECT) and reserved types/flags are refused before any decoding;
//! - fixed-size packets have exactly their size (CONNACK, PUBACK… 2 bytes; PINGRESP 0).
//!
//! CONNACK is decoded here, not by `mqttbytes`, so that an undefined return code (6–255)
//! reaches the session as a code (`ConnectRefused::Other`) rather than a decode error.

use bytes::{BufMut, Bytes, BytesMut};
use mqttbytes::v4::{self, Packet};

use super::packet::{Ack, ConnAck, InPublish, Incoming, MultiAck};
use super::properties::ProtocolVersion;
use super::topic::validate_topic;
use super::{v5, varint};
use super::{ConnectOptions, EncodeError, ProtocolError, QoS};

/// The fixed header of a packet, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    pub kind: u8,
    pub flags: u8,
    /// Bytes of the fixed header itself (2–5).
    pub header_len: usize,
    pub remaining: usize,
}

impl FixedHeader {
    pub fn packet_len(&self) -> usize {
        self.header_len + self.remaining
    }
}

pub fn packet_name(kind: u8) -> &'static str {
    match kind {
        1 => "CONNECT",
        2 => "CONNACK",
        3 => "PUBLISH",
        4 => "PUBACK",
        5 => "PUBREC",
        6 => "PUBREL",
        7 => "PUBCOMP",
        8 => "SUBSCRIBE",
        9 => "SUBACK",
        10 => "UNSUBSCRIBE",
        11 => "UNSUBACK",
        12 => "PINGREQ",
        13 => "PINGRESP",
        14 => "DISCONNECT",
        15 => "AUTH",
        _ => "reserved packet type",
    }
}

/// Parse and check the fixed header at the start of `buf`. `Ok(None)`: not enough bytes yet.
/// With 3.1.1, DISCONNECT (14) and AUTH (15) never come from a broker; with 5 they may.
pub fn parse_header(
    buf: &[u8],
    max_packet: usize,
    version: ProtocolVersion,
) -> Result<Option<FixedHeader>, ProtocolError> {
    let v5 = version == ProtocolVersion::V5;
    let Some(&byte1) = buf.first() else {
        return Ok(None);
    };
    let (kind, flags) = (byte1 >> 4, byte1 & 0x0F);
    match kind {
        0 => {
            return Err(ProtocolError::Malformed(format!(
                "reserved packet type {kind}"
            )))
        }
        15 if !v5 => {
            return Err(ProtocolError::Malformed(format!(
                "reserved packet type {kind}"
            )))
        }
        14 if !v5 => {
            return Err(ProtocolError::Unexpected(
                "DISCONNECT (only clients send this packet in MQTT 3.1.1)".into(),
            ))
        }
        1 | 8 | 10 | 12 => {
            return Err(ProtocolError::Unexpected(format!(
                "{} (only clients send this packet)",
                packet_name(kind)
            )))
        }
        3 if (flags >> 1) & 0b11 == 3 => {
            return Err(ProtocolError::Malformed("PUBLISH with QoS 3".into()))
        }
        3 => {}
        6 if flags != 0b0010 => {
            return Err(ProtocolError::Malformed(format!(
                "PUBREL with flags {flags:#06b} (must be 0b0010)"
            )))
        }
        6 => {}
        _ if flags != 0 => {
            return Err(ProtocolError::Malformed(format!(
                "{} with reserved flags {flags:#06b} set",
                packet_name(kind)
            )))
        }
        _ => {}
    }

    // Remaining length: 1 to 4 bytes, 7 bits each, high bit = "more follows".
    let (remaining, len_bytes) = match varint::decode(&buf[1..]) {
        Ok(Some(decoded)) => decoded,
        Ok(None) => return Ok(None),
        Err(e) => return Err(ProtocolError::Malformed(e.to_string())),
    };
    let header_len = 1 + len_bytes;
    let header = FixedHeader {
        kind,
        flags,
        header_len,
        remaining,
    };

    let size = header.packet_len();
    if size > max_packet {
        return Err(ProtocolError::PacketTooLarge {
            size,
            max: max_packet,
        });
    }
    let wrong_size = match (kind, v5) {
        (2 | 4 | 5 | 6 | 7 | 11, false) => remaining != 2,
        (2 | 4 | 5 | 6 | 7, true) => remaining < 2,
        (9, false) => remaining < 3,
        (9 | 11, true) => remaining < 4,
        (13, _) => remaining != 0,
        (3, _) => remaining < 2,
        _ => false,
    };
    if wrong_size {
        return Err(ProtocolError::Malformed(format!(
            "{} with remaining length {remaining}",
            packet_name(kind)
        )));
    }
    Ok(Some(header))
}

fn describe(error: mqttbytes::Error) -> String {
    use mqttbytes::Error as E;
    match error {
        E::TopicNotUtf8 => "a string is not valid UTF-8".into(),
        E::InvalidQoS(q) => format!("QoS {q}"),
        E::PacketIdZero => "packet id 0".into(),
        E::BoundaryCrossed(_) | E::MalformedPacket | E::PayloadRequired => {
            "a field runs past the end of the packet".into()
        }
        E::InvalidSubscribeReasonCode(c) => format!("SUBACK return code {c:#04x} is not defined"),
        E::PayloadSizeIncorrect => "wrong packet length".into(),
        E::MalformedRemainingLength => "remaining length longer than 4 bytes".into(),
        other => format!("{other:?}"),
    }
}

/// Accumulates broker bytes and yields whole packets of one protocol version.
#[derive(Debug)]
pub struct Framer {
    buf: BytesMut,
    max_packet: usize,
    version: ProtocolVersion,
}

impl Framer {
    pub fn new(max_packet: usize, version: ProtocolVersion) -> Framer {
        Framer {
            buf: BytesMut::new(),
            max_packet,
            version,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Forget everything (new connection, or after an error).
    pub fn clear(&mut self) {
        self.buf = BytesMut::new();
    }

    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole packet, `Ok(None)` if more bytes are needed. After an error the buffer
    /// is dropped: the connection is over.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Incoming>, ProtocolError> {
        let result = self.decode();
        if result.is_err() {
            self.clear();
        }
        result
    }

    fn decode(&mut self) -> Result<Option<Incoming>, ProtocolError> {
        let Some(header) = parse_header(&self.buf, self.max_packet, self.version)? else {
            return Ok(None);
        };
        if self.buf.len() < header.packet_len() {
            return Ok(None);
        }
        let malformed = |what: String| {
            ProtocolError::Malformed(format!("{}: {what}", packet_name(header.kind)))
        };
        if header.kind == 2 && self.version == ProtocolVersion::V311 {
            let packet = self.buf.split_to(header.packet_len());
            let (flags, code) = (packet[header.header_len], packet[header.header_len + 1]);
            if flags & 0xFE != 0 {
                return Err(ProtocolError::Malformed(format!(
                    "CONNACK with reserved flags {flags:#04x} set"
                )));
            }
            return Ok(Some(Incoming::ConnAck(ConnAck {
                session_present: flags & 1 == 1,
                code,
                capabilities: None,
                server_reference: None,
            })));
        }
        if header.kind == 3 {
            return self.decode_publish(header).map(Some);
        }
        if self.version == ProtocolVersion::V5 {
            let packet = self.buf.split_to(header.packet_len());
            return v5::decode(header.kind, &packet[header.header_len..])
                .map(Some)
                .map_err(malformed);
        }
        match read_v4(&mut self.buf, header, self.max_packet) {
            Ok(packet) => Ok(Some(from_v4(packet)?)),
            // Cannot happen (the whole packet is buffered), but waiting is the safe answer.
            Err(mqttbytes::Error::InsufficientBytes(_)) => Ok(None),
            Err(e) => Err(malformed(describe(e))),
        }
    }

    fn decode_publish(&mut self, header: FixedHeader) -> Result<Incoming, ProtocolError> {
        let malformed = |what: String| ProtocolError::Malformed(format!("PUBLISH: {what}"));
        let publish = match self.version {
            ProtocolVersion::V311 => match read_v4(&mut self.buf, header, self.max_packet) {
                Ok(Packet::Publish(p)) => InPublish {
                    topic: p.topic,
                    pkid: p.pkid,
                    qos: from_mqttbytes_qos(p.qos),
                    retain: p.retain,
                    dup: p.dup,
                    payload: p.payload,
                    topic_alias: None,
                    properties: None,
                },
                Ok(_) => unreachable!("a PUBLISH header decodes as a PUBLISH"),
                Err(e) => return Err(malformed(describe(e))),
            },
            ProtocolVersion::V5 => match read_v5_publish(&mut self.buf, self.max_packet) {
                Ok(p) => {
                    let (topic_alias, properties) = v5::publish_properties(p.properties);
                    InPublish {
                        topic: p.topic,
                        pkid: p.pkid,
                        qos: from_mqttbytes_qos(p.qos),
                        retain: p.retain,
                        dup: p.dup,
                        payload: p.payload,
                        topic_alias,
                        properties,
                    }
                }
                Err(e) => return Err(malformed(describe(e))),
            },
        };
        // With a topic alias the topic may be empty (the session resolves it).
        let aliased = publish.topic.is_empty() && publish.topic_alias.is_some();
        if !aliased {
            if let Err(why) = validate_topic(&publish.topic) {
                return Err(malformed(format!("topic: {why}")));
            }
        }
        Ok(Incoming::Publish(publish))
    }
}

// mqttbytes' reader for the one packet type at the front of the buffer (whole, its header
// checked): not `v4::read` or `v5::read`, which would also link in the readers of the
// packets only clients send (CONNECT with its will and login, SUBSCRIBE, UNSUBSCRIBE) and,
// for 5, of the ones decoded here, all of which the download would carry for nothing.

/// The 3.1.1 packet at the front of `buf`, of the type `header` says.
fn read_v4(
    buf: &mut BytesMut,
    header: FixedHeader,
    max_packet: usize,
) -> Result<Packet, mqttbytes::Error> {
    let (fixed, bytes) = take_packet(buf, max_packet)?;
    if header.packet_len() == header.header_len && header.kind != 13 {
        return Err(mqttbytes::Error::PayloadRequired);
    }
    Ok(match header.kind {
        3 => Packet::Publish(v4::Publish::read(fixed, bytes)?),
        4 => Packet::PubAck(v4::PubAck::read(fixed, bytes)?),
        5 => Packet::PubRec(v4::PubRec::read(fixed, bytes)?),
        6 => Packet::PubRel(v4::PubRel::read(fixed, bytes)?),
        7 => Packet::PubComp(v4::PubComp::read(fixed, bytes)?),
        9 => Packet::SubAck(v4::SubAck::read(fixed, bytes)?),
        11 => Packet::UnsubAck(v4::UnsubAck::read(fixed, bytes)?),
        13 => Packet::PingResp,
        // CONNACK is decoded above; the header check refuses the rest.
        other => return Err(mqttbytes::Error::InvalidPacketType(other)),
    })
}

/// The MQTT 5 PUBLISH at the front of `buf`.
fn read_v5_publish(
    buf: &mut BytesMut,
    max_packet: usize,
) -> Result<mqttbytes::v5::Publish, mqttbytes::Error> {
    let (fixed, bytes) = take_packet(buf, max_packet)?;
    mqttbytes::v5::Publish::read(fixed, bytes)
}

/// The packet at the front of `buf`, whole, with mqttbytes' check of its fixed header.
fn take_packet(
    buf: &mut BytesMut,
    max_packet: usize,
) -> Result<(mqttbytes::FixedHeader, Bytes), mqttbytes::Error> {
    let fixed = mqttbytes::check(buf.iter(), max_packet)?;
    let bytes = buf.split_to(fixed.frame_length()).freeze();
    Ok((fixed, bytes))
}

/// A decoded 3.1.1 packet as the session's own type.
fn from_v4(packet: Packet) -> Result<Incoming, ProtocolError> {
    use v4::SubscribeReasonCode as Code;
    Ok(match packet {
        Packet::PubAck(p) => Incoming::PubAck(Ack::ok(p.pkid)),
        Packet::PubRec(p) => Incoming::PubRec(Ack::ok(p.pkid)),
        Packet::PubRel(p) => Incoming::PubRel(Ack::ok(p.pkid)),
        Packet::PubComp(p) => Incoming::PubComp(Ack::ok(p.pkid)),
        Packet::SubAck(p) => Incoming::SubAck(MultiAck {
            pkid: p.pkid,
            codes: p
                .return_codes
                .iter()
                .map(|c| match c {
                    Code::Success(q) => from_mqttbytes_qos(*q).as_u8(),
                    Code::Failure => 0x80,
                })
                .collect(),
            reason_string: None,
        }),
        Packet::UnsubAck(p) => Incoming::UnsubAck(MultiAck {
            pkid: p.pkid,
            codes: Vec::new(),
            reason_string: None,
        }),
        Packet::PingResp => Incoming::PingResp,
        // The header check refuses the others already; kept so none is ignored silently.
        other => {
            return Err(ProtocolError::Unexpected(format!(
                "{} (only clients send this packet)",
                name_of(&other)
            )))
        }
    })
}

pub fn to_mqttbytes_qos(qos: QoS) -> mqttbytes::QoS {
    match qos {
        QoS::AtMostOnce => mqttbytes::QoS::AtMostOnce,
        QoS::AtLeastOnce => mqttbytes::QoS::AtLeastOnce,
        QoS::ExactlyOnce => mqttbytes::QoS::ExactlyOnce,
    }
}

pub fn from_mqttbytes_qos(qos: mqttbytes::QoS) -> QoS {
    match qos {
        mqttbytes::QoS::AtMostOnce => QoS::AtMostOnce,
        mqttbytes::QoS::AtLeastOnce => QoS::AtLeastOnce,
        mqttbytes::QoS::ExactlyOnce => QoS::ExactlyOnce,
    }
}

/// Size of a 3.1.1 PUBLISH packet on the wire, header included.
pub fn publish_len(topic: &str, qos: QoS, payload_len: usize) -> usize {
    let pkid = if qos == QoS::AtMostOnce { 0 } else { 2 };
    let remaining = 2usize
        .saturating_add(topic.len())
        .saturating_add(pkid)
        .saturating_add(payload_len);
    remaining.saturating_add(1 + varint::encoded_len(remaining))
}

/// Encode any 3.1.1 packet with `mqttbytes` (the test broker's side): the whole packet, or the encoder's refusal (e.g. a
/// QoS 1/2 PUBLISH with packet id 0, or a remaining length over [`varint::MAX`]). Never a
/// half-written or empty packet.
#[cfg(test)]
pub(crate) fn encode(packet: &Packet) -> Result<Vec<u8>, EncodeError> {
    let mut buf = BytesMut::new();
    let result = match packet {
        Packet::Connect(p) => p.write(&mut buf),
        Packet::ConnAck(p) => p.write(&mut buf),
        Packet::Publish(p) => p.write(&mut buf),
        Packet::PubAck(p) => p.write(&mut buf),
        Packet::PubRec(p) => p.write(&mut buf),
        Packet::PubRel(p) => p.write(&mut buf),
        Packet::PubComp(p) => p.write(&mut buf),
        Packet::Subscribe(p) => p.write(&mut buf),
        Packet::SubAck(p) => p.write(&mut buf),
        Packet::Unsubscribe(p) => p.write(&mut buf),
        Packet::UnsubAck(p) => p.write(&mut buf),
        Packet::PingReq => v4::PingReq.write(&mut buf),
        Packet::PingResp => v4::PingResp.write(&mut buf),
        Packet::Disconnect => v4::Disconnect.write(&mut buf),
    };
    match result {
        Ok(_) => Ok(buf.to_vec()),
        Err(e) => Err(EncodeError {
            packet: name_of(packet).to_owned(),
            detail: describe_encode(e),
        }),
    }
}

#[cfg(test)]
fn describe_encode(error: mqttbytes::Error) -> String {
    use mqttbytes::Error as E;
    match error {
        E::PacketIdZero => "packet id 0 with QoS 1 or 2".into(),
        E::PayloadTooLong => format!("remaining length over {}", varint::MAX),
        other => format!("{other:?}"),
    }
}

/// The MQTT name of a packet's type.
pub(crate) fn name_of(packet: &Packet) -> &'static str {
    let kind = match packet {
        Packet::Connect(_) => 1,
        Packet::ConnAck(_) => 2,
        Packet::Publish(_) => 3,
        Packet::PubAck(_) => 4,
        Packet::PubRec(_) => 5,
        Packet::PubRel(_) => 6,
        Packet::PubComp(_) => 7,
        Packet::Subscribe(_) => 8,
        Packet::SubAck(_) => 9,
        Packet::Unsubscribe(_) => 10,
        Packet::UnsubAck(_) => 11,
        Packet::PingReq => 12,
        Packet::PingResp => 13,
        Packet::Disconnect => 14,
    };
    packet_name(kind)
}

fn put_string(buf: &mut BytesMut, bytes: &[u8]) {
    // Lengths are checked by `Session::connect` (at most 65,535 bytes).
    buf.put_u16(bytes.len().min(u16::MAX as usize) as u16);
    buf.extend_from_slice(&bytes[..bytes.len().min(u16::MAX as usize)]);
}

/// CONNECT for MQTT 3.1.1. Written here rather than with `mqttbytes` because its `Login`
/// drops empty strings and can send a password without a user name, which 3.1.1 forbids
/// (MQTT-3.1.2-22). Rule: an empty user name or password counts as absent, except that a
/// password always comes with the user-name flag (an empty user name if none was given).
pub(crate) fn encode_connect(options: &ConnectOptions) -> Result<Vec<u8>, EncodeError> {
    let username = options.username.as_deref().filter(|u| !u.is_empty());
    let password = options.password.as_deref().filter(|p| !p.is_empty());
    let username = match (username, password) {
        (None, Some(_)) => Some(""),
        (u, _) => u,
    };

    let mut flags = 0u8;
    if options.clean_session {
        flags |= 0x02;
    }
    let mut payload = BytesMut::new();
    put_string(&mut payload, options.client_id.as_bytes());
    if let Some(will) = &options.last_will {
        flags |= 0x04 | (will.qos.as_u8() << 3);
        if will.retain {
            flags |= 0x20;
        }
        put_string(&mut payload, will.topic.as_bytes());
        put_string(&mut payload, &will.payload);
    }
    if let Some(u) = username {
        flags |= 0x80;
        put_string(&mut payload, u.as_bytes());
    }
    if let Some(p) = password {
        flags |= 0x40;
        put_string(&mut payload, p.as_bytes());
    }

    let mut variable = BytesMut::new();
    put_string(&mut variable, b"MQTT");
    variable.put_u8(4); // protocol level 3.1.1
    variable.put_u8(flags);
    variable.put_u16(options.keepalive_secs);

    let remaining = variable.len() + payload.len();
    let mut out = BytesMut::with_capacity(remaining + 5);
    out.put_u8(0x10);
    varint::encode(remaining, &mut out).map_err(|e| EncodeError {
        packet: "CONNECT".into(),
        detail: e.to_string(),
    })?;
    out.extend_from_slice(&variable);
    out.extend_from_slice(&payload);
    Ok(out.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use mqttbytes::v4::{PubAck, Publish, SubAck, SubscribeReasonCode};

    fn stream() -> Vec<u8> {
        let mut bytes = vec![0x20, 0x02, 0x01, 0x00];
        let mut p = Publish::new("é/x", mqttbytes::QoS::AtLeastOnce, vec![1, 2, 3]);
        p.pkid = 7;
        bytes.extend(encode(&Packet::Publish(p)).unwrap());
        bytes.extend(encode(&Packet::PubAck(PubAck::new(3))).unwrap());
        bytes.extend(
            encode(&Packet::SubAck(SubAck::new(
                4,
                vec![SubscribeReasonCode::Success(mqttbytes::QoS::AtLeastOnce)],
            )))
            .unwrap(),
        );
        bytes.extend([0xD0, 0x00]);
        bytes
    }

    fn drain(f: &mut Framer) -> Vec<Incoming> {
        let mut out = Vec::new();
        while let Some(frame) = f.next_frame().unwrap() {
            out.push(frame);
        }
        out
    }

    #[test]
    fn packets_split_at_any_offset_or_coalesced_decode_the_same() {
        let bytes = stream();
        let mut whole = Framer::new(1 << 20, ProtocolVersion::V311);
        whole.push(&bytes);
        let expected = drain(&mut whole);
        assert_eq!(expected.len(), 5);
        assert_eq!(
            expected[0],
            Incoming::ConnAck(ConnAck {
                session_present: true,
                code: 0,
                capabilities: None,
                server_reference: None,
            })
        );
        assert_eq!(whole.buffered(), 0);
        for cut in 0..=bytes.len() {
            let mut f = Framer::new(1 << 20, ProtocolVersion::V311);
            f.push(&bytes[..cut]);
            let mut got = drain(&mut f);
            f.push(&bytes[cut..]);
            got.extend(drain(&mut f));
            assert_eq!(got, expected, "cut at {cut}");
        }
        let mut f = Framer::new(1 << 20, ProtocolVersion::V311);
        let mut got = Vec::new();
        for b in &bytes {
            f.push(std::slice::from_ref(b));
            got.extend(drain(&mut f));
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn five_byte_remaining_length_is_malformed() {
        let mut f = Framer::new(usize::MAX, ProtocolVersion::V311);
        f.push(&[0x30, 0xFF, 0xFF, 0xFF]);
        assert_eq!(f.next_frame(), Ok(None), "4 length bytes so far: wait");
        f.push(&[0xFF]);
        assert_eq!(
            f.next_frame(),
            Err(ProtocolError::Malformed(
                "remaining length longer than 4 bytes".into()
            ))
        );
    }

    #[test]
    fn packet_over_the_limit_is_refused_from_its_header_alone() {
        let mut f = Framer::new(1000, ProtocolVersion::V311);
        // PUBLISH announcing 200 MB: refused with only 5 bytes buffered.
        let len = 200_000_000usize;
        let mut header = vec![0x30];
        varint::encode(len, &mut header).unwrap();
        f.push(&header);
        assert_eq!(
            f.next_frame(),
            Err(ProtocolError::PacketTooLarge {
                size: len + 5,
                max: 1000
            })
        );
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn client_only_and_reserved_packet_types_are_refused_from_the_first_byte() {
        for (byte, unexpected) in [
            (0x10u8, true),
            (0x82, true),
            (0xA2, true),
            (0xC0, true),
            (0xE0, true),
            (0x00, false),
            (0xF0, false),
            (0x36, false), // PUBLISH QoS 3
            (0x60, false), // PUBREL without its 0b0010 flags
            (0x41, false), // PUBACK with reserved flags
        ] {
            let mut f = Framer::new(1000, ProtocolVersion::V311);
            f.push(&[byte]);
            match f.next_frame() {
                Err(ProtocolError::Unexpected(_)) if unexpected => {}
                Err(ProtocolError::Malformed(_)) if !unexpected => {}
                other => panic!("{byte:#04x}: {other:?}"),
            }
        }
    }

    #[test]
    fn bad_utf8_wildcard_topics_and_wrong_sizes_are_malformed() {
        let cases: [&[u8]; 6] = [
            &[0x30, 0x04, 0x00, 0x02, 0xC3, 0x28], // invalid UTF-8 topic
            &[0x30, 0x05, 0x00, 0x03, b'a', b'/', b'+'], // wildcard in a PUBLISH topic
            &[0x30, 0x03, 0x00, 0x05, b'a'],       // topic runs past the end
            &[0x32, 0x04, 0x00, 0x01, b'a', 0x00], // QoS 1 without a full packet id
            &[0x40, 0x03, 0x00, 0x01, 0x00],       // PUBACK of 3 bytes
            &[0x90, 0x03, 0x00, 0x01, 0x03],       // SUBACK code 3
        ];
        for bytes in cases {
            let mut f = Framer::new(1000, ProtocolVersion::V311);
            f.push(bytes);
            assert!(
                matches!(f.next_frame(), Err(ProtocolError::Malformed(_))),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn connack_keeps_unknown_return_codes_and_refuses_reserved_flags() {
        let mut f = Framer::new(1000, ProtocolVersion::V311);
        f.push(&[0x20, 0x02, 0x00, 0x86]);
        assert_eq!(
            f.next_frame(),
            Ok(Some(Incoming::ConnAck(ConnAck {
                session_present: false,
                code: 0x86,
                capabilities: None,
                server_reference: None,
            })))
        );
        f.push(&[0x20, 0x02, 0x02, 0x00]);
        assert!(matches!(f.next_frame(), Err(ProtocolError::Malformed(_))));
    }

    #[test]
    fn connect_encodes_login_will_and_flags() {
        let options = ConnectOptions {
            client_id: "web-1".into(),
            username: Some("user".into()),
            password: Some("pw".into()),
            keepalive_secs: 30,
            clean_session: false,
            last_will: Some(super::super::LastWill {
                topic: "devices/web-1/status".into(),
                payload: b"offline".to_vec(),
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: Default::default(),
            }),
            ..ConnectOptions::default()
        };
        let mut buf = BytesMut::from(&encode_connect(&options).unwrap()[..]);
        let Ok(Packet::Connect(c)) = v4::read(&mut buf, 1 << 20) else {
            panic!("not a CONNECT")
        };
        assert_eq!(c.client_id, "web-1");
        assert_eq!(c.keep_alive, 30);
        assert!(!c.clean_session);
        let login = c.login.unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("user", "pw")
        );
        let will = c.last_will.unwrap();
        assert_eq!(will.topic, "devices/web-1/status");
        assert_eq!(will.message, Bytes::from_static(b"offline"));
        assert_eq!(will.qos, mqttbytes::QoS::AtLeastOnce);
        assert!(will.retain);

        // A password alone still sets the user-name flag (MQTT-3.1.2-22).
        let bytes = encode_connect(&ConnectOptions {
            password: Some("secret".into()),
            ..ConnectOptions::default()
        })
        .unwrap();
        let flags = bytes[9];
        assert_eq!(flags & 0xC0, 0xC0, "{flags:#010b}");
        let bytes = encode_connect(&ConnectOptions::default()).unwrap();
        assert_eq!(bytes[9], 0x02, "clean session only");
    }

    #[test]
    fn publish_len_matches_the_encoder() {
        for (topic, qos, n) in [
            ("a", QoS::AtMostOnce, 0usize),
            ("a/b", QoS::AtLeastOnce, 120),
            ("ü", QoS::ExactlyOnce, 20_000),
            ("x", QoS::AtLeastOnce, 3_000_000),
        ] {
            let mut p = Publish::new(topic, to_mqttbytes_qos(qos), vec![0u8; n]);
            p.pkid = 1;
            assert_eq!(
                encode(&Packet::Publish(p)).unwrap().len(),
                publish_len(topic, qos, n)
            );
        }
    }

    #[test]
    fn encoder_refusals_are_errors_not_empty_packets() {
        // QoS 1 without a packet id: mqttbytes refuses it.
        let p = Publish::new("a", mqttbytes::QoS::AtLeastOnce, vec![1]);
        assert_eq!(
            encode(&Packet::Publish(p)),
            Err(EncodeError {
                packet: "PUBLISH".into(),
                detail: "packet id 0 with QoS 1 or 2".into()
            })
        );
        // A remaining length MQTT cannot express.
        let p = Publish::from_bytes(
            "a",
            mqttbytes::QoS::AtMostOnce,
            bytes::Bytes::from(vec![0u8; varint::MAX]),
        );
        let e = encode(&Packet::Publish(p)).unwrap_err();
        assert_eq!(e.packet, "PUBLISH");
        assert_eq!(
            e.to_string(),
            format!(
                "could not encode PUBLISH: remaining length over {}",
                varint::MAX
            )
        );
        assert_eq!(encode(&Packet::Disconnect).unwrap(), [0xE0, 0x00]);
    }
}
