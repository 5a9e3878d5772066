//! The unit of work: a use case's writes, its audit event and its e-mails committed together or not at
//! all, on both databases; a taken address inside it does not poison it; concurrent units finish.

use keyward_core::UnixTime;
use keyward_core::audit::NewAuditEvent;
use keyward_core::mail::Message;
use keyward_core::store::{AuditStore, OutboxStore, StoreError, UnitOfWork, UserStore};
use keyward_core::user::{Email, Role};

use crate::harness::{NOW, TestDb, account_with_user};

fn event(action: &str) -> NewAuditEvent {
    NewAuditEvent {
        at: NOW,
        actor: "test".into(),
        target: "user".into(),
        action: action.into(),
        ip: None,
        detail: String::new(),
        account: None,
    }
}

fn mail(to: &Email) -> Message {
    Message { to: to.clone(), subject: "s".into(), text: "t".into(), html: "h".into(), links: Vec::new() }
}

/// A user, their audit event and their e-mail, in one unit that ends with `outcome`.
async fn add_in_unit(
    db: &TestDb,
    account: keyward_core::ids::AccountId,
    email: &str,
    fail: bool,
) -> Result<(), StoreError> {
    let email = Email::parse(email).unwrap();
    db.store
        .atomically(async {
            db.store.insert_user(account, &email, Role::User, None, NOW).await?;
            db.store.append_audit(event("user.added")).await?;
            db.store.enqueue_mail(&mail(&email), NOW).await?;
            if fail { Err(StoreError::Missing("something the work needed")) } else { Ok(()) }
        })
        .await
}

async fn a_unit_commits_all_of_its_writes_or_none(db: &TestDb) {
    let (admin, _) = account_with_user(&db.store, "unit").await;
    let events_before = db.store.audit_log().await.unwrap().events.len();
    assert!(add_in_unit(db, admin.account_id, "gone@unit.example", true).await.is_err());
    let gone = Email::parse("gone@unit.example").unwrap();
    assert_eq!(db.store.find_user_by_email(&gone).await.unwrap(), None, "rolled back: the user");
    assert_eq!(db.store.audit_log().await.unwrap().events.len(), events_before, "rolled back: the event");
    assert_eq!(db.store.outbox_counts().await.unwrap(), (0, 0), "rolled back: the e-mail");

    add_in_unit(db, admin.account_id, "kept@unit.example", false).await.unwrap();
    let kept = Email::parse("kept@unit.example").unwrap();
    assert!(db.store.find_user_by_email(&kept).await.unwrap().is_some());
    assert_eq!(db.store.audit_log().await.unwrap().events.len(), events_before + 1);
    assert_eq!(db.store.outbox_counts().await.unwrap(), (1, 0));
}

async fn a_taken_address_inside_a_unit_leaves_it_usable_and_nested_units_join(db: &TestDb) {
    let (admin, user) = account_with_user(&db.store, "unit-dup").await;
    let result: Result<u64, StoreError> = db
        .store
        .atomically(async {
            let taken = db.store.insert_user(admin.account_id, &user.email, Role::User, None, NOW).await;
            assert!(matches!(taken, Err(StoreError::Duplicate(_))), "{taken:?}");
            // The same transaction goes on, and an inner unit joins it.
            db.store.atomically(async { db.store.enqueue_mail(&mail(&user.email), NOW).await }).await?;
            Ok(db.store.outbox_counts().await?.0)
        })
        .await;
    assert_eq!(result.unwrap(), 1);
}

async fn concurrent_units_that_read_then_write_all_finish(db: &TestDb) {
    let (admin, _) = account_with_user(&db.store, "unit-race").await;
    let nodes = [db.store.clone(), db.another_node().await];
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let store = nodes[n % 2].clone();
            let account = admin.account_id;
            tokio::spawn(async move {
                store
                    .atomically(async {
                        let users = store.list_users(account).await?.len();
                        let email = Email::parse(&format!("u{n}-{users}@race.example")).unwrap();
                        store
                            .insert_user(account, &email, Role::User, None, UnixTime(NOW.0 + n as u64))
                            .await?;
                        Ok::<_, StoreError>(())
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(db.store.list_users(admin.account_id).await.unwrap().len(), 2 + 16);
}

/// PostgreSQL drops every connection (a restart, a proxy timing out): the next read on a pooled
/// connection fails once and is tried again on a fresh one. (SQLite has no connection to lose.)
async fn a_read_on_a_dropped_connection_is_tried_again(db: &TestDb) {
    let (admin, _) = account_with_user(&db.store, "dropped").await;
    if !db.url.starts_with("postgres") {
        return;
    }
    let node = keyward_store::SqlStore::connect_checking(&db.url, false).await.unwrap();
    assert!(node.find_user(admin.id).await.unwrap().is_some(), "a live connection in the pool");
    db.execute_raw(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await;
    assert!(node.find_user(admin.id).await.unwrap().is_some(), "read again on a fresh connection");
}

contract!(
    a_unit_commits_all_of_its_writes_or_none,
    a_taken_address_inside_a_unit_leaves_it_usable_and_nested_units_join,
    concurrent_units_that_read_then_write_all_finish,
    a_read_on_a_dropped_connection_is_tried_again,
);
