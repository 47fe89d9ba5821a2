//! Perspective warp with torchvision's semantics (`RandomPerspective(distortion_scale, p, fill)`
//! and `perspective(img, startpoints, endpoints)`).
//!
//! The four corners `start` of the input move to `end`. The warp is a homography: output pixel
//! centre `(x, y) = (j + ½, i + ½)` reads the input at
//!
//! `u = (a·x + b·y + c) / (g·x + h·y + 1)`, `v = (d·x + e·y + f) / (g·x + h·y + 1)`
//!
//! (with `x, y, u, v` measured from the centres of the two quadrilaterals: see
//! [`PerspectiveParams::homography`]), where the eight coefficients solve the 8×8 linear system
//! mapping each `end` point to its `start` point (solved here by Gaussian elimination in f64; torchvision uses least squares,
//! which is the same exact solution for four points in general position), then rounded to f32
//! as torchvision does. The input is sampled
//! bilinearly at `(u − ½, v − ½)` with zeros outside (`grid_sample(align_corners=False)`), and a
//! ones-mask sampled the same way blends in the fill: `out = mask·(sample − fill) + fill`.

use crate::{AugmentError, CHANNELS, Image};
use tensor::Rng;

/// Sampling limits of torchvision's `RandomPerspective`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomPerspective {
    /// How far corners may move, in `[0, 1]`: each corner moves up to
    /// `distortion_scale · side / 2` pixels inward along each axis (torchvision's default 0.5).
    pub distortion_scale: f32,
    /// The value of pixels that come from outside the input (torchvision's default 0, black).
    pub fill: f32,
}

/// One concrete warp: corners `start` (top-left, top-right, bottom-right, bottom-left of the
/// input, as `[x, y]`) move to `end`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerspectiveParams {
    /// Input corners `[x, y]`.
    pub start: [[f64; 2]; 4],
    /// Where they go in the output.
    pub end: [[f64; 2]; 4],
    /// Fill for pixels mapped from outside the input.
    pub fill: f32,
}

impl RandomPerspective {
    /// Checks `0 ≤ distortion_scale ≤ 1`.
    ///
    /// # Errors
    /// [`AugmentError::BadParameter`] otherwise.
    pub fn validate(&self) -> Result<(), AugmentError> {
        if !(0.0..=1.0).contains(&self.distortion_scale) {
            return Err(AugmentError::bad(
                "RandomPerspective",
                format!("distortion_scale {} must be in [0, 1]", self.distortion_scale),
            ));
        }
        Ok(())
    }

    /// torchvision's `RandomPerspective.get_params` for a `width × height` image: with
    /// `bw = ⌊d·⌊W/2⌋⌋ + 1` and `bh = ⌊d·⌊H/2⌋⌋ + 1`, each corner's x is drawn from the `bw`
    /// integers nearest its own side and its y from the `bh` nearest.
    pub fn sample(&self, width: usize, height: usize, rng: &mut Rng) -> PerspectiveParams {
        let (w, h) = (width as f64, height as f64);
        let bw = (f64::from(self.distortion_scale) * (width / 2) as f64) as usize + 1;
        let bh = (f64::from(self.distortion_scale) * (height / 2) as f64) as usize + 1;
        let mut near = |bound: usize| rng.below(bound) as f64;
        let top_left = [near(bw), near(bh)];
        let top_right = [w - 1.0 - near(bw), near(bh)];
        let bottom_right = [w - 1.0 - near(bw), h - 1.0 - near(bh)];
        let bottom_left = [near(bw), h - 1.0 - near(bh)];
        PerspectiveParams {
            start: [[0.0, 0.0], [w - 1.0, 0.0], [w - 1.0, h - 1.0], [0.0, h - 1.0]],
            end: [top_left, top_right, bottom_right, bottom_left],
            fill: self.fill,
        }
    }
}

/// Solves `A·z = rhs` for 8 unknowns by Gaussian elimination with partial pivoting.
/// `None` when the system is (numerically) singular.
fn solve8(mut a: [[f64; 8]; 8], mut rhs: [f64; 8]) -> Option<[f64; 8]> {
    for col in 0..8 {
        let pivot = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-10 {
            return None;
        }
        a.swap(col, pivot);
        rhs.swap(col, pivot);
        for row in col + 1..8 {
            let m = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (x, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= m * p;
            }
            rhs[row] -= m * rhs[col];
        }
    }
    let mut z = [0.0; 8];
    for row in (0..8).rev() {
        let tail: f64 = (row + 1..8).map(|k| a[row][k] * z[k]).sum();
        z[row] = (rhs[row] - tail) / a[row][row];
    }
    Some(z)
}

/// A homography written about two centres: output point `(x, y)` reads the input at
/// `source + (a·x' + b·y' + c, d·x' + e·y' + f) / (g·x' + h·y' + 1)` where
/// `(x', y') = (x, y) − target` (centres of the `end` and `start` quadrilaterals).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography {
    /// `[a, b, c, d, e, f, g, h]`.
    pub coefficients: [f64; 8],
    /// Centre of the `end` corners (output side).
    pub target: [f64; 2],
    /// Centre of the `start` corners (input side).
    pub source: [f64; 2],
}

impl PerspectiveParams {
    /// The homography mapping output points to input points: the 8×8 system of torchvision's
    /// `_get_perspective_coeffs(endpoints, startpoints)`, written about the two quadrilaterals'
    /// centres. torchvision's form fixes the denominator to 1 at the output's *origin*, which fails
    /// when the warp sends the origin to infinity (strong distortions of narrow images do); a
    /// quadrilateral's centre maps to the other's interior, never to infinity, so the centred
    /// system is solvable whenever the corners are in general position. Same map, so same output.
    ///
    /// # Errors
    /// [`AugmentError::BadParameter`] when the corners are degenerate (three in a line).
    pub fn homography(&self) -> Result<Homography, AugmentError> {
        let centre = |pts: &[[f64; 2]; 4]| {
            let sum = pts.iter().fold([0.0, 0.0], |acc, p| [acc[0] + p[0], acc[1] + p[1]]);
            [sum[0] / 4.0, sum[1] / 4.0]
        };
        let (target, source) = (centre(&self.end), centre(&self.start));
        let mut a = [[0.0; 8]; 8];
        let mut rhs = [0.0; 8];
        for (k, (e, s)) in self.end.iter().zip(&self.start).enumerate() {
            let (x, y) = (e[0] - target[0], e[1] - target[1]);
            let (u, v) = (s[0] - source[0], s[1] - source[1]);
            a[2 * k] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y];
            a[2 * k + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y];
            rhs[2 * k] = u;
            rhs[2 * k + 1] = v;
        }
        let coefficients = solve8(a, rhs).ok_or_else(|| {
            AugmentError::bad(
                "perspective",
                format!("degenerate corners {:?} -> {:?}", self.start, self.end),
            )
        })?;
        Ok(Homography { coefficients, target, source })
    }
}

/// Warps `img` by the homography of `p` (module docs); output has the input's size.
///
/// # Errors
/// [`AugmentError::BadParameter`] for degenerate corners.
pub fn perspective(img: &Image, p: &PerspectiveParams) -> Result<Image, AugmentError> {
    // Like torchvision, the coefficients are solved in f64 and used in f32.
    let hom = p.homography()?;
    let [a, b, c, d, e, f, g, h] = hom.coefficients.map(|v| v as f32);
    let [tx, ty] = hom.target.map(|v| v as f32);
    let [sx, sy] = hom.source.map(|v| v as f32);
    let (w, hh) = (img.width(), img.height());
    let (r, g_plane, b_plane) = img.planes();
    let src = [r, g_plane, b_plane];
    let mut out = Image::filled(w, hh, 0.0);
    let (out_r, out_g, out_b) = out.planes_mut();
    let mut dst = [out_r, out_g, out_b];
    for i in 0..hh {
        let y = i as f32 + 0.5 - ty;
        for j in 0..w {
            let x = j as f32 + 0.5 - tx;
            let inv_den = 1.0 / (g * x + h * y + 1.0);
            // Input pixel coordinates (pixel centres at integers).
            let u = sx + (a * x + b * y + c) * inv_den - 0.5;
            let v = sy + (d * x + e * y + f) * inv_den - 0.5;
            // Points near the output's horizon map arbitrarily far (or to NaN when the
            // denominator is 0); clamp them just outside the image, where every tap weighs 0,
            // so the integer tap arithmetic below cannot overflow.
            let outside = |t: f32, len: usize| {
                if t.is_nan() { -2.0 } else { t.clamp(-2.0, len as f32 + 1.0) }
            };
            let (u, v) = (outside(u, w), outside(v, hh));
            let (x0, y0) = (u.floor(), v.floor());
            let (fx, fy) = (u - x0, v - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let o = i * w + j;
            let (w00, w01, w10, w11) =
                ((1.0 - fy) * (1.0 - fx), (1.0 - fy) * fx, fy * (1.0 - fx), fy * fx);
            if x0 >= 0 && y0 >= 0 && x0 + 1 < w as isize && y0 + 1 < hh as isize {
                // All four taps inside: the common case, no per-tap bounds tests.
                let k = y0 as usize * w + x0 as usize;
                let mask = w00 + w01 + w10 + w11;
                for (s, d) in src.iter().zip(dst.iter_mut()) {
                    let value = w00 * s[k] + w01 * s[k + 1] + w10 * s[k + w] + w11 * s[k + w + 1];
                    d[o] = mask * (value - p.fill) + p.fill;
                }
                continue;
            }
            // Near or past the border: taps outside the image weigh 0.
            let taps = [(y0, x0, w00), (y0, x0 + 1, w01), (y0 + 1, x0, w10), (y0 + 1, x0 + 1, w11)];
            let mut mask = 0.0f32;
            let mut acc = [0.0f32; CHANNELS];
            for (ty, tx, wt) in taps {
                if ty < 0 || tx < 0 || ty >= hh as isize || tx >= w as isize {
                    continue;
                }
                let k = ty as usize * w + tx as usize;
                mask += wt;
                for (slot, s) in acc.iter_mut().zip(&src) {
                    *slot += wt * s[k];
                }
            }
            for (value, d) in acc.iter().zip(dst.iter_mut()) {
                d[o] = mask * (value - p.fill) + p.fill;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::test_image;

    #[test]
    fn identity_corners_give_identity_warp() {
        let img = test_image(7, 5, 1);
        let (w, h) = (6.0, 4.0);
        let corners = [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]];
        let p = PerspectiveParams { start: corners, end: corners, fill: 0.0 };
        let co = p.homography().unwrap().coefficients;
        let want = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        assert!(co.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-9), "{co:?}");
        let out = perspective(&img, &p).unwrap();
        assert!(out.data().iter().zip(img.data()).all(|(a, b)| (a - b).abs() < 1e-5));
    }

    #[test]
    fn sampled_warps_stay_in_range_and_degenerate_corners_are_errors() {
        let img = test_image(16, 12, 2);
        let rp = RandomPerspective { distortion_scale: 0.6, fill: 0.0 };
        let mut rng = Rng::new(4);
        for _ in 0..10 {
            let p = rp.sample(16, 12, &mut rng);
            for (s, e) in p.start.iter().zip(&p.end) {
                assert!((s[0] - e[0]).abs() <= 5.0 && (s[1] - e[1]).abs() <= 4.0);
            }
            let out = perspective(&img, &p).unwrap();
            assert!(out.data().iter().all(|v| (0.0..=1.0 + 1e-6).contains(v)));
        }
        // Found by proptest: an 11x4 warp whose horizon crosses the output, mapping pixels to
        // near-infinite input coordinates (once an integer overflow in the tap indices).
        let img11 = test_image(11, 4, 1);
        let p = RandomPerspective { distortion_scale: 0.768_276_6, fill: 0.0 }.sample(
            11,
            4,
            &mut Rng::new(14_291_180_499_436_706_008),
        );
        let out = perspective(&img11, &p).unwrap();
        assert!(out.data().iter().all(|v| v.is_finite()));
        // Found by proptest: torchvision's origin-normalised system is singular here (the warp
        // sends the output's origin to infinity); the centred one is not.
        let start = [[0.0, 0.0], [5.0, 0.0], [5.0, 18.0], [0.0, 18.0]];
        let end = [[2.0, 6.0], [4.0, 4.0], [4.0, 12.0], [1.0, 13.0]];
        let out = perspective(&test_image(6, 19, 3), &PerspectiveParams { start, end, fill: 0.0 })
            .unwrap();
        assert!(out.data().iter().all(|v| (0.0..=1.0 + 1e-6).contains(v)));
        let flat = [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]];
        let p = PerspectiveParams { start: flat, end: flat, fill: 0.0 };
        assert!(perspective(&img, &p).is_err());
    }
}
