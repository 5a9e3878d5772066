//! `keyward yubikey decode` (decrypt an OTP and show its fields), `keyward yubikey simulate` (a software
//! YubiKey whose counters live in a JSON file), `import` and `verify` against the database, and
//! `keyward yubikey client` (the Validation Protocol clients).

use std::fs;
use std::path::Path;

use anyhow::Context;
use keyward_core::audit::NewAuditEvent;
use keyward_core::client::add_yubico_client;
use keyward_core::factor::yubikey_seal_context;
use keyward_core::store::{AuditStore, ClientStore, FactorStore, StoreError};
use keyward_core::validate::check_local_yubikey_otp;
use keyward_core::yubico::{
    self, AesKey, PrivateId, PublicId, SoftwareKey, SoftwareKeyState, YubikeyOtp, parse_import_log,
};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::adapters;
use crate::cli::{
    AesKeyArgs, ClientCommand, DecodeArgs, ImportArgs, SimulateArgs, VerifyArgs, YubikeyCommand,
};
use crate::config::Config;
use crate::files::{self, Existing};

/// Runs a subcommand; `config` is loaded only by those that use the database.
pub fn run(command: YubikeyCommand, config: impl Fn() -> anyhow::Result<Config>) -> anyhow::Result<()> {
    let line = match command {
        YubikeyCommand::Decode(args) => decode(&args)?,
        YubikeyCommand::Simulate(args) => simulate(&args)?,
        YubikeyCommand::Import(args) => super::block_on(import(&config()?, &args))?,
        YubikeyCommand::Verify(args) => super::block_on(verify(&config()?, &args))?,
        YubikeyCommand::Client(command) => super::block_on(client(&config()?, command))?,
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
    let key = aes_key(&args.key)?;
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
    let key = aes_key(&args.key)?;
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

/// The AES key from `--key`, or from the file or standard input that `--key-file` names.
fn aes_key(args: &AesKeyArgs) -> anyhow::Result<AesKey> {
    let (text, source) = match (&args.key, &args.key_file) {
        (Some(key), _) => (Zeroizing::new(key.clone()), "--key".to_owned()),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut text = Zeroizing::new(String::new());
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .context("reading the AES key from standard input")?;
            (text, "the key on standard input".to_owned())
        }
        (None, Some(path)) => (
            Zeroizing::new(
                fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
            ),
            path.display().to_string(),
        ),
        (None, None) => anyhow::bail!("give the AES key with --key or --key-file"),
    };
    AesKey::parse(text.trim()).with_context(|| source)
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

/// Writes the state so that a crash leaves either the old state or the new one.
fn save(path: &Path, state: &SoftwareKeyState) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(state)? + "\n";
    files::write_private(path, json.as_bytes(), Existing::Replace)
}

/// `keyward yubikey import FILE`: seals each key's AES key and private id under the master key and stores
/// them. A malformed line imports nothing; keys already known are left as they are.
async fn import(config: &Config, args: &ImportArgs) -> anyhow::Result<String> {
    let file = args.file.display();
    let text = fs::read_to_string(&args.file).with_context(|| format!("cannot read {file}"))?;
    let log = parse_import_log(&text).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("line {}: {}", e.line, e.error)).collect();
        anyhow::anyhow!("{file} was not imported:\n  {}", lines.join("\n  "))
    })?;
    let (store, ring, _) = super::open_with_keys(config).await?;
    let (now, mut rng) = (adapters::now(), adapters::os_rng());
    let (mut imported, mut known) = (0, Vec::new());
    for key in &log.keys {
        let mut secret = Zeroizing::new(key.aes_key.as_bytes().to_vec());
        secret.extend_from_slice(key.private_id.as_bytes());
        let sealed = ring.seal(&secret, &yubikey_seal_context(&key.public_id), &mut rng)?;
        match store.import_yubikey(&key.public_id, &sealed, now).await {
            Ok(_) => imported += 1,
            Err(StoreError::Duplicate(_)) => known.push(key.public_id.as_str().to_owned()),
            Err(error) => return Err(error.into()),
        }
    }
    store
        .append_audit(NewAuditEvent {
            at: now,
            actor: "cli".into(),
            target: "yubikeys".into(),
            action: "yubikey.imported".into(),
            ip: None,
            detail: format!("{imported} keys from {}", args.file.display()),
            account: None,
        })
        .await?;
    let mut summary = format!("imported {imported} YubiKey secrets");
    if !known.is_empty() {
        summary += &format!("; already known, left unchanged: {}", known.join(", "));
    }
    if !log.skipped_lines.is_empty() {
        summary += &format!("; {} lines configure other modes and were skipped", log.skipped_lines.len());
    }
    Ok(summary)
}

/// What `verify` prints for an accepted OTP.
#[derive(Serialize)]
struct Verified {
    status: &'static str,
    public_id: String,
    counter: u16,
    #[serde(rename = "use")]
    session_use: u8,
    registered: bool,
}

/// `keyward yubikey verify OTP`: a local check against the database, counting the OTP as used.
async fn verify(config: &Config, args: &VerifyArgs) -> anyhow::Result<String> {
    let otp = YubikeyOtp::parse(&args.otp).context("the OTP")?;
    let (store, ring, _) = super::open_with_keys(config).await?;
    let accepted = check_local_yubikey_otp(&store, &ring, &otp, None).await??;
    Ok(serde_json::to_string(&Verified {
        status: "OK",
        public_id: accepted.key.public_id.as_str().to_owned(),
        counter: accepted.token.counter,
        session_use: accepted.token.session_use,
        registered: accepted.key.user_id.is_some(),
    })?)
}

/// `keyward yubikey client add|list|remove`.
async fn client(config: &Config, command: ClientCommand) -> anyhow::Result<String> {
    let (store, ring, _) = super::open_with_keys(config).await?;
    let now = adapters::now();
    let (action, detail, line) = match command {
        ClientCommand::Add(args) => {
            let name = args.name.trim();
            anyhow::ensure!(
                name.chars().count() <= 100 && !name.chars().any(char::is_control),
                "the name must be at most 100 characters that can be typed"
            );
            let (client, key) =
                add_yubico_client(&store, &ring, &mut adapters::os_rng(), None, name, now).await?;
            let id = client.id;
            ("yubico_client.added", format!("client {id}"), format!("id={id} key={}", &*key.to_base64()))
        }
        ClientCommand::List => {
            let lines: Vec<String> = store
                .list_yubico_clients()
                .await?
                .iter()
                .map(|client| format!("{}\t{}\t{}", client.id, client.name, client.created_at.date()))
                .collect();
            return Ok(if lines.is_empty() { "no clients".to_owned() } else { lines.join("\n") });
        }
        ClientCommand::Remove(args) => {
            anyhow::ensure!(store.delete_yubico_client(args.id).await?, "there is no client {}", args.id);
            ("yubico_client.removed", format!("client {}", args.id), format!("removed client {}", args.id))
        }
    };
    store
        .append_audit(NewAuditEvent {
            at: now,
            actor: "cli".into(),
            target: "yubico_clients".into(),
            action: action.into(),
            ip: None,
            detail,
            account: None,
        })
        .await?;
    Ok(line)
}
