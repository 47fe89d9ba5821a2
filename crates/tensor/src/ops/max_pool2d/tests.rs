//! max_pool2d: the planes-in-parallel path (with its 2×2/2 kernel) equals the reference
//! exactly, backward equals finite differences, ties go to the first element, bad shapes and
//! bad indices are errors.

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
