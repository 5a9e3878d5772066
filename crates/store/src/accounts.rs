//! Accounts, and the account-with-first-admin transaction of sign-up.

use keyward_core::UnixTime;
use keyward_core::account::{Account, AccountName, Activation, DisablePolicy, Methods, OPERATORS_ACCOUNT};
use keyward_core::ids::{AccountId, UserId};
use keyward_core::password::PasswordHash;
use keyward_core::store::{AccountStore, StoreResult};
use keyward_core::user::{Email, Role, User};

use crate::users::UserRow;
use crate::{SqlStore, backend, read_pool, seconds, time, unique, with_pool};

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: i64,
    name: String,
    totp_enabled: bool,
    yubikey_enabled: bool,
    webauthn_enabled: bool,
    disable_policy: Option<String>,
    activated_by: Option<i64>,
    activated_at: Option<i64>,
    created_at: i64,
    enroll_by: Option<i64>,
    reminders_sent: i64,
    remember_days: i64,
}

impl AccountRow {
    fn into_account(self) -> StoreResult<Account> {
        let activation = match (self.activated_by, self.activated_at) {
            (Some(by), Some(at)) => Some(Activation { by: UserId(by), at: time(at)? }),
            _ => None,
        };
        Ok(Account {
            id: AccountId(self.id),
            name: AccountName::parse(&self.name)?,
            methods: Methods {
                totp: self.totp_enabled,
                yubikey: self.yubikey_enabled,
                webauthn: self.webauthn_enabled,
            },
            disable_policy: self.disable_policy.as_deref().map(DisablePolicy::parse).transpose()?,
            activation,
            created_at: time(self.created_at)?,
            enroll_by: self.enroll_by.map(time).transpose()?,
            reminders_sent: u8::try_from(self.reminders_sent).unwrap_or(0),
            remember_days: u8::try_from(self.remember_days).unwrap_or(0),
        })
    }
}

macro_rules! account_columns {
    () => {
        "id, name, totp_enabled, yubikey_enabled, webauthn_enabled, disable_policy, activated_by, activated_at, created_at, \
         enroll_by, reminders_sent, remember_days"
    };
}

impl AccountStore for SqlStore {
    async fn create_account(
        &self,
        name: &AccountName,
        admin_email: &Email,
        admin_password: &PasswordHash,
        now: UnixTime,
    ) -> StoreResult<(Account, User)> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(backend)?;
            let account: AccountRow = sqlx::query_as(concat!(
                "INSERT INTO accounts (name, created_at) VALUES ($1, $2) RETURNING ",
                account_columns!()
            ))
            .bind(name.as_str())
            .bind(seconds(now))
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
            let admin: UserRow = sqlx::query_as(crate::users::INSERT_USER)
                .bind(account.id)
                .bind(admin_email.as_str())
                .bind(Role::Admin.as_str())
                .bind(admin_password.as_str())
                .bind(seconds(now))
                .fetch_one(&mut *tx)
                .await
                .map_err(unique("that e-mail address"))?;
            tx.commit().await.map_err(backend)?;
            Ok((account.into_account()?, admin.into_user()?))
        })
    }

    async fn find_account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        let sql = concat!("SELECT ", account_columns!(), " FROM accounts WHERE id = $1");
        let row: Option<AccountRow> = read_pool!(self, pool => {
            sqlx::query_as(sql).bind(id.0).fetch_optional(pool).await.map_err(backend)?
        });
        row.map(AccountRow::into_account).transpose()
    }

    async fn update_two_factor_settings(
        &self,
        id: AccountId,
        methods: Methods,
        policy: &DisablePolicy,
    ) -> StoreResult<()> {
        let sql = "UPDATE accounts SET totp_enabled = $1, yubikey_enabled = $2, webauthn_enabled = $3, disable_policy = $4 \
             WHERE id = $5";
        let updated = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(methods.totp)
                .bind(methods.yubikey)
                .bind(methods.webauthn)
                .bind(policy.as_str())
                .bind(id.0)
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        if updated == 0 { Err(keyward_core::store::StoreError::Missing("the account")) } else { Ok(()) }
    }

    async fn set_activation(&self, id: AccountId, activation: Option<Activation>) -> StoreResult<()> {
        let sql = "UPDATE accounts SET activated_by = $1, activated_at = $2 WHERE id = $3";
        let updated = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(activation.map(|a| a.by.0))
                .bind(activation.map(|a| seconds(a.at)))
                .bind(id.0)
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        if updated == 0 { Err(keyward_core::store::StoreError::Missing("the account")) } else { Ok(()) }
    }

    async fn search_accounts(&self, query: &str, limit: u32) -> StoreResult<Vec<Account>> {
        // `%` and `_` in what was typed match themselves.
        let escaped: String = query
            .trim()
            .to_lowercase()
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let sql = concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE id <> $1 AND (LOWER(name) LIKE $2 ESCAPE '\\' ",
            "OR id IN (SELECT account_id FROM users WHERE email = $3)) ORDER BY LOWER(name), id LIMIT $4"
        );
        let rows: Vec<AccountRow> = with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(OPERATORS_ACCOUNT.0)
                .bind(format!("%{escaped}%"))
                .bind(query.trim().to_lowercase())
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(backend)?
        });
        rows.into_iter().map(AccountRow::into_account).collect()
    }

    async fn set_enroll_by(&self, id: AccountId, deadline: Option<UnixTime>) -> StoreResult<()> {
        let sql = "UPDATE accounts SET enroll_by = $1, reminders_sent = 0 WHERE id = $2";
        let updated = with_pool!(self, pool => {
            sqlx::query(sql).bind(deadline.map(seconds)).bind(id.0).execute(pool).await.map_err(backend)?.rows_affected()
        });
        if updated == 0 { Err(keyward_core::store::StoreError::Missing("the account")) } else { Ok(()) }
    }

    async fn accounts_with_deadline(&self) -> StoreResult<Vec<Account>> {
        let sql = concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE enroll_by IS NOT NULL AND activated_at IS NOT NULL ORDER BY id"
        );
        let rows: Vec<AccountRow> = with_pool!(self, pool => {
            sqlx::query_as(sql).fetch_all(pool).await.map_err(backend)?
        });
        rows.into_iter().map(AccountRow::into_account).collect()
    }

    async fn claim_reminder(&self, id: AccountId, deadline: UnixTime, from: u8, to: u8) -> StoreResult<bool> {
        let sql = "UPDATE accounts SET reminders_sent = $1 WHERE id = $2 AND enroll_by = $3 AND reminders_sent = $4";
        let updated = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(i64::from(to))
                .bind(id.0)
                .bind(seconds(deadline))
                .bind(i64::from(from))
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        Ok(updated == 1)
    }

    async fn set_remember_days(&self, id: AccountId, days: u8) -> StoreResult<()> {
        let updated = with_pool!(self, pool => {
            sqlx::query("UPDATE accounts SET remember_days = $1 WHERE id = $2")
                .bind(i64::from(days))
                .bind(id.0)
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        if updated == 0 { Err(keyward_core::store::StoreError::Missing("the account")) } else { Ok(()) }
    }
}
