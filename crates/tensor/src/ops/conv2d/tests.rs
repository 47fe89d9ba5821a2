//! conv2d: the fast paths equal the reference (forward and all three gradients, tolerance
//! widened with each reduction length; random shapes, plus stride-1 and "same"-padding shapes
//! for the implicit im2col path), the reference backward equals finite differences, the
//! `_into` variants reuse buffers, and bad shapes are errors naming the op.

use proptest::prelude::*;

use super::*;
use crate::ops::max_pool2d::Pool2dParams;
use crate::testing::{Conv2dCase, central_difference, check_close, conv2d_case, dot, to_f32};
use crate::{Shape4, Tensor};

/// Stride 2 with padding 1: both index shifts of the formula in play.
const P: Conv2dParams = Conv2dParams { stride: 2, padding: 1 };

/// The case's x, w, b and r as f32 tensors.
fn tensors(case: &Conv2dCase) -> (Tensor, Tensor, Tensor, Tensor) {
    let t = |dims: &[usize], v: &[f64]| Tensor::from_vec(dims, to_f32(v)).expect("case shapes");
    (
        t(&case.x_shape.dims(), &case.x),
        t(&case.w_shape.dims(), &case.w),
        t(&[case.w_shape.n], &case.b),
        t(&case.y_shape().dims(), &case.r),
    )
}

/// Absolute tolerance for an f32 sum of `terms` products of values in [−1, 1]: each addition
/// may round by half an ulp of the running sum, so the error grows with the reduction length.
fn atol(terms: usize) -> f64 {
    2e-7 * terms as f64 + 1e-6
}

/// Sides that hit the edges of the implicit path: 1, around the 8-float vector and the
/// 16-float AVX-512 vector, and primes.
fn side() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![1usize, 2, 3, 7, 8, 9, 13, 16, 17])
}

/// Stride-1 cases (the implicit path's forward): any kernel up to 5×5, padding 0–2, the input
/// grown until the window fits.
fn stride_one_case() -> impl Strategy<Value = Conv2dCase> {
    (
        1..=3usize,
        1..=5usize,
        1..=5usize,
        1..=5usize,
        1..=5usize,
        0..=2usize,
        side(),
        side(),
        any::<u64>(),
    )
        .prop_map(|(n, c_in, c_out, kh, kw, padding, h, w, seed)| {
            let h = h.max(kh.saturating_sub(2 * padding));
            let w = w.max(kw.saturating_sub(2 * padding));
            let p = Conv2dParams { stride: 1, padding };
            let (xs, ws) = (Shape4::new(n, c_in, h, w), Shape4::new(c_out, c_in, kh, kw));
            Conv2dCase::new(xs, ws, p, seed).expect("input grown to fit the window")
        })
}

/// "Same" cases (the implicit path's backward): stride 1, 1×1, 3×3 or 5×5 with padding
/// (K − 1)/2, so the output has the input's size. Up to 9 images: a partial chunk too.
fn same_case() -> impl Strategy<Value = Conv2dCase> {
    (
        1..=9usize,
        1..=5usize,
        1..=5usize,
        prop::sample::select(vec![1usize, 3, 5]),
        side(),
        side(),
        any::<u64>(),
    )
        .prop_map(|(n, c_in, c_out, k, h, w, seed)| {
            let p = Conv2dParams { stride: 1, padding: (k - 1) / 2 };
            let (xs, ws) = (Shape4::new(n, c_in, h, w), Shape4::new(c_out, c_in, k, k));
            Conv2dCase::new(xs, ws, p, seed).expect("same padding always fits")
        })
}

/// Forward of `case` equals the reference.
fn check_forward(case: &Conv2dCase) -> Result<(), TestCaseError> {
    let (x, w, b, _) = tensors(case);
    let y = forward(&x, &w, Some(&b), case.p).expect("case is valid");
    prop_assert_eq!(y.dims(), &case.y_shape().dims());
    let want =
        reference::forward(&case.x, case.x_shape, &case.w, case.w_shape, Some(&case.b), case.p);
    let terms = case.w_shape.c * case.w_shape.h * case.w_shape.w + 1;
    check_close("y", y.data(), &want, atol(terms), 1e-5)
}

/// All three gradients of `case` equal the reference's.
fn check_backward(case: &Conv2dCase) -> Result<(), TestCaseError> {
    let (x, w, _, dy) = tensors(case);
    let g = backward(&x, &w, &dy, case.p, InputGrad::Compute).expect("case is valid");
    let want = reference::backward(&case.x, case.x_shape, &case.w, case.w_shape, &case.r, case.p);
    let per_weight = case.x_shape.n * case.out_hw.0 * case.out_hw.1;
    let per_input = case.w_shape.n * case.w_shape.h * case.w_shape.w;
    check_close("db", g.db.data(), &want.db, atol(per_weight), 1e-5)?;
    check_close("dw", g.dw.data(), &want.dw, atol(per_weight), 1e-5)?;
    let dx = g.dx.expect("InputGrad::Compute gives dx");
    prop_assert_eq!(dx.dims(), &case.x_shape.dims());
    check_close("dx", dx.data(), &want.dx, atol(per_input), 1e-5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn stride_one_forward_matches_the_reference(case in stride_one_case()) {
        check_forward(&case)?;
    }

    #[test]
    fn same_padding_backward_matches_the_reference(case in same_case()) {
        check_backward(&case)?;
    }

    #[test]
    fn forward_matches_the_reference(case in conv2d_case(3, 5, 17)) {
        check_forward(&case)?;
    }

    #[test]
    fn backward_matches_the_reference(case in conv2d_case(3, 5, 17)) {
        check_backward(&case)?;
    }

    #[test]
    fn backward_is_the_derivative(case in conv2d_case(2, 3, 7)) {
        let (xs, ws, p) = (case.x_shape, case.w_shape, case.p);
        let g = reference::backward(&case.x, xs, &case.w, ws, &case.r, p);
        let b = Some(&case.b[..]);
        // loss = Σ y·r, so ∂loss/∂y = r: exactly the dy that the reference backward was given.
        let by_x = |x: &[f64]| dot(&reference::forward(x, xs, &case.w, ws, b, p), &case.r);
        check_close("dx", &g.dx, &central_difference(by_x, &case.x, 1e-6), 1e-7, 1e-6)?;
        let by_w = |w: &[f64]| dot(&reference::forward(&case.x, xs, w, ws, b, p), &case.r);
        check_close("dw", &g.dw, &central_difference(by_w, &case.w, 1e-6), 1e-7, 1e-6)?;
        let by_b = |b: &[f64]| dot(&reference::forward(&case.x, xs, &case.w, ws, Some(b), p), &case.r);
        check_close("db", &g.db, &central_difference(by_b, &case.b, 1e-6), 1e-7, 1e-6)?;
    }
}

/// The fused `relu(conv2d(x))` of `case`, with and without a bias: forward and all three
/// gradients bit-identical to `relu` composed with the unfused convolution, and close to the
/// reference composition (its ReLU backward masked where the fused output is positive, since
/// values within rounding of 0 may fall on either side of the kink).
fn check_fused_relu(case: &Conv2dCase) -> Result<(), TestCaseError> {
    let (x, w, b, dy) = tensors(case);
    let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for bias in [Some(&b), None] {
        let mut y = Tensor::default();
        forward_relu_into(&x, &w, bias, case.p, &mut y).expect("case is valid");
        let z = forward(&x, &w, bias, case.p).expect("case is valid");
        prop_assert_eq!(bits(&y), bits(&crate::ops::relu::forward(&z)));
        let mut fused = Conv2dGrads::default();
        backward_relu_into(&x, &w, &y, &dy, case.p, InputGrad::Compute, &mut fused)
            .expect("case is valid");
        let dz = crate::ops::relu::backward(&z, &dy).expect("same shapes");
        let unfused = backward(&x, &w, &dz, case.p, InputGrad::Compute).expect("case is valid");
        prop_assert_eq!(bits(&fused.dw), bits(&unfused.dw));
        prop_assert_eq!(bits(&fused.db), bits(&unfused.db));
        let (dx, dx_unfused) = (fused.dx.expect("computed"), unfused.dx.expect("computed"));
        prop_assert_eq!(bits(&dx), bits(&dx_unfused));

        // The reference composition: relu(reference::forward), and its backward through r
        // masked by the fused output.
        let (xs, ws) = (case.x_shape, case.w_shape);
        let ref_bias = bias.map(|_| &case.b[..]);
        let ref_z = reference::forward(&case.x, xs, &case.w, ws, ref_bias, case.p);
        let terms = ws.c * ws.h * ws.w + 1;
        check_close(
            "y",
            y.data(),
            &crate::ops::relu::reference::forward(&ref_z),
            atol(terms),
            1e-5,
        )?;
        let y64 = crate::testing::to_f64(y.data());
        let dz_ref = crate::ops::relu::reference::backward(&y64, &case.r);
        let want = reference::backward(&case.x, xs, &case.w, ws, &dz_ref, case.p);
        let per_weight = xs.n * case.out_hw.0 * case.out_hw.1;
        check_close("db", fused.db.data(), &want.db, atol(per_weight), 1e-5)?;
        check_close("dw", fused.dw.data(), &want.dw, atol(per_weight), 1e-5)?;
        check_close("dx", dx.data(), &want.dx, atol(ws.n * ws.h * ws.w), 1e-5)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn fused_relu_equals_relu_after_conv_on_the_implicit_path(case in same_case()) {
        check_fused_relu(&case)?;
    }

    #[test]
    fn fused_relu_equals_relu_after_conv_on_the_im2col_path(case in conv2d_case(3, 5, 17)) {
        check_fused_relu(&case)?;
    }
}

/// `max_pool2d(relu(conv2d(x)))` of `case` under `pool` (skipped when the window does not
/// fit): forward (values and winners) and backward bit-identical to the three ops in a row.
fn check_fused_relu_pool(case: &Conv2dCase, pool: Pool2dParams) -> Result<(), TestCaseError> {
    use crate::ops::{max_pool2d, relu};
    let (x, w, b, _) = tensors(case);
    let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let mut full = Tensor::default();
    forward_relu_into(&x, &w, Some(&b), case.p, &mut full).expect("case is valid");
    let Ok((y, argmax)) = max_pool2d::forward(&full, pool) else {
        return Ok(()); // the pool window is larger than this output
    };
    for bias in [Some(&b), None] {
        let (mut fused_y, mut fused_argmax) = (Tensor::default(), Vec::new());
        forward_relu_pool_into(&x, &w, bias, (case.p, pool), &mut fused_y, &mut fused_argmax)
            .expect("case is valid");
        let mut unfused = Tensor::default();
        forward_relu_into(&x, &w, bias, case.p, &mut unfused).expect("case is valid");
        let (want_y, want_argmax) = max_pool2d::forward(&unfused, pool).expect("fits");
        prop_assert_eq!(bits(&fused_y), bits(&want_y));
        prop_assert_eq!(fused_argmax, want_argmax);
    }
    let dy = Tensor::from_fn(y.dims(), |i| ((i * 7919 % 17) as f32 - 8.0) / 8.0);
    let mut fused = Conv2dGrads::default();
    backward_relu_pool_into(
        &x,
        &w,
        (&y, &argmax),
        &dy,
        case.p,
        pool,
        InputGrad::Compute,
        &mut fused,
    )
    .expect("case is valid");
    let shape = full.shape4("test").expect("4-D");
    let dpool = max_pool2d::backward(&dy, &argmax, shape).expect("valid");
    let dz = relu::backward(&full, &dpool).expect("same shapes");
    let unfused = backward(&x, &w, &dz, case.p, InputGrad::Compute).expect("case is valid");
    prop_assert_eq!(bits(&fused.dw), bits(&unfused.dw));
    prop_assert_eq!(bits(&fused.db), bits(&unfused.db));
    let (dx, dx_unfused) = (fused.dx.expect("computed"), unfused.dx.expect("computed"));
    prop_assert_eq!(bits(&dx), bits(&dx_unfused));
    Ok(())
}

/// 2×2/2 (the paper's), 3×3/3, and overlapping 3×3/2 and 2×2/1 windows.
fn pool() -> impl Strategy<Value = Pool2dParams> {
    prop::sample::select(vec![(2usize, 2usize), (3, 3), (3, 2), (2, 1)])
        .prop_map(|(kernel, stride)| Pool2dParams { kernel, stride })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn fused_relu_pool_backward_equals_the_three_backwards_on_the_implicit_path(
        case in same_case(), pool in pool()
    ) {
        check_fused_relu_pool(&case, pool)?;
    }

    #[test]
    fn fused_relu_pool_backward_equals_the_three_backwards_on_the_im2col_path(
        case in conv2d_case(3, 5, 17), pool in pool()
    ) {
        check_fused_relu_pool(&case, pool)?;
    }
}

#[test]
fn fused_relu_pool_backward_matches_on_rows_of_whole_simd_blocks() {
    // OW = 37: 18 windows per row, one block of the pool's 16 SIMD lanes and two left over;
    // OW = 64: exactly two blocks. Odd H drops the last row.
    let same = Conv2dParams { stride: 1, padding: 1 };
    for (w, seed) in [(37, 1), (64, 2)] {
        let case = Conv2dCase::new(Shape4::new(5, 3, 7, w), Shape4::new(4, 3, 3, 3), same, seed)
            .expect("same padding fits");
        check_fused_relu_pool(&case, Pool2dParams { kernel: 2, stride: 2 }).expect("bit-identical");
    }
}

#[test]
fn fused_relu_pool_backward_matches_on_rows_narrower_than_a_simd_block() {
    // 2×2 pool rows of 8 windows (16 wide: two rows per 16-lane block, the 64×64 network's
    // conv5), 4 (8 and 9 wide: four rows, the 9th column dropped) and 1 (2 wide), with odd
    // heights leaving rows of windows after the last whole block, and a dropped last row.
    let same = Conv2dParams { stride: 1, padding: 1 };
    let shapes = [(16, 16), (17, 16), (7, 8), (9, 9), (23, 2), (10, 17)];
    for (seed, (h, w)) in shapes.into_iter().enumerate() {
        let case =
            Conv2dCase::new(Shape4::new(5, 3, h, w), Shape4::new(4, 3, 3, 3), same, seed as u64)
                .expect("same padding fits");
        check_fused_relu_pool(&case, Pool2dParams { kernel: 2, stride: 2 }).expect("bit-identical");
    }
}

#[test]
fn fused_relu_pool_backward_rejects_a_winner_from_the_row_above_in_a_block() {
    // 16×16 → 8×8: rows of windows 0 and 1 share one SIMD block. Output (1, 3)'s window is
    // rows 2–3, columns 6–7; index 7 (row 0, column 7, window (0, 3)) is outside it.
    let p = Conv2dParams { stride: 1, padding: 1 };
    let pool = Pool2dParams { kernel: 2, stride: 2 };
    let (x, w) = (Tensor::zeros(&[1, 1, 16, 16]), Tensor::zeros(&[1, 1, 3, 3]));
    let (y, dy) = (Tensor::full(&[1, 1, 8, 8], 1.0), Tensor::full(&[1, 1, 8, 8], 1.0));
    // Each window's bottom-right element wins: index (2i + 1)·16 + 2j + 1.
    let mut argmax: Vec<u32> =
        (0..64u32).map(|o| (2 * (o / 8) + 1) * 16 + 2 * (o % 8) + 1).collect();
    let mut grads = Conv2dGrads::default();
    let mut run = |argmax: &[u32]| {
        let g = &mut grads;
        backward_relu_pool_into(&x, &w, (&y, argmax), &dy, p, pool, InputGrad::Skip, g)
    };
    assert!(run(&argmax).is_ok());
    argmax[8 + 3] = 7;
    let err = run(&argmax).unwrap_err();
    assert!(err.to_string().contains("outside its window"), "{err}");
}

#[test]
fn fused_relu_pool_backward_rejects_bad_winners_and_shapes() {
    let p = Conv2dParams { stride: 1, padding: 1 };
    let pool = Pool2dParams { kernel: 2, stride: 2 };
    let (x, w) = (Tensor::zeros(&[1, 1, 4, 4]), Tensor::zeros(&[1, 1, 3, 3]));
    let (y, dy) = (Tensor::full(&[1, 1, 2, 2], 1.0), Tensor::zeros(&[1, 1, 2, 2]));
    let mut grads = Conv2dGrads::default();
    let mut run = |argmax: &[u32], y: &Tensor| {
        let g = &mut grads;
        backward_relu_pool_into(&x, &w, (y, argmax), &dy, p, pool, InputGrad::Compute, g)
    };
    assert!(run(&[0, 2, 8, 10], &y).is_ok());
    // Output 1's window is columns 2–3 of rows 0–1: index 1 is outside it.
    let err = run(&[0, 1, 8, 10], &y).unwrap_err();
    assert!(err.to_string().contains("outside its window"), "{err}");
    let err = run(&[0, 2, 8, 99], &y).unwrap_err();
    assert!(err.to_string().contains("conv2d_relu_pool::backward"), "{err}");
    assert!(run(&[0, 2, 8], &y).is_err());
    assert!(run(&[0, 2, 8, 10], &Tensor::zeros(&[1, 1, 2, 3])).is_err());
}

#[test]
fn fused_relu_backward_rejects_a_wrong_output_shape() {
    let p = Conv2dParams { stride: 1, padding: 1 };
    let (x, w) = (Tensor::zeros(&[2, 3, 5, 5]), Tensor::zeros(&[4, 3, 3, 3]));
    let (dy, y) = (Tensor::zeros(&[2, 4, 5, 5]), Tensor::zeros(&[2, 4, 5, 4]));
    let mut grads = Conv2dGrads::default();
    let err = backward_relu_into(&x, &w, &y, &dy, p, InputGrad::Compute, &mut grads).unwrap_err();
    assert!(err.to_string().contains("conv2d_relu::backward"), "{err}");
    let mut y = Tensor::default();
    let err = forward_relu_into(&x, &Tensor::zeros(&[4, 2, 3, 3]), None, p, &mut y).unwrap_err();
    assert!(err.to_string().contains("conv2d_relu::forward"), "{err}");
}

#[test]
fn skipping_the_input_grad_leaves_dw_and_db_unchanged() {
    let case =
        Conv2dCase::new(Shape4::new(2, 3, 6, 5), Shape4::new(4, 3, 3, 3), P, 7).expect("fits");
    let (x, w, _, dy) = tensors(&case);
    let all = backward(&x, &w, &dy, case.p, InputGrad::Compute).expect("valid");
    let some = backward(&x, &w, &dy, case.p, InputGrad::Skip).expect("valid");
    assert!(some.dx.is_none());
    assert_eq!(some.dw, all.dw);
    assert_eq!(some.db, all.db);
}

#[test]
fn into_variants_reuse_buffers_and_match() {
    let case =
        Conv2dCase::new(Shape4::new(2, 3, 6, 5), Shape4::new(4, 3, 3, 3), P, 7).expect("fits");
    let (x, w, b, dy) = tensors(&case);
    let mut y = Tensor::full(&[1000], 7.0);
    forward_into(&x, &w, Some(&b), case.p, &mut y).expect("valid");
    assert_eq!(y, forward(&x, &w, Some(&b), case.p).expect("valid"));
    let mut grads = Conv2dGrads {
        dx: Some(Tensor::full(&[3], 7.0)),
        dw: Tensor::full(&[1000], 7.0),
        db: Tensor::full(&[1], 7.0),
    };
    backward_into(&x, &w, &dy, case.p, InputGrad::Compute, &mut grads).expect("valid");
    assert_eq!(grads, backward(&x, &w, &dy, case.p, InputGrad::Compute).expect("valid"));
}

#[test]
fn a_one_by_one_kernel_is_a_channel_mix() {
    // 1x1, stride 1, no padding: y[n,co,h,w] = b[co] + Σ_ci w[co,ci]·x[n,ci,h,w].
    let x = Tensor::from_vec(&[1, 2, 1, 2], vec![1.0, 2.0, 10.0, 20.0]).expect("4 values");
    let w = Tensor::from_vec(&[1, 2, 1, 1], vec![3.0, 0.5]).expect("2 values");
    let b = Tensor::from_vec(&[1], vec![-1.0]).expect("1 value");
    let y = forward(&x, &w, Some(&b), Conv2dParams { stride: 1, padding: 0 }).expect("valid");
    assert_eq!(y.data(), &[3.0 + 5.0 - 1.0, 6.0 + 10.0 - 1.0]);
}

#[test]
fn bad_shapes_are_errors_naming_the_op() {
    let p = Conv2dParams { stride: 1, padding: 1 };
    let x = Tensor::zeros(&[2, 3, 5, 5]);
    let w = Tensor::zeros(&[4, 3, 3, 3]);
    let err = forward(&x, &Tensor::zeros(&[4, 2, 3, 3]), None, p).unwrap_err();
    assert!(err.to_string().starts_with("conv2d::forward: shapes [2, 3, 5, 5] and [4, 2, 3, 3]"));
    let err = forward(&Tensor::zeros(&[3, 5, 5]), &w, None, p).unwrap_err();
    assert!(err.to_string().starts_with("conv2d::forward: expected a 4-D tensor"), "{err}");
    assert!(forward(&x, &w, Some(&Tensor::zeros(&[3])), p).is_err());
    assert!(forward(&x, &w, None, Conv2dParams { stride: 0, padding: 0 }).is_err());
    let err = forward(&x, &Tensor::zeros(&[4, 3, 8, 3]), None, p).unwrap_err();
    assert_eq!(err.to_string(), "conv2d: 8x3 window with padding 1 does not fit a 5x5 input");
    assert!(forward(&Tensor::zeros(&[0, 3, 5, 5]), &w, None, p).is_err());
    assert!(forward(&x, &Tensor::zeros(&[0, 3, 3, 3]), None, p).is_err());
    let err = backward(&x, &w, &Tensor::zeros(&[2, 4, 4, 5]), p, InputGrad::Skip).unwrap_err();
    assert!(err.to_string().starts_with("conv2d::backward: shapes [2, 4, 5, 5] and [2, 4, 4, 5]"));
}

#[test]
fn output_size_follows_the_formula() {
    let p = Conv2dParams { stride: 2, padding: 1 };
    // OH = (7 + 2 − 3)/2 + 1 = 4, OW = (8 + 2 − 4)/2 + 1 = 4.
    assert_eq!(p.output_hw(7, 8, 3, 4), Ok((4, 4)));
    // A window that only fits thanks to the padding.
    assert_eq!(Conv2dParams { stride: 1, padding: 2 }.output_hw(1, 1, 5, 5), Ok((1, 1)));
    assert!(Conv2dParams { stride: 1, padding: 1 }.output_hw(1, 1, 4, 1).is_err());
}

#[test]
fn gradients_are_bit_identical_on_one_and_two_threads() {
    // 9 images: two full chunks of BATCH_CHUNK and a partial one, so the reduction order matters.
    let p = Conv2dParams { stride: 1, padding: 1 };
    let case =
        Conv2dCase::new(Shape4::new(9, 5, 12, 11), Shape4::new(6, 5, 3, 3), p, 3).expect("fits");
    let (x, w, b, dy) = tensors(&case);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        pool.install(|| {
            let y = forward(&x, &w, Some(&b), p).expect("valid");
            (y, backward(&x, &w, &dy, p, InputGrad::Compute).expect("valid"))
        })
    };
    let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let (y1, g1) = run(1);
    let (y2, g2) = run(2);
    assert_eq!(bits(&y1), bits(&y2));
    assert_eq!(bits(&g1.dw), bits(&g2.dw));
    assert_eq!(bits(&g1.db), bits(&g2.db));
    let (dx1, dx2) = (g1.dx.expect("computed"), g2.dx.expect("computed"));
    assert_eq!(bits(&dx1), bits(&dx2));
}

#[test]
fn fused_relu_pool_gradients_are_bit_identical_on_one_and_two_threads() {
    // 11 images of 8×8: side by side on the backward's grids (four per chunk, three in the
    // last), each scattering the pool's gradient into its own block.
    let p = Conv2dParams { stride: 1, padding: 1 };
    let pool = Pool2dParams { kernel: 2, stride: 2 };
    let case =
        Conv2dCase::new(Shape4::new(11, 3, 8, 8), Shape4::new(5, 3, 3, 3), p, 4).expect("fits");
    let (x, w, b, _) = tensors(&case);
    let run = |threads: usize| {
        let pool_threads =
            rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        pool_threads.install(|| {
            let (mut y, mut argmax) = (Tensor::default(), Vec::new());
            forward_relu_pool_into(&x, &w, Some(&b), (p, pool), &mut y, &mut argmax)
                .expect("valid");
            let dy = Tensor::from_fn(y.dims(), |i| ((i * 7919 % 17) as f32 - 8.0) / 8.0);
            let mut grads = Conv2dGrads::default();
            let upstream = (&y, argmax.as_slice());
            backward_relu_pool_into(&x, &w, upstream, &dy, p, pool, InputGrad::Compute, &mut grads)
                .expect("valid");
            grads
        })
    };
    let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let (g1, g2) = (run(1), run(2));
    assert_eq!(bits(&g1.dw), bits(&g2.dw));
    assert_eq!(bits(&g1.db), bits(&g2.db));
    assert_eq!(bits(g1.dx.as_ref().expect("computed")), bits(g2.dx.as_ref().expect("computed")));
}

/// The public im2col on the docs' example: a 1×1×3×3 input, 2×2 kernel, stride 1, no padding.
/// Each column is one 2×2 window read row by row (worked out by hand from the formula).
#[test]
fn im2col_lays_each_window_out_as_a_column() {
    let x = Tensor::from_fn(&[1, 1, 3, 3], |i| (i + 1) as f32); // 1 2 3 / 4 5 6 / 7 8 9
    let cols = im2col(&x, (2, 2), Conv2dParams { stride: 1, padding: 0 }).expect("fits");
    assert_eq!(cols.dims(), &[4, 4]);
    #[rustfmt::skip]
    let want = [1.0, 2.0, 4.0, 5.0,
                2.0, 3.0, 5.0, 6.0,
                4.0, 5.0, 7.0, 8.0,
                5.0, 6.0, 8.0, 9.0];
    assert_eq!(cols.data(), &want);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// col2im is the adjoint of im2col, ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩, which is exactly why
    /// it computes dx; and W·im2col(x) is the convolution.
    #[test]
    fn col2im_is_the_adjoint_of_im2col(case in conv2d_case(1, 3, 9)) {
        let (x, w, _, _) = tensors(&case); // max_n = 1: x is one image
        let kernel = (case.w_shape.h, case.w_shape.w);
        let cols = im2col(&x, kernel, case.p).expect("case is valid");
        let c = Tensor::from_fn(cols.dims(), |i| ((i * 7919) % 13) as f32 / 13.0 - 0.5);
        let back = col2im(&c, x.shape4("test").expect("4-D"), kernel, case.p).expect("valid");
        let lhs: f64 = cols.data().iter().zip(c.data()).map(|(a, b)| f64::from(a * b)).sum();
        let rhs: f64 = x.data().iter().zip(back.data()).map(|(a, b)| f64::from(a * b)).sum();
        prop_assert!((lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()));

        let k = case.w_shape.c * kernel.0 * kernel.1;
        let w2 = Tensor::from_vec(&[case.w_shape.n, k], w.data().to_vec()).expect("same data");
        let y = crate::ops::gemm::matmul(&w2, &cols).expect("inner dims agree");
        let conv = forward(&x, &w, None, case.p).expect("case is valid");
        prop_assert!(y.data().iter().zip(conv.data()).all(|(a, b)| (a - b).abs() < 1e-4));
    }
}

#[test]
fn im2col_and_col2im_reject_batches_and_wrong_matrices() {
    let p = Conv2dParams { stride: 1, padding: 0 };
    assert!(im2col(&Tensor::zeros(&[2, 1, 3, 3]), (2, 2), p).is_err());
    let shape = Shape4 { n: 1, c: 1, h: 3, w: 3 };
    assert!(col2im(&Tensor::zeros(&[4, 5]), shape, (2, 2), p).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary (mostly wrong) shapes and parameters: every entry returns, Ok or Err, and an
    /// Ok output has the shape the formula gives.
    #[test]
    fn arbitrary_shapes_never_panic(
        xd in crate::testing::any_dims(5, 4),
        wd in crate::testing::any_dims(5, 4),
        bd in crate::testing::any_dims(2, 4),
        yd in crate::testing::any_dims(5, 4),
        stride in 0..3usize,
        padding in 0..3usize,
    ) {
        let p = Conv2dParams { stride, padding };
        let t = |d: &[usize]| crate::testing::random_tensor(d, 5);
        let (x, w, b, dy) = (t(&xd), t(&wd), t(&bd), t(&yd));
        if let Ok(y) = forward(&x, &w, Some(&b), p) {
            let (oh, ow) = p.output_hw(xd[2], xd[3], wd[2], wd[3]).expect("forward succeeded");
            prop_assert_eq!(y.dims(), &[xd[0], wd[0], oh, ow]);
        }
        let _ = forward(&x, &w, None, p);
        let _ = backward(&x, &w, &dy, p, InputGrad::Compute);
        let _ = backward(&x, &w, &dy, p, InputGrad::Skip);
    }
}

/// The implicit backward's two weight-gradient routes on shapes the random cases do not reach:
/// its own kernel (C_out < DIRECT_WEIGHT_GRAD) over more than one block of pixels, and the
/// GEMM (C_out ≥ DIRECT_WEIGHT_GRAD).
#[test]
fn both_weight_gradient_routes_match_the_reference() {
    let p = Conv2dParams { stride: 1, padding: 1 };
    let shapes = [
        (Shape4::new(2, 2, 50, 47), Shape4::new(5, 2, 3, 3)), // 49·49 + 47 = 2448 pixels
        (Shape4::new(1, 3, 9, 10), Shape4::new(DIRECT_WEIGHT_GRAD, 3, 3, 3)),
    ];
    for (seed, (xs, ws)) in shapes.into_iter().enumerate() {
        let case = Conv2dCase::new(xs, ws, p, seed as u64).expect("same padding fits");
        check_backward(&case).expect("matches the reference");
    }
}

/// Stride-1 batches of 1–11 small images (so several go side by side on one grid, and the
/// last grid often holds fewer), any kernel up to 5×5 and padding 0–2, with a pool that fits.
fn side_by_side_case() -> impl Strategy<Value = (Conv2dCase, Pool2dParams)> {
    (1..=11usize, 1..=3usize, 1..=9usize, 1..=5usize, 1..=5usize, 0..=2usize, side(), side())
        .prop_flat_map(|(n, c_in, c_out, kh, kw, padding, h, w)| {
            let h = h.max(kh.saturating_sub(2 * padding));
            let w = w.max(kw.saturating_sub(2 * padding));
            let p = Conv2dParams { stride: 1, padding };
            let (xs, ws) = (Shape4::new(n, c_in, h, w), Shape4::new(c_out, c_in, kh, kw));
            (any::<u64>(), pool()).prop_map(move |(seed, pool)| {
                let case = Conv2dCase::new(xs, ws, p, seed).expect("input grown to fit");
                (case, pool)
            })
        })
}

/// Each image of `x` [N, …] alone, [1, …].
fn images_of(x: &Tensor) -> Vec<Tensor> {
    let s = x.shape4("test").expect("4-D");
    let len = s.c * s.h * s.w;
    let one = |i: usize| Tensor::from_vec(&[1, s.c, s.h, s.w], x.data()[i * len..][..len].to_vec());
    (0..s.n).map(|i| one(i).expect("one image")).collect()
}

/// Laying images side by side on one grid (`SIDE_BY_SIDE_PIXELS`) changes no bit: the forward
/// of a batch (plain, fused ReLU, fused ReLU + pool with its winners) is the forward of each
/// image alone, which lies on a grid of its own.
fn check_side_by_side(case: &Conv2dCase, pool: Pool2dParams) -> Result<(), TestCaseError> {
    let (x, w, b, _) = tensors(case);
    let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let alone = images_of(&x);
    let y = forward(&x, &w, Some(&b), case.p).expect("case is valid");
    let mut want = Vec::new();
    for x in &alone {
        want.extend(bits(&forward(x, &w, Some(&b), case.p).expect("case is valid")));
    }
    prop_assert_eq!(bits(&y), want);
    let mut relu_y = Tensor::default();
    forward_relu_into(&x, &w, None, case.p, &mut relu_y).expect("case is valid");
    let mut want = Vec::new();
    for x in &alone {
        let mut y = Tensor::default();
        forward_relu_into(x, &w, None, case.p, &mut y).expect("case is valid");
        want.extend(bits(&y));
    }
    prop_assert_eq!(bits(&relu_y), want);
    let (mut pooled, mut argmax) = (Tensor::default(), Vec::new());
    if forward_relu_pool_into(&x, &w, Some(&b), (case.p, pool), &mut pooled, &mut argmax).is_err() {
        return Ok(()); // the pool window is larger than this output
    }
    let conv_len = y.len() / alone.len();
    let (mut want, mut want_argmax) = (Vec::new(), Vec::new());
    for (i, x) in alone.iter().enumerate() {
        let (mut y, mut winners) = (Tensor::default(), Vec::new());
        forward_relu_pool_into(x, &w, Some(&b), (case.p, pool), &mut y, &mut winners)
            .expect("fits as for the batch");
        want.extend(bits(&y));
        want_argmax.extend(winners.iter().map(|&a| a + (i * conv_len) as u32));
    }
    prop_assert_eq!(bits(&pooled), want);
    prop_assert_eq!(argmax, want_argmax);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn images_side_by_side_give_the_bits_of_each_image_alone(case in side_by_side_case()) {
        check_side_by_side(&case.0, case.1)?;
    }
}

/// The 64×64 network's conv3 shape (16×16, 3×3, padding 1): six images are a grid of four and
/// a grid of two, with enough channels that the GEMM reads whole micro-panels in place.
#[test]
fn sixteen_by_sixteen_batches_split_into_grids_of_four() {
    let p = Conv2dParams { stride: 1, padding: 1 };
    let case =
        Conv2dCase::new(Shape4::new(6, 32, 16, 16), Shape4::new(16, 32, 3, 3), p, 5).expect("fits");
    let pool = Pool2dParams { kernel: 2, stride: 2 };
    check_side_by_side(&case, pool).expect("side by side equals alone");
    check_forward(&case).expect("matches the reference");
}

/// "Same" batches of 1–11 small images for the backward: several go side by side on one grid
/// in each chunk of [`BATCH_CHUNK`], the last chunk and grid often holding fewer.
fn same_side_by_side_case() -> impl Strategy<Value = Conv2dCase> {
    (1..=11usize, 1..=3usize, 1..=9usize, prop::sample::select(vec![1usize, 3, 5]), side(), side())
        .prop_flat_map(|(n, c_in, c_out, k, h, w)| {
            let p = Conv2dParams { stride: 1, padding: (k - 1) / 2 };
            let (xs, ws) = (Shape4::new(n, c_in, h, w), Shape4::new(c_out, c_in, k, k));
            any::<u64>().prop_map(move |seed| {
                Conv2dCase::new(xs, ws, p, seed).expect("same padding always fits")
            })
        })
}

/// The backward with images side by side (plain, and behind the fused ReLU): `dx` of each
/// image is bit for bit the `dx` of that image alone (each of its values is one GEMM column,
/// whatever the other columns are); `dW` and `db` are the sums of the images' own, up to
/// rounding (their reductions run over all the grid's columns at once, so the order of the
/// additions differs from one image at a time); and all three match the reference.
fn check_backward_side_by_side(case: &Conv2dCase) -> Result<(), TestCaseError> {
    check_backward(case)?;
    let (x, w, _, dy) = tensors(case);
    let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let mut relu_y = Tensor::default();
    forward_relu_into(&x, &w, None, case.p, &mut relu_y).expect("case is valid");
    let (xs, dys, ys) = (images_of(&x), images_of(&dy), images_of(&relu_y));
    let per_weight = case.out_hw.0 * case.out_hw.1 * xs.len();
    for relu in [false, true] {
        let mut batch = Conv2dGrads::default();
        let mut dw_sum = vec![0.0; w.len()];
        let mut db_sum = vec![0.0; case.w_shape.n];
        let mut dx_alone = Vec::new();
        let run = |x: &Tensor, y: &Tensor, dy: &Tensor, grads: &mut Conv2dGrads| {
            let result = if relu {
                backward_relu_into(x, &w, y, dy, case.p, InputGrad::Compute, grads)
            } else {
                backward_into(x, &w, dy, case.p, InputGrad::Compute, grads)
            };
            result.expect("case is valid");
        };
        run(&x, &relu_y, &dy, &mut batch);
        for ((x, dy), y) in xs.iter().zip(&dys).zip(&ys) {
            let mut alone = Conv2dGrads::default();
            run(x, y, dy, &mut alone);
            dx_alone.extend(bits(alone.dx.as_ref().expect("computed")));
            dw_sum.iter_mut().zip(alone.dw.data()).for_each(|(s, v)| *s += v);
            db_sum.iter_mut().zip(alone.db.data()).for_each(|(s, v)| *s += v);
        }
        prop_assert_eq!(bits(batch.dx.as_ref().expect("computed")), dx_alone);
        let (dw_sum, db_sum): (Vec<f64>, Vec<f64>) = (
            dw_sum.iter().map(|&v| f64::from(v)).collect(),
            db_sum.iter().map(|&v| f64::from(v)).collect(),
        );
        check_close("dw", batch.dw.data(), &dw_sum, atol(per_weight), 1e-5)?;
        check_close("db", batch.db.data(), &db_sum, atol(per_weight), 1e-5)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn backward_side_by_side_gives_each_image_its_own_dx(case in same_side_by_side_case()) {
        check_backward_side_by_side(&case)?;
    }

    #[test]
    fn fused_relu_pool_backward_side_by_side_equals_the_three_backwards(
        case in same_side_by_side_case(), pool in pool()
    ) {
        check_fused_relu_pool(&case, pool)?;
    }
}

/// The 64×64 network's 16×16 layers in the backward: six images are a chunk of four on one
/// grid and a chunk of two on another, through the three weight-gradient routes (C_out = 16, its
/// own kernel; C_out = 64, the GEMM packing both operands, or with C_in a whole number of
/// vectors the GEMM reading x channels-last), plain, fused ReLU and fused ReLU + 2×2 pool.
#[test]
fn sixteen_by_sixteen_backward_chunks_go_on_one_grid() {
    let p = Conv2dParams { stride: 1, padding: 1 };
    let pool = Pool2dParams { kernel: 2, stride: 2 };
    let routes =
        [(7, 16, 8), (8, DIRECT_WEIGHT_GRAD, 8), (9, DIRECT_WEIGHT_GRAD, 2 * IN_PLACE_RUN)];
    for (seed, c_out, c_in) in routes {
        let (xs, ws) = (Shape4::new(6, c_in, 16, 16), Shape4::new(c_out, c_in, 3, 3));
        let case = Conv2dCase::new(xs, ws, p, seed).expect("fits");
        check_backward_side_by_side(&case).expect("side by side equals alone");
        check_fused_relu_pool(&case, pool).expect("fused equals unfused");
    }
}

/// "Same" cases on the channels-last `dW` route: C_out ≥ [`DIRECT_WEIGHT_GRAD`] (65 is not a
/// whole number of the GEMM's 8-row panels), C_in one or two of the GEMM's vectors (so the taps'
/// runs are read in place; 48 leaves a partial last micro-panel with AVX-512), 1–6 images.
fn channels_last_case() -> impl Strategy<Value = Conv2dCase> {
    let c_out = prop::sample::select(vec![DIRECT_WEIGHT_GRAD, DIRECT_WEIGHT_GRAD + 1]);
    let c_in = prop::sample::select(vec![IN_PLACE_RUN, 2 * IN_PLACE_RUN, 3 * IN_PLACE_RUN]);
    let k = prop::sample::select(vec![1usize, 3, 5]);
    (1..=6usize, c_in, c_out, k, side(), side(), any::<u64>()).prop_map(
        |(n, c_in, c_out, k, h, w, seed)| {
            let p = Conv2dParams { stride: 1, padding: (k - 1) / 2 };
            let (xs, ws) = (Shape4::new(n, c_in, h, w), Shape4::new(c_out, c_in, k, k));
            Conv2dCase::new(xs, ws, p, seed).expect("same padding always fits")
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn channels_last_weight_grad_matches_the_reference(case in channels_last_case()) {
        check_backward(&case)?;
    }

    #[test]
    fn channels_last_weight_grad_behind_relu_and_pool_equals_the_three_backwards(
        case in channels_last_case(), pool in pool()
    ) {
        check_fused_relu_pool(&case, pool)?;
    }
}

/// The channels-last copy of padded planes is the transpose `xt[pos·C + c] = xp[c·plane + pos]`
/// for channel counts around the 8×8 blocks and grids whose planes are not a multiple of 8.
#[test]
fn channels_last_transposes_the_padded_planes() {
    for (channels, h, w, images) in
        [(1, 1, 1, 1), (7, 3, 5, 2), (8, 16, 16, 4), (9, 7, 2, 3), (17, 9, 13, 1)]
    {
        let grid = PaddedGrid {
            h,
            w,
            kh: 3,
            kw: 3,
            padding: 1,
            out_h: h,
            out_w: w,
            images,
            ragged_runs: false,
        };
        let plane = grid.plane();
        let xp: Vec<f32> = (0..channels * plane).map(|i| i as f32).collect();
        let mut xt = vec![f32::NAN; xp.len()];
        grid.channels_last(&xp, &mut xt);
        for pos in 0..plane {
            for c in 0..channels {
                assert_eq!(
                    xt[pos * channels + c],
                    xp[c * plane + pos],
                    "{channels} channels, {pos}"
                );
            }
        }
    }
}

#[test]
fn channels_last_gradients_are_bit_identical_on_one_and_two_threads() {
    // 9 images: two full chunks and a partial one, summed in the tap-major order then permuted.
    let p = Conv2dParams { stride: 1, padding: 1 };
    let (xs, ws) =
        (Shape4::new(9, IN_PLACE_RUN, 12, 11), Shape4::new(DIRECT_WEIGHT_GRAD, IN_PLACE_RUN, 3, 3));
    let case = Conv2dCase::new(xs, ws, p, 6).expect("fits");
    let (x, w, _, dy) = tensors(&case);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        pool.install(|| backward(&x, &w, &dy, p, InputGrad::Compute).expect("valid"))
    };
    let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let (g1, g2) = (run(1), run(2));
    assert_eq!(bits(&g1.dw), bits(&g2.dw));
    assert_eq!(bits(&g1.db), bits(&g2.db));
    assert_eq!(bits(g1.dx.as_ref().expect("computed")), bits(g2.dx.as_ref().expect("computed")));
}

/// The forward's GEMM over the real pixels in runs that are not whole vectors (OW = 17, 23, 56:
/// vectors crossing from one output row into the next, at every split) gives the bits of the
/// GEMM over every grid column, and both equal the reference; with and without bias and ReLU,
/// one image and several.
#[test]
fn ragged_runs_give_the_bits_of_the_grid_columns() {
    let p = Conv2dParams { stride: 1, padding: 1 };
    for (n, c_in, c_out, h, w) in [
        (1, 3, 9, 5, IN_PLACE_RUN + 1),
        (2, 2, 8, 45, IN_PLACE_RUN + IN_PLACE_RUN / 2 - 1),
        (3, 4, 16, 20, 56),
        (1, 1, 1, 7, 2 * IN_PLACE_RUN + 3),
    ] {
        let case =
            Conv2dCase::new(Shape4::new(n, c_in, h, w), Shape4::new(c_out, c_in, 3, 3), p, 3)
                .expect("fits");
        let (x, w, b, _) = tensors(&case);
        let g = geometry("test", &x, &w, p).expect("valid");
        let grid = g.forward_grid(p).expect("stride 1");
        let columns = g.padded_grid(p).expect("stride 1");
        let per_grid = images_per_grid(&grid).min(n);
        assert!(grid.side_by_side(per_grid).in_runs() || per_grid > 1, "{n}x{h}x{}", g.x.w);
        // (56 is a whole number of vectors without AVX-512: both grids are in runs then.)
        assert!(!columns.in_runs() || g.out_w.is_multiple_of(IN_PLACE_RUN));
        for (bias, activation) in [
            (None, Activation::Identity),
            (None, Activation::Relu),
            (Some(b.data()), Activation::Identity),
            (Some(b.data()), Activation::Relu),
        ] {
            let run = |grid: &PaddedGrid| {
                let mut y = vec![f32::NAN; case.y_shape().len()];
                implicit_gemm_forward(grid, c_in, x.data(), w.data(), bias, activation, &mut y)
                    .expect("valid");
                y
            };
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let (ragged, plain) = (run(&grid), run(&columns));
            assert_eq!(bits(&ragged), bits(&plain), "{n}x{c_in}x{h}x{} {activation:?}", g.x.w);
        }
        check_forward(&case).expect("equals the reference");
    }
}

/// Forwards whose GEMMs run in slabs of output channels ([`slab_channels`]: one image per
/// grid, on one thread) give the bits of one GEMM over all channels (two threads and two
/// images, where each GEMM is split over the pool instead), for the plain, ReLU and ReLU +
/// pool forwards; the fused pool equals the pool after the ReLU; and all equal the reference.
/// Shapes with results over [`SLAB_ABOVE`]: 32×32 (1 024 columns, slabs of 32: 264 channels
/// end in a slab of 8), 56×56 (slabs of 8), and odd sizes (slabs of 16, the last one of 1),
/// with and without bias.
#[test]
fn slabs_of_output_channels_give_the_bits_of_one_gemm() {
    use crate::ops::max_pool2d;
    let p = Conv2dParams { stride: 1, padding: 1 };
    let pool = Pool2dParams { kernel: 2, stride: 2 };
    for (c_in, c_out, h, w) in [(1, 264, 32, 32), (2, 88, 56, 56), (1, 161, 45, 37)] {
        let case =
            Conv2dCase::new(Shape4::new(2, c_in, h, w), Shape4::new(c_out, c_in, 3, 3), p, 4)
                .expect("fits");
        let (x, w, b, _) = tensors(&case);
        let g = geometry("test", &x, &w, p).expect("valid");
        let grid = g.forward_grid(p).expect("stride 1");
        assert_eq!(images_per_grid(&grid), 1);
        assert!(slab_channels(&grid, c_out, Threads::Caller) < c_out, "{h}x{}: one slab", g.x.w);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for bias in [Some(&b), None] {
            let run = |threads: usize| {
                let pool_of = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
                let (mut y, mut relu_y) = (Tensor::default(), Tensor::default());
                let (mut pooled, mut argmax) = (Tensor::default(), Vec::new());
                pool_of.expect("pool").install(|| {
                    forward_into(&x, &w, bias, p, &mut y).expect("valid");
                    forward_relu_into(&x, &w, bias, p, &mut relu_y).expect("valid");
                    forward_relu_pool_into(&x, &w, bias, (p, pool), &mut pooled, &mut argmax)
                        .expect("valid");
                });
                (bits(y.data()), bits(relu_y.data()), (bits(pooled.data()), argmax), relu_y)
            };
            let (slabs, whole) = (run(1), run(2));
            assert_eq!(slabs.0, whole.0, "forward {h}x{}", g.x.w);
            assert_eq!(slabs.1, whole.1, "relu {h}x{}", g.x.w);
            assert_eq!(slabs.2, whole.2, "relu + pool {h}x{}", g.x.w);
            let (want_y, want_argmax) = max_pool2d::forward(&slabs.3, pool).expect("fits");
            assert_eq!(slabs.2, (bits(want_y.data()), want_argmax), "fused pool {h}x{}", g.x.w);
        }
        check_forward(&case).expect("matches the reference");
    }
}

// ---- Winograd F(2×2, 3×3) (`winograd.rs`) ----

/// The matrices of `docs/convolution.md` §8, written out: `Bᵀ` [4, 4], `G` [4, 3], `Aᵀ` [2, 4].
const B_T: [[f64; 4]; 4] =
    [[1., 0., -1., 0.], [0., 1., 1., 0.], [0., -1., 1., 0.], [0., 1., 0., -1.]];
const G: [[f64; 3]; 4] = [[1., 0., 0.], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0., 0., 1.]];
const A_T: [[f64; 4]; 2] = [[1., 1., 1., 0.], [0., 1., -1., -1.]];

/// `P · Q` for small row-major matrices.
fn matmul<const R: usize, const K: usize, const C: usize>(
    p: &[[f64; K]; R],
    q: &[[f64; C]; K],
) -> [[f64; C]; R] {
    std::array::from_fn(|r| std::array::from_fn(|c| (0..K).map(|k| p[r][k] * q[k][c]).sum()))
}

fn transpose<const R: usize, const C: usize>(p: &[[f64; C]; R]) -> [[f64; R]; C] {
    std::array::from_fn(|c| std::array::from_fn(|r| p[r][c]))
}

#[test]
fn winograd_matrices_give_the_direct_convolution_of_one_tile() {
    // Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A in f64 with the matrices as printed, against the direct
    // formula y[i][j] = Σ_a Σ_b g[a][b]·d[i + a][j + b] on random tiles: the matrices are right.
    let mut rng = crate::Rng::new(11);
    for _ in 0..20 {
        let d: [[f64; 4]; 4] =
            std::array::from_fn(|_| std::array::from_fn(|_| rng.uniform(-1.0, 1.0) as f64));
        let g: [[f64; 3]; 3] =
            std::array::from_fn(|_| std::array::from_fn(|_| rng.uniform(-1.0, 1.0) as f64));
        let u = matmul(&matmul(&G, &g), &transpose(&G));
        let v = matmul(&matmul(&B_T, &d), &transpose(&B_T));
        let uv: [[f64; 4]; 4] = std::array::from_fn(|i| std::array::from_fn(|j| u[i][j] * v[i][j]));
        let y = matmul(&matmul(&A_T, &uv), &transpose(&A_T));
        for i in 0..2 {
            for j in 0..2 {
                let direct: f64 = (0..3)
                    .flat_map(|a| (0..3).map(move |b| (a, b)))
                    .map(|(a, b)| g[a][b] * d[i + a][j + b])
                    .sum();
                assert!(
                    (y[i][j] - direct).abs() < 1e-12,
                    "tile output ({i}, {j}): {} vs {direct}",
                    y[i][j]
                );
            }
        }

        // The one-axis functions the loop nest uses are these matrices times a vector.
        let f = |v: f64| v as f32;
        let col: [f64; 4] = d[0];
        let want = matmul(&B_T, &transpose(&[col]));
        let got = winograd::input_1d(col.map(f));
        assert!((0..4).all(|r| (f64::from(got[r]) - want[r][0]).abs() < 1e-6));
        let want = matmul(&A_T, &transpose(&[col]));
        let got = winograd::output_1d(col.map(f));
        assert!((0..2).all(|r| (f64::from(got[r]) - want[r][0]).abs() < 1e-6));
        let want = matmul(&G, &transpose(&[g[0]]));
        let got = winograd::weight_1d(g[0].map(f));
        assert!((0..4).all(|r| (f64::from(got[r]) - want[r][0]).abs() < 1e-6));
        let want = u;
        let got = winograd::weight_tile(g.map(|row| row.map(f)));
        assert!((0..16).all(|k| (f64::from(got[k / 4][k % 4]) - want[k / 4][k % 4]).abs() < 1e-6));
    }
}

/// The Winograd forward of `case` (3×3, stride 1, padding 1; any channel count, called
/// directly, whatever the dispatch rule would pick) against the reference.
fn check_winograd(case: &Conv2dCase, activation: Activation) -> Result<(), TestCaseError> {
    let (x, w, b, _) = tensors(case);
    let (xs, ws) = (case.x_shape, case.w_shape);
    let geo = winograd::Winograd { c_in: xs.c, c_out: ws.n, h: xs.h, w: xs.w };
    let mut y = vec![f32::NAN; xs.n * ws.n * xs.h * xs.w];
    winograd::forward(geo, x.data(), w.data(), Some(b.data()), activation, &mut y)
        .expect("valid sizes");
    let mut want = reference::forward(&case.x, xs, &case.w, ws, Some(&case.b), case.p);
    if activation == Activation::Relu {
        want = crate::ops::relu::reference::forward(&want);
    }
    // Winograd's worst-case f32 error is a constant factor above the direct sum's: the
    // transforms add up to 4 inputs and 9 weights before multiplying, and the output transform
    // adds 9 of the 16 channel sums, so the rounded values are a few times larger than the
    // direct sum's terms. 4× the direct tolerance, still growing with the reduction (typical
    // errors are smaller than im2col's: winograd_error_is_within_a_small_factor_of_the_im2col_paths).
    let terms = ws.c * 9 + 1;
    check_close("y", &y, &want, 4.0 * atol(terms), 1e-5)
}

/// 3×3 / stride 1 / padding 1 cases for the Winograd path: channels just around the SIMD
/// widths and the paper's counts, sides 1–3, primes, odd and even (partial tile rows and
/// columns), up to 3 images.
fn winograd_case() -> impl Strategy<Value = Conv2dCase> {
    let channels = prop::sample::select(vec![1usize, 2, 3, 7, 8, 9, 15, 16, 17, 33]);
    let sides = prop::sample::select(vec![1usize, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 23]);
    (1..=3usize, channels.clone(), channels, sides.clone(), sides, any::<u64>()).prop_map(
        |(n, c_in, c_out, h, w, seed)| {
            let p = Conv2dParams { stride: 1, padding: 1 };
            let (xs, ws) = (Shape4::new(n, c_in, h, w), Shape4::new(c_out, c_in, 3, 3));
            Conv2dCase::new(xs, ws, p, seed).expect("same padding always fits")
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn winograd_forward_matches_the_reference(case in winograd_case()) {
        check_winograd(&case, Activation::Identity)?;
        check_winograd(&case, Activation::Relu)?;
    }
}

#[test]
fn winograd_forward_matches_the_reference_across_blocks_and_images() {
    // Blocks of tiles that cut tile rows and span images: 64→72 channels are blocks of 64
    // tiles; a 23×19 image is 12×10 = 120 tiles (partial last row and column), a 16×16 one
    // 64 (two images per task, blocks crossing from one image into the next), a 9×33 one 85.
    let p = Conv2dParams { stride: 1, padding: 1 };
    for (n, c_in, c_out, h, w) in [(3, 64, 72, 23, 19), (5, 64, 72, 16, 16), (3, 40, 24, 9, 33)] {
        let case =
            Conv2dCase::new(Shape4::new(n, c_in, h, w), Shape4::new(c_out, c_in, 3, 3), p, 7)
                .expect("fits");
        check_winograd(&case, Activation::Identity).expect("matches the reference");
    }
}

#[test]
fn winograd_forward_is_bit_identical_on_one_and_two_threads_and_per_image() {
    // The dispatch takes the Winograd path here (C_in, C_out ≥ WINOGRAD_MIN_CHANNELS). Every output
    // is computed from its own tile alone: the same bits on any number of threads, and for an
    // image alone as within the batch (whose tasks and blocks cut the tiles differently).
    let p = Conv2dParams { stride: 1, padding: 1 };
    let (c_in, c_out) = (WINOGRAD_MIN_CHANNELS + 1, WINOGRAD_MIN_CHANNELS + 8);
    let case = Conv2dCase::new(Shape4::new(5, c_in, 13, 18), Shape4::new(c_out, c_in, 3, 3), p, 5)
        .expect("fits");
    let (x, w, b, _) = tensors(&case);
    let bits = |t: &[f32]| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let run = |threads: usize, x: &Tensor| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        pool.install(|| forward(x, &w, Some(&b), p).expect("valid"))
    };
    let (y1, y2) = (run(1, &x), run(2, &x));
    assert_eq!(bits(y1.data()), bits(y2.data()));
    let image_len = c_in * 13 * 18;
    let out_len = c_out * 13 * 18;
    for (i, image) in x.data().chunks_exact(image_len).enumerate() {
        let alone = Tensor::from_vec(&[1, c_in, 13, 18], image.to_vec()).expect("one image");
        let y_alone = run(2, &alone);
        assert_eq!(bits(y_alone.data()), bits(&y1.data()[i * out_len..(i + 1) * out_len]));
    }
}

#[test]
fn dispatched_winograd_fuses_relu_and_pool_bit_for_bit() {
    // forward_relu_into and forward_relu_pool_into on the Winograd path give exactly relu and
    // max_pool2d applied to forward_into's output, and the backward's gradients agree too.
    let p = Conv2dParams { stride: 1, padding: 1 };
    let c_in = WINOGRAD_MIN_CHANNELS;
    for (h, w) in [(8, WINOGRAD_MIN_WIDTH + 1), (11, WINOGRAD_MIN_WIDTH)] {
        let case = Conv2dCase::new(Shape4::new(3, c_in, h, w), Shape4::new(c_in, c_in, 3, 3), p, 9)
            .expect("fits");
        check_winograd(&case, Activation::Identity).expect("matches the reference");
        check_fused_relu(&case).expect("fused relu is relu after conv");
        for pool in [Pool2dParams { kernel: 2, stride: 2 }, Pool2dParams { kernel: 3, stride: 2 }] {
            check_fused_relu_pool(&case, pool).expect("fused pool is pool after relu after conv");
        }
    }
}

#[test]
fn dispatched_winograd_dx_matches_the_reference_and_the_fused_paths() {
    // dx takes the Winograd path when C_in, C_out ≥ WINOGRAD_MIN_CHANNELS, reading dY from
    // the backward's padded grid: one image per grid at 11×15, four side by side at 16×16
    // (six images: a full grid and a partial one per chunk).
    let p = Conv2dParams { stride: 1, padding: 1 };
    let m = WINOGRAD_MIN_CHANNELS;
    for (n, c_in, c_out, h, w) in [(3, m, m, 11, 15), (6, m, m + 3, 16, 16), (2, m + 1, m, 13, 17)]
    {
        let case =
            Conv2dCase::new(Shape4::new(n, c_in, h, w), Shape4::new(c_out, c_in, 3, 3), p, 13)
                .expect("fits");
        check_backward(&case).expect("gradients match the reference");
        check_fused_relu(&case).expect("fused relu backward is relu's then conv's");
        check_fused_relu_pool(&case, Pool2dParams { kernel: 2, stride: 2 })
            .expect("fused pool backward is the three backwards");
    }
}

#[test]
fn winograd_gradients_are_bit_identical_on_one_and_two_threads() {
    // 9 images of 10×17 on the Winograd path, forward and dx: two full chunks and a partial
    // one.
    let p = Conv2dParams { stride: 1, padding: 1 };
    let (c_in, c_out) = (WINOGRAD_MIN_CHANNELS + 4, WINOGRAD_MIN_CHANNELS + 8);
    let case = Conv2dCase::new(Shape4::new(9, c_in, 10, 17), Shape4::new(c_out, c_in, 3, 3), p, 3)
        .expect("fits");
    let (x, w, b, dy) = tensors(&case);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        pool.install(|| {
            let mut y = Tensor::default();
            forward_relu_into(&x, &w, Some(&b), p, &mut y).expect("valid");
            let mut grads = Conv2dGrads::default();
            backward_relu_into(&x, &w, &y, &dy, p, InputGrad::Compute, &mut grads).expect("valid");
            (y, grads)
        })
    };
    let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let ((y1, g1), (y2, g2)) = (run(1), run(2));
    assert_eq!(bits(&y1), bits(&y2));
    assert_eq!(bits(&g1.dw), bits(&g2.dw));
    assert_eq!(bits(&g1.db), bits(&g2.db));
    assert_eq!(bits(g1.dx.as_ref().expect("computed")), bits(g2.dx.as_ref().expect("computed")));
}

#[test]
fn winograd_error_is_within_a_small_factor_of_the_im2col_paths() {
    // Both f32 paths against the f64 reference on the shapes the dispatch sends to Winograd
    // (and conv3's), values uniform in [−1, 1]. Winograd's transforms enlarge the values they
    // round (up to 4× an input, 2.25× a weight), so its worst case is a constant factor above
    // the direct sum's; but it also cuts the C_in·9-term dot product into 16 sums of C_in
    // terms, which round less. Measured (`cargo test -p tensor --release winograd_error --
    // --nocapture`, AVX-512 build): its largest error is 0.3–0.7× im2col's, its RMS error
    // 0.6–0.9× (docs/convolution.md §8). The bound asserted is the tests' 4× allowance.
    let p = Conv2dParams { stride: 1, padding: 1 };
    for (c_in, c_out, hw) in [(64, 64, 16), (64, 128, 16), (128, 128, 8), (32, 64, 16)] {
        let (xs, ws) = (Shape4::new(2, c_in, hw, hw), Shape4::new(c_out, c_in, 3, 3));
        let case = Conv2dCase::new(xs, ws, p, 21).expect("fits");
        let (x, w, b, _) = tensors(&case);
        let want = reference::forward(&case.x, xs, &case.w, ws, Some(&case.b), p);
        let geo = winograd::Winograd { c_in, c_out, h: hw, w: hw };
        let mut by_winograd = vec![0.0; want.len()];
        winograd::forward(
            geo,
            x.data(),
            w.data(),
            Some(b.data()),
            Activation::Identity,
            &mut by_winograd,
        )
        .expect("valid sizes");
        let grid = geometry("test", &x, &w, p).expect("valid").forward_grid(p).expect("stride 1");
        let mut by_gemm = vec![0.0; want.len()];
        implicit_gemm_forward(
            &grid,
            c_in,
            x.data(),
            w.data(),
            Some(b.data()),
            Activation::Identity,
            &mut by_gemm,
        )
        .expect("valid sizes");
        // (largest, root-mean-square) error against the reference.
        let error = |y: &[f32]| {
            let d: Vec<f64> =
                y.iter().zip(&want).map(|(&a, &b)| (f64::from(a) - b).abs()).collect();
            let rms = (d.iter().map(|v| v * v).sum::<f64>() / d.len() as f64).sqrt();
            (d.iter().copied().fold(0.0, f64::max), rms)
        };
        let ((w_max, w_rms), (g_max, g_rms)) = (error(&by_winograd), error(&by_gemm));
        println!(
            "{c_in}->{c_out} @{hw}: Winograd max {w_max:.2e} rms {w_rms:.2e}, im2col max {g_max:.2e} \
             rms {g_rms:.2e}: {:.2}x, {:.2}x",
            w_max / g_max,
            w_rms / g_rms
        );
        assert!(w_max <= 4.0 * g_max && w_rms <= 4.0 * g_rms, "{c_in}->{c_out} @{hw}");
    }
}

#[test]
fn winograd_takes_the_wide_three_by_three_layers_only() {
    // Which layers of the networks take the Winograd path, forward (`winograd`) and for dx
    // (`winograd_dx`): (C_in, C_out, side, stride, padding, kernel, expected).
    let same = Conv2dParams { stride: 1, padding: 1 };
    let cases = [
        (3, 16, 224, same, 3, false),  // conv1: 3 input channels
        (16, 32, 112, same, 3, false), // conv2
        (32, 64, 56, same, 3, false),  // conv3: measured level, stays on the GEMM
        (64, 64, 56, same, 3, true),   // conv4 at 224² input
        (64, 128, 56, same, 3, true),  // conv5
        (64, 64, 16, same, 3, true),   // conv4 at 64² input
        (64, 128, 16, same, 3, true),  // conv5 at 64² (also wide-bn's third layer)
        (128, 128, 8, same, 3, false), // wide-bn's fourth at 64²: tile rows of 4
        (128, 256, 4, same, 3, false), // wide-bn's fifth at 64²
        (64, 64, 56, Conv2dParams { stride: 2, padding: 1 }, 3, false),
        (64, 64, 56, Conv2dParams { stride: 1, padding: 2 }, 5, false),
    ];
    for (c_in, c_out, side, p, k, expected) in cases {
        let x = Tensor::zeros(&[1, c_in, side, side]);
        let w = Tensor::zeros(&[c_out, c_in, k, k]);
        let g = geometry("test", &x, &w, p).expect("valid");
        assert_eq!(g.winograd(p).is_some(), expected, "{c_in}->{c_out} @{side} {p:?}");
        assert_eq!(g.winograd_dx(p).is_some(), expected, "dx of {c_in}->{c_out} @{side}");
    }
}
