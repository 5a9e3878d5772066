//! Configuration: embedded defaults, then a TOML file, then `KEYWARD_*` environment variables.
//! Every default works for a first run on a laptop. A key or variable that is not known stops the start
//! (a typo in `KEYWARD_DATABASE_URL` must not quietly leave a node on its own SQLite file); names that
//! begin with `KEYWARD_TEST_` belong to the test suite and are ignored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use keyward_web::proxies::TrustedProxies;
use serde::Deserialize;

/// The settings of one Keyward process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Directory for the embedded database, the master key file and the e-mail outbox.
    pub data_dir: PathBuf,
    /// Database to use: `sqlite://...` (the default, in the data directory) or `postgres://...`.
    pub database_url: String,
    /// The URL people reach Keyward at, used in e-mailed links.
    pub public_url: String,
    /// SMTP server for outgoing mail; when unset, e-mails are written to the outbox folder.
    pub smtp_url: Option<SecretText>,
    /// The sender of Keyward's e-mails.
    pub mail_from: String,
    /// The issuer authenticator apps show beside the account name.
    pub issuer: String,
    /// How long an enrollment link stays valid.
    pub enrollment_link: Duration,
    /// How long a "choose your password" link stays valid.
    pub password_link: Duration,
    /// The master key ring from `KEYWARD_MASTER_KEY` (environment only, never the file); when unset, the key
    /// file `master.key` in the data directory is used.
    pub master_key: Option<SecretText>,
    /// YubiCloud validation of keys whose secret was not imported: the client id, its key (environment
    /// only) and the servers; unset: such keys cannot be checked.
    pub yubicloud: Option<YubiCloudConfig>,
    /// The `tracing` filter of the log.
    pub log: String,
    /// Plain text lines or one JSON object per line.
    pub log_format: LogFormat,
    /// Where `/metrics` is served when not on the main listener.
    pub metrics_listen: Option<SocketAddr>,
    /// How long in-flight requests may take to finish after SIGTERM or SIGINT.
    pub shutdown_timeout: Duration,
    /// A request still running after this is answered 503.
    pub request_timeout: Duration,
    /// The reverse proxies whose `X-Forwarded-For` names the client (default: none).
    pub trusted_proxies: TrustedProxies,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// How to reach YubiCloud (or a compatible Validation Protocol 2.0 server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YubiCloudConfig {
    pub client_id: u64,
    pub key: Option<SecretText>,
    pub urls: Vec<String>,
}

/// Text that must not reach logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

/// The TOML file's shape: every key optional, names as in the environment without the prefix.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    public_url: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    issuer: Option<String>,
    enrollment_link_hours: Option<u64>,
    password_link_minutes: Option<u64>,
    yubicloud_client_id: Option<u64>,
    yubicloud_urls: Option<Vec<String>>,
    log: Option<String>,
    log_format: Option<String>,
    metrics_listen: Option<String>,
    shutdown_timeout_secs: Option<u64>,
    request_timeout_secs: Option<u64>,
    trusted_proxies: Option<String>,
}

/// Every variable the binary reads; the file takes the same names in lower case, but for the secrets.
pub const KNOWN_VARIABLES: &[&str] = &[
    "KEYWARD_LISTEN",
    "KEYWARD_DATA_DIR",
    "KEYWARD_DATABASE_URL",
    "KEYWARD_PUBLIC_URL",
    "KEYWARD_SMTP_URL",
    "KEYWARD_MAIL_FROM",
    "KEYWARD_ISSUER",
    "KEYWARD_ENROLLMENT_LINK_HOURS",
    "KEYWARD_PASSWORD_LINK_MINUTES",
    "KEYWARD_MASTER_KEY",
    "KEYWARD_YUBICLOUD_CLIENT_ID",
    "KEYWARD_YUBICLOUD_KEY",
    "KEYWARD_YUBICLOUD_URLS",
    "KEYWARD_LOG",
    "KEYWARD_LOG_FORMAT",
    "KEYWARD_METRICS_LISTEN",
    "KEYWARD_SHUTDOWN_TIMEOUT_SECS",
    "KEYWARD_REQUEST_TIMEOUT_SECS",
    "KEYWARD_TRUSTED_PROXIES",
];

/// Names reserved for the test suite's own settings.
const TEST_PREFIX: &str = "KEYWARD_TEST_";

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_DATA_DIR: &str = "keyward-data";
const DEFAULT_FILE: &str = "keyward.toml";
const DEFAULT_MAIL_FROM: &str = "Keyward <keyward@localhost>";
const DEFAULT_ISSUER: &str = "Keyward";

impl Config {
    /// Loads the configuration from `file` (or `./keyward.toml` when present) and the given environment.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let file_config = match file {
            Some(path) => read_file(path)?,
            None if Path::new(DEFAULT_FILE).is_file() => read_file(Path::new(DEFAULT_FILE))?,
            None => FileConfig::default(),
        };
        Self::from_layers(file_config, env)
    }

    fn from_layers(
        file: FileConfig,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let mut layered = file;
        let mut master_key = None;
        let mut yubicloud_key = None;
        let mut unknown = Vec::new();
        for (name, value) in env {
            if !name.starts_with("KEYWARD_") || name.starts_with(TEST_PREFIX) {
                continue;
            }
            let raw = value.trim().to_owned();
            let text = Some(value.clone());
            match &name["KEYWARD_".len()..] {
                "LISTEN" => layered.listen = text,
                "DATA_DIR" => layered.data_dir = text.map(PathBuf::from),
                "DATABASE_URL" => layered.database_url = text,
                "PUBLIC_URL" => layered.public_url = text,
                "SMTP_URL" => layered.smtp_url = text.filter(|url| !url.is_empty()),
                "MAIL_FROM" => layered.mail_from = text,
                "ISSUER" => layered.issuer = text,
                "ENROLLMENT_LINK_HOURS" => layered.enrollment_link_hours = Some(number(&name, &raw)?),
                "PASSWORD_LINK_MINUTES" => layered.password_link_minutes = Some(number(&name, &raw)?),
                "MASTER_KEY" => master_key = text.filter(|key| !key.trim().is_empty()).map(SecretText),
                "YUBICLOUD_KEY" => yubicloud_key = text.filter(|key| !key.trim().is_empty()).map(SecretText),
                "YUBICLOUD_CLIENT_ID" => layered.yubicloud_client_id = Some(number(&name, &raw)?),
                "YUBICLOUD_URLS" => {
                    layered.yubicloud_urls =
                        Some(raw.split(',').map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect())
                }
                "LOG" => layered.log = text,
                "LOG_FORMAT" => layered.log_format = text,
                "METRICS_LISTEN" => layered.metrics_listen = text.filter(|a| !a.trim().is_empty()),
                "SHUTDOWN_TIMEOUT_SECS" => layered.shutdown_timeout_secs = Some(number(&name, &raw)?),
                "REQUEST_TIMEOUT_SECS" => layered.request_timeout_secs = Some(number(&name, &raw)?),
                "TRUSTED_PROXIES" => layered.trusted_proxies = text,
                _ => unknown.push(name),
            }
        }
        if !unknown.is_empty() {
            unknown.sort();
            bail!(
                "unknown configuration variable(s) {}; the known ones are {} (names beginning {TEST_PREFIX} \
                 are left to the test suite)",
                unknown.join(", "),
                KNOWN_VARIABLES.join(", ")
            );
        }
        let listen = address("KEYWARD_LISTEN / listen", layered.listen.as_deref().unwrap_or(DEFAULT_LISTEN))?;
        let data_dir = layered.data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database_url = layered
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("keyward.db").display()));
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres")) {
            bail!(
                "KEYWARD_DATABASE_URL / database_url: {database_url:?} must start with sqlite: or postgres://"
            );
        }
        let public_url = layered.public_url.unwrap_or_else(|| format!("http://{listen}"));
        let public_url = public_url.trim_end_matches('/').to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            bail!("KEYWARD_PUBLIC_URL / public_url: {public_url:?} must start with http:// or https://");
        }
        let mail_from = layered.mail_from.unwrap_or_else(|| DEFAULT_MAIL_FROM.to_owned());
        let issuer = layered.issuer.unwrap_or_else(|| DEFAULT_ISSUER.to_owned());
        if issuer.trim().is_empty() || issuer.contains(':') || issuer.len() > 64 {
            bail!("KEYWARD_ISSUER / issuer: {issuer:?} must be 1 to 64 characters without a colon");
        }
        let enrollment_link_hours = layered.enrollment_link_hours.unwrap_or(72);
        let password_link_minutes = layered.password_link_minutes.unwrap_or(60);
        if !(1..=720).contains(&enrollment_link_hours) {
            bail!("KEYWARD_ENROLLMENT_LINK_HOURS / enrollment_link_hours must be 1 to 720 (30 days)");
        }
        if !(5..=10_080).contains(&password_link_minutes) {
            bail!("KEYWARD_PASSWORD_LINK_MINUTES / password_link_minutes must be 5 to 10080 (7 days)");
        }
        let log_format = match layered.log_format.as_deref().map(str::trim) {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("KEYWARD_LOG_FORMAT / log_format: {other:?} is neither text nor json"),
        };
        let metrics_listen = layered
            .metrics_listen
            .as_deref()
            .map(|text| address("KEYWARD_METRICS_LISTEN / metrics_listen", text))
            .transpose()?;
        let yubicloud = layered.yubicloud_client_id.map(|client_id| YubiCloudConfig {
            client_id,
            key: yubicloud_key,
            urls: layered
                .yubicloud_urls
                .clone()
                .unwrap_or_else(|| vec![keyward_yubicloud::YUBICLOUD_URL.to_owned()]),
        });
        let trusted_proxies =
            TrustedProxies::parse(layered.trusted_proxies.as_deref().unwrap_or_default())
                .map_err(|error| anyhow::anyhow!("KEYWARD_TRUSTED_PROXIES / trusted_proxies: {error}"))?;
        Ok(Config {
            listen,
            data_dir,
            database_url,
            public_url,
            smtp_url: layered.smtp_url.map(SecretText),
            mail_from,
            issuer,
            enrollment_link: Duration::from_secs(enrollment_link_hours * 3600),
            password_link: Duration::from_secs(password_link_minutes * 60),
            master_key,
            yubicloud,
            log: layered.log.unwrap_or_else(|| "info".to_owned()),
            log_format,
            metrics_listen,
            shutdown_timeout: Duration::from_secs(layered.shutdown_timeout_secs.unwrap_or(10)),
            request_timeout: Duration::from_secs(layered.request_timeout_secs.unwrap_or(30).max(1)),
            trusted_proxies,
        })
    }

    /// The effective configuration as `keyward config` prints it: TOML-like lines, secrets masked
    /// (a URL keeps its scheme and host, loses its password).
    pub fn describe(&self) -> String {
        let optional = |value: Option<String>| value.unwrap_or_else(|| "(unset)".to_owned());
        let lines = [
            ("listen", self.listen.to_string()),
            ("data_dir", self.data_dir.display().to_string()),
            ("database_url", mask_url(&self.database_url)),
            ("public_url", self.public_url.clone()),
            ("smtp_url", optional(self.smtp_url.as_ref().map(|url| mask_url(&url.0)))),
            ("mail_from", self.mail_from.clone()),
            ("issuer", self.issuer.clone()),
            ("enrollment_link_hours", (self.enrollment_link.as_secs() / 3600).to_string()),
            ("password_link_minutes", (self.password_link.as_secs() / 60).to_string()),
            (
                "master_key",
                optional(self.master_key.as_ref().map(|_| "(set in KEYWARD_MASTER_KEY, hidden)".into())),
            ),
            ("yubicloud_client_id", optional(self.yubicloud.as_ref().map(|c| c.client_id.to_string()))),
            (
                "yubicloud_key",
                optional(self.yubicloud.as_ref().and_then(|c| c.key.as_ref()).map(|_| "(hidden)".into())),
            ),
            ("yubicloud_urls", optional(self.yubicloud.as_ref().map(|c| c.urls.join(",")))),
            ("log", self.log.clone()),
            ("log_format", if self.log_format == LogFormat::Json { "json" } else { "text" }.to_owned()),
            ("metrics_listen", optional(self.metrics_listen.map(|a| a.to_string()))),
            ("shutdown_timeout_secs", self.shutdown_timeout.as_secs().to_string()),
            ("request_timeout_secs", self.request_timeout.as_secs().to_string()),
            (
                "trusted_proxies",
                if self.trusted_proxies.is_empty() {
                    "(none)".into()
                } else {
                    self.trusted_proxies.to_string()
                },
            ),
        ];
        lines.iter().map(|(key, value)| format!("{key} = {value}\n")).collect()
    }
}

/// A URL with any password replaced by `****`: in the user info, and any query that names one.
fn mask_url(url: &str) -> String {
    let (url, query) = match url.split_once('?') {
        Some((url, query)) if query.contains("password") => (url, "?****".to_owned()),
        Some((url, query)) => (url, format!("?{query}")),
        None => (url, String::new()),
    };
    let Some((scheme, rest)) = url.split_once("://") else { return format!("{url}{query}") };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:****@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    format!("{scheme}://{authority}{path}{query}")
}

fn number(name: &str, raw: &str) -> anyhow::Result<u64> {
    raw.parse().with_context(|| format!("{name}: {raw:?} is not a whole number"))
}

fn address(what: &str, text: &str) -> anyhow::Result<SocketAddr> {
    text.trim().parse().with_context(|| format!("{what}: {text:?} is not an address like 127.0.0.1:8080"))
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the configuration file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("in the configuration file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_work_without_file_or_environment() {
        let config = Config::from_layers(FileConfig::default(), env(&[("PATH", "/bin")])).unwrap();
        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("keyward-data"));
        assert_eq!(config.database_url, "sqlite://keyward-data/keyward.db");
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
        assert_eq!(config.smtp_url, None);
        assert_eq!(config.master_key, None);
        assert_eq!(config.yubicloud, None);
    }

    #[test]
    fn yubicloud_is_configured_by_client_id_with_the_key_from_the_environment() {
        let config = Config::from_layers(
            FileConfig::default(),
            env(&[
                ("KEYWARD_YUBICLOUD_CLIENT_ID", "27655"),
                ("KEYWARD_YUBICLOUD_KEY", "9Tt8Gg51VG/dthDKgopt0n8IXVI="),
            ]),
        )
        .unwrap();
        let cloud = config.yubicloud.clone().unwrap();
        assert_eq!(cloud.client_id, 27655);
        assert_eq!(cloud.urls, vec![keyward_yubicloud::YUBICLOUD_URL.to_owned()]);
        assert!(!format!("{config:?}").contains("9Tt8Gg51"));
        let file: FileConfig = toml::from_str(
            "yubicloud_client_id = 1\nyubicloud_urls = [\"https://a.example/wsapi/2.0/verify\"]",
        )
        .unwrap();
        let cloud = Config::from_layers(file, env(&[])).unwrap().yubicloud.unwrap();
        assert_eq!(cloud.urls, vec!["https://a.example/wsapi/2.0/verify".to_owned()]);
        assert!(
            Config::from_layers(FileConfig::default(), env(&[("KEYWARD_YUBICLOUD_CLIENT_ID", "x")])).is_err()
        );
    }

    #[test]
    fn the_master_key_comes_from_the_environment_and_is_never_printed() {
        let config =
            Config::from_layers(FileConfig::default(), env(&[("KEYWARD_MASTER_KEY", "k1:c2VjcmV0")]))
                .unwrap();
        assert_eq!(config.master_key, Some(SecretText("k1:c2VjcmV0".into())));
        assert!(!format!("{config:?}").contains("c2VjcmV0"));
        assert!(toml::from_str::<FileConfig>("master_key = \"k1:x\"").is_err(), "not accepted in the file");
    }

    #[test]
    fn environment_overrides_the_file() {
        let file: FileConfig =
            toml::from_str("listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/kw\"\nsmtp_url = \"smtp://a\"")
                .unwrap();
        let config = Config::from_layers(
            file,
            env(&[("KEYWARD_LISTEN", "127.0.0.1:9100"), ("KEYWARD_PUBLIC_URL", "https://2fa.example.com/")]),
        )
        .unwrap();
        assert_eq!(config.listen, "127.0.0.1:9100".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("/srv/kw"));
        assert_eq!(config.database_url, "sqlite:///srv/kw/keyward.db");
        assert_eq!(config.public_url, "https://2fa.example.com");
        assert_eq!(config.smtp_url.map(|url| url.0).as_deref(), Some("smtp://a"));
    }

    #[test]
    fn bad_values_are_explained() {
        let error =
            Config::from_layers(FileConfig::default(), env(&[("KEYWARD_LISTEN", "localhost")])).unwrap_err();
        assert!(format!("{error:#}").contains("KEYWARD_LISTEN"), "{error:#}");
        let error = Config::from_layers(FileConfig::default(), env(&[("KEYWARD_DATABASE_URL", "mysql://x")]))
            .unwrap_err();
        assert!(format!("{error:#}").contains("KEYWARD_DATABASE_URL"), "{error:#}");
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err(), "typos in the file are refused");
    }

    #[test]
    fn unknown_variables_stop_the_start_and_name_the_known_ones() {
        let error =
            Config::from_layers(FileConfig::default(), env(&[("KEYWARD_DATABSE_URL", "postgres://x")]))
                .unwrap_err();
        let text = format!("{error:#}");
        assert!(text.contains("KEYWARD_DATABSE_URL"), "{text}");
        assert!(text.contains("KEYWARD_DATABASE_URL"), "the known names are listed: {text}");
        let fine =
            env(&[("KEYWARD_TEST_DATABASE_URL", "x"), ("OTHER_LISTEN", "x"), ("KEYWARD_LOG", "debug")]);
        assert!(Config::from_layers(FileConfig::default(), fine).is_ok());
    }

    #[test]
    fn operators_set_mail_issuer_link_lifetimes_logs_and_timeouts() {
        let file: FileConfig = toml::from_str(
            "mail_from = \"2FA <2fa@example.com>\"\nissuer = \"Example\"\nenrollment_link_hours = 24\n\
             password_link_minutes = 30\nlog_format = \"json\"\nmetrics_listen = \"127.0.0.1:9100\"\n\
             shutdown_timeout_secs = 20\nrequest_timeout_secs = 5",
        )
        .unwrap();
        let config = Config::from_layers(file, env(&[("KEYWARD_ISSUER", "Example Corp")])).unwrap();
        assert_eq!(config.mail_from, "2FA <2fa@example.com>");
        assert_eq!(config.issuer, "Example Corp");
        assert_eq!(config.enrollment_link, Duration::from_secs(24 * 3600));
        assert_eq!(config.password_link, Duration::from_secs(30 * 60));
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.metrics_listen, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(config.shutdown_timeout, Duration::from_secs(20));
        assert_eq!(config.request_timeout, Duration::from_secs(5));
        let defaults = Config::from_layers(FileConfig::default(), env(&[])).unwrap();
        assert_eq!(defaults.enrollment_link, Duration::from_secs(72 * 3600));
        assert_eq!(defaults.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(defaults.log_format, LogFormat::Text);
        for bad in [
            ("KEYWARD_LOG_FORMAT", "xml"),
            ("KEYWARD_ENROLLMENT_LINK_HOURS", "0"),
            ("KEYWARD_PASSWORD_LINK_MINUTES", "soon"),
            ("KEYWARD_ISSUER", "a:b"),
            ("KEYWARD_METRICS_LISTEN", "nowhere"),
        ] {
            assert!(Config::from_layers(FileConfig::default(), env(&[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn trusted_proxies_are_cidr_blocks_and_a_bad_one_stops_the_start() {
        let config = Config::from_layers(
            FileConfig::default(),
            env(&[("KEYWARD_TRUSTED_PROXIES", "10.0.0.0/8, ::1")]),
        )
        .unwrap();
        assert_eq!(config.trusted_proxies.to_string(), "10.0.0.0/8, ::1/128");
        assert!(config.describe().contains("trusted_proxies = 10.0.0.0/8, ::1/128\n"));
        let error =
            Config::from_layers(FileConfig::default(), env(&[("KEYWARD_TRUSTED_PROXIES", "10.0.0.0/33")]))
                .unwrap_err();
        assert!(format!("{error:#}").contains("KEYWARD_TRUSTED_PROXIES"), "{error:#}");
        assert!(Config::from_layers(FileConfig::default(), env(&[])).unwrap().trusted_proxies.is_empty());
    }

    #[test]
    fn the_description_masks_every_secret() {
        let config = Config::from_layers(
            FileConfig::default(),
            env(&[
                ("KEYWARD_DATABASE_URL", "postgres://kw:dbpass@db.internal:5432/kw?sslmode=require"),
                ("KEYWARD_SMTP_URL", "smtp://mailer:smtppass@mail.example.com"),
                ("KEYWARD_MASTER_KEY", "k1:c2VjcmV0c2VjcmV0"),
                ("KEYWARD_YUBICLOUD_CLIENT_ID", "1"),
                ("KEYWARD_YUBICLOUD_KEY", "9Tt8Gg51VG/dthDKgopt0n8IXVI="),
            ]),
        )
        .unwrap();
        let text = config.describe();
        for secret in ["dbpass", "smtppass", "c2VjcmV0", "9Tt8Gg51"] {
            assert!(!text.contains(secret), "{secret} shown in\n{text}");
        }
        assert!(
            text.contains("database_url = postgres://kw:****@db.internal:5432/kw?sslmode=require\n"),
            "{text}"
        );
        assert!(text.contains("smtp_url = smtp://mailer:****@mail.example.com\n"), "{text}");
        assert!(text.contains("listen = 127.0.0.1:8080\n"), "{text}");
        assert_eq!(mask_url("postgres://db/kw?user=a&password=b"), "postgres://db/kw?****");
        assert_eq!(mask_url("sqlite://keyward-data/keyward.db"), "sqlite://keyward-data/keyward.db");
    }
}
