//! The master key ring: from `KEYWARD_MASTER_KEY`, or from `master.key` in the data directory.
//!
//! A key is made automatically in one case only: one node on SQLite whose database holds no sealed value
//! yet (a first run). With PostgreSQL several nodes share the database, and a key that one of them made
//! for itself would seal secrets the others cannot open, so there the operator makes one with
//! `keyward keys generate` and gives it to every node. And a node never serves with a ring that lacks a
//! key the database needs: it refuses to start, naming the missing ids.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use keyward_core::seal::{KeyRing, MasterKey, new_key_id};
use keyward_core::store::SealedSecretStore;
use keyward_store::SqlStore;

use crate::adapters;
use crate::config::Config;
use crate::files::{self, Existing};

/// Where the key ring lives.
pub enum KeySource {
    Environment,
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Environment => f.write_str("KEYWARD_MASTER_KEY"),
            KeySource::File(path) => write!(f, "the key file {}", path.display()),
        }
    }
}

/// The key file of a data directory.
pub fn key_file(config: &Config) -> PathBuf {
    config.data_dir.join("master.key")
}

/// A new key as one `id:base64` entry, for `keyward keys generate`.
pub fn generate_entry() -> anyhow::Result<String> {
    let mut rng = adapters::os_rng();
    let key = MasterKey::generate(&new_key_id(adapters::now(), &mut rng), &mut rng)?;
    Ok(KeyRing::new(key).to_text().trim_end().to_owned())
}

/// Loads the key ring for `store` and checks that it opens every sealed value there. Callers on SQLite
/// hold the start-up lock, so two processes never both create the key file.
pub async fn load(config: &Config, store: &SqlStore) -> anyhow::Result<(KeyRing, KeySource)> {
    let sealed_ids = store.sealed_key_ids().await.context("reading which master keys the database uses")?;
    let (ring, source) = find_or_create(config, store, &sealed_ids)?;
    let missing: Vec<&str> =
        sealed_ids.iter().map(String::as_str).filter(|id| !ring.key_ids().any(|have| have == *id)).collect();
    if !missing.is_empty() {
        let have: Vec<&str> = ring.key_ids().collect();
        bail!(
            "the database holds secrets sealed under master key id(s) {}, which {source} does not hold \
             (it holds {}). Give this node the same master key as the others (restore it from your backup \
             or copy KEYWARD_MASTER_KEY); older keys go after the current one, separated by commas",
            missing.join(", "),
            have.join(", ")
        );
    }
    Ok((ring, source))
}

fn find_or_create(
    config: &Config,
    store: &SqlStore,
    sealed_ids: &[String],
) -> anyhow::Result<(KeyRing, KeySource)> {
    if let Some(text) = &config.master_key {
        let ring = KeyRing::parse(&text.0).context("KEYWARD_MASTER_KEY")?;
        return Ok((ring, KeySource::Environment));
    }
    let path = key_file(config);
    if path.exists() {
        return Ok((read_key_file(&path)?, KeySource::File(path.clone())));
    }
    if store.backend_name() != "sqlite" {
        bail!(
            "no master key: set KEYWARD_MASTER_KEY on every node. With PostgreSQL a key is never made \
             automatically, since every node must share it: run `keyward keys generate` once and put its \
             output in each node's environment (and in your backup)"
        );
    }
    if !sealed_ids.is_empty() {
        bail!(
            "no master key: neither KEYWARD_MASTER_KEY nor {} exists, but the database holds secrets sealed \
             under key id(s) {}. Restore the key file from your backup or set KEYWARD_MASTER_KEY; a new key \
             would not open them",
            path.display(),
            sealed_ids.join(", ")
        );
    }
    let entry = generate_entry()?;
    let ring = KeyRing::parse(&entry)?;
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
