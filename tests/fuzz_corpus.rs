//! The fuzz targets' corpora replayed on a stable toolchain: every committed input in
//! `fuzz/corpus/<target>/` goes through the same check the fuzz target runs (`fuzz/src/lib.rs`,
//! included here): no panic, no allocation beyond what the input justifies, and valid inputs
//! round-trip. Then the cases a header's claims could turn into huge allocations, each checked
//! explicitly. FUZZING.md says how to run the fuzzers themselves.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod checks;

use std::path::{Path, PathBuf};

use checks::{LargestAllocation, largest_allocation};
use gan_wgpu::data::Dataset;

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    files
}

fn replay(target: &str, check: fn(&[u8])) {
    for file in corpus(target) {
        let data = std::fs::read(&file).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("{target}: {} fails its check", file.display());
        }
    }
}

#[test]
fn idx_corpus() {
    replay("idx", checks::idx);
}

#[test]
fn checkpoint_corpus() {
    replay("checkpoint", checks::checkpoint);
}

#[test]
fn state_corpus() {
    replay("state", checks::state);
}

#[test]
fn noise_corpus() {
    replay("noise", checks::noise);
}

#[test]
fn flags_corpus() {
    replay("flags", checks::flags);
}

/// The allocation bounds below mean something only if the recorder sees allocations.
#[test]
fn the_recorder_sees_a_large_allocation() {
    let (buffer, largest) = largest_allocation(|| vec![1u8; 4 << 20]);
    assert_eq!(buffer.len(), 4 << 20);
    assert!(largest >= 4 << 20, "recorded {largest} bytes");
}

/// The seeds are real files and reach the parsers' success paths, so the round trips run.
#[test]
fn the_seeds_include_valid_inputs() {
    let valid = |target: &str, ok: &dyn Fn(&[u8]) -> bool| {
        corpus(target)
            .iter()
            .filter(|f| ok(&std::fs::read(f).unwrap()))
            .count()
    };
    let idx = valid("idx", &|d| {
        let (images, labels) = checks::split_idx(d);
        Dataset::from_idx(Path::new("i"), images, Path::new("l"), labels).is_ok()
    });
    assert!(idx >= 3, "{idx} valid data sets");
    let small = [checks::SMALL_G, checks::SMALL_D];
    let checkpoints = valid("checkpoint", &|d| {
        small
            .iter()
            .any(|spec| gan_wgpu::checkpoint::parse(Path::new("c"), d, spec).is_ok())
    });
    assert!(checkpoints >= 2, "{checkpoints} valid checkpoints");
    let states = valid("state", &|d| {
        gan_wgpu::state::parse_run(Path::new("s"), d).is_ok()
            && gan_wgpu::state::parse_tensors(Path::new("s"), d, &checks::small_state_tensors())
                .is_ok()
    });
    assert!(states >= 1, "{states} valid states");
}

/// An IDX header claiming 4,294,967,295 images (3.4 TB of pixels), raw or gzip, is refused as
/// truncated without allocating more than the file holds.
#[test]
fn an_idx_header_claiming_billions_of_images_allocates_nothing_for_them() {
    let mut images = Vec::new();
    for word in [0x803u32, u32::MAX, 28, 28] {
        images.extend_from_slice(&word.to_be_bytes());
    }
    images.extend_from_slice(&[0u8; 784]);
    let mut labels = Vec::new();
    for word in [0x801u32, u32::MAX] {
        labels.extend_from_slice(&word.to_be_bytes());
    }
    labels.push(3);
    let gzip = |bytes: &[u8]| {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    };
    for (what, images, labels) in [
        ("raw", images.clone(), labels.clone()),
        ("gzip", gzip(&images), gzip(&labels)),
    ] {
        let (result, largest) = largest_allocation(|| {
            Dataset::from_idx(Path::new("images"), &images, Path::new("labels"), &labels)
        });
        let message = result.unwrap_err().to_string();
        assert!(
            message.contains("truncated") && message.contains("4294967295 images"),
            "{what}: {message}"
        );
        assert!(
            largest < 1 << 20,
            "{what}: an allocation of {largest} bytes"
        );
    }
}

/// A gzip bomb: 64 MiB of zeros behind a header promising one image. Only the promised bytes (and
/// one more) are inflated.
#[test]
fn a_gzip_file_is_inflated_only_as_far_as_its_header_promises() {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for word in [0x803u32, 1, 28, 28] {
        encoder.write_all(&word.to_be_bytes()).unwrap();
    }
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        encoder.write_all(&zeros).unwrap();
    }
    let images = encoder.finish().unwrap();
    let labels = [0, 0, 8, 1, 0, 0, 0, 1, 5];
    let (result, largest) = largest_allocation(|| {
        Dataset::from_idx(Path::new("images"), &images, Path::new("labels"), &labels)
    });
    let message = result.unwrap_err().to_string();
    assert!(message.contains("longer than its header says"), "{message}");
    assert!(largest < 1 << 20, "an allocation of {largest} bytes");
}

/// A safetensors header whose tensor claims 2^40 floats in a small file: refused (the crate checks
/// the offsets against the file) before any allocation of that size, by each loader.
#[test]
fn a_safetensors_header_claiming_a_huge_tensor_allocates_nothing_for_it() {
    let length: u64 = 1 << 40;
    let header = format!(
        r#"{{"z":{{"dtype":"F32","shape":[{},62],"data_offsets":[0,{}]}}}}"#,
        length / 62,
        (length / 62) * 62 * 4
    );
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(&[0u8; 248]);
    let path = Path::new("f.safetensors");
    let (noise, largest) = largest_allocation(|| gan_wgpu::sample::Noise::parse(path, &file));
    assert!(noise.is_err());
    assert!(largest < 1 << 20, "noise: an allocation of {largest} bytes");
    let (state, largest) = largest_allocation(|| gan_wgpu::state::parse_run(path, &file));
    assert!(state.is_err());
    assert!(largest < 1 << 20, "state: an allocation of {largest} bytes");
    let (g, largest) = largest_allocation(|| {
        gan_wgpu::checkpoint::parse(path, &file, &gan_wgpu::model::generator::SPEC)
    });
    assert!(g.is_err());
    assert!(
        largest < 1 << 20,
        "checkpoint: an allocation of {largest} bytes"
    );
}

/// `--z` noise must be finite: a NaN or infinity would make NaN images. The error names where it is.
#[test]
fn noise_that_is_not_finite_is_refused_naming_where() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut rows = vec![0.5f32; 2 * 62];
        rows[62 + 3] = bad;
        let view = safetensors::tensor::TensorView::new(
            safetensors::Dtype::F32,
            vec![2, 62],
            bytemuck::cast_slice(&rows),
        )
        .unwrap();
        let file = safetensors::serialize([("z", view)], None).unwrap();
        let message = gan_wgpu::sample::Noise::parse(Path::new("z.safetensors"), &file)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("z.safetensors") && message.contains("row 1, column 3"),
            "{message}"
        );
    }
}
