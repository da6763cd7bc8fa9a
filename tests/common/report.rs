//! What a test ran instead of what it was written for (a fallback, a skip) and what a comparison had
//! to do to pass (the recomputation along the GPU's branches), written to one file that `.ci/run`
//! prints after the tests: `cargo test` shows a passing test's output only when asked, so without it
//! CI's log would not say which path ran. `.ci/run` fails on a skip or fallback that
//! `.ci/expected-notes` does not list.

use std::io::Write;
use std::path::PathBuf;

/// The kind of a note, the first field of its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    /// The test checked nothing on this machine (say why).
    Skipped,
    /// The test checked something other than it was written for (say what, and why).
    FellBack,
    /// A summary of what ran, for CI's log: nothing is wrong.
    Ran,
}

impl Note {
    fn word(self) -> &'static str {
        match self {
            Note::Skipped => "skipped",
            Note::FellBack => "fell-back",
            Note::Ran => "ran",
        }
    }
}

/// The notes file: `GAN_WGPU_TEST_NOTES`, else `test-notes.txt` in the target folder's tmp.
pub fn notes_path() -> PathBuf {
    match std::env::var_os("GAN_WGPU_TEST_NOTES") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-notes.txt"),
    }
}

/// Appends `<kind>\t<test binary>::<test>\t<what>` (one line, one write: tests append from several
/// threads and processes at once) and prints it to the test's own output too. `test` names the test
/// function; the binary is this crate's.
pub fn note(kind: Note, test: &str, what: &str) {
    let binary = env!("CARGO_CRATE_NAME");
    let line = format!(
        "{}\t{binary}::{test}\t{}\n",
        kind.word(),
        what.replace(['\n', '\t'], " ")
    );
    eprint!("{line}");
    let path = notes_path();
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        panic!("{}: {e}", path.display());
    }
}
