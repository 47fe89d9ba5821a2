//! Builds `data/hubble`, the project's three-class telescope image set (galaxies / nebulae /
//! solar_system), from two Debian packages: real deep-sky photos from `stellarium-data`, real
//! planet and moon photos from `kstars-data`, and planets rendered from Stellarium's maps.
//!
//! Read in this order: [`labels`] (the source tables), [`textures_json`] (photo credits),
//! [`photo`] (crop and edits), [`render`] (the planet renderer), [`split`] (groups and split),
//! [`manifest`] (the shipped table and its check), [`build`] (putting it together), and
//! [`packages`] (getting the inputs). `data/README.md` describes the result.
//!
//! [`outside`] builds `data/outside`, a few real photos from two other packages for judging a
//! trained model on images made elsewhere.

#![forbid(unsafe_code)]

pub mod build;
pub mod csv;
pub mod error;
pub mod labels;
pub mod manifest;
pub mod outside;
pub mod packages;
pub mod photo;
pub mod render;
pub mod split;
pub mod textures_json;

pub use build::{BuildConfig, BuildReport, build};
pub use error::DatasetError;
pub use manifest::{CLASSES, COLUMNS, ManifestRow, read_manifest, verify};
pub use outside::{OUTSIDE_PACKAGES, OutsideConfig, build_outside, read_outside_labels};
pub use packages::{
    KSTARS_DATA, MATE_SCREENSAVER_COMMON, MUNIPACK_DOC, PackageArgs, PackageSource,
    STELLARIUM_DATA, Sources, fetch_and_unpack_one, locate_share_dir,
};
pub use split::Split;
