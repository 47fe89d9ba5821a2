//! `trainer confusion`: the confusion matrix of a trained run as an image, and a grid of the
//! test images it gets wrong with the most confidence (often label noise, or a class boundary
//! the data set blurs).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use plotters::prelude::*;

use super::load_trained;
use super::picture::{self, enlarge, factor_for, grid};
use crate::cli::{SplitChoice, ViewsOverride, Weights};
use crate::data;
use crate::report::ClassificationReport;

/// Side of the confusion-matrix image in pixels.
const SIDE: u32 = 640;

/// Options of `trainer confusion`.
#[derive(Debug, Args)]
pub struct ConfusionArgs {
    /// The run folder of a trained model.
    #[arg(long)]
    pub model: PathBuf,
    /// Which weights of the run to use.
    #[arg(long, value_enum, default_value_t = Weights::Best)]
    pub weights: Weights,
    /// Image folder to evaluate (default: the run's training data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Which images of the folder to evaluate. Default: the test split of the run's own data,
    /// every image of another folder (--data).
    #[arg(long, value_enum)]
    pub split: Option<SplitChoice>,
    /// How many confidently wrong images to show.
    #[arg(long, default_value_t = 16)]
    pub wrong: usize,
    /// `--tta`: which views of each image to average.
    #[command(flatten)]
    pub views: ViewsOverride,
    /// The confusion-matrix PNG; the wrong images go to <name>_wrong.png beside it.
    #[arg(long)]
    pub out: PathBuf,
}

/// `trainer confusion`.
///
/// # Errors
/// The run or the folder cannot be loaded, its classes differ from the run's, or a PNG
/// cannot be written.
pub fn confusion(args: &ConfusionArgs) -> anyhow::Result<()> {
    let mut t = load_trained(&args.model, args.weights)?;
    let split = SplitChoice::or_default(args.split, args.data.is_some());
    let (folder, ds, indices) = super::evaluation_images(&t, args.data.as_deref(), split)?;
    let batch_size = 64;
    let batches = data::eval_batches(&ds, &indices, t.config.image_size, batch_size)?;
    let (result, report) = super::classify(&mut t, &batches, args.views)?;
    draw_matrix(
        &report,
        &format!("{} on {split:?} of {}", args.model.display(), folder.display()),
        &args.out,
    )?;
    println!(
        "{}\n{}: the confusion matrix (rows: true class, columns: predicted)",
        report.table(),
        args.out.display()
    );

    // (confidence of the wrong prediction, position in `indices`)
    let mut wrong: Vec<(f32, usize)> = (0..result.truth.len())
        .filter(|&i| result.truth[i] != result.predicted[i])
        .map(|i| (result.probabilities[i][result.predicted[i]], i))
        .collect();
    wrong.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    wrong.truncate(args.wrong);
    if wrong.is_empty() {
        println!("no wrong predictions: nothing to show");
        return Ok(());
    }
    let size = t.config.image_size;
    let mut tiles = Vec::with_capacity(wrong.len());
    println!("\nmost confidently wrong, in grid order (row by row):");
    for (rank, &(confidence, i)) in wrong.iter().enumerate() {
        let (x, _) = &batches[i / batch_size];
        let planes = &x.data()[(i % batch_size) * 3 * size * size..][..3 * size * size];
        tiles.push(enlarge(&picture::rgb(planes, size, size), factor_for(size, 128)));
        println!(
            "{:>3}. {:<50} true {:<14} predicted {:<14} p = {confidence:.4}",
            rank + 1,
            ds.samples[indices[i]].path.display(),
            t.classes[result.truth[i]],
            t.classes[result.predicted[i]],
        );
    }
    let path = wrong_path(&args.out);
    picture::save(&grid(&tiles, 4), &path)?;
    println!("{}: these {} images", path.display(), tiles.len());
    Ok(())
}

/// `dir/name.png` → `dir/name_wrong.png`.
fn wrong_path(out: &Path) -> PathBuf {
    let stem =
        out.file_stem().map_or_else(|| "confusion".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}_wrong.png"))
}

/// Cells shaded by the fraction of the true class (row) they hold, labelled with the count.
fn draw_matrix(report: &ClassificationReport, title: &str, path: &Path) -> anyhow::Result<()> {
    crate::plot::register_font()?;
    let mut rgb = vec![0u8; (SIDE * SIDE * 3) as usize];
    draw(report, title, &mut rgb)
        .map_err(|e| anyhow::anyhow!("drawing the confusion matrix: {e}"))?;
    let img = image::RgbImage::from_raw(SIDE, SIDE, rgb)
        .context("the buffer has SIDE² × 3 bytes by construction")?;
    picture::save(&img, path)
}

fn draw<'a>(
    report: &ClassificationReport,
    title: &str,
    rgb: &'a mut [u8],
) -> Result<(), Box<dyn std::error::Error + 'a>> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let k = report.classes.len().max(1) as i32;
    let root = BitMapBackend::with_buffer(rgb, (SIDE, SIDE)).into_drawing_area();
    root.fill(&WHITE)?;
    let side = SIDE as i32;
    // Pixel layout: class names left of and below a square grid of k×k cells.
    let (left, top, right) = (130, 50, 20);
    let cell = (side - left - right) / k;
    let font =
        |size: i32, h, v| TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(h, v));
    root.draw(&Text::new(title.to_string(), (side / 2, 16), font(14, HPos::Center, VPos::Center)))?;
    for (t, row) in report.confusion.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f64;
        let y = top + t as i32 * cell;
        for (p, &count) in row.iter().enumerate() {
            let x = left + p as i32 * cell;
            let share = count as f64 / total;
            let shade = (255.0 * (1.0 - 0.8 * share)) as u8;
            root.draw(&Rectangle::new(
                [(x, y), (x + cell, y + cell)],
                RGBColor(shade, shade, 255).filled(),
            ))?;
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], BLACK.stroke_width(1)))?;
            let colour = if share > 0.5 { WHITE } else { BLACK };
            let label = format!("{count} ({:.0}%)", 100.0 * share);
            let style = font(18, HPos::Center, VPos::Center).color(&colour);
            root.draw(&Text::new(label, (x + cell / 2, y + cell / 2), style))?;
        }
        let name = report.classes[t].clone();
        root.draw(&Text::new(name, (left - 8, y + cell / 2), font(14, HPos::Right, VPos::Center)))?;
    }
    for (p, name) in report.classes.iter().enumerate() {
        let x = left + p as i32 * cell + cell / 2;
        root.draw(&Text::new(
            name.clone(),
            (x, top + k * cell + 10),
            font(14, HPos::Center, VPos::Top),
        ))?;
    }
    let below = top + k * cell + 40;
    let axes = "rows: true class, columns: predicted class; shade = share of the row".to_string();
    root.draw(&Text::new(axes, (side / 2, below), font(13, HPos::Center, VPos::Top)))?;
    root.present()?;
    Ok(())
}
