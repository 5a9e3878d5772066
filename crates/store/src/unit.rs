//! The unit of work: one transaction that every store call of a use case goes through, so that the
//! change, its audit event and its e-mails are committed together or not at all.
//!
//! The open transaction is kept in a task-local while the work runs; [`with_pool!`](crate::with_pool)
//! sends each statement of this task to it. On SQLite the transaction begins `IMMEDIATE`, taking the write
//! lock at once, so two units never deadlock upgrading a read to a write; PostgreSQL's row locks and the
//! single conditional updates keep their meaning inside it.

use std::future::Future;
use std::sync::Arc;

use keyward_core::store::{StoreError, StoreResult, UnitOfWork};
use sqlx::{Postgres, Sqlite, Transaction};
use tokio::sync::Mutex;

use crate::{Pool, SqlStore, backend};

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
        let unit: Unit = Arc::new(Mutex::new(Some(open)));
        let result = UNIT.scope(Arc::clone(&unit), work).await;
        let open = unit.lock().await.take();
        match (result, open) {
            (Ok(value), Some(open)) => {
                commit(open).await?;
                Ok(value)
            }
            (Ok(_), None) => Err(finished().into()),
            // Dropping the transaction rolls it back.
            (Err(error), _) => Err(error),
        }
    }
}

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
