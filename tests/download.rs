#![cfg(feature = "download")]
//! Downloads against a small HTTP server this test starts on 127.0.0.1 (no other network is used):
//! mirrors tried in order, MD5 sums enforced, nothing unverified kept, and the CLI's fallback to the
//! bundled digits when no mirror answers.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use gan_wgpu::data::download::{Published, download};
use md5::{Digest, Md5};

/// Serves `files` (path → body) over HTTP/1.1 on a loopback port until the test process ends;
/// unknown paths get 404. Returns the base URL and the log of requested paths.
fn serve(files: HashMap<String, Vec<u8>>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            let mut request = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // Drain the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            seen.lock().unwrap().push(path.clone());
            let (status, body) = match files.get(&path) {
                Some(body) => ("200 OK", body.clone()),
                None => ("404 Not Found", b"not here".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (base, log)
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn files_come_from_the_first_mirror_that_has_them_and_are_md5_checked() {
    let a = b"first file".to_vec();
    let b = b"second file, only on the second mirror".to_vec();
    let (first, first_log) = serve(HashMap::from([("/one/a.gz".to_string(), a.clone())]));
    let (second, _) = serve(HashMap::from([
        ("/two/a.gz".to_string(), b"a stale copy".to_vec()),
        ("/two/b.gz".to_string(), b.clone()),
    ]));
    let files = [
        Published {
            name: "a.gz",
            md5: Box::leak(md5_hex(&a).into_boxed_str()),
        },
        Published {
            name: "b.gz",
            md5: Box::leak(md5_hex(&b).into_boxed_str()),
        },
    ];
    let dir = scratch_dir("download_ok");
    download(
        &dir,
        &files,
        &[format!("{first}/one/"), format!("{second}/two")],
    )
    .unwrap();
    assert_eq!(std::fs::read(dir.join("a.gz")).unwrap(), a);
    assert_eq!(std::fs::read(dir.join("b.gz")).unwrap(), b);
    assert_eq!(*first_log.lock().unwrap(), ["/one/a.gz", "/one/b.gz"]);
    // Files already there with the right sum are not fetched again.
    let before = first_log.lock().unwrap().len();
    download(&dir, &files, &[format!("{first}/one/")]).unwrap();
    assert_eq!(first_log.lock().unwrap().len(), before);
}

#[test]
fn a_file_with_the_wrong_sum_is_refused_and_not_kept() {
    let (mirror, _) = serve(HashMap::from([("/a.gz".to_string(), b"tampered".to_vec())]));
    let files = [Published {
        name: "a.gz",
        md5: "00000000000000000000000000000000",
    }];
    let dir = scratch_dir("download_bad_md5");
    let err = download(&dir, &files, std::slice::from_ref(&mirror))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a.gz") && err.contains("MD5") && err.contains("is not the published"),
        "{err}"
    );
    assert!(!dir.join("a.gz").exists());
    let err = download(&dir, &files, &[format!("{mirror}/missing/")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("404"), "{err}");
}

#[test]
fn without_a_usable_mirror_train_falls_back_to_the_bundled_digits() {
    let (mirror, log) = serve(HashMap::new());
    let work = scratch_dir("download_fallback");
    std::fs::create_dir_all(&work).unwrap();
    // A batch larger than the bundled set stops the run right after the data is chosen.
    let out = Command::new(env!("CARGO_BIN_EXE_gan-wgpu"))
        .args(["train", "--batch-size", "20000", "--no-tune"])
        .current_dir(&work)
        .env("GAN_WGPU_MNIST_MIRRORS", &mirror)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let fallback: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("bundled with gan-wgpu"))
        .collect();
    assert_eq!(fallback.len(), 1, "{stderr}");
    assert!(fallback[0].contains("404"), "{stderr}");
    assert!(stderr.contains("10000 images in the bundled"), "{stderr}");
    assert_eq!(log.lock().unwrap()[0], "/train-images-idx3-ubyte.gz");
    assert!(!work.join("data/mnist/train-images-idx3-ubyte.gz").exists());
}
