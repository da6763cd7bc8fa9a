//! Fetching MNIST and Fashion-MNIST from public mirrors: each file from the first mirror that serves
//! it, checked against its published MD5 sum before it is kept (written atomically).

use std::path::Path;
use std::time::Duration;

use md5::{Digest, Md5};

use crate::error::{Error, Result};
use crate::files::{ensure_dir, write_atomic};

/// A file of a published data set and its MD5 sum.
pub struct Published {
    pub name: &'static str,
    pub md5: &'static str,
}

/// MNIST's four files, with the sums torchvision checks (../shared/data/README.md).
pub const MNIST_FILES: [Published; 4] = [
    Published {
        name: "train-images-idx3-ubyte.gz",
        md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    },
    Published {
        name: "train-labels-idx1-ubyte.gz",
        md5: "d53e105ee54ea40749a09fcbcd1e9432",
    },
    Published {
        name: "t10k-images-idx3-ubyte.gz",
        md5: "9fb629c4189551a2d022fa330f9573f3",
    },
    Published {
        name: "t10k-labels-idx1-ubyte.gz",
        md5: "ec29112dd5afa0611ce80d1b7f02629c",
    },
];

/// Public MNIST mirrors; the first is torchvision's. `GAN_WGPU_MNIST_MIRRORS` (comma-separated URLs)
/// replaces the list.
pub const MNIST_MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];
pub const MNIST_MIRRORS_ENV: &str = "GAN_WGPU_MNIST_MIRRORS";

/// Fashion-MNIST's four files, with the sums torchvision checks.
pub const FASHION_MNIST_FILES: [Published; 4] = [
    Published {
        name: "train-images-idx3-ubyte.gz",
        md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    },
    Published {
        name: "train-labels-idx1-ubyte.gz",
        md5: "25c81989df183df01b3e8a0aad5dffbe",
    },
    Published {
        name: "t10k-images-idx3-ubyte.gz",
        md5: "bef4ecab320f06d8554ea6380940ec79",
    },
    Published {
        name: "t10k-labels-idx1-ubyte.gz",
        md5: "bb300cfdad3c16e7a12a480ee83cd310",
    },
];

/// Zalando's own Fashion-MNIST mirror, the one torchvision uses; `GAN_WGPU_FASHION_MNIST_MIRRORS`
/// replaces it.
pub const FASHION_MNIST_MIRRORS: [&str; 1] =
    ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"];
pub const FASHION_MNIST_MIRRORS_ENV: &str = "GAN_WGPU_FASHION_MNIST_MIRRORS";

/// The mirror list: the environment variable `env` when set, else `defaults`.
pub fn mirrors(env: &str, defaults: &[&str]) -> Vec<String> {
    match std::env::var(env) {
        Ok(list) if !list.trim().is_empty() => {
            list.split(',').map(|s| s.trim().to_string()).collect()
        }
        _ => defaults.iter().map(|s| s.to_string()).collect(),
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The largest file we accept (MNIST's largest is 9.9 MB).
const MAX_BYTES: u64 = 64 << 20;

fn fetch(agent: &ureq::Agent, url: &str) -> std::result::Result<Vec<u8>, String> {
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    response
        .body_mut()
        .with_config()
        .limit(MAX_BYTES)
        .read_to_vec()
        .map_err(|e| e.to_string())
}

/// Downloads each of `files` missing from `dir` (a file already there with the right sum is kept),
/// trying `mirrors` in order. Fails with every mirror's answer when a file cannot be had; a file whose
/// sum is wrong is never kept.
pub fn download(dir: &Path, files: &[Published], mirrors: &[String]) -> Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into();
    for file in files {
        let path = dir.join(file.name);
        if std::fs::read(&path).is_ok_and(|b| md5_hex(&b) == file.md5) {
            continue;
        }
        let mut failures = Vec::new();
        let mut fetched = None;
        for mirror in mirrors {
            let url = format!("{}/{}", mirror.trim_end_matches('/'), file.name);
            log::info!("downloading {url}");
            match fetch(&agent, &url) {
                Ok(bytes) if md5_hex(&bytes) == file.md5 => {
                    fetched = Some(bytes);
                    break;
                }
                Ok(bytes) => failures.push(format!(
                    "{url}: MD5 {} is not the published {}",
                    md5_hex(&bytes),
                    file.md5
                )),
                Err(e) => failures.push(format!("{url}: {e}")),
            }
        }
        let bytes = fetched.ok_or_else(|| Error::Io {
            path: path.clone(),
            message: format!("could not download: {}", failures.join("; ")),
        })?;
        ensure_dir(dir)?;
        write_atomic(&path, &bytes)?;
    }
    Ok(())
}
