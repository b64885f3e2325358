//! `arrowport demo`: synthetic data of every type into every format, with a summary table.

use std::sync::Arc;

use arrowport_core::arrow::datatypes::Schema;
use arrowport_core::registry::{build_source, resolve_sink};
use arrowport_core::{Context, Error, OptionMap, Result, Scan, SinkSpec, SourceSpec};

use super::Output;
use crate::args::DemoArgs;
use crate::progress::Renderer;

/// Outputs the demo writes, relative to its directory.
const OUTPUTS: &[&str] = &[
    "demo.parquet",
    "demo.arrow",
    "demo.arrows",
    "demo.ndjson",
    "demo.json",
    "demo.csv",
    "parts/",
];

pub async fn run(args: DemoArgs, cx: Context, renderer: Arc<Renderer>, out: Output) -> Result<()> {
    std::fs::create_dir_all(&args.out).map_err(|e| {
        Error::config(format!("cannot create `{}`: {e}", args.out.display())).with_source(e)
    })?;
    let url = format!("datagen://?rows={}&profile=all&seed=42", args.rows);
    let mut table = Vec::new();
    for name in OUTPUTS {
        let source = build_source(SourceSpec::parse(&url)?)?;
        let path = format!("{}/{name}", args.out.display());
        let (plugin, target) = resolve_sink(&path, None)?;
        let mut options = OptionMap::new();
        if name.ends_with('/') {
            options.insert("max_rows_per_file", (args.rows / 4).max(1).to_string());
        }
        let sink = (plugin.build)(SinkSpec::new(target.clone(), options, true))?;
        // Formats that cannot carry nested types get the columns they can.
        let full = source.schema(&cx).await?;
        let columns: Vec<String> = full
            .fields()
            .iter()
            .filter(|f| {
                sink.check_schema(&Schema::new(vec![f.as_ref().clone()]))
                    .is_ok()
            })
            .map(|f| f.name().clone())
            .collect();
        let scan = Scan::new()
            .with_columns((columns.len() < full.fields().len()).then_some(columns.clone()));
        let summary = arrowport_core::export(source.as_ref(), sink.as_ref(), &scan, &cx).await;
        renderer.finish();
        let summary = summary?;
        table.push((target.to_string(), plugin.name, columns.len(), summary));
    }
    if !out.quiet {
        eprintln!(
            "{:<28} {:<8} {:>8} {:>10} {:>6} {:>8}",
            "output", "format", "rows", "bytes", "cols", "seconds"
        );
        for (path, format, cols, s) in &table {
            eprintln!(
                "{:<28} {:<8} {:>8} {:>10} {:>6} {:>8.2}",
                path,
                format,
                s.rows,
                s.bytes,
                cols,
                s.elapsed.as_secs_f64()
            );
        }
        eprintln!(
            "\nRead them back with pyarrow, polars or duckdb; `arrowport schema '{url}'` shows the types."
        );
    }
    Ok(())
}
