//! No rebinding with a mailbox alone: someone who reads a user's e-mail can reset the password, but
//! cannot bind a factor while the user has one, and old links die with the reset. Every factor change
//! ends the user's other sessions and tells them.

use axum::http::StatusCode;
use keyward_core::otp::Totp;
use keyward_core::store::FactorStore;

use crate::app::{Browser, TestApp, eventually, spawn_app};
use crate::auth::{PASSWORD, log_in, sign_up};
use crate::story::{add_user, own_app_from_activate, totp_of, user_id};

const ALICE: &str = "alice@acme.example";
const TAKEN_OVER: &str = "the attacker's password";

/// Enrolls the user's app from a fresh enrollment link, in `browser`; returns the app.
pub(crate) async fn enroll(app: &TestApp, admin: &mut Browser, browser: &mut Browser, email: &str) -> Totp {
    let id = user_id(app, email).await;
    admin.submit("/account/two-factor/totp", "/account/two-factor/totp", &[("user", &id)]).await;
    let link = app.links_to(email).pop().unwrap();
    let step = browser.get(&link).await;
    let qr =
        browser.post(&format!("{link}/password"), &[("csrf", &step.csrf()), ("password", PASSWORD)]).await;
    let totp = totp_of(&qr.element_text("secret"));
    let code = totp.code_at(app.now()).unwrap().to_string();
    let done = browser.post(&format!("{link}/verify"), &[("csrf", &qr.csrf()), ("otp", &code)]).await;
    assert!(done.contains("Your recovery codes"), "{}", done.body);
    totp
}

/// Resets the password of `email` from the link in its mailbox.
async fn reset_password(app: &TestApp, email: &str, password: &str) {
    let mut browser = app.browser();
    let before = app.links_to(email).len();
    let sent = browser.submit("/password/forgot", "/password/forgot", &[("email", email)]).await;
    assert_eq!(sent.status, StatusCode::OK);
    let link = eventually(|| app.links_to(email).get(before).cloned()).await.expect("a reset link");
    assert!(link.starts_with("/password/"), "{link}");
    let set = browser.submit(&link, &link, &[("password", password)]).await;
    assert!(set.contains("Log in with your e-mail address and the new password."), "{}", set.body);
}

#[tokio::test]
async fn a_mailbox_alone_cannot_bind_a_factor_to_an_enrolled_user() {
    let Some(app) = spawn_app("rebind").await else { return };
    let mut admin = sign_up(&app, "ACME", "boss@acme.example").await;
    let policy = [("totp", "on"), ("policy", "Call +45 33 12 34 56 first")];
    admin.submit("/account/two-factor", "/account/two-factor", &policy).await;
    add_user(&app, &mut admin, ALICE).await;
    let mut desk = app.browser();
    let alices_app = enroll(&app, &mut admin, &mut desk, ALICE).await;
    let factor_before = app.store.totp_factors(alice_id(&app).await).await.unwrap();
    own_app_from_activate(&app, &mut admin, PASSWORD).await;
    let preview = admin.get("/account/two-factor/activate").await;
    let active = admin.post("/account/two-factor/activate", &[("csrf", &preview.csrf())]).await;
    assert!(active.status.is_success() || active.status.is_redirection(), "{}", active.body);

    // Someone with Alice's mailbox resets her password, and the admin (asked nicely) re-sends the link.
    reset_password(&app, ALICE, TAKEN_OVER).await;
    assert!(app.received(ALICE, "Your Keyward password was changed").await);
    let id = user_id(&app, ALICE).await;
    admin.submit("/account/two-factor/totp", "/account/two-factor/totp", &[("user", &id)]).await;
    let link = app.links_to(ALICE).pop().unwrap();
    let mut attacker = app.browser();
    let step = attacker.get(&link).await;
    for otp in ["", "123456", "cccccccccccccccccccccccccccccccccccccccccccc"] {
        let page = attacker
            .post(
                &format!("{link}/password"),
                &[("csrf", &step.csrf()), ("password", TAKEN_OVER), ("otp", otp)],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{otp:?}: {}", page.body);
        assert!(!page.contains("id=\"secret\""), "no secret shown without the factor");
        // Even with the session the password step started, the QR step and Verify stay closed.
        let again = attacker.get(&link).await;
        assert!(!again.contains("id=\"secret\""), "{}", again.body);
        let verify =
            attacker.post(&format!("{link}/verify"), &[("csrf", &again.csrf()), ("otp", "123456")]).await;
        let refused = verify.status.is_client_error() || verify.location.as_deref() == Some("/login");
        assert!(refused, "{} {:?}", verify.status, verify.location);
    }
    assert_eq!(app.store.totp_factors(alice_id(&app).await).await.unwrap(), factor_before, "nothing bound");

    // Alice's app still gets her in (with the password she now has to recover, here the attacker's).
    app.advance(30);
    let mut elsewhere = app.browser();
    assert_eq!(log_in(&mut elsewhere, ALICE, TAKEN_OVER).await.location.as_deref(), Some("/login/otp"));
    let code = alices_app.code_at(app.now()).unwrap().to_string();
    let done = elsewhere.submit("/login/otp", "/login/otp", &[("otp", &code)]).await;
    assert_eq!(done.location.as_deref(), Some("/"), "{}", done.body);
}

async fn alice_id(app: &TestApp) -> keyward_core::ids::UserId {
    keyward_core::ids::UserId(user_id(app, ALICE).await.parse().unwrap())
}

#[tokio::test]
async fn a_password_reset_voids_earlier_links() {
    let Some(app) = spawn_app("resetvoids").await else { return };
    let mut admin = sign_up(&app, "ACME", "boss@acme.example").await;
    admin.submit("/account/users", "/account/users", &[("email", "bob@acme.example")]).await;
    let first_password_link = app.links_to("bob@acme.example").pop().unwrap();
    let id = user_id(&app, "bob@acme.example").await;
    let policy = [("totp", "on"), ("policy", "Call +45 33 12 34 56 first")];
    admin.submit("/account/two-factor", "/account/two-factor", &policy).await;
    admin.submit("/account/two-factor/totp", "/account/two-factor/totp", &[("user", &id)]).await;
    let enrollment_link = app.links_to("bob@acme.example").pop().unwrap();
    assert!(enrollment_link.starts_with("/enroll/"));

    reset_password(&app, "bob@acme.example", TAKEN_OVER).await;
    assert!(app.browser().get(&first_password_link).await.status.is_client_error(), "the first link is void");
    assert!(app.browser().get(&enrollment_link).await.status.is_client_error(), "the enrollment link too");
}

#[tokio::test]
async fn enrolling_a_new_app_ends_the_other_sessions_and_tells_the_user() {
    let Some(app) = spawn_app("newapp").await else { return };
    let mut admin = sign_up(&app, "ACME", "boss@acme.example").await;
    let policy = [("totp", "on"), ("policy", "Call +45 33 12 34 56 first")];
    admin.submit("/account/two-factor", "/account/two-factor", &policy).await;
    add_user(&app, &mut admin, ALICE).await;
    let mut laptop = app.browser();
    assert_eq!(log_in(&mut laptop, ALICE, PASSWORD).await.location.as_deref(), Some("/"));
    let mut phone_setup = app.browser();
    enroll(&app, &mut admin, &mut phone_setup, ALICE).await;
    assert_eq!(laptop.get("/").await.location.as_deref(), Some("/login"), "the laptop was logged out");
    assert_eq!(phone_setup.get("/").await.status, StatusCode::OK, "the enrolling browser stays in");
    assert!(
        app.received(ALICE, "Your two-factor authentication changed").await,
        "{:?}",
        app.subjects_to(ALICE)
    );
}
