//! Throttle counters: read, then compare-and-swap, so every node spends from one budget.

use keyward_core::store::{StoreResult, ThrottleStore};
use keyward_core::throttle::ThrottleState;

use crate::{SqlStore, backend, seconds, time, with_pool};

#[derive(sqlx::FromRow)]
struct ThrottleRow {
    attempts: i64,
    last_at: i64,
}

impl ThrottleRow {
    fn state(&self) -> StoreResult<ThrottleState> {
        Ok(ThrottleState {
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            last_at: time(self.last_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct KeyedThrottleRow {
    key: String,
    #[sqlx(flatten)]
    row: ThrottleRow,
}

impl ThrottleStore for SqlStore {
    async fn throttle_state(&self, key: &str) -> StoreResult<Option<ThrottleState>> {
        let row: Option<ThrottleRow> = with_pool!(self, pool => {
            sqlx::query_as("SELECT attempts, last_at FROM throttles WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await
                .map_err(backend)?
        });
        row.map(|row| row.state()).transpose()
    }

    async fn throttle_states(&self, keys: &[&str]) -> StoreResult<Vec<Option<ThrottleState>>> {
        let placeholders: Vec<String> = (1..=keys.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT key, attempts, last_at FROM throttles WHERE key IN ({})",
            placeholders.join(", ")
        );
        let rows: Vec<KeyedThrottleRow> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
            for key in keys {
                query = query.bind(*key);
            }
            query.fetch_all(pool).await.map_err(backend)?
        });
        keys.iter()
            .map(|key| rows.iter().find(|found| found.key == *key).map(|found| found.row.state()).transpose())
            .collect()
    }

    async fn swap_throttle(
        &self,
        key: &str,
        expected: Option<ThrottleState>,
        next: ThrottleState,
    ) -> StoreResult<bool> {
        let attempts = i64::from(next.attempts);
        let last_at = seconds(next.last_at);
        let swapped = with_pool!(self, pool => {
            match expected {
                // First attempt for this key: the insert succeeds for exactly one racer.
                None => sqlx::query(
                    "INSERT INTO throttles (key, attempts, last_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .bind(attempts)
                .bind(last_at)
                .execute(pool)
                .await,
                Some(old) => sqlx::query(
                    "UPDATE throttles SET attempts = $1, last_at = $2 \
                     WHERE key = $3 AND attempts = $4 AND last_at = $5",
                )
                .bind(attempts)
                .bind(last_at)
                .bind(key)
                .bind(i64::from(old.attempts))
                .bind(seconds(old.last_at))
                .execute(pool)
                .await,
            }
            .map_err(backend)?
            .rows_affected()
        });
        Ok(swapped == 1)
    }

    async fn clear_throttle(&self, key: &str) -> StoreResult<()> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM throttles WHERE key = $1").bind(key).execute(pool).await.map_err(backend)?;
        });
        Ok(())
    }
}
