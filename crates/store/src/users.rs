//! People.

use keyward_core::UnixTime;
use keyward_core::ids::{AccountId, UserId};
use keyward_core::password::PasswordHash;
use keyward_core::store::{StoreError, StoreResult, UserStore};
use keyward_core::user::{Email, Role, User};

use crate::{SqlStore, backend, seconds, time, unique, with_pool};

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
        let row: UserRow = with_pool!(self, pool => {
            sqlx::query_as(INSERT_USER)
                .bind(account_id.0)
                .bind(email.as_str())
                .bind(role.as_str())
                .bind(password.map(PasswordHash::as_str))
                .bind(seconds(now))
                .fetch_one(pool)
                .await
                .map_err(unique("that e-mail address"))?
        });
        row.into_user()
    }

    async fn find_user(&self, id: UserId) -> StoreResult<Option<User>> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
        let row: Option<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(id.0).fetch_optional(pool).await.map_err(backend)?
        });
        row.map(UserRow::into_user).transpose()
    }

    async fn find_user_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1");
        let row: Option<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(email.as_str()).fetch_optional(pool).await.map_err(backend)?
        });
        row.map(UserRow::into_user).transpose()
    }

    async fn list_users(&self, account_id: AccountId) -> StoreResult<Vec<User>> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE account_id = $1 ORDER BY email");
        let rows: Vec<UserRow> = with_pool!(self, pool => {
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
}
