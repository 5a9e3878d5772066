//! The storage commands end to end on the embedded SQLite default: import a key's secret, check its OTPs,
//! rotate the master key (every later command is a restart), verify the audit log and catch tampering.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::{self, Inputs};

/// A data directory of its own, and commands run with it as the working directory.
struct Instance {
    dir: PathBuf,
}

impl Instance {
    fn new(name: &str) -> Instance {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("storage-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Instance { dir }
    }

    fn keyward(&self, args: &[&str]) -> Command {
        let mut command = tools::keyward();
        command.current_dir(&self.dir).args(args).env_remove("KEYWARD_MASTER_KEY");
        command
    }

    fn ok(&self, args: &[&str]) -> String {
        tools::stdout_of(&mut self.keyward(args))
    }

    fn fails(&self, args: &[&str]) -> String {
        let output = tools::output_of(&mut self.keyward(args));
        assert!(
            !output.status.success(),
            "{args:?} should fail: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    fn key_file(&self) -> PathBuf {
        self.dir.join("keyward-data/master.key")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn imported_keys_verify_across_a_master_key_rotation() {
    let instance = Instance::new("rotate");
    let mut inputs = Inputs::new(0x5eed);
    let (aes_key, private_id) = (hex(&inputs.bytes(16)), hex(&inputs.bytes(6)));
    let public_id = "vvcccbdefghi";
    std::fs::write(
        instance.dir.join("keys.csv"),
        format!("LOGGING START,11/28/26 10:00 AM\nYubico OTP,11/28/26 10:01 AM,1,{public_id},{private_id},{aes_key},,,0,0,0,0,0,0,0,0,0,0\n"),
    )
    .unwrap();
    assert_eq!(instance.ok(&["migrate"]), "the sqlite database schema is up to date");
    assert_eq!(
        instance.ok(&["migrate"]),
        "the sqlite database schema is up to date",
        "running twice changes nothing"
    );
    assert!(instance.ok(&["yubikey", "import", "keys.csv"]).starts_with("imported 1 YubiKey secrets"));
    assert!(
        instance
            .ok(&["yubikey", "import", "keys.csv"])
            .contains(&format!("already known, left unchanged: {public_id}"))
    );
    let mode = std::fs::metadata(instance.key_file()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the master key file is private");
    let first_key = std::fs::read_to_string(instance.key_file()).unwrap();

    let touch = || {
        instance.ok(&[
            "yubikey",
            "simulate",
            "--key",
            &aes_key,
            "--private-id",
            &private_id,
            "--public-id",
            public_id,
            "--state",
            "key.json",
        ])
    };
    let first_otp = touch();
    let verified: serde_json::Value =
        serde_json::from_str(&instance.ok(&["yubikey", "verify", &first_otp])).unwrap();
    assert_eq!(verified["status"], "OK");
    assert_eq!(verified["public_id"], public_id);
    assert!(
        instance.fails(&["yubikey", "verify", &first_otp]).contains("already used"),
        "a replay is refused"
    );

    let rotated = instance.ok(&["keys", "rotate"]);
    assert!(rotated.starts_with("re-sealed 1 secrets under the new master key"), "{rotated}");
    let second_key = std::fs::read_to_string(instance.key_file()).unwrap();
    assert_ne!(first_key, second_key);
    assert_eq!(second_key.lines().filter(|l| !l.trim().is_empty()).count(), 1, "the old key is retired");
    assert_eq!(std::fs::metadata(instance.key_file()).unwrap().permissions().mode() & 0o777, 0o600);

    // A new process: the key file now holds only the new key, and the secret opens under it.
    let second_otp = touch();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&instance.ok(&["yubikey", "verify", &second_otp])).unwrap()
            ["status"],
        "OK"
    );
    assert!(instance.fails(&["yubikey", "verify", &first_otp]).contains("already used"));
    // With the old key restored, nothing opens: the secret really moved to the new key.
    std::fs::write(instance.key_file(), &first_key).unwrap();
    assert!(instance.fails(&["yubikey", "verify", &touch()]).contains("master key"));
    std::fs::write(instance.key_file(), &second_key).unwrap();

    let unknown = "vvcccccccccc".to_owned() + &"c".repeat(32);
    assert!(instance.fails(&["yubikey", "verify", &unknown]).contains("no YubiKey with public id"));
    assert_eq!(
        instance.ok(&["audit", "verify"]),
        "the audit log is intact: 3 events",
        "two imports and a rotation"
    );
}

#[test]
fn audit_verify_reports_tampering() {
    let instance = Instance::new("audit");
    std::fs::write(instance.dir.join("empty.csv"), "LOGGING START,11/28/26\n").unwrap();
    for _ in 0..3 {
        instance.ok(&["yubikey", "import", "empty.csv"]);
    }
    assert_eq!(instance.ok(&["audit", "verify"]), "the audit log is intact: 3 events");
    let database = instance.dir.join("keyward-data/keyward.db");
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        use sqlx::Connection;
        let mut connection =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", database.display())).await.unwrap();
        sqlx::query("UPDATE audit_events SET detail = 'nothing happened' WHERE seq = 2")
            .execute(&mut connection)
            .await
            .unwrap();
    });
    let stderr = instance.fails(&["audit", "verify"]);
    assert!(stderr.contains("event 2 was edited"), "{stderr}");
}

#[test]
fn a_malformed_import_imports_nothing() {
    let instance = Instance::new("badimport");
    std::fs::write(
        instance.dir.join("bad.csv"),
        "4711,vvccccfhcbik,0102030405a6,00112233445566778899aabbccddeeff,,2026-11-28T10:03:00,\n4712,vvccccfhcbil,nothex,00,,x,\n",
    )
    .unwrap();
    let stderr = instance.fails(&["yubikey", "import", "bad.csv"]);
    assert!(stderr.contains("line 2"), "{stderr}");
    assert_eq!(
        instance.ok(&["audit", "verify"]),
        "the audit log is intact: 0 events",
        "nothing was recorded"
    );
}
