//! # trainer
//!
//! The `trainer` binary's pieces: it wires `autograd` (the network, the loss, the optimizer) and
//! `augment` (the images, the split, the batches) into a training loop, and writes what it does
//! into a run folder. It contains no math of its own: every formula lives in the library crates.
//! This is the only crate that uses `anyhow`; errors carry context and map to exit codes
//! ([`exit`]).
//!
//! - [`cli`]: the command line and its `--help` text
//! - [`config`]: the typed configuration and the presets (`default`, `paper-sgd`, `paper-adam`)
//! - [`run_dir`]: the run folder layout, `config.json`, `state.json`
//! - [`metrics`]: `metrics.csv`, one row per epoch
//! - [`report`]: accuracy, per-class precision/recall/F1, the confusion matrix
//! - [`doctor`]: early warnings (initial loss, collapse) and divergence messages
//! - [`plot`]: the `curves.png` figure
//! - [`atomic`]: temp file + fsync + rename
//! - [`exit`]: exit codes

#![forbid(unsafe_code)]

pub mod atomic;
pub mod cli;
pub mod commands;
pub mod config;
pub mod data;
pub mod doctor;
pub mod evaluate;
pub mod exit;
pub mod metrics;
pub mod model;
pub mod plot;
pub mod report;
pub mod run_dir;
pub mod train;
