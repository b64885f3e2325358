//! Discovery for `arrowport tables` and `arrowport partitions`: what a project holds, from the
//! same URL and options an export takes.

use arrowport_core::{Context, Error, Result};

use crate::NAME;
use crate::client::Client;
use crate::config::Config;
use crate::meta::{PartitionSummary, TableSummary};
use crate::scope::partition_filter;
use crate::sign::Credentials;
use crate::source::credentials;

/// The tables of the URL's project whose names start with `prefix`.
pub async fn tables(
    config: &Config,
    credentials: Option<Credentials>,
    cx: &Context,
) -> Result<Vec<TableSummary>> {
    if let Some(table) = &config.table {
        return Err(Error::config(format!(
            "{NAME}: `arrowport tables` lists a project: write `maxcompute://{}` (without `/{table}`)",
            config.project
        )));
    }
    let client = connect(config, credentials, cx)?;
    client.list_tables(config.prefix.as_deref(), cx).await
}

/// The partitions of the URL's table that the `partition` option selects (all without it).
pub async fn partitions(
    config: &Config,
    credentials: Option<Credentials>,
    cx: &Context,
) -> Result<Vec<PartitionSummary>> {
    let table = config.table()?;
    let client = connect(config, credentials, cx)?;
    let keys = client.table(table, cx).await?.partition_keys()?;
    if keys.is_empty() {
        return Err(Error::config(format!(
            "{NAME}: table `{table}` is not partitioned"
        )));
    }
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    let filter = match &config.partition {
        Some(text) => Some(partition_filter(text, &names)?),
        None => None,
    };
    let prefix = filter.as_ref().and_then(|f| f.prefix());
    let mut out: Vec<PartitionSummary> = client
        .list_partitions(table, prefix.as_ref(), cx)
        .await?
        .into_iter()
        .filter(|p| filter.as_ref().is_none_or(|f| f.matches(&p.spec)))
        .collect();
    out.sort_by(|a, b| a.spec.cmp_values(&b.spec));
    Ok(out)
}

fn connect(config: &Config, credentials: Option<Credentials>, cx: &Context) -> Result<Client> {
    let credentials = match credentials {
        Some(c) => c,
        None => self::credentials(config)?,
    };
    Client::new(config, credentials, cx)
}
