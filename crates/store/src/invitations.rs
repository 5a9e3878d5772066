//! E-mailed links. Using one is a single conditional update (`close_invitation`), so a link works once
//! even when two nodes receive it at the same moment.

use keyward_core::UnixTime;
use keyward_core::ids::{InvitationId, UserId};
use keyward_core::invitation::{Invitation, Purpose};
use keyward_core::store::{InvitationStore, StoreError, StoreResult};
use keyward_core::token::TokenHash;

use crate::{SqlStore, backend, hash32, read_pool, seconds, time, unique, with_pool};

#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: i64,
    user_id: i64,
    purpose: String,
    token_hash: Vec<u8>,
    created_at: i64,
    expires_at: i64,
    closed_at: Option<i64>,
}

impl InvitationRow {
    fn into_invitation(self) -> StoreResult<Invitation> {
        Ok(Invitation {
            id: InvitationId(self.id),
            user_id: UserId(self.user_id),
            purpose: Purpose::parse(&self.purpose)?,
            token_hash: TokenHash(hash32(&self.token_hash)?),
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
            closed_at: self.closed_at.map(time).transpose()?,
        })
    }
}

/// The columns [`InvitationRow`] reads, as a literal so that every statement is a `&'static str`.
macro_rules! invitation_columns {
    () => {
        "id, user_id, purpose, token_hash, created_at, expires_at, closed_at"
    };
}

const INSERT_INVITATION: &str = concat!(
    "INSERT INTO invitations (user_id, purpose, token_hash, created_at, expires_at) ",
    "VALUES ($1, $2, $3, $4, $5) RETURNING ",
    invitation_columns!()
);

const FIND_OPEN_INVITATION: &str = concat!(
    "SELECT ",
    invitation_columns!(),
    " FROM invitations WHERE token_hash = $1 AND closed_at IS NULL AND expires_at > $2"
);

const LATEST_INVITATION: &str = concat!(
    "SELECT ",
    invitation_columns!(),
    " FROM invitations WHERE user_id = $1 AND purpose = $2 ORDER BY created_at DESC, id DESC LIMIT 1"
);

impl InvitationStore for SqlStore {
    async fn insert_invitation(
        &self,
        user_id: UserId,
        purpose: Purpose,
        token_hash: &TokenHash,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<Invitation> {
        let row: InvitationRow = with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(backend)?;
            // Lock the user's row first (a no-op write), so that two links sent for the same user at the
            // same moment are stored one after the other and the second voids the first: without it, on
            // PostgreSQL neither transaction would see the other's new row and both links would stay open.
            // It also tells a missing user apart from a backend failure.
            let locked = sqlx::query("UPDATE users SET role = role WHERE id = $1")
                .bind(user_id.0)
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected();
            if locked == 0 {
                return Err(StoreError::Missing("the user"));
            }
            sqlx::query(
                "UPDATE invitations SET closed_at = $1 \
                 WHERE user_id = $2 AND purpose = $3 AND closed_at IS NULL",
            )
            .bind(seconds(now))
            .bind(user_id.0)
            .bind(purpose.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            let row = sqlx::query_as(INSERT_INVITATION)
                .bind(user_id.0)
                .bind(purpose.as_str())
                .bind(token_hash.0.as_slice())
                .bind(seconds(now))
                .bind(seconds(expires_at))
                .fetch_one(&mut *tx)
                .await
                .map_err(unique("that link token"))?;
            tx.commit().await.map_err(backend)?;
            row
        });
        row.into_invitation()
    }

    async fn find_open_invitation(
        &self,
        token_hash: &TokenHash,
        now: UnixTime,
    ) -> StoreResult<Option<Invitation>> {
        let row: Option<InvitationRow> = read_pool!(self, pool => {
            sqlx::query_as(FIND_OPEN_INVITATION)
                .bind(token_hash.0.as_slice())
                .bind(seconds(now))
                .fetch_optional(pool)
                .await
                .map_err(backend)?
        });
        row.map(InvitationRow::into_invitation).transpose()
    }

    async fn close_invitation(&self, id: InvitationId, now: UnixTime) -> StoreResult<bool> {
        let sql =
            "UPDATE invitations SET closed_at = $1 WHERE id = $2 AND closed_at IS NULL AND expires_at > $1";
        let updated = with_pool!(self, pool => {
            sqlx::query(sql).bind(seconds(now)).bind(id.0).execute(pool).await.map_err(backend)?.rows_affected()
        });
        Ok(updated == 1)
    }

    async fn void_open_invitations(&self, user_id: UserId, now: UnixTime) -> StoreResult<u64> {
        let sql = "UPDATE invitations SET closed_at = $1 WHERE user_id = $2 AND closed_at IS NULL";
        Ok(with_pool!(self, pool => {
            sqlx::query(sql).bind(seconds(now)).bind(user_id.0).execute(pool).await.map_err(backend)?.rows_affected()
        }))
    }

    async fn latest_invitation(&self, user_id: UserId, purpose: Purpose) -> StoreResult<Option<Invitation>> {
        let row: Option<InvitationRow> = with_pool!(self, pool => {
            sqlx::query_as(LATEST_INVITATION)
                .bind(user_id.0)
                .bind(purpose.as_str())
                .fetch_optional(pool)
                .await
                .map_err(backend)?
        });
        row.map(InvitationRow::into_invitation).transpose()
    }
}
