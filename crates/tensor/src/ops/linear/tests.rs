//! linear: the GEMM path equals the reference, the reference backward equals finite
//! differences, and bad shapes are errors naming the op.

use proptest::prelude::*;

use super::*;
use crate::testing::{central_difference, check_close, dot, to_f32, to_f64, uniform_vec};
use crate::{Rng, Tensor};

/// `(N, in, out)` including 1, primes and sizes just off the SIMD widths and GEMM tiles.
fn sizes() -> impl Strategy<Value = (usize, usize, usize)> {
    let size =
        prop_oneof![1..=9usize, Just(15usize), Just(16), Just(17), Just(31), Just(33), Just(67)];
    (size.clone(), size.clone(), size)
}

/// x, w, b, r (the upstream gradient) as f32-representable f64 vectors.
fn values(n: usize, inputs: usize, outputs: usize, seed: u64) -> [Vec<f64>; 4] {
    let mut rng = Rng::new(seed);
    let mut draw = |len| to_f64(&to_f32(&uniform_vec(&mut rng, len)));
    [draw(n * inputs), draw(outputs * inputs), draw(outputs), draw(n * outputs)]
}

fn tensor(dims: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_vec(dims, to_f32(v)).expect("dims match the values")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn forward_and_backward_match_the_reference((n, i, o) in sizes(), seed: u64) {
        let [x, w, b, r] = values(n, i, o, seed);
        let y = forward(&tensor(&[n, i], &x), &tensor(&[o, i], &w), Some(&tensor(&[o], &b)))
            .expect("valid shapes");
        prop_assert_eq!(y.dims(), &[n, o]);
        let tol = |terms: usize| 2e-7 * terms as f64 + 1e-6;
        check_close("y", y.data(), &reference::forward(&x, &w, Some(&b), n, i, o), tol(i + 1), 1e-5)?;
        let g = backward(&tensor(&[n, i], &x), &tensor(&[o, i], &w), &tensor(&[n, o], &r))
            .expect("valid shapes");
        let want = reference::backward(&x, &w, &r, n, i, o);
        check_close("dx", g.dx.data(), &want.dx, tol(o), 1e-5)?;
        check_close("dw", g.dw.data(), &want.dw, tol(n), 1e-5)?;
        check_close("db", g.db.data(), &want.db, tol(n), 1e-5)?;
    }

    #[test]
    fn backward_is_the_derivative(n in 1..5usize, i in 1..6usize, o in 1..5usize, seed: u64) {
        let [x, w, b, r] = values(n, i, o, seed);
        let g = reference::backward(&x, &w, &r, n, i, o);
        let by_x = |x: &[f64]| dot(&reference::forward(x, &w, Some(&b), n, i, o), &r);
        check_close("dx", &g.dx, &central_difference(by_x, &x, 1e-6), 1e-7, 1e-6)?;
        let by_w = |w: &[f64]| dot(&reference::forward(&x, w, Some(&b), n, i, o), &r);
        check_close("dw", &g.dw, &central_difference(by_w, &w, 1e-6), 1e-7, 1e-6)?;
        let by_b = |b: &[f64]| dot(&reference::forward(&x, &w, Some(b), n, i, o), &r);
        check_close("db", &g.db, &central_difference(by_b, &b, 1e-6), 1e-7, 1e-6)?;
    }
}

#[test]
fn forward_without_bias_is_x_times_w_transposed() {
    let x = Tensor::from_vec(&[1, 2], vec![1.0, 2.0]).expect("2 values");
    let w = Tensor::from_vec(&[3, 2], vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0]).expect("6 values");
    assert_eq!(forward(&x, &w, None).expect("valid").data(), &[1.0, 2.0, 3.0]);
}

#[test]
fn into_variants_reuse_buffers_and_match() {
    let [x, w, b, r] = values(3, 5, 4, 11);
    let (x, w, b, dy) =
        (tensor(&[3, 5], &x), tensor(&[4, 5], &w), tensor(&[4], &b), tensor(&[3, 4], &r));
    let mut y = Tensor::full(&[99], 7.0);
    forward_into(&x, &w, Some(&b), &mut y).expect("valid");
    assert_eq!(y, forward(&x, &w, Some(&b)).expect("valid"));
    let mut g = LinearGrads { dx: Tensor::full(&[99], 7.0), ..LinearGrads::default() };
    backward_into(&x, &w, &dy, &mut g).expect("valid");
    assert_eq!(g, backward(&x, &w, &dy).expect("valid"));
}

#[test]
fn bad_shapes_are_errors_naming_the_op() {
    let x = Tensor::zeros(&[2, 3]);
    let err = forward(&x, &Tensor::zeros(&[4, 5]), None).unwrap_err();
    assert!(err.to_string().starts_with("linear::forward: shapes [2, 3] and [4, 5]"), "{err}");
    let err = forward(&Tensor::zeros(&[2, 3, 1]), &Tensor::zeros(&[4, 3]), None).unwrap_err();
    assert!(
        err.to_string().starts_with("linear::forward: expected a 2-D tensor, got shape [2, 3, 1]")
    );
    assert!(forward(&x, &Tensor::zeros(&[4]), None).is_err());
    assert!(forward(&x, &Tensor::zeros(&[4, 3]), Some(&Tensor::zeros(&[3]))).is_err());
    assert!(forward(&Tensor::zeros(&[0, 3]), &Tensor::zeros(&[4, 3]), None).is_err());
    let err = backward(&x, &Tensor::zeros(&[4, 3]), &Tensor::zeros(&[2, 3])).unwrap_err();
    assert!(err.to_string().starts_with("linear::backward: shapes [2, 4] and [2, 3]"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary shapes: every entry returns Ok or Err, never panics.
    #[test]
    fn arbitrary_shapes_never_panic(
        xd in crate::testing::any_dims(3, 4),
        wd in crate::testing::any_dims(3, 4),
        bd in crate::testing::any_dims(2, 4),
        yd in crate::testing::any_dims(3, 4),
    ) {
        let t = |d: &[usize]| crate::testing::random_tensor(d, 3);
        let (x, w, b, dy) = (t(&xd), t(&wd), t(&bd), t(&yd));
        let _ = forward(&x, &w, Some(&b));
        let _ = forward(&x, &w, None);
        let _ = backward(&x, &w, &dy);
    }
}
