//! End-to-end tests of the `trainer` binary on a tiny image folder each test writes: 3 classes
//! told apart by colour (red, green, blue blobs on noise), 32×32 PNGs. They check that training
//! lowers the loss, that eval and predict read the checkpoint, that `--resume` reproduces the
//! weights bit for bit, and that each kind of bad input gets its message and exit code.

mod common;

use common::{scratch, trainer, write_folder};
use std::path::Path;
use std::process::Output;

use autograd::nn::Module;
use trainer::model::Network;
use trainer::run_dir::{RunDir, TrainState};
use trainer::train::{network_spec, optimizer};

const PER_CLASS: usize = 8;

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Settings for a fast run: small images (32: the default network pools four times), no
/// augmentation.
fn fast(data: &Path, out: &Path, epochs: &str, augment: &str) -> Vec<String> {
    [
        "train",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--image-size",
        "32",
        "--batch-size",
        "4",
        "--epochs",
        epochs,
        "--augment",
        augment,
        "--lr",
        "0.01",
        "--warmup-epochs",
        "0",
        "--threads",
        "2",
        "--seed",
        "3",
    ]
    .map(String::from)
    .to_vec()
}

fn run_ok(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = trainer(&args);
    assert!(out.status.success(), "{}", text(&out));
    out
}

fn metrics(run: &Path) -> Vec<Vec<f32>> {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|f| f.parse().unwrap()).collect())
        .collect()
}

#[test]
fn training_lowers_the_loss_and_eval_and_predict_read_the_run() {
    let root = scratch("train");
    let data = root.join("data");
    write_folder(&data, PER_CLASS, 7);
    let run = root.join("run");
    let out = run_ok(&fast(&data, &run, "6", "none"));
    // A healthy network: every parameter gets some gradient in every epoch.
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("no gradient reached"),
        "{}",
        text(&out)
    );
    for f in ["config.json", "classes.json", "metrics.csv", "best.safetensors", "curves.png"] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let rows = metrics(&run);
    assert_eq!(rows.len(), 6);
    // Column 2 is the training loss: it falls from near ln 3.
    assert!(rows[5][2] < 0.8 * rows[0][2], "loss did not fall: {rows:?}");
    assert!(run.join("test.json").is_file() && run.join("test_confusion.csv").is_file());

    let out =
        trainer(&["eval", "--model", run.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("confusion matrix") && stdout.contains("24 images"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    assert!(report["accuracy"].as_f64().unwrap() > 0.6, "{report}");
    // One row per image, each naming its file, its class and the model's call, with
    // probabilities that sum to one; the rows agree with the report's accuracy.
    let csv = std::fs::read_to_string(run.join("eval_predictions.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("file,true,predicted,p_galaxies,p_nebulae,p_solar_system"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 24);
    for row in &rows {
        assert!(row[0].starts_with(&format!("{}/", row[1])), "{row:?}");
        let p: f32 = row[3..].iter().map(|v| v.parse::<f32>().unwrap()).sum();
        assert!((p - 1.0).abs() < 1e-3, "{row:?}");
    }
    let right = rows.iter().filter(|r| r[1] == r[2]).count() as f64 / 24.0;
    assert!((right - report["accuracy"].as_f64().unwrap()).abs() < 1e-9, "{right} {report}");

    // Without --data, eval scores the run's own test split: what the run's test report scored.
    let out = trainer(&["eval", "--model", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("on the test split of"),
        "{}",
        text(&out)
    );
    let read_json = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(run.join(name)).unwrap()).unwrap()
    };
    let (eval_test, test) = (read_json("eval.json"), read_json("test.json"));
    assert_eq!(eval_test["total"], test["total"], "{eval_test}\n{test}");
    assert_eq!(eval_test["confusion"], test["confusion"], "{eval_test}\n{test}");

    // Robustness: the unaltered baseline comes first and scores exactly what eval scored on the
    // same images and weights; each asked shift gets its own row, in the order asked. Given a
    // folder with --data and no --split, it alters every image of it (24), like eval.
    let (model, folder) = (run.to_str().unwrap(), data.to_str().unwrap());
    let out = trainer(&[
        "robustness",
        "--model",
        model,
        "--data",
        folder,
        "--shifts",
        "zoom-out,grayscale",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let csv = std::fs::read_to_string(run.join("robustness.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let shifts: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(shifts, ["none", "zoom-out", "grayscale"], "{csv}");
    assert!(rows.iter().all(|r| r[2] == "24" && r.len() == 5 + 9), "{csv}");
    let baseline: f64 = rows[0][3].parse().unwrap();
    assert!((baseline - report["accuracy"].as_f64().unwrap()).abs() < 1e-6, "{csv} {report}");
    let table = std::fs::read_to_string(run.join("robustness.txt")).unwrap();
    assert!(table.lines().next().unwrap().contains("(  base)"), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");

    let image = data.join("nebulae/obj0.png");
    // Without and with test-time augmentation (the mean over the eight flips and quarter turns
    // is still a distribution, and the colour-coded image keeps its class).
    let mut rows = Vec::new();
    for tta in ["false", "true"] {
        let (model, image) = (run.to_str().unwrap(), image.to_str().unwrap());
        let out = trainer(&["predict", "--model", model, "--tta", tta, image]);
        assert!(out.status.success(), "{}", text(&out));
        let line = String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().to_string();
        let probs: Vec<f32> =
            line.split_whitespace().rev().take(3).map(|p| p.parse().unwrap()).collect();
        assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-3, "{line}");
        assert!(line.contains("nebulae"), "{line}");
        rows.push(probs);
    }
    assert_ne!(rows[0], rows[1], "--tta true must average other views, not repeat the image");

    // A folder stands for every image in it: one row each, in path order.
    let folder = data.join("nebulae");
    let out = trainer(&["predict", "--model", run.to_str().unwrap(), folder.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let files: Vec<&str> =
        stdout.lines().skip(1).map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(files.len(), PER_CLASS, "{stdout}");
    assert!(files.is_sorted() && files.iter().all(|f| f.contains("nebulae/obj")), "{stdout}");

    // `trainer predict ... | head -1`: the reader closes the pipe after one line while the
    // binary still has ~200 kB to print (more than a pipe holds, so it is still writing). It
    // must end quietly with success, not panic on the broken pipe.
    let (model, image) = (run.to_str().unwrap(), image.to_str().unwrap());
    let mut args = vec!["predict", "--model", model, "--tta", "false"];
    args.extend(std::iter::repeat_n(image, 2500));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    assert!(first.starts_with("image"), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("panicked"), "{:?}: {stderr}", out.status);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn resume_reproduces_an_uninterrupted_run_bit_for_bit() {
    let root = scratch("resume");
    let data = root.join("data");
    write_folder(&data, PER_CLASS, 7);
    // Dropout, batch norm and CutMix on, so masks, running statistics and the mixing of pairs
    // must line up too.
    let extra = ["--arch", "gap-bn", "--dropout", "0.3", "--mix", "cutmix"].map(String::from);
    let straight = root.join("straight");
    let mut args = fast(&data, &straight, "3", "default");
    args.extend(extra.clone());
    run_ok(&args);

    let stopped = root.join("stopped");
    let mut args = fast(&data, &stopped, "3", "default");
    args.extend(extra);
    // 16 training images / batch 4 = 4 steps per epoch: stop in the middle of epoch 2.
    args.extend(["--stop-after-steps".into(), "6".into()]);
    let out = run_ok(&args);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("stopped after 6 steps"),
        "{}",
        text(&out)
    );
    run_ok(&["train", "--resume", stopped.to_str().unwrap(), "--threads", "2"].map(String::from));

    // The files' metadata order may differ, so compare what they decode to: every parameter,
    // buffer and optimizer slot, bit for bit.
    let read = |run: &Path| {
        let dir = RunDir::open(run).unwrap();
        let config = dir.read_config().unwrap();
        let state: TrainState = dir.read_json(&dir.state()).unwrap();
        let mut net = Network::new(&network_spec(&config, 3));
        let mut opt = optimizer(&config);
        let path = dir.file(&state.checkpoint.unwrap());
        autograd::io::load(&path, &mut net, Some(opt.as_mut())).unwrap();
        let bits = |t: &tensor::Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let mut all: Vec<(String, Vec<u32>)> =
            net.parameters().iter().map(|p| (p.name.clone(), bits(&p.value))).collect();
        all.extend(net.buffers().iter().map(|b| (b.name.clone(), bits(&b.value))));
        let s = opt.state();
        all.extend(s.tensors.iter().map(|(n, t)| (n.clone(), bits(t))));
        (all, s.step, s.lr.to_bits())
    };
    let (a, b) = (read(&straight), read(&stopped));
    assert!(a.0.len() > 20 && a.0.iter().any(|(n, _)| n.ends_with("running_var")));
    assert!(a == b, "resumed weights or optimizer state differ from the straight run");
    // Everything but the timing columns agrees.
    let strip = |m: Vec<Vec<f32>>| m.into_iter().map(|r| r[..6].to_vec()).collect::<Vec<_>>();
    assert_eq!(strip(metrics(&straight)), strip(metrics(&stopped)));
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn cross_validation_folds_validate_every_train_or_val_image_once() {
    let root = scratch("cv");
    let data = root.join("data");
    write_folder(&data, PER_CLASS, 7);
    // "split X train / Y val / Z test" from the run's first lines.
    let parts = |stdout: &str| -> [usize; 3] {
        let line = stdout.lines().find(|l| l.contains(" train / ")).expect("the split line");
        let after = &line[line.find("split ").unwrap() + 6..];
        let n: Vec<usize> =
            after.split(" / ").map(|p| p.split(' ').next().unwrap().parse().unwrap()).collect();
        [n[0], n[1], n[2]]
    };
    let total = 3 * PER_CLASS;
    let mut validated = 0;
    let mut fold0 = [0; 3];
    for fold in 0..2 {
        let run = root.join(format!("fold{fold}"));
        let mut args = fast(&data, &run, "1", "none");
        args.extend(["--cv-fold".to_string(), format!("{fold}/2")]);
        let stdout = String::from_utf8_lossy(&run_ok(&args).stdout).to_string();
        assert!(stdout.contains(&format!("cross-validation fold {fold}/2")), "{stdout}");
        assert!(!run.join("test.json").exists(), "a fold must not look at the test split");
        let [train, val, test] = parts(&stdout);
        assert_eq!(train + val + test, total, "{stdout}");
        if fold == 0 {
            fold0 = [train, val, test];
        }
        assert!(val > 0 && test > 0, "{stdout}");
        validated += val;
        // eval --split val of a cross-validation run evaluates that run's fold.
        let out = trainer(&["eval", "--model", run.to_str().unwrap(), "--split", "val"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&format!("of {val} images")), "{}", text(&out));
        if fold == 1 {
            assert_eq!(validated, total - test, "the two folds' validation parts partition");
        }
    }
    // A learning-curve point: fold 0 on half its training objects, the same validation and
    // test images; eval --split train evaluates what the run trained on.
    let run = root.join("fold0-half");
    let mut args = fast(&data, &run, "1", "none");
    args.extend(["--cv-fold", "0/2", "--train-fraction", "0.5"].map(String::from));
    let stdout = String::from_utf8_lossy(&run_ok(&args).stdout).to_string();
    let [train, val, test] = parts(&stdout);
    assert_eq!([val, test], [fold0[1], fold0[2]], "{stdout}");
    assert!(train > 0 && train.abs_diff(fold0[0] / 2) <= 3, "{train} of {}: {stdout}", fold0[0]);
    let out = trainer(&["eval", "--model", run.to_str().unwrap(), "--split", "train"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("of {train} images")));

    // A refit trains on train + val, still reports validation, and keeps the last epoch's
    // weights whatever validation says: best.safetensors holds the final checkpoint's weights.
    let run = root.join("refit");
    let mut args = fast(&data, &run, "3", "none");
    args.extend(["--refit", "true"].map(String::from));
    let stdout = String::from_utf8_lossy(&run_ok(&args).stdout).to_string();
    let [train, val, test] = parts(&stdout);
    assert!(train + test == total && val > 0 && test > 0, "{stdout}");
    assert!(stdout.contains("refit: the last epoch's weights (epoch 3)"), "{stdout}");
    let dir = RunDir::open(&run).unwrap();
    let config = dir.read_config().unwrap();
    let state: TrainState = dir.read_json(&dir.state()).unwrap();
    assert_eq!(state.best.map(|(_, epoch)| epoch), Some(3));
    let weights = |path: &Path| {
        let mut net = Network::new(&network_spec(&config, 3));
        let mut opt = optimizer(&config);
        let with_opt = path != dir.best().as_path();
        autograd::io::load(path, &mut net, with_opt.then_some(opt.as_mut())).unwrap();
        let bits = |t: &tensor::Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        net.parameters().iter().map(|p| bits(&p.value)).collect::<Vec<_>>()
    };
    assert!(weights(&dir.best()) == weights(&dir.file(&state.checkpoint.unwrap())));
    let _ = std::fs::remove_dir_all(root);
}

fn assert_fails(args: &[&str], code: i32, needle: &str) {
    let out = trainer(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{}", text(&out));
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
}

#[test]
fn bad_inputs_get_their_message_and_exit_code() {
    let root = scratch("bad");
    // Bad usage: exit 2, naming the option.
    assert_fails(&["train", "--image-size", "30", "--dry-run"], 2, "--image-size 30");
    assert_fails(&["train", "--optimizer", "rmsprop"], 2, "rmsprop");
    assert_fails(&["train", "--cv-fold", "4/4", "--dry-run"], 2, "--cv-fold 4/4");
    assert_fails(&["train", "--cv-fold", "one", "--dry-run"], 2, "FOLD/FOLDS");
    assert_fails(&["train", "--train-fraction", "0", "--dry-run"], 2, "--train-fraction 0");
    assert_fails(&["train", "--refit", "true", "--cv-fold", "0/4", "--dry-run"], 2, "--refit");
    assert_fails(&["robustness", "--model", "run", "--shifts", "grayscale,sepia"], 2, "sepia");
    // A missing folder, an empty folder, a corrupt image: exit 3, naming the path.
    let missing = root.join("nowhere");
    assert_fails(&["train", "--data", missing.to_str().unwrap()], 3, "no such folder");
    let empty = root.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert_fails(&["train", "--data", empty.to_str().unwrap()], 3, empty.to_str().unwrap());
    assert_fails(&["train", "--data", "Cargo.toml"], 3, "Cargo.toml: not a folder");
    let single = root.join("single");
    write_folder(&single, 4, 7);
    for class in ["nebulae", "solar_system"] {
        std::fs::remove_dir_all(single.join(class)).unwrap();
    }
    assert_fails(&["train", "--data", single.to_str().unwrap()], 3, "only one class folder");
    let corrupt = root.join("corrupt");
    write_folder(&corrupt, PER_CLASS, 7);
    std::fs::write(corrupt.join("nebulae/obj3.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    assert_fails(&["train", "--data", corrupt.to_str().unwrap()], 3, "obj3.png");
    // A model folder that is not a run: exit 3.
    assert_fails(&["eval", "--model", missing.to_str().unwrap()], 3, "not a run folder");
    assert_fails(
        &["predict", "--model", missing.to_str().unwrap(), "x.png"],
        3,
        "not a run folder",
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn gradcheck_passes_and_prints_its_table() {
    let out = trainer(&["gradcheck", "--elements", "4"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for row in
        ["conv2d (input 1)", "max_pool2d", "features.0.weight", "worst relative error overall"]
    {
        assert!(stdout.contains(row), "{row} missing:\n{stdout}");
    }
}

/// `predict` must give a file exactly the probabilities `eval` gives it in its folder (the same
/// decoding, working size and views), and a bad file among good ones must not stop the others.
/// With `--augment default` images are held at 8/7 of the network's size, so a `predict` that
/// resized the original file straight to the network's size would differ.
#[test]
fn predict_agrees_with_eval_and_reports_each_unreadable_file() {
    let root = scratch("predict");
    let data = root.join("data");
    write_folder(&data, PER_CLASS, 11);
    let run = root.join("run");
    run_ok(&fast(&data, &run, "1", "default"));
    let (model, folder) = (run.to_str().unwrap(), data.to_str().unwrap());
    run_ok(&["eval", "--model", model, "--data", folder].map(String::from));
    let csv = std::fs::read_to_string(run.join("eval_predictions.csv")).unwrap();
    let from_eval: Vec<(String, Vec<f64>)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[3..].iter().map(|p| p.parse().unwrap()).collect())
        })
        .collect();
    let out = run_ok(&["predict", "--model", model, folder].map(String::from));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> =
        stdout.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), from_eval.len(), "{stdout}");
    for (file, p_eval) in &from_eval {
        let row = rows.iter().find(|r| r[0].ends_with(file.as_str())).expect(file);
        for (shown, p) in row[2..].iter().zip(p_eval) {
            let shown: f64 = shown.parse().unwrap();
            assert!((shown - p).abs() <= 6e-5, "{file}: predict {row:?}, eval {p_eval:?}");
        }
    }

    // A truncated JPEG between two good files: its message names it, the good ones are
    // classified, and the exit code says bad input.
    let mixed = root.join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    let good = image::open(data.join("galaxies/obj0.png")).unwrap();
    good.save(mixed.join("a.jpg")).unwrap();
    good.save(mixed.join("c.png")).unwrap();
    let jpeg = std::fs::read(mixed.join("a.jpg")).unwrap();
    std::fs::write(mixed.join("b.jpg"), &jpeg[..jpeg.len() * 3 / 4]).unwrap();
    let out = trainer(&["predict", "--model", model, mixed.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stderr.contains("b.jpg") && stderr.contains("truncated"), "{}", text(&out));
    assert!(stderr.contains("1 of 3 files could not be read"), "{}", text(&out));
    let shown: Vec<&str> =
        stdout.lines().skip(1).map(|l| l.split_whitespace().next().unwrap()).collect();
    assert!(
        shown.len() == 2 && shown[0].ends_with("a.jpg") && shown[1].ends_with("c.png"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(root);
}

/// A folder with only some of the model's classes, under loosely spelled names, is scored
/// against the model's classes; a class the model does not know is refused by name.
#[test]
fn eval_scores_a_folder_holding_some_of_the_classes() {
    let root = scratch("subset");
    let data = root.join("data");
    write_folder(&data, PER_CLASS, 5);
    let run = root.join("run");
    run_ok(&fast(&data, &run, "1", "none"));
    let model = run.to_str().unwrap();
    let subset = root.join("subset");
    std::fs::create_dir_all(&subset).unwrap();
    std::fs::rename(data.join("solar_system"), subset.join("Solar System")).unwrap();
    let out =
        run_ok(&["eval", "--model", model, "--data", subset.to_str().unwrap()].map(String::from));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    let support: Vec<u64> =
        (0..3).map(|c| report["per_class"][c]["support"].as_u64().unwrap()).collect();
    assert_eq!(support, [0, 0, PER_CLASS as u64], "{}", text(&out));
    let csv = std::fs::read_to_string(run.join("eval_predictions.csv")).unwrap();
    assert!(csv.lines().skip(1).all(|l| l.split(',').nth(1) == Some("solar_system")), "{csv}");

    std::fs::create_dir_all(subset.join("comets")).unwrap();
    std::fs::copy(data.join("galaxies/obj0.png"), subset.join("comets/c.png")).unwrap();
    let out = trainer(&["eval", "--model", model, "--data", subset.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[\"comets\"]"), "{}", text(&out));
    let _ = std::fs::remove_dir_all(root);
}

/// A run trained on a relative `--data` path records its folder absolute, so `eval` and
/// `--resume` find it from any working directory.
#[test]
fn a_run_on_a_relative_folder_is_evaluated_and_resumed_from_elsewhere() {
    let root = scratch("relative");
    write_folder(&root.join("data"), PER_CLASS, 13);
    let in_dir = |dir: &Path, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_trainer"))
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap()
    };
    let mut args = fast(Path::new("data"), Path::new("run"), "2", "none");
    args.extend(["--stop-after-steps", "3"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = in_dir(&root, &args);
    assert!(out.status.success(), "{}", text(&out));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("run/config.json")).unwrap())
            .unwrap();
    assert!(Path::new(config["data"].as_str().unwrap()).is_absolute(), "{config}");

    let elsewhere = root.join("run");
    let run = root.join("run");
    let out = in_dir(&elsewhere, &["train", "--resume", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = in_dir(&elsewhere, &["eval", "--model", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let _ = std::fs::remove_dir_all(root);
}
