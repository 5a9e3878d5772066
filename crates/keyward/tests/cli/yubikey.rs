//! YubiKey OTP cross-checks against libyubikey's `ykgenerate`/`ykparse` (yubico-c) and python `yubiotp`.
//!
//! Naming differs between the three: keyward's `counter`/`use` are yubico-c's `counter`/`session use`
//! and yubiotp's `session`/`counter`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::tools::{self, Inputs};

const CASES: usize = 40;
const ALPHABET: &[u8; 16] = b"cbdefghijklnrtuv";

/// Modhex, written here independently of the code under test.
fn modhex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|b| [ALPHABET[usize::from(b >> 4)], ALPHABET[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

/// One key and one OTP's fields, drawn at random.
#[derive(Debug)]
struct Case {
    key: String,
    private_id: String,
    public_id: String,
    counter: u16,
    session_use: u8,
    timestamp: u32,
    random: u16,
}

impl Case {
    fn draw(inputs: &mut Inputs) -> Case {
        let public_id_bytes = inputs.below(9) as usize;
        Case {
            key: hex::encode(inputs.bytes(16)),
            private_id: hex::encode(inputs.bytes(6)),
            public_id: modhex(&inputs.bytes(public_id_bytes)),
            counter: 1 + inputs.below(0x7fff) as u16,
            session_use: inputs.below(256) as u8,
            timestamp: inputs.below(1 << 24) as u32,
            random: inputs.below(1 << 16) as u16,
        }
    }

    /// A software key's state file about to type this case's counter, use and timestamp.
    fn write_state(&self, path: &Path) {
        let state = json!({
            "public_id": self.public_id, "private_id": self.private_id, "counter": self.counter,
            "use": self.session_use, "timestamp": self.timestamp, "exhausted": false,
        });
        std::fs::write(path, state.to_string()).unwrap();
    }

    fn simulate(&self, state: &Path, replug: bool) -> String {
        let mut command = tools::keyward();
        command.args(["yubikey", "simulate", "--key", &self.key, "--private-id", &self.private_id]);
        command.args(["--public-id", &self.public_id, "--state"]).arg(state);
        if replug {
            command.arg("--replug");
        }
        tools::stdout_of(&mut command)
    }
}

/// `keyward yubikey decode` as JSON.
fn keyward_decode(key: &str, otp: &str) -> Value {
    let json = tools::stdout_of(tools::keyward().args(["yubikey", "decode", "--key", key, otp]));
    serde_json::from_str(&json).unwrap_or_else(|error| panic!("decode printed {json:?}: {error}"))
}

/// `ykparse`'s "name: value" lines; the value is its first word ("19 (0x0013)" gives "19"), but the uid
/// keeps all its bytes.
fn ykparse(ykparse: &Path, key: &str, otp: &str) -> HashMap<String, String> {
    // ykparse warns about (and ignores) a public id, so hand it only the token.
    let token = &otp[otp.len() - 32..];
    let output = tools::output_of(Command::new(ykparse).args([key, token]));
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields: HashMap<String, String> = text
        .lines()
        .filter_map(|line| line.trim().split_once(": "))
        .map(|(name, value)| {
            let value = if name == "uid" {
                value.replace(' ', "")
            } else {
                value.split(' ').next().unwrap().to_owned()
            };
            (name.to_owned(), value)
        })
        .collect();
    fields.insert("exit".to_owned(), output.status.success().to_string());
    fields
}

fn temporary_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn ykgenerate_otps_decode_to_the_same_fields() {
    let (Some(ykgenerate), Some(ykparse_path)) =
        (tools::require("ykgenerate", "libyubikey-dev"), tools::require("ykparse", "libyubikey-dev"))
    else {
        return;
    };
    let mut inputs = Inputs::new(0x7962_6b67_656e);
    for index in 0..CASES {
        let case = Case::draw(&mut inputs);
        // Every third case sets the caps-lock flag, which ykgenerate takes as part of the counter.
        let raw_counter = if index % 3 == 0 { case.counter | 0x8000 } else { case.counter };
        let token = tools::stdout_of(Command::new(&ykgenerate).args([
            case.key.as_str(),
            &case.private_id,
            &format!("{raw_counter:04x}"),
            &format!("{:04x}", case.timestamp & 0xffff),
            &format!("{:02x}", case.timestamp >> 16),
            &format!("{:02x}", case.session_use),
        ]));
        let otp = format!("{}{token}", case.public_id);
        let decoded = keyward_decode(&case.key, &otp);
        // ykgenerate draws the random field itself; ykparse tells what it was.
        let parsed = ykparse(&ykparse_path, &case.key, &otp);
        assert_eq!(parsed["crc check"], "ok", "{case:?}");
        let expected = json!({
            "public_id": case.public_id, "private_id": case.private_id, "counter": case.counter,
            "use": case.session_use, "timestamp": case.timestamp, "random": parsed["random"].parse::<u16>().unwrap(),
            "triggered_by_caps_lock": index % 3 == 0,
        });
        assert_eq!(decoded, expected, "case {index}: {case:?}, otp {otp}");
    }
}

#[test]
fn simulated_otps_pass_ykparse_and_advance() {
    let Some(ykparse_path) = tools::require("ykparse", "libyubikey-dev") else { return };
    let dir = temporary_dir("yubikey-simulate");
    let mut inputs = Inputs::new(0x7369_6d75_6c61);
    for index in 0..CASES {
        let mut case = Case::draw(&mut inputs);
        // Stay clear of the last counter (the key would be used up); make one case wrap its use.
        case.counter = case.counter.min(0x7ff0);
        if index == 1 {
            case.session_use = 254;
        }
        let state = dir.join(format!("key-{index}.json"));
        // Half the keys start fresh (first plug-in: counter 1, use 0), half from a random position.
        let (mut counter, mut session_use) = if index % 2 == 0 {
            (1, 0)
        } else {
            case.write_state(&state);
            (u64::from(case.counter), u64::from(case.session_use))
        };
        for press in 0..3 {
            let replug = press > 0 && inputs.below(3) == 0;
            if replug {
                (counter, session_use) = (counter + 1, 0);
            }
            let otp = case.simulate(&state, replug);
            let context = format!("case {index} press {press}: {case:?}, otp {otp}");
            let decoded = keyward_decode(&case.key, &otp);
            assert_eq!(decoded["public_id"], case.public_id, "{context}");
            assert_eq!(decoded["private_id"], case.private_id, "{context}");
            assert_eq!(
                (decoded["counter"].as_u64(), decoded["use"].as_u64()),
                (Some(counter), Some(session_use))
            );
            assert_eq!(decoded["triggered_by_caps_lock"], false, "{context}");
            if index % 2 == 1 && press == 0 {
                assert_eq!(decoded["timestamp"], case.timestamp, "{context}");
            }

            let parsed = ykparse(&ykparse_path, &case.key, &otp);
            assert_eq!((parsed["crc check"].as_str(), parsed["exit"].as_str()), ("ok", "true"), "{context}");
            assert_eq!(parsed["uid"], case.private_id, "{context}");
            assert_eq!(parsed["counter"], counter.to_string(), "{context}");
            assert_eq!(parsed["session use"], session_use.to_string(), "{context}");
            assert_eq!(parsed["random"], decoded["random"].to_string(), "{context}");
            let timestamp = parsed["timestamp (high)"].parse::<u64>().unwrap() << 16
                | parsed["timestamp (low)"].parse::<u64>().unwrap();
            assert_eq!(Some(timestamp), decoded["timestamp"].as_u64(), "{context}");

            // The next press comes one use later (the use wrapping into the counter).
            (counter, session_use) =
                if session_use == 255 { (counter + 1, 0) } else { (counter, session_use + 1) };
        }
        let saved = std::fs::read_to_string(&state).unwrap();
        assert!(!saved.contains(&case.key), "the state file must not hold the AES key: {saved}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_used_up_key_types_no_more() {
    let dir = temporary_dir("yubikey-used-up");
    let state = dir.join("key.json");
    let case = Case { counter: 0x7fff, session_use: 255, ..Case::draw(&mut Inputs::new(7)) };
    case.write_state(&state);
    let last = keyward_decode(&case.key, &case.simulate(&state, false));
    assert_eq!((last["counter"].as_u64(), last["use"].as_u64()), (Some(0x7fff), Some(255)));
    let mut again = tools::keyward();
    again.args(["yubikey", "simulate", "--key", &case.key, "--private-id", &case.private_id]);
    again.args(["--public-id", &case.public_id, "--state"]).arg(&state);
    let output = tools::output_of(&mut again);
    assert!(!output.status.success() && output.stdout.is_empty(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("used up"), "{output:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs yubiotp once for all cases: `encode` (OTP fields to OTPs) and `decode` (OTPs to fields).
fn yubiotp(python: &Path, request: &Value) -> Value {
    const SCRIPT: &str = r#"
import json, sys
from binascii import hexlify, unhexlify
from yubiotp.otp import OTP, decode_otp, encode_otp

request = json.load(sys.stdin)
encoded = []
for case in request["encode"]:
    # yubiotp's "session" is the non-volatile counter and its "counter" the session use.
    otp = OTP(unhexlify(case["private_id"]), case["counter"], case["timestamp"], case["use"], case["random"])
    encoded.append(encode_otp(otp, unhexlify(case["key"]), case["public_id"].encode()).decode())
decoded = []
for case in request["decode"]:
    public_id, otp = decode_otp(case["otp"].encode(), unhexlify(case["key"]))
    decoded.append({"public_id": public_id.decode(), "private_id": hexlify(otp.uid).decode(),
                    "counter": otp.session, "use": otp.counter, "timestamp": otp.timestamp, "random": otp.rand})
json.dump({"encoded": encoded, "decoded": decoded}, sys.stdout)
"#;
    tools::python_json(python, SCRIPT, request)
}

#[test]
fn yubiotp_agrees_in_both_directions() {
    let Some(python) = tools::python_with("yubiotp") else { return };
    let dir = temporary_dir("yubikey-yubiotp");
    let mut inputs = Inputs::new(0x7975_6269_6f74);

    // yubiotp encodes, keyward decodes; every third case with the caps-lock flag in the counter field.
    let to_keyward: Vec<Case> = (0..CASES).map(|_| Case::draw(&mut inputs)).collect();
    let encode: Vec<Value> = to_keyward
        .iter()
        .enumerate()
        .map(|(index, case)| {
            let counter = if index % 3 == 0 { case.counter | 0x8000 } else { case.counter };
            json!({"key": case.key, "private_id": case.private_id, "public_id": case.public_id,
                   "counter": counter, "use": case.session_use, "timestamp": case.timestamp, "random": case.random})
        })
        .collect();

    // keyward's software key types, yubiotp decodes.
    let to_yubiotp: Vec<Case> = (0..CASES).map(|_| Case::draw(&mut inputs)).collect();
    let typed: Vec<String> = to_yubiotp
        .iter()
        .enumerate()
        .map(|(index, case)| {
            let state = dir.join(format!("key-{index}.json"));
            case.write_state(&state);
            case.simulate(&state, false)
        })
        .collect();
    let decode: Vec<Value> =
        to_yubiotp.iter().zip(&typed).map(|(case, otp)| json!({"key": case.key, "otp": otp})).collect();

    let answer = yubiotp(&python, &json!({"encode": encode, "decode": decode}));

    for (index, (case, otp)) in to_keyward.iter().zip(answer["encoded"].as_array().unwrap()).enumerate() {
        let otp = otp.as_str().unwrap();
        let expected = json!({
            "public_id": case.public_id, "private_id": case.private_id, "counter": case.counter,
            "use": case.session_use, "timestamp": case.timestamp, "random": case.random,
            "triggered_by_caps_lock": index % 3 == 0,
        });
        assert_eq!(keyward_decode(&case.key, otp), expected, "yubiotp case {index}: {case:?}, otp {otp}");
    }
    for (index, ((case, otp), theirs)) in
        to_yubiotp.iter().zip(&typed).zip(answer["decoded"].as_array().unwrap()).enumerate()
    {
        let ours = keyward_decode(&case.key, otp);
        let expected = json!({
            "public_id": case.public_id, "private_id": case.private_id, "counter": case.counter,
            "use": case.session_use, "timestamp": case.timestamp, "random": ours["random"],
        });
        assert_eq!(theirs, &expected, "keyward case {index}: {case:?}, otp {otp}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn decode_refuses_bad_input_with_a_clear_message() {
    const KEY: &str = "ecde18dbe76fbd0c33330f1c354871db";
    const OTP: &str = "dteffujehknhfjbrjnlnldnhcujvddbikngjrtgh";
    let cases = [
        ("ecde18dbe76fbd0c33330f1c354871dc", OTP, "CRC check failed"),
        (KEY, "dteffujehknhfjbrjnlnldnhcujvddbikngjrtgg", "CRC check failed"),
        (KEY, &OTP[9..], "32 to 48 modhex characters, got 31"),
        (KEY, &format!("ccccccccc{OTP}"), "32 to 48 modhex characters, got 49"),
        (KEY, &OTP.replace('d', "a"), "not modhex"),
        (KEY, "", "got 0"),
        ("ecde18dbe76fbd0c", OTP, "--key: a YubiKey AES key must be 32 hexadecimal characters"),
    ];
    for (key, otp, message) in cases {
        let output = tools::output_of(tools::keyward().args(["yubikey", "decode", "--key", key, otp]));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "decode {otp} under {key} succeeded");
        assert!(stderr.starts_with("keyward: ") && stderr.contains(message), "{otp} under {key}: {stderr}");
        assert!(output.stdout.is_empty(), "{otp} under {key} printed {:?}", output.stdout);
    }
}
