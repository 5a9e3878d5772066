//! Writing files that hold secrets or state: mode 0600, and never half-written.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// How to treat an existing file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse to write if the file exists (a first run racing another must not replace its key).
    Keep,
    /// Replace it: write beside it, then rename over it, so a crash leaves the old or the new file.
    Replace,
}

/// Writes `bytes` to `path` with mode 0600.
pub fn write_private(path: &Path, bytes: &[u8], existing: Existing) -> anyhow::Result<()> {
    let target = match existing {
        Existing::Keep => path.to_path_buf(),
        Existing::Replace => {
            let mut temporary = path.as_os_str().to_owned();
            temporary.push(format!(".{}.tmp", std::process::id()));
            PathBuf::from(temporary)
        }
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).mode(0o600);
    match existing {
        Existing::Keep => options.create_new(true),
        Existing::Replace => options.create(true).truncate(true),
    };
    let written = options.open(&target).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    let result = match existing {
        Existing::Keep => written,
        Existing::Replace => written.and_then(|()| fs::rename(&target, path)).inspect_err(|_| {
            let _ = fs::remove_file(&target);
        }),
    };
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// Creates `dir` (and its parents) with mode 0700 when it does not exist: it holds the database, the
/// master key and the outbox.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))
}

/// Opens (creating, mode 0600) a file used only for its lock.
pub fn open_lock_file(path: &Path) -> anyhow::Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}
