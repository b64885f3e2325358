//! `arrowport demo`: an emulated VikingDB collection exported over real HTTP — export task,
//! polling, TOS listing, ranged downloads, checksums — into several formats, then copied into
//! an emulated MaxCompute table through Tunnel upload sessions and read back from it through a
//! download session, with a summary.

use std::sync::Arc;

use arrowport_core::registry::resolve_sink;
use arrowport_core::{
    Context, Error, ExportSource, OptionMap, Result, Scan, Sink, SinkSpec, SourceSpec, Summary,
};
use arrowport_maxcompute::{MaxComputeSink, MaxComputeSource};
use arrowport_testkit::maxcompute::{MaxComputeConfig, MaxComputeEmulator};
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
    let viking = |file_type: &str| -> Result<VikingDbSource> {
        let spec = SourceSpec::parse(&url(file_type))?;
        Ok(
            VikingDbSource::new(Config::from_options(&spec.location, &spec.options)?)
                .with_credentials(Credentials::new(&c.access_key, &c.secret_key)),
        )
    };
    let mut table = Vec::new();
    for (name, file_type) in OUTPUTS {
        let path = format!("{}/{name}", args.out.display());
        let (plugin, target) = resolve_sink(&path, None)?;
        let mut options = OptionMap::new();
        if name.ends_with('/') {
            options.insert("max_rows_per_file", (args.rows / 4).max(1).to_string());
        }
        let sink = (plugin.build)(SinkSpec::new(target.clone(), options, true))?;
        let summary = run_one(&viking(file_type)?, sink.as_ref(), &cx, &renderer).await?;
        table.push((target.to_string(), plugin.name, *file_type, summary));
    }

    // The same collection into a MaxCompute table, and back out of it.
    let mc = MaxComputeEmulator::start(MaxComputeConfig::default())
        .await
        .map_err(|e| Error::io("cannot start the MaxCompute emulator", e))?;
    let m = mc.config();
    let table_config = |options: &[(&str, &str)]| {
        let mut map = OptionMap::new();
        map.insert("endpoint", mc.endpoint());
        map.insert("tunnel_endpoint", mc.tunnel_endpoint());
        for (k, v) in options {
            map.insert(*k, *v);
        }
        arrowport_maxcompute::Config::from_options(&format!("{}/vectors", m.project), &map)
    };
    let mc_credentials =
        || arrowport_maxcompute::sign::Credentials::new(&m.access_id, &m.secret_access_key);
    let sink = MaxComputeSink::new(table_config(&[("overwrite", "true")])?)
        .with_credentials(mc_credentials());
    let summary = run_one(&viking("parquet")?, &sink, &cx, &renderer).await?;
    table.push((
        format!("maxcompute://{}/vectors", m.project),
        "maxcompute",
        "parquet",
        summary,
    ));
    let source = MaxComputeSource::new(table_config(&[])?).with_credentials(mc_credentials());
    let path = format!("{}/maxcompute.parquet", args.out.display());
    let (plugin, target) = resolve_sink(&path, None)?;
    let sink = (plugin.build)(SinkSpec::new(target.clone(), OptionMap::new(), true))?;
    let summary = run_one(&source, sink.as_ref(), &cx, &renderer).await?;
    table.push((target.to_string(), plugin.name, "tunnel", summary));

    if !out.quiet {
        eprintln!(
            "{:<34} {:<10} {:<8} {:>8} {:>11} {:>8}",
            "output", "format", "read", "rows", "bytes", "seconds"
        );
        for (path, format, file_type, s) in &table {
            eprintln!(
                "{:<34} {:<10} {:<8} {:>8} {:>11} {:>8.2}",
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
             listed on TOS, downloaded with ranged GETs and checked against its CRC-64 (`read` \
             is the task's file type). The last two lines copied the collection into an \
             emulated MaxCompute table through Tunnel upload sessions and read it back through \
             a download session.\n\
             `arrowport emulate vikingdb` and `arrowport emulate maxcompute` serve the same \
             emulators for your own exports."
        );
    }
    Ok(())
}

/// One export with the progress bar, finished before the next starts.
async fn run_one(
    source: &dyn ExportSource,
    sink: &dyn Sink,
    cx: &Context,
    renderer: &Renderer,
) -> Result<Summary> {
    let summary = arrowport_core::export(source, sink, &Scan::new(), cx).await;
    renderer.finish();
    summary
}
