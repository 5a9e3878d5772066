//! Sign-up, login, logout and passwords from e-mailed links.

use axum::http::StatusCode;
use keyward_core::account::AccountName;
use keyward_core::password::{Password, PasswordHash, hash_password};
use keyward_core::store::AccountStore;
use keyward_core::user::Email;

use crate::app::{Browser, TestApp, eventually, spawn_app};

pub const PASSWORD: &str = "correct horse battery";

/// Signs up an account, opens the link mailed to `email`, and returns the admin's logged-in browser.
pub async fn sign_up(app: &TestApp, account: &str, email: &str) -> Browser {
    let mut browser = app.browser();
    let link = ask_to_sign_up(app, &mut browser, account, email).await.expect("a sign-up link");
    let page = browser.submit(&link, &link, &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/account/users"));
    browser
}

/// An account with its admin (password [`PASSWORD`]) made straight in the store, without the e-mail.
pub async fn account_in_store(app: &TestApp, account: &str, email: &str) {
    static HASH: std::sync::OnceLock<PasswordHash> = std::sync::OnceLock::new();
    let hash = HASH.get_or_init(|| {
        hash_password(&Password::parse(PASSWORD).unwrap(), &mut crate::story::rng(4)).unwrap()
    });
    let (email, name) = (Email::parse(email).unwrap(), AccountName::parse(account).unwrap());
    app.store.create_account(&name, &email, hash, app.now()).await.unwrap();
}

/// Submits the sign-up form; the link then mailed to `email`, if one arrives.
async fn ask_to_sign_up(app: &TestApp, browser: &mut Browser, account: &str, email: &str) -> Option<String> {
    let sign_up_links = || -> Vec<String> {
        app.links_to(email).into_iter().filter(|link| link.starts_with("/signup/")).collect()
    };
    let before = sign_up_links().len();
    let page = browser
        .submit("/signup", "/signup", &[("account_name", account), ("email", email), ("password", PASSWORD)])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.contains("Check your e-mail"), "{}", page.body);
    eventually(|| sign_up_links().get(before).cloned()).await
}

#[tokio::test]
async fn signing_up_with_an_address_that_has_a_login_answers_the_same_and_tells_its_owner() {
    let Some(app) = spawn_app("signupknown").await else { return };
    sign_up(&app, "ACME", "boss@acme.example").await;
    let mut browser = app.browser();
    let fields = |email| [("account_name", "Other"), ("email", email), ("password", PASSWORD)];
    let known = browser.submit("/signup", "/signup", &fields("boss@acme.example")).await;
    let new = browser.submit("/signup", "/signup", &fields("new@other.example")).await;
    assert_eq!(known.status, new.status);
    assert_eq!(known.body.replace("boss@acme.example", "X"), new.body.replace("new@other.example", "X"));
    assert!(app.received("boss@acme.example", "You already have a Keyward login").await);
    let links = app.links_to("boss@acme.example");
    let sign_up_links = links.iter().filter(|link| link.starts_with("/signup/")).count();
    assert_eq!(sign_up_links, 1, "only the first sign-up's link, none to a second account: {links:?}");
    assert!(app.received("new@other.example", "Confirm your address").await);
}

#[tokio::test]
async fn a_sign_up_link_creates_the_account_once_and_only_within_a_day() {
    let Some(app) = spawn_app("signuplink").await else { return };
    let mut browser = app.browser();
    let link = ask_to_sign_up(&app, &mut browser, "ACME", "boss@acme.example").await.unwrap();
    assert!(
        log_in(&mut app.browser(), "boss@acme.example", PASSWORD).await.status.is_client_error(),
        "no account before the link is opened"
    );
    let page = browser.get(&link).await;
    assert!(page.contains("Create account") && page.contains("ACME"), "{}", page.body);
    let mut forged = link.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    assert!(browser.get(&forged).await.status.is_client_error(), "a changed link opens nothing");
    let created = browser.submit(&link, &link, &[]).await;
    assert_eq!(created.location.as_deref(), Some("/account/users"));
    let again = app.browser().submit(&link, &link, &[]).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", again.body);
    assert!(again.contains("already used"), "{}", again.body);

    let late = ask_to_sign_up(&app, &mut app.browser(), "Late", "late@other.example").await.unwrap();
    app.advance(24 * 3600);
    assert!(app.browser().get(&late).await.status.is_client_error(), "the link lasts a day");
}

/// Logs in with the password only; returns where the login sent the browser.
pub async fn log_in(browser: &mut Browser, email: &str, password: &str) -> crate::app::Page {
    browser.submit("/login", "/login", &[("email", email), ("password", password)]).await
}

#[tokio::test]
async fn sign_up_log_out_and_log_in_again() {
    let Some(app) = spawn_app("signup").await else { return };
    let mut admin = sign_up(&app, "ACME", "boss@acme.example").await;
    let users = admin.get("/account/users").await;
    assert_eq!(users.status, StatusCode::OK);
    assert!(users.contains("Users &amp; Security") && users.contains("boss@acme.example"), "{}", users.body);
    assert!(users.contains("Configure two-factor authentication"));

    let out = admin.submit("/account/users", "/logout", &[]).await;
    assert_eq!(out.location.as_deref(), Some("/login"));
    assert_eq!(admin.get("/account/users").await.location.as_deref(), Some("/login"), "the session ended");

    let page = log_in(&mut admin, "boss@acme.example", PASSWORD).await;
    assert_eq!(page.location.as_deref(), Some("/"), "no second step while 2FA is not active");
    assert_eq!(admin.get("/").await.location.as_deref(), Some("/account/users"));
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_get_the_same_answer() {
    let Some(app) = spawn_app("wrongpw").await else { return };
    sign_up(&app, "ACME", "boss@acme.example").await;
    let mut browser = app.browser();
    let wrong = log_in(&mut browser, "boss@acme.example", "not the password").await;
    let unknown = log_in(&mut browser, "nobody@acme.example", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.status, wrong.status);
    assert!(wrong.contains("The e-mail address or the password is wrong."));
    assert!(unknown.contains("The e-mail address or the password is wrong."));
    let short = app
        .browser()
        .submit(
            "/signup",
            "/signup",
            &[("account_name", "Other"), ("email", "x@acme.example"), ("password", "short")],
        )
        .await;
    assert!(short.contains("between 8 and 128") || short.contains("8 to 128"), "{}", short.body);
}

#[tokio::test]
async fn password_guessing_is_throttled_per_address() {
    let Some(app) = spawn_app("pwthrottle").await else { return };
    sign_up(&app, "ACME", "boss@acme.example").await;
    let mut browser = app.browser();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(log_in(&mut browser, "boss@acme.example", "guess guess").await.status);
    }
    // Five free guesses per (user, address) for a browser that never logged in; then waits.
    assert!(statuses[..5].iter().all(|s| *s == StatusCode::UNPROCESSABLE_ENTITY), "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    let throttled = log_in(&mut browser, "boss@acme.example", PASSWORD).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    assert!(throttled.headers.contains_key("retry-after"));
    app.advance(3600);
    assert_eq!(log_in(&mut browser, "boss@acme.example", PASSWORD).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn added_users_choose_their_password_from_the_link_once() {
    let Some(app) = spawn_app("adduser").await else { return };
    let mut admin = sign_up(&app, "ACME", "boss@acme.example").await;
    let added = admin.submit("/account/users", "/account/users", &[("email", "alice@acme.example")]).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert!(added.contains("We sent an e-mail to alice@acme.example."));
    let link = app.links_to("alice@acme.example").pop().expect("a mail with a link");
    assert!(link.starts_with("/password/"), "{link}");
    let mut alice = app.browser();
    let saved = alice.submit(&link, &link, &[("password", "alice's own password")]).await;
    assert!(saved.contains("Your password is saved"), "{}", saved.body);
    assert!(alice.get(&link).await.status.is_client_error(), "the link works once");
    assert_eq!(
        log_in(&mut alice, "alice@acme.example", "alice's own password").await.location.as_deref(),
        Some("/")
    );
}

#[tokio::test]
async fn forgot_password_answers_the_same_and_mails_only_known_addresses() {
    let Some(app) = spawn_app("forgot").await else { return };
    sign_up(&app, "ACME", "boss@acme.example").await;
    let mut browser = app.browser();
    let before = app.links_to("boss@acme.example").len();
    let known =
        browser.submit("/password/forgot", "/password/forgot", &[("email", "boss@acme.example")]).await;
    let unknown =
        browser.submit("/password/forgot", "/password/forgot", &[("email", "ghost@acme.example")]).await;
    assert_eq!(known.status, unknown.status);
    assert_eq!(known.body, unknown.body, "no user enumeration");
    let link =
        eventually(|| app.links_to("boss@acme.example").get(before).cloned()).await.expect("a reset link");
    assert!(app.links_to("ghost@acme.example").is_empty());
    app.advance(3601);
    assert!(browser.get(&link).await.status.is_client_error(), "reset links last one hour");
}

/// The work behind "Forgot password" is not on the request path: a known address whose mail server
/// takes two seconds, or refuses the message, gets its answer at once and the same as an unknown one; the
/// e-mail waits in the outbox and leaves when a delivery worker runs.
#[tokio::test]
async fn forgot_password_answers_before_the_mail_is_sent_and_whatever_the_mailer_says() {
    let Some(app) = spawn_app("forgotqueued").await else { return };
    account_in_store(&app, "Slow", "slow.boss@acme.example").await;
    account_in_store(&app, "Refused", "refused.boss@acme.example").await;
    app.pause_mail(true).await;
    let mut browser = app.browser();
    let unknown =
        browser.submit("/password/forgot", "/password/forgot", &[("email", "ghost@acme.example")]).await;
    for known in ["slow.boss@acme.example", "refused.boss@acme.example"] {
        let page = browser.submit("/password/forgot", "/password/forgot", &[("email", known)]).await;
        assert_eq!((page.status, &page.body), (unknown.status, &unknown.body), "{known}");
    }
    assert!(app.links_to("slow.boss@acme.example").is_empty(), "answered before the mail server accepted it");
    app.pause_mail(false).await;
    let link = eventually(|| app.links_to("slow.boss@acme.example").pop()).await;
    assert!(link.is_some_and(|link| link.starts_with("/password/")), "and the mail went out after");
}
