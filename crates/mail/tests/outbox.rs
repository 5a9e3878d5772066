#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The outbox mailer writes MIME files a real parser reads, one per message, named in sending order.

mod common;

use std::fs;
use std::path::PathBuf;

use common::{assert_sample, message, parse_mime, scratch_dir};
use keyward_mail::{AnyMailer, DEFAULT_FROM, Mailer, OutboxMailer};

fn eml_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn each_message_becomes_one_parseable_eml_file_in_sending_order() {
    // A folder that does not exist yet: the mailer creates it.
    let dir = scratch_dir("outbox").join("nested/outbox");
    let mailer = AnyMailer::from_config(None, &dir, DEFAULT_FROM).unwrap();
    assert!(matches!(mailer, AnyMailer::Outbox(_)));

    mailer.send(&message("alice@example.com", "Set up two-factor authentication")).await.unwrap();
    mailer.send(&message("bob@example.org", "Your second factor was removed")).await.unwrap();

    let files = eml_files(&dir);
    let names: Vec<String> =
        files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["000000000001-alice@example.com.eml", "000000000002-bob@example.org.eml"]);

    let raw: Vec<String> = files.iter().map(|path| fs::read_to_string(path).unwrap()).collect();
    // Checks that need no Python: the headers a person opening the file sees first.
    assert!(raw[0].contains("To: alice@example.com\r\n"), "{}", raw[0]);
    assert!(raw[0].contains("From: Keyward <keyward@localhost>\r\n"), "{}", raw[0]);
    assert!(raw[0].contains("multipart/alternative"), "{}", raw[0]);

    let Some(python) = keyward_testkit::python_with("email") else { return };
    let parsed = parse_mime(&python, &raw);
    assert_sample(&parsed[0], "alice@example.com", "Set up two-factor authentication", DEFAULT_FROM);
    assert_sample(&parsed[1], "bob@example.org", "Your second factor was removed", DEFAULT_FROM);
}

#[tokio::test]
async fn numbering_continues_after_a_restart_and_never_overwrites() {
    let dir = scratch_dir("outbox-restart");
    fs::write(dir.join("000000000041-someone@example.com.eml"), "kept").unwrap();
    fs::write(dir.join("notes.txt"), "not an e-mail").unwrap();

    let first = OutboxMailer::new(&dir, "Support <support@keyward.example>").unwrap();
    // A second mailer on the same folder starts from the same number: the files must not collide.
    let second = OutboxMailer::new(&dir, DEFAULT_FROM).unwrap();
    first.send(&message("carol@example.com", "one")).await.unwrap();
    second.send(&message("dave@example.com", "two")).await.unwrap();
    first.send(&message("erin@example.com", "three")).await.unwrap();

    let names: Vec<String> =
        eml_files(&dir).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(
        names,
        [
            "000000000041-someone@example.com.eml",
            "000000000042-carol@example.com.eml",
            "000000000043-dave@example.com.eml",
            "000000000044-erin@example.com.eml",
        ]
    );
    assert_eq!(fs::read_to_string(dir.join("000000000041-someone@example.com.eml")).unwrap(), "kept");
    let carol = fs::read_to_string(dir.join("000000000042-carol@example.com.eml")).unwrap();
    assert!(carol.contains("From: Support <support@keyward.example>\r\n"), "{carol}");
}

#[tokio::test]
async fn concurrent_sends_get_distinct_files() {
    let dir = scratch_dir("outbox-concurrent");
    let mailer = std::sync::Arc::new(OutboxMailer::new(&dir, DEFAULT_FROM).unwrap());
    let mut tasks = Vec::new();
    for n in 0..20 {
        let mailer = mailer.clone();
        tasks.push(tokio::spawn(async move {
            mailer.send(&message(&format!("user{n}@example.com"), "hello")).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(eml_files(&dir).len(), 20);
}

#[test]
fn a_bad_sender_or_an_unusable_folder_is_a_clear_error() {
    let dir = scratch_dir("outbox-errors");
    let error = OutboxMailer::new(&dir, "not a mailbox").unwrap_err();
    assert!(error.to_string().contains("sender address `not a mailbox`"), "{error}");

    let file = dir.join("a-file");
    fs::write(&file, "").unwrap();
    let error = AnyMailer::from_config(None, &file.join("outbox"), DEFAULT_FROM).unwrap_err();
    assert!(error.to_string().contains("outbox folder"), "{error}");
}

/// The log is how a newcomer finds the enrollment link: recipient, subject, file and every link.
#[tokio::test]
async fn the_log_tells_where_the_message_went_and_which_links_it_carries() {
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let dir = scratch_dir("outbox-log");
    let mailer = OutboxMailer::new(&dir, DEFAULT_FROM).unwrap();
    mailer.send(&message("alice@example.com", "Set up two-factor authentication")).await.unwrap();

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let file = dir.join("000000000001-alice@example.com.eml");
    for expected in [
        "to=alice@example.com",
        "subject=Set up two-factor authentication",
        &format!("path={}", file.display()),
        &format!("link={}", common::ENROLL_LINK),
        &format!("link={}", common::RESET_LINK),
    ] {
        assert!(log.contains(expected), "{expected:?} missing from the log:\n{log}");
    }
}
