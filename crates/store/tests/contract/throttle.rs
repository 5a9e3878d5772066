//! Throttle state: compare-and-swap semantics.

use keyward_core::UnixTime;
use keyward_core::store::ThrottleStore;
use keyward_core::throttle::{Admission, ThrottlePolicy, ThrottleState, admit};

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
            admit(store, "otp:user:7", ThrottlePolicy::OTP, NOW).await.unwrap(),
            Admission::Admit(_)
        ));
    }
    assert_eq!(admit(store, "otp:user:7", ThrottlePolicy::OTP, NOW).await.unwrap(), Admission::Wait(30));
    let later = UnixTime(NOW.0 + 30);
    assert!(matches!(
        admit(store, "otp:user:7", ThrottlePolicy::OTP, later).await.unwrap(),
        Admission::Admit(_)
    ));
    assert_eq!(admit(store, "otp:user:7", ThrottlePolicy::OTP, later).await.unwrap(), Admission::Wait(60));
}

contract!(throttle_state_is_swapped_only_from_what_was_read, the_otp_policy_makes_a_guesser_wait);
