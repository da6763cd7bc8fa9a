//! A command that succeeds prints no line that says "error" or "warning": README's commands on a
//! machine without a desktop session (a server, a container, CI), where Mesa's device-selection Vulkan
//! layer used to make libwayland print "error: XDG_RUNTIME_DIR is invalid or not set in the
//! environment." two to four times a command.

mod common;

use std::process::Output;

use common::cli::{gan_wgpu_command, scratch_dir, small_mnist};

/// Runs gan-wgpu as a user's shell without a desktop session would (the test runner's own
/// `NODEVICE_SELECT`, from .cargo/config.toml, removed); checks that it succeeded quietly.
fn run_quietly(args: &[&str]) -> Output {
    let out = gan_wgpu_command(args)
        .env_remove("NODEVICE_SELECT")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    for line in stdout.lines().chain(stderr.lines()) {
        let lower = line.to_lowercase();
        assert!(
            !lower.contains("error") && !lower.contains("warning"),
            "{args:?} succeeded but printed: {line}"
        );
    }
    out
}

#[test]
fn successful_commands_print_no_error_or_warning() {
    let data = small_mnist("quiet_data", 24);
    let out = scratch_dir("quiet_run");
    let _ = std::fs::remove_dir_all(&out);
    run_quietly(&["devices"]);
    run_quietly(&[
        "train",
        "--data-dir",
        data.to_str().unwrap(),
        "--batch-size",
        "8",
        "--epochs",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let grid = out.join("sample.png");
    run_quietly(&[
        "sample",
        "--run",
        out.to_str().unwrap(),
        "--out",
        grid.to_str().unwrap(),
    ]);
    assert!(grid.exists());
    run_quietly(&["score", "--run", out.to_str().unwrap(), "--count", "64"]);
    run_quietly(&[
        "classifier",
        "--data-dir",
        data.to_str().unwrap(),
        "--batch-size",
        "8",
        "--held-out",
        "8",
        "--epochs",
        "1",
        "--out",
        out.join("classifier.safetensors").to_str().unwrap(),
    ]);
    run_quietly(&["bench", "--batch-size", "8", "--steps", "1"]);
}
