//! `keyward operator add|list|remove`: the support staff who decide lost-device requests.

use std::sync::Arc;

use keyward_core::usecase::{self, Failure};
use keyward_web::metrics::Metrics;

use super::{block_on, print_line};
use crate::cli::OperatorCommand;
use crate::config::Config;

pub fn run(config: &Config, command: OperatorCommand) -> anyhow::Result<()> {
    let line = block_on(async {
        let (store, keys, _) = super::open_with_keys(config).await?;
        let services = super::serve::services(config, store.clone(), keys, Arc::new(Metrics::default()))?;
        let line = match command {
            OperatorCommand::Add(args) => {
                let link = usecase::add_operator(&services, &args.email).await.map_err(explain)?;
                format!(
                    "Give {} this one-time set-up link (valid {} hours): {link}",
                    args.email.trim(),
                    config.enrollment_link.as_secs() / 3600
                )
            }
            OperatorCommand::List => {
                let operators = usecase::list_operators(&services).await.map_err(explain)?;
                let lines: Vec<String> = operators
                    .iter()
                    .map(|(operator, state)| {
                        format!("{}\t{}\t{}", operator.email, state.as_str(), operator.created_at.date())
                    })
                    .collect();
                if lines.is_empty() { "no operators".to_owned() } else { lines.join("\n") }
            }
            OperatorCommand::Remove(args) => {
                usecase::remove_operator(&services, &args.email).await.map_err(explain)?;
                format!("{} can no longer log in", args.email.trim())
            }
        };
        store.close().await;
        Ok(line)
    })?;
    print_line(&line);
    Ok(())
}

/// A refusal is the operator's mistake, said as it is; anything else keeps its cause chain.
fn explain(failure: Failure) -> anyhow::Error {
    match failure {
        Failure::Refused(message) => anyhow::anyhow!(message),
        other => anyhow::Error::new(other),
    }
}
