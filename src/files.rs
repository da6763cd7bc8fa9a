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

/// Writes `bytes` to a temporary file beside `path`, flushes it to disk and renames it into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| Error::Io {
        path: path.to_path_buf(),
        message: "not a file name".into(),
    })?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(path, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error(path, e)
    })?;
    // The rename itself is durable once the folder is synced (where the platform allows opening it).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Creates `dir` (and its parents) unless it exists; a file in its place is an error.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Io {
            path: dir.to_path_buf(),
            message: "exists and is not a folder".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))
}
