//! Security keys and passkeys (WebAuthn) end to end over HTTP, with a software authenticator standing in
//! for the browser's `navigator.credentials`: registration from the enrollment link and from My security,
//! "Use your security key" at the second step and at step-up, and every answer that must be refused — a
//! replayed or expired one, another site's, another user's, and a signature counter that went backwards.

use axum::http::StatusCode;
use keyward_core::store::{SecurityKeyStore, UserStore};
use keyward_core::user::Email;
use keyward_webauthn::soft::SoftAuthenticator;

use crate::app::{Browser, PUBLIC_URL, TestApp, spawn_app};
use crate::auth::{PASSWORD, log_in, sign_up};
use crate::story::add_user;

const ADMIN: &str = "boss@acme.example";
const BOB: &str = "bob@acme.example";
const CAROL: &str = "carol@acme.example";

/// Asks `options_path` for a ceremony with the CSRF token of the page at `form_page`; the handle and the
/// options webauthn.js would hand to `navigator.credentials`.
async fn ceremony(browser: &mut Browser, form_page: &str, options_path: &str) -> (String, String) {
    let page = browser.get(form_page).await;
    let answer = browser.post(options_path, &[("csrf", &page.csrf())]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    (json["handle"].as_str().unwrap().to_owned(), json["options"].to_string())
}

/// "Register security key" on My security, named `name`.
async fn register_on_my_security(
    browser: &mut Browser,
    key: &mut SoftAuthenticator,
    name: &str,
) -> crate::app::Page {
    let (handle, options) =
        ceremony(browser, "/account/security", "/account/security/security-key/options").await;
    let credential = key.register(PUBLIC_URL, &options).unwrap();
    let page = browser.get("/account/security").await;
    let fields =
        [("csrf", page.csrf()), ("name", name.into()), ("handle", handle), ("credential", credential)];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post("/account/security/security-key", &fields).await
}

/// The second step (or, with `step_up`, the step-up page) answered by `key` as if the page were at
/// `origin`.
async fn use_key(
    browser: &mut Browser,
    key: &mut SoftAuthenticator,
    origin: &str,
    step_up: Option<&str>,
) -> crate::app::Page {
    let (page, action) = match step_up {
        Some(next) => (format!("/step-up?next={next}"), "/step-up"),
        None => ("/login/otp".to_owned(), "/login/otp"),
    };
    let (handle, options) = ceremony(browser, &page, "/login/security-key/options").await;
    let credential = key.authenticate(origin, &options).unwrap();
    answer(browser, &page, action, &handle, &credential, step_up.unwrap_or_default()).await
}

async fn answer(
    browser: &mut Browser,
    page: &str,
    action: &str,
    handle: &str,
    credential: &str,
    next: &str,
) -> crate::app::Page {
    let csrf = browser.get(page).await.csrf();
    browser
        .post(action, &[("csrf", &csrf), ("handle", handle), ("credential", credential), ("next", next)])
        .await
}

/// An account with "Security keys and passkeys" (and apps) on, its admin's own key registered on My
/// security, and two-factor authentication active; the admin's browser and key.
async fn active_with_security_keys(app: &TestApp) -> (Browser, SoftAuthenticator) {
    let mut admin = sign_up(app, "ACME", ADMIN).await;
    let settings = [("totp", "on"), ("webauthn", "on"), ("policy", "Call +45 33 12 34 56")];
    let saved = admin.submit("/account/two-factor", "/account/two-factor", &settings).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let mut key = SoftAuthenticator::default();
    let first = register_on_my_security(&mut admin, &mut key, "Desk key").await;
    assert!(first.contains("Your recovery codes"), "a first factor brings recovery codes: {}", first.body);
    let preview = admin.get("/account/two-factor/activate").await;
    let activated = admin.post("/account/two-factor/activate", &[("csrf", &preview.csrf())]).await;
    assert!(activated.contains("Two-factor authentication is active."), "{}", activated.body);
    (admin, key)
}

/// Adds `email` and registers their key named `name` from the enrollment link; the key.
async fn enrolled_with_key(app: &TestApp, admin: &mut Browser, email: &str, name: &str) -> SoftAuthenticator {
    add_user(app, admin, email).await;
    let id =
        app.store.find_user_by_email(&Email::parse(email).unwrap()).await.unwrap().unwrap().id.to_string();
    let sent = admin
        .submit("/account/two-factor/security-keys", "/account/two-factor/security-keys", &[("user", &id)])
        .await;
    assert!(sent.contains("The enrollment e-mail was sent."), "{}", sent.body);
    let link = app.links_to(email).pop().unwrap();
    assert!(link.starts_with("/enroll/"), "{link}");
    let mut browser = app.browser();
    let step = browser.get(&link).await;
    let page =
        browser.post(&format!("{link}/password"), &[("csrf", &step.csrf()), ("password", PASSWORD)]).await;
    assert!(page.contains("Register security key") && page.contains("/static/webauthn.js"), "{}", page.body);
    let answer = browser.post(&format!("{link}/security-key/options"), &[("csrf", &page.csrf())]).await;
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let mut key = SoftAuthenticator::default();
    let credential = key.register(PUBLIC_URL, &json["options"].to_string()).unwrap();
    let handle = json["handle"].as_str().unwrap();
    let fields = [
        ("csrf", page.csrf()),
        ("name", name.to_owned()),
        ("handle", handle.to_owned()),
        ("credential", credential),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = browser.post(&format!("{link}/security-key"), &fields).await;
    assert!(done.contains("Your recovery codes"), "{}", done.body);
    assert!(app.received(email, "A security key was added").await);
    assert!(browser.get(&link).await.status.is_client_error(), "the link is used up");
    key
}

/// Bob's password typed in a browser at 192.0.2.`n`: the second step, waiting for a factor.
async fn intruder(app: &TestApp, n: u8) -> Browser {
    let mut browser = app.browser_at(&format!("192.0.2.{n}"));
    let page = log_in(&mut browser, BOB, PASSWORD).await;
    assert_eq!(page.location.as_deref(), Some("/login/otp"), "{}", page.body);
    browser
}

/// Four answers from another site's origin in a row, in one browser; their status codes.
async fn wrong_answers_in_a_row(browser: &mut Browser, key: &mut SoftAuthenticator) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let page = browser.get("/login/otp").await;
        let options = browser.post("/login/security-key/options", &[("csrf", &page.csrf())]).await;
        let json: serde_json::Value = serde_json::from_str(&options.body).unwrap();
        let credential = key.authenticate("http://localhost:8443", &json["options"].to_string()).unwrap();
        let handle = json["handle"].as_str().unwrap();
        statuses
            .push(answer(browser, "/login/otp", "/login/otp", handle, &credential, "").await.status.as_u16());
    }
    statuses
}

#[tokio::test]
async fn a_user_registers_security_keys_and_logs_in_and_steps_up_with_them() {
    let Some(app) = spawn_app("security-keys").await else { return };
    let (mut admin, _) = active_with_security_keys(&app).await;
    let tab = admin.get("/account/two-factor/security-keys").await;
    assert!(tab.contains("aria-current=\"page\">Security keys"), "{}", tab.body);
    let mut blue = enrolled_with_key(&app, &mut admin, BOB, "Blue YubiKey").await;

    let mut bob = app.browser();
    let password = log_in(&mut bob, BOB, PASSWORD).await;
    assert_eq!(password.location.as_deref(), Some("/login/otp"));
    let second = bob.get("/login/otp").await;
    assert!(second.contains("Use your security key") && second.contains("name=\"otp\""), "{}", second.body);
    let done = use_key(&mut bob, &mut blue, PUBLIC_URL, None).await;
    assert_eq!((done.status, done.location.as_deref()), (StatusCode::SEE_OTHER, Some("/")), "{}", done.body);
    let mine = bob.get("/account/security").await;
    assert!(mine.contains("Security key &#34;Blue YubiKey&#34;"), "{}", mine.body);
    assert!(mine.contains("password and security key"), "the sign-in is recorded: {}", mine.body);

    // A second key from My security: the key just proven counts as a fresh second factor.
    let mut phone = SoftAuthenticator::default();
    let added = register_on_my_security(&mut bob, &mut phone, "Phone").await;
    assert!(added.contains("is registered"), "{}", added.body);
    let users = admin.get("/account/users").await;
    assert!(users.contains("security keys “Blue YubiKey”, “Phone”"), "{}", users.body);

    // Removing one is a sensitive change: after five minutes it asks for a key again, at step-up.
    app.advance(6 * 60);
    let key_id = app
        .store
        .security_keys_of(
            app.store.find_user_by_email(&Email::parse(BOB).unwrap()).await.unwrap().unwrap().id,
        )
        .await
        .unwrap()
        .into_iter()
        .find(|key| key.name.as_str() == "Phone")
        .unwrap()
        .id
        .to_string();
    let page = bob.get("/account/security").await;
    let refused =
        bob.post("/account/security/security-key/remove", &[("csrf", &page.csrf()), ("key", &key_id)]).await;
    assert_eq!(refused.location.as_deref(), Some("/step-up?next=/account/security"));
    let stepped = use_key(&mut bob, &mut phone, PUBLIC_URL, Some("/account/security")).await;
    assert_eq!(stepped.location.as_deref(), Some("/account/security"), "{}", stepped.body);
    let page = bob.get("/account/security").await;
    let removed =
        bob.post("/account/security/security-key/remove", &[("csrf", &page.csrf()), ("key", &key_id)]).await;
    assert!(removed.contains("The security key is removed."), "{}", removed.body);
    assert!(app.received(BOB, "Your two-factor authentication changed").await);
    app.finish().await;
}

#[tokio::test]
async fn replayed_expired_phished_and_foreign_answers_and_a_backward_counter_are_refused() {
    let Some(app) = spawn_app("security-key-attacks").await else { return };
    let (mut admin, _) = active_with_security_keys(&app).await;
    let mut bobs = enrolled_with_key(&app, &mut admin, BOB, "Blue YubiKey").await;
    let mut carols = enrolled_with_key(&app, &mut admin, CAROL, "Carol's key").await;

    // A replayed answer: the ceremony it answered is used up. Each attempt below comes from another
    // address, with Bob's password, so that only Bob's own budget adds them up.
    let mut bob = app.browser();
    log_in(&mut bob, BOB, PASSWORD).await;
    let (handle, options) = ceremony(&mut bob, "/login/otp", "/login/security-key/options").await;
    let credential = bobs.authenticate(PUBLIC_URL, &options).unwrap();
    let first = answer(&mut bob, "/login/otp", "/login/otp", &handle, &credential, "").await;
    assert_eq!(first.location.as_deref(), Some("/"));
    // A registration ceremony is used up by a refused answer too: the real answer cannot follow it.
    let (handle, options) =
        ceremony(&mut bob, "/account/security", "/account/security/security-key/options").await;
    let page = bob.get("/account/security").await;
    let refused = bob
        .post(
            "/account/security/security-key",
            &[("csrf", &page.csrf()), ("name", "Spare"), ("handle", &handle), ("credential", "{}")],
        )
        .await;
    assert!(refused.contains("answer was not accepted"), "{}", refused.body);
    let real = SoftAuthenticator::default().register(PUBLIC_URL, &options).unwrap();
    let page = bob.get("/account/security").await;
    let again = bob
        .post(
            "/account/security/security-key",
            &[("csrf", &page.csrf()), ("name", "Spare"), ("handle", &handle), ("credential", &real)],
        )
        .await;
    assert!(again.contains("the page was sent twice"), "{}", again.body);
    let mut thief = intruder(&app, 1).await;
    let replayed = answer(&mut thief, "/login/otp", "/login/otp", &handle, &credential, "").await;
    assert_eq!(replayed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(replayed.contains("the page was sent twice"), "{}", replayed.body);

    // Expired: answered after more than five minutes.
    let mut thief = intruder(&app, 2).await;
    let (handle, options) = ceremony(&mut thief, "/login/otp", "/login/security-key/options").await;
    let credential = bobs.authenticate(PUBLIC_URL, &options).unwrap();
    app.advance(5 * 60 + 1);
    let late = answer(&mut thief, "/login/otp", "/login/otp", &handle, &credential, "").await;
    assert!(late.contains("longer than 5 minutes"), "{}", late.body);

    // A phishing page at another origin relays the challenge: the key signs for that origin, refused.
    let mut thief = intruder(&app, 3).await;
    let phished = use_key(&mut thief, &mut bobs, "http://localhost:8443", None).await;
    assert_eq!(phished.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(phished.contains("answer was not accepted"), "{}", phished.body);

    // Another user's key: Carol's answer to her own ceremony, posted in Bob's login, and to Bob's.
    let mut carol = app.browser();
    log_in(&mut carol, CAROL, PASSWORD).await;
    let (carol_handle, carol_options) =
        ceremony(&mut carol, "/login/otp", "/login/security-key/options").await;
    let carol_credential = carols.authenticate(PUBLIC_URL, &carol_options).unwrap();
    let mut thief = intruder(&app, 4).await;
    let foreign = answer(&mut thief, "/login/otp", "/login/otp", &carol_handle, &carol_credential, "").await;
    assert_eq!(foreign.status, StatusCode::UNPROCESSABLE_ENTITY, "not Bob's ceremony");
    let mut thief = intruder(&app, 5).await;
    let (bob_handle, _) = ceremony(&mut thief, "/login/otp", "/login/security-key/options").await;
    let mixed = answer(&mut thief, "/login/otp", "/login/otp", &bob_handle, &carol_credential, "").await;
    assert!(mixed.contains("answer was not accepted"), "Carol's key for Bob's challenge: {}", mixed.body);
    assert!(thief.get("/account/security").await.location.is_some(), "the thief never got in");
    let own = answer(&mut carol, "/login/otp", "/login/otp", &carol_handle, &carol_credential, "").await;
    assert_eq!(own.location.as_deref(), Some("/"), "Carol's own answer still works in her login");
    // Five wrong answers after a correct password spend the same budget as wrong codes, and tell Bob.
    assert!(app.received(BOB, "Wrong one-time passwords at your Keyward login").await);
    // From one address, the fourth wrong answer in a row waits, as a fourth wrong code would.
    let mut thief = intruder(&app, 6).await;
    let statuses = wrong_answers_in_a_row(&mut thief, &mut bobs).await;
    assert_eq!(statuses, [422, 422, 422, 429], "three free attempts per address, then a wait");

    // A copy of the key that signed further ahead: the original's counter is now behind. Refused, and
    // Bob and the admins are told.
    let bob_id = app.store.find_user_by_email(&Email::parse(BOB).unwrap()).await.unwrap().unwrap().id;
    let key = app.store.security_keys_of(bob_id).await.unwrap().remove(0);
    assert!(app.store.use_security_key(key.id, 1_000, app.now()).await.unwrap());
    let mut bob = app.browser();
    log_in(&mut bob, BOB, PASSWORD).await;
    let cloned = use_key(&mut bob, &mut bobs, PUBLIC_URL, None).await;
    assert_eq!(cloned.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.received(BOB, "A security key may have been copied").await);
    assert!(app.received(ADMIN, "A security key may have been copied").await);
    let log = admin.get("/account/audit").await;
    assert!(log.contains("security_key.counter_regressed"), "{}", log.body);
    app.finish().await;
}
