//! Wanted subscriptions, SUBSCRIBE/SUBACK and UNSUBSCRIBE/UNSUBACK.
//!
//! What the user wants (`wanted`) and the UNSUBSCRIBEs owed to a persistent session
//! (`unsubs_to_send`) live on the session; the requests awaiting their ack live on the
//! connection (`Conn`) and end with it.

use super::{Link, LinkEnded, Session, Stop};
use crate::mqtt::packet::{encode_subscribe, encode_unsubscribe, MultiAck};
use crate::mqtt::properties::{describe_reason, ProtocolVersion, SubscribeOptions};
use crate::mqtt::topic::{shared_group, validate_filter};
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
    options: SubscribeOptions,
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
        self.subscribe_with(filter, SubscribeOptions::qos(qos), now)
    }

    /// `subscribe` with MQTT 5 subscription options (3.1.1 sends only the QoS).
    pub fn subscribe_with(
        &mut self,
        filter: &str,
        options: SubscribeOptions,
        now: Millis,
    ) -> Result<(), CommandError> {
        validate_filter(filter).map_err(CommandError::InvalidFilter)?;
        if !self.running {
            return Err(CommandError::NotStarted);
        }
        if let Link::Connected(conn) = &self.link {
            let caps = &conn.caps;
            let shared = shared_group(filter).is_some();
            if shared && !caps.shared_subscriptions {
                return Err(CommandError::NotSupportedByBroker(
                    "shared subscriptions".into(),
                ));
            }
            if shared && options.no_local {
                // MQTT-3.8.3-4: a protocol error the broker would close the link for.
                return Err(CommandError::InvalidFilter(
                    "no local cannot be set on a shared subscription".into(),
                ));
            }
            if filter.contains(['+', '#']) && !caps.wildcard_subscriptions {
                return Err(CommandError::NotSupportedByBroker(
                    "wildcard subscriptions".into(),
                ));
            }
            if options.subscription_id.is_some() && !caps.subscription_identifiers {
                return Err(CommandError::NotSupportedByBroker(
                    "subscription identifiers".into(),
                ));
            }
        }
        if options
            .subscription_id
            .is_some_and(|id| id == 0 || id as usize > crate::mqtt::varint::MAX)
        {
            return Err(CommandError::InvalidFilter(
                "a subscription identifier is 1 to 268,435,455".into(),
            ));
        }
        self.expire_outbox(now);
        match self.wanted.iter_mut().find(|w| w.filter == filter) {
            Some(w) if w.options == options => return Ok(()),
            Some(w) => {
                w.options = options;
                w.status = SubStatus::Unsent;
            }
            None => self.wanted.push(Wanted {
                filter: filter.to_owned(),
                options,
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
            .map(|w| (w.filter.clone(), w.options.qos))
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
        let version = self.version();
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
            let packet = encode_unsubscribe(version, pkid, &unsub.filter);
            // Recorded on the connection first: its id is released if the link ends.
            conn.unsub_requests.push((pkid, unsub));
            self.send_encoded(packet, now)?;
        }
        Ok(())
    }

    pub(super) fn flush_subscribes(&mut self, now: Millis) -> Result<(), Stop> {
        let version = self.version();
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
            let (filter, options) = (w.filter.clone(), w.options);
            // Recorded first: the id is released and the filter re-sent if the link ends.
            w.status = SubStatus::Requested(pkid);
            conn.sub_requests.push((pkid, filter.clone()));
            let packet = encode_subscribe(version, pkid, &filter, &options);
            self.send_encoded(packet, now)?;
            self.events.push_back(Event::SubscribeRequested {
                filter,
                qos: options.qos,
            });
        }
        Ok(())
    }

    pub(super) fn on_suback(&mut self, suback: MultiAck, now: Millis) -> Result<(), LinkEnded> {
        let [code] = suback.codes[..] else {
            let what = format!(
                "SUBACK with {} return codes for a SUBSCRIBE of 1 filter",
                suback.codes.len()
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
        let Some(pos) = conn.sub_requests.iter().position(|(id, _)| *id == pkid) else {
            return Ok(()); // not ours (any more)
        };
        let (_, filter) = conn.sub_requests.remove(pos);
        self.pkids.release(pkid);
        let current = self
            .wanted
            .iter()
            .position(|w| w.filter == filter && w.status == SubStatus::Requested(pkid));
        // No match: the filter was dropped or re-requested with another QoS since; the newer
        // request decides.
        if let Some(i) = current {
            match QoS::from_u8(code) {
                Some(qos) => {
                    self.wanted[i].status = SubStatus::Granted(qos);
                    self.events.push_back(Event::Subscribed { filter, qos });
                }
                None => {
                    let reason = match self.version() {
                        ProtocolVersion::V311 => REFUSED.into(),
                        ProtocolVersion::V5 => format!(
                            "the broker refused this subscription: {}",
                            describe_reason(code, suback.reason_string.as_deref())
                        ),
                    };
                    self.wanted.remove(i);
                    self.events
                        .push_back(Event::SubscribeFailed { filter, reason });
                }
            }
        }
        self.flush(now)
    }

    pub(super) fn on_unsuback(&mut self, ack: MultiAck, now: Millis) -> Result<(), LinkEnded> {
        let pkid = ack.pkid;
        if ack.codes.len() > 1 {
            let what = format!(
                "UNSUBACK with {} reason codes for an UNSUBSCRIBE of 1 filter",
                ack.codes.len()
            );
            return self.fail(
                DisconnectReason::Protocol(ProtocolError::Unexpected(what)),
                now,
            );
        }
        let Link::Connected(conn) = &mut self.link else {
            return Ok(());
        };
        let Some(pos) = conn.unsub_requests.iter().position(|(id, _)| *id == pkid) else {
            return Ok(()); // not ours (any more)
        };
        let (_, unsub) = conn.unsub_requests.remove(pos);
        self.pkids.release(pkid);
        match ack.codes.first() {
            Some(&code) if code >= 0x80 => self.events.push_back(Event::UnsubscribeFailed {
                filter: unsub.filter,
                reason: format!(
                    "the broker refused to unsubscribe: {}",
                    describe_reason(code, ack.reason_string.as_deref())
                ),
            }),
            _ if unsub.report => self.events.push_back(Event::Unsubscribed {
                filter: unsub.filter,
            }),
            _ => {}
        }
        self.flush(now)
    }
}
