//! The inspection commands end to end: `im2col` prints matrices that agree with conv2d,
//! `profile` accounts for a whole step, and `filters`, `feature-maps`, `gradcam` and
//! `confusion` write readable PNGs of a run trained on a tiny colour-coded folder.

mod common;

use common::{scratch, trainer, write_folder};
use std::path::Path;

fn ok(args: &[&str]) -> String {
    let out = trainer(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args:?}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn png_size(path: &Path) -> (u32, u32) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (img.width(), img.height())
}

#[test]
fn im2col_prints_matrices_that_agree_with_conv2d() {
    let out = ok(&["im2col"]);
    assert!(out.contains("cols = conv2d::im2col(x)  [C_in·KH·KW, OH·OW] = [9, 16]"), "{out}");
    assert!(out.contains("conv2d::forward(x, w) gives the same y: max |difference| = 0"), "{out}");
    assert!(out.contains("max |difference| dW 0, dx 0"), "{out}");
    let strided =
        ok(&["im2col", "--size", "5", "--stride", "2", "--padding", "0", "--channels", "2"]);
    assert!(strided.contains("= [18, 4]"), "2 channels · 3·3 taps, 2×2 outputs: {strided}");
    let too_wide = trainer(&["im2col", "--size", "12"]);
    assert_eq!(too_wide.status.code(), Some(2), "144 columns is a usage error");
}

#[test]
fn profile_lists_every_conv_and_accounts_for_the_step() {
    let out = ok(&[
        "profile",
        "--image-size",
        "16",
        "--batch-size",
        "2",
        "--steps",
        "2",
        "--threads",
        "1",
    ]);
    assert_eq!(
        out.lines().filter(|l| l.split_whitespace().nth(1) == Some("conv2d")).count(),
        5,
        "{out}"
    );
    assert!(out.contains("measured step") && out.contains("optimizer step"), "{out}");
}

#[test]
fn inspection_commands_write_pngs_of_a_trained_run() {
    let dir = scratch("pngs");
    let data = dir.join("data");
    write_folder(&data, 6, 11);
    let run = dir.join("run");
    let (data_s, run_s) = (data.to_str().expect("utf-8"), run.to_str().expect("utf-8"));
    ok(&[
        "train",
        "--data",
        data_s,
        "--out",
        run_s,
        "--image-size",
        "32",
        "--batch-size",
        "4",
        "--epochs",
        "1",
        "--augment",
        "none",
        "--warmup-epochs",
        "0",
        "--threads",
        "2",
    ]);

    let filters = dir.join("filters.png");
    ok(&["filters", "--model", run_s, "--out", filters.to_str().expect("utf-8")]);
    let (w, h) = png_size(&filters);
    assert!(w > h && h > 0, "the first layer's filters in rows of 8: {w}×{h}");

    let maps = dir.join("maps");
    let image = data.join("nebulae").join("obj0.png");
    let image_s = image.to_str().expect("utf-8");
    ok(&["feature-maps", "--model", run_s, image_s, "--out", maps.to_str().expect("utf-8")]);
    for name in ["input.png", "conv1.png", "conv2.png", "conv3.png", "conv4.png", "conv5.png"] {
        assert!(maps.join(name).is_file(), "{name} missing");
    }
    assert_eq!(png_size(&maps.join("input.png")), (32, 32));

    let cam = dir.join("cam");
    let cam_s = cam.to_str().expect("utf-8");
    let out = ok(&["gradcam", "--model", run_s, image_s, "--class", "nebulae", "--out", cam_s]);
    assert!(out.contains("nebulae"), "{out}");
    let (w, h) = png_size(&cam.join("obj0_gradcam.png"));
    assert!(w > 2 * h - 20 && h >= 32, "photo and overlay side by side: {w}×{h}");
    let bad = trainer(&["gradcam", "--model", run_s, image_s, "--class", "comets", "--out", cam_s]);
    assert_eq!(bad.status.code(), Some(2), "an unknown class is a usage error");

    let matrix = dir.join("confusion.png");
    ok(&[
        "confusion",
        "--model",
        run_s,
        "--data",
        data_s,
        "--split",
        "all",
        "--out",
        matrix.to_str().expect("utf-8"),
    ]);
    assert_eq!(png_size(&matrix), (640, 640));
    let _ = std::fs::remove_dir_all(&dir);
}
