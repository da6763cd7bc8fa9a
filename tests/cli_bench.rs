//! `gan-wgpu bench` runs real steps and reports them, ending with one JSON line.

use std::process::Command;

#[test]
fn bench_reports_timed_steps_as_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_gan-wgpu"))
        .args(["bench", "--batch-size", "4", "--steps", "2"])
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
    assert!(stdout.starts_with("adapter: "));
    let refused = Command::new(env!("CARGO_BIN_EXE_gan-wgpu"))
        .args(["bench", "--batch-size", "1"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
}
