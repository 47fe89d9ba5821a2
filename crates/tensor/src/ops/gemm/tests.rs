//! GEMM tests: the packed path equals the f64 triple loop over shapes chosen to hit every edge
//! of the blocking (1, primes, just off MR/NR/the SIMD width and just off MC/KC/NC), in all four
//! transpose combinations and both accumulate modes; results do not depend on the thread count;
//! bad lengths are rejected with an error naming gemm.

use super::kernel::{LANES, MR, NR};
use super::loops::{KC, KC_IN_PLACE, MC, NC, SUM_SLICE, sum_slice};
use super::*;
use crate::Rng;
use proptest::prelude::*;

/// `len` uniform values in [-1, 1) from a seeded stream.
fn random(len: usize, rng: &mut Rng) -> Vec<f32> {
    (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

fn widen(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

/// Largest |got − want|, as f64.
fn max_error(got: &[f32], want: &[f64]) -> f64 {
    got.iter().zip(want).map(|(&g, &w)| (f64::from(g) - w).abs()).fold(0.0, f64::max)
}

/// One random problem: A, B and a C whose initial values are random (`Add`) or NaN
/// (`Overwrite`: any read of the old C would poison the result).
struct Case {
    dims: GemmDims,
    ta: Transpose,
    tb: Transpose,
    acc: Accumulate,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl Case {
    fn new(dims: GemmDims, ta: Transpose, tb: Transpose, acc: Accumulate, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let GemmDims { m, n, k } = dims;
        let c = match acc {
            Accumulate::Overwrite => vec![f32::NAN; m * n],
            Accumulate::Add => random(m * n, &mut rng),
        };
        Self { dims, ta, tb, acc, a: random(m * k, &mut rng), b: random(k * n, &mut rng), c }
    }

    /// The fast path's C.
    fn run(&self) -> Vec<f32> {
        let mut c = self.c.clone();
        gemm(self.dims, &self.a, self.ta, &self.b, self.tb, &mut c, self.acc)
            .expect("lengths match by construction");
        c
    }

    /// The reference C, computed in f64 from the same f32 inputs.
    fn want(&self) -> Vec<f64> {
        let mut c = widen(&self.c);
        let (a, b) = (widen(&self.a), widen(&self.b));
        reference::gemm(self.dims, &a, self.ta, &b, self.tb, &mut c, self.acc);
        c
    }

    /// Error allowed against the f64 result: f32 rounding grows at most linearly with the
    /// length of the sum (|a|, |b|, |c| ≤ 1 here), and FMA vs separate rounding must both pass.
    fn tolerance(&self) -> f64 {
        2e-6 * (self.dims.k as f64 + 2.0)
    }
}

/// Sizes that sit on the edges of the blocking, plus small primes and 1.
fn edge_size(block: usize) -> impl Strategy<Value = usize> {
    prop_oneof![
        1..=12usize,
        prop::sample::select(vec![
            13,
            17,
            31,
            LANES - 1,
            LANES + 1,
            MR - 1,
            MR + 1,
            2 * MR + 1,
            NR - 1,
            NR,
            NR + 1,
            block - 1,
            block,
            block + 1,
        ]),
    ]
}

fn transpose() -> impl Strategy<Value = Transpose> {
    prop_oneof![Just(Transpose::No), Just(Transpose::Yes)]
}

fn accumulate() -> impl Strategy<Value = Accumulate> {
    prop_oneof![Just(Accumulate::Overwrite), Just(Accumulate::Add)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn packed_gemm_equals_the_triple_loop(
        m in edge_size(MC),
        n in edge_size(NC),
        k in edge_size(KC),
        ta in transpose(),
        tb in transpose(),
        acc in accumulate(),
        seed in any::<u64>(),
    ) {
        // Keep each case under ~2M multiply-adds so the suite stays fast.
        prop_assume!(m * n * k <= 2_000_000);
        let case = Case::new(GemmDims::new(m, n, k), ta, tb, acc, seed);
        let err = max_error(&case.run(), &case.want());
        prop_assert!(err <= case.tolerance(), "m={m} n={n} k={k} {ta:?} {tb:?} {acc:?}: error {err}");
    }
}

/// The parallel split (row bands when m ≥ n, column ranges otherwise) must not change a single
/// bit, because no thread ever takes part of another's sum; nor may the sum's slices, which
/// are the same slices added in the same order on any number of threads.
#[test]
fn results_are_bit_identical_for_any_thread_count() {
    let shapes = [
        (GemmDims::new(301, 97, 2 * KC + 3), Transpose::No, Transpose::No), // row bands, 3 pc blocks
        (GemmDims::new(19, 1201, 300), Transpose::Yes, Transpose::No),      // column ranges
        (GemmDims::new(64, NC + 45, 27), Transpose::No, Transpose::Yes),    // ranges across NC
        // The sum cut into slices: the first linear layer at 64×64 (4 slices), and 3 uneven ones.
        (GemmDims::new(64, 256, 4 * SUM_SLICE), Transpose::No, Transpose::Yes),
        (GemmDims::new(17, 45, 3 * SUM_SLICE - 5), Transpose::Yes, Transpose::No),
    ];
    let pools: Vec<rayon::ThreadPool> = [1, 2, 3]
        .iter()
        .map(|&t| rayon::ThreadPoolBuilder::new().num_threads(t).build().expect("thread pool"))
        .collect();
    for (i, &(dims, ta, tb)) in shapes.iter().enumerate() {
        assert!(dims.m * dims.n * dims.k >= 1 << 21, "shape {i} must take the parallel path");
        for acc in [Accumulate::Overwrite, Accumulate::Add] {
            let case = Case::new(dims, ta, tb, acc, i as u64);
            let runs: Vec<Vec<u32>> = pools
                .iter()
                .map(|pool| pool.install(|| case.run()).iter().map(|v| v.to_bits()).collect())
                .collect();
            assert!(runs[0] == runs[1], "shape {i} {acc:?}: 1 and 2 threads differ");
            assert!(runs[0] == runs[2], "shape {i} {acc:?}: 1 and 3 threads differ");
            assert!(max_error(&case.run(), &case.want()) <= case.tolerance());
        }
    }
}

#[test]
fn reference_matches_a_hand_computed_product() {
    // A = [[1, 2, 3], [4, 5, 6]], B = [[7, 8], [9, 10], [11, 12]]:
    // A·B = [[1·7 + 2·9 + 3·11, 1·8 + 2·10 + 3·12], [4·7 + 5·9 + 6·11, 4·8 + 5·10 + 6·12]].
    let a = [1.0f64, 2., 3., 4., 5., 6.];
    let b = [7.0f64, 8., 9., 10., 11., 12.];
    let want = [58.0, 64.0, 139.0, 154.0];
    let dims = GemmDims::new(2, 2, 3);
    let mut c = [0.0f64; 4];
    reference::gemm(dims, &a, Transpose::No, &b, Transpose::No, &mut c, Accumulate::Overwrite);
    assert_eq!(c, want);
    // The same product from Aᵀ (3×2) and Bᵀ (2×3) stored transposed.
    let a_t = [1.0f64, 4., 2., 5., 3., 6.];
    let b_t = [7.0f64, 9., 11., 8., 10., 12.];
    let mut c = [1.0f64; 4];
    reference::gemm(dims, &a_t, Transpose::Yes, &b_t, Transpose::Yes, &mut c, Accumulate::Add);
    assert_eq!(c, want.map(|v| v + 1.0));
}

#[test]
fn empty_sums_zero_or_keep_c() {
    let dims = GemmDims::new(2, 3, 0);
    let mut c = vec![f32::NAN; 6];
    gemm(dims, &[], Transpose::No, &[], Transpose::No, &mut c, Accumulate::Overwrite).unwrap();
    assert_eq!(c, vec![0.0; 6]);
    let mut c = vec![5.0; 6];
    gemm(dims, &[], Transpose::No, &[], Transpose::No, &mut c, Accumulate::Add).unwrap();
    assert_eq!(c, vec![5.0; 6]);
}

#[test]
fn wrong_lengths_name_gemm_and_the_shape() {
    let dims = GemmDims::new(4, 5, 3);
    let (a, b, mut c) = (vec![0.0; 12], vec![0.0; 15], vec![0.0; 20]);
    let ok = gemm(dims, &a, Transpose::Yes, &b, Transpose::No, &mut c, Accumulate::Add);
    assert_eq!(ok, Ok(()));
    // B stored transposed is n×k = 5×3: 15 elements, so give 14.
    let err = gemm(dims, &a, Transpose::No, &b[..14], Transpose::Yes, &mut c, Accumulate::Add)
        .unwrap_err();
    assert_eq!(
        err,
        TensorError::LengthMismatch { op: "gemm", shape: vec![5, 3], expected: 15, got: 14 }
    );
    assert!(err.to_string().starts_with("gemm: shape [5, 3]"), "{err}");
    let err = gemm(dims, &a[..11], Transpose::Yes, &b, Transpose::No, &mut c, Accumulate::Add)
        .unwrap_err();
    assert_eq!(
        err,
        TensorError::LengthMismatch { op: "gemm", shape: vec![3, 4], expected: 12, got: 11 }
    );
    let err = gemm(dims, &a, Transpose::No, &b, Transpose::No, &mut c[..19], Accumulate::Add)
        .unwrap_err();
    assert_eq!(
        err,
        TensorError::LengthMismatch { op: "gemm", shape: vec![4, 5], expected: 20, got: 19 }
    );
}

#[test]
fn overflowing_sizes_are_rejected() {
    let dims = GemmDims::new(usize::MAX, 2, 2);
    let err = gemm(dims, &[], Transpose::No, &[0.0; 4], Transpose::No, &mut [], Accumulate::Add)
        .unwrap_err();
    assert!(matches!(err, TensorError::InvalidParameter { op: "gemm", .. }), "{err}");
}

#[test]
fn matmul_multiplies_and_checks_shapes() {
    let a = Tensor::from_vec(&[2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap();
    let b = Tensor::from_vec(&[3, 2], vec![7., 8., 9., 10., 11., 12.]).unwrap();
    let c = matmul(&a, &b).unwrap();
    assert_eq!(c.dims(), &[2, 2]);
    assert_eq!(c.data(), &[58.0, 64.0, 139.0, 154.0]);
    assert!(matches!(matmul(&a, &a), Err(TensorError::ShapeMismatch { op: "matmul", .. })));
    let v = Tensor::zeros(&[3]);
    assert!(matches!(matmul(&a, &v), Err(TensorError::WrongRank { op: "matmul", .. })));
}

/// Stores `x` (`rows` stored rows of `cols` values) as overlapping shifted rows of one buffer:
/// row `r` at a random start. Returns the buffer, the starts, and `x` itself materialised.
fn shifted_rows(rows: usize, cols: usize, rng: &mut Rng) -> (Vec<f32>, Vec<usize>, Vec<f32>) {
    // Fewer floats than rows·cols (rows overlap, as im2col's do) unless the rows are short.
    let len = cols + rows + 7;
    let data = random(len, rng);
    let starts: Vec<usize> =
        (0..rows).map(|_| (rng.uniform(0.0, 1.0) * (len - cols + 1) as f32) as usize).collect();
    let starts: Vec<usize> = starts.into_iter().map(|s| s.min(len - cols)).collect();
    let dense = starts.iter().flat_map(|&s| data[s..s + cols].iter().copied()).collect();
    (data, starts, dense)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// An operand given as rows at offsets packs exactly the values of the same matrix stored
    /// densely, so the two products have the same bits (on either side, either transpose, on
    /// the pool or on the caller's thread) once both take the packed path and cut k alike.
    #[test]
    fn row_starts_give_the_bits_of_the_dense_matrix(
        m in edge_size(MC),
        n in edge_size(NC),
        k in prop_oneof![edge_size(KC), edge_size(KC_IN_PLACE)],
        ta in transpose(),
        tb in transpose(),
        side_a in any::<bool>(),
        seed in any::<u64>(),
    ) {
        prop_assume!(m * n * k <= 2_000_000);
        let dims = GemmDims::new(m, n, k);
        let mut rng = Rng::new(seed);
        let ([a_rows, a_cols], [b_rows, b_cols]) = (dims.a_shape(ta), dims.b_shape(tb));
        let (a_data, a_starts, a_dense) = shifted_rows(a_rows, a_cols, &mut rng);
        let (b_data, b_starts, b_dense) = shifted_rows(b_rows, b_cols, &mut rng);
        let mut want = vec![0.0; m * n];
        gemm_on(Threads::Pool, dims, Operand::new(&a_dense, ta), Operand::new(&b_dense, tb), &mut want, Accumulate::Overwrite)
            .expect("dense lengths match");
        let (a, b) = if side_a {
            (Operand::rows_at(&a_data, ta, &a_starts), Operand::new(&b_dense, tb))
        } else {
            (Operand::new(&a_dense, ta), Operand::rows_at(&b_data, tb, &b_starts))
        };
        for threads in [Threads::Pool, Threads::Caller] {
            let mut got = vec![f32::NAN; m * n];
            gemm_on(threads, dims, a, b, &mut got, Accumulate::Overwrite).expect("rows fit");
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            // B read in place (untransposed, at offsets) cuts k into blocks of up to
            // KC_IN_PLACE rather than KC, which changes the order of the sum once k > KC.
            let in_place = !side_a && tb == Transpose::No;
            if m * n * k < SMALL_PROBLEM || (in_place && k > KC) {
                // The dense product went to the triple loop, the shifted one is always packed.
                prop_assert!(max_error(&got, &widen(&want)) <= 2e-6 * (k as f64 + 2.0));
            } else {
                prop_assert!(bits(&got) == bits(&want), "m={m} n={n} k={k} {ta:?} {tb:?} {threads:?}");
            }
        }
    }
}

#[test]
fn row_starts_past_the_end_or_miscounted_are_errors() {
    let dims = GemmDims::new(2, 3, 4);
    let (a, b, mut c) = (vec![0.0; 8], vec![0.0; 10], vec![0.0; 6]);
    let a = Operand::new(&a, Transpose::No);
    // B stored k×n = 4×3: four rows of 3 values from a 10-float buffer.
    let fits = Operand::rows_at(&b, Transpose::No, &[0, 7, 3, 1]);
    assert_eq!(gemm_on(Threads::Pool, dims, a, fits, &mut c, Accumulate::Overwrite), Ok(()));
    let past = Operand::rows_at(&b, Transpose::No, &[0, 8, 3, 1]);
    let err = gemm_on(Threads::Pool, dims, a, past, &mut c, Accumulate::Overwrite).unwrap_err();
    assert!(err.to_string().contains("B's row 1 starts at 8"), "{err}");
    let three = Operand::rows_at(&b, Transpose::No, &[0, 1, 2]);
    let err = gemm_on(Threads::Pool, dims, a, three, &mut c, Accumulate::Overwrite).unwrap_err();
    assert_eq!(
        err,
        TensorError::LengthMismatch { op: "gemm", shape: vec![4, 3], expected: 4, got: 3 }
    );
}

/// Stores `x` (`rows` stored rows of `cols` values) as rows at random starts of one buffer, each
/// row's columns in runs of `len` with a random gap (0 to 3 floats) after every run. Returns the
/// buffer, the row starts, the run starts and `x` itself materialised.
fn rows_in_runs(
    rows: usize,
    cols: usize,
    len: usize,
    rng: &mut Rng,
) -> (Vec<f32>, Vec<usize>, Vec<usize>, Vec<f32>) {
    let mut runs = Vec::with_capacity(cols.div_ceil(len));
    let mut at = 0;
    for s in 0..cols.div_ceil(len) {
        runs.push(at);
        at += len.min(cols - s * len) + (rng.uniform(0.0, 4.0) as usize).min(3);
    }
    let extent = runs.last().map_or(0, |&last| last + cols - (runs.len() - 1) * len);
    let len_data = extent + rows + 7;
    let data = random(len_data, rng);
    let starts: Vec<usize> = (0..rows)
        .map(|_| {
            ((rng.uniform(0.0, 1.0) * (len_data - extent + 1) as f32) as usize)
                .min(len_data - extent)
        })
        .collect();
    let offset = |c: usize| runs[c / len] + c % len;
    let dense = starts.iter().flat_map(|&s| (0..cols).map(move |c| s + offset(c))).map(|i| data[i]);
    let dense = dense.collect();
    (data, starts, runs, dense)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// An operand whose rows lie in runs gives the bits of the same matrix as plain shifted
    /// rows (materialised, then read at offsets), on either side and either transpose, on the
    /// pool or the caller's thread: op(B) = B in runs of whole vectors is read in place as
    /// shifted rows are, and everything else is packed value by value. Packed and in-place B
    /// cut k differently once k > KC, which only changes the rounding.
    #[test]
    fn runs_give_the_bits_of_the_shifted_rows(
        m in edge_size(MC),
        n in edge_size(NC),
        k in prop_oneof![edge_size(KC), edge_size(KC_IN_PLACE)],
        len in prop::sample::select(vec![
            1,
            3,
            LANES - 1,
            LANES,
            LANES + 1,
            LANES + LANES / 2,
            2 * LANES,
            3 * LANES - 1,
            3 * LANES,
            3 * LANES + LANES / 2,
        ]),
        t in transpose(),
        side_a in any::<bool>(),
        seed in any::<u64>(),
    ) {
        prop_assume!(m * n * k <= 2_000_000);
        let dims = GemmDims::new(m, n, k);
        let mut rng = Rng::new(seed);
        let [rows, cols] = if side_a { dims.a_shape(t) } else { dims.b_shape(t) };
        let (data, starts, runs, dense) = rows_in_runs(rows, cols, len, &mut rng);
        let runs = Runs { len, starts: &runs };
        let plain: Vec<usize> = (0..rows).map(|r| r * cols).collect();
        let other_len = if side_a { k * n } else { m * k };
        let other = random(other_len, &mut rng);
        let other = Operand::new(&other, Transpose::No);
        let in_runs = Operand::rows_in_runs(&data, t, &starts, runs);
        let shifted = Operand::rows_at(&dense, t, &plain);
        let product = |x: Operand, threads: Threads| {
            let mut c = vec![f32::NAN; m * n];
            let (a, b) = if side_a { (x, other) } else { (other, x) };
            gemm_on(threads, dims, a, b, &mut c, Accumulate::Overwrite).expect("rows fit");
            c
        };
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for threads in [Threads::Pool, Threads::Caller] {
            let (got, want) = (product(in_runs, threads), product(shifted, threads));
            // These runs lie in order, so op(B) = B is read in place once they are at least a
            // vector long (vectors crossing into the next run are two loads).
            let in_place = !side_a && t == Transpose::No && len >= LANES;
            if !side_a && t == Transpose::No && !in_place && k > KC {
                prop_assert!(max_error(&got, &widen(&want)) <= 2e-6 * (k as f64 + 2.0));
            } else {
                prop_assert!(bits(&got) == bits(&want), "m={m} n={n} k={k} len={len} {t:?}");
            }
        }
    }
}

/// Runs at least a vector long but out of order (the last row's columns first) cannot be read
/// in place with vectors crossing into the next run, so they are packed: the product is still
/// the dense one (bit for bit while the sum is one block, `k ≤ KC`).
#[test]
fn runs_out_of_order_are_packed_and_give_the_product() {
    let (m, k, len) = (MR + 3, 37, LANES + LANES / 2);
    let mut rng = Rng::new(7);
    for n in [2 * len, 4 * len - 3, NR * 3 + 1] {
        let dims = GemmDims::new(m, n, k);
        let runs = n.div_ceil(len);
        // Run s of every row at (runs − 1 − s)·(len + 2): reversed, with gaps of 2.
        let run_starts: Vec<usize> = (0..runs).map(|s| (runs - 1 - s) * (len + 2)).collect();
        let row = runs * (len + 2);
        let data = random(k * row, &mut rng);
        let starts: Vec<usize> = (0..k).map(|p| p * row).collect();
        let offset = |c: usize| run_starts[c / len] + c % len;
        let dense: Vec<f32> = (0..k)
            .flat_map(|p| (0..n).map(move |c| (p, c)))
            .map(|(p, c)| data[p * row + offset(c)])
            .collect();
        let a = random(m * k, &mut rng);
        let product = |b: Operand| {
            let mut c = vec![f32::NAN; m * n];
            let a = Operand::new(&a, Transpose::No);
            gemm_on(Threads::Caller, dims, a, b, &mut c, Accumulate::Overwrite).expect("fits");
            c
        };
        let runs = Runs { len, starts: &run_starts };
        let got = product(Operand::rows_in_runs(&data, Transpose::No, &starts, runs));
        let want = product(Operand::new(&dense, Transpose::No));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "n = {n}");
    }
}

#[test]
fn runs_past_the_end_or_miscounted_are_errors() {
    let dims = GemmDims::new(2, 5, 2);
    let (a, b, mut c) = (vec![0.0; 4], vec![0.0; 12], vec![0.0; 10]);
    let a = Operand::new(&a, Transpose::No);
    // B stored k×n = 2×5: rows at 0 and 4, columns in runs of 2 at 0, 3 and 6 (the last run
    // holds one column): the second row ends at 4 + 6 + 1 = 11 ≤ 12.
    let runs = Runs { len: 2, starts: &[0, 3, 6] };
    let fits = Operand::rows_in_runs(&b, Transpose::No, &[0, 4], runs);
    assert_eq!(gemm_on(Threads::Pool, dims, a, fits, &mut c, Accumulate::Overwrite), Ok(()));
    let past = Operand::rows_in_runs(&b, Transpose::No, &[0, 6], runs);
    let err = gemm_on(Threads::Pool, dims, a, past, &mut c, Accumulate::Overwrite).unwrap_err();
    assert!(err.to_string().contains("B's row 1 starts at 6"), "{err}");
    let two_runs = Runs { len: 2, starts: &[0, 3] };
    let short = Operand::rows_in_runs(&b, Transpose::No, &[0, 4], two_runs);
    let err = gemm_on(Threads::Pool, dims, a, short, &mut c, Accumulate::Overwrite).unwrap_err();
    assert!(err.to_string().contains("need 3 run starts, got 2"), "{err}");
}

/// Sums long enough to be cut into slices, over small C's whose sides sit on the blocking's
/// edges, in all transposes and both modes.
fn sliced_sum() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![
        2 * SUM_SLICE,
        2 * SUM_SLICE + 1,
        3 * SUM_SLICE - 1,
        4 * SUM_SLICE + 7,
        2 * SUM_SLICE + KC + 3,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn sliced_sums_equal_the_triple_loop(
        m in 1..=2 * MR + 1,
        n in 1..=NR + 1,
        k in sliced_sum(),
        ta in transpose(),
        tb in transpose(),
        acc in accumulate(),
        seed in any::<u64>(),
    ) {
        let dims = GemmDims::new(m, n, k);
        prop_assert!(sum_slice(dims, true).is_some(), "{dims:?} must be cut into slices");
        let case = Case::new(dims, ta, tb, acc, seed);
        let err = max_error(&case.run(), &case.want());
        prop_assert!(err <= case.tolerance(), "m={m} n={n} k={k} {ta:?} {tb:?} {acc:?}: error {err}");
    }
}

/// The documented order of a sliced sum: C = C + P_0 + P_1 + … with P_s the GEMM of slice s
/// alone (short enough not to be cut again), added in slice order. Checked bit for bit
/// against those GEMMs run one by one, for C = and C +=.
#[test]
fn a_sliced_sum_adds_the_slices_products_in_order() {
    let (m, n, k) = (13, 70, 3 * SUM_SLICE + 100);
    let dims = GemmDims::new(m, n, k);
    let len = sum_slice(dims, true).expect("k is long enough to be cut into slices");
    assert_eq!(k.div_ceil(len), 3, "three slices, the last one shorter");
    for acc in [Accumulate::Overwrite, Accumulate::Add] {
        // A [m, k] as stored, B [n, k] used transposed: the linear layer's forward.
        let case = Case::new(dims, Transpose::No, Transpose::Yes, acc, 5);
        let mut want = case.c.clone();
        for (s, first) in (0..k).step_by(len).enumerate() {
            let depth = first..k.min(first + len);
            let cut = |x: &[f32], rows: usize| -> Vec<f32> {
                x.chunks_exact(k).take(rows).flat_map(|row| &row[depth.clone()]).copied().collect()
            };
            let (a, b) = (cut(&case.a, m), cut(&case.b, n));
            let slice_dims = GemmDims::new(m, n, depth.len());
            assert!(sum_slice(slice_dims, true).is_none());
            if s == 0 {
                gemm(slice_dims, &a, Transpose::No, &b, Transpose::Yes, &mut want, acc)
                    .expect("lengths match by construction");
            } else {
                let mut p = vec![0.0; m * n];
                gemm(
                    slice_dims,
                    &a,
                    Transpose::No,
                    &b,
                    Transpose::Yes,
                    &mut p,
                    Accumulate::Overwrite,
                )
                .expect("lengths match by construction");
                want.iter_mut().zip(&p).for_each(|(w, &p)| *w += p);
            }
        }
        let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert!(bits(&case.run()) == bits(&want), "{acc:?}: not C + P_0 + P_1 + P_2 in order");
    }
}
