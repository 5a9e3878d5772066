//! Keyward as a self-hosted YubiCloud: Yubico's own clients — the C `ykclient`, the Python
//! `yubico-client`, and a Linux login through `pam_yubico` driven by `pamtester` — validate OTPs of an
//! imported key against `keyward serve`'s `/wsapi/2.0/verify`; so does our own YubiCloud client.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::operations::{Server, get, keyward, scratch, yubikey_log};
use crate::tools;

/// The software key of `yubikey_log`.
const AES: &str = "00112233445566778899aabbccddeeff";
const PRIVATE_ID: &str = "0a0b0c0d0e0f";
const PUBLIC_ID: &str = "vvcccbdefghi";
const WRONG_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// A server with the key imported and one protocol client; its id and key.
fn server_with_client(dir: &Path) -> (Server, String, String) {
    yubikey_log(dir);
    assert!(tools::stdout_of(keyward(dir).args(["yubikey", "import", "keys.csv"])).contains("imported 1"));
    let added = tools::stdout_of(keyward(dir).args(["yubikey", "client", "add", "--name", "peer tests"]));
    let (id, key) = added.strip_prefix("id=").and_then(|rest| rest.split_once(" key=")).expect(&added);
    let listed = tools::stdout_of(keyward(dir).args(["yubikey", "client", "list"]));
    assert!(listed.starts_with(&format!("{id}\tpeer tests\t")), "{listed}");
    let mut server = Server::start(&mut keyward(dir));
    server.ready();
    (server, id.to_owned(), key.to_owned())
}

/// The key's next OTP, typed by `keyward yubikey simulate`.
pub(crate) fn touch(dir: &Path) -> String {
    let state = dir.join("key-state.json");
    tools::stdout_of(
        keyward(dir).args(["yubikey", "simulate", "--key", AES, "--private-id", PRIVATE_ID]).args([
            "--public-id",
            PUBLIC_ID,
            "--state",
            state.to_str().unwrap(),
        ]),
    )
}

fn verify_url(server: &Server) -> String {
    format!("http://127.0.0.1:{}/wsapi/2.0/verify", server.port)
}

/// `ykclient`'s exit status: 0 OK, 2 REPLAYED_OTP, 3 any other failure.
fn ykclient(ykclient: &Path, url: &str, key: &str, id: &str, otp: &str) -> i32 {
    let output = tools::output_of(Command::new(ykclient).args(["--url", url, "--apikey", key, id, otp]));
    output.status.code().unwrap()
}

#[test]
fn ykclient_validates_against_keyward() {
    let Some(ykclient_path) = tools::require("ykclient", "libykclient3") else { return };
    let dir = scratch("ykclient");
    let (server, id, key) = server_with_client(&dir);
    let url = verify_url(&server);
    let otp = touch(&dir);
    assert_eq!(ykclient(&ykclient_path, &url, &key, &id, &otp), 0, "a fresh OTP is OK");
    assert_eq!(ykclient(&ykclient_path, &url, &key, &id, &otp), 2, "the same OTP again is REPLAYED_OTP");
    let fresh = touch(&dir);
    assert_eq!(ykclient(&ykclient_path, &url, WRONG_KEY, &id, &fresh), 3, "a wrong key fails the signature");
    assert_eq!(ykclient(&ykclient_path, &url, &key, "999", &fresh), 3, "an unknown client id");
    let mut malformed = fresh.clone();
    malformed.replace_range(fresh.len() - 1.., if fresh.ends_with('c') { "b" } else { "c" });
    assert_eq!(ykclient(&ykclient_path, &url, &key, &id, &malformed), 3, "an OTP that does not decrypt");
    assert_eq!(ykclient(&ykclient_path, &url, &key, &id, &fresh), 0, "refusals used nothing up");

    // The protocol and a login share one (counter, use): an OTP accepted here is used up everywhere.
    let local = tools::output_of(keyward(&dir).args(["yubikey", "verify", &fresh]));
    assert!(!local.status.success(), "an OTP the protocol accepted is refused at a local check");
    let next = touch(&dir);
    assert!(tools::stdout_of(keyward(&dir).args(["yubikey", "verify", &next])).contains("\"status\":\"OK\""));
    assert_eq!(ykclient(&ykclient_path, &url, &key, &id, &next), 2, "and the other way round");
}

/// The statuses the raw protocol answers, signatures aside.
#[test]
fn the_same_otp_and_nonce_again_is_a_replayed_request() {
    let dir = scratch("replayed-request");
    let (server, id, _) = server_with_client(&dir);
    let otp = touch(&dir);
    let status = |nonce: &str| {
        let answer = get(server.port, &format!("/wsapi/2.0/verify?id={id}&otp={otp}&nonce={nonce}")).unwrap();
        answer.lines().find_map(|line| line.strip_prefix("status=")).unwrap_or_default().to_owned()
    };
    assert_eq!(status("abcdefghijklmnopqrst"), "OK");
    assert_eq!(status("abcdefghijklmnopqrst"), "REPLAYED_REQUEST");
    assert_eq!(status("zyxwvutsrqponmlkjihg"), "REPLAYED_OTP");
    let missing = get(server.port, "/wsapi/2.0/verify?otp=x").unwrap();
    assert!(missing.contains("status=MISSING_PARAMETER"), "{missing}");

    // `timestamp=1` and `sl` are answered with the key's counters (`simulate`'s first touch after a
    // plug-in is counter 1, use 0, its second use 1) and the sync level.
    let next = touch(&dir);
    let answer = get(
        server.port,
        &format!("/wsapi/2.0/verify?id={id}&otp={next}&nonce=timestampnonce1234&timestamp=1&sl=50"),
    )
    .unwrap();
    for line in ["status=OK", "sessioncounter=1", "sessionuse=1", "sl=100"] {
        assert!(answer.lines().any(|l| l == line), "{line} in {answer}");
    }
    assert!(answer.lines().any(|l| l.starts_with("timestamp=")), "{answer}");
    // A line break in the otp is not echoed into the answer's lines: a clear BAD_OTP, not a failure.
    let broken = get(
        server.port,
        &format!("/wsapi/2.0/verify?id={id}&otp=vvcccbdefghi%0Astatus=OK&nonce=abcdefghijklmnopqrst"),
    )
    .unwrap();
    assert!(broken.contains("status=BAD_OTP") && !broken.contains("status=OK"), "{broken}");
}

#[test]
fn the_python_yubico_client_validates_against_keyward() {
    let Some(python) = tools::python_with("yubico_client") else { return };
    let dir = scratch("yubico-client");
    let (server, id, key) = server_with_client(&dir);
    let program = r#"
import json, sys
from yubico_client import Yubico
from yubico_client.yubico_exceptions import SignatureVerificationError, StatusCodeError
case = json.load(sys.stdin)
def attempt(client_id, key, otp):
    try:
        return str(Yubico(client_id, key, api_urls=(case["url"],)).verify(otp, timeout=5))
    except StatusCodeError as error:
        return error.status_code
    except SignatureVerificationError:
        return "bad signature"
    except Exception as error:
        return str(error)
print(json.dumps([
    attempt(case["id"], case["key"], case["otp"]),
    attempt(case["id"], case["key"], case["otp"]),
    attempt(case["id"], case["wrong_key"], case["fresh"]),
    attempt(case["id"], case["key"], case["malformed"]),
    attempt(case["id"], case["key"], case["fresh"]),
]))
"#;
    let (otp, fresh) = (touch(&dir), touch(&dir));
    let case = serde_json::json!({
        "url": verify_url(&server), "id": id, "key": key, "wrong_key": WRONG_KEY,
        "otp": otp, "fresh": fresh, "malformed": "vvcccbdefghi" .to_owned() + &"c".repeat(32),
    });
    let answers = tools::python_json(&python, program, &case);
    assert_eq!(
        answers,
        serde_json::json!(["True", "REPLAYED_OTP", "bad signature", "NO_VALID_ANSWERS", "True"]),
        "fresh, replayed, a wrong key, an OTP of no key, then the untouched fresh OTP"
    );
}

#[test]
fn a_linux_login_through_pam_yubico_accepts_the_key_once() {
    let Some(pamtester) = tools::require("pamtester", "pamtester") else { return };
    let module = ["/lib/security/pam_yubico.so", "/usr/lib/x86_64-linux-gnu/security/pam_yubico.so"]
        .into_iter()
        .find(|path| Path::new(path).exists());
    let Some(module) = module else {
        return tools::missing("pam_yubico.so", "Debian package libpam-yubico").unwrap_or(());
    };
    let pam_dir = Path::new("/etc/pam.d");
    let service = format!("keyward-test-{}", std::process::id());
    let writable = std::fs::metadata(pam_dir).is_ok_and(|m| !m.permissions().readonly())
        && std::fs::write(pam_dir.join(&service), "").is_ok();
    if !writable {
        return tools::missing("a writable /etc/pam.d (run as root)", "scripts/test runs as root in CI")
            .unwrap_or(());
    }
    let dir = scratch("pam-yubico");
    let (server, id, key) = server_with_client(&dir);
    let authfile = dir.join("authfile");
    std::fs::write(&authfile, format!("alice:{PUBLIC_ID}\n")).unwrap();
    let config = format!(
        "auth required {module} id={id} key={key} urllist={} authfile={}\naccount required pam_permit.so\n",
        verify_url(&server),
        authfile.display()
    );
    std::fs::write(pam_dir.join(&service), config).unwrap();
    let log_in = |otp: &str| {
        let mut child = Command::new(&pamtester)
            .args([&service, "alice", "authenticate"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(format!("{otp}\n").as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let otp = touch(&dir);
    let first = log_in(&otp);
    let again = log_in(&otp);
    let _ = std::fs::remove_file(pam_dir.join(&service));
    assert!(first.0 && first.1.contains("successfully authenticated"), "the key's OTP logs in: {first:?}");
    assert!(!again.0, "the same OTP again does not: {again:?}");
}

/// Bytes for nonces: a counter, different on every call (tests only).
struct CountingEntropy(std::sync::atomic::AtomicU64);

impl keyward_core::ports::Entropy for CountingEntropy {
    fn fill(&self, buffer: &mut [u8]) {
        for byte in buffer {
            *byte = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) as u8;
        }
    }
}

#[test]
fn our_yubicloud_client_validates_against_our_server() {
    use keyward_core::wsapi::ClientKey;
    use keyward_core::yubico::YubikeyOtp;
    use keyward_yubicloud::{Verdict, YubiCloudClient};

    let dir = scratch("own-client");
    let (server, id, key) = server_with_client(&dir);
    let client = |key: &str| {
        let key = ClientKey::from_base64(key).unwrap();
        YubiCloudClient::new(
            id.parse().unwrap(),
            Some(key),
            vec![verify_url(&server)],
            Duration::from_secs(5),
        )
        .unwrap()
    };
    let entropy = CountingEntropy(std::sync::atomic::AtomicU64::new(7));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let verify = |client: &YubiCloudClient, otp: &str| {
        let otp = YubikeyOtp::parse(otp).unwrap();
        runtime.block_on(client.verify(&otp, &mut keyward_core::ports::EntropyRng(&entropy)))
    };
    let (ours, otp) = (client(&key), touch(&dir));
    assert_eq!(verify(&ours, &otp).unwrap(), Verdict::Valid);
    assert_eq!(verify(&ours, &otp).unwrap(), Verdict::Replayed);
    let noise = format!("{PUBLIC_ID}{}", "c".repeat(32));
    assert_eq!(verify(&ours, &noise).unwrap(), Verdict::BadOtp);
    // With the wrong key our answer's signature does not verify: no verdict at all, never a valid OTP.
    assert!(verify(&client(WRONG_KEY), &touch(&dir)).is_err(), "a wrongly signed answer is no answer");
}
