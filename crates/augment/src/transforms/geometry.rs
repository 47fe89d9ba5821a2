//! Exact geometric transforms: crop (zero-padded like torchvision's `crop`), centre crop, flips
//! and rotations by multiples of 90°. They move pixels without interpolating, so they are exact.

use crate::{AugmentError, CHANNELS, Image};

/// Copies the `height × width` box whose top-left corner is (`top`, `left`).
///
/// `out[c, y, x] = img[c, top + y, left + x]`, and 0 where that lies outside the image: the box
/// may overhang on any side (torchvision's `crop` pads the same way), which is how zooming *out*
/// is expressed.
///
/// # Errors
/// [`AugmentError::BadParameter`] when `height` or `width` is 0.
pub fn crop(
    img: &Image,
    top: isize,
    left: isize,
    height: usize,
    width: usize,
) -> Result<Image, AugmentError> {
    if height == 0 || width == 0 {
        return Err(AugmentError::bad("crop", format!("{width}x{height} box is empty")));
    }
    let (w, h) = (img.width() as isize, img.height() as isize);
    let mut out = Image::filled(width, height, 0.0);
    // The columns of the box that fall inside the image: x in [x0, x1).
    let x0 = (-left).clamp(0, width as isize) as usize;
    let x1 = (w - left).clamp(0, width as isize) as usize;
    for c in 0..CHANNELS {
        let src = img.plane(c);
        let dst = &mut out.data_mut()[c * width * height..(c + 1) * width * height];
        for y in 0..height {
            let sy = top + y as isize;
            if sy < 0 || sy >= h || x0 >= x1 {
                continue;
            }
            let row = sy as usize * w as usize;
            let sx0 = (left + x0 as isize) as usize;
            dst[y * width + x0..y * width + x1]
                .copy_from_slice(&src[row + sx0..row + sx0 + (x1 - x0)]);
        }
    }
    Ok(out)
}

/// The offset of a centred window of `len` along an axis of `side`, torchvision's
/// `center_crop` rule: when the window fits, `round((side − len) / 2)` with Python's
/// round-half-to-even; when it is larger, the image is padded by `⌊(len − side) / 2⌋` before it
/// (the extra pixel of an odd difference goes after).
fn centred_offset(side: usize, len: usize) -> isize {
    if len > side {
        return -(((len - side) / 2) as isize);
    }
    let d = side - len;
    let half = d / 2;
    (if d % 2 == 1 && half % 2 == 1 { half + 1 } else { half }) as isize
}

/// The central `height × width` box, torchvision's `center_crop` (offsets by
/// `centred_offset`: `round((H − height) / 2)` with round-half-to-even when the box fits, zero
/// padding split `⌊d/2⌋` before / `⌈d/2⌉` after when it does not).
///
/// # Errors
/// [`AugmentError::BadParameter`] when `height` or `width` is 0.
pub fn center_crop(img: &Image, height: usize, width: usize) -> Result<Image, AugmentError> {
    let top = centred_offset(img.height(), height);
    let left = centred_offset(img.width(), width);
    crop(img, top, left, height, width)
}

/// Mirror left–right: `out[c, y, x] = img[c, y, W − 1 − x]` (torchvision `hflip`).
pub fn flip_horizontal(img: &Image) -> Image {
    let mut out = img.clone();
    flip_horizontal_in_place(&mut out);
    out
}

/// In-place form of [`flip_horizontal`] (pipelines use it to skip an allocation per step).
pub fn flip_horizontal_in_place(out: &mut Image) {
    let w = out.width();
    for row in out.data_mut().chunks_exact_mut(w) {
        row.reverse();
    }
}

/// Mirror top–bottom: `out[c, y, x] = img[c, H − 1 − y, x]` (torchvision `vflip`).
pub fn flip_vertical(img: &Image) -> Image {
    let mut out = img.clone();
    flip_vertical_in_place(&mut out);
    out
}

/// In-place form of [`flip_vertical`] (pipelines use it to skip an allocation per step).
pub fn flip_vertical_in_place(out: &mut Image) {
    let (w, h) = (out.width(), out.height());
    for plane in out.data_mut().chunks_exact_mut(w * h) {
        for y in 0..h / 2 {
            let (upper, lower) = plane.split_at_mut((h - 1 - y) * w);
            upper[y * w..(y + 1) * w].swap_with_slice(&mut lower[..w]);
        }
    }
}

/// A rotation by a multiple of 90°, counter-clockwise (the sign convention of torchvision's
/// `rotate` and of `torch.rot90`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuarterTurns {
    /// 0°.
    Zero,
    /// 90° counter-clockwise.
    One,
    /// 180°.
    Two,
    /// 270° counter-clockwise (= 90° clockwise).
    Three,
}

impl QuarterTurns {
    /// All four, in order, for sampling uniformly.
    pub const ALL: [QuarterTurns; 4] = [Self::Zero, Self::One, Self::Two, Self::Three];
}

/// Rotates by `turns` quarter turns counter-clockwise, like `torch.rot90(img, k, dims=(-2, -1))`
/// (equal to torchvision `rotate(img, 90·k, expand=True)`). Output `[3, W, H]` for odd `k`.
///
/// - one turn:    `out[c, y, x] = img[c, x, W − 1 − y]`
/// - two turns:   `out[c, y, x] = img[c, H − 1 − y, W − 1 − x]`
/// - three turns: `out[c, y, x] = img[c, H − 1 − x, y]`
pub fn rotate90(img: &Image, turns: QuarterTurns) -> Image {
    let (w, h) = (img.width(), img.height());
    match turns {
        QuarterTurns::Zero => img.clone(),
        QuarterTurns::Two => flip_vertical(&flip_horizontal(img)),
        QuarterTurns::One | QuarterTurns::Three => {
            // Output is H' = W rows of W' = H columns.
            let mut out = Image::filled(h, w, 0.0);
            for c in 0..CHANNELS {
                let src = img.plane(c);
                let dst = &mut out.data_mut()[c * w * h..(c + 1) * w * h];
                for y in 0..w {
                    for x in 0..h {
                        dst[y * h + x] = if turns == QuarterTurns::One {
                            src[x * w + (w - 1 - y)]
                        } else {
                            src[(h - 1 - x) * w + y]
                        };
                    }
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::test_image;

    #[test]
    fn flips_twice_and_four_quarter_turns_are_identity() {
        for (w, h) in [(1, 1), (5, 3), (4, 7), (8, 8)] {
            let img = test_image(w, h, 3);
            assert_eq!(flip_horizontal(&flip_horizontal(&img)), img);
            assert_eq!(flip_vertical(&flip_vertical(&img)), img);
            let mut r = img.clone();
            for _ in 0..4 {
                r = rotate90(&r, QuarterTurns::One);
            }
            assert_eq!(r, img);
            assert_eq!(rotate90(&rotate90(&img, QuarterTurns::One), QuarterTurns::Three), img);
            assert_eq!(
                rotate90(&img, QuarterTurns::Two),
                rotate90(&rotate90(&img, QuarterTurns::One), QuarterTurns::One)
            );
        }
    }

    #[test]
    fn one_quarter_turn_is_counter_clockwise() {
        // [[1, 2], [3, 4]] → torch.rot90 gives [[2, 4], [1, 3]].
        let img = Image::from_fn(2, 2, |_, y, x| (y * 2 + x + 1) as f32).unwrap();
        let r = rotate90(&img, QuarterTurns::One);
        assert_eq!(r.plane(0), &[2.0, 4.0, 1.0, 3.0]);
        let flipped = flip_horizontal(&img);
        assert_eq!(flipped.plane(1), &[2.0, 1.0, 4.0, 3.0]);
    }

    #[test]
    fn crop_pads_with_zero_and_center_crop_rounds_half_to_even() {
        let img = Image::filled(3, 3, 1.0);
        let c = crop(&img, -1, 2, 3, 2).unwrap();
        // Row 0 is above the image; column 1 (x = 3) is right of it.
        assert_eq!(c.plane(0), &[0.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
        assert!(crop(&img, 0, 0, 0, 2).is_err());
        // side − len = 1, 3, 5, 4 → round(0.5) = 0, round(1.5) = 2, round(2.5) = 2, 2; larger
        // windows pad ⌊d/2⌋ before.
        let offsets =
            [(5, 4), (5, 2), (7, 2), (6, 2), (3, 6), (3, 4)].map(|(s, l)| centred_offset(s, l));
        assert_eq!(offsets, [0, 2, 2, 2, -1, 0]);
        let img = Image::from_fn(5, 4, |_, y, x| (y * 5 + x) as f32).unwrap();
        // (4 − 3)/2 = 0.5 → 0 rows off the top; (5 − 2)/2 = 1.5 → 2 columns.
        assert_eq!(center_crop(&img, 3, 2).unwrap().plane(0), &[2.0, 3.0, 7.0, 8.0, 12.0, 13.0]);
    }
}
