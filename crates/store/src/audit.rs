//! The audit log: each event carries the hash of the one before. Appends are serialised by updating the
//! single `audit_head` row first, which takes SQLite's write lock or PostgreSQL's row lock for the rest of
//! the transaction, so two nodes can never chain onto the same predecessor.

use keyward_core::audit::{AuditEvent, NewAuditEvent};
use keyward_core::ids::AccountId;
use keyward_core::store::{AuditLog, AuditQuery, AuditStore, StoreError, StoreResult};

use crate::{SqlStore, backend, hash32, seconds, time, with_pool};

#[derive(sqlx::FromRow)]
struct HeadRow {
    seq: i64,
    hash: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    at: i64,
    actor: String,
    target: String,
    action: String,
    ip: Option<String>,
    detail: String,
    account_id: Option<i64>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

fn sequence(seq: i64) -> StoreResult<u64> {
    u64::try_from(seq)
        .map_err(|_| StoreError::Corrupt(keyward_core::Error::CorruptRecord(format!("audit seq {seq}"))))
}

impl EventRow {
    fn into_event(self) -> StoreResult<AuditEvent> {
        Ok(AuditEvent {
            seq: sequence(self.seq)?,
            at: time(self.at)?,
            actor: self.actor,
            target: self.target,
            action: self.action,
            ip: self.ip,
            detail: self.detail,
            account: self.account_id.map(AccountId),
            prev_hash: hash32(&self.prev_hash)?,
            hash: hash32(&self.hash)?,
        })
    }
}

macro_rules! event_columns {
    () => {
        "seq, at, actor, target, action, ip, detail, account_id, prev_hash, hash"
    };
}

impl AuditStore for SqlStore {
    async fn append_audit(&self, event: NewAuditEvent) -> StoreResult<AuditEvent> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(backend)?;
            let head: HeadRow = sqlx::query_as(
                "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash",
            )
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
            let chained = AuditEvent::chain(event, sequence(head.seq)?, hash32(&head.hash)?);
            sqlx::query(
                "INSERT INTO audit_events (seq, at, actor, target, action, ip, detail, account_id, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(head.seq)
            .bind(seconds(chained.at))
            .bind(&chained.actor)
            .bind(&chained.target)
            .bind(&chained.action)
            .bind(&chained.ip)
            .bind(&chained.detail)
            .bind(chained.account.map(|id| id.0))
            .bind(chained.prev_hash.as_slice())
            .bind(chained.hash.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
                .bind(chained.hash.as_slice())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            Ok(chained)
        })
    }

    async fn audit_log(&self) -> StoreResult<AuditLog> {
        let events_sql = concat!("SELECT ", event_columns!(), " FROM audit_events ORDER BY seq");
        let head_sql = "SELECT seq, hash FROM audit_head WHERE id = 1";
        // One read transaction: SQLite's WAL gives it a snapshot at its first read; PostgreSQL needs
        // REPEATABLE READ for both statements to see the same snapshot.
        let (rows, head): (Vec<EventRow>, Option<HeadRow>) = match &self.pool {
            crate::Pool::Sqlite(pool) => {
                let mut tx = pool.begin().await.map_err(backend)?;
                let head = sqlx::query_as(head_sql).fetch_optional(&mut *tx).await.map_err(backend)?;
                let rows = sqlx::query_as(events_sql).fetch_all(&mut *tx).await.map_err(backend)?;
                tx.commit().await.map_err(backend)?;
                (rows, head)
            }
            crate::Pool::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(backend)?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                let head = sqlx::query_as(head_sql).fetch_optional(&mut *tx).await.map_err(backend)?;
                let rows = sqlx::query_as(events_sql).fetch_all(&mut *tx).await.map_err(backend)?;
                tx.commit().await.map_err(backend)?;
                (rows, head)
            }
        };
        Ok(AuditLog {
            events: rows.into_iter().map(EventRow::into_event).collect::<StoreResult<_>>()?,
            head: head
                .map(|head| Ok::<_, StoreError>((sequence(head.seq)?, hash32(&head.hash)?)))
                .transpose()?,
        })
    }

    async fn account_audit(&self, account_id: AccountId, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let sql = concat!(
            "SELECT ",
            event_columns!(),
            " FROM audit_events WHERE account_id = $1 ",
            "AND ($2 IS NULL OR target = $2 OR target LIKE $3 OR actor LIKE $3) ",
            "AND ($4 IS NULL OR substr(action, 1, length($4)) = $4) ",
            "AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6) AND ($7 IS NULL OR seq < $7) ",
            "ORDER BY seq DESC LIMIT $8"
        );
        let user = query.user.map(|id| format!("user:{id}"));
        let rows: Vec<EventRow> = with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(account_id.0)
                .bind(user.clone())
                .bind(user.as_ref().map(|user| format!("{user}:%")))
                .bind(query.action.clone())
                .bind(query.from.map(seconds))
                .bind(query.until.map(seconds))
                .bind(query.before.map(|seq| i64::try_from(seq).unwrap_or(i64::MAX)))
                .bind(i64::from(query.limit))
                .fetch_all(pool)
                .await
                .map_err(backend)?
        });
        rows.into_iter().map(EventRow::into_event).collect()
    }
}
