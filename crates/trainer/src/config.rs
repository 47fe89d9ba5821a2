//! The typed training configuration: everything that decides what a run computes, resolved from
//! a preset plus command-line overrides and written as `config.json` into the run folder, so a
//! run can be resumed, evaluated and reproduced from that file alone.
//!
//! This file holds no training logic: only names, the three presets and the checks that reject a
//! setting before any work starts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A named starting point for [`TrainConfig`]; options on the command line override its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The recipe that converges: the `wide-bn` network (batch norm, a global-average-pool head),
    /// He init, AdamW with warm-up and cosine decay, class-weighted loss with label smoothing,
    /// the Default augmentation with mixup (α = 0.2), 64×64 images, 120 epochs, test-time
    /// augmentation (docs/reproduction.md has its measured accuracy and how each choice was made).
    Default,
    /// The paper's first trial: paper network, PyTorch init, SGD without momentum, lr 0.001,
    /// batch 4, 100 epochs, the paper's augmentations, 224×224 images.
    PaperSgd,
    /// The paper's second trial: as `paper-sgd` but Adam, lr 0.01, batch 32, 500 epochs.
    PaperAdam,
}

/// The network. The first three share the paper's convolution stack: five 3×3 convolutions with
/// padding 1 and widths 3→16→32→64→64→128, ReLU after each, 2×2 max-pooling after convolutions
/// 1, 2 and 5 (so an S×S image leaves the stack as 128 × S/8 × S/8). `wide-bn` changes the stack
/// itself (see `trainer::model` for all four, layer by layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Architecture {
    /// The paper's network: no normalisation; flatten, then fully connected
    /// 128·(S/8)² → 256 → 64 → 3 with ReLU between.
    Paper,
    /// The paper's network with a batch norm after every convolution (before its ReLU).
    PaperBn,
    /// Batch-normalised convolutions, then global average pooling (128 numbers per image,
    /// whatever S is), dropout, and fully connected 128 → 64 → 3. Far fewer parameters than the
    /// flatten head, and blind to where in the frame a feature sits.
    GapBn,
    /// Twice the paper's widths (3→32→64→128→128→256) with a 2×2 max-pool after convolutions
    /// 1 to 4 instead of 1, 2 and 5, batch norm, and the `gap-bn` head (256 → 64 → 3). Pooling
    /// earlier makes the later convolutions cheap enough to double the widths (1.4× the
    /// multiply-adds of `gap-bn`) and lets each feature see a 78×78-pixel window instead of
    /// 38×38: the whole of a 64×64 image.
    WideBn,
    /// `wide-bn` behind a full-resolution stem: convolution 3→16, batch norm, ReLU and a 2×2
    /// max-pool, so a 2S×2S image reaches `wide-bn`'s stack at S×S (its first convolution then
    /// 16→32). For inputs twice as large at 1.4× `wide-bn`'s multiply-adds per image (the stack
    /// runs at the same sizes; the stem and a 16-channel first input are the extra): the stem
    /// sees detail that resizing to S×S would average away. Five pools: sizes a multiple of 32.
    StemBn,
}

impl Architecture {
    /// Whether each convolution is followed by a batch norm.
    pub fn has_batch_norm(self) -> bool {
        matches!(self, Self::PaperBn | Self::GapBn | Self::WideBn | Self::StemBn)
    }

    /// The name on the command line (`--arch`) and in `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Paper => "paper",
            Self::PaperBn => "paper-bn",
            Self::GapBn => "gap-bn",
            Self::WideBn => "wide-bn",
            Self::StemBn => "stem-bn",
        }
    }

    /// How many 2×2 max-pools the image passes: S must be a multiple of 2^pools.
    pub fn pools(self) -> u32 {
        match self {
            Self::Paper | Self::PaperBn | Self::GapBn => 3,
            Self::WideBn => 4,
            Self::StemBn => 5,
        }
    }
}

/// How the weights start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum InitScheme {
    /// PyTorch's default: kaiming_uniform with a = √5 (bound 1/√fan_in), bias U(±1/√fan_in).
    PytorchDefault,
    /// He et al.: N(0, 2/fan_in), zero bias. Keeps activation variance through ReLU layers.
    KaimingNormal,
    /// He et al., uniform: U(±√(6/fan_in)), zero bias.
    KaimingUniform,
    /// Glorot & Bengio: U(±√(6/(fan_in + fan_out))), zero bias.
    XavierUniform,
}

/// The optimiser (update formulas in `autograd::optim`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// Stochastic gradient descent, optionally with momentum and L2 weight decay.
    Sgd,
    /// Adam with bias correction; weight decay added to the gradient (L2).
    Adam,
    /// Adam with decoupled weight decay (Loshchilov & Hutter).
    Adamw,
}

/// How the learning rate moves over the epochs after the warm-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// The same learning rate throughout.
    Constant,
    /// Multiplied by `step_gamma` every `step_every_epochs` epochs.
    Step,
    /// Half a cosine from the base rate down to 0 at the last step.
    Cosine,
}

/// Which augmentation pipeline makes the training batches (the `augment` crate's presets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum AugmentChoice {
    /// Only resize: the image as it is.
    None,
    /// The paper's list: blur, colour jitter, invert, flips, perspective, cutout.
    Paper,
    /// The list that generalises to other telescopes (see the augment crate's docs).
    Default,
}

/// Whether training batches mix pairs of images and their labels (`augment::mix`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum MixChoice {
    /// Every image as the augmentation made it.
    #[default]
    None,
    /// Blend each image with a partner: `λ·x_i + (1 − λ)·x_j`, labels mixed alike.
    Mixup,
    /// Paste a box of a partner covering `1 − λ` of the frame, labels mixed by area.
    Cutmix,
}

impl MixChoice {
    /// The augment crate's kind, or None for no mixing.
    pub fn kind(self) -> Option<augment::MixKind> {
        match self {
            Self::None => None,
            Self::Mixup => Some(augment::MixKind::Mixup),
            Self::Cutmix => Some(augment::MixKind::CutMix),
        }
    }
}

/// How the loss compensates for classes of different sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ClassBalance {
    /// Plain mean loss: a large class dominates.
    None,
    /// Each class's loss weighted by N / (K · N_class), so every class weighs the same in total.
    WeightedLoss,
}

/// Everything that decides the numbers a run produces. Written as `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The preset the other fields started from (for the record).
    pub preset: Preset,
    /// The image folder (class sub-folders, optional `manifest.csv`).
    pub data: PathBuf,
    /// The network.
    pub architecture: Architecture,
    /// Weight initialisation.
    pub init: InitScheme,
    /// Side S of the square S×S images the network sees: a multiple of 2^pools (8; 16 for
    /// `wide-bn`, 32 for `stem-bn`), as every 2×2 pool halves it.
    pub image_size: usize,
    /// Passes over the training split.
    pub epochs: usize,
    /// Images per optimiser step.
    pub batch_size: usize,
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// Base learning rate (after warm-up, before decay).
    pub lr: f32,
    /// SGD momentum (ignored by Adam/AdamW, which use β₁ = 0.9, β₂ = 0.999).
    pub momentum: f32,
    /// Weight decay: L2 for SGD and Adam, decoupled for AdamW.
    pub weight_decay: f32,
    /// The learning-rate schedule after warm-up.
    pub schedule: ScheduleKind,
    /// Epochs of linear warm-up from lr/warmup_steps to lr.
    pub warmup_epochs: usize,
    /// For [`ScheduleKind::Step`]: epochs between decays.
    pub step_every_epochs: usize,
    /// For [`ScheduleKind::Step`]: the factor applied at each decay.
    pub step_gamma: f32,
    /// Augmentation of the training batches (validation and test images are only resized).
    pub augment: AugmentChoice,
    /// Class balancing of the loss.
    pub class_balance: ClassBalance,
    /// Label smoothing ε: the target puts 1 − ε on the true class and ε/K on every class.
    pub label_smoothing: f32,
    /// Dropout probability before the last fully connected layers (0 = none).
    pub dropout: f32,
    /// Clip the global gradient norm to this value before each step (None = never).
    pub grad_clip: Option<f32>,
    /// The seed of every random choice: init, split, batch order, augmentation, dropout.
    pub seed: u64,
    /// Test-time augmentation: validation, test, `eval` and `predict` average the softmax over
    /// the eight flips and quarter turns of each image (8× the evaluation work). Missing in
    /// configs written before it existed, which evaluated one view.
    #[serde(default)]
    pub test_time_augmentation: bool,
    /// K-fold cross-validation: validate on one fold of the folder's training and validation
    /// images (test images untouched) instead of its validation split. None = the folder's own
    /// split. Missing in configs written before it existed.
    #[serde(default)]
    pub cross_validation: Option<CvFold>,
    /// Mixing of image pairs in each training batch (mixup or CutMix), with λ ~ Beta(α, α).
    /// Missing in configs written before it existed, which did not mix.
    #[serde(default)]
    pub mix: MixChoice,
    /// α of the Beta(α, α) that draws each batch's mixing share λ (1 = uniform).
    #[serde(default = "default_mix_alpha")]
    pub mix_alpha: f32,
    /// The share of the training objects the run trains on (1 = all), for learning curves:
    /// `augment::Split::thin_train`, whole objects class by class, seeded with the split seed
    /// so runs of every `--seed` see the same images. Missing in configs written before it
    /// existed, which trained on all.
    #[serde(default = "default_train_fraction")]
    pub train_fraction: f32,
    /// Train on the training *and* validation images and keep the last epoch's weights: the
    /// final step after a recipe has been chosen (by cross-validation), so that the model
    /// learns from every labelled object outside the test split. Validation is still measured
    /// each epoch, but on images the run trains on, so it no longer chooses anything. Missing
    /// in configs written before it existed, which did not refit.
    #[serde(default)]
    pub refit: bool,
}

fn default_mix_alpha() -> f32 {
    1.0
}

fn default_train_fraction() -> f32 {
    1.0
}

/// One fold of a K-fold cross-validation, `--cv-fold FOLD/FOLDS` (e.g. `0/4`): the training
/// and validation images are dealt into FOLDS folds by object and class
/// (`augment::Split::cross_validation`, with the fixed split seed, so every run of one
/// cross-validation sees the same folds whatever its `--seed`); fold FOLD validates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CvFold {
    /// Which fold validates, 0-based.
    pub fold: usize,
    /// How many folds.
    pub folds: usize,
}

impl std::str::FromStr for CvFold {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || format!("{s:?}: expected FOLD/FOLDS, e.g. 0/4 (fold 0 of 4)");
        let (fold, folds) = s.split_once('/').ok_or_else(usage)?;
        let fold = fold.trim().parse().map_err(|_| usage())?;
        let folds = folds.trim().parse().map_err(|_| usage())?;
        Ok(Self { fold, folds })
    }
}

impl std::fmt::Display for CvFold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.fold, self.folds)
    }
}

/// A setting the trainer refuses before doing any work. The message names the option.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("--{option} {value}: {reason}")]
pub struct ConfigError {
    /// The command-line option, without dashes.
    pub option: &'static str,
    /// The value given.
    pub value: String,
    /// Why it is rejected and what would work.
    pub reason: String,
}

fn reject(option: &'static str, value: impl ToString, reason: &str) -> ConfigError {
    ConfigError { option, value: value.to_string(), reason: reason.to_string() }
}

impl TrainConfig {
    /// The configuration a preset stands for, on the image folder `data`.
    pub fn preset(preset: Preset, data: PathBuf) -> Self {
        match preset {
            Preset::Default => Self {
                preset,
                data,
                architecture: Architecture::WideBn,
                init: InitScheme::KaimingNormal,
                image_size: 64,
                epochs: 120,
                batch_size: 32,
                optimizer: OptimizerKind::Adamw,
                lr: 0.003,
                momentum: 0.9,
                weight_decay: 0.05,
                schedule: ScheduleKind::Cosine,
                warmup_epochs: 2,
                step_every_epochs: 10,
                step_gamma: 0.1,
                augment: AugmentChoice::Default,
                class_balance: ClassBalance::WeightedLoss,
                label_smoothing: 0.05,
                dropout: 0.0,
                grad_clip: Some(5.0),
                seed: 0,
                test_time_augmentation: true,
                cross_validation: None,
                mix: MixChoice::Mixup,
                mix_alpha: 0.2,
                train_fraction: 1.0,
                refit: false,
            },
            Preset::PaperSgd => Self::paper(preset, data, OptimizerKind::Sgd, 0.001, 4, 100),
            Preset::PaperAdam => Self::paper(preset, data, OptimizerKind::Adam, 0.01, 32, 500),
        }
    }

    /// The paper's two trials differ only in optimiser, learning rate, batch and epochs.
    fn paper(
        preset: Preset,
        data: PathBuf,
        optimizer: OptimizerKind,
        lr: f32,
        batch_size: usize,
        epochs: usize,
    ) -> Self {
        Self {
            preset,
            data,
            architecture: Architecture::Paper,
            init: InitScheme::PytorchDefault,
            image_size: 224,
            epochs,
            batch_size,
            optimizer,
            lr,
            momentum: 0.0,
            weight_decay: 0.0,
            schedule: ScheduleKind::Constant,
            warmup_epochs: 0,
            step_every_epochs: 30,
            step_gamma: 0.1,
            augment: AugmentChoice::Paper,
            class_balance: ClassBalance::None,
            label_smoothing: 0.0,
            dropout: 0.0,
            grad_clip: None,
            seed: 0,
            test_time_augmentation: false,
            cross_validation: None,
            mix: MixChoice::None,
            mix_alpha: 1.0,
            train_fraction: 1.0,
            refit: false,
        }
    }

    /// Checks every field; the first bad one is reported with its option name.
    ///
    /// # Errors
    /// [`ConfigError`] naming the option, the value and what would be accepted.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let multiple = 1usize << self.architecture.pools();
        if self.image_size < multiple || !self.image_size.is_multiple_of(multiple) {
            return Err(reject(
                "image-size",
                self.image_size,
                &format!(
                    "must be a positive multiple of {multiple} (the {} network halves it {} times)",
                    self.architecture.name(),
                    self.architecture.pools()
                ),
            ));
        }
        if self.architecture.has_batch_norm() && self.image_size >> self.architecture.pools() < 2 {
            // The last convolution's map would be 1×1: a trailing batch of one image would give
            // its batch norm a single value per channel, and no variance to normalise by.
            return Err(reject(
                "image-size",
                self.image_size,
                &format!(
                    "must be at least {} for {} (its batch norms need more than one value per \
                     channel)",
                    2usize << self.architecture.pools(),
                    self.architecture.name()
                ),
            ));
        }
        if let Some(cv) = self.cross_validation
            && (cv.folds < 2 || cv.fold >= cv.folds)
        {
            return Err(reject("cv-fold", cv, "needs at least 2 folds and FOLD < FOLDS, e.g. 0/4"));
        }
        if self.image_size > 1024 {
            return Err(reject("image-size", self.image_size, "must be at most 1024"));
        }
        if self.epochs == 0 {
            return Err(reject("epochs", self.epochs, "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(reject("batch-size", self.batch_size, "must be at least 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(reject("lr", self.lr, "must be a positive number"));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(reject("momentum", self.momentum, "must be in [0, 1)"));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(reject("weight-decay", self.weight_decay, "must be 0 or positive"));
        }
        if self.warmup_epochs >= self.epochs && self.warmup_epochs > 0 {
            return Err(reject(
                "warmup-epochs",
                self.warmup_epochs,
                "must be smaller than --epochs so some epochs train at the full rate",
            ));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(reject("label-smoothing", self.label_smoothing, "must be in [0, 1)"));
        }
        if !(self.mix_alpha.is_finite() && self.mix_alpha > 0.0) {
            return Err(reject("mix-alpha", self.mix_alpha, "must be a finite number > 0"));
        }
        if !(self.train_fraction > 0.0 && self.train_fraction <= 1.0) {
            return Err(reject("train-fraction", self.train_fraction, "must be in (0, 1]"));
        }
        if self.refit && self.cross_validation.is_some() {
            return Err(reject(
                "refit",
                self.refit,
                "cannot be combined with --cv-fold: a fold's validation images must stay unseen",
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(reject("dropout", self.dropout, "must be in [0, 1)"));
        }
        if let Some(clip) = self.grad_clip
            && !(clip.is_finite() && clip > 0.0)
        {
            return Err(reject("grad-clip", clip, "must be a positive number"));
        }
        if self.step_every_epochs == 0 {
            return Err(reject("step-every", self.step_every_epochs, "must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_match_the_paper() {
        for p in [Preset::Default, Preset::PaperSgd, Preset::PaperAdam] {
            TrainConfig::preset(p, "d".into()).validate().unwrap();
        }
        let sgd = TrainConfig::preset(Preset::PaperSgd, "d".into());
        assert_eq!((sgd.batch_size, sgd.lr, sgd.epochs, sgd.momentum), (4, 0.001, 100, 0.0));
        assert_eq!((sgd.architecture, sgd.init), (Architecture::Paper, InitScheme::PytorchDefault));
        let adam = TrainConfig::preset(Preset::PaperAdam, "d".into());
        assert_eq!((adam.batch_size, adam.lr, adam.epochs), (32, 0.01, 500));
        assert_eq!((adam.optimizer, adam.image_size), (OptimizerKind::Adam, 224));
    }

    #[test]
    fn validation_names_the_option() {
        let mut c = TrainConfig::preset(Preset::Default, "d".into());
        c.architecture = Architecture::GapBn;
        c.image_size = 60;
        assert_eq!(c.validate().unwrap_err().option, "image-size");
        c.image_size = 40;
        c.validate().unwrap();
        // Four pools need a multiple of 16, and the name on the command line in the message.
        c.architecture = Architecture::WideBn;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("multiple of 16") && err.contains("wide-bn"), "{err}");
        c.image_size = 16;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("at least 32"), "{err}");
        c.image_size = 64;
        c.validate().unwrap();
        c.lr = f32::NAN;
        assert!(c.validate().unwrap_err().to_string().starts_with("--lr NaN"));
        c.lr = 0.1;
        c.warmup_epochs = c.epochs;
        assert_eq!(c.validate().unwrap_err().option, "warmup-epochs");
        c.warmup_epochs = 2;
        c.mix = MixChoice::Cutmix;
        for alpha in [0.0, -0.5, f32::INFINITY] {
            c.mix_alpha = alpha;
            assert_eq!(c.validate().unwrap_err().option, "mix-alpha");
        }
        c.mix_alpha = 0.4;
        c.validate().unwrap();
    }

    #[test]
    fn configs_written_before_mixing_existed_read_as_no_mixing() {
        let mut c = TrainConfig::preset(Preset::Default, "d".into());
        (c.mix, c.mix_alpha) = (MixChoice::None, 1.0);
        let mut json: serde_json::Value = serde_json::to_value(&c).unwrap();
        let fields = json.as_object_mut().unwrap();
        fields.remove("mix");
        fields.remove("mix_alpha");
        let back: TrainConfig = serde_json::from_value(json).unwrap();
        assert_eq!((back.mix, back.mix_alpha), (MixChoice::None, 1.0));
        assert_eq!(back, c);
    }

    #[test]
    fn cv_fold_parses_and_is_checked() {
        let cv: CvFold = "1/4".parse().unwrap();
        assert_eq!(cv, CvFold { fold: 1, folds: 4 });
        assert_eq!(cv.to_string(), "1/4");
        for bad in ["1", "a/4", "1/", "-1/4"] {
            assert!(bad.parse::<CvFold>().unwrap_err().contains("FOLD/FOLDS"), "{bad}");
        }
        let mut c = TrainConfig::preset(Preset::Default, "d".into());
        c.cross_validation = Some(cv);
        c.validate().unwrap();
        for (fold, folds) in [(4, 4), (0, 1)] {
            c.cross_validation = Some(CvFold { fold, folds });
            assert_eq!(c.validate().unwrap_err().option, "cv-fold");
        }
    }

    #[test]
    fn architecture_names_are_the_command_line_names() {
        use clap::ValueEnum;
        for a in Architecture::value_variants() {
            assert_eq!(a.to_possible_value().unwrap().get_name(), a.name());
            let json = serde_json::to_string(a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.name()));
        }
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = TrainConfig::preset(Preset::PaperAdam, "data/hubble".into());
        let json = serde_json::to_string_pretty(&c).unwrap();
        assert!(json.contains("\"preset\": \"paper-adam\""));
        let back: TrainConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }
}
