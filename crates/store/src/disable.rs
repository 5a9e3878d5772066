//! Lost-device requests. Deciding one is a single conditional update, so two operators acting on the
//! same request at once cannot both decide it.

use keyward_core::UnixTime;
use keyward_core::disable::{Approval, Decision, DisableRequest};
use keyward_core::ids::{AccountId, DisableRequestId, UserId};
use keyward_core::store::{DisableRequestStore, StoreResult};

use crate::{SqlStore, backend, seconds, time, unique, with_pool};

#[derive(sqlx::FromRow)]
struct DisableRequestRow {
    id: i64,
    user_id: i64,
    opened_by: i64,
    reason: String,
    contact: String,
    state: String,
    decided_by: Option<i64>,
    decided_how: Option<String>,
    decided_at: Option<i64>,
    created_at: i64,
}

impl DisableRequestRow {
    fn into_request(self) -> StoreResult<DisableRequest> {
        let decision = Decision::from_columns(
            &self.state,
            self.decided_by.map(UserId),
            self.decided_how,
            self.decided_at.map(time).transpose()?,
        )?;
        Ok(DisableRequest {
            id: DisableRequestId(self.id),
            user_id: UserId(self.user_id),
            opened_by: UserId(self.opened_by),
            reason: self.reason,
            contact: self.contact,
            decision,
            created_at: time(self.created_at)?,
        })
    }
}

/// The columns [`DisableRequestRow`] reads, as a literal so that every statement is a `&'static str`.
macro_rules! disable_request_columns {
    () => {
        "id, user_id, opened_by, reason, contact, state, decided_by, decided_how, decided_at, created_at"
    };
}

const INSERT_DISABLE_REQUEST: &str = concat!(
    "INSERT INTO disable_requests (user_id, opened_by, reason, contact, state, created_at) ",
    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
    disable_request_columns!()
);

const FIND_DISABLE_REQUEST: &str =
    concat!("SELECT ", disable_request_columns!(), " FROM disable_requests WHERE id = $1");

const OPEN_DISABLE_REQUESTS: &str = concat!(
    "SELECT ",
    disable_request_columns!(),
    " FROM disable_requests WHERE state = $1 AND created_at > $2 ORDER BY created_at, id"
);

const ACCOUNT_DISABLE_REQUESTS: &str = concat!(
    "SELECT ",
    disable_request_columns!(),
    " FROM disable_requests WHERE user_id IN (SELECT id FROM users WHERE account_id = $1) ",
    "ORDER BY created_at DESC, id DESC"
);

#[derive(sqlx::FromRow)]
struct ApprovalRow {
    operator_id: i64,
    contacted: String,
    channel: String,
    confirmed: String,
    at: i64,
}

impl DisableRequestStore for SqlStore {
    async fn insert_disable_request(
        &self,
        user_id: UserId,
        opened_by: UserId,
        reason: &str,
        contact: &str,
        now: UnixTime,
    ) -> StoreResult<DisableRequest> {
        let row: DisableRequestRow = with_pool!(self, pool => {
            sqlx::query_as(INSERT_DISABLE_REQUEST)
                .bind(user_id.0)
                .bind(opened_by.0)
                .bind(reason)
                .bind(contact)
                .bind(Decision::Open.state())
                .bind(seconds(now))
                .fetch_one(pool)
                .await
                // No unique column: this only turns an unknown user into `Missing`.
                .map_err(unique("that disable request"))?
        });
        row.into_request()
    }

    async fn find_disable_request(&self, id: DisableRequestId) -> StoreResult<Option<DisableRequest>> {
        let row: Option<DisableRequestRow> = with_pool!(self, pool => {
            sqlx::query_as(FIND_DISABLE_REQUEST).bind(id.0).fetch_optional(pool).await.map_err(backend)?
        });
        row.map(DisableRequestRow::into_request).transpose()
    }

    async fn open_disable_requests(&self, opened_after: UnixTime) -> StoreResult<Vec<DisableRequest>> {
        let rows: Vec<DisableRequestRow> = with_pool!(self, pool => {
            sqlx::query_as(OPEN_DISABLE_REQUESTS)
                .bind(Decision::Open.state())
                .bind(seconds(opened_after))
                .fetch_all(pool)
                .await
                .map_err(backend)?
        });
        rows.into_iter().map(DisableRequestRow::into_request).collect()
    }

    async fn account_disable_requests(&self, account_id: AccountId) -> StoreResult<Vec<DisableRequest>> {
        let rows: Vec<DisableRequestRow> = with_pool!(self, pool => {
            sqlx::query_as(ACCOUNT_DISABLE_REQUESTS).bind(account_id.0).fetch_all(pool).await.map_err(backend)?
        });
        rows.into_iter().map(DisableRequestRow::into_request).collect()
    }

    async fn add_disable_approval(&self, id: DisableRequestId, approval: &Approval) -> StoreResult<bool> {
        let sql = "INSERT INTO disable_approvals (request_id, operator_id, contacted, channel, confirmed, at) \
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id, operator_id) DO NOTHING";
        let inserted = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(id.0)
                .bind(approval.operator.0)
                .bind(&approval.contacted)
                .bind(&approval.channel)
                .bind(&approval.confirmed)
                .bind(seconds(approval.at))
                .execute(pool)
                .await
                .map_err(unique("that approval"))?
                .rows_affected()
        });
        Ok(inserted == 1)
    }

    async fn disable_approvals(&self, id: DisableRequestId) -> StoreResult<Vec<Approval>> {
        let sql = "SELECT operator_id, contacted, channel, confirmed, at FROM disable_approvals \
                   WHERE request_id = $1 ORDER BY at, operator_id";
        let rows: Vec<ApprovalRow> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(id.0).fetch_all(pool).await.map_err(backend)?
        });
        rows.into_iter()
            .map(|row| {
                Ok(Approval {
                    operator: UserId(row.operator_id),
                    contacted: row.contacted,
                    channel: row.channel,
                    confirmed: row.confirmed,
                    at: time(row.at)?,
                })
            })
            .collect()
    }

    async fn decide_disable_request(
        &self,
        id: DisableRequestId,
        decision: &Decision,
        opened_after: UnixTime,
    ) -> StoreResult<bool> {
        let (by, how, at) = match decision {
            Decision::Approved { by, how, at } | Decision::Denied { by, how, at } => (by, how, at),
            // "Open" is not a decision: nothing is recorded.
            Decision::Open => return Ok(false),
        };
        let sql = "UPDATE disable_requests SET state = $1, decided_by = $2, decided_how = $3, decided_at = $4 \
                   WHERE id = $5 AND state = $6 AND created_at > $7";
        let updated = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(decision.state())
                .bind(by.0)
                .bind(how.as_str())
                .bind(seconds(*at))
                .bind(id.0)
                .bind(Decision::Open.state())
                .bind(seconds(opened_after))
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        Ok(updated == 1)
    }
}
