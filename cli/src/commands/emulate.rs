//! `arrowport emulate`: the loopback emulators of the test kit, served until Ctrl-C, so the
//! CLI, the official SDKs and benchmarks can talk to a faithful stand-in of the service.

use arrowport_core::{Context, Error, Result};
use arrowport_testkit::vikingdb::{EmulatorConfig, VikingDbEmulator};
use serde_json::json;

use super::Output;
use crate::args::EmulateVikingdbArgs;

pub async fn vikingdb(args: EmulateVikingdbArgs, cx: Context, out: Output) -> Result<()> {
    let emulator = VikingDbEmulator::start(EmulatorConfig {
        collection: args.collection,
        rows: args.rows,
        polls_to_done: args.polls,
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
