//! The audit chain as stored: intact, and after rows are edited, deleted or inserted behind the store's back.

use keyward_core::UnixTime;
use keyward_core::audit::{AuditEvent, BreakKind, ChainBreak, NewAuditEvent, verify_chain};
use keyward_core::ids::AccountId;
use keyward_core::store::{AuditQuery, AuditStore};

use crate::harness::{NOW, TestDb};

async fn six_events(db: &TestDb) {
    for i in 1..=6u64 {
        let event = NewAuditEvent {
            at: UnixTime(NOW.0 + i),
            actor: format!("user:{i}"),
            target: "account:1".into(),
            action: "factor.added".into(),
            ip: (i % 2 == 0).then(|| "198.51.100.7".to_owned()),
            detail: format!("event number {i}"),
            account: (i % 3 != 0).then_some(AccountId(1)),
        };
        let stored = db.store.append_audit(event).await.unwrap();
        assert_eq!(stored.seq, i);
    }
}

async fn verify(db: &TestDb) -> Result<u64, ChainBreak> {
    let log = db.store.audit_log().await.unwrap();
    verify_chain(log.events, log.head)
}

async fn an_untouched_log_verifies(db: &TestDb) {
    assert_eq!(verify(db).await, Ok(0), "an empty log is intact");
    six_events(db).await;
    assert_eq!(verify(db).await, Ok(6));
    let log = db.store.audit_log().await.unwrap();
    let events = log.events;
    assert_eq!(events[0].prev_hash, [0; 32]);
    assert_eq!(events[3].prev_hash, events[2].hash);
    assert_eq!(events[3].ip.as_deref(), Some("198.51.100.7"));
    assert_eq!(log.head, Some((6, events[5].hash)));
}

async fn an_edited_event_is_found(db: &TestDb) {
    six_events(db).await;
    db.execute_raw("UPDATE audit_events SET actor = 'operator:evil' WHERE seq = 3").await;
    let broken = verify(db).await.unwrap_err();
    assert_eq!((broken.kind(), broken.seq()), (BreakKind::Edited, 3), "{broken}");
}

async fn a_deleted_event_is_found(db: &TestDb) {
    six_events(db).await;
    db.execute_raw("DELETE FROM audit_events WHERE seq = 3").await;
    let broken = verify(db).await.unwrap_err();
    assert_eq!(broken.kind(), BreakKind::Deleted, "{broken}");
    assert_eq!(broken.seq(), 3, "{broken}");
}

async fn deleting_the_newest_events_is_found(db: &TestDb) {
    six_events(db).await;
    db.execute_raw("DELETE FROM audit_events WHERE seq >= 5").await;
    let broken = verify(db).await.unwrap_err();
    assert_eq!(broken.kind(), BreakKind::Deleted, "{broken}");
}

async fn an_inserted_event_is_found(db: &TestDb) {
    six_events(db).await;
    // A forger who knows the hashing appends a correctly chained event but cannot move the head.
    let last = db.store.audit_log().await.unwrap().events.pop().unwrap();
    let forged = AuditEvent::chain(
        NewAuditEvent {
            at: UnixTime(NOW.0 + 7),
            actor: "operator:evil".into(),
            target: "user:2".into(),
            action: "factors.removed".into(),
            ip: None,
            detail: String::new(),
            account: None,
        },
        7,
        last.hash,
    );
    let bytes = |hash: [u8; 32]| {
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        if db.is_postgres() { format!("'\\x{hex}'::bytea") } else { format!("X'{hex}'") }
    };
    db.execute_raw(&format!(
        "INSERT INTO audit_events (seq, at, actor, target, action, ip, detail, prev_hash, hash) \
         VALUES (7, {}, 'operator:evil', 'user:2', 'factors.removed', NULL, '', {}, {})",
        forged.at.0,
        bytes(forged.prev_hash),
        bytes(forged.hash)
    ))
    .await;
    let broken = verify(db).await.unwrap_err();
    assert_eq!((broken.kind(), broken.seq()), (BreakKind::Inserted, 7), "{broken}");
}

async fn an_accounts_log_is_filtered_by_user_action_and_time_and_paged(db: &TestDb) {
    let event = |i: u64, account: i64, actor: &str, target: &str, action: &str| NewAuditEvent {
        at: UnixTime(NOW.0 + i * 100),
        actor: actor.into(),
        target: target.into(),
        action: action.into(),
        ip: None,
        detail: format!("event {i}"),
        account: Some(AccountId(account)),
    };
    for new in [
        event(1, 1, "user:1:admin@a.example", "account:1", "two_factor.configured"),
        event(2, 1, "user:1:admin@a.example", "user:2:bob@a.example", "user.added"),
        event(3, 2, "user:7:eve@b.example", "user:2", "totp.enrolled"),
        event(4, 1, "user:2:bob@a.example", "user:2", "totp.enrolled"),
        event(5, 1, "user:12:ann@a.example", "user:12", "totp.enrolled"),
        event(6, 1, "user:1:admin@a.example", "user:12", "totp.enrollment_sent"),
    ] {
        db.store.append_audit(new).await.unwrap();
    }
    let seqs = |events: Vec<AuditEvent>| events.iter().map(|e| e.seq).collect::<Vec<_>>();
    let page = |query: AuditQuery| async move {
        seqs(db.store.account_audit(AccountId(1), &AuditQuery { limit: 10, ..query }).await.unwrap())
    };
    assert_eq!(page(AuditQuery::default()).await, vec![6, 5, 4, 2, 1], "newest first, the account's only");
    assert_eq!(
        page(AuditQuery { user: Some(keyward_core::ids::UserId(2)), ..AuditQuery::default() }).await,
        vec![4, 2],
        "by or about user 2 (not user 12), in this account"
    );
    assert_eq!(
        page(AuditQuery { action: Some("totp.".into()), ..AuditQuery::default() }).await,
        vec![6, 5, 4],
        "actions that start with it"
    );
    assert_eq!(
        page(AuditQuery { action: Some("totp_enrolled".into()), ..AuditQuery::default() }).await,
        Vec::<u64>::new(),
        "an underscore matches only itself"
    );
    let from = Some(UnixTime(NOW.0 + 200));
    let until = Some(UnixTime(NOW.0 + 500));
    assert_eq!(page(AuditQuery { from, until, ..AuditQuery::default() }).await, vec![4, 2], "[from, until)");
    let first = seqs(
        db.store
            .account_audit(AccountId(1), &AuditQuery { limit: 2, ..AuditQuery::default() })
            .await
            .unwrap(),
    );
    assert_eq!(first, vec![6, 5]);
    assert_eq!(
        page(AuditQuery { before: Some(5), ..AuditQuery::default() }).await,
        vec![4, 2, 1],
        "the next page"
    );
    assert_eq!(verify(db).await, Ok(6), "the account is part of each event's hash, and the chain holds");
}

contract!(
    an_accounts_log_is_filtered_by_user_action_and_time_and_paged,
    an_untouched_log_verifies,
    an_edited_event_is_found,
    a_deleted_event_is_found,
    deleting_the_newest_events_is_found,
    an_inserted_event_is_found,
);
