//! One function per subcommand; [`run`] dispatches.

pub mod confusion;
pub mod im2col;
pub mod inspect;
mod picture;
pub mod profile;
pub mod robustness;
mod tools;

use std::path::{Path, PathBuf};

use augment::{Split, SplitFractions};
use autograd::Tape;
use tensor::Rng;

use crate::cli::{
    Cli, Command, EvalArgs, PredictArgs, SplitChoice, TrainArgs, ViewsOverride, Weights,
};
use crate::config::TrainConfig;
use crate::evaluate::{Evaluation, evaluate};
use crate::exit::Failure;
use crate::model::Network;
use crate::report::ClassificationReport;
use crate::run_dir::{RunDir, TrainState, default_run_name};
use crate::train::{self, Outcome};
use crate::{data, doctor};

/// Runs the parsed command line.
///
/// # Errors
/// Whatever the subcommand reports; [`crate::exit::exit_code_for`] turns it into an exit code.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(args) => train(&args),
        Command::Eval(args) => eval(&args),
        Command::Predict(args) => predict(&args),
        Command::Filters(args) => inspect::filters(&args),
        Command::FeatureMaps(args) => inspect::feature_maps(&args),
        Command::Gradcam(args) => inspect::grad_cam(&args),
        Command::Confusion(args) => confusion::confusion(&args),
        Command::Robustness(args) => robustness::robustness(&args),
        Command::Im2col(args) => im2col::im2col(&args),
        Command::Profile(args) => profile::profile(&args),
        Command::Gradcheck(args) => tools::gradcheck(&args),
        Command::AugmentPreview(args) => tools::augment_preview(&args),
        Command::Expand(args) => tools::expand(&args),
        Command::Bench(args) => {
            set_threads(args.threads)?;
            tools::bench(&args)
        }
    }
}

/// Sizes rayon's global pool (all cores when `threads` is `None`).
fn set_threads(threads: Option<usize>) -> anyhow::Result<()> {
    match threads {
        Some(0) => Err(Failure::Usage("--threads 0: give at least 1 thread".into()).into()),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| anyhow::anyhow!("setting up {n} threads: {e}")),
        None => Ok(()),
    }
}

fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let outcome = match &args.resume {
        Some(run) => {
            args.check_resume_alone()?;
            set_threads(args.threads)?;
            train::resume(run, args.stop_after_steps)?
        }
        None => {
            let config = args.resolve()?;
            if args.dry_run {
                println!("{}", serde_json::to_string_pretty(&config)?);
                return Ok(());
            }
            set_threads(args.threads)?;
            let out = args.out.clone().unwrap_or_else(|| {
                let preset = serde_json::to_value(config.preset)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_else(|| "run".into());
                default_run_name(&preset, config.seed)
            });
            train::train_new(config, out, args.stop_after_steps)?
        }
    };
    match outcome {
        Outcome::Finished | Outcome::Stopped(_) => Ok(()),
    }
}

/// A trained network read back from its run folder.
struct Trained {
    dir: RunDir,
    config: TrainConfig,
    classes: Vec<String>,
    net: Network,
}

fn load_trained(run: &Path, weights: Weights) -> anyhow::Result<Trained> {
    let dir = RunDir::open(run)?;
    let config = dir.read_config()?;
    let classes = dir.read_classes()?;
    let path = match weights {
        Weights::Best => dir.best(),
        Weights::Last => {
            let state: TrainState = dir.read_json(&dir.state())?;
            let name = state.checkpoint.ok_or_else(|| {
                Failure::BadInput(format!("{}: no checkpoint written yet", run.display()))
            })?;
            dir.file(&name)
        }
    };
    if !path.is_file() {
        return Err(Failure::BadInput(format!(
            "{}: missing. The run has not finished an epoch yet; try --weights last, or train \
             longer",
            path.display()
        ))
        .into());
    }
    let mut net = Network::new(&train::network_spec(&config, classes.len()));
    autograd::io::load(&path, &mut net, None)
        .map_err(|e| Failure::BadInput(format!("loading the model: {e}")))?;
    Ok(Trained { dir, config, classes, net })
}

/// Runs the trained network over `batches` of labelled images (the views `views` picks) and
/// builds their report.
fn classify(
    t: &mut Trained,
    batches: &[(tensor::Tensor, Vec<usize>)],
    views: ViewsOverride,
) -> anyhow::Result<(Evaluation, ClassificationReport)> {
    let result = evaluate(&mut t.net, &mut Tape::new(), batches, views.views(&t.config))?;
    let report = ClassificationReport::new(
        &t.classes,
        &result.truth,
        &result.predicted,
        Some(result.mean_loss),
    )?;
    Ok((result, report))
}

/// The images `eval`, `confusion` and `robustness` read: the folder `data_dir` (default: the
/// run's training data) loaded as the run saw its images, its classes mapped onto the run's
/// (all or some of them, see [`model_classes_of`]), and the indices of the chosen part of its
/// split.
fn evaluation_images(
    t: &Trained,
    data_dir: Option<&Path>,
    split: SplitChoice,
) -> anyhow::Result<(PathBuf, augment::Dataset, Vec<usize>)> {
    // Absolute either way, so the run's own folder is recognised however it is spelled.
    let own_data = crate::run_dir::resolve_data_dir(&t.config.data);
    let folder = match data_dir {
        Some(d) => crate::run_dir::resolve_data_dir(d),
        None => own_data.clone(),
    };
    let mut ds = data::load_folder(&folder, t.config.image_size, t.config.augment)?;
    let to_model = model_classes_of(&ds.classes, &t.classes).map_err(|unknown| {
        Failure::BadInput(format!(
            "--data {}: its class folders {unknown:?} are not classes of the model, whose classes \
             are {:?}; name each sub-folder after one of them (some may be missing)",
            folder.display(),
            t.classes
        ))
    })?;
    // From here on a sample's class is the model's index, and the report lists every class of
    // the model (a class the folder lacks has no support).
    for sample in &mut ds.samples {
        sample.class = to_model[sample.class];
    }
    ds.classes.clone_from(&t.classes);
    let indices: Vec<usize> = match split {
        SplitChoice::All => (0..ds.len()).collect(),
        part => {
            // The run's own folder is split the way the run was (its cross-validation fold, if
            // any); another folder by its own manifest or the seeded split.
            let split = if folder == own_data {
                data::run_split(&ds, &t.config)?
            } else {
                Split::from_dataset(&ds, SplitFractions::default(), data::SPLIT_SEED)?
            };
            match part {
                SplitChoice::Train => split.train,
                SplitChoice::Val => split.val,
                _ => split.test,
            }
        }
    };
    if indices.is_empty() {
        return Err(Failure::BadInput(format!(
            "--data {}: no images in the chosen split",
            folder.display()
        ))
        .into());
    }
    Ok((folder, ds, indices))
}

/// For each of a folder's classes, the model's class of the same name, so any folder holding
/// some of the model's classes can be scored (e.g. only `galaxies/` and `nebulae/`). Names match
/// ignoring case and treating spaces, hyphens and underscores alike (`Solar System` is
/// `solar_system`). `Err` lists the folder's classes the model does not have.
fn model_classes_of(folder: &[String], model: &[String]) -> Result<Vec<usize>, Vec<String>> {
    let key = |name: &str| -> String {
        name.chars()
            .map(|c| if matches!(c, ' ' | '-') { '_' } else { c.to_ascii_lowercase() })
            .collect()
    };
    let model_keys: Vec<String> = model.iter().map(|m| key(m)).collect();
    let found: Vec<Option<usize>> =
        folder.iter().map(|f| model_keys.iter().position(|m| *m == key(f))).collect();
    let unknown: Vec<String> =
        folder.iter().zip(&found).filter(|(_, i)| i.is_none()).map(|(f, _)| f.clone()).collect();
    if unknown.is_empty() { Ok(found.into_iter().flatten().collect()) } else { Err(unknown) }
}

fn eval(args: &EvalArgs) -> anyhow::Result<()> {
    set_threads(args.threads)?;
    let mut t = load_trained(&args.model, args.weights)?;
    let split = SplitChoice::or_default(args.split, args.data.is_some());
    let (folder, ds, indices) = evaluation_images(&t, args.data.as_deref(), split)?;
    let batches = data::eval_batches(&ds, &indices, t.config.image_size, 64)?;
    let (result, report) = classify(&mut t, &batches, args.views)?;
    let part = match split {
        SplitChoice::All => "every image",
        SplitChoice::Train => "the training split",
        SplitChoice::Val => "the validation split",
        SplitChoice::Test => "the test split",
    };
    println!(
        "{} on {part} of {} ({} images):\n{}",
        args.model.display(),
        folder.display(),
        indices.len(),
        report.table()
    );
    if let Some(w) =
        doctor::check_collapse(&result.predicted, &result.truth, &t.classes, "evaluated")
    {
        eprintln!("{w}");
    }
    let out: PathBuf = args.out.clone().unwrap_or_else(|| t.dir.root().to_path_buf());
    std::fs::create_dir_all(&out)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", out.display()))?;
    report.save(&out, "eval")?;
    let files: Vec<&str> = indices.iter().map(|&i| ds.samples[i].file.as_str()).collect();
    let rows = predictions_csv(&t.classes, &files, &result);
    crate::atomic::write_bytes(&out.join("eval_predictions.csv"), rows.as_bytes())?;
    println!(
        "saved eval.txt, eval.json, eval_confusion.csv, eval_predictions.csv in {}",
        out.display()
    );
    Ok(())
}

/// A CSV field: as it is, or quoted (quotes doubled) if it holds a comma, quote or line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// One row per image: `file,true,predicted,p_<class>...` (probabilities averaged over the
/// views, as the report scored them), so the wrong images can be found and looked at.
fn predictions_csv(classes: &[String], files: &[&str], result: &Evaluation) -> String {
    use std::fmt::Write;
    let mut s = String::from("file,true,predicted");
    for c in classes {
        let _ = write!(s, ",{}", csv_field(&format!("p_{c}")));
    }
    s.push('\n');
    let rows = files.iter().zip(&result.truth).zip(&result.predicted).zip(&result.probabilities);
    for (((file, &truth), &predicted), probs) in rows {
        let (truth, predicted) = (csv_field(&classes[truth]), csv_field(&classes[predicted]));
        let _ = write!(s, "{},{truth},{predicted}", csv_field(file));
        for p in probs {
            let _ = write!(s, ",{p:.6}");
        }
        s.push('\n');
    }
    s
}

/// File extensions `predict` takes from a folder (lower case): what the `image` crate here
/// decodes.
const IMAGE_EXTENSIONS: [&str; 8] = ["png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp"];

/// Images per forward pass of `predict`: memory stays bounded whatever the number of files.
const PREDICT_BATCH: usize = 64;

/// The image files that `predict`'s arguments name: a file as given (its decoder says whether
/// it is an image), a folder as the image files under it (by extension, recursively, hidden
/// names skipped, sorted by path), so `trainer predict --model RUN my_photos/` classifies a
/// whole folder.
fn image_paths(args: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let is_image = |path: &PathBuf| {
        let extension = path.extension().map(|e| e.to_string_lossy().to_lowercase());
        extension.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
    };
    let mut paths = Vec::new();
    for arg in args {
        if arg.is_dir() {
            let files =
                augment::folder::files_under(arg).map_err(|e| Failure::BadInput(e.to_string()))?;
            let mut found: Vec<PathBuf> = files.into_iter().filter(is_image).collect();
            if found.is_empty() {
                return Err(Failure::BadInput(format!(
                    "{}: no image files in this folder (looked for .{} files)",
                    arg.display(),
                    IMAGE_EXTENSIONS.join(", .")
                ))
                .into());
            }
            found.sort();
            paths.extend(found);
        } else {
            paths.push(arg.clone());
        }
    }
    Ok(paths)
}

/// `trainer predict`: a table row per readable image. An unreadable file (missing, corrupt,
/// truncated, too small) gets its message on stderr and the others are still classified; the
/// command then ends with the bad-input exit code, so a script notices.
fn predict(args: &PredictArgs) -> anyhow::Result<()> {
    let mut t = load_trained(&args.model, args.weights)?;
    let pipeline = data::eval_pipeline(t.config.image_size)?;
    let views = args.views.views(&t.config);
    let paths = image_paths(&args.images)?;
    let header: Vec<String> = t.classes.iter().map(|c| format!("{c:>12}")).collect();
    // One column as wide as the longest path, so the rows line up however deep the files are.
    let width = paths.iter().map(|p| p.display().to_string().chars().count()).max().unwrap_or(0);
    let width = width.max(5);
    let class_width = t.classes.iter().map(|c| c.chars().count()).max().unwrap_or(0).max(5);
    println!("{:<width$}  {:<class_width$}  {}", "image", "class", header.join(" "));
    let mut tape = Tape::new();
    let mut unreadable = 0;
    // Batch by batch, each printed as soon as it is classified.
    for chunk in paths.chunks(PREDICT_BATCH) {
        let mut images = Vec::with_capacity(chunk.len());
        let mut read = Vec::with_capacity(chunk.len());
        for path in chunk {
            // As `eval` holds it in a folder: the same pixels give the same probabilities.
            match data::load_image(path, t.config.image_size, t.config.augment) {
                Ok(img) => {
                    // The evaluation pipeline is deterministic; its RNG is never drawn from.
                    images.push(pipeline.apply(&img, &mut Rng::new(0))?);
                    read.push(path);
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    unreadable += 1;
                }
            }
        }
        if images.is_empty() {
            continue;
        }
        let x = augment::stack(&images)?;
        // Targets are unknown; the probabilities do not depend on them.
        let batch = vec![(x, vec![0; images.len()])];
        let result = evaluate(&mut t.net, &mut tape, &batch, views)?;
        for ((path, &p), probs) in read.iter().zip(&result.predicted).zip(&result.probabilities) {
            let cells: Vec<String> = probs.iter().map(|q| format!("{q:>12.4}")).collect();
            let shown = path.display().to_string();
            println!("{shown:<width$}  {:<class_width$}  {}", t.classes[p], cells.join(" "));
        }
    }
    if unreadable > 0 {
        let message = if paths.len() == 1 {
            "the image could not be read (see above)".to_string()
        } else if unreadable == paths.len() {
            format!("none of the {unreadable} files could be read (each named above)")
        } else {
            format!(
                "{unreadable} of {} files could not be read (each named above); the others were \
                 classified",
                paths.len()
            )
        };
        return Err(Failure::BadInput(message).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_may_hold_some_of_the_models_classes_under_loosely_spelled_names() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let model = names(&["galaxies", "nebulae", "solar_system"]);
        assert_eq!(model_classes_of(&model, &model), Ok(vec![0, 1, 2]));
        assert_eq!(model_classes_of(&names(&["nebulae"]), &model), Ok(vec![1]));
        assert_eq!(
            model_classes_of(&names(&["Galaxies", "Solar System", "solar-system"]), &model),
            Ok(vec![0, 2, 2])
        );
        assert_eq!(
            model_classes_of(&names(&["comets", "galaxies", "stars"]), &model),
            Err(names(&["comets", "stars"]))
        );
    }

    #[test]
    fn a_folder_argument_stands_for_its_image_files_sorted_and_recursive() {
        let root = std::env::temp_dir().join(format!("predict-paths-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("sub/.hidden")).unwrap();
        for f in ["b.PNG", "a.jpg", "notes.txt", ".c.png", "sub/d.webp", "sub/.hidden/e.png"] {
            std::fs::write(root.join(f), b"").unwrap();
        }
        let single = root.join("notes.txt");
        let paths = image_paths(&[root.clone(), single.clone()]).unwrap();
        let expected = [root.join("a.jpg"), root.join("b.PNG"), root.join("sub/d.webp"), single];
        assert_eq!(paths, expected, "folder: images only, sorted; a named file is kept as given");

        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::write(root.join("empty/readme.md"), b"").unwrap();
        let err = image_paths(&[root.join("empty")]).unwrap_err().to_string();
        assert!(err.contains("empty: no image files in this folder"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        assert_eq!(csv_field("galaxies/m31.jpg"), "galaxies/m31.jpg");
        assert_eq!(csv_field("nebulae/a,b.png"), "\"nebulae/a,b.png\"");
        assert_eq!(csv_field("say \"cheese\".png"), "\"say \"\"cheese\"\".png\"");
    }

    #[test]
    fn prediction_rows_name_the_file_its_class_and_the_call() {
        let classes = ["galaxies", "nebulae"].map(String::from).to_vec();
        let result = Evaluation {
            mean_loss: 0.5,
            truth: vec![0, 1],
            predicted: vec![0, 0],
            probabilities: vec![vec![0.75, 0.25], vec![0.5, 0.5]],
        };
        let csv = predictions_csv(&classes, &["galaxies/a.jpg", "nebulae/b,c.jpg"], &result);
        assert_eq!(
            csv,
            "file,true,predicted,p_galaxies,p_nebulae\n\
             galaxies/a.jpg,galaxies,galaxies,0.750000,0.250000\n\
             \"nebulae/b,c.jpg\",nebulae,galaxies,0.500000,0.500000\n"
        );
    }
}
