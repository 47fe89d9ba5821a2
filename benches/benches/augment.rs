//! Data pipeline throughput in images/s, on 2 threads (the trainer's budget on this machine):
//! - `decode`: `augment::load` of 32 JPEG files (640×480 sky-like noise) into memory at the
//!   working size (shorter side → S, centre square);
//! - `augment_batch`: `make_batch` of 32 in-memory images through each preset to S×S, the images
//!   held at the preset's `working_size(S)` (S for none/paper, ⌈8S/7⌉ for default), as the
//!   trainer loads them;
//! - `pipeline_1thread`: one image through each preset on the calling thread (no rayon, no
//!   stacking): the per-image cost the batch throughput divides among the threads.
//!
//! Target (issue 4): augment + batch at ≥ 5× the paper network's training throughput at the same
//! size, i.e. ≥ 550 img/s at 224² and ≥ 6000 img/s at 64². Results: docs/benchmarks.md.

use augment::{AugmentPreset, Image, LoadOptions, LoadSize, load, make_batch};
use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use std::path::PathBuf;
use std::time::Duration;
use tensor::Rng;

const BATCH: usize = 32;
const THREADS: usize = 2;
/// Network input sides S.
const SIZES: [usize; 2] = [224, 64];

/// A folder `class/{i}.jpg` of `BATCH` 640×480 images: dark noisy sky with bright speckles.
fn jpeg_folder() -> PathBuf {
    let root = std::env::temp_dir().join(format!("astroconv-augment-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("sky")).expect("temp dir is writable");
    for i in 0..BATCH {
        let mut rng = Rng::new(i as u64);
        let img = Image::from_fn(640, 480, |c, y, x| {
            let glow = 0.5
                * (-(((x as f32 - 320.0).powi(2) + (y as f32 - 240.0).powi(2)) / 20000.0)).exp();
            let star = if rng.next_f32() > 0.999 { 0.8 } else { 0.0 };
            (0.05 * rng.next_f32() + glow * [1.0, 0.8, 0.6][c] + star).min(1.0)
        })
        .expect("non-empty image");
        img.to_rgb8().save(root.join(format!("sky/{i}.jpg"))).expect("JPEG encodes");
    }
    root
}

fn bench(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(THREADS).build().expect("thread pool");
    let root = jpeg_folder();
    let mut decode = c.benchmark_group("decode");
    decode.sample_size(10).measurement_time(Duration::from_secs(5));
    decode.throughput(Throughput::Elements(BATCH as u64));
    for size in SIZES {
        let working = AugmentPreset::Default.working_size(size) as u32;
        let opts = LoadOptions { size: LoadSize::CenterSquare(working), ..LoadOptions::default() };
        decode.bench_function(BenchmarkId::new("jpeg_640x480_to", working), |b| {
            b.iter(|| pool.install(|| load(black_box(&root), &opts).expect("bench folder loads")))
        });
    }
    decode.finish();

    let mut group = c.benchmark_group("augment_batch");
    group.sample_size(10).measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(BATCH as u64));
    for size in SIZES {
        let indices: Vec<usize> = (0..BATCH).collect();
        for preset in [AugmentPreset::None, AugmentPreset::Paper, AugmentPreset::Default] {
            let working = preset.working_size(size) as u32;
            let opts =
                LoadOptions { size: LoadSize::CenterSquare(working), ..LoadOptions::default() };
            let ds = load(&root, &opts).expect("bench folder loads");
            let pipe = preset.pipeline(size).expect("valid preset");
            let mut epoch = 0u64;
            group.bench_function(BenchmarkId::new(preset.to_string(), size), |b| {
                b.iter(|| {
                    epoch += 1;
                    pool.install(|| {
                        make_batch(&ds, &indices, &pipe, 1, epoch).expect("batch builds")
                    })
                })
            });
        }
    }
    group.finish();

    let mut single = c.benchmark_group("pipeline_1thread");
    single.sample_size(20).measurement_time(Duration::from_secs(3));
    single.throughput(Throughput::Elements(1));
    for size in SIZES {
        for preset in [AugmentPreset::None, AugmentPreset::Paper, AugmentPreset::Default] {
            let working = preset.working_size(size) as u32;
            let opts =
                LoadOptions { size: LoadSize::CenterSquare(working), ..LoadOptions::default() };
            let ds = load(&root, &opts).expect("bench folder loads");
            let pipe = preset.pipeline(size).expect("valid preset");
            let mut key = 0u64;
            single.bench_function(BenchmarkId::new(preset.to_string(), size), |b| {
                b.iter(|| {
                    key += 1;
                    let img = ds.samples[0].image();
                    pipe.apply_owned(img, &mut Rng::keyed(1, &[0, key])).expect("pipeline applies")
                })
            });
        }
    }
    single.finish();
    let _ = std::fs::remove_dir_all(root);
}

criterion_group!(benches, bench);
criterion_main!(benches);
