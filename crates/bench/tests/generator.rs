//! The load generator against real nodes, briefly: every workload's requests are real successes (the
//! generator checks each answer and counts anything else as an error), and the SQL count sees the one
//! write a verification costs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `keyward` binary that `cargo test` built beside this test.
fn keyward() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let binary = exe.parent().and_then(Path::parent).expect("target/<profile>").join("keyward");
    assert!(
        binary.exists(),
        "{} is missing: build the workspace (cargo test --workspace) first",
        binary.display()
    );
    binary
}

/// Runs the generator with `args` on a scratch folder and returns what it printed.
fn bench(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_keyward-bench"))
        .arg("--keyward")
        .arg(keyward())
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("keyward-bench runs");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "keyward-bench {args:?} failed:\n{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    printed
}

/// The line of a phase, and how many successes and errors it reports.
fn phase(printed: &str, name: &str) -> (u64, u64) {
    let line = printed
        .lines()
        .find(|line| line.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} line in:\n{printed}"));
    let count = |label: &str| {
        let before = line.split(&format!(" {label}")).next().expect("the count");
        before
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {label} count in {line}"))
    };
    (count("ok,"), count("errors"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keyward-bench-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn every_workload_succeeds_on_sqlite() {
    let dir = scratch("sqlite");
    let short = ["--users", "40", "--connections", "4", "--seconds", "1"];
    let printed = bench(&dir, &[&short[..], &["--workload", "verify", "--flood", "1"]].concat());
    for name in ["trivial", "verify", "beside it: password logins"] {
        let (ok, errors) = phase(&printed, name);
        assert!(ok > 0 && errors == 0, "{name}: {ok} ok, {errors} errors:\n{printed}");
    }
    assert!(printed.contains("ratio to the trivial endpoint"), "{printed}");
    // The same fixture again: the YubiKeys' counters continue where the last run stopped.
    for workload in ["wsapi", "login", "verify"] {
        let printed = bench(&dir, &[&short[..], &["--workload", workload, "--no-trivial"]].concat());
        let name =
            printed.lines().nth(1).expect("a phase line").split(':').next().expect("its name").to_owned();
        let (ok, errors) = phase(&printed, &name);
        assert!(ok > 0 && errors == 0, "{workload}: {ok} ok, {errors} errors:\n{printed}");
    }
    let printed =
        bench(&dir, &[&short[..], &["--factor", "totp", "--count-sql", "--sql-requests", "20"]].concat());
    assert!(printed.contains("20 of 20 requests succeeded"), "{printed}");
    assert!(printed.contains("(1.00 writes), 1.00 commits"), "a verification should write once:\n{printed}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn two_nodes_share_a_postgres_database() {
    let Some(database) = keyward_testkit::postgres::FreshDatabase::create().await else { return };
    let dir = scratch("postgres");
    let args = [
        "--database",
        &database.url,
        "--nodes",
        "2",
        "--users",
        "40",
        "--connections",
        "4",
        "--seconds",
        "1",
    ];
    let printed = bench(&dir, &args);
    let (ok, errors) = phase(&printed, "verify");
    assert!(ok > 0 && errors == 0, "{ok} ok, {errors} errors:\n{printed}");
    let printed = bench(&dir, &[&args[..], &["--count-sql", "--sql-requests", "20"]].concat());
    assert!(printed.contains("(1.00 writes), 1.00 commits"), "a verification should write once:\n{printed}");
    let _ = std::fs::remove_dir_all(&dir);
    database.drop_database().await;
}
