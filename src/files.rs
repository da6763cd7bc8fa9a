//! Every file gan-wgpu writes goes through `write_atomic`: a crash at any moment leaves either the old
//! file or the new one, never a torn one.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Temporary files are named `.<name>.tmp<pid>`.
const TEMPORARY_MARK: &str = ".tmp";

/// A file written in parts that appears at its path only once complete: the parts go to a temporary
/// file beside it, which `commit` flushes to disk and renames into place. Dropped uncommitted (an
/// error on the way), the temporary is removed and whatever was at the path stays.
pub struct AtomicFile {
    path: std::path::PathBuf,
    tmp: std::path::PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let tmp = temporary_path(path)?;
        let file = std::fs::File::create(&tmp).map_err(|e| io_error(path, e))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            file: Some(std::io::BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// `Write::write_all` with the error naming the file.
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let file = self.file.as_mut().expect("an uncommitted file is open");
        file.write_all(bytes).map_err(|e| io_error(&self.path, e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the file to disk and renames it into place.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("an uncommitted file is open");
        let path = self.path.clone();
        file.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .map_err(|e| io_error(&path, e))?;
        publish(&self.tmp, &path)
    }
}

/// `.<name>.tmp<pid>` beside `path`.
fn temporary_path(path: &Path) -> Result<std::path::PathBuf> {
    let name = path.file_name().ok_or_else(|| Error::Io {
        path: path.to_path_buf(),
        message: "not a file name".into(),
    })?;
    Ok(parent_dir(path).join(format!(
        ".{}{TEMPORARY_MARK}{}",
        name.to_string_lossy(),
        std::process::id()
    )))
}

/// Renames the complete, synced temporary `tmp` to `path` (removing it on failure).
fn publish(tmp: &Path, path: &Path) -> Result<()> {
    std::fs::rename(tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        io_error(path, e)
    })?;
    // The rename itself is durable once the folder is synced (where the platform allows opening it).
    if let Ok(d) = std::fs::File::open(parent_dir(path)) {
        let _ = d.sync_all();
    }
    Ok(())
}

impl Write for AtomicFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.file
            .as_mut()
            .expect("an uncommitted file is open")
            .write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file
            .as_mut()
            .expect("an uncommitted file is open")
            .flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to a temporary file beside `path`, flushes it to disk and renames it into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_bytes(bytes)?;
    file.commit()
}

/// Creates `dir` (and its parents) unless it exists; a file in its place is an error.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Io {
            path: dir.to_path_buf(),
            message: "exists and is not a folder".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        message: format!("cannot create this folder: {e}"),
    })
}

/// `ensure_dir`, then proves that files can be created in `dir` (by writing and removing an empty
/// temporary), so an unwritable folder fails before any work is done.
pub fn ensure_writable_dir(dir: &Path) -> Result<()> {
    ensure_dir(dir)?;
    let probe = dir.join(format!(
        ".write-probe{TEMPORARY_MARK}{}",
        std::process::id()
    ));
    std::fs::File::create(&probe).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        message: format!("cannot write in this folder: {e}"),
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Deletes the temporary files a killed gan-wgpu left in `dir` (those of processes no longer
/// running, where the platform can tell). Best effort: a file that cannot go is left.
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let can_tell = Path::new("/proc/self").exists();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix('.')
            .and_then(|n| n.rsplit_once(TEMPORARY_MARK))
            .map(|(_, pid)| pid)
            .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let alive = if can_tell {
            Path::new("/proc").join(pid).exists()
        } else {
            pid == std::process::id().to_string()
        };
        if !alive {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
