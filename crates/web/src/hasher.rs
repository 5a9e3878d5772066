//! Password hashing off the async executor.
//!
//! argon2id with our parameters takes tens of milliseconds of CPU and 19 MiB of memory per call. Run on
//! an executor thread, a flood of logins would stall every other request (OTP checks included); run on
//! unbounded blocking threads, it would spawn hundreds of threads and allocate gigabytes. So each call
//! goes to `spawn_blocking`, and a semaphore with one permit per CPU bounds how many run at once: the
//! rest queue, cheaply, as futures.

use std::sync::Arc;

use keyward_core::password::{
    Password, PasswordHash, hash_password, verify_password, verify_password_for_unknown_user,
};
use keyward_core::ports::{Entropy, EntropyRng, PasswordHasher};
use tokio::sync::Semaphore;

/// Why bounded blocking work did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum BlockingError {
    /// The semaphore was closed: the server is shutting down.
    #[error("the blocking pool is shutting down")]
    Closed,
    /// The blocking task panicked or was cancelled by the runtime.
    #[error("the blocking task failed")]
    Join(#[source] tokio::task::JoinError),
}

/// Runs CPU-heavy work on tokio's blocking pool, at most as many at once as `permits` has permits.
///
/// The permit moves into the blocking closure, so it is held until the work really ends, even when
/// the awaiting future is dropped (a client that disconnects mid-login does not free a permit while
/// its hash still burns a CPU).
pub async fn run_bounded<T, F>(permits: &Arc<Semaphore>, work: F) -> Result<T, BlockingError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let permit = Arc::clone(permits).acquire_owned().await.map_err(|_| BlockingError::Closed)?;
    tokio::task::spawn_blocking(move || {
        let result = work();
        drop(permit);
        result
    })
    .await
    .map_err(BlockingError::Join)
}

/// The number of password hashes that may run at once by default: one per CPU the process may use.
pub fn default_permits() -> usize {
    std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(1)
}

/// The production [`PasswordHasher`]: argon2id on the blocking pool, bounded by a semaphore.
#[derive(Clone)]
pub struct BlockingHasher {
    entropy: Arc<dyn Entropy>,
    permits: Arc<Semaphore>,
}

impl BlockingHasher {
    /// A hasher that runs at most one hash per CPU at a time; `entropy` supplies the salts.
    pub fn new(entropy: Arc<dyn Entropy>) -> BlockingHasher {
        BlockingHasher::with_permits(entropy, default_permits())
    }

    /// A hasher that runs at most `permits` hashes at a time (at least one).
    pub fn with_permits(entropy: Arc<dyn Entropy>, permits: usize) -> BlockingHasher {
        BlockingHasher { entropy, permits: Arc::new(Semaphore::new(permits.max(1))) }
    }

    /// How many hashes are not running right now (for tests and metrics).
    pub fn available_permits(&self) -> usize {
        self.permits.available_permits()
    }
}

impl PasswordHasher for BlockingHasher {
    async fn hash(&self, password: Password) -> Result<PasswordHash, keyward_core::Error> {
        let entropy = Arc::clone(&self.entropy);
        run_bounded(&self.permits, move || hash_password(&password, &mut EntropyRng(&*entropy)))
            .await
            .map_err(|error| keyward_core::Error::PasswordHashing(error.to_string()))?
    }

    async fn verify(&self, hash: Option<PasswordHash>, password: Password) -> bool {
        let outcome = run_bounded(&self.permits, move || match hash {
            Some(hash) => verify_password(&hash, &password),
            // Same work as a real verification, so timing does not reveal unknown usernames.
            None => verify_password_for_unknown_user(&password),
        })
        .await;
        match outcome {
            Ok(matched) => matched,
            Err(error) => {
                // Failing closed: a password that could not be checked is not accepted.
                tracing::error!(
                    error = &error as &dyn std::error::Error,
                    "password verification did not run"
                );
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Deterministic bytes: enough for salts in tests.
    struct Counter(AtomicUsize);
    impl Entropy for Counter {
        fn fill(&self, buffer: &mut [u8]) {
            for byte in buffer {
                *byte = self.0.fetch_add(1, Ordering::Relaxed) as u8;
            }
        }
    }

    fn hasher(permits: usize) -> BlockingHasher {
        BlockingHasher::with_permits(Arc::new(Counter(AtomicUsize::new(1))), permits)
    }

    fn password(text: &str) -> Password {
        Password::parse(text).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hash_then_verify_right_and_wrong_and_unknown_user() {
        let hasher = hasher(2);
        let hash = hasher.hash(password("correct horse battery")).await.unwrap();
        // The salt is the bytes 1..=16 drawn from our entropy, so the hasher really used it.
        assert!(
            hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$AQIDBAUGBwgJCgsMDQ4PEA$"),
            "{}",
            hash.as_str()
        );
        assert!(hasher.verify(Some(hash.clone()), password("correct horse battery")).await);
        assert!(!hasher.verify(Some(hash), password("correct horse batterY")).await);
        assert!(!hasher.verify(None, password("correct horse battery")).await);
        assert_eq!(hasher.available_permits(), 2, "every permit came back");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_work_never_exceeds_the_permits() {
        const PERMITS: usize = 3;
        let permits = Arc::new(Semaphore::new(PERMITS));
        let running = Arc::new(AtomicUsize::new(0));
        let high_water = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..24)
            .map(|_| {
                let (permits, running, high_water) =
                    (Arc::clone(&permits), Arc::clone(&running), Arc::clone(&high_water));
                tokio::spawn(async move {
                    run_bounded(&permits, move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        high_water.fetch_max(now, Ordering::SeqCst);
                        // Long enough that, without the bound, many would overlap.
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let peak = high_water.load(Ordering::SeqCst);
        assert!(peak <= PERMITS, "{peak} ran at once with {PERMITS} permits");
        // The bound is not a lock: with 24 tasks queued, more than one did run at a time.
        assert!(peak > 1, "only {peak} ran at once");
        assert_eq!(permits.available_permits(), PERMITS);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_caller_keeps_its_permit_until_the_work_ends() {
        let permits = Arc::new(Semaphore::new(1));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (finish_tx, finish_rx) = std::sync::mpsc::channel::<()>();
        let call = tokio::spawn({
            let permits = Arc::clone(&permits);
            async move {
                run_bounded(&permits, move || {
                    started_tx.send(()).unwrap();
                    finish_rx.recv().unwrap();
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap()).await.unwrap();
        call.abort();
        let _ = call.await;
        assert_eq!(permits.available_permits(), 0, "the work still runs, so its permit is taken");
        finish_tx.send(()).unwrap();
        let permit = tokio::time::timeout(Duration::from_secs(10), permits.acquire()).await;
        assert!(permit.is_ok(), "the permit returns when the work ends");
    }

    #[tokio::test]
    async fn a_closed_semaphore_fails_closed() {
        let hasher = hasher(1);
        hasher.permits.close();
        assert!(!hasher.verify(None, password("correct horse battery")).await);
        assert!(hasher.hash(password("correct horse battery")).await.is_err());
    }
}
