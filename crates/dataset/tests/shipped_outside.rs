//! The shipped check set `data/outside` against its label table, its manifest and
//! `data/README.md`, and (ignored by default) a rebuild from the real packages compared byte for
//! byte.

use dataset::outside::Crop;
use dataset::{CLASSES, Split, read_manifest, read_outside_labels, verify};

mod common;

use common::{assert_distinct_224_rgb_images_with_recorded_hashes, package_source, repo};

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
    assert_distinct_224_rgb_images_with_recorded_hashes(&root, &rows);
}

/// Rebuilds the set from the pinned packages (25 MB, cached in `target/dataset-cache`; or set
/// `ASTROCONV_UNPACKED` to already-unpacked packages) and checks every file is byte-identical.
#[test]
#[ignore = "downloads two Debian packages (25 MB)"]
fn rebuild_from_the_packages_matches_the_shipped_files() {
    let source = package_source();
    let dir = |i: usize| source.share_dir(&dataset::OUTSIDE_PACKAGES[i]).expect("the package");
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
