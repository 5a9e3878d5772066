//! One module per group of subcommands; `run` dispatches.

mod maintenance;
mod operator;
mod otp;
mod serve;
mod yubikey;

use anyhow::Context;
use keyward_store::SqlStore;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::files;
use crate::keys::{self, KeySource};
use keyward_core::seal::KeyRing;

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let config = || Config::load(cli.config.as_deref(), std::env::vars());
    match cli.command {
        Command::Serve => serve::serve(config()?),
        Command::Migrate => maintenance::migrate(&config()?),
        Command::Config => {
            print_line(config()?.describe().trim_end());
            Ok(())
        }
        Command::Keys(command) => maintenance::keys(&config()?, command),
        Command::Audit(command) => maintenance::audit(&config()?, command),
        Command::Otp(command) => otp::run(command),
        Command::Yubikey(command) => yubikey::run(command, config),
        Command::Operator(command) => operator::run(&config()?, command),
    }
}

/// Runs a command's database work on a small runtime of its own.
pub(crate) fn block_on<T>(work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(work)
}

/// Connects to the configured database and brings its schema up to date.
///
/// On SQLite this runs under an exclusive lock on `keyward.lock` in the data directory, so processes
/// started together on a fresh directory take turns: one migrates (and makes the key file, see
/// [`open_with_keys`]), the others then find both done. PostgreSQL serialises migrations itself with an
/// advisory lock.
pub(crate) async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    let _lock = StartLock::take(config)?;
    connect_and_migrate(config).await
}

/// [`open_store`], then the master key ring, checked to open every sealed value the database holds.
pub(crate) async fn open_with_keys(config: &Config) -> anyhow::Result<(SqlStore, KeyRing, KeySource)> {
    let _lock = StartLock::take(config)?;
    let store = connect_and_migrate(config).await?;
    let (ring, source) = keys::load(config, &store).await?;
    Ok((store, ring, source))
}

async fn connect_and_migrate(config: &Config) -> anyhow::Result<SqlStore> {
    let store = SqlStore::connect(&config.database_url)
        .await
        .with_context(|| format!("connecting to the {} database", backend_of(&config.database_url)))?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// The start-up lock of a SQLite data directory (nothing for PostgreSQL), released when dropped.
struct StartLock {
    _file: Option<std::fs::File>,
}

impl StartLock {
    fn take(config: &Config) -> anyhow::Result<StartLock> {
        if !config.database_url.starts_with("sqlite:") {
            return Ok(StartLock { _file: None });
        }
        files::create_private_dir(&config.data_dir)?;
        let path = config.data_dir.join("keyward.lock");
        let file = files::open_lock_file(&path)?;
        file.lock().with_context(|| format!("locking {}", path.display()))?;
        Ok(StartLock { _file: Some(file) })
    }
}

fn backend_of(url: &str) -> &'static str {
    if url.starts_with("sqlite:") { "SQLite" } else { "PostgreSQL" }
}

/// Prints one line of a command's result; the output is the command's purpose.
#[allow(clippy::print_stdout)]
pub(crate) fn print_line(line: &str) {
    println!("{line}");
}
