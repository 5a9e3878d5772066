//! What an operator relies on: failures on our side are logged with the request id and shown only as a
//! reference; every response carries its request id.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use keyward_core::factor::yubikey_seal_context;
use keyward_core::seal::{KeyRing, MasterKey};
use keyward_core::store::FactorStore;
use keyward_core::yubico::{AesKey, PrivateId, PublicId, SoftwareKey, SoftwareKeyState};

use crate::app::spawn_app;
use crate::auth::sign_up;
use crate::story::{rng, touch, user_id};

/// Log lines written while the guard lives, on this thread (tokio's test runtime is single-threaded).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_secret_that_does_not_open_is_a_500_with_a_reference_that_is_in_the_log() {
    let Some(app) = spawn_app("internal").await else { return };
    let logs = Captured::default();
    let _guard = logs.install();
    let mut admin = sign_up(&app, "ACME", "boss@acme.example").await;
    admin
        .submit(
            "/account/two-factor",
            "/account/two-factor",
            &[("yubikey", "on"), ("policy", "Call Ann, +1 555 0100")],
        )
        .await;
    // A key imported under another master key that happens to carry the same id: its secret is stored,
    // and this node's ring cannot open it. Nothing the admin typed is wrong.
    let public_id = PublicId::parse("vvbbbbbbbbbb").unwrap();
    let foreign = KeyRing::new(MasterKey::from_bytes("test", &[9; 32]).unwrap());
    let (aes, private) = ([3u8; 16], [4u8; 6]);
    let sealed = foreign
        .seal(&[&aes[..], &private[..]].concat(), &yubikey_seal_context(&public_id), &mut rng(3))
        .unwrap();
    app.store.import_yubikey(&public_id, &sealed, app.now()).await.unwrap();
    let mut key = SoftwareKey::new(
        AesKey::from_bytes(aes),
        SoftwareKeyState::new(public_id, PrivateId::from_bytes(private), &mut rng(3)),
    );
    let boss = user_id(&app, "boss@acme.example").await;

    let page = admin
        .submit(
            "/account/two-factor/yubikey",
            "/account/two-factor/yubikey",
            &[("user", &boss), ("otp", &touch(&mut key))],
        )
        .await;

    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", page.body);
    assert!(page.contains("Something went wrong on our side"), "{}", page.body);
    for internal in ["sealed", "master key", "does not open", "key ring"] {
        assert!(!page.body.contains(internal), "{internal:?} shown to the person: {}", page.body);
    }
    let reference = page.element_text("error-reference");
    assert_eq!(page.headers["x-request-id"], reference.as_str(), "the page quotes the response's id");
    let log = logs.text();
    let line = log
        .lines()
        .find(|line| line.contains("request failed"))
        .unwrap_or_else(|| panic!("the failure was not logged:\n{log}"));
    assert!(line.contains(&reference), "the log line carries the reference: {line}");
    assert!(line.contains("does not open"), "the log line carries the cause chain: {line}");
    assert_eq!(log.matches("request failed").count(), 1, "logged once:\n{log}");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_sensible_one_is_kept() {
    let Some(app) = spawn_app("request-id").await else { return };
    let mut browser = app.browser();
    let first = browser.get("/login").await;
    let second = browser.get("/login").await;
    let (first, second) = (&first.headers["x-request-id"], &second.headers["x-request-id"]);
    assert_eq!(first.len(), 32, "{first:?}");
    assert_ne!(first, second, "each request gets its own");
    for (sent, kept) in [("lb-7f3a.42", true), ("bad id with spaces", false), (&*"x".repeat(65), false)] {
        let response = tower::ServiceExt::oneshot(
            app.router.clone(),
            axum::http::Request::get("/healthz")
                .header("x-request-id", sent)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(response.headers()["x-request-id"] == sent, kept, "{sent:?}");
    }
}
