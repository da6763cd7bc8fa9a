//! `gan-wgpu train` end to end through the command line, on a few dozen real digits so it stays quick
//! on a software GPU: the files it writes and what they hold.

mod common;

use std::path::Path;

use common::cli::{D_STATE, G_STATE, gan_wgpu, gan_wgpu_command, scratch_dir, small_mnist};

fn check_checkpoint(path: &Path, expected: &[(&str, &[usize])], batches_tracked: i64) {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    let mut want: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    want.sort();
    assert_eq!(names, want, "{}", path.display());
    for (name, shape) in expected {
        let t = file.tensor(name).unwrap();
        assert_eq!(t.shape(), *shape, "{name}");
        if name.ends_with("num_batches_tracked") {
            assert_eq!(t.dtype(), safetensors::Dtype::I64);
            assert_eq!(
                i64::from_le_bytes(t.data().try_into().unwrap()),
                batches_tracked,
                "{name}"
            );
        } else {
            assert_eq!(t.dtype(), safetensors::Dtype::F32);
            let values: Vec<f32> = bytemuck::pod_collect_to_vec(t.data());
            assert!(
                values.iter().all(|v| v.is_finite()),
                "{name} holds a non-finite value"
            );
        }
    }
}

#[test]
fn train_writes_grids_checkpoints_and_history() {
    let data = small_mnist("cli_train_data", 40);
    let out = scratch_dir("cli_train_out");
    let out_arg = out.to_str().unwrap();
    // 40 images at batch 8: 5 steps an epoch; samples after epoch 1 and, being last, epoch 2.
    let run = gan_wgpu(&[
        "train",
        "--data-dir",
        data.to_str().unwrap(),
        "--batch-size",
        "8",
        "--epochs",
        "2",
        "--sample-epochs",
        "1",
        "--out",
        out_arg,
        "--seed",
        "3",
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for epoch in [1, 2] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("epoch {epoch}, D_loss: ")));
        let line = line.unwrap_or_else(|| panic!("no epoch {epoch} line in:\n{stdout}"));
        assert!(line.contains(" G_loss: "), "{line}");

        let grid = image::open(out.join(format!("epoch_{epoch:03}.png"))).unwrap();
        assert_eq!(
            (grid.width(), grid.height()),
            (242, 242),
            "8×8 tiles of 28 with 2-pixel padding"
        );
        check_checkpoint(
            &out.join(format!("G_{epoch:03}.safetensors")),
            G_STATE,
            2 * 5 * epoch as i64,
        );
        check_checkpoint(
            &out.join(format!("D_{epoch:03}.safetensors")),
            D_STATE,
            3 * 5 * epoch as i64,
        );
    }
    let plot = image::open(out.join("loss.png")).unwrap();
    assert_eq!((plot.width(), plot.height()), (640, 480));
    let history: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("history.json")).unwrap()).unwrap();
    let epochs = history["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    for (i, e) in epochs.iter().enumerate() {
        assert_eq!(e["epoch"], i + 1);
        for net in ["d", "g"] {
            let steps = e[format!("{net}_losses")].as_array().unwrap();
            assert_eq!(steps.len(), 5);
            let mean = steps.iter().map(|v| v.as_f64().unwrap()).sum::<f64>() / 5.0;
            let recorded = e[format!("{net}_loss")].as_f64().unwrap();
            assert!((mean - recorded).abs() < 1e-6 && recorded.is_finite() && recorded > 0.0);
        }
    }
    assert_eq!(history["seed"], 3);
    assert_eq!(history["batch_size"], 8);

    // Sampling the trained G: the run's own seed redraws its last grid byte for byte; a seed gives
    // the same bytes twice, another seed another picture.
    let sample = |seed: &str, name: &str| {
        let path = out.join(name);
        let run = gan_wgpu(&[
            "sample",
            "--run",
            out_arg,
            "--seed",
            seed,
            "--out",
            path.to_str().unwrap(),
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        std::fs::read(path).unwrap()
    };
    assert_eq!(
        sample("3", "again.png"),
        std::fs::read(out.join("epoch_002.png")).unwrap()
    );
    assert_eq!(sample("7", "seed7_a.png"), sample("7", "seed7_b.png"));
    assert_ne!(sample("7", "seed7_a.png"), sample("8", "seed8.png"));
}

#[test]
fn devices_lists_the_adapters() {
    let run = gan_wgpu(&["devices"]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("index") && lines.len() >= 2,
        "{stdout}"
    );
    assert!(lines[1].starts_with('0'), "{stdout}");
}

/// `gan-wgpu train` with `common` then `extra` arguments, which must succeed: its stdout.
fn train_ok(common: &[&str], extra: &[&str]) -> String {
    let mut args = vec!["train"];
    args.extend(common);
    args.extend(extra);
    let out = gan_wgpu(&args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn a_resumed_run_ends_bit_identical_to_one_never_stopped() {
    let data = small_mnist("cli_resume_data", 24);
    let data = data.to_str().unwrap();
    let straight = scratch_dir("cli_resume_straight");
    let stopped = scratch_dir("cli_resume_stopped");
    // 24 images at batch 8: 3 steps an epoch.
    let common = [
        "--data-dir",
        data,
        "--batch-size",
        "8",
        "--sample-epochs",
        "1",
        "--seed",
        "5",
    ];
    let run = |extra: &[&str]| train_ok(&common, extra);
    run(&["--epochs", "2", "--out", straight.to_str().unwrap()]);
    run(&["--epochs", "1", "--out", stopped.to_str().unwrap()]);
    let resumed = run(&["--resume", stopped.to_str().unwrap(), "--epochs", "2"]);
    assert!(
        resumed.contains("epoch 2, D_loss") && !resumed.contains("epoch 1, D_loss"),
        "{resumed}"
    );
    for file in [
        "G_002.safetensors",
        "D_002.safetensors",
        "epoch_002.png",
        "history.json",
        "state.safetensors",
    ] {
        let a = std::fs::read(straight.join(file)).unwrap();
        let b = std::fs::read(stopped.join(file)).unwrap();
        assert!(
            a == b,
            "{file} differs between the straight and the resumed run"
        );
    }
    // A finished run is not resumed silently.
    let finished = gan_wgpu(&[
        "train",
        "--data-dir",
        data,
        "--resume",
        stopped.to_str().unwrap(),
    ]);
    assert_eq!(finished.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&finished.stderr).contains("finished its 2 epochs"));
}

// `--stop-after` inside an epoch and at an epoch's end: the state and both nets' checkpoints of that
// position, exit 0; resumed (twice) the run ends bit-identical to one never stopped; a stop the run
// is already past is refused.
#[test]
fn stop_after_pauses_the_run_where_asked_and_it_resumes_bit_identical() {
    let data = small_mnist("cli_stop_after_data", 24);
    let data = data.to_str().unwrap();
    let straight = scratch_dir("cli_stop_after_straight");
    let paused = scratch_dir("cli_stop_after_paused");
    // 24 images at batch 8: 3 steps an epoch, 6 in the run.
    let common = [
        "--data-dir",
        data,
        "--batch-size",
        "8",
        "--sample-epochs",
        "2",
        "--seed",
        "9",
    ];
    let run = |extra: &[&str]| train_ok(&common, extra);
    let out = |dir: &Path| dir.to_str().unwrap().to_string();
    run(&["--epochs", "2", "--out", &out(&straight)]);
    let first = run(&["--epochs", "2", "--stop-after", "2", "--out", &out(&paused)]);
    assert!(
        first.contains("stopped after step 2 as --stop-after asked"),
        "{first}"
    );
    for file in [
        "G_001_step0002.safetensors",
        "D_001_step0002.safetensors",
        "state.safetensors",
    ] {
        assert!(
            paused.join(file).is_file(),
            "{file} after --stop-after 2: {first}"
        );
    }
    assert!(!paused.join("G_001.safetensors").exists());
    // At epoch 1's end (not a sample epoch): the epoch's own checkpoints.
    let second = run(&["--resume", &out(&paused), "--stop-after", "3"]);
    assert!(second.contains("epoch 1, D_loss"), "{second}");
    for file in ["G_001.safetensors", "D_001.safetensors"] {
        assert!(
            paused.join(file).is_file(),
            "{file} after --stop-after 3: {second}"
        );
    }
    let past = gan_wgpu(&[
        "train",
        "--data-dir",
        data,
        "--resume",
        &out(&paused),
        "--stop-after",
        "3",
    ]);
    assert_eq!(past.status.code(), Some(2), "{past:?}");
    assert!(
        String::from_utf8_lossy(&past.stderr).contains("already taken 3 steps"),
        "{}",
        String::from_utf8_lossy(&past.stderr)
    );
    run(&["--resume", &out(&paused)]);
    for file in [
        "G_002.safetensors",
        "D_002.safetensors",
        "history.json",
        "state.safetensors",
    ] {
        let a = std::fs::read(straight.join(file)).unwrap();
        let b = std::fs::read(paused.join(file)).unwrap();
        assert!(
            a == b,
            "{file} differs between the straight and the paused run"
        );
    }
}

/// `--dataset fashion-mnist` offline: Debian's dataset-fashion-mnist (installed by .ci/run) holds the
/// full 60,000 training images, found without a download. A batch one larger than the set proves the
/// count without running an epoch (468 steps) on lavapipe.
#[test]
fn fashion_mnist_comes_from_debians_package_offline() {
    let debian = std::path::Path::new("/usr/share/datasets/fashion-mnist");
    assert!(
        debian.join("train-images-idx3-ubyte.gz").exists(),
        "install Debian's dataset-fashion-mnist (apt-get install -y dataset-fashion-mnist)"
    );
    let out = scratch_dir("fashion_mnist_offline");
    let run = gan_wgpu_command(&[
        "train",
        "--dataset",
        "fashion-mnist",
        "--batch-size",
        "60001",
        "--out",
        out.to_str().unwrap(),
    ])
    // No mirror answers: a download attempt would fail instead.
    .env("GAN_WGPU_FASHION_MNIST_MIRRORS", "http://127.0.0.1:9/")
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--batch-size 60001 is larger than the data set (60000 images in /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte"),
        "{stderr}"
    );
}
