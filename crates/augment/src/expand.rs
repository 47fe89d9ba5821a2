//! The paper's offline expansion (write augmented copies of the training images to a new image
//! folder) and preview grids (one image under many sampled augmentations, to see what the network
//! sees).

use crate::folder::Dataset;
use crate::{AugmentError, Image, Pipeline};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use tensor::Rng;

/// Key word of the expansion streams `[EXPAND_STREAM, index, copy]`.
const EXPAND_STREAM: u64 = u64::MAX - 2;
/// Key word of the preview streams `[PREVIEW_STREAM, cell]`.
const PREVIEW_STREAM: u64 = u64::MAX - 3;

/// Writes, for every sample in `indices`, its working-size image as `<class>/<stem>.png` and
/// `n_copies` augmented copies `<class>/<stem>_aug<k>.png` (`k = 1..=n_copies`, copy `k` drawn
/// with `Rng::keyed(seed, &[EXPAND_STREAM, index, k])`), plus a `manifest.csv` that keeps each
/// source's group and marks every file `train`, so loading the result never splits an original
/// from its copies. `n_copies = 1` doubles the set like the paper (~600 → ~1200). Runs in
/// parallel. Returns the number of files written.
///
/// Images leave the pipeline as f32 and are stored as 8-bit PNG, clamped to `[0, 1]`: do not put
/// `Normalize` in this pipeline.
///
/// # Errors
/// [`AugmentError::BadParameter`] when `out_dir` exists and is not empty, or two sources of one
/// class share a stem; [`AugmentError::IndexOutOfRange`]; [`AugmentError::Io`] /
/// [`AugmentError::Encode`] for write failures; pipeline errors.
pub fn expand(
    ds: &Dataset,
    indices: &[usize],
    n_copies: usize,
    pipeline: &Pipeline,
    seed: u64,
    out_dir: &Path,
) -> Result<usize, AugmentError> {
    if out_dir.exists()
        && std::fs::read_dir(out_dir).map_err(|e| AugmentError::io(out_dir, e))?.next().is_some()
    {
        return Err(AugmentError::bad(
            "expand",
            format!("{} exists and is not empty", out_dir.display()),
        ));
    }
    // Output stem of each source, checked unique per class.
    let mut stems: BTreeMap<(usize, String), usize> = BTreeMap::new();
    for &i in indices {
        let s = ds.samples.get(i).ok_or(AugmentError::IndexOutOfRange {
            op: "expand",
            index: i,
            len: ds.len(),
        })?;
        let stem = s.path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        if let Some(other) = stems.insert((s.class, stem.clone()), i) {
            return Err(AugmentError::bad(
                "expand",
                format!(
                    "{} and {} would both be written as {stem}.png",
                    ds.samples[other].file, s.file
                ),
            ));
        }
    }
    for class in &ds.classes {
        let dir = out_dir.join(class);
        std::fs::create_dir_all(&dir).map_err(|e| AugmentError::io(&dir, e))?;
    }
    let jobs: Vec<(&(usize, String), usize, usize)> =
        stems.iter().flat_map(|(key, &i)| (0..=n_copies).map(move |k| (key, i, k))).collect();
    let written: Vec<String> = jobs
        .par_iter()
        .map(|&((class, stem), i, k)| {
            let original = ds.samples[i].image();
            let img = if k == 0 {
                original
            } else {
                pipeline
                    .apply(&original, &mut Rng::keyed(seed, &[EXPAND_STREAM, i as u64, k as u64]))?
            };
            let name = if k == 0 { format!("{stem}.png") } else { format!("{stem}_aug{k}.png") };
            let path = out_dir.join(&ds.classes[*class]).join(&name);
            img.to_rgb8().save(&path).map_err(|e| AugmentError::Encode {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            Ok(format!("{}/{name}", ds.classes[*class]))
        })
        .collect::<Result<_, AugmentError>>()?;
    let mut csv = String::from("file,class,group,split\n");
    for (file, &(&(class, _), i, _)) in written.iter().zip(&jobs) {
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        writeln!(
            csv,
            "{},{},{},train",
            quote(file),
            quote(&ds.classes[class]),
            quote(&ds.samples[i].group)
        )
        .expect("writing to a String cannot fail");
    }
    let manifest = out_dir.join("manifest.csv");
    std::fs::write(&manifest, csv).map_err(|e| AugmentError::io(&manifest, e))?;
    Ok(written.len())
}

/// A grid of `n` samples of `pipeline` applied to `img` (cell `k` drawn with
/// `Rng::keyed(seed, &[PREVIEW_STREAM, k])`), as 8-bit RGB: `⌈√n⌉` columns, cells as large as the
/// largest output, 2-pixel dark gray gaps. Values are clamped to `[0, 1]` for display.
///
/// # Errors
/// [`AugmentError::BadParameter`] for `n == 0`; pipeline errors.
pub fn preview_grid(
    img: &Image,
    pipeline: &Pipeline,
    n: usize,
    seed: u64,
) -> Result<image::RgbImage, AugmentError> {
    if n == 0 {
        return Err(AugmentError::bad("preview_grid", "n must be at least 1"));
    }
    let cells: Vec<Image> = (0..n)
        .into_par_iter()
        .map(|k| pipeline.apply(img, &mut Rng::keyed(seed, &[PREVIEW_STREAM, k as u64])))
        .collect::<Result<_, _>>()?;
    const GAP: u32 = 2;
    let cols = (n as f64).sqrt().ceil() as u32;
    let rows = (n as u32).div_ceil(cols);
    let cw = cells.iter().map(Image::width).max().unwrap_or(1) as u32;
    let ch = cells.iter().map(Image::height).max().unwrap_or(1) as u32;
    let mut grid = image::RgbImage::from_pixel(
        cols * cw + (cols + 1) * GAP,
        rows * ch + (rows + 1) * GAP,
        image::Rgb([40, 40, 40]),
    );
    for (k, cell) in cells.iter().enumerate() {
        let (x0, y0) = (GAP + (k as u32 % cols) * (cw + GAP), GAP + (k as u32 / cols) * (ch + GAP));
        image::imageops::replace(&mut grid, &cell.to_rgb8(), i64::from(x0), i64::from(y0));
    }
    Ok(grid)
}
