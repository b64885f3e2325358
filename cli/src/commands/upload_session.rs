//! `upload-session create|status|commit`: one MaxCompute upload session shared by workers
//! (`arrowport export … 'maxcompute://p/t?upload_id=ID&block_ids=100-199'`), committed once.

use arrowport_core::{Context, Result};
use arrowport_maxcompute::Config;
use arrowport_maxcompute::session::UploadInfo;
use arrowport_maxcompute::shared::{SessionTarget, parse_ranges};
use serde_json::json;

use super::catalog;
use super::inspect::print_stdout;
use crate::args::{UploadSessionArgs, UploadSessionCommand};

pub async fn run(command: UploadSessionCommand, cx: Context) -> Result<()> {
    match command {
        UploadSessionCommand::Create(args) => {
            let config = catalog::config(&args)?;
            let target = target(&config, &cx).await?;
            let info = target.create(&config, &cx).await?;
            print_stdout(&format!("{}\n", info.id))
        }
        UploadSessionCommand::Status(args) => {
            let config = session_config(&args)?;
            let info = target(&config, &cx).await?.status(&args.id, &cx).await?;
            print_stdout(&format!("{}\n", status_json(&info)))
        }
        UploadSessionCommand::Commit(args) => {
            // The ranges are checked before anything is sent.
            let ranges = args.blocks.as_deref().map(parse_ranges).transpose()?;
            let config = session_config(&args.session)?;
            let target = target(&config, &cx).await?;
            let info = target
                .commit(&args.session.id, ranges.as_deref(), &cx)
                .await?;
            print_stdout(&format!("{}\n", status_json(&info)))
        }
    }
}

fn session_config(args: &UploadSessionArgs) -> Result<Config> {
    catalog::config_of(&args.url, &args.options.options)
}

async fn target(config: &Config, cx: &Context) -> Result<SessionTarget> {
    let credentials = arrowport_maxcompute::credentials(config)?;
    SessionTarget::new(config, credentials, cx).await
}

/// The session's id, status and blocks (as the server listed them before the command).
fn status_json(info: &UploadInfo) -> serde_json::Value {
    let blocks: Vec<_> = info
        .blocks
        .iter()
        .zip(&info.record_counts)
        .map(|(id, rows)| json!({"block_id": id, "rows": rows}))
        .collect();
    json!({"upload_id": info.id, "status": info.status, "blocks": blocks})
}
