//! ReLU: the SIMD + rayon path equals the reference, the backward equals finite differences,
//! and mismatched shapes are rejected.

use proptest::prelude::*;

use super::*;
use crate::testing::{central_difference, check_close, dot, to_f32, to_f64, uniform_vec};
use crate::{Rng, Tensor};

/// Lengths around the SIMD width, and past one rayon chunk so the split and its tail run.
fn length() -> impl Strategy<Value = usize> {
    prop_oneof![0..40usize, Just(PAR_CHUNK - 1), Just(PAR_CHUNK + 9), Just(2 * PAR_CHUNK + 17)]
}

/// Random values with some exact zeros (the kink, where both paths must give 0).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut v = to_f32(&uniform_vec(&mut rng, len));
    for x in v.iter_mut().step_by(7) {
        *x = 0.0;
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn forward_and_backward_match_the_reference(len in length(), seed: u64) {
        let x = Tensor::from_vec(&[len], values(len, seed)).expect("length matches");
        let dy = Tensor::from_vec(&[len], values(len, seed ^ 1)).expect("length matches");
        let y = forward(&x);
        prop_assert_eq!(y.dims(), x.dims());
        prop_assert_eq!(y.data(), &reference::forward(x.data())[..]);
        let dx = backward(&x, &dy).expect("same shapes");
        prop_assert_eq!(dx.data(), &reference::backward(x.data(), dy.data())[..]);
    }

    #[test]
    fn backward_is_the_derivative(len in 1..30usize, seed: u64) {
        let mut rng = Rng::new(seed);
        let x = uniform_vec(&mut rng, len);
        let r = uniform_vec(&mut rng, len);
        // Off the kink: finite differences straddle 0 only for |x| < h.
        prop_assume!(x.iter().all(|v| v.abs() > 1e-3));
        let numeric = central_difference(|x| dot(&reference::forward(x), &r), &x, 1e-6);
        check_close("dx", &reference::backward(&x, &r), &numeric, 1e-7, 1e-6)?;
    }
}

#[test]
fn into_variants_reuse_a_larger_buffer() {
    let x = Tensor::from_vec(&[2, 3], vec![-1.0, 2.0, 0.0, 3.0, -4.0, 5.0]).expect("6 values");
    let mut y = Tensor::full(&[50], 9.0);
    forward_into(&x, &mut y);
    assert_eq!(y.dims(), &[2, 3]);
    assert_eq!(y.data(), &[0.0, 2.0, 0.0, 3.0, 0.0, 5.0]);
    let mut dx = Tensor::full(&[50], 9.0);
    backward_into(&x, &Tensor::full(&[2, 3], 1.5), &mut dx).expect("same shapes");
    assert_eq!(dx.data(), &[0.0, 1.5, 0.0, 1.5, 0.0, 1.5]);
}

#[test]
fn nan_input_gives_zero_like_the_reference() {
    let x = Tensor::from_vec(&[9], vec![f32::NAN; 9]).expect("9 values");
    assert_eq!(forward(&x).data(), &[0.0; 9]);
    assert_eq!(to_f64(&reference::forward(x.data())), vec![0.0; 9]);
}

#[test]
fn backward_rejects_mismatched_shapes() {
    let err = backward(&Tensor::zeros(&[2, 3]), &Tensor::zeros(&[3, 2])).unwrap_err();
    assert!(err.to_string().starts_with("relu::backward: shapes [2, 3] and [3, 2]"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any pair of shapes: backward returns Ok exactly when they are equal, never panics.
    #[test]
    fn arbitrary_shapes_never_panic(
        xd in crate::testing::any_dims(4, 4),
        yd in crate::testing::any_dims(4, 4),
    ) {
        let x = crate::testing::random_tensor(&xd, 6);
        let dy = crate::testing::random_tensor(&yd, 7);
        let y = forward(&x);
        prop_assert_eq!(y.dims(), x.dims());
        prop_assert_eq!(backward(&x, &dy).is_ok(), xd == yd);
    }
}
