//! TLS to PostgreSQL: the local server has SSL on (with Debian's self-signed certificate for
//! `localhost`), so `sslmode=require` must encrypt, and `verify-full` must check the certificate: trusted
//! with the server's own certificate as the CA file, refused with only the public roots.

use keyward_core::store::HealthStore;
use keyward_store::SqlStore;
use sqlx::Connection;

/// The admin URL, or `None` after a loud message (a failure under CI).
fn admin_url() -> Option<String> {
    std::env::var("KEYWARD_TEST_DATABASE_URL").ok().or_else(|| {
        keyward_testkit::missing("PostgreSQL", "set KEYWARD_TEST_DATABASE_URL or start PostgreSQL")
    })
}

fn with_query(url: &str, query: &str) -> String {
    format!("{url}{}{query}", if url.contains('?') { '&' } else { '?' })
}

#[tokio::test]
async fn sslmode_require_encrypts_and_verify_full_checks_the_certificate() {
    let Some(url) = admin_url() else { return };
    let required = with_query(&url, "sslmode=require");
    let store = SqlStore::connect(&required).await.unwrap();
    store.ping().await.unwrap();
    store.close().await;
    let mut connection = sqlx::PgConnection::connect(&required).await.unwrap();
    let (encrypted,): (bool,) = sqlx::query_as("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert!(encrypted, "sslmode=require spoke plain text");
    let (certificate,): (String,) =
        sqlx::query_as("SELECT setting FROM pg_settings WHERE name = 'ssl_cert_file'")
            .fetch_one(&mut connection)
            .await
            .unwrap();
    connection.close().await.unwrap();

    // The same server by the name on its certificate.
    let by_name = url.replacen("127.0.0.1", "localhost", 1);
    let trusted = with_query(&by_name, &format!("sslmode=verify-full&sslrootcert={certificate}"));
    let store = SqlStore::connect(&trusted)
        .await
        .unwrap_or_else(|error| panic!("verify-full with the server's certificate as CA: {error:?}"));
    store.ping().await.unwrap();
    store.close().await;
    let untrusted = with_query(&by_name, "sslmode=verify-full");
    let refused = SqlStore::connect(&untrusted).await;
    assert!(refused.is_err(), "a self-signed certificate passed verify-full without its CA file");
}
