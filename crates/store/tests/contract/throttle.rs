//! Throttle state: compare-and-swap semantics.

use keyward_core::UnixTime;
use keyward_core::store::ThrottleStore;
use keyward_core::throttle::{Admission, ThrottlePolicy, ThrottleState, admit, admit_all, refund_all};

use crate::harness::{NOW, TestDb};

async fn throttle_state_is_swapped_only_from_what_was_read(db: &TestDb) {
    let store = &db.store;
    let first = ThrottleState { attempts: 1, last_at: NOW };
    assert_eq!(store.throttle_state("k").await.unwrap(), None);
    assert!(store.swap_throttle("k", None, first).await.unwrap());
    assert!(!store.swap_throttle("k", None, first).await.unwrap(), "someone else created it first");
    let second = ThrottleState { attempts: 2, last_at: UnixTime(NOW.0 + 1) };
    assert!(store.swap_throttle("k", Some(first), second).await.unwrap());
    assert!(!store.swap_throttle("k", Some(first), second).await.unwrap(), "the state moved on");
    assert_eq!(store.throttle_state("k").await.unwrap(), Some(second));
    assert_eq!(store.throttle_state("other").await.unwrap(), None);
    store.clear_throttle("k").await.unwrap();
    assert_eq!(store.throttle_state("k").await.unwrap(), None);
}

async fn the_otp_policy_makes_a_guesser_wait(db: &TestDb) {
    let store = &db.store;
    for _ in 0..3 {
        assert!(matches!(
            admit(store, "otp:user:7", ThrottlePolicy::OTP_KNOWN_BROWSER, NOW).await.unwrap(),
            Admission::Admit(_)
        ));
    }
    assert_eq!(
        admit(store, "otp:user:7", ThrottlePolicy::OTP_KNOWN_BROWSER, NOW).await.unwrap(),
        Admission::Wait(30)
    );
    let later = UnixTime(NOW.0 + 30);
    assert!(matches!(
        admit(store, "otp:user:7", ThrottlePolicy::OTP_KNOWN_BROWSER, later).await.unwrap(),
        Admission::Admit(_)
    ));
    assert_eq!(
        admit(store, "otp:user:7", ThrottlePolicy::OTP_KNOWN_BROWSER, later).await.unwrap(),
        Admission::Wait(60)
    );
}

async fn budgets_are_spent_together_and_successes_give_back(db: &TestDb) {
    let store = &db.store;
    let strict = ThrottlePolicy { free: 1, base_wait: 60, max_wait: 900, forget_every: 900 };
    let budgets = [("a", strict), ("b", ThrottlePolicy::PASSWORD_ADDRESS)];
    let attempts =
        |key: &'static str| async move { store.throttle_state(key).await.unwrap().map(|s| s.attempts) };
    assert!(admit_all(store, &budgets, NOW).await.unwrap().is_ok());
    assert_eq!(admit_all(store, &budgets, NOW).await.unwrap(), Err(60), "the strict budget refuses");
    assert_eq!(attempts("b").await, Some(1), "the refused attempt spent nothing from the other budget");
    refund_all(store, &budgets).await.unwrap();
    assert_eq!((attempts("a").await, attempts("b").await), (Some(0), Some(0)), "a success gives back");
    assert!(admit_all(store, &budgets, NOW).await.unwrap().is_ok(), "and the next attempt goes ahead");
}

contract!(
    throttle_state_is_swapped_only_from_what_was_read,
    the_otp_policy_makes_a_guesser_wait,
    budgets_are_spent_together_and_successes_give_back
);
