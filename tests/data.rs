//! IDX loading and validation, the bundled digits, epoch permutations and the GPU batch gather.

mod common;

use common::cli::{gzip, idx_images, idx_labels, scratch_dir};
use common::{gpu, read, run, zeros};
use gan_wgpu::Error;
use gan_wgpu::data::{Dataset, GpuDataset, IMAGE_PIXELS, IMAGES_FILE, LABELS_FILE, epoch_order};

/// Three images whose pixel p of image i is (i·7 + p) mod 256.
fn three_images() -> Vec<u8> {
    (0..3 * IMAGE_PIXELS)
        .map(|k| ((k / IMAGE_PIXELS) * 7 + k % IMAGE_PIXELS) as u8)
        .collect()
}

#[test]
fn the_bundled_digits_are_the_10000_of_the_shared_set() {
    let set = Dataset::bundled();
    assert_eq!(set.len(), 10_000);
    let mut per_digit = [0usize; 10];
    set.labels()
        .iter()
        .for_each(|&l| per_digit[l as usize] += 1);
    assert_eq!(
        per_digit,
        [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    );
}

#[test]
fn a_folder_of_raw_or_gzipped_idx_files_loads() {
    for gz in [false, true] {
        let dir = scratch_dir(if gz { "idx_gz" } else { "idx_raw" });
        let (images, labels) = (
            idx_images(3, 28, 28, &three_images()),
            idx_labels(&[4, 0, 9]),
        );
        let (images, labels, suffix) = if gz {
            (gzip(&images), gzip(&labels), ".gz")
        } else {
            (images, labels, "")
        };
        std::fs::write(dir.join(format!("{IMAGES_FILE}{suffix}")), images).unwrap();
        std::fs::write(dir.join(format!("{LABELS_FILE}{suffix}")), labels).unwrap();
        let set = Dataset::load_dir(&dir).unwrap();
        assert_eq!(set.len(), 3);
        assert_eq!(set.labels(), [4, 0, 9]);
        assert_eq!(set.pixels(), three_images().as_slice());
    }
}

/// The error for a folder holding `images` and `labels`, as its message.
fn load_error(name: &str, images: Vec<u8>, labels: Vec<u8>) -> String {
    let dir = scratch_dir(name);
    std::fs::write(dir.join(IMAGES_FILE), images).unwrap();
    std::fs::write(dir.join(LABELS_FILE), labels).unwrap();
    match Dataset::load_dir(&dir) {
        Err(e @ Error::Data { .. }) => e.to_string(),
        other => panic!("{name}: expected a data error, got {other:?}"),
    }
}

type BadCase = (&'static str, Vec<u8>, Vec<u8>, &'static str, &'static str);

#[test]
fn bad_idx_files_are_clear_errors_naming_the_file() {
    let good_labels = || idx_labels(&[1, 2, 3]);
    // (case, image file bytes, label file bytes, the file the message must name, what it must say)
    let cases: Vec<BadCase> = vec![
        (
            "bad_magic",
            {
                let mut b = idx_images(3, 28, 28, &three_images());
                b[3] = 0x01;
                b
            },
            good_labels(),
            IMAGES_FILE,
            "magic number 0x00000801",
        ),
        (
            "bad_dims",
            idx_images(3, 32, 32, &vec![0; 3 * 1024]),
            good_labels(),
            IMAGES_FILE,
            "32×32",
        ),
        (
            "truncated",
            idx_images(3, 28, 28, &three_images()[..2000]),
            good_labels(),
            IMAGES_FILE,
            "truncated",
        ),
        (
            "short_header",
            vec![0, 0, 8],
            good_labels(),
            IMAGES_FILE,
            "truncated",
        ),
        (
            "corrupt_gzip",
            {
                let mut g = gzip(&idx_images(3, 28, 28, &three_images()));
                let n = g.len();
                g[n / 2] ^= 0xff;
                g.truncate(n - 4);
                g
            },
            good_labels(),
            IMAGES_FILE,
            "corrupt gzip",
        ),
        (
            "count_mismatch",
            idx_images(3, 28, 28, &three_images()),
            idx_labels(&[1, 2]),
            IMAGES_FILE,
            "2 labels",
        ),
        (
            "labels_truncated",
            idx_images(3, 28, 28, &three_images()),
            idx_labels(&[1, 2, 3])[..9].to_vec(),
            LABELS_FILE,
            "truncated",
        ),
        (
            "empty",
            idx_images(0, 28, 28, &[]),
            idx_labels(&[]),
            IMAGES_FILE,
            "no images",
        ),
    ];
    for (name, images, labels, file, problem) in cases {
        let message = load_error(name, images, labels);
        assert!(
            message.contains(file),
            "{name}: `{message}` does not name {file}"
        );
        assert!(
            message.contains(problem),
            "{name}: `{message}` does not say `{problem}`"
        );
    }
    let missing = scratch_dir("missing_files");
    let message = Dataset::load_dir(&missing).unwrap_err().to_string();
    assert!(
        message.contains(IMAGES_FILE) && message.contains("missing_files"),
        "{message}"
    );
    let message = Dataset::load_dir(&missing.join("nope"))
        .unwrap_err()
        .to_string();
    assert!(message.contains("no such folder"), "{message}");
}

#[test]
fn epoch_orders_are_seeded_permutations() {
    let a = epoch_order(1, 0, 1000);
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..1000).collect::<Vec<u32>>());
    assert_eq!(a, epoch_order(1, 0, 1000));
    assert_ne!(a, epoch_order(1, 1, 1000));
    assert_ne!(a, epoch_order(2, 0, 1000));
    assert_ne!(a, (0..1000).collect::<Vec<u32>>());
}

/// The epoch order is a uniform shuffle: over 20,000 epochs of five images, each image lands in each
/// place a fifth of the time (±4%, over 10 standard deviations of the binomial spread).
#[test]
fn epoch_orders_are_uniform_shuffles() {
    let mut counts = [[0u32; 5]; 5];
    for epoch in 0..20_000 {
        for (place, &image) in epoch_order(3, epoch, 5).iter().enumerate() {
            counts[image as usize][place] += 1;
        }
    }
    for row in counts {
        for n in row {
            assert!((3840..=4160).contains(&n), "{counts:?}");
        }
    }
}

/// Runs repeat across versions only while the epoch order does: this pins seed 1's first epoch of ten
/// images as rand 0.10's shuffle draws it on Philox. A change here (a new rand whose shuffle draws
/// otherwise, a changed generator) needs `EPOCH_ORDER_VERSION` raised, so that resuming an older
/// run says its order changed.
#[test]
fn the_epoch_order_of_a_seed_is_pinned() {
    assert_eq!(epoch_order(1, 0, 10), [3, 2, 4, 9, 7, 8, 6, 5, 1, 0]);
    assert_eq!(gan_wgpu::data::EPOCH_ORDER_VERSION, 2);
}

#[test]
fn the_gpu_gathers_the_batch_the_permutation_names() {
    let g = gpu();
    let dir = scratch_dir("gather");
    std::fs::write(
        dir.join(IMAGES_FILE),
        idx_images(3, 28, 28, &three_images()),
    )
    .unwrap();
    std::fs::write(dir.join(LABELS_FILE), idx_labels(&[0, 1, 2])).unwrap();
    let set = Dataset::load_dir(&dir).unwrap();
    let on_gpu = GpuDataset::upload(g, &set).unwrap();
    let order = [2u32, 0, 1];
    on_gpu.set_order(g, &order).unwrap();
    let x = zeros(&[1, 1, 28, 28]);
    let gather = on_gpu.gather(g, &x).unwrap();
    assert_eq!(gather.batches_per_epoch, 3);
    for (batch, &image) in order.iter().enumerate() {
        gather.set_batch(g, batch).unwrap();
        run(&[gather.dispatch()]);
        let want: Vec<f32> = set.pixels()[image as usize * IMAGE_PIXELS..][..IMAGE_PIXELS]
            .iter()
            .map(|&b| b as f32 / 255.0)
            .collect();
        assert_eq!(read(&x), want, "batch {batch}");
    }
    assert!(gather.set_batch(g, 3).is_err());
    assert!(
        on_gpu.gather(g, &zeros(&[4, 1, 28, 28])).is_err(),
        "a batch larger than the set"
    );
}
