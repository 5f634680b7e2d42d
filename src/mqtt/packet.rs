//! The packets the session deals in, the same for 3.1.1 and 5, and their encoders.
//!
//! The framer turns either version's bytes into [`Incoming`]; the session answers with the
//! `encode_*` functions here, which pick the version's wire form. With 3.1.1 the v5-only
//! parts (properties, reason codes other than success) are simply not written.

use bytes::{Bytes, BytesMut};
use mqttbytes::v4;
use mqttbytes::v5;

use super::framing::to_mqttbytes_qos;
use super::properties::{BrokerCapabilities, ProtocolVersion, PublishProperties, SubscribeOptions};
use super::{v5 as wire5, ConnectOptions, EncodeError, QoS, ServerDisconnect};

/// CONNACK.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConnAck {
    pub session_present: bool,
    /// 3.1.1 return code or 5 reason code (0 accepted).
    pub code: u8,
    /// MQTT 5 only: the CONNACK's properties with the defaults filled in.
    pub capabilities: Option<Box<BrokerCapabilities>>,
    /// MQTT 5 only: "use another server" / "server moved" reference.
    pub server_reference: Option<String>,
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack {
    pub pkid: u16,
    /// 0 with 3.1.1.
    pub code: u8,
    pub reason_string: Option<String>,
}

impl Ack {
    pub fn ok(pkid: u16) -> Ack {
        Ack {
            pkid,
            code: 0,
            reason_string: None,
        }
    }
}

/// An incoming PUBLISH. `topic` is as sent: empty when a v5 topic alias stands for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InPublish {
    pub topic: String,
    pub pkid: u16,
    pub qos: QoS,
    pub retain: bool,
    pub dup: bool,
    pub payload: Bytes,
    pub topic_alias: Option<u16>,
    pub properties: Option<Box<PublishProperties>>,
}

/// SUBACK or UNSUBACK: one code per filter (none for a 3.1.1 UNSUBACK).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MultiAck {
    pub pkid: u16,
    pub codes: Vec<u8>,
    pub reason_string: Option<String>,
}

/// One packet a client may receive.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Incoming {
    ConnAck(ConnAck),
    Publish(InPublish),
    PubAck(Ack),
    PubRec(Ack),
    PubRel(Ack),
    PubComp(Ack),
    SubAck(MultiAck),
    UnsubAck(MultiAck),
    PingResp,
    /// MQTT 5: the broker ends the connection and says why.
    Disconnect(ServerDisconnect),
    /// MQTT 5 enhanced authentication, which we never start.
    Auth {
        code: u8,
    },
}

impl Incoming {
    pub fn name(&self) -> &'static str {
        match self {
            Incoming::ConnAck(_) => "CONNACK",
            Incoming::Publish(_) => "PUBLISH",
            Incoming::PubAck(_) => "PUBACK",
            Incoming::PubRec(_) => "PUBREC",
            Incoming::PubRel(_) => "PUBREL",
            Incoming::PubComp(_) => "PUBCOMP",
            Incoming::SubAck(_) => "SUBACK",
            Incoming::UnsubAck(_) => "UNSUBACK",
            Incoming::PingResp => "PINGRESP",
            Incoming::Disconnect(_) => "DISCONNECT",
            Incoming::Auth { .. } => "AUTH",
        }
    }
}

/// A PUBLISH to send.
pub(crate) struct OutPublish<'a> {
    pub topic: &'a str,
    pub payload: &'a Bytes,
    pub qos: QoS,
    pub retain: bool,
    pub dup: bool,
    /// Ignored for QoS 0.
    pub pkid: u16,
    pub properties: Option<&'a PublishProperties>,
    /// MQTT 5: the alias to send (with `topic` empty once the broker knows it).
    pub topic_alias: Option<u16>,
}

fn encode_error(packet: &str, error: mqttbytes::Error) -> EncodeError {
    use mqttbytes::Error as E;
    EncodeError {
        packet: packet.into(),
        detail: match error {
            E::PacketIdZero => "packet id 0 with QoS 1 or 2".into(),
            E::PayloadTooLong => format!("remaining length over {}", super::varint::MAX),
            other => format!("{other:?}"),
        },
    }
}

fn written(
    packet: &str,
    result: Result<usize, mqttbytes::Error>,
    buf: BytesMut,
) -> Result<Vec<u8>, EncodeError> {
    result
        .map(|_| buf.to_vec())
        .map_err(|e| encode_error(packet, e))
}

/// Strings `mqttbytes` writes with a `u16` length (silently cut past 65,535 bytes).
fn check_lengths(packet: &str, fields: &[(&str, usize)]) -> Result<(), EncodeError> {
    match fields.iter().find(|(_, len)| *len > 65_535) {
        Some((what, _)) => Err(EncodeError {
            packet: packet.into(),
            detail: format!("{what} is over 65,535 bytes"),
        }),
        None => Ok(()),
    }
}

fn v5_publish_properties(
    p: Option<&PublishProperties>,
    topic_alias: Option<u16>,
) -> Option<v5::PublishProperties> {
    if p.is_none_or(PublishProperties::is_empty) && topic_alias.is_none() {
        return None;
    }
    let p = p.cloned().unwrap_or_default();
    Some(v5::PublishProperties {
        payload_format_indicator: p.payload_is_utf8.map(u8::from),
        message_expiry_interval: p.message_expiry_secs,
        topic_alias,
        response_topic: p.response_topic,
        correlation_data: p.correlation_data.map(Bytes::from),
        user_properties: p.user_properties,
        // Only a broker sends these.
        subscription_identifiers: Vec::new(),
        content_type: p.content_type,
    })
}

pub(crate) fn encode_publish(
    version: ProtocolVersion,
    p: &OutPublish<'_>,
) -> Result<Vec<u8>, EncodeError> {
    let pkid = if p.qos == QoS::AtMostOnce { 0 } else { p.pkid };
    let mut buf = BytesMut::new();
    match version {
        ProtocolVersion::V311 => {
            let mut packet =
                v4::Publish::from_bytes(p.topic, to_mqttbytes_qos(p.qos), p.payload.clone());
            packet.retain = p.retain;
            packet.dup = p.dup;
            packet.pkid = pkid;
            let result = packet.write(&mut buf);
            written("PUBLISH", result, buf)
        }
        ProtocolVersion::V5 => {
            if let Some(props) = p.properties {
                let mut fields = vec![
                    (
                        "the content type",
                        props.content_type.as_ref().map_or(0, String::len),
                    ),
                    (
                        "the response topic",
                        props.response_topic.as_ref().map_or(0, String::len),
                    ),
                    (
                        "the correlation data",
                        props.correlation_data.as_ref().map_or(0, Vec::len),
                    ),
                ];
                for (k, v) in &props.user_properties {
                    fields.push(("a user property name", k.len()));
                    fields.push(("a user property value", v.len()));
                }
                check_lengths("PUBLISH", &fields)?;
            }
            let mut packet =
                v5::Publish::from_bytes(p.topic, to_mqttbytes_qos(p.qos), p.payload.clone());
            packet.retain = p.retain;
            packet.dup = p.dup;
            packet.pkid = pkid;
            packet.properties = v5_publish_properties(p.properties, p.topic_alias);
            let result = packet.write(&mut buf);
            written("PUBLISH", result, buf)
        }
    }
}

pub(crate) fn encode_subscribe(
    version: ProtocolVersion,
    pkid: u16,
    filter: &str,
    options: &SubscribeOptions,
) -> Result<Vec<u8>, EncodeError> {
    let mut buf = BytesMut::new();
    match version {
        ProtocolVersion::V311 => {
            let mut packet = v4::Subscribe::new(filter, to_mqttbytes_qos(options.qos));
            packet.pkid = pkid;
            let result = packet.write(&mut buf);
            written("SUBSCRIBE", result, buf)
        }
        ProtocolVersion::V5 => {
            let mut sub =
                v5::SubscribeFilter::new(filter.to_owned(), to_mqttbytes_qos(options.qos));
            sub.set_nolocal(options.no_local)
                .set_preserve_retain(options.retain_as_published)
                .set_retain_forward_rule(match options.retain_handling.as_u8() {
                    0 => v5::RetainForwardRule::OnEverySubscribe,
                    1 => v5::RetainForwardRule::OnNewSubscribe,
                    _ => v5::RetainForwardRule::Never,
                });
            let mut packet = v5::Subscribe::new_many([sub]);
            packet.pkid = pkid;
            packet.properties = options.subscription_id.map(|id| v5::SubscribeProperties {
                id: Some(id as usize),
                user_properties: Vec::new(),
            });
            let result = packet.write(&mut buf);
            written("SUBSCRIBE", result, buf)
        }
    }
}

pub(crate) fn encode_unsubscribe(
    version: ProtocolVersion,
    pkid: u16,
    filter: &str,
) -> Result<Vec<u8>, EncodeError> {
    let mut buf = BytesMut::new();
    let result = match version {
        ProtocolVersion::V311 => {
            let mut packet = v4::Unsubscribe::new(filter.to_owned());
            packet.pkid = pkid;
            packet.write(&mut buf)
        }
        ProtocolVersion::V5 => {
            let mut packet = v5::Unsubscribe::new(filter.to_owned());
            packet.pkid = pkid;
            packet.write(&mut buf)
        }
    };
    written("UNSUBSCRIBE", result, buf)
}

/// Which publish ack.
// Named after the packets MQTT calls so.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckKind {
    PubAck,
    PubRec,
    PubRel,
    PubComp,
}

/// A publish ack; with 3.1.1 the code is not sent (only success exists there).
pub(crate) fn encode_ack(version: ProtocolVersion, kind: AckKind, pkid: u16, code: u8) -> Vec<u8> {
    let first = match kind {
        AckKind::PubAck => 0x40,
        AckKind::PubRec => 0x50,
        AckKind::PubRel => 0x62,
        AckKind::PubComp => 0x70,
    };
    let code = if version == ProtocolVersion::V5 {
        code
    } else {
        0
    };
    wire5::encode_ack(first, pkid, code)
}

pub(crate) const PINGREQ: [u8; 2] = [0xC0, 0x00];

/// DISCONNECT; with 3.1.1 it has no reason code.
pub(crate) fn encode_disconnect(version: ProtocolVersion, code: u8) -> Vec<u8> {
    match version {
        ProtocolVersion::V311 => vec![0xE0, 0x00],
        ProtocolVersion::V5 => wire5::encode_disconnect(code),
    }
}

/// CONNECT in the options' version. `clean_start` is the 3.1.1 clean-session flag too.
pub(crate) fn encode_connect(
    options: &ConnectOptions,
    clean_start: bool,
) -> Result<Vec<u8>, EncodeError> {
    match options.protocol {
        ProtocolVersion::V311 => super::framing::encode_connect(options),
        ProtocolVersion::V5 => wire5::encode_connect(options, clean_start),
    }
}
