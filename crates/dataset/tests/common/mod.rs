//! What the shipped-data tests share: the repository root, where the pinned packages come from,
//! and the check that every listed image is the file its manifest row describes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use dataset::{ManifestRow, PackageSource};
use sha2::{Digest, Sha256};

/// The workspace root (this crate is `crates/dataset`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The ignored rebuild tests' packages: `ASTROCONV_UNPACKED` if set (already-unpacked packages),
/// else downloaded into `target/dataset-cache`.
pub fn package_source() -> PackageSource {
    match std::env::var_os("ASTROCONV_UNPACKED") {
        Some(dir) => PackageSource::Unpacked(dir.into()),
        None => PackageSource::Download { cache: repo().join("target/dataset-cache") },
    }
}

/// Every row's file under `root` exists, has the row's SHA-256, differs from every other
/// listed file, and decodes as a 224×224 RGB image.
pub fn assert_distinct_224_rgb_images_with_recorded_hashes(root: &Path, rows: &[ManifestRow]) {
    let mut hashes = HashSet::new();
    for r in rows {
        let bytes = std::fs::read(root.join(&r.file)).expect("listed file exists");
        let sha: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sha, r.sha256, "{} changed since the manifest was written", r.file);
        assert!(hashes.insert(sha), "{} duplicates another image", r.file);
        let img = image::load_from_memory(&bytes).expect("decodable JPEG");
        assert_eq!(
            (img.width(), img.height(), img.color()),
            (224, 224, image::ColorType::Rgb8),
            "{}",
            r.file
        );
    }
}
