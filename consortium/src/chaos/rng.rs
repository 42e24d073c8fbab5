//! A small seeded generator (SplitMix64): the same seed draws the same
//! faults at the same moments, so a run that found a problem can be run
//! again.

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }

    /// One of `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_numbers_and_stays_in_range() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let drawn: Vec<u64> = (0..100).map(|_| a.between(50, 150)).collect();
        assert_eq!(
            drawn,
            (0..100).map(|_| b.between(50, 150)).collect::<Vec<_>>()
        );
        assert!(drawn.iter().all(|d| (50..=150).contains(d)));
        assert!(drawn.iter().any(|d| *d != drawn[0]), "not a constant");
        assert_ne!(Rng::new(8).next_u64(), Rng::new(7).next_u64());
    }
}
