//! `gan-wgpu bench` runs real steps and reports them, ending with one JSON line.

use std::process::Command;

#[test]
fn bench_reports_timed_steps_as_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_gan-wgpu"))
        .args([
            "bench",
            "--batch-size",
            "4",
            "--steps",
            "2",
            "--per-kernel",
            "--first-use",
            "--no-tune",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["batch"], 4);
    assert_eq!(report["steps"], 2);
    let (min, median, max) = (
        report["min_ms"].as_f64().unwrap(),
        report["median_ms"].as_f64().unwrap(),
        report["max_ms"].as_f64().unwrap(),
    );
    assert!(0.0 < min && min <= median && median <= max, "{report}");
    assert!(report["first_step_ms"].as_f64().unwrap() > 0.0);
    // At batch 4 the step's products: G's two big Linear layers alone are 2·4·1024·6272 FLOP per pass.
    let gflop = report["gflop_per_step"].as_f64().unwrap();
    assert!(
        gflop > 6.0 * 2.0 * 4.0 * 1024.0 * 6272.0 / 1e9 && gflop < 10.0,
        "{report}"
    );
    assert!(
        report["device_bytes"].as_u64().unwrap() > 200 << 20,
        "parameters, gradients and Adam alone are 212 MB"
    );
    // Timestamp queries where the adapter has them (lavapipe does), else a wait per dispatch.
    let timing = report["per_kernel_timing"].as_str().unwrap();
    assert!(
        [
            "timestamp queries",
            "each dispatch submitted and waited for"
        ]
        .contains(&timing),
        "{report}"
    );
    assert!(stdout.contains(&format!("per kernel, one step ({timing}):")));
    let kernels = report["per_kernel"].as_array().unwrap();
    assert!(
        kernels.iter().all(|k| k[2].as_f64().unwrap() >= 0.0),
        "{report}"
    );
    assert!(kernels.iter().any(|k| k[0] == "linear_forward"), "{report}");
    let ms: Vec<f64> = kernels.iter().map(|k| k[2].as_f64().unwrap()).collect();
    assert!(ms.windows(2).all(|w| w[0] >= w[1]), "largest first: {ms:?}");
    // The first-use pass times the same step's dispatches, one by one, before anything else ran.
    let first_use = report["first_use"].as_array().unwrap();
    let counts = |list: &[serde_json::Value]| {
        let mut c: Vec<(String, u64)> = list
            .iter()
            .map(|k| (k[0].as_str().unwrap().to_string(), k[1].as_u64().unwrap()))
            .collect();
        c.sort();
        c
    };
    assert_eq!(counts(first_use), counts(kernels), "{report}");
    assert!(
        first_use.iter().all(|k| k[2].as_f64().unwrap() > 0.0),
        "{report}"
    );
    assert!(stdout.contains("first use per kernel, one step"));
    assert!(stdout.starts_with("adapter: "));
    let refused = Command::new(env!("CARGO_BIN_EXE_gan-wgpu"))
        .args(["bench", "--batch-size", "1"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
}

mod common;

use common::cli::{assert_success, gan_wgpu_command, scratch_dir};

/// Runs a batch-4 bench with no timed steps with `env` set (or, for `None`, removed); returns the
/// report's backend.
fn quick_bench(env: &[(&str, Option<&std::path::Path>)]) -> String {
    let args = ["bench", "--batch-size", "4", "--steps", "0"];
    let mut command = gan_wgpu_command(&args);
    for (key, value) in env {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let out = command.output().unwrap();
    assert_success(&args, &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    report["backend"].as_str().unwrap().to_string()
}

fn cache_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

// The driver's pipeline cache (Vulkan has them): written on the first run, read back unchanged on the
// second, replaced when the file holds garbage; by default under $XDG_CACHE_HOME/gan-wgpu, and not
// at all with GAN_WGPU_PIPELINE_CACHE=off.
#[test]
fn the_pipeline_cache_is_written_reused_and_survives_garbage() {
    let dir = scratch_dir("pipeline_cache");
    let backend = quick_bench(&[("GAN_WGPU_PIPELINE_CACHE", Some(&dir))]);
    let files = cache_files(&dir);
    if backend != "Vulkan" {
        assert!(
            files.is_empty(),
            "{backend} has no pipeline caches: {files:?}"
        );
        common::report::note(
            common::report::Note::Skipped,
            "the_pipeline_cache_is_written_reused_and_survives_garbage",
            &format!("{backend} keeps no pipeline cache: only its absence was checked"),
        );
        return;
    }
    assert_eq!(files.len(), 1, "{files:?}");
    let file = &files[0];
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    assert!(name.starts_with("wgpu_pipeline_cache_vulkan_"), "{name}");
    let first = std::fs::read(file).unwrap();
    assert!(!first.is_empty());

    quick_bench(&[("GAN_WGPU_PIPELINE_CACHE", Some(&dir))]);
    assert_eq!(
        std::fs::read(file).unwrap(),
        first,
        "read back, not rewritten"
    );
    assert_eq!(cache_files(&dir).len(), 1, "no temporaries left");

    let garbage = vec![0x5a; first.len()];
    std::fs::write(file, &garbage).unwrap();
    quick_bench(&[("GAN_WGPU_PIPELINE_CACHE", Some(&dir))]);
    assert_ne!(std::fs::read(file).unwrap(), garbage, "garbage is replaced");

    let home = scratch_dir("pipeline_cache_home");
    quick_bench(&[
        ("GAN_WGPU_PIPELINE_CACHE", None),
        ("XDG_CACHE_HOME", Some(&home)),
    ]);
    assert_eq!(
        cache_files(&home.join("gan-wgpu")).len(),
        1,
        "the default place"
    );
    let home = scratch_dir("pipeline_cache_off");
    quick_bench(&[
        ("GAN_WGPU_PIPELINE_CACHE", Some(std::path::Path::new("off"))),
        ("XDG_CACHE_HOME", Some(&home)),
    ]);
    assert!(!home.join("gan-wgpu").exists(), "off writes nothing");
}
