//! Tunnel sessions. A download session is a frozen snapshot of a table or partition whose rows
//! any number of clients read by row range; an upload session collects blocks that one commit
//! makes visible.

use std::time::Duration;

use arrowport_core::retry::sleep_or_cancel;
use arrowport_core::{Context, Error, ErrorKind, Result};
use serde_json::Value;

use crate::NAME;
use crate::client::Client;
use crate::partition::PartitionSpec;
use crate::types::Column;

/// First wait while a session is `initiating`; it doubles up to [`MAX_POLL`]. Most sessions
/// are ready within milliseconds, so the first look comes sooner than PyODPS's 0.1 s; the
/// doubling keeps a slow one down to a handful of requests.
const FIRST_POLL: Duration = Duration::from_millis(20);
const MAX_POLL: Duration = Duration::from_secs(5);

/// A download session as the tunnel describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionInfo {
    pub id: String,
    /// `normal`, `initiating`, `expired`, … (lower-cased).
    pub status: String,
    pub record_count: u64,
    /// Data columns, in table order (partition keys are not on the wire).
    pub columns: Vec<Column>,
    pub partition_keys: Vec<Column>,
}

impl SessionInfo {
    /// Parses the session JSON (spec §1.2), tolerating unknown keys and `nullable` as a
    /// boolean or a string.
    pub fn parse(body: &[u8]) -> Result<SessionInfo> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| malformed(&format!("the session is not JSON: {e}")))?;
        let id = v
            .get("DownloadID")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| malformed("no `DownloadID`"))?
            .to_string();
        let status = v
            .get("Status")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_ascii_lowercase();
        let record_count = match v.get("RecordCount") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        let schema = v.get("Schema").unwrap_or(&Value::Null);
        let initiating = status == "initiating";
        let record_count = match record_count {
            Some(n) => n,
            // An initiating session may not know its count yet.
            None if initiating => 0,
            None => return Err(malformed("no `RecordCount`")),
        };
        Ok(SessionInfo {
            id,
            status,
            record_count,
            columns: columns(schema.get("columns"))?,
            partition_keys: columns(schema.get("partitionKeys"))?,
        })
    }
}

/// An upload session as the tunnel describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadInfo {
    pub id: String,
    /// `normal`, `closed`, `expired`, … (lower-cased).
    pub status: String,
    /// Data columns, in table order.
    pub columns: Vec<Column>,
    /// Ids of the blocks the server holds.
    pub blocks: Vec<u32>,
    /// The `RecordCount` of each of `blocks`, where the server gives it.
    pub record_counts: Vec<Option<u64>>,
}

impl UploadInfo {
    /// Parses the upload session JSON (spec §1.3); the SDKs read only `BlockID` of each block.
    pub fn parse(body: &[u8]) -> Result<UploadInfo> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| malformed(&format!("the upload session is not JSON: {e}")))?;
        let id = v
            .get("UploadID")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| malformed("no `UploadID`"))?
            .to_string();
        let number = |v: Option<&Value>| {
            v.and_then(Value::as_u64)
                .or_else(|| v.and_then(Value::as_str).and_then(|s| s.parse().ok()))
        };
        let (blocks, record_counts) = match v.get("UploadedBlockList") {
            Some(Value::Array(list)) => list
                .iter()
                .map(|b| {
                    let id = number(b.get("BlockID"))
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| malformed("a block without a numeric `BlockID`"))?;
                    Ok((id, number(b.get("RecordCount"))))
                })
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .unzip(),
            _ => (Vec::new(), Vec::new()),
        };
        Ok(UploadInfo {
            id,
            status: v
                .get("Status")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_ascii_lowercase(),
            columns: columns(v.get("Schema").and_then(|s| s.get("columns")))?,
            blocks,
            record_counts,
        })
    }
}

fn columns(list: Option<&Value>) -> Result<Vec<Column>> {
    let Some(Value::Array(items)) = list else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|c| {
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("a schema column without `name`"))?;
            let ty = c
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed(&format!("column `{name}` without `type`")))?;
            let mut column = Column::new(name, ty)?;
            column.nullable = match c.get("nullable") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => !s.eq_ignore_ascii_case("false"),
                _ => true,
            };
            Ok(column)
        })
        .collect()
}

/// Where a session reads from.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionTarget {
    pub table: String,
    pub partition: Option<PartitionSpec>,
}

/// Creates a session (or joins `download_id`) and waits until it is ready to read.
pub async fn open(
    client: &Client,
    target: &SessionTarget,
    download_id: Option<&str>,
    cx: &Context,
) -> Result<SessionInfo> {
    let table = target.table.as_str();
    let partition = target.partition.as_ref();
    let mut info = match download_id {
        Some(id) => client.download_status(table, partition, id, cx).await?,
        None => client.create_download(table, partition, cx).await?,
    };
    let mut wait = FIRST_POLL;
    loop {
        match info.status.as_str() {
            "normal" => return Ok(info),
            "initiating" => {
                sleep_or_cancel(cx, wait).await?;
                wait = (wait * 2).min(MAX_POLL);
                info = client
                    .download_status(table, partition, &info.id, cx)
                    .await?;
            }
            other => {
                return Err(Error::new(
                    ErrorKind::Remote,
                    format!(
                        "{NAME}: download session {} of {} is `{other}`, not readable{}",
                        info.id,
                        describe(target),
                        if download_id.is_some() {
                            "; run the export without `download_id` to take a new snapshot"
                        } else {
                            ""
                        }
                    ),
                )
                .with_context("download_id", &info.id));
            }
        }
    }
}

/// `table` or `table partition pt=a,dt=b`, for messages.
pub fn describe(target: &SessionTarget) -> String {
    match &target.partition {
        Some(p) => format!("{} partition {}", target.table, p.to_tunnel_string()),
        None => target.table.clone(),
    }
}

fn malformed(what: &str) -> Error {
    Error::new(
        ErrorKind::Remote,
        format!("{NAME}: the tunnel answered a session in an unexpected shape: {what}"),
    )
    .with_context("plugin", NAME)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::OdpsType;

    #[test]
    fn parses_the_session_json_tolerantly() {
        let body = br#"{"DownloadID":"2023011912345600f2","Status":"NORMAL","RecordCount":5,
            "Schema":{"columns":[{"name":"c_bigint","type":"bigint","comment":"","nullable":true,"column_id":"0"},
                                 {"name":"c_map","type":"MAP<STRING,BIGINT>","nullable":"false"}],
                      "partitionKeys":[{"name":"pt","type":"string","comment":"","nullable":true}]},
            "QuotaName":"","SupportReadByRawSize":false,"Owner":"x"}"#;
        let s = SessionInfo::parse(body).unwrap();
        assert_eq!(s.id, "2023011912345600f2");
        assert_eq!(s.status, "normal");
        assert_eq!(s.record_count, 5);
        assert_eq!(s.columns.len(), 2);
        assert!(!s.columns[1].nullable);
        assert_eq!(
            s.columns[1].ty,
            OdpsType::Map(Box::new(OdpsType::String), Box::new(OdpsType::BigInt))
        );
        assert_eq!(s.partition_keys[0].name, "pt");
    }

    #[test]
    fn parses_upload_sessions_and_their_block_lists() {
        let body = br#"{"UploadID":"20230119up","Status":"normal","Schema":{"columns":[{"name":"id","type":"bigint","nullable":false}]},
            "UploadedBlockList":[{"BlockID":0,"RecordCount":1,"Version":0},{"BlockID":"7"}],"MaxFieldSize":8388608}"#;
        let u = UploadInfo::parse(body).unwrap();
        assert_eq!((u.id.as_str(), u.status.as_str()), ("20230119up", "normal"));
        assert_eq!(u.blocks, [0, 7]);
        assert!(!u.columns[0].nullable);
        assert!(UploadInfo::parse(br#"{"Status":"normal"}"#).is_err());
    }

    #[test]
    fn initiating_sessions_may_lack_a_count_but_ready_ones_may_not() {
        let s = SessionInfo::parse(br#"{"DownloadID":"a","Status":"initiating"}"#).unwrap();
        assert_eq!(s.record_count, 0);
        let e = SessionInfo::parse(br#"{"DownloadID":"a","Status":"normal"}"#).unwrap_err();
        assert!(e.message().contains("RecordCount"), "{e}");
        assert!(SessionInfo::parse(b"<html>").is_err());
        let count =
            SessionInfo::parse(br#"{"DownloadID":"a","Status":"normal","RecordCount":"7"}"#);
        assert_eq!(count.unwrap().record_count, 7);
    }
}
