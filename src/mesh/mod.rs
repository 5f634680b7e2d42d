//! Meshtastic over MQTT: JSON uplink/downlink and protobuf envelopes.
//!
//! - [`envelope`]: read the protobuf `ServiceEnvelope`s on `msh/<region>/2/e/…` and
//!   `…/2/map/…` ([`MeshDecoder`]) and build encrypted ones ([`build_envelope`]).
//! - [`crypto`]: channel keys, channel hash, AES-CTR; [`proto`]: the protobuf codec.
//! - [`packet`]: what the decoder tells the UI.
//! - [`uplink`]: parse `msh/<region>/2/json/<channel>/!<gateway>` messages.
//! - [`downlink`]: build the `sendtext` JSON for `msh/<REGION>/2/json/mqtt/`.
//! - [`node_id`]: `!aabbccdd` ⇄ node number.
//! - `read_json_uplink`: an uplink read as a `DeviceUpdate` for the device registry (and,
//!   for a text, the packet the chat shows).
//! - [`PacketDedup`]: count a packet once when several gateways forward it.
//!
//! The node registry itself lives in `crate::state::devices`; it applies updates and
//! knows nothing of Meshtastic fields.

pub mod crypto;
pub mod downlink;
pub mod envelope;
pub mod node_id;
pub mod packet;
pub mod proto;
mod to_device;
pub mod uplink;

use std::collections::VecDeque;

pub use crypto::{ChannelKey, KeyError};
pub use downlink::{
    build_sendtext, check_text, downlink_topic, Downlink, DownlinkError, MAX_CHANNEL_INDEX,
    MAX_TEXT_BYTES,
};
pub use envelope::{
    build_envelope, mesh_topic_kind, role_name, routing_error_name, EnvelopeError, MeshDecoder,
    MeshTopic, MeshTopicKind, OutgoingBody, OutgoingPacket, MAX_PROTOBUF_TEXT_BYTES,
};
pub use node_id::{format_node_id, parse_bang_hex, parse_gateway, parse_node_target, BROADCAST};
pub use packet::*;
pub(crate) use to_device::{packet_device_update, read_json_uplink};
pub use uplink::{
    hardware_model_name, parse_uplink, parse_uplink_topic, Uplink, UplinkError, UplinkPayload,
    UplinkTopic,
};

/// Remembers the most recent packets, keyed by `(from, id)`, so that the same packet
/// forwarded by several gateways is counted once. Bounded: the oldest key is forgotten
/// when `capacity` is exceeded. The keys are kept sorted for lookup (a few thousand `u64`s:
/// a hash set's code cost more of the download than the moves of an insert cost time).
#[derive(Debug, Clone)]
pub(crate) struct PacketDedup {
    capacity: usize,
    sorted: Vec<u64>,
    order: VecDeque<u64>,
}

fn dedup_key(from: u32, id: u32) -> u64 {
    (u64::from(from) << 32) | u64::from(id)
}

impl PacketDedup {
    /// Default number of packets remembered.
    pub(crate) const DEFAULT_CAPACITY: usize = 4096;

    /// A de-duplicator remembering the last `capacity` packets (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        PacketDedup {
            capacity,
            sorted: Vec::new(),
            order: VecDeque::new(),
        }
    }

    /// Records the packet and returns `true` the first time `(from, id)` is seen, `false`
    /// for a repeat. Packet id 0 means "no id" and is never treated as a repeat.
    pub(crate) fn first_time(&mut self, from: u32, id: u32) -> bool {
        if id == 0 {
            return true;
        }
        let key = dedup_key(from, id);
        let Err(at) = self.sorted.binary_search(&key) else {
            return false;
        };
        self.sorted.insert(at, key);
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                if let Ok(at) = self.sorted.binary_search(&old) {
                    self.sorted.remove(at);
                }
            }
        }
        true
    }

    #[cfg(test)]
    /// Whether `(from, id)` is remembered, without recording it.
    pub(crate) fn contains(&self, from: u32, id: u32) -> bool {
        self.sorted.binary_search(&dedup_key(from, id)).is_ok()
    }

    #[cfg(test)]
    /// Number of packets remembered.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

impl Default for PacketDedup {
    fn default() -> Self {
        PacketDedup::new(Self::DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_forwarded_twice_is_new_only_the_first_time() {
        let mut d = PacketDedup::default();
        assert!(d.first_time(0xa1b2c3d4, 77));
        assert!(!d.first_time(0xa1b2c3d4, 77));
        assert!(
            d.first_time(0x01020304, 77),
            "same id from another node is new"
        );
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn packets_without_an_id_are_never_dropped_as_repeats() {
        let mut d = PacketDedup::default();
        assert!(d.first_time(1, 0));
        assert!(d.first_time(1, 0));
        assert!(d.is_empty());
    }

    #[test]
    fn the_dedup_memory_is_bounded_and_forgets_the_oldest() {
        let mut d = PacketDedup::new(3);
        for id in 1..=4 {
            assert!(d.first_time(9, id));
        }
        assert_eq!(d.len(), 3);
        assert!(!d.contains(9, 1));
        assert!(d.contains(9, 4));
        assert!(d.first_time(9, 1), "forgotten, so new again");
        assert!(!d.first_time(9, 4));
    }
}
