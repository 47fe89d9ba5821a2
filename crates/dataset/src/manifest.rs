//! `data/hubble/manifest.csv`: one row per shipped image, and the check that the manifest and
//! the image folders agree.
//!
//! The first four columns (`file,class,group,split`) are what the `augment` crate reads; any
//! image folder with such a manifest can replace `data/hubble`. The rest documents where each
//! image came from; `sha256` lets a rebuild be compared byte for byte.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::csv::{Table, line};
use crate::error::DatasetError;
use crate::split::Split;

/// The manifest's columns, in order.
pub const COLUMNS: [&str; 11] = [
    "file",
    "class",
    "group",
    "split",
    "source_package",
    "source_version",
    "source_file",
    "credit",
    "credit_url",
    "render_params",
    "sha256",
];

/// The three classes, named after their folders.
pub const CLASSES: [&str; 3] = ["galaxies", "nebulae", "solar_system"];

/// One shipped image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    /// Path relative to the data set root, e.g. `galaxies/m31.jpg`.
    pub file: String,
    /// One of [`CLASSES`] (the folder name).
    pub class: String,
    /// The astronomical object; all its images share one split.
    pub group: String,
    /// train / val / test.
    pub split: Split,
    /// Debian package the source came from.
    pub source_package: String,
    /// Its version.
    pub source_version: String,
    /// The source file inside the package (for renders: the map).
    pub source_file: String,
    /// Who made the source image or map, and its licence where known.
    pub credit: String,
    /// Where the source is described, if known.
    pub credit_url: String,
    /// How the image was made: render parameters, or the edits applied to a photo.
    pub render_params: String,
    /// SHA-256 of the JPEG file.
    pub sha256: String,
}

/// Writes `rows` (sorted by file) to `path` with the header [`COLUMNS`].
///
/// # Errors
/// [`DatasetError::Io`] if the file cannot be written.
pub fn write_manifest(path: &Path, rows: &[ManifestRow]) -> Result<(), DatasetError> {
    let mut text = line(&COLUMNS);
    let mut sorted: Vec<&ManifestRow> = rows.iter().collect();
    sorted.sort_by(|a, b| a.file.cmp(&b.file));
    for r in sorted {
        text.push_str(&line(&[
            r.file.as_str(),
            &r.class,
            &r.group,
            r.split.as_str(),
            &r.source_package,
            &r.source_version,
            &r.source_file,
            &r.credit,
            &r.credit_url,
            &r.render_params,
            &r.sha256,
        ]));
    }
    std::fs::write(path, text).map_err(|e| DatasetError::io(path, e))
}

/// Creates the class folders under `out` and removes the `.jpg` files in them, so that a
/// rebuild leaves no image of an earlier build behind.
///
/// # Errors
/// [`DatasetError::Io`] if a folder cannot be created or read, or a file removed.
pub fn clear_class_folders(out: &Path) -> Result<(), DatasetError> {
    for class in CLASSES {
        let dir = out.join(class);
        std::fs::create_dir_all(&dir).map_err(|e| DatasetError::io(&dir, e))?;
        for entry in std::fs::read_dir(&dir).map_err(|e| DatasetError::io(&dir, e))? {
            let path = entry.map_err(|e| DatasetError::io(&dir, e))?.path();
            if path.extension().is_some_and(|e| e == "jpg") {
                std::fs::remove_file(&path).map_err(|e| DatasetError::io(&path, e))?;
            }
        }
    }
    Ok(())
}

/// Reads a manifest written by [`write_manifest`].
///
/// # Errors
/// [`DatasetError::Csv`] if a column is missing or a split name is unknown.
pub fn read_manifest(path: &Path) -> Result<Vec<ManifestRow>, DatasetError> {
    let table = Table::read(path)?;
    table.require(&COLUMNS)?;
    table
        .rows()
        .map(|r| {
            let split = Split::parse(r.get("split"))
                .ok_or_else(|| r.error(format!("unknown split `{}`", r.get("split"))))?;
            Ok(ManifestRow {
                file: r.get("file").into(),
                class: r.get("class").into(),
                group: r.get("group").into(),
                split,
                source_package: r.get("source_package").into(),
                source_version: r.get("source_version").into(),
                source_file: r.get("source_file").into(),
                credit: r.get("credit").into(),
                credit_url: r.get("credit_url").into(),
                render_params: r.get("render_params").into(),
                sha256: r.get("sha256").into(),
            })
        })
        .collect()
}

/// Image counts of a verified data set: `[class][split]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(pub BTreeMap<String, BTreeMap<Split, usize>>);

impl Counts {
    /// Images of `class` over all splits.
    pub fn class_total(&self, class: &str) -> usize {
        self.0.get(class).map_or(0, |m| m.values().sum())
    }
}

/// Checks that `root/manifest.csv` and the image folders agree: every `.jpg` under the class
/// folders is listed exactly once, every listed file exists, its class is its folder, and no
/// group appears in two splits. Returns the counts per class and split.
///
/// # Errors
/// [`DatasetError::Manifest`] describing the first disagreement found.
pub fn verify(root: &Path) -> Result<Counts, DatasetError> {
    let path = root.join("manifest.csv");
    let rows = read_manifest(&path)?;
    let fail = |message: String| DatasetError::Manifest { path: path.clone(), message };
    let mut on_disk = BTreeSet::new();
    for class in CLASSES {
        let dir = root.join(class);
        let entries = std::fs::read_dir(&dir).map_err(|e| DatasetError::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| DatasetError::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".jpg") {
                on_disk.insert(format!("{class}/{name}"));
            }
        }
    }
    let mut listed = BTreeSet::new();
    let mut group_split: BTreeMap<&str, Split> = BTreeMap::new();
    let mut counts = Counts::default();
    for r in &rows {
        if !listed.insert(r.file.as_str()) {
            return Err(fail(format!("{} is listed twice", r.file)));
        }
        let folder = r.file.split('/').next().unwrap_or_default();
        if folder != r.class || !CLASSES.contains(&folder) {
            return Err(fail(format!("{} has class `{}` but lies in `{folder}`", r.file, r.class)));
        }
        if !on_disk.contains(&r.file) {
            return Err(fail(format!("{} is listed but not on disk", r.file)));
        }
        if let Some(&other) = group_split.get(r.group.as_str())
            && other != r.split
        {
            return Err(fail(format!(
                "group `{}` is in both {} and {}",
                r.group,
                other.as_str(),
                r.split.as_str()
            )));
        }
        group_split.insert(&r.group, r.split);
        *counts.0.entry(r.class.clone()).or_default().entry(r.split).or_default() += 1;
    }
    if let Some(extra) = on_disk.iter().find(|f| !listed.contains(f.as_str())) {
        return Err(fail(format!("{extra} is on disk but not listed")));
    }
    Ok(counts)
}
