//! Training that survives: SIGKILL at random moments, Ctrl-C and SIGTERM, a planted NaN, write
//! errors and a full disk, a lost device. After each, the files on disk parse, and a resumed run ends
//! bit-identical to one never disturbed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::cli::{
    assert_failure, assert_success, gan_wgpu, gan_wgpu_command, scratch_dir, small_mnist,
};
use gan_wgpu::state;

/// 16 digits at batch 4: 4 steps an epoch, 2 epochs, a grid and checkpoints after each.
const EPOCHS: usize = 2;
const STEPS_PER_EPOCH: u64 = 4;

fn data() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| small_mnist("survival_data", 16))
}

fn train_args(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "train",
        "--data-dir",
        data().to_str().unwrap(),
        "--batch-size",
        "4",
        "--epochs",
        "2",
        "--sample-epochs",
        "1,2",
        "--seed",
        "11",
        "--out",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn resume_args(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "train",
        "--data-dir",
        data().to_str().unwrap(),
        "--resume",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The files a finished run leaves, compared byte for byte between runs.
const RESULT_FILES: [&str; 8] = [
    "epoch_001.png",
    "epoch_002.png",
    "G_001.safetensors",
    "D_001.safetensors",
    "G_002.safetensors",
    "D_002.safetensors",
    "history.json",
    "state.safetensors",
];

/// The run never disturbed, made once per test binary.
fn reference() -> &'static Path {
    static REFERENCE: OnceLock<PathBuf> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let out = scratch_dir("survival_reference");
        let args = train_args(&out, &[]);
        assert_success(&strs(&args), &gan_wgpu(&strs(&args)));
        out
    })
}

fn assert_same_as_reference(out: &Path, what: &str) {
    for file in RESULT_FILES {
        let a = std::fs::read(reference().join(file)).unwrap();
        let b = std::fs::read(out.join(file)).unwrap_or_else(|e| panic!("{what}: {file}: {e}"));
        assert!(a == b, "{what}: {file} differs from the undisturbed run's");
    }
    let leftovers: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "{what}: temporary files left: {leftovers:?}"
    );
}

/// Every file gan-wgpu wrote in `out` (temporaries aside) parses.
fn assert_every_file_parses(out: &Path, what: &str) {
    for entry in std::fs::read_dir(out).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with('.') {
            continue; // a temporary a kill interrupted; never read, removed by the next start
        }
        let bytes = std::fs::read(&path).unwrap();
        if name.ends_with(".png") {
            image::load_from_memory(&bytes)
                .unwrap_or_else(|e| panic!("{what}: {name} does not decode: {e}"));
        } else if name == "state.safetensors" {
            state::read_run(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
            safetensors::SafeTensors::deserialize(&bytes)
                .unwrap_or_else(|e| panic!("{what}: {name}: {e}"));
        } else if name.ends_with(".safetensors") {
            safetensors::SafeTensors::deserialize(&bytes)
                .unwrap_or_else(|e| panic!("{what}: {name}: {e}"));
        } else if name == "history.json" {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .unwrap_or_else(|e| panic!("{what}: {name}: {e}"));
        } else {
            panic!("{what}: unexpected file {name}");
        }
    }
}

fn spawn(args: &[String]) -> Child {
    gan_wgpu_command(&strs(args))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// Steps the state in `out` has done, if there is one.
fn steps_saved(out: &Path) -> Option<u64> {
    state::read_run(&state::state_path(out))
        .ok()
        .map(|r| r.steps_done)
}

/// SplitMix64: reproducible "random" kill moments (GAN_WGPU_SOAK_SEED picks another sequence).
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        lo + z % (hi - lo)
    }
}

/// Where a SIGKILL lands, told by the last line the run printed before it (its progress lines: the
/// debug log's "submitted" per step and the state writer's "writing"/"wrote", stdout's epoch lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// After a step is submitted, before the next event: the GPU is running it.
    InsideAStep,
    /// After an epoch's loss line, before its grid and both checkpoints are all written.
    EpochEndWrites,
    /// After the state writer thread has opened its temporary file, before it is renamed into place
    /// (the kill leaves the temporary behind).
    StateWriterWrite,
    /// A resumed run after its "resuming" line, before its first step is submitted.
    ResumeStart,
}

const PHASES: [Phase; 4] = [
    Phase::InsideAStep,
    Phase::EpochEndWrites,
    Phase::StateWriterWrite,
    Phase::ResumeStart,
];

impl Phase {
    /// Whether `line` starts the phase.
    fn starts_at(self, line: &str) -> bool {
        match self {
            Phase::InsideAStep => line.contains("submitted"),
            Phase::EpochEndWrites => line.contains("D_loss"),
            Phase::StateWriterWrite => line.contains("writing the training state"),
            Phase::ResumeStart => line.contains("resuming the run"),
        }
    }

    /// Whether `line`, printed after the phase started, ends it (the kill then landed later). The
    /// writer's write runs beside the steps that follow: only its own "wrote" ends it.
    fn ended_by(self, line: &str) -> bool {
        match self {
            Phase::StateWriterWrite => line.contains("wrote") && line.contains("state.safetensors"),
            Phase::InsideAStep | Phase::ResumeStart => {
                line.contains("submitted")
                    || line.contains("writing the training state")
                    || line.contains("D_loss")
            }
            // The grid, then G's and D's checkpoints.
            Phase::EpochEndWrites => line.contains("D_0"),
        }
    }
}

/// A run whose stdout and stderr lines arrive, in order per stream, on one channel.
struct Watched {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

fn spawn_watched(args: &[String]) -> Watched {
    use std::io::BufRead;
    let mut child = gan_wgpu_command(&strs(args))
        .env("RUST_LOG", "gan_wgpu=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (send, lines) = std::sync::mpsc::channel();
    let stdout: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
    let stderr: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
    for stream in [stdout, stderr] {
        let send = send.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
    }
    Watched { child, lines }
}

/// SIGKILL at 20 and more moments of a training run, every one after training has begun, aimed at
/// each phase in turn: inside a step, during an epoch end's grid and checkpoint writes, during the
/// state writer thread's write, and during a resumed run's start. A kill counts as a hit on its phase
/// when the run printed nothing after the phase's first line (for the writer, when its temporary file
/// is left); each phase is hit at least twice. After every kill every file parses; the run is resumed
/// each time, and each round that reaches the end is byte-identical to the undisturbed run.
#[test]
fn sigkill_in_every_phase_never_costs_the_run() {
    let out = scratch_dir("survival_sigkill");
    let seed = std::env::var("GAN_WGPU_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2026);
    let mut moments = Moments(seed);
    let finished = |out: &Path| steps_saved(out) == Some(EPOCHS as u64 * STEPS_PER_EPOCH);
    let temporary_state = |out: &Path| {
        std::fs::read_dir(out).unwrap().flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".state.safetensors.tmp")
        })
    };
    let mut hits: std::collections::BTreeMap<Phase, usize> = Default::default();
    let (mut kills, mut rounds, mut attempt) = (0, 0, 0);
    let _ = std::fs::remove_file(state::state_path(&out));
    while kills < 20 || PHASES.iter().any(|p| hits.get(p).copied().unwrap_or(0) < 2) {
        assert!(
            attempt < 200,
            "{kills} kills, hits {hits:?}: the phases are not being reached"
        );
        attempt += 1;
        let phase = PHASES[attempt % PHASES.len()];
        if finished(&out) {
            // A round reached its end: byte for byte the undisturbed run. The next one starts afresh,
            // in an empty folder.
            rounds += 1;
            assert_same_as_reference(&out, &format!("round {rounds}, after {kills} kills"));
            std::fs::remove_dir_all(&out).unwrap();
            std::fs::create_dir_all(&out).unwrap();
        }
        let resuming = steps_saved(&out).is_some() && !finished(&out);
        if phase == Phase::ResumeStart && !resuming {
            // A fresh run first: kill it inside its second step (training has begun).
            let args = train_args(&out, &["--checkpoint-every", "1", "--overwrite"]);
            let watched = spawn_watched(&args);
            kill_at(watched, Phase::InsideAStep, 1, &out, &mut kills);
            continue;
        }
        let args = if resuming {
            resume_args(&out, &["--checkpoint-every", "1"])
        } else {
            train_args(&out, &["--checkpoint-every", "1", "--overwrite"])
        };
        // Which occurrence of the phase's line to kill at: spread over the run.
        let skip = if phase == Phase::ResumeStart {
            0
        } else {
            moments.next_ms(0, 3) as usize
        };
        let watched = spawn_watched(&args);
        // None: the run ended first (the next attempt compares it).
        if let Some(landed_in_phase) = kill_at(watched, phase, skip, &out, &mut kills) {
            let hit =
                landed_in_phase && (phase != Phase::StateWriterWrite || temporary_state(&out));
            eprintln!(
                "kill {kills}: {phase:?} (line {}), {}",
                skip + 1,
                if hit { "hit" } else { "landed later" }
            );
            if hit {
                *hits.entry(phase).or_default() += 1;
            }
        }
    }
    // The last round, resumed to its end (or started again, when it was killed before its first save).
    if !finished(&out) {
        let args = if steps_saved(&out).is_some() {
            resume_args(&out, &["--checkpoint-every", "1"])
        } else {
            train_args(&out, &["--checkpoint-every", "1", "--overwrite"])
        };
        assert_success(&strs(&args), &gan_wgpu(&strs(&args)));
    }
    assert_same_as_reference(&out, &format!("the last round, after {kills} kills"));
    eprintln!(
        "{kills} kills over {} rounds; hits per phase: {hits:?}",
        rounds + 1
    );
}

/// Waits for the `skip + 1`-th line that starts `phase`, sends SIGKILL at once, and reads what the run
/// printed after that line: `Some(true)` when nothing ended the phase first (the kill landed in it),
/// `None` when the run finished without reaching the line (it must have succeeded). Every file parses
/// after a kill.
fn kill_at(
    watched: Watched,
    phase: Phase,
    skip: usize,
    out: &Path,
    kills: &mut usize,
) -> Option<bool> {
    let Watched { mut child, lines } = watched;
    let mut seen = 0;
    let triggered = loop {
        match lines.recv() {
            Ok(line) if phase.starts_at(&line) => {
                if seen == skip {
                    break true;
                }
                seen += 1;
            }
            Ok(_) => {}
            Err(_) => break false, // both streams closed: the run ended
        }
    };
    if !triggered {
        let status = child.wait().unwrap();
        assert!(
            status.success(),
            "a run ended without reaching {phase:?}: {status}"
        );
        return None;
    }
    signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    *kills += 1;
    let later: Vec<String> = lines.iter().collect();
    assert_every_file_parses(out, &format!("after kill {kills} ({phase:?})"));
    Some(!later.iter().any(|l| phase.ended_by(l)))
}

/// Waits until `output` (a child's stdout or stderr) gives a line containing `text`.
fn wait_for_line(output: impl std::io::Read, text: &str) {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(output);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the run ended before printing `{text}`"
        );
        if line.contains(text) {
            return;
        }
    }
}

#[test]
fn ctrl_c_and_sigterm_save_a_state_that_resumes_bit_exactly() {
    let out = scratch_dir("survival_sigint");
    // Ctrl-C once epoch 1 is written: the step in progress finishes, its state is saved.
    let args = train_args(&out, &[]);
    let mut child = spawn(&args);
    wait_for_line(child.stdout.as_mut().unwrap(), "wrote");
    signal(&child, libc::SIGINT);
    let stopped = child.wait_with_output().unwrap();
    let message = assert_failure(
        "SIGINT",
        &stopped,
        130,
        &[
            "stopped by Ctrl-C (SIGINT)",
            "--resume",
            out.to_str().unwrap(),
        ],
    );
    let saved = state::read_run(&state::state_path(&out)).expect("a state after Ctrl-C");
    let after_sigint = saved.steps_done;
    let position = if saved.steps_into_epoch > 0 {
        (saved.epochs_done + 1, saved.steps_into_epoch)
    } else {
        (saved.epochs_done, STEPS_PER_EPOCH as usize)
    };
    assert!(
        message.contains(&format!(
            "after epoch {}, step {}/{STEPS_PER_EPOCH}",
            position.0, position.1
        )),
        "{message} (state at step {after_sigint})"
    );
    // SIGTERM in the resumed run, once its first step is submitted (its debug log says so).
    let args = resume_args(&out, &[]);
    let mut child = gan_wgpu_command(&strs(&args))
        .env("RUST_LOG", "gan_wgpu=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_line(child.stderr.as_mut().unwrap(), "submitted");
    signal(&child, libc::SIGTERM);
    let stopped = child.wait_with_output().unwrap();
    assert_failure(
        "SIGTERM",
        &stopped,
        143,
        &["stopped by SIGTERM", "--resume"],
    );
    assert!(steps_saved(&out).unwrap() > after_sigint);
    let args = resume_args(&out, &[]);
    assert_success(&strs(&args), &gan_wgpu(&strs(&args)));
    assert_same_as_reference(&out, "interrupted twice and resumed");
}

#[test]
fn a_nan_stops_the_run_at_once_and_keeps_the_last_good_state() {
    let out = scratch_dir("survival_nan");
    // A NaN planted before step 7 (epoch 2, step 3); states are saved every 2 steps.
    let args = train_args(
        &out,
        &["--checkpoint-every", "2", "--inject-nan-at-step", "7"],
    );
    let run = gan_wgpu(&strs(&args));
    assert_failure(
        "planted NaN",
        &run,
        3,
        &[
            "training diverged at step 7 (epoch 2, step 3)",
            "D's",
            "NaN or Inf",
            "after epoch 1 and 2 steps of epoch 2 is kept",
        ],
    );
    assert_eq!(steps_saved(&out), Some(6));
    assert_every_file_parses(&out, "after the NaN");
    // The kept state is good: resumed without the NaN, the run ends as the undisturbed one.
    let args = resume_args(&out, &[]);
    assert_success(&strs(&args), &gan_wgpu(&strs(&args)));
    assert_same_as_reference(&out, "resumed after a NaN");

    // A learning rate of 1e30 overflows in the first step: nothing is saved, the run says so.
    let out = scratch_dir("survival_huge_lr");
    let args = train_args(&out, &["--lr", "1e30"]);
    let run = gan_wgpu(&strs(&args));
    assert_failure(
        "lr 1e30",
        &run,
        3,
        &[
            "training diverged at step 1",
            "no training state had been saved yet",
        ],
    );
    assert!(!out.join("state.safetensors").exists());
}

#[test]
fn a_write_error_names_the_file_and_keeps_the_saved_state() {
    let out = scratch_dir("survival_write_error");
    // history.json cannot be replaced when a folder has its name: epoch 1's end fails.
    std::fs::create_dir(out.join("history.json")).unwrap();
    let args = train_args(&out, &["--checkpoint-every", "1"]);
    let run = gan_wgpu(&strs(&args));
    let history = out.join("history.json");
    assert_failure(
        "history.json is a folder",
        &run,
        1,
        &[
            history.to_str().unwrap(),
            "after epoch 0 and 3 steps of epoch 1 is kept",
        ],
    );
    assert_eq!(steps_saved(&out), Some(3));
    std::fs::remove_dir(&history).unwrap();
    assert_every_file_parses(&out, "after the write error");
}

/// Mounts a tmpfs of `megabytes` at `dir`, if this machine lets the test (root, no sandbox).
fn small_disk(dir: &Path, megabytes: u32) -> bool {
    std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
        .arg(dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_full_disk_is_reported_with_the_path_and_the_saved_state_survives() {
    let disk = scratch_dir("survival_full_disk");
    let out = disk.join("run");
    let state_file = out.join("state.safetensors");
    if small_disk(&disk, 200) {
        // The training state is 158 MB: the first fits, the second (written beside it) does not.
        let args = train_args(&out, &["--checkpoint-every", "1"]);
        let run = gan_wgpu(&strs(&args));
        let checked = std::panic::catch_unwind(|| {
            assert_failure(
                "full disk",
                &run,
                1,
                &[
                    state_file.to_str().unwrap(),
                    "No space left on device",
                    "after epoch 0 and 1 steps of epoch 1 is kept",
                ],
            );
            assert_eq!(steps_saved(&out), Some(1));
            assert_every_file_parses(&out, "on a full disk");
            let names: Vec<_> = std::fs::read_dir(&out)
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect();
            assert!(
                !names.iter().any(|n| n.to_string_lossy().starts_with('.')),
                "{names:?}"
            );
        });
        let _ = std::process::Command::new("umount").arg(&disk).status();
        if let Err(panic) = checked {
            std::panic::resume_unwind(panic);
        }
        return;
    }
    // Without a mount: the disk "fills" once the first state is saved.
    common::report::note(
        common::report::Note::FellBack,
        "a_full_disk_is_reported_with_the_path_and_the_saved_state_survives",
        "no tmpfs could be mounted here: a file-size limit after the first save stands in for it",
    );
    file_size_limit_after_the_first_save(&out, "no tmpfs: a file-size limit after the first save");
}

/// A run whose process may write no file over 100 MB once its first training state (158 MB) is on
/// disk (prlimit(2) on the running process: the disk filling after a save, without mount rights). The
/// next state fails to write: the run stops with exit 1 naming the file and the cause, the state
/// saved before stays whole, and resuming from it ends bit-identical to the undisturbed run.
fn file_size_limit_after_the_first_save(out: &Path, what: &str) {
    use std::os::unix::process::CommandExt;
    let state_file = out.join("state.safetensors");
    let args = train_args(out, &["--checkpoint-every", "1"]);
    let mut command = gan_wgpu_command(&strs(&args));
    command
        .env("RUST_LOG", "gan_wgpu=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec. An ignored SIGXFSZ survives exec:
    // a write past the limit then fails with EFBIG instead of killing the process.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    wait_for_line(child.stderr.as_mut().unwrap(), "training state saved");
    // The state goes to disk on the writer thread: wait for it to be renamed into place.
    let waited = Instant::now();
    while !state_file.exists() {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "{what}: no state"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let limit = libc::rlimit {
        rlim_cur: 100 << 20,
        rlim_max: 100 << 20,
    };
    // SAFETY: prlimit(2) on our own child's pid with a valid rlimit.
    let set = unsafe {
        libc::prlimit(
            child.id() as i32,
            libc::RLIMIT_FSIZE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(
        set,
        0,
        "{what}: prlimit: {}",
        std::io::Error::last_os_error()
    );
    let run = child.wait_with_output().unwrap();
    let saved = steps_saved(out).expect("the state saved before the limit");
    assert!(saved >= 1, "{what}: state at step {saved}");
    let kept = format!(
        "after epoch {} and {} steps of epoch {} is kept",
        (saved - 1) / STEPS_PER_EPOCH,
        (saved - 1) % STEPS_PER_EPOCH + 1,
        (saved - 1) / STEPS_PER_EPOCH + 1
    );
    let kept = if saved.is_multiple_of(STEPS_PER_EPOCH) {
        format!("after epoch {} is kept", saved / STEPS_PER_EPOCH)
    } else {
        kept
    };
    assert_failure(
        what,
        &run,
        1,
        &[state_file.to_str().unwrap(), "File too large", &kept],
    );
    assert_every_file_parses(out, what);
    let args = resume_args(out, &[]);
    assert_success(&strs(&args), &gan_wgpu(&strs(&args)));
    assert_same_as_reference(out, &format!("{what}, resumed"));
}

#[test]
fn a_disk_filling_after_a_save_keeps_that_state_and_resumes_bit_exactly() {
    let out = scratch_dir("survival_file_size_limit");
    file_size_limit_after_the_first_save(&out, "file-size limit after the first save");
}

#[test]
fn a_lost_device_stops_the_run_and_keeps_the_saved_state() {
    use gan_wgpu::data::Dataset;
    use gan_wgpu::train::{CheckpointEvery, TrainConfig, train};
    use std::ops::ControlFlow;

    let gpu = gan_wgpu::Gpu::new(&gan_wgpu::GpuOptions::default()).unwrap();
    let out = scratch_dir("survival_device_lost");
    let config = TrainConfig {
        hyper: gan_wgpu::step::Hyper {
            batch: 4,
            ..Default::default()
        },
        epochs: 2,
        seed: 3,
        out: out.clone(),
        sample_epochs: vec![],
        resume: false,
        checkpoint_every: CheckpointEvery::Steps(1),
        inject_nan_at_step: None,
        stop_after: None,
        scoring: None,
    };
    let set = Dataset::load_dir(data()).unwrap();
    let result = train(&gpu, &config, &set, |event| {
        if let gan_wgpu::train::Progress::Step { step: 3, .. } = event {
            gpu.device.destroy();
        }
        ControlFlow::Continue(())
    });
    let message = match result {
        Err(e @ gan_wgpu::Error::RunStopped { .. }) => e.to_string(),
        other => panic!("expected a stopped run, got {other:?}"),
    };
    assert!(
        message.contains("lost") || message.contains("destroyed"),
        "{message}"
    );
    assert!(message.contains("is kept in"), "{message}");
    let saved = steps_saved(&out).expect("the state saved before the loss");
    assert!((1..=2).contains(&saved), "{saved}");
    assert_every_file_parses(&out, "after the device was lost");
}
