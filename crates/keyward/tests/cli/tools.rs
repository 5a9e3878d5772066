//! The peer-tool helpers shared by the workspace's tests, and the `keyward` binary built for these.

use std::process::Command;

pub use keyward_testkit::{Inputs, missing, output_of, python_json, python_with, require, stdout_of};

/// The `keyward` binary built for these tests.
pub fn keyward() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
}
