//! Running the `gan-wgpu` binary in tests: scratch folders, small IDX data sets, and the checks every
//! failing command must pass (exit code, a short message, nothing on disk changed).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gan_wgpu::data::{Dataset, IMAGE_PIXELS, IMAGES_FILE, LABELS_FILE};

/// An empty folder of the test's own under the target folder.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn idx_images(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0x803, count, rows, cols] {
        out.extend(u32::to_be_bytes(v));
    }
    out.extend(pixels);
    out
}

pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0x801, labels.len() as u32] {
        out.extend(u32::to_be_bytes(v));
    }
    out.extend(labels);
    out
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A folder holding `images` and `labels` as the training files.
pub fn idx_dir(name: &str, images: &[u8], labels: &[u8]) -> PathBuf {
    let dir = scratch_dir(name);
    std::fs::write(dir.join(IMAGES_FILE), images).unwrap();
    std::fs::write(dir.join(LABELS_FILE), labels).unwrap();
    dir
}

/// The first `count` bundled digits as a raw IDX folder.
pub fn small_mnist(name: &str, count: usize) -> PathBuf {
    let set = Dataset::bundled();
    idx_dir(
        name,
        &idx_images(count as u32, 28, 28, &set.pixels()[..count * IMAGE_PIXELS]),
        &idx_labels(&set.labels()[..count]),
    )
}

/// gan-wgpu with `args`; train and bench run the adapter's default kernels (`--no-tune`), so that no
/// test measures kernel variants or depends on what another stored (tests/tune.rs tests that).
pub fn gan_wgpu_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gan-wgpu"));
    command.args(args);
    if matches!(args.first(), Some(&("train" | "bench"))) && !args.contains(&"--help") {
        command.arg("--no-tune");
    }
    command
}

pub fn gan_wgpu(args: &[&str]) -> Output {
    gan_wgpu_command(args).output().unwrap()
}

pub fn assert_success(args: &[&str], out: &Output) {
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The lines gan-wgpu wrote to stderr.
pub fn own_stderr(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Checks that a command failed with `code` and a short message (one or two lines, no panic)
/// containing every one of `says`; returns the message.
pub fn assert_failure(what: &str, out: &Output, code: i32, says: &[&str]) -> String {
    let lines = own_stderr(out);
    let message = lines.join("\n");
    assert_eq!(out.status.code(), Some(code), "{what}: {message}");
    assert!(
        !message.contains("panicked") && !message.contains("RUST_BACKTRACE"),
        "{what}: a panic: {message}"
    );
    let error_lines: Vec<&String> = lines
        .iter()
        .skip_while(|l| !l.starts_with("gan-wgpu: ") && !l.starts_with("error: "))
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .collect();
    assert!(
        (1..=2).contains(&error_lines.len()),
        "{what}: the error should be one or two lines: {message}"
    );
    for s in says {
        assert!(
            message.contains(s),
            "{what}: `{message}` does not say `{s}`"
        );
    }
    message
}

/// Every file under a folder with its bytes, to show that a failed command changed nothing.
#[derive(Debug, PartialEq)]
pub struct Snapshot(BTreeMap<PathBuf, Vec<u8>>);

impl Snapshot {
    pub fn of(dir: &Path) -> Snapshot {
        let mut files = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
        Snapshot(files)
    }

    pub fn assert_unchanged(&self, dir: &Path, what: &str) {
        let now = Snapshot::of(dir);
        let names = |s: &Snapshot| s.0.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            names(self),
            names(&now),
            "{what}: files appeared or vanished"
        );
        for (path, bytes) in &self.0 {
            assert!(&now.0[path] == bytes, "{what}: {} changed", path.display());
        }
    }
}

/// The tensor names and shapes PyTorch's `state_dict()` gives the original's G and D.
pub const G_STATE: &[(&str, &[usize])] = &[
    ("fc.0.weight", &[1024, 62]),
    ("fc.0.bias", &[1024]),
    ("fc.1.weight", &[1024]),
    ("fc.1.bias", &[1024]),
    ("fc.1.running_mean", &[1024]),
    ("fc.1.running_var", &[1024]),
    ("fc.1.num_batches_tracked", &[]),
    ("fc.3.weight", &[6272, 1024]),
    ("fc.3.bias", &[6272]),
    ("fc.4.weight", &[6272]),
    ("fc.4.bias", &[6272]),
    ("fc.4.running_mean", &[6272]),
    ("fc.4.running_var", &[6272]),
    ("fc.4.num_batches_tracked", &[]),
    ("deconv.0.weight", &[128, 64, 4, 4]),
    ("deconv.0.bias", &[64]),
    ("deconv.1.weight", &[64]),
    ("deconv.1.bias", &[64]),
    ("deconv.1.running_mean", &[64]),
    ("deconv.1.running_var", &[64]),
    ("deconv.1.num_batches_tracked", &[]),
    ("deconv.3.weight", &[64, 1, 4, 4]),
    ("deconv.3.bias", &[1]),
];
pub const D_STATE: &[(&str, &[usize])] = &[
    ("conv.0.weight", &[64, 1, 4, 4]),
    ("conv.0.bias", &[64]),
    ("conv.2.weight", &[128, 64, 4, 4]),
    ("conv.2.bias", &[128]),
    ("conv.3.weight", &[128]),
    ("conv.3.bias", &[128]),
    ("conv.3.running_mean", &[128]),
    ("conv.3.running_var", &[128]),
    ("conv.3.num_batches_tracked", &[]),
    ("fc.0.weight", &[1024, 6272]),
    ("fc.0.bias", &[1024]),
    ("fc.1.weight", &[1024]),
    ("fc.1.bias", &[1024]),
    ("fc.1.running_mean", &[1024]),
    ("fc.1.running_var", &[1024]),
    ("fc.1.num_batches_tracked", &[]),
    ("fc.3.weight", &[1, 1024]),
    ("fc.3.bias", &[1]),
];

/// Writes `tensors` (name, shape, values) as a safetensors file.
pub fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>, &[f32])]) {
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, s, v)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    s.clone(),
                    bytemuck::cast_slice(v),
                )
                .unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}
