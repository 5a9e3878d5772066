//! Several nodes on one PostgreSQL database, as a load balancer spreads requests over them: two
//! `keyward serve` processes, one key, 200 concurrent submissions of the same OTP through both, and
//! exactly one is accepted.

use std::sync::{Arc, Barrier};

use keyward_testkit::postgres::FreshDatabase;

use crate::operations::{Server, get, keyward, scratch, yubikey_log};
use crate::tools;

/// One master key for every node (in production, the same `KEYWARD_MASTER_KEY` everywhere).
const MASTER_KEY: &str = "nodes:3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const SUBMISSIONS: usize = 200;

#[test]
fn of_200_concurrent_submissions_of_one_otp_over_two_nodes_exactly_one_is_accepted() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(database) = runtime.block_on(FreshDatabase::create()) else { return };
    let dir = scratch("two-nodes");
    let env = [("KEYWARD_DATABASE_URL", database.url.as_str()), ("KEYWARD_MASTER_KEY", MASTER_KEY)];
    yubikey_log(&dir);
    let imported = tools::stdout_of(keyward(&dir).envs(env).args(["yubikey", "import", "keys.csv"]));
    assert!(imported.contains("imported 1"), "{imported}");
    let added =
        tools::stdout_of(keyward(&dir).envs(env).args(["yubikey", "client", "add", "--name", "nodes"]));
    let id = added.strip_prefix("id=").and_then(|rest| rest.split_once(' ')).expect(&added).0.to_owned();
    let node = |name: &str| {
        let data = dir.join(name);
        std::fs::create_dir_all(&data).unwrap();
        let mut server = Server::start(keyward(&data).envs(env));
        server.ready();
        server
    };
    let nodes = [node("a"), node("b")];
    let ports = [nodes[0].port, nodes[1].port];

    let otp = crate::validation::touch(&dir);
    let start = Arc::new(Barrier::new(SUBMISSIONS));
    let submissions: Vec<_> = (0..SUBMISSIONS)
        .map(|n| {
            let (start, id, otp, port) = (Arc::clone(&start), id.clone(), otp.clone(), ports[n % 2]);
            std::thread::spawn(move || {
                start.wait();
                let answer =
                    get(port, &format!("/wsapi/2.0/verify?id={id}&otp={otp}&nonce=twonodesnonce{n:05}"))
                        .unwrap_or_else(|error| panic!("node on {port}: {error}"));
                answer.lines().find_map(|line| line.strip_prefix("status=")).unwrap_or("(none)").to_owned()
            })
        })
        .collect();
    let statuses: Vec<String> = submissions.into_iter().map(|s| s.join().unwrap()).collect();
    let accepted = statuses.iter().filter(|status| *status == "OK").count();
    let replayed = statuses.iter().filter(|status| *status == "REPLAYED_OTP").count();
    assert_eq!((accepted, replayed), (1, SUBMISSIONS - 1), "{statuses:?}");

    // The key's next OTP is accepted by either node, once.
    let next = crate::validation::touch(&dir);
    let verify = |port: u16, nonce: &str| {
        let answer = get(port, &format!("/wsapi/2.0/verify?id={id}&otp={next}&nonce={nonce}")).unwrap();
        answer.lines().find_map(|line| line.strip_prefix("status=")).unwrap_or_default().to_owned()
    };
    assert_eq!(verify(ports[1], "afterwardsnonce00001"), "OK");
    assert_eq!(verify(ports[0], "afterwardsnonce00002"), "REPLAYED_OTP");
    drop(nodes);
    runtime.block_on(database.drop_database());
}

fn api(port: u16, key: &str, method: &str, path: &str, body: &str) -> String {
    crate::crash::api(port, key, method, path, body).unwrap()
}

#[test]
fn wrong_codes_spread_over_two_nodes_spend_one_budget() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(database) = runtime.block_on(FreshDatabase::create()) else { return };
    let dir = scratch("two-nodes-budget");
    let env = [("KEYWARD_DATABASE_URL", database.url.as_str()), ("KEYWARD_MASTER_KEY", MASTER_KEY)];
    let node = |name: &str| {
        let data = dir.join(name);
        std::fs::create_dir_all(&data).unwrap();
        let mut server = Server::start(keyward(&data).envs(env));
        server.ready();
        (server, data)
    };
    let ((a, data_a), (b, data_b)) = (node("a"), node("b"));
    let key = crate::crash::api_key(a.port, &[&data_a, &data_b]);
    let added = crate::crash::add_user(b.port, &key, "gus@nodes.example").unwrap();
    assert!(added.starts_with("HTTP/1.1 202"), "{added}");
    let users = api(a.port, &key, "GET", "/api/v1/users", "");
    let before_gus = &users[..users.find(",\"email\":\"gus@nodes.example\"").expect(&users)];
    let id = &before_gus[before_gus.rfind("\"id\":").unwrap() + 5..];
    let started = api(b.port, &key, "POST", &format!("/api/v1/users/{id}/totp"), "{}");
    let uri = crate::crash::between(&started, "\"otpauth_uri\":\"", "\"").replace("\\u0026", "&");
    let code = tools::stdout_of(keyward(&dir).args(["otp", "totp", "--uri", &uri])).trim().to_owned();
    let confirmed = api(
        a.port,
        &key,
        "POST",
        &format!("/api/v1/users/{id}/totp/confirm"),
        &format!("{{\"code\":\"{code}\"}}"),
    );
    assert!(confirmed.starts_with("HTTP/1.1 200"), "{confirmed}");

    // Wrong codes from one address, alternately to each node: the per-user-and-address budget lets 3 through,
    // then both nodes make the next one wait, as one node would.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let verdicts: Vec<String> = (0..6)
        .map(|n| {
            let port = [a.port, b.port][n % 2];
            let answer = api(
                port,
                &key,
                "POST",
                "/api/v1/verify",
                &format!("{{\"email\":\"gus@nodes.example\",\"otp\":\"{wrong}\"}}"),
            );
            crate::crash::between(&answer, "\"verdict\":\"", "\"").to_owned()
        })
        .collect();
    assert_eq!(verdicts, ["invalid", "invalid", "invalid", "throttled", "throttled", "throttled"]);
    drop((a, b));
    runtime.block_on(database.drop_database());
}
