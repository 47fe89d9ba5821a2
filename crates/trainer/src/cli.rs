//! The command line (clap derive). Each subcommand's doc comment is its `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{
    Architecture, AugmentChoice, ClassBalance, CvFold, InitScheme, MixChoice, OptimizerKind,
    Preset, ScheduleKind, TrainConfig,
};
use crate::exit::{EXIT_CODES_HELP, Failure};

/// Train, evaluate and use astroconv's convolutional networks on image folders.
///
/// An image folder has one sub-folder per class (sorted names become class indices, like
/// torchvision's ImageFolder) and optionally a manifest.csv with columns file,class,group,split
/// that fixes the train/val/test split. The bundled data/hubble set has three classes:
/// galaxies, nebulae, solar_system.
///
/// Start with `trainer train` (the default recipe, about five minutes on two cores), then
/// `trainer eval --model runs/<name> --data <folder>` and `trainer predict --model runs/<name>
/// image.jpg`.
#[derive(Debug, Parser)]
#[command(name = "trainer", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a network on an image folder and write a run folder.
    ///
    /// The run folder (--out) receives config.json, classes.json, metrics.csv (one row per
    /// epoch), checkpoint.safetensors + state.json (for --resume), best.safetensors (best
    /// validation accuracy), curves.png and, at the end, the test report of the best weights
    /// (test.txt, test.json, test_confusion.csv). The test split is evaluated once, at the end;
    /// the best epoch is chosen on the validation split only.
    ///
    /// Presets: `default` converges reliably at 64×64 (the wide-bn network with batch norm and
    /// a global-average-pool head, He init, AdamW with warm-up and cosine decay, class-weighted
    /// loss, label smoothing, the Default augmentation with mixup (α = 0.2), 120 epochs,
    /// predictions averaged over the eight flips and quarter turns).
    /// `paper-sgd` and `paper-adam` are the paper's two trials (224×224, PyTorch init, no
    /// normalisation, the paper's augmentations); --epochs may shorten them. Any option below
    /// overrides the preset.
    #[command(after_help = EXIT_CODES_HELP)]
    Train(TrainArgs),

    /// Evaluate a trained run on an image folder: accuracy, per-class precision / recall / F1
    /// and the confusion matrix, printed and saved (eval.txt, eval.json, eval_confusion.csv and
    /// eval_predictions.csv, one row per image, in --out, default the run folder).
    ///
    /// The folder's class sub-folders must be classes of the model (all or some of them;
    /// `Solar System` matches `solar_system`). Without --data it scores the run's test split;
    /// a folder given with --data is scored whole unless --split picks one part of its split.
    #[command(after_help = EXIT_CODES_HELP)]
    Eval(EvalArgs),

    /// Classify images with a trained run: prints each image's class and the probability of
    /// every class. Files are prepared exactly as `eval` prepares them in a folder, so both give
    /// the same probabilities; an unreadable file is reported and the others are classified.
    #[command(after_help = EXIT_CODES_HELP)]
    Predict(PredictArgs),

    /// Draw the first convolution's filters as a grid of small RGB images.
    #[command(after_help = EXIT_CODES_HELP)]
    Filters(crate::commands::inspect::FiltersArgs),

    /// Save what every convolution outputs for one image (one PNG of maps per layer).
    #[command(after_help = EXIT_CODES_HELP)]
    FeatureMaps(crate::commands::inspect::FeatureMapsArgs),

    /// Grad-CAM: a heat map of the pixels that speak for the predicted (or a chosen) class.
    #[command(after_help = EXIT_CODES_HELP)]
    Gradcam(crate::commands::inspect::GradCamArgs),

    /// How a trained run's accuracy holds up on altered images: its evaluation images made
    /// gray, zoomed out, rotated, darker, harder in contrast, blurred, JPEG-compressed or noisier
    /// (labels kept), one row per alteration with the change from the unaltered images and
    /// where the calls go. Saves robustness.txt and robustness.csv.
    #[command(after_help = EXIT_CODES_HELP)]
    Robustness(crate::commands::robustness::RobustnessArgs),

    /// Draw the confusion matrix of a split and a grid of its most confidently wrong images.
    #[command(after_help = EXIT_CODES_HELP)]
    Confusion(crate::commands::confusion::ConfusionArgs),

    /// Print every matrix of a tiny convolution done as im2col + GEMM, forward and backward.
    Im2col(crate::commands::im2col::Im2colArgs),

    /// Time one training step layer by layer: forward and backward time, GFLOP/s and share of
    /// the step for every op, on random images with a preset's network and optimiser.
    Profile(crate::commands::profile::ProfileArgs),
    /// Check every op's gradient, and every parameter gradient of the networks, against central
    /// finite differences, and print a table of the worst relative errors.
    ///
    /// This is how you convince yourself backprop is right: the tape's analytic gradient of
    /// each input element is compared with (f(x + h) − f(x − h)) / 2h.
    #[command(after_help = EXIT_CODES_HELP)]
    Gradcheck(GradcheckArgs),

    /// Show what an augmentation preset does to one image: a grid of N random samples, as PNG.
    #[command(after_help = EXIT_CODES_HELP)]
    AugmentPreview(PreviewArgs),

    /// Write an expanded copy of a folder's training split: each image plus N augmented copies
    /// (the paper's offline expansion), with a manifest.csv that keeps copies with their source.
    #[command(after_help = EXIT_CODES_HELP)]
    Expand(ExpandArgs),

    /// Measure training throughput (images/s) of a network on random images, with the time
    /// spent in each kind of op (forward and backward). Build with --release.
    #[command(after_help = EXIT_CODES_HELP)]
    Bench(BenchArgs),
}

/// Options of `trainer gradcheck`.
#[derive(Debug, Args)]
pub struct GradcheckArgs {
    /// Seed of the random inputs and weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Elements checked per network parameter (evenly spaced; 0 = all, slow).
    #[arg(long, default_value_t = 24)]
    pub elements: usize,
    /// Exit with code 4 when the worst relative error exceeds this.
    #[arg(long, default_value_t = 5e-2)]
    pub tolerance: f64,
}

/// Options of `trainer augment-preview`.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// The image to augment.
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
    /// Number of samples in the grid.
    #[arg(long, default_value_t = 16)]
    pub n: usize,
    /// Augmentation preset.
    #[arg(long, value_enum, default_value_t = AugmentChoice::Default)]
    pub preset: AugmentChoice,
    /// Side of each sample.
    #[arg(long, default_value_t = 128)]
    pub size: usize,
    /// Seed of the samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output PNG.
    #[arg(long, default_value = "grid.png")]
    pub out: PathBuf,
}

/// Options of `trainer expand`.
#[derive(Debug, Args)]
pub struct ExpandArgs {
    /// Image folder whose training split is expanded.
    #[arg(long, default_value = "data/hubble", value_name = "DIR")]
    pub data: PathBuf,
    /// Augmented copies per image (1 doubles the set, like the paper).
    #[arg(long, default_value_t = 1)]
    pub copies: usize,
    /// Augmentation preset of the copies.
    #[arg(long, value_enum, default_value_t = AugmentChoice::Paper)]
    pub preset: AugmentChoice,
    /// Side of the written images.
    #[arg(long, default_value_t = 224)]
    pub size: usize,
    /// Seed of the copies.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (must not exist or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Options of `trainer bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Network to time.
    #[arg(long, value_enum, default_value_t = Architecture::Paper)]
    pub arch: Architecture,
    /// Side of the random square images.
    #[arg(long, default_value_t = 224)]
    pub size: usize,
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Which weights of a run to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Weights {
    /// best.safetensors: the epoch with the best validation accuracy.
    Best,
    /// The latest checkpoint.
    Last,
}

/// Which images of a folder to evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitChoice {
    /// Every image in the folder.
    All,
    /// The training part of the folder's split (manifest.csv, else the seeded split).
    Train,
    /// The validation part.
    Val,
    /// The test part.
    Test,
}

impl SplitChoice {
    /// `given`, else the default of `eval`, `confusion` and `robustness`: the test split of the
    /// run's own data (the images it neither trained nor chose its weights on), every image of
    /// another folder.
    pub fn or_default(given: Option<Self>, other_folder: bool) -> Self {
        given.unwrap_or(if other_folder { Self::All } else { Self::Test })
    }
}

/// Options of `trainer eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The run folder written by `trainer train`.
    #[arg(long, value_name = "RUN")]
    pub model: PathBuf,
    /// Image folder to evaluate on (class sub-folders). Default: the run's training data.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Which images of the folder to evaluate. Default: the test split of the run's own data
    /// (the images it never trained or chose on), every image of another folder (--data).
    #[arg(long, value_enum)]
    pub split: Option<SplitChoice>,
    /// Which weights to use.
    #[arg(long, value_enum, default_value_t = Weights::Best)]
    pub weights: Weights,
    /// Folder for the report files. Default: the run folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// `--tta`: which views of each image to average.
    #[command(flatten)]
    pub views: ViewsOverride,
}

/// The `--tta` option of the commands that evaluate a trained run.
#[derive(Debug, Clone, Copy, Args)]
pub struct ViewsOverride {
    /// Average over the eight flips and quarter turns of each image (true/false).
    /// Default: what the run was trained with (its config.json).
    #[arg(long, value_name = "BOOL")]
    pub tta: Option<bool>,
}

impl ViewsOverride {
    /// The views to average: as given, else as the run `config` was trained.
    pub fn views(self, config: &TrainConfig) -> &'static [augment::Symmetry] {
        crate::evaluate::views(self.tta.unwrap_or(config.test_time_augmentation))
    }
}

/// Options of `trainer predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The run folder written by `trainer train`.
    #[arg(long, value_name = "RUN")]
    pub model: PathBuf,
    /// Which weights to use.
    #[arg(long, value_enum, default_value_t = Weights::Best)]
    pub weights: Weights,
    /// Image files (PNG, JPEG, ...) or folders (every image file under them, by extension).
    /// Each image is resized (shorter side) and centre-cropped to the run's image size, like the
    /// validation images; they are classified 64 at a time, each batch printed when done.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// `--tta`: which views of each image to average.
    #[command(flatten)]
    pub views: ViewsOverride,
}

/// Options of `trainer train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Image folder to train on (class sub-folders; manifest.csv fixes the split if present).
    /// Default: data/hubble.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Starting point for every setting below.
    #[arg(long, value_enum, default_value_t = Preset::Default)]
    pub preset: Preset,

    /// Settings that override the preset.
    #[command(flatten)]
    pub overrides: Overrides,

    /// Worker threads for the kernels and the augmentation (default: all cores). The results do
    /// not depend on it.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Run folder to create. Default: runs/<preset>-seed<seed>-<UTC time>.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Continue the interrupted run in RUN (a run folder). Its config.json decides every
    /// setting, so the result equals an uninterrupted run bit for bit; only --threads may be
    /// given with it.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["data", "preset", "out"])]
    pub resume: Option<PathBuf>,

    /// Print the resolved configuration as JSON and exit without training.
    #[arg(long)]
    pub dry_run: bool,

    /// Stop (with a checkpoint) after this many optimizer steps in total, as if interrupted.
    /// For testing --resume.
    #[arg(long, value_name = "STEPS", hide = true)]
    pub stop_after_steps: Option<usize>,
}

/// Per-setting overrides of the preset (all optional).
#[derive(Debug, Default, Args)]
pub struct Overrides {
    /// Network: paper (no normalisation, flatten head), paper-bn (+ batch norm), gap-bn (batch
    /// norm + global average pooling head), wide-bn (gap-bn with doubled widths and a pool after
    /// convolutions 1-4: sees the whole of a 64x64 image; sizes a multiple of 16), stem-bn
    /// (wide-bn behind a 16-channel full-resolution conv and pool: for 128x128 images at 1.4x
    /// wide-bn's cost at 64x64; sizes a multiple of 32).
    #[arg(long, value_enum)]
    pub arch: Option<Architecture>,
    /// Weight initialisation.
    #[arg(long, value_enum)]
    pub init: Option<InitScheme>,
    /// Side of the square images fed to the network (multiple of 8; of 16 for wide-bn, 32 for
    /// stem-bn).
    #[arg(long, value_name = "S")]
    pub image_size: Option<usize>,
    /// Number of passes over the training split. A short run keeps at most half of its epochs
    /// for the preset's warm-up (unless --warmup-epochs is given).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per optimizer step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Optimizer.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Base learning rate.
    #[arg(long)]
    pub lr: Option<f32>,
    /// SGD momentum.
    #[arg(long)]
    pub momentum: Option<f32>,
    /// Weight decay (L2 for sgd/adam, decoupled for adamw).
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Learning-rate schedule after warm-up.
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleKind>,
    /// Epochs of linear learning-rate warm-up.
    #[arg(long, value_name = "EPOCHS")]
    pub warmup_epochs: Option<usize>,
    /// Training-set augmentation.
    #[arg(long, value_enum)]
    pub augment: Option<AugmentChoice>,
    /// Class balancing of the loss.
    #[arg(long, value_enum)]
    pub balance: Option<ClassBalance>,
    /// Label smoothing ε in [0, 1).
    #[arg(long, value_name = "EPS")]
    pub label_smoothing: Option<f32>,
    /// Dropout probability in the head, in [0, 1).
    #[arg(long, value_name = "P")]
    pub dropout: Option<f32>,
    /// Clip the global gradient norm to this value (0 = no clipping).
    #[arg(long, value_name = "NORM")]
    pub grad_clip: Option<f32>,
    /// Seed of every random choice (init, split, batch order, augmentation, dropout).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Test-time augmentation (true/false): validation and test average the prediction over
    /// the eight flips and quarter turns of each image; eval and predict then do the same.
    #[arg(long, value_name = "BOOL")]
    pub tta: Option<bool>,
    /// K-fold cross-validation: FOLD/FOLDS (e.g. 0/4) deals the folder's training and
    /// validation images into FOLDS folds by object and class and validates on fold FOLD (test
    /// images neither used nor reported). Run every fold to judge a setting on all of train + val.
    #[arg(long, value_name = "FOLD/FOLDS")]
    pub cv_fold: Option<CvFold>,
    /// Mix pairs of training images and their labels: mixup (blend whole images) or cutmix
    /// (paste a box of one into the other), the share λ drawn per batch from Beta(α, α).
    #[arg(long, value_enum)]
    pub mix: Option<MixChoice>,
    /// α of the Beta(α, α) distribution of the mixing share (1 = uniform; small = mostly
    /// one image).
    #[arg(long, value_name = "ALPHA")]
    pub mix_alpha: Option<f32>,
    /// Train on this share of the training objects only, in (0, 1] (learning curves: how
    /// accuracy grows with data). Whole objects, class by class; smaller shares keep subsets
    /// of larger ones. Validation and test images are unchanged.
    #[arg(long, value_name = "SHARE")]
    pub train_fraction: Option<f32>,
    /// Train on the training and validation images together and keep the last epoch's
    /// weights (true/false): the final step once a recipe is chosen, so the model learns from
    /// every labelled object outside the test split. Validation accuracy is still printed, but
    /// on images the run trains on. Not with --cv-fold.
    #[arg(long, value_name = "BOOL")]
    pub refit: Option<bool>,
}

impl Overrides {
    /// True when no override was given.
    pub fn is_empty(&self) -> bool {
        let Self {
            arch,
            init,
            image_size,
            epochs,
            batch_size,
            optimizer,
            lr,
            momentum,
            weight_decay,
            schedule,
            warmup_epochs,
            augment,
            balance,
            label_smoothing,
            dropout,
            grad_clip,
            seed,
            tta,
            cv_fold,
            mix,
            mix_alpha,
            train_fraction,
            refit,
        } = self;
        arch.is_none()
            && init.is_none()
            && image_size.is_none()
            && epochs.is_none()
            && batch_size.is_none()
            && optimizer.is_none()
            && lr.is_none()
            && momentum.is_none()
            && weight_decay.is_none()
            && schedule.is_none()
            && warmup_epochs.is_none()
            && augment.is_none()
            && balance.is_none()
            && label_smoothing.is_none()
            && dropout.is_none()
            && grad_clip.is_none()
            && seed.is_none()
            && tta.is_none()
            && cv_fold.is_none()
            && mix.is_none()
            && mix_alpha.is_none()
            && train_fraction.is_none()
            && refit.is_none()
    }

    /// Writes every given override into `c`.
    pub fn apply(&self, c: &mut TrainConfig) {
        fn set<T: Copy>(slot: &mut T, v: Option<T>) {
            if let Some(v) = v {
                *slot = v;
            }
        }
        set(&mut c.architecture, self.arch);
        set(&mut c.init, self.init);
        set(&mut c.image_size, self.image_size);
        set(&mut c.epochs, self.epochs);
        set(&mut c.batch_size, self.batch_size);
        set(&mut c.optimizer, self.optimizer);
        set(&mut c.lr, self.lr);
        set(&mut c.momentum, self.momentum);
        set(&mut c.weight_decay, self.weight_decay);
        set(&mut c.schedule, self.schedule);
        set(&mut c.warmup_epochs, self.warmup_epochs);
        // `--epochs 2` on the default preset (2 warm-up epochs) should train, not be refused:
        // the preset's warm-up shrinks to half the run; an explicit --warmup-epochs is kept
        // (and checked).
        if self.epochs.is_some() && self.warmup_epochs.is_none() {
            c.warmup_epochs = c.warmup_epochs.min(c.epochs / 2);
        }
        set(&mut c.augment, self.augment);
        set(&mut c.class_balance, self.balance);
        set(&mut c.label_smoothing, self.label_smoothing);
        set(&mut c.dropout, self.dropout);
        set(&mut c.seed, self.seed);
        set(&mut c.test_time_augmentation, self.tta);
        set(&mut c.mix, self.mix);
        set(&mut c.mix_alpha, self.mix_alpha);
        set(&mut c.train_fraction, self.train_fraction);
        set(&mut c.refit, self.refit);
        if let Some(cv) = self.cv_fold {
            c.cross_validation = Some(cv);
        }
        if let Some(clip) = self.grad_clip {
            c.grad_clip = (clip != 0.0).then_some(clip);
        }
    }
}

impl TrainArgs {
    /// The configuration of a new run: the preset, the data folder and the overrides, checked.
    ///
    /// # Errors
    /// [`crate::config::ConfigError`] naming the bad option.
    pub fn resolve(&self) -> anyhow::Result<TrainConfig> {
        let data = crate::run_dir::resolve_data_dir(
            self.data.as_deref().unwrap_or(std::path::Path::new("data/hubble")),
        );
        let mut config = TrainConfig::preset(self.preset, data);
        self.overrides.apply(&mut config);
        config.validate()?;
        Ok(config)
    }

    /// Rejects settings given together with `--resume` (the run's own config decides them).
    ///
    /// # Errors
    /// [`Failure::Usage`].
    pub fn check_resume_alone(&self) -> anyhow::Result<()> {
        if !self.overrides.is_empty() || self.dry_run {
            return Err(Failure::Usage(
                "--resume continues a run with the settings in its config.json; drop the other \
                 training options (only --threads may be given)"
                    .into(),
            )
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn overrides_beat_the_preset() {
        let cli = Cli::try_parse_from([
            "trainer",
            "train",
            "--preset",
            "paper-sgd",
            "--epochs",
            "3",
            "--lr",
            "0.5",
            "--grad-clip",
            "0",
            "--data",
            "/nonexistent",
        ])
        .unwrap();
        let Command::Train(args) = cli.command else { panic!("parsed as train") };
        let c = args.resolve().unwrap();
        assert_eq!((c.epochs, c.lr, c.batch_size, c.grad_clip), (3, 0.5, 4, None));
        assert_eq!(c.data, PathBuf::from("/nonexistent"));
    }

    fn resolved(args: &[&str]) -> anyhow::Result<TrainConfig> {
        let cli = Cli::try_parse_from([&["trainer", "train"], args].concat()).unwrap();
        let Command::Train(args) = cli.command else { panic!("parsed as train") };
        args.resolve()
    }

    #[test]
    fn a_short_run_shrinks_the_presets_warm_up_but_not_an_explicit_one() {
        let warmup = |args: &[&str]| resolved(args).map(|c| (c.epochs, c.warmup_epochs));
        let preset = TrainConfig::preset(Preset::Default, PathBuf::new()).warmup_epochs;
        assert!(preset >= 2, "the test needs a preset with a warm-up of 2 or more epochs");
        assert_eq!(warmup(&[]).unwrap().1, preset);
        assert_eq!(warmup(&["--epochs", "1"]).unwrap(), (1, 0));
        assert_eq!(warmup(&["--epochs", "2"]).unwrap(), (2, 1));
        assert_eq!(warmup(&["--epochs", "40"]).unwrap(), (40, preset));
        assert_eq!(warmup(&["--epochs", "3", "--warmup-epochs", "2"]).unwrap(), (3, 2));
        assert!(warmup(&["--epochs", "2", "--warmup-epochs", "2"]).is_err());
    }

    #[test]
    fn resume_refuses_other_settings() {
        let cli = Cli::try_parse_from(["trainer", "train", "--resume", "r", "--lr", "1"]).unwrap();
        let Command::Train(args) = cli.command else { panic!("parsed as train") };
        assert!(args.check_resume_alone().is_err());
        assert!(Cli::try_parse_from(["trainer", "train", "--resume", "r", "--out", "x"]).is_err());
    }
}
