//! `trainer filters`, `trainer feature-maps` and `trainer gradcam`: what a trained network
//! learned, as PNGs. The pictures' values come from `autograd::inspect`; this file loads the
//! run, prepares the images like evaluation does, and lays the results out.

use std::path::{Path, PathBuf};

use anyhow::Context;
use augment::Image;
use autograd::Tape;
use autograd::inspect::{self, ClassChoice, ConvLayer, FilterScale};
use clap::{Args, ValueEnum};
use tensor::{Rng, Tensor};

use super::load_trained;
use super::picture::{self, enlarge, factor_for, grid};
use crate::cli::Weights;
use crate::config::TrainConfig;
use crate::data;
use crate::exit::Failure;

/// Tiles are enlarged to at least this many pixels a side.
const TILE: usize = 96;

/// How `trainer filters` scales the weights to grey levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScaleChoice {
    /// Each filter uses the full range: shows every pattern.
    PerFilter,
    /// One range for all: weak filters look flat.
    Shared,
}

/// Options of `trainer filters`.
#[derive(Debug, Args)]
pub struct FiltersArgs {
    /// The run folder of a trained model.
    #[arg(long)]
    pub model: PathBuf,
    /// Which weights of the run to use.
    #[arg(long, value_enum, default_value_t = Weights::Best)]
    pub weights: Weights,
    /// How weights map to colours.
    #[arg(long, value_enum, default_value_t = ScaleChoice::PerFilter)]
    pub scale: ScaleChoice,
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Options of `trainer feature-maps`.
#[derive(Debug, Args)]
pub struct FeatureMapsArgs {
    /// The run folder of a trained model.
    #[arg(long)]
    pub model: PathBuf,
    /// Which weights of the run to use.
    #[arg(long, value_enum, default_value_t = Weights::Best)]
    pub weights: Weights,
    /// The image to look at (any format the folder loader reads).
    pub image: PathBuf,
    /// Folder for input.png and conv1.png, conv2.png, … (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

/// Options of `trainer gradcam`.
#[derive(Debug, Args)]
pub struct GradCamArgs {
    /// The run folder of a trained model.
    #[arg(long)]
    pub model: PathBuf,
    /// Which weights of the run to use.
    #[arg(long, value_enum, default_value_t = Weights::Best)]
    pub weights: Weights,
    /// The images to explain.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Explain this class (a class name of the run) instead of the predicted one.
    #[arg(long)]
    pub class: Option<String>,
    /// Which convolution to explain with, counting from 1 (default: the last).
    #[arg(long)]
    pub layer: Option<usize>,
    /// Folder for one <image>_gradcam.png per image (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

/// `trainer filters`: the first convolution's filters as a grid of RGB tiles.
///
/// # Errors
/// The run cannot be loaded, has no convolution, or the PNG cannot be written.
pub fn filters(args: &FiltersArgs) -> anyhow::Result<()> {
    let t = load_trained(&args.model, args.weights)?;
    let weight = inspect::first_conv_weight(&t.net).ok_or_else(|| {
        Failure::BadInput(format!("{}: the model has no convolution", args.model.display()))
    })?;
    let scale = match args.scale {
        ScaleChoice::PerFilter => FilterScale::PerFilter,
        ScaleChoice::Shared => FilterScale::Shared,
    };
    let images = inspect::filter_images(&weight.value, scale)?;
    let mut tiles = Vec::with_capacity(images.len());
    for f in &images {
        let &[c, h, w] = f.dims() else { anyhow::bail!("filter_images gave {:?}", f.dims()) };
        let tile = match c {
            3 => picture::rgb(f.data(), w, h),
            _ => picture::grey(&f.data()[..h * w], w, h),
        };
        tiles.push(enlarge(&tile, factor_for(h.max(w), TILE / 2)));
    }
    picture::save(&grid(&tiles, 8), &args.out)?;
    println!(
        "{}: {} filters of {:?} ({}), {:?} scale",
        args.out.display(),
        images.len(),
        &weight.value.dims()[1..],
        weight.name,
        args.scale
    );
    Ok(())
}

/// An image file prepared exactly as evaluation prepares it: [1, 3, S, S] plus the picture.
fn prepare(path: &Path, config: &TrainConfig) -> anyhow::Result<(Tensor, Image)> {
    let img = data::load_image(path, config.image_size, config.augment)?;
    // The evaluation pipeline is deterministic; the RNG it is handed is never drawn from.
    let img = data::eval_pipeline(config.image_size)?.apply(&img, &mut Rng::new(0))?;
    Ok((augment::stack(std::slice::from_ref(&img))?, img))
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// `trainer feature-maps`: every convolution's output planes for one image, one PNG per layer.
///
/// # Errors
/// The run or the image cannot be loaded, or a PNG cannot be written.
pub fn feature_maps(args: &FeatureMapsArgs) -> anyhow::Result<()> {
    let mut t = load_trained(&args.model, args.weights)?;
    let (x, img) = prepare(&args.image, &t.config)?;
    create_dir(&args.out)?;
    let input = args.out.join("input.png");
    picture::save(&img.to_rgb8(), &input)?;
    println!("{}: the network's input ({s}×{s})", input.display(), s = t.config.image_size);
    let maps = inspect::feature_maps(&mut t.net, &mut Tape::new(), &x)?;
    for map in &maps {
        let &[_, c, h, w] = map.value.dims() else {
            anyhow::bail!("conv {} gave {:?}, not [1, C, H, W]", map.layer + 1, map.value.dims())
        };
        let tiles: Vec<_> = map
            .value
            .data()
            .chunks_exact(h * w)
            .map(|plane| {
                enlarge(
                    &picture::grey(&inspect::min_max_normalise(plane), w, h),
                    factor_for(h.max(w), TILE),
                )
            })
            .collect();
        let path = args.out.join(format!("conv{}.png", map.layer + 1));
        picture::save(&grid(&tiles, 8), &path)?;
        println!(
            "{}: conv {} output, {c} maps of {h}×{w} (each scaled to its own range)",
            path.display(),
            map.layer + 1
        );
    }
    Ok(())
}

/// `trainer gradcam`: a Grad-CAM heat map over each image, next to the image itself.
///
/// # Errors
/// The run or an image cannot be loaded, the class or layer does not exist, or a PNG cannot
/// be written.
pub fn grad_cam(args: &GradCamArgs) -> anyhow::Result<()> {
    let mut t = load_trained(&args.model, args.weights)?;
    let class = match &args.class {
        None => ClassChoice::Predicted,
        Some(name) => {
            ClassChoice::Class(t.classes.iter().position(|c| c == name).ok_or_else(|| {
                Failure::Usage(format!("--class {name}: the run's classes are {:?}", t.classes))
            })?)
        }
    };
    let layer = match args.layer {
        None => ConvLayer::Last,
        Some(0) => return Err(Failure::Usage("--layer counts from 1".into()).into()),
        Some(l) => ConvLayer::Index(l - 1),
    };
    create_dir(&args.out)?;
    let mut tape = Tape::new();
    println!(
        "{:<40}  {:<14} {:>8}  {:<14} {:>8}  file",
        "image", "explained", "p", "predicted", "p"
    );
    for path in &args.images {
        let (x, img) = prepare(path, &t.config)?;
        let cam = inspect::grad_cam(&mut t.net, &mut tape, &x, class, layer)
            .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
        let photo = img.to_rgb8();
        let side = factor_for(photo.width() as usize, 2 * TILE);
        let pair =
            [enlarge(&photo, side), enlarge(&picture::overlay(&photo, cam.heatmap.data()), side)];
        let stem =
            path.file_stem().map_or_else(|| "image".into(), |s| s.to_string_lossy().into_owned());
        let out = args.out.join(format!("{stem}_gradcam.png"));
        picture::save(&grid(&pair, 2), &out)?;
        let predicted = crate::evaluate::arg_max(&cam.probabilities);
        println!(
            "{:<40}  {:<14} {:>8.4}  {:<14} {:>8.4}  {}",
            path.display(),
            t.classes[cam.class],
            cam.probabilities[cam.class],
            t.classes[predicted],
            cam.probabilities[predicted],
            out.display()
        );
    }
    Ok(())
}
