//! Mixing pairs of training images: mixup (Zhang et al., 2018) and CutMix (Yun et al., 2019).
//!
//! Both pair each image `i` of an NCHW batch `x` [N, C, H, W] with a partner `π(i)` (a random
//! permutation of the batch) and a share `λ` ~ Beta(α, α), drawn once per batch:
//!
//! - **mixup** blends the two whole images: `x'_i = λ·x_i + (1 − λ)·x_π(i)`;
//! - **CutMix** pastes a box of the partner into the image: `x'_i = x_i` outside a box `B` and
//!   `x_π(i)` inside it, the box covering a share `1 − λ` of the frame (its sides `√(1 − λ)` of
//!   the image's, centred at a uniform point, clipped at the border; `λ` is then recomputed as
//!   the share of the image left uncovered, `1 − |B| / (H·W)`).
//!
//! The label is mixed with the same weights: the loss is `λ·CE(z_i, y_i) + (1 − λ)·CE(z_i,
//! y_π(i))`, which is cross-entropy against the target `λ·onehot(y_i) + (1 − λ)·onehot(y_π(i))`.
//! The network can no longer reach zero loss by memorising single images, and it has to spread
//! its evidence over the whole frame (CutMix) or keep its outputs linear between examples
//! (mixup): both are regularisers for small data sets like this one.

use tensor::{Rng, Tensor};

use crate::AugmentError;

/// Which pairing mix a batch gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixKind {
    /// Blend whole images: `λ·x_i + (1 − λ)·x_π(i)`.
    Mixup,
    /// Paste a box of the partner covering a share `1 − λ` of the frame.
    CutMix,
}

/// How a batch was mixed: what the loss needs to mix the labels alike.
#[derive(Debug, Clone, PartialEq)]
pub struct MixedBatch {
    /// `π`: image `i` was mixed with image `partner[i]` (a permutation of `0..N`; a fixed point
    /// `π(i) = i` leaves image `i` as it was).
    pub partner: Vec<usize>,
    /// `λ` in [0, 1]: the share of each mixed image (and of its label) that is its own.
    pub lambda: f32,
}

impl MixedBatch {
    /// The partner's targets: `targets[π(i)]` for each `i`.
    pub fn partner_targets(&self, targets: &[usize]) -> Vec<usize> {
        self.partner.iter().map(|&j| targets[j]).collect()
    }
}

/// Mixes the batch `x` [N, C, H, W] in place (module docs), with `λ` ~ Beta(`alpha`, `alpha`)
/// and the partners drawn from `rng`.
///
/// # Errors
/// [`AugmentError::BadParameter`] unless `x` is 4-D with N ≥ 1, and `alpha` is finite and > 0.
pub fn mix_batch(
    x: &mut Tensor,
    kind: MixKind,
    alpha: f32,
    rng: &mut Rng,
) -> Result<MixedBatch, AugmentError> {
    let op = "mix_batch";
    let &[n, c, h, w] = x.dims() else {
        return Err(AugmentError::bad(op, format!("batch shape {:?} is not NCHW", x.dims())));
    };
    if n == 0 {
        return Err(AugmentError::bad(op, "empty batch"));
    }
    if !(alpha.is_finite() && alpha > 0.0) {
        return Err(AugmentError::bad(op, format!("alpha {alpha} must be finite and > 0")));
    }
    let mut partner: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut partner);
    let drawn = rng.beta(alpha, alpha);
    let original = x.data().to_vec();
    let image_len = c * h * w;
    let lambda = match kind {
        MixKind::Mixup => {
            for (i, out) in x.data_mut().chunks_exact_mut(image_len).enumerate() {
                let own = &original[i * image_len..(i + 1) * image_len];
                let other = &original[partner[i] * image_len..(partner[i] + 1) * image_len];
                for ((o, &a), &b) in out.iter_mut().zip(own).zip(other) {
                    *o = drawn * a + (1.0 - drawn) * b;
                }
            }
            drawn
        }
        MixKind::CutMix => {
            let (rows, cols) = cut_box(h, w, drawn, rng);
            for (i, out) in x.data_mut().chunks_exact_mut(image_len).enumerate() {
                let other = &original[partner[i] * image_len..(partner[i] + 1) * image_len];
                for ch in 0..c {
                    for r in rows.clone() {
                        let at = ch * h * w + r * w;
                        out[at + cols.start..at + cols.end]
                            .copy_from_slice(&other[at + cols.start..at + cols.end]);
                    }
                }
            }
            1.0 - (rows.len() * cols.len()) as f32 / (h * w) as f32
        }
    };
    Ok(MixedBatch { partner, lambda })
}

/// CutMix's box for a drawn share `lambda`: sides `⌊√(1 − λ)·H⌋` × `⌊√(1 − λ)·W⌋` centred at
/// a uniform pixel, clipped to the frame. Returns its row and column ranges.
fn cut_box(
    h: usize,
    w: usize,
    lambda: f32,
    rng: &mut Rng,
) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let side = (1.0 - lambda).clamp(0.0, 1.0).sqrt();
    let (box_h, box_w) = ((side * h as f32) as usize, (side * w as f32) as usize);
    let (centre_r, centre_c) = (rng.below(h), rng.below(w));
    let rows = centre_r.saturating_sub(box_h / 2)..(centre_r + box_h.div_ceil(2)).min(h);
    let cols = centre_c.saturating_sub(box_w / 2)..(centre_c + box_w.div_ceil(2)).min(w);
    (rows, cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch whose image `i` is the constant `i + 1` in every channel and pixel, except a
    /// ramp in channel 0 so that blending is visible per pixel.
    fn labelled_batch(n: usize, c: usize, h: usize, w: usize) -> Tensor {
        let mut x = Tensor::zeros(&[n, c, h, w]);
        for (k, v) in x.data_mut().iter_mut().enumerate() {
            let (i, rest) = (k / (c * h * w), k % (c * h * w));
            *v = (i + 1) as f32 + if rest < h * w { rest as f32 * 1e-3 } else { 0.0 };
        }
        x
    }

    #[test]
    fn mixup_blends_each_image_with_its_partner_by_lambda() {
        for seed in 0..20 {
            let (n, c, h, w) = (5, 3, 4, 7);
            let before = labelled_batch(n, c, h, w);
            let mut x = before.clone();
            let mixed = mix_batch(&mut x, MixKind::Mixup, 0.4, &mut Rng::new(seed)).unwrap();
            let mut sorted = mixed.partner.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "partners form a permutation");
            let l = mixed.lambda;
            assert!((0.0..=1.0).contains(&l));
            let len = c * h * w;
            for i in 0..n {
                let j = mixed.partner[i];
                for p in 0..len {
                    let want =
                        l * before.data()[i * len + p] + (1.0 - l) * before.data()[j * len + p];
                    assert!((x.data()[i * len + p] - want).abs() < 1e-5, "seed {seed} image {i}");
                }
            }
        }
    }

    #[test]
    fn cutmix_pastes_one_box_whose_area_is_one_minus_lambda() {
        let mut sizes_seen = std::collections::BTreeSet::new();
        for seed in 0..40 {
            let (n, c, h, w) = (4, 2, 9, 13);
            let before = labelled_batch(n, c, h, w);
            let mut x = before.clone();
            let mixed = mix_batch(&mut x, MixKind::CutMix, 1.0, &mut Rng::new(seed)).unwrap();
            let len = c * h * w;
            for i in 0..n {
                let j = mixed.partner[i];
                // Every pixel is either the image's own or its partner's, and channels agree.
                let mut from_partner = 0;
                for p in 0..len {
                    let (got, own, other) = (
                        x.data()[i * len + p],
                        before.data()[i * len + p],
                        before.data()[j * len + p],
                    );
                    assert!(got == own || got == other, "seed {seed}: pixel {p} is neither");
                    if j != i && got == other {
                        from_partner += 1;
                        let twin = (p + h * w) % len; // same pixel in the other channel
                        assert_eq!(x.data()[i * len + twin], before.data()[j * len + twin]);
                    }
                }
                if j != i {
                    let share = 1.0 - from_partner as f32 / len as f32;
                    assert!((share - mixed.lambda).abs() < 1e-6, "seed {seed}: λ is the own share");
                    sizes_seen.insert(from_partner);
                }
            }
        }
        assert!(sizes_seen.len() > 5, "boxes of many sizes: {sizes_seen:?}");
    }

    #[test]
    fn the_same_rng_gives_the_same_mix() {
        let mut a = labelled_batch(6, 3, 8, 8);
        let mut b = a.clone();
        let ma = mix_batch(&mut a, MixKind::CutMix, 1.0, &mut Rng::keyed(3, &[7])).unwrap();
        let mb = mix_batch(&mut b, MixKind::CutMix, 1.0, &mut Rng::keyed(3, &[7])).unwrap();
        assert_eq!((ma, a), (mb, b));
    }

    #[test]
    fn bad_batches_and_alphas_are_rejected() {
        let mut rng = Rng::new(0);
        let mut flat = Tensor::zeros(&[4, 3]);
        let err = mix_batch(&mut flat, MixKind::Mixup, 1.0, &mut rng).unwrap_err().to_string();
        assert!(err.contains("mix_batch") && err.contains("[4, 3]"), "{err}");
        let mut x = labelled_batch(2, 1, 2, 2);
        for alpha in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            let err = mix_batch(&mut x, MixKind::CutMix, alpha, &mut rng).unwrap_err().to_string();
            assert!(err.contains("alpha"), "{err}");
        }
        let mut empty = Tensor::zeros(&[0, 3, 2, 2]);
        assert!(mix_batch(&mut empty, MixKind::Mixup, 1.0, &mut rng).is_err());
    }
}
