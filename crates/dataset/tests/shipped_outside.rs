//! The shipped check set `data/outside` against its label table, its manifest and
//! `data/README.md`, and (ignored by default) a rebuild from the real packages compared byte for
//! byte.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use dataset::outside::Crop;
use dataset::{CLASSES, Split, read_manifest, read_outside_labels, verify};
use sha2::{Digest, Sha256};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `| class | images | … |` rows of data/README.md's outside table: class → count.
fn documented_counts() -> Vec<(String, usize)> {
    let readme =
        std::fs::read_to_string(repo().join("data/README.md")).expect("data/README.md exists");
    let section = readme.split("## data/outside").nth(1).expect("a `## data/outside` section");
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> =
                line.trim().trim_matches('|').split('|').map(str::trim).collect();
            let class = cells.first()?.trim_matches('`');
            let count = cells.get(1)?.parse().ok()?;
            CLASSES.contains(&class).then(|| (class.to_string(), count))
        })
        .collect()
}

#[test]
fn the_label_table_the_manifest_the_folders_and_the_readme_agree() {
    let root = repo().join("data/outside");
    let counts = verify(&root).expect("manifest and folders agree");
    let labels = read_outside_labels(&repo().join("data/labels/outside.csv")).expect("labels");
    let rows = read_manifest(&root.join("manifest.csv")).expect("manifest");
    assert_eq!(rows.len(), labels.len(), "one image per label");
    for l in &labels {
        let r = rows.iter().find(|r| r.file == l.file).expect("every label has its image");
        assert_eq!((&r.class, &r.group), (&l.class, &l.group), "{}", l.file);
        assert_eq!(r.split, Split::Test, "{}: a check set is never trained on", l.file);
        assert_eq!(r.render_params, l.crop.describe(), "{}", l.file);
        assert_eq!(r.source_package, l.package.name, "{}", l.file);
    }
    let documented = documented_counts();
    assert_eq!(documented.len(), 3, "data/README.md documents all three classes");
    for (class, n) in documented {
        assert_eq!(counts.class_total(&class), n, "{class}: shipped vs data/README.md");
    }
    assert!(labels.iter().any(|l| l.crop != Crop::Centre), "the off-centre crop is exercised");
}

#[test]
fn every_image_is_a_distinct_224_rgb_jpeg_with_its_recorded_hash() {
    let root = repo().join("data/outside");
    let rows = read_manifest(&root.join("manifest.csv")).expect("manifest");
    let mut hashes = HashSet::new();
    for r in &rows {
        let bytes = std::fs::read(root.join(&r.file)).expect("listed file exists");
        let sha: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sha, r.sha256, "{} changed since the manifest was written", r.file);
        assert!(hashes.insert(sha), "{} duplicates another image", r.file);
        let img = image::load_from_memory(&bytes).expect("decodable JPEG");
        assert_eq!((img.width(), img.height(), img.color()), (224, 224, image::ColorType::Rgb8));
    }
}

/// Rebuilds the set from the pinned packages (25 MB, cached in `target/dataset-cache`; or set
/// `ASTROCONV_UNPACKED` to already-unpacked packages) and checks every file is byte-identical.
#[test]
#[ignore = "downloads two Debian packages (25 MB)"]
fn rebuild_from_the_packages_matches_the_shipped_files() {
    let dir = |i: usize| {
        let p = &dataset::OUTSIDE_PACKAGES[i];
        match std::env::var_os("ASTROCONV_UNPACKED") {
            Some(root) => dataset::locate_share_dir(Path::new(&root), p).expect("unpacked"),
            None => dataset::fetch_and_unpack_one(p, &repo().join("target/dataset-cache"))
                .expect("package"),
        }
    };
    let out = std::env::temp_dir().join(format!("astroconv-outside-{}", std::process::id()));
    let config = dataset::OutsideConfig {
        package_dirs: [dir(0), dir(1)],
        labels: repo().join("data/labels/outside.csv"),
        out_dir: out.clone(),
        jpeg_quality: 90,
    };
    dataset::build_outside(&config).expect("rebuild succeeds");
    let shipped = read_manifest(&repo().join("data/outside/manifest.csv")).expect("shipped");
    let rebuilt = read_manifest(&out.join("manifest.csv")).expect("rebuilt");
    assert_eq!(shipped, rebuilt, "manifests differ (files, crops or hashes)");
    std::fs::remove_dir_all(&out).ok();
}
