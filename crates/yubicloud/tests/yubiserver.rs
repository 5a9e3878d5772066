#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! A smoke test against a validation server we did not write: Debian's `yubiserver` (a small C server
//! speaking the Validation Protocol 2.0). Only a smoke test: TOOLS.md notes it mis-signs `timestamp=1`
//! answers, so our client (which does not ask for them) is all that is exercised.
//!
//! TOOLS.md also says it accepts a replayed OTP. That happens when the database is not writable by the
//! `yubiserver` user it switches to when started as root: it then silently fails to store the key's
//! counters. With the database writable, as set up here, it answers REPLAYED_OTP.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::TestRng;
use keyward_core::wsapi::ClientKey;
use keyward_core::yubico::{AesKey, PrivateId, PublicId, SoftwareKey, SoftwareKeyState};
use keyward_yubicloud::{Verdict, YubiCloudClient};

const PUBLIC_ID: &str = "vvccccbbdddd";
const PRIVATE_ID: &str = "8792ebfe26cc";
const AES_KEY: &str = "ecde18dbe76fbd0c33330f1c354871db";
/// yubiserver-admin takes a 20-character API key and stores (and prints) its base64.
const API_KEY_TEXT: &str = "keywardsmoketest0001";

/// A running yubiserver, stopped on drop. It daemonizes, so its process id is looked up afterwards by
/// its command line, which names our private database file.
struct Yubiserver {
    dir: PathBuf,
    database: PathBuf,
    port: u16,
}

impl Yubiserver {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/wsapi/2.0/verify", self.port)
    }

    /// The ids of the processes running with our database file on their command line.
    fn pids(&self) -> Vec<u32> {
        let database = self.database.to_string_lossy().into_owned();
        let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                    let args: Vec<&[u8]> = cmdline.split(|byte| *byte == 0).collect();
                    args.first().is_some_and(|program| program.ends_with(b"yubiserver"))
                        && args.contains(&database.as_bytes())
                })
            })
            .collect()
    }
}

impl Drop for Yubiserver {
    fn drop(&mut self) {
        for pid in self.pids() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(program: &Path, args: &[&str]) -> String {
    keyward_testkit::stdout_of(Command::new(program).args(args))
}

/// Sets up a database with one YubiKey and one API client and starts yubiserver on a free port.
/// Returns the server and the client's id.
fn start(server: &Path, admin: &Path) -> (Yubiserver, u64) {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = std::env::temp_dir().join(format!("keyward-yubiserver-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let database = dir.join("yubiserver.sqlite");
    std::fs::copy("/etc/yubiserver/yubiserver.sqlite.init", &database).unwrap();
    // Started as root, yubiserver drops to its own user, which must still write the database (the
    // key's counters) and its journal next to it; if it cannot, it fails silently and accepts replays.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o666)).unwrap();
    let yubiserver = Yubiserver { dir: dir.clone(), database: database.clone(), port };

    let db = database.to_str().unwrap();
    run(admin, &["-b", db, "-y", "-a", "smoke", PUBLIC_ID, PRIVATE_ID, AES_KEY]);
    let added = run(admin, &["-b", db, "-p", "-a", "keyward", API_KEY_TEXT]);
    let id = added
        .lines()
        .find_map(|line| line.strip_prefix("You API key ID is:"))
        .and_then(|id| id.trim().parse().ok())
        .unwrap_or_else(|| panic!("no API key id in yubiserver-admin's output: {added}"));

    let log = dir.join("yubiserver.log");
    let status = Command::new(server)
        .args(["-d", db, "-p", &port.to_string(), "-l", log.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success(), "yubiserver did not start: {status}");
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (yubiserver, id);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("yubiserver does not listen on port {port}");
}

#[tokio::test]
async fn yubiserver_accepts_a_fresh_otp_with_a_signed_answer() {
    let Some(server) = keyward_testkit::require("yubiserver", "yubiserver") else { return };
    let Some(admin) = keyward_testkit::require("yubiserver-admin", "yubiserver") else { return };
    let (yubiserver, client_id) = start(&server, &admin);

    let key = ClientKey::from_bytes(API_KEY_TEXT.as_bytes()).unwrap();
    let client =
        YubiCloudClient::new(client_id, Some(key), vec![yubiserver.url()], Duration::from_secs(10)).unwrap();
    let mut rng = TestRng(3);
    let mut state = SoftwareKeyState::new(
        PublicId::parse(PUBLIC_ID).unwrap(),
        PrivateId::parse(PRIVATE_ID).unwrap(),
        &mut rng,
    );
    // Past the counter yubiserver stores for a new key.
    state.counter = 2;
    let mut yubikey = SoftwareKey::new(AesKey::parse(AES_KEY).unwrap(), state);

    // Each answer passed our client's checks: signature under the API key, echoed OTP and nonce.
    let first = yubikey.press(&mut rng).unwrap();
    assert_eq!(client.verify(&first, &mut rng).await, Ok(Verdict::Valid));
    let second = yubikey.press(&mut rng).unwrap();
    assert_eq!(client.verify(&second, &mut rng).await, Ok(Verdict::Valid));

    // An OTP under another AES key does not decrypt: yubiserver must not call it valid.
    let mut stranger = SoftwareKey::new(
        AesKey::parse("00112233445566778899aabbccddeeff").unwrap(),
        SoftwareKeyState::new(
            PublicId::parse(PUBLIC_ID).unwrap(),
            PrivateId::parse(PRIVATE_ID).unwrap(),
            &mut rng,
        ),
    );
    let forged = stranger.press(&mut rng).unwrap();
    assert_eq!(client.verify(&forged, &mut rng).await, Ok(Verdict::BadOtp));

    // The same OTP again, as an attacker who saw it typed would send it.
    assert_eq!(client.verify(&first, &mut rng).await, Ok(Verdict::Replayed));
    drop(yubiserver);
}
