//! Keyward's e-mail adapters for the core's [`Mailer`] port.
//!
//! - [`SmtpMailer`] hands each message to an SMTP server through lettre (rustls with the ring
//!   provider and the webpki roots: no OpenSSL, no aws-lc-rs).
//! - [`OutboxMailer`] is the embedded default: each message becomes an `.eml` file in a folder and its
//!   links are logged, so a first run needs no mail server.
//! - [`AnyMailer`] is whichever of the two the configuration chose.
//!
//! Both send the same MIME message: `multipart/alternative` with a plain-text and an HTML part, from
//! the configured sender (default [`DEFAULT_FROM`]).
//!
//! # SMTP URLs
//!
//! | URL | connection |
//! | --- | --- |
//! | `smtp://user:pass@host[:port]` | STARTTLS **required** (port 587 by default): a server that does not offer STARTTLS, or whose certificate does not verify, gets no credentials and no message |
//! | `smtp://…?tls=required` | the same, spelt out |
//! | `smtp://…?tls=opportunistic` | STARTTLS when the server offers it, plain text otherwise (port 587 by default) — strippable by anyone on the path, so only on a trusted network |
//! | `smtps://user:pass@host[:port]` | implicit TLS from the first byte (port 465 by default) |
//! | `smtp://127.0.0.1:8025?tls=none` | plain text (port 25 by default); refused unless the host is loopback (`localhost`, `127.0.0.0/8`, `::1`): for a local test sink only |
//!
//! Note that a bare `smtp://` means *STARTTLS required* here, unlike lettre's own `from_url`, where
//! it means plain text: this crate reads the URL first and passes lettre the explicit form. User
//! and password are percent-decoded (`user%40example.com`); a path (`smtp://host/mx.example.com`)
//! sets the EHLO name. Certificates are checked against the Mozilla roots shipped in webpki-roots.

mod mime;
mod outbox;
mod smtp;

use std::path::Path;

pub use keyward_core::mail::{MailError, Mailer, Message};
pub use outbox::OutboxMailer;
pub use smtp::{SmtpMailer, SmtpSecurity};

/// The sender when none is configured.
pub const DEFAULT_FROM: &str = "Keyward <keyward@localhost>";

/// Why a mailer could not be built from its configuration. The messages never repeat the SMTP URL,
/// which may carry a password.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the SMTP URL is not a valid URL ({0}); expected e.g. smtp://user:password@mail.example.com:587")]
    UrlSyntax(#[source] url::ParseError),
    #[error("the SMTP URL scheme `{0}` is not supported: use smtp:// (STARTTLS) or smtps:// (implicit TLS)")]
    Scheme(String),
    #[error("the SMTP URL names no host; expected e.g. smtp://user:password@mail.example.com:587")]
    MissingHost,
    #[error("the SMTP URL's `tls={0}` is not one of tls=required, tls=opportunistic, tls=none")]
    TlsMode(String),
    #[error("the SMTP URL gives `tls` more than once")]
    RepeatedTls,
    #[error(
        "the SMTP URL's `tls={0}` does not go with smtps://, which always starts with TLS; use smtp://…?tls={0} instead"
    )]
    SmtpsTlsMode(String),
    #[error(
        "tls=none sends mail and password in plain text, so it is allowed only to a loopback host \
         (localhost, 127.0.0.1, ::1), not to `{0}`; use STARTTLS (smtp://) or implicit TLS (smtps://)"
    )]
    PlainTextNotLoopback(String),
    #[error("the SMTP URL has an unknown parameter `{0}`; only `tls` is understood")]
    UnknownParameter(String),
    #[error("the SMTP URL has a user name but no password; write smtp://user:password@host")]
    MissingPassword,
    #[error("the SMTP URL cannot be used")]
    Transport(#[source] lettre::transport::smtp::Error),
    #[error("the sender address `{0}` is not a valid mailbox; expected e.g. `Keyward <keyward@example.com>`")]
    From(String, #[source] lettre::address::AddressError),
    #[error("the outbox folder {} cannot be used", path.display())]
    Outbox {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The mailer the configuration chose: SMTP when a URL is given, else the outbox folder.
#[derive(Debug)]
pub enum AnyMailer {
    /// An SMTP URL was configured.
    Smtp(SmtpMailer),
    /// No SMTP URL: the embedded default.
    Outbox(OutboxMailer),
}

impl AnyMailer {
    /// Builds the SMTP mailer when `smtp_url` is given and not blank (so an empty
    /// `KEYWARD_SMTP_URL=` means "no SMTP"), else the outbox mailer writing into `outbox_dir`
    /// (created if missing). `from` is the sender mailbox, e.g. [`DEFAULT_FROM`].
    ///
    /// Logs which one was chosen, without the SMTP password.
    pub fn from_config(
        smtp_url: Option<&str>,
        outbox_dir: &Path,
        from: &str,
    ) -> Result<AnyMailer, ConfigError> {
        match smtp_url.map(str::trim).filter(|url| !url.is_empty()) {
            Some(url) => {
                let mailer = SmtpMailer::from_url(url, from)?;
                tracing::info!(
                    server = %mailer.server(),
                    security = %mailer.security(),
                    "e-mail goes out through SMTP"
                );
                Ok(AnyMailer::Smtp(mailer))
            }
            None => {
                let mailer = OutboxMailer::new(outbox_dir, from)?;
                tracing::info!(
                    outbox = %mailer.dir().display(),
                    "no SMTP server configured: e-mails are written to the outbox folder and their links logged"
                );
                Ok(AnyMailer::Outbox(mailer))
            }
        }
    }
}

impl Mailer for AnyMailer {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        match self {
            AnyMailer::Smtp(mailer) => mailer.send(message).await,
            AnyMailer::Outbox(mailer) => mailer.send(message).await,
        }
    }
}

/// Parses the sender mailbox, shared by both mailers.
fn parse_from(from: &str) -> Result<lettre::message::Mailbox, ConfigError> {
    from.trim().parse().map_err(|error| ConfigError::From(from.to_owned(), error))
}
