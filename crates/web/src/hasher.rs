//! Password hashing off the async executor.
//!
//! argon2id with our parameters takes tens of milliseconds of CPU and 19 MiB of memory per call. Run on
//! an executor thread, a flood of logins would stall every other request (OTP checks included); run on
//! unbounded blocking threads, it would spawn hundreds of threads and allocate gigabytes. So each call
//! goes to `spawn_blocking`, and a semaphore with one permit per two CPUs (at least one) bounds how many
//! run at once, so a flood of logins leaves half the machine to everything else (BENCHMARKS.md): the rest
//! queue, cheaply, as futures. Each running hash borrows one of at most that many argon2
//! workspaces, kept for the life of the process, so logins do not allocate and free 19 MiB each.

use std::sync::{Arc, Mutex};

use keyward_core::password::{Password, PasswordHash, Workspace};
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

/// The number of password hashes that may run at once by default: one per two CPUs the process may use,
/// at least one.
pub fn default_permits() -> usize {
    (std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(1) / 2).max(1)
}

/// The production [`PasswordHasher`]: argon2id on the blocking pool, bounded by a semaphore.
#[derive(Clone)]
pub struct BlockingHasher {
    entropy: Arc<dyn Entropy>,
    permits: Arc<Semaphore>,
    workspaces: Arc<Workspaces>,
}

/// The argon2 workspaces not in use right now. A hash holds a permit while it runs, so there are never
/// more workspaces than permits.
#[derive(Default)]
struct Workspaces(Mutex<Vec<Workspace>>);

impl Workspaces {
    /// Runs `work` in a spare workspace (or a new one), then keeps that workspace for the next call.
    fn with<T>(&self, work: impl FnOnce(&mut Workspace) -> T) -> T {
        let spare = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let mut workspace = spare.unwrap_or_default();
        let result = work(&mut workspace);
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(workspace);
        result
    }

    #[cfg(test)]
    fn count(&self) -> usize {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }
}

impl BlockingHasher {
    /// A hasher that runs at most one hash per CPU at a time; `entropy` supplies the salts.
    pub fn new(entropy: Arc<dyn Entropy>) -> BlockingHasher {
        BlockingHasher::with_permits(entropy, default_permits())
    }

    /// A hasher that runs at most `permits` hashes at a time (at least one).
    pub fn with_permits(entropy: Arc<dyn Entropy>, permits: usize) -> BlockingHasher {
        BlockingHasher {
            entropy,
            permits: Arc::new(Semaphore::new(permits.max(1))),
            workspaces: Arc::default(),
        }
    }

    /// How many hashes are not running right now (for tests and metrics).
    pub fn available_permits(&self) -> usize {
        self.permits.available_permits()
    }
}

impl PasswordHasher for BlockingHasher {
    async fn hash(&self, password: Password) -> Result<PasswordHash, keyward_core::Error> {
        let (entropy, workspaces) = (Arc::clone(&self.entropy), Arc::clone(&self.workspaces));
        run_bounded(&self.permits, move || {
            workspaces.with(|workspace| workspace.hash(&password, &mut EntropyRng(&*entropy)))
        })
        .await
        .map_err(|error| keyward_core::Error::PasswordHashing(error.to_string()))?
    }

    async fn verify(&self, hash: Option<PasswordHash>, password: Password) -> bool {
        let workspaces = Arc::clone(&self.workspaces);
        let outcome = run_bounded(&self.permits, move || {
            workspaces.with(|workspace| match hash {
                Some(hash) => workspace.verify(&hash, &password),
                // Same work as a real verification, so timing does not reveal unknown usernames.
                None => workspace.verify_for_unknown_user(&password),
            })
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
    async fn workspaces_are_reused_never_more_than_the_permits() {
        let hasher = hasher(2);
        let hash = hasher.hash(password("correct horse battery")).await.unwrap();
        let checks: Vec<_> = (0..6)
            .map(|i| {
                let (hasher, hash) = (hasher.clone(), hash.clone());
                tokio::spawn(async move {
                    let typed = if i % 2 == 0 { "correct horse battery" } else { "wrong horse battery" };
                    (i % 2 == 0, hasher.verify(Some(hash), password(typed)).await)
                })
            })
            .collect();
        for check in checks {
            let (expected, matched) = check.await.unwrap();
            assert_eq!(matched, expected, "a reused workspace gave a wrong answer");
        }
        let kept = hasher.workspaces.count();
        assert!((1..=2).contains(&kept), "{kept} workspaces kept for 2 permits");
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
