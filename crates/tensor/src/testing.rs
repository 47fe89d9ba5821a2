//! Test helpers shared by every op's tests (and, behind the `testing` feature, by other crates'):
//! tolerant comparison, central finite differences, and proptest strategies that generate whole
//! op cases (shapes, parameters, inputs and a random upstream gradient `r`).
//!
//! Values come from [`Rng`] seeded by proptest, so a failing case replays from its seed, while
//! proptest shrinks the shapes (the part worth shrinking).

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::ops::conv2d::Conv2dParams;
use crate::ops::max_pool2d::Pool2dParams;
use crate::{Real, Rng, Shape4, TensorError};

/// The worst element of a failed [`check_close`]: where it is and by how much it misses.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Flat index of the element with the largest excess over its tolerance.
    pub index: usize,
    /// The value computed.
    pub got: f64,
    /// The value expected.
    pub want: f64,
    /// `atol + rtol·|want|` at that element.
    pub tolerance: f64,
    /// How many elements are out of tolerance.
    pub count: usize,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} element(s) out of tolerance; worst at index {}: got {}, want {}, |diff| {} > {}",
            self.count,
            self.index,
            self.got,
            self.want,
            (self.got - self.want).abs(),
            self.tolerance
        )
    }
}

/// Compares elementwise: `|got − want| ≤ atol + rtol·|want|` everywhere (NaN never passes).
///
/// # Errors
/// The worst offender as a [`Mismatch`], or index `usize::MAX` when the lengths differ.
pub fn compare<T: Real, U: Real>(
    got: &[T],
    want: &[U],
    atol: f64,
    rtol: f64,
) -> Result<(), Mismatch> {
    if got.len() != want.len() {
        return Err(Mismatch {
            index: usize::MAX,
            got: got.len() as f64,
            want: want.len() as f64,
            tolerance: 0.0,
            count: got.len().abs_diff(want.len()),
        });
    }
    let mut worst: Option<(f64, Mismatch)> = None;
    let mut count = 0;
    for (index, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.to_f64(), w.to_f64());
        let tolerance = atol + rtol * w.abs();
        let diff = (g - w).abs();
        // NaN (in either value) counts as a failure.
        if diff.is_nan() || diff > tolerance {
            count += 1;
            let excess = if diff.is_nan() { f64::INFINITY } else { diff - tolerance };
            if worst.as_ref().is_none_or(|(e, _)| excess > *e) {
                let m = Mismatch { index, got: g, want: w, tolerance, count: 0 };
                worst = Some((excess, m));
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((_, m)) => Err(Mismatch { count, ..m }),
    }
}

/// True when [`compare`] finds every element within `atol + rtol·|want|`.
pub fn all_close<T: Real, U: Real>(got: &[T], want: &[U], atol: f64, rtol: f64) -> bool {
    compare(got, want, atol, rtol).is_ok()
}

/// [`compare`] as a proptest failure: use it with `?` inside `proptest!` bodies.
///
/// # Errors
/// A [`TestCaseError::Fail`] naming `what` and the worst element.
pub fn check_close<T: Real, U: Real>(
    what: &str,
    got: &[T],
    want: &[U],
    atol: f64,
    rtol: f64,
) -> Result<(), TestCaseError> {
    compare(got, want, atol, rtol).map_err(|m| TestCaseError::fail(format!("{what}: {m}")))
}

/// Central finite differences: `g[i] = (f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h`, error O(h²).
pub fn central_difference(f: impl Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    let mut probe = x.to_vec();
    (0..x.len())
        .map(|i| {
            probe[i] = x[i] + h;
            let up = f(&probe);
            probe[i] = x[i] - h;
            let down = f(&probe);
            probe[i] = x[i];
            (up - down) / (2.0 * h)
        })
        .collect()
}

/// `Σ a[i]·b[i]`, the loss `Σ y·r` whose gradient with respect to `y` is `r`.
pub fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    debug_assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(T::ZERO, |acc, (&x, &y)| acc + x * y)
}

/// `len` values uniform in [−1, 1), drawn from `rng`, in f64.
pub fn uniform_vec(rng: &mut Rng, len: usize) -> Vec<f64> {
    (0..len).map(|_| rng.next_f64() * 2.0 - 1.0).collect()
}

/// Rounds every value to f32 (and keeps it as f64), so f32 and f64 runs see identical inputs.
pub fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Widens f32 values to f64.
pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// One conv2d problem: shapes, parameters, inputs and an upstream gradient `r` for `loss = Σ y·r`.
/// All values are f32-representable, so f32 and f64 runs start from the same numbers.
#[derive(Debug, Clone)]
pub struct Conv2dCase {
    /// Input shape `[N, C_in, H, W]`.
    pub x_shape: Shape4,
    /// Weight shape `[C_out, C_in, KH, KW]` (stored in a [`Shape4`] as n, c, h, w).
    pub w_shape: Shape4,
    /// Stride and padding.
    pub p: Conv2dParams,
    /// Output height and width.
    pub out_hw: (usize, usize),
    /// Input, `x_shape.len()` values.
    pub x: Vec<f64>,
    /// Weights, `w_shape.len()` values.
    pub w: Vec<f64>,
    /// Bias, `C_out` values.
    pub b: Vec<f64>,
    /// Upstream gradient, one value per output element `[N, C_out, OH, OW]`.
    pub r: Vec<f64>,
}

impl Conv2dCase {
    /// A case with the given shapes and values drawn from `Rng::new(seed)`.
    ///
    /// # Errors
    /// The errors of [`Conv2dParams::output_hw`] when the kernel does not fit.
    pub fn new(
        x_shape: Shape4,
        w_shape: Shape4,
        p: Conv2dParams,
        seed: u64,
    ) -> Result<Self, TensorError> {
        let out_hw = p.output_hw(x_shape.h, x_shape.w, w_shape.h, w_shape.w)?;
        let mut rng = Rng::new(seed);
        let mut draw = |len| to_f64(&to_f32(&uniform_vec(&mut rng, len)));
        let x = draw(x_shape.len());
        let w = draw(w_shape.len());
        let b = draw(w_shape.n);
        let r = draw(x_shape.n * w_shape.n * out_hw.0 * out_hw.1);
        Ok(Self { x_shape, w_shape, p, out_hw, x, w, b, r })
    }

    /// Output shape `[N, C_out, OH, OW]`.
    pub fn y_shape(&self) -> Shape4 {
        Shape4::new(self.x_shape.n, self.w_shape.n, self.out_hw.0, self.out_hw.1)
    }
}

/// Conv2d cases with `N ≤ max_n`, `C_in, C_out ≤ max_c`, `H, W ≤ max_hw`, kernels up to 5×5
/// (rectangular too), stride 1..=3 and padding 0..=2. Windows may exceed the unpadded input
/// (as long as they fit the padded one) and may barely fit it.
pub fn conv2d_case(max_n: usize, max_c: usize, max_hw: usize) -> impl Strategy<Value = Conv2dCase> {
    let max_hw = max_hw.max(1);
    (1..=max_n.max(1), 1..=max_c.max(1), 1..=max_c.max(1), 1..=5usize, 1..=5usize, 1..=3usize)
        .prop_flat_map(move |(n, c_in, c_out, kh, kw, stride)| {
            (
                Just((n, c_in, c_out, kh, kw, stride)),
                0..=2usize,
                1..=max_hw,
                1..=max_hw,
                any::<u64>(),
            )
        })
        .prop_map(|((n, c_in, c_out, kh, kw, stride), padding, h, w, seed)| {
            // Grow the input until the window fits the padded input: this makes
            // "barely fits" (H + 2·pad = KH) a common case rather than a rejected one.
            let h = h.max(kh.saturating_sub(2 * padding)).max(1);
            let w = w.max(kw.saturating_sub(2 * padding)).max(1);
            let p = Conv2dParams { stride, padding };
            let (x_shape, w_shape) = (Shape4::new(n, c_in, h, w), Shape4::new(c_out, c_in, kh, kw));
            Conv2dCase::new(x_shape, w_shape, p, seed).expect("input grown to fit the window")
        })
}

/// One max_pool2d problem: input, window and an upstream gradient `r`.
#[derive(Debug, Clone)]
pub struct Pool2dCase {
    /// Input shape `[N, C, H, W]`.
    pub x_shape: Shape4,
    /// Window and stride.
    pub p: Pool2dParams,
    /// Output height and width.
    pub out_hw: (usize, usize),
    /// Input values; distinct, so windows have no ties.
    pub x: Vec<f64>,
    /// Upstream gradient `[N, C, OH, OW]`.
    pub r: Vec<f64>,
}

/// Max-pool cases with `N ≤ max_n`, `C ≤ max_c`, `H, W ≤ max_hw`, window 1..=4, stride 1..=3
/// (the hot 2×2/2 case is weighted up). Input values are a shuffled ramp: all distinct and at
/// least `1/len` apart, so no window has a near-tie and finite differences stay off the kinks.
pub fn pool2d_case(max_n: usize, max_c: usize, max_hw: usize) -> impl Strategy<Value = Pool2dCase> {
    let window = prop_oneof![Just((2usize, 2usize)), (1..=4usize, 1..=3usize)];
    (1..=max_n.max(1), 1..=max_c.max(1), 1..=max_hw.max(1), 1..=max_hw.max(1), window, any::<u64>())
        .prop_map(|(n, c, h, w, (kernel, stride), seed)| {
            let (h, w) = (h.max(kernel), w.max(kernel));
            let p = Pool2dParams { kernel, stride };
            let out_hw = p.output_hw(h, w).expect("input grown to fit the window");
            let x_shape = Shape4::new(n, c, h, w);
            let mut rng = Rng::new(seed);
            let len = x_shape.len();
            let mut x: Vec<f64> = (0..len).map(|i| i as f64 / len as f64 - 0.5).collect();
            rng.shuffle(&mut x);
            let x = to_f64(&to_f32(&x));
            let r = to_f64(&to_f32(&uniform_vec(&mut rng, n * c * out_hw.0 * out_hw.1)));
            Pool2dCase { x_shape, p, out_hw, x, r }
        })
}

/// Arbitrary shapes of rank 0..=`max_rank` with every dimension in 0..=`max_dim`: wrong ranks,
/// empty dimensions and mismatched sizes, for checking that public entry points return errors
/// rather than panic.
pub fn any_dims(max_rank: usize, max_dim: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..=max_dim, 0..=max_rank)
}

/// A tensor of shape `dims` with values in [−1, 1) from `Rng::new(seed)`.
pub fn random_tensor(dims: &[usize], seed: u64) -> crate::Tensor {
    let mut rng = Rng::new(seed);
    crate::Tensor::from_fn(dims, |_| rng.uniform(-1.0, 1.0))
}
