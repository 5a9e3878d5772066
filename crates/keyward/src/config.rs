//! Configuration: embedded defaults, then a TOML file, then `KEYWARD_*` environment variables.
//! Every default works for a first run on a laptop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
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
    pub smtp_url: Option<String>,
    /// The master key ring from `KEYWARD_MASTER_KEY` (environment only, never the file); when unset, the key
    /// file `master.key` in the data directory is used, created on first run.
    pub master_key: Option<SecretText>,
    /// YubiCloud validation of keys whose secret was not imported: the client id, its key (environment
    /// only) and the servers; unset: such keys cannot be checked.
    pub yubicloud: Option<YubiCloudConfig>,
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
    yubicloud_client_id: Option<u64>,
    yubicloud_urls: Option<Vec<String>>,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_DATA_DIR: &str = "keyward-data";
const DEFAULT_FILE: &str = "keyward.toml";

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
        for (name, value) in env {
            let Some(key) = name.strip_prefix("KEYWARD_") else { continue };
            let raw = value.trim().to_owned();
            let value = Some(value);
            match key {
                "LISTEN" => layered.listen = value,
                "DATA_DIR" => layered.data_dir = value.map(PathBuf::from),
                "DATABASE_URL" => layered.database_url = value,
                "PUBLIC_URL" => layered.public_url = value,
                "SMTP_URL" => layered.smtp_url = value.filter(|url| !url.is_empty()),
                "MASTER_KEY" => master_key = value.filter(|key| !key.trim().is_empty()).map(SecretText),
                "YUBICLOUD_KEY" => yubicloud_key = value.filter(|key| !key.trim().is_empty()).map(SecretText),
                "YUBICLOUD_CLIENT_ID" => {
                    let id = raw.parse().with_context(|| {
                        format!("KEYWARD_YUBICLOUD_CLIENT_ID: {raw:?} is not a number (YubiCloud shows it as such)")
                    })?;
                    layered.yubicloud_client_id = Some(id);
                }
                "YUBICLOUD_URLS" => {
                    layered.yubicloud_urls = value.map(|urls| {
                        urls.split(',').map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect()
                    })
                }
                // Other KEYWARD_* variables belong to other parts (tests, the master key).
                _ => {}
            }
        }
        let listen_text = layered.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().with_context(|| {
            format!("KEYWARD_LISTEN / listen: {listen_text:?} is not an address like 127.0.0.1:8080")
        })?;
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
        let yubicloud = layered.yubicloud_client_id.map(|client_id| YubiCloudConfig {
            client_id,
            key: yubicloud_key,
            urls: layered
                .yubicloud_urls
                .clone()
                .unwrap_or_else(|| vec![keyward_yubicloud::YUBICLOUD_URL.to_owned()]),
        });
        Ok(Config {
            listen,
            data_dir,
            database_url,
            public_url,
            smtp_url: layered.smtp_url,
            master_key,
            yubicloud,
        })
    }
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
        assert_eq!(config.smtp_url.as_deref(), Some("smtp://a"));
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
}
