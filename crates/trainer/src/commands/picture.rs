//! Turning [0, 1] planes into PNGs for the inspection commands: tile grids, a heat colour map,
//! and blending a heat map over a photo. Pixel plumbing only; the values come from
//! `autograd::inspect`.

use std::path::Path;

use anyhow::Context;
use image::{Rgb, RgbImage};

/// Background between tiles: dark grey, so black tiles stay visible.
const GAP_COLOUR: Rgb<u8> = Rgb([48, 48, 48]);
/// Pixels between tiles.
const GAP: u32 = 4;

/// `v` in [0, 1] to a byte (values outside are clamped).
pub fn byte(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// A grey image from one plane [h, w] of values in [0, 1].
pub fn grey(plane: &[f32], w: usize, h: usize) -> RgbImage {
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let v = byte(plane[y as usize * w + x as usize]);
        Rgb([v, v, v])
    })
}

/// An RGB image from three planes [3, h, w] of values in [0, 1].
pub fn rgb(planes: &[f32], w: usize, h: usize) -> RgbImage {
    let area = w * h;
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let i = y as usize * w + x as usize;
        Rgb([byte(planes[i]), byte(planes[area + i]), byte(planes[2 * area + i])])
    })
}

/// A heat colour for `v` in [0, 1]: black → red → yellow → white, so brighter means more.
pub fn heat(v: f32) -> Rgb<u8> {
    let v = v.clamp(0.0, 1.0) * 3.0;
    Rgb([byte(v), byte(v - 1.0), byte(v - 2.0)])
}

/// `photo` with `heatmap` [h, w] (same size, values in [0, 1]) blended over it: each pixel is
/// `(1 − a)·photo + a·heat(v)` with `a = 0.6·v`, so cold regions keep the photo.
pub fn overlay(photo: &RgbImage, heatmap: &[f32]) -> RgbImage {
    let w = photo.width() as usize;
    RgbImage::from_fn(photo.width(), photo.height(), |x, y| {
        let v = heatmap[y as usize * w + x as usize];
        let (p, h, a) = (photo.get_pixel(x, y).0, heat(v).0, 0.6 * v.clamp(0.0, 1.0));
        Rgb(std::array::from_fn(|c| {
            (f32::from(p[c]) * (1.0 - a) + f32::from(h[c]) * a).round() as u8
        }))
    })
}

/// Nearest-neighbour enlargement by an integer `factor`, so small filters and maps stay sharp.
pub fn enlarge(img: &RgbImage, factor: u32) -> RgbImage {
    let factor = factor.max(1);
    RgbImage::from_fn(img.width() * factor, img.height() * factor, |x, y| {
        *img.get_pixel(x / factor, y / factor)
    })
}

/// The smallest integer factor that makes `side` at least `target` pixels.
pub fn factor_for(side: usize, target: usize) -> u32 {
    target.div_ceil(side.max(1)).max(1) as u32
}

/// Tiles of equal size in rows of `columns`, separated by [`GAP`] pixels.
pub fn grid(tiles: &[RgbImage], columns: usize) -> RgbImage {
    let columns = columns.clamp(1, tiles.len().max(1)) as u32;
    let rows = (tiles.len() as u32).div_ceil(columns).max(1);
    let (tw, th) = tiles.first().map_or((1, 1), |t| (t.width(), t.height()));
    let mut out =
        RgbImage::from_pixel(columns * (tw + GAP) + GAP, rows * (th + GAP) + GAP, GAP_COLOUR);
    for (i, tile) in tiles.iter().enumerate() {
        let (col, row) = (i as u32 % columns, i as u32 / columns);
        image::imageops::replace(
            &mut out,
            tile,
            i64::from(GAP + col * (tw + GAP)),
            i64::from(GAP + row * (th + GAP)),
        );
    }
    out
}

/// Writes `img` as a PNG at `path` (atomically: temp file + rename).
///
/// # Errors
/// The file cannot be written; the message names it.
pub fn save(img: &RgbImage, path: &Path) -> anyhow::Result<()> {
    crate::atomic::write_with(path, |tmp| img.save_with_format(tmp, image::ImageFormat::Png))
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heat_runs_from_black_to_white_and_grows_in_every_channel() {
        assert_eq!(heat(0.0), Rgb([0, 0, 0]));
        assert_eq!(heat(1.0), Rgb([255, 255, 255]));
        let (a, b) = (heat(0.4).0, heat(0.6).0);
        assert!(a.iter().zip(&b).all(|(x, y)| x <= y) && a != b);
    }

    #[test]
    fn grid_places_tiles_row_by_row_with_gaps() {
        let red = RgbImage::from_pixel(2, 2, Rgb([255, 0, 0]));
        let blue = RgbImage::from_pixel(2, 2, Rgb([0, 0, 255]));
        let g = grid(&[red.clone(), blue, red], 2);
        assert_eq!((g.width(), g.height()), (2 * 6 + 4, 2 * 6 + 4));
        assert_eq!(g.get_pixel(4, 4), &Rgb([255, 0, 0]));
        assert_eq!(g.get_pixel(10, 4), &Rgb([0, 0, 255]));
        assert_eq!(g.get_pixel(4, 10), &Rgb([255, 0, 0]));
        assert_eq!(g.get_pixel(10, 10), &GAP_COLOUR);
    }

    #[test]
    fn overlay_keeps_the_photo_where_the_map_is_cold() {
        let photo = RgbImage::from_pixel(2, 1, Rgb([10, 200, 30]));
        let out = overlay(&photo, &[0.0, 1.0]);
        assert_eq!(out.get_pixel(0, 0), &Rgb([10, 200, 30]));
        assert_ne!(out.get_pixel(1, 0), &Rgb([10, 200, 30]));
    }
}
