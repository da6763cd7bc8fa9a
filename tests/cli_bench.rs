//! `gan-wgpu bench` runs real steps and reports them, ending with one JSON line.

use std::process::Command;

#[test]
fn bench_reports_timed_steps_as_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_gan-wgpu"))
        .args(["bench", "--batch-size", "4", "--steps", "2", "--per-kernel"])
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
    assert!(stdout.starts_with("adapter: "));
    let refused = Command::new(env!("CARGO_BIN_EXE_gan-wgpu"))
        .args(["bench", "--batch-size", "1"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
}
