//! Turning a source photo into a shipped 224×224 RGB image: alpha onto black, centre-square crop,
//! antialiased Lanczos downscale, and the two anti-shortcut edits (grayscale, zoom out).
//! Pure functions of (image, parameters); the builder decides who gets which edit.

use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};
use tensor::Rng;

/// Side of every shipped image, in pixels (the paper's 224×224 crop).
pub const SIZE: u32 = 224;

/// Composites `img` onto black and drops alpha: `rgb = rgb · a` (straight alpha, 8 bit).
/// Palette, gray, gray+alpha and 16-bit images all pass through `to_rgba8` first.
pub fn flatten_on_black(img: &DynamicImage) -> RgbImage {
    let rgba = img.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = u32::from(p[3]);
        // Rounded c·a/255 in integers, so the result does not depend on float rounding.
        image::Rgb([0, 1, 2].map(|c| ((u32::from(p[c]) * a + 127) / 255) as u8))
    })
}

/// The largest centred square of `img` (the longer side is trimmed equally on both ends).
pub fn centre_square(img: &RgbImage) -> RgbImage {
    let side = img.width().min(img.height());
    let x0 = (img.width() - side) / 2;
    let y0 = (img.height() - side) / 2;
    image::imageops::crop_imm(img, x0, y0, side, side).to_image()
}

/// Resizes a square image to `side`×`side` with a Lanczos-3 filter (antialiased when shrinking).
pub fn resize_square(img: &RgbImage, side: u32) -> RgbImage {
    image::imageops::resize(img, side, side, FilterType::Lanczos3)
}

/// Centre-square crop and resize to [`SIZE`]: the standard treatment of every photo.
pub fn standard_crop(img: &DynamicImage) -> RgbImage {
    resize_square(&centre_square(&flatten_on_black(img)), SIZE)
}

/// Gray version of `img` with the same value in all three channels:
/// `Y = 0.2126 R + 0.7152 G + 0.0722 B` (Rec. 709 weights on the stored values).
pub fn to_gray(img: &RgbImage) -> RgbImage {
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let [r, g, b] = img.get_pixel(x, y).0.map(f32::from);
        let v = (0.2126 * r + 0.7152 * g + 0.0722 * b).round().clamp(0.0, 255.0) as u8;
        image::Rgb([v, v, v])
    })
}

/// Sky statistics of a photo's border (the outer 8 % on each side): per-channel median
/// (background level) and 1.4826·MAD (robust noise σ), in 8-bit units.
fn border_sky(img: &RgbImage) -> ([f32; 3], [f32; 3]) {
    let (w, h) = (img.width(), img.height());
    let band = (w.min(h) / 12).max(1);
    let mut values: [Vec<f32>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for (x, y, p) in img.enumerate_pixels() {
        if x < band || y < band || x >= w - band || y >= h - band {
            for (v, &x) in values.iter_mut().zip(&p.0) {
                v.push(f32::from(x));
            }
        }
    }
    let median = |v: &mut Vec<f32>| -> f32 {
        v.sort_by(f32::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let mut level = [0.0; 3];
    let mut sigma = [0.0; 3];
    for c in 0..3 {
        level[c] = median(&mut values[c]);
        let mut dev: Vec<f32> = values[c].iter().map(|v| (v - level[c]).abs()).collect();
        sigma[c] = 1.4826 * median(&mut dev);
    }
    (level, sigma)
}

/// Darkest border a photo may have to be zoomed out (8-bit median luminance of its border).
pub const PLAIN_SKY_MAX_LEVEL: f32 = 28.0;
/// Largest difference between the medians of its four border strips (8-bit).
pub const PLAIN_SKY_MAX_SPREAD: f32 = 10.0;

/// Whether the photo's border is plain dark sky: each of its four border strips (1/12 of the
/// side) has a median luminance ≤ [`PLAIN_SKY_MAX_LEVEL`], and the strips' medians differ by at
/// most [`PLAIN_SKY_MAX_SPREAD`]. Only such photos can be zoomed out convincingly; where
/// nebulosity or a gradient reaches the edge, the continued sky would show a square seam.
pub fn has_plain_sky_border(img: &RgbImage) -> bool {
    let (w, h) = (img.width(), img.height());
    let band = (w.min(h) / 12).max(1);
    let lum = |x: u32, y: u32| {
        let p = img.get_pixel(x, y).0;
        0.2126 * f32::from(p[0]) + 0.7152 * f32::from(p[1]) + 0.0722 * f32::from(p[2])
    };
    let median = |mut v: Vec<f32>| -> f32 {
        v.sort_by(f32::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let strip = |inside: &dyn Fn(u32, u32) -> bool| -> f32 {
        median(
            (0..h)
                .flat_map(|y| (0..w).map(move |x| (x, y)))
                .filter(|&(x, y)| inside(x, y))
                .map(|(x, y)| lum(x, y))
                .collect(),
        )
    };
    let medians = [
        strip(&|_, y| y < band),
        strip(&|_, y| y >= h - band),
        strip(&|x, _| x < band),
        strip(&|x, _| x >= w - band),
    ];
    let (lo, hi) = medians.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &m| (lo.min(m), hi.max(m)));
    hi <= PLAIN_SKY_MAX_LEVEL && hi - lo <= PLAIN_SKY_MAX_SPREAD
}

/// Stars of a photo: 3×3 local maxima of the channel mean that stand `threshold` above the
/// background, as (peak RGB above background). Used to sprinkle a matching star field.
fn star_peaks(img: &RgbImage, level: [f32; 3], threshold: f32) -> Vec<[f32; 3]> {
    let (w, h) = (img.width(), img.height());
    let mean =
        |x: u32, y: u32| img.get_pixel(x, y).0.iter().map(|&v| f32::from(v)).sum::<f32>() / 3.0;
    let bg = (level[0] + level[1] + level[2]) / 3.0;
    let mut peaks = Vec::new();
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let m = mean(x, y);
            if m < bg + threshold {
                continue;
            }
            let is_max = (y - 1..=y + 1)
                .all(|yy| (x - 1..=x + 1).all(|xx| (xx, yy) == (x, y) || mean(xx, yy) < m));
            if is_max {
                let p = img.get_pixel(x, y).0;
                peaks.push([0, 1, 2].map(|c| (f32::from(p[c]) - level[c]).max(0.0)));
            }
        }
    }
    peaks
}

/// "Zoom out": shows the square photo `img` at `scale` (0 < scale ≤ 1) of its size, centred, on
/// a synthetic continuation of its own sky, so the object looks smaller without a frame, black
/// band or mirror image (each would be a class cue of its own).
///
/// The sky outside the shrunken photo is the shrunken photo's border background level plus
/// Gaussian noise of the border's σ, with stars at the shrunken photo's star density and with
/// brightnesses drawn from its stars. The photo is blended in with a feathered edge (smoothstep
/// over 20 % of its side).
pub fn zoom_out(img: &RgbImage, scale: f32, rng: &mut Rng) -> RgbImage {
    let side = img.width();
    let inner = ((side as f32 * scale.clamp(0.05, 1.0)).round() as u32).clamp(1, side);
    let small = resize_square(img, inner);
    let pad = (side - inner) / 2;
    // Sky and stars measured on the shrunken photo, so noise, star density and star brightness
    // are those the continuation must match at the new scale.
    let (level, sigma) = border_sky(&small);
    let noise_floor = (sigma[0] + sigma[1] + sigma[2]) / 3.0;
    let peaks = star_peaks(&small, level, (6.0 * noise_floor).max(20.0));

    // Canvas: linear 0–255 floats.
    let n = side as usize;
    let mut canvas: Vec<[f32; 3]> =
        (0..n * n).map(|_| [0, 1, 2].map(|c| level[c] + sigma[c] * rng.normal())).collect();
    let density = peaks.len() as f32 / (inner * inner) as f32;
    let fill_area = (side * side - inner * inner) as f32;
    let stars = (density * fill_area).round() as usize;
    if !peaks.is_empty() {
        for _ in 0..stars {
            let peak = peaks[rng.below(peaks.len())];
            let (cx, cy) = (rng.uniform(0.0, side as f32), rng.uniform(0.0, side as f32));
            let s = rng.uniform(0.5, 0.8);
            for dy in -2i64..=2 {
                for dx in -2i64..=2 {
                    let (px, py) = (cx as i64 + dx, cy as i64 + dy);
                    if px < 0 || py < 0 || px >= n as i64 || py >= n as i64 {
                        continue;
                    }
                    let (fx, fy) = (px as f32 + 0.5 - cx, py as f32 + 0.5 - cy);
                    let g = (-(fx * fx + fy * fy) / (2.0 * s * s)).exp();
                    let p = &mut canvas[py as usize * n + px as usize];
                    for c in 0..3 {
                        p[c] += g * peak[c];
                    }
                }
            }
        }
    }
    let feather = (inner as f32 * 0.2).max(1.0);
    let smoothstep = |t: f32| {
        let t = t.clamp(0.0, 1.0);
        t * t * (3.0 - 2.0 * t)
    };
    RgbImage::from_fn(side, side, |x, y| {
        let mut c = canvas[y as usize * n + x as usize];
        if (pad..pad + inner).contains(&x) && (pad..pad + inner).contains(&y) {
            let (ix, iy) = (x - pad, y - pad);
            let edge = ix.min(iy).min(inner - 1 - ix).min(inner - 1 - iy) as f32 + 0.5;
            let a = smoothstep(edge / feather);
            let p = small.get_pixel(ix, iy).0;
            for k in 0..3 {
                c[k] = a * f32::from(p[k]) + (1.0 - a) * c[k];
            }
        }
        image::Rgb(c.map(|v| v.round().clamp(0.0, 255.0) as u8))
    })
}

/// Mean of `max(R, G, B) − min(R, G, B)` (8-bit units) over the pixels that are not dark sky
/// (brightest channel ≥ 32; all pixels if fewer than 1 % are): 0 for a gray image, a few units
/// for a gray image after JPEG, tens for a colourful one. Dark sky is left out because it is
/// most of most frames and would make every faint colour photo look gray.
pub fn mean_chroma(img: &RgbImage) -> f32 {
    let chroma = |p: &image::Rgb<u8>| {
        let [r, g, b] = p.0;
        u64::from(r.max(g).max(b) - r.min(g).min(b))
    };
    let lit: Vec<u64> = img.pixels().filter(|p| p.0.iter().any(|&c| c >= 32)).map(chroma).collect();
    let total = u64::from(img.width()) * u64::from(img.height());
    if (lit.len() as u64) * 100 >= total && !lit.is_empty() {
        lit.iter().sum::<u64>() as f32 / lit.len() as f32
    } else {
        img.pixels().map(chroma).sum::<u64>() as f32 / total.max(1) as f32
    }
}

/// An image counts as gray when its [`mean_chroma`] is below this (8-bit units).
pub const GRAY_CHROMA: f32 = 2.0;

/// Baseline JPEG of `img` at `quality` (1–100) from `image`'s pure-Rust encoder, so the same
/// pixels give the same bytes on every machine.
///
/// # Errors
/// The encoder's error (it only fails on invalid dimensions).
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    img.write_with_encoder(encoder)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayAlphaImage, LumaA};

    #[test]
    fn alpha_is_composited_on_black() {
        let mut g = GrayAlphaImage::new(2, 1);
        g.put_pixel(0, 0, LumaA([200, 255]));
        g.put_pixel(1, 0, LumaA([200, 0]));
        let rgb = flatten_on_black(&DynamicImage::ImageLumaA8(g));
        assert_eq!(rgb.get_pixel(0, 0).0, [200, 200, 200]);
        assert_eq!(rgb.get_pixel(1, 0).0, [0, 0, 0]);
    }

    #[test]
    fn centre_square_trims_the_long_side_evenly() {
        let img = RgbImage::from_fn(10, 4, |x, _| image::Rgb([x as u8, 0, 0]));
        let sq = centre_square(&img);
        assert_eq!((sq.width(), sq.height()), (4, 4));
        assert_eq!(sq.get_pixel(0, 0).0[0], 3);
    }

    #[test]
    fn zoom_out_continues_the_sky_and_shrinks_the_object() {
        // A noiseless sky of level 20 with a bright 32×32 square "galaxy" in the middle.
        let img = RgbImage::from_fn(64, 64, |x, y| {
            let inside = (16..48).contains(&x) && (16..48).contains(&y);
            image::Rgb(if inside { [200, 180, 160] } else { [20, 20, 20] })
        });
        let z = zoom_out(&img, 0.5, &mut Rng::new(1));
        assert_eq!((z.width(), z.height()), (64, 64));
        // The new border is the photo's sky (its noise σ is 0 here), not black and not a mirror.
        assert_eq!(z.get_pixel(2, 2).0, [20, 20, 20]);
        assert_eq!(z.get_pixel(61, 40).0, [20, 20, 20]);
        // The object now spans about half as many pixels.
        let bright = |im: &RgbImage| im.pixels().filter(|p| p.0[0] > 100).count() as f32;
        let ratio = bright(&z) / bright(&img);
        assert!((0.2..0.3).contains(&ratio), "area ratio {ratio}");
    }

    #[test]
    fn plain_sky_borders_are_told_from_nebulosity_and_gradients() {
        let sky = RgbImage::from_fn(48, 48, |x, y| {
            image::Rgb([10 + ((x * 7 + y * 3) % 5) as u8, 12, 14])
        });
        assert!(has_plain_sky_border(&sky));
        let bright = RgbImage::from_pixel(48, 48, image::Rgb([60, 40, 30]));
        assert!(!has_plain_sky_border(&bright), "nebulosity up to the edge");
        let gradient = RgbImage::from_fn(48, 48, |x, _| {
            image::Rgb([(x / 2) as u8, (x / 2) as u8, (x / 2) as u8])
        });
        assert!(!has_plain_sky_border(&gradient), "left and right edges differ by 23");
    }

    #[test]
    fn gray_has_equal_channels() {
        let img = RgbImage::from_fn(3, 3, |x, y| image::Rgb([x as u8 * 80, y as u8 * 80, 30]));
        assert!(to_gray(&img).pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]));
        assert_eq!(mean_chroma(&to_gray(&img)), 0.0);
        assert!(mean_chroma(&img) > GRAY_CHROMA);
    }
}
