//! Dropout: mask statistics, fast == reference, determinism of the mask, bad probabilities.

use super::*;
use crate::Rng;
use proptest::prelude::*;

proptest! {
    #[test]
    fn forward_and_backward_match_the_reference(len in prop::sample::select(vec![1usize, 7, 8, 9, 17, 70_000]), p in 0.0f32..0.9, seed in 0u64..1000) {
        let mut rng = Rng::new(seed);
        let x = Tensor::from_fn(&[len], |_| rng.uniform(-1.0, 1.0));
        let mut mask = Tensor::default();
        sample_mask_into(&[len], p, &mut rng, &mut mask).unwrap();
        let to64 = |t: &Tensor| t.data().iter().map(|&v| f64::from(v)).collect::<Vec<_>>();
        let y = forward(&x, &mask).unwrap();
        let dx = backward(&x, &mask).unwrap();
        let want = reference::forward(&to64(&x), &to64(&mask));
        for ((y, dx), want) in y.data().iter().zip(dx.data()).zip(&want) {
            // one f32 rounding of the exact product
            prop_assert!((f64::from(*y) - want).abs() <= 1e-7 * want.abs().max(1e-30));
            prop_assert_eq!(y, dx);
        }
    }
}

#[test]
fn mask_drops_about_p_and_keeps_the_mean() {
    let (p, len) = (0.3f32, 100_000);
    let mut mask = Tensor::default();
    sample_mask_into(&[len], p, &mut Rng::new(1), &mut mask).unwrap();
    let zeros = mask.data().iter().filter(|&&m| m == 0.0).count();
    // Binomial(1e5, 0.3): sd ≈ 145, so ±1000 is a 7-sigma band.
    assert!((zeros as i64 - 30_000).abs() < 1000, "{zeros} zeros");
    assert!(mask.data().iter().all(|&m| m == 0.0 || m == 1.0 / 0.7));
    let mean = mask.data().iter().map(|&m| f64::from(m)).sum::<f64>() / len as f64;
    assert!((mean - 1.0).abs() < 0.02, "E[m] = {mean}");
}

#[test]
fn same_seed_same_mask_and_zero_p_keeps_everything() {
    let draw = |seed, p| {
        let mut m = Tensor::default();
        sample_mask_into(&[2, 50], p, &mut Rng::new(seed), &mut m).unwrap();
        m
    };
    assert_eq!(draw(4, 0.5), draw(4, 0.5));
    assert_ne!(draw(4, 0.5), draw(5, 0.5));
    assert!(draw(4, 0.0).data().iter().all(|&m| m == 1.0));
}

#[test]
fn bad_probability_and_mask_shape_are_errors() {
    let mut m = Tensor::default();
    for p in [1.0, -0.1, f32::NAN] {
        let err = sample_mask_into(&[3], p, &mut Rng::new(0), &mut m).unwrap_err();
        assert!(err.to_string().contains("drop probability"), "{err}");
    }
    let err = forward(&Tensor::zeros(&[2, 3]), &Tensor::zeros(&[3, 2])).unwrap_err();
    assert!(matches!(err, TensorError::ShapeMismatch { op: "dropout", .. }));
}
