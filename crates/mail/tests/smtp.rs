#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The SMTP mailer against a real SMTP server: Python's aiosmtpd, recording what arrives.

mod common;

use common::{assert_sample, message, parse_mime, scratch_dir};
use keyward_mail::{AnyMailer, Mailer, SmtpMailer};
use keyward_testkit::smtp::SmtpSink;

const FROM: &str = "Keyward Test <noreply@keyward.example>";

#[tokio::test]
async fn messages_arrive_as_multipart_alternative_with_the_urls_credentials() {
    let Some(python) = keyward_testkit::python_with("aiosmtpd") else { return };
    let sink = SmtpSink::start_with(&python, &scratch_dir("smtp"));
    // A user name with `@` and a password with a space, `?` and `"`: percent-decoded on the way.
    let url = format!("smtp://mailer%40keyward.example:pa%20ss%3F%22@127.0.0.1:{}?tls=none", sink.port);
    let mailer = AnyMailer::from_config(Some(&url), "unused".as_ref(), FROM).unwrap();
    assert!(matches!(mailer, AnyMailer::Smtp(_)));

    mailer.send(&message("alice@example.com", "Set up two-factor authentication")).await.unwrap();
    mailer.send(&message("bob@example.org", "Your second factor was removed")).await.unwrap();

    let events = sink.events();
    let auths: Vec<_> = events.iter().filter(|e| e["event"] == "auth").collect();
    let data: Vec<_> = events.iter().filter(|e| e["event"] == "data").collect();
    assert_eq!(auths.len(), 2, "one login per message (no pool): {events:#?}");
    assert_eq!(auths[0]["login"], "mailer@keyward.example");
    assert_eq!(auths[0]["password"], "pa ss?\"");
    assert_eq!(data.len(), 2, "{events:#?}");
    assert_eq!(data[0]["mail_from"], "noreply@keyward.example");
    assert_eq!(data[0]["rcpt_tos"], serde_json::json!(["alice@example.com"]));
    assert_eq!(data[0]["login"], "mailer@keyward.example");
    assert_eq!(data[1]["rcpt_tos"], serde_json::json!(["bob@example.org"]));

    let raw: Vec<String> = data.iter().map(|e| e["content"].as_str().unwrap().to_owned()).collect();
    let parsed = parse_mime(&python, &raw);
    assert_sample(&parsed[0], "alice@example.com", "Set up two-factor authentication", FROM);
    assert_sample(&parsed[1], "bob@example.org", "Your second factor was removed", FROM);
}

#[tokio::test]
async fn a_bare_smtp_url_refuses_a_server_without_starttls_before_sending_anything() {
    let Some(python) = keyward_testkit::python_with("aiosmtpd") else { return };
    let sink = SmtpSink::start_with(&python, &scratch_dir("smtp-starttls"));
    // The same server, but without `tls=none`: STARTTLS is required and this server does not offer it.
    let mailer =
        SmtpMailer::from_url(&format!("smtp://mailer:s3cret@127.0.0.1:{}", sink.port), FROM).unwrap();

    let error = mailer.send(&message("alice@example.com", "hello")).await.unwrap_err();

    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    assert!(text.contains("STARTTLS"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    assert_eq!(
        sink.events(),
        Vec::<serde_json::Value>::new(),
        "neither credentials nor message may reach it"
    );
}
