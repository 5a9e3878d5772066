//! Rolling two-factor authentication out without dead ends: the activating admin sets up her own factor
//! first, right from the Activate page, and sessions that began before activation prove a second factor
//! at their next request.

use axum::http::StatusCode;
use keyward_core::store::AccountStore;
use keyward_core::usecase::send_enrollment_reminders;

use crate::app::spawn_app;
use crate::auth::{PASSWORD, log_in, sign_up};
use crate::rebinding::enroll;
use crate::story::{add_user, totp_of};

#[tokio::test]
async fn the_admin_sets_up_her_own_app_before_activating_and_earlier_sessions_owe_a_second_factor() {
    let Some(app) = spawn_app("rollout-admin-first").await else { return };
    let mut boss = sign_up(&app, "ACME", "boss@acme.example").await;
    let settings = [("totp", "on"), ("policy", "Call +45 33 12 34 56 first")];
    boss.submit("/account/two-factor", "/account/two-factor", &settings).await;
    add_user(&app, &mut boss, "alice@acme.example").await;
    let alices_app = enroll(&app, &mut boss, &mut app.browser(), "alice@acme.example").await;
    let mut alice = app.browser();
    assert_eq!(log_in(&mut alice, "alice@acme.example", PASSWORD).await.location.as_deref(), Some("/"));

    // "Confirm" is refused while she has no factor; the page offers to set one up instead.
    let mut boss = app.browser();
    log_in(&mut boss, "boss@acme.example", PASSWORD).await;
    let page = boss.get("/account/two-factor/activate").await;
    assert!(
        page.contains("Set up your own second factor first") && !page.contains(">Confirm<"),
        "{}",
        page.body
    );
    let forced = boss.post("/account/two-factor/activate", &[("csrf", &page.csrf())]).await;
    assert_eq!(forced.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", forced.body);
    let account = app.store.search_accounts("boss@acme.example", 1).await.unwrap().remove(0);
    assert!(account.activation.is_none(), "still inactive");

    let wrong = boss
        .post("/account/two-factor/activate/app", &[("csrf", &page.csrf()), ("password", "not it at all")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.contains("That password is not right."), "{}", wrong.body);
    let qr = boss
        .post("/account/two-factor/activate/app", &[("csrf", &page.csrf()), ("password", PASSWORD)])
        .await;
    let secret = qr.element_text("secret");
    let mistyped =
        boss.post("/account/two-factor/activate/verify", &[("csrf", &qr.csrf()), ("otp", "000000")]).await;
    assert_eq!(mistyped.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(mistyped.element_text("secret"), secret, "the same QR code again after a mistyped code");
    let code = totp_of(&secret).code_at(app.now()).unwrap().to_string();
    let done =
        boss.post("/account/two-factor/activate/verify", &[("csrf", &qr.csrf()), ("otp", &code)]).await;
    assert!(
        done.contains("Your recovery codes") && done.contains("href=\"/account/two-factor/activate\""),
        "{}",
        done.body
    );
    assert!(app.received("boss@acme.example", "Your two-factor authentication changed").await);

    let confirm = boss.get("/account/two-factor/activate").await;
    let active = boss.post("/account/two-factor/activate", &[("csrf", &confirm.csrf())]).await;
    assert!(active.contains("Two-factor authentication is active."), "{}", active.body);
    assert_eq!(boss.get("/account/users").await.status, StatusCode::OK, "her session proved her new app");

    // Alice logged in with her password alone before activation: her next request asks for her app.
    assert_eq!(alice.get("/account/security").await.location.as_deref(), Some("/login/otp"));
    assert_eq!(
        alice.get("/account/security").await.location.as_deref(),
        Some("/login/otp"),
        "until she proves it"
    );
    app.advance(30);
    let code = alices_app.code_at(app.now()).unwrap().to_string();
    let proven = alice.submit("/login/otp", "/login/otp", &[("otp", &code)]).await;
    assert_eq!(proven.location.as_deref(), Some("/"), "{}", proven.body);
    assert_eq!(alice.get("/account/security").await.status, StatusCode::OK);
}

#[tokio::test]
async fn users_and_security_says_who_is_enrolled_filters_and_exports_csv() {
    let Some(app) = spawn_app("rollout-status").await else { return };
    let mut boss = sign_up(&app, "ACME", "boss@acme.example").await;
    let settings = [("totp", "on"), ("policy", "Call +45 33 12 34 56 first")];
    boss.submit("/account/two-factor", "/account/two-factor", &settings).await;
    add_user(&app, &mut boss, "alice@acme.example").await;
    add_user(&app, &mut boss, "bob@acme.example").await;
    boss.submit("/account/users", "/account/users", &[("email", "=carol@acme.example")]).await;
    enroll(&app, &mut boss, &mut app.browser(), "alice@acme.example").await;
    let mut boss = app.browser();
    log_in(&mut boss, "boss@acme.example", PASSWORD).await;
    let bob = crate::story::user_id(&app, "bob@acme.example").await;
    boss.submit("/account/two-factor/totp", "/account/two-factor/totp", &[("user", &bob)]).await;

    let users = boss.get("/account/users").await;
    for expected in [
        "<strong>1 of 4</strong> enrolled",
        "enrolled: app · 10 recovery codes left",
        "enrollment link sent on 2026-11-28, expires 2026-12-01",
        "no password yet",
        "not enrolled",
    ] {
        assert!(users.contains(expected), "{expected}: {}", users.body);
    }
    let missing = boss.get("/account/users?show=not-enrolled").await;
    assert!(missing.contains("<strong>1 of 4</strong> enrolled"), "{}", missing.body);
    assert!(
        !missing.contains("<td>alice@acme.example</td>") && missing.contains("<td>bob@acme.example</td>")
    );
    assert!(missing.contains("Show everyone"));

    let csv = boss.get("/account/users.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers["content-disposition"].to_str().unwrap().contains("users.csv"));
    let lines: Vec<&str> = csv.body.split("\r\n").filter(|line| !line.is_empty()).collect();
    assert_eq!(lines[0], "email,role,enrolled,state");
    assert_eq!(lines.len(), 5, "{}", csv.body);
    assert!(
        lines.contains(&"alice@acme.example,user,yes,enrolled: app · 10 recovery codes left"),
        "{}",
        csv.body
    );
    assert!(lines.contains(&"'=carol@acme.example,user,no,no password yet"), "no formula: {}", csv.body);
    assert!(lines.contains(&"boss@acme.example,admin,no,not enrolled"), "{}", csv.body);

    let mut alice = app.browser();
    log_in(&mut alice, "alice@acme.example", PASSWORD).await;
    assert_eq!(alice.get("/account/users.csv").await.status, StatusCode::FORBIDDEN, "admins only");
}

#[tokio::test]
async fn rough_edges_found_in_the_browser_stay_smoothed() {
    let Some(app) = spawn_app("rollout-edges").await else { return };
    let mut boss = sign_up(&app, "ACME", "boss@acme.example").await;

    // A refused policy keeps the methods as ticked.
    let refused = boss
        .submit("/account/two-factor", "/account/two-factor", &[("yubikey", "on"), ("policy", "ask Dana")])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(refused.contains("id=\"yubikey\" name=\"yubikey\" value=\"on\" checked"), "{}", refused.body);
    assert!(!refused.contains("id=\"totp\" name=\"totp\" value=\"on\" checked"));
    assert!(refused.contains(">ask Dana</textarea>"));

    // Messages read as sentences, whatever the core's wording.
    let mut stranger = app.browser();
    let typo = stranger.submit("/login", "/login", &[("email", "x"), ("password", "whatever123")]).await;
    assert!(typo.contains("The e-mail address or the password is wrong."), "{}", typo.body);
    let added = boss.submit("/account/users", "/account/users", &[("email", "not an address")]).await;
    assert!(added.contains("&#34;not an address&#34; is not an e-mail address."), "{}", added.body);

    // The settings status line is one piece of text; Confirm and Cancel stand apart.
    let settings = [("totp", "on"), ("policy", "Call +45 33 12 34 56 first")];
    let page = boss.submit("/account/two-factor", "/account/two-factor", &settings).await;
    assert!(
        page.contains("<span>Two-factor authentication is <strong>not active</strong>.</span>"),
        "{}",
        page.body
    );

    // An admin's enrollment e-mail speaks to an admin; recovery codes can be downloaded in one click.
    let boss_id = crate::story::user_id(&app, "boss@acme.example").await;
    boss.submit("/account/two-factor/totp", "/account/two-factor/totp", &[("user", &boss_id)]).await;
    assert!(app.received("boss@acme.example", "Set up two-factor authentication for ACME").await);
    let mail =
        app.sink.messages().iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert!(mail.iter().any(|m| m.contains("You are an administrator of ACME")), "{mail:?}");
    let codes_page = own_app(&app, &mut boss).await;
    let href = codes_page.body.split("href=\"data:text/plain;charset=utf-8,").nth(1).unwrap();
    let encoded = href.split('"').next().unwrap();
    let decoded = percent_decode(encoded);
    let first_code = codes_page.body.split("<code>").nth(1).unwrap().split('<').next().unwrap();
    assert!(decoded.contains(first_code) && decoded.lines().count() >= 12, "{decoded}");
}

/// The admin's own app from the Activate page; the recovery codes page.
async fn own_app(app: &crate::app::TestApp, admin: &mut crate::app::Browser) -> crate::app::Page {
    let page = admin.get("/account/two-factor/activate").await;
    let qr = admin
        .post("/account/two-factor/activate/app", &[("csrf", &page.csrf()), ("password", PASSWORD)])
        .await;
    let code = totp_of(&qr.element_text("secret")).code_at(app.now()).unwrap().to_string();
    admin.post("/account/two-factor/activate/verify", &[("csrf", &qr.csrf()), ("otp", &code)]).await
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn users_without_a_factor_log_in_until_the_deadline_with_a_banner_and_reminders() {
    let Some(app) = spawn_app("rollout-grace").await else { return };
    let mut boss = sign_up(&app, "ACME", "boss@acme.example").await;
    let settings = [("totp", "on"), ("policy", "Call +45 33 12 34 56 first")];
    boss.submit("/account/two-factor", "/account/two-factor", &settings).await;
    add_user(&app, &mut boss, "alice@acme.example").await;
    let boss_app = crate::story::own_app_from_activate(&app, &mut boss, PASSWORD).await;

    // 2026-11-28 now: the deadline must be after today and within a year.
    let confirm = boss.get("/account/two-factor/activate").await;
    assert!(confirm.contains("Users must enroll by"), "{}", confirm.body);
    for bad in ["2026-11-28", "2028-01-01", "next week"] {
        let refused =
            boss.post("/account/two-factor/activate", &[("csrf", &confirm.csrf()), ("enroll_by", bad)]).await;
        assert!(refused.contains("notice-error"), "{bad}: {}", refused.body);
    }
    let active = boss
        .post("/account/two-factor/activate", &[("csrf", &confirm.csrf()), ("enroll_by", "2026-12-10")])
        .await;
    assert!(active.contains("Two-factor authentication is active."), "{}", active.body);
    assert!(active.contains("until the end of <strong>2026-12-10</strong>"), "{}", active.body);

    // Alice has no factor: her password finishes the login, and every page counts the days.
    let mut alice = app.browser();
    assert_eq!(log_in(&mut alice, "alice@acme.example", PASSWORD).await.location.as_deref(), Some("/"));
    let home = alice.get("/account/security").await;
    assert!(home.contains("You have 13 days left to set up two-factor authentication"), "{}", home.body);
    assert!(home.contains("href=\"/account/security\">Enroll now</a>"));

    // Reminders a week and a day before, each once, even when asked again (as several nodes would).
    let reminders = app.services(77);
    assert_eq!(send_enrollment_reminders(&reminders).await.unwrap(), 0, "too early");
    app.advance(6 * 86_400 + 3600);
    assert_eq!(send_enrollment_reminders(&reminders).await.unwrap(), 1);
    assert_eq!(send_enrollment_reminders(&reminders).await.unwrap(), 0, "once");
    assert!(app.received("alice@acme.example", "7 days left to set up two-factor authentication").await);
    app.advance(6 * 86_400);
    assert_eq!(send_enrollment_reminders(&reminders).await.unwrap(), 1);
    assert!(app.received("alice@acme.example", "Set up two-factor authentication today").await);
    assert_eq!(send_enrollment_reminders(&reminders).await.unwrap(), 0);

    // After the deadline her password is not enough.
    app.advance(86_400);
    let mut late = app.browser();
    assert_eq!(
        log_in(&mut late, "alice@acme.example", PASSWORD).await.location.as_deref(),
        Some("/login/otp")
    );

    // The admin moves the deadline; Alice may log in again, and enrolls from My security.
    let mut boss = app.browser();
    log_in(&mut boss, "boss@acme.example", PASSWORD).await;
    let code = boss_app.code_at(app.now()).unwrap().to_string();
    assert_eq!(
        boss.submit("/login/otp", "/login/otp", &[("otp", &code)]).await.location.as_deref(),
        Some("/")
    );
    let moved = boss
        .submit("/account/two-factor", "/account/two-factor/deadline", &[("enroll_by", "2026-12-20")])
        .await;
    assert!(moved.contains("Users must enroll by 2026-12-20."), "{}", moved.body);
    let mut alice = app.browser();
    assert_eq!(log_in(&mut alice, "alice@acme.example", PASSWORD).await.location.as_deref(), Some("/"));
    let security = alice.get("/account/security").await;
    assert!(
        security.contains("days left") && security.contains("Set up an authenticator app"),
        "{}",
        security.body
    );
    let qr = alice.post("/account/security/app", &[("csrf", &security.csrf()), ("password", PASSWORD)]).await;
    let code = totp_of(&qr.element_text("secret")).code_at(app.now()).unwrap().to_string();
    let done = alice.post("/account/security/app/verify", &[("csrf", &qr.csrf()), ("otp", &code)]).await;
    assert!(done.contains("Your recovery codes"), "{}", done.body);
    let after = alice.get("/account/security").await;
    assert!(
        !after.contains("days left") && after.contains("Replace your authenticator app"),
        "{}",
        after.body
    );

    // No more grace: whoever still has no factor needs one at once.
    let ended =
        boss.submit("/account/two-factor", "/account/two-factor/deadline", &[("enroll_by", "")]).await;
    assert!(ended.contains("every login now needs a second factor"), "{}", ended.body);
    assert!(ended.contains("there is no enrollment deadline"), "{}", ended.body);
}

#[tokio::test]
async fn a_remembered_browser_skips_the_second_factor_until_forgotten_or_a_password_change() {
    let Some(app) = spawn_app("rollout-remember").await else { return };
    let mut boss = sign_up(&app, "ACME", "boss@acme.example").await;
    let settings = [("totp", "on"), ("policy", "Call +45 33 12 34 56 first")];
    boss.submit("/account/two-factor", "/account/two-factor", &settings).await;
    add_user(&app, &mut boss, "alice@acme.example").await;
    let alices_app = enroll(&app, &mut boss, &mut app.browser(), "alice@acme.example").await;
    crate::story::own_app_from_activate(&app, &mut boss, PASSWORD).await;
    let confirm = boss.get("/account/two-factor/activate").await;
    boss.post("/account/two-factor/activate", &[("csrf", &confirm.csrf())]).await;

    let too_long =
        boss.submit("/account/two-factor", "/account/two-factor/remember", &[("days", "31")]).await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", too_long.body);
    let on = boss.submit("/account/two-factor", "/account/two-factor/remember", &[("days", "7")]).await;
    assert!(on.contains("Browsers may be remembered for 7 days."), "{}", on.body);

    // Alice ticks "Remember this browser"; her next login there skips the second factor.
    let mut alice = app.browser();
    let second = log_in_with_remember(&app, &mut alice, &alices_app).await;
    assert!(second.contains("Remember this browser for 7 days"), "{}", second.body);
    assert!(alice.has_cookie("keyward_remember"));
    log_out(&mut alice).await;
    assert_eq!(log_in(&mut alice, "alice@acme.example", PASSWORD).await.location.as_deref(), Some("/"));
    let security = alice.get("/account/security").await;
    for expected in
        ["password, remembered browser", "password and app", "Authenticator app", "Forget all browsers"]
    {
        assert!(security.contains(expected), "{expected}: {}", security.body);
    }
    assert_eq!(
        log_in(&mut app.browser(), "alice@acme.example", PASSWORD).await.location.as_deref(),
        Some("/login/otp"),
        "another browser is not remembered"
    );
    // A remembered login is not a fresh second factor: sensitive changes still ask for one.
    app.advance(10 * 60);
    let codes = alice.post("/account/security/recovery-codes", &[("csrf", &security.csrf())]).await;
    assert_eq!(codes.location.as_deref(), Some("/step-up?next=/account/security"));

    // "Forget all browsers" ends it.
    let forgotten = alice.submit("/account/security", "/account/security/forget-browsers", &[]).await;
    assert!(forgotten.contains("1 browser was forgotten"), "{}", forgotten.body);
    log_out(&mut alice).await;
    assert_eq!(
        log_in(&mut alice, "alice@acme.example", PASSWORD).await.location.as_deref(),
        Some("/login/otp")
    );

    // Remembered again; a password reset forgets it.
    let mut alice = app.browser();
    log_in_with_remember(&app, &mut alice, &alices_app).await;
    log_out(&mut alice).await;
    let before = app.links_to("alice@acme.example").len();
    let forgot = [("email", "alice@acme.example")];
    let sent = app.browser().submit("/password/forgot", "/password/forgot", &forgot).await;
    assert_eq!(sent.status, StatusCode::OK);
    let link =
        crate::app::eventually(|| app.links_to("alice@acme.example").get(before).cloned()).await.unwrap();
    let reset = app.browser().submit(&link, &link, &[("password", PASSWORD)]).await;
    assert!(reset.contains("Your password is saved"), "{}", reset.body);
    assert_eq!(
        log_in(&mut alice, "alice@acme.example", PASSWORD).await.location.as_deref(),
        Some("/login/otp")
    );
}

/// Password, then a fresh code with "Remember this browser" ticked; the second step's page.
async fn log_in_with_remember(
    app: &crate::app::TestApp,
    browser: &mut crate::app::Browser,
    totp: &keyward_core::otp::Totp,
) -> crate::app::Page {
    app.advance(30);
    log_in(browser, "alice@acme.example", PASSWORD).await;
    let second = browser.get("/login/otp").await;
    let code = totp.code_at(app.now()).unwrap().to_string();
    let done =
        browser.post("/login/otp", &[("csrf", &second.csrf()), ("otp", &code), ("remember", "on")]).await;
    assert_eq!(done.location.as_deref(), Some("/"), "{}", done.body);
    second
}

async fn log_out(browser: &mut crate::app::Browser) {
    let page = browser.get("/account/security").await;
    browser.post("/logout", &[("csrf", &page.csrf())]).await;
}

#[tokio::test]
async fn users_register_their_own_yubikey_from_my_security() {
    let Some(app) = spawn_app("rollout-own-key").await else { return };
    let mut boss = sign_up(&app, "ACME", "boss@acme.example").await;
    let settings = [("totp", "on"), ("yubikey", "on"), ("policy", "Call +45 33 12 34 56 first")];
    boss.submit("/account/two-factor", "/account/two-factor", &settings).await;
    add_user(&app, &mut boss, "bob@acme.example").await;
    let mut bob = app.browser();
    log_in(&mut bob, "bob@acme.example", PASSWORD).await;
    let page = bob.get("/account/security").await;
    assert!(page.contains("Register a YubiKey"), "{}", page.body);
    let wrong = bob.post("/account/security/yubikey", &[("csrf", &page.csrf()), ("otp", "not an otp")]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", wrong.body);
    let mut key = crate::story::imported_key(&app, "vvcccccccccj", 51).await;
    let done = bob
        .post("/account/security/yubikey", &[("csrf", &page.csrf()), ("otp", &crate::story::touch(&mut key))])
        .await;
    assert!(done.contains("The YubiKey vvcccccccccj is registered."), "{}", done.body);
    assert!(done.contains("YubiKey vvcccccccccj"), "listed among his factors: {}", done.body);
    assert!(app.received("bob@acme.example", "Your two-factor authentication changed").await);

    // With a factor, another key needs a fresh one first.
    app.advance(6 * 60);
    let mut spare = crate::story::imported_key(&app, "vvccccccccck", 52).await;
    let page = bob.get("/account/security").await;
    let asked = bob
        .post(
            "/account/security/yubikey",
            &[("csrf", &page.csrf()), ("otp", &crate::story::touch(&mut spare))],
        )
        .await;
    assert_eq!(asked.location.as_deref(), Some("/step-up?next=/account/security"), "{}", asked.body);
}

#[tokio::test]
async fn an_admin_resends_the_password_link_of_someone_who_never_chose_one() {
    let Some(app) = spawn_app("rollout-resend").await else { return };
    let mut boss = sign_up(&app, "ACME", "boss@acme.example").await;
    boss.submit("/account/users", "/account/users", &[("email", "dave@acme.example")]).await;
    let first = app.links_to("dave@acme.example").pop().unwrap();
    let dave = crate::story::user_id(&app, "dave@acme.example").await;
    let users = boss.get("/account/users").await;
    assert!(users.contains("Re-send password link"), "{}", users.body);
    let sent =
        boss.post("/account/users/password-link", &[("csrf", &users.csrf()), ("user_id", &dave)]).await;
    assert!(sent.contains("We sent dave@acme.example a new link"), "{}", sent.body);
    let second = crate::app::eventually(|| app.links_to("dave@acme.example").get(1).cloned()).await.unwrap();
    assert_ne!(first, second);
    assert!(app.browser().get(&first).await.status.is_client_error(), "the old link stopped working");
    let set = app.browser().submit(&second, &second, &[("password", PASSWORD)]).await;
    assert!(set.contains("Your password is saved"), "{}", set.body);
    let again =
        boss.post("/account/users/password-link", &[("csrf", &users.csrf()), ("user_id", &dave)]).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.contains("has chosen a password already"), "{}", again.body);
    assert!(boss.get("/account/audit?action=password_link").await.contains("password_link.sent"));
}

#[tokio::test]
async fn users_and_security_pages_through_a_large_account() {
    use keyward_core::store::UserStore;
    use keyward_core::user::{Email, Role};
    let Some(app) = spawn_app("rollout-pages").await else { return };
    let mut boss = sign_up(&app, "ACME", "boss@acme.example").await;
    let account = app.store.search_accounts("boss@acme.example", 1).await.unwrap().remove(0);
    for i in 0..149 {
        let email = Email::parse(&format!("user{i:03}@acme.example")).unwrap();
        app.store.insert_user(account.id, &email, Role::User, None, app.now()).await.unwrap();
    }
    let first = boss.get("/account/users").await;
    assert!(first.contains("<strong>0 of 150</strong> enrolled"), "{}", first.body);
    assert_eq!(first.body.matches("<tr><td>").count(), 100, "a page of 100");
    assert!(first.contains("<td>boss@acme.example</td>") && first.contains("<td>user098@acme.example</td>"));
    let next = first.body.split("href=\"").find_map(|rest| {
        let href = rest.split('"').next()?;
        href.contains("after=").then(|| href.replace("&#38;", "&").replace("&amp;", "&"))
    });
    let second = boss.get(&next.expect("a link to the next page")).await;
    assert_eq!(second.body.matches("<tr><td>").count(), 50, "{}", second.body);
    assert!(
        second.contains("<td>user099@acme.example</td>") && second.contains("<td>user148@acme.example</td>")
    );
    assert!(!second.contains("Next page of users"));
    let csv = boss.get("/account/users.csv").await;
    assert_eq!(csv.body.lines().count(), 151, "the export has everyone");

    // The tabs that list users page them the same way.
    let methods = keyward_core::account::Methods { totp: true, yubikey: true, webauthn: false };
    let policy = keyward_core::account::DisablePolicy::parse("Call support@acme.example first.").unwrap();
    keyward_core::store::AccountStore::update_two_factor_settings(&app.store, account.id, methods, &policy)
        .await
        .unwrap();
    for tab in ["/account/two-factor/totp", "/account/two-factor/yubikey"] {
        let first = boss.get(tab).await;
        assert_eq!(first.body.matches("<tr><td>").count(), 100, "{tab}: a page of 100");
        let next = first.body.split("href=\"").find_map(|rest| {
            let href = rest.split('"').next()?;
            href.contains("after=").then(|| href.replace("&#38;", "&").replace("&amp;", "&"))
        });
        let next = next.unwrap_or_else(|| panic!("{tab}: a link to the next page"));
        assert!(next.starts_with(tab), "{next}");
        let second = boss.get(&next).await;
        assert_eq!(second.body.matches("<tr><td>").count(), 50, "{tab}: {}", second.body);
        assert!(second.contains("user148@acme.example") && !second.contains("Next page of users"));
    }

    // The audit log's user filter takes an address (no list of every user), or an id as older links do.
    let by_address = boss.get("/account/audit?user=boss%40acme.example").await;
    assert_eq!(by_address.status, StatusCode::OK);
    assert!(by_address.contains("account.created"), "{}", by_address.body);
    assert!(!by_address.body.contains("<option"), "no list of users");
    let stranger = boss.get("/account/audit?user=nobody%40elsewhere.example").await;
    assert_eq!(stranger.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(stranger.contains("No user of this account has the address"), "{}", stranger.body);
}
