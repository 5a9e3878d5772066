//! Security keys (WebAuthn credentials) and their ceremonies, with the single-use rules.

use keyward_core::UnixTime;
use keyward_core::factor::SecurityKeyName;
use keyward_core::ports::NewCredential;
use keyward_core::store::{FactorStore, SecurityKeyStore, StoreError, UserStore};
use keyward_core::token::TokenHash;

use crate::harness::{NOW, TestDb, account_with_user};

fn credential(id: u8, counter: u32) -> NewCredential {
    NewCredential { id: vec![id; 32], stored: format!("{{\"key\":{id}}}"), counter }
}

async fn security_keys_are_named_listed_and_removed(db: &TestDb) {
    let store = &db.store;
    let (admin, user) = account_with_user(store, "keys").await;
    let blue = SecurityKeyName::parse(" Blue YubiKey ").unwrap();
    let first = store.insert_security_key(user.id, &blue, &credential(1, 5), NOW).await.unwrap();
    assert_eq!((first.name.as_str(), first.counter, first.last_used_at), ("Blue YubiKey", 5, None));
    assert_eq!((first.credential_id.clone(), first.stored.as_str()), (vec![1; 32], "{\"key\":1}"));
    let phone = SecurityKeyName::parse("Phone").unwrap();
    let second = store.insert_security_key(user.id, &phone, &credential(2, 0), NOW).await.unwrap();
    assert_eq!(store.security_keys_of(user.id).await.unwrap(), vec![first.clone(), second.clone()]);
    assert!(matches!(
        store.insert_security_key(admin.id, &phone, &credential(1, 0), NOW).await,
        Err(StoreError::Duplicate(_))
    ));
    let (factors, enrolled) = (
        store.account_factors(user.account_id, NOW).await.unwrap(),
        store.account_enrollment(user.account_id).await.unwrap(),
    );
    let summary = &factors.iter().find(|(u, _)| u.id == user.id).unwrap().1;
    assert_eq!(summary.security_keys, vec![blue, phone]);
    assert!(summary.has_factor());
    assert_eq!(enrolled, (2, 1), "a security key counts as enrolled");

    assert!(!store.remove_security_key(admin.id, first.id).await.unwrap(), "not the admin's key");
    assert!(store.remove_security_key(user.id, first.id).await.unwrap());
    assert_eq!(store.security_keys_of(user.id).await.unwrap(), vec![second]);
    assert_eq!(store.remove_factors(user.id).await.unwrap(), 1);
    assert!(store.security_keys_of(user.id).await.unwrap().is_empty());
}

async fn a_security_keys_counter_only_rises(db: &TestDb) {
    let store = &db.store;
    let (_, user) = account_with_user(store, "counter").await;
    let name = SecurityKeyName::parse("Key").unwrap();
    let key = store.insert_security_key(user.id, &name, &credential(3, 5), NOW).await.unwrap();
    let later = UnixTime(NOW.0 + 60);
    assert!(!store.use_security_key(key.id, 5, later).await.unwrap(), "the same counter again");
    assert!(!store.use_security_key(key.id, 4, later).await.unwrap(), "a counter that went backwards");
    assert!(!store.use_security_key(key.id, 0, later).await.unwrap(), "0 after a counter was kept");
    assert!(store.use_security_key(key.id, 6, later).await.unwrap());
    let used = store.security_keys_of(user.id).await.unwrap().remove(0);
    assert_eq!((used.counter, used.last_used_at), (6, Some(later)));

    // An authenticator that keeps no counter reports 0 each time.
    let passkey = store.insert_security_key(user.id, &name, &credential(4, 0), NOW).await.unwrap();
    assert!(store.use_security_key(passkey.id, 0, later).await.unwrap());
    assert!(store.use_security_key(passkey.id, 0, later).await.unwrap());
}

async fn a_ceremony_is_taken_once_by_its_user_before_it_expires(db: &TestDb) {
    let store = &db.store;
    let (admin, user) = account_with_user(store, "ceremony").await;
    let expires = UnixTime(NOW.0 + 300);
    let handle = TokenHash([9; 32]);
    store.insert_ceremony(&handle, user.id, "login", "{\"state\":1}", expires).await.unwrap();
    assert_eq!(store.take_ceremony(&handle, admin.id, "login", NOW).await.unwrap(), None, "another user");
    assert_eq!(
        store.take_ceremony(&handle, user.id, "register", NOW).await.unwrap(),
        None,
        "another purpose"
    );
    assert_eq!(
        store.take_ceremony(&handle, user.id, "login", NOW).await.unwrap().as_deref(),
        Some("{\"state\":1}")
    );
    assert_eq!(store.take_ceremony(&handle, user.id, "login", NOW).await.unwrap(), None, "used up");

    let late = TokenHash([8; 32]);
    store.insert_ceremony(&late, user.id, "login", "{}", expires).await.unwrap();
    assert_eq!(store.take_ceremony(&late, user.id, "login", expires).await.unwrap(), None, "expired");
}

contract!(
    security_keys_are_named_listed_and_removed,
    a_security_keys_counter_only_rises,
    a_ceremony_is_taken_once_by_its_user_before_it_expires,
);
