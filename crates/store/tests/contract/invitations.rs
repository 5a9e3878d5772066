//! E-mailed links: a new link voids the old one, links expire, and each works exactly once.

use keyward_core::UnixTime;
use keyward_core::ids::UserId;
use keyward_core::invitation::Purpose;
use keyward_core::store::{InvitationStore, StoreError};
use keyward_core::token::TokenHash;

use crate::harness::{self, NOW, TestDb};

fn at(offset: u64) -> UnixTime {
    UnixTime(NOW.0 + offset)
}

const HOUR: u64 = 3600;

async fn a_link_is_found_by_its_token_while_open(db: &TestDb) {
    let (_, user) = harness::account_with_user(&db.store, "found").await;
    let token = TokenHash([1; 32]);
    let link = db.store.insert_invitation(user.id, Purpose::Enrollment, &token, NOW, at(HOUR)).await.unwrap();
    assert_eq!(link.user_id, user.id);
    assert_eq!(link.purpose, Purpose::Enrollment);
    assert_eq!(link.token_hash, token);
    assert_eq!((link.created_at, link.expires_at, link.closed_at), (NOW, at(HOUR), None));

    let found = db.store.find_open_invitation(&token, at(60)).await.unwrap();
    assert_eq!(found, Some(link.clone()));
    assert_eq!(db.store.latest_invitation(user.id, Purpose::Enrollment).await.unwrap(), Some(link));
}

async fn a_wrong_token_finds_nothing(db: &TestDb) {
    let (_, user) = harness::account_with_user(&db.store, "wrong").await;
    db.store
        .insert_invitation(user.id, Purpose::SetPassword, &TokenHash([2; 32]), NOW, at(HOUR))
        .await
        .unwrap();
    assert_eq!(db.store.find_open_invitation(&TokenHash([3; 32]), NOW).await.unwrap(), None);
    let mut almost = [2; 32];
    almost[31] = 0;
    assert_eq!(db.store.find_open_invitation(&TokenHash(almost), NOW).await.unwrap(), None);
}

async fn a_new_link_voids_the_old_one_of_the_same_purpose_only(db: &TestDb) {
    let (admin, user) = harness::account_with_user(&db.store, "voids").await;
    let (old_token, new_token) = (TokenHash([10; 32]), TokenHash([11; 32]));
    let old =
        db.store.insert_invitation(user.id, Purpose::Enrollment, &old_token, NOW, at(HOUR)).await.unwrap();
    // Links that must not be touched: another purpose of the same user, the same purpose of someone else.
    let reset_token = TokenHash([12; 32]);
    db.store.insert_invitation(user.id, Purpose::ResetPassword, &reset_token, NOW, at(HOUR)).await.unwrap();
    let admin_token = TokenHash([13; 32]);
    db.store.insert_invitation(admin.id, Purpose::Enrollment, &admin_token, NOW, at(HOUR)).await.unwrap();

    let new =
        db.store.insert_invitation(user.id, Purpose::Enrollment, &new_token, at(10), at(HOUR)).await.unwrap();
    assert_ne!(new.id, old.id);

    assert_eq!(
        db.store.find_open_invitation(&old_token, at(20)).await.unwrap(),
        None,
        "the old link is void"
    );
    assert!(!db.store.close_invitation(old.id, at(20)).await.unwrap(), "the old link cannot be used");
    assert_eq!(db.store.find_open_invitation(&new_token, at(20)).await.unwrap(), Some(new.clone()));
    assert_eq!(db.store.latest_invitation(user.id, Purpose::Enrollment).await.unwrap(), Some(new));

    assert!(db.store.find_open_invitation(&reset_token, at(20)).await.unwrap().is_some(), "other purpose");
    assert!(db.store.find_open_invitation(&admin_token, at(20)).await.unwrap().is_some(), "other user");
}

async fn a_link_expires_at_exactly_its_expiry(db: &TestDb) {
    let (_, user) = harness::account_with_user(&db.store, "expiry").await;
    let token = TokenHash([20; 32]);
    let link =
        db.store.insert_invitation(user.id, Purpose::ResetPassword, &token, NOW, at(HOUR)).await.unwrap();

    assert!(
        db.store.find_open_invitation(&token, at(HOUR - 1)).await.unwrap().is_some(),
        "open one second before"
    );
    assert_eq!(db.store.find_open_invitation(&token, at(HOUR)).await.unwrap(), None, "closed at expires_at");
    assert_eq!(db.store.find_open_invitation(&token, at(HOUR + 1)).await.unwrap(), None);
    assert!(!db.store.close_invitation(link.id, at(HOUR)).await.unwrap(), "cannot be used at expires_at");

    // An expired link was never used: it stays unclosed, and "latest" still reports it.
    let latest = db.store.latest_invitation(user.id, Purpose::ResetPassword).await.unwrap().unwrap();
    assert_eq!(latest.closed_at, None);
    assert!(!latest.is_open(at(HOUR)));

    // One second earlier, the same link can be used.
    assert!(db.store.close_invitation(link.id, at(HOUR - 1)).await.unwrap());
}

async fn a_link_works_once(db: &TestDb) {
    let (_, user) = harness::account_with_user(&db.store, "once").await;
    let token = TokenHash([30; 32]);
    let link =
        db.store.insert_invitation(user.id, Purpose::SetPassword, &token, NOW, at(HOUR)).await.unwrap();

    assert!(db.store.close_invitation(link.id, at(5)).await.unwrap());
    assert!(!db.store.close_invitation(link.id, at(6)).await.unwrap(), "a second use is refused");
    assert_eq!(db.store.find_open_invitation(&token, at(7)).await.unwrap(), None);

    let latest = db.store.latest_invitation(user.id, Purpose::SetPassword).await.unwrap().unwrap();
    assert_eq!(latest.id, link.id);
    assert_eq!(latest.closed_at, Some(at(5)), "the first use's time is kept");
}

async fn sixteen_concurrent_uses_of_a_link_let_exactly_one_through(db: &TestDb) {
    let (_, user) = harness::account_with_user(&db.store, "race").await;
    let link = db
        .store
        .insert_invitation(user.id, Purpose::Enrollment, &TokenHash([40; 32]), NOW, at(HOUR))
        .await
        .unwrap();
    // Half the callers on this pool, half on a second node's pool.
    let other_node = db.another_node().await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = if i % 2 == 0 { db.store.clone() } else { other_node.clone() };
        tasks.push(tokio::spawn(async move { store.close_invitation(link.id, at(1)).await.unwrap() }));
    }
    let mut winners = 0;
    for task in tasks {
        if task.await.unwrap() {
            winners += 1;
        }
    }
    other_node.close().await;
    assert_eq!(winners, 1);
}

async fn concurrent_new_links_leave_exactly_one_open(db: &TestDb) {
    let (_, user) = harness::account_with_user(&db.store, "resend").await;
    let other_node = db.another_node().await;
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let store = if i % 2 == 0 { db.store.clone() } else { other_node.clone() };
        let user_id = user.id;
        tasks.push(tokio::spawn(async move {
            store
                .insert_invitation(user_id, Purpose::Enrollment, &TokenHash([50 + i; 32]), NOW, at(HOUR))
                .await
                .unwrap()
        }));
    }
    let mut links = Vec::new();
    for task in tasks {
        links.push(task.await.unwrap());
    }
    other_node.close().await;
    let mut open = 0;
    for link in &links {
        if db.store.find_open_invitation(&link.token_hash, at(1)).await.unwrap().is_some() {
            open += 1;
        }
    }
    assert_eq!(open, 1, "only one of the links sent at the same moment stays usable");
}

async fn latest_breaks_ties_by_insertion_and_knows_no_links(db: &TestDb) {
    let (_, user) = harness::account_with_user(&db.store, "latest").await;
    assert_eq!(db.store.latest_invitation(user.id, Purpose::Enrollment).await.unwrap(), None);

    let first =
        db.store.insert_invitation(user.id, Purpose::Enrollment, &TokenHash([60; 32]), NOW, at(HOUR)).await;
    let second =
        db.store.insert_invitation(user.id, Purpose::Enrollment, &TokenHash([61; 32]), NOW, at(HOUR)).await;
    let (first, second) = (first.unwrap(), second.unwrap());
    assert!(second.id > first.id);
    let latest = db.store.latest_invitation(user.id, Purpose::Enrollment).await.unwrap().unwrap();
    assert_eq!(latest.id, second.id, "same created_at: the later row wins");
    assert_eq!(db.store.latest_invitation(user.id, Purpose::SetPassword).await.unwrap(), None);
}

async fn a_link_for_an_unknown_user_is_refused(db: &TestDb) {
    let error = db
        .store
        .insert_invitation(UserId(999_999), Purpose::Enrollment, &TokenHash([70; 32]), NOW, at(HOUR))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Missing(_)), "{error:?}");
}

async fn voiding_closes_every_open_link_of_the_user_only(db: &TestDb) {
    let (admin, user) = harness::account_with_user(&db.store, "void").await;
    let purposes = [Purpose::SetPassword, Purpose::ResetPassword, Purpose::Enrollment];
    for (n, purpose) in purposes.into_iter().enumerate() {
        let token = TokenHash([80 + n as u8; 32]);
        db.store.insert_invitation(user.id, purpose, &token, NOW, at(HOUR)).await.unwrap();
    }
    let admins = TokenHash([90; 32]);
    db.store.insert_invitation(admin.id, Purpose::Enrollment, &admins, NOW, at(HOUR)).await.unwrap();

    assert_eq!(db.store.void_open_invitations(user.id, at(60)).await.unwrap(), 3);
    for n in 0..3 {
        assert_eq!(db.store.find_open_invitation(&TokenHash([80 + n; 32]), at(61)).await.unwrap(), None);
    }
    assert!(db.store.find_open_invitation(&admins, at(61)).await.unwrap().is_some(), "another user's stays");
    assert_eq!(db.store.void_open_invitations(user.id, at(62)).await.unwrap(), 0);
}

contract!(
    voiding_closes_every_open_link_of_the_user_only,
    a_link_is_found_by_its_token_while_open,
    a_wrong_token_finds_nothing,
    a_new_link_voids_the_old_one_of_the_same_purpose_only,
    a_link_expires_at_exactly_its_expiry,
    a_link_works_once,
    sixteen_concurrent_uses_of_a_link_let_exactly_one_through,
    concurrent_new_links_leave_exactly_one_open,
    latest_breaks_ties_by_insertion_and_knows_no_links,
    a_link_for_an_unknown_user_is_refused,
);
