//! Every kind of bad input through the command line: exit code 2, a message of one or two lines that
//! names the file or flag and the problem, no panic, and no file already on disk changed.

mod common;

use std::path::{Path, PathBuf};

use common::cli::{
    G_STATE, Snapshot, assert_failure, gan_wgpu, gzip, idx_dir, idx_images, idx_labels,
    scratch_dir, small_mnist, write_safetensors,
};
use gan_wgpu::data::{IMAGE_PIXELS, IMAGES_FILE, LABELS_FILE};

/// An output folder holding an earlier run's files (their bytes are what matters here).
fn earlier_output(name: &str) -> PathBuf {
    let out = scratch_dir(name);
    for (file, bytes) in [
        ("epoch_001.png", &b"an earlier grid"[..]),
        ("G_001.safetensors", b"an earlier G"),
        ("history.json", b"{\"earlier\": true}"),
    ] {
        std::fs::write(out.join(file), bytes).unwrap();
    }
    out
}

/// Runs `train` with `args` into an output folder of earlier files; checks the failure and that the
/// folder is as it was.
fn train_fails(what: &str, args: &[&str], says: &[&str]) -> String {
    let out = earlier_output(&format!("bad_input_out_{}", what.replace(' ', "_")));
    let before = Snapshot::of(&out);
    let mut full = vec!["train", "--out", out.to_str().unwrap()];
    full.extend(args);
    let message = assert_failure(what, &gan_wgpu(&full), 2, says);
    before.assert_unchanged(&out, what);
    message
}

fn three_images() -> Vec<u8> {
    (0..3 * IMAGE_PIXELS).map(|k| (k % 251) as u8).collect()
}

/// (case, image file, label file, whether the image file is gzipped, what the message must say)
type DataCase = (
    &'static str,
    Vec<u8>,
    Vec<u8>,
    bool,
    &'static [&'static str],
);

#[test]
fn bad_data_sets() {
    let labels = idx_labels(&[1, 2, 3]);
    let images = idx_images(3, 28, 28, &three_images());
    let wrong_magic = {
        let mut b = images.clone();
        b[3] = 0x01;
        b
    };
    let corrupt_gzip = {
        let mut g = gzip(&images);
        let n = g.len();
        g[n / 2] ^= 0xff;
        g.truncate(n - 4);
        g
    };
    let cases: Vec<DataCase> = vec![
        (
            "wrong magic",
            wrong_magic,
            labels.clone(),
            false,
            &[IMAGES_FILE, "magic number"],
        ),
        (
            "32x32 images",
            idx_images(3, 32, 32, &[0; 3 * 1024]),
            labels.clone(),
            false,
            &[IMAGES_FILE, "32×32"],
        ),
        (
            "counts disagree",
            images.clone(),
            idx_labels(&[1, 2]),
            false,
            &[IMAGES_FILE, "2 labels"],
        ),
        (
            "truncated images",
            images[..2000].to_vec(),
            labels.clone(),
            false,
            &[IMAGES_FILE, "truncated"],
        ),
        (
            "truncated labels",
            images.clone(),
            labels[..9].to_vec(),
            false,
            &[LABELS_FILE, "truncated"],
        ),
        (
            "corrupt gzip",
            corrupt_gzip,
            labels.clone(),
            true,
            &[IMAGES_FILE, "corrupt gzip"],
        ),
        (
            "empty set",
            idx_images(0, 28, 28, &[]),
            idx_labels(&[]),
            false,
            &[IMAGES_FILE, "no images"],
        ),
        (
            "fewer images than a batch",
            images.clone(),
            labels.clone(),
            false,
            &["--batch-size 128", "larger than the data set", "3 images"],
        ),
    ];
    for (what, images, labels, gzipped, says) in cases {
        let dir = idx_dir(
            &format!("bad_input_data_{}", what.replace(' ', "_")),
            &[],
            &[],
        );
        std::fs::remove_file(dir.join(IMAGES_FILE)).unwrap();
        let image_file = if gzipped {
            format!("{IMAGES_FILE}.gz")
        } else {
            IMAGES_FILE.to_string()
        };
        std::fs::write(dir.join(image_file), images).unwrap();
        std::fs::write(dir.join(LABELS_FILE), labels).unwrap();
        train_fails(what, &["--data-dir", dir.to_str().unwrap()], says);
    }
    train_fails(
        "missing folder",
        &["--data-dir", "/nonexistent/mnist"],
        &["/nonexistent/mnist", "no such folder"],
    );
    let no_files = scratch_dir("bad_input_data_no_files");
    train_fails(
        "missing files",
        &["--data-dir", no_files.to_str().unwrap()],
        &[no_files.to_str().unwrap(), IMAGES_FILE],
    );
}

#[test]
fn bad_flags() {
    let data = small_mnist("bad_input_flags_data", 10);
    let data = data.to_str().unwrap();
    let cases: Vec<(&str, Vec<&str>, &[&str])> = vec![
        ("batch 0", vec!["--batch-size", "0"], &["--batch-size"]),
        (
            "batch beyond the set",
            vec!["--batch-size", "11"],
            &["--batch-size 11", "larger than the data set", "10 images"],
        ),
        ("zero epochs", vec!["--epochs", "0"], &["--epochs"]),
        (
            "negative epochs",
            vec!["--epochs", "-2"],
            &["--epochs", "-2"],
        ),
        ("zero lr", vec!["--lr", "0"], &["--lr 0", "greater than 0"]),
        (
            "negative lr",
            vec!["--lr", "-0.001"],
            &["--lr", "greater than 0"],
        ),
        ("lr NaN", vec!["--lr", "nan"], &["--lr NaN"]),
        ("lr not a number", vec!["--lr", "fast"], &["--lr", "fast"]),
        ("beta1 of 1", vec!["--beta1", "1"], &["--beta1 1", "[0, 1)"]),
        (
            "sample epoch beyond the run",
            vec!["--epochs", "3", "--sample-epochs", "1,4"],
            &["--sample-epochs 4", "1..=3"],
        ),
        (
            "checkpoint every 0",
            vec!["--checkpoint-every", "0"],
            &["--checkpoint-every", "at least 1"],
        ),
        (
            "checkpoint every nonsense",
            vec!["--checkpoint-every", "often"],
            &["--checkpoint-every", "often"],
        ),
    ];
    for (what, args, says) in cases {
        let mut full = vec!["--data-dir", data];
        full.extend(args);
        train_fails(what, &full, says);
    }
}

#[test]
fn bad_output_folders() {
    let data = small_mnist("bad_input_out_data", 10);
    let data = data.to_str().unwrap();
    let file = scratch_dir("bad_input_out_is_file").join("a_file");
    std::fs::write(&file, b"precious").unwrap();
    let run = gan_wgpu(&["train", "--data-dir", data, "--out", file.to_str().unwrap()]);
    assert_failure(
        "out is a file",
        &run,
        2,
        &[file.to_str().unwrap(), "not a folder"],
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");
    // /proc refuses new folders even to root, which a permission test cannot count on.
    let run = gan_wgpu(&["train", "--data-dir", data, "--out", "/proc/gan-wgpu-run"]);
    assert_failure(
        "unwritable out",
        &run,
        2,
        &["/proc/gan-wgpu-run", "cannot create this folder"],
    );
    // A fresh run never overwrites another run's state: it points at --resume instead.
    let other = earlier_output("bad_input_out_other_run");
    std::fs::write(other.join("state.safetensors"), b"another run's state").unwrap();
    let before = Snapshot::of(&other);
    let run = gan_wgpu(&[
        "train",
        "--data-dir",
        data,
        "--out",
        other.to_str().unwrap(),
    ]);
    assert_failure(
        "out holds a run",
        &run,
        2,
        &["holds another training run", "--resume", "--overwrite"],
    );
    before.assert_unchanged(&other, "out holds a run");
}

/// A G checkpoint's tensors, with `edit` applied, written as safetensors.
fn checkpoint_file(
    name: &str,
    edit: impl FnOnce(&mut Vec<(String, Vec<usize>, Vec<f32>)>),
) -> PathBuf {
    // Every float tensor of G's state_dict (num_batches_tracked may be left out).
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = G_STATE
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(n, s)| (n.to_string(), s.to_vec(), vec![0.01; s.iter().product()]))
        .collect();
    edit(&mut tensors);
    let path = scratch_dir("bad_input_checkpoints").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let views: Vec<(String, Vec<usize>, &[f32])> = tensors
        .iter()
        .map(|(n, s, v)| (n.clone(), s.clone(), v.as_slice()))
        .collect();
    write_safetensors(&path, &views);
    path
}

fn sample_fails(what: &str, checkpoint: &Path, says: &[&str]) {
    let out = earlier_output(&format!("bad_input_sample_{}", what.replace(' ', "_")));
    let picture = out.join("epoch_001.png");
    let before = Snapshot::of(&out);
    let run = gan_wgpu(&[
        "sample",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--out",
        picture.to_str().unwrap(),
    ]);
    let mut all = vec![checkpoint.to_str().unwrap()];
    all.extend(says);
    assert_failure(what, &run, 2, &all);
    before.assert_unchanged(&out, what);
}

#[test]
fn bad_checkpoints() {
    let dir = scratch_dir("bad_input_checkpoint_files");
    let not_safetensors = dir.join("notes.safetensors");
    std::fs::write(&not_safetensors, b"these are my notes, not weights").unwrap();
    sample_fails(
        "not safetensors",
        &not_safetensors,
        &["not a safetensors file"],
    );

    let good = checkpoint_file("good.safetensors", |_| {});
    let truncated = dir.join("truncated.safetensors");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    sample_fails("truncated", &truncated, &["not a safetensors file"]);

    let missing = checkpoint_file("missing.safetensors", |t| {
        t.retain(|(n, _, _)| n != "fc.3.bias")
    });
    sample_fails("missing tensor", &missing, &["missing tensors: fc.3.bias"]);
    let extra = checkpoint_file("extra.safetensors", |t| {
        t.push(("fc.9.weight".into(), vec![2], vec![0.0; 2]))
    });
    sample_fails("extra tensor", &extra, &["unexpected tensors: fc.9.weight"]);
    let misshapen = checkpoint_file("misshapen.safetensors", |t| {
        t[0].1 = vec![62, 1024];
    });
    sample_fails(
        "misshapen tensor",
        &misshapen,
        &["`fc.0.weight` has shape [62, 1024], expected [1024, 62]"],
    );
    let nan = checkpoint_file("nan.safetensors", |t| t[6].2[17] = f32::NAN);
    sample_fails("NaN inside", &nan, &["`fc.3.weight` holds NaN"]);
    let inf = checkpoint_file("inf.safetensors", |t| t[2].2[0] = f32::INFINITY);
    sample_fails("Inf inside", &inf, &["`fc.1.weight` holds inf"]);
    let d = checkpoint_file("D_looking.safetensors", |t| {
        t.retain(|(n, _, _)| !n.starts_with("deconv"));
        t.push(("conv.0.weight".into(), vec![64, 1, 4, 4], vec![0.0; 1024]));
    });
    sample_fails(
        "a D for a G",
        &d,
        &["holds a D (discriminator) checkpoint where a G (generator) checkpoint is needed"],
    );
    sample_fails(
        "no such checkpoint",
        &dir.join("nowhere.safetensors"),
        &["nowhere.safetensors: no such file", "--run DIR"],
    );
}

#[test]
fn bad_training_states() {
    let data = small_mnist("bad_input_state_data", 10);
    let data = data.to_str().unwrap();
    let no_state = earlier_output("bad_input_state_none");
    let before = Snapshot::of(&no_state);
    let run = gan_wgpu(&[
        "train",
        "--data-dir",
        data,
        "--resume",
        no_state.to_str().unwrap(),
    ]);
    assert_failure(
        "no state",
        &run,
        2,
        &["state.safetensors", "no training state"],
    );
    before.assert_unchanged(&no_state, "no state");

    let torn = earlier_output("bad_input_state_torn");
    std::fs::write(
        torn.join("state.safetensors"),
        b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a",
    )
    .unwrap();
    let before = Snapshot::of(&torn);
    let run = gan_wgpu(&[
        "train",
        "--data-dir",
        data,
        "--resume",
        torn.to_str().unwrap(),
    ]);
    assert_failure(
        "torn state",
        &run,
        2,
        &["state.safetensors", "not a gan-wgpu training state"],
    );
    before.assert_unchanged(&torn, "torn state");

    // Metadata that parses but describes no position a run reaches (a damaged or hand-edited
    // file): refused before the GPU is touched. A batch size of 0 used to divide by zero and steps
    // past an epoch's end to index past the loss log, both panics.
    let run = gan_wgpu::state::RunState {
        seed: 1,
        batch_size: 2,
        lr: 2e-4,
        beta1: 0.5,
        beta2: 0.999,
        epochs: 3,
        sample_epochs: vec![3],
        dataset_len: 10,
        epoch_order: gan_wgpu::data::EPOCH_ORDER_VERSION,
        epochs_done: 0,
        steps_into_epoch: 0,
        epoch_d_losses: vec![],
        epoch_g_losses: vec![],
        steps_done: 0,
        history: gan_wgpu::history::History {
            seed: 1,
            batch_size: 2,
            lr: 2e-4,
            betas: [0.5, 0.999],
            dataset: "test".into(),
            epochs: vec![],
        },
    };
    let cases = [
        (
            "batch size 0",
            gan_wgpu::state::RunState {
                batch_size: 0,
                ..run.clone()
            },
            "batch size 0 with 10 images",
        ),
        (
            "steps past the epoch",
            gan_wgpu::state::RunState {
                steps_into_epoch: 5,
                epoch_d_losses: vec![0.5; 5],
                epoch_g_losses: vec![0.5; 5],
                steps_done: 5,
                ..run.clone()
            },
            "5 steps into an epoch of 5",
        ),
        (
            "steps that disagree",
            gan_wgpu::state::RunState {
                steps_done: 7,
                ..run.clone()
            },
            "7 steps done",
        ),
    ];
    for (what, state, problem) in cases {
        let out = earlier_output(&format!("bad_input_state_{}", what.replace(' ', "_")));
        let bytes = gan_wgpu::state::Snapshot::new(&state, vec![])
            .to_bytes()
            .unwrap();
        std::fs::write(out.join("state.safetensors"), bytes).unwrap();
        let before = Snapshot::of(&out);
        let result = gan_wgpu(&[
            "train",
            "--data-dir",
            data,
            "--resume",
            out.to_str().unwrap(),
        ]);
        assert_failure(
            what,
            &result,
            2,
            &["state.safetensors", "inconsistent run metadata", problem],
        );
        before.assert_unchanged(&out, what);
    }
}

#[test]
fn gpu_problems() {
    let data = small_mnist("bad_input_gpu_data", 10);
    let data = data.to_str().unwrap();
    // No Metal on Linux: the same message a machine without any driver gets.
    let out = earlier_output("bad_input_gpu_none");
    let before = Snapshot::of(&out);
    let run = gan_wgpu(&[
        "train",
        "--data-dir",
        data,
        "--batch-size",
        "8",
        "--backend",
        if cfg!(target_os = "macos") {
            "dx12"
        } else {
            "metal"
        },
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_failure(
        "no adapter",
        &run,
        2,
        &["no GPU adapter found", "mesa-vulkan-drivers"],
    );
    before.assert_unchanged(&out, "no adapter");
    // A batch whose buffers no adapter binds whole: the limit and the size asked are named.
    let run = gan_wgpu(&["bench", "--batch-size", "3000000", "--steps", "1"]);
    assert_failure(
        "buffer beyond the limits",
        &run,
        2,
        &["needs 9408000000 bytes", "max_storage_buffer_binding_size"],
    );
}
