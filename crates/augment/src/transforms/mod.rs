//! The transforms. Each is a pure function of (image, parameters); each random transform also has
//! a limits type whose `sample(…, &mut Rng)` draws concrete parameters, so one can log, replay or
//! test a draw. Semantics follow torchvision's (same names and meanings; each file says where and
//! why it differs).

pub mod blur;
pub mod color;
pub mod erase;
pub mod geometry;
pub mod noise;
pub mod normalize;
pub mod perspective;
pub mod resize;
pub mod resized_crop;

/// A deterministic, non-constant test image with values in `[0, 1)`: smooth gradients plus
/// seeded speckle, different in every channel.
#[cfg(test)]
pub(crate) fn test_image(width: usize, height: usize, seed: u64) -> crate::Image {
    let mut rng = tensor::Rng::new(seed);
    crate::Image::from_fn(width, height, |c, y, x| {
        let base = (x as f32 / width as f32 + y as f32 / height as f32 + c as f32 / 3.0) / 3.0;
        (0.7 * base + 0.3 * rng.next_f32()).min(0.999)
    })
    .expect("test images are non-empty")
}
