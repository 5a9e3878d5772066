//! TOTP factors, YubiKeys and recovery codes. Replay protection lives in two conditional updates:
//! `consume_totp_step` and `advance_yubikey`.

use keyward_core::UnixTime;
use keyward_core::factor::{RecoveryCode, TotpFactor, Yubikey};
use keyward_core::ids::{FactorId, UserId};
use keyward_core::otp::{Algorithm, Digits, TotpParams};
use keyward_core::seal::Sealed;
use keyward_core::store::{FactorStore, StoreError, StoreResult};
use keyward_core::token::TokenHash;
use keyward_core::yubico::{Position, PublicId};

use crate::{SqlStore, backend, hash32, read_pool, seconds, time, unique, with_pool};

#[derive(sqlx::FromRow)]
struct TotpRow {
    id: i64,
    user_id: i64,
    secret_key_id: String,
    secret_sealed: Vec<u8>,
    algorithm: String,
    digits: i64,
    period: i64,
    t0: i64,
    last_step: Option<i64>,
    clock_offset: i64,
    confirmed_at: Option<i64>,
    created_at: i64,
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(keyward_core::Error::CorruptRecord(what))
}

impl TotpRow {
    fn into_factor(self) -> StoreResult<TotpFactor> {
        let digits = u32::try_from(self.digits).map_err(|_| corrupt(format!("digits {}", self.digits)))?;
        let period = u64::try_from(self.period).map_err(|_| corrupt(format!("period {}", self.period)))?;
        let params = TotpParams::new(Algorithm::parse(&self.algorithm)?, Digits::new(digits)?, period)?
            .with_t0(time(self.t0)?);
        let last_step = self
            .last_step
            .map(|step| u64::try_from(step).map_err(|_| corrupt(format!("step {step}"))))
            .transpose()?;
        Ok(TotpFactor {
            id: FactorId(self.id),
            user_id: UserId(self.user_id),
            secret: Sealed { key_id: self.secret_key_id, ciphertext: self.secret_sealed },
            params,
            last_step,
            clock_offset: self.clock_offset,
            confirmed_at: self.confirmed_at.map(time).transpose()?,
            created_at: time(self.created_at)?,
        })
    }
}

macro_rules! totp_columns {
    () => {
        "id, user_id, secret_key_id, secret_sealed, algorithm, digits, period, t0, last_step, clock_offset, \
         confirmed_at, created_at"
    };
}

#[derive(sqlx::FromRow)]
struct YubikeyRow {
    id: i64,
    public_id: String,
    user_id: Option<i64>,
    secret_key_id: Option<String>,
    secret_sealed: Option<Vec<u8>>,
    last_counter: Option<i64>,
    last_use: Option<i64>,
    imported_at: Option<i64>,
    registered_at: Option<i64>,
}

impl YubikeyRow {
    fn into_yubikey(self) -> StoreResult<Yubikey> {
        let secret = match (self.secret_key_id, self.secret_sealed) {
            (Some(key_id), Some(ciphertext)) => Some(Sealed { key_id, ciphertext }),
            _ => None,
        };
        let last_position = match (self.last_counter, self.last_use) {
            (Some(counter), Some(session_use)) => Some(Position {
                counter: u16::try_from(counter).map_err(|_| corrupt(format!("counter {counter}")))?,
                session_use: u8::try_from(session_use).map_err(|_| corrupt(format!("use {session_use}")))?,
            }),
            _ => None,
        };
        Ok(Yubikey {
            id: FactorId(self.id),
            public_id: PublicId::parse(&self.public_id)?,
            user_id: self.user_id.map(UserId),
            secret,
            last_position,
            imported_at: self.imported_at.map(time).transpose()?,
            registered_at: self.registered_at.map(time).transpose()?,
        })
    }
}

macro_rules! yubikey_columns {
    () => {
        "id, public_id, user_id, secret_key_id, secret_sealed, last_counter, last_use, imported_at, registered_at"
    };
}

#[derive(sqlx::FromRow)]
struct RecoveryRow {
    user_id: i64,
    code_hash: Vec<u8>,
    used_at: Option<i64>,
}

impl FactorStore for SqlStore {
    async fn insert_totp_factor(
        &self,
        user_id: UserId,
        secret: &Sealed,
        params: TotpParams,
        now: UnixTime,
    ) -> StoreResult<TotpFactor> {
        let insert = concat!(
            "INSERT INTO totp_factors (user_id, secret_key_id, secret_sealed, algorithm, digits, period, t0, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
            totp_columns!()
        );
        let row: TotpRow = with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(backend)?;
            sqlx::query("DELETE FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NULL")
                .bind(user_id.0)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            let row = sqlx::query_as(insert)
                .bind(user_id.0)
                .bind(&secret.key_id)
                .bind(&secret.ciphertext)
                .bind(params.algorithm.name())
                .bind(i64::from(params.digits.get()))
                .bind(i64::try_from(params.period()).unwrap_or(i64::MAX))
                .bind(seconds(params.t0()))
                .bind(seconds(now))
                .fetch_one(&mut *tx)
                .await
                .map_err(unique("the user"))?;
            tx.commit().await.map_err(backend)?;
            row
        });
        row.into_factor()
    }

    async fn totp_factors(&self, user_id: UserId) -> StoreResult<Vec<TotpFactor>> {
        let sql = concat!("SELECT ", totp_columns!(), " FROM totp_factors WHERE user_id = $1 ORDER BY id");
        let rows: Vec<TotpRow> = read_pool!(self, pool => {
            sqlx::query_as(sql).bind(user_id.0).fetch_all(pool).await.map_err(backend)?
        });
        rows.into_iter().map(TotpRow::into_factor).collect()
    }

    async fn consume_totp_step(
        &self,
        id: FactorId,
        step: u64,
        clock_offset: i64,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let step = i64::try_from(step).map_err(|_| corrupt(format!("step {step}")))?;
        let sql = "UPDATE totp_factors SET last_step = $1, clock_offset = $2, \
                   confirmed_at = COALESCE(confirmed_at, $3) \
                   WHERE id = $4 AND (last_step IS NULL OR last_step < $1)";
        let updated = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(step)
                .bind(clock_offset)
                .bind(seconds(now))
                .bind(id.0)
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        Ok(updated == 1)
    }

    async fn remove_other_totp_factors(&self, user_id: UserId, keep: FactorId) -> StoreResult<u64> {
        let removed = with_pool!(self, pool => {
            sqlx::query("DELETE FROM totp_factors WHERE user_id = $1 AND id <> $2")
                .bind(user_id.0)
                .bind(keep.0)
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        Ok(removed)
    }

    async fn import_yubikey(
        &self,
        public_id: &PublicId,
        secret: &Sealed,
        now: UnixTime,
    ) -> StoreResult<Yubikey> {
        let sql = concat!(
            "INSERT INTO yubikeys (public_id, secret_key_id, secret_sealed, imported_at) VALUES ($1, $2, $3, $4) \
             RETURNING ",
            yubikey_columns!()
        );
        let row: YubikeyRow = with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(public_id.as_str())
                .bind(&secret.key_id)
                .bind(&secret.ciphertext)
                .bind(seconds(now))
                .fetch_one(pool)
                .await
                .map_err(unique("that YubiKey"))?
        });
        row.into_yubikey()
    }

    async fn register_yubikey(
        &self,
        public_id: &PublicId,
        user_id: UserId,
        now: UnixTime,
    ) -> StoreResult<Yubikey> {
        // One statement: create the row of a YubiCloud key, or claim an imported key nobody holds.
        let sql = concat!(
            "INSERT INTO yubikeys (public_id, user_id, registered_at) VALUES ($1, $2, $3) \
             ON CONFLICT (public_id) DO UPDATE SET user_id = $2, registered_at = $3 \
             WHERE yubikeys.user_id IS NULL RETURNING ",
            yubikey_columns!()
        );
        let row: Option<YubikeyRow> = with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(public_id.as_str())
                .bind(user_id.0)
                .bind(seconds(now))
                .fetch_optional(pool)
                .await
                .map_err(unique("the user"))?
        });
        row.ok_or(StoreError::Duplicate("that YubiKey"))?.into_yubikey()
    }

    async fn find_yubikey(&self, public_id: &PublicId) -> StoreResult<Option<Yubikey>> {
        let sql = concat!("SELECT ", yubikey_columns!(), " FROM yubikeys WHERE public_id = $1");
        let row: Option<YubikeyRow> = read_pool!(self, pool => {
            sqlx::query_as(sql).bind(public_id.as_str()).fetch_optional(pool).await.map_err(backend)?
        });
        row.map(YubikeyRow::into_yubikey).transpose()
    }

    async fn yubikeys_of(&self, user_id: UserId) -> StoreResult<Vec<Yubikey>> {
        let sql =
            concat!("SELECT ", yubikey_columns!(), " FROM yubikeys WHERE user_id = $1 ORDER BY public_id");
        let rows: Vec<YubikeyRow> = read_pool!(self, pool => {
            sqlx::query_as(sql).bind(user_id.0).fetch_all(pool).await.map_err(backend)?
        });
        rows.into_iter().map(YubikeyRow::into_yubikey).collect()
    }

    async fn advance_yubikey(
        &self,
        id: FactorId,
        position: Position,
        nonce: Option<&str>,
    ) -> StoreResult<bool> {
        let sql = "UPDATE yubikeys SET last_counter = $1, last_use = $2, last_nonce = $4 WHERE id = $3 AND \
                   (last_counter IS NULL OR last_counter < $1 OR (last_counter = $1 AND last_use < $2))";
        let updated = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(i64::from(position.counter))
                .bind(i64::from(position.session_use))
                .bind(id.0)
                .bind(nonce)
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        Ok(updated == 1)
    }

    async fn is_repeated_request(&self, id: FactorId, position: Position, nonce: &str) -> StoreResult<bool> {
        let sql = "SELECT id FROM yubikeys \
                   WHERE id = $1 AND last_counter = $2 AND last_use = $3 AND last_nonce = $4";
        let found: Option<i64> = with_pool!(self, pool => {
            sqlx::query_scalar(sql)
                .bind(id.0)
                .bind(i64::from(position.counter))
                .bind(i64::from(position.session_use))
                .bind(nonce)
                .fetch_optional(pool)
                .await
                .map_err(backend)?
        });
        Ok(found.is_some())
    }

    async fn unregister_yubikey(&self, id: FactorId) -> StoreResult<bool> {
        let sql =
            "UPDATE yubikeys SET user_id = NULL, registered_at = NULL WHERE id = $1 AND user_id IS NOT NULL";
        let updated = with_pool!(self, pool => {
            sqlx::query(sql).bind(id.0).execute(pool).await.map_err(backend)?.rows_affected()
        });
        Ok(updated == 1)
    }

    async fn replace_recovery_codes(&self, user_id: UserId, hashes: &[TokenHash]) -> StoreResult<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(backend)?;
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(user_id.0)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            for hash in hashes {
                sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                    .bind(user_id.0)
                    .bind(hash.0.as_slice())
                    .execute(&mut *tx)
                    .await
                    .map_err(unique("a recovery code"))?;
            }
            tx.commit().await.map_err(backend)
        })
    }

    async fn recovery_codes(&self, user_id: UserId) -> StoreResult<Vec<RecoveryCode>> {
        let sql =
            "SELECT user_id, code_hash, used_at FROM recovery_codes WHERE user_id = $1 ORDER BY code_hash";
        let rows: Vec<RecoveryRow> = read_pool!(self, pool => {
            sqlx::query_as(sql).bind(user_id.0).fetch_all(pool).await.map_err(backend)?
        });
        rows.into_iter()
            .map(|row| {
                Ok(RecoveryCode {
                    user_id: UserId(row.user_id),
                    hash: TokenHash(hash32(&row.code_hash)?),
                    used_at: row.used_at.map(time).transpose()?,
                })
            })
            .collect()
    }

    async fn consume_recovery_code(
        &self,
        user_id: UserId,
        hash: &TokenHash,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let sql = "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL";
        let updated = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(seconds(now))
                .bind(user_id.0)
                .bind(hash.0.as_slice())
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        Ok(updated == 1)
    }

    async fn remove_factors(&self, user_id: UserId) -> StoreResult<u64> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(backend)?;
            let mut removed = 0;
            for sql in [
                "DELETE FROM totp_factors WHERE user_id = $1",
                "UPDATE yubikeys SET user_id = NULL, registered_at = NULL WHERE user_id = $1",
                "DELETE FROM security_keys WHERE user_id = $1",
                "DELETE FROM recovery_codes WHERE user_id = $1",
            ] {
                removed += sqlx::query(sql).bind(user_id.0).execute(&mut *tx).await.map_err(backend)?.rows_affected();
            }
            tx.commit().await.map_err(backend)?;
            Ok(removed)
        })
    }
}
