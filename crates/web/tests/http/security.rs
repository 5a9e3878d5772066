//! What every page owes: CSRF checks, authorization on the server, security headers, OTP throttling,
//! health and metrics.

use axum::http::StatusCode;
use keyward_core::store::UserStore;
use keyward_core::user::Email;

use crate::app::spawn_app;
use crate::auth::{PASSWORD, log_in, sign_up};
use crate::story::active_with_admin_key;

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused() {
    let Some(app) = spawn_app("csrf").await else { return };
    let mut admin = sign_up(&app, "ACME", "boss@acme.example").await;
    let forged = admin.post("/account/users", &[("email", "eve@evil.example")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let forged = admin.post("/account/users", &[("csrf", "guess"), ("email", "eve@evil.example")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!admin.get("/account/users").await.contains("eve@evil.example"));
    let anonymous =
        app.browser().post("/login", &[("email", "boss@acme.example"), ("password", PASSWORD)]).await;
    assert_eq!(anonymous.status, StatusCode::FORBIDDEN, "login forms carry a token too");
}

#[tokio::test]
async fn people_reach_only_their_own_account() {
    let Some(app) = spawn_app("authz").await else { return };
    let mut acme = sign_up(&app, "ACME", "boss@acme.example").await;
    let mut other = sign_up(&app, "Other", "boss@other.example").await;
    acme.submit("/account/users", "/account/users", &[("email", "alice@acme.example")]).await;
    acme.submit(
        "/account/two-factor",
        "/account/two-factor",
        &[("totp", "on"), ("policy", "Mail it@acme.example")],
    )
    .await;
    other
        .submit(
            "/account/two-factor",
            "/account/two-factor",
            &[("totp", "on"), ("policy", "Mail it@other.example")],
        )
        .await;
    let alice =
        app.store.find_user_by_email(&Email::parse("alice@acme.example").unwrap()).await.unwrap().unwrap();
    let page = other
        .submit("/account/two-factor/totp", "/account/two-factor/totp", &[("user", &alice.id.to_string())])
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "an id in a form grants nothing");
    assert!(!other.get("/account/users").await.contains("alice@acme.example"));

    let link = app.links_to("alice@acme.example").pop().unwrap();
    let mut alice_browser = app.browser();
    alice_browser.submit(&link, &link, &[("password", PASSWORD)]).await;
    log_in(&mut alice_browser, "alice@acme.example", PASSWORD).await;
    assert_eq!(
        alice_browser.get("/account/users").await.status,
        StatusCode::FORBIDDEN,
        "users are not admins"
    );
    assert_eq!(alice_browser.get("/account/two-factor").await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn pages_carry_security_headers_and_health_and_metrics_answer() {
    let Some(app) = spawn_app("headers").await else { return };
    let mut admin = sign_up(&app, "ACME", "boss@acme.example").await;
    let page = admin.get("/account/users").await;
    assert!(page.headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers["cache-control"], "no-store");
    let login = app.browser().get("/login").await;
    let cookie = login.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite"), "{cookie}");
    assert_eq!(admin.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(admin.get("/readyz").await.status, StatusCode::OK);
    let metrics = admin.get("/metrics").await;
    assert!(metrics.contains("/account/users"), "{}", metrics.body);
    let missing = admin.get("/no/such/page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn wrong_one_time_passwords_are_throttled_and_reported() {
    let Some(app) = spawn_app("otpthrottle").await else { return };
    // The boss has a factor, so guesses are checked (and counted) against it.
    active_with_admin_key(&app, "boss@acme.example", "vvcccccccccc", 5).await;
    let mut attacker = app.browser();
    assert_eq!(
        log_in(&mut attacker, "boss@acme.example", PASSWORD).await.location.as_deref(),
        Some("/login/otp")
    );
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(attacker.submit("/login/otp", "/login/otp", &[("otp", "000000")]).await.status);
    }
    assert_eq!(statuses[..3], [StatusCode::UNPROCESSABLE_ENTITY; 3]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS, "the fourth guess waits");
    app.advance(30);
    attacker.submit("/login/otp", "/login/otp", &[("otp", "000000")]).await;
    app.advance(60);
    attacker.submit("/login/otp", "/login/otp", &[("otp", "000000")]).await;
    assert!(
        app.received("boss@acme.example", "Wrong one-time passwords").await,
        "after five wrong codes the user is told: {:?}",
        app.subjects_to("boss@acme.example")
    );
}

#[tokio::test]
async fn adding_a_user_never_reveals_another_accounts_users() {
    let Some(app) = spawn_app("addelsewhere").await else { return };
    sign_up(&app, "ACME", "boss@acme.example").await;
    let mut other = sign_up(&app, "Other", "boss@other.example").await;
    let taken = other.submit("/account/users", "/account/users", &[("email", "boss@acme.example")]).await;
    let fresh = other.submit("/account/users", "/account/users", &[("email", "new@other.example")]).await;
    assert_eq!(taken.status, fresh.status);
    let notice = |page: &crate::app::Page, email: &str| {
        let start = page.body.find("role=\"status\">").expect("a notice");
        page.body[start..].split('<').next().unwrap().replace(email, "X")
    };
    assert_eq!(notice(&taken, "boss@acme.example"), notice(&fresh, "new@other.example"));
    assert!(app.received("boss@acme.example", "Other tried to add you").await, "the owner is told");
    assert!(!other.get("/account/users").await.contains("boss@acme.example"), "nobody was added");
    let again = other.submit("/account/users", "/account/users", &[("email", "new@other.example")]).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.contains("already a user of this account"), "{}", again.body);
}

#[tokio::test]
async fn a_session_id_planted_before_login_is_never_the_session_after_it() {
    let Some(app) = spawn_app("fixation").await else { return };
    let (_, mut key) = active_with_admin_key(&app, "boss@acme.example", "vvcccccccccd", 6).await;
    let planted = "A".repeat(43);
    let mut victim = app.browser();
    victim.set_cookie("keyward_session", &planted);
    assert_eq!(
        victim.get("/account/users").await.location.as_deref(),
        Some("/login"),
        "an unknown id is nobody"
    );
    log_in(&mut victim, "boss@acme.example", PASSWORD).await;
    let after_password = victim.cookie("keyward_session").unwrap().to_owned();
    assert_ne!(after_password, planted, "the password step issues its own id");
    let otp = crate::story::touch(&mut key);
    victim.submit("/login/otp", "/login/otp", &[("otp", &otp)]).await;
    let after_factor = victim.cookie("keyward_session").unwrap().to_owned();
    assert_ne!(after_factor, after_password, "and the second step another");
    assert_eq!(victim.get("/account/users").await.status, StatusCode::OK);

    let mut attacker = app.browser();
    for stolen in [planted, after_password] {
        attacker.set_cookie("keyward_session", &stolen);
        assert_eq!(attacker.get("/account/users").await.location.as_deref(), Some("/login"), "{stolen}");
    }
}
