//! The textures the renderer samples: an equirectangular surface map and Saturn's radial ring
//! profile, both converted from sRGB to linear light once on load.
//!
//! Map convention (Stellarium's, and the one the tests pin down): column `u` of a `W`-wide map
//! holds longitude `λ = (u + ½)/W · 360° − 180°`, so longitude 0 sits at the map centre and east
//! (increasing λ) runs to the right; row `v` of an `H`-high map holds latitude
//! `φ = 90° − (v + ½)/H · 180°` (north at the top).

use image::RgbaImage;

/// sRGB-encoded value in [0, 1] → linear light (IEC 61966-2-1).
pub fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.040_45 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
}

/// Linear light → sRGB-encoded value, both in [0, 1] (input clamped).
pub fn linear_to_srgb(c: f32) -> f32 {
    let c = c.clamp(0.0, 1.0);
    if c <= 0.003_130_8 { c * 12.92 } else { 1.055 * c.powf(1.0 / 2.4) - 0.055 }
}

/// An equirectangular map in linear RGB, sampled bilinearly (wrapping in longitude).
#[derive(Debug, Clone)]
pub struct SurfaceMap {
    width: usize,
    height: usize,
    /// Row-major `[height][width]` linear RGB texels.
    texels: Vec<[f32; 3]>,
}

impl SurfaceMap {
    /// A map from 8-bit sRGB pixels with straight alpha, composited on black.
    pub fn from_rgba(img: &RgbaImage) -> Self {
        let texels = img
            .pixels()
            .map(|p| {
                let a = f32::from(p.0[3]) / 255.0;
                [0, 1, 2].map(|c| srgb_to_linear(f32::from(p.0[c]) / 255.0) * a)
            })
            .collect();
        Self { width: img.width() as usize, height: img.height() as usize, texels }
    }

    /// A map computed from `f(longitude°, latitude°)` at each texel centre (used by tests to make
    /// synthetic maps whose colour encodes the position).
    pub fn from_fn(width: usize, height: usize, f: impl Fn(f64, f64) -> [f32; 3]) -> Self {
        let mut texels = Vec::with_capacity(width * height);
        for v in 0..height {
            for u in 0..width {
                let lon = (u as f64 + 0.5) / width as f64 * 360.0 - 180.0;
                let lat = 90.0 - (v as f64 + 0.5) / height as f64 * 180.0;
                texels.push(f(lon, lat));
            }
        }
        Self { width, height, texels }
    }

    /// Width × height in texels.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Bilinear sample at longitude `lon` and latitude `lat`, both in radians.
    pub fn sample(&self, lon: f64, lat: f64) -> [f32; 3] {
        let (w, h) = (self.width as f64, self.height as f64);
        // Continuous texel coordinates whose integer parts are texel centres.
        let u = (lon / std::f64::consts::TAU + 0.5) * w - 0.5;
        let v = (0.5 - lat / std::f64::consts::PI) * h - 0.5;
        let u0 = u.floor();
        let v0 = v.floor().clamp(0.0, h - 1.0);
        let fu = (u - u0) as f32;
        let fv = if v < 0.0 || v > h - 1.0 { 0.0 } else { (v - v0) as f32 };
        let col = |i: f64| (i.rem_euclid(w)) as usize;
        let (c0, c1) = (col(u0), col(u0 + 1.0));
        let r0 = v0 as usize;
        let r1 = (r0 + 1).min(self.height - 1);
        let t = |r: usize, c: usize| self.texels[r * self.width + c];
        let (a, b, c, d) = (t(r0, c0), t(r0, c1), t(r1, c0), t(r1, c1));
        [0, 1, 2].map(|k| {
            let top = a[k] + (b[k] - a[k]) * fu;
            let bottom = c[k] + (d[k] - c[k]) * fu;
            top + (bottom - top) * fv
        })
    }

    /// Mean linear RGB over the map (texels weighted by cos latitude, i.e. by area).
    pub fn mean(&self) -> [f32; 3] {
        let mut sum = [0.0f64; 3];
        let mut weight = 0.0;
        for v in 0..self.height {
            let lat = (0.5 - (v as f64 + 0.5) / self.height as f64) * std::f64::consts::PI;
            let wgt = lat.cos();
            for u in 0..self.width {
                let t = self.texels[v * self.width + u];
                for k in 0..3 {
                    sum[k] += f64::from(t[k]) * wgt;
                }
                weight += wgt;
            }
        }
        sum.map(|s| (s / weight.max(1e-12)) as f32)
    }
}

/// Saturn's rings as a function of radius: linear RGB and opacity, sampled linearly.
#[derive(Debug, Clone)]
pub struct RingProfile {
    /// Inner and outer radius, in planet equatorial radii.
    pub inner: f32,
    /// Outer radius, in planet equatorial radii.
    pub outer: f32,
    /// Samples from `inner` (first) to `outer` (last): linear RGB and opacity.
    samples: Vec<[f32; 4]>,
}

impl RingProfile {
    /// A profile from the first row of an sRGB image (Stellarium's `saturn_rings_radial.png` is
    /// 256×2: inner edge on the left, alpha = opacity).
    pub fn from_rgba_row(img: &RgbaImage, inner: f32, outer: f32) -> Self {
        let samples = (0..img.width())
            .map(|x| {
                let p = img.get_pixel(x, 0).0;
                let rgb = [0, 1, 2].map(|c| srgb_to_linear(f32::from(p[c]) / 255.0));
                [rgb[0], rgb[1], rgb[2], f32::from(p[3]) / 255.0]
            })
            .collect();
        Self { inner, outer, samples }
    }

    /// A profile of one colour and opacity (for tests).
    pub fn uniform(inner: f32, outer: f32, rgba: [f32; 4]) -> Self {
        Self { inner, outer, samples: vec![rgba; 2] }
    }

    /// Opacity-weighted mean luminance of the ring colour (linear), 0 for fully clear rings.
    pub fn mean_luminance(&self) -> f32 {
        let (mut lum, mut weight) = (0.0f32, 0.0f32);
        for s in &self.samples {
            lum += s[3] * (0.2126 * s[0] + 0.7152 * s[1] + 0.0722 * s[2]);
            weight += s[3];
        }
        if weight > 0.0 { lum / weight } else { 0.0 }
    }

    /// Colour and opacity at radius `r` (equatorial radii); `None` outside the rings.
    pub fn at(&self, r: f64) -> Option<[f32; 4]> {
        let (inner, outer) = (f64::from(self.inner), f64::from(self.outer));
        if !(inner..=outer).contains(&r) || self.samples.is_empty() {
            return None;
        }
        let x = (r - inner) / (outer - inner) * (self.samples.len() - 1) as f64;
        let i = (x.floor() as usize).min(self.samples.len() - 1);
        let j = (i + 1).min(self.samples.len() - 1);
        let f = (x - i as f64) as f32;
        let (a, b) = (self.samples[i], self.samples[j]);
        Some([0, 1, 2, 3].map(|k| a[k] + (b[k] - a[k]) * f))
    }
}
