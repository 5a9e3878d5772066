//! Sealed secrets as rotation sees them.

use keyward_core::client::{YubicoClient, yubico_client_seal_context};
use keyward_core::factor::{totp_seal_context, yubikey_seal_context};
use keyward_core::otp::TotpParams;
use keyward_core::seal::Sealed;
use keyward_core::store::{ClientStore, FactorStore, SealedRow, SealedSecretStore};
use keyward_core::yubico::PublicId;

use crate::factors::sealed;
use crate::harness::{NOW, TestDb, account_with_user};

async fn every_sealed_secret_is_listed_and_resealed_in_place(db: &TestDb) {
    let store = &db.store;
    let (admin, user) = account_with_user(store, "sealed").await;
    let totp = store.insert_totp_factor(user.id, &sealed(1), TotpParams::default(), NOW).await.unwrap();
    let public_id = PublicId::parse("vvcccbhhhhhh").unwrap();
    let key = store.import_yubikey(&public_id, &sealed(2), NOW).await.unwrap();
    store.register_yubikey(&PublicId::parse("vvcccccccccc").unwrap(), admin.id, NOW).await.unwrap();
    let client = YubicoClient {
        id: 42,
        account_id: Some(admin.account_id),
        name: "mail".into(),
        key: sealed(3),
        created_at: NOW,
    };
    store.insert_yubico_client(&client).await.unwrap();

    assert_eq!(store.sealed_key_ids().await.unwrap(), vec!["k1".to_owned()], "each id once");
    let secrets = store.sealed_secrets().await.unwrap();
    let listed: Vec<_> = secrets.iter().map(|s| (s.row, s.context.clone(), s.sealed.clone())).collect();
    assert_eq!(
        listed,
        vec![
            (SealedRow::TotpFactor(totp.id), totp_seal_context(user.id), sealed(1)),
            (SealedRow::Yubikey(key.id), yubikey_seal_context(&public_id), sealed(2)),
            (SealedRow::YubicoClient(42), yubico_client_seal_context(42), sealed(3)),
        ],
        "YubiCloud keys hold no secret and are not listed"
    );

    let fresh = Sealed { key_id: "k2".into(), ciphertext: vec![7; 48] };
    assert!(store.reseal(SealedRow::TotpFactor(totp.id), &sealed(1), &fresh).await.unwrap());
    assert!(
        !store.reseal(SealedRow::TotpFactor(totp.id), &sealed(1), &fresh).await.unwrap(),
        "no longer the old value"
    );
    assert!(store.reseal(SealedRow::Yubikey(key.id), &sealed(2), &fresh).await.unwrap());
    assert_eq!(store.sealed_key_ids().await.unwrap(), vec!["k1".to_owned(), "k2".to_owned()]);
    assert!(store.reseal(SealedRow::YubicoClient(42), &sealed(3), &fresh).await.unwrap());
    assert_eq!(store.sealed_key_ids().await.unwrap(), vec!["k2".to_owned()], "the old key is free");
    assert!(store.sealed_secrets().await.unwrap().iter().all(|s| s.sealed == fresh));
    assert_eq!(store.totp_factors(user.id).await.unwrap()[0].secret, fresh);
    assert_eq!(store.find_yubico_client(42).await.unwrap().unwrap().key, fresh);
}

contract!(every_sealed_secret_is_listed_and_resealed_in_place);
