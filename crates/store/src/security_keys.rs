//! Security keys and passkeys (WebAuthn) and their ceremonies. Replay protection lives in two
//! conditional statements: `use_security_key` (the signature counter only rises) and `take_ceremony`
//! (a ceremony's state is deleted as it is read, so one answer finishes it once).

use keyward_core::UnixTime;
use keyward_core::factor::{CEREMONY_SECS, SecurityKey, SecurityKeyName};
use keyward_core::ids::{FactorId, UserId};
use keyward_core::ports::NewCredential;
use keyward_core::store::{SecurityKeyStore, StoreError, StoreResult};
use keyward_core::token::TokenHash;

use crate::{SqlStore, backend, read_pool, seconds, time, unique, with_pool};

#[derive(sqlx::FromRow)]
struct SecurityKeyRow {
    id: i64,
    user_id: i64,
    name: String,
    credential_id: Vec<u8>,
    stored: String,
    counter: i64,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl SecurityKeyRow {
    fn into_key(self) -> StoreResult<SecurityKey> {
        let counter = u32::try_from(self.counter).map_err(|_| {
            StoreError::Corrupt(keyward_core::Error::CorruptRecord(format!("counter {}", self.counter)))
        })?;
        Ok(SecurityKey {
            id: FactorId(self.id),
            user_id: UserId(self.user_id),
            name: SecurityKeyName::parse(&self.name)?,
            credential_id: self.credential_id,
            stored: self.stored,
            counter,
            created_at: time(self.created_at)?,
            last_used_at: self.last_used_at.map(time).transpose()?,
        })
    }
}

macro_rules! columns {
    () => {
        "id, user_id, name, credential_id, stored, counter, created_at, last_used_at"
    };
}

impl SecurityKeyStore for SqlStore {
    async fn insert_security_key(
        &self,
        user_id: UserId,
        name: &SecurityKeyName,
        credential: &NewCredential,
        now: UnixTime,
    ) -> StoreResult<SecurityKey> {
        let sql = concat!(
            "INSERT INTO security_keys (user_id, name, credential_id, stored, counter, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
            columns!()
        );
        let row: SecurityKeyRow = with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(user_id.0)
                .bind(name.as_str())
                .bind(credential.id.as_slice())
                .bind(credential.stored.as_str())
                .bind(i64::from(credential.counter))
                .bind(seconds(now))
                .fetch_one(pool)
                .await
                .map_err(unique("this security key"))?
        });
        row.into_key()
    }

    async fn security_keys_of(&self, user_id: UserId) -> StoreResult<Vec<SecurityKey>> {
        let sql = concat!("SELECT ", columns!(), " FROM security_keys WHERE user_id = $1 ORDER BY id");
        let rows: Vec<SecurityKeyRow> = read_pool!(self, pool => {
            sqlx::query_as(sql).bind(user_id.0).fetch_all(pool).await.map_err(backend)?
        });
        rows.into_iter().map(SecurityKeyRow::into_key).collect()
    }

    async fn use_security_key(&self, id: FactorId, counter: u32, now: UnixTime) -> StoreResult<bool> {
        let sql = "UPDATE security_keys SET counter = $1, last_used_at = $2 \
                   WHERE id = $3 AND (counter < $1 OR (counter = 0 AND $1 = 0))";
        let updated = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(i64::from(counter))
                .bind(seconds(now))
                .bind(id.0)
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        Ok(updated == 1)
    }

    async fn remove_security_key(&self, user_id: UserId, id: FactorId) -> StoreResult<bool> {
        let sql = "DELETE FROM security_keys WHERE id = $1 AND user_id = $2";
        let removed = with_pool!(self, pool => {
            sqlx::query(sql).bind(id.0).bind(user_id.0).execute(pool).await.map_err(backend)?.rows_affected()
        });
        Ok(removed == 1)
    }

    async fn insert_ceremony(
        &self,
        handle: &TokenHash,
        user_id: UserId,
        purpose: &str,
        state: &str,
        expires_at: UnixTime,
    ) -> StoreResult<()> {
        // `expires_at` is now plus the ceremony's lifetime: whatever expired before now goes.
        let now = seconds(expires_at).saturating_sub(i64::try_from(CEREMONY_SECS).unwrap_or(i64::MAX));
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(backend)?;
            sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at < $1")
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query(
                "INSERT INTO webauthn_ceremonies (handle_hash, user_id, purpose, state, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(handle.0.as_slice())
            .bind(user_id.0)
            .bind(purpose)
            .bind(state)
            .bind(seconds(expires_at))
            .execute(&mut *tx)
            .await
            .map_err(unique("this ceremony"))?;
            tx.commit().await.map_err(backend)?;
        });
        Ok(())
    }

    async fn take_ceremony(
        &self,
        handle: &TokenHash,
        user_id: UserId,
        purpose: &str,
        now: UnixTime,
    ) -> StoreResult<Option<String>> {
        let sql = "DELETE FROM webauthn_ceremonies \
                   WHERE handle_hash = $1 AND user_id = $2 AND purpose = $3 AND expires_at > $4 RETURNING state";
        let state: Option<(String,)> = with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(handle.0.as_slice())
                .bind(user_id.0)
                .bind(purpose)
                .bind(seconds(now))
                .fetch_optional(pool)
                .await
                .map_err(backend)?
        });
        Ok(state.map(|(state,)| state))
    }
}
