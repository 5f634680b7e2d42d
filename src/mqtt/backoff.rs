//! Reconnect delays: exponential backoff with full jitter, from a seeded PRNG.
//!
//! Attempt `n` (1-based) waits a uniformly random delay in `[0, min(cap, base·2^(n-1))]`
//! ("full jitter": many clients that lost the same broker do not come back in lockstep).
//! The generator is SplitMix64 seeded from the config, so tests are deterministic and no
//! `rand` crate or clock is needed.

use super::Millis;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, good enough for jitter.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `[0, max]` (modulo bias is irrelevant for jitter).
    pub fn up_to(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(n) => self.next_u64() % n,
            None => self.next_u64(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Millis,
    cap: Millis,
    attempt: u32,
    rng: SplitMix64,
}

impl Backoff {
    pub fn new(base: Millis, cap: Millis, seed: u64) -> Backoff {
        Backoff {
            base,
            cap,
            attempt: 0,
            rng: SplitMix64::new(seed),
        }
    }

    /// The delay ceiling of attempt `n` (1-based): `min(cap, base·2^(n-1))`.
    pub fn ceiling(&self, attempt: u32) -> Millis {
        let doublings = attempt.saturating_sub(1);
        let factor = 1u64.checked_shl(doublings).unwrap_or(u64::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Count one more failed attempt and draw its delay: `(attempt, delay_ms)`.
    pub fn next_delay(&mut self) -> (u32, Millis) {
        self.attempt = self.attempt.saturating_add(1);
        let ceiling = self.ceiling(self.attempt);
        (self.attempt, self.rng.up_to(ceiling))
    }

    /// Consecutive failed attempts so far.
    #[cfg(test)]
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Back to the first, shortest delay (after a stable connection or a user connect).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_from_base_up_to_cap() {
        let b = Backoff::new(500, 30_000, 1);
        let ceilings: Vec<_> = (1..=9).map(|n| b.ceiling(n)).collect();
        assert_eq!(
            ceilings,
            [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]
        );
        assert_eq!(b.ceiling(u32::MAX), 30_000, "no overflow on huge attempts");
        assert_eq!(Backoff::new(u64::MAX, u64::MAX, 1).ceiling(70), u64::MAX);
    }

    #[test]
    fn delays_are_full_jitter_within_the_ceiling() {
        let mut b = Backoff::new(100, 1000, 42);
        let mut at_cap = Vec::new();
        for n in 1..=300u32 {
            let (attempt, delay) = b.next_delay();
            assert_eq!(attempt, n);
            assert!(delay <= b.ceiling(n), "attempt {n}: {delay}");
            if n > 5 {
                at_cap.push(delay);
            }
        }
        // Full jitter: the whole range [0, cap] is used, not just [cap/2, cap].
        assert!(at_cap.iter().any(|&d| d < 250), "{at_cap:?}");
        assert!(at_cap.iter().any(|&d| d > 750), "{at_cap:?}");
    }

    #[test]
    fn reconnect_delays_are_deterministic_for_a_seed() {
        let draw = |seed| {
            let mut b = Backoff::new(500, 30_000, seed);
            (0..10).map(|_| b.next_delay().1).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn reset_starts_again_at_attempt_one() {
        let mut b = Backoff::new(500, 30_000, 3);
        b.next_delay();
        b.next_delay();
        assert_eq!(b.attempt(), 2);
        b.reset();
        let (attempt, delay) = b.next_delay();
        assert_eq!(attempt, 1);
        assert!(delay <= 500);
    }
}
