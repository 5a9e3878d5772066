//! The unit of work: one transaction that every store call of a use case goes through, so that the
//! change, its audit event and its e-mails are committed together or not at all.
//!
//! The open transaction is kept in a task-local while the work runs; [`with_pool!`](crate::with_pool)
//! sends each statement of this task to it. On SQLite the transaction begins `IMMEDIATE`, taking the write
//! lock at once, so two units never deadlock upgrading a read to a write; PostgreSQL's row locks and the
//! single conditional updates keep their meaning inside it.
//!
//! Each unit logs `BEGIN`, then `COMMIT` or `ROLLBACK`, at debug level (target `keyward_store::unit`), so
//! the load generator can count transactions beside sqlx's statements.

use std::future::Future;
use std::sync::Arc;

use keyward_core::ids::UserId;
use keyward_core::store::{StoreError, StoreResult, UnitOfWork};
use sqlx::{Postgres, Sqlite, Transaction};
use tokio::sync::Mutex;

use crate::{Pool, SqlStore, backend, with_pool};

/// The transaction of a unit of work, on either backend.
pub(crate) enum Open {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

type Unit = Arc<Mutex<Option<Open>>>;

tokio::task_local! {
    static UNIT: Unit;
}

/// The unit of work this task is in, if any.
pub(crate) fn current() -> Option<Unit> {
    UNIT.try_with(Arc::clone).ok()
}

/// A statement after its unit was committed or rolled back: a bug in how the work was awaited.
pub(crate) fn finished() -> StoreError {
    StoreError::Backend("a statement ran after its unit of work ended".into())
}

impl UnitOfWork for SqlStore {
    async fn atomically<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send,
        E: From<StoreError> + Send,
        F: Future<Output = Result<T, E>> + Send,
    {
        // Inside a unit already: the work joins it.
        if current().is_some() {
            return work.await;
        }
        let open = begin(&self.pool).await?;
        tracing::debug!("BEGIN");
        let unit: Unit = Arc::new(Mutex::new(Some(open)));
        let result = UNIT.scope(Arc::clone(&unit), work).await;
        let open = unit.lock().await.take();
        match (result, open) {
            (Ok(value), Some(open)) => {
                commit(open).await?;
                tracing::debug!("COMMIT");
                Ok(value)
            }
            (Ok(_), None) => Err(finished().into()),
            // Dropping the transaction rolls it back.
            (Err(error), _) => {
                tracing::debug!("ROLLBACK");
                Err(error)
            }
        }
    }

    async fn checking_user<T, E, F>(&self, user_id: UserId, work: F) -> Result<T, E>
    where
        T: Send,
        E: From<StoreError> + Send,
        F: Future<Output = Result<T, E>> + Send,
    {
        match &self.pool {
            Pool::Postgres(_) => {
                self.atomically(async {
                    self.lock_user(user_id).await.map_err(E::from)?;
                    work.await
                })
                .await
            }
            // A unit on SQLite began IMMEDIATE: it holds the database's write lock already.
            Pool::Sqlite(_) if current().is_some() => work.await,
            Pool::Sqlite(_) => {
                let shard = usize::try_from(user_id.0.rem_euclid(CHECK_LOCKS as i64)).unwrap_or_default();
                let _held = self.checks[shard].lock().await;
                work.await
            }
        }
    }
}

impl SqlStore {
    /// Takes the advisory lock on a user for the rest of this task's unit of work (PostgreSQL).
    async fn lock_user(&self, user_id: UserId) -> StoreResult<()> {
        with_pool!(self, pool => {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('keyward:user-checks:' || $1, 0))")
                .bind(user_id.0.to_string())
                .execute(pool)
                .await
                .map_err(backend)?;
        });
        Ok(())
    }
}

/// The in-process locks of [`UnitOfWork::checking_user`] on SQLite: users share one by their id's
/// remainder, which only ever makes two users' checks wait for each other, never lets one user's overlap.
pub(crate) const CHECK_LOCKS: usize = 1024;

async fn begin(pool: &Pool) -> StoreResult<Open> {
    Ok(match pool {
        Pool::Sqlite(pool) => Open::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?),
        Pool::Postgres(pool) => Open::Postgres(pool.begin().await.map_err(backend)?),
    })
}

async fn commit(open: Open) -> StoreResult<()> {
    match open {
        Open::Sqlite(tx) => tx.commit().await.map_err(backend),
        Open::Postgres(tx) => tx.commit().await.map_err(backend),
    }
}
