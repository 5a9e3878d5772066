//! Login under attack, with the test clock: an attacker who keeps guessing cannot keep the owner out,
//! correct logins never spend a budget, and only trusted proxies say where a client is.

use axum::http::StatusCode;
use keyward_core::yubico::SoftwareKey;

use crate::app::{Browser, TestApp, spawn_app};
use crate::auth::{PASSWORD, account_in_store, log_in, sign_up};
use crate::story::{active_with_admin_key, touch};

const ATTACKER: &str = "203.0.113.66";
const OWNER: &str = "owner@acme.example";

/// Whether a password login from `browser` got past the password (to the second step or in).
async fn gets_past_the_password(browser: &mut Browser, email: &str) -> bool {
    log_in(browser, email, PASSWORD).await.status == StatusCode::SEE_OTHER
}

/// The owner's login from `browser`: the password, then a touch of `key` when 2FA is on.
async fn owner_logs_in(browser: &mut Browser, key: Option<&mut SoftwareKey>) -> bool {
    if !gets_past_the_password(browser, OWNER).await {
        return false;
    }
    let Some(key) = key else { return true };
    let page = browser.submit("/login/otp", "/login/otp", &[("otp", &touch(key))]).await;
    page.location.as_deref() == Some("/")
}

/// The owner tries every 60 s for 40 minutes while an attacker at one address guesses every second (a
/// password, or with `key` a one-time password after the right password); returns the longest time
/// the owner was kept out from their known browser and from new browsers at another address, and how
/// many guesses were refused.
async fn owner_under_attack(
    app: &TestApp,
    owner: &mut Browser,
    attacker: &mut Browser,
    mut key: Option<&mut SoftwareKey>,
) -> (u64, u64, usize) {
    let (mut known_out, mut new_out, mut refused) = (0u64, 0u64, 0usize);
    let (mut known_since, mut new_since) = (None::<u64>, None::<u64>);
    for second in 0..40 * 60 {
        let guess = if key.is_some() {
            attacker.submit("/login/otp", "/login/otp", &[("otp", "000000")]).await
        } else {
            attacker.submit("/login", "/login", &[("email", OWNER), ("password", "wrong guess!")]).await
        };
        if guess.status == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
        if second % 60 == 30 {
            let now = app.now().0;
            if owner_logs_in(owner, key.as_deref_mut()).await {
                known_out = known_out.max(now - known_since.take().unwrap_or(now));
            } else {
                known_since.get_or_insert(now);
            }
            let mut elsewhere = app.browser_at("198.51.100.7");
            if owner_logs_in(&mut elsewhere, key.as_deref_mut()).await {
                new_out = new_out.max(now - new_since.take().unwrap_or(now));
            } else {
                new_since.get_or_insert(now);
            }
        }
        app.advance(1);
    }
    let end = app.now().0;
    known_out = known_out.max(known_since.map_or(0, |since| end - since));
    new_out = new_out.max(new_since.map_or(0, |since| end - since));
    (known_out, new_out, refused)
}

#[tokio::test]
async fn a_sustained_password_attack_never_keeps_the_owner_out() {
    let Some(app) = spawn_app("pwattack").await else { return };
    sign_up(&app, "ACME", OWNER).await;
    let mut owner = app.browser_at("198.51.100.5");
    assert!(gets_past_the_password(&mut owner, OWNER).await);
    assert!(owner.has_cookie("keyward_browser"), "a completed login marks the browser");
    let mut attacker = app.browser_at(ATTACKER);
    let (known_out, new_out, refused) = owner_under_attack(&app, &mut owner, &mut attacker, None).await;
    assert!(refused > 2000, "the attacker was throttled: {refused} of 2400 guesses refused");
    assert_eq!(known_out, 0, "from a browser that logged in before, the owner got in every time");
    assert!(new_out <= 15 * 60, "from new browsers elsewhere, kept out {new_out} s");
    assert!(app.received(OWNER, "Wrong passwords").await, "the owner is told: {:?}", app.subjects_to(OWNER));
}

#[tokio::test]
async fn a_sustained_one_time_password_attack_never_keeps_the_owner_out() {
    let Some(app) = spawn_app("otpattack").await else { return };
    let (_, mut key) = active_with_admin_key(&app, OWNER, "vvcccccccccc", 3).await;

    // The owner's browser completes a login once: password, then a touch.
    let mut owner = app.browser_at("198.51.100.5");
    assert!(owner_logs_in(&mut owner, Some(&mut key)).await);
    // The attacker knows the password and guesses codes from one address.
    let mut attacker = app.browser_at(ATTACKER);
    assert!(gets_past_the_password(&mut attacker, OWNER).await);
    let (known_out, new_out, refused) =
        owner_under_attack(&app, &mut owner, &mut attacker, Some(&mut key)).await;
    assert!(refused > 2000, "the attacker was throttled: {refused} of 2400 guesses refused");
    assert_eq!(known_out, 0, "from a browser that logged in before, the owner got in every time");
    assert!(new_out <= 15 * 60, "from new browsers elsewhere, kept out {new_out} s");
    assert!(
        app.received(OWNER, "Wrong one-time passwords").await,
        "the owner is told: {:?}",
        app.subjects_to(OWNER)
    );
}

#[tokio::test]
async fn correct_logins_of_a_hundred_users_from_one_address_all_succeed() {
    let Some(app) = spawn_app("oneaddress").await else { return };
    for n in 0..100 {
        account_in_store(&app, &format!("Office {n}"), &format!("user{n}@office{n}.example")).await;
    }
    let mut refused = Vec::new();
    for n in 0..100 {
        let mut browser = app.browser_at("198.51.100.200");
        if !gets_past_the_password(&mut browser, &format!("user{n}@office{n}.example")).await {
            refused.push(n);
        }
    }
    assert!(refused.is_empty(), "refused: {refused:?}");
}

#[tokio::test]
async fn clients_behind_a_trusted_proxy_have_their_own_budgets_and_forged_headers_change_nothing() {
    let Some(app) = spawn_app("proxy").await else { return };
    sign_up(&app, "ACME", OWNER).await;
    let guess = |browser: Browser| async move {
        let mut browser = browser;
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(
                browser
                    .submit("/login", "/login", &[("email", OWNER), ("password", "wrong guess!")])
                    .await
                    .status,
            );
        }
        statuses
    };
    // Behind the load balancer (10.0.0.0/8 is trusted in these tests): the address it forwards counts.
    let first = guess(app.browser_at("10.0.0.5").with_header("x-forwarded-for", "198.51.100.1")).await;
    assert_eq!(first[5], StatusCode::TOO_MANY_REQUESTS, "{first:?}");
    let second = guess(app.browser_at("10.0.0.5").with_header("x-forwarded-for", "198.51.100.2")).await;
    assert_eq!(second[0], StatusCode::UNPROCESSABLE_ENTITY, "another client behind the proxy: {second:?}");
    // An untrusted peer that forges the header is still itself.
    let forged = guess(app.browser_at("203.0.113.9").with_header("x-forwarded-for", "198.51.100.3")).await;
    assert_eq!(forged[5], StatusCode::TOO_MANY_REQUESTS, "{forged:?}");
    let again = guess(app.browser_at("203.0.113.9").with_header("x-forwarded-for", "198.51.100.4")).await;
    assert_eq!(again[0], StatusCode::TOO_MANY_REQUESTS, "a new forged address does not escape: {again:?}");
}

#[tokio::test]
async fn a_browser_known_for_one_user_is_a_stranger_to_another() {
    let Some(app) = spawn_app("othermark").await else { return };
    sign_up(&app, "ACME", OWNER).await;
    sign_up(&app, "Evil", "mallory@evil.example").await;
    // Mallory's browser is known for Mallory: it logged in as her.
    let mut mallory = app.browser_at(ATTACKER);
    assert!(gets_past_the_password(&mut mallory, "mallory@evil.example").await);
    assert!(mallory.has_cookie("keyward_browser"));
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let page =
            mallory.submit("/login", "/login", &[("email", OWNER), ("password", "wrong guess!")]).await;
        statuses.push(page.status);
    }
    // Against the owner it spends the budgets of an unknown browser: five free guesses, not ten.
    assert_eq!(statuses[4], StatusCode::UNPROCESSABLE_ENTITY, "{statuses:?}");
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
}

#[tokio::test]
async fn a_browser_mark_older_than_180_days_is_a_stranger_again() {
    let Some(app) = spawn_app("oldmark").await else { return };
    sign_up(&app, "ACME", OWNER).await;
    let mut browser = app.browser_at("192.0.2.44");
    assert!(gets_past_the_password(&mut browser, OWNER).await);
    assert!(browser.has_cookie("keyward_browser"));
    let guesses = |browser: &mut Browser| {
        let mut browser = browser.clone();
        async move {
            let mut statuses = Vec::new();
            for _ in 0..7 {
                let page = browser
                    .submit("/login", "/login", &[("email", OWNER), ("password", "wrong guess!")])
                    .await;
                statuses.push(page.status);
            }
            statuses
        }
    };
    // A day short of 180: still known, with its own ten free guesses.
    app.advance(keyward_core::usecase::KNOWN_BROWSER_SECS - 24 * 3600);
    assert_eq!(guesses(&mut browser).await, [StatusCode::UNPROCESSABLE_ENTITY; 7]);
    app.advance(24 * 3600);
    // At 180 days it spends what any browser spends: five guesses, then a wait.
    let statuses = guesses(&mut browser).await;
    assert_eq!(statuses[..5], [StatusCode::UNPROCESSABLE_ENTITY; 5], "{statuses:?}");
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
}

/// Eight wrong codes for one user sent at the same moment are counted as eight sent one after another:
/// the user-and-address budget lets three through and throttles the rest, on SQLite (one process, its
/// in-process locks) and on PostgreSQL (an advisory lock per user). A check that read the budgets, then
/// checked, then spent without holding the user's other checks back would answer "invalid" to all eight.
async fn concurrent_wrong_codes_are_counted_one_by_one(app: TestApp) {
    use keyward_core::usecase::{Origin, check_otp};
    use keyward_core::verdict::Verdict;
    let mut admin = sign_up(&app, "ACME", "boss@acme.example").await;
    let policy = [("totp", "on"), ("policy", "Call +45 33 12 34 56 first")];
    admin.submit("/account/two-factor", "/account/two-factor", &policy).await;
    crate::story::add_user(&app, &mut admin, "alice@acme.example").await;
    crate::rebinding::enroll(&app, &mut admin, &mut app.browser(), "alice@acme.example").await;
    let alice = keyward_core::user::Email::parse("alice@acme.example").unwrap();
    let alice =
        keyward_core::store::UserStore::find_user_by_email(&app.store, &alice).await.unwrap().unwrap();
    let services = app.services(41);
    let origin = Origin { ip: Some(ATTACKER.to_owned()), ..Origin::default() };
    let guess = || Box::pin(check_otp(&services, &alice, "000000", &origin, false));
    let answers = tokio::join!(guess(), guess(), guess(), guess(), guess(), guess(), guess(), guess());
    let verdicts = [answers.0, answers.1, answers.2, answers.3, answers.4, answers.5, answers.6, answers.7]
        .map(|answer| answer.unwrap().verdict);
    let invalid = verdicts.iter().filter(|v| **v == Verdict::Invalid).count();
    let throttled = verdicts.iter().filter(|v| **v == Verdict::Throttled).count();
    assert_eq!((invalid, throttled), (3, 5), "{verdicts:?}");
}

#[tokio::test]
async fn concurrent_wrong_codes_are_counted_one_by_one_on_sqlite() {
    let Some(app) = spawn_app("attack-concurrent").await else { return };
    concurrent_wrong_codes_are_counted_one_by_one(app).await;
}

#[tokio::test]
async fn concurrent_wrong_codes_are_counted_one_by_one_on_postgres() {
    let Some(app) = crate::app::spawn_app_on_postgres("attack-concurrent-pg").await else { return };
    concurrent_wrong_codes_are_counted_one_by_one(app).await;
}
