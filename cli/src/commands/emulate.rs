//! `arrowport emulate`: the loopback emulators of the test kit, served until Ctrl-C, so the
//! CLI, the official SDKs and benchmarks can talk to a faithful stand-in of the service.

use arrowport_core::{Context, Error, Result};
use arrowport_testkit::maxcompute::{MaxComputeConfig, MaxComputeEmulator};
use arrowport_testkit::vikingdb::{EmulatorConfig, VikingDbEmulator};
use serde_json::json;

use super::Output;
use crate::args::{EmulateMaxcomputeArgs, EmulateVikingdbArgs};

pub async fn vikingdb(args: EmulateVikingdbArgs, cx: Context, out: Output) -> Result<()> {
    let emulator = VikingDbEmulator::start(EmulatorConfig {
        collection: args.collection,
        rows: args.rows,
        polls_to_done: args.polls,
        rows_per_part: args.rows_per_part,
        api_port: args.port,
        tos_port: args.tos_port,
        ..EmulatorConfig::default()
    })
    .await
    .map_err(|e| Error::io("cannot start the VikingDB emulator", e))?;
    let c = emulator.config();
    // One machine-readable line first: scripts and the compat tests read it.
    println!(
        "{}",
        json!({
            "api_endpoint": emulator.api_endpoint(),
            "tos_endpoint": emulator.tos_endpoint(),
            "collection": c.collection,
            "bucket": c.bucket,
            "region": c.region,
            "tos_region": c.tos_region,
            "access_key": c.access_key,
            "secret_key": c.secret_key,
        })
    );
    if !out.quiet {
        eprintln!(
            "VikingDB emulator: API {api}, TOS {tos} (bucket {bucket}), collection `{coll}` of {rows} rows.\n\
             Try:\n  export VOLC_ACCESSKEY={ak} VOLC_SECRETKEY={sk}\n  \
             arrowport export 'vikingdb://{coll}?endpoint={api}&tos_endpoint={tos}&tos_path_style=true&tos_path={bucket}/exports&poll_interval=100ms' out.parquet\n\
             Press Ctrl-C to stop.",
            api = emulator.api_endpoint(),
            tos = emulator.tos_endpoint(),
            bucket = c.bucket,
            coll = c.collection,
            rows = c.rows,
            ak = c.access_key,
            sk = c.secret_key,
        );
    }
    cx.cancellation().cancelled().await;
    Ok(())
}

pub async fn maxcompute(args: EmulateMaxcomputeArgs, cx: Context, out: Output) -> Result<()> {
    let emulator = MaxComputeEmulator::start(MaxComputeConfig {
        project: args.project,
        rows: args.rows,
        narrow_rows: args.narrow_rows,
        meta_port: args.port,
        tunnel_port: args.tunnel_port,
        ..MaxComputeConfig::default()
    })
    .await
    .map_err(|e| Error::io("cannot start the MaxCompute emulator", e))?;
    let c = emulator.config();
    // One machine-readable line first: scripts and the compat tests read it.
    println!(
        "{}",
        json!({
            "endpoint": emulator.endpoint(),
            "tunnel_endpoint": emulator.tunnel_endpoint(),
            "project": c.project,
            "region": c.region,
            "access_id": c.access_id,
            "secret_access_key": c.secret_access_key,
        })
    );
    if !out.quiet {
        eprintln!(
            "MaxCompute emulator: meta API {endpoint}, tunnel {tunnel}, project `{project}` with \
             tables all_types ({rows} rows), narrow ({narrow} rows), sales (partitioned by pt, dt) \
             and empty.\n\
             Try (PyODPS):\n  \
             ODPS('{id}', '{secret}', '{project}', endpoint='{endpoint}', tunnel_endpoint='{tunnel}')\n\
             Press Ctrl-C to stop.",
            endpoint = emulator.endpoint(),
            tunnel = emulator.tunnel_endpoint(),
            project = c.project,
            rows = c.rows,
            narrow = c.narrow_rows,
            id = c.access_id,
            secret = c.secret_access_key,
        );
    }
    cx.cancellation().cancelled().await;
    Ok(())
}
