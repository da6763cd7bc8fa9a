//! The stored tuning records: `tuning.json` in the cache folder, one entry per adapter fingerprint,
//! merged across batch sizes, stale entries replaced, a damaged file measured again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::TuneReport;
use super::fingerprint::AdapterKey;
use crate::error::{Error, Result};
use crate::files::{ensure_dir, write_atomic};
use crate::kernels::Tuning;

/// One adapter's stored record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CacheEntry {
    pub key: AdapterKey,
    /// The batch sizes measured (each adds its products' choices).
    pub batches: Vec<usize>,
    pub tuning: Tuning,
    /// Seconds each measurement took, by batch size.
    pub seconds: BTreeMap<usize, f64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    entries: Vec<CacheEntry>,
}

/// The file of tuning records in the cache folder `dir`.
pub fn cache_path(dir: &Path) -> PathBuf {
    dir.join("tuning.json")
}

/// The records stored in `dir`; a missing file is empty, a damaged one is reported and read as empty.
fn read_cache(dir: &Path) -> CacheFile {
    let path = cache_path(dir);
    match std::fs::read(&path) {
        Err(_) => CacheFile::default(),
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            log::warn!(
                "{} is damaged ({e}); kernels are measured again",
                path.display()
            );
            CacheFile::default()
        }),
    }
}

/// The stored record for `key` in `dir`, if there is one.
pub fn cached(dir: &Path, key: &AdapterKey) -> Option<CacheEntry> {
    read_cache(dir).entries.into_iter().find(|e| e.key == *key)
}

/// How many records of other drivers for the same adapter and CPU a store keeps.
const OTHER_DRIVERS_KEPT: usize = 3;

/// Stores `report` for `key` in `dir`, merged with what that adapter already had at other batch sizes;
/// records of other adapters and drivers are kept, and a stale one for the same driver is replaced.
pub fn store(dir: &Path, key: &AdapterKey, report: &TuneReport) -> Result<CacheEntry> {
    let mut file = read_cache(dir);
    let previous = file.entries.iter().position(|e| e.key == *key);
    let entry = match previous.map(|i| file.entries.remove(i)) {
        Some(mut e) => {
            e.tuning.by_product.extend(report.tuning.by_product.clone());
            e.tuning.products = report.tuning.products;
            e.tuning.by_plane = report.tuning.by_plane;
            e.tuning.wide_loads = report.tuning.wide_loads;
            if !e.batches.contains(&report.batch) {
                e.batches.push(report.batch);
            }
            e.seconds.insert(report.batch, report.seconds);
            e
        }
        None => CacheEntry {
            key: key.clone(),
            batches: vec![report.batch],
            tuning: report.tuning.clone(),
            seconds: BTreeMap::from([(report.batch, report.seconds)]),
        },
    };
    // A record for the same adapter, driver and CPU from another gan-wgpu or other shaders is stale. One
    // from another driver is kept (two may be installed, one chosen with VK_ICD_FILENAMES), up to
    // OTHER_DRIVERS_KEPT of them, the oldest dropped first.
    let same_device = |e: &CacheEntry| {
        e.key.adapter == key.adapter && e.key.backend == key.backend && e.key.cpu == key.cpu
    };
    file.entries.retain(|e| {
        !(same_device(e) && e.key.driver == key.driver && e.key.driver_info == key.driver_info)
    });
    while file.entries.iter().filter(|e| same_device(e)).count() > OTHER_DRIVERS_KEPT {
        let oldest = file.entries.iter().position(same_device).unwrap();
        file.entries.remove(oldest);
    }
    file.entries.push(entry.clone());
    ensure_dir(dir)?;
    let json = serde_json::to_vec_pretty(&file).map_err(|e| Error::InvalidArgument {
        op: "tune",
        message: e.to_string(),
    })?;
    write_atomic(&cache_path(dir), &json)?;
    Ok(entry)
}
