//! Fresh databases for contract tests.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use keyward_core::UnixTime;
use keyward_core::account::AccountName;
use keyward_core::password::PasswordHash;
use keyward_core::store::{AccountStore, UserStore};
use keyward_core::user::{Email, Role, User};
use keyward_store::SqlStore;
use keyward_testkit::postgres::FreshDatabase;
use sqlx::{AssertSqlSafe, Connection};

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    format!("keyward_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst))
}

/// A migrated store on its own database, and how to reach that database again.
pub struct TestDb {
    pub store: SqlStore,
    /// The database's URL, to open another pool as a second node would.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Directory(PathBuf),
    Database(FreshDatabase),
}

/// A SQLite file in a directory of its own.
pub async fn sqlite() -> TestDb {
    let dir = std::env::temp_dir().join(unique_name());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("keyward.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    TestDb { store, url, cleanup: Cleanup::Directory(dir) }
}

/// A new PostgreSQL database, or `None` (after a loud message; a failure under CI) when no server answers.
pub async fn postgres() -> Option<TestDb> {
    let database = FreshDatabase::create().await?;
    let store = SqlStore::connect(&database.url).await.unwrap();
    store.migrate().await.unwrap();
    Some(TestDb { store, url: database.url.clone(), cleanup: Cleanup::Database(database) })
}

impl TestDb {
    /// Another pool on the same database: a second node.
    pub async fn another_node(&self) -> SqlStore {
        SqlStore::connect(&self.url).await.unwrap()
    }

    /// Runs SQL straight on the database, behind the store's back (to tamper with rows, or to look at them).
    pub async fn execute_raw(&self, sql: &str) {
        let sql = AssertSqlSafe(sql.to_owned());
        if self.is_postgres() {
            let mut connection = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut connection).await.unwrap();
        } else {
            let mut connection = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut connection).await.unwrap();
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.cleanup, Cleanup::Database(_))
    }

    /// Removes the database (a test that panics leaves it behind, to be looked at).
    pub async fn cleanup(self) {
        self.store.close().await;
        match self.cleanup {
            Cleanup::Directory(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Database(database) => database.drop_database().await,
        }
    }
}

/// A valid argon2id PHC string (of a password nobody knows), so tests need not spend time hashing.
pub fn some_hash() -> PasswordHash {
    PasswordHash::parse(
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Q0RGRHl5bHBkRjJqZG5vSWNnbXA4SkZqSUVzbVZ3d0E",
    )
    .unwrap()
}

pub const NOW: UnixTime = UnixTime(1_800_000_000);

/// A new account with its admin, and one more user, for cases that need people.
pub async fn account_with_user(store: &SqlStore, prefix: &str) -> (User, User) {
    let admin_email = Email::parse(&format!("{prefix}-admin@example.com")).unwrap();
    let (account, admin) = store
        .create_account(&AccountName::parse(prefix).unwrap(), &admin_email, &some_hash(), NOW)
        .await
        .unwrap();
    let user_email = Email::parse(&format!("{prefix}-user@example.com")).unwrap();
    let user = store.insert_user(account.id, &user_email, Role::User, None, NOW).await.unwrap();
    (admin, user)
}
