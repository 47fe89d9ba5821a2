//! What the binary's integration tests share: a scratch folder, the tiny colour-coded image
//! folder they train on, and a way to run the built `trainer`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tensor::Rng;

/// The class folders, named like the shipped data set's.
pub const CLASSES: [&str; 3] = ["galaxies", "nebulae", "solar_system"];

/// A fresh empty folder under the system temp dir, unique to this test process and `name`.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trainer-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the temp dir is writable");
    dir
}

/// Writes `per_class` 32×32 PNGs per class (32 is the loader's minimum side): class c has a
/// bright disc in colour channel c at a random place on dim noise, so a few steps of training
/// separate the classes. `seed` fixes every pixel.
pub fn write_folder(root: &Path, per_class: usize, seed: u64) {
    for (c, class) in CLASSES.iter().enumerate() {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).expect("the temp dir is writable");
        for i in 0..per_class {
            let mut rng = Rng::keyed(seed, &[c as u64, i as u64]);
            let (cx, cy) = (rng.uniform(10.0, 22.0), rng.uniform(10.0, 22.0));
            let img = image::RgbImage::from_fn(32, 32, |x, y| {
                let d2 = (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2);
                image::Rgb(std::array::from_fn(|k| {
                    let disc = if k == c && d2 < 49.0 { 200.0 } else { 0.0 };
                    (rng.uniform(0.0, 40.0) + disc).min(255.0) as u8
                }))
            });
            img.save(dir.join(format!("obj{i}.png"))).expect("the png is writable");
        }
    }
}

/// Runs the `trainer` binary built for these tests.
pub fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer")).args(args).output().expect("the binary runs")
}
