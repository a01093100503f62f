//! A small seeded random generator whose whole state is one `u64` (saved for resume).

use serde::{Deserialize, Serialize};

/// SplitMix64 (Steele, Lea, Flood 2014): a counter-based generator with a one-word state.
///
/// Used for shuffling and augmentation; its state is stored in the run state so a resumed run
/// draws exactly the numbers the uninterrupted one would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitMix64 {
    /// The generator's state.
    pub state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (`n > 0`), by rejection so it has no modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let r = self.next_u64();
            if r < zone {
                return r % n;
            }
        }
    }

    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }

    /// A uniform `f64` in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Shuffles `xs` in place (Fisher–Yates).
    ///
    /// ```
    /// use ceod_train::rng::SplitMix64;
    /// let mut a: Vec<u32> = (0..10).collect();
    /// SplitMix64::new(7).shuffle(&mut a);
    /// let mut b = a.clone();
    /// b.sort();
    /// assert_eq!(b, (0..10).collect::<Vec<_>>());
    /// ```
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            xs.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values_of_splitmix64() {
        // First outputs for seed 1234567 from the reference C implementation (Vigna's splitmix64.c).
        let mut r = SplitMix64::new(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
        assert_eq!(r.next_u64(), 9817491932198370423);
    }

    #[test]
    fn state_restores_the_sequence() {
        let mut a = SplitMix64::new(3);
        a.next_u64();
        let saved = a;
        let x: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let mut b = saved;
        let y: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(x, y);
    }

    #[test]
    fn below_is_roughly_uniform() {
        let mut r = SplitMix64::new(9);
        let mut counts = [0usize; 3];
        for _ in 0..30_000 {
            counts[r.below(3) as usize] += 1;
        }
        // each bucket expects 10 000, sd ≈ 82
        for c in counts {
            assert!((9_600..10_400).contains(&c), "{counts:?}");
        }
        let u = r.unit();
        assert!((0.0..1.0).contains(&u));
    }
}
