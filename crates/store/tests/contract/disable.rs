//! Lost-device requests: opened, listed while open, decided exactly once.

use keyward_core::UnixTime;
use keyward_core::disable::Decision;
use keyward_core::ids::{DisableRequestId, UserId};
use keyward_core::store::{DisableRequestStore, StoreError};

use crate::harness::{self, NOW, TestDb};

fn at(offset: u64) -> UnixTime {
    UnixTime(NOW.0 + offset)
}

async fn a_request_is_listed_until_decided_once(db: &TestDb) {
    let (admin, user) = harness::account_with_user(&db.store, "lifecycle").await;
    assert_eq!(db.store.open_disable_requests().await.unwrap(), vec![]);

    let first =
        db.store.insert_disable_request(user.id, user.id, "phone fell in the lake", NOW).await.unwrap();
    assert_eq!((first.user_id, first.opened_by), (user.id, user.id));
    assert_eq!(first.reason, "phone fell in the lake");
    assert_eq!(first.decision, Decision::Open);
    assert_eq!(first.created_at, NOW);
    let second =
        db.store.insert_disable_request(admin.id, user.id, "admin's key is lost", at(5)).await.unwrap();
    assert_eq!(db.store.find_disable_request(first.id).await.unwrap(), Some(first.clone()));

    assert_eq!(
        db.store.open_disable_requests().await.unwrap(),
        vec![first.clone(), second.clone()],
        "oldest first"
    );

    let approval =
        Decision::Approved { by: admin.id, how: "called back on +1 555 0100".to_owned(), at: at(60) };
    assert!(db.store.decide_disable_request(first.id, &approval).await.unwrap());
    let denial = Decision::Denied { by: admin.id, how: "changed my mind".to_owned(), at: at(61) };
    assert!(
        !db.store.decide_disable_request(first.id, &denial).await.unwrap(),
        "a second decision is refused"
    );
    assert!(!db.store.decide_disable_request(first.id, &approval).await.unwrap(), "even the same one");

    let decided = db.store.find_disable_request(first.id).await.unwrap().unwrap();
    assert_eq!(decided.decision, approval, "who, how and when round-trip");
    assert_eq!((decided.user_id, decided.reason, decided.created_at), (user.id, first.reason, NOW));
    assert_eq!(db.store.open_disable_requests().await.unwrap(), vec![second.clone()]);

    let denial =
        Decision::Denied { by: user.id, how: "ticket #42: identity not confirmed".to_owned(), at: at(90) };
    assert!(db.store.decide_disable_request(second.id, &denial).await.unwrap());
    assert_eq!(db.store.find_disable_request(second.id).await.unwrap().unwrap().decision, denial);
    assert_eq!(db.store.open_disable_requests().await.unwrap(), vec![]);
}

async fn open_is_not_a_decision_and_unknown_requests_are_not_decided(db: &TestDb) {
    let (admin, user) = harness::account_with_user(&db.store, "nothing").await;
    let request = db.store.insert_disable_request(user.id, admin.id, "lost", NOW).await.unwrap();
    assert!(!db.store.decide_disable_request(request.id, &Decision::Open).await.unwrap());
    assert_eq!(db.store.find_disable_request(request.id).await.unwrap(), Some(request.clone()));

    let approval = Decision::Approved { by: admin.id, how: "in person".to_owned(), at: NOW };
    let unknown = DisableRequestId(request.id.0 + 1000);
    assert!(!db.store.decide_disable_request(unknown, &approval).await.unwrap());
    assert_eq!(db.store.find_disable_request(unknown).await.unwrap(), None);
}

async fn concurrent_decisions_let_exactly_one_through(db: &TestDb) {
    let (admin, user) = harness::account_with_user(&db.store, "race").await;
    let request = db.store.insert_disable_request(user.id, user.id, "lost", NOW).await.unwrap();
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
            let won = store.decide_disable_request(id, &decision).await.unwrap();
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
    let error = db.store.insert_disable_request(UserId(999_999), admin.id, "lost", NOW).await.unwrap_err();
    assert!(matches!(error, StoreError::Missing(_)), "{error:?}");
}

contract!(
    a_request_is_listed_until_decided_once,
    open_is_not_a_decision_and_unknown_requests_are_not_decided,
    concurrent_decisions_let_exactly_one_through,
    a_request_for_an_unknown_user_is_refused,
);
