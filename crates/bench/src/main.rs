//! `keyward-bench`: Keyward's load generator. It seeds an account of N users straight into the database
//! (each with a TOTP app and an imported YubiKey), starts `keyward serve` nodes on it, then drives a
//! trivial endpoint and the chosen workload with K keep-alive connections for D seconds each, in the same
//! run, and reports requests per second, latency quantiles, errors and the nodes' resident memory.
//! Every request of a workload is a real success: a fresh code for its user, checked in the answer.
//!
//! See BENCHMARKS.md for the commands behind each published figure.

// The report is what the tool prints.
#![allow(clippy::print_stdout)]

mod edge;
mod fixture;
mod http;
mod load;
mod nodes;
mod sql;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;

use crate::fixture::Fixture;
use crate::load::{Codes, Factor, Outcome, Workload};
use crate::nodes::Node;

#[derive(Debug, Parser)]
#[command(name = "keyward-bench", about = "Load generator for Keyward's verification endpoints")]
struct Args {
    /// The keyward binary the nodes run.
    #[arg(long, default_value = "target/release/keyward")]
    keyward: PathBuf,
    /// `sqlite`, or a PostgreSQL URL whose database the bench may drop and create
    /// (postgres://127.0.0.1:5432/keyward_bench).
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// Users in the account.
    #[arg(long, default_value_t = 10_000)]
    users: u64,
    /// Users with no factor yet beside them, for the `send-to-all` workload.
    #[arg(long, default_value_t = 0)]
    unenrolled: u64,
    /// Where the fixture (and a SQLite database) is kept between runs; by default
    /// target/bench/<database>-<users>.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seed again even when the folder holds a fixture of this size.
    #[arg(long)]
    reseed: bool,
    /// Nodes serving the same database (several need PostgreSQL); connections are spread over them.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Keep-alive connections driving the workload.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds each phase runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, value_enum, default_value = "verify")]
    workload: Workload,
    /// The admin page the `page` workload asks for.
    #[arg(long, default_value = "/account/users")]
    page: String,
    /// What the verify and login workloads type.
    #[arg(long, value_enum, default_value = "yubikey")]
    factor: Factor,
    /// Connections sending password logins beside the workload (each from its own address).
    #[arg(long, default_value_t = 0)]
    flood: usize,
    /// Worker threads of the generator itself (it shares the machine with the nodes).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Skip the trivial phase.
    #[arg(long)]
    no_trivial: bool,
    /// Count the SQL statements and commits of each successful request instead of timing: the nodes log
    /// every statement, and one connection sends `--sql-requests` requests.
    #[arg(long)]
    count_sql: bool,
    #[arg(long, default_value_t = 200)]
    sql_requests: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.nodes > 1 && !args.database.starts_with("postgres") {
        bail!("several nodes share one database only on PostgreSQL: give --database postgres://…");
    }
    let dir = args.dir.clone().unwrap_or_else(|| {
        let backend = if args.database == "sqlite" { "sqlite" } else { "postgres" };
        PathBuf::from(format!("target/bench/{backend}-{}-{}", args.users, args.unenrolled))
    });
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let fixture = prepare(&args, &dir).await?;
    let log_filter = if args.count_sql { "warn,sqlx::query=debug,keyward_store::unit=debug" } else { "warn" };
    let mut nodes = Vec::new();
    for index in 0..args.nodes {
        nodes.push(Node::start(&args.keyward, &dir, &fixture, index, log_filter).await?);
    }
    let addrs: Vec<_> = nodes.iter().map(|node| node.addr).collect();
    let codes = Arc::new(Codes::new(fixture, args.page.clone()));
    let result = if args.count_sql {
        count_sql(&args, &nodes, &codes).await
    } else {
        measure(&args, &nodes, &addrs, &codes).await
    };
    codes.fixture_after().save(&dir)?;
    result
}

/// The fixture in `dir` when it matches, else a freshly seeded database.
async fn prepare(args: &Args, dir: &std::path::Path) -> anyhow::Result<Fixture> {
    let url = if args.database == "sqlite" {
        format!("sqlite://{}", dir.join("keyward.db").display())
    } else {
        args.database.clone()
    };
    if !args.reseed
        && let Some(fixture) = Fixture::load(dir)?
        && fixture.users == args.users
        && fixture.unenrolled == args.unenrolled
        && fixture.database_url == url
    {
        return Ok(fixture);
    }
    if args.database == "sqlite" {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.join(format!("keyward.db{suffix}")));
        }
    } else {
        recreate_postgres_database(&url).await?;
    }
    eprintln!("seeding {} users into {url}", args.users);
    let fixture = fixture::seed(&url, args.users, args.unenrolled).await?;
    fixture.save(dir)?;
    Ok(fixture)
}

async fn recreate_postgres_database(url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let (server, name) = url.rsplit_once('/').context("the PostgreSQL URL names no database")?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("name the bench database with letters, digits and _ only (not {name:?})");
    }
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut admin)
        .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
    Ok(())
}

async fn measure(
    args: &Args,
    nodes: &[Node],
    addrs: &[std::net::SocketAddr],
    codes: &Arc<Codes>,
) -> anyhow::Result<()> {
    let duration = Duration::from_secs(args.seconds);
    println!(
        "keyward-bench: {} users, {} ({} node{}), {} connections, {} s per phase, generator on {} thread(s)",
        codes.fixture.users,
        if args.database == "sqlite" { "SQLite" } else { "PostgreSQL" },
        args.nodes,
        if args.nodes == 1 { "" } else { "s" },
        args.connections,
        args.seconds,
        args.threads
    );
    let trivial = if args.no_trivial {
        None
    } else {
        let outcome =
            load::drive(addrs, args.connections, duration, Workload::Trivial, args.factor, codes, 0).await?;
        Some(report("trivial (GET /healthz)", outcome))
    };
    let sampling = Arc::new(AtomicBool::new(true));
    let peak_rss = Arc::new(AtomicU64::new(0));
    let pids: Vec<u32> = nodes.iter().map(Node::pid).collect();
    let sampler = {
        let (sampling, peak_rss) = (Arc::clone(&sampling), Arc::clone(&peak_rss));
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                for pid in &pids {
                    if let Some(rss) = rss_kib(*pid) {
                        peak_rss.fetch_max(rss, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let cpu_before: f64 = nodes.iter().filter_map(Node::cpu_secs).sum();
    let flood = (args.flood > 0).then(|| {
        let (addrs, codes) = (addrs.to_vec(), Arc::clone(codes));
        let (connections, factor) = (args.flood, args.factor);
        tokio::spawn(async move {
            load::drive(&addrs, connections, duration, Workload::Password, factor, &codes, 10_000).await
        })
    });
    let name = match args.workload {
        Workload::Verify => format!("verify (POST /api/v1/verify, {:?})", args.factor).to_lowercase(),
        Workload::Wsapi => "Validation Protocol (GET /wsapi/2.0/verify)".to_owned(),
        Workload::Login => format!("login (password, then {:?})", args.factor).to_lowercase(),
        Workload::Password => "password step".to_owned(),
        Workload::Page => format!("admin page (GET {})", args.page),
        Workload::AddUser => "Add user (POST /account/users)".to_owned(),
        Workload::SendToAll => "send to all not yet enrolled (POST /account/two-factor/totp)".to_owned(),
        Workload::Trivial => "trivial".to_owned(),
    };
    let outcome =
        load::drive(addrs, args.connections, duration, args.workload, args.factor, codes, 0).await?;
    let node_cpu = nodes.iter().filter_map(Node::cpu_secs).sum::<f64>() - cpu_before;
    let per_second = report(&name, outcome);
    if let Some(flood) = flood {
        report("beside it: password logins", flood.await??);
    }
    sampling.store(false, Ordering::Relaxed);
    sampler.await?;
    println!(
        "nodes: peak resident {:.1} MiB (largest node), {:.2} CPU-seconds per second of the workload phase",
        peak_rss.load(Ordering::Relaxed) as f64 / 1024.0,
        node_cpu / args.seconds as f64
    );
    if node_cpu > 0.0 {
        println!("  {:.0} per CPU-second of the nodes", per_second * args.seconds as f64 / node_cpu);
    }
    if let Some(trivial) = trivial {
        println!("ratio to the trivial endpoint: {:.2}", per_second / trivial.max(1e-9));
    }
    let waited = codes.waited.load(Ordering::Relaxed);
    if waited > 0 {
        println!("connections waited {waited} times for a fresh TOTP step: seed more users for a TOTP run");
    }
    Ok(())
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|line| line.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Prints one phase's line; its successes per second.
fn report(name: &str, mut outcome: Outcome) -> f64 {
    let per_second = outcome.per_second();
    println!(
        "{name}: {per_second:.0}/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} ok, {} errors",
        outcome.quantile_ms(0.5),
        outcome.quantile_ms(0.9),
        outcome.quantile_ms(0.99),
        outcome.quantile_ms(1.0),
        outcome.latencies_us.len(),
        outcome.errors
    );
    if let Some(error) = &outcome.first_error {
        println!("  first error: {error}");
    }
    per_second
}

async fn count_sql(args: &Args, nodes: &[Node], codes: &Arc<Codes>) -> anyhow::Result<()> {
    let node = nodes.first().context("no node")?;
    let mut connection = http::Connection::open(node.addr, None).await?;
    if args.workload.as_admin() {
        load::admin_login(&mut connection, codes).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let before = sql::Counts::read(&node.log)?;
    let mut ok = 0u64;
    for _ in 0..args.sql_requests {
        if load::one(&mut connection, args.workload, args.factor, codes).await.is_ok() {
            ok += 1;
        }
    }
    // The node writes its log as it goes; give the last lines a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = sql::Counts::read(&node.log)?.since(&before);
    println!("{ok} of {} requests succeeded; per successful request:", args.sql_requests);
    counts.print(ok.max(1));
    Ok(())
}
