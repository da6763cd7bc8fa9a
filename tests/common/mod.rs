//! Shared by the integration tests: one GPU per test binary, the PyTorch oracle, comparisons.
#![allow(dead_code)]

pub mod cli;
pub mod dcgan64;
pub mod reference;
pub mod report;

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::OnceLock;

use gan_wgpu::kernels::Dispatch;
#[allow(unused_imports)] // not every test binary uses both
pub use gan_wgpu::oracle::{max_abs_error, relative_l2};
use gan_wgpu::{Family, Gpu, GpuOptions, Overrides, Tensor};

/// The four kernels of a layer with a weight and a bias (Linear, Conv2d, ConvTranspose2d), bound to
/// x, weight, bias, dy and the outputs [y, dx, dweight, dbias], gradients overwritten.
#[macro_export]
macro_rules! weighted_layer_dispatches {
    ($layer:expr, $gpu:expr, $x:expr, $w:expr, $b:expr, $dy:expr, $out:expr) => {
        vec![
            $layer.forward($gpu, $x, $w, $b, &$out[0]).unwrap(),
            $layer.backward_input($gpu, $dy, $w, &$out[1]).unwrap(),
            $layer
                .backward_weight($gpu, $dy, $x, &$out[2], false)
                .unwrap(),
            $layer.backward_bias($gpu, $dy, &$out[3], false).unwrap(),
        ]
    };
}

pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let _ = env_logger::builder().is_test(true).try_init();
        let gpu = Gpu::new(&GpuOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("adapter: {} ({:?})", gpu.info.name, gpu.info.backend);
        gpu
    })
}

/// The families of matrix-product kernels a device can run, each tested against the same references.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelFamily {
    /// shaders/gemm.wgsl's tiles, K never split.
    Tiled,
    /// The same tiles with K split wherever it is four slices deep or more (GPUs split products with
    /// few tiles; this device splits every one, so the split path and its reductions are tested on any
    /// adapter).
    TiledSplitK,
    /// The split tiles with an 8×8 block per invocation (`block=8`), where products too
    /// shallow to split store their blocks whole.
    TiledBlock8SplitK,
    /// The split tiles with each slice loaded while the one before is multiplied, on 4×4 and (here)
    /// 8×8 blocks (`prefetch=on`).
    TiledPrefetchSplitK,
    TiledBlock8PrefetchSplitK,
    /// The subgroup kernels where the adapter has subgroups of 8 or more lanes, else tiles.
    Subgroup,
}

pub const KERNEL_FAMILIES: [KernelFamily; 6] = [
    KernelFamily::Tiled,
    KernelFamily::TiledSplitK,
    KernelFamily::TiledBlock8SplitK,
    KernelFamily::TiledPrefetchSplitK,
    KernelFamily::TiledBlock8PrefetchSplitK,
    KernelFamily::Subgroup,
];

/// A device of its own for each family of matrix-product kernels, whatever the adapter.
#[allow(dead_code)]
pub fn gpu_with(family: KernelFamily) -> &'static Gpu {
    static DEVICES: [OnceLock<Gpu>; 6] = [const { OnceLock::new() }; 6];
    let split = 1 << 16;
    let (cell, products, split_target, gemm_block, gemm_prefetch) = match family {
        KernelFamily::Tiled => (&DEVICES[0], Family::Tiled, 0, 4, false),
        KernelFamily::TiledSplitK => (&DEVICES[1], Family::Tiled, split, 4, false),
        KernelFamily::TiledBlock8SplitK => (&DEVICES[2], Family::Tiled, split, 8, false),
        KernelFamily::TiledPrefetchSplitK => (&DEVICES[3], Family::Tiled, split, 4, true),
        KernelFamily::TiledBlock8PrefetchSplitK => (&DEVICES[4], Family::Tiled, split, 8, true),
        KernelFamily::Subgroup => (&DEVICES[5], Family::Subgroup, 0, 4, false),
    };
    cell.get_or_init(|| {
        let gpu = Gpu::new(&GpuOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        // Subgroup kernels where the adapter has them, else tiles (as the adapter's defaults would).
        let products = if products == Family::Subgroup && !gpu.subgroups {
            report::note(
                report::Note::FellBack,
                "gpu_with(Subgroup)",
                &format!(
                    "{} has no subgroups: the subgroup family's device runs tiles",
                    gpu.info.name
                ),
            );
            Family::Tiled
        } else {
            products
        };
        let overrides = Overrides {
            family: Some(products),
            split_target: Some(split_target),
            block: Some(gemm_block),
            pitch: Some(17),
            prefetch: Some(gemm_prefetch),
            by_plane: Some(products == Family::Subgroup),
            ..Overrides::default()
        };
        let tuning = gpu
            .tuning()
            .clone()
            .with(&overrides, &gpu)
            .unwrap_or_else(|e| panic!("{e}"));
        Gpu::with_tuning(gpu.into_device(), tuning)
    })
}

pub fn run(dispatches: &[&Dispatch]) {
    run_on(gpu(), dispatches);
}

pub fn run_on(device: &Gpu, dispatches: &[&Dispatch]) {
    device.run(dispatches).unwrap_or_else(|e| panic!("{e}"));
}

pub fn upload(shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::from_slice(gpu(), "test input", shape, data).unwrap()
}

pub fn zeros(shape: &[usize]) -> Tensor {
    Tensor::zeros(gpu(), "test output", shape).unwrap()
}

pub fn read(t: &Tensor) -> Vec<f32> {
    t.read(gpu()).unwrap()
}

/// Deterministic pseudo-random values in [lo, hi) (SplitMix64), so failures reproduce.
pub fn random(count: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..count)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            lo + (hi - lo) * ((z >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

/// The oracle directory: `GAN_WGPU_ORACLE_DIR`, else `../shared/oracle` from the project root.
pub fn oracle_dir() -> PathBuf {
    match std::env::var_os("GAN_WGPU_ORACLE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/oracle"),
    }
}

/// An oracle file (`gan_wgpu::oracle::Oracle`, which remembers which tensors were looked at) as the
/// tests use it: on one device, a missing tensor a panic.
pub struct Oracle {
    file: gan_wgpu::oracle::Oracle,
    /// The device tensors are uploaded to and read from (`gpu()` unless `use_gpu` says otherwise).
    device: Cell<&'static Gpu>,
}

impl Oracle {
    pub fn load(file: &str) -> Oracle {
        let path = oracle_dir().join(file);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Oracle {
            file: gan_wgpu::oracle::Oracle::parse(&path.display().to_string(), &bytes)
                .unwrap_or_else(|e| panic!("{e}")),
            device: Cell::new(gpu()),
        }
    }

    /// Uploads and reads through `device` from now on.
    #[allow(dead_code)]
    pub fn use_gpu(&self, device: &'static Gpu) {
        self.device.set(device);
    }

    /// Case names (the part of each key before the first '.') accepted by `family`, sorted.
    pub fn cases(&self, family: impl Fn(&str) -> bool) -> Vec<String> {
        self.file
            .cases()
            .into_iter()
            .filter(|c| family(c))
            .collect()
    }

    pub fn shape(&self, key: &str) -> &[usize] {
        self.file.shape(key).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn values(&self, key: &str) -> &[f32] {
        self.file.values(key).unwrap_or_else(|e| panic!("{e}"))
    }

    /// All keys starting with `prefix`, sorted.
    pub fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.file.keys_with_prefix(prefix)
    }

    /// `index.<name>` when the oracle stores `<name>` as a subsample, else None.
    pub fn subsample_index(&self, name: &str) -> Option<&[usize]> {
        self.file.subsample_index(name)
    }

    /// The oracle tensor `key` on the GPU.
    pub fn upload(&self, key: &str) -> Tensor {
        self.file
            .upload(self.device.get(), key)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A zeroed GPU tensor shaped like oracle tensor `key`.
    pub fn zeros_like(&self, key: &str) -> Tensor {
        self.file
            .zeros_like(self.device.get(), key)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// ‖out − ref‖/‖ref‖ of a GPU tensor against oracle tensor `key`; also checks the shape.
    pub fn relative_error(&self, key: &str, out: &Tensor) -> f64 {
        assert_eq!(out.shape(), self.shape(key), "{key}: shape");
        relative_l2(&out.read(self.device.get()).unwrap(), self.values(key))
    }

    /// Asserts ‖out − ref‖/‖ref‖ ≤ bound and returns the error, printed for the margin's sake.
    pub fn check(&self, key: &str, out: &Tensor, bound: f64) -> f64 {
        let err = self.relative_error(key, out);
        eprintln!("{key}: relative error {err:.3e} (bound {bound:.0e})");
        assert!(
            gan_wgpu::oracle::within(err, bound),
            "{key}: relative error {err:.3e} exceeds {bound:.0e}"
        );
        err
    }

    /// Asserts that every tensor of `case` was looked at.
    pub fn assert_all_used(&self, case: &str) {
        self.file.all_used(case).unwrap_or_else(|e| panic!("{e}"));
    }
}
