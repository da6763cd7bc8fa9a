//! `gan-wgpu sample` through the command line, with the PyTorch original's initial G as checkpoint.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::cli::write_safetensors;
use common::{Oracle, max_abs_error};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_sample");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The oracle's `init.G.*` tensors saved without their prefix: what
/// `safetensors.torch.save_file(G.state_dict(), …)` writes for the original's initial G. Each test
/// names its own copy: the tests run in parallel, and one must not read a file another is writing.
fn pytorch_checkpoint(oracle: &Oracle, test: &str) -> PathBuf {
    let path = scratch(&format!("G_pytorch_init_{test}.safetensors"));
    let tensors: Vec<(String, Vec<usize>, &[f32])> = oracle
        .keys_with_prefix("init.G.")
        .iter()
        .map(|k| {
            (
                k["init.G.".len()..].to_string(),
                oracle.shape(k).to_vec(),
                oracle.values(k),
            )
        })
        .collect();
    write_safetensors(&path, &tensors);
    path
}

fn sample(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gan-wgpu"))
        .arg("sample")
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// PyTorch: G.load_state_dict(init weights); G.eval(); G(eval_init.z).
#[test]
fn a_pytorch_checkpoint_gives_pytorchs_pixels_for_the_same_z() {
    let oracle = Oracle::load("step.safetensors");
    let checkpoint = pytorch_checkpoint(&oracle, "pixels");
    let z = scratch("eval_init_z.safetensors");
    write_safetensors(
        &z,
        &[(
            "z".into(),
            oracle.shape("eval_init.z").to_vec(),
            oracle.values("eval_init.z"),
        )],
    );
    let out = scratch("eval_init_images.safetensors");
    ok(&sample(&[
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--z",
        z.to_str().unwrap(),
        "--format",
        "safetensors",
        "--out",
        out.to_str().unwrap(),
    ]));
    let bytes = std::fs::read(&out).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let images = file.tensor("images").unwrap();
    assert_eq!(images.shape(), oracle.shape("eval_init.images"));
    let got: Vec<f32> = bytemuck::pod_collect_to_vec(images.data());
    let err = max_abs_error(&got, oracle.values("eval_init.images"));
    assert!(err <= 1e-5, "max abs error {err:.3e}");
}

#[test]
fn a_seed_gives_the_same_bytes_every_time_and_another_seed_another_picture() {
    let oracle = Oracle::load("step.safetensors");
    let checkpoint = pytorch_checkpoint(&oracle, "seeds");
    let c = checkpoint.to_str().unwrap();
    let paths = [
        scratch("seed7_a.png"),
        scratch("seed7_b.png"),
        scratch("seed8.png"),
    ];
    for (seed, path) in [("7", &paths[0]), ("7", &paths[1]), ("8", &paths[2])] {
        ok(&sample(&[
            "--checkpoint",
            c,
            "--seed",
            seed,
            "--out",
            path.to_str().unwrap(),
        ]));
    }
    let read = |p: &PathBuf| std::fs::read(p).unwrap();
    assert_eq!(read(&paths[0]), read(&paths[1]));
    assert_ne!(read(&paths[0]), read(&paths[2]));
    let grid = image::open(&paths[0]).unwrap();
    assert_eq!((grid.width(), grid.height()), (242, 242));

    let dir = scratch("singles");
    let _ = std::fs::remove_dir_all(&dir);
    ok(&sample(&[
        "--checkpoint",
        c,
        "--count",
        "3",
        "--format",
        "png-dir",
        "--out",
        dir.to_str().unwrap(),
    ]));
    for i in 0..3 {
        let single = image::open(dir.join(format!("{i:03}.png"))).unwrap();
        assert_eq!((single.width(), single.height()), (28, 28));
    }
    let walk = scratch("walk.png");
    ok(&sample(&[
        "--checkpoint",
        c,
        "--interpolate",
        "7,8",
        "--count",
        "10",
        "--nrow",
        "10",
        "--out",
        walk.to_str().unwrap(),
    ]));
    let walk = image::open(&walk).unwrap();
    assert_eq!((walk.width(), walk.height()), (10 * 30 + 2, 32));
}

#[test]
fn bad_noise_files_and_missing_checkpoints_are_errors() {
    let oracle = Oracle::load("step.safetensors");
    let checkpoint = pytorch_checkpoint(&oracle, "bad_input");
    let bad_z = scratch("bad_z.safetensors");
    write_safetensors(&bad_z, &[("z".into(), vec![4, 61], &[0.5; 244])]);
    let out = sample(&[
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--z",
        bad_z.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[4, 61]"));
    let empty = scratch("no_checkpoints");
    std::fs::create_dir_all(&empty).unwrap();
    let out = sample(&["--run", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no G_NNN.safetensors"));
}
