//! Login sessions, keyed by the hash of their id. A session changes id at login's second step and at
//! each step-up (`rotate_session`), so an id seen before the change is worth nothing after it.

use keyward_core::UnixTime;
use keyward_core::ids::UserId;
use keyward_core::session::{RememberedBrowser, Session, SignIn, Stage};
use keyward_core::store::{SessionStore, StoreResult};
use keyward_core::token::TokenHash;

use crate::{SqlStore, backend, hash32, read_pool, seconds, time, unique, with_pool};

#[derive(sqlx::FromRow)]
struct SessionRow {
    id_hash: Vec<u8>,
    user_id: i64,
    stage: String,
    created_at: i64,
    last_seen_at: i64,
    second_factor_at: Option<i64>,
}

impl SessionRow {
    fn into_session(self) -> StoreResult<Session> {
        Ok(Session {
            id_hash: TokenHash(hash32(&self.id_hash)?),
            user_id: UserId(self.user_id),
            stage: Stage::parse(&self.stage)?,
            created_at: time(self.created_at)?,
            last_seen_at: time(self.last_seen_at)?,
            second_factor_at: self.second_factor_at.map(time).transpose()?,
        })
    }
}

/// The columns [`SessionRow`] reads, as a literal so that every statement is a `&'static str`.
macro_rules! session_columns {
    () => {
        "id_hash, user_id, stage, created_at, last_seen_at, second_factor_at"
    };
}

const INSERT_SESSION: &str =
    concat!("INSERT INTO sessions (", session_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6)");

const FIND_SESSION: &str = concat!("SELECT ", session_columns!(), " FROM sessions WHERE id_hash = $1");

/// What a rotated session keeps from the one it replaces.
#[derive(sqlx::FromRow)]
struct Kept {
    user_id: i64,
    created_at: i64,
}

impl SessionStore for SqlStore {
    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        with_pool!(self, pool => {
            sqlx::query(INSERT_SESSION)
                .bind(session.id_hash.0.as_slice())
                .bind(session.user_id.0)
                .bind(session.stage.as_str())
                .bind(seconds(session.created_at))
                .bind(seconds(session.last_seen_at))
                .bind(session.second_factor_at.map(seconds))
                .execute(pool)
                .await
                .map_err(unique("that session id"))?;
        });
        Ok(())
    }

    async fn find_session(&self, id_hash: &TokenHash) -> StoreResult<Option<Session>> {
        let row: Option<SessionRow> = read_pool!(self, pool => {
            sqlx::query_as(FIND_SESSION).bind(id_hash.0.as_slice()).fetch_optional(pool).await.map_err(backend)?
        });
        row.map(SessionRow::into_session).transpose()
    }

    async fn touch_session(&self, id_hash: &TokenHash, now: UnixTime) -> StoreResult<()> {
        // Never moves backwards: a request that started earlier on another node must not undo a later touch.
        // A session that is gone (logged out meanwhile) is not an error: there is nothing to keep alive.
        let sql = "UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2 AND last_seen_at < $1";
        with_pool!(self, pool => {
            sqlx::query(sql).bind(seconds(now)).bind(id_hash.0.as_slice()).execute(pool).await.map_err(backend)?;
        });
        Ok(())
    }

    async fn rotate_session(
        &self,
        old: &TokenHash,
        new: &TokenHash,
        stage: Stage,
        second_factor_at: Option<UnixTime>,
        now: UnixTime,
    ) -> StoreResult<bool> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(backend)?;
            // The delete is the claim: of two rotations of the same session, the second finds no row.
            let kept: Option<Kept> =
                sqlx::query_as("DELETE FROM sessions WHERE id_hash = $1 RETURNING user_id, created_at")
                    .bind(old.0.as_slice())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
            let Some(kept) = kept else {
                return Ok(false);
            };
            sqlx::query(INSERT_SESSION)
                .bind(new.0.as_slice())
                .bind(kept.user_id)
                .bind(stage.as_str())
                .bind(kept.created_at)
                .bind(seconds(now))
                .bind(second_factor_at.map(seconds))
                .execute(&mut *tx)
                .await
                .map_err(unique("that session id"))?;
            tx.commit().await.map_err(backend)?;
            Ok(true)
        })
    }

    async fn delete_session(&self, id_hash: &TokenHash) -> StoreResult<()> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash.0.as_slice())
                .execute(pool)
                .await
                .map_err(backend)?;
        });
        Ok(())
    }

    async fn delete_sessions_of(&self, user_id: UserId, keep: Option<&TokenHash>) -> StoreResult<u64> {
        let deleted = with_pool!(self, pool => {
            match keep {
                Some(keep) => sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
                    .bind(user_id.0)
                    .bind(keep.0.as_slice())
                    .execute(pool)
                    .await,
                None => sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id.0).execute(pool).await,
            }
            .map_err(backend)?
            .rows_affected()
        });
        Ok(deleted)
    }

    async fn record_sign_in(&self, user_id: UserId, sign_in: &SignIn) -> StoreResult<()> {
        let sql = "INSERT INTO sign_ins (user_id, at, ip, factor, detail) VALUES ($1, $2, $3, $4, $5)";
        with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(user_id.0)
                .bind(seconds(sign_in.at))
                .bind(&sign_in.ip)
                .bind(&sign_in.factor)
                .bind(&sign_in.detail)
                .execute(pool)
                .await
                .map_err(unique("that sign-in"))?;
        });
        Ok(())
    }

    async fn recent_sign_ins(&self, user_id: UserId, limit: u32) -> StoreResult<Vec<SignIn>> {
        let sql = "SELECT at, ip, factor, detail FROM sign_ins WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT $2";
        let rows: Vec<(i64, Option<String>, String, String)> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(user_id.0).bind(i64::from(limit)).fetch_all(pool).await.map_err(backend)?
        });
        rows.into_iter()
            .map(|(at, ip, factor, detail)| Ok(SignIn { at: time(at)?, ip, factor, detail }))
            .collect()
    }

    async fn remember_browser(&self, browser: &RememberedBrowser) -> StoreResult<()> {
        let sql = "INSERT INTO remembered_browsers (token_hash, user_id, proven_at, expires_at) VALUES ($1, $2, $3, $4)";
        with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(browser.token_hash.0.as_slice())
                .bind(browser.user_id.0)
                .bind(seconds(browser.proven_at))
                .bind(seconds(browser.expires_at))
                .execute(pool)
                .await
                .map_err(unique("that browser"))?;
        });
        Ok(())
    }

    async fn find_remembered_browser(
        &self,
        token_hash: &TokenHash,
    ) -> StoreResult<Option<RememberedBrowser>> {
        let sql = "SELECT user_id, proven_at, expires_at FROM remembered_browsers WHERE token_hash = $1";
        let row: Option<(i64, i64, i64)> = read_pool!(self, pool => {
            sqlx::query_as(sql).bind(token_hash.0.as_slice()).fetch_optional(pool).await.map_err(backend)?
        });
        row.map(|(user_id, proven_at, expires_at)| {
            Ok(RememberedBrowser {
                token_hash: *token_hash,
                user_id: UserId(user_id),
                proven_at: time(proven_at)?,
                expires_at: time(expires_at)?,
            })
        })
        .transpose()
    }

    async fn forget_browsers(&self, user_id: UserId) -> StoreResult<u64> {
        Ok(with_pool!(self, pool => {
            sqlx::query("DELETE FROM remembered_browsers WHERE user_id = $1")
                .bind(user_id.0)
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        }))
    }
}
