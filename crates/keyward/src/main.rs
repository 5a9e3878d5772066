//! The `keyward` command: parses the command line, loads the configuration and wires the crates together.

mod adapters;
mod cli;
mod commands;
mod config;
mod files;
mod keys;

use std::process::ExitCode;

use clap::Parser;

/// An allocator made for servers. With glibc's, every blocking thread that hashed a password keeps its
/// freed 19 MiB argon2 block in its own arena, and a node grew to about 640 MB after 200 logins;
/// mimalloc hands such blocks back to the system (BENCHMARKS.md, "Memory").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("keyward: {error:#}");
            ExitCode::FAILURE
        }
    }
}
