//! Counting a node's SQL: the node logs every statement (sqlx's `sqlx::query` target at debug, as JSON
//! lines) and the counts are read back from its log file.

use std::collections::BTreeMap;
use std::path::Path;

/// Statements by their first word, and the transactions that wrote.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    pub by_verb: BTreeMap<String, u64>,
    /// Explicit commits, and writes outside a transaction (each its own commit).
    pub commits: u64,
}

impl Counts {
    pub fn read(log: &Path) -> anyhow::Result<Counts> {
        let text = std::fs::read_to_string(log)?;
        let mut counts = Counts::default();
        let mut in_transaction = false;
        for line in text.lines() {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let field = |name: &str| entry[name].as_str().or_else(|| entry["fields"][name].as_str());
            let statement = match entry["target"].as_str() {
                Some("sqlx::query") => {
                    let text = field("db.statement")
                        .filter(|text| !text.trim().is_empty())
                        .or_else(|| field("summary"))
                        .unwrap_or_default();
                    // sqlx's own transaction control: the units' lines below count it.
                    if matches!(statement_verb(Some(text)), "BEGIN" | "COMMIT" | "ROLLBACK") {
                        continue;
                    }
                    text
                }
                // The units of work: BEGIN, COMMIT, ROLLBACK.
                Some("keyward_store::unit") => field("message").unwrap_or_default(),
                _ => continue,
            };
            // The outbox's delivery worker polls twice a second whatever the load: not the request's work.
            if statement.trim_start().starts_with("UPDATE outbox SET claimed_until") {
                continue;
            }
            let verb = statement_verb(Some(statement)).to_owned();
            match verb.as_str() {
                "BEGIN" => in_transaction = true,
                "COMMIT" => {
                    in_transaction = false;
                    counts.commits += 1;
                }
                "ROLLBACK" => in_transaction = false,
                "INSERT" | "UPDATE" | "DELETE" if !in_transaction => counts.commits += 1,
                _ => {}
            }
            *counts.by_verb.entry(verb).or_default() += 1;
        }
        Ok(counts)
    }

    /// What was counted after `earlier`.
    pub fn since(&self, earlier: &Counts) -> Counts {
        let by_verb = self
            .by_verb
            .iter()
            .map(|(verb, n)| (verb.clone(), n - earlier.by_verb.get(verb).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect();
        Counts { by_verb, commits: self.commits - earlier.commits }
    }

    pub fn print(&self, per: u64) {
        let total: u64 = self.by_verb.values().sum();
        let writes: u64 = ["INSERT", "UPDATE", "DELETE"]
            .iter()
            .map(|verb| self.by_verb.get(*verb).copied().unwrap_or(0))
            .sum();
        let per = per as f64;
        println!(
            "  {:.2} statements ({:.2} writes), {:.2} commits",
            total as f64 / per,
            writes as f64 / per,
            self.commits as f64 / per
        );
        for (verb, n) in &self.by_verb {
            println!("  {verb}: {:.2}", *n as f64 / per);
        }
    }
}

/// A statement's first word, upper-case.
fn statement_verb(statement: Option<&str>) -> &'static str {
    let word = statement.and_then(|text| text.split_whitespace().next()).unwrap_or("?").to_ascii_uppercase();
    ["SELECT", "INSERT", "UPDATE", "DELETE", "BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "WITH"]
        .into_iter()
        .find(|verb| *verb == word)
        .unwrap_or("OTHER")
}
