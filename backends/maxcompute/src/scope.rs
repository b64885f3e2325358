//! Which tables and partitions an export reads: the `partition` option resolved against the
//! table's partition keys and the partitions that exist, as PyODPS resolves it.

use arrowport_core::{Context, Error, ErrorKind, Result};

use crate::NAME;
use crate::client::Client;
use crate::config::Config;
use crate::partition::{PartitionFilter, PartitionSpec, sort_max_first};

use crate::session::SessionTarget;
use crate::types::Column;

/// The sessions to open, in export order (partitions ascending by their values).
pub async fn targets(
    client: &Client,
    config: &Config,
    table: &str,
    partition_keys: &[Column],
    cx: &Context,
) -> Result<Vec<SessionTarget>> {
    let single = |partition| {
        vec![SessionTarget {
            table: table.to_string(),
            partition,
        }]
    };
    if partition_keys.is_empty() {
        if let Some(p) = &config.partition {
            return Err(Error::config(format!(
                "{NAME}: table `{table}` is not partitioned, but `partition={p}` was given"
            )));
        }
        if config.max_partition {
            return Err(Error::config(format!(
                "{NAME}: table `{table}` is not partitioned; drop `max_partition`"
            )));
        }
        return Ok(single(None));
    }
    let keys: Vec<&str> = partition_keys.iter().map(|c| c.name.as_str()).collect();
    let filter = match &config.partition {
        Some(text) => Some(partition_filter(text, &keys)?),
        None => None,
    };
    if let Some(spec) = filter.as_ref().and_then(|f| f.exact())
        && !config.max_partition
    {
        // One named partition: the session itself says whether it exists.
        return Ok(single(Some(spec)));
    }
    if config.download_id.is_some() {
        return Err(Error::config(format!(
            "{NAME}: `download_id` joins the session of one partition; name every partition key \
             of `{table}` ({}) with `partition=`",
            keys.join(", ")
        )));
    }
    let prefix = filter.as_ref().and_then(|f| f.prefix());
    let mut specs: Vec<PartitionSpec> = client
        .list_partitions(table, prefix.as_ref(), cx)
        .await?
        .into_iter()
        .map(|p| p.spec)
        .filter(|spec| filter.as_ref().is_none_or(|f| f.matches(spec)))
        .collect();
    if specs.is_empty() {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "{NAME}: no partition of `{table}` matches `{}`",
                config.partition.as_deref().unwrap_or("(any)")
            ),
        )
        .with_context("plugin", NAME));
    }
    specs.sort_by(|a, b| a.cmp_values(b));
    if config.max_partition {
        let spec = max_non_empty(client, table, specs, cx).await?;
        return Ok(single(Some(spec)));
    }
    Ok(specs
        .into_iter()
        .map(|spec| SessionTarget {
            table: table.to_string(),
            partition: Some(spec),
        })
        .collect())
}

/// The greatest partition (by its values, as strings) that holds data, as
/// `get_max_partition(skip_empty=True)` picks it.
async fn max_non_empty(
    client: &Client,
    table: &str,
    mut specs: Vec<PartitionSpec>,
    cx: &Context,
) -> Result<PartitionSpec> {
    sort_max_first(&mut specs);
    for spec in specs {
        let meta = client.partition(table, &spec, cx).await?;
        if meta.is_some_and(|m| m.physical_size.or(m.size).unwrap_or(0) > 0) {
            return Ok(spec);
        }
    }
    Err(Error::new(
        ErrorKind::NotFound,
        format!("{NAME}: every matching partition of `{table}` is empty"),
    )
    .with_context("plugin", NAME))
}

/// The `partition` option parsed against the table's keys; errors name the option.
pub(crate) fn partition_filter(text: &str, keys: &[&str]) -> Result<PartitionFilter> {
    PartitionFilter::parse(text, keys).map_err(|e| {
        let detail = e
            .message()
            .strip_prefix("maxcompute: ")
            .unwrap_or(e.message());
        Error::config(format!("{NAME}: option `partition` (`{text}`): {detail}"))
            .with_context("plugin", NAME)
    })
}
