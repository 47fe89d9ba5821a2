//! The shipped data set `data/hubble` through the real loader: its manifest must agree with its
//! folders, every image must decode, and the split must come from the manifest with every
//! group on one side. Ignored by default: it decodes ~600 JPEGs (a few seconds on 2 cores).
//! Run with `cargo test -p augment --release --test hubble -- --ignored`.

use augment::{LoadOptions, LoadSize, Part, Split, SplitFractions, load};
use std::collections::BTreeMap;
use std::path::Path;

#[test]
#[ignore = "decodes the whole shipped data set (~600 images)"]
fn shipped_data_set_loads_with_its_manifest() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/hubble");
    let ds =
        load(&root, &LoadOptions { size: LoadSize::CenterSquare(64), ..LoadOptions::default() })
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ds.classes, ["galaxies", "nebulae", "solar_system"]);
    assert!(ds.manifest.is_some() && ds.skipped.is_empty());
    assert!(ds.len() > 500, "{} images", ds.len());
    let split = Split::from_dataset(&ds, SplitFractions::default(), 0).unwrap();
    let mut side: BTreeMap<&str, Part> = BTreeMap::new();
    for part in [Part::Train, Part::Val, Part::Test] {
        for &i in split.part(part) {
            let previous = side.insert(&ds.samples[i].group, part);
            assert!(
                previous.is_none_or(|p| p == part),
                "group {} on two sides",
                ds.samples[i].group
            );
        }
    }
    println!(
        "{} images, class counts {:?}, split {}/{}/{}",
        ds.len(),
        ds.class_counts(),
        split.train.len(),
        split.val.len(),
        split.test.len()
    );
}
