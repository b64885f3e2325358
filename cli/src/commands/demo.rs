//! `arrowport demo`: an emulated VikingDB collection exported over real HTTP — export task,
//! polling, TOS listing, ranged downloads, checksums — into several formats, with a summary.

use std::sync::Arc;

use arrowport_core::registry::resolve_sink;
use arrowport_core::{Context, Error, OptionMap, Result, Scan, SinkSpec, SourceSpec};
use arrowport_testkit::vikingdb::{EmulatorConfig, VikingDbEmulator};
use arrowport_vikingdb::sign::Credentials;
use arrowport_vikingdb::{Config, VikingDbSource};

use super::Output;
use crate::args::DemoArgs;
use crate::progress::Renderer;

/// Outputs the demo writes, relative to its directory, and the file type of the export task
/// behind each (both of the task's formats get read).
const OUTPUTS: &[(&str, &str)] = &[
    ("vikingdb.parquet", "parquet"),
    ("vikingdb.arrow", "json"),
    ("vikingdb.ndjson", "parquet"),
    ("parts/", "parquet"),
];

pub async fn run(args: DemoArgs, cx: Context, renderer: Arc<Renderer>, out: Output) -> Result<()> {
    std::fs::create_dir_all(&args.out).map_err(|e| {
        Error::config(format!("cannot create `{}`: {e}", args.out.display())).with_source(e)
    })?;
    let emulator = VikingDbEmulator::start(EmulatorConfig {
        rows: args.rows,
        polls_to_done: 5,
        ..EmulatorConfig::default()
    })
    .await
    .map_err(|e| Error::io("cannot start the VikingDB emulator", e))?;
    let c = emulator.config();
    let url = |file_type: &str| {
        format!(
            "vikingdb://{}?endpoint={}&tos_endpoint={}&tos_path_style=true&tos_path={}/exports\
             &file_type={file_type}&poll_interval=50ms&max_poll_interval=200ms",
            c.collection,
            emulator.api_endpoint(),
            emulator.tos_endpoint(),
            c.bucket
        )
    };
    let mut table = Vec::new();
    for (name, file_type) in OUTPUTS {
        let spec = SourceSpec::parse(&url(file_type))?;
        let source = VikingDbSource::new(Config::from_options(&spec.location, &spec.options)?)
            .with_credentials(Credentials::new(&c.access_key, &c.secret_key));
        let path = format!("{}/{name}", args.out.display());
        let (plugin, target) = resolve_sink(&path, None)?;
        let mut options = OptionMap::new();
        if name.ends_with('/') {
            options.insert("max_rows_per_file", (args.rows / 4).max(1).to_string());
        }
        let sink = (plugin.build)(SinkSpec::new(target.clone(), options, true))?;
        let summary = arrowport_core::export(&source, sink.as_ref(), &Scan::new(), &cx).await;
        renderer.finish();
        table.push((target.to_string(), plugin.name, *file_type, summary?));
    }
    if !out.quiet {
        eprintln!(
            "{:<28} {:<8} {:<10} {:>8} {:>11} {:>8}",
            "output", "format", "task files", "rows", "bytes", "seconds"
        );
        for (path, format, file_type, s) in &table {
            eprintln!(
                "{:<28} {:<8} {:<10} {:>8} {:>11} {:>8.2}",
                path,
                format,
                file_type,
                s.rows,
                s.bytes,
                s.elapsed.as_secs_f64()
            );
        }
        eprintln!(
            "\nEach row came from an emulated VikingDB export task over HTTP: created, polled, \
             listed on TOS, downloaded with ranged GETs and checked against its CRC-64.\n\
             `arrowport emulate vikingdb` serves the same emulator for your own exports."
        );
    }
    Ok(())
}
