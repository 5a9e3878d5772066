//! The `keyward` command: parses the command line, loads the configuration and wires the crates together.

mod adapters;
mod cli;
mod commands;
mod config;
mod files;
mod keys;

use std::process::ExitCode;

use clap::Parser;

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
