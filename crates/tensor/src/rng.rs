//! A small, explicit, seedable random number generator shared by every crate.
//!
//! Library code never reaches for a global or thread-local RNG: whoever needs randomness takes an
//! `&mut Rng`, and the trainer owns the seeds. `Rng::keyed(seed, &[epoch, sample])` derives an
//! independent stream from a key, so "the randomness of sample 17 in epoch 3" is the same whatever
//! the thread count or the order in which samples are processed.
//!
//! The generator is xoshiro256** (Blackman & Vigna), seeded through SplitMix64. It is not
//! cryptographic; it is fast, has a 2^256 − 1 period and passes BigCrush, which is all training
//! needs.

/// SplitMix64 step: turns any 64-bit state into a well-mixed output (used for seeding and keys).
fn split_mix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A xoshiro256** generator. Clone it to fork a copy of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose whole stream is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            split_mix64(&mut sm),
            split_mix64(&mut sm),
            split_mix64(&mut sm),
            split_mix64(&mut sm),
        ];
        Self { s }
    }

    /// An independent stream for `(seed, key[0], key[1], …)`: e.g. `keyed(seed, &[epoch, index])`.
    ///
    /// Each key word is folded in with a SplitMix64 round, so nearby keys give unrelated streams.
    pub fn keyed(seed: u64, key: &[u64]) -> Self {
        let mut h = seed;
        let mut mixed = split_mix64(&mut h);
        for &k in key {
            let mut t = mixed ^ k.wrapping_mul(0xD6E8_FEB8_6659_FD93);
            mixed = split_mix64(&mut t);
        }
        Self::new(mixed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 24 random bits (every value is an exact f32).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[low, high)`.
    pub fn uniform(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.next_f32()
    }

    /// A uniform integer in `0..n` (Lemire's multiply-shift with rejection: no modulo bias).
    /// Returns 0 when `n == 0`.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let n = n as u64;
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as usize;
            }
        }
    }

    /// True with probability `p`.
    pub fn bernoulli(&mut self, p: f32) -> bool {
        self.next_f32() < p
    }

    /// A standard normal sample (Box–Muller; one of the pair is discarded to keep no state).
    pub fn normal(&mut self) -> f32 {
        // u1 in (0, 1] so ln(u1) is finite.
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    /// A Gamma(`shape`, 1) sample, for `shape` > 0 (returns 0 for `shape` ≤ 0 or NaN).
    ///
    /// Marsaglia & Tsang (2000): for `a` ≥ 1 let `d = a − 1/3`, `c = 1/√(9d)`; draw a normal `z`
    /// until `v = (1 + c·z)³ > 0` and a uniform `u` passes `ln u < z²/2 + d − d·v + d·ln v`;
    /// then `d·v` is Gamma(a). For `a` < 1 the boost `Gamma(a) = Gamma(a + 1) · u^(1/a)`.
    pub fn gamma(&mut self, shape: f32) -> f32 {
        if shape.is_nan() || shape <= 0.0 {
            return 0.0;
        }
        if shape < 1.0 {
            let u = 1.0 - self.next_f64(); // (0, 1]
            return (f64::from(self.gamma(shape + 1.0)) * u.powf(1.0 / f64::from(shape))) as f32;
        }
        let d = f64::from(shape) - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let z = f64::from(self.normal());
            let v = (1.0 + c * z).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = 1.0 - self.next_f64();
            if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
                return (d * v) as f32;
            }
        }
    }

    /// A Beta(`a`, `b`) sample in [0, 1], for `a`, `b` > 0: `X / (X + Y)` with `X` ~ Gamma(a),
    /// `Y` ~ Gamma(b). Beta(α, α) is how mixup and CutMix draw their mixing weight.
    pub fn beta(&mut self, a: f32, b: f32) -> f32 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        if x + y > 0.0 { x / (x + y) } else { 0.5 }
    }

    /// Fisher–Yates shuffle of `items`.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_keys_separate_streams() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(Rng::keyed(7, &[0, 1]).next_u64(), Rng::keyed(7, &[1, 0]).next_u64());
        assert_ne!(Rng::keyed(7, &[0, 1]).next_u64(), Rng::keyed(8, &[0, 1]).next_u64());
    }

    #[test]
    fn uniform_and_normal_have_the_right_moments() {
        let mut r = Rng::new(1);
        let n = 200_000;
        let (mut s, mut s2, mut u) = (0.0f64, 0.0f64, 0.0f64);
        for _ in 0..n {
            let x = f64::from(r.normal());
            s += x;
            s2 += x * x;
            u += f64::from(r.next_f32());
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "normal mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "normal variance {var}");
        assert!((u / n as f64 - 0.5).abs() < 0.005, "uniform mean");
    }

    #[test]
    fn gamma_and_beta_have_the_right_moments() {
        // Gamma(k, 1): mean k, variance k. Beta(a, b): mean a/(a+b), variance ab/((a+b)²(a+b+1)).
        let n = 100_000;
        let mut r = Rng::new(11);
        for k in [0.2f32, 1.0, 3.5] {
            let xs: Vec<f64> = (0..n).map(|_| f64::from(r.gamma(k))).collect();
            assert!(xs.iter().all(|&x| x >= 0.0 && x.is_finite()));
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            let k = f64::from(k);
            assert!((mean - k).abs() < 0.03 * k.max(1.0), "gamma({k}) mean {mean}");
            assert!((var - k).abs() < 0.06 * k.max(1.0), "gamma({k}) variance {var}");
        }
        for (a, b) in [(0.4f32, 0.4f32), (1.0, 1.0), (2.0, 5.0)] {
            let xs: Vec<f64> = (0..n).map(|_| f64::from(r.beta(a, b))).collect();
            assert!(xs.iter().all(|&x| (0.0..=1.0).contains(&x)));
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            let (a, b) = (f64::from(a), f64::from(b));
            let want_var = a * b / ((a + b).powi(2) * (a + b + 1.0));
            assert!((mean - a / (a + b)).abs() < 0.005, "beta({a},{b}) mean {mean}");
            assert!((var - want_var).abs() < 0.05 * want_var, "beta({a},{b}) var {var}");
        }
        assert_eq!(r.gamma(0.0), 0.0);
        assert_eq!(r.gamma(f32::NAN), 0.0);
    }

    #[test]
    fn below_covers_its_range_evenly() {
        let mut r = Rng::new(3);
        let mut counts = [0usize; 7];
        for _ in 0..70_000 {
            counts[r.below(7)] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut r = Rng::new(5);
        let mut v: Vec<usize> = (0..100).collect();
        r.shuffle(&mut v);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}
