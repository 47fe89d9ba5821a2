//! `trainer robustness`: how a trained run's accuracy holds up when its evaluation images are
//! altered the ways images from other telescopes differ (`augment::Shift`: grayscale, zoomed
//! out, rotated, darker, harder contrast, blurred, JPEG, noisier), labels kept.
//!
//! Every shift is applied to the images as the run loads them (its working size), then the
//! usual evaluation resize and crop follow, so the shifts act at about the resolution the network
//! reads. The report is one row per shift: accuracy, its change from the unaltered images, the
//! mean loss, and the confusion matrix, so one sees not only how much a shift costs but where
//! the calls go (gray nebulae called galaxies, zoomed-out galaxies called solar system, …).

use std::fmt::Write as _;
use std::path::PathBuf;

use augment::{Dataset, Image, Shift};
use clap::Args;
use rayon::prelude::*;

use super::{classify, evaluation_images, load_trained, set_threads};
use crate::cli::{SplitChoice, ViewsOverride, Weights};
use crate::data;
use crate::exit::Failure;
use crate::report::ClassificationReport;

/// Options of `trainer robustness`.
#[derive(Debug, Args)]
pub struct RobustnessArgs {
    /// The run folder written by `trainer train`.
    #[arg(long, value_name = "RUN")]
    pub model: PathBuf,
    /// Image folder to evaluate on (class sub-folders). Default: the run's training data.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Which images of the folder to alter and evaluate. Default: the test split of the run's
    /// own data, every image of another folder (--data).
    #[arg(long, value_enum)]
    pub split: Option<SplitChoice>,
    /// Which weights to use.
    #[arg(long, value_enum, default_value_t = Weights::Best)]
    pub weights: Weights,
    /// The alterations, comma-separated (the unaltered `none` is always measured first, as the
    /// baseline). Default: all of none, grayscale, zoom-out, rotate-30, dark, contrast, blur,
    /// jpeg, noise.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_shift)]
    pub shifts: Vec<Shift>,
    /// Folder for robustness.txt and robustness.csv. Default: the run folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// `--tta`: which views of each image to average.
    #[command(flatten)]
    pub views: ViewsOverride,
}

fn parse_shift(name: &str) -> Result<Shift, String> {
    name.trim().parse().map_err(|e: augment::AugmentError| e.to_string())
}

/// One row of the report.
struct Row {
    shift: Shift,
    report: ClassificationReport,
}

/// `trainer robustness`.
///
/// # Errors
/// The run or the folder cannot be loaded, its classes differ from the run's, a shift fails on
/// an image (named), or a report file cannot be written.
pub fn robustness(args: &RobustnessArgs) -> anyhow::Result<()> {
    set_threads(args.threads)?;
    let mut t = load_trained(&args.model, args.weights)?;
    let split = SplitChoice::or_default(args.split, args.data.is_some());
    let (folder, ds, indices) = evaluation_images(&t, args.data.as_deref(), split)?;
    let mut shifts = vec![Shift::None];
    let asked = if args.shifts.is_empty() { Shift::ALL.to_vec() } else { args.shifts.clone() };
    for shift in asked {
        if !shifts.contains(&shift) {
            shifts.push(shift);
        }
    }
    println!(
        "{} ({:?} weights) on {} images of {} ({:?} split), each altered {} ways:",
        args.model.display(),
        args.weights,
        indices.len(),
        folder.display(),
        split,
        shifts.len() - 1
    );
    let mut rows: Vec<Row> = Vec::with_capacity(shifts.len());
    for &shift in &shifts {
        let altered = altered_copy(&ds, &indices, shift)?;
        let positions: Vec<usize> = (0..altered.len()).collect();
        let batches = data::eval_batches(&altered, &positions, t.config.image_size, 64)?;
        let (_, report) = classify(&mut t, &batches, args.views)?;
        let row = Row { shift, report };
        // rows.first() is None for the first row: the baseline itself.
        println!("{}", line(&row, rows.first()));
        rows.push(row);
    }
    let out = args.out.clone().unwrap_or_else(|| t.dir.root().to_path_buf());
    std::fs::create_dir_all(&out)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", out.display()))?;
    crate::atomic::write_bytes(&out.join("robustness.csv"), csv(&rows).as_bytes())?;
    let mut text = String::new();
    for (i, row) in rows.iter().enumerate() {
        let baseline = if i == 0 { None } else { rows.first() };
        let _ = writeln!(text, "{}", line(row, baseline));
    }
    crate::atomic::write_bytes(&out.join("robustness.txt"), text.as_bytes())?;
    println!("saved robustness.txt and robustness.csv in {}", out.display());
    Ok(())
}

/// A dataset of the images `indices` of `ds`, each altered by `shift` (the noise keyed by the
/// image's index in `ds`, so a file gets the same noise whatever else is evaluated with it) and
/// rounded back to 8 bits, as a file would store it.
///
/// # Errors
/// [`Failure::BadInput`] naming the file a shift could not be applied to.
fn altered_copy(ds: &Dataset, indices: &[usize], shift: Shift) -> anyhow::Result<Dataset> {
    let samples = indices
        .par_iter()
        .map(|&i| {
            let sample = &ds.samples[i];
            let image = Image::from_rgb8(&sample.pixels)
                .and_then(|img| shift.apply(&img, i as u64))
                .map_err(|e| {
                    Failure::BadInput(format!("{}: {shift}: {e}", sample.path.display()))
                })?;
            // Every field but the pixels as loaded (not a clone: that would copy the pixels too).
            Ok(augment::Sample {
                path: sample.path.clone(),
                file: sample.file.clone(),
                class: sample.class,
                group: sample.group.clone(),
                split: sample.split,
                pixels: image.to_rgb8(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Dataset {
        root: ds.root.clone(),
        classes: ds.classes.clone(),
        samples,
        skipped: Vec::new(),
        manifest: ds.manifest.clone(),
    })
}

/// `shift  accuracy (change)  loss  confusion rows`, e.g.
/// `grayscale   85.39 %  (-4.49)  loss 0.3260  confusion 29 3 0 / 9 16 1 / 0 0 31`.
fn line(row: &Row, baseline: Option<&Row>) -> String {
    let accuracy = 100.0 * row.report.accuracy;
    let change = match baseline {
        Some(base) => format!("({:+6.2})", accuracy - 100.0 * base.report.accuracy),
        None => "(  base)".to_string(),
    };
    let loss = row.report.mean_loss.map_or(String::from("-"), |l| format!("{l:.4}"));
    format!(
        "{:<10} {accuracy:6.2} % {change}  loss {loss}  confusion {}   {}",
        row.shift.name(),
        confusion_rows(&row.report),
        row.shift.describe()
    )
}

/// The confusion matrix on one line, rows (true classes) separated by ` / `.
fn confusion_rows(report: &ClassificationReport) -> String {
    let rows: Vec<String> = report
        .confusion
        .iter()
        .map(|row| row.iter().map(usize::to_string).collect::<Vec<_>>().join(" "))
        .collect();
    rows.join(" / ")
}

/// `shift,description,images,accuracy,mean_loss,<true>_as_<predicted>...`.
fn csv(rows: &[Row]) -> String {
    let mut s = String::from("shift,description,images,accuracy,mean_loss");
    if let Some(first) = rows.first() {
        for truth in &first.report.classes {
            for predicted in &first.report.classes {
                let _ = write!(s, ",{truth}_as_{predicted}");
            }
        }
    }
    s.push('\n');
    for row in rows {
        let r = &row.report;
        let loss = r.mean_loss.map_or(String::new(), |l| format!("{l:.6}"));
        let _ = write!(
            s,
            "{},\"{}\",{},{:.6},{loss}",
            row.shift.name(),
            row.shift.describe(),
            r.total,
            r.accuracy
        );
        for n in r.confusion.iter().flatten() {
            let _ = write!(s, ",{n}");
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(truth: &[usize], predicted: &[usize]) -> ClassificationReport {
        let classes = ["galaxies", "nebulae", "solar_system"].map(String::from);
        ClassificationReport::new(&classes, truth, predicted, Some(0.25)).unwrap()
    }

    #[test]
    fn lines_and_csv_show_the_change_from_the_baseline_and_every_confusion_cell() {
        let base = Row { shift: Shift::None, report: report(&[0, 1, 2, 2], &[0, 1, 2, 2]) };
        let gray = Row { shift: Shift::Grayscale, report: report(&[0, 1, 2, 2], &[0, 0, 2, 2]) };
        let text = line(&gray, Some(&base));
        assert!(text.starts_with("grayscale"), "{text}");
        assert!(text.contains(" 75.00 % (-25.00)"), "{text}");
        assert!(text.contains("confusion 1 0 0 / 1 0 0 / 0 0 2"), "{text}");
        assert!(line(&base, None).contains("(  base)"));
        let table = csv(&[base, gray]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].ends_with(",solar_system_as_nebulae,solar_system_as_solar_system"));
        assert!(
            lines[2].starts_with("grayscale,\"luma in all three channels\",4,0.750000,0.250000,")
        );
        assert!(lines[2].ends_with(",1,0,0,1,0,0,0,0,2"), "{}", lines[2]);
    }

    #[test]
    fn shift_names_parse_and_a_wrong_one_lists_the_choices() {
        assert_eq!(parse_shift(" zoom-out"), Ok(Shift::ZoomOut));
        let err = parse_shift("sepia").unwrap_err();
        assert!(err.contains("grayscale"), "{err}");
    }
}
