//! Lost devices: operators made with the CLI set up an app at their first login at /support; a user asks
//! from the login's second step, or an operator opens a request for a caller; an operator follows the
//! account's policy, records it and decides (two operators for an admin); the audit trail shows who did
//! what. And who may reach which of these routes.

use axum::http::StatusCode;
use keyward_core::UnixTime;
use keyward_core::otp::Totp;
use keyward_core::store::{DisableRequestStore, FactorStore};

use crate::app::{Browser, Page, TestApp, spawn_app};
use crate::auth::{PASSWORD, log_in, sign_up};
use crate::rebinding::enroll;
use crate::story::{add_user, imported_key, totp_of, touch, user_id};

const POLICY: &str = "Call Dana Smith, IT manager, at +45 33 12 34 56 before disabling anyone.";
const BOSS: &str = "boss@acme.example";
const ALICE: &str = "alice@acme.example";

/// An operator who chose a password from the set-up link and set up an app at their first login.
async fn operator(app: &TestApp, email: &str) -> (Browser, Totp) {
    let link = app.add_operator(email).await;
    let mut browser = app.browser();
    let set = browser.submit(&link, &link, &[("password", PASSWORD)]).await;
    assert!(set.contains("Your password is saved"), "{}", set.body);
    let login = support_login(&mut browser, email).await;
    assert_eq!(login.location.as_deref(), Some("/login/otp"), "{}", login.body);
    let waiting = browser.get("/support").await;
    assert_eq!(waiting.location.as_deref(), Some("/support/login"), "no console before the second factor");
    assert_eq!(browser.get("/login/otp").await.location.as_deref(), Some("/support/setup"));
    let qr = browser.get("/support/setup").await;
    assert_eq!(qr.status, StatusCode::OK, "{}", qr.body);
    let totp = totp_of(&qr.element_text("secret"));
    let wrong = browser.post("/support/setup", &[("csrf", &qr.csrf()), ("otp", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", wrong.body);
    let code = totp.code_at(app.now()).unwrap().to_string();
    let done = browser.post("/support/setup", &[("csrf", &qr.csrf()), ("otp", &code)]).await;
    assert!(done.contains("Your recovery codes") && done.contains("href=\"/support\""), "{}", done.body);
    let console = browser.get("/support").await;
    assert_eq!(console.status, StatusCode::OK, "{}", console.body);
    assert!(console.contains("Support console"), "{}", console.body);
    (browser, totp)
}

async fn support_login(browser: &mut Browser, email: &str) -> Page {
    browser.submit("/support/login", "/support/login", &[("email", email), ("password", PASSWORD)]).await
}

/// ACME with its policy, Alice and the boss enrolled with apps, and 2FA active.
async fn acme(app: &TestApp) -> (Browser, Totp, Totp) {
    let mut boss = sign_up(app, "ACME", BOSS).await;
    let settings = [("totp", "on"), ("policy", POLICY)];
    boss.submit("/account/two-factor", "/account/two-factor", &settings).await;
    add_user(app, &mut boss, ALICE).await;
    let alices_app = enroll(app, &mut boss, &mut app.browser(), ALICE).await;
    let mut desk = app.browser();
    // Enrolling ends the boss's other sessions; the one that enrolled has proven the new app.
    let boss_app = enroll(app, &mut boss, &mut desk, BOSS).await;
    let preview = desk.get("/account/two-factor/activate").await;
    let active = desk.post("/account/two-factor/activate", &[("csrf", &preview.csrf())]).await;
    assert!(active.status.is_success(), "{}", active.body);
    assert!(app.received(BOSS, "Two-factor authentication is now on for ACME").await, "admins hear of it");
    (desk, alices_app, boss_app)
}

/// Logs in with the password and a fresh code of `totp` (the clock moves a step first).
async fn log_in_with(app: &TestApp, browser: &mut Browser, email: &str, totp: &Totp) -> Page {
    app.advance(30);
    let first = log_in(browser, email, PASSWORD).await;
    assert_eq!(first.location.as_deref(), Some("/login/otp"), "{}", first.body);
    let code = totp.code_at(app.now()).unwrap().to_string();
    browser.submit("/login/otp", "/login/otp", &[("otp", &code)]).await
}

async fn open_request_ids(app: &TestApp) -> Vec<i64> {
    app.store.open_disable_requests(UnixTime(0)).await.unwrap().iter().map(|r| r.id.0).collect()
}

async fn approve(browser: &mut Browser, id: i64, fields: [(&str, &str); 3]) -> Page {
    let page = format!("/support/requests/{id}");
    browser.submit(&page, &format!("{page}/approve"), &fields).await
}

const EVIDENCE: [(&str, &str); 3] = [
    ("contacted", "Dana Smith, IT manager"),
    ("channel", "phone, +45 33 12 34 56 from the policy"),
    ("confirmed", "Alice lost her phone on the train; Dana saw her badge"),
];

#[tokio::test]
async fn a_user_who_lost_her_phone_asks_support_enrolls_again_and_the_audit_trail_shows_it() {
    let Some(app) = spawn_app("lost-device").await else { return };
    let (mut boss, _, _) = acme(&app).await;
    let (mut olga, _) = operator(&app, "olga@support.example").await;

    // Alice's phone is gone: after her password, the second step offers a way out.
    let mut alice = app.browser();
    log_in(&mut alice, ALICE, PASSWORD).await;
    let second = alice.get("/login/otp").await;
    assert!(second.contains("href=\"/login/lost\"") && second.contains("Cancel"), "{}", second.body);
    let empty =
        alice.submit("/login/lost", "/login/lost", &[("reason", " "), ("contact", "+45 20 30 40 50")]).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.contains("Fill in what happened.") && empty.contains("+45 20 30 40 50"), "{}", empty.body);
    let reason = "My phone was stolen on the train";
    let sent = alice
        .submit("/login/lost", "/login/lost", &[("reason", reason), ("contact", "+45 20 30 40 50")])
        .await;
    assert!(sent.contains("Support has your request"), "{}", sent.body);
    assert_eq!(alice.get("/login/otp").await.location.as_deref(), Some("/login"), "that login ended");
    assert!(app.received(ALICE, "We received your request").await);
    assert!(app.received(BOSS, "alice@acme.example asked support").await);

    // The operator finds it, reads the policy first, and cannot approve without recording how it was followed.
    let ids = open_request_ids(&app).await;
    assert_eq!(ids.len(), 1);
    let console = olga.get("/support").await;
    assert!(
        console.contains(&format!("/support/requests/{}", ids[0])) && console.contains(ALICE),
        "{}",
        console.body
    );
    let request = olga.get(&format!("/support/requests/{}", ids[0])).await;
    let policy_at = request.body.find("Dana Smith, IT manager, at +45").expect("the policy");
    assert!(policy_at < request.body.find(reason).expect("the reason"), "the policy comes first");
    let missing = approve(&mut olga, ids[0], [EVIDENCE[0], EVIDENCE[1], ("confirmed", "  ")]).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing.contains("Fill in what they confirmed."), "{}", missing.body);
    let alice_id = user_id(&app, ALICE).await.parse().unwrap();
    assert_eq!(
        app.store.totp_factors(keyward_core::ids::UserId(alice_id)).await.unwrap().len(),
        1,
        "nothing yet"
    );

    let approved = approve(&mut olga, ids[0], EVIDENCE).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert!(approved.contains("Approved."), "{}", approved.body);
    assert!(app.store.totp_factors(keyward_core::ids::UserId(alice_id)).await.unwrap().is_empty());
    assert!(app.received(ALICE, "Your two-factor authentication was reset").await);
    assert!(app.received(BOSS, "Support reset the two-factor authentication of alice@acme.example").await);
    let again = approve(&mut olga, ids[0], EVIDENCE).await;
    assert!(
        again.contains("already decided or has expired"),
        "a decided request stays decided: {}",
        again.body
    );

    // Alice enrolls a new phone from the fresh e-mail and logs in with it.
    let link = app.links_to(ALICE).into_iter().rev().find(|l| l.starts_with("/enroll/")).unwrap();
    let step = alice.get(&link).await;
    let qr = alice.post(&format!("{link}/password"), &[("csrf", &step.csrf()), ("password", PASSWORD)]).await;
    let new_phone = totp_of(&qr.element_text("secret"));
    let code = new_phone.code_at(app.now()).unwrap().to_string();
    let done = alice.post(&format!("{link}/verify"), &[("csrf", &qr.csrf()), ("otp", &code)]).await;
    assert!(done.contains("Your recovery codes"), "{}", done.body);
    let mut later = app.browser();
    let logged_in = log_in_with(&app, &mut later, ALICE, &new_phone).await;
    assert_eq!(logged_in.location.as_deref(), Some("/"), "{}", logged_in.body);

    // The account's audit log says who did what, when, from where and why.
    let log = boss.get("/account/audit?action=disable_request").await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    for expected in
        ["disable_request.opened", "disable_request.approved", "olga@support.example", "Dana Smith"]
    {
        assert!(log.contains(expected), "{expected}: {}", log.body);
    }
    assert!(!log.contains("totp.enrolled"), "filtered by action");
    let all = boss.get("/account/audit").await;
    assert!(all.contains("factors.reset") && all.contains("totp.enrolled"), "{}", all.body);
    let account_page = olga.get(&format!("/support/accounts/{}", account_of(&app, BOSS).await)).await;
    assert!(
        account_page.contains("disable_request.approved") && account_page.contains("approved"),
        "{}",
        account_page.body
    );
}

async fn account_of(app: &TestApp, email: &str) -> i64 {
    use keyward_core::store::UserStore;
    let email = keyward_core::user::Email::parse(email).unwrap();
    app.store.find_user_by_email(&email).await.unwrap().unwrap().account_id.0
}

#[tokio::test]
async fn a_request_for_an_admin_needs_two_operators_and_nobody_approves_their_own() {
    let Some(app) = spawn_app("two-operators").await else { return };
    let (_, _, _) = acme(&app).await;
    let (mut olga, _) = operator(&app, "olga@support.example").await;
    let (mut piet, _) = operator(&app, "piet@support.example").await;
    let (mut quinn, _) = operator(&app, "quinn@support.example").await;
    let account = account_of(&app, BOSS).await;
    let boss_id = user_id(&app, BOSS).await;

    // Olga takes the boss's call and opens the request herself: she may not approve it.
    let page = format!("/support/accounts/{account}");
    let fields = [
        ("user_id", boss_id.as_str()),
        ("reason", "Dropped my YubiKey in the harbour"),
        ("contact", "+45 11 22 33 44"),
    ];
    let opened = olga.submit(&page, &format!("{page}/requests"), &fields).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
    let id = open_request_ids(&app).await[0];
    let own = approve(&mut olga, id, EVIDENCE).await;
    assert!(own.contains("You opened this request"), "{}", own.body);

    let first = approve(&mut piet, id, EVIDENCE).await;
    assert!(first.contains("a second operator must approve too"), "{}", first.body);
    let twice = approve(&mut piet, id, EVIDENCE).await;
    assert!(twice.contains("You have already approved this request"), "{}", twice.body);
    assert_eq!(open_request_ids(&app).await, vec![id], "one operator alone decides nothing");
    assert_eq!(
        app.store.totp_factors(keyward_core::ids::UserId(boss_id.parse().unwrap())).await.unwrap().len(),
        1
    );

    let second = approve(&mut quinn, id, EVIDENCE).await;
    assert!(second.contains("Approved."), "{}", second.body);
    assert!(
        app.store.totp_factors(keyward_core::ids::UserId(boss_id.parse().unwrap())).await.unwrap().is_empty()
    );
    let request = olga.get(&format!("/support/requests/{id}")).await;
    assert!(
        request.contains("piet@support.example") && request.contains("quinn@support.example"),
        "{}",
        request.body
    );
}

#[tokio::test]
async fn denied_expired_and_raced_requests_are_decided_once() {
    let Some(app) = spawn_app("deny-expire").await else { return };
    let (_, alices_app, _) = acme(&app).await;
    let (mut olga, olga_app) = operator(&app, "olga@support.example").await;
    let (mut piet, _) = operator(&app, "piet@support.example").await;
    let ask = |reason: &'static str| {
        let app = &app;
        async move {
            let mut alice = app.browser();
            log_in(&mut alice, ALICE, PASSWORD).await;
            let sent = alice
                .submit("/login/lost", "/login/lost", &[("reason", reason), ("contact", "desk 4")])
                .await;
            assert!(sent.contains("Support has your request"), "{}", sent.body);
        }
    };

    // Denied, with a reason the user is told.
    ask("I think I lost it").await;
    let id = open_request_ids(&app).await[0];
    let page = format!("/support/requests/{id}");
    let no_reason = olga.submit(&page, &format!("{page}/deny"), &[("why", "")]).await;
    assert!(no_reason.contains("Fill in why you deny it."), "{}", no_reason.body);
    let why = "Dana Smith did not confirm: Alice is on leave";
    let denied = olga.submit(&page, &format!("{page}/deny"), &[("why", why)]).await;
    assert!(denied.contains("Denied."), "{}", denied.body);
    assert!(app.received(ALICE, "Your request to reset two-factor authentication was denied").await);
    assert!(app.received(BOSS, "Support denied the request of alice@acme.example").await);
    let late = approve(&mut piet, id, EVIDENCE).await;
    assert!(late.contains("already decided or has expired"), "{}", late.body);
    let alice_can = log_in_with(&app, &mut app.browser(), ALICE, &alices_app).await;
    assert_eq!(alice_can.location.as_deref(), Some("/"), "her factor stayed");

    // Two operators deciding at once: one decision.
    ask("Lost it again").await;
    let id = open_request_ids(&app).await[0];
    let page = format!("/support/requests/{id}");
    let (olga_csrf, piet_csrf) = (olga.get(&page).await.csrf(), piet.get(&page).await.csrf());
    let mut olga_fields = vec![("csrf", olga_csrf.as_str())];
    olga_fields.extend_from_slice(&EVIDENCE);
    let (approve_path, deny_path) = (format!("{page}/approve"), format!("{page}/deny"));
    let piet_fields = [("csrf", piet_csrf.as_str()), ("why", "not confirmed")];
    let (approved, denied) =
        tokio::join!(olga.post(&approve_path, &olga_fields), piet.post(&deny_path, &piet_fields));
    let decided = [approved.contains("Approved."), denied.contains("Denied.")];
    assert_eq!(decided.iter().filter(|d| **d).count(), 1, "{decided:?}");
    let request =
        app.store.find_disable_request(keyward_core::ids::DisableRequestId(id)).await.unwrap().unwrap();
    assert_ne!(request.decision, keyward_core::disable::Decision::Open);

    // Asking twice while one is open answers the open one; after seven days it expires.
    ask("Lost it once more").await;
    ask("Lost it once more, really").await;
    let ids = open_request_ids(&app).await;
    assert_eq!(ids.len(), 1, "one open request per user");
    app.advance(7 * 24 * 3600);
    let mut olga = log_in_operator(&app, "olga@support.example", &olga_app).await;
    let expired = approve(&mut olga, ids[0], EVIDENCE).await;
    assert!(expired.contains("already decided or has expired"), "{}", expired.body);
    assert!(olga.get(&format!("/support/requests/{}", ids[0])).await.contains("expired"));
    assert!(
        !olga.get("/support").await.contains(&format!("/support/requests/{}", ids[0])),
        "no longer listed"
    );
}

/// An operator's later login: the password at /support/login, then a code of their app.
async fn log_in_operator(app: &TestApp, email: &str, totp: &Totp) -> Browser {
    let mut browser = app.browser();
    app.advance(30);
    let login = support_login(&mut browser, email).await;
    assert_eq!(login.location.as_deref(), Some("/login/otp"), "{}", login.body);
    let code = totp.code_at(app.now()).unwrap().to_string();
    let done = browser.submit("/login/otp", "/login/otp", &[("otp", &code)]).await;
    assert_eq!(done.location.as_deref(), Some("/"), "{}", done.body);
    assert_eq!(
        browser.get("/").await.location.as_deref(),
        Some("/support"),
        "operators start in the console"
    );
    browser
}

#[tokio::test]
async fn each_role_reaches_only_its_own_routes() {
    let Some(app) = spawn_app("support-matrix").await else { return };
    let (mut boss, alices_app, _) = acme(&app).await;
    let mut alice = app.browser();
    log_in_with(&app, &mut alice, ALICE, &alices_app).await;
    let mut other_admin = sign_up(&app, "Initech", "peter@initech.example").await;
    let (mut olga, _) = operator(&app, "olga@support.example").await;
    let acme_id = account_of(&app, BOSS).await;
    let alice_id = user_id(&app, ALICE).await;

    // A request to look at and to act on.
    let mut asking = app.browser();
    log_in(&mut asking, ALICE, PASSWORD).await;
    asking.submit("/login/lost", "/login/lost", &[("reason", "lost"), ("contact", "desk 4")]).await;
    let request = open_request_ids(&app).await[0];
    let support_pages = [
        "/support".to_owned(),
        format!("/support/accounts/{acme_id}"),
        format!("/support/requests/{request}"),
        "/support/setup".to_owned(),
    ];
    let support_forms = [
        format!("/support/accounts/{acme_id}/requests"),
        format!("/support/requests/{request}/approve"),
        format!("/support/requests/{request}/deny"),
    ];

    // Account members (user and admin) reach no support page and no support action.
    for (who, browser) in [("alice", &mut alice), ("the boss", &mut boss)] {
        for page in &support_pages[..3] {
            assert_eq!(browser.get(page).await.status, StatusCode::FORBIDDEN, "{who} at {page}");
        }
        let csrf = browser.get("/account/security").await.csrf();
        for form in &support_forms {
            let fields = [("csrf", csrf.as_str()), ("why", "x"), ("user_id", alice_id.as_str())];
            let page = browser.post(form, &fields).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{who} posting {form}");
        }
    }
    assert_eq!(open_request_ids(&app).await, vec![request], "nothing was decided");

    // Anonymous visitors are sent to the support login; a half-logged-in operator too.
    let mut anonymous = app.browser();
    for page in &support_pages[..3] {
        assert_eq!(anonymous.get(page).await.location.as_deref(), Some("/support/login"), "{page}");
    }
    let link = app.add_operator("new@support.example").await;
    let mut newcomer = app.browser();
    newcomer.submit(&link, &link, &[("password", PASSWORD)]).await;
    support_login(&mut newcomer, "new@support.example").await;
    assert_eq!(
        newcomer.get("/support").await.location.as_deref(),
        Some("/support/login"),
        "no second factor yet"
    );
    assert_eq!(newcomer.get("/account/users").await.location.as_deref(), Some("/login"));

    // Operators reach no account page; each door admits only its own people, with the one message.
    for page in [
        "/account/users",
        "/account/two-factor",
        "/account/security",
        "/account/audit",
        "/account/api-clients",
    ] {
        assert_eq!(olga.get(page).await.status, StatusCode::FORBIDDEN, "the operator at {page}");
    }
    let csrf = olga.get("/support").await.csrf();
    let reset = olga.post("/account/users/reset", &[("csrf", &csrf), ("user_id", &alice_id)]).await;
    assert_eq!(reset.status, StatusCode::FORBIDDEN);
    let wrong_door = log_in(&mut app.browser(), "olga@support.example", PASSWORD).await;
    assert!(wrong_door.contains("The e-mail address or the password is wrong."), "{}", wrong_door.body);
    let wrong_door = support_login(&mut app.browser(), BOSS).await;
    assert!(wrong_door.contains("The e-mail address or the password is wrong."), "{}", wrong_door.body);
    assert_eq!(alice.get("/support/setup").await.location.as_deref(), Some("/login"), "not a second step");

    // "Lost your device?" needs a correct password first.
    assert_eq!(anonymous.get("/login/lost").await.location.as_deref(), Some("/login"));
    assert_eq!(alice.get("/login/lost").await.location.as_deref(), Some("/login"), "a complete session");

    // A user is no admin; an admin of one account neither sees nor touches another.
    assert_eq!(alice.get("/account/audit").await.status, StatusCode::FORBIDDEN);
    let csrf = alice.get("/account/security").await.csrf();
    let boss_id = user_id(&app, BOSS).await;
    let by_user = alice.post("/account/users/reset", &[("csrf", &csrf), ("user_id", &boss_id)]).await;
    assert_eq!(by_user.status, StatusCode::FORBIDDEN);
    let csrf = other_admin.get("/account/users").await.csrf();
    let elsewhere =
        other_admin.post("/account/users/reset", &[("csrf", &csrf), ("user_id", &alice_id)]).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND, "{}", elsewhere.body);
    let their_log = other_admin.get(&format!("/account/audit?user={alice_id}")).await;
    assert!(their_log.contains("No events.") && !their_log.contains(ALICE), "{}", their_log.body);
    assert!(!other_admin.get("/account/audit").await.contains("acme"), "only their own account's events");
    assert_eq!(
        app.store.totp_factors(keyward_core::ids::UserId(alice_id.parse().unwrap())).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn admins_reset_another_users_factors_after_a_step_up_and_users_renew_their_recovery_codes() {
    let Some(app) = spawn_app("admin-reset").await else { return };
    let (mut boss, alices_app, boss_app) = acme(&app).await;
    let alice_id = user_id(&app, ALICE).await;
    let boss_id = user_id(&app, BOSS).await;

    // The admin's own factors are support's business, not hers.
    let users = boss.get("/account/users").await;
    let own = boss.post("/account/users/reset", &[("csrf", &users.csrf()), ("user_id", &boss_id)]).await;
    assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(own.contains("You cannot reset your own two-factor authentication"), "{}", own.body);

    // Another user's: only after a fresh second factor.
    app.advance(6 * 60);
    let stale = boss.post("/account/users/reset", &[("csrf", &users.csrf()), ("user_id", &alice_id)]).await;
    assert_eq!(stale.location.as_deref(), Some("/step-up?next=/account/users"), "{}", stale.body);
    let mut alice = app.browser();
    log_in_with(&app, &mut alice, ALICE, &alices_app).await;
    assert_eq!(alice.get("/account/security").await.status, StatusCode::OK);
    let code = boss_app.code_at(app.now()).unwrap().to_string();
    let stepped = boss
        .submit("/step-up?next=/account/users", "/step-up", &[("otp", &code), ("next", "/account/users")])
        .await;
    assert_eq!(stepped.location.as_deref(), Some("/account/users"), "{}", stepped.body);
    let reset = boss.submit("/account/users", "/account/users/reset", &[("user_id", &alice_id)]).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert!(reset.contains("The second factors of alice@acme.example were removed"), "{}", reset.body);
    assert!(
        app.store
            .totp_factors(keyward_core::ids::UserId(alice_id.parse().unwrap()))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        alice.get("/account/security").await.location.as_deref(),
        Some("/login"),
        "her sessions ended"
    );
    assert!(app.received(ALICE, "Your two-factor authentication was reset").await);
    assert!(app.links_to(ALICE).iter().any(|l| l.starts_with("/enroll/")), "a fresh enrollment link");
    assert!(boss.get("/account/audit?action=factors.reset").await.contains(BOSS));

    // New recovery codes after a step-up; the old ones stop working.
    app.advance(6 * 60);
    let security = boss.get("/account/security").await;
    assert!(security.contains("<strong>10</strong> unused recovery codes"), "{}", security.body);
    let stale = boss.post("/account/security/recovery-codes", &[("csrf", &security.csrf())]).await;
    assert_eq!(stale.location.as_deref(), Some("/step-up?next=/account/security"));
    let code = boss_app.code_at(app.now()).unwrap().to_string();
    boss.submit(
        "/step-up?next=/account/security",
        "/step-up",
        &[("otp", &code), ("next", "/account/security")],
    )
    .await;
    let renewed = boss.submit("/account/security", "/account/security/recovery-codes", &[]).await;
    assert!(renewed.contains("Your recovery codes"), "{}", renewed.body);
    assert!(app.received(BOSS, "New recovery codes").await);
    let codes: Vec<&str> = renewed.body.split("<code>").skip(1).filter_map(|c| c.split('<').next()).collect();
    assert_eq!(codes.len(), 10, "{}", renewed.body);
    let mut desk = app.browser();
    log_in(&mut desk, BOSS, PASSWORD).await;
    let used = desk.submit("/login/otp", "/login/otp", &[("otp", codes[3])]).await;
    assert!(used.contains("You have 9 recovery codes left."), "{}", used.body);
}

#[tokio::test]
async fn an_operator_may_set_up_a_yubikey_instead_of_an_app() {
    let Some(app) = spawn_app("operator-yubikey").await else { return };
    let link = app.add_operator("yuki@support.example").await;
    let mut browser = app.browser();
    browser.submit(&link, &link, &[("password", PASSWORD)]).await;
    support_login(&mut browser, "yuki@support.example").await;
    let setup = browser.get("/support/setup").await;
    assert!(
        setup.contains("Or use a YubiKey") && setup.contains("action=\"/support/setup/yubikey\""),
        "{}",
        setup.body
    );
    let unknown =
        browser.post("/support/setup/yubikey", &[("csrf", &setup.csrf()), ("otp", &"c".repeat(44))]).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY, "a key nobody can check: {}", unknown.body);
    let mut key = imported_key(&app, "vvcccccccccb", 41).await;
    let done =
        browser.post("/support/setup/yubikey", &[("csrf", &setup.csrf()), ("otp", &touch(&mut key))]).await;
    assert!(done.contains("Your recovery codes"), "{}", done.body);
    assert_eq!(browser.get("/support").await.status, StatusCode::OK);

    // The next login asks for a touch.
    let mut later = app.browser();
    support_login(&mut later, "yuki@support.example").await;
    assert_eq!(later.get("/login/otp").await.status, StatusCode::OK, "the second step, not the set-up");
    let logged_in = later.submit("/login/otp", "/login/otp", &[("otp", &touch(&mut key))]).await;
    assert_eq!(logged_in.location.as_deref(), Some("/"), "{}", logged_in.body);
    assert_eq!(later.get("/support").await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_audit_log_pages_back_fifty_events_at_a_time_and_keeps_its_filters() {
    use keyward_core::audit::NewAuditEvent;
    use keyward_core::store::AuditStore;
    let Some(app) = spawn_app("audit-pages").await else { return };
    let mut boss = sign_up(&app, "ACME", BOSS).await;
    let account = keyward_core::ids::AccountId(account_of(&app, BOSS).await);
    for i in 0..70 {
        let action = if i % 2 == 0 { "test.even" } else { "test.odd" };
        let event = NewAuditEvent {
            at: app.now(),
            actor: format!("test:{i}"),
            target: format!("thing:{i}"),
            action: action.into(),
            ip: None,
            detail: String::new(),
            account: Some(account),
        };
        app.store.append_audit(event).await.unwrap();
    }
    let first = boss.get("/account/audit").await;
    assert_eq!(first.body.matches("<td>test.").count(), 50, "{}", first.body);
    assert!(first.contains("test:69") && !first.contains("test:19<"), "newest first");
    let older = first.body.split("href=\"").find_map(|rest| {
        let href = rest.split('"').next()?;
        href.starts_with("/account/audit?").then(|| href.replace("&#38;", "&").replace("&amp;", "&"))
    });
    let second = boss.get(&older.expect("an \"Older events\" link")).await;
    assert!(second.contains("test:19") && second.contains("account.created"), "{}", second.body);
    assert!(!second.contains("Older events"), "the last page");

    let odd = boss.get("/account/audit?action=test.odd").await;
    assert_eq!(odd.body.matches("<td>test.odd</td>").count(), 35);
    assert!(!odd.contains("Older events"));
    let bad_date = boss.get("/account/audit?from=yesterday").await;
    assert_eq!(bad_date.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_date.contains("is not a date: write it as YYYY-MM-DD"), "{}", bad_date.body);
    let today = app.now().date();
    let dated = boss.get(&format!("/account/audit?from={today}&to={today}&action=test.even")).await;
    assert_eq!(dated.body.matches("<td>test.even</td>").count(), 35, "{}", dated.body);
}
