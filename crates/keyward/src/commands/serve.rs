//! `keyward serve`: the web application on the configured address, until SIGTERM or SIGINT.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

use keyward_core::ports::Entropy;
use keyward_core::seal::KeyRing;
use keyward_core::usecase::{Services, Settings};
use keyward_mail::AnyMailer;
use keyward_store::SqlStore;
use keyward_web::AppState;
use keyward_web::hasher::BlockingHasher;
use keyward_web::metrics::{CountingMailer, Metrics};
use keyward_webauthn::RelyingParty;

use crate::adapters;
use crate::config::{Config, LogFormat};

pub fn serve(config: Config) -> anyhow::Result<()> {
    init_logging(&config)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run(config))
}

/// Log lines to standard output, as text (coloured only on a terminal) or as JSON objects.
fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.log)
        .with_context(|| format!("KEYWARD_LOG / log: {:?} is not a tracing filter", config.log))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let installed = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Text => builder.with_ansi(std::io::stdout().is_terminal()).try_init(),
    };
    // Already installed (a second call in one process) is harmless: the first one stays.
    drop(installed);
    Ok(())
}

async fn run(config: Config) -> anyhow::Result<()> {
    let (store, keys, key_source) = super::open_with_keys(&config).await?;
    tracing::info!(backend = store.backend_name(), master_key = %key_source, "database ready");
    let metrics = Arc::new(Metrics::default());
    tokio::spawn(send_reminders(services(&config, store.clone(), keys.clone(), Arc::clone(&metrics))?));
    tokio::spawn(deliver_mail(
        services(&config, store.clone(), keys.clone(), Arc::clone(&metrics))?,
        Arc::clone(&metrics),
    ));
    let services = services(&config, store.clone(), keys, Arc::clone(&metrics))?;
    let mut state = AppState::new(services);
    state.metrics = Arc::clone(&metrics);
    state.request_timeout = config.request_timeout;
    state.trusted_proxies = config.trusted_proxies.clone();
    state.metrics_on_main_listener = config.metrics_listen.is_none();
    let app = keyward_web::app(state);

    let listener = bind(config.listen).await?;
    let metrics_listener = match config.metrics_listen {
        Some(address) => Some(bind(address).await?),
        None => None,
    };
    tracing::info!(address = %listener.local_addr()?, public_url = %config.public_url, "Keyward is serving");

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        let signal = shutdown_signal().await;
        tracing::info!(signal, "shutting down: no new connections; finishing the requests in flight");
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    if let Some(listener) = metrics_listener {
        tracing::info!(address = %listener.local_addr()?, "metrics served on their own listener");
        let router = keyward_web::metrics::router(metrics);
        let shutdown = stopped(stop_rx.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
                tracing::error!(error = &error as &dyn std::error::Error, "the metrics listener failed");
            }
        });
    }
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(stopped(stop_rx.clone()));
    let drain_limit = async {
        stopped(stop_rx).await;
        tokio::time::sleep(config.shutdown_timeout).await;
    };
    tokio::select! {
        served = server => served.context("serving HTTP")?,
        () = drain_limit => tracing::warn!(
            timeout_secs = config.shutdown_timeout.as_secs(),
            "requests still running at the end of the shutdown timeout were dropped"
        ),
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// How often the enrollment reminders are looked for (a reminder goes out at most this late).
const REMINDER_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Sends the reminders before grace deadlines, now and every [`REMINDER_INTERVAL`]; any node may, each
/// reminder is claimed once in the database.
async fn send_reminders(services: Services<SqlStore, CountingMailer<AnyMailer>, BlockingHasher>) {
    let mut interval = tokio::time::interval(REMINDER_INTERVAL);
    loop {
        interval.tick().await;
        match keyward_core::usecase::send_enrollment_reminders(&services).await {
            Ok(0) => {}
            Ok(sent) => tracing::info!(sent, "enrollment reminders sent"),
            Err(failure) => {
                let cause = keyward_web::errors::cause_chain(&failure);
                tracing::error!(%cause, "enrollment reminders failed");
            }
        }
    }
}

/// How often the outbox is looked at when it was empty: an e-mail leaves at most this long after its
/// change was committed (on any node).
const DELIVERY_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Delivers the outbox, on every node: each message is claimed once in the database.
async fn deliver_mail(
    services: Services<SqlStore, CountingMailer<AnyMailer>, BlockingHasher>,
    metrics: Arc<Metrics>,
) {
    loop {
        match keyward_core::usecase::deliver_mail(&services, 100).await {
            Ok(delivery) => {
                if delivery.given_up > 0 {
                    metrics.record_given_up(delivery.given_up);
                    tracing::error!(
                        given_up = delivery.given_up,
                        "e-mails given up after their last attempt"
                    );
                }
                if delivery.retried > 0 {
                    tracing::warn!(retried = delivery.retried, "e-mails not delivered, tried again later");
                }
                if delivery.delivered + delivery.retried + delivery.given_up >= 100 {
                    continue;
                }
            }
            Err(failure) => {
                let cause = keyward_web::errors::cause_chain(&failure);
                tracing::error!(%cause, "the outbox could not be read");
            }
        }
        tokio::time::sleep(DELIVERY_INTERVAL).await;
    }
}

/// The use cases' services over the opened store: the configured mailer (counted in `metrics`), argon2 on
/// blocking threads, the system clock and random generator, YubiCloud when configured.
pub(crate) fn services(
    config: &Config,
    store: SqlStore,
    keys: KeyRing,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Services<SqlStore, CountingMailer<AnyMailer>, BlockingHasher>> {
    let mailer = AnyMailer::from_config(
        config.smtp_url.as_ref().map(|url| url.0.as_str()),
        &config.data_dir.join("outbox"),
        &config.mail_from,
    )
    .context("KEYWARD_SMTP_URL")?;
    let entropy: Arc<dyn Entropy> = Arc::new(adapters::OsEntropy);
    Ok(Services {
        store,
        mailer: CountingMailer::new(mailer, metrics),
        hasher: BlockingHasher::new(entropy.clone()),
        keys,
        settings: Settings {
            public_url: config.public_url.clone(),
            issuer: config.issuer.clone(),
            enrollment_link_secs: config.enrollment_link.as_secs(),
            password_link_secs: config.password_link.as_secs(),
        },
        clock: Arc::new(adapters::SystemClock),
        cloud: yubicloud(config, &entropy)?,
        webauthn: Arc::new(RelyingParty::for_public_url(&config.public_url, &config.issuer)),
        entropy,
    })
}

async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).await.with_context(|| format!("listening on {address}"))
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

/// Waits for SIGTERM (service managers, container runtimes) or SIGINT (Ctrl-C), and names it.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        // Without handlers we keep serving; the process can still be killed.
        _ => std::future::pending().await,
    }
}
