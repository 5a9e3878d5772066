//! Applications that verify OTPs: API clients by key hash, Yubico clients by id with a sealed key.

use keyward_core::UnixTime;
use keyward_core::client::YubicoClient;
use keyward_core::ids::{AccountId, ApiClientId};
use keyward_core::seal::Sealed;
use keyward_core::store::{ClientStore, StoreError};
use keyward_core::token::TokenHash;

use crate::harness::{self, NOW, TestDb};

async fn an_api_client_is_found_by_its_key_hash(db: &TestDb) {
    let (admin, _) = harness::account_with_user(&db.store, "api").await;
    let key = TokenHash([1; 32]);
    let client = db.store.insert_api_client(admin.account_id, "VPN gateway", &key, NOW).await.unwrap();
    assert_eq!(client.account_id, admin.account_id);
    assert_eq!(client.name, "VPN gateway");
    assert_eq!((client.key_hash, client.created_at), (key, NOW));

    assert_eq!(db.store.find_api_client_by_key(&key).await.unwrap(), Some(client));
    assert_eq!(db.store.find_api_client_by_key(&TokenHash([2; 32])).await.unwrap(), None, "wrong key");
}

async fn an_api_key_is_stored_once(db: &TestDb) {
    let (admin, _) = harness::account_with_user(&db.store, "dupkey").await;
    let (other_admin, _) = harness::account_with_user(&db.store, "dupkey2").await;
    let key = TokenHash([3; 32]);
    let first = db.store.insert_api_client(admin.account_id, "first", &key, NOW).await.unwrap();

    for account in [admin.account_id, other_admin.account_id] {
        let error = db.store.insert_api_client(account, "second", &key, NOW).await.unwrap_err();
        assert!(matches!(error, StoreError::Duplicate("that API key")), "{error:?}");
    }
    assert_eq!(db.store.find_api_client_by_key(&key).await.unwrap(), Some(first));
}

async fn a_deleted_api_client_is_gone(db: &TestDb) {
    let (admin, _) = harness::account_with_user(&db.store, "delete").await;
    let (key, other_key) = (TokenHash([4; 32]), TokenHash([5; 32]));
    let client = db.store.insert_api_client(admin.account_id, "old app", &key, NOW).await.unwrap();
    let other = db.store.insert_api_client(admin.account_id, "other app", &other_key, NOW).await.unwrap();

    assert!(db.store.delete_api_client(client.id).await.unwrap());
    assert!(!db.store.delete_api_client(client.id).await.unwrap(), "already gone");
    assert!(!db.store.delete_api_client(ApiClientId(999_999)).await.unwrap());
    assert_eq!(db.store.find_api_client_by_key(&key).await.unwrap(), None);
    assert_eq!(db.store.find_api_client_by_key(&other_key).await.unwrap(), Some(other.clone()));
    assert_eq!(db.store.list_api_clients(admin.account_id).await.unwrap(), vec![other]);
}

async fn api_clients_are_listed_per_account(db: &TestDb) {
    let (first, _) = harness::account_with_user(&db.store, "listfirst").await;
    let (second, _) = harness::account_with_user(&db.store, "listsecond").await;
    let a = db.store.insert_api_client(first.account_id, "a", &TokenHash([31; 32]), NOW).await.unwrap();
    let b = db.store.insert_api_client(first.account_id, "b", &TokenHash([32; 32]), NOW).await.unwrap();
    db.store.insert_api_client(second.account_id, "c", &TokenHash([33; 32]), NOW).await.unwrap();
    assert_eq!(db.store.list_api_clients(first.account_id).await.unwrap(), vec![a, b]);
}

async fn an_api_client_of_an_unknown_account_is_refused(db: &TestDb) {
    let error =
        db.store.insert_api_client(AccountId(999_999), "ghost", &TokenHash([6; 32]), NOW).await.unwrap_err();
    assert!(matches!(error, StoreError::Missing(_)), "{error:?}");
}

fn yubico_client(id: i64, account_id: Option<AccountId>, byte: u8) -> YubicoClient {
    YubicoClient {
        id,
        account_id,
        name: format!("client {id}"),
        key: Sealed { key_id: "2025-06-01".to_owned(), ciphertext: vec![byte; 12 + 20 + 16] },
        created_at: UnixTime(NOW.0 + 7),
    }
}

async fn a_yubico_client_round_trips_with_its_sealed_key(db: &TestDb) {
    let (admin, _) = harness::account_with_user(&db.store, "yubico").await;
    let owned = yubico_client(17, Some(admin.account_id), 0xa5);
    let global = yubico_client(18, None, 0x00);
    db.store.insert_yubico_client(&owned).await.unwrap();
    db.store.insert_yubico_client(&global).await.unwrap();

    assert_eq!(db.store.find_yubico_client(17).await.unwrap(), Some(owned));
    assert_eq!(db.store.find_yubico_client(18).await.unwrap(), Some(global));
    assert_eq!(db.store.find_yubico_client(19).await.unwrap(), None);
}

async fn a_yubico_client_id_is_stored_once(db: &TestDb) {
    let (admin, _) = harness::account_with_user(&db.store, "yubidup").await;
    let first = yubico_client(42, Some(admin.account_id), 1);
    db.store.insert_yubico_client(&first).await.unwrap();

    let error = db.store.insert_yubico_client(&yubico_client(42, None, 2)).await.unwrap_err();
    assert!(matches!(error, StoreError::Duplicate("that client id")), "{error:?}");
    assert_eq!(db.store.find_yubico_client(42).await.unwrap(), Some(first), "the first key stays");
}

async fn yubico_clients_are_listed_by_id_and_removed(db: &TestDb) {
    for id in [9, 3, 5] {
        db.store.insert_yubico_client(&yubico_client(id, None, id as u8)).await.unwrap();
    }
    let listed: Vec<(i64, String)> =
        db.store.list_yubico_clients().await.unwrap().into_iter().map(|c| (c.id, c.name)).collect();
    assert_eq!(listed, [(3, "client 3".into()), (5, "client 5".into()), (9, "client 9".into())]);
    assert!(db.store.delete_yubico_client(5).await.unwrap());
    assert!(!db.store.delete_yubico_client(5).await.unwrap(), "already gone");
    assert_eq!(db.store.find_yubico_client(5).await.unwrap(), None);
    assert_eq!(db.store.list_yubico_clients().await.unwrap().len(), 2);
}

contract!(
    api_clients_are_listed_per_account,
    yubico_clients_are_listed_by_id_and_removed,
    an_api_client_is_found_by_its_key_hash,
    an_api_key_is_stored_once,
    a_deleted_api_client_is_gone,
    an_api_client_of_an_unknown_account_is_refused,
    a_yubico_client_round_trips_with_its_sealed_key,
    a_yubico_client_id_is_stored_once,
);
