//! The outbox: each message claimed by one worker at a time, delivered once, retried, given up and shown.

use keyward_core::UnixTime;
use keyward_core::mail::Message;
use keyward_core::store::{OutboxStore, UserStore};

use crate::harness::{NOW, TestDb, account_with_user};

fn message(to: &str, subject: &str) -> Message {
    Message {
        to: keyward_core::user::Email::parse(to).unwrap(),
        subject: subject.to_owned(),
        text: "text".into(),
        html: "<p>html</p>".into(),
        links: vec!["http://localhost/a".into(), "http://localhost/b".into()],
    }
}

fn at(seconds: u64) -> UnixTime {
    UnixTime(NOW.0 + seconds)
}

async fn a_queued_message_is_claimed_by_one_worker_and_delivered_once(db: &TestDb) {
    let store = &db.store;
    let sent = message("someone@example.com", "Hello");
    store.enqueue_mail(&sent, NOW).await.unwrap();
    assert_eq!(store.outbox_counts().await.unwrap(), (1, 0));
    let claimed = store.claim_mail(NOW, at(120)).await.unwrap().expect("a message");
    assert_eq!((claimed.message.clone(), claimed.attempts, claimed.created_at), (sent, 1, NOW));
    assert_eq!(store.claim_mail(NOW, at(120)).await.unwrap(), None, "held by the first worker");
    // A worker that died lets it go when its lease ends.
    let again = store.claim_mail(at(120), at(240)).await.unwrap().expect("free again after the lease");
    assert_eq!((again.id, again.attempts), (claimed.id, 2));
    store.mail_delivered(again.id, at(121)).await.unwrap();
    assert_eq!(store.claim_mail(at(10_000), at(10_120)).await.unwrap(), None, "never sent again");
    assert_eq!(store.outbox_counts().await.unwrap(), (0, 0));
}

async fn a_failed_message_waits_for_its_retry_then_is_given_up_and_shown_to_its_account(db: &TestDb) {
    let store = &db.store;
    let (admin, user) = account_with_user(store, "outbox").await;
    store.enqueue_mail(&message(user.email.as_str(), "Your link"), NOW).await.unwrap();
    store.enqueue_mail(&message("stranger@example.com", "Not theirs"), NOW).await.unwrap();
    let first = store.claim_mail(NOW, at(120)).await.unwrap().unwrap();
    store.mail_not_delivered(first.id, "connection refused", Some(at(30)), NOW).await.unwrap();
    let stranger = store.claim_mail(NOW, at(120)).await.unwrap().unwrap();
    assert_eq!(stranger.message.subject, "Not theirs", "the failed one waits for its retry");
    store.mail_not_delivered(stranger.id, "refused", None, NOW).await.unwrap();
    assert_eq!(store.claim_mail(at(29), at(149)).await.unwrap(), None);
    let retried = store.claim_mail(at(30), at(150)).await.unwrap().unwrap();
    assert_eq!(
        (retried.id, retried.attempts, retried.last_error.as_deref()),
        (first.id, 2, Some("connection refused"))
    );
    store.mail_not_delivered(retried.id, "still refused", None, at(31)).await.unwrap();
    assert_eq!(store.outbox_counts().await.unwrap(), (0, 2));
    let shown = store.undelivered_mail(admin.account_id, 10).await.unwrap();
    assert_eq!(shown.len(), 1, "only the account's own users' mail");
    assert_eq!(
        (shown[0].message.subject.as_str(), shown[0].last_error.as_deref()),
        ("Your link", Some("still refused"))
    );
    assert!(store.find_user(user.id).await.unwrap().is_some());
}

contract!(
    a_queued_message_is_claimed_by_one_worker_and_delivered_once,
    a_failed_message_waits_for_its_retry_then_is_given_up_and_shown_to_its_account,
);
