//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "keyward", version, about = "Two-factor authentication for multi-user SaaS accounts")]
pub struct Cli {
    /// Configuration file (TOML). Defaults to ./keyward.toml when it exists; KEYWARD_* variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web application (migrates the database first).
    Serve,
    /// Bring the database schema up to date; running it again changes nothing.
    Migrate,
    /// Print the effective configuration (defaults, file, environment), secrets masked.
    Config,
    /// Master key maintenance.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Audit log maintenance.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// One-time-password helpers, for checking a setup by hand.
    #[command(subcommand)]
    Otp(OtpCommand),
    /// YubiKey OTP helpers.
    #[command(subcommand)]
    Yubikey(YubikeyCommand),
    /// Support staff, who decide lost-device requests in the console at /support.
    #[command(subcommand)]
    Operator(OperatorCommand),
}

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Make an operator (or let a removed one back in): prints a one-time set-up link. They choose a
    /// password there, then set up an authenticator app at their first login at /support.
    Add(OperatorArgs),
    /// The operators, one per line: address, state, added.
    List,
    /// Take an operator's access away (password, factors, sessions, links); their decisions stay on record.
    Remove(OperatorArgs),
}

#[derive(Debug, Args)]
pub struct OperatorArgs {
    /// The operator's e-mail address, their username.
    pub email: String,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Seal every stored secret under a new master key, then retire the old one.
    Rotate,
    /// Print a new master key (`id:base64`) for KEYWARD_MASTER_KEY; stores nothing.
    Generate,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain and report the first edited, inserted or deleted event.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum OtpCommand {
    /// Print the TOTP code of a secret at a time (default: now).
    Totp(TotpArgs),
    /// Print the otpauth:// URI an authenticator app scans.
    Uri(UriArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AlgorithmArg {
    Sha1,
    Sha256,
    Sha512,
}

#[derive(Debug, Args)]
pub struct TotpParamArgs {
    /// HMAC hash function.
    #[arg(long, value_enum, default_value = "sha1")]
    pub algorithm: AlgorithmArg,
    /// Number of digits (6-8).
    #[arg(long, default_value_t = 6)]
    pub digits: u32,
    /// Time step in seconds.
    #[arg(long, default_value_t = 30)]
    pub period: u64,
}

#[derive(Debug, Args)]
pub struct TotpArgs {
    /// The shared secret, base32 (case and spaces do not matter).
    #[arg(long, required_unless_present = "uri", conflicts_with = "uri")]
    pub secret: Option<String>,
    /// An otpauth:// URI to take the secret and parameters from, instead of --secret.
    #[arg(long, conflicts_with_all = ["algorithm", "digits", "period"])]
    pub uri: Option<String>,
    /// Unix time to compute the code for, instead of now.
    #[arg(long, value_name = "UNIX")]
    pub time: Option<u64>,
    #[command(flatten)]
    pub params: TotpParamArgs,
}

#[derive(Debug, Args)]
pub struct UriArgs {
    /// The shared secret, base32.
    #[arg(long)]
    pub secret: String,
    /// The account name shown in the app, usually an e-mail address.
    #[arg(long)]
    pub account: String,
    /// The issuer shown in the app, usually the service's name.
    #[arg(long)]
    pub issuer: String,
    #[command(flatten)]
    pub params: TotpParamArgs,
}

#[derive(Debug, Subcommand)]
pub enum YubikeyCommand {
    /// Decrypt a Yubico OTP with the key's AES key and print its fields as JSON.
    Decode(DecodeArgs),
    /// A software YubiKey: print the next OTP of a key whose state lives in a file.
    Simulate(SimulateArgs),
    /// Import key secrets from the YubiKey personalization tool's CSV log, so Keyward validates them itself.
    Import(ImportArgs),
    /// Check an OTP of an imported key against the database (it counts as used, as at a login).
    Verify(VerifyArgs),
    /// The Validation Protocol clients (ykclient, pam_yubico, …) that may ask `/wsapi/2.0/verify`.
    #[command(subcommand)]
    Client(ClientCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Make a client: prints its id and its base64 key (shown once) for the client's configuration.
    Add(ClientAddArgs),
    /// The clients, one per line: id, name, created.
    List,
    /// Remove a client: its requests are answered NO_SUCH_CLIENT from then on.
    Remove(ClientRemoveArgs),
}

#[derive(Debug, Args)]
pub struct ClientAddArgs {
    /// What the client is, for `list` ("mail server", "VPN").
    #[arg(long, default_value = "")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct ClientRemoveArgs {
    /// The client's id.
    pub id: i64,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV log (traditional or Yubico format).
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The OTP the key typed.
    pub otp: String,
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    #[command(flatten)]
    pub key: AesKeyArgs,
    /// The OTP the key typed.
    pub otp: String,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub key: AesKeyArgs,
    /// The key's private id, 12 hexadecimal characters.
    #[arg(long)]
    pub private_id: String,
    /// The key's public id, up to 16 modhex characters.
    #[arg(long)]
    pub public_id: String,
    /// File holding the key's counters between calls (created on first use).
    #[arg(long, value_name = "FILE")]
    pub state: PathBuf,
    /// Unplug and plug in the key before the touch: the counter advances and the use count restarts.
    #[arg(long)]
    pub replug: bool,
}

/// A YubiKey's AES key: on the command line (visible to other users in `ps`), or from a file or standard
/// input.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct AesKeyArgs {
    /// The key's AES-128 key, 32 hexadecimal characters.
    #[arg(long)]
    pub key: Option<String>,
    /// A file holding the AES key (`-` reads it from standard input).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}
