//! Every error message that points the user at a flag points at one the command has: each command's
//! limit and bad-value errors are provoked, and each `--flag` their messages name is looked up in the
//! `--help` of the command it belongs to (the failing one, or another one the message names, as in
//! "`train --resume`").

mod common;

use std::collections::BTreeMap;

use common::cli::{assert_failure, gan_wgpu, own_stderr, scratch_dir, small_mnist};

const COMMANDS: [&str; 7] = [
    "train",
    "sample",
    "bench",
    "tune",
    "devices",
    "score",
    "classifier",
];

/// Every `--flag` in `text`, with the command named right before it where there is one.
fn flag_mentions(text: &str) -> Vec<(Option<&'static str>, String)> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("--").map(|p| p + i) {
        let end = text[at + 2..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .map_or(text.len(), |p| p + at + 2);
        let flag = &text[at..end];
        let starts_a_word = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
        if starts_a_word && flag.len() > 2 && bytes[at + 2].is_ascii_lowercase() {
            let before = text[..at].trim_end();
            let command = COMMANDS.iter().copied().find(|c| before.ends_with(c));
            found.push((command, flag.to_string()));
        }
        i = end.max(at + 2);
    }
    found
}

/// The flags a command's `--help` lists.
fn help_flags(command: &str) -> Vec<String> {
    let out = gan_wgpu(&[command, "--help"]);
    assert!(out.status.success(), "{command} --help");
    flag_mentions(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .map(|(_, flag)| flag)
        .collect()
}

#[test]
fn the_flag_finder_finds_flags() {
    assert_eq!(
        flag_mentions("--count 3, use `gan-wgpu train --resume x` or --nrow; not a--b nor -- x"),
        vec![
            (None, "--count".to_string()),
            (Some("train"), "--resume".to_string()),
            (None, "--nrow".to_string()),
        ]
    );
}

#[test]
fn every_flag_an_error_names_exists() {
    let helps: BTreeMap<&str, Vec<String>> = COMMANDS.iter().map(|c| (*c, help_flags(c))).collect();
    let data = small_mnist("flag_mentions_data", 10);
    let data = data.to_str().unwrap();
    // Enough images for a batch whose buffers exceed every adapter's binding limit (128 MiB here).
    let big_data = small_mnist("flag_mentions_big_data", 6000);
    let big_data = big_data.to_str().unwrap();
    let out = scratch_dir("flag_mentions_out");
    let out = out.to_str().unwrap();
    let empty = scratch_dir("flag_mentions_empty_run");
    let empty = empty.to_str().unwrap();
    let state = scratch_dir("flag_mentions_state").join("state.safetensors");
    std::fs::write(&state, b"not even safetensors").unwrap();
    let not_noise = scratch_dir("flag_mentions_z").join("z.safetensors");
    std::fs::write(&not_noise, b"nope").unwrap();

    let train = |extra: &[&'static str]| -> Vec<String> {
        let mut args: Vec<String> = ["train", "--data-dir", data, "--out", out]
            .map(String::from)
            .into();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let owned = |args: &[&str]| -> Vec<String> { args.iter().map(|s| s.to_string()).collect() };
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("train batch 0", train(&["--batch-size", "0"])),
        ("train batch beyond the set", train(&["--batch-size", "11"])),
        (
            "train batch beyond the buffers",
            owned(&[
                "train",
                "--data-dir",
                big_data,
                "--out",
                out,
                "--batch-size",
                "6000",
                "--overwrite",
            ]),
        ),
        ("train epochs 0", train(&["--epochs", "0"])),
        ("train lr 0", train(&["--lr", "0"])),
        ("train beta2 1", train(&["--beta2", "1"])),
        (
            "train sample epoch beyond",
            train(&["--epochs", "2", "--sample-epochs", "3"]),
        ),
        (
            "train checkpoint-every 0",
            train(&["--checkpoint-every", "0"]),
        ),
        ("train resume nothing", owned(&["train", "--resume", empty])),
        (
            "train missing data",
            owned(&["train", "--data-dir", empty, "--out", out]),
        ),
        (
            "sample count 0",
            owned(&["sample", "--count", "0", "--run", empty]),
        ),
        (
            "sample nrow 0",
            owned(&["sample", "--nrow", "0", "--run", empty]),
        ),
        (
            "sample one seed to interpolate",
            owned(&["sample", "--interpolate", "3", "--run", empty]),
        ),
        (
            "sample beyond a seed's stream",
            owned(&["sample", "--count", "80000000", "--run", empty]),
        ),
        (
            "sample grid beyond memory",
            owned(&[
                "sample", "--count", "2000000", "--nrow", "1", "--run", empty,
            ]),
        ),
        (
            "sample without checkpoint",
            owned(&["sample", "--run", empty]),
        ),
        (
            "sample state as checkpoint",
            owned(&["sample", "--checkpoint", state.to_str().unwrap()]),
        ),
        (
            "sample bad noise",
            owned(&["sample", "--z", not_noise.to_str().unwrap(), "--run", empty]),
        ),
        ("bench batch 1", owned(&["bench", "--batch-size", "1"])),
        (
            "bench batch beyond the buffers",
            owned(&["bench", "--batch-size", "3000000", "--steps", "1"]),
        ),
        ("bench steps nonsense", owned(&["bench", "--steps", "many"])),
        (
            "bench kernels unknown key",
            owned(&["bench", "--kernels", "speed=max"]),
        ),
        ("tune batch 1", owned(&["tune", "--batch-size", "1"])),
        (
            "tune with the products overridden",
            owned(&["tune", "--kernels", "products=tiled"]),
        ),
        (
            "score count 1",
            owned(&["score", "--count", "1", "--run", empty]),
        ),
        (
            "score without checkpoint",
            owned(&["score", "--run", empty]),
        ),
        (
            "score beyond a seed's stream",
            owned(&["score", "--count", "80000000", "--run", empty]),
        ),
        (
            "score a missing checkpoint",
            owned(&[
                "score",
                "--checkpoint",
                &format!("{empty}/G_none.safetensors"),
            ]),
        ),
        (
            "classifier over an existing file",
            owned(&[
                "classifier",
                "--out",
                state.to_str().unwrap(),
                "--data-dir",
                data,
            ]),
        ),
        (
            "classifier holding out everything",
            owned(&[
                "classifier",
                "--out",
                &format!("{out}/c.safetensors"),
                "--data-dir",
                data,
                "--held-out",
                "10",
            ]),
        ),
        (
            "classifier epochs 0",
            owned(&[
                "classifier",
                "--out",
                &format!("{out}/c.safetensors"),
                "--data-dir",
                data,
                "--epochs",
                "0",
            ]),
        ),
    ];
    let mut named = 0;
    for (what, args) in cases {
        let command = args[0].as_str();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = gan_wgpu(&args);
        let message = assert_failure(what, &run, 2, &[]);
        for (other, flag) in flag_mentions(&own_stderr(&run).join("\n")) {
            let command = other.unwrap_or(command);
            assert!(
                helps[command].contains(&flag),
                "{what}: `{message}` names {flag}, which `gan-wgpu {command}` does not have"
            );
            named += 1;
        }
    }
    // The cases above are the ones whose messages send the user to a flag.
    assert!(named >= 15, "only {named} flags named");
}
