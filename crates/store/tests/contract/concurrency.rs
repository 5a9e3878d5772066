//! Single use under concurrency: 64 simultaneous attempts, spread over two pools standing in for two
//! nodes, and exactly one wins. Throttle budgets and the audit chain hold under the same pressure.

use std::sync::Arc;

use keyward_core::audit::{NewAuditEvent, verify_chain};
use keyward_core::otp::TotpParams;
use keyward_core::store::{AuditStore, FactorStore};
use keyward_core::throttle::{Admission, ThrottlePolicy, admit};
use keyward_core::yubico::{Position, PublicId};
use keyward_store::SqlStore;

use crate::factors::sealed;
use crate::harness::{NOW, TestDb, account_with_user};

const ATTEMPTS: usize = 64;

/// Runs `attempt` ATTEMPTS times at once, alternating between the two nodes, and returns how many succeeded.
async fn race<F, Fut>(nodes: [SqlStore; 2], attempt: F) -> usize
where
    F: Fn(SqlStore) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let start = Arc::new(tokio::sync::Barrier::new(ATTEMPTS));
    let tasks: Vec<_> = (0..ATTEMPTS)
        .map(|i| {
            let (start, work) = (start.clone(), attempt(nodes[i % 2].clone()));
            tokio::spawn(async move {
                start.wait().await;
                work.await
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    wins
}

async fn one_of_64_concurrent_uses_of_a_totp_step_wins(db: &TestDb) {
    let (_, user) = account_with_user(&db.store, "race-totp").await;
    let factor = db.store.insert_totp_factor(user.id, &sealed(1), TotpParams::default(), NOW).await.unwrap();
    let nodes = [db.store.clone(), db.another_node().await];
    let wins =
        race(nodes, |node| async move { node.consume_totp_step(factor.id, 777, 0, NOW).await.unwrap() })
            .await;
    assert_eq!(wins, 1);
}

async fn one_of_64_concurrent_uses_of_a_yubikey_otp_wins(db: &TestDb) {
    let (_, user) = account_with_user(&db.store, "race-yubikey").await;
    let key = db.store.register_yubikey(&PublicId::parse("vvrrce").unwrap(), user.id, NOW).await.unwrap();
    let nodes = [db.store.clone(), db.another_node().await];
    let position = Position { counter: 3, session_use: 7 };
    let wins =
        race(nodes, |node| async move { node.advance_yubikey(key.id, position, None).await.unwrap() }).await;
    assert_eq!(wins, 1);
}

async fn each_of_32_queued_messages_is_claimed_by_exactly_one_of_64_workers(db: &TestDb) {
    use keyward_core::store::OutboxStore;
    for n in 0..32 {
        let message = keyward_core::mail::Message {
            to: keyward_core::user::Email::parse(&format!("m{n}@example.com")).unwrap(),
            subject: format!("message {n}"),
            text: String::new(),
            html: String::new(),
            links: Vec::new(),
        };
        db.store.enqueue_mail(&message, NOW).await.unwrap();
    }
    let nodes = [db.store.clone(), db.another_node().await];
    let claimed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let lease = keyward_core::UnixTime(NOW.0 + 120);
    let got = race(nodes, |node| {
        let claimed = Arc::clone(&claimed);
        async move {
            // Each worker claims until it finds nothing free.
            let mut any = false;
            while let Some(mail) = node.claim_mail(NOW, lease).await.unwrap() {
                claimed.lock().unwrap().push(mail.id);
                any = true;
            }
            any
        }
    })
    .await;
    let mut ids = claimed.lock().unwrap().clone();
    assert_eq!(ids.len(), 32, "every message claimed, none twice ({got} workers got some)");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 32);
}

async fn every_node_spends_from_one_throttle_budget(db: &TestDb) {
    // 20 free attempts, then an hour's wait: of 64 simultaneous attempts exactly 20 may go ahead.
    let policy = ThrottlePolicy { free: 20, base_wait: 3600, max_wait: 3600, forget_every: 3600 };
    let nodes = [db.store.clone(), db.another_node().await];
    let admitted = race(nodes, |node| async move {
        matches!(admit(&node, "otp:user:1", policy, NOW).await.unwrap(), Admission::Admit(_))
    })
    .await;
    assert_eq!(admitted, 20);
}

async fn concurrent_audit_appends_form_one_chain(db: &TestDb) {
    let nodes = [db.store.clone(), db.another_node().await];
    let appended = race(nodes, |node| async move {
        let event = NewAuditEvent {
            at: NOW,
            actor: "user:1".into(),
            target: "account:1".into(),
            action: "test.append".into(),
            ip: Some("192.0.2.1".into()),
            detail: String::new(),
            account: None,
        };
        node.append_audit(event).await.is_ok()
    })
    .await;
    assert_eq!(appended, ATTEMPTS);
    let log = db.store.audit_log().await.unwrap();
    assert_eq!(
        log.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=ATTEMPTS as u64).collect::<Vec<_>>()
    );
    assert_eq!(verify_chain(log.events, log.head), Ok(ATTEMPTS as u64));
}

contract!(
    each_of_32_queued_messages_is_claimed_by_exactly_one_of_64_workers,
    one_of_64_concurrent_uses_of_a_totp_step_wins,
    one_of_64_concurrent_uses_of_a_yubikey_otp_wins,
    every_node_spends_from_one_throttle_budget,
    concurrent_audit_appends_form_one_chain,
);
