//! The shipped `data/hubble` against its manifest and `data/README.md`, and (ignored by
//! default) a full rebuild from the real packages compared byte for byte.

use std::collections::BTreeMap;
use std::path::Path;

use dataset::{CLASSES, Split, read_manifest, verify};

mod common;

use common::{assert_distinct_224_rgb_images_with_recorded_hashes, package_source, repo};

/// `| class | train | val | test | total |` rows of the counts table in `data/README.md`.
fn documented_counts() -> BTreeMap<String, [usize; 4]> {
    let readme =
        std::fs::read_to_string(repo().join("data/README.md")).expect("data/README.md exists");
    let mut out = BTreeMap::new();
    for line in readme.lines() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
        if let [class, train, val, test, total] = cells[..]
            && CLASSES.contains(&class.trim_matches('`'))
        {
            let n = |s: &str| s.parse::<usize>().expect("a count");
            out.insert(class.trim_matches('`').to_string(), [n(train), n(val), n(test), n(total)]);
        }
    }
    out
}

#[test]
fn manifest_agrees_with_the_folders_and_the_readme() {
    let root = repo().join("data/hubble");
    // Every file listed once, class = folder, listed files exist, no group in two splits.
    let counts = verify(&root).expect("manifest and folders agree");
    let documented = documented_counts();
    assert_eq!(documented.len(), 3, "data/README.md documents all three classes: {documented:?}");
    for class in CLASSES {
        let n = |s| counts.0.get(class).and_then(|m| m.get(&s)).copied().unwrap_or(0);
        let got = [n(Split::Train), n(Split::Val), n(Split::Test), counts.class_total(class)];
        assert_eq!(got, documented[class], "{class}: shipped vs data/README.md");
    }
}

/// Mean chroma (max − min channel) below 3 units: a little above `dataset::photo::GRAY_CHROMA`
/// to allow for JPEG's chroma error.
fn gray_image(path: &Path) -> bool {
    let img = image::open(path).expect("decodable").to_rgb8();
    dataset::photo::mean_chroma(&img) < 3.0
}

#[test]
fn manifest_header_hashes_and_images_are_as_promised() {
    let root = repo().join("data/hubble");
    let text = std::fs::read_to_string(root.join("manifest.csv")).expect("manifest exists");
    assert!(
        text.starts_with(
            "file,class,group,split,source_package,source_version,source_file,credit,credit_url,render_params"
        ),
        "the augment crate reads the first four columns by position and name"
    );
    let rows = read_manifest(&root.join("manifest.csv")).expect("readable manifest");
    assert_distinct_224_rgb_images_with_recorded_hashes(&root, &rows);
    // Each class has gray and colour images (against "gray means solar system"), measured on the
    // decoded pixels: a gray image has a mean chroma of at most a few units after JPEG.
    for class in CLASSES {
        let gray =
            rows.iter().filter(|r| r.class == class && gray_image(&root.join(&r.file))).count();
        let total = rows.iter().filter(|r| r.class == class).count();
        assert!(gray * 10 >= total && gray * 2 <= total, "{class}: {gray} of {total} gray");
    }
}

/// Rebuilds everything from the pinned packages (a 325 MB download on first use, cached in
/// `target/dataset-cache`; or set `ASTROCONV_UNPACKED` to already-unpacked packages) and checks
/// that every file is byte-identical to the shipped one.
#[test]
#[ignore = "downloads 325 MB of Debian packages and renders the whole set (about a minute)"]
fn rebuild_from_the_packages_matches_the_shipped_files() {
    let sources = package_source().hubble_sources().expect("the pinned packages");
    let out = std::env::temp_dir().join(format!("astroconv-rebuild-{}", std::process::id()));
    let config = dataset::BuildConfig {
        sources,
        labels_dir: repo().join("data/labels"),
        out_dir: out.clone(),
        seed: 2026,
        jpeg_quality: 90,
        progress: false,
    };
    dataset::build(&config).expect("rebuild succeeds");
    let shipped =
        read_manifest(&repo().join("data/hubble/manifest.csv")).expect("shipped manifest");
    let rebuilt = read_manifest(&out.join("manifest.csv")).expect("rebuilt manifest");
    assert_eq!(shipped, rebuilt, "manifests differ (files, splits, parameters or hashes)");
    std::fs::remove_dir_all(&out).ok();
}
