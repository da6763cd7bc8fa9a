//! gan-wgpu under the Khronos validation layer (Debian's `vulkan-validationlayers`) with synchronization
//! validation: a real GPU forgives less than lavapipe (a missing barrier between two dispatches that
//! share a buffer, a wrong descriptor), and this layer is the nearest check of that on a machine
//! without one. A few training steps of both nets with an epoch end (grid, checkpoints, training state),
//! on the adapter's default kernels and on the split tiles (whose reductions add dispatches and
//! barriers), then `sample` from the run: the layer must raise no message at all.
//!
//! The layer writes its messages to a log file of the test's own (a layer settings file, which every
//! version of the layer reads, names it), at every severity: its one informational message at instance
//! creation says the layer is active with synchronization validation on, which the test requires, so
//! a layer that did not load cannot pass for a clean run. `WGPU_VALIDATION=1` has wgpu enable the layer,
//! which gan-wgpu leaves off unless asked (it slows each dispatch many times over).

mod common;

use std::path::{Path, PathBuf};

use common::cli::{assert_success, gan_wgpu_command, scratch_dir, small_mnist};
use common::report::{self, Note};

const LAYER: &str = "VK_LAYER_KHRONOS_validation";
const STATUS_MESSAGE: &str = "UNASSIGNED-khronos-validation-createinstance-status-message";
const SYNC_ENABLED: &str = "VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION";

/// Where the layer's manifest may be, as the Vulkan loader searches (system folders, `VK_LAYER_PATH`).
fn layer_installed() -> bool {
    let mut dirs: Vec<PathBuf> = ["/usr/share", "/usr/local/share", "/etc"]
        .iter()
        .map(|d| Path::new(d).join("vulkan/explicit_layer.d"))
        .collect();
    if let Some(extra) = std::env::var_os("VK_LAYER_PATH") {
        dirs.extend(std::env::split_paths(&extra));
    }
    dirs.iter().any(|d| {
        std::fs::read_dir(d).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|text| text.contains(LAYER)))
        })
    })
}

/// The messages in a layer log, each as its first line (`<id>(<SEVERITY> / <TYPE>): msgNum: …`),
/// with their continuation lines appended.
fn messages(log: &str) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for line in log.lines() {
        if line.contains("): msgNum: ") {
            all.push(line.to_string());
        } else if let Some(last) = all.last_mut() {
            last.push('\n');
            last.push_str(line);
        }
    }
    all
}

/// What a validated run's log must show: the layer's status message with synchronization validation
/// enabled, and no other message. Err names what is wrong.
fn judge(log: &str) -> Result<usize, String> {
    let all = messages(log);
    let (status, others): (Vec<&String>, Vec<&String>) =
        all.iter().partition(|m| m.starts_with(STATUS_MESSAGE));
    if status.is_empty() {
        return Err(format!(
            "the layer's status message is missing: the layer did not run\n{log}"
        ));
    }
    if !status.iter().all(|m| m.contains(SYNC_ENABLED)) {
        return Err(format!(
            "synchronization validation is not enabled: {status:#?}"
        ));
    }
    if !others.is_empty() {
        return Err(format!(
            "{} message(s) from the layer: {others:#?}",
            others.len()
        ));
    }
    Ok(status.len())
}

/// Runs gan-wgpu with `args` under the layer with the validation features `enables`; returns the
/// layer's log.
fn validated(dir: &Path, name: &str, args: &[&str], enables: &str) -> String {
    let log = dir.join(format!("{name}.layer.log"));
    let settings = dir.join(format!("{name}.vk_layer_settings.txt"));
    std::fs::write(
        &settings,
        format!(
            "khronos_validation.report_flags = error,warn,perf,info\n\
             khronos_validation.debug_action = VK_DBG_LAYER_ACTION_LOG_MSG\n\
             khronos_validation.log_filename = {}\n\
             khronos_validation.enables = {enables}\n",
            log.display()
        ),
    )
    .unwrap();
    let _ = std::fs::remove_file(&log);
    // WGPU_DEBUG=0: a debug build's SPIR-V carries its WGSL source (OpSource, source language 10),
    // which Debian 12's layer (1.3.239) does not know and reports for every shader module.
    let out = gan_wgpu_command(args)
        .env("WGPU_VALIDATION", "1")
        .env("WGPU_DEBUG", "0")
        .env("VK_INSTANCE_LAYERS", LAYER)
        .env("VK_LAYER_ENABLES", format!("{SYNC_ENABLED}_EXT"))
        .env("VK_LAYER_SETTINGS_PATH", &settings)
        .output()
        .unwrap();
    assert_success(args, &out);
    std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()))
}

/// The layer's check, or a note that this machine cannot run it.
fn layer_or_skip(test: &str) -> bool {
    if layer_installed() {
        return true;
    }
    report::note(
        Note::Skipped,
        test,
        "no Khronos validation layer (Debian: apt-get install vulkan-validationlayers)",
    );
    false
}

/// `train` for one epoch of the digits in `data` at batch 4, into `out`.
fn one_epoch(data: &Path, out: &Path) -> Vec<String> {
    let (data, out) = (data.to_str().unwrap(), out.to_str().unwrap());
    [
        "train",
        "--data-dir",
        data,
        "--batch-size",
        "4",
        "--epochs",
        "1",
        "--sample-epochs",
        "1",
        "--out",
        out,
    ]
    .map(String::from)
    .to_vec()
}

const SYNC_ONLY: &str = "VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT";

// Four steps of both nets at batch 4 and epoch 1's end, on the default kernels and on 8×8 tiles with
// K split and slices loaded ahead; `sample` from the first run's G.
#[test]
fn training_and_sampling_raise_no_validation_message() {
    let test = "training_and_sampling_raise_no_validation_message";
    if !layer_or_skip(test) {
        return;
    }
    let data = small_mnist("vulkan_layers_data", 16);
    let dir = scratch_dir("vulkan_layers");
    let runs: [(&str, &[&str]); 2] = [
        ("default", &[]),
        (
            "split",
            &[
                "--kernels",
                "products=tiled,block=8,prefetch=on,split-k=65536",
            ],
        ),
    ];
    for (name, extra) in runs {
        let mut args = one_epoch(&data, &dir.join(name));
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let log = validated(&dir, name, &args, SYNC_ONLY);
        judge(&log).unwrap_or_else(|e| panic!("train ({name} kernels): {e}"));
    }
    let run = dir.join("default");
    let png = dir.join("sample.png");
    let args = [
        "sample",
        "--run",
        run.to_str().unwrap(),
        "--seed",
        "7",
        "--out",
        png.to_str().unwrap(),
    ];
    let log = validated(&dir, "sample", &args, SYNC_ONLY);
    judge(&log).unwrap_or_else(|e| panic!("sample: {e}"));
    report::note(
        Note::Ran,
        test,
        "train (default and split kernels) and sample: the layer active with synchronization \
         validation, no message",
    );
}

// The check above fails on a message the layer raises: with the best-practices checks on as well,
// the layer warns about how gan-wgpu uses Vulkan (advice, not errors), and `judge` refuses the log.
#[test]
fn a_message_from_the_layer_fails_the_check() {
    if !layer_or_skip("a_message_from_the_layer_fails_the_check") {
        return;
    }
    let data = small_mnist("vulkan_layers_advice_data", 8);
    let dir = scratch_dir("vulkan_layers_advice");
    let args = one_epoch(&data, &dir.join("run"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let log = validated(
        &dir,
        "advice",
        &args,
        &format!("{SYNC_ONLY},VK_VALIDATION_FEATURE_ENABLE_BEST_PRACTICES_EXT"),
    );
    let refused = judge(&log).unwrap_err();
    assert!(refused.contains("message(s) from the layer"), "{refused}");
    assert!(refused.contains("BestPractices"), "{refused}");
}

#[test]
fn a_log_without_the_status_message_is_refused() {
    assert!(judge("").unwrap_err().contains("did not run"));
    let status =
        format!("{STATUS_MESSAGE}(INFO / SPEC): msgNum: 1 - Khronos Validation Layer Active:");
    let without_sync = format!("{status}\n    Current Enables: None.\n");
    assert!(judge(&without_sync).unwrap_err().contains("not enabled"));
    let with_sync = format!("{status}\n    Current Enables: {SYNC_ENABLED}.\n");
    assert_eq!(judge(&with_sync), Ok(1));
}
