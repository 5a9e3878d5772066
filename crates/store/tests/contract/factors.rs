//! TOTP factors, YubiKeys and recovery codes, with the single-use rules.

use keyward_core::UnixTime;
use keyward_core::otp::{Algorithm, Digits, TotpParams};
use keyward_core::seal::Sealed;
use keyward_core::store::{FactorStore, StoreError};
use keyward_core::token::TokenHash;
use keyward_core::yubico::{Position, PublicId};

use crate::harness::{NOW, TestDb, account_with_user};

pub fn sealed(byte: u8) -> Sealed {
    Sealed { key_id: "k1".to_owned(), ciphertext: vec![byte; 48] }
}

async fn a_totp_factor_is_pending_until_its_first_code(db: &TestDb) {
    let store = &db.store;
    let (_, user) = account_with_user(store, "totp").await;
    let params = TotpParams::new(Algorithm::Sha256, Digits::EIGHT, 60).unwrap();
    let first = store.insert_totp_factor(user.id, &sealed(1), params, NOW).await.unwrap();
    assert_eq!((first.confirmed_at, first.last_step, first.clock_offset), (None, None, 0));
    assert_eq!(first.params, params);
    assert_eq!(first.secret, sealed(1));
    // Opening the enrollment page again replaces the pending secret.
    let second = store.insert_totp_factor(user.id, &sealed(2), TotpParams::default(), NOW).await.unwrap();
    assert_eq!(store.totp_factors(user.id).await.unwrap(), vec![second.clone()]);

    let later = UnixTime(NOW.0 + 5);
    assert!(store.consume_totp_step(second.id, 100, -1, later).await.unwrap());
    let confirmed = store.totp_factors(user.id).await.unwrap().remove(0);
    assert_eq!(
        (confirmed.confirmed_at, confirmed.last_step, confirmed.clock_offset),
        (Some(later), Some(100), -1)
    );
    // A confirmed factor stays when a new pending one is created, until the new one replaces it.
    let third = store.insert_totp_factor(user.id, &sealed(3), TotpParams::default(), NOW).await.unwrap();
    assert_eq!(store.totp_factors(user.id).await.unwrap().len(), 2);
    let (_, other) = account_with_user(store, "totp-other").await;
    let theirs = store.insert_totp_factor(other.id, &sealed(4), TotpParams::default(), NOW).await.unwrap();
    assert_eq!(store.remove_other_totp_factors(user.id, third.id).await.unwrap(), 1);
    assert_eq!(
        store.totp_factors(user.id).await.unwrap().iter().map(|f| f.id).collect::<Vec<_>>(),
        vec![third.id]
    );
    assert_eq!(store.totp_factors(other.id).await.unwrap(), vec![theirs], "another user's factor stays");
}

async fn a_totp_step_is_accepted_once(db: &TestDb) {
    let store = &db.store;
    let (_, user) = account_with_user(store, "replay").await;
    let factor = store.insert_totp_factor(user.id, &sealed(1), TotpParams::default(), NOW).await.unwrap();
    assert!(store.consume_totp_step(factor.id, 1000, 0, NOW).await.unwrap());
    assert!(!store.consume_totp_step(factor.id, 1000, 0, NOW).await.unwrap(), "the same step again");
    assert!(!store.consume_totp_step(factor.id, 999, 0, NOW).await.unwrap(), "an earlier step");
    assert!(store.consume_totp_step(factor.id, 1001, 1, NOW).await.unwrap(), "the next step");
    let stored = store.totp_factors(user.id).await.unwrap().remove(0);
    assert_eq!((stored.last_step, stored.clock_offset, stored.confirmed_at), (Some(1001), 1, Some(NOW)));
}

async fn yubikeys_are_imported_registered_and_advanced(db: &TestDb) {
    let store = &db.store;
    let (admin, user) = account_with_user(store, "yubi").await;
    let local = PublicId::parse("vvccccfhcbij").unwrap();
    let imported = store.import_yubikey(&local, &sealed(9), NOW).await.unwrap();
    assert_eq!(
        (imported.user_id, imported.secret.clone(), imported.imported_at),
        (None, Some(sealed(9)), Some(NOW))
    );
    assert!(matches!(store.import_yubikey(&local, &sealed(8), NOW).await, Err(StoreError::Duplicate(_))));

    let registered = store.register_yubikey(&local, user.id, NOW).await.unwrap();
    assert_eq!(
        (registered.id, registered.user_id, registered.secret),
        (imported.id, Some(user.id), Some(sealed(9)))
    );
    let taken = store.register_yubikey(&local, admin.id, NOW).await;
    assert!(matches!(taken, Err(StoreError::Duplicate(_))), "a key belongs to one person: {taken:?}");

    let cloud = PublicId::parse("cccccccccccb").unwrap();
    let cloud_key = store.register_yubikey(&cloud, user.id, NOW).await.unwrap();
    assert_eq!((cloud_key.secret, cloud_key.imported_at), (None, None));
    let keys: Vec<_> = store.yubikeys_of(user.id).await.unwrap().into_iter().map(|k| k.public_id).collect();
    assert_eq!(keys, vec![cloud.clone(), local.clone()]);

    let at = |counter, session_use| Position { counter, session_use };
    assert!(store.advance_yubikey(imported.id, at(5, 3), None).await.unwrap());
    for stale in [at(5, 3), at(5, 2), at(4, 200)] {
        let refused = !store.advance_yubikey(imported.id, stale, Some("stale-nonce-123456")).await.unwrap();
        assert!(refused, "{stale:?} is not after (5, 3)");
    }
    assert!(
        !store.is_repeated_request(imported.id, at(5, 2), "stale-nonce-123456").await.unwrap(),
        "refused"
    );
    assert!(store.advance_yubikey(imported.id, at(5, 4), None).await.unwrap());
    assert!(
        !store.is_repeated_request(imported.id, at(5, 4), "nonce-one-1234567").await.unwrap(),
        "no nonce"
    );

    // The nonce of the last accepted OTP: only the same position and nonce are the same request.
    assert!(store.advance_yubikey(imported.id, at(6, 0), Some("nonce-one-1234567")).await.unwrap());
    assert_eq!(store.find_yubikey(&local).await.unwrap().unwrap().last_position, Some(at(6, 0)));
    assert!(store.is_repeated_request(imported.id, at(6, 0), "nonce-one-1234567").await.unwrap());
    assert!(!store.is_repeated_request(imported.id, at(6, 0), "nonce-two-1234567").await.unwrap());
    assert!(
        !store.is_repeated_request(imported.id, at(5, 4), "nonce-one-1234567").await.unwrap(),
        "not the last"
    );

    assert!(store.unregister_yubikey(imported.id).await.unwrap());
    assert!(!store.unregister_yubikey(imported.id).await.unwrap());
    let unbound = store.find_yubikey(&local).await.unwrap().unwrap();
    assert_eq!(
        (unbound.user_id, unbound.last_position),
        (None, Some(at(6, 0))),
        "counters outlive the binding"
    );
    assert_eq!(store.find_yubikey(&PublicId::parse("cccccccccccd").unwrap()).await.unwrap(), None);
}

async fn recovery_codes_are_single_use_and_factors_can_all_be_removed(db: &TestDb) {
    let store = &db.store;
    let (admin, user) = account_with_user(store, "recovery").await;
    let hashes: Vec<TokenHash> = (0..10u8).map(|i| TokenHash([i; 32])).collect();
    store.replace_recovery_codes(user.id, &hashes).await.unwrap();
    assert_eq!(store.recovery_codes(user.id).await.unwrap().len(), 10);
    assert!(!store.consume_recovery_code(admin.id, &hashes[0], NOW).await.unwrap(), "another user's code");
    assert!(store.consume_recovery_code(user.id, &hashes[0], NOW).await.unwrap());
    assert!(!store.consume_recovery_code(user.id, &hashes[0], NOW).await.unwrap(), "used");
    assert!(!store.consume_recovery_code(user.id, &TokenHash([99; 32]), NOW).await.unwrap(), "unknown");
    let codes = store.recovery_codes(user.id).await.unwrap();
    assert_eq!(codes.iter().filter(|c| c.used_at == Some(NOW)).count(), 1);

    store.insert_totp_factor(user.id, &sealed(1), TotpParams::default(), NOW).await.unwrap();
    store.register_yubikey(&PublicId::parse("cccccccccccf").unwrap(), user.id, NOW).await.unwrap();
    assert_eq!(store.remove_factors(user.id).await.unwrap(), 12);
    assert!(store.totp_factors(user.id).await.unwrap().is_empty());
    assert!(store.yubikeys_of(user.id).await.unwrap().is_empty());
    assert!(store.recovery_codes(user.id).await.unwrap().is_empty());
}

async fn an_accounts_factors_are_summarised_in_a_constant_number_of_queries(db: &TestDb) {
    use keyward_core::invitation::Purpose;
    use keyward_core::store::{FactorSummary, InvitationStore, UserStore};
    let store = &db.store;
    let (admin, user) = account_with_user(store, "summary").await;
    let (_, stranger) = account_with_user(store, "elsewhere").await;
    // The user: a confirmed app, a key, 3 recovery codes of which 1 used, an expired and an open link.
    let app = store.insert_totp_factor(user.id, &sealed(1), TotpParams::default(), NOW).await.unwrap();
    assert!(store.consume_totp_step(app.id, 10, 0, NOW).await.unwrap());
    store.insert_totp_factor(user.id, &sealed(2), TotpParams::default(), NOW).await.unwrap();
    let key = PublicId::parse("vvccccccccdd").unwrap();
    store.import_yubikey(&key, &sealed(3), NOW).await.unwrap();
    store.register_yubikey(&key, user.id, NOW).await.unwrap();
    let codes = [TokenHash([1; 32]), TokenHash([2; 32]), TokenHash([3; 32])];
    store.replace_recovery_codes(user.id, &codes).await.unwrap();
    assert!(store.consume_recovery_code(user.id, &codes[0], NOW).await.unwrap());
    let later = UnixTime(NOW.0 + 100);
    store.insert_invitation(admin.id, Purpose::Enrollment, &TokenHash([7; 32]), NOW, later).await.unwrap();
    // The stranger's factors belong to another account.
    let theirs = store.insert_totp_factor(stranger.id, &sealed(4), TotpParams::default(), NOW).await.unwrap();
    assert!(store.consume_totp_step(theirs.id, 10, 0, NOW).await.unwrap());

    let summary = store.account_factors(admin.account_id, UnixTime(NOW.0 + 50)).await.unwrap();
    let emails: Vec<&str> = summary.iter().map(|(user, _)| user.email.as_str()).collect();
    assert_eq!(
        emails,
        ["summary-admin@example.com", "summary-user@example.com"],
        "the account's, by address"
    );
    let admin_link = FactorSummary { invitation: Some((NOW, later)), ..FactorSummary::default() };
    assert_eq!(summary[0].1, admin_link, "no factor; an open enrollment link");
    let users =
        FactorSummary { app: true, yubikeys: vec![key], recovery_codes: 2, ..FactorSummary::default() };
    assert_eq!(summary[1].1, users, "a pending app does not count");
    assert!(summary[1].1.has_factor() && !summary[0].1.has_factor());
    let expired = store.account_factors(admin.account_id, later).await.unwrap();
    assert_eq!(expired[0].1.invitation, None, "an expired link is no invitation");
}

async fn an_accounts_users_are_paged_by_address_and_counted(db: &TestDb) {
    use keyward_core::store::{UserStore, UsersPage};
    use keyward_core::user::{Email, Role};
    let store = &db.store;
    let (admin, user) = account_with_user(store, "paging").await;
    for name in ["carol", "bob", "dave"] {
        let email = Email::parse(&format!("{name}@paging.example")).unwrap();
        store.insert_user(admin.account_id, &email, Role::User, None, NOW).await.unwrap();
    }
    let app = store.insert_totp_factor(user.id, &sealed(1), TotpParams::default(), NOW).await.unwrap();
    assert!(store.consume_totp_step(app.id, 10, 0, NOW).await.unwrap());
    let page = |after: &str, limit, not_enrolled_only| UsersPage {
        after: after.to_owned(),
        limit,
        not_enrolled_only,
    };
    let emails = |rows: Vec<(keyward_core::user::User, keyward_core::store::FactorSummary)>| {
        rows.into_iter().map(|(user, _)| user.email.to_string()).collect::<Vec<_>>()
    };
    let first = store.account_factors_page(admin.account_id, NOW, &page("", 2, false)).await.unwrap();
    assert_eq!(emails(first), ["bob@paging.example", "carol@paging.example"]);
    let next = store
        .account_factors_page(admin.account_id, NOW, &page("carol@paging.example", 2, false))
        .await
        .unwrap();
    assert_eq!(emails(next), ["dave@paging.example", "paging-admin@example.com"]);
    let last = store
        .account_factors_page(admin.account_id, NOW, &page("paging-admin@example.com", 2, false))
        .await
        .unwrap();
    assert_eq!(last.len(), 1);
    assert!(last[0].1.app, "the page's factors come with it");
    let missing = store.account_factors_page(admin.account_id, NOW, &page("", 10, true)).await.unwrap();
    assert_eq!(missing.len(), 4, "everyone but the user with an app");
    assert_eq!(store.account_enrollment(admin.account_id).await.unwrap(), (5, 1));
}

contract!(
    an_accounts_factors_are_summarised_in_a_constant_number_of_queries,
    an_accounts_users_are_paged_by_address_and_counted,
    a_totp_factor_is_pending_until_its_first_code,
    a_totp_step_is_accepted_once,
    yubikeys_are_imported_registered_and_advanced,
    recovery_codes_are_single_use_and_factors_can_all_be_removed,
);
