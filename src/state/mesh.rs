//! Meshtastic protobuf traffic as the UI shows it: the text chat (per channel and per node),
//! packets that could not be read (counted per channel), refused channel keys, and the
//! delivery of the last text we sent as our own node.
//!
//! Plain data, no clock reads; bounded: texts, reactions, channels counted.

use std::collections::{BTreeMap, VecDeque};

use crate::mesh::{
    format_node_id, ChannelConfig, MeshBody, MeshPacketSeen, MeshUndecodable, PacketDedup,
    BROADCAST,
};
use crate::mqtt::PublishId;

/// Texts kept in the chat (oldest dropped first).
pub const MAX_TEXTS: usize = 1_000;
/// Reactions kept per text.
const MAX_REACTIONS: usize = 16;
/// Channels whose unreadable packets are counted.
const MAX_COUNTED_CHANNELS: usize = 64;
/// Channels in the settings.
pub const MAX_CHANNELS: usize = 8;
/// How long a direct message waits for the mesh's ACK before it shows `no ack`.
pub const ACK_TIMEOUT_MS: u64 = 60_000;

/// The app as a Meshtastic node, and the channels it can read: stored with the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshSettings {
    pub channels: Vec<SavedChannel>,
    /// Our own node number (`!xxxxxxxx`); 0 until one is drawn at start-up.
    pub node_num: u32,
    pub long_name: String,
    pub short_name: String,
    /// Topic root after `msh/` to send on (`EU_868`, `US/bayarea`); empty: the region seen
    /// in traffic, else `US`.
    pub region: String,
}

/// A channel as stored: `psk` is `None` when the key was left out of an exported file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedChannel {
    pub name: String,
    pub psk: Option<String>,
}

impl Default for MeshSettings {
    fn default() -> Self {
        let default = ChannelConfig::default_channel();
        MeshSettings {
            channels: vec![SavedChannel {
                name: default.name,
                psk: Some(default.psk),
            }],
            node_num: 0,
            long_name: String::new(),
            short_name: String::new(),
            region: String::new(),
        }
    }
}

impl MeshSettings {
    /// The channels the decoder gets: those with a key, capped.
    pub fn decoder_channels(&self) -> Vec<ChannelConfig> {
        self.channels
            .iter()
            .filter_map(|c| {
                c.psk.as_ref().map(|psk| ChannelConfig {
                    name: c.name.trim().to_string(),
                    psk: psk.trim().to_string(),
                })
            })
            .filter(|c| !c.name.is_empty())
            .take(MAX_CHANNELS)
            .collect()
    }

    /// Caps and cleans settings read from storage or a file (untrusted).
    pub fn sanitized(mut self) -> MeshSettings {
        self.channels.truncate(MAX_CHANNELS);
        for c in &mut self.channels {
            c.name = cut(c.name.trim(), 32);
            c.psk = c.psk.as_deref().map(|p| cut(p.trim(), 64));
        }
        self.long_name = cut(&self.long_name, 39);
        self.short_name = cut(&self.short_name, 4);
        self.region = cut(self.region.trim(), 64);
        if self.node_num == BROADCAST {
            self.node_num = 0;
        }
        self
    }

    /// A copy for an exported file: the channel keys only when the user asked for secrets.
    pub fn for_export(&self, include_keys: bool) -> MeshSettings {
        let mut copy = self.clone();
        if !include_keys {
            for c in &mut copy.channels {
                c.psk = None;
            }
        }
        copy
    }
}

/// Which conversation a text belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Conversation {
    /// Broadcast on a channel.
    Channel(String),
    /// Direct messages with one node (the other party).
    Node(u32),
}

impl Conversation {
    /// A stable key for a `<select>`: `c:<name>` or `n:<num>`.
    pub fn key(&self) -> String {
        match self {
            Conversation::Channel(name) => format!("c:{name}"),
            Conversation::Node(num) => format!("n:{num}"),
        }
    }
    pub fn from_key(key: &str) -> Option<Conversation> {
        match key.split_once(':')? {
            ("c", name) => Some(Conversation::Channel(name.to_string())),
            ("n", num) => num.parse().ok().map(Conversation::Node),
            _ => None,
        }
    }
}

/// One text in the chat.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatText {
    pub from: u32,
    pub to: u32,
    pub id: u32,
    pub channel: String,
    pub text: String,
    /// The packet this text answers, if it is a reply.
    pub reply_id: Option<u32>,
    /// Emoji reactions to this text: `(from, emoji)`.
    pub reactions: Vec<(u32, String)>,
    pub received_ms: u64,
    /// Sent by this app as its own node.
    pub own: bool,
    /// A PKI-encrypted direct message: `text` is empty, only the addressed node can read it.
    pub sealed: bool,
}

impl ChatText {
    /// The conversation as seen by node `me`: broadcasts by channel, the rest by the
    /// other party.
    pub fn conversation(&self, me: u32) -> Conversation {
        if self.to == BROADCAST {
            Conversation::Channel(self.channel.clone())
        } else if self.from == me {
            Conversation::Node(self.to)
        } else {
            Conversation::Node(self.from)
        }
    }
}

/// Unreadable packets on one channel, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unreadable {
    pub no_key: u64,
    pub wrong_key: u64,
    pub bad_envelope: u64,
}

impl Unreadable {
    /// "12 packets could not be decrypted — wrong key?" and the like.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let plural = |n: u64| if n == 1 { "packet" } else { "packets" };
        if self.wrong_key > 0 {
            parts.push(format!(
                "{} {} could not be decrypted — wrong key?",
                self.wrong_key,
                plural(self.wrong_key)
            ));
        }
        if self.no_key > 0 {
            parts.push(format!(
                "{} {} on a channel with no key set",
                self.no_key,
                plural(self.no_key)
            ));
        }
        if self.bad_envelope > 0 {
            parts.push(format!(
                "{} {} not a Meshtastic envelope",
                self.bad_envelope,
                if self.bad_envelope == 1 {
                    "message was"
                } else {
                    "messages were"
                }
            ));
        }
        parts.join("; ")
    }
}

/// A text we sent that waits for the mesh's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwaitingAck {
    pub publish: PublishId,
    pub packet_id: u32,
    pub deadline_ms: u64,
}

/// The mesh slice of the UI state.
#[derive(Debug, Clone, Default)]
pub struct MeshView {
    pub settings: MeshSettings,
    texts: VecDeque<ChatText>,
    dedup: PacketDedup,
    pub unreadable: BTreeMap<String, Unreadable>,
    /// Channels whose key the decoder refused: `(name, reason)`.
    pub key_errors: Vec<(String, String)>,
    /// The last direct text sent, until its ACK (or error, or timeout).
    pub awaiting: Option<AwaitingAck>,
    /// The publish that carried our last mesh packet: the broker's PUBACK for it is not the
    /// mesh's ACK, so its outcome shows as `sent`.
    pub last_publish: Option<PublishId>,
    /// Bumped on every change (for views keyed on it).
    pub revision: u64,
}

/// What a decoded packet means for the last send's delivery line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Acked,
    Failed(String),
}

impl MeshView {
    /// Texts, oldest first.
    pub fn texts(&self) -> impl DoubleEndedIterator<Item = &ChatText> + ExactSizeIterator {
        self.texts.iter()
    }

    /// The text with this packet id, if still kept.
    pub fn text_by_id(&self, id: u32) -> Option<&ChatText> {
        self.texts.iter().rev().find(|t| t.id == id)
    }

    /// Conversations that have texts, channels first.
    pub fn conversations(&self) -> Vec<Conversation> {
        let me = self.settings.node_num;
        // Each one once, in order, without a sort of its own in the download.
        let mut all: Vec<Conversation> = Vec::new();
        for text in &self.texts {
            let conversation = text.conversation(me);
            if let Err(at) = all.binary_search(&conversation) {
                all.insert(at, conversation);
            }
        }
        all
    }

    /// Folds in one decoded packet: a text joins the chat once (however many gateways
    /// relayed it), a reaction attaches to its text, a routing answer to our awaited send
    /// is returned as the delivery.
    pub fn apply_packet(&mut self, p: &MeshPacketSeen, now_ms: u64) -> (bool, Option<Delivery>) {
        match &p.body {
            MeshBody::Text {
                text,
                reply_id,
                emoji,
            } => {
                if !self.dedup.first_time(p.from, p.id) {
                    return (false, None);
                }
                if *emoji {
                    if let Some(target) = reply_id.and_then(|r| self.text_mut(r)) {
                        if target.reactions.len() < MAX_REACTIONS {
                            target.reactions.push((p.from, text.clone()));
                        }
                        self.revision += 1;
                        return (true, None);
                    }
                }
                self.push(ChatText {
                    from: p.from,
                    to: p.to,
                    id: p.id,
                    channel: p.channel.clone(),
                    text: text.clone(),
                    reply_id: *reply_id,
                    reactions: Vec::new(),
                    received_ms: now_ms,
                    own: false,
                    sealed: false,
                });
                (true, None)
            }
            MeshBody::EncryptedDirect => {
                if !self.dedup.first_time(p.from, p.id) {
                    return (false, None);
                }
                self.push(ChatText {
                    from: p.from,
                    to: p.to,
                    id: p.id,
                    channel: p.channel.clone(),
                    text: String::new(),
                    reply_id: None,
                    reactions: Vec::new(),
                    received_ms: now_ms,
                    own: false,
                    sealed: true,
                });
                (true, None)
            }
            MeshBody::Routing { request_id, error } => {
                let Some(awaiting) = self.awaiting else {
                    return (false, None);
                };
                if *request_id != Some(awaiting.packet_id) {
                    return (false, None);
                }
                self.awaiting = None;
                let delivery = if error == "NONE" {
                    Delivery::Acked
                } else {
                    Delivery::Failed(error.clone())
                };
                (true, Some(delivery))
            }
            _ => (false, None),
        }
    }

    /// Counts a packet that could not be read.
    pub fn count_unreadable(&mut self, channel: &str, why: &MeshUndecodable) -> bool {
        if !self.unreadable.contains_key(channel) && self.unreadable.len() >= MAX_COUNTED_CHANNELS {
            return false;
        }
        let entry = self.unreadable.entry(cut(channel, 64)).or_default();
        match why {
            MeshUndecodable::NoKey => entry.no_key += 1,
            MeshUndecodable::WrongKey => entry.wrong_key += 1,
            MeshUndecodable::BadEnvelope => entry.bad_envelope += 1,
        }
        self.revision += 1;
        true
    }

    /// Records a text we sent as our own node (it shows in the chat at once; the same
    /// packet relayed back by a gateway is not shown twice).
    pub fn sent_text(&mut self, text: ChatText) {
        self.dedup.first_time(text.from, text.id);
        self.push(text);
    }

    /// Waits for the ACK of a direct text.
    pub fn await_ack(&mut self, publish: PublishId, packet_id: u32, now_ms: u64) {
        self.awaiting = Some(AwaitingAck {
            publish,
            packet_id,
            deadline_ms: now_ms + ACK_TIMEOUT_MS,
        });
    }

    /// The awaited send whose time ran out, if any (it is no longer awaited).
    pub fn ack_timed_out(&mut self, now_ms: u64) -> Option<AwaitingAck> {
        match self.awaiting {
            Some(a) if now_ms >= a.deadline_ms => self.awaiting.take(),
            _ => None,
        }
    }

    fn text_mut(&mut self, id: u32) -> Option<&mut ChatText> {
        self.texts.iter_mut().rev().find(|t| t.id == id)
    }

    fn push(&mut self, text: ChatText) {
        self.texts.push_back(text);
        while self.texts.len() > MAX_TEXTS {
            self.texts.pop_front();
        }
        self.revision += 1;
    }
}

/// `!xxxxxxxx`, or `^all` for broadcast.
pub fn node_label(num: u32) -> String {
    if num == BROADCAST {
        "^all".into()
    } else {
        format_node_id(num)
    }
}

fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(from: u32, id: u32, body: MeshBody) -> MeshPacketSeen {
        MeshPacketSeen {
            region: "EU_868".into(),
            channel: "LongFast".into(),
            gateway: Some(0xaaaa),
            from,
            to: BROADCAST,
            id,
            rx_time: None,
            rx_snr: None,
            rx_rssi: None,
            hops_away: None,
            via_mqtt: false,
            want_ack: false,
            body,
        }
    }

    fn text(t: &str, reply_id: Option<u32>, emoji: bool) -> MeshBody {
        MeshBody::Text {
            text: t.into(),
            reply_id,
            emoji,
        }
    }

    #[test]
    fn a_text_relayed_by_two_gateways_is_shown_once_and_in_order() {
        let mut m = MeshView::default();
        let first = packet(1, 10, text("hello", None, false));
        assert_eq!(m.apply_packet(&first, 5), (true, None));
        let mut again = first.clone();
        again.gateway = Some(0xbbbb);
        assert_eq!(m.apply_packet(&again, 6), (false, None));
        m.apply_packet(&packet(2, 11, text("hi back", Some(10), false)), 7);
        let shown: Vec<&str> = m.texts().map(|t| t.text.as_str()).collect();
        assert_eq!(shown, ["hello", "hi back"]);
        assert_eq!(m.text_by_id(11).unwrap().reply_id, Some(10));
        assert_eq!(
            m.conversations(),
            [Conversation::Channel("LongFast".into())]
        );
        // Direct texts from two nodes, out of order, and a second channel: each conversation
        // once, channels first, then nodes by number.
        for (from, id, channel) in [(9, 20, "LongFast"), (3, 21, "Admin"), (9, 22, "LongFast")] {
            let mut direct = packet(from, id, text("psst", None, false));
            direct.to = m.settings.node_num;
            direct.channel = channel.into();
            m.apply_packet(&direct, 8);
        }
        let mut other_channel = packet(4, 23, text("hi all", None, false));
        other_channel.channel = "Admin".into();
        m.apply_packet(&other_channel, 9);
        assert_eq!(
            m.conversations(),
            [
                Conversation::Channel("Admin".into()),
                Conversation::Channel("LongFast".into()),
                Conversation::Node(3),
                Conversation::Node(9),
            ]
        );
    }

    #[test]
    fn an_emoji_reaction_attaches_to_the_text_it_answers() {
        let mut m = MeshView::default();
        m.apply_packet(&packet(1, 10, text("lunch?", None, false)), 0);
        m.apply_packet(&packet(2, 12, text("👍", Some(10), true)), 1);
        assert_eq!(m.texts().len(), 1);
        assert_eq!(m.text_by_id(10).unwrap().reactions, [(2, "👍".to_string())]);
        // A reaction to a text we never saw is still shown, as a text.
        m.apply_packet(&packet(3, 13, text("❤️", Some(999), true)), 2);
        assert_eq!(m.texts().len(), 2);
    }

    #[test]
    fn a_routing_answer_to_our_send_is_its_delivery_and_others_are_ignored() {
        let mut m = MeshView::default();
        m.await_ack(PublishId(4), 0xbeef, 1_000);
        let routing = |request_id, error: &str| {
            packet(
                9,
                50,
                MeshBody::Routing {
                    request_id,
                    error: error.into(),
                },
            )
        };
        assert_eq!(m.apply_packet(&routing(Some(0x1234), "NONE"), 2).1, None);
        assert_eq!(
            m.apply_packet(&routing(Some(0xbeef), "NONE"), 3).1,
            Some(Delivery::Acked)
        );
        assert_eq!(m.awaiting, None);
        m.await_ack(PublishId(5), 0xcafe, 1_000);
        assert_eq!(
            m.apply_packet(&routing(Some(0xcafe), "NO_ROUTE"), 3).1,
            Some(Delivery::Failed("NO_ROUTE".into()))
        );
    }

    #[test]
    fn an_unanswered_send_times_out_once() {
        let mut m = MeshView::default();
        m.await_ack(PublishId(1), 7, 1_000);
        assert_eq!(m.ack_timed_out(1_000 + ACK_TIMEOUT_MS - 1), None);
        assert_eq!(
            m.ack_timed_out(1_000 + ACK_TIMEOUT_MS).map(|a| a.packet_id),
            Some(7)
        );
        assert_eq!(m.ack_timed_out(u64::MAX), None);
    }

    #[test]
    fn unreadable_packets_are_counted_per_channel_in_words() {
        let mut m = MeshView::default();
        for _ in 0..12 {
            m.count_unreadable("Secret", &MeshUndecodable::WrongKey);
        }
        m.count_unreadable("Secret", &MeshUndecodable::BadEnvelope);
        assert_eq!(
            m.unreadable["Secret"].describe(),
            "12 packets could not be decrypted — wrong key?; 1 message was not a Meshtastic envelope"
        );
        for i in 0..200 {
            m.count_unreadable(&format!("ch{i}"), &MeshUndecodable::NoKey);
        }
        assert!(m.unreadable.len() <= MAX_COUNTED_CHANNELS, "bounded");
    }

    #[test]
    fn the_chat_is_bounded() {
        let mut m = MeshView::default();
        for id in 1..=(MAX_TEXTS as u32 + 10) {
            m.apply_packet(&packet(1, id, text("x", None, false)), 0);
        }
        assert_eq!(m.texts().len(), MAX_TEXTS);
        assert_eq!(m.texts().next().unwrap().id, 11);
    }

    #[test]
    fn direct_texts_are_grouped_by_the_other_node() {
        let me = 0x1000;
        let mut t = ChatText {
            from: 0x2000,
            to: me,
            id: 1,
            channel: "LongFast".into(),
            text: "psst".into(),
            reply_id: None,
            reactions: vec![],
            received_ms: 0,
            own: false,
            sealed: false,
        };
        assert_eq!(t.conversation(me), Conversation::Node(0x2000));
        t.from = me;
        t.to = 0x3000;
        assert_eq!(t.conversation(me), Conversation::Node(0x3000));
        let key = Conversation::Node(0x3000).key();
        assert_eq!(
            Conversation::from_key(&key),
            Some(Conversation::Node(0x3000))
        );
        assert_eq!(
            Conversation::from_key("c:Long:Fast"),
            Some(Conversation::Channel("Long:Fast".into()))
        );
    }

    #[test]
    fn exported_settings_hold_keys_only_when_asked_and_stored_ones_are_capped() {
        let mut s = MeshSettings::default();
        s.channels.push(SavedChannel {
            name: "Secret".into(),
            psk: Some("c2VjcmV0c2VjcmV0c2VjcmV0".into()),
        });
        let plain = s.for_export(false);
        assert!(plain.channels.iter().all(|c| c.psk.is_none()));
        assert!(
            plain.decoder_channels().is_empty(),
            "no key, nothing to decrypt with"
        );
        assert_eq!(s.for_export(true), s);
        let mut huge = s.clone();
        huge.channels = (0..100)
            .map(|i| SavedChannel {
                name: format!("c{i}"),
                psk: Some("AQ==".into()),
            })
            .collect();
        huge.long_name = "x".repeat(1000);
        let clean = huge.sanitized();
        assert_eq!(clean.channels.len(), MAX_CHANNELS);
        assert_eq!(clean.long_name.len(), 39);
    }
}
