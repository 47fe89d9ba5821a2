//! Loading, bad input, manifests, splits, batches and expansion on small image folders the tests
//! write into the system temp dir (one uniquely named folder per test, removed at the end).

use augment::{
    AugmentError, AugmentPreset, BadImagePolicy, LoadOptions, LoadSize, Part, Pipeline, Split,
    SplitFractions, Step, Transform, load,
};
use image::{ImageBuffer, Luma, LumaA, Rgb, RgbImage, Rgba};
use std::path::{Path, PathBuf};

/// A fresh, empty temp folder for one test.
fn temp_root(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("astroconv-augment-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rgb(w: u32, h: u32, seed: u8) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| Rgb([(x * 7) as u8 ^ seed, (y * 5) as u8, seed.wrapping_mul(3)]))
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn save(path: &Path, img: &RgbImage) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    img.save(path).unwrap();
}

fn png_bytes(img: &RgbImage) -> Vec<u8> {
    encoded(img, image::ImageFormat::Png)
}

fn encoded(img: &RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn opts(size: u32) -> LoadOptions {
    LoadOptions { size: LoadSize::CenterSquare(size), min_side: 8, ..LoadOptions::default() }
}

/// Two classes, six objects; `nebulae/orion-1` and `-2` are tiles of one object.
fn good_folder(name: &str) -> PathBuf {
    let root = temp_root(name);
    save(&root.join("galaxies/m31.png"), &rgb(40, 30, 1));
    save(&root.join("galaxies/m33.jpg"), &rgb(30, 40, 2));
    save(&root.join("galaxies/m51.png"), &rgb(32, 32, 3));
    save(&root.join("nebulae/orion-1.png"), &rgb(36, 36, 4));
    save(&root.join("nebulae/orion-2.png"), &rgb(36, 36, 5));
    save(&root.join("nebulae/crab.png"), &rgb(50, 20, 6));
    write(&root.join("README.md"), b"not a class");
    write(&root.join("galaxies/.DS_Store"), b"junk");
    root
}

#[test]
fn loads_sorted_classes_at_the_working_size() {
    let root = good_folder("good");
    let ds = load(&root, &opts(16)).unwrap();
    assert_eq!(ds.classes, ["galaxies", "nebulae"]);
    assert_eq!(ds.class_counts(), [3, 3]);
    assert!(ds.skipped.is_empty() && ds.manifest.is_none());
    assert!(ds.samples.iter().all(|s| s.pixels.dimensions() == (16, 16)));
    let files: Vec<&str> = ds.samples.iter().map(|s| s.file.as_str()).collect();
    assert_eq!(files[0], "galaxies/m31.png");
    let groups: Vec<&str> = ds.samples.iter().map(|s| s.group.as_str()).collect();
    assert_eq!(groups.iter().filter(|g| **g == "orion").count(), 2);
    // Original size keeps the decoded pixels exactly.
    let orig = load(&root, &LoadOptions { size: LoadSize::Original, ..opts(16) }).unwrap();
    assert_eq!(orig.samples[0].pixels, rgb(40, 30, 1));
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn gray_alpha_and_16_bit_images_become_rgb() {
    let root = temp_root("formats");
    let gray = ImageBuffer::<Luma<u8>, _>::from_pixel(10, 10, Luma([100]));
    std::fs::create_dir_all(root.join("a")).unwrap();
    gray.save(root.join("a/gray.png")).unwrap();
    ImageBuffer::<Rgba<u8>, _>::from_pixel(10, 10, Rgba([255, 0, 200, 128]))
        .save(root.join("a/rgba.png"))
        .unwrap();
    ImageBuffer::<LumaA<u8>, _>::from_pixel(10, 10, LumaA([200, 0]))
        .save(root.join("a/graya.png"))
        .unwrap();
    ImageBuffer::<Rgb<u16>, _>::from_pixel(10, 10, Rgb([65535, 32896, 0]))
        .save(root.join("a/deep.png"))
        .unwrap();
    let ds = load(&root, &LoadOptions { size: LoadSize::Original, ..opts(8) }).unwrap();
    let px =
        |file: &str| ds.samples.iter().find(|s| s.file == file).unwrap().pixels.get_pixel(3, 3).0;
    assert_eq!(px("a/gray.png"), [100, 100, 100]);
    assert_eq!(px("a/rgba.png"), [128, 0, 100]); // composited on black: 255·128/255, 200·128/255
    assert_eq!(px("a/graya.png"), [0, 0, 0]); // fully transparent → black
    assert_eq!(px("a/deep.png"), [255, 128, 0]);
    std::fs::remove_dir_all(root).unwrap();
}

/// Writes one bad file next to a good one and checks `Fail` names it and `Skip` counts it.
fn check_bad_file(
    name: &str,
    write_bad: impl FnOnce(&Path),
    o: LoadOptions,
    is_expected: fn(&AugmentError) -> bool,
) {
    let root = temp_root(name);
    save(&root.join("c/good.png"), &rgb(20, 20, 1));
    let bad = root.join("c/bad.img");
    write_bad(&bad);
    let err = load(&root, &o).unwrap_err();
    assert!(is_expected(&err), "{name}: {err}");
    assert!(err.to_string().contains("bad.img"), "{name}: message must name the file: {err}");
    let ds = load(&root, &LoadOptions { bad_images: BadImagePolicy::Skip, ..o }).unwrap();
    assert_eq!(ds.len(), 1, "{name}");
    assert_eq!(ds.skipped.len(), 1, "{name}");
    assert_eq!(ds.skipped[0].path, bad);
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn each_kind_of_bad_file_is_a_typed_error_or_a_counted_skip() {
    let png = png_bytes(&rgb(20, 20, 9));
    check_bad_file(
        "zero",
        |p| write(p, b""),
        opts(8),
        |e| matches!(e, AugmentError::EmptyFile { .. }),
    );
    check_bad_file(
        "text",
        |p| write(p, b"hello, not an image"),
        opts(8),
        |e| matches!(e, AugmentError::NotAnImage { .. }),
    );
    let truncated = png[..png.len() / 2].to_vec();
    check_bad_file(
        "truncated",
        |p| write(p, &truncated),
        opts(8),
        |e| matches!(e, AugmentError::Decode { .. }),
    );
    // JPEG's decoder would fill the missing rows and succeed: the loader checks the markers.
    let jpeg = encoded(&rgb(64, 64, 9), image::ImageFormat::Jpeg);
    let cut_in_scan = jpeg[..jpeg.len() * 4 / 5].to_vec();
    check_bad_file(
        "truncated-jpeg",
        |p| write(p, &cut_in_scan),
        opts(8),
        |e| matches!(e, AugmentError::Decode { reason, .. } if reason.contains("truncated")),
    );
    let mut corrupt = png.clone();
    for b in &mut corrupt[40..] {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    check_bad_file(
        "corrupt",
        |p| write(p, &corrupt),
        opts(8),
        |e| matches!(e, AugmentError::Decode { .. }),
    );
    check_bad_file(
        "small",
        |p| save_as_png(p, &rgb(4, 30, 1)),
        opts(8),
        |e| matches!(e, AugmentError::ImageTooSmall { width: 4, height: 30, .. }),
    );
    let limited = LoadOptions { max_decode_bytes: 2000, ..opts(8) };
    check_bad_file(
        "huge",
        |p| save_as_png(p, &rgb(300, 300, 1)),
        limited,
        |e| matches!(e, AugmentError::ImageTooLarge { .. }),
    );
    // A dangling symlink: listed by read_dir, unreadable.
    #[cfg(unix)]
    check_bad_file(
        "unreadable",
        |p| std::os::unix::fs::symlink("/nonexistent/astroconv", p).unwrap(),
        opts(8),
        |e| matches!(e, AugmentError::Io { .. }),
    );
}

fn save_as_png(path: &Path, img: &RgbImage) {
    write(path, &png_bytes(img));
}

#[test]
fn structural_problems_are_errors() {
    let root = temp_root("noclasses");
    write(&root.join("loose.png"), &png_bytes(&rgb(20, 20, 1)));
    assert!(matches!(load(&root, &opts(8)), Err(AugmentError::NoClasses { .. })));
    std::fs::create_dir_all(root.join("empty")).unwrap();
    save(&root.join("full/a.png"), &rgb(20, 20, 1));
    let err = load(&root, &opts(8)).unwrap_err();
    assert!(matches!(&err, AugmentError::EmptyClass { path } if path.ends_with("empty")), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
    let missing = load(&root, &opts(8)).unwrap_err();
    assert!(matches!(missing, AugmentError::Io { .. }));
    // A class whose only file is skipped leaves the class empty: still an error.
    let root = temp_root("allbad");
    save(&root.join("a/x.png"), &rgb(20, 20, 1));
    write(&root.join("b/y.png"), b"");
    let skip = LoadOptions { bad_images: BadImagePolicy::Skip, ..opts(8) };
    assert!(matches!(load(&root, &skip), Err(AugmentError::EmptyClass { .. })));
    std::fs::remove_dir_all(root).unwrap();
}

#[cfg(unix)]
#[test]
fn non_utf8_names_are_loaded_or_reported() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let root = temp_root("nonutf8");
    let odd = root.join("stars").join(OsStr::from_bytes(b"caf\xe9-2.png"));
    save(&odd, &rgb(20, 20, 1));
    let ds = load(&root, &opts(8)).unwrap();
    assert_eq!(ds.samples[0].path, odd);
    assert_eq!(ds.samples[0].group, "caf\u{fffd}");
    write(&odd, b"");
    let err = load(&root, &opts(8)).unwrap_err();
    assert!(err.to_string().contains("caf\u{fffd}-2.png"), "{err}");
    std::fs::create_dir_all(root.join(OsStr::from_bytes(b"bad\xffclass"))).unwrap();
    assert!(matches!(load(&root, &opts(8)), Err(AugmentError::NonUtf8ClassName { .. })));
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn manifest_supplies_groups_and_splits_and_must_match_the_folders() {
    let root = good_folder("manifest");
    let header = "file,class,group,split,source\n";
    let rows = "galaxies/m31.png,galaxies,andromeda,train,x\n\"galaxies/m33.jpg\",galaxies,triangulum,val,x\n\
                galaxies/m51.png,galaxies,whirlpool,test,x\nnebulae/orion-1.png,nebulae,orion,train,x\n\
                nebulae/orion-2.png,nebulae,orion,train,x\nnebulae/crab.png,nebulae,crab,test,x\n";
    write(&root.join("manifest.csv"), format!("{header}{rows}").as_bytes());
    let ds = load(&root, &opts(8)).unwrap();
    assert_eq!(ds.manifest, Some(root.join("manifest.csv")));
    assert_eq!(ds.samples[0].group, "andromeda");
    let split = Split::from_dataset(&ds, SplitFractions::default(), 0).unwrap();
    let names = |idx: &[usize]| idx.iter().map(|&i| ds.samples[i].file.clone()).collect::<Vec<_>>();
    assert_eq!(names(split.part(Part::Val)), ["galaxies/m33.jpg"]);
    assert_eq!(split.test.len(), 2);

    let check = |text: String, want: fn(&AugmentError) -> bool| {
        write(&root.join("manifest.csv"), text.as_bytes());
        let err = load(&root, &opts(8)).unwrap_err();
        assert!(want(&err), "{err}");
        err.to_string()
    };
    let fewer = rows.lines().skip(1).collect::<Vec<_>>().join("\n");
    let msg =
        check(format!("{header}{fewer}"), |e| matches!(e, AugmentError::ManifestMismatch { .. }));
    assert!(msg.contains("galaxies/m31.png"), "{msg}");
    let extra = format!("{header}{rows}galaxies/ghost.png,galaxies,ghost,train,x\n");
    let msg = check(extra, |e| matches!(e, AugmentError::ManifestMismatch { .. }));
    assert!(msg.contains("ghost"), "{msg}");
    let wrong_class = rows.replacen("galaxies,andromeda", "nebulae,andromeda", 1);
    check(format!("{header}{wrong_class}"), |e| {
        matches!(e, AugmentError::Manifest { line: 2, .. })
    });
    check(format!("file,class,split\n{rows}"), |e| {
        matches!(e, AugmentError::Manifest { line: 1, .. })
    });
    let bad_split = rows.replacen("train", "training", 1);
    check(format!("{header}{bad_split}"), |e| matches!(e, AugmentError::Manifest { line: 2, .. }));
    std::fs::remove_dir_all(root).unwrap();
}

/// Two classes `a`, `b` of `objects` objects each, object `i` in `1 + i % max_tiles` tiles
/// (`obj{i}x-{tile}.png`, one group per object), loaded at 8×8.
fn tiled_objects(root: &Path, objects: usize, max_tiles: usize) -> augment::Dataset {
    for class in ["a", "b"] {
        for obj in 0..objects {
            for tile in 1..=(1 + obj % max_tiles) {
                save(&root.join(format!("{class}/obj{obj}x-{tile}.png")), &rgb(8, 8, obj as u8));
            }
        }
    }
    load(root, &opts(8)).unwrap()
}

#[test]
fn stratified_split_is_seeded_and_keeps_groups_together() {
    let root = temp_root("split");
    let ds = tiled_objects(&root, 20, 3);
    let split = Split::from_dataset(&ds, SplitFractions::default(), 42).unwrap();
    assert_eq!(split, Split::stratified(&ds, SplitFractions::default(), 42).unwrap());
    assert_ne!(split, Split::stratified(&ds, SplitFractions::default(), 43).unwrap());
    let mut all: Vec<usize> =
        [&split.train, &split.val, &split.test].into_iter().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..ds.len()).collect::<Vec<_>>());
    let part_of = |i: usize| {
        [Part::Train, Part::Val, Part::Test].into_iter().find(|p| split.part(*p).contains(&i))
    };
    for i in 0..ds.len() {
        for j in 0..ds.len() {
            if ds.samples[i].group == ds.samples[j].group {
                assert_eq!(
                    part_of(i),
                    part_of(j),
                    "{} / {}",
                    ds.samples[i].file,
                    ds.samples[j].file
                );
            }
        }
    }
    for class in 0..2 {
        let n =
            |idx: &[usize]| idx.iter().filter(|&&i| ds.samples[i].class == class).count() as f32;
        let total = n(&split.train) + n(&split.val) + n(&split.test);
        assert!((n(&split.train) / total - 0.7).abs() < 0.1, "class {class}");
        assert!(n(&split.val) > 0.0 && n(&split.test) > 0.0);
    }
    let bad = SplitFractions { train: 0.9, val: 0.2, test: 0.1 };
    assert!(Split::stratified(&ds, bad, 0).is_err());
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn cross_validation_folds_partition_train_and_val_by_group() {
    let root = temp_root("cv");
    let ds = tiled_objects(&root, 17, 4);
    let split = Split::stratified(&ds, SplitFractions::default(), 5).unwrap();
    let mut pool: Vec<usize> = split.train.iter().chain(&split.val).copied().collect();
    pool.sort_unstable();
    let folds = 4;
    let mut validated = vec![0usize; ds.len()];
    for fold in 0..folds {
        let cv = split.cross_validation(&ds, fold, folds, 9).unwrap();
        assert_eq!(cv, split.cross_validation(&ds, fold, folds, 9).unwrap(), "seeded");
        assert_eq!(cv.test, split.test, "the test part is left alone");
        let mut both: Vec<usize> = cv.train.iter().chain(&cv.val).copied().collect();
        both.sort_unstable();
        assert_eq!(both, pool, "fold {fold}: train + val = the old train + val, no overlap");
        for &v in &cv.val {
            validated[v] += 1;
            let group = &ds.samples[v].group;
            assert!(cv.train.iter().all(|&t| &ds.samples[t].group != group), "{group} leaks");
        }
        // Stratified: each class's validation share is near 1/folds.
        for class in 0..2 {
            let n = |idx: &[usize]| idx.iter().filter(|&&i| ds.samples[i].class == class).count();
            let share = n(&cv.val) as f32 / n(&pool) as f32;
            assert!((share - 0.25).abs() < 0.1, "fold {fold} class {class}: {share}");
        }
    }
    for &i in &pool {
        assert_eq!(validated[i], 1, "{} validated {} times", ds.samples[i].file, validated[i]);
    }
    assert!(split.test.iter().all(|&i| validated[i] == 0));
    assert_ne!(
        split.cross_validation(&ds, 0, folds, 9).unwrap(),
        split.cross_validation(&ds, 0, folds, 10).unwrap()
    );
    assert!(split.cross_validation(&ds, 4, 4, 0).is_err());
    assert!(split.cross_validation(&ds, 0, 1, 0).is_err());
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn thinned_training_parts_keep_whole_groups_per_class_and_nest() {
    let root = temp_root("thin");
    let ds = tiled_objects(&root, 17, 4);
    let split = Split::stratified(&ds, SplitFractions::default(), 5).unwrap();
    let count =
        |idx: &[usize], class: usize| idx.iter().filter(|&&i| ds.samples[i].class == class).count();
    let mut previous: Option<Split> = None;
    for fraction in [0.25_f32, 0.5, 0.75] {
        let thin = split.thin_train(&ds, fraction, 3).unwrap();
        assert_eq!(thin, split.thin_train(&ds, fraction, 3).unwrap(), "seeded");
        assert_eq!((&thin.val, &thin.test), (&split.val, &split.test), "val and test untouched");
        assert!(thin.train.iter().all(|i| split.train.contains(i)), "only training samples kept");
        for &k in &thin.train {
            // A group is kept whole or not at all.
            for &t in &split.train {
                if ds.samples[t].group == ds.samples[k].group {
                    assert!(thin.train.contains(&t), "{} split from its group", ds.samples[t].file);
                }
            }
        }
        for class in 0..2 {
            let (kept, all) = (count(&thin.train, class), count(&split.train, class));
            let wanted = (fraction * all as f32).round() as usize;
            // Whole groups (tiles of up to 4 files) overshoot the wanted count by less than a group.
            assert!(
                kept >= wanted && kept < wanted + 4,
                "class {class} at {fraction}: {kept} of {all}"
            );
        }
        if let Some(smaller) = &previous {
            assert!(
                smaller.train.iter().all(|i| thin.train.contains(i)),
                "not nested at {fraction}"
            );
        }
        previous = Some(thin);
    }
    assert_eq!(split.thin_train(&ds, 1.0, 3).unwrap(), split);
    assert_ne!(split.thin_train(&ds, 0.5, 3).unwrap(), split.thin_train(&ds, 0.5, 4).unwrap());
    for bad in [0.0, -0.5, 1.5, f32::NAN] {
        assert!(split.thin_train(&ds, bad, 3).is_err(), "{bad}");
    }
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn batches_do_not_depend_on_thread_count_or_batch_order() {
    let root = good_folder("batches");
    let ds = load(&root, &opts(24)).unwrap();
    let pipe = AugmentPreset::Default.pipeline(16).unwrap();
    let run = |threads: usize, idx: &[usize]| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| augment::make_batch(&ds, idx, &pipe, 7, 3).unwrap())
    };
    let (x1, t1) = run(1, &[0, 1, 2, 3, 4, 5]);
    let (x3, t3) = run(3, &[0, 1, 2, 3, 4, 5]);
    assert_eq!(x1.dims(), &[6, 3, 16, 16]);
    assert_eq!(t1, [0, 0, 0, 1, 1, 1]);
    assert_eq!((x1.data(), &t1), (x3.data(), &t3));
    // Sample 4 gets the same augmentation in any batch at any position.
    let (alone, _) = run(2, &[4]);
    let per = 3 * 16 * 16;
    assert_eq!(alone.data(), &x1.data()[4 * per..5 * per]);
    let (next_epoch, _) = augment::make_batch(&ds, &[4], &pipe, 7, 4).unwrap();
    assert_ne!(next_epoch.data(), alone.data());
    assert!(x1.data().iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(matches!(
        augment::make_batch(&ds, &[9], &pipe, 7, 3),
        Err(AugmentError::IndexOutOfRange { index: 9, .. })
    ));
    let ragged = Pipeline::new(vec![Step::always(Transform::Rotate90)]).unwrap();
    let orig = load(&root, &LoadOptions { size: LoadSize::Original, ..opts(8) }).unwrap();
    assert!(matches!(
        augment::make_batch(&orig, &[0, 1, 2, 3, 4, 5], &ragged, 1, 0),
        Err(AugmentError::SizeMismatch { .. })
    ));
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn epoch_orders_are_seeded_and_balanced_sampling_evens_out_classes() {
    let root = temp_root("balanced");
    for i in 0..9 {
        save(&root.join(format!("big/{i}.png")), &rgb(8, 8, i));
    }
    save(&root.join("small/0.png"), &rgb(8, 8, 0));
    let ds = load(&root, &opts(8)).unwrap();
    let all: Vec<usize> = (0..ds.len()).collect();
    let e0 = augment::shuffled_epoch(&all, 1, 0);
    assert_eq!(e0, augment::shuffled_epoch(&all, 1, 0));
    assert_ne!(e0, augment::shuffled_epoch(&all, 1, 1));
    let mut sorted = e0.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, all);
    let mut small = 0;
    for epoch in 0..200 {
        let order = augment::balanced_epoch(&ds, &all, 1, epoch).unwrap();
        assert_eq!(order.len(), 10);
        small += order.iter().filter(|&&i| ds.samples[i].class == 1).count();
    }
    // Half of the 2000 draws should be the single "small" image.
    assert!((900..1100).contains(&small), "{small}");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn expand_writes_a_reloadable_folder_and_preview_grid_has_n_cells() {
    let root = good_folder("expand");
    let ds = load(&root, &opts(16)).unwrap();
    let out = temp_root("expand-out");
    let pipe = AugmentPreset::Paper.pipeline(16).unwrap();
    let train = [0, 1, 4, 5]; // m31, m33, orion-1, orion-2
    assert_eq!(augment::expand(&ds, &train, 2, &pipe, 5, &out).unwrap(), 12);
    let again = augment::expand(&ds, &train, 2, &pipe, 5, &out).unwrap_err();
    assert!(again.to_string().contains("not empty"), "{again}");
    let big = load(&out, &opts(16)).unwrap();
    assert_eq!(big.len(), 12);
    assert!(big.samples.iter().all(|s| s.split == Some(Part::Train)));
    let orion: Vec<&str> =
        big.samples.iter().filter(|s| s.group == "orion").map(|s| s.file.as_str()).collect();
    assert_eq!(orion.len(), 6, "{orion:?}");
    assert!(big.samples.iter().any(|s| s.file == "galaxies/m31_aug2.png"));
    let grid = augment::preview_grid(&ds.samples[0].image(), &pipe, 5, 1).unwrap();
    // 3 columns x 2 rows of 16-px cells with 2-px gaps.
    assert_eq!(grid.dimensions(), (3 * 16 + 4 * 2, 2 * 16 + 3 * 2));
    std::fs::remove_dir_all(root).unwrap();
    std::fs::remove_dir_all(out).unwrap();
}
