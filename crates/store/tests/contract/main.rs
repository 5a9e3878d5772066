//! The store contract: every case runs against SQLite and against PostgreSQL (a fresh database per
//! test, created from `KEYWARD_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Declares contract cases, each an `async fn(&TestDb)`, and runs each against both backends.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = crate::harness::sqlite().await;
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = crate::harness::postgres().await else { return };
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

mod harness;

mod accounts;
mod at_rest;
mod audit;
mod clients;
mod concurrency;
mod disable;
mod factors;
mod invitations;
mod outbox;
mod sealed;
mod security_keys;
mod sessions;
mod throttle;
mod tls;
mod unit_of_work;
