//! The SMTP adapter, and the reading of its URL (see the crate documentation for the URL forms).

use std::fmt;
use std::net::IpAddr;

use keyward_core::mail::{MailError, Mailer, Message};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use url::{Host, Url};

use crate::ConfigError;
use crate::mime::{self, mail_error};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// STARTTLS, or no delivery at all: `smtp://` and `smtp://…?tls=required`.
    StartTlsRequired,
    /// STARTTLS when offered, plain text otherwise: `smtp://…?tls=opportunistic`.
    StartTlsOpportunistic,
    /// TLS from the first byte: `smtps://`.
    ImplicitTls,
    /// Plain text to a loopback host: `smtp://127.0.0.1:8025?tls=none`.
    PlainLoopback,
}

impl fmt::Display for SmtpSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SmtpSecurity::StartTlsRequired => "STARTTLS required",
            SmtpSecurity::StartTlsOpportunistic => "STARTTLS if offered",
            SmtpSecurity::ImplicitTls => "implicit TLS",
            SmtpSecurity::PlainLoopback => "plain text to loopback",
        })
    }
}

/// Sends each message to one SMTP server. A connection is opened per message: Keyward's mail is
/// rare (enrollment links, notices), and without lettre's pool the mailer can be built outside a
/// Tokio runtime (the pool spawns a task when built) and never holds a connection the server has
/// since closed.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `host:port`, for logs and errors: never the credentials.
    server: String,
    security: SmtpSecurity,
}

impl SmtpMailer {
    /// Reads an SMTP URL (forms and their TLS in the crate documentation) and the sender mailbox.
    pub fn from_url(smtp_url: &str, from: &str) -> Result<SmtpMailer, ConfigError> {
        let from = crate::parse_from(from)?;
        let target = parse_url(smtp_url)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(target.lettre_url.as_str())
            .map_err(ConfigError::Transport)?
            .build();
        Ok(SmtpMailer { transport, from, server: target.server, security: target.security })
    }

    /// The server as `host:port`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// How the connection is protected.
    pub fn security(&self) -> SmtpSecurity {
        self.security
    }
}

impl fmt::Debug for SmtpMailer {
    // By hand, so that the credentials inside the transport never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.server)
            .field("security", &self.security)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// A delivery that failed, with the server it went to.
#[derive(Debug, thiserror::Error)]
#[error("SMTP delivery through {server} ({security}) failed")]
struct DeliveryError {
    server: String,
    security: SmtpSecurity,
    #[source]
    source: lettre::transport::smtp::Error,
}

impl Mailer for SmtpMailer {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        let email = mime::build(&self.from, message)?;
        self.transport.send(email).await.map_err(|source| {
            mail_error(DeliveryError { server: self.server.clone(), security: self.security, source })
        })?;
        tracing::info!(to = %message.to, subject = %message.subject, server = %self.server, "e-mail sent");
        Ok(())
    }
}

/// What the URL asked for, and the URL in the form lettre reads.
struct Target {
    lettre_url: Url,
    server: String,
    security: SmtpSecurity,
}

fn parse_url(text: &str) -> Result<Target, ConfigError> {
    let mut url = Url::parse(text.trim()).map_err(ConfigError::UrlSyntax)?;
    let host = url.host_str().filter(|host| !host.is_empty()).ok_or(ConfigError::MissingHost)?;

    let mut tls = None;
    for (key, value) in url.query_pairs() {
        if key != "tls" {
            return Err(ConfigError::UnknownParameter(key.into_owned()));
        }
        if tls.replace(value.into_owned()).is_some() {
            return Err(ConfigError::RepeatedTls);
        }
    }

    // lettre's own spelling: no parameter is plain text, `tls=required|opportunistic` STARTTLS,
    // and `smtps` implicit TLS whatever the parameter says.
    let (security, lettre_tls, default_port) = match (url.scheme(), tls.as_deref()) {
        ("smtp", None | Some("required")) => (SmtpSecurity::StartTlsRequired, Some("required"), 587),
        ("smtp", Some("opportunistic")) => (SmtpSecurity::StartTlsOpportunistic, Some("opportunistic"), 587),
        ("smtp", Some("none")) if is_loopback(&url) => (SmtpSecurity::PlainLoopback, None, 25),
        ("smtp", Some("none")) => return Err(ConfigError::PlainTextNotLoopback(host.to_owned())),
        ("smtp", Some(other)) => return Err(ConfigError::TlsMode(other.to_owned())),
        ("smtps", None) => (SmtpSecurity::ImplicitTls, None, 465),
        ("smtps", Some(other)) => return Err(ConfigError::SmtpsTlsMode(other.to_owned())),
        (scheme, _) => return Err(ConfigError::Scheme(scheme.to_owned())),
    };
    if !url.username().is_empty() && url.password().is_none() {
        return Err(ConfigError::MissingPassword);
    }
    let server = format!("{host}:{}", url.port().unwrap_or(default_port));

    match lettre_tls {
        Some(mode) => url.set_query(Some(&format!("tls={mode}"))),
        None => url.set_query(None),
    }
    Ok(Target { lettre_url: url, server, security })
}

/// Whether the URL's host is this machine. `smtp` is not a scheme the URL standard knows, so an
/// IPv4 address arrives as an opaque host name and is parsed here.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security(url: &str) -> SmtpSecurity {
        parse_url(url).unwrap().security
    }

    #[test]
    fn a_bare_smtp_url_requires_starttls_and_tells_lettre_so() {
        let target = parse_url("smtp://user:pass@mail.example.com").unwrap();
        assert_eq!(target.security, SmtpSecurity::StartTlsRequired);
        assert_eq!(target.server, "mail.example.com:587");
        assert_eq!(target.lettre_url.query(), Some("tls=required"));
    }

    #[test]
    fn each_form_maps_to_its_security() {
        assert_eq!(security("smtp://h.example:2525?tls=required"), SmtpSecurity::StartTlsRequired);
        assert_eq!(security("smtp://h.example?tls=opportunistic"), SmtpSecurity::StartTlsOpportunistic);
        assert_eq!(security("smtps://u:p@h.example"), SmtpSecurity::ImplicitTls);
        assert_eq!(parse_url("smtps://h.example").unwrap().server, "h.example:465");
        for local in
            ["smtp://127.0.0.1:8025?tls=none", "smtp://LocalHost?tls=none", "smtp://[::1]:25?tls=none"]
        {
            let target = parse_url(local).unwrap();
            assert_eq!(target.security, SmtpSecurity::PlainLoopback, "{local}");
            assert_eq!(target.lettre_url.query(), None, "{local}");
        }
    }
}
