//! softmax_cross_entropy: hand-checkable values, PyTorch's weighting and smoothing semantics,
//! gradients equal finite differences of the loss, huge logits stay finite, and bad targets or
//! options are typed errors.

use proptest::prelude::*;

use super::*;
use crate::testing::{central_difference, check_close, to_f32, to_f64, uniform_vec};
use crate::{Rng, Tensor};

fn logits(n: usize, k: usize, v: &[f64]) -> Tensor {
    Tensor::from_vec(&[n, k], to_f32(v)).expect("n·k values")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn backward_is_the_derivative(
        n in 1..6usize,
        k in 1..6usize,
        weighted: bool,
        smoothing in prop_oneof![Just(0.0f32), 0.0f32..=1.0],
        seed: u64,
    ) {
        let mut rng = Rng::new(seed);
        let z: Vec<f64> = uniform_vec(&mut rng, n * k).iter().map(|v| 4.0 * v).collect();
        let targets: Vec<usize> = (0..n).map(|_| rng.below(k)).collect();
        // Weights in [0.5, 1.5): positive, so the weighted mean is defined.
        let w: Vec<f64> = uniform_vec(&mut rng, k).iter().map(|v| 1.0 + v / 2.0).collect();
        let w = weighted.then_some(&w[..]);
        let eps = f64::from(smoothing);
        let loss = |z: &[f64]| reference::forward(z, k, &targets, w, eps).0;
        let (_, p) = reference::forward(&z, k, &targets, w, eps);
        let dloss = 0.75;
        let grad = reference::backward(&p, k, &targets, w, eps, dloss);
        let numeric: Vec<f64> = central_difference(loss, &z, 1e-6).iter().map(|g| g * dloss).collect();
        check_close("dlogits", &grad, &numeric, 1e-8, 1e-6)?;
    }

    #[test]
    fn the_f32_entry_points_match_the_f64_reference(n in 1..9usize, k in 1..5usize, seed: u64) {
        let mut rng = Rng::new(seed);
        let z = to_f64(&to_f32(&uniform_vec(&mut rng, n * k)));
        let targets: Vec<usize> = (0..n).map(|_| rng.below(k)).collect();
        let opts = CrossEntropyOptions { class_weights: None, label_smoothing: 0.1 };
        let out = forward(&logits(n, k, &z), &targets, &opts).expect("valid");
        let (loss, p) = reference::forward(&z, k, &targets, None, f64::from(0.1f32));
        check_close("loss", &[out.loss], &[loss], 1e-6, 1e-5)?;
        check_close("probs", out.probs.data(), &p, 1e-6, 1e-5)?;
        let d = backward(&out.probs, &targets, &opts, 1.0).expect("valid");
        let want = reference::backward(&p, k, &targets, None, f64::from(0.1f32), 1.0);
        check_close("dlogits", d.data(), &want, 1e-6, 1e-5)?;
    }
}

#[test]
fn uniform_logits_give_log_k_and_p_minus_onehot_over_n() {
    let out =
        forward(&Tensor::zeros(&[2, 4]), &[1, 3], &CrossEntropyOptions::default()).expect("valid");
    assert!((out.loss - 4f32.ln()).abs() < 1e-6);
    assert!(out.probs.data().iter().all(|&p| p == 0.25));
    let d = backward(&out.probs, &[1, 3], &CrossEntropyOptions::default(), 1.0).expect("valid");
    // (p − onehot)/N with p = 1/4, N = 2.
    assert_eq!(d.data(), &[0.125, -0.375, 0.125, 0.125, 0.125, 0.125, 0.125, -0.375]);
}

#[test]
fn into_variants_fill_stale_buffers_like_the_allocating_ones() {
    let z = logits(3, 4, &[0.5, -1.0, 2.0, 0.0, 1.0, 1.0, -3.0, 0.25, 0.0, 4.0, -0.5, 1.5]);
    let w = [1.0f32, 2.0, 0.5, 1.0];
    let opts = CrossEntropyOptions { class_weights: Some(&w), label_smoothing: 0.2 };
    let targets = [2, 0, 1];
    let want = forward(&z, &targets, &opts).expect("valid");
    let mut probs = Tensor::full(&[40], f32::NAN);
    let loss = forward_into(&z, &targets, &opts, &mut probs).expect("valid");
    assert_eq!((loss, &probs), (want.loss, &want.probs));
    let want_d = backward(&want.probs, &targets, &opts, 0.5).expect("valid");
    let mut d = Tensor::full(&[2, 2], f32::NAN);
    backward_into(&probs, &targets, &opts, 0.5, &mut d).expect("valid");
    assert_eq!(d, want_d);
    assert_eq!(d.dims(), &[3, 4]);
}

#[test]
fn class_weights_divide_by_the_targets_total_weight() {
    // Two rows with losses l0 = −log p[0,0] and l1 = −log p[1,1]: PyTorch's weighted mean is
    // (w0·l0 + w1·l1) / (w0 + w1), not a mean over rows.
    let z = [2.0, 0.0, 0.0, 1.0];
    let w = [3.0f32, 1.0];
    let opts = CrossEntropyOptions { class_weights: Some(&w), label_smoothing: 0.0 };
    let out = forward(&logits(2, 2, &z), &[0, 1], &opts).expect("valid");
    let l0 = (1.0 + (-2f64).exp()).ln();
    let l1 = (1.0 + (-1f64).exp()).ln();
    let want = (3.0 * l0 + l1) / 4.0;
    assert!((f64::from(out.loss) - want).abs() < 1e-6, "{} vs {want}", out.loss);
}

#[test]
fn full_smoothing_is_cross_entropy_against_the_uniform() {
    let z = [1.0, 2.0, 3.0];
    let opts = CrossEntropyOptions { class_weights: None, label_smoothing: 1.0 };
    let out = forward(&logits(1, 3, &z), &[2], &opts).expect("valid");
    let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    let want = z.iter().map(|zc| lse - zc).sum::<f64>() / 3.0;
    assert!((f64::from(out.loss) - want).abs() < 1e-6);
}

#[test]
fn huge_logits_stay_finite() {
    let out = forward(&logits(1, 3, &[1e30, -1e30, 0.0]), &[1], &CrossEntropyOptions::default())
        .expect("finite logits are valid");
    assert!(out.loss.is_finite() && out.loss > 1e29);
    assert_eq!(out.probs.data(), &[1.0, 0.0, 0.0]);
}

#[test]
fn bad_targets_and_options_are_errors() {
    let z = Tensor::zeros(&[2, 3]);
    let none = CrossEntropyOptions::default();
    let err = forward(&z, &[0, 3], &none).unwrap_err();
    assert_eq!(
        err.to_string(),
        "softmax_cross_entropy::forward: target 3 at row 1 is not a class index below 3"
    );
    assert!(forward(&z, &[0], &none).is_err());
    assert!(forward(&Tensor::zeros(&[6]), &[0], &none).is_err());
    assert!(forward(&Tensor::zeros(&[0, 3]), &[], &none).is_err());
    let nan = Tensor::from_vec(&[1, 2], vec![0.0, f32::NAN]).expect("2 values");
    let err = forward(&nan, &[0], &none).unwrap_err();
    assert!(err.to_string().contains("logit [0, 1] is NaN"), "{err}");
    let bad = |eps: f32, w: Option<&[f32]>| {
        forward(&z, &[0, 1], &CrossEntropyOptions { class_weights: w, label_smoothing: eps })
    };
    assert!(bad(-0.1, None).is_err());
    assert!(bad(f32::NAN, None).is_err());
    assert!(bad(0.0, Some(&[1.0, 1.0])).is_err());
    assert!(bad(0.0, Some(&[1.0, -1.0, 1.0])).is_err());
    assert!(bad(0.0, Some(&[0.0, 0.0, 1.0])).is_err());
    assert!(bad(0.0, Some(&[0.0, 1.0, 0.0])).is_ok());
    assert!(backward(&z, &[0, 9], &none, 1.0).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary shapes, targets and options: every entry returns Ok or Err, never panics.
    #[test]
    fn arbitrary_inputs_never_panic(
        dims in crate::testing::any_dims(3, 4),
        targets in proptest::collection::vec(0..6usize, 0..6),
        weights in proptest::option::of(proptest::collection::vec(-1.0f32..2.0, 0..6)),
        label_smoothing in -0.5f32..1.5,
    ) {
        let z = crate::testing::random_tensor(&dims, 4);
        let opts = CrossEntropyOptions { class_weights: weights.as_deref(), label_smoothing };
        if let Ok(out) = forward(&z, &targets, &opts) {
            prop_assert!(out.loss.is_finite());
            let _ = backward(&out.probs, &targets, &opts, 1.0);
        }
        let _ = backward(&z, &targets, &opts, 1.0);
    }
}
