//! `gan-wgpu score` end to end on the bundled MNIST classifier, and the quality curve `train` keeps:
//! real held-out digits score near the ceiling, uniform noise near the floor, a G after one short
//! epoch between them; one image repeated covers one class; a PyTorch-saved G scores as the same
//! weights saved by gan-wgpu; an epoch's scores are those `score` gives its checkpoint, and a resumed
//! run continues the curve bit for bit. And
//! `gan-wgpu classifier`: deterministic, its provenance recorded, nothing overwritten unasked; bad
//! image files refused with the file and the problem named.

mod common;

use std::path::{Path, PathBuf};

use common::Oracle;
use common::cli::{
    assert_failure, assert_success, gan_wgpu, scratch_dir, small_mnist, write_safetensors,
};
use gan_wgpu::classifier::images_of;
use gan_wgpu::data::{Dataset, IMAGE_PIXELS};

/// The classifier's own held-out digits: the last 2,000 of the bundled set.
const HELD_OUT: usize = 2000;

/// The scores' JSON line (the last line `score` prints).
fn score(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["score"];
    all.extend(args);
    let out = gan_wgpu(&all);
    assert_success(&all, &out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    eprintln!("{stdout}");
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn write_images(path: &Path, images: &[f32]) {
    let n = images.len() / IMAGE_PIXELS;
    write_safetensors(path, &[("images".into(), vec![n, IMAGE_PIXELS], images)]);
}

fn scores_of_images(dir: &Path, name: &str, images: &[f32]) -> serde_json::Value {
    let path = dir.join(format!("{name}.safetensors"));
    write_images(&path, images);
    score(&["--images", path.to_str().unwrap()])
}

fn f(v: &serde_json::Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn held_out_digits() -> Vec<f32> {
    let set = Dataset::bundled();
    images_of(&set.slice(set.len() - HELD_OUT..set.len()))
}

/// Uniform noise in [0, 1], one value per pixel.
fn noise(images: usize) -> Vec<f32> {
    common::random(images * IMAGE_PIXELS, 11, 0.0, 1.0)
}

#[test]
fn real_digits_score_near_the_ceiling_and_noise_near_the_floor() {
    let dir = scratch_dir("score_real_noise");
    let real = scores_of_images(&dir, "real", &held_out_digits());
    let floor = scores_of_images(&dir, "noise", &noise(HELD_OUT));
    // Real digits: nearly every image certain of its class, the classes nearly even.
    assert!(f(&real, "classifier_score") > 9.0, "real digits: {real}");
    assert!(f(&real, "frechet_distance") < 1.0, "real digits: {real}");
    assert_eq!(real["covered_classes"], 10, "real digits: {real}");
    // Noise: far from the real features, few classes.
    assert!(f(&floor, "classifier_score") < 2.0, "noise: {floor}");
    assert!(
        f(&floor, "frechet_distance") > 50.0 * f(&real, "frechet_distance"),
        "noise {floor} against real {real}"
    );
    assert!(
        floor["covered_classes"].as_u64().unwrap() <= 3,
        "noise: {floor}"
    );
}

#[test]
fn one_image_repeated_covers_one_class() {
    let dir = scratch_dir("score_repeated");
    let digits = held_out_digits();
    let one: Vec<f32> = digits[..IMAGE_PIXELS].repeat(500);
    let repeated = scores_of_images(&dir, "repeated", &one);
    assert_eq!(repeated["covered_classes"], 1, "{repeated}");
    assert!(f(&repeated, "classifier_score") < 1.01, "{repeated}");
    let histogram: Vec<u64> = repeated["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(histogram.iter().sum::<u64>(), 500);
    assert_eq!(
        histogram.iter().filter(|&&n| n > 0).count(),
        1,
        "{repeated}"
    );
}

fn classifier_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/classifier/mnist.safetensors")
}

/// A short epoch of training (3,200 digits, 50 steps of 64) scored as training scores it, by the
/// bundled MNIST classifier's file; and then by `score` from the epoch's checkpoint with the run's
/// seed and the same number of images: the same numbers (both run the adapter's default kernels).
/// Its G lies between noise and real digits.
#[test]
fn an_epochs_scores_are_those_score_gives_its_checkpoint_and_lie_between_noise_and_real() {
    let data = small_mnist("score_epoch_data", 3200);
    let out = scratch_dir("score_epoch_run");
    let classifier = classifier_file();
    let args = [
        "train",
        "--data-dir",
        data.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--seed",
        "3",
        "--classifier",
        classifier.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--overwrite",
    ];
    let trained = gan_wgpu(&args);
    assert_success(&args, &trained);
    let stdout = String::from_utf8(trained.stdout).unwrap();
    assert!(
        stdout.contains("IS: ") && stdout.contains("FD: "),
        "{stdout}"
    );
    assert!(out.join("quality.png").is_file());
    let history: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("history.json")).unwrap()).unwrap();
    let curve = &history["epochs"][0]["quality"];
    assert_eq!(curve["images"], 2000, "{curve}");
    let checkpoint = out.join("G_001.safetensors");
    let scored = score(&[
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--seed",
        "3",
        "--count",
        "2000",
        "--classifier",
        classifier.to_str().unwrap(),
    ]);
    for key in ["classifier_score", "frechet_distance"] {
        let (a, b) = (f(curve, key), f(&scored, key));
        assert!(
            (a - b).abs() <= 1e-9 * b.abs(),
            "{key}: epoch {a}, score {b}"
        );
    }
    assert_eq!(curve["histogram"], scored["histogram"]);

    let dir = scratch_dir("score_epoch_bounds");
    let real = scores_of_images(&dir, "real", &held_out_digits());
    let floor = scores_of_images(&dir, "noise", &noise(HELD_OUT));
    let fd = |v: &serde_json::Value| f(v, "frechet_distance");
    assert!(
        fd(&real) < fd(&scored) && fd(&scored) < fd(&floor),
        "FD: real {}, one epoch {}, noise {}",
        fd(&real),
        fd(&scored),
        fd(&floor)
    );
}

/// The PyTorch original's initial G, saved by `safetensors.torch.save_file(G.state_dict())`, and the
/// same weights written by gan-wgpu's checkpoint writer score the same to the last bit.
#[test]
fn a_pytorch_saved_generator_scores_as_the_same_weights_saved_by_gan_wgpu() {
    let oracle = Oracle::load("step.safetensors");
    let dir = scratch_dir("score_pytorch");
    let tensors: Vec<(String, Vec<usize>, &[f32])> = oracle
        .keys_with_prefix("init.G.")
        .iter()
        .map(|k| {
            (
                k["init.G.".len()..].to_string(),
                oracle.shape(k).to_vec(),
                oracle.values(k),
            )
        })
        .collect();
    let pytorch = dir.join("G_pytorch.safetensors");
    write_safetensors(&pytorch, &tensors);
    let spec = &gan_wgpu::model::generator::SPEC;
    let values: Vec<(&'static str, Vec<f32>)> = spec
        .params
        .iter()
        .chain(spec.stats)
        .map(|(name, _)| (*name, oracle.values(&format!("init.G.{name}")).to_vec()))
        .collect();
    let ours = dir.join("G_ours.safetensors");
    let bytes = gan_wgpu::checkpoint::serialize(&ours, spec, &values, 0).unwrap();
    std::fs::write(&ours, bytes).unwrap();
    let run = |path: &Path| {
        let mut v = score(&["--checkpoint", path.to_str().unwrap(), "--count", "600"]);
        v.as_object_mut().unwrap().remove("source");
        v
    };
    assert_eq!(run(&pytorch), run(&ours));
}

#[test]
fn the_classifier_command_trains_the_same_weights_twice_records_how_and_overwrites_nothing() {
    use gan_wgpu::classifier::RealFeatures;
    let data = small_mnist("classifier_data", 1200);
    let dir = scratch_dir("classifier_out");
    let train = |name: &str, extra: &[&str]| {
        let out = dir.join(name);
        let mut args = vec![
            "classifier".to_string(),
            "--data-dir".into(),
            data.to_str().unwrap().into(),
            "--epochs".into(),
            "2".into(),
            "--batch-size".into(),
            "50".into(),
            "--held-out".into(),
            "200".into(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        (
            gan_wgpu(&args),
            args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    };
    let (first, args) = train("a.safetensors", &[]);
    assert_success(&args.iter().map(String::as_str).collect::<Vec<_>>(), &first);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains("epoch   2/2") && stdout.contains("held-out accuracy"),
        "{stdout}"
    );
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let features = RealFeatures::parse(Path::new("a"), &read("a.features.safetensors")).unwrap();
    let p = &features.provenance;
    assert_eq!(
        (p.trained_images, p.held_out_images, p.epochs),
        (1000, 200, 2)
    );
    assert_eq!(features.images, 1200);
    assert!(p.command.starts_with("gan-wgpu classifier ") && p.command.contains("--held-out 200"));
    // 40 steps: far from trained, far above chance (0.1).
    assert!(p.held_out_accuracy > 0.25, "{p:?}");

    let (second, _) = train("b.safetensors", &[]);
    assert!(second.status.success());
    assert!(
        read("a.safetensors") == read("b.safetensors"),
        "the weights differ"
    );
    let b = RealFeatures::parse(Path::new("b"), &read("b.features.safetensors")).unwrap();
    assert_eq!(b.gaussian, features.gaussian);

    let before = read("a.safetensors");
    let (again, _) = train("a.safetensors", &["--seed", "9"]);
    assert_failure(
        "a second run onto a.safetensors",
        &again,
        2,
        &["a.safetensors", "--overwrite"],
    );
    assert!(read("a.safetensors") == before, "a.safetensors changed");

    // Its files score images; without its features file beside it, the classifier is refused.
    let weights = dir.join("a.safetensors");
    let scored = scores_with(&dir, &weights);
    assert_eq!(scored["images"], 2000);
    std::fs::remove_file(dir.join("b.features.safetensors")).unwrap();
    let images = dir.join("digits.safetensors");
    let b = dir.join("b.safetensors");
    let args = [
        "score",
        "--images",
        images.to_str().unwrap(),
        "--classifier",
        b.to_str().unwrap(),
    ];
    assert_failure(
        "no features file",
        &gan_wgpu(&args),
        2,
        &["b.features.safetensors", "no such file"],
    );
}

/// The held-out digits scored by the classifier whose weights are at `weights`.
fn scores_with(dir: &Path, weights: &Path) -> serde_json::Value {
    let images = dir.join("digits.safetensors");
    write_images(&images, &held_out_digits());
    score(&[
        "--images",
        images.to_str().unwrap(),
        "--classifier",
        weights.to_str().unwrap(),
    ])
}

#[test]
fn bad_image_files_are_refused_naming_the_file_and_the_problem() {
    let dir = scratch_dir("score_bad_images");
    let digits = held_out_digits();
    type Case<'a> = (&'a str, Vec<usize>, Vec<f32>, &'a [&'a str]);
    let cases: Vec<Case> = vec![
        (
            "shape",
            vec![10, 28, 28],
            digits[..7840].to_vec(),
            &["[10, 28, 28]", "[N, 1, 28, 28]"],
        ),
        (
            "one image",
            vec![1, 784],
            digits[..784].to_vec(),
            &["at least two"],
        ),
        (
            "above one",
            vec![2, 784],
            [&digits[..800], &[255.0], &digits[801..1568]].concat(),
            &["255", "image 1, pixel 16", "[0, 1]"],
        ),
        (
            "nan",
            vec![2, 784],
            [&[f32::NAN], &digits[1..1568]].concat(),
            &["NaN", "[0, 1]"],
        ),
    ];
    for (what, shape, values, says) in cases {
        let path = dir.join(format!("{}.safetensors", what.replace(' ', "_")));
        write_safetensors(&path, &[("images".into(), shape, &values)]);
        let out = gan_wgpu(&["score", "--images", path.to_str().unwrap()]);
        let mut says = says.to_vec();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        says.push(&name);
        assert_failure(what, &out, 2, &says);
    }
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not safetensors").unwrap();
    let out = gan_wgpu(&["score", "--images", garbage.to_str().unwrap()]);
    assert_failure(
        "garbage",
        &out,
        2,
        &["garbage.safetensors", "not a safetensors file"],
    );
    let two = dir.join("two.safetensors");
    write_safetensors(
        &two,
        &[
            ("a".into(), vec![2, 784], &digits[..1568]),
            ("b".into(), vec![2, 784], &digits[..1568]),
        ],
    );
    let out = gan_wgpu(&["score", "--images", two.to_str().unwrap()]);
    assert_failure(
        "two tensors",
        &out,
        2,
        &["two.safetensors", "none named `images`"],
    );
    let out = gan_wgpu(&[
        "score",
        "--images",
        garbage.to_str().unwrap(),
        "--count",
        "5",
    ]);
    assert_failure("count with garbage", &out, 2, &["garbage.safetensors"]);
}

/// A resumed run continues the quality curve: two epochs straight, and one epoch then `--resume` for
/// the second, write the same history.json, scores included, to the last bit; `--score-every 2`
/// scores the second (the last) epoch only, and `--no-score` none.
#[test]
fn a_resumed_run_continues_the_quality_curve() {
    let data = small_mnist("score_resume_data", 640);
    let classifier = classifier_file();
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--data-dir",
            data.to_str().unwrap(),
            "--batch-size",
            "64",
            "--seed",
            "8",
            "--classifier",
            classifier.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let done = gan_wgpu(&args);
        assert_success(&args, &done);
    };
    let straight = scratch_dir("score_resume_straight");
    run(&straight, &["--epochs", "2", "--overwrite"]);
    let resumed = scratch_dir("score_resume_resumed");
    run(&resumed, &["--epochs", "1", "--overwrite"]);
    let resume = resumed.to_str().unwrap().to_string();
    let args = [
        "train",
        "--resume",
        &resume,
        "--data-dir",
        data.to_str().unwrap(),
        "--epochs",
        "2",
        "--classifier",
        classifier.to_str().unwrap(),
    ];
    assert_success(&args, &gan_wgpu(&args));
    let history = |dir: &Path| std::fs::read(dir.join("history.json")).unwrap();
    assert!(
        history(&straight) == history(&resumed),
        "the histories differ"
    );
    let parsed: serde_json::Value = serde_json::from_slice(&history(&resumed)).unwrap();
    for epoch in 0..2 {
        assert_eq!(
            parsed["epochs"][epoch]["quality"]["images"],
            2000,
            "epoch {}",
            epoch + 1
        );
    }

    let every_other = scratch_dir("score_resume_every_other");
    run(
        &every_other,
        &["--epochs", "2", "--overwrite", "--score-every", "2"],
    );
    let parsed: serde_json::Value = serde_json::from_slice(&history(&every_other)).unwrap();
    assert!(parsed["epochs"][0].get("quality").is_none());
    assert_eq!(
        parsed["epochs"][1]["quality"],
        serde_json::from_slice::<serde_json::Value>(&history(&straight)).unwrap()["epochs"][1]["quality"]
    );
    let unscored = scratch_dir("score_resume_unscored");
    let args = [
        "train",
        "--data-dir",
        data.to_str().unwrap(),
        "--batch-size",
        "64",
        "--epochs",
        "1",
        "--no-score",
        "--out",
        unscored.to_str().unwrap(),
        "--overwrite",
    ];
    let done = gan_wgpu(&args);
    assert_success(&args, &done);
    assert!(!String::from_utf8_lossy(&done.stdout).contains("IS: "));
    assert!(!unscored.join("quality.png").exists());
}
