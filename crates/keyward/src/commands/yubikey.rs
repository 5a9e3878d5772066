//! `keyward yubikey decode` (decrypt an OTP and show its fields) and `keyward yubikey simulate` (a software
//! YubiKey whose counters live in a JSON file).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use keyward_core::yubico::{self, AesKey, PrivateId, PublicId, SoftwareKey, SoftwareKeyState, YubikeyOtp};
use serde::Serialize;

use crate::adapters;
use crate::cli::{DecodeArgs, SimulateArgs, YubikeyCommand};

pub fn run(command: YubikeyCommand) -> anyhow::Result<()> {
    let line = match command {
        YubikeyCommand::Decode(args) => decode(&args)?,
        YubikeyCommand::Simulate(args) => simulate(&args)?,
    };
    super::print_line(&line);
    Ok(())
}

/// What `decode` prints, one JSON object.
#[derive(Serialize)]
struct Decoded {
    public_id: String,
    private_id: String,
    counter: u16,
    #[serde(rename = "use")]
    session_use: u8,
    timestamp: u32,
    random: u16,
    triggered_by_caps_lock: bool,
}

fn decode(args: &DecodeArgs) -> anyhow::Result<String> {
    let key = AesKey::parse(&args.key).context("--key")?;
    let otp = YubikeyOtp::parse(&args.otp).context("the OTP")?;
    let token = yubico::decode(&otp, &key)?;
    let decoded = Decoded {
        public_id: otp.public_id().to_string(),
        private_id: token.private_id.to_hex(),
        counter: token.counter,
        session_use: token.session_use,
        timestamp: token.timestamp(),
        random: token.random,
        triggered_by_caps_lock: token.triggered_by_caps_lock,
    };
    Ok(serde_json::to_string(&decoded)?)
}

fn simulate(args: &SimulateArgs) -> anyhow::Result<String> {
    let key = AesKey::parse(&args.key).context("--key")?;
    let private_id = PrivateId::parse(&args.private_id).context("--private-id")?;
    let public_id = PublicId::parse(&args.public_id).context("--public-id")?;
    let mut rng = adapters::os_rng();
    let state = match load(&args.state)? {
        Some(state) => {
            let file = args.state.display();
            anyhow::ensure!(
                state.public_id == public_id,
                "the state file {file} belongs to the key with public id {:?}, not {:?}",
                state.public_id.as_str(),
                public_id.as_str()
            );
            anyhow::ensure!(state.private_id == private_id, "the state file {file} has another --private-id");
            state
        }
        None => SoftwareKeyState::new(public_id, private_id, &mut rng),
    };
    let mut software_key = SoftwareKey::new(key, state);
    if args.replug {
        software_key.replug(&mut rng);
    }
    let otp = software_key.press(&mut rng);
    // Saved before printing, so an OTP that was shown is never typed again.
    save(&args.state, software_key.state())?;
    let otp = otp.context("this key's counters are used up (counter 0x7fff): it types no more OTPs")?;
    Ok(otp.to_string())
}

/// The saved state, or `None` when the file does not exist yet.
fn load(path: &Path) -> anyhow::Result<Option<SoftwareKeyState>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let state = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a software key's state file", path.display()))?;
    Ok(Some(state))
}

/// Writes the state to a temporary file beside `path` and renames it over `path`, so a crash leaves
/// either the old state or the new one, never half a file.
fn save(path: &Path, state: &SoftwareKeyState) -> anyhow::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let json = serde_json::to_string_pretty(state)?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(json.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    });
    written
        .and_then(|()| fs::rename(&temporary, path))
        .inspect_err(|_| {
            let _ = fs::remove_file(&temporary);
        })
        .with_context(|| format!("cannot write {}", path.display()))
}
