//! Test-time augmentation: the eight symmetries of a square (the dihedral group D₄) applied to
//! a whole NCHW batch, so a classifier can average its predictions over views it was trained to
//! treat alike.
//!
//! The `default` training augmentation flips both ways and turns by multiples of 90°, so the
//! network has learnt (approximately) that a galaxy rotated by 90° is still a galaxy. Averaging
//! the softmax probabilities of all eight views at evaluation time removes what is left of that
//! dependence: the prediction no longer changes when the image is rotated or mirrored, and the
//! errors of the eight views partly cancel. It costs eight forward passes per image.
//!
//! Every view is an exact permutation of the pixels (no interpolation). For a square side `S`,
//! a view `(turns, mirrored)` is "rotate by `turns` quarter turns counter-clockwise (like
//! `torch.rot90`), then, if `mirrored`, flip left–right".

use tensor::Tensor;

use crate::AugmentError;
use crate::transforms::geometry::QuarterTurns;

/// One symmetry of the square: a rotation, then an optional left–right mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symmetry {
    /// Quarter turns counter-clockwise, applied first.
    pub turns: QuarterTurns,
    /// Whether the rotated image is then mirrored left–right.
    pub mirrored: bool,
}

impl Symmetry {
    /// The identity: the image as it is.
    pub const IDENTITY: Symmetry = Symmetry { turns: QuarterTurns::Zero, mirrored: false };

    /// All eight elements of D₄, the identity first.
    pub const ALL: [Symmetry; 8] = {
        use QuarterTurns::{One, Three, Two, Zero};
        const fn view(turns: QuarterTurns, mirrored: bool) -> Symmetry {
            Symmetry { turns, mirrored }
        }
        [
            view(Zero, false),
            view(One, false),
            view(Two, false),
            view(Three, false),
            view(Zero, true),
            view(One, true),
            view(Two, true),
            view(Three, true),
        ]
    };

    /// Where output pixel `(y, x)` of an `s × s` plane is read from in the input.
    ///
    /// The mirror acts last, so it is undone first: `x ← s − 1 − x`. Then the rotation's source
    /// (see `transforms::geometry::rotate90`): one turn reads `(x, s − 1 − y)`, two turns
    /// `(s − 1 − y, s − 1 − x)`, three turns `(s − 1 − x, y)`.
    fn source(self, s: usize, y: usize, x: usize) -> (usize, usize) {
        let x = if self.mirrored { s - 1 - x } else { x };
        match self.turns {
            QuarterTurns::Zero => (y, x),
            QuarterTurns::One => (x, s - 1 - y),
            QuarterTurns::Two => (s - 1 - y, s - 1 - x),
            QuarterTurns::Three => (s - 1 - x, y),
        }
    }

    /// The view of every image of a batch `x` [N, C, S, S] (square images: a quarter turn of a
    /// non-square batch would change its shape).
    ///
    /// # Errors
    /// [`AugmentError::BadParameter`] when `x` is not 4-D or its images are not square.
    pub fn apply(self, x: &Tensor) -> Result<Tensor, AugmentError> {
        let shape = x.shape4("test-time augmentation")?;
        if shape.h != shape.w {
            return Err(AugmentError::bad(
                "test-time augmentation",
                format!("needs square images, got {}x{} (width x height)", shape.w, shape.h),
            ));
        }
        let s = shape.h;
        // The permutation of one plane, computed once and used for every (image, channel).
        let sources: Vec<usize> = (0..s * s)
            .map(|i| {
                let (sy, sx) = self.source(s, i / s, i % s);
                sy * s + sx
            })
            .collect();
        let mut out = Vec::with_capacity(x.len());
        for plane in x.data().chunks_exact(s * s) {
            out.extend(sources.iter().map(|&i| plane[i]));
        }
        Ok(Tensor::from_vec(x.dims(), out)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::geometry::{flip_horizontal, rotate90};
    use crate::transforms::test_image;
    use crate::{Image, stack};

    #[test]
    fn each_view_matches_the_image_transforms() {
        let images = [test_image(5, 5, 1), test_image(5, 5, 2)];
        let batch = stack(&images).unwrap();
        for view in Symmetry::ALL {
            let expected: Vec<Image> = images
                .iter()
                .map(|img| {
                    let turned = rotate90(img, view.turns);
                    if view.mirrored { flip_horizontal(&turned) } else { turned }
                })
                .collect();
            assert_eq!(view.apply(&batch).unwrap(), stack(&expected).unwrap(), "{view:?}");
        }
    }

    #[test]
    fn the_eight_views_are_distinct_permutations() {
        // An image whose pixels are all different: every symmetry other than the identity moves
        // some pixel, so the eight views differ pairwise and each keeps the same multiset.
        let s = 4;
        let x = Tensor::from_vec(&[1, 1, s, s], (0..s * s).map(|v| v as f32).collect()).unwrap();
        let views: Vec<Tensor> = Symmetry::ALL.iter().map(|v| v.apply(&x).unwrap()).collect();
        assert_eq!(views[0], x);
        for (i, a) in views.iter().enumerate() {
            let mut sorted = a.data().to_vec();
            sorted.sort_by(f32::total_cmp);
            assert_eq!(sorted, x.data(), "view {i} is not a permutation");
            for b in &views[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn non_square_and_non_4d_inputs_are_rejected() {
        let wide = Tensor::zeros(&[1, 3, 4, 6]);
        let err = Symmetry::ALL[1].apply(&wide).unwrap_err().to_string();
        assert!(err.contains("square") && err.contains("6x4"), "{err}");
        assert!(Symmetry::IDENTITY.apply(&Tensor::zeros(&[3, 4])).is_err());
    }
}
