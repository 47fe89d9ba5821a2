//! max_pool2d: the planes-in-parallel path (with its 2×2/2 SIMD kernel) equals the reference
//! exactly, also on ties, ±∞ and NaN, backward equals finite differences, ties go to the first
//! element, bad shapes and bad indices are errors.

use proptest::prelude::*;

use super::*;
use crate::testing::{Pool2dCase, central_difference, check_close, dot, pool2d_case, to_f32};
use crate::{Shape4, Tensor};

fn input(case: &Pool2dCase) -> Tensor {
    Tensor::from_vec(&case.x_shape.dims(), to_f32(&case.x)).expect("case shape matches")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn forward_matches_the_reference_exactly(case in pool2d_case(3, 3, 19)) {
        let x = input(&case);
        let (y, argmax) = forward(&x, case.p).expect("case is valid");
        let (want_y, want_arg) = reference::forward(x.data(), case.x_shape, case.p);
        let (oh, ow) = case.out_hw;
        prop_assert_eq!(y.dims(), &[case.x_shape.n, case.x_shape.c, oh, ow]);
        prop_assert_eq!(y.data(), &want_y[..]);
        prop_assert_eq!(argmax, want_arg);
    }

    #[test]
    fn backward_matches_the_reference_exactly(case in pool2d_case(3, 3, 19)) {
        let x = input(&case);
        let (y, argmax) = forward(&x, case.p).expect("case is valid");
        let dy = Tensor::from_vec(y.dims(), to_f32(&case.r)).expect("r has one value per output");
        let dx = backward(&dy, &argmax, case.x_shape).expect("shapes from forward");
        prop_assert_eq!(dx.dims(), &case.x_shape.dims());
        // Overlapping windows (stride < k) add into one dx element in output order both times.
        prop_assert_eq!(dx.data(), &reference::backward(dy.data(), &argmax, case.x_shape)[..]);
    }

    #[test]
    fn backward_is_the_derivative(case in pool2d_case(2, 2, 7)) {
        // The case's inputs are distinct and ≥ 1/len apart, far more than h: no kink is crossed.
        let loss = |x: &[f64]| dot(&reference::forward(x, case.x_shape, case.p).0, &case.r);
        let numeric = central_difference(loss, &case.x, 1e-6);
        let (_, argmax) = reference::forward(&case.x, case.x_shape, case.p);
        let dx = reference::backward(&case.r, &argmax, case.x_shape);
        check_close("dx", &dx, &numeric, 1e-7, 1e-6)?;
    }
}

/// Values from a small palette, so 2×2 windows are full of ties, infinities and NaNs.
fn palette_values(len: usize) -> impl Strategy<Value = Vec<f32>> {
    let v = prop_oneof![
        4 => Just(1.0f32),
        4 => Just(0.0f32),
        2 => Just(-0.0f32),
        2 => Just(f32::NEG_INFINITY),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NAN),
        4 => -2.0f32..2.0,
    ];
    proptest::collection::vec(v, len)
}

/// 2×2/2 inputs with even and odd H and W, rows from under one SIMD block of outputs to over
/// two (OW up to 37 with 16 lanes), and palette values.
fn two_by_two_case() -> impl Strategy<Value = (Shape4, Vec<f32>)> {
    (1..=2usize, 1..=3usize, 2..=7usize, 2..=75usize).prop_flat_map(|(n, c, h, w)| {
        let s = Shape4::new(n, c, h, w);
        (Just(s), palette_values(s.len()))
    })
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Bit-for-bit: the same winners on ties (first in row-major order), the same treatment of
    /// -∞ and NaN (a NaN first in its window wins, a later one never does), and the one-pass
    /// backward equals zero-then-scatter, down to the sign of zero.
    #[test]
    fn two_by_two_matches_the_reference_bit_for_bit((s, values) in two_by_two_case(), seed: u64) {
        let p = Pool2dParams { kernel: 2, stride: 2 };
        let x = Tensor::from_vec(&s.dims(), values).expect("one value per element");
        let (y, argmax) = forward(&x, p).expect("window fits");
        let (want_y, want_arg) = reference::forward(x.data(), s, p);
        prop_assert_eq!(bits(y.data()), bits(&want_y));
        prop_assert_eq!(&argmax, &want_arg);
        // Some zeros of both signs in dy too.
        let dy = crate::testing::random_tensor(y.dims(), seed);
        let dy = Tensor::from_fn(y.dims(), |i| match i % 5 { 0 => -0.0, 1 => 0.0, _ => dy.data()[i] });
        let mut dx = Tensor::full(&[3], f32::NAN); // stale contents must all be overwritten
        backward_into(&dy, &argmax, s, &mut dx).expect("shapes from forward");
        prop_assert_eq!(bits(dx.data()), bits(&reference::backward(dy.data(), &argmax, s)));
    }

    /// Windows whose winners leave the 2×2 cells although the shapes look like a 2×2/2 pool
    /// (3×3/2 gives OH = H/2 for odd H): backward must notice and scatter instead.
    #[test]
    fn backward_of_other_windows_with_half_size_outputs(h in 3..=21usize, w in 3..=41usize, seed: u64) {
        let (h, w) = (h | 1, w | 1); // odd, so (H − 3)/2 + 1 = H/2
        let s = Shape4::new(2, 2, h, w);
        let x = crate::testing::random_tensor(&s.dims(), seed);
        let (y, argmax) = forward(&x, Pool2dParams { kernel: 3, stride: 2 }).expect("fits");
        prop_assert_eq!(y.dims(), &[2, 2, h / 2, w / 2]);
        let dy = crate::testing::random_tensor(y.dims(), seed ^ 1);
        let dx = backward(&dy, &argmax, s).expect("shapes from forward");
        prop_assert_eq!(bits(dx.data()), bits(&reference::backward(dy.data(), &argmax, s)));
    }
}

#[test]
fn ties_go_to_the_first_element_in_row_major_order() {
    // A constant 4x6 plane: every window is a tie, so each winner is its window's top-left.
    let x = Tensor::full(&[1, 1, 4, 6], 1.0);
    for p in [Pool2dParams { kernel: 2, stride: 2 }, Pool2dParams { kernel: 3, stride: 1 }] {
        let (_, argmax) = forward(&x, p).expect("window fits");
        let (oh, ow) = p.output_hw(4, 6).expect("window fits");
        let want: Vec<u32> =
            (0..oh * ow).map(|o| ((o / ow) * p.stride * 6 + (o % ow) * p.stride) as u32).collect();
        assert_eq!(argmax, want, "{p:?}");
    }
}

#[test]
fn two_by_two_picks_each_window_max_and_drops_an_odd_edge() {
    #[rustfmt::skip]
    let x = Tensor::from_vec(&[1, 1, 3, 5], vec![
        1.0, 5.0, 2.0, 0.0, 9.0,
        3.0, 4.0, 8.0, 7.0, 9.0,
        9.0, 9.0, 9.0, 9.0, 9.0,
    ]).expect("15 values");
    let (y, argmax) = forward(&x, Pool2dParams { kernel: 2, stride: 2 }).expect("fits");
    assert_eq!(y.dims(), &[1, 1, 1, 2]);
    assert_eq!(y.data(), &[5.0, 8.0]);
    assert_eq!(argmax, vec![1, 7]);
}

#[test]
fn bad_shapes_and_parameters_are_errors() {
    let x = Tensor::zeros(&[1, 2, 3, 3]);
    let err = forward(&x, Pool2dParams { kernel: 4, stride: 1 }).unwrap_err();
    assert_eq!(err.to_string(), "max_pool2d: 4x4 window with padding 0 does not fit a 3x3 input");
    assert!(forward(&x, Pool2dParams { kernel: 2, stride: 0 }).is_err());
    assert!(forward(&x, Pool2dParams { kernel: 0, stride: 1 }).is_err());
    assert!(forward(&Tensor::zeros(&[2, 3, 3]), Pool2dParams { kernel: 2, stride: 2 }).is_err());

    let s = Shape4::new(1, 2, 4, 4);
    let dy = Tensor::zeros(&[1, 2, 2, 2]);
    let err = backward(&dy, &[0; 7], s).unwrap_err();
    assert!(err.to_string().starts_with("max_pool2d::backward: shape [1, 2, 2, 2] needs 8"));
    assert!(backward(&Tensor::zeros(&[1, 3, 2, 2]), &[0; 12], s).is_err());
    assert!(backward(&Tensor::zeros(&[1, 2, 5, 2]), &[0; 20], s).is_err());
    // Index 3 lies in plane 0, but output 4 belongs to plane 1.
    let err = backward(&dy, &[0, 0, 0, 0, 3, 16, 16, 16], s).unwrap_err();
    assert!(err.to_string().contains("argmax[4] = 3 is outside its plane"), "{err}");
    assert!(backward(&dy, &[0, 0, 0, 0, 16, 16, 16, 99], s).is_err());
    // In its plane but outside its 2×2 cell is allowed (a scatter), and the first stray index
    // is the one named even when a later plane fails too.
    let ones = Tensor::full(&[1, 2, 2, 2], 1.0);
    let dx = backward(&ones, &[10, 0, 0, 0, 16, 16, 16, 16], s).expect("indices in their planes");
    assert_eq!((dx.data()[0], dx.data()[10], dx.data()[16]), (3.0, 1.0, 4.0));
    assert_eq!(crate::ops::elementwise::sum(&dx), 8.0);
    let err = backward(&dy, &[0, 0, 99, 0, 3, 16, 16, 16], s).unwrap_err();
    assert!(err.to_string().contains("argmax[2] = 99 is outside its plane"), "{err}");
}

#[test]
fn a_nan_leads_its_window_only_when_it_comes_first() {
    let nan = f32::NAN;
    #[rustfmt::skip]
    let x = Tensor::from_vec(&[1, 1, 2, 6], vec![
        nan, 5.0, 1.0, nan, f32::NEG_INFINITY, f32::NEG_INFINITY,
        9.0, 2.0, 0.0, 3.0, f32::NEG_INFINITY, f32::NEG_INFINITY,
    ]).expect("12 values");
    let (y, argmax) = forward(&x, Pool2dParams { kernel: 2, stride: 2 }).expect("fits");
    assert!(y.data()[0].is_nan());
    assert_eq!(&y.data()[1..], &[3.0, f32::NEG_INFINITY]);
    assert_eq!(argmax, vec![0, 9, 4]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary shapes, windows and index lists: every entry returns Ok or Err, never panics.
    #[test]
    fn arbitrary_shapes_never_panic(
        xd in crate::testing::any_dims(5, 5),
        yd in crate::testing::any_dims(5, 3),
        kernel in 0..4usize,
        stride in 0..3usize,
        argmax in proptest::collection::vec(0..200u32, 0..40),
        shape in (0..3usize, 0..3usize, 0..5usize, 0..5usize),
    ) {
        let x = crate::testing::random_tensor(&xd, 1);
        let _ = forward(&x, Pool2dParams { kernel, stride });
        let dy = crate::testing::random_tensor(&yd, 2);
        let _ = backward(&dy, &argmax, Shape4::new(shape.0, shape.1, shape.2, shape.3));
    }
}
