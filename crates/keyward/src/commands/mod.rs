//! One module per group of subcommands; `run` dispatches.

mod otp;
mod serve;
mod yubikey;

use crate::cli::{Cli, Command};
use crate::config::Config;

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => {
            let config = Config::load(cli.config.as_deref(), std::env::vars())?;
            serve::serve(config)
        }
        Command::Otp(command) => otp::run(command),
        Command::Yubikey(command) => yubikey::run(command),
    }
}

/// Prints one line of a command's result; the output is the command's purpose.
#[allow(clippy::print_stdout)]
pub(crate) fn print_line(line: &str) {
    println!("{line}");
}
