//! `keyward serve`: the web application on the configured address.

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::config::Config;
use crate::keys;

pub fn serve(config: Config) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("KEYWARD_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    // Created on first run, so that the first secret stored is already sealed.
    let (_keys, _) = keys::load_or_create(&config)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let store = super::open_store(&config).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let address = listener.local_addr().context("reading the listening address")?;
        tracing::info!(%address, public_url = %config.public_url, "Keyward is serving");
        tracing::info!(backend = store.backend_name(), "database ready");
        let app = keyward_web::app(keyward_web::AppState { public_url: config.public_url.clone(), store });
        axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.context("serving HTTP")
    })
}

async fn shutdown_signal() {
    // If the signal handler cannot be installed we keep serving; the process can still be killed.
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
