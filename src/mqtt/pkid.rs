//! Packet identifiers: one pool shared by PUBLISH (QoS 1/2), SUBSCRIBE and UNSUBSCRIBE.
//!
//! Ids are handed out in order (1, 2, …, 65535, 1, …), skipping ids still in flight, and
//! never 0 (MQTT-2.3.1-1). A bitset keeps `allocate`/`release` O(1) in the common case.

const WORDS: usize = 65_536 / 64;

pub struct PacketIds {
    next: u16,
    in_use: Box<[u64; WORDS]>,
    count: usize,
}

impl Default for PacketIds {
    fn default() -> Self {
        PacketIds::new()
    }
}

impl PacketIds {
    pub fn new() -> PacketIds {
        PacketIds {
            next: 1,
            in_use: Box::new([0; WORDS]),
            count: 0,
        }
    }

    /// The next free id after the last one handed out, or `None` when all 65,535 are in flight.
    pub fn allocate(&mut self) -> Option<u16> {
        if self.count >= 65_535 {
            return None;
        }
        loop {
            let candidate = self.next;
            self.next = if self.next == u16::MAX {
                1
            } else {
                self.next + 1
            };
            if !self.is_in_use(candidate) {
                self.mark(candidate, true);
                return Some(candidate);
            }
        }
    }

    /// The id is free again (its exchange finished or its connection state was dropped).
    pub fn release(&mut self, id: u16) {
        if id != 0 && self.is_in_use(id) {
            self.mark(id, false);
        }
    }

    pub fn is_in_use(&self, id: u16) -> bool {
        let (word, bit) = (id as usize / 64, id as usize % 64);
        self.in_use[word] & (1 << bit) != 0
    }

    #[cfg(test)]
    pub fn in_use_count(&self) -> usize {
        self.count
    }

    fn mark(&mut self, id: u16, used: bool) {
        let (word, bit) = (id as usize / 64, id as usize % 64);
        if used {
            self.in_use[word] |= 1 << bit;
            self.count += 1;
        } else {
            self.in_use[word] &= !(1 << bit);
            self.count -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_start_at_1_and_are_handed_out_in_order() {
        let mut ids = PacketIds::new();
        assert_eq!(ids.allocate(), Some(1));
        assert_eq!(ids.allocate(), Some(2));
        ids.release(1);
        // Released ids are not reused before the counter wraps.
        assert_eq!(ids.allocate(), Some(3));
    }

    #[test]
    fn allocator_wraps_from_65535_to_1_skipping_ids_in_use() {
        let mut ids = PacketIds::new();
        for expected in 1..=65_535u16 {
            assert_eq!(ids.allocate(), Some(expected));
        }
        assert_eq!(ids.allocate(), None, "all ids in flight");
        // Free everything except 1 and 3; the counter is back at 1.
        for id in 1..=65_535u16 {
            if id != 1 && id != 3 {
                ids.release(id);
            }
        }
        assert_eq!(ids.allocate(), Some(2), "1 is in flight, so 2 comes next");
        assert_eq!(ids.allocate(), Some(4), "3 is in flight");
        ids.release(1);
        for expected in 5..=65_535u16 {
            assert_eq!(ids.allocate(), Some(expected));
        }
        assert_eq!(ids.allocate(), Some(1), "wrapped from 65535 to 1, never 0");
        assert!(!ids.is_in_use(0));
    }

    #[test]
    fn releasing_an_unknown_or_zero_id_is_harmless() {
        let mut ids = PacketIds::new();
        ids.release(0);
        ids.release(77);
        assert_eq!(ids.in_use_count(), 0);
        assert_eq!(ids.allocate(), Some(1));
        assert_eq!(ids.in_use_count(), 1);
    }
}
