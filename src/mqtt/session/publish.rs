//! Publishes both ways: the outbox, QoS 1/2 exchanges and their retransmission, and
//! incoming application messages.

use std::collections::VecDeque;

use bytes::Bytes;
use mqttbytes::v4::{Packet, PubAck, PubRec, PubRel, Publish};

use super::{Link, LinkEnded, Session, Stop, MAX_CLOSES_RIGHT_AFTER_PUBLISH};
use crate::mqtt::framing::{encode, from_mqttbytes_qos, publish_len, to_mqttbytes_qos};
use crate::mqtt::inflight::{Awaiting, Outgoing};
use crate::mqtt::topic::validate_topic;
use crate::mqtt::{
    varint, CommandError, EncodeError, Event, Message, Millis, PublishFailure, PublishId,
    PublishOutcome, QoS,
};

/// A publish waiting in the outbox for a connection.
#[derive(Debug)]
pub(super) struct Queued {
    pub(super) id: PublishId,
    topic: String,
    payload: Bytes,
    qos: QoS,
    retain: bool,
    expires_at: Millis,
}

fn publish_packet(
    topic: &str,
    payload: &Bytes,
    qos: QoS,
    retain: bool,
    pkid: u16,
    dup: bool,
) -> Result<Vec<u8>, EncodeError> {
    let mut p = Publish::from_bytes(topic, to_mqttbytes_qos(qos), payload.clone());
    p.retain = retain;
    p.dup = dup;
    p.pkid = if qos == QoS::AtMostOnce { 0 } else { pkid };
    encode(&Packet::Publish(p))
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
        validate_topic(topic).map_err(CommandError::InvalidTopic)?;
        let max = self.max_outgoing_packet();
        if publish_len(topic, qos, payload.len()) > max {
            return Err(CommandError::PayloadTooLarge {
                size: payload.len(),
                max,
            });
        }
        if !self.running {
            return Err(CommandError::NotStarted);
        }
        self.expire_outbox(now);
        let payload = Bytes::from(payload);
        if matches!(self.link, Link::Connected(_)) && self.outbox.is_empty() {
            if qos == QoS::AtMostOnce {
                let bytes = publish_packet(topic, &payload, qos, retain, 0, false)
                    .map_err(CommandError::Encode)?;
                self.send_bytes(bytes, now);
                self.publish_event(id, PublishOutcome::Sent);
                return Ok(());
            }
            if let Some(pkid) = self.pkids.allocate() {
                let bytes = match publish_packet(topic, &payload, qos, retain, pkid, false) {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        self.pkids.release(pkid);
                        return Err(CommandError::Encode(e));
                    }
                };
                self.send_bytes(bytes, now);
                self.publish_sent(pkid);
                self.inflight
                    .insert(id, pkid, topic.to_owned(), payload, qos, retain);
                return Ok(());
            }
        }
        // Queued: check now that it will encode when its turn comes (any valid id will do).
        publish_packet(topic, &payload, qos, retain, 1, false).map_err(CommandError::Encode)?;
        if self.outbox.len() >= self.config.outbox_capacity {
            let waiting = self.outbox.len();
            self.publish_failed(id, PublishFailure::OutboxFull { waiting });
            return Ok(());
        }
        self.outbox.push_back(Queued {
            id,
            topic: topic.to_owned(),
            payload,
            qos,
            retain,
            expires_at: now.saturating_add(self.config.outbox_expiry_ms),
        });
        self.publish_event(id, PublishOutcome::Queued);
        Ok(())
    }

    pub(super) fn max_outgoing_packet(&self) -> usize {
        // Header (1 + 4 length bytes) plus the largest remaining length MQTT can express.
        self.config.max_outgoing_packet.min(varint::MAX + 5)
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

    pub(super) fn retransmit(&mut self, now: Millis) -> Result<(), LinkEnded> {
        let clean = self.clean_session() || std::mem::take(&mut self.fresh_broker);
        for pkid in self.inflight.send_order() {
            let Some(o) = self.inflight.get_mut(pkid) else {
                continue;
            };
            let bytes = if clean {
                // A new session knows nothing of it: send it again as a new publish.
                o.awaiting = Outgoing::first_ack(o.qos);
                publish_packet(&o.topic, &o.payload, o.qos, o.retain, pkid, false)
            } else {
                match o.awaiting {
                    Awaiting::PubAck | Awaiting::PubRec => {
                        publish_packet(&o.topic, &o.payload, o.qos, o.retain, pkid, true)
                    }
                    Awaiting::PubComp => {
                        self.send_packet(&Packet::PubRel(PubRel::new(pkid)), now)?;
                        continue;
                    }
                }
            };
            match bytes {
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
            let pkid = if front.qos == QoS::AtMostOnce {
                0
            } else {
                self.pkids.allocate().ok_or(Stop::NoIds)?
            };
            let Some(q) = self.outbox.pop_front() else {
                break;
            };
            match publish_packet(&q.topic, &q.payload, q.qos, q.retain, pkid, false) {
                Ok(bytes) => self.send_bytes(bytes, now),
                Err(e) => {
                    // Checked by `publish` before it was queued; never dropped silently.
                    self.pkids.release(pkid);
                    self.publish_failed(q.id, PublishFailure::Unencodable(e));
                    continue;
                }
            }
            if q.qos == QoS::AtMostOnce {
                self.publish_event(q.id, PublishOutcome::Sent);
            } else {
                self.publish_sent(pkid);
                self.inflight
                    .insert(q.id, pkid, q.topic, q.payload, q.qos, q.retain);
            }
        }
        Ok(())
    }

    pub(super) fn on_puback(&mut self, pkid: u16, now: Millis) -> Result<(), LinkEnded> {
        if self.inflight.get(pkid).map(|o| o.awaiting) == Some(Awaiting::PubAck) {
            self.complete(pkid, now)?;
        }
        Ok(())
    }

    pub(super) fn on_pubrec(&mut self, pkid: u16, now: Millis) -> Result<(), LinkEnded> {
        let Some(o) = self.inflight.get_mut(pkid) else {
            return Ok(());
        };
        if matches!(o.awaiting, Awaiting::PubRec | Awaiting::PubComp) {
            o.awaiting = Awaiting::PubComp;
            self.send_packet(&Packet::PubRel(PubRel::new(pkid)), now)?;
        }
        Ok(())
    }

    pub(super) fn on_pubcomp(&mut self, pkid: u16, now: Millis) -> Result<(), LinkEnded> {
        if self.inflight.get(pkid).map(|o| o.awaiting) == Some(Awaiting::PubComp) {
            self.complete(pkid, now)?;
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

    pub(super) fn on_publish(&mut self, publish: Publish, now: Millis) -> Result<(), LinkEnded> {
        let qos = from_mqttbytes_qos(publish.qos);
        let pkid = publish.pkid;
        let message = Message {
            topic: publish.topic,
            payload: publish.payload.to_vec(),
            qos,
            retain: publish.retain,
            dup: publish.dup,
        };
        match qos {
            QoS::AtMostOnce => {
                self.events.push_back(Event::Message(message));
                Ok(())
            }
            QoS::AtLeastOnce => {
                self.events.push_back(Event::Message(message));
                self.send_packet(&Packet::PubAck(PubAck::new(pkid)), now)
            }
            QoS::ExactlyOnce => {
                if self.inflight.receive_qos2(pkid) {
                    self.events.push_back(Event::Message(message));
                }
                self.send_packet(&Packet::PubRec(PubRec::new(pkid)), now)
            }
        }
    }
}
