//! One module per group of subcommands; `run` dispatches.

mod maintenance;
mod otp;
mod serve;
mod yubikey;

use anyhow::Context;
use keyward_store::SqlStore;

use crate::cli::{Cli, Command};
use crate::config::Config;

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let config = || Config::load(cli.config.as_deref(), std::env::vars());
    match cli.command {
        Command::Serve => serve::serve(config()?),
        Command::Migrate => maintenance::migrate(&config()?),
        Command::Keys(command) => maintenance::keys(&config()?, command),
        Command::Audit(command) => maintenance::audit(&config()?, command),
        Command::Otp(command) => otp::run(command),
        Command::Yubikey(command) => yubikey::run(command, config),
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
pub(crate) async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    }
    let store = SqlStore::connect(&config.database_url)
        .await
        .with_context(|| format!("connecting to the {} database", backend_of(&config.database_url)))?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

fn backend_of(url: &str) -> &'static str {
    if url.starts_with("sqlite:") { "SQLite" } else { "PostgreSQL" }
}

/// Prints one line of a command's result; the output is the command's purpose.
#[allow(clippy::print_stdout)]
pub(crate) fn print_line(line: &str) {
    println!("{line}");
}
