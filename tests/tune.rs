//! The tuner: every candidate variant agrees with the reference on every product of a real step, every
//! layout of the other kernels with the default layout; the record it chooses covers every product and
//! trains; records are stored, reused, re-measured when damaged or stale; the command line measures once per adapter and batch size, and `--no-tune` and
//! `--kernels` overrides skip it.

mod common;

use std::path::Path;

use common::cli::{assert_success, scratch_dir};
use gan_wgpu::bench::SyntheticRun;
use gan_wgpu::tune::{self, AdapterKey, TuneMode, TuneProgress};
use gan_wgpu::{GpuOptions, Overrides};

const BATCH: usize = 16;

#[test]
fn every_candidate_agrees_and_the_choice_trains() {
    let options = GpuOptions::default();
    let mut seen = Vec::new();
    let report = tune::measure(&options, BATCH, |p| {
        if let TuneProgress::Candidate { variant, .. } = p {
            seen.push(*variant);
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let device = gan_wgpu::Gpu::open_device(&options).unwrap();
    assert_eq!(
        seen,
        tune::candidates(&device),
        "each candidate measured, in order"
    );
    assert_eq!(report.measurements.len(), seen.len());
    let keys: Vec<&String> = report.measurements[0].ms.keys().collect();
    // Every product of the step, forward and backward, of all four layers of each net.
    assert!(keys.len() >= 20, "{keys:?}");
    for m in &report.measurements {
        assert!(
            m.disagreed.is_empty(),
            "{}: differs from the reference on {:?}",
            m.variant,
            m.disagreed
        );
        assert_eq!(m.ms.keys().collect::<Vec<_>>(), keys, "{}", m.variant);
    }
    for key in &keys {
        let chosen = report.tuning.by_product[*key];
        let fastest = report
            .measurements
            .iter()
            .min_by(|a, b| a.ms[*key].total_cmp(&b.ms[*key]))
            .unwrap();
        assert_eq!(chosen, fastest.variant, "{key}");
    }
    // Then the layouts of the other kernels: the default first, each flip the device can run, all
    // computing what the default does here; each choice the faster of its two.
    let default_layout = gan_wgpu::Tuning::for_device(&device);
    let products = gan_wgpu::Tuning {
        by_plane: default_layout.by_plane,
        wide_loads: default_layout.wide_loads,
        ..report.tuning.clone()
    };
    let flips = tune::layout_candidates(&products, &device);
    assert_eq!(report.layouts.len(), flips.len());
    for (m, tried) in report.layouts.iter().zip(&flips) {
        assert_eq!(
            (m.by_plane, m.wide_loads),
            (tried.by_plane, tried.wide_loads)
        );
        assert!(m.agrees(), "{m:?}");
        assert!(m.ms > 0.0, "{m:?}");
    }
    let default = &report.layouts[0];
    for flip in &report.layouts[1..] {
        let faster = if flip.ms < default.ms { flip } else { default };
        if flip.by_plane != default.by_plane {
            assert_eq!(
                report.tuning.by_plane, faster.by_plane,
                "{:?}",
                report.layouts
            );
        } else {
            assert_eq!(
                report.tuning.wide_loads, faster.wide_loads,
                "{:?}",
                report.layouts
            );
        }
    }
    // The tuned record trains: a step on it gives finite losses.
    let gpu = gan_wgpu::Gpu::with_tuning(device, report.tuning.clone());
    let mut run = SyntheticRun::new(&gpu, BATCH).unwrap();
    gpu.run(&run.step_dispatches(&gpu).unwrap()).unwrap();
    run.finish_step();
    let d_loss = run.trainer.d_loss.read(&gpu).unwrap()[0];
    let g_loss = run.trainer.g_loss.read(&gpu).unwrap()[0];
    assert!(
        d_loss.is_finite() && g_loss.is_finite(),
        "{d_loss} {g_loss}"
    );
}

#[test]
fn records_are_stored_merged_and_measured_again_when_damaged_or_stale() {
    let dir = scratch_dir("tune_cache");
    let _ = std::fs::remove_dir_all(&dir);
    let options = GpuOptions::default();
    let measured = std::cell::Cell::new(0);
    let open = |mode, batch, overrides: &Overrides| {
        let (gpu, report) =
            tune::open(&options, overrides, mode, batch, Some(&dir), |_| {}).unwrap();
        if report.is_some() {
            measured.set(measured.get() + 1);
        }
        gpu
    };
    let none = Overrides::default();
    let gpu = open(TuneMode::Cached, BATCH, &none);
    let key = AdapterKey::of(&gpu.info);
    let entry = tune::cached(&dir, &key).expect("stored");
    assert_eq!(entry.batches, [BATCH]);
    assert_eq!(
        *gpu.tuning(),
        entry.tuning,
        "the device runs what was stored"
    );
    drop(gpu);
    assert_eq!(measured.get(), 1);

    // Reused: nothing measured.
    open(TuneMode::Cached, BATCH, &none);
    assert_eq!(measured.get(), 1);
    // --no-tune: the adapter's defaults.
    let defaults = open(TuneMode::Off, BATCH, &none);
    assert!(defaults.tuning().by_product.is_empty());
    drop(defaults);
    // An override of the products' variant leaves nothing to measure, even at a new batch size.
    let tiled: Overrides = "products=tiled".parse().unwrap();
    let gpu = open(TuneMode::Cached, 8, &tiled);
    assert!(gpu.tuning().by_product.is_empty());
    drop(gpu);
    assert_eq!(measured.get(), 1);

    // Another batch size is measured and merged into the same entry.
    open(TuneMode::Cached, 8, &none);
    assert_eq!(measured.get(), 2);
    let entry = tune::cached(&dir, &key).unwrap();
    assert_eq!(entry.batches, [BATCH, 8]);
    assert!(
        entry
            .tuning
            .by_product
            .keys()
            .any(|k| k.starts_with("linear_forward 8x"))
    );
    assert!(
        entry
            .tuning
            .by_product
            .keys()
            .any(|k| k.starts_with("linear_forward 16x"))
    );

    // Damaged: measured again and rewritten.
    let path = tune::cache_path(&dir);
    std::fs::write(&path, b"{ not json").unwrap();
    assert!(tune::cached(&dir, &key).is_none());
    open(TuneMode::Cached, BATCH, &none);
    assert_eq!(measured.get(), 3);
    assert!(tune::cached(&dir, &key).is_some());

    // Stale (another version of the shaders): measured again, the stale entry replaced.
    let text = std::fs::read_to_string(&path).unwrap();
    let stale = text.replace(&key.shaders, "0000000000000000");
    assert_ne!(stale, text);
    std::fs::write(&path, stale).unwrap();
    open(TuneMode::Cached, BATCH, &none);
    assert_eq!(measured.get(), 4);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches("\"adapter\"").count(), 1, "{text}");

    // Another driver's record for the same device (a second Mesa chosen with VK_ICD_FILENAMES) is
    // kept when this driver's is stored, up to three of them, the oldest dropped first.
    let text = std::fs::read_to_string(&path).unwrap();
    let drivers = ["Mesa 90", "Mesa 91", "Mesa 92", "Mesa 93"];
    let mut entries: Vec<serde_json::Value> = Vec::new();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ours = file["entries"][0].clone();
    for driver in drivers {
        let mut other = ours.clone();
        other["key"]["driver_info"] = serde_json::Value::from(driver);
        entries.push(other);
    }
    entries.push(ours);
    let file = serde_json::json!({ "entries": entries });
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    open(TuneMode::Cached, BATCH, &none);
    assert_eq!(
        measured.get(),
        4,
        "this driver's record is found among the others"
    );

    // Forced: measured whatever is stored.
    open(TuneMode::Force, BATCH, &none);
    assert_eq!(measured.get(), 5);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches("\"adapter\"").count(), 4, "{text}");
    assert!(!text.contains("Mesa 90"), "{text}");
    assert!(
        ["Mesa 91", "Mesa 92", "Mesa 93"]
            .iter()
            .all(|d| text.contains(d)),
        "{text}"
    );
}

fn cli(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gan-wgpu"))
        .args(args)
        .env("GAN_WGPU_PIPELINE_CACHE", dir)
        .output()
        .unwrap();
    assert_success(args, &out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_command_line_measures_once_and_says_so() {
    let dir = scratch_dir("tune_cli");
    let _ = std::fs::remove_dir_all(&dir);
    let devices = cli(&dir, &["devices"]);
    assert!(devices.contains("kernels: not measured yet"), "{devices}");
    let bench = ["bench", "--batch-size", "8", "--steps", "1"];
    let first = cli(&dir, &bench);
    assert!(first.contains("measuring"), "{first}");
    assert!(first.contains("kernels measured in"), "{first}");
    assert!(tune::cache_path(&dir).is_file());
    let second = cli(&dir, &bench);
    assert!(!second.contains("measuring"), "{second}");
    let devices = cli(&dir, &["devices"]);
    assert!(devices.contains("kernels measured at batch 8"), "{devices}");
    let forced = cli(&dir, &["tune", "--batch-size", "8"]);
    assert!(forced.contains("measuring"), "{forced}");
    assert!(forced.contains("linear_forward 8x1024x62"), "{forced}");
    let other = ["bench", "--batch-size", "4", "--steps", "1", "--no-tune"];
    assert!(!cli(&dir, &other).contains("measuring"));
    let tiled = [
        "bench",
        "--batch-size",
        "4",
        "--steps",
        "1",
        "--kernels",
        "products=tiled",
    ];
    let out = cli(&dir, &tiled);
    assert!(!out.contains("measuring"), "{out}");
    assert!(out.contains("kernels: products: tiled block 4"), "{out}");
}
