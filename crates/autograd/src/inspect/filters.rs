//! A convolution's filters as small images: filter `co` of w [C_out, C_in, KH, KW] is a
//! C_in-channel KH×KW picture (an RGB one in the first layer), rescaled to [0, 1] for display.

use super::min_max_normalise;
use crate::nn::Module;
use crate::{Parameter, Result};
use tensor::Tensor;

/// How [`filter_images`] maps weights to [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilterScale {
    /// Each filter spans the whole range on its own (its smallest weight → 0, largest → 1):
    /// shows every filter's pattern, hides how strong it is.
    #[default]
    PerFilter,
    /// One range for all filters: weak (or dead) filters look flat grey.
    Shared,
}

/// Filter `co` of `weight` [C_out, C_in, KH, KW] as a [C_in, KH, KW] tensor with values in
/// [0, 1] (min–max rescaled as `scale` says), one per output channel.
///
/// # Errors
/// [`TensorError::WrongRank`](tensor::TensorError::WrongRank) unless `weight` is 4-D.
pub fn filter_images(weight: &Tensor, scale: FilterScale) -> Result<Vec<Tensor>> {
    let w = weight.shape4("filter_images")?;
    let size = w.c * w.h * w.w;
    let scaled = match scale {
        FilterScale::PerFilter => {
            weight.data().chunks_exact(size.max(1)).flat_map(min_max_normalise).collect()
        }
        FilterScale::Shared => min_max_normalise(weight.data()),
    };
    let images = scaled
        .chunks_exact(size.max(1))
        .map(|f| Tensor::from_vec(&[w.c, w.h, w.w], f.to_vec()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(images)
}

/// The weight of the model's first convolution: its first 4-D parameter (parameters are
/// listed in forward order). `None` for a model without one.
pub fn first_conv_weight<M: Module + ?Sized>(model: &M) -> Option<&Parameter> {
    model.parameters().into_iter().find(|p| p.value.rank() == 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_filter_spans_0_to_1_and_shared_keeps_relative_strength() {
        // Two 1×1×2 filters: [0, 1] and [0, 4].
        let w = Tensor::from_vec(&[2, 1, 1, 2], vec![0.0, 1.0, 0.0, 4.0]).expect("4 values");
        let per = filter_images(&w, FilterScale::PerFilter).expect("4-D");
        assert_eq!(per.len(), 2);
        assert_eq!(per[0].dims(), &[1, 1, 2]);
        assert_eq!((per[0].data(), per[1].data()), (&[0.0, 1.0][..], &[0.0, 1.0][..]));
        let shared = filter_images(&w, FilterScale::Shared).expect("4-D");
        assert_eq!((shared[0].data(), shared[1].data()), (&[0.0, 0.25][..], &[0.0, 1.0][..]));
    }

    #[test]
    fn a_matrix_is_not_a_filter_bank() {
        assert!(filter_images(&Tensor::zeros(&[3, 4]), FilterScale::PerFilter).is_err());
    }
}
