//! MQTT 5 wire details: properties, and the packets `mqttbytes` 0.6 gets wrong.
//!
//! `mqttbytes::v5` is used for PUBLISH (both ways) and for SUBSCRIBE, UNSUBSCRIBE and the
//! publish acks we send. Written here instead, because the crate is wrong for them:
//! - CONNECT: its `Login` takes the password as a `String` and drops empty strings;
//! - CONNACK, the publish acks, SUBACK, UNSUBACK: it rejects reason codes it does not list,
//!   where we keep the code and show it by number;
//! - DISCONNECT: a zero-length one (`e0 00`) fails with `PayloadRequired`, and one with only
//!   a reason code (`e0 01 8e`, as mosquitto sends) fails with `InsufficientBytes(1)`,
//!   which a framer would take as "wait for more bytes" and hang;
//! - AUTH (type 15): it has none.

use bytes::{BufMut, BytesMut};

use super::packet::{Ack, ConnAck, Incoming, MultiAck};
use super::properties::{
    BrokerCapabilities, ConnectProperties, PublishProperties, UserProperties, WillProperties,
};
use super::varint;
use super::{ConnectOptions, EncodeError, QoS, ServerDisconnect};

/// Property identifiers (MQTT 5 §2.2.2.2).
pub(crate) mod id {
    pub const PAYLOAD_FORMAT: u8 = 0x01;
    pub const MESSAGE_EXPIRY: u8 = 0x02;
    pub const CONTENT_TYPE: u8 = 0x03;
    pub const RESPONSE_TOPIC: u8 = 0x08;
    pub const CORRELATION_DATA: u8 = 0x09;
    pub const SUBSCRIPTION_ID: u8 = 0x0B;
    pub const SESSION_EXPIRY: u8 = 0x11;
    pub const ASSIGNED_CLIENT_ID: u8 = 0x12;
    pub const SERVER_KEEPALIVE: u8 = 0x13;
    pub const AUTH_METHOD: u8 = 0x15;
    pub const AUTH_DATA: u8 = 0x16;
    pub const REQUEST_PROBLEM_INFO: u8 = 0x17;
    pub const WILL_DELAY: u8 = 0x18;
    pub const REQUEST_RESPONSE_INFO: u8 = 0x19;
    pub const RESPONSE_INFO: u8 = 0x1A;
    pub const SERVER_REFERENCE: u8 = 0x1C;
    pub const REASON_STRING: u8 = 0x1F;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const MAXIMUM_QOS: u8 = 0x24;
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    pub const USER_PROPERTY: u8 = 0x26;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub const WILDCARD_SUB_AVAILABLE: u8 = 0x28;
    pub const SUB_ID_AVAILABLE: u8 = 0x29;
    pub const SHARED_SUB_AVAILABLE: u8 = 0x2A;
}

/// One decoded property value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Byte(u8),
    Two(u16),
    Four(u32),
    Var(u32),
    Text(String),
    Binary(Vec<u8>),
    Pair(String, String),
}

/// A reader over the rest of a packet; every read checks its bounds (a field that runs past
/// the end is malformed, never "wait for more": the whole packet is already here).
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

pub(crate) type ReadResult<T> = Result<T, String>;

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    fn take(&mut self, n: usize, what: &str) -> ReadResult<&'a [u8]> {
        if self.buf.len() < n {
            return Err(format!("{what} runs past the end of the packet"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub fn u8(&mut self, what: &str) -> ReadResult<u8> {
        Ok(self.take(1, what)?[0])
    }

    pub fn u16(&mut self, what: &str) -> ReadResult<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> ReadResult<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn varint(&mut self, what: &str) -> ReadResult<u32> {
        match varint::decode(self.buf) {
            Ok(Some((value, used))) => {
                self.buf = &self.buf[used..];
                Ok(value as u32)
            }
            Ok(None) => Err(format!("{what} runs past the end of the packet")),
            Err(e) => Err(format!("{what}: {e}")),
        }
    }

    fn binary(&mut self, what: &str) -> ReadResult<&'a [u8]> {
        let len = self.u16(what)? as usize;
        self.take(len, what)
    }

    fn text(&mut self, what: &str) -> ReadResult<String> {
        let bytes = self.binary(what)?;
        let text = std::str::from_utf8(bytes).map_err(|_| format!("{what} is not UTF-8"))?;
        if text.contains('\0') {
            return Err(format!("{what} contains NUL"));
        }
        Ok(text.to_owned())
    }

    /// A reason code and a property list, either of which may be left out at the end of a
    /// packet (a missing code is 0, success).
    pub fn reason_and_properties(&mut self) -> ReadResult<(u8, Vec<(u8, Value)>)> {
        let code = if self.is_empty() {
            0
        } else {
            self.u8("reason code")?
        };
        let props = if self.is_empty() {
            Vec::new()
        } else {
            self.properties()?
        };
        Ok((code, props))
    }

    /// The property list at the reader's position (its length, then the properties).
    pub fn properties(&mut self) -> ReadResult<Vec<(u8, Value)>> {
        let len = self.varint("property length")? as usize;
        let mut list = Reader::new(self.take(len, "properties")?);
        let mut out = Vec::new();
        while !list.is_empty() {
            let id = list.u8("property")?;
            let value = match id {
                id::PAYLOAD_FORMAT
                | id::REQUEST_PROBLEM_INFO
                | id::REQUEST_RESPONSE_INFO
                | id::MAXIMUM_QOS
                | id::RETAIN_AVAILABLE
                | id::WILDCARD_SUB_AVAILABLE
                | id::SUB_ID_AVAILABLE
                | id::SHARED_SUB_AVAILABLE => Value::Byte(list.u8("property")?),
                id::SERVER_KEEPALIVE
                | id::RECEIVE_MAXIMUM
                | id::TOPIC_ALIAS_MAXIMUM
                | id::TOPIC_ALIAS => Value::Two(list.u16("property")?),
                id::MESSAGE_EXPIRY
                | id::SESSION_EXPIRY
                | id::WILL_DELAY
                | id::MAXIMUM_PACKET_SIZE => Value::Four(list.u32("property")?),
                id::SUBSCRIPTION_ID => Value::Var(list.varint("subscription identifier")?),
                id::CONTENT_TYPE
                | id::RESPONSE_TOPIC
                | id::ASSIGNED_CLIENT_ID
                | id::AUTH_METHOD
                | id::RESPONSE_INFO
                | id::SERVER_REFERENCE
                | id::REASON_STRING => Value::Text(list.text("property")?),
                id::CORRELATION_DATA | id::AUTH_DATA => {
                    Value::Binary(list.binary("property")?.to_vec())
                }
                id::USER_PROPERTY => Value::Pair(
                    list.text("user property name")?,
                    list.text("user property value")?,
                ),
                other => return Err(format!("unknown property {other:#04x}")),
            };
            out.push((id, value));
        }
        Ok(out)
    }
}

/// The reason string and user properties, which most packets may carry.
pub(crate) fn reason_string(props: &[(u8, Value)]) -> Option<String> {
    props.iter().find_map(|(id, v)| match (*id, v) {
        (id::REASON_STRING, Value::Text(s)) => Some(s.clone()),
        _ => None,
    })
}

pub(crate) fn user_properties(props: &[(u8, Value)]) -> UserProperties {
    props
        .iter()
        .filter_map(|(_, v)| match v {
            Value::Pair(k, v) => Some((k.clone(), v.clone())),
            _ => None,
        })
        .collect()
}

/// What a CONNACK's properties say, with the spec's defaults for those left out.
pub(crate) fn capabilities(props: &[(u8, Value)]) -> ReadResult<BrokerCapabilities> {
    let mut caps = BrokerCapabilities {
        reason_string: reason_string(props),
        user_properties: user_properties(props),
        ..BrokerCapabilities::default()
    };
    let flag = |b: u8, name: &str| match b {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(format!("CONNACK {name} is {other} (must be 0 or 1)")),
    };
    for (pid, value) in props {
        match (*pid, value) {
            (id::MAXIMUM_QOS, Value::Byte(q)) => {
                caps.maximum_qos = match q {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    other => return Err(format!("CONNACK maximum QoS is {other}")),
                }
            }
            (id::RETAIN_AVAILABLE, Value::Byte(b)) => {
                caps.retain_available = flag(*b, "retain available")?
            }
            (id::MAXIMUM_PACKET_SIZE, Value::Four(0)) => {
                return Err("CONNACK maximum packet size is 0".into())
            }
            (id::MAXIMUM_PACKET_SIZE, Value::Four(n)) => caps.maximum_packet_size = Some(*n),
            (id::TOPIC_ALIAS_MAXIMUM, Value::Two(n)) => caps.topic_alias_maximum = *n,
            (id::RECEIVE_MAXIMUM, Value::Two(0)) => {
                return Err("CONNACK receive maximum is 0".into())
            }
            (id::RECEIVE_MAXIMUM, Value::Two(n)) => caps.receive_maximum = *n,
            (id::WILDCARD_SUB_AVAILABLE, Value::Byte(b)) => {
                caps.wildcard_subscriptions = flag(*b, "wildcard subscription available")?
            }
            (id::SHARED_SUB_AVAILABLE, Value::Byte(b)) => {
                caps.shared_subscriptions = flag(*b, "shared subscription available")?
            }
            (id::SUB_ID_AVAILABLE, Value::Byte(b)) => {
                caps.subscription_identifiers = flag(*b, "subscription identifiers available")?
            }
            (id::SERVER_KEEPALIVE, Value::Two(n)) => caps.server_keepalive_secs = Some(*n),
            (id::ASSIGNED_CLIENT_ID, Value::Text(s)) => caps.assigned_client_id = Some(s.clone()),
            (id::SESSION_EXPIRY, Value::Four(n)) => caps.session_expiry_secs = Some(*n),
            (id::RESPONSE_INFO, Value::Text(s)) => caps.response_information = Some(s.clone()),
            _ => {}
        }
    }
    Ok(caps)
}

/// The body of a v5 packet other than PUBLISH (which `mqttbytes` decodes), after the
/// fixed header. `kind` is the packet type; the framer has checked flags and sizes.
pub(crate) fn decode(kind: u8, body: &[u8]) -> ReadResult<Incoming> {
    let mut r = Reader::new(body);
    let packet = match kind {
        2 => {
            let flags = r.u8("CONNACK flags")?;
            if flags & 0xFE != 0 {
                return Err(format!("CONNACK with reserved flags {flags:#04x} set"));
            }
            let code = r.u8("CONNACK reason code")?;
            // A broker that does not speak 5 may answer with a 3.1.1 CONNACK (2 bytes, code
            // 1 "unacceptable protocol version"): no properties then.
            let props = if r.is_empty() {
                Vec::new()
            } else {
                r.properties()?
            };
            let server_reference = text_property(&props, id::SERVER_REFERENCE);
            Incoming::ConnAck(ConnAck {
                session_present: flags & 1 == 1,
                code,
                capabilities: Some(Box::new(capabilities(&props)?)),
                server_reference,
            })
        }
        4..=7 => {
            let pkid = r.u16("packet id")?;
            if pkid == 0 {
                return Err("packet id 0".into());
            }
            let (code, props) = r.reason_and_properties()?;
            let ack = Ack {
                pkid,
                code,
                reason_string: reason_string(&props),
            };
            match kind {
                4 => Incoming::PubAck(ack),
                5 => Incoming::PubRec(ack),
                6 => Incoming::PubRel(ack),
                _ => Incoming::PubComp(ack),
            }
        }
        9 | 11 => {
            let pkid = r.u16("packet id")?;
            let props = r.properties()?;
            let codes = r.rest().to_vec();
            if codes.is_empty() {
                return Err("no reason codes".into());
            }
            let ack = MultiAck {
                pkid,
                codes,
                reason_string: reason_string(&props),
            };
            if kind == 9 {
                Incoming::SubAck(ack)
            } else {
                Incoming::UnsubAck(ack)
            }
        }
        13 => Incoming::PingResp,
        14 => {
            // Both the reason code and the properties may be left out (§3.14.2.1).
            let (code, props) = r.reason_and_properties()?;
            Incoming::Disconnect(ServerDisconnect {
                code,
                reason_string: reason_string(&props),
                server_reference: text_property(&props, id::SERVER_REFERENCE),
            })
        }
        15 => {
            let (code, _props) = r.reason_and_properties()?;
            Incoming::Auth { code }
        }
        other => return Err(format!("packet type {other} has no v5 decoder")),
    };
    if !r.is_empty() {
        return Err("bytes left after the last field".into());
    }
    Ok(packet)
}

fn text_property(props: &[(u8, Value)], wanted: u8) -> Option<String> {
    props.iter().find_map(|(pid, v)| match (*pid, v) {
        (p, Value::Text(s)) if p == wanted => Some(s.clone()),
        _ => None,
    })
}

/// The properties of an incoming PUBLISH as `mqttbytes` decoded them, and its topic alias.
pub(crate) fn publish_properties(
    p: Option<mqttbytes::v5::PublishProperties>,
) -> (Option<u16>, Option<Box<PublishProperties>>) {
    let Some(p) = p else {
        return (None, None);
    };
    let props = PublishProperties {
        payload_is_utf8: p.payload_format_indicator.map(|v| v == 1),
        message_expiry_secs: p.message_expiry_interval,
        content_type: p.content_type,
        response_topic: p.response_topic,
        correlation_data: p.correlation_data.map(|d| d.to_vec()),
        user_properties: p.user_properties,
        subscription_ids: p
            .subscription_identifiers
            .into_iter()
            .map(|id| id as u32)
            .collect(),
    };
    let props = (!props.is_empty()).then(|| Box::new(props));
    (p.topic_alias, props)
}

// ----- writing -----

fn too_long(packet: &str, what: &str) -> EncodeError {
    EncodeError {
        packet: packet.into(),
        detail: format!("{what} is over 65,535 bytes"),
    }
}

/// Builds a property list; string lengths are checked when the packet is finished.
#[derive(Default)]
pub(crate) struct PropertyWriter {
    buf: Vec<u8>,
    too_long: Option<&'static str>,
}

impl PropertyWriter {
    pub fn byte(&mut self, id: u8, v: u8) -> &mut Self {
        self.buf.extend([id, v]);
        self
    }
    pub fn two(&mut self, id: u8, v: u16) -> &mut Self {
        self.buf.push(id);
        self.buf.extend(v.to_be_bytes());
        self
    }
    pub fn four(&mut self, id: u8, v: u32) -> &mut Self {
        self.buf.push(id);
        self.buf.extend(v.to_be_bytes());
        self
    }
    fn raw(&mut self, bytes: &[u8], what: &'static str) {
        match u16::try_from(bytes.len()) {
            Ok(len) => {
                self.buf.extend(len.to_be_bytes());
                self.buf.extend_from_slice(bytes);
            }
            Err(_) => self.too_long = Some(what),
        }
    }
    pub fn binary(&mut self, id: u8, v: &[u8], what: &'static str) -> &mut Self {
        self.buf.push(id);
        self.raw(v, what);
        self
    }
    pub fn text(&mut self, id: u8, v: &str, what: &'static str) -> &mut Self {
        self.binary(id, v.as_bytes(), what)
    }
    pub fn users(&mut self, pairs: &UserProperties) -> &mut Self {
        for (k, v) in pairs {
            self.buf.push(id::USER_PROPERTY);
            self.raw(k.as_bytes(), "a user property name");
            self.raw(v.as_bytes(), "a user property value");
        }
        self
    }

    /// Length prefix and properties, appended to `out`.
    pub fn finish(&self, packet: &str, out: &mut BytesMut) -> Result<(), EncodeError> {
        if let Some(what) = self.too_long {
            return Err(too_long(packet, what));
        }
        varint::encode(self.buf.len(), out).map_err(|e| EncodeError {
            packet: packet.into(),
            detail: e.to_string(),
        })?;
        out.extend_from_slice(&self.buf);
        Ok(())
    }
}

fn put_string(
    buf: &mut BytesMut,
    bytes: &[u8],
    packet: &str,
    what: &str,
) -> Result<(), EncodeError> {
    let len = u16::try_from(bytes.len()).map_err(|_| too_long(packet, what))?;
    buf.put_u16(len);
    buf.extend_from_slice(bytes);
    Ok(())
}

/// Fixed header byte and remaining length around `body`.
pub(crate) fn frame(first: u8, body: &[u8], packet: &str) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(first);
    varint::encode(body.len(), &mut out).map_err(|e| EncodeError {
        packet: packet.into(),
        detail: e.to_string(),
    })?;
    out.extend_from_slice(body);
    Ok(out)
}

fn connect_properties(p: &ConnectProperties) -> PropertyWriter {
    let mut w = PropertyWriter::default();
    if let Some(v) = p.session_expiry_secs.filter(|&v| v > 0) {
        w.four(id::SESSION_EXPIRY, v);
    }
    if let Some(v) = p.receive_maximum {
        w.two(id::RECEIVE_MAXIMUM, v);
    }
    if let Some(v) = p.maximum_packet_size {
        w.four(id::MAXIMUM_PACKET_SIZE, v);
    }
    if let Some(v) = p.topic_alias_maximum.filter(|&v| v > 0) {
        w.two(id::TOPIC_ALIAS_MAXIMUM, v);
    }
    if p.request_response_information {
        w.byte(id::REQUEST_RESPONSE_INFO, 1);
    }
    w.users(&p.user_properties);
    w
}

fn will_properties(p: &WillProperties) -> PropertyWriter {
    let mut w = PropertyWriter::default();
    if let Some(v) = p.delay_interval_secs.filter(|&v| v > 0) {
        w.four(id::WILL_DELAY, v);
    }
    if p.payload_is_utf8 {
        w.byte(id::PAYLOAD_FORMAT, 1);
    }
    if let Some(v) = p.message_expiry_secs {
        w.four(id::MESSAGE_EXPIRY, v);
    }
    if let Some(v) = &p.content_type {
        w.text(id::CONTENT_TYPE, v, "the will content type");
    }
    if let Some(v) = &p.response_topic {
        w.text(id::RESPONSE_TOPIC, v, "the will response topic");
    }
    if let Some(v) = &p.correlation_data {
        w.binary(id::CORRELATION_DATA, v, "the will correlation data");
    }
    w.users(&p.user_properties);
    w
}

/// CONNECT for MQTT 5 (same user-name/password rule as the 3.1.1 one: an empty field counts
/// as absent; 5 allows a password without a user name, so none is invented).
pub(crate) fn encode_connect(
    options: &ConnectOptions,
    clean_start: bool,
) -> Result<Vec<u8>, EncodeError> {
    const P: &str = "CONNECT";
    let username = options.username.as_deref().filter(|u| !u.is_empty());
    let password = options.password.as_deref().filter(|p| !p.is_empty());
    let mut flags = 0u8;
    if clean_start {
        flags |= 0x02;
    }
    let mut body = BytesMut::new();
    put_string(&mut body, b"MQTT", P, "protocol name")?;
    body.put_u8(5);
    let flags_at = body.len();
    body.put_u8(0);
    body.put_u16(options.keepalive_secs);
    connect_properties(&options.properties).finish(P, &mut body)?;
    put_string(&mut body, options.client_id.as_bytes(), P, "the client id")?;
    if let Some(will) = &options.last_will {
        flags |= 0x04 | (will.qos.as_u8() << 3);
        if will.retain {
            flags |= 0x20;
        }
        will_properties(&will.properties).finish(P, &mut body)?;
        put_string(&mut body, will.topic.as_bytes(), P, "the will topic")?;
        put_string(&mut body, &will.payload, P, "the will payload")?;
    }
    if let Some(u) = username {
        flags |= 0x80;
        put_string(&mut body, u.as_bytes(), P, "the user name")?;
    }
    if let Some(p) = password {
        flags |= 0x40;
        put_string(&mut body, p.as_bytes(), P, "the password")?;
    }
    body[flags_at] = flags;
    frame(0x10, &body, P)
}

/// DISCONNECT: `e0 00` for a normal one, `e0 01 <code>` otherwise (no properties).
pub(crate) fn encode_disconnect(code: u8) -> Vec<u8> {
    if code == 0 {
        vec![0xE0, 0x00]
    } else {
        vec![0xE0, 0x01, code]
    }
}

/// A publish ack (PUBACK, PUBREC, PUBREL, PUBCOMP by `first`), reason code left out when 0.
pub(crate) fn encode_ack(first: u8, pkid: u16, code: u8) -> Vec<u8> {
    let [hi, lo] = pkid.to_be_bytes();
    if code == 0 {
        vec![first, 0x02, hi, lo]
    } else {
        vec![first, 0x03, hi, lo, code]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_of_every_type_are_read_and_bounds_checked() {
        let mut bytes = vec![];
        let mut w = PropertyWriter::default();
        w.byte(id::MAXIMUM_QOS, 1)
            .two(id::RECEIVE_MAXIMUM, 20)
            .four(id::MAXIMUM_PACKET_SIZE, 1000)
            .text(id::REASON_STRING, "why", "x")
            .binary(id::CORRELATION_DATA, &[0, 1], "x")
            .users(&vec![("a".into(), "1".into())]);
        let mut out = BytesMut::new();
        w.finish("T", &mut out).unwrap();
        bytes.extend_from_slice(&out);
        bytes.extend([0x0B, 0x81, 0x01]); // a subscription id after the list: not part of it
        let mut r = Reader::new(&bytes);
        let props = r.properties().unwrap();
        assert_eq!(
            props,
            vec![
                (id::MAXIMUM_QOS, Value::Byte(1)),
                (id::RECEIVE_MAXIMUM, Value::Two(20)),
                (id::MAXIMUM_PACKET_SIZE, Value::Four(1000)),
                (id::REASON_STRING, Value::Text("why".into())),
                (id::CORRELATION_DATA, Value::Binary(vec![0, 1])),
                (id::USER_PROPERTY, Value::Pair("a".into(), "1".into())),
            ]
        );
        assert_eq!(r.rest(), &[0x0B, 0x81, 0x01]);
        assert_eq!(
            Reader::new(&[0x03, 0x0B, 0x81, 0x01]).properties().unwrap(),
            vec![(id::SUBSCRIPTION_ID, Value::Var(129))]
        );

        for bad in [
            &[0x05, 0x21, 0x00][..],         // list longer than the packet
            &[0x02, 0x21, 0x00],             // u16 cut by the list's end
            &[0x02, 0x7F, 0x00],             // unknown property
            &[0x04, 0x1F, 0x00, 0x01, 0xFF], // reason string not UTF-8
            &[0x03, 0x0B, 0x80, 0x80],       // varint cut
            &[0x80, 0x80, 0x80, 0x80, 0x01], // property length of 5 bytes
        ] {
            assert!(Reader::new(bad).properties().is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn connack_capabilities_take_the_spec_defaults_and_refuse_bad_values() {
        let caps = capabilities(&[]).unwrap();
        assert_eq!(caps, BrokerCapabilities::default());
        assert_eq!(caps.receive_maximum, 65_535);
        assert_eq!(caps.maximum_qos, QoS::ExactlyOnce);
        for bad in [
            vec![(id::MAXIMUM_QOS, Value::Byte(2))],
            vec![(id::RETAIN_AVAILABLE, Value::Byte(2))],
            vec![(id::RECEIVE_MAXIMUM, Value::Two(0))],
            vec![(id::MAXIMUM_PACKET_SIZE, Value::Four(0))],
        ] {
            assert!(capabilities(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn oversize_strings_are_refused_not_truncated() {
        let options = ConnectOptions {
            protocol: super::super::ProtocolVersion::V5,
            properties: ConnectProperties {
                user_properties: vec![("k".into(), "v".repeat(70_000))],
                ..ConnectProperties::default()
            },
            ..ConnectOptions::default()
        };
        let e = encode_connect(&options, true).unwrap_err();
        assert_eq!(e.detail, "a user property value is over 65,535 bytes");
    }

    #[test]
    fn disconnect_and_acks_have_their_short_forms() {
        assert_eq!(encode_disconnect(0), [0xE0, 0x00]);
        assert_eq!(encode_disconnect(0x94), [0xE0, 0x01, 0x94]);
        assert_eq!(encode_ack(0x40, 0x0102, 0), [0x40, 0x02, 0x01, 0x02]);
        assert_eq!(encode_ack(0x62, 7, 0x92), [0x62, 0x03, 0x00, 0x07, 0x92]);
    }
}
