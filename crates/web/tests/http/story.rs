//! The help article's story, end to end over HTTP: configure, enroll a TOTP app from the e-mailed link,
//! register a YubiKey, activate, log in with each factor, refuse replays, deactivate after a step-up.

use axum::http::StatusCode;
use keyward_core::factor::yubikey_seal_context;
use keyward_core::otp::{Secret, Totp, TotpParams};
use keyward_core::ports::EntropyRng;
use keyward_core::store::{FactorStore, UserStore};
use keyward_core::user::Email;
use keyward_core::yubico::{AesKey, PrivateId, PublicId, SoftwareKey, SoftwareKeyState};

use crate::app::{Browser, TestApp, TestEntropy, spawn_app};
use crate::auth::{PASSWORD, log_in, sign_up};

pub(crate) async fn user_id(app: &TestApp, email: &str) -> String {
    app.store.find_user_by_email(&Email::parse(email).unwrap()).await.unwrap().unwrap().id.to_string()
}

/// Adds a user who then chooses their password from the e-mailed link.
pub(crate) async fn add_user(app: &TestApp, admin: &mut Browser, email: &str) {
    let added = admin.submit("/account/users", "/account/users", &[("email", email)]).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let link = app.links_to(email).pop().unwrap();
    app.browser().submit(&link, &link, &[("password", PASSWORD)]).await;
}

/// A software YubiKey whose secret was imported, as `keyward yubikey import` does.
pub(crate) async fn imported_key(app: &TestApp, public_id: &str, seed: u8) -> SoftwareKey {
    let (aes, private) = ([seed; 16], [seed.wrapping_add(1); 6]);
    let public_id = PublicId::parse(public_id).unwrap();
    let sealed = app
        .keys
        .seal(&[&aes[..], &private[..]].concat(), &yubikey_seal_context(&public_id), &mut rng(seed))
        .unwrap();
    app.store.import_yubikey(&public_id, &sealed, app.now()).await.unwrap();
    let state = SoftwareKeyState::new(public_id, PrivateId::from_bytes(private), &mut rng(seed));
    SoftwareKey::new(AesKey::from_bytes(aes), state)
}

/// Signs up an account whose admin `email` has an imported software YubiKey `public_id` (its secret from
/// `seed`), with YubiKeys on and two-factor authentication active; the admin's browser and the key.
pub(crate) async fn active_with_admin_key(
    app: &TestApp,
    email: &str,
    public_id: &str,
    seed: u8,
) -> (Browser, SoftwareKey) {
    let mut admin = sign_up(app, "ACME", email).await;
    let settings = [("yubikey", "on"), ("policy", "Call +45 33 12 34 56")];
    admin.submit("/account/two-factor", "/account/two-factor", &settings).await;
    let mut key = imported_key(app, public_id, seed).await;
    let id = user_id(app, email).await;
    let otp = touch(&mut key);
    let registered = admin
        .submit("/account/two-factor/yubikey", "/account/two-factor/yubikey", &[("user", &id), ("otp", &otp)])
        .await;
    assert!(registered.contains("is registered"), "{}", registered.body);
    let preview = admin.get("/account/two-factor/activate").await;
    admin.post("/account/two-factor/activate", &[("csrf", &preview.csrf())]).await;
    (admin, key)
}

pub(crate) fn rng(seed: u8) -> EntropyRng<'static> {
    EntropyRng(Box::leak(Box::new(TestEntropy::new(u64::from(seed)))))
}

pub(crate) fn touch(key: &mut SoftwareKey) -> String {
    key.press(&mut rng(9)).unwrap().to_string()
}

pub(crate) fn totp_of(page_secret: &str) -> Totp {
    Totp::new(&Secret::from_base32(page_secret).unwrap(), TotpParams::default()).unwrap()
}

/// The admin sets up her own app from the Activate page (her password, the QR code, "Verify"); her session
/// has proven it. Returns the app.
pub(crate) async fn own_app_from_activate(app: &TestApp, admin: &mut Browser, password: &str) -> Totp {
    let page = admin.get("/account/two-factor/activate").await;
    assert!(page.contains("Set up your own second factor first"), "{}", page.body);
    let qr = admin
        .post("/account/two-factor/activate/app", &[("csrf", &page.csrf()), ("password", password)])
        .await;
    assert_eq!(qr.status, StatusCode::OK, "{}", qr.body);
    let totp = totp_of(&qr.element_text("secret"));
    let code = totp.code_at(app.now()).unwrap().to_string();
    let done =
        admin.post("/account/two-factor/activate/verify", &[("csrf", &qr.csrf()), ("otp", &code)]).await;
    assert!(done.contains("Your recovery codes"), "{}", done.body);
    totp
}

/// The second step of a login with what the factor typed.
async fn second_step(browser: &mut Browser, otp: &str) -> crate::app::Page {
    browser.submit("/login/otp", "/login/otp", &[("otp", otp)]).await
}

#[tokio::test]
async fn the_help_article_story() {
    let Some(app) = spawn_app("story").await else { return };
    let mut admin = sign_up(&app, "ACME", "boss@acme.example").await;
    for email in ["alice@acme.example", "bob@acme.example", "carol@acme.example"] {
        add_user(&app, &mut admin, email).await;
    }

    // "Configure two-factor authentication": the policy must name a contact.
    let vague = admin
        .submit("/account/two-factor", "/account/two-factor", &[("totp", "on"), ("policy", "Ask the boss.")])
        .await;
    assert_eq!(vague.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(vague.contains("e-mail address or a phone number"), "{}", vague.body);
    let policy = "Call Jane Doe, office manager, at +45 33 12 34 56 before disabling.";
    let saved = admin
        .submit(
            "/account/two-factor",
            "/account/two-factor",
            &[("totp", "on"), ("yubikey", "on"), ("policy", policy)],
        )
        .await;
    assert!(saved.contains("Changes saved."), "{}", saved.body);
    assert!(saved.contains(">TOTP</a>") && saved.contains(">YubiKey</a>"), "each method adds its tab");
    assert!(saved.contains("Activate"));

    // TOTP tab: Alice gets the enrollment e-mail; sending again voids the first link.
    let alice_id = user_id(&app, "alice@acme.example").await;
    admin.submit("/account/two-factor/totp", "/account/two-factor/totp", &[("user", &alice_id)]).await;
    let first_link = app.links_to("alice@acme.example").pop().unwrap();
    let sent =
        admin.submit("/account/two-factor/totp", "/account/two-factor/totp", &[("user", &alice_id)]).await;
    assert!(sent.contains("The enrollment e-mail was sent."), "{}", sent.body);
    assert!(sent.contains("enrollment link sent on 2026-11-28, expires 2026-12-01"), "{}", sent.body);
    let link = app.links_to("alice@acme.example").pop().unwrap();
    assert!(link.starts_with("/enroll/") && link != first_link);
    let mut alice = app.browser();
    assert!(alice.get(&first_link).await.status.is_client_error(), "the older link is void");

    // The enrollment page asks for Alice's password, then shows the QR code and the secret.
    let step = alice.get(&link).await;
    assert!(step.contains("Password") && step.contains("Continue"), "{}", step.body);
    let wrong =
        alice.post(&format!("{link}/password"), &[("csrf", &step.csrf()), ("password", "not hers!")]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "e-mail access alone binds nothing");
    let step = alice.get(&link).await;
    let qr = alice.post(&format!("{link}/password"), &[("csrf", &step.csrf()), ("password", PASSWORD)]).await;
    assert!(qr.contains("<svg") && qr.contains("role=\"img\""), "{}", qr.body);
    let secret = qr.element_text("secret");
    assert_eq!(secret.split(' ').count(), 8, "160 bits in groups of four: {secret}");
    assert_eq!(alice.get(&link).await.element_text("secret"), secret, "reloading shows the same secret");
    let totp = totp_of(&secret);
    let code = totp.code_at(app.now()).unwrap().to_string();
    let csrf = qr.csrf();
    let off = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let refused = alice.post(&format!("{link}/verify"), &[("csrf", &csrf), ("otp", &off)]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let codes = alice.post(&format!("{link}/verify"), &[("csrf", &refused.csrf()), ("otp", &code)]).await;
    assert!(codes.contains("Your recovery codes"), "{}", codes.body);
    let recovery: Vec<String> =
        codes.body.split("<code>").skip(1).map(|part| part.split('<').next().unwrap().to_owned()).collect();
    assert_eq!(recovery.len(), 10);
    assert!(alice.get(&link).await.status.is_client_error(), "the link is used up");

    // A new phone: enrolling again replaces the old app, whose codes stop working. Alice still holds
    // the old one, and the link asks for it: her password and her mailbox alone bind nothing.
    admin.submit("/account/two-factor/totp", "/account/two-factor/totp", &[("user", &alice_id)]).await;
    let relink = app.links_to("alice@acme.example").pop().unwrap();
    let mut new_phone = app.browser();
    let step = new_phone.get(&relink).await;
    assert!(step.contains("One-time password from your current app or YubiKey"), "{}", step.body);
    let refused = new_phone
        .post(&format!("{relink}/password"), &[("csrf", &step.csrf()), ("password", PASSWORD)])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.contains("You already have two-factor authentication"), "{}", refused.body);
    app.advance(30);
    let old_code = totp.code_at(app.now()).unwrap().to_string();
    let qr = new_phone
        .post(
            &format!("{relink}/password"),
            &[("csrf", &refused.csrf()), ("password", PASSWORD), ("otp", &old_code)],
        )
        .await;
    let old_totp = totp;
    let totp = totp_of(&qr.element_text("secret"));
    let code = totp.code_at(app.now()).unwrap().to_string();
    let done = new_phone.post(&format!("{relink}/verify"), &[("csrf", &qr.csrf()), ("otp", &code)]).await;
    assert!(done.contains("Your recovery codes"), "{}", done.body);
    let recovery: Vec<String> =
        done.body.split("<code>").skip(1).map(|part| part.split('<').next().unwrap().to_owned()).collect();

    // YubiKey tab: keys are registered by a touch, for Bob and for the admin.
    let mut bob_key = imported_key(&app, "vvbbbbbbbbbb", 1).await;
    let mut boss_key = imported_key(&app, "vvdddddddddd", 2).await;
    let bob_id = user_id(&app, "bob@acme.example").await;
    let boss_id = user_id(&app, "boss@acme.example").await;
    let bob_otp = touch(&mut bob_key);
    let registered = admin
        .submit(
            "/account/two-factor/yubikey",
            "/account/two-factor/yubikey",
            &[("user", &bob_id), ("otp", &bob_otp)],
        )
        .await;
    assert!(registered.contains("The YubiKey vvbbbbbbbbbb is registered."), "{}", registered.body);
    let replayed = admin
        .submit(
            "/account/two-factor/yubikey",
            "/account/two-factor/yubikey",
            &[("user", &bob_id), ("otp", &bob_otp)],
        )
        .await;
    assert!(replayed.contains("already used"), "{}", replayed.body);
    let boss_otp = touch(&mut boss_key);
    admin
        .submit(
            "/account/two-factor/yubikey",
            "/account/two-factor/yubikey",
            &[("user", &boss_id), ("otp", &boss_otp)],
        )
        .await;
    let unknown = "cccccccccccc".to_owned() + &"c".repeat(32);
    let cannot = admin
        .submit(
            "/account/two-factor/yubikey",
            "/account/two-factor/yubikey",
            &[("user", &bob_id), ("otp", &unknown)],
        )
        .await;
    assert!(cannot.contains("YubiCloud"), "a key that cannot be checked is explained: {}", cannot.body);

    // "Users & Security" shows who is enrolled with what.
    let users = admin.get("/account/users").await;
    assert!(
        users.contains("enrolled: app · 10 recovery codes left")
            && users.contains("enrolled: YubiKey · 0 recovery codes left")
            && users.contains("not enrolled"),
        "{}",
        users.body
    );

    // "Activate", "Confirm": Carol has no factor yet, is listed, and gets an enrollment e-mail.
    let preview = admin.get("/account/two-factor/activate").await;
    assert!(
        preview.contains("carol@acme.example") && !preview.contains("alice@acme.example"),
        "{}",
        preview.body
    );
    let active = admin.post("/account/two-factor/activate", &[("csrf", &preview.csrf())]).await;
    assert!(active.contains("Two-factor authentication is active."), "{}", active.body);
    assert!(app.links_to("carol@acme.example").iter().any(|l| l.starts_with("/enroll/")));
    // The admin's own session began before activation: its next request asks for her second factor.
    assert_eq!(admin.get("/account/users").await.location.as_deref(), Some("/login/otp"));
    assert_eq!(second_step(&mut admin, &touch(&mut boss_key)).await.location.as_deref(), Some("/"));

    // Alice logs in: password, then a fresh code (the enrollment code counted as used).
    let mut alice = app.browser();
    assert_eq!(
        log_in(&mut alice, "alice@acme.example", PASSWORD).await.location.as_deref(),
        Some("/login/otp")
    );
    assert_eq!(
        alice.get("/account/users").await.location.as_deref(),
        Some("/login/otp"),
        "no page before the second step"
    );
    let used = second_step(&mut alice, &code).await;
    assert_eq!(used.status, StatusCode::UNPROCESSABLE_ENTITY, "a used code is refused");
    app.advance(30);
    let old_phone = old_totp.code_at(app.now()).unwrap().to_string();
    assert_eq!(
        second_step(&mut alice, &old_phone).await.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the old phone"
    );
    let fresh = totp.code_at(app.now()).unwrap().to_string();
    assert_eq!(second_step(&mut alice, &fresh).await.location.as_deref(), Some("/"));
    let mut again = app.browser();
    log_in(&mut again, "alice@acme.example", PASSWORD).await;
    let replayed = second_step(&mut again, &fresh).await;
    assert_eq!(replayed.status, StatusCode::UNPROCESSABLE_ENTITY, "replay");
    assert!(replayed.contains("already used"), "a replay is told as one: {}", replayed.body);
    let metrics = app.browser().get("/metrics").await.body;
    let replays = metrics.lines().find_map(|line| {
        line.strip_prefix(r#"keyward_otp_verifications_total{factor="totp",result="replayed"} "#)
    });
    assert!(replays.is_some_and(|count| count != "0"), "replays are counted as such: {metrics}");
    let with_code = second_step(&mut again, &recovery[0]).await;
    assert_eq!(with_code.status, StatusCode::OK, "a recovery code: {}", with_code.body);
    assert!(with_code.contains("You have 9 recovery codes left."), "the count is shown: {}", with_code.body);
    assert!(again.get("/account/security").await.contains("<strong>9</strong> unused recovery codes"));
    assert!(app.received("alice@acme.example", "recovery code").await);

    // Bob logs in with a touch; the same OTP again is refused.
    let mut bob = app.browser();
    log_in(&mut bob, "bob@acme.example", PASSWORD).await;
    let otp = touch(&mut bob_key);
    assert_eq!(second_step(&mut bob, &otp).await.location.as_deref(), Some("/"));
    let mut replay = app.browser();
    log_in(&mut replay, "bob@acme.example", PASSWORD).await;
    assert_eq!(second_step(&mut replay, &otp).await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Removing a key needs a fresh second factor, and ends the owner's sessions.
    app.advance(6 * 60);
    let yubikey_tab = "/account/two-factor/yubikey";
    let asked = admin
        .submit(yubikey_tab, "/account/two-factor/yubikey/remove", &[("public_id", "vvbbbbbbbbbb")])
        .await;
    assert_eq!(asked.location.as_deref(), Some("/step-up?next=/account/two-factor/yubikey"));
    let stepped = admin
        .submit(
            "/step-up?next=/account/two-factor/yubikey",
            "/step-up",
            &[("otp", &touch(&mut boss_key)), ("next", yubikey_tab)],
        )
        .await;
    assert_eq!(stepped.location.as_deref(), Some(yubikey_tab), "{}", stepped.body);
    let removed = admin
        .submit(yubikey_tab, "/account/two-factor/yubikey/remove", &[("public_id", "vvbbbbbbbbbb")])
        .await;
    assert!(removed.contains("The YubiKey vvbbbbbbbbbb was removed."), "{}", removed.body);
    assert_eq!(bob.get("/").await.location.as_deref(), Some("/login"), "Bob's sessions ended with his key");
    let mut bob = app.browser();
    log_in(&mut bob, "bob@acme.example", PASSWORD).await;
    assert_eq!(second_step(&mut bob, &touch(&mut bob_key)).await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Carol cannot finish a login until she is enrolled.
    let mut carol = app.browser();
    log_in(&mut carol, "carol@acme.example", PASSWORD).await;
    assert_eq!(second_step(&mut carol, "123456").await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // "Deactivate" needs a second factor proven in the last five minutes.
    let mut boss = app.browser();
    log_in(&mut boss, "boss@acme.example", PASSWORD).await;
    assert_eq!(second_step(&mut boss, &touch(&mut boss_key)).await.location.as_deref(), Some("/"));
    app.advance(6 * 60);
    let asked = boss.get("/account/two-factor/deactivate").await;
    assert_eq!(asked.location.as_deref(), Some("/step-up?next=/account/two-factor/deactivate"));
    let stepped = boss
        .submit(
            "/step-up?next=/account/two-factor/deactivate",
            "/step-up",
            &[("otp", &touch(&mut boss_key)), ("next", "/account/two-factor/deactivate")],
        )
        .await;
    assert_eq!(stepped.location.as_deref(), Some("/account/two-factor/deactivate"), "{}", stepped.body);
    let confirm = boss.get("/account/two-factor/deactivate").await;
    assert!(confirm.contains("Confirm"), "{}", confirm.body);
    let off = boss.post("/account/two-factor/deactivate", &[("csrf", &confirm.csrf())]).await;
    assert!(off.contains("Two-factor authentication is off."), "{}", off.body);
    assert!(app.received("boss@acme.example", "Two-factor authentication was turned off for ACME").await);
    assert_eq!(
        alice.get("/").await.location.as_deref(),
        Some("/login"),
        "ending 2FA ends the others' sessions"
    );
    assert_eq!(log_in(&mut alice, "alice@acme.example", PASSWORD).await.location.as_deref(), Some("/"));
}
