//! `keyward serve` processes on the fixture's database: started with its master key, each on a free
//! loopback port with its log in the bench folder, killed when dropped.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::fixture::Fixture;
use crate::http::Connection;

pub struct Node {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Node {
    /// Starts node `index` and waits until `/readyz` answers 200.
    pub async fn start(
        keyward: &Path,
        dir: &Path,
        fixture: &Fixture,
        index: usize,
        log_filter: &str,
    ) -> anyhow::Result<Node> {
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let data = dir.join(format!("node{index}"));
        std::fs::create_dir_all(&data)?;
        let log = dir.join(format!("node{index}.log"));
        let mut command = Command::new(keyward);
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("KEYWARD_")) {
            command.env_remove(name);
        }
        let child = command
            .arg("serve")
            .env("KEYWARD_LISTEN", addr.to_string())
            .env("KEYWARD_DATA_DIR", &data)
            .env("KEYWARD_DATABASE_URL", &fixture.database_url)
            .env("KEYWARD_MASTER_KEY", &fixture.master_key)
            .env("KEYWARD_PUBLIC_URL", format!("http://localhost:{}", addr.port()))
            .env("KEYWARD_LOG", log_filter)
            .env("KEYWARD_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(&log)?))
            .stderr(Stdio::from(std::fs::File::options().append(true).open(&log)?))
            .spawn()
            .with_context(|| format!("starting {}", keyward.display()))?;
        let mut node = Node { child, addr, log };
        for _ in 0..600 {
            if let Some(status) = node.child.try_wait()? {
                bail!("node {index} exited ({status}) before it was ready; see {}", node.log.display());
            }
            if let Ok(mut connection) = Connection::open(addr, None).await
                && connection.get("/readyz", &[]).await.is_ok_and(|answer| answer.status == 200)
            {
                return Ok(node);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("node {index} was not ready within 30 s; see {}", node.log.display())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) the process has used so far, in seconds.
    pub fn cpu_secs(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
        let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // Linux reports CPU times in clock ticks of 1/100 s (USER_HZ) on every architecture we run on.
        Some(ticks as f64 / 100.0)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
