//! The master key ring: from `KEYWARD_MASTER_KEY`, or from `master.key` in the data directory, which is
//! created with mode 0600 on first run.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use keyward_core::seal::{KeyRing, MasterKey, key_id_for_date};

use crate::adapters;
use crate::config::Config;
use crate::files::{self, Existing};

/// Where the key ring lives.
pub enum KeySource {
    Environment,
    File(PathBuf),
}

/// The key file of a data directory.
pub fn key_file(config: &Config) -> PathBuf {
    config.data_dir.join("master.key")
}

/// Loads the key ring, creating the key file with a fresh key when there is neither a file nor a variable.
pub fn load_or_create(config: &Config) -> anyhow::Result<(KeyRing, KeySource)> {
    if let Some(text) = &config.master_key {
        let ring = KeyRing::parse(&text.0).context("KEYWARD_MASTER_KEY")?;
        return Ok((ring, KeySource::Environment));
    }
    let path = key_file(config);
    if path.exists() {
        return Ok((read_key_file(&path)?, KeySource::File(path)));
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let key = MasterKey::generate(&key_id_for_date(adapters::now()), &mut adapters::os_rng())?;
    let ring = KeyRing::new(key);
    write_key_file(&path, &ring, Existing::Keep)?;
    tracing::info!(path = %path.display(), "created a new master key file; back it up: without it, stored secrets cannot be read");
    Ok((ring, KeySource::File(path)))
}

fn read_key_file(path: &Path) -> anyhow::Result<KeyRing> {
    let mode =
        std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.permissions().mode();
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by other users (mode {:o}); run: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    KeyRing::parse(&text).with_context(|| format!("in {}", path.display()))
}

/// Writes the ring to the key file (mode 0600).
pub fn write_key_file(path: &Path, ring: &KeyRing, existing: Existing) -> anyhow::Result<()> {
    files::write_private(path, ring.to_text().as_bytes(), existing)
}
