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
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds no G checkpoint (G_NNN.safetensors)")
    );
    // First contact: `sample --seed 7` in a fresh folder, before any training, says what to do and
    // writes nothing.
    let out = Command::new(env!("CARGO_BIN_EXE_gan-wgpu"))
        .args(["sample", "--seed", "7"])
        .current_dir(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for says in [
        "logs",
        "no such folder",
        "gan-wgpu train",
        "--checkpoint FILE",
        "--run DIR",
    ] {
        assert!(stderr.contains(says), "`{says}` missing: {stderr}");
    }
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    // A --checkpoint that is not there is named before the GPU opens (no adapter line).
    let out = Command::new(env!("CARGO_BIN_EXE_gan-wgpu"))
        .args(["sample", "--checkpoint", "G_025.safetensors"])
        .current_dir(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("G_025.safetensors: no such file") && stderr.contains("--run DIR"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}

// `--run` takes the run's latest G: a mid-epoch checkpoint (`train --stop-after`) after the last
// epoch's end is the newer.
#[test]
fn sample_from_a_run_takes_its_latest_checkpoint_mid_epoch_ones_included() {
    let oracle = Oracle::load("step.safetensors");
    let checkpoint = pytorch_checkpoint(&oracle, "latest");
    let run = scratch("latest_run");
    std::fs::create_dir_all(&run).unwrap();
    // An epoch-1 G that is not a checkpoint: picking it would fail.
    std::fs::write(run.join("G_001.safetensors"), b"not this one").unwrap();
    std::fs::copy(&checkpoint, run.join("G_002_step0003.safetensors")).unwrap();
    let png = scratch("latest.png");
    ok(&sample(&[
        "--run",
        run.to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ]));
    assert!(png.is_file());
}

/// The images of a safetensors file `sample` wrote, as bits.
fn image_bits(path: &Path) -> (Vec<usize>, Vec<u32>) {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let images = file.tensor("images").unwrap();
    (
        images.shape().to_vec(),
        bytemuck::pod_collect_to_vec(images.data()),
    )
}

/// More images than one chunk holds (768 on an adapter with lavapipe's limits), in every format: a
/// smaller count gives the first images of a larger one, byte for byte, and each format holds them all.
#[test]
fn counts_beyond_a_chunk_in_every_format_and_a_smaller_count_is_a_prefix() {
    let oracle = Oracle::load("step.safetensors");
    let checkpoint = pytorch_checkpoint(&oracle, "chunks");
    let c = checkpoint.to_str().unwrap();
    let (many, few) = (1100, 100);
    let draw = |count: usize, format: &str, out: &Path| {
        let _ = std::fs::remove_dir_all(out);
        let run = sample(&[
            "--checkpoint",
            c,
            "--seed",
            "3",
            "--count",
            &count.to_string(),
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ]);
        ok(&run);
        let says = String::from_utf8_lossy(&run.stdout).to_string();
        assert!(says.contains(&format!("{count} images")), "{says}");
    };
    let (all, first) = (scratch("many.safetensors"), scratch("few.safetensors"));
    draw(many, "safetensors", &all);
    draw(few, "safetensors", &first);
    let (shape, all) = image_bits(&all);
    assert_eq!(shape, [many, 1, 28, 28]);
    let (shape, first) = image_bits(&first);
    assert_eq!(shape, [few, 1, 28, 28]);
    assert!(first[..] == all[..few * 784], "the first {few} of {many}");
    let distinct: std::collections::BTreeSet<&[u32]> = all.chunks_exact(784).collect();
    assert_eq!(distinct.len(), many, "every image its own");

    // One PNG each, named so they sort (four digits past 1000), the same bytes as the images.
    let dir = scratch("many_pngs");
    draw(many, "png-dir", &dir);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), many);
    for i in [0, 767, 768, 1099] {
        let png = image::open(dir.join(format!("{i:04}.png")))
            .unwrap()
            .into_luma8();
        let want: Vec<u8> = all[i * 784..(i + 1) * 784]
            .iter()
            .map(|&b| (f32::from_bits(b) * 255.0 + 0.5).clamp(0.0, 255.0) as u8)
            .collect();
        assert_eq!(png.into_raw(), want, "image {i}");
    }

    // A grid of them all: 8 to a row, 138 rows.
    let grid = scratch("many_grid.png");
    draw(many, "grid", &grid);
    let grid = image::open(&grid).unwrap().into_rgb8();
    assert_eq!((grid.width(), grid.height()), (242, 138 * 30 + 2));
    let tile = |i: usize| {
        let (top, left) = ((i / 8) * 30 + 2, (i % 8) * 30 + 2);
        (0..784)
            .map(|p| grid.get_pixel((left + p % 28) as u32, (top + p / 28) as u32)[0])
            .collect::<Vec<u8>>()
    };
    for i in [0, 600, 1099] {
        let want: Vec<u8> = all[i * 784..(i + 1) * 784]
            .iter()
            .map(|&b| (f32::from_bits(b) * 255.0 + 0.5).clamp(0.0, 255.0) as u8)
            .collect();
        assert_eq!(tile(i), want, "grid tile {i}");
    }
}

/// `--interpolate A,B --format gif`: an animated GIF, one 112×112 frame per step of the walk, each
/// frame the walk's image (as the safetensors output holds it) scaled 4× with its exact grey bytes.
#[test]
fn a_walk_as_an_animated_gif() {
    let oracle = Oracle::load("step.safetensors");
    let checkpoint = pytorch_checkpoint(&oracle, "gif");
    let c = checkpoint.to_str().unwrap();
    let (gif_path, floats) = (scratch("walk.gif"), scratch("walk.safetensors"));
    for (format, out) in [("gif", &gif_path), ("safetensors", &floats)] {
        ok(&sample(&[
            "--checkpoint",
            c,
            "--interpolate",
            "7,8",
            "--count",
            "12",
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ]));
    }
    let (_, images) = image_bits(&floats);
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    let mut decoder = options
        .read_info(std::fs::File::open(&gif_path).unwrap())
        .unwrap();
    assert_eq!((decoder.width(), decoder.height()), (112, 112));
    let palette = decoder.global_palette().unwrap().to_vec();
    let mut frames = 0;
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        assert!(frame.delay > 0, "an animation");
        let image = &images[frames * 784..(frames + 1) * 784];
        for (p, &index) in frame.buffer.iter().enumerate() {
            let (y, x) = (p / 112 / 4, p % 112 / 4);
            let want = (f32::from_bits(image[y * 28 + x]) * 255.0 + 0.5).clamp(0.0, 255.0) as u8;
            let rgb = &palette[3 * index as usize..3 * index as usize + 3];
            assert_eq!(rgb, [want; 3], "frame {frames}, pixel {p}");
        }
        frames += 1;
    }
    assert_eq!(frames, 12);
    assert_eq!(decoder.repeat(), gif::Repeat::Infinite);
}

/// A `sample` killed while writing leaves a temporary file beside its output (never a torn output);
/// the next `sample` there removes it. A dead process's temporary is planted here to stand for one.
#[test]
fn a_killed_samples_temporaries_are_cleaned_up() {
    let oracle = Oracle::load("step.safetensors");
    let checkpoint = pytorch_checkpoint(&oracle, "stale");
    let dir = scratch("stale_temporaries");
    std::fs::create_dir_all(&dir).unwrap();
    // pid 4194304 is beyond Linux's largest (2^22): no live process has it.
    let stale = dir.join(".images.safetensors.tmp4194304");
    std::fs::write(&stale, b"half an output").unwrap();
    let out = dir.join("images.safetensors");
    ok(&sample(&[
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--count",
        "3",
        "--format",
        "safetensors",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(!stale.exists(), "the stale temporary is gone");
    let (shape, _) = image_bits(&out);
    assert_eq!(shape, [3, 1, 28, 28]);
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from("images.safetensors")]);
}
