//! Accounts and users.

use keyward_core::UnixTime;
use keyward_core::account::{AccountName, Activation, DisablePolicy, Methods};
use keyward_core::ids::{AccountId, UserId};
use keyward_core::store::{AccountStore, StoreError, UserStore};
use keyward_core::user::{Email, Role};

use crate::harness::{self, NOW, TestDb, some_hash};

async fn sign_up_creates_the_account_with_its_first_admin(db: &TestDb) {
    let store = &db.store;
    let email = Email::parse("Founder@Example.com").unwrap();
    let (account, admin) =
        store.create_account(&AccountName::parse("ACME").unwrap(), &email, &some_hash(), NOW).await.unwrap();
    assert_eq!(account.name.as_str(), "ACME");
    assert_eq!(account.methods, Methods::default());
    assert_eq!(account.disable_policy, None);
    assert_eq!(account.activation, None);
    assert_eq!(admin.account_id, account.id);
    assert_eq!(admin.role, Role::Admin);
    assert_eq!(admin.email.as_str(), "founder@example.com");
    assert_eq!(admin.password_hash, Some(some_hash()));
    assert_eq!(store.find_account(account.id).await.unwrap(), Some(account.clone()));
    assert_eq!(store.find_user(admin.id).await.unwrap(), Some(admin.clone()));
    assert_eq!(store.find_user_by_email(&email).await.unwrap(), Some(admin));
    assert_eq!(store.find_account(AccountId(account.id.0 + 1000)).await.unwrap(), None);
}

async fn an_email_address_belongs_to_one_person(db: &TestDb) {
    let store = &db.store;
    let email = Email::parse("taken@example.com").unwrap();
    let (account, _) =
        store.create_account(&AccountName::parse("One").unwrap(), &email, &some_hash(), NOW).await.unwrap();
    let again = store.create_account(&AccountName::parse("Two").unwrap(), &email, &some_hash(), NOW).await;
    assert!(matches!(again, Err(StoreError::Duplicate(_))), "{again:?}");
    let user = store.insert_user(account.id, &email, Role::User, None, NOW).await;
    assert!(matches!(user, Err(StoreError::Duplicate(_))), "{user:?}");
}

async fn admins_configure_and_activate_two_factor_authentication(db: &TestDb) {
    let store = &db.store;
    let (admin, _) = crate::harness::account_with_user(store, "config").await;
    let policy = DisablePolicy::parse("Call Jane at +45 12 34 56 78").unwrap();
    let methods = Methods { totp: true, yubikey: true, webauthn: true };
    store.update_two_factor_settings(admin.account_id, methods, &policy).await.unwrap();
    let activation = Activation { by: admin.id, at: UnixTime(NOW.0 + 60) };
    store.set_activation(admin.account_id, Some(activation)).await.unwrap();
    let account = store.find_account(admin.account_id).await.unwrap().unwrap();
    assert_eq!(account.methods, methods);
    assert_eq!(account.disable_policy, Some(policy.clone()));
    assert_eq!(account.activation, Some(activation));
    store.set_activation(admin.account_id, None).await.unwrap();
    assert_eq!(store.find_account(admin.account_id).await.unwrap().unwrap().activation, None);
    let missing = store.update_two_factor_settings(AccountId(987_654), methods, &policy).await;
    assert!(matches!(missing, Err(StoreError::Missing(_))), "{missing:?}");
}

async fn users_are_listed_by_account_and_get_passwords(db: &TestDb) {
    let store = &db.store;
    let (admin, user) = crate::harness::account_with_user(store, "list").await;
    let (other_admin, _) = crate::harness::account_with_user(store, "other").await;
    let users = store.list_users(admin.account_id).await.unwrap();
    assert_eq!(
        users.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
        ["list-admin@example.com", "list-user@example.com"]
    );
    assert!(!users.iter().any(|u| u.id == other_admin.id), "another account's people never appear");
    assert_eq!(user.password_hash, None, "added users set their password from the e-mailed link");
    store.set_password(user.id, &some_hash()).await.unwrap();
    assert_eq!(store.find_user(user.id).await.unwrap().unwrap().password_hash, Some(some_hash()));
    assert!(matches!(store.set_password(UserId(987_654), &some_hash()).await, Err(StoreError::Missing(_))));
}

async fn accounts_are_found_by_name_or_by_a_users_address(db: &TestDb) {
    let (acme, _) = harness::account_with_user(&db.store, "Acme_Corp").await;
    let (acme_eu, _) = harness::account_with_user(&db.store, "acme-europe").await;
    let (other, _) = harness::account_with_user(&db.store, "Initech").await;
    let ids =
        |accounts: Vec<keyward_core::account::Account>| accounts.iter().map(|a| a.id).collect::<Vec<_>>();
    let search = |query: &'static str| async move { ids(db.store.search_accounts(query, 10).await.unwrap()) };
    let mut both = search("ACME").await;
    both.sort();
    assert_eq!(both, vec![acme.account_id, acme_eu.account_id], "part of the name, any case");
    assert_eq!(search("initech-user@example.com").await, vec![other.account_id], "a user's exact address");
    assert_eq!(search("initech-user@").await, Vec::new(), "addresses match only whole");
    assert_eq!(search("e_c").await, vec![acme.account_id], "an underscore is itself, not any character");
    assert_eq!(search("%").await, Vec::new(), "a percent sign is itself");
    assert_eq!(search("support").await, Vec::new(), "the operators' account is never found");
    assert_eq!(ids(db.store.search_accounts("a", 1).await.unwrap()).len(), 1, "at most the limit");

    let (admin, _) = harness::account_with_user(&db.store, "clearing").await;
    db.store.clear_password(admin.id).await.unwrap();
    assert_eq!(db.store.find_user(admin.id).await.unwrap().unwrap().password_hash, None);
}

contract!(
    accounts_are_found_by_name_or_by_a_users_address,
    sign_up_creates_the_account_with_its_first_admin,
    an_email_address_belongs_to_one_person,
    admins_configure_and_activate_two_factor_authentication,
    users_are_listed_by_account_and_get_passwords,
);
