//! The planet renderer: a body's real equirectangular map on an oblate spheroid seen
//! orthographically, lit at a phase angle, with limb darkening, Saturn's rings, seeing blur,
//! sensor noise and (for a share of renders) a faint star field behind it.
//!
//! Pipeline of [`render`], all in linear light until the last step:
//! 1. [`render_body`]: per sub-pixel, the ray of image position (x, y) is intersected with the
//!    spheroid ([`geometry`]); the hit's longitude/latitude sample the map ([`map`]); brightness is
//!    `albedo · I(μ₀, μ)` ([`shading`]), times the rings' shadow; ring pixels in front of the
//!    disk are blended over it, ring pixels behind it are not drawn, and the planet's shadow
//!    darkens the rings. 2×2 supersampling antialiases the limb.
//! 2. Exposure: scaled so the 99.5th percentile of the disk's luminance lands at `exposure`.
//! 3. Sky: stars (linear) behind the body, then seeing blur of everything ([`sky`]).
//! 4. sRGB encoding, sky glow and noise added in display units, quantised to 8 bits.
//!
//! Not here: comets (procedural comets looked computer-made, so the data set has none) and
//! shadows of moons on planets.

pub mod geometry;
pub mod map;
pub mod shading;
pub mod sky;
#[cfg(test)]
mod tests;

use image::RgbImage;
use tensor::Rng;

use crate::labels::{SolarBody, SurfaceKind};
use geometry::{View, dot};
use map::{RingProfile, SurfaceMap, linear_to_srgb};
use shading::Scattering;

/// Everything needed to draw one body: its table row and its loaded textures.
#[derive(Debug, Clone)]
pub struct BodyAssets {
    /// The body's row of `solar_bodies.csv`.
    pub body: SolarBody,
    /// Its surface map.
    pub map: SurfaceMap,
    /// The same body seen with clouds (the Earth), if any: the cover is taken as how much
    /// brighter it is than `map`.
    pub clouds: Option<SurfaceMap>,
    /// Its rings, if any.
    pub rings: Option<RingProfile>,
}

/// A star field and sky glow behind the body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkyParams {
    /// Number of stars.
    pub stars: usize,
    /// Sky glow added in sRGB units (0–1).
    pub level: f32,
    /// Standard deviation of the sky noise in sRGB units.
    pub noise: f32,
}

/// The random choices of one render. [`RenderParams::describe`] writes them into the manifest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderParams {
    /// Sub-observer longitude, degrees (the map point at the disk centre).
    pub sub_lon_deg: f64,
    /// Sub-observer latitude, degrees.
    pub sub_lat_deg: f64,
    /// Rotation of the body's north from image up, counter-clockwise, degrees.
    pub roll_deg: f64,
    /// Sun–body–observer angle, degrees (0 = full disk lit).
    pub phase_deg: f64,
    /// Direction the light comes from in the image plane before roll, degrees from image right.
    pub sun_angle_deg: f64,
    /// Equatorial diameter of the disk as a fraction of the frame width.
    pub diameter: f64,
    /// Offset of the disk centre from the frame centre, fractions of the frame (x right, y down).
    pub offset: (f64, f64),
    /// Photometric law.
    pub scattering: Scattering,
    /// Where the disk's 99.5th-percentile luminance lands (linear, 0–1).
    pub exposure: f32,
    /// Night-side brightness relative to the day side (earthshine on the Moon), 0 for none.
    pub earthshine: f32,
    /// Strength of the limb haze (Mars), 0 for none.
    pub haze: f32,
    /// Seeing: σ of the Gaussian blur, output pixels.
    pub seeing_px: f32,
    /// Sensor noise σ, sRGB units.
    pub sensor_noise: f32,
    /// Star field and sky glow, if this render has them.
    pub sky: Option<SkyParams>,
}

/// Share of renders that get a faint star field and sky noise.
pub const STAR_FIELD_SHARE: f32 = 0.35;
/// Apparent disk diameter range (fraction of the frame) for bodies without rings.
pub const DISK_DIAMETER: (f32, f32) = (0.16, 0.46);
/// Apparent ring-system diameter range for ringed bodies (the rings reach 2.33 radii, so a
/// ringed planet's disk would otherwise be tiny or its rings cut off).
pub const RING_DIAMETER: (f32, f32) = (0.40, 0.92);

impl RenderParams {
    /// Draws the random choices for `body` within its limits from `solar_bodies.csv`.
    pub fn sample(body: &SolarBody, rng: &mut Rng) -> Self {
        let sub_lon_deg = if body.lon_fixed {
            // Optical libration in longitude: about ±7°.
            f64::from(rng.uniform(-7.0, 7.0))
        } else {
            f64::from(rng.uniform(-180.0, 180.0))
        };
        let lat = body.max_sub_observer_lat_deg;
        let sub_lat_deg = f64::from(rng.uniform(-lat, lat));
        let roll_deg = f64::from(rng.uniform(0.0, 360.0));
        let phase_deg = f64::from(rng.uniform(0.0, body.max_phase_deg));
        // The Sun lies near the body's equatorial plane: light from the east or west ± 10°.
        let side = if rng.bernoulli(0.5) { 0.0 } else { 180.0 };
        let sun_angle_deg = side + 10.0 * f64::from(rng.normal());
        let (diameter, outer) = match body.rings {
            Some((_, outer)) => {
                let extent = rng.uniform(RING_DIAMETER.0, RING_DIAMETER.1);
                (f64::from(extent / outer), f64::from(extent))
            }
            None => {
                let d = f64::from(rng.uniform(DISK_DIAMETER.0, DISK_DIAMETER.1));
                (d, d)
            }
        };
        let room = (1.0 - outer).max(0.0) / 2.0 * 0.85;
        let offset =
            (f64::from(rng.uniform(-1.0, 1.0)) * room, f64::from(rng.uniform(-1.0, 1.0)) * room);
        let scattering = match (body.kind, body.minnaert_k) {
            (SurfaceKind::Gas | SurfaceKind::Earth, Some((lo, hi))) => {
                Scattering::Minnaert { k: rng.uniform(lo, hi) }
            }
            (SurfaceKind::Earth, None) => Scattering::Minnaert { k: 1.0 },
            _ => Scattering::LommelSeeligerLambert { w: rng.uniform(0.5, 0.9) },
        };
        let exposure = rng.uniform(0.7, 1.0);
        let earthshine =
            if body.earthshine && rng.bernoulli(0.5) { rng.uniform(0.01, 0.05) } else { 0.0 };
        let haze = body.haze * rng.uniform(0.6, 1.4);
        let seeing_px = rng.uniform(0.3, 1.4);
        let sensor_noise = rng.uniform(0.002, 0.012);
        let sky = rng.bernoulli(STAR_FIELD_SHARE).then(|| SkyParams {
            stars: 8 + rng.below(73),
            level: rng.uniform(0.01, 0.06),
            noise: rng.uniform(0.008, 0.025),
        });
        Self {
            sub_lon_deg,
            sub_lat_deg,
            roll_deg,
            phase_deg,
            sun_angle_deg,
            diameter,
            offset,
            scattering,
            exposure,
            earthshine,
            haze,
            seeing_px,
            sensor_noise,
            sky,
        }
    }

    /// The parameters as `key=value` pairs separated by `;` (no commas, so no CSV quoting).
    pub fn describe(&self) -> String {
        let law = match self.scattering {
            Scattering::Minnaert { k } => format!("minnaert_k={k:.3}"),
            Scattering::LommelSeeligerLambert { w } => format!("lommel_seeliger_w={w:.3}"),
        };
        let sky = match self.sky {
            Some(s) => {
                format!("stars={};sky_level={:.3};sky_noise={:.3}", s.stars, s.level, s.noise)
            }
            None => "stars=0".to_string(),
        };
        format!(
            "sub_lon={:.2};sub_lat={:.2};roll={:.1};phase={:.2};sun_angle={:.1};diameter={:.3};dx={:.3};dy={:.3};{law};exposure={:.3};earthshine={:.3};haze={:.3};seeing_px={:.2};noise={:.4};{sky}",
            self.sub_lon_deg,
            self.sub_lat_deg,
            self.roll_deg,
            self.phase_deg,
            self.sun_angle_deg,
            self.diameter,
            self.offset.0,
            self.offset.1,
            self.exposure,
            self.earthshine,
            self.haze,
            self.seeing_px,
            self.sensor_noise,
        )
    }
}

/// Linear albedo of cloud tops (the brightest clouds on the Earth map are close to white).
const CLOUD_ALBEDO: f32 = 0.85;

/// Colour of the limb haze (linear RGB, relative to the map's mean albedo): a pale, slightly
/// warm glow like the dust haze on Mars' limb.
const HAZE_TINT: [f32; 3] = [1.3, 1.15, 1.05];

/// The body and rings alone, before exposure, sky, blur and noise: a `side`×`side` buffer of
/// premultiplied linear RGB and coverage alpha, each output pixel the mean of
/// `supersample`×`supersample` rays.
pub fn render_body(
    assets: &BodyAssets,
    p: &RenderParams,
    side: usize,
    supersample: usize,
) -> Vec<[f32; 4]> {
    let body = &assets.body;
    let view = View::new(p.sub_lon_deg, p.sub_lat_deg, f64::from(body.oblateness));
    let sun = view.direction(p.phase_deg.to_radians(), p.sun_angle_deg.to_radians());
    let (sin_roll, cos_roll) = p.roll_deg.to_radians().sin_cos();
    let radius_px = p.diameter * side as f64 / 2.0;
    let cx = side as f64 * (0.5 + p.offset.0);
    let cy = side as f64 * (0.5 + p.offset.1);
    let mean_albedo = assets.map.mean();
    // Stellarium stores the ring colours darker than the globe's map (its renderer lights them
    // separately); the real B ring is about as bright as the globe, so scale the rings to the
    // globe's mean luminance.
    let ring_gain = assets.rings.as_ref().map_or(1.0, |r| {
        let globe = 0.2126 * mean_albedo[0] + 0.7152 * mean_albedo[1] + 0.0722 * mean_albedo[2];
        let ring = r.mean_luminance();
        if ring > 1e-6 { globe / ring } else { 1.0 }
    });
    let ss = supersample.max(1);
    let weight = 1.0 / (ss * ss) as f32;

    // Colour and coverage of one ray at image-plane position (x, y) (equatorial radii, y up,
    // already rotated into the body's unrolled frame).
    let shade = |x: f64, y: f64| -> [f32; 4] {
        let mut rgb = [0.0f32; 3];
        let mut alpha = 0.0f32;
        let hit = view.hit(x, y);
        if let Some(h) = hit {
            let mut albedo = assets.map.sample(h.lon, h.lat);
            if let Some(clouds) = &assets.clouds {
                // Stellarium's `earth-clouds.png` is the Earth *with* clouds, not a coverage
                // mask: the cover is how far it brightens the cloud-free map towards white,
                // measured in display units.
                let display =
                    |c: [f32; 3]| linear_to_srgb(0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]);
                let (cloudy, clear) = (display(clouds.sample(h.lon, h.lat)), display(albedo));
                let cover = ((cloudy - clear) / (1.0 - clear).max(1e-3)).clamp(0.0, 1.0);
                albedo = albedo.map(|a| a * (1.0 - cover) + CLOUD_ALBEDO * cover);
            }
            let mu0 = dot(h.normal, sun);
            let mu = dot(h.normal, view.e_z);
            let mut light = p.scattering.brightness(mu0, mu) as f32;
            // Shadow of the rings on the disk: walk from the point towards the Sun to z = 0.
            if let (Some(rings), true) = (&assets.rings, light > 0.0 && sun[2].abs() > 1e-9) {
                let s = -h.point[2] / sun[2];
                if s > 0.0 {
                    let q = [h.point[0] + s * sun[0], h.point[1] + s * sun[1]];
                    if let Some(c) = rings.at(q[0].hypot(q[1])) {
                        light *= 1.0 - 0.85 * c[3];
                    }
                }
            }
            for k in 0..3 {
                rgb[k] = albedo[k] * light;
                if light <= 0.0 {
                    rgb[k] = albedo[k] * p.earthshine;
                }
                if p.haze > 0.0 && mu0 > 0.0 {
                    let limb = (1.0 - mu.clamp(0.0, 1.0)).powi(3) as f32;
                    rgb[k] += p.haze * limb * (mu0 as f32).sqrt() * mean_albedo[k] * HAZE_TINT[k];
                }
            }
            alpha = 1.0;
        }
        if let Some(rings) = &assets.rings
            && let Some((r, t)) = view.ring_plane(x, y)
            && let Some(c) = rings.at(r)
            && hit.is_none_or(|h| t > h.t)
        {
            // Sun and observer on the same side of the ring plane: we see the lit face.
            let lit_face = sun[2] * view.e_z[2] > 0.0;
            let mut light =
                ring_gain * (if lit_face { 1.0 } else { 0.25 }) * (sun[2].abs() as f32).powf(0.25);
            let q = view.ray_point(x, y, t);
            if view.intersect(q, sun, 1e-6).is_some() {
                light *= 0.05; // in the planet's shadow
            }
            let a = c[3];
            for k in 0..3 {
                rgb[k] = c[k] * light * a + rgb[k] * (1.0 - a);
            }
            alpha = a + alpha * (1.0 - a);
        }
        [rgb[0], rgb[1], rgb[2], alpha]
    };

    let mut out = vec![[0.0f32; 4]; side * side];
    for (row, line) in out.chunks_exact_mut(side).enumerate() {
        for (col, px) in line.iter_mut().enumerate() {
            let mut acc = [0.0f32; 4];
            for sy in 0..ss {
                for sx in 0..ss {
                    let ix = col as f64 + (sx as f64 + 0.5) / ss as f64;
                    let iy = row as f64 + (sy as f64 + 0.5) / ss as f64;
                    let (x, y) = ((ix - cx) / radius_px, -(iy - cy) / radius_px);
                    let (bx, by) = (x * cos_roll + y * sin_roll, -x * sin_roll + y * cos_roll);
                    let s = shade(bx, by);
                    for k in 0..4 {
                        acc[k] += s[k] * weight;
                    }
                }
            }
            *px = acc;
        }
    }
    out
}

/// A finished render and how much of its disk is visibly lit.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The 8-bit sRGB image.
    pub image: RgbImage,
    /// Body pixels brighter than 15 % (sRGB, after exposure, before sky, blur and noise) divided
    /// by the disk's area πR² (rings can push it above 1).
    pub lit_fraction: f32,
}

/// Renders `assets` with parameters `p` into a `side`×`side` image; `rng` drives the stars and
/// noise (the geometry is fully given by `p`).
pub fn render(assets: &BodyAssets, p: &RenderParams, side: usize, rng: &mut Rng) -> Rendered {
    let layer = render_body(assets, p, side, 2);
    let luminance = |c: &[f32; 4]| 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    let mut disk: Vec<f32> = layer.iter().filter(|c| c[3] > 0.5).map(luminance).collect();
    disk.sort_by(f32::total_cmp);
    let bright = disk.get(disk.len() * 995 / 1000).copied().unwrap_or(0.0);
    let gain = if bright > 1e-6 { p.exposure / bright } else { 1.0 };
    // Lit area from the body layer alone (stars must not count), in display units.
    let lit = layer.iter().filter(|c| linear_to_srgb(luminance(c) * gain) > 0.15).count();
    let radius_px = p.diameter * side as f64 / 2.0;
    let lit_fraction = (lit as f64 / (std::f64::consts::PI * radius_px * radius_px)) as f32;

    let mut sky = vec![[0.0f32; 3]; side * side];
    if let Some(s) = p.sky {
        sky::add_stars(&mut sky, side, s.stars, rng);
    }
    let composed: Vec<[f32; 3]> = layer
        .iter()
        .zip(&sky)
        .map(|(c, s)| [0, 1, 2].map(|k| c[k] * gain + s[k] * (1.0 - c[3])))
        .collect();
    let blurred = sky::gaussian_blur(&composed, side, p.seeing_px);
    let mut display: Vec<[f32; 3]> = blurred.iter().map(|c| c.map(linear_to_srgb)).collect();

    if let Some(s) = p.sky {
        for c in display.iter_mut() {
            *c = c.map(|v| v + s.level);
        }
        sky::add_noise(&mut display, s.noise, rng);
    }
    sky::add_noise(&mut display, p.sensor_noise, rng);
    let image = RgbImage::from_fn(side as u32, side as u32, |x, y| {
        let c = display[y as usize * side + x as usize];
        image::Rgb(c.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8))
    });
    Rendered { image, lit_fraction }
}
