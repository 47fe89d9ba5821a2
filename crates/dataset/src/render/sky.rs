//! What happens between the planet and the sensor: faint star fields and sky glow (against the
//! "no stars means solar system" shortcut), atmospheric seeing as a Gaussian blur, and sensor
//! noise. Works on linear-light RGB buffers `[H·W]` in row-major order.

use tensor::Rng;

/// Adds `count` faint stars to `sky` (`side`×`side`, linear RGB): Gaussian spots of
/// σ = 0.6–0.9 px whose peak brightness is mostly faint (`0.03 + 0.7·u⁴`, u uniform) and whose
/// colour ranges from bluish to orange.
pub fn add_stars(sky: &mut [[f32; 3]], side: usize, count: usize, rng: &mut Rng) {
    for _ in 0..count {
        let cx = rng.uniform(0.0, side as f32);
        let cy = rng.uniform(0.0, side as f32);
        let peak = 0.03 + 0.7 * rng.next_f32().powi(4);
        let sigma = rng.uniform(0.6, 0.9);
        let warmth = rng.uniform(-1.0, 1.0);
        let tint = [1.0 + 0.15 * warmth, 1.0, 1.0 - 0.15 * warmth];
        let reach = (3.0 * sigma).ceil() as i64;
        for dy in -reach..=reach {
            for dx in -reach..=reach {
                let (px, py) = (cx.floor() as i64 + dx, cy.floor() as i64 + dy);
                if px < 0 || py < 0 || px >= side as i64 || py >= side as i64 {
                    continue;
                }
                let (fx, fy) = (px as f32 + 0.5 - cx, py as f32 + 0.5 - cy);
                let g = peak * (-(fx * fx + fy * fy) / (2.0 * sigma * sigma)).exp();
                let p = &mut sky[py as usize * side + px as usize];
                for k in 0..3 {
                    p[k] += g * tint[k];
                }
            }
        }
    }
}

/// Normalised 1-D Gaussian taps for standard deviation `sigma` (px), radius ⌈3σ⌉.
fn gaussian_taps(sigma: f32) -> Vec<f32> {
    let r = (3.0 * sigma).ceil().max(1.0) as i64;
    let taps: Vec<f32> =
        (-r..=r).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let sum: f32 = taps.iter().sum();
    taps.into_iter().map(|t| t / sum).collect()
}

/// Separable Gaussian blur of a `side`×`side` image with clamped borders:
/// `y[i,j] = Σ_a Σ_b g[a]·g[b]·x[clamp(i+a), clamp(j+b)]`. A σ ≤ 0 leaves it unchanged.
pub fn gaussian_blur(img: &[[f32; 3]], side: usize, sigma: f32) -> Vec<[f32; 3]> {
    if sigma <= 0.0 {
        return img.to_vec();
    }
    let taps = gaussian_taps(sigma);
    let r = (taps.len() / 2) as i64;
    let clamp = |i: i64| i.clamp(0, side as i64 - 1) as usize;
    let pass = |src: &[[f32; 3]], horizontal: bool| -> Vec<[f32; 3]> {
        let mut out = vec![[0.0f32; 3]; side * side];
        for row in 0..side {
            for col in 0..side {
                let mut acc = [0.0f32; 3];
                for (a, &g) in taps.iter().enumerate() {
                    let d = a as i64 - r;
                    let (y, x) = if horizontal {
                        (row, clamp(col as i64 + d))
                    } else {
                        (clamp(row as i64 + d), col)
                    };
                    let s = src[y * side + x];
                    for k in 0..3 {
                        acc[k] += g * s[k];
                    }
                }
                out[row * side + col] = acc;
            }
        }
        out
    };
    pass(&pass(img, true), false)
}

/// Adds white Gaussian noise of standard deviation `sigma` to every channel of every pixel.
pub fn add_noise(img: &mut [[f32; 3]], sigma: f32, rng: &mut Rng) {
    if sigma <= 0.0 {
        return;
    }
    for p in img.iter_mut() {
        for c in p.iter_mut() {
            *c += sigma * rng.normal();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_a_constant_image_constant_and_preserves_total_light() {
        let side = 9;
        let flat = vec![[0.25f32, 0.5, 0.75]; side * side];
        for p in gaussian_blur(&flat, side, 1.3) {
            assert!((p[0] - 0.25).abs() < 1e-6 && (p[2] - 0.75).abs() < 1e-6);
        }
        let mut dot = vec![[0.0f32; 3]; side * side];
        dot[4 * side + 4] = [1.0, 1.0, 1.0];
        let b = gaussian_blur(&dot, side, 0.8);
        let total: f32 = b.iter().map(|p| p[0]).sum();
        assert!((total - 1.0).abs() < 1e-5, "total {total}");
        assert!(b[4 * side + 4][0] < 1.0 && b[4 * side + 5][0] > 0.0);
    }
}
