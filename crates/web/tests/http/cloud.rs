//! Keys as shipped, whose secret Keyward never saw: validated through YubiCloud (a stand-in validator here;
//! the Validation Protocol client itself is tested against servers in the yubicloud crate).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use keyward_core::ports::{CloudFuture, CloudValidator, CloudVerdict};
use keyward_core::store::UserStore;
use keyward_core::user::Email;
use keyward_core::yubico::YubikeyOtp;

use crate::app::spawn_app_with;
use crate::auth::{PASSWORD, log_in, sign_up};

/// Accepts the OTPs it was told about, each once, as YubiCloud would.
#[derive(Default)]
struct StandIn {
    known: HashSet<String>,
    used: Mutex<HashSet<String>>,
}

impl CloudValidator for StandIn {
    fn validate<'a>(&'a self, otp: &'a YubikeyOtp) -> CloudFuture<'a> {
        let text = otp.to_string();
        let verdict = if !self.known.contains(&text) {
            CloudVerdict::Invalid
        } else if self.used.lock().unwrap().insert(text) {
            CloudVerdict::Valid
        } else {
            CloudVerdict::Replayed
        };
        Box::pin(async move { Ok(verdict) })
    }
}

fn otp(n: u8) -> String {
    let modhex = "cbdefghijklnrtuv".as_bytes();
    let token: String = (0..32).map(|i| modhex[(usize::from(n) * 7 + i) % 16] as char).collect();
    format!("vvcccccclrlj{token}")
}

#[tokio::test]
async fn keys_without_an_imported_secret_are_checked_through_yubicloud() {
    let otps: Vec<String> = (1..=3).map(otp).collect();
    let stand_in = StandIn { known: otps.iter().cloned().collect(), ..StandIn::default() };
    let Some(app) = spawn_app_with("cloud", Some(Arc::new(stand_in))).await else { return };
    let mut admin = sign_up(&app, "ACME", "boss@acme.example").await;
    admin
        .submit(
            "/account/two-factor",
            "/account/two-factor",
            &[("yubikey", "on"), ("policy", "Call +45 33 12 34 56")],
        )
        .await;
    let boss =
        app.store.find_user_by_email(&Email::parse("boss@acme.example").unwrap()).await.unwrap().unwrap();
    let id = boss.id.to_string();
    let yubikey = "/account/two-factor/yubikey";
    let registered = admin.submit(yubikey, yubikey, &[("user", &id), ("otp", &otps[0])]).await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.body);
    assert!(registered.contains("is registered"), "{}", registered.body);
    let preview = admin.get("/account/two-factor/activate").await;
    admin.post("/account/two-factor/activate", &[("csrf", &preview.csrf())]).await;

    let mut browser = app.browser();
    log_in(&mut browser, "boss@acme.example", PASSWORD).await;
    let unknown = browser.submit("/login/otp", "/login/otp", &[("otp", &otp(9))]).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY, "YubiCloud says BAD_OTP");
    let accepted = browser.submit("/login/otp", "/login/otp", &[("otp", &otps[1])]).await;
    assert_eq!(accepted.location.as_deref(), Some("/"), "{}", accepted.body);
    let mut again = app.browser();
    log_in(&mut again, "boss@acme.example", PASSWORD).await;
    let replayed = again.submit("/login/otp", "/login/otp", &[("otp", &otps[1])]).await;
    assert_eq!(replayed.status, StatusCode::UNPROCESSABLE_ENTITY, "YubiCloud says REPLAYED_OTP");
}
