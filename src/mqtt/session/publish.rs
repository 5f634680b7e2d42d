//! Publishes both ways: the outbox, QoS 1/2 exchanges and their retransmission, and
//! incoming application messages.

use std::collections::VecDeque;

use bytes::Bytes;

use super::{Link, LinkEnded, Session, Stop, MAX_CLOSES_RIGHT_AFTER_PUBLISH};
use crate::mqtt::framing::publish_len;
use crate::mqtt::inflight::{Awaiting, Draft, Outgoing};
use crate::mqtt::packet::{encode_publish, Ack, AckKind, InPublish, OutPublish};
use crate::mqtt::properties::ProtocolVersion;
use crate::mqtt::topic::validate_topic;
use crate::mqtt::{
    varint, CommandError, EncodeError, Event, Message, Millis, ProtocolError, PublishFailure,
    PublishId, PublishOutcome, PublishProperties, QoS,
};

/// A publish waiting in the outbox for a connection (or, with MQTT 5, for the broker's
/// receive maximum to allow another one in flight).
#[derive(Debug)]
pub(super) struct Queued {
    pub(super) id: PublishId,
    draft: Draft,
    expires_at: Millis,
}

/// How a PUBLISH names its topic on this link (MQTT 5 topic aliases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// The whole topic, no alias (3.1.1, retransmissions, no aliases allowed or left).
    Topic,
    /// The whole topic and a new alias for it.
    SetAlias(u16),
    /// Only the alias the broker already knows.
    Alias(u16),
}

impl Session {
    /// Publish; validated first. `id` is the caller's (the session only echoes it in
    /// `Event::Publish`). Offline it goes to the outbox (`PublishOutcome::Queued`). Refused
    /// with an error, nothing sent or queued, if it is invalid or cannot be encoded.
    pub fn publish(
        &mut self,
        id: PublishId,
        topic: &str,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
        now: Millis,
    ) -> Result<(), CommandError> {
        self.publish_with(id, topic, payload, qos, retain, None, now)
    }

    /// `publish` with MQTT 5 properties (ignored with 3.1.1).
    #[allow(clippy::too_many_arguments)]
    pub fn publish_with(
        &mut self,
        id: PublishId,
        topic: &str,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
        properties: Option<PublishProperties>,
        now: Millis,
    ) -> Result<(), CommandError> {
        validate_topic(topic).map_err(CommandError::InvalidTopic)?;
        let v5 = self.version() == ProtocolVersion::V5;
        let properties = properties.filter(|p| v5 && !p.is_empty()).map(Box::new);
        if let Some(response) = properties
            .as_ref()
            .and_then(|p| p.response_topic.as_deref())
        {
            validate_topic(response)
                .map_err(|why| CommandError::InvalidTopic(format!("response topic: {why}")))?;
        }
        if let Link::Connected(conn) = &self.link {
            if qos > conn.caps.maximum_qos {
                return Err(CommandError::QosNotSupported {
                    max: conn.caps.maximum_qos,
                });
            }
            if retain && !conn.caps.retain_available {
                return Err(CommandError::RetainNotSupported);
            }
        }
        let draft = Draft {
            topic: topic.to_owned(),
            payload: Bytes::from(payload),
            qos,
            retain,
            properties,
        };
        let max = self.max_outgoing_packet();
        let size = if v5 {
            // Properties make the size depend on the encoder: measure the packet itself.
            self.encode_draft(&draft, 1, false, Naming::Topic)
                .map_err(CommandError::Encode)?
                .len()
        } else {
            publish_len(topic, qos, draft.payload.len())
        };
        if size > max {
            return Err(CommandError::PayloadTooLarge {
                size: draft.payload.len(),
                max,
            });
        }
        if !self.running {
            return Err(CommandError::NotStarted);
        }
        self.expire_outbox(now);
        if matches!(self.link, Link::Connected(_)) && self.outbox.is_empty() {
            if qos == QoS::AtMostOnce {
                self.send_draft(&draft, 0, now)
                    .map_err(CommandError::Encode)?;
                self.publish_event(id, PublishOutcome::Sent);
                return Ok(());
            }
            if self.may_send_another() {
                if let Some(pkid) = self.pkids.allocate() {
                    if let Err(e) = self.send_draft(&draft, pkid, now) {
                        self.pkids.release(pkid);
                        return Err(CommandError::Encode(e));
                    }
                    self.publish_sent(pkid);
                    self.inflight.insert(id, pkid, draft);
                    return Ok(());
                }
            }
        }
        // Queued: check now that it will encode when its turn comes (any valid id will do).
        self.encode_draft(&draft, 1, false, Naming::Topic)
            .map_err(CommandError::Encode)?;
        if self.outbox.len() >= self.config.outbox_capacity {
            let waiting = self.outbox.len();
            self.publish_failed(id, PublishFailure::OutboxFull { waiting });
            return Ok(());
        }
        self.outbox.push_back(Queued {
            id,
            draft,
            expires_at: now.saturating_add(self.config.outbox_expiry_ms),
        });
        self.publish_event(id, PublishOutcome::Queued);
        Ok(())
    }

    /// MQTT 5 flow control: the broker's receive maximum bounds our QoS 1/2 publishes in
    /// flight (3.1.1: only the packet ids do).
    fn may_send_another(&self) -> bool {
        match &self.link {
            Link::Connected(conn) => {
                self.inflight.outgoing_len() < usize::from(conn.caps.receive_maximum)
            }
            _ => false,
        }
    }

    fn encode_draft(
        &self,
        draft: &Draft,
        pkid: u16,
        dup: bool,
        naming: Naming,
    ) -> Result<Vec<u8>, EncodeError> {
        let (topic, topic_alias) = match naming {
            Naming::Topic => (draft.topic.as_str(), None),
            Naming::SetAlias(a) => (draft.topic.as_str(), Some(a)),
            Naming::Alias(a) => ("", Some(a)),
        };
        encode_publish(
            self.version(),
            &OutPublish {
                topic,
                payload: &draft.payload,
                qos: draft.qos,
                retain: draft.retain,
                dup,
                pkid,
                properties: draft.properties.as_deref(),
                topic_alias,
            },
        )
    }

    /// A first send on this link: with MQTT 5 and aliases allowed, a topic sent before goes
    /// by its alias alone, a new one gets the next free alias.
    fn send_draft(&mut self, draft: &Draft, pkid: u16, now: Millis) -> Result<(), EncodeError> {
        let naming = match &self.link {
            Link::Connected(conn) if conn.caps.topic_alias_maximum > 0 => {
                match conn.aliases_out.iter().position(|t| *t == draft.topic) {
                    // At most the broker's maximum were set: the position fits.
                    Some(at) => Naming::Alias(at as u16 + 1),
                    None => match u16::try_from(conn.aliases_out.len() + 1) {
                        Ok(a) if a <= conn.caps.topic_alias_maximum => Naming::SetAlias(a),
                        _ => Naming::Topic,
                    },
                }
            }
            _ => Naming::Topic,
        };
        let bytes = self.encode_draft(draft, pkid, false, naming)?;
        if let (Naming::SetAlias(a), Link::Connected(conn)) = (naming, &mut self.link) {
            debug_assert_eq!(usize::from(a), conn.aliases_out.len() + 1);
            conn.aliases_out.push(draft.topic.clone());
        }
        self.send_bytes(bytes, now);
        Ok(())
    }

    pub(super) fn max_outgoing_packet(&self) -> usize {
        // Header (1 + 4 length bytes) plus the largest remaining length MQTT can express,
        // and the MQTT 5 broker's own maximum.
        let ours = self.config.max_outgoing_packet.min(varint::MAX + 5);
        match &self.link {
            Link::Connected(conn) => conn
                .caps
                .maximum_packet_size
                .map_or(ours, |m| ours.min(m as usize)),
            _ => ours,
        }
    }

    /// Report (and drop) every queued publish whose time is up. Runs on every input.
    pub(super) fn expire_outbox(&mut self, now: Millis) {
        if self.outbox.front().is_none_or(|q| q.expires_at > now) {
            return;
        }
        let after_ms = self.config.outbox_expiry_ms;
        let (expired, kept): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.outbox)
            .into_iter()
            .partition(|q| q.expires_at <= now);
        self.outbox = kept;
        for q in expired {
            self.publish_failed(q.id, PublishFailure::Expired { after_ms });
        }
    }

    pub(super) fn outbox_deadline(&self) -> Option<Millis> {
        self.outbox.front().map(|q| q.expires_at)
    }

    /// Unfinished QoS 1/2 publishes after a reconnect, in their original order.
    /// In-flight state belongs to one (broker, client id) session; this ends our part of it.
    /// `connect` calls it when the client id changes; the caller calls it when the broker
    /// changes (the session does not know URLs). Unacknowledged publishes are reported
    /// `Failed(SessionLeft)` rather than re-sent into a session that never saw them, their
    /// packet ids are freed, and incoming QoS 2 ids awaiting PUBREL are forgotten (a new
    /// PUBLISH reusing one must be shown, not taken for a duplicate). The outbox (never
    /// sent) and the wanted subscriptions stay: they belong to the user, not to the broker.
    pub fn leave_session(&mut self) {
        self.inflight.forget_incoming();
        for o in self.inflight.drain_outgoing() {
            self.pkids.release(o.pkid);
            self.publish_failed(o.id, PublishFailure::SessionLeft);
        }
    }

    /// Failover moved the link to another broker of the same service: incoming QoS 2 ids
    /// were the old broker's and are forgotten; unacknowledged publishes go out again as new
    /// ones after the next CONNACK whatever it says (at least once, as with a clean session).
    /// The backoff starts over: the failures counted were the old broker's.
    pub fn broker_moved(&mut self) {
        self.inflight.forget_incoming();
        self.fresh_broker = true;
        self.backoff.reset();
    }

    /// Notes a QoS 1/2 PUBLISH just sent (see `Conn::unanswered_publish`).
    fn publish_sent(&mut self, pkid: u16) {
        if let Link::Connected(conn) = &mut self.link {
            conn.unanswered_publish.get_or_insert(pkid);
        }
    }

    /// The broker closed the link right after `pkid` was sent; past the limit it fails.
    pub(super) fn broker_closed_right_after(&mut self, pkid: u16) {
        let Some(o) = self.inflight.get_mut(pkid) else {
            return;
        };
        o.closes_right_after += 1;
        if o.closes_right_after >= MAX_CLOSES_RIGHT_AFTER_PUBLISH {
            if let Some(o) = self.inflight.remove(pkid) {
                self.pkids.release(pkid);
                self.publish_failed(
                    o.id,
                    PublishFailure::ClosedByBroker {
                        times: o.closes_right_after,
                    },
                );
            }
        }
    }

    /// `fresh`: the broker's CONNACK says it kept nothing of ours (MQTT 5).
    pub(super) fn retransmit(&mut self, fresh: bool, now: Millis) -> Result<(), LinkEnded> {
        let clean = self.clean_session() || std::mem::take(&mut self.fresh_broker) || fresh;
        for pkid in self.inflight.send_order() {
            let Some(o) = self.inflight.get_mut(pkid) else {
                continue;
            };
            let dup = if clean {
                // A new session knows nothing of it: send it again as a new publish.
                o.awaiting = Outgoing::first_ack(o.draft.qos);
                false
            } else {
                match o.awaiting {
                    Awaiting::PubAck | Awaiting::PubRec => true,
                    Awaiting::PubComp => {
                        self.send_ack(AckKind::PubRel, pkid, now);
                        continue;
                    }
                }
            };
            let draft = o.draft.clone();
            match self.encode_draft(&draft, pkid, dup, Naming::Topic) {
                Ok(bytes) => {
                    self.send_bytes(bytes, now);
                    self.publish_sent(pkid);
                }
                Err(e) => {
                    // It encoded when it was first sent; should it not any more, that one
                    // publish fails rather than the connection.
                    if let Some(o) = self.inflight.remove(pkid) {
                        self.pkids.release(pkid);
                        self.publish_failed(o.id, PublishFailure::Unencodable(e));
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) fn flush_outbox(&mut self, now: Millis) -> Result<(), Stop> {
        while let Some(front) = self.outbox.front() {
            let pkid = if front.draft.qos == QoS::AtMostOnce {
                0
            } else {
                if !self.may_send_another() {
                    return Err(Stop::NoIds);
                }
                self.pkids.allocate().ok_or(Stop::NoIds)?
            };
            let Some(q) = self.outbox.pop_front() else {
                break;
            };
            if let Err(e) = self.send_draft(&q.draft, pkid, now) {
                // Checked by `publish` before it was queued; never dropped silently.
                self.pkids.release(pkid);
                self.publish_failed(q.id, PublishFailure::Unencodable(e));
                continue;
            }
            if q.draft.qos == QoS::AtMostOnce {
                self.publish_event(q.id, PublishOutcome::Sent);
            } else {
                self.publish_sent(pkid);
                self.inflight.insert(q.id, pkid, q.draft);
            }
        }
        Ok(())
    }

    pub(super) fn on_puback(&mut self, ack: Ack, now: Millis) -> Result<(), LinkEnded> {
        if self.inflight.get(ack.pkid).map(|o| o.awaiting) == Some(Awaiting::PubAck) {
            if ack.code >= 0x80 {
                return self.refused(ack, now);
            }
            self.complete(ack.pkid, now)?;
        }
        Ok(())
    }

    pub(super) fn on_pubrec(&mut self, ack: Ack, now: Millis) -> Result<(), LinkEnded> {
        let Some(o) = self.inflight.get_mut(ack.pkid) else {
            return Ok(());
        };
        if matches!(o.awaiting, Awaiting::PubRec | Awaiting::PubComp) {
            if ack.code >= 0x80 {
                // The exchange ends here: no PUBREL follows a refusing PUBREC (§4.3.3).
                return self.refused(ack, now);
            }
            o.awaiting = Awaiting::PubComp;
            self.send_ack(AckKind::PubRel, ack.pkid, now);
        }
        Ok(())
    }

    pub(super) fn on_pubcomp(&mut self, pkid: u16, now: Millis) -> Result<(), LinkEnded> {
        if self.inflight.get(pkid).map(|o| o.awaiting) == Some(Awaiting::PubComp) {
            self.complete(pkid, now)?;
        }
        Ok(())
    }

    /// MQTT 5: the broker refused a publish of ours in its PUBACK/PUBREC.
    fn refused(&mut self, ack: Ack, now: Millis) -> Result<(), LinkEnded> {
        if let Some(o) = self.inflight.remove(ack.pkid) {
            self.pkids.release(ack.pkid);
            self.publish_failed(
                o.id,
                PublishFailure::Refused {
                    code: ack.code,
                    reason_string: ack.reason_string,
                },
            );
            self.flush(now)?;
        }
        Ok(())
    }

    /// A QoS 1/2 publish of ours finished.
    fn complete(&mut self, pkid: u16, now: Millis) -> Result<(), LinkEnded> {
        if let Some(o) = self.inflight.remove(pkid) {
            self.pkids.release(pkid);
            self.publish_event(o.id, PublishOutcome::Acked);
            self.flush(now)?;
        }
        Ok(())
    }

    pub(super) fn on_publish(&mut self, publish: InPublish, now: Millis) -> Result<(), LinkEnded> {
        let topic = self.resolve_alias(&publish, now)?;
        let InPublish {
            pkid,
            qos,
            retain,
            dup,
            payload,
            properties,
            ..
        } = publish;
        let message = Message {
            topic,
            payload: payload.to_vec(),
            qos,
            retain,
            dup,
            properties,
        };
        match qos {
            QoS::AtMostOnce => {
                self.events.push_back(Event::Message(message));
            }
            QoS::AtLeastOnce => {
                self.events.push_back(Event::Message(message));
                self.send_ack(AckKind::PubAck, pkid, now);
            }
            QoS::ExactlyOnce => {
                if self.inflight.receive_qos2(pkid) {
                    self.events.push_back(Event::Message(message));
                }
                self.send_ack(AckKind::PubRec, pkid, now);
            }
        }
        Ok(())
    }

    /// MQTT 5 topic aliases from the broker: a topic with an alias sets it, an empty topic
    /// uses it. An alias of 0, over the maximum we announced, or never set is a protocol
    /// error (DISCONNECT 0x94, §3.3.2.3.4).
    fn resolve_alias(&mut self, publish: &InPublish, now: Millis) -> Result<String, LinkEnded> {
        let Some(alias) = publish.topic_alias else {
            return Ok(publish.topic.clone());
        };
        let announced = self
            .options
            .as_ref()
            .and_then(|o| o.properties.topic_alias_maximum)
            .unwrap_or(0);
        let Link::Connected(conn) = &mut self.link else {
            return Ok(publish.topic.clone());
        };
        let problem = if alias == 0 || alias > announced {
            Some(format!(
                "the broker used topic alias {alias}; we allow 1 to {announced}"
            ))
        } else if publish.topic.is_empty() {
            match conn.aliases_in.get(usize::from(alias) - 1) {
                Some(Some(topic)) => return Ok(topic.clone()),
                _ => Some(format!(
                    "the broker used topic alias {alias} before setting it"
                )),
            }
        } else {
            let at = usize::from(alias) - 1;
            if conn.aliases_in.len() <= at {
                conn.aliases_in.resize(at + 1, None);
            }
            conn.aliases_in[at] = Some(publish.topic.clone());
            None
        };
        match problem {
            Some(what) => {
                let reason =
                    crate::mqtt::DisconnectReason::Protocol(ProtocolError::TopicAliasInvalid(what));
                self.fail(reason, now)?;
                unreachable!("fail always ends the link")
            }
            None => Ok(publish.topic.clone()),
        }
    }
}
