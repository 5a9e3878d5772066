//! TOTP codes and otpauth URIs, checked against oathtool and pyotp on random inputs.

use std::process::Command;

use crate::tools::{self, Inputs};

const ALGORITHMS: [&str; 3] = ["sha1", "sha256", "sha512"];

/// One random TOTP setup and a random moment.
struct Case {
    secret: String,
    algorithm: &'static str,
    digits: u64,
    period: u64,
    time: u64,
}

fn random_cases(seed: u64, count: usize, min_secret_len: u64) -> Vec<Case> {
    let mut inputs = Inputs::new(seed);
    (0..count)
        .map(|_| {
            let len = (min_secret_len + inputs.below(64 - min_secret_len + 1)) as usize;
            let secret = data_encoding_base32(&inputs.bytes(len));
            Case {
                secret,
                algorithm: ALGORITHMS[inputs.below(3) as usize],
                digits: 6 + inputs.below(3),
                period: [30, 60, 1 + inputs.below(120)][inputs.below(3) as usize],
                time: inputs.below(4_000_000_000),
            }
        })
        .collect()
}

/// Base32 written by hand here so the test's input does not come from the code under test.
fn data_encoding_base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn keyward_totp(case: &Case) -> String {
    tools::stdout_of(tools::keyward().args([
        "otp",
        "totp",
        "--secret",
        &case.secret,
        "--time",
        &case.time.to_string(),
        "--algorithm",
        case.algorithm,
        "--digits",
        &case.digits.to_string(),
        "--period",
        &case.period.to_string(),
    ]))
}

#[test]
fn codes_match_oathtool_including_80_bit_secrets() {
    let Some(oathtool) = tools::require("oathtool", "oathtool") else { return };
    for case in random_cases(0x0a7, 40, 10) {
        let mode =
            if case.algorithm == "sha1" { "--totp".to_owned() } else { format!("--totp={}", case.algorithm) };
        let expected = tools::stdout_of(Command::new(&oathtool).args([
            mode.as_str(),
            "-b",
            &format!("--digits={}", case.digits),
            &format!("--time-step-size={}s", case.period),
            "-N",
            &format!("@{}", case.time),
            &case.secret,
        ]));
        assert_eq!(
            keyward_totp(&case),
            expected,
            "secret {} {} {} digits {}s at {}",
            case.secret,
            case.algorithm,
            case.digits,
            case.period,
            case.time
        );
    }
}

#[test]
fn codes_and_uris_match_pyotp_both_ways() {
    let Some(python) = tools::python_with("pyotp") else { return };
    let cases = random_cases(0x9e0, 30, 16);
    let accounts = ["alice@example.com", "bob smith@example.org", "ops+2fa@example.net", "Zoë"];
    // pyotp percent-decodes the whole URI before splitting it, so it misreads names holding & ? = / or +
    // (which we encode correctly); the names here stay clear of that peer's limitation.
    let issuers = ["Keyward", "ACME Co", "Ünïcode Sons", "Dot.Com_Ltd~"];
    let mut ours = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let (account, issuer) = (accounts[index % accounts.len()], issuers[index % issuers.len()]);
        let uri = tools::stdout_of(tools::keyward().args([
            "otp",
            "uri",
            "--secret",
            &case.secret,
            "--account",
            account,
            "--issuer",
            issuer,
            "--algorithm",
            case.algorithm,
            "--digits",
            &case.digits.to_string(),
            "--period",
            &case.period.to_string(),
        ]));
        ours.push(serde_json::json!({
            "uri": uri, "time": case.time, "code": keyward_totp(case),
            "secret": case.secret, "account": account, "issuer": issuer,
            "algorithm": case.algorithm, "digits": case.digits, "period": case.period,
        }));
    }
    // pyotp reads our URIs as an app would, computes the code at the same time, and writes its own URI
    // for the same setup, which we then read back.
    let program = r#"
import json, sys, hashlib, pyotp
out = []
for c in json.load(sys.stdin):
    t = pyotp.parse_uri(c["uri"])
    own = pyotp.TOTP(c["secret"], digits=c["digits"], digest=getattr(hashlib, c["algorithm"]), interval=c["period"],
                     name=c["account"], issuer=c["issuer"])
    out.append({"name": t.name, "issuer": t.issuer, "secret": t.secret, "digits": t.digits,
                "digest": t.digest().name, "interval": t.interval, "code": t.at(c["time"]),
                "own_uri": own.provisioning_uri()})
print(json.dumps(out))
"#;
    let theirs = tools::python_json(&python, program, &serde_json::Value::Array(ours.clone()));
    for (ours, theirs) in ours.iter().zip(theirs.as_array().unwrap()) {
        assert_eq!(theirs["name"], ours["account"], "{ours}");
        assert_eq!(theirs["issuer"], ours["issuer"], "{ours}");
        assert_eq!(theirs["secret"], ours["secret"], "{ours}");
        assert_eq!(theirs["digits"], ours["digits"], "{ours}");
        assert_eq!(theirs["digest"], ours["algorithm"], "{ours}");
        assert_eq!(theirs["interval"], ours["period"], "{ours}");
        assert_eq!(theirs["code"], ours["code"], "{ours}");
        let from_their_uri = tools::stdout_of(tools::keyward().args([
            "otp",
            "totp",
            "--uri",
            theirs["own_uri"].as_str().unwrap(),
            "--time",
            &ours["time"].to_string(),
        ]));
        assert_eq!(serde_json::Value::from(from_their_uri), ours["code"], "reading {}", theirs["own_uri"]);
    }
}

#[test]
fn bad_input_exits_non_zero_with_a_reason() {
    for (args, reason) in [
        (vec!["otp", "totp", "--secret", "NOT-BASE32!"], "base32"),
        (vec!["otp", "totp", "--secret", "JBSWY3DPEHPK3PXP", "--digits", "9"], "digits"),
        (vec!["otp", "totp", "--secret", "JBSWY3DPEHPK3PXP", "--period", "0"], "period"),
        (vec!["otp", "totp", "--uri", "otpauth://hotp/x?secret=JBSWY3DP"], "totp"),
        (vec!["otp", "uri", "--secret", "JBSWY3DPEHPK3PXP", "--account", "a:b", "--issuer", "X"], "colon"),
    ] {
        let output = tools::output_of(tools::keyward().args(&args));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} should fail");
        assert!(output.stdout.is_empty(), "{args:?} printed a result");
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
