//! Unfinished QoS 1/2 exchanges, both directions.
//!
//! Outgoing: each PUBLISH we sent and the ack it waits for, kept in send order so a
//! reconnect can retransmit in the original order. Incoming: ids of QoS 2 messages already
//! delivered to the user but not yet released by PUBREL, so a redelivery is not shown twice.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::{PublishId, PublishProperties, QoS};

/// A publish of ours as the user asked for it: what is sent (again) for it.
#[derive(Debug, Clone)]
pub struct Draft {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// MQTT 5 only.
    pub properties: Option<Box<PublishProperties>>,
}

impl Draft {
    #[cfg(test)]
    pub fn plain(topic: &str, qos: QoS) -> Draft {
        Draft {
            topic: topic.into(),
            payload: Bytes::new(),
            qos,
            retain: false,
            properties: None,
        }
    }
}

/// Which ack an outgoing message waits for.
// Named after the packets MQTT calls so.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Awaiting {
    /// QoS 1, PUBLISH sent.
    PubAck,
    /// QoS 2, PUBLISH sent.
    PubRec,
    /// QoS 2, PUBREC received and PUBREL sent.
    PubComp,
}

#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: PublishId,
    pub pkid: u16,
    pub draft: Draft,
    pub awaiting: Awaiting,
    /// Times the broker closed the link right after this was sent, nothing answered between.
    pub closes_right_after: u8,
    seq: u64,
}

impl Outgoing {
    /// The first ack a freshly sent PUBLISH of this QoS waits for.
    pub fn first_ack(qos: QoS) -> Awaiting {
        if qos == QoS::ExactlyOnce {
            Awaiting::PubRec
        } else {
            Awaiting::PubAck
        }
    }
}

#[derive(Debug, Default)]
pub struct Inflight {
    outgoing: BTreeMap<u16, Outgoing>,
    seq: u64,
    incoming_qos2: IdSet,
}

/// A set of packet ids: one bit per id (8 KiB once the first id arrives). Smaller code than
/// a `BTreeSet<u16>`, and constant time however many ids a broker leaves unreleased.
#[derive(Debug, Default)]
struct IdSet {
    words: Vec<u64>,
}

impl IdSet {
    /// Adds `id`; `false` if it was there.
    fn insert(&mut self, id: u16) -> bool {
        if self.words.is_empty() {
            self.words = vec![0; 1 << 10];
        }
        let (word, bit) = (usize::from(id >> 6), 1u64 << (id & 63));
        let new = self.words[word] & bit == 0;
        self.words[word] |= bit;
        new
    }

    fn remove(&mut self, id: u16) {
        if let Some(word) = self.words.get_mut(usize::from(id >> 6)) {
            *word &= !(1u64 << (id & 63));
        }
    }

    fn clear(&mut self) {
        self.words.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
}

impl Inflight {
    /// Remember a QoS 1/2 PUBLISH that was just sent with `pkid`.
    pub fn insert(&mut self, id: PublishId, pkid: u16, draft: Draft) {
        self.seq += 1;
        let entry = Outgoing {
            id,
            pkid,
            awaiting: Outgoing::first_ack(draft.qos),
            draft,
            closes_right_after: 0,
            seq: self.seq,
        };
        self.outgoing.insert(pkid, entry);
    }

    pub fn get(&self, pkid: u16) -> Option<&Outgoing> {
        self.outgoing.get(&pkid)
    }

    pub fn get_mut(&mut self, pkid: u16) -> Option<&mut Outgoing> {
        self.outgoing.get_mut(&pkid)
    }

    pub fn remove(&mut self, pkid: u16) -> Option<Outgoing> {
        self.outgoing.remove(&pkid)
    }

    /// Outgoing packet ids in the order their PUBLISH was first sent.
    pub fn send_order(&self) -> Vec<u16> {
        // Sorted as (u64, u32) pairs, like the device list: one sort in the download.
        let mut entries: Vec<(u64, u32)> = self
            .outgoing
            .values()
            .map(|o| (o.seq, u32::from(o.pkid)))
            .collect();
        entries.sort_unstable();
        entries.into_iter().map(|(_, pkid)| pkid as u16).collect()
    }

    /// Take every outgoing entry, in send order.
    pub fn drain_outgoing(&mut self) -> Vec<Outgoing> {
        let order = self.send_order();
        order
            .into_iter()
            .filter_map(|pkid| self.outgoing.remove(&pkid))
            .collect()
    }

    pub fn outgoing_len(&self) -> usize {
        self.outgoing.len()
    }

    /// An incoming QoS 2 PUBLISH arrived: `true` if it is new (deliver it), `false` if the
    /// id is still unreleased (a redelivery: do not show it again).
    pub fn receive_qos2(&mut self, pkid: u16) -> bool {
        self.incoming_qos2.insert(pkid)
    }

    /// PUBREL arrived: the id may be used for a new message again.
    pub fn release_qos2(&mut self, pkid: u16) {
        self.incoming_qos2.remove(pkid);
    }

    /// The broker has no session any more: it will not PUBREL the old ids.
    pub fn forget_incoming(&mut self) {
        self.incoming_qos2.clear();
    }

    #[cfg(test)]
    pub fn incoming_len(&self) -> usize {
        self.incoming_qos2.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_order_survives_id_wrap() {
        let mut f = Inflight::default();
        f.insert(PublishId(1), 65_535, Draft::plain("a", QoS::AtLeastOnce));
        f.insert(PublishId(2), 1, Draft::plain("b", QoS::ExactlyOnce));
        f.insert(PublishId(3), 2, Draft::plain("c", QoS::AtLeastOnce));
        assert_eq!(f.send_order(), [65_535, 1, 2]);
        assert_eq!(f.get(1).unwrap().awaiting, Awaiting::PubRec);
        assert_eq!(f.get(2).unwrap().awaiting, Awaiting::PubAck);
        let drained: Vec<_> = f.drain_outgoing().into_iter().map(|o| o.id.0).collect();
        assert_eq!(drained, [1, 2, 3]);
        assert_eq!(f.outgoing_len(), 0);
    }

    #[test]
    fn incoming_qos2_ids_are_new_until_released() {
        let mut f = Inflight::default();
        assert!(f.receive_qos2(9));
        assert!(!f.receive_qos2(9));
        // Ids at both ends of the range, and one in the same 64-bit word as another.
        for id in [0, 63, 64, u16::MAX] {
            assert!(f.receive_qos2(id), "{id}");
            assert!(!f.receive_qos2(id), "{id}");
        }
        assert_eq!(f.incoming_len(), 5);
        f.release_qos2(9);
        f.release_qos2(64);
        assert_eq!(f.incoming_len(), 3);
        assert!(f.receive_qos2(9));
        assert!(!f.receive_qos2(63), "releasing 64 left 63 alone");
        f.forget_incoming();
        assert_eq!(f.incoming_len(), 0);
        assert!(
            f.receive_qos2(u16::MAX),
            "new again after the session was forgotten"
        );
    }
}
