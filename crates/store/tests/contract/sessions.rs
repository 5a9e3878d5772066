//! Login sessions: lookup, keeping alive, changing id, ending.

use keyward_core::UnixTime;
use keyward_core::ids::UserId;
use keyward_core::session::{Session, Stage};
use keyward_core::store::{SessionStore, StoreError};
use keyward_core::token::TokenHash;

use crate::harness::{self, NOW, TestDb};

fn at(offset: u64) -> UnixTime {
    UnixTime(NOW.0 + offset)
}

fn session(id: u8, user_id: UserId, stage: Stage) -> Session {
    Session {
        id_hash: TokenHash([id; 32]),
        user_id,
        stage,
        created_at: NOW,
        last_seen_at: NOW,
        second_factor_at: None,
    }
}

async fn a_session_is_found_by_its_id(db: &TestDb) {
    let (_, user) = harness::account_with_user(&db.store, "find").await;
    let mut stored = session(1, user.id, Stage::Complete);
    stored.second_factor_at = Some(at(3));
    stored.last_seen_at = at(4);
    db.store.insert_session(&stored).await.unwrap();

    assert_eq!(db.store.find_session(&stored.id_hash).await.unwrap(), Some(stored));
    assert_eq!(db.store.find_session(&TokenHash([2; 32])).await.unwrap(), None, "a wrong id finds nothing");
}

async fn a_session_id_is_stored_once(db: &TestDb) {
    let (admin, user) = harness::account_with_user(&db.store, "dup").await;
    db.store.insert_session(&session(1, user.id, Stage::PasswordOnly)).await.unwrap();
    let error = db.store.insert_session(&session(1, admin.id, Stage::Complete)).await.unwrap_err();
    assert!(matches!(error, StoreError::Duplicate(_)), "{error:?}");
    let kept = db.store.find_session(&TokenHash([1; 32])).await.unwrap().unwrap();
    assert_eq!(kept.user_id, user.id);
}

async fn touching_moves_last_seen_forward_only(db: &TestDb) {
    let (_, user) = harness::account_with_user(&db.store, "touch").await;
    let stored = session(1, user.id, Stage::Complete);
    db.store.insert_session(&stored).await.unwrap();

    db.store.touch_session(&stored.id_hash, at(100)).await.unwrap();
    let touched = db.store.find_session(&stored.id_hash).await.unwrap().unwrap();
    assert_eq!(touched.last_seen_at, at(100));
    assert_eq!(touched.created_at, NOW, "only last_seen_at changes");
    assert_eq!(touched.stage, Stage::Complete);

    // A slower request that started earlier (on another node) does not move it back.
    db.store.touch_session(&stored.id_hash, at(50)).await.unwrap();
    assert_eq!(db.store.find_session(&stored.id_hash).await.unwrap().unwrap().last_seen_at, at(100));

    // Touching a session that has ended meanwhile is harmless and creates nothing.
    db.store.touch_session(&TokenHash([9; 32]), at(100)).await.unwrap();
    assert_eq!(db.store.find_session(&TokenHash([9; 32])).await.unwrap(), None);
}

async fn rotating_replaces_the_id_and_keeps_the_login_time(db: &TestDb) {
    let (_, user) = harness::account_with_user(&db.store, "rotate").await;
    let old = session(1, user.id, Stage::PasswordOnly);
    db.store.insert_session(&old).await.unwrap();
    let new_id = TokenHash([2; 32]);

    assert!(
        db.store.rotate_session(&old.id_hash, &new_id, Stage::Complete, Some(at(30)), at(31)).await.unwrap()
    );

    assert_eq!(db.store.find_session(&old.id_hash).await.unwrap(), None, "the old id is worth nothing");
    let new = db.store.find_session(&new_id).await.unwrap().unwrap();
    assert_eq!(
        new,
        Session {
            id_hash: new_id,
            user_id: user.id,
            stage: Stage::Complete,
            created_at: NOW,
            last_seen_at: at(31),
            second_factor_at: Some(at(30)),
        }
    );

    // The old id cannot be rotated again; the new one can (a step-up).
    let third = TokenHash([3; 32]);
    assert!(
        !db.store.rotate_session(&old.id_hash, &third, Stage::Complete, Some(at(40)), at(40)).await.unwrap()
    );
    assert_eq!(db.store.find_session(&third).await.unwrap(), None);
    assert!(db.store.rotate_session(&new_id, &third, Stage::Complete, Some(at(50)), at(50)).await.unwrap());
    let stepped_up = db.store.find_session(&third).await.unwrap().unwrap();
    assert_eq!((stepped_up.created_at, stepped_up.second_factor_at), (NOW, Some(at(50))));
    assert_eq!(db.store.find_session(&new_id).await.unwrap(), None);
}

async fn rotating_onto_a_taken_id_changes_nothing(db: &TestDb) {
    let (_, user) = harness::account_with_user(&db.store, "taken").await;
    let old = session(1, user.id, Stage::PasswordOnly);
    let other = session(2, user.id, Stage::Complete);
    db.store.insert_session(&old).await.unwrap();
    db.store.insert_session(&other).await.unwrap();

    let error = db
        .store
        .rotate_session(&old.id_hash, &other.id_hash, Stage::Complete, None, at(1))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Duplicate(_)), "{error:?}");
    assert_eq!(db.store.find_session(&old.id_hash).await.unwrap(), Some(old), "rolled back");
    assert_eq!(db.store.find_session(&other.id_hash).await.unwrap(), Some(other));
}

async fn concurrent_rotations_of_a_session_let_exactly_one_through(db: &TestDb) {
    let (_, user) = harness::account_with_user(&db.store, "race").await;
    let old = session(1, user.id, Stage::PasswordOnly);
    db.store.insert_session(&old).await.unwrap();
    let other_node = db.another_node().await;
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let store = if i % 2 == 0 { db.store.clone() } else { other_node.clone() };
        let old_id = old.id_hash;
        tasks.push(tokio::spawn(async move {
            let new_id = TokenHash([100 + i; 32]);
            store.rotate_session(&old_id, &new_id, Stage::Complete, Some(at(1)), at(1)).await.unwrap()
        }));
    }
    let mut winners = 0;
    for task in tasks {
        if task.await.unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    // Exactly one session survives: ending "all but none" of the user's sessions ends exactly one.
    assert_eq!(other_node.delete_sessions_of(user.id, None).await.unwrap(), 1);
    other_node.close().await;
}

async fn deleting_one_session(db: &TestDb) {
    let (_, user) = harness::account_with_user(&db.store, "logout").await;
    let a = session(1, user.id, Stage::Complete);
    let b = session(2, user.id, Stage::Complete);
    db.store.insert_session(&a).await.unwrap();
    db.store.insert_session(&b).await.unwrap();

    db.store.delete_session(&a.id_hash).await.unwrap();
    assert_eq!(db.store.find_session(&a.id_hash).await.unwrap(), None);
    assert_eq!(db.store.find_session(&b.id_hash).await.unwrap(), Some(b));
    db.store.delete_session(&a.id_hash).await.unwrap(); // Again: nothing to do, no error.
}

async fn ending_a_users_sessions_keeps_the_one_asked_for(db: &TestDb) {
    let (admin, user) = harness::account_with_user(&db.store, "others").await;
    for id in 1..=3 {
        db.store.insert_session(&session(id, user.id, Stage::Complete)).await.unwrap();
    }
    let admins = session(9, admin.id, Stage::Complete);
    db.store.insert_session(&admins).await.unwrap();
    let keep = TokenHash([2; 32]);

    assert_eq!(db.store.delete_sessions_of(user.id, Some(&keep)).await.unwrap(), 2);
    assert!(db.store.find_session(&keep).await.unwrap().is_some(), "the current session stays");
    assert_eq!(db.store.find_session(&TokenHash([1; 32])).await.unwrap(), None);
    assert_eq!(db.store.find_session(&TokenHash([3; 32])).await.unwrap(), None);
    assert_eq!(
        db.store.find_session(&admins.id_hash).await.unwrap(),
        Some(admins.clone()),
        "other users' stay"
    );

    // Keeping another user's session keeps none of this user's.
    assert_eq!(db.store.delete_sessions_of(user.id, Some(&admins.id_hash)).await.unwrap(), 1);
    assert_eq!(db.store.find_session(&keep).await.unwrap(), None);
    assert_eq!(db.store.delete_sessions_of(user.id, None).await.unwrap(), 0);
    assert_eq!(db.store.delete_sessions_of(admin.id, None).await.unwrap(), 1);
    assert_eq!(db.store.find_session(&admins.id_hash).await.unwrap(), None);
}

contract!(
    a_session_is_found_by_its_id,
    a_session_id_is_stored_once,
    touching_moves_last_seen_forward_only,
    rotating_replaces_the_id_and_keeps_the_login_time,
    rotating_onto_a_taken_id_changes_nothing,
    concurrent_rotations_of_a_session_let_exactly_one_through,
    deleting_one_session,
    ending_a_users_sessions_keeps_the_one_asked_for,
);
