//! Lost-device requests: opened, listed while open, decided exactly once.

use keyward_core::UnixTime;
use keyward_core::disable::{Approval, Decision};
use keyward_core::ids::{DisableRequestId, UserId};
use keyward_core::store::{DisableRequestStore, StoreError};

use crate::harness::{self, NOW, TestDb};

fn at(offset: u64) -> UnixTime {
    UnixTime(NOW.0 + offset)
}

async fn a_request_is_listed_until_decided_once(db: &TestDb) {
    let (admin, user) = harness::account_with_user(&db.store, "lifecycle").await;
    assert_eq!(db.store.open_disable_requests(UnixTime(0)).await.unwrap(), vec![]);

    let first = db
        .store
        .insert_disable_request(user.id, user.id, "phone fell in the lake", "+1 555 0100", NOW)
        .await
        .unwrap();
    assert_eq!((first.user_id, first.opened_by), (user.id, user.id));
    assert_eq!((first.reason.as_str(), first.contact.as_str()), ("phone fell in the lake", "+1 555 0100"));
    assert_eq!(first.decision, Decision::Open);
    assert_eq!(first.created_at, NOW);
    let second = db
        .store
        .insert_disable_request(admin.id, user.id, "admin's key is lost", "desk phone", at(5))
        .await
        .unwrap();
    assert_eq!(db.store.find_disable_request(first.id).await.unwrap(), Some(first.clone()));

    assert_eq!(
        db.store.open_disable_requests(UnixTime(0)).await.unwrap(),
        vec![first.clone(), second.clone()],
        "oldest first"
    );

    let approval =
        Decision::Approved { by: admin.id, how: "called back on +1 555 0100".to_owned(), at: at(60) };
    assert!(db.store.decide_disable_request(first.id, &approval, UnixTime(0)).await.unwrap());
    let denial = Decision::Denied { by: admin.id, how: "changed my mind".to_owned(), at: at(61) };
    assert!(
        !db.store.decide_disable_request(first.id, &denial, UnixTime(0)).await.unwrap(),
        "a second decision is refused"
    );
    assert!(
        !db.store.decide_disable_request(first.id, &approval, UnixTime(0)).await.unwrap(),
        "even the same one"
    );

    let decided = db.store.find_disable_request(first.id).await.unwrap().unwrap();
    assert_eq!(decided.decision, approval, "who, how and when round-trip");
    assert_eq!((decided.user_id, decided.reason, decided.created_at), (user.id, first.reason, NOW));
    assert_eq!(db.store.open_disable_requests(UnixTime(0)).await.unwrap(), vec![second.clone()]);

    let denial =
        Decision::Denied { by: user.id, how: "ticket #42: identity not confirmed".to_owned(), at: at(90) };
    assert!(db.store.decide_disable_request(second.id, &denial, UnixTime(0)).await.unwrap());
    assert_eq!(db.store.find_disable_request(second.id).await.unwrap().unwrap().decision, denial);
    assert_eq!(db.store.open_disable_requests(UnixTime(0)).await.unwrap(), vec![]);
}

async fn open_is_not_a_decision_and_unknown_requests_are_not_decided(db: &TestDb) {
    let (admin, user) = harness::account_with_user(&db.store, "nothing").await;
    let request = db.store.insert_disable_request(user.id, admin.id, "lost", "", NOW).await.unwrap();
    assert!(!db.store.decide_disable_request(request.id, &Decision::Open, UnixTime(0)).await.unwrap());
    assert_eq!(db.store.find_disable_request(request.id).await.unwrap(), Some(request.clone()));

    let approval = Decision::Approved { by: admin.id, how: "in person".to_owned(), at: NOW };
    let unknown = DisableRequestId(request.id.0 + 1000);
    assert!(!db.store.decide_disable_request(unknown, &approval, UnixTime(0)).await.unwrap());
    assert_eq!(db.store.find_disable_request(unknown).await.unwrap(), None);
}

async fn concurrent_decisions_let_exactly_one_through(db: &TestDb) {
    let (admin, user) = harness::account_with_user(&db.store, "race").await;
    let request = db.store.insert_disable_request(user.id, user.id, "lost", "", NOW).await.unwrap();
    let other_node = db.another_node().await;
    let mut tasks = Vec::new();
    for i in 0..16u64 {
        let store = if i % 2 == 0 { db.store.clone() } else { other_node.clone() };
        let decision = if i % 3 == 0 {
            Decision::Denied { by: admin.id, how: format!("operator {i}"), at: at(i) }
        } else {
            Decision::Approved { by: admin.id, how: format!("operator {i}"), at: at(i) }
        };
        let id = request.id;
        tasks.push(tokio::spawn(async move {
            let won = store.decide_disable_request(id, &decision, UnixTime(0)).await.unwrap();
            won.then_some(decision)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.unwrap());
    }
    other_node.close().await;
    assert_eq!(winners.len(), 1);
    let stored = db.store.find_disable_request(request.id).await.unwrap().unwrap();
    assert_eq!(stored.decision, winners[0], "the stored decision is the winner's");
}

async fn a_request_for_an_unknown_user_is_refused(db: &TestDb) {
    let (admin, _) = harness::account_with_user(&db.store, "unknown").await;
    let error =
        db.store.insert_disable_request(UserId(999_999), admin.id, "lost", "", NOW).await.unwrap_err();
    assert!(matches!(error, StoreError::Missing(_)), "{error:?}");
}

async fn an_expired_request_is_neither_listed_nor_decided(db: &TestDb) {
    let (admin, user) = harness::account_with_user(&db.store, "expiry").await;
    let request = db.store.insert_disable_request(user.id, user.id, "lost", "", NOW).await.unwrap();
    let approval = Decision::Approved { by: admin.id, how: "late".to_owned(), at: at(10) };
    // Opened at NOW: a bound at NOW means "opened at or before the bound", expired.
    assert_eq!(db.store.open_disable_requests(NOW).await.unwrap(), vec![]);
    assert!(!db.store.decide_disable_request(request.id, &approval, NOW).await.unwrap());
    assert_eq!(db.store.open_disable_requests(UnixTime(NOW.0 - 1)).await.unwrap(), vec![request.clone()]);
    assert!(db.store.decide_disable_request(request.id, &approval, UnixTime(NOW.0 - 1)).await.unwrap());
}

async fn approvals_are_one_per_operator_and_listed_in_order(db: &TestDb) {
    let (admin, user) = harness::account_with_user(&db.store, "approvals").await;
    let request = db.store.insert_disable_request(admin.id, user.id, "lost", "", NOW).await.unwrap();
    let approval = |by, when| Approval {
        operator: by,
        contacted: "Dana".into(),
        channel: "phone".into(),
        confirmed: format!("confirmed at {when}"),
        at: at(when),
    };
    assert!(db.store.add_disable_approval(request.id, &approval(user.id, 1)).await.unwrap());
    assert!(
        !db.store.add_disable_approval(request.id, &approval(user.id, 2)).await.unwrap(),
        "the same operator twice is one approval"
    );
    assert!(db.store.add_disable_approval(request.id, &approval(admin.id, 3)).await.unwrap());
    assert_eq!(
        db.store.disable_approvals(request.id).await.unwrap(),
        vec![approval(user.id, 1), approval(admin.id, 3)]
    );
    assert_eq!(db.store.account_disable_requests(admin.account_id).await.unwrap(), vec![request]);
    let (other_admin, _) = harness::account_with_user(&db.store, "elsewhere").await;
    assert_eq!(db.store.account_disable_requests(other_admin.account_id).await.unwrap(), vec![]);
}

contract!(
    an_expired_request_is_neither_listed_nor_decided,
    approvals_are_one_per_operator_and_listed_in_order,
    a_request_is_listed_until_decided_once,
    open_is_not_a_decision_and_unknown_requests_are_not_decided,
    concurrent_decisions_let_exactly_one_through,
    a_request_for_an_unknown_user_is_refused,
);
