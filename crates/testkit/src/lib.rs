//! Test support shared by Keyward's crates (a dev-dependency only).
//!
//! A missing peer tool skips its test with a loud message on a developer's machine; under `CI=true`
//! it fails the test, because a skipped cross-check proves nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod postgres;
pub mod smtp;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Whether the tests run under CI, where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// Reports a missing prerequisite: a panic under CI, a loud skip message elsewhere.
pub fn missing<T>(what: &str, hint: &str) -> Option<T> {
    if in_ci() {
        panic!("{what} is missing and CI=true: a peer check cannot be skipped in CI ({hint})");
    }
    eprintln!("\n!!!!! SKIPPING: {what} is missing ({hint}); scripts/test installs it !!!!!\n");
    None
}

/// The path of an executable on PATH, or `None` (after a loud message) when it is not installed.
pub fn require(tool: &str, package: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(tool);
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    missing(tool, &format!("Debian package {package}"))
}

/// A Python interpreter that can import `module`: `KEYWARD_TEST_PYTHON`, else the workspace's `.venv`.
pub fn python_with(module: &str) -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("KEYWARD_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join(".venv/bin/python"));
    let imports = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|output| output.status.success());
    if imports { Some(python) } else { missing(&format!("python module {module}"), "PyPI, in .venv") }
}

/// Runs one Python program over a JSON value on stdin and returns the JSON it prints: one interpreter
/// start for a whole batch of cases.
pub fn python_json(python: &Path, program: &str, input: &serde_json::Value) -> serde_json::Value {
    let mut child = Command::new(python)
        .args(["-c", program])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "python failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("python printed JSON")
}

/// Runs a command that must succeed and returns its trimmed standard output.
pub fn stdout_of(command: &mut Command) -> String {
    let output = output_of(command);
    assert!(
        output.status.success(),
        "{command:?} failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output").trim().to_owned()
}

/// Runs a command and returns its output, whatever its exit status.
pub fn output_of(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"))
}

/// A small deterministic generator for random test inputs (splitmix64), so a failure can be replayed
/// from its seed.
pub struct Inputs(u64);

impl Inputs {
    pub fn new(seed: u64) -> Inputs {
        Inputs(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}
