//! People.

use keyward_core::UnixTime;
use keyward_core::ids::{AccountId, UserId};
use keyward_core::password::PasswordHash;
use std::collections::HashMap;

use keyward_core::factor::SecurityKeyName;
use keyward_core::invitation::Purpose;
use keyward_core::store::{FactorSummary, StoreError, StoreResult, UserStore, UsersPage};
use keyward_core::user::{Email, Role, User};
use keyward_core::yubico::PublicId;

use crate::{SqlStore, backend, read_pool, seconds, time, unique, with_pool};

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: i64,
    account_id: i64,
    email: String,
    role: String,
    password_hash: Option<String>,
    created_at: i64,
}

impl UserRow {
    pub(crate) fn into_user(self) -> StoreResult<User> {
        Ok(User {
            id: UserId(self.id),
            account_id: AccountId(self.account_id),
            email: Email::parse(&self.email)?,
            role: Role::parse(&self.role)?,
            password_hash: self.password_hash.as_deref().map(PasswordHash::parse).transpose()?,
            created_at: time(self.created_at)?,
        })
    }
}

/// Whether the user in `$table` can prove a second factor: a confirmed app or a registered YubiKey.
macro_rules! has_factor {
    ($table:literal) => {
        concat!(
            "(EXISTS (SELECT 1 FROM totp_factors t WHERE t.user_id = ",
            $table,
            ".id AND t.confirmed_at IS NOT NULL) OR EXISTS (SELECT 1 FROM yubikeys y WHERE y.user_id = ",
            $table,
            ".id) OR EXISTS (SELECT 1 FROM security_keys k WHERE k.user_id = ",
            $table,
            ".id))"
        )
    };
}

/// The ids of one page of an account's users (`$1`), by address after `$2`, at most `$3`, and when `$4`
/// only those without a factor.
macro_rules! page_members {
    () => {
        concat!(
            "SELECT id FROM users WHERE account_id = $1 AND email > $2 AND (NOT $4 OR NOT ",
            has_factor!("users"),
            ") ORDER BY email LIMIT $3"
        )
    };
}

/// The account's users from after `$2` up to and including `$3`, by address: a page's range.
macro_rules! range_members {
    () => {
        "SELECT id FROM users WHERE account_id = $1 AND email > $2 AND email <= $3"
    };
}

macro_rules! user_columns {
    () => {
        "id, account_id, email, role, password_hash, created_at"
    };
}

pub(crate) const INSERT_USER: &str = concat!(
    "INSERT INTO users (account_id, email, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING ",
    user_columns!()
);

impl UserStore for SqlStore {
    async fn insert_user(
        &self,
        account_id: AccountId,
        email: &Email,
        role: Role,
        password: Option<&PasswordHash>,
        now: UnixTime,
    ) -> StoreResult<User> {
        // A taken address is no error to the database, so a unit of work it happens in goes on (on
        // PostgreSQL a failed statement would abort the whole transaction).
        let sql = concat!(
            "INSERT INTO users (account_id, email, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5) ",
            "ON CONFLICT DO NOTHING RETURNING ",
            user_columns!()
        );
        let row: Option<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(account_id.0)
                .bind(email.as_str())
                .bind(role.as_str())
                .bind(password.map(PasswordHash::as_str))
                .bind(seconds(now))
                .fetch_optional(pool)
                .await
                .map_err(unique("that e-mail address"))?
        });
        row.ok_or(StoreError::Duplicate("that e-mail address"))?.into_user()
    }

    async fn find_user(&self, id: UserId) -> StoreResult<Option<User>> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
        let row: Option<UserRow> = read_pool!(self, pool => {
            sqlx::query_as(sql).bind(id.0).fetch_optional(pool).await.map_err(backend)?
        });
        row.map(UserRow::into_user).transpose()
    }

    async fn find_user_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1");
        let row: Option<UserRow> = read_pool!(self, pool => {
            sqlx::query_as(sql).bind(email.as_str()).fetch_optional(pool).await.map_err(backend)?
        });
        row.map(UserRow::into_user).transpose()
    }

    async fn list_users(&self, account_id: AccountId) -> StoreResult<Vec<User>> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE account_id = $1 ORDER BY email");
        let rows: Vec<UserRow> = read_pool!(self, pool => {
            sqlx::query_as(sql).bind(account_id.0).fetch_all(pool).await.map_err(backend)?
        });
        rows.into_iter().map(UserRow::into_user).collect()
    }

    async fn set_password(&self, id: UserId, hash: &PasswordHash) -> StoreResult<()> {
        let updated = with_pool!(self, pool => {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(hash.as_str())
                .bind(id.0)
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        if updated == 0 { Err(StoreError::Missing("the user")) } else { Ok(()) }
    }

    async fn clear_password(&self, id: UserId) -> StoreResult<()> {
        let updated = with_pool!(self, pool => {
            sqlx::query("UPDATE users SET password_hash = NULL WHERE id = $1")
                .bind(id.0)
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        if updated == 0 { Err(StoreError::Missing("the user")) } else { Ok(()) }
    }

    async fn account_factors(
        &self,
        account_id: AccountId,
        now: UnixTime,
    ) -> StoreResult<Vec<(User, FactorSummary)>> {
        self.account_factors_page(
            account_id,
            now,
            &UsersPage { after: String::new(), limit: u32::MAX, not_enrolled_only: false },
        )
        .await
    }

    async fn account_factors_page(
        &self,
        account_id: AccountId,
        now: UnixTime,
        page: &UsersPage,
    ) -> StoreResult<Vec<(User, FactorSummary)>> {
        let users_sql = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id IN (",
            page_members!(),
            ") ORDER BY email"
        );
        // The page's users first; the factors are then read for the addresses from the page's start to its
        // last user, so the filter (and the walk along the address index) runs once, not once per query.
        let apps_sql = concat!(
            "SELECT DISTINCT user_id FROM totp_factors WHERE confirmed_at IS NOT NULL AND user_id IN (",
            range_members!(),
            ")"
        );
        let keys_sql = concat!(
            "SELECT user_id, public_id FROM yubikeys WHERE user_id IN (",
            range_members!(),
            ") ORDER BY public_id"
        );
        let security_keys_sql = concat!(
            "SELECT user_id, name FROM security_keys WHERE user_id IN (",
            range_members!(),
            ") ORDER BY id"
        );
        let codes_sql = concat!(
            "SELECT user_id, COUNT(*) FROM recovery_codes WHERE used_at IS NULL AND user_id IN (",
            range_members!(),
            ") GROUP BY user_id"
        );
        let links_sql = concat!(
            "SELECT user_id, MAX(created_at), MAX(expires_at) FROM invitations WHERE purpose = $4 AND closed_at IS NULL ",
            "AND expires_at > $5 AND user_id IN (",
            range_members!(),
            ") GROUP BY user_id"
        );
        let (id, after, limit, only) =
            (account_id.0, page.after.as_str(), i64::from(page.limit), page.not_enrolled_only);
        let users: Vec<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(users_sql).bind(id).bind(after).bind(limit).bind(only).fetch_all(pool).await.map_err(backend)?
        });
        let Some(last) = users.last().map(|row| row.email.clone()) else { return Ok(Vec::new()) };
        let last = last.as_str();
        let apps: Vec<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as(apps_sql).bind(id).bind(after).bind(last).fetch_all(pool).await.map_err(backend)?
        });
        let keys: Vec<(i64, String)> = with_pool!(self, pool => {
            sqlx::query_as(keys_sql).bind(id).bind(after).bind(last).fetch_all(pool).await.map_err(backend)?
        });
        let security_keys: Vec<(i64, String)> = with_pool!(self, pool => {
            sqlx::query_as(security_keys_sql).bind(id).bind(after).bind(last).fetch_all(pool).await.map_err(backend)?
        });
        let codes: Vec<(i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as(codes_sql).bind(id).bind(after).bind(last).fetch_all(pool).await.map_err(backend)?
        });
        let enrollment = Purpose::Enrollment.as_str();
        let links: Vec<(i64, i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as(links_sql)
                .bind(id)
                .bind(after)
                .bind(last)
                .bind(enrollment)
                .bind(seconds(now))
                .fetch_all(pool)
                .await
                .map_err(backend)?
        });
        let mut summaries: HashMap<i64, FactorSummary> = HashMap::new();
        for (user_id,) in apps {
            summaries.entry(user_id).or_default().app = true;
        }
        for (user_id, public_id) in keys {
            summaries.entry(user_id).or_default().yubikeys.push(PublicId::parse(&public_id)?);
        }
        for (user_id, name) in security_keys {
            summaries.entry(user_id).or_default().security_keys.push(SecurityKeyName::parse(&name)?);
        }
        for (user_id, count) in codes {
            summaries.entry(user_id).or_default().recovery_codes = usize::try_from(count).unwrap_or(0);
        }
        for (user_id, sent, expires) in links {
            summaries.entry(user_id).or_default().invitation = Some((time(sent)?, time(expires)?));
        }
        users
            .into_iter()
            .map(|row| {
                let summary = summaries.remove(&row.id).unwrap_or_default();
                Ok((row.into_user()?, summary))
            })
            .collect()
    }

    async fn account_enrollment(&self, account_id: AccountId) -> StoreResult<(u64, u64)> {
        let sql = concat!(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN ",
            has_factor!("users"),
            " THEN 1 ELSE 0 END), 0) FROM users WHERE account_id = $1"
        );
        let (total, enrolled): (i64, i64) = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(account_id.0).fetch_one(pool).await.map_err(backend)?
        });
        Ok((u64::try_from(total).unwrap_or(0), u64::try_from(enrolled).unwrap_or(0)))
    }
}
