//! `tables` and `partitions`: what a MaxCompute project holds, before exporting it.

use arrowport_core::{Context, Error, Result};
use arrowport_maxcompute::Config;
use arrowport_maxcompute::catalog;
use serde_json::json;

use super::inspect::print_stdout;
use super::resolve::source_spec;
use crate::args::CatalogArgs;

/// The MaxCompute config of a `maxcompute://` URL and its `-o` options.
pub fn config(args: &CatalogArgs) -> Result<Config> {
    config_of(&args.url, &args.options.options)
}

/// The MaxCompute config of `url` and `-o` options.
pub fn config_of(url: &str, options: &[String]) -> Result<Config> {
    let spec = source_spec(url, options)?;
    if spec.scheme != "maxcompute" {
        return Err(Error::config(format!(
            "`{url}` is not a MaxCompute URL: write `maxcompute://<project>[/<table>]?…`"
        )));
    }
    Config::from_options(&spec.location, &spec.options)
}

pub async fn tables(config: Config, as_json: bool, cx: Context) -> Result<()> {
    let tables = catalog::tables(&config, None, &cx).await?;
    let text: String = if as_json {
        tables
            .iter()
            .map(|t| {
                format!(
                    "{}\n",
                    json!({
                        "name": t.name,
                        "type": t.table_type,
                        "owner": t.owner,
                        "last_modified": t.last_modified,
                        "comment": t.comment,
                    })
                )
            })
            .collect()
    } else {
        let width = tables
            .iter()
            .map(|t| t.name.chars().count())
            .max()
            .unwrap_or(0);
        tables
            .iter()
            .map(|t| {
                let kind = t.table_type.as_deref().unwrap_or("");
                format!("{}\n", format!("{:<width$}  {kind}", t.name).trim_end())
            })
            .collect()
    };
    print_stdout(&text)
}

pub async fn partitions(config: Config, as_json: bool, cx: Context) -> Result<()> {
    let partitions = catalog::partitions(&config, None, &cx).await?;
    let text: String = if as_json {
        partitions
            .iter()
            .map(|p| {
                format!(
                    "{}\n",
                    json!({
                        "partition": p.spec.to_tunnel_string(),
                        "record_count": p.record_count,
                        "size": p.size,
                        "created": p.created,
                        "last_modified": p.last_modified,
                    })
                )
            })
            .collect()
    } else {
        partitions
            .iter()
            .map(|p| format!("{}\n", p.spec.to_tunnel_string()))
            .collect()
    };
    print_stdout(&text)
}
