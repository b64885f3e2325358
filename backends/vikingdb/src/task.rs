//! One export task from start to listing: create it (or attach to an existing one), poll it
//! to `done` with capped backoff, record its snapshot facts, and list the files it wrote.

use std::time::SystemTime;

use arrowport_core::retry::sleep_or_cancel;
use arrowport_core::{Context, Error, ErrorKind, ProgressEvent, Result};
use serde_json::{Value, json};

use crate::NAME;
use crate::client::ApiClient;
use crate::config::{Config, FileType, Filter, split_tos_path};
use crate::error::integrity;
use crate::model::TaskInfo;
use crate::read::{is_data_object, is_marker};
use crate::sign::SigningTime;
use crate::tos::{ObjectInfo, TosClient};

/// What a finished task left to read.
#[derive(Debug)]
pub(crate) struct ExportedFiles {
    pub bucket: String,
    pub file_type: FileType,
    pub objects: Vec<ObjectInfo>,
}

pub(crate) async fn run(
    config: &Config,
    api: &ApiClient,
    tos: &TosClient,
    cx: &Context,
) -> Result<ExportedFiles> {
    let task = match &config.task_id {
        Some(id) => api.task_info(id, cx).await?,
        None => create(config, api, cx).await?,
    };
    let task = wait_until_done(config, api, task, cx).await?;
    let (bucket, prefix, file_type) = location(&task, config)?;
    let tos_path = format!("{bucket}/{}", prefix.trim_end_matches('/'));
    let expected = record_facts(&task, &tos_path, file_type, cx);

    cx.emit(ProgressEvent::Phase {
        name: "listing".into(),
        detail: Some(format!("tos://{bucket}/{prefix}")),
    });
    // The task is paid for: a failed listing names it, so that a re-run can attach to it.
    let (objects, skipped): (Vec<_>, Vec<_>) = tos
        .list(&bucket, &prefix, cx)
        .await
        .map_err(|e| e.with_context("task_id", &task.task_id))?
        .into_iter()
        .partition(|o| is_data_object(o, file_type));
    // Markers (`_SUCCESS`, hidden files, directory placeholders) are expected; anything else
    // left unread is worth a word.
    let unexpected: Vec<&str> = skipped
        .iter()
        .map(|o| o.key.as_str())
        .filter(|k| !is_marker(k))
        .collect();
    if !unexpected.is_empty() {
        cx.warn(format!(
            "skipped {} object(s) that hold no {} rows: {}{}",
            unexpected.len(),
            file_type.as_str(),
            unexpected[..unexpected.len().min(5)].join(", "),
            if unexpected.len() > 5 { ", …" } else { "" }
        ));
    }
    if objects.is_empty() && expected.unwrap_or(0) > 0 {
        return Err(integrity(
            format!(
                "task {} reports {} rows but tos://{bucket}/{prefix} holds no {} files",
                task.task_id,
                expected.unwrap_or(0),
                file_type.as_str()
            ),
            &prefix,
        )
        .with_context("task_id", &task.task_id));
    }
    cx.emit(ProgressEvent::Total {
        rows: expected,
        bytes: Some(objects.iter().map(|o| o.size).sum()),
    });
    cx.emit(ProgressEvent::Phase {
        name: "downloading".into(),
        detail: Some(format!("{} file(s)", objects.len())),
    });
    Ok(ExportedFiles {
        bucket,
        file_type,
        objects,
    })
}

/// Where a task's files are: its bucket, the listing prefix (ending in `/` unless empty, so
/// `exp1` does not match `exp10`), and their format.
pub(crate) fn location(task: &TaskInfo, config: &Config) -> Result<(String, String, FileType)> {
    let tos_path = task
        .tos_path()
        .map(str::to_owned)
        .or_else(|| config.tos_path.clone())
        .ok_or_else(|| task_error(&task.task_id, "its info names no `tos_path`".into()))?;
    let (bucket, prefix) = split_tos_path(&tos_path).ok_or_else(|| {
        task_error(
            &task.task_id,
            format!("its `tos_path` `{tos_path}` is not bucket/prefix"),
        )
    })?;
    let prefix = if prefix.is_empty() {
        prefix
    } else {
        format!("{prefix}/")
    };
    let file_type = match task.file_type() {
        Some("json") => FileType::Json,
        Some("parquet") => FileType::Parquet,
        _ => config.file_type,
    };
    Ok((bucket, prefix, file_type))
}

/// Creates the task in a sub-prefix of `tos_path` unique to this run, so its listing holds
/// only this task's files.
async fn create(config: &Config, api: &ApiClient, cx: &Context) -> Result<TaskInfo> {
    let (bucket, prefix) = config.tos_location()?;
    let run = format!(
        "arrowport-{}-{}-{:06x}",
        config.collection,
        SigningTime::from_system_time(SystemTime::now())?.as_str(),
        fastrand::u32(..0x100_0000)
    );
    let tos_path = [bucket.as_str(), prefix.as_str(), run.as_str()]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    let mut params = json!({
        "collection_name": config.collection,
        "tos_path": tos_path,
        "file_type": config.file_type.as_str(),
        "export_all": config.export_all.unwrap_or(config.filter.is_none()),
    });
    match &config.filter {
        Some(Filter::Map(map)) => params["filter"] = Value::Object(map.clone()),
        Some(Filter::Conds(conds)) => params["filter_conds"] = Value::Array(conds.clone()),
        None => {}
    }
    cx.emit(ProgressEvent::phase("creating_task"));
    let task_id = api.create_export_task(params.clone(), cx).await?;
    cx.report().set_info("task_id", task_id.clone());
    // Durable before the wait, which may be long: a re-run reads this task, not a new one.
    cx.report().reattach("task_id", &task_id)?;
    cx.emit(ProgressEvent::Phase {
        name: "waiting_for_task".into(),
        detail: Some(format!("task {task_id}")),
    });
    Ok(TaskInfo {
        task_id,
        status: "init".into(),
        params,
        process: Default::default(),
    })
}

async fn wait_until_done(
    config: &Config,
    api: &ApiClient,
    mut task: TaskInfo,
    cx: &Context,
) -> Result<TaskInfo> {
    let mut interval = config.poll_interval;
    let mut confirmed = false;
    loop {
        match task.status.as_str() {
            "done" => return Ok(task),
            "fail" => {
                let why = task
                    .process
                    .err_msg
                    .as_deref()
                    .unwrap_or("no error message");
                return Err(task_error(
                    &task.task_id,
                    format!("failed on the server: {why}"),
                ));
            }
            "confirm" if config.confirm && !confirmed => {
                api.confirm_task(&task.task_id, cx).await?;
                confirmed = true;
            }
            "confirm" if !confirmed => {
                return Err(task_error(
                    &task.task_id,
                    format!(
                        "is waiting for confirmation; re-run with `-o task_id={0} -o confirm=true` \
                         to confirm it and continue (or confirm it in the console)",
                        task.task_id
                    ),
                )
                .with_kind(ErrorKind::Remote));
            }
            status => {
                let p = &task.process;
                cx.emit(ProgressEvent::RemoteProgress {
                    percent: p.progress.unwrap_or(0.0),
                    detail: Some(match (p.scan_data_count, p.total_data_count) {
                        (Some(s), Some(t)) => format!("task {status}: scanned {s} of {t} rows"),
                        _ => format!("task {status}"),
                    }),
                });
            }
        }
        sleep_or_cancel(cx, interval).await?;
        interval = (interval * 2).min(config.max_poll_interval);
        task = api.task_info(&task.task_id, cx).await?;
    }
}

/// Records the snapshot in the report (and so the manifest) and returns the promised rows.
fn record_facts(task: &TaskInfo, tos_path: &str, file_type: FileType, cx: &Context) -> Option<u64> {
    let report = cx.report();
    let p = &task.process;
    report.set_info("task_id", task.task_id.clone());
    report.set_info("tos_path", tos_path.to_string());
    report.set_info("file_type", file_type.as_str());
    if let Some(ts) = &p.sampled_timestamp {
        report.set_info("sampled_timestamp", ts.clone());
    }
    if let Some(n) = p.total_data_count {
        report.set_info("total_data_count", n);
    }
    if let Some(n) = p.total_filter_count {
        report.set_info("total_filter_count", n);
    }
    let filtered = ["filter", "filter_conds"]
        .iter()
        .any(|k| task.params.get(k).is_some_and(|v| !v.is_null()));
    let expected = if filtered {
        p.total_filter_count
    } else {
        p.total_data_count.or(p.total_filter_count)
    };
    if let Some(rows) = expected {
        report.promise_rows(rows);
    }
    expected
}

fn task_error(task_id: &str, what: String) -> Error {
    Error::new(
        ErrorKind::Remote,
        format!("{NAME}: export task {task_id} {what}"),
    )
    .with_context("plugin", NAME)
    .with_context("task_id", task_id)
}
