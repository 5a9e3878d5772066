//! `keyward serve`: the web application on the configured address.

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use std::net::SocketAddr;
use std::sync::Arc;

use keyward_core::ports::Entropy;
use keyward_core::usecase::{Services, Settings};
use keyward_mail::{AnyMailer, DEFAULT_FROM};
use keyward_web::AppState;
use keyward_web::hasher::BlockingHasher;

use crate::adapters;
use crate::config::Config;
use crate::keys;

pub fn serve(config: Config) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("KEYWARD_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    // Created on first run, so that the first secret stored is already sealed.
    let (keys, _) = keys::load_or_create(&config)?;
    let mailer =
        AnyMailer::from_config(config.smtp_url.as_deref(), &config.data_dir.join("outbox"), DEFAULT_FROM)
            .context("KEYWARD_SMTP_URL")?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let store = super::open_store(&config).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let address = listener.local_addr().context("reading the listening address")?;
        tracing::info!(%address, public_url = %config.public_url, "Keyward is serving");
        tracing::info!(backend = store.backend_name(), "database ready");
        let entropy: Arc<dyn Entropy> = Arc::new(adapters::OsEntropy);
        let services = Services {
            store,
            mailer,
            hasher: BlockingHasher::new(entropy.clone()),
            keys,
            settings: Settings { public_url: config.public_url.clone(), ..Settings::default() },
            clock: Arc::new(adapters::SystemClock),
            cloud: yubicloud(&config, &entropy)?,
            entropy,
        };
        let app = keyward_web::app(AppState::new(services));
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("serving HTTP")
    })
}

/// The YubiCloud validator, when a client id is configured.
fn yubicloud(
    config: &Config,
    entropy: &Arc<dyn Entropy>,
) -> anyhow::Result<Option<Arc<dyn keyward_core::ports::CloudValidator>>> {
    let Some(cloud) = &config.yubicloud else { return Ok(None) };
    let key = cloud
        .key
        .as_ref()
        .map(|key| keyward_core::wsapi::ClientKey::from_base64(&key.0))
        .transpose()
        .context("KEYWARD_YUBICLOUD_KEY")?;
    let client = keyward_yubicloud::YubiCloudClient::new(
        cloud.client_id,
        key,
        cloud.urls.clone(),
        std::time::Duration::from_secs(5),
    )
    .context("YubiCloud configuration")?;
    tracing::info!(client_id = cloud.client_id, servers = cloud.urls.len(), "YubiCloud validation is on");
    Ok(Some(Arc::new(adapters::YubiCloud { client, entropy: entropy.clone() })))
}

async fn shutdown_signal() {
    // If the signal handler cannot be installed we keep serving; the process can still be killed.
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
