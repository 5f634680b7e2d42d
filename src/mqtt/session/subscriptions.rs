//! Wanted subscriptions, SUBSCRIBE/SUBACK and UNSUBSCRIBE/UNSUBACK.
//!
//! What the user wants (`wanted`) and the UNSUBSCRIBEs owed to a persistent session
//! (`unsubs_to_send`) live on the session; the requests awaiting their ack live on the
//! connection (`Conn`) and end with it.

use mqttbytes::v4::{Packet, SubAck, Subscribe, SubscribeReasonCode, Unsubscribe};

use super::{Link, LinkEnded, Session, Stop};
use crate::mqtt::framing::{from_mqttbytes_qos, to_mqttbytes_qos};
use crate::mqtt::topic::validate_filter;
use crate::mqtt::{CommandError, DisconnectReason, Event, Millis, ProtocolError, QoS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SubStatus {
    /// To be sent on the next (or current) connection.
    Unsent,
    /// SUBSCRIBE sent with this packet id, SUBACK pending.
    Requested(u16),
    /// SUBACK granted this QoS.
    Granted(QoS),
}

#[derive(Debug)]
pub(super) struct Wanted {
    filter: String,
    qos: QoS,
    status: SubStatus,
}

#[derive(Debug)]
pub(super) struct PendingUnsub {
    filter: String,
    /// Emit `Unsubscribed` on UNSUBACK (false when it was already reported offline).
    report: bool,
}

/// Text of `Event::SubscribeFailed` for a SUBACK refusal.
const REFUSED: &str =
    "the broker refused this subscription (SUBACK 0x80), e.g. not authorized for this filter";

impl Session {
    /// Ask for a filter. Validated first; remembered and (re)sent whenever connected.
    pub fn subscribe(&mut self, filter: &str, qos: QoS, now: Millis) -> Result<(), CommandError> {
        validate_filter(filter).map_err(CommandError::InvalidFilter)?;
        if !self.running {
            return Err(CommandError::NotStarted);
        }
        self.expire_outbox(now);
        match self.wanted.iter_mut().find(|w| w.filter == filter) {
            Some(w) if w.qos == qos => return Ok(()),
            Some(w) => {
                w.qos = qos;
                w.status = SubStatus::Unsent;
            }
            None => self.wanted.push(Wanted {
                filter: filter.to_owned(),
                qos,
                status: SubStatus::Unsent,
            }),
        }
        let _ = self.flush(now); // a link that ends here reports why itself
        Ok(())
    }

    /// Drop a filter (UNSUBSCRIBE when connected).
    pub fn unsubscribe(&mut self, filter: &str, now: Millis) -> Result<(), CommandError> {
        validate_filter(filter).map_err(CommandError::InvalidFilter)?;
        self.expire_outbox(now);
        self.wanted.retain(|w| w.filter != filter);
        let filter = filter.to_owned();
        if matches!(self.link, Link::Connected(_)) {
            self.unsubs_to_send.push_back(PendingUnsub {
                filter,
                report: true,
            });
            let _ = self.flush(now); // a link that ends here reports why itself
        } else {
            self.events.push_back(Event::Unsubscribed {
                filter: filter.clone(),
            });
            let pending = self.unsubs_to_send.iter().any(|u| u.filter == filter);
            if self.options.is_some() && !self.clean_session() && !pending {
                // The broker keeps this subscription in its session: remove it there too.
                self.unsubs_to_send.push_back(PendingUnsub {
                    filter,
                    report: false,
                });
            }
        }
        Ok(())
    }

    /// Wanted subscriptions, in the order they were added.
    pub fn subscriptions(&self) -> Vec<(String, QoS)> {
        self.wanted
            .iter()
            .map(|w| (w.filter.clone(), w.qos))
            .collect()
    }

    /// Every wanted filter goes out again on the next CONNACK.
    pub(super) fn resubscribe_all(&mut self) {
        for w in &mut self.wanted {
            w.status = SubStatus::Unsent;
        }
    }

    /// The link ended with these UNSUBSCRIBEs unanswered (their ids are already released).
    /// SUBSCRIBEs in flight go out again next time. UNSUBSCRIBEs in flight or not yet sent:
    /// the user sees them done now; a persistent session gets them (again) on the next
    /// connection.
    pub(super) fn link_requests_ended(&mut self, in_flight: Vec<PendingUnsub>) {
        for w in &mut self.wanted {
            if let SubStatus::Requested(_) = w.status {
                w.status = SubStatus::Unsent;
            }
        }
        let persistent = self.options.is_some() && !self.clean_session();
        let waiting = std::mem::take(&mut self.unsubs_to_send);
        for mut unsub in in_flight.into_iter().chain(waiting) {
            if unsub.report {
                self.events.push_back(Event::Unsubscribed {
                    filter: unsub.filter.clone(),
                });
                unsub.report = false;
            }
            if persistent {
                self.unsubs_to_send.push_back(unsub);
            }
        }
    }

    pub(super) fn flush_unsubscribes(&mut self, now: Millis) -> Result<(), Stop> {
        while !self.unsubs_to_send.is_empty() {
            let Link::Connected(conn) = &mut self.link else {
                return Err(Stop::LinkEnded);
            };
            let Some(pkid) = self.pkids.allocate() else {
                return Err(Stop::NoIds);
            };
            let Some(unsub) = self.unsubs_to_send.pop_front() else {
                break;
            };
            let mut packet = Unsubscribe::new(unsub.filter.clone());
            packet.pkid = pkid;
            // Recorded on the connection first: its id is released if the link ends.
            conn.unsub_requests.push((pkid, unsub));
            self.send_packet(&Packet::Unsubscribe(packet), now)?;
        }
        Ok(())
    }

    pub(super) fn flush_subscribes(&mut self, now: Millis) -> Result<(), Stop> {
        for i in 0..self.wanted.len() {
            if self.wanted[i].status != SubStatus::Unsent {
                continue;
            }
            let Link::Connected(conn) = &mut self.link else {
                return Err(Stop::LinkEnded);
            };
            let Some(pkid) = self.pkids.allocate() else {
                return Err(Stop::NoIds);
            };
            let w = &mut self.wanted[i];
            let (filter, qos) = (w.filter.clone(), w.qos);
            // Recorded first: the id is released and the filter re-sent if the link ends.
            w.status = SubStatus::Requested(pkid);
            conn.sub_requests.insert(pkid, filter.clone());
            let mut packet = Subscribe::new(filter.clone(), to_mqttbytes_qos(qos));
            packet.pkid = pkid;
            self.send_packet(&Packet::Subscribe(packet), now)?;
            self.events
                .push_back(Event::SubscribeRequested { filter, qos });
        }
        Ok(())
    }

    pub(super) fn on_suback(&mut self, suback: SubAck, now: Millis) -> Result<(), LinkEnded> {
        let [code] = suback.return_codes[..] else {
            let what = format!(
                "SUBACK with {} return codes for a SUBSCRIBE of 1 filter",
                suback.return_codes.len()
            );
            return self.fail(
                DisconnectReason::Protocol(ProtocolError::Unexpected(what)),
                now,
            );
        };
        let pkid = suback.pkid;
        let Link::Connected(conn) = &mut self.link else {
            return Ok(());
        };
        let Some(filter) = conn.sub_requests.remove(&pkid) else {
            return Ok(()); // not ours (any more)
        };
        self.pkids.release(pkid);
        let current = self
            .wanted
            .iter()
            .position(|w| w.filter == filter && w.status == SubStatus::Requested(pkid));
        // No match: the filter was dropped or re-requested with another QoS since; the newer
        // request decides.
        if let Some(i) = current {
            match code {
                SubscribeReasonCode::Success(granted) => {
                    let qos = from_mqttbytes_qos(granted);
                    self.wanted[i].status = SubStatus::Granted(qos);
                    self.events.push_back(Event::Subscribed { filter, qos });
                }
                SubscribeReasonCode::Failure => {
                    self.wanted.remove(i);
                    self.events.push_back(Event::SubscribeFailed {
                        filter,
                        reason: REFUSED.into(),
                    });
                }
            }
        }
        self.flush(now)
    }

    pub(super) fn on_unsuback(&mut self, pkid: u16, now: Millis) -> Result<(), LinkEnded> {
        let Link::Connected(conn) = &mut self.link else {
            return Ok(());
        };
        let Some(pos) = conn.unsub_requests.iter().position(|(id, _)| *id == pkid) else {
            return Ok(()); // not ours (any more)
        };
        let (_, unsub) = conn.unsub_requests.remove(pos);
        self.pkids.release(pkid);
        if unsub.report {
            self.events.push_back(Event::Unsubscribed {
                filter: unsub.filter,
            });
        }
        self.flush(now)
    }
}
