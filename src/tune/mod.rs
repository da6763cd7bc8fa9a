//! The tuner: on an adapter it has not met (or on `gan-wgpu tune`), it runs one training step of the
//! model at the run's batch size with each candidate variant of the matrix-product kernels, times every
//! product, and keeps for each product the fastest variant whose output agrees with the reference
//! (4×4 tiles, K whole) on the same inputs. The choice is stored per adapter beside the pipeline cache
//! and reused; a damaged or stale entry is measured again.
//!
//! Every candidate is checked in lockstep with the reference: both run the step dispatch by dispatch
//! from the same initial numbers; after each product the candidate's output is compared with the
//! reference's and then replaced by it, so every product is checked on exactly the reference's inputs
//! and nothing else differs (the other kernels are the same on both).
//!
//! Then the record's other two choices, each a layout of the kernels besides the products: BatchNorm's
//! and the bias gradient's walk over channels (`by_plane`) and the access width of Adam and the
//! activations (`wide_loads`). The adapter's default and each choice flipped (where the device can
//! run it) run both nets' gradient passes from the same initial numbers, then both Adams on the
//! default's gradients; a flip whose gradients or updates differ from the default's is refused, and
//! each choice goes to whichever of its two layouts ran the kernels besides the products faster.
//!
//! The measuring is here; what a record is stored under is `fingerprint.rs`, the stored records
//! `record.rs`.

mod fingerprint;
mod record;

pub use fingerprint::{AdapterKey, CpuKey};
pub use record::{CacheEntry, cache_path, cached, store};

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::bench::SyntheticRun;
use crate::error::{Error, Result};
use crate::gpu::{Device, GpuOptions};
use crate::kernels::{Dispatch, Family, Gpu, Overrides, Tuning, Variant, tuning::SPLIT_TARGET_GPU};
use crate::model::Net;
use crate::oracle::CANCELLED_BIASES;

/// The largest relative L2 difference from the reference a product's output may have (float32
/// rounding in another summation order is around 1e-6; a wrong kernel is near 1).
pub const AGREEMENT: f64 = 1e-4;
/// Timing passes over a step after the checked one, on GPUs (a CPU adapter's single pass takes
/// seconds and its times vary little between passes).
const GPU_TIMING_PASSES: usize = 5;

/// The largest relative L2 difference the G step's gradients of a layout may have from the default
/// layout's, per tensor. The G step runs G's output through D and back: a kink input that float32
/// rounding puts on the other side of 0 in one order and not the other moves every G gradient behind
/// it by up to ~0.3% (the oracle's recomputation along a GPU's branches measures such crossings), and
/// a wrong kernel differs by ~1. Everything else a layout computes (the D step's gradients, the
/// forward passes' running statistics, Adam's values and moments) is held to `AGREEMENT`.
pub const G_STEP_AGREEMENT: f64 = 3e-3;

/// Timing passes over the kernels besides the products of a layout, on CPU adapters (those kernels
/// take a tenth of a step there; the least of three passes steadies them, and the first pass compiles
/// Adam's kernel, which the checks before it do not time).
const CPU_LAYOUT_PASSES: usize = 3;

/// The batch of the untimed step that has a candidate's pipelines compiled before it is measured, on
/// a GPU (a CPU adapter's runs at the measured batch: see `measure`).
const WARM_UP_BATCH: usize = 4;

const TILED_4: Variant = Variant {
    family: Family::Tiled,
    block: 4,
    pitch: 17,
    prefetch: false,
    split_target: 0,
};

/// The variants the tuner tries on `device`, the reference (4×4 tiles, K whole) first.
pub fn candidates(device: &Device) -> Vec<Variant> {
    let cpu = device.info.device_type == wgpu::DeviceType::Cpu;
    let split = |v: Variant| Variant {
        split_target: SPLIT_TARGET_GPU,
        ..v
    };
    let block8 = Variant {
        block: 8,
        ..TILED_4
    };
    let prefetch = |v: Variant| Variant {
        prefetch: true,
        ..v
    };
    let subgroup = Variant {
        family: Family::Subgroup,
        ..TILED_4
    };
    let mut all = vec![TILED_4];
    // A CPU adapter's few cores are filled without splitting K, and its other tiled variants are
    // slower still than the reference (BENCHMARKS.md): it tries only the subgroup kernels beside it.
    if !cpu {
        all.extend([
            split(TILED_4),
            split(block8),
            split(prefetch(TILED_4)),
            split(prefetch(block8)),
            block8,
        ]);
    }
    if device.subgroups {
        all.push(subgroup);
    }
    all
}

/// The layouts the tuner tries after the products, on `tuning` (the products chosen): `tuning` itself
/// (the adapter's default layout), then with `by_plane` flipped and with `wide_loads` flipped, each
/// where `device` can run it.
pub fn layout_candidates(tuning: &Tuning, device: &Device) -> Vec<Tuning> {
    let flips = [
        Overrides {
            by_plane: Some(!tuning.by_plane),
            ..Overrides::default()
        },
        Overrides {
            wide_loads: Some(!tuning.wide_loads),
            ..Overrides::default()
        },
    ];
    let mut all = vec![tuning.clone()];
    all.extend(
        flips
            .iter()
            .filter_map(|flip| tuning.clone().with(flip, device).ok()),
    );
    all
}

/// What the tuner measured of one candidate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Measurement {
    pub variant: Variant,
    /// Milliseconds each product took in the step (summed over its dispatches), by product key.
    pub ms: BTreeMap<String, f64>,
    /// Products whose output disagreed with the reference's, with the relative L2 difference.
    pub disagreed: BTreeMap<String, f64>,
}

impl Measurement {
    pub fn total_ms(&self) -> f64 {
        self.ms.values().sum()
    }
}

/// What the tuner measured of one layout of the kernels besides the products.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayoutMeasurement {
    pub by_plane: bool,
    pub wide_loads: bool,
    /// Milliseconds the step's dispatches other than the products took (each the least over the
    /// timing passes), summed.
    pub ms: f64,
    /// The largest relative L2 difference from the default layout's over D's gradients after the D
    /// step, tensor by tensor (0 for the default itself).
    pub d_step_difference: f64,
    /// The same over G's gradients after the G step.
    pub g_step_difference: f64,
    /// The same over both nets' BatchNorm running statistics after the passes (each buffer whole).
    pub forward_difference: f64,
    /// The same over the nets' values and Adam moments after both Adams ran on the default's gradients.
    pub update_difference: f64,
}

impl LayoutMeasurement {
    /// Whether this layout computes what the default does: within float32's rounding in another
    /// summation order (`AGREEMENT`) everywhere but in the G step's gradients, and there within what one
    /// kink crossed by that rounding explains (`G_STEP_AGREEMENT`). A NaN agrees with nothing.
    pub fn agrees(&self) -> bool {
        let within = |d: f64, bound: f64| d.is_finite() && d <= bound;
        within(self.d_step_difference, AGREEMENT)
            && within(self.forward_difference, AGREEMENT)
            && within(self.update_difference, AGREEMENT)
            && within(self.g_step_difference, G_STEP_AGREEMENT)
    }

    /// What made it disagree, for the tuner's progress line.
    pub fn differences(&self) -> String {
        format!(
            "D step {:.1e}, G step {:.1e}, running statistics {:.1e}, Adam {:.1e}",
            self.d_step_difference,
            self.g_step_difference,
            self.forward_difference,
            self.update_difference
        )
    }
}

/// The tuner's result at one batch size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TuneReport {
    pub batch: usize,
    pub measurements: Vec<Measurement>,
    /// The adapter's default layout first, then each choice flipped where the device can run it.
    pub layouts: Vec<LayoutMeasurement>,
    pub tuning: Tuning,
    pub seconds: f64,
}

/// What the tuner tells its caller while it works.
pub enum TuneProgress<'a> {
    Candidate {
        index: usize,
        count: usize,
        variant: &'a Variant,
    },
    Measured(&'a Measurement),
    Layout {
        index: usize,
        count: usize,
        layout: &'a Tuning,
    },
    LayoutMeasured(&'a LayoutMeasurement),
}

/// One dispatch's time in milliseconds: GPU time from timestamps where the device has them, else the
/// wall time of submitting it alone and waiting for it.
fn time_one(gpu: &Gpu, dispatch: &Dispatch) -> Result<f64> {
    if gpu.has_timestamps() {
        let parts = dispatch.parts();
        let refs: Vec<&Dispatch> = parts.iter().collect();
        return Ok(gpu.time_dispatches(&refs)?.iter().sum());
    }
    let t = Instant::now();
    gpu.run(&[dispatch])?;
    Ok(t.elapsed().as_secs_f64() * 1e3)
}

/// ‖a − b‖ / ‖b‖ in double precision (‖a − b‖ where b is all zeros).
pub fn relative_difference(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    let (diff, norm) = difference_and_norm(a, b);
    if norm == 0.0 { diff } else { diff / norm }
}

/// The reference's step: every dispatch run in order, each product's output kept and its time taken.
struct Reference {
    outputs: Vec<Option<Vec<f32>>>,
    keys: Vec<Option<String>>,
}

/// Runs one step of `run` dispatch by dispatch on `gpu`, timing the products; with a reference,
/// checks each product's output against it and replaces it with the reference's.
fn checked_step(
    gpu: &Gpu,
    run: &SyntheticRun,
    variant: Variant,
    reference: Option<&Reference>,
) -> Result<(Measurement, Reference)> {
    let dispatches = run.step_dispatches(gpu)?;
    let mut measurement = Measurement {
        variant,
        ms: BTreeMap::new(),
        disagreed: BTreeMap::new(),
    };
    let mut kept = Reference {
        outputs: Vec::new(),
        keys: Vec::new(),
    };
    for (i, d) in dispatches.iter().enumerate() {
        let Some((key, output)) = d.product() else {
            gpu.run(&[d])?;
            kept.outputs.push(None);
            kept.keys.push(None);
            continue;
        };
        let key = key.to_string();
        let ms = time_one(gpu, d)?;
        log::debug!("{key} on {variant}: {ms:.3} ms");
        *measurement.ms.entry(key.clone()).or_default() += ms;
        let got = output.read(gpu)?;
        match reference {
            None => {
                kept.outputs.push(Some(got));
                kept.keys.push(Some(key));
            }
            Some(r) => {
                let (Some(Some(want)), Some(Some(want_key))) = (r.outputs.get(i), r.keys.get(i))
                else {
                    return Err(Error::InvalidArgument {
                        op: "tune",
                        message: format!(
                            "dispatch {i} ({key}) is not a product in the reference's step"
                        ),
                    });
                };
                if *want_key != key {
                    return Err(Error::InvalidArgument {
                        op: "tune",
                        message: format!(
                            "dispatch {i} is {key} here and {want_key} in the reference"
                        ),
                    });
                }
                let difference = relative_difference(&got, want);
                if difference > AGREEMENT || !difference.is_finite() {
                    let worst = measurement.disagreed.entry(key).or_default();
                    *worst = worst.max(difference);
                }
                output.write(gpu, want)?;
            }
        }
    }
    Ok((measurement, kept))
}

/// Times `passes` more steps of `run`, each product's time the least over the passes.
fn timing_passes(
    gpu: &Gpu,
    run: &mut SyntheticRun,
    m: &mut Measurement,
    passes: usize,
) -> Result<()> {
    for _ in 0..passes {
        run.finish_step();
        let dispatches = run.step_dispatches(gpu)?;
        let mut pass: BTreeMap<String, f64> = BTreeMap::new();
        for d in &dispatches {
            match d.product() {
                Some((key, _)) => *pass.entry(key.to_string()).or_default() += time_one(gpu, d)?,
                None => gpu.run(&[d])?,
            }
        }
        for (key, ms) in pass {
            let best = m.ms.entry(key).or_insert(ms);
            *best = best.min(ms);
        }
    }
    Ok(())
}

/// The run's two nets, G then D: the order of every per-net list below.
fn nets(run: &SyntheticRun) -> [&Net; 2] {
    [&run.trainer.g.net, &run.trainer.d.net]
}

/// The nets' names in `nets`' order, as the oracle's parameter names begin (`D.conv.2.bias`).
const NET_NAMES: [&str; 2] = ["G", "D"];

/// Both nets' flat buffers of one role: gradients (1), values (0) or Adam's moments (2, 3), as
/// `ParamStore::flat` orders them.
fn read_flat(gpu: &Gpu, run: &SyntheticRun, role: usize) -> Result<Vec<Vec<f32>>> {
    nets(run)
        .iter()
        .map(|net| net.params.flat(gpu)?[role].read(gpu))
        .collect()
}

/// Both nets' BatchNorm running statistics, one flat buffer each.
fn read_statistics(gpu: &Gpu, run: &SyntheticRun) -> Result<Vec<Vec<f32>>> {
    let mut all = Vec::new();
    for net in nets(run) {
        for (_, tensor) in net.stats.persistent(gpu)? {
            all.push(tensor.read(gpu)?);
        }
    }
    Ok(all)
}

/// ‖a − b‖ and ‖b‖ in double precision (NaN where either holds a NaN).
fn difference_and_norm(a: &[f32], b: &[f32]) -> (f64, f64) {
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        diff += (x as f64 - y as f64).powi(2);
        norm += (y as f64).powi(2);
    }
    (diff.sqrt(), norm.sqrt())
}

/// The largest relative L2 difference between each buffer of `got` and `want`'s; with `by_entry`,
/// each net's buffer (G's, then D's) is compared tensor by tensor, as the oracle compares gradients: a
/// tensor relative to its own norm, but the bias of a layer that feeds a BatchNorm (its gradient is 0
/// in exact arithmetic and holds only rounding, which differs between summation orders by all of
/// itself) relative to its layer's weight gradient. Infinite for a NaN, an infinity or a length that
/// differs.
fn largest_differences(
    run: &SyntheticRun,
    got: &[Vec<f32>],
    want: &[Vec<f32>],
    by_entry: bool,
) -> Vec<f64> {
    if got.len() != want.len() || got.iter().zip(want).any(|(g, w)| g.len() != w.len()) {
        return vec![f64::INFINITY; want.len().max(1)];
    }
    let nets = nets(run);
    let mut largest = Vec::with_capacity(want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let range = |e: &crate::params::Entry| {
            let start = (e.offset / 4) as usize;
            start..start + e.numel()
        };
        // (tensor name, its elements, the elements its difference is relative to)
        let parts: Vec<(&str, std::ops::Range<usize>, std::ops::Range<usize>)> =
            match nets.get(i).filter(|_| by_entry) {
                Some(net) => net
                    .params
                    .entries()
                    .iter()
                    .map(|e| {
                        let layer = e.name.trim_end_matches(".bias");
                        let cancelled = e.name.ends_with(".bias")
                            && CANCELLED_BIASES
                                .contains(&format!("{}.{layer}", NET_NAMES[i]).as_str());
                        let scale = match net.params.entry(&format!("{layer}.weight")) {
                            Ok(weight) if cancelled => range(weight),
                            _ => range(e),
                        };
                        (e.name, range(e), scale)
                    })
                    .collect(),
                None => vec![("whole", 0..w.len(), 0..w.len())],
            };
        let mut buffer_largest = 0.0f64;
        for (name, elements, scale) in parts {
            let (diff, _) = difference_and_norm(&g[elements.clone()], &w[elements]);
            let (_, norm) = difference_and_norm(&w[scale.clone()], &w[scale]);
            let d = if diff == 0.0 { 0.0 } else { diff / norm };
            log::debug!("buffer {i}, {name}: relative difference {d:.3e}");
            buffer_largest = buffer_largest.max(if d.is_finite() { d } else { f64::INFINITY });
        }
        largest.push(buffer_largest);
    }
    largest
}

fn largest(differences: &[f64]) -> f64 {
    differences.iter().copied().fold(0.0, f64::max)
}

/// What the default layout computed, for the others to be checked against.
struct LayoutReference {
    gradients: Vec<Vec<f32>>,
    statistics: Vec<Vec<f32>>,
    updated: Vec<Vec<f32>>,
}

/// Checks and times `gpu`'s layout at batch `batch`: from the same initial numbers as every layout,
/// both nets' gradient passes (the G step's from the initial D, as the oracle's), compared with the
/// default's (`reference`; None: this is the default); then both Adams on the default's gradients,
/// compared likewise; then the step's dispatches other than the products, timed `passes` times
/// (the first use of each compiles it where the driver compiles at the first dispatch: passes > 1
/// there), each the least over the passes.
fn measure_layout(
    gpu: &Gpu,
    batch: usize,
    passes: usize,
    reference: Option<&LayoutReference>,
) -> Result<(LayoutMeasurement, LayoutReference)> {
    let run = SyntheticRun::new(gpu, batch)?;
    let trainer = &run.trainer;
    gpu.run(&run.noise_dispatches(gpu)?)?;
    gpu.run(&trainer.d_gradients().iter().collect::<Vec<_>>())?;
    gpu.run(&trainer.g_gradients().iter().collect::<Vec<_>>())?;
    let gradients = read_flat(gpu, &run, 1)?;
    let statistics = read_statistics(gpu, &run)?;
    if let Some(r) = reference {
        for (net, grads) in nets(&run).iter().zip(&r.gradients) {
            net.params.flat(gpu)?[1].write(gpu, grads)?;
        }
    }
    gpu.run(&trainer.optimiser_updates(gpu)?)?;
    let mut updated = read_flat(gpu, &run, 0)?;
    updated.extend(read_flat(gpu, &run, 2)?);
    updated.extend(read_flat(gpu, &run, 3)?);
    // Both nets' buffers are in `nets`' order: G's (its gradients from the G step), then D's (from
    // the D step: the G step leaves D's gradients alone).
    let [
        g_step_difference,
        d_step_difference,
        forward_difference,
        update_difference,
    ] = match reference {
        None => [0.0; 4],
        Some(r) => {
            let by_net = largest_differences(&run, &gradients, &r.gradients, true);
            let at = |i: usize| by_net.get(i).copied().unwrap_or(f64::INFINITY);
            [
                at(0),
                at(1),
                largest(&largest_differences(
                    &run,
                    &statistics,
                    &r.statistics,
                    false,
                )),
                largest(&largest_differences(&run, &updated, &r.updated, false)),
            ]
        }
    };
    let dispatches = run.step_dispatches(gpu)?;
    let mut least = vec![f64::INFINITY; dispatches.len()];
    for _ in 0..passes {
        for (i, d) in dispatches.iter().enumerate() {
            if d.product().is_none() {
                least[i] = least[i].min(time_one(gpu, d)?);
            }
        }
    }
    let measurement = LayoutMeasurement {
        by_plane: gpu.by_plane(),
        wide_loads: gpu.wide_loads(),
        ms: least.iter().filter(|ms| ms.is_finite()).sum(),
        d_step_difference,
        g_step_difference,
        forward_difference,
        update_difference,
    };
    log::debug!("{measurement:?}");
    let kept = LayoutReference {
        gradients,
        statistics,
        updated,
    };
    Ok((measurement, kept))
}

/// Measures every candidate on the adapter `options` pick at batch `batch`, and returns the record
/// that runs each product on its fastest agreeing variant (the rest of the record as suits the
/// adapter's kind).
pub fn measure(
    options: &GpuOptions,
    batch: usize,
    mut progress: impl FnMut(TuneProgress),
) -> Result<TuneReport> {
    let started = Instant::now();
    let mut device = Gpu::open_device(options)?;
    let base = Tuning::for_device(&device);
    let candidates = candidates(&device);
    let cpu = device.info.device_type == wgpu::DeviceType::Cpu;
    let passes = if cpu { 0 } else { GPU_TIMING_PASSES };
    // An untimed step first, so that no compile is timed. A GPU driver compiles a pipeline when it is
    // created, so a small batch does. lavapipe compiles at a pipeline's first dispatch, and again for
    // new parameter values where it specialises a kernel on them (Mesa inlines uniforms that bound
    // loops where that shrinks the kernel enough), so there the warm-up runs at the measured batch.
    let warm_up_batch = if cpu { batch } else { batch.min(WARM_UP_BATCH) };
    let mut reference = None;
    let mut measurements = Vec::new();
    for (index, &variant) in candidates.iter().enumerate() {
        progress(TuneProgress::Candidate {
            index,
            count: candidates.len(),
            variant: &variant,
        });
        let gpu = Gpu::with_tuning(
            device,
            Tuning {
                products: variant,
                by_product: BTreeMap::new(),
                ..base.clone()
            },
        );
        let mut measurement = {
            let warm_up = SyntheticRun::new(&gpu, warm_up_batch)?;
            gpu.run(&warm_up.step_dispatches(&gpu)?)?;
            drop(warm_up);
            let mut run = SyntheticRun::new(&gpu, batch)?;
            let (mut m, kept) = checked_step(&gpu, &run, variant, reference.as_ref())?;
            if reference.is_none() {
                reference = Some(kept);
            }
            timing_passes(&gpu, &mut run, &mut m, passes)?;
            m
        };
        measurement.ms.retain(|_, ms| ms.is_finite());
        progress(TuneProgress::Measured(&measurement));
        measurements.push(measurement);
        device = gpu.into_device();
    }
    let products = choose(&base, &measurements);
    let tried = layout_candidates(&products, &device);
    let layout_passes = if cpu {
        CPU_LAYOUT_PASSES
    } else {
        GPU_TIMING_PASSES
    };
    let mut layouts = Vec::new();
    let mut reference = None;
    for (index, layout) in tried.iter().enumerate() {
        progress(TuneProgress::Layout {
            index,
            count: tried.len(),
            layout,
        });
        let gpu = Gpu::with_tuning(device, layout.clone());
        let (measurement, kept) = measure_layout(&gpu, batch, layout_passes, reference.as_ref())?;
        reference.get_or_insert(kept);
        progress(TuneProgress::LayoutMeasured(&measurement));
        layouts.push(measurement);
        device = gpu.into_device();
    }
    let tuning = choose_layout(&products, &layouts);
    Ok(TuneReport {
        batch,
        measurements,
        layouts,
        tuning,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The record that gives each product its fastest variant among those that agreed on it, and every
/// other product the fastest candidate that agreed everywhere (the reference always does).
pub fn choose(base: &Tuning, measurements: &[Measurement]) -> Tuning {
    let agreeing = measurements.iter().filter(|m| m.disagreed.is_empty());
    let products = agreeing
        .min_by(|a, b| a.total_ms().total_cmp(&b.total_ms()))
        .map_or(TILED_4, |m| m.variant);
    let mut by_product = BTreeMap::new();
    let keys: Vec<&String> = measurements.iter().flat_map(|m| m.ms.keys()).collect();
    for key in keys {
        let best = measurements
            .iter()
            .filter(|m| !m.disagreed.contains_key(key))
            .filter_map(|m| m.ms.get(key).map(|ms| (m.variant, *ms)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((variant, _)) = best {
            by_product.insert(key.clone(), variant);
        }
    }
    Tuning {
        products,
        by_product,
        ..base.clone()
    }
}

/// `tuning` with each layout choice taken from the faster of the default layout (`layouts[0]`) and the
/// measurement that flips that choice alone, where the flip agreed with the default.
pub fn choose_layout(tuning: &Tuning, layouts: &[LayoutMeasurement]) -> Tuning {
    let mut chosen = tuning.clone();
    let Some((default, flips)) = layouts.split_first() else {
        return chosen;
    };
    for flip in flips.iter().filter(|m| m.agrees() && m.ms < default.ms) {
        match (
            flip.by_plane != default.by_plane,
            flip.wide_loads != default.wide_loads,
        ) {
            (true, false) => chosen.by_plane = flip.by_plane,
            (false, true) => chosen.wide_loads = flip.wide_loads,
            _ => {}
        }
    }
    chosen
}

/// Whether and how the kernels are tuned when a device opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TuneMode {
    /// Use the stored record; measure when there is none for this adapter and batch size.
    Cached,
    /// The adapter's defaults, nothing stored read.
    Off,
    /// Measure again whatever is stored.
    Force,
}

/// Opens the GPU `options` pick with its tuned kernels: the stored record for it, measured first at
/// `batch` where `mode` says so, `overrides` on top (an override of the products' variant makes
/// measuring pointless, so it skips it). `cache_dir` is where records are stored (`None`: nowhere,
/// and nothing is measured unless forced).
pub fn open(
    options: &GpuOptions,
    overrides: &Overrides,
    mode: TuneMode,
    batch: usize,
    cache_dir: Option<&Path>,
    progress: impl FnMut(TuneProgress),
) -> Result<(Gpu, Option<TuneReport>)> {
    let device = Gpu::open_device(options)?;
    let key = AdapterKey::of(&device.info);
    let overrides_products = overrides.sets_product_variant();
    let stored = match (mode, cache_dir) {
        (TuneMode::Off | TuneMode::Force, _) | (_, None) => None,
        (_, Some(dir)) => cached(dir, &key),
    };
    let measure_now = !overrides_products
        && match mode {
            TuneMode::Force => true,
            TuneMode::Cached => {
                cache_dir.is_some() && stored.as_ref().is_none_or(|e| !e.batches.contains(&batch))
            }
            TuneMode::Off => false,
        };
    let (device, tuning, report) = if measure_now {
        // The tuner opens devices of its own (their buffers count in a device's storage total): this
        // one is reopened after, with nothing measured on it.
        drop(device);
        let report = measure(options, batch, progress)?;
        let tuning = match cache_dir {
            Some(dir) => store(dir, &key, &report)?.tuning,
            None => report.tuning.clone(),
        };
        (Gpu::open_device(options)?, Some(tuning), Some(report))
    } else {
        (device, stored.map(|e| e.tuning), None)
    };
    let tuning = tuning
        .unwrap_or_else(|| Tuning::for_device(&device))
        .with(overrides, &device)
        .map_err(|message| Error::InvalidArgument {
            op: "--kernels",
            message,
        })?;
    Ok((Gpu::with_tuning(device, tuning), report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measurement(variant: Variant, ms: &[(&str, f64)], disagreed: &[&str]) -> Measurement {
        Measurement {
            variant,
            ms: ms.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            disagreed: disagreed.iter().map(|k| (k.to_string(), 1.0)).collect(),
        }
    }

    #[test]
    fn each_product_gets_its_fastest_agreeing_variant() {
        let subgroup = Variant {
            family: Family::Subgroup,
            ..TILED_4
        };
        let block8 = Variant {
            block: 8,
            ..TILED_4
        };
        let measurements = [
            measurement(TILED_4, &[("a", 10.0), ("b", 10.0), ("c", 1.0)], &[]),
            measurement(subgroup, &[("a", 2.0), ("b", 1.0), ("c", 5.0)], &["b"]),
            measurement(block8, &[("a", 3.0), ("b", 4.0), ("c", 4.0)], &[]),
        ];
        let base = Tuning {
            products: TILED_4,
            by_product: BTreeMap::new(),
            by_plane: true,
            wide_loads: false,
        };
        let t = choose(&base, &measurements);
        assert_eq!(t.by_product["a"], subgroup);
        // The subgroup kernel was faster on b but disagreed there.
        assert_eq!(t.by_product["b"], block8);
        assert_eq!(t.by_product["c"], TILED_4);
        // The default: the fastest candidate that agreed everywhere (block8: 11 ms against 21).
        assert_eq!(t.products, block8);
        assert!(t.by_plane);
    }

    /// The lockstep check refuses a product whose output is off by 1% or by 0.1%: one product of the
    /// reference's step, the last, is scaled before a second run of the same kernels is checked
    /// against it; it alone disagrees (its output feeds no later product).
    #[test]
    fn the_check_refuses_an_output_that_differs() {
        let gpu = Gpu::new(&GpuOptions::default()).unwrap();
        let variant = gpu.tuning().products;
        let run = SyntheticRun::new(&gpu, 4).unwrap();
        let (m, clean) = checked_step(&gpu, &run, variant, None).unwrap();
        assert!(m.disagreed.is_empty());
        let last = clean.outputs.iter().rposition(Option::is_some).unwrap();
        let key = clean.keys[last].clone().unwrap();
        for off in [0.01, 0.001] {
            let mut kept = Reference {
                outputs: clean.outputs.clone(),
                keys: clean.keys.clone(),
            };
            for x in kept.outputs[last].as_mut().unwrap() {
                *x *= 1.0 + off as f32;
            }
            let run = SyntheticRun::new(&gpu, 4).unwrap();
            let (m, _) = checked_step(&gpu, &run, variant, Some(&kept)).unwrap();
            assert_eq!(m.disagreed.keys().collect::<Vec<_>>(), [&key], "{off}");
            let expected = off / (1.0 + off);
            assert!(
                (m.disagreed[&key] - expected).abs() < expected * 1e-2,
                "{off}: {:?}",
                m.disagreed
            );
        }
    }

    /// A layout measured at `ms` whose G step's gradients differ from the default's by `g_step`.
    fn layout(by_plane: bool, wide_loads: bool, ms: f64, g_step: f64) -> LayoutMeasurement {
        LayoutMeasurement {
            by_plane,
            wide_loads,
            ms,
            d_step_difference: 0.0,
            g_step_difference: g_step,
            forward_difference: 0.0,
            update_difference: 0.0,
        }
    }

    #[test]
    fn each_layout_choice_goes_to_the_faster_agreeing_layout() {
        let base = Tuning {
            products: TILED_4,
            by_product: BTreeMap::new(),
            by_plane: true,
            wide_loads: true,
        };
        // Across planes is faster but its gradients differ; four-float accesses are faster and agree.
        let layouts = [
            layout(true, true, 100.0, 0.0),
            layout(false, true, 50.0, 0.5),
            layout(true, false, 90.0, 2e-3),
        ];
        let t = choose_layout(&base, &layouts);
        assert!(t.by_plane);
        assert!(!t.wide_loads);
        // Slower flips leave the default; the products are untouched.
        let layouts = [
            layout(true, true, 100.0, 0.0),
            layout(false, true, 150.0, 0.0),
            layout(true, false, 101.0, 0.0),
        ];
        assert_eq!(choose_layout(&base, &layouts), base);
        let refused = LayoutMeasurement {
            update_difference: 1e-3,
            ..layout(false, true, 50.0, 0.0)
        };
        assert!(!refused.agrees());
    }

    /// Every measure a layout is judged by, on either side of its bound: D's BatchNorm1d weight
    /// gradient of the D step (1024 floats of 6.6 million) 0.1% off in the reference is refused; a G
    /// step gradient 0.1% off is within what one crossed kink explains, 1% off is refused; one Adam
    /// moment 0.1% off is refused.
    #[test]
    fn the_layout_check_refuses_a_tensor_that_differs() {
        let gpu = Gpu::new(&GpuOptions::default()).unwrap();
        let (m, clean) = measure_layout(&gpu, 4, 1, None).unwrap();
        assert_eq!(m.differences(), layout(true, true, 0.0, 0.0).differences());
        assert!(m.ms > 0.0);
        let (same, _) = measure_layout(&gpu, 4, 1, Some(&clean)).unwrap();
        assert!(same.agrees(), "{same:?}");
        assert_eq!(
            (same.d_step_difference, same.g_step_difference),
            (0.0, 0.0),
            "the same kernels: {same:?}"
        );

        let run = SyntheticRun::new(&gpu, 4).unwrap();
        // G's buffer is first, D's second (`nets`).
        let scaled = |net: usize, name: &str, factor: f32| {
            let params = &nets(&run)[net].params;
            let entry = params.entry(name).unwrap();
            let start = (entry.offset / 4) as usize;
            let mut kept = LayoutReference {
                gradients: clean.gradients.clone(),
                statistics: clean.statistics.clone(),
                updated: clean.updated.clone(),
            };
            for g in &mut kept.gradients[net][start..start + entry.numel()] {
                *g *= factor;
            }
            measure_layout(&gpu, 4, 1, Some(&kept)).unwrap().0
        };
        let d_off = scaled(1, "fc.1.weight", 1.001);
        assert!(!d_off.agrees(), "{d_off:?}");
        assert!(
            (d_off.d_step_difference - 0.001 / 1.001).abs() < 1e-6,
            "{d_off:?}"
        );
        assert_eq!(d_off.g_step_difference, 0.0);
        // (Adam then runs on the scaled gradients too, so its check refuses both; the G step's
        // measure alone is asserted here.)
        let loudest = "fc.3.weight";
        let g_near = scaled(0, loudest, 1.001);
        assert!(
            (g_near.g_step_difference - 0.001 / 1.001).abs() < 1e-5
                && g_near.g_step_difference <= G_STEP_AGREEMENT,
            "{loudest}: {g_near:?}"
        );
        let g_off = scaled(0, loudest, 1.01);
        assert!(!g_off.agrees(), "{g_off:?}");
        assert!(
            (g_off.g_step_difference - 0.01 / 1.01).abs() < 1e-4
                && g_off.g_step_difference > G_STEP_AGREEMENT,
            "{loudest}: {g_off:?}"
        );

        let mut kept = LayoutReference {
            gradients: clean.gradients.clone(),
            statistics: clean.statistics.clone(),
            updated: clean.updated.clone(),
        };
        let moment = kept.updated.last_mut().unwrap();
        for v in moment.iter_mut() {
            *v *= 1.001;
        }
        let (off, _) = measure_layout(&gpu, 4, 1, Some(&kept)).unwrap();
        assert_eq!((off.d_step_difference, off.g_step_difference), (0.0, 0.0));
        assert!(
            (off.update_difference - 0.001 / 1.001).abs() < 1e-5,
            "{off:?}"
        );
        assert!(!off.agrees());
    }

    #[test]
    fn differences_are_relative_and_catch_lengths_and_nan() {
        assert_eq!(relative_difference(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert!((relative_difference(&[3.0, 4.0], &[0.0, 0.0]) - 5.0).abs() < 1e-12);
        assert!((relative_difference(&[1.1], &[1.0]) - 0.1).abs() < 1e-6);
        assert!(relative_difference(&[1.0], &[1.0, 2.0]).is_infinite());
        assert!(relative_difference(&[f32::NAN], &[1.0]).is_nan());
    }
}
