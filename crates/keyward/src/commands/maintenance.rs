//! `keyward migrate`, `keyward keys rotate`, `keyward audit verify`: what operators run by hand.

use anyhow::{Context, bail};
use keyward_core::audit::{NewAuditEvent, verify_chain};
use keyward_core::seal::{KeyRing, MasterKey, new_key_id};
use keyward_core::store::{AuditStore, SealedSecretStore};
use keyward_store::SqlStore;

use super::{block_on, open_store, open_with_keys, print_line};
use crate::adapters;
use crate::cli::{AuditCommand, KeysCommand};
use crate::config::Config;
use crate::files::Existing;
use crate::keys::{self, KeySource};

pub fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = block_on(open_store(config))?;
    print_line(&format!("the {} database schema is up to date", store.backend_name()));
    Ok(())
}

pub fn keys(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate => print_line(&block_on(rotate(config))?),
        KeysCommand::Generate => print_line(&keys::generate_entry()?),
    }
    Ok(())
}

pub fn audit(config: &Config, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify => {
            let log = block_on(async { Ok(open_store(config).await?.audit_log().await?) })?;
            match verify_chain(log.events, log.head) {
                Ok(count) => print_line(&format!("the audit log is intact: {count} events")),
                Err(broken) => bail!("the audit log has been tampered with: {broken}"),
            }
        }
    }
    Ok(())
}

/// With the key file: add a new current key (the file then holds both), re-seal every secret under it,
/// then drop the old key from the file. A crash at any point leaves a file that opens every stored secret.
/// With `KEYWARD_MASTER_KEY`, the operator adds the new key to the variable on every node first; this then
/// re-seals under it.
async fn rotate(config: &Config) -> anyhow::Result<String> {
    let (store, ring, source) = open_with_keys(config).await?;
    let now = adapters::now();
    let (ring, resealed) = match source {
        KeySource::File(path) => {
            let mut rng = adapters::os_rng();
            let new_key = MasterKey::generate(&new_key_id(now, &mut rng), &mut rng)?;
            let ring = ring.rotated(new_key)?;
            keys::write_key_file(&path, &ring, Existing::Replace)?;
            let resealed = reseal_all(&store, &ring).await?;
            let ring = ring.without_older_keys();
            keys::write_key_file(&path, &ring, Existing::Replace)?;
            (ring, resealed)
        }
        KeySource::Environment => {
            if ring.key_ids().count() < 2 {
                bail!(
                    "the master key comes from KEYWARD_MASTER_KEY: put a new key first in it, keeping the old one \
                     after a comma (new-id:BASE64,old-id:BASE64), on every node; then run this again to re-seal"
                );
            }
            let resealed = reseal_all(&store, &ring).await?;
            (ring, resealed)
        }
    };
    let current = ring.current().id().to_owned();
    store
        .append_audit(NewAuditEvent {
            at: now,
            actor: "cli".into(),
            target: "master-key".into(),
            action: "keys.rotated".into(),
            ip: None,
            detail: format!("{resealed} secrets re-sealed under key {current}"),
            account: None,
        })
        .await?;
    Ok(format!("re-sealed {resealed} secrets under the new master key {current}; restart running nodes"))
}

/// Re-seals every secret not yet sealed under the ring's current key.
async fn reseal_all(store: &SqlStore, ring: &KeyRing) -> anyhow::Result<usize> {
    let mut rng = adapters::os_rng();
    let mut resealed = 0;
    for secret in store.sealed_secrets().await? {
        if ring.is_current(&secret.sealed) {
            continue;
        }
        let plain = ring
            .open(&secret.sealed, &secret.context)
            .with_context(|| format!("opening {:?}", secret.row))?;
        let fresh = ring.seal(&plain, &secret.context, &mut rng)?;
        // A false here means the row changed since it was listed (re-enrolled, removed): nothing to do.
        if store.reseal(secret.row, &secret.sealed, &fresh).await? {
            resealed += 1;
        }
    }
    Ok(resealed)
}
