//! Exit codes, and the two error kinds the trainer raises itself.
//!
//! Every failure ends as one message on stderr and one of these codes, so scripts can tell a typo
//! from a broken image from a diverging run:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | anything else (e.g. the output folder cannot be written) |
//! | 2 | bad usage: unknown option, bad value, conflicting options (clap uses 2 as well) |
//! | 3 | bad input: data folder, image, manifest or model file missing or unreadable |
//! | 4 | training failure: NaN/Inf in the loss or a gradient (the last good checkpoint is kept) |

use std::process::ExitCode;

/// The text `--help` prints under "Exit codes".
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  other failure (e.g. the output folder cannot be written)
  2  bad usage: unknown or invalid option (the message names it)
  3  bad input: data folder, image, manifest or model file missing or unreadable
  4  training failure: NaN/Inf in the loss or a gradient (names the layer; the last good
     checkpoint stays in the run folder)";

/// An error that says which exit code it deserves. Wrap it in `anyhow` with context as usual;
/// [`exit_code_for`] finds it anywhere in the chain.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A bad option or option combination (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Bad input data or model files (exit 3).
    #[error("{0}")]
    BadInput(String),
    /// Training diverged or hit a non-finite value (exit 4).
    #[error("{0}")]
    Training(String),
}

/// Exit code for bad usage.
pub const USAGE: u8 = 2;
/// Exit code for bad input data or model files.
pub const BAD_INPUT: u8 = 3;
/// Exit code for a training failure.
pub const TRAINING: u8 = 4;

/// The exit code an error deserves: the first [`Failure`], `augment` error or config error in
/// its chain decides; anything else is 1.
pub fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    for cause in err.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return ExitCode::from(match f {
                Failure::Usage(_) => USAGE,
                Failure::BadInput(_) => BAD_INPUT,
                Failure::Training(_) => TRAINING,
            });
        }
        if cause.downcast_ref::<crate::config::ConfigError>().is_some() {
            return ExitCode::from(USAGE);
        }
    }
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_code_is_found_under_context() {
        let err: anyhow::Result<()> = Err(Failure::BadInput("no images".into()).into());
        let err = err.context("loading data/x").unwrap_err();
        assert_eq!(exit_code_for(&err), ExitCode::from(BAD_INPUT));
        let plain = anyhow::anyhow!("disk full");
        assert_eq!(exit_code_for(&plain), ExitCode::FAILURE);
    }
}
