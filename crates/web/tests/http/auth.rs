//! Sign-up, login, logout and passwords from e-mailed links.

use axum::http::StatusCode;

use crate::app::{Browser, TestApp, eventually, spawn_app};

pub const PASSWORD: &str = "correct horse battery";

/// Signs up an account and returns the admin's logged-in browser.
pub async fn sign_up(app: &TestApp, account: &str, email: &str) -> Browser {
    let mut browser = app.browser();
    let page = browser
        .submit("/signup", "/signup", &[("account_name", account), ("email", email), ("password", PASSWORD)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/account/users"));
    browser
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
    let duplicate = app
        .browser()
        .submit(
            "/signup",
            "/signup",
            &[("account_name", "Other"), ("email", "boss@acme.example"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::UNPROCESSABLE_ENTITY);
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
    assert!(added.contains("alice@acme.example was added"));
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
    let known =
        browser.submit("/password/forgot", "/password/forgot", &[("email", "boss@acme.example")]).await;
    let unknown =
        browser.submit("/password/forgot", "/password/forgot", &[("email", "ghost@acme.example")]).await;
    assert_eq!(known.status, unknown.status);
    assert_eq!(known.body, unknown.body, "no user enumeration");
    let link = eventually(|| app.links_to("boss@acme.example").pop()).await.expect("a reset link");
    assert!(app.links_to("ghost@acme.example").is_empty());
    app.advance(3601);
    assert!(browser.get(&link).await.status.is_client_error(), "reset links last one hour");
}

/// The work behind "Forgot password" is not on the request path: a known address whose mail server
/// takes two seconds, or refuses the message, gets its answer at once and the same as an unknown one.
#[tokio::test]
async fn forgot_password_answers_before_the_mail_is_sent_and_whatever_the_mailer_says() {
    let Some(app) = spawn_app("forgotqueued").await else { return };
    sign_up(&app, "Slow", "slow.boss@acme.example").await;
    sign_up(&app, "Refused", "refused.boss@acme.example").await;
    let mut browser = app.browser();
    let unknown =
        browser.submit("/password/forgot", "/password/forgot", &[("email", "ghost@acme.example")]).await;
    for known in ["slow.boss@acme.example", "refused.boss@acme.example"] {
        let page = browser.submit("/password/forgot", "/password/forgot", &[("email", known)]).await;
        assert_eq!((page.status, &page.body), (unknown.status, &unknown.body), "{known}");
    }
    assert!(app.links_to("slow.boss@acme.example").is_empty(), "answered before the mail server accepted it");
    let link = eventually(|| app.links_to("slow.boss@acme.example").pop()).await;
    assert!(link.is_some_and(|link| link.starts_with("/password/")), "and the mail went out after");
}
