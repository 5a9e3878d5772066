#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Reading the mail configuration: every bad SMTP URL gets a message that says what to write instead,
//! and none repeats the password.

use std::error::Error;

use keyward_mail::{AnyMailer, ConfigError, DEFAULT_FROM, SmtpMailer, SmtpSecurity};

/// The error and all its causes, as a person would read them in the log.
fn chain(error: &dyn Error) -> String {
    keyward_core::error::cause_chain(error)
}

#[test]
fn bad_smtp_urls_are_refused_with_a_clear_reason() {
    let cases: &[(&str, &str)] = &[
        ("mail.example.com", "not a valid URL"),
        ("smtp://u:s3cret@mail.example.com:99999", "not a valid URL"),
        ("http://u:s3cret@mail.example.com", "scheme `http` is not supported"),
        ("smtp://", "names no host"),
        ("smtp://u:s3cret@mail.example.com?tls=maybe", "`tls=maybe` is not one of"),
        ("smtp://mail.example.com?tls=required&tls=none", "more than once"),
        ("smtps://u:s3cret@mail.example.com?tls=none", "does not go with smtps://"),
        ("smtp://u:s3cret@mail.example.com:25?tls=none", "only to a loopback host"),
        ("smtp://u:s3cret@10.0.0.1?tls=none", "not to `10.0.0.1`"),
        ("smtp://u:s3cret@mail.example.com?starttls=yes", "unknown parameter `starttls`"),
        ("smtp://user@mail.example.com", "no password"),
    ];
    for (url, expected) in cases {
        let error = AnyMailer::from_config(Some(url), "unused".as_ref(), DEFAULT_FROM).unwrap_err();
        let text = chain(&error);
        assert!(text.contains(expected), "{url}: expected {expected:?} in {text:?}");
        assert!(!text.contains("s3cret"), "{url}: the password leaked into {text:?}");
    }
}

#[test]
fn a_bad_sender_is_refused() {
    let error = SmtpMailer::from_url("smtp://mail.example.com", "Keyward <nobody>").unwrap_err();
    assert!(matches!(error, ConfigError::From(..)), "{error:?}");
    assert!(error.to_string().contains("`Keyward <nobody>` is not a valid mailbox"), "{error}");
}

#[test]
fn good_urls_build_without_a_runtime_and_never_show_the_password() {
    let cases = [
        (
            "smtp://mailer%40keyward.example:s3cret@mail.example.com",
            SmtpSecurity::StartTlsRequired,
            "mail.example.com:587",
        ),
        (
            "smtp://u:s3cret@mail.example.com:2525?tls=required",
            SmtpSecurity::StartTlsRequired,
            "mail.example.com:2525",
        ),
        (
            "smtp://mail.example.com?tls=opportunistic",
            SmtpSecurity::StartTlsOpportunistic,
            "mail.example.com:587",
        ),
        ("smtps://u:s3cret@mail.example.com", SmtpSecurity::ImplicitTls, "mail.example.com:465"),
        ("smtp://localhost?tls=none", SmtpSecurity::PlainLoopback, "localhost:25"),
        ("smtp://127.0.0.1:8025?tls=none", SmtpSecurity::PlainLoopback, "127.0.0.1:8025"),
    ];
    for (url, security, server) in cases {
        let mailer = AnyMailer::from_config(Some(url), "unused".as_ref(), DEFAULT_FROM).unwrap();
        let AnyMailer::Smtp(smtp) = &mailer else { panic!("{url} chose {mailer:?}") };
        assert_eq!(smtp.security(), security, "{url}");
        assert_eq!(smtp.server(), server, "{url}");
        let debug = format!("{mailer:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }
}

#[test]
fn a_blank_smtp_url_means_the_outbox() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("keyward-mail-blank");
    let mailer = AnyMailer::from_config(Some("  "), &dir, DEFAULT_FROM).unwrap();
    assert!(matches!(mailer, AnyMailer::Outbox(_)), "{mailer:?}");
    assert!(dir.is_dir());
}
