//! Applications that verify OTPs: JSON API clients (their key stored hashed) and Yubico Validation
//! Protocol clients (their HMAC key stored sealed, since it signs responses).

use keyward_core::UnixTime;
use keyward_core::client::{ApiClient, YubicoClient};
use keyward_core::ids::{AccountId, ApiClientId};
use keyward_core::seal::Sealed;
use keyward_core::store::{ClientStore, StoreResult};
use keyward_core::token::TokenHash;

use crate::{SqlStore, backend, hash32, read_pool, seconds, time, unique, with_pool};

#[derive(sqlx::FromRow)]
struct ApiClientRow {
    id: i64,
    account_id: i64,
    name: String,
    key_hash: Vec<u8>,
    created_at: i64,
}

impl ApiClientRow {
    fn into_client(self) -> StoreResult<ApiClient> {
        Ok(ApiClient {
            id: ApiClientId(self.id),
            account_id: AccountId(self.account_id),
            name: self.name,
            key_hash: TokenHash(hash32(&self.key_hash)?),
            created_at: time(self.created_at)?,
        })
    }
}

/// The columns [`ApiClientRow`] reads, as a literal so that every statement is a `&'static str`.
macro_rules! api_client_columns {
    () => {
        "id, account_id, name, key_hash, created_at"
    };
}

const INSERT_API_CLIENT: &str = concat!(
    "INSERT INTO api_clients (account_id, name, key_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING ",
    api_client_columns!()
);

const LIST_API_CLIENTS: &str =
    concat!("SELECT ", api_client_columns!(), " FROM api_clients WHERE account_id = $1 ORDER BY id");

const FIND_API_CLIENT_BY_KEY: &str =
    concat!("SELECT ", api_client_columns!(), " FROM api_clients WHERE key_hash = $1");

#[derive(sqlx::FromRow)]
struct YubicoClientRow {
    id: i64,
    account_id: Option<i64>,
    name: String,
    key_key_id: String,
    key_sealed: Vec<u8>,
    created_at: i64,
}

impl YubicoClientRow {
    fn into_client(self) -> StoreResult<YubicoClient> {
        Ok(YubicoClient {
            id: self.id,
            account_id: self.account_id.map(AccountId),
            name: self.name,
            key: Sealed { key_id: self.key_key_id, ciphertext: self.key_sealed },
            created_at: time(self.created_at)?,
        })
    }
}

/// The columns [`YubicoClientRow`] reads, as a literal so that every statement is a `&'static str`.
macro_rules! yubico_client_columns {
    () => {
        "id, account_id, name, key_key_id, key_sealed, created_at"
    };
}

const INSERT_YUBICO_CLIENT: &str =
    concat!("INSERT INTO yubico_clients (", yubico_client_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6)");

const LIST_YUBICO_CLIENTS: &str =
    concat!("SELECT ", yubico_client_columns!(), " FROM yubico_clients ORDER BY id");

const FIND_YUBICO_CLIENT: &str =
    concat!("SELECT ", yubico_client_columns!(), " FROM yubico_clients WHERE id = $1");

impl ClientStore for SqlStore {
    async fn insert_api_client(
        &self,
        account_id: AccountId,
        name: &str,
        key_hash: &TokenHash,
        now: UnixTime,
    ) -> StoreResult<ApiClient> {
        let row: ApiClientRow = with_pool!(self, pool => {
            sqlx::query_as(INSERT_API_CLIENT)
                .bind(account_id.0)
                .bind(name)
                .bind(key_hash.0.as_slice())
                .bind(seconds(now))
                .fetch_one(pool)
                .await
                .map_err(unique("that API key"))?
        });
        row.into_client()
    }

    async fn find_api_client_by_key(&self, key_hash: &TokenHash) -> StoreResult<Option<ApiClient>> {
        let row: Option<ApiClientRow> = read_pool!(self, pool => {
            sqlx::query_as(FIND_API_CLIENT_BY_KEY).bind(key_hash.0.as_slice()).fetch_optional(pool).await.map_err(backend)?
        });
        row.map(ApiClientRow::into_client).transpose()
    }

    async fn delete_api_client(&self, id: ApiClientId) -> StoreResult<bool> {
        let deleted = with_pool!(self, pool => {
            sqlx::query("DELETE FROM api_clients WHERE id = $1")
                .bind(id.0)
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        Ok(deleted == 1)
    }

    async fn list_api_clients(&self, account_id: AccountId) -> StoreResult<Vec<ApiClient>> {
        let rows: Vec<ApiClientRow> = with_pool!(self, pool => {
            sqlx::query_as(LIST_API_CLIENTS).bind(account_id.0).fetch_all(pool).await.map_err(backend)?
        });
        rows.into_iter().map(ApiClientRow::into_client).collect()
    }

    async fn insert_yubico_client(&self, client: &YubicoClient) -> StoreResult<()> {
        with_pool!(self, pool => {
            sqlx::query(INSERT_YUBICO_CLIENT)
                .bind(client.id)
                .bind(client.account_id.map(|id| id.0))
                .bind(&client.name)
                .bind(&client.key.key_id)
                .bind(&client.key.ciphertext)
                .bind(seconds(client.created_at))
                .execute(pool)
                .await
                .map_err(unique("that client id"))?;
        });
        Ok(())
    }

    async fn find_yubico_client(&self, id: i64) -> StoreResult<Option<YubicoClient>> {
        let row: Option<YubicoClientRow> = read_pool!(self, pool => {
            sqlx::query_as(FIND_YUBICO_CLIENT).bind(id).fetch_optional(pool).await.map_err(backend)?
        });
        row.map(YubicoClientRow::into_client).transpose()
    }

    async fn list_yubico_clients(&self) -> StoreResult<Vec<YubicoClient>> {
        let rows: Vec<YubicoClientRow> = with_pool!(self, pool => {
            sqlx::query_as(LIST_YUBICO_CLIENTS).fetch_all(pool).await.map_err(backend)?
        });
        rows.into_iter().map(YubicoClientRow::into_client).collect()
    }

    async fn delete_yubico_client(&self, id: i64) -> StoreResult<bool> {
        let deleted = with_pool!(self, pool => {
            sqlx::query("DELETE FROM yubico_clients WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        Ok(deleted == 1)
    }
}
