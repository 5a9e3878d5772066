//! Fresh PostgreSQL databases for tests, each of its own, on the server `KEYWARD_TEST_DATABASE_URL` names
//! (default `postgres://postgres@127.0.0.1:5432/postgres`).

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{AssertSqlSafe, Connection};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A database made for one test, dropped by [`FreshDatabase::drop_database`].
#[derive(Debug)]
pub struct FreshDatabase {
    /// The new database's URL.
    pub url: String,
    admin_url: String,
    name: String,
}

impl FreshDatabase {
    /// Creates an empty database, or returns `None` after a loud message (a failure under CI) when no
    /// server answers.
    pub async fn create() -> Option<FreshDatabase> {
        let admin_url = std::env::var("KEYWARD_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(connection) => connection,
            Err(error) => {
                return crate::missing(
                    &format!("PostgreSQL at {admin_url} ({error})"),
                    "set KEYWARD_TEST_DATABASE_URL or start PostgreSQL",
                );
            }
        };
        let name = format!("keyward_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        for sql in [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")]
        {
            sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut admin).await.expect("a database for a test");
        }
        let _ = admin.close().await;
        let (server, _) = admin_url.rsplit_once('/').expect("a URL with a database path");
        let url = format!("{server}/{name}");
        Some(FreshDatabase { url, admin_url, name })
    }

    /// Its size on disk in bytes, as PostgreSQL counts it.
    pub async fn size(&self) -> i64 {
        let mut connection = sqlx::PgConnection::connect(&self.url).await.expect("the test database");
        sqlx::query_scalar("SELECT pg_database_size(current_database())")
            .fetch_one(&mut connection)
            .await
            .expect("the database's size")
    }

    /// Removes the database (a test that panics leaves it behind, to be looked at).
    pub async fn drop_database(self) {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.expect("the admin database");
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut admin).await.expect("the test database dropped");
    }
}
