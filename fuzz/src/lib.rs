//! What the fuzz targets check, one function per parser a user's file or flag reaches. Each calls the
//! function the command line calls, up to where the GPU would be used, and asserts: no panic, no
//! allocation larger than the input justifies, and that a valid input round-trips through the
//! matching writer. `tests/fuzz_corpus.rs` replays the committed corpora through the same functions
//! on a stable toolchain (it includes this file), so CI catches a regression without libFuzzer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use gan_wgpu::checkpoint;
use gan_wgpu::data::{Dataset, IMAGE_PIXELS};
use gan_wgpu::model::NetSpec;
use gan_wgpu::model::{discriminator, generator};
use gan_wgpu::sample::{Noise, SeedPair};
use gan_wgpu::state::{self, Snapshot};
use gan_wgpu::train::{CheckpointEvery, SampleEpochs};

/// The system allocator, recording the largest single allocation each thread asks for.
pub struct LargestAllocation;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: the thread's slot may already be gone while the thread exits.
    let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
}

unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// `f`'s result and the largest allocation made while it ran (0 unless `LargestAllocation` is the
/// global allocator).
pub fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|largest| largest.set(0));
    let result = f();
    (result, LARGEST.with(Cell::get))
}

/// Room for the parsers' own bookkeeping (a gzip window, a JSON map, a message) whatever the input.
const SLACK: usize = 256 << 10;
/// Deflate expands at most 1032:1, so a gzip file justifies that much more.
const DEFLATE_RATIO: usize = 1032;

fn assert_justified(what: &str, largest: usize, justified: usize) {
    assert!(
        largest <= justified + SLACK,
        "{what}: an allocation of {largest} bytes where the input justifies {justified} (+{SLACK})"
    );
}

/// The two files of a data set from one input: a little-endian u32 giving the image file's length,
/// the image file, then the label file.
pub fn split_idx(data: &[u8]) -> (&[u8], &[u8]) {
    if data.len() < 4 {
        return (data, &[]);
    }
    let length = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let rest = &data[4..];
    rest.split_at(length.min(rest.len()))
}

/// An image file and a label file as one `idx` input.
pub fn join_idx(images: &[u8], labels: &[u8]) -> Vec<u8> {
    let mut data = (images.len() as u32).to_le_bytes().to_vec();
    data.extend_from_slice(images);
    data.extend_from_slice(labels);
    data
}

/// Raw IDX files (images, labels) of a data set's pixels and labels.
pub fn idx_files(pixels: &[u8], labels: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let count = labels.len() as u32;
    let mut images = Vec::new();
    for word in [0x803, count, 28, 28] {
        images.extend_from_slice(&u32::to_be_bytes(word));
    }
    images.extend_from_slice(pixels);
    let mut label_file = Vec::new();
    for word in [0x801, count] {
        label_file.extend_from_slice(&u32::to_be_bytes(word));
    }
    label_file.extend_from_slice(labels);
    (images, label_file)
}

/// `train --data-dir`: both IDX files (raw or gzip), as `Dataset::load_dir` reads them.
pub fn idx(data: &[u8]) {
    let (images, labels) = split_idx(data);
    let (set, largest) = largest_allocation(|| {
        Dataset::from_idx(Path::new("images"), images, Path::new("labels"), labels)
    });
    let expands = |file: &[u8]| {
        if file.starts_with(&[0x1f, 0x8b]) {
            DEFLATE_RATIO * file.len()
        } else {
            file.len()
        }
    };
    // A growing buffer may hold twice what arrived.
    assert_justified("idx", largest, 2 * (expands(images) + expands(labels)));
    let Ok(set) = set else { return };
    assert!(!set.is_empty());
    assert_eq!(set.pixels().len(), set.len() * IMAGE_PIXELS);
    let (images, labels) = idx_files(set.pixels(), set.labels());
    let again = Dataset::from_idx(Path::new("images"), &images, Path::new("labels"), &labels)
        .expect("a data set written as IDX reads back");
    assert!(again.pixels() == set.pixels() && again.labels() == set.labels());
}

/// The real nets' names with small shapes: files that parse are small enough for a fuzzer to find
/// and mutate, and they take every branch the real shapes take.
pub const SMALL_G: NetSpec = NetSpec {
    label: "G",
    params: &[
        ("fc.0.weight", &[2, 3]),
        ("fc.0.bias", &[2]),
        ("fc.1.weight", &[2]),
        ("fc.1.bias", &[2]),
        ("deconv.0.weight", &[1, 1, 2, 2]),
    ],
    stats: &[("fc.1.running_mean", &[2]), ("fc.1.running_var", &[2])],
};
pub const SMALL_D: NetSpec = NetSpec {
    label: "D",
    params: &[("conv.0.weight", &[1, 1, 2, 2]), ("conv.0.bias", &[1])],
    stats: &[("conv.3.running_mean", &[1]), ("conv.3.running_var", &[1])],
};

/// `sample --checkpoint` (and a G or D checkpoint anywhere): `checkpoint::parse` for each net.
pub fn checkpoint(data: &[u8]) {
    for spec in [&generator::SPEC, &discriminator::SPEC, &SMALL_G, &SMALL_D] {
        let path = Path::new("checkpoint.safetensors");
        let (values, largest) = largest_allocation(|| checkpoint::parse(path, data, spec));
        assert_justified("checkpoint", largest, 2 * data.len());
        let Ok(values) = values else { continue };
        let file = checkpoint::serialize(path, spec, &values, 7).expect("parsed tensors serialise");
        let again = checkpoint::parse(path, &file, spec).expect("a written checkpoint reads back");
        assert!(same_tensors(&values, &again));
    }
}

fn same_tensors(a: &[(&str, Vec<f32>)], b: &[(&str, Vec<f32>)]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((na, va), (nb, vb))| {
            na == nb && bytemuck::cast_slice::<f32, u8>(va) == bytemuck::cast_slice::<f32, u8>(vb)
        })
}

/// A small state's tensors: the real names, a few floats each.
pub fn small_state_tensors() -> Vec<(String, usize)> {
    ["G.params", "G.stats", "D.params", "D.stats"]
        .iter()
        .flat_map(|store| {
            let roles: &[&str] = if store.ends_with("params") {
                &["values", "exp_avg", "exp_avg_sq"]
            } else {
                &["values"]
            };
            roles.iter().map(move |role| (format!("{store}.{role}"), 3))
        })
        .collect()
}

/// `train --resume`: `state::parse_run` (the settings, read before anything else) and
/// `state::parse_tensors` for the model's tensors at the common 256-byte alignment and for a small
/// state.
pub fn state(data: &[u8]) {
    let path = Path::new("state.safetensors");
    let (run, largest) = largest_allocation(|| state::parse_run(path, data));
    assert_justified("state metadata", largest, 2 * data.len());
    for expected in [state::state_tensors(256), small_state_tensors()] {
        let (tensors, largest) = largest_allocation(|| state::parse_tensors(path, data, &expected));
        assert_justified("state tensors", largest, 2 * data.len());
        let (Ok(run), Ok(tensors)) = (&run, tensors) else {
            continue;
        };
        let named: Vec<(String, Vec<f32>)> = expected
            .iter()
            .map(|(name, _)| name.clone())
            .zip(tensors.iter().cloned())
            .collect();
        let file = Snapshot::new(run, named)
            .to_bytes()
            .expect("a parsed state serialises");
        let run_again = state::parse_run(path, &file).expect("a written state reads back");
        let tensors_again =
            state::parse_tensors(path, &file, &expected).expect("its tensors read back");
        assert_eq!(&run_again, run);
        assert!(tensors.iter().zip(&tensors_again).all(|(a, b)| {
            bytemuck::cast_slice::<f32, u8>(a) == bytemuck::cast_slice::<f32, u8>(b)
        }));
    }
}

/// `sample --z FILE`: `Noise::parse`.
pub fn noise(data: &[u8]) {
    let path = Path::new("z.safetensors");
    let (noise, largest) = largest_allocation(|| Noise::parse(path, data));
    assert_justified("noise", largest, 2 * data.len());
    let Ok(noise) = noise else { return };
    let Noise::Rows(rows) = &noise else {
        panic!("a file gives rows of noise")
    };
    assert!(noise.count() >= 1 && rows.len() == noise.count() * 62);
    assert!(rows.iter().all(|v| v.is_finite()));
    let view = safetensors::tensor::TensorView::new(
        safetensors::Dtype::F32,
        vec![noise.count(), 62],
        bytemuck::cast_slice(rows),
    )
    .expect("rows make a tensor");
    let file = safetensors::serialize([("z", view)], None).expect("noise serialises");
    let Ok(Noise::Rows(again)) = Noise::parse(path, &file) else {
        panic!("written noise reads back")
    };
    assert!(bytemuck::cast_slice::<f32, u8>(&again) == bytemuck::cast_slice::<f32, u8>(rows));
}

/// The flag values parsed by gan-wgpu's own code (`--checkpoint-every`, `--sample-epochs`,
/// `--interpolate`): what parses prints as text that parses to the same value.
pub fn flags(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(every) = text.parse::<CheckpointEvery>() {
        match every {
            CheckpointEvery::Steps(n) => assert!(n >= 1),
            CheckpointEvery::Time(t) => assert!(!t.is_zero() && t.as_secs() <= 1_000_000_000),
        }
        assert_eq!(every.to_string().parse::<CheckpointEvery>(), Ok(every));
    }
    if let Ok(epochs) = text.parse::<SampleEpochs>() {
        assert!(!epochs.0.is_empty() && epochs.0[0] >= 1);
        assert!(epochs.0.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(epochs.to_string().parse::<SampleEpochs>(), Ok(epochs));
    }
    if let Ok(pair) = text.parse::<SeedPair>() {
        assert_eq!(pair.to_string().parse::<SeedPair>(), Ok(pair));
    }
}
