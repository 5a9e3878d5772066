//! Every sealed secret, for `keyward keys rotate`: listed with the associated data it was sealed with,
//! and replaced one by one with a conditional update, so a rotation that stops half-way loses nothing.

use keyward_core::client::yubico_client_seal_context;
use keyward_core::factor::{totp_seal_context, yubikey_seal_context};
use keyward_core::ids::{FactorId, UserId};
use keyward_core::seal::Sealed;
use keyward_core::store::{SealedRow, SealedSecret, SealedSecretStore, StoreResult};
use keyward_core::yubico::PublicId;

use crate::{SqlStore, backend, with_pool};

#[derive(sqlx::FromRow)]
struct SealedRowData {
    id: i64,
    /// The user id (TOTP), the public id (YubiKey) or nothing (Yubico client): what the context names.
    owner: Option<String>,
    key_id: String,
    sealed: Vec<u8>,
}

const TOTP: &str = "SELECT id, CAST(user_id AS TEXT) AS owner, secret_key_id AS key_id, \
                    secret_sealed AS sealed FROM totp_factors ORDER BY id";
const YUBIKEYS: &str = "SELECT id, public_id AS owner, secret_key_id AS key_id, secret_sealed AS sealed \
                        FROM yubikeys WHERE secret_sealed IS NOT NULL ORDER BY id";
const YUBICO_CLIENTS: &str = "SELECT id, CAST(NULL AS TEXT) AS owner, key_key_id AS key_id, key_sealed AS sealed \
                              FROM yubico_clients ORDER BY id";

/// The tables that hold sealed secrets.
#[derive(Clone, Copy)]
enum Kind {
    Totp,
    Yubikey,
    YubicoClient,
}

fn corrupt(what: &str) -> keyward_core::store::StoreError {
    keyward_core::store::StoreError::Corrupt(keyward_core::Error::CorruptRecord(what.to_owned()))
}

const KEY_IDS: &str = "SELECT secret_key_id AS key_id FROM totp_factors \
                       UNION SELECT secret_key_id FROM yubikeys WHERE secret_sealed IS NOT NULL \
                       UNION SELECT key_key_id FROM yubico_clients ORDER BY 1";

impl SealedSecretStore for SqlStore {
    async fn sealed_key_ids(&self) -> StoreResult<Vec<String>> {
        let ids: Vec<(String,)> = with_pool!(self, pool => {
            sqlx::query_as(KEY_IDS).fetch_all(pool).await.map_err(backend)?
        });
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    async fn sealed_secrets(&self) -> StoreResult<Vec<SealedSecret>> {
        let mut secrets = Vec::new();
        for (query, kind) in
            [(TOTP, Kind::Totp), (YUBIKEYS, Kind::Yubikey), (YUBICO_CLIENTS, Kind::YubicoClient)]
        {
            let rows: Vec<SealedRowData> = with_pool!(self, pool => {
                sqlx::query_as(query).fetch_all(pool).await.map_err(backend)?
            });
            for row in rows {
                let owner = row.owner.unwrap_or_default();
                let (row_id, context) = match kind {
                    Kind::Totp => {
                        let user_id = owner.parse().map_err(|_| corrupt("a TOTP factor's user"))?;
                        (SealedRow::TotpFactor(FactorId(row.id)), totp_seal_context(UserId(user_id)))
                    }
                    Kind::Yubikey => (
                        SealedRow::Yubikey(FactorId(row.id)),
                        yubikey_seal_context(&PublicId::parse(&owner)?),
                    ),
                    Kind::YubicoClient => {
                        (SealedRow::YubicoClient(row.id), yubico_client_seal_context(row.id))
                    }
                };
                secrets.push(SealedSecret {
                    row: row_id,
                    context,
                    sealed: Sealed { key_id: row.key_id, ciphertext: row.sealed },
                });
            }
        }
        Ok(secrets)
    }

    async fn reseal(&self, row: SealedRow, old: &Sealed, new: &Sealed) -> StoreResult<bool> {
        let (sql, id) = match row {
            SealedRow::TotpFactor(id) => (
                "UPDATE totp_factors SET secret_key_id = $1, secret_sealed = $2 \
                 WHERE id = $3 AND secret_key_id = $4 AND secret_sealed = $5",
                id.0,
            ),
            SealedRow::Yubikey(id) => (
                "UPDATE yubikeys SET secret_key_id = $1, secret_sealed = $2 \
                 WHERE id = $3 AND secret_key_id = $4 AND secret_sealed = $5",
                id.0,
            ),
            SealedRow::YubicoClient(id) => (
                "UPDATE yubico_clients SET key_key_id = $1, key_sealed = $2 \
                 WHERE id = $3 AND key_key_id = $4 AND key_sealed = $5",
                id,
            ),
        };
        let updated = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(&new.key_id)
                .bind(&new.ciphertext)
                .bind(id)
                .bind(&old.key_id)
                .bind(&old.ciphertext)
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
        });
        Ok(updated == 1)
    }
}
