//! The run folder: where a training run writes everything, and where `eval`, `predict` and
//! `--resume` read it back.
//!
//! ```text
//! runs/<name>/
//!   config.json          the resolved TrainConfig (what to rebuild, how to resume)
//!   classes.json         class names in index order (the network's outputs)
//!   metrics.csv          one row per finished epoch
//!   checkpoint-<step>.safetensors   latest weights + optimizer state (for --resume)
//!   state.json           where the run stands and which checkpoint holds it
//!   best.safetensors     the weights with the best validation accuracy so far (ties: lower loss)
//!   curves.png           loss and accuracy curves
//!   test.json / test.txt / test_confusion.csv   the final test report (best weights)
//! ```
//! Every file is replaced atomically (temp file + fsync + rename), so an interrupted run leaves
//! a consistent folder. A checkpoint gets a new name for each step and `state.json` is switched
//! to it only once it is complete (the old one is deleted after that), so `state.json` always
//! names a whole checkpoint that matches it.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::exit::Failure;

/// Paths inside one run folder.
#[derive(Clone, Debug)]
pub struct RunDir {
    root: PathBuf,
}

/// Where a run stands after its last checkpoint. Together with `config.json` this is all
/// `--resume` needs: every random choice is keyed by (seed, epoch, index), so no RNG state has
/// to be stored beyond the position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs fully finished (0-based index of the epoch in progress).
    pub epoch: usize,
    /// Optimizer steps already taken inside that epoch.
    pub step_in_epoch: usize,
    /// Optimizer steps taken since the start of the run.
    pub global_step: usize,
    /// Sum of the per-batch mean losses so far in the current epoch (for its metrics row).
    pub epoch_loss_sum: f64,
    /// Correct training predictions so far in the current epoch.
    pub epoch_correct: usize,
    /// Training images seen so far in the current epoch.
    pub epoch_seen: usize,
    /// Best validation accuracy so far, and the 1-based epoch that reached it.
    pub best: Option<(f32, usize)>,
    /// True when all epochs are done.
    pub finished: bool,
    /// File name (in the run folder) of the checkpoint this state belongs to.
    pub checkpoint: Option<String>,
}

impl TrainState {
    /// The state of a run that has not taken a step.
    pub fn start() -> Self {
        Self {
            epoch: 0,
            step_in_epoch: 0,
            global_step: 0,
            epoch_loss_sum: 0.0,
            epoch_correct: 0,
            epoch_seen: 0,
            best: None,
            finished: false,
            checkpoint: None,
        }
    }
}

impl RunDir {
    /// A run folder at `root` (not created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates the folder for a new run. Refuses a folder that already holds a run, so a typo
    /// cannot overwrite a finished experiment.
    ///
    /// # Errors
    /// [`Failure::Usage`] if `config.json` exists there; an I/O error if it cannot be created.
    pub fn create(root: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let dir = Self::new(root);
        if dir.config().exists() {
            return Err(Failure::Usage(format!(
                "--out {}: this folder already holds a run; pick another --out, or continue it \
                 with --resume {}",
                dir.root.display(),
                dir.root.display()
            ))
            .into());
        }
        std::fs::create_dir_all(&dir.root)
            .with_context(|| format!("creating the run folder {}", dir.root.display()))?;
        Ok(dir)
    }

    /// Opens an existing run folder (for `--resume`, `eval`, `predict`).
    ///
    /// # Errors
    /// [`Failure::BadInput`] when the folder or its `config.json` is missing.
    pub fn open(root: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let dir = Self::new(root);
        if !dir.config().is_file() {
            return Err(Failure::BadInput(format!(
                "{}: not a run folder (no config.json). Pass the folder a `trainer train` run \
                 wrote, e.g. runs/<name>",
                dir.root.display()
            ))
            .into());
        }
        Ok(dir)
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `config.json`.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.json")
    }
    /// `classes.json`.
    pub fn classes(&self) -> PathBuf {
        self.root.join("classes.json")
    }
    /// `metrics.csv`.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.csv")
    }
    /// The checkpoint file name for a given optimizer step.
    pub fn checkpoint_name(global_step: usize) -> String {
        format!("checkpoint-{global_step:08}.safetensors")
    }
    /// A file in the run folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
    /// `state.json`.
    pub fn state(&self) -> PathBuf {
        self.root.join("state.json")
    }
    /// `best.safetensors`: weights with the best validation accuracy.
    pub fn best(&self) -> PathBuf {
        self.root.join("best.safetensors")
    }
    /// `curves.png`.
    pub fn curves(&self) -> PathBuf {
        self.root.join("curves.png")
    }

    /// Writes `value` as pretty JSON to `path`, atomically.
    ///
    /// # Errors
    /// The I/O error, naming the file.
    pub fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value)
            .with_context(|| format!("serialising {}", path.display()))?;
        crate::atomic::write_bytes(path, text.as_bytes())
    }

    /// Reads JSON written by [`RunDir::write_json`].
    ///
    /// # Errors
    /// [`Failure::BadInput`] naming the file when it is missing or does not parse.
    pub fn read_json<T: for<'de> Deserialize<'de>>(&self, path: &Path) -> anyhow::Result<T> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::BadInput(format!("{}: cannot read it ({e})", path.display())))?;
        serde_json::from_str(&text).map_err(|e| {
            Failure::BadInput(format!("{}: not valid for this trainer ({e})", path.display()))
                .into()
        })
    }

    /// The run's configuration.
    ///
    /// # Errors
    /// As [`RunDir::read_json`].
    pub fn read_config(&self) -> anyhow::Result<TrainConfig> {
        self.read_json(&self.config())
    }

    /// The run's class names.
    ///
    /// # Errors
    /// As [`RunDir::read_json`].
    pub fn read_classes(&self) -> anyhow::Result<Vec<String>> {
        self.read_json(&self.classes())
    }
}

/// Resolves the `--data` folder: as given if it exists; otherwise, for a relative path, the
/// same path under the workspace this binary was built from (so `cargo run -p trainer -- train`
/// finds `data/hubble` from any directory of the checkout). A folder that exists comes back
/// absolute, so a run's config.json names its data wherever `eval` or `--resume` is run from.
pub fn resolve_data_dir(given: &Path) -> PathBuf {
    let found = if given.exists() || given.is_absolute() {
        given.to_path_buf()
    } else {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let candidate = workspace.join(given);
        if candidate.exists() { candidate } else { given.to_path_buf() }
    };
    std::fs::canonicalize(&found).unwrap_or(found)
}

/// The default run folder: `runs/<preset>-seed<seed>-<UTC date>T<time>`.
pub fn default_run_name(preset: &str, seed: u64) -> PathBuf {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    PathBuf::from("runs").join(format!("{preset}-seed{seed}-{}", utc_timestamp(secs)))
}

/// `YYYYMMDDTHHMMSS` for a Unix time, in UTC (proleptic Gregorian calendar).
pub fn utc_timestamp(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let rem = unix_seconds % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's "civil_from_days").
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_known_dates() {
        assert_eq!(utc_timestamp(0), "19700101T000000");
        // 2000-02-29 12:34:56 UTC = 951827696 (leap day in a century leap year).
        assert_eq!(utc_timestamp(951_827_696), "20000229T123456");
        // 2026-11-26 03:52:15 UTC = 1795665135.
        assert_eq!(utc_timestamp(1_795_665_135), "20261126T035215");
    }

    #[test]
    fn create_refuses_an_existing_run_and_open_needs_one() {
        let root = std::env::temp_dir().join(format!("trainer-rundir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        assert!(RunDir::open(&root).is_err());
        let dir = RunDir::create(&root).unwrap();
        dir.write_json(&dir.state(), &TrainState::start()).unwrap();
        let back: TrainState = dir.read_json(&dir.state()).unwrap();
        assert_eq!(back, TrainState::start());
        std::fs::write(dir.config(), "{}").unwrap();
        let err = RunDir::create(&root).unwrap_err();
        assert!(err.to_string().contains("already holds a run"));
        assert!(RunDir::open(&root).is_ok());
        assert!(dir.read_config().is_err());
        let _ = std::fs::remove_dir_all(&root);
    }
}
