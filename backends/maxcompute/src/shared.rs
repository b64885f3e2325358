//! Upload sessions shared by several processes or machines: one process creates the session
//! (`arrowport upload-session create`), workers upload blocks into it by `upload_id`, each
//! from its own range of block ids, and one final commit makes every block visible together
//! (`arrowport upload-session commit`).
//!
//! The tunnel keeps no record of who owns which ids, so a worker records its claim in the
//! session itself: an empty block (no rows, so committing it adds nothing) at the first id of
//! its range, its rows in the ids after it. The server's block list then tells whose a block
//! is — the nearest claim at or below it — and a worker refuses to start, or fails at its end,
//! when its range holds another worker's claim or rows. Of two overlapping workers at least
//! one therefore fails, whatever the timing, and the commit (given the ranges) checks that
//! every block lies in one of them and that they are disjoint. A worker run again after a
//! failure rewrites its own ids and empties the ones of its range it no longer fills, so it
//! never leaves rows of the earlier run behind and never touches another range.

use std::collections::BTreeMap;

use arrowport_core::{Context, Error, ErrorKind, Result};

use crate::NAME;
use crate::client::{Client, UploadTarget};
use crate::config::{BlockRange, Config};
use crate::partition::PartitionSpec;
use crate::session::UploadInfo;
use crate::sign::Credentials;
use crate::sink::static_partition;

/// The blocks a session holds, by id, with their record counts.
pub type Held = BTreeMap<u32, Option<u64>>;

pub fn held(info: &UploadInfo) -> Held {
    info.blocks
        .iter()
        .copied()
        .zip(info.record_counts.iter().copied())
        .collect()
}

/// A claim: a block the server holds with no rows.
fn is_claim(records: Option<u64>) -> bool {
    records == Some(0)
}

/// The claim a block belongs to: the nearest claim at or below it.
fn owner(held: &Held, block: u32) -> Option<u32> {
    held.range(..=block)
        .rev()
        .find(|(_, r)| is_claim(**r))
        .map(|(&id, _)| id)
}

/// Before a worker writes: its range must hold no claim but its own and no rows but those of
/// an earlier run of it.
pub fn check_before_writing(held: &Held, range: BlockRange, id: &str) -> Result<()> {
    if held.values().any(Option::is_none) {
        return Err(shared_error(
            id,
            "the tunnel does not report the blocks' record counts, so ranges cannot be checked"
                .into(),
        ));
    }
    for (&block, &records) in held.range(range.first..=range.last) {
        let problem = if is_claim(records) && block != range.first {
            format!("block {block} is the claim of another worker's range")
        } else if !is_claim(records) && owner(held, block) != Some(range.first) {
            match owner(held, block) {
                Some(claim) => {
                    format!("block {block} holds rows of the worker whose range starts at {claim}")
                }
                None => format!("block {block} holds rows another client uploaded"),
            }
        } else {
            continue;
        };
        return Err(overlap(id, range, problem));
    }
    Ok(())
}

/// After a worker wrote `written` (its claim included): the blocks of its range to empty
/// (rows an earlier run of it left), or an error if another worker claimed part of it.
pub fn leftovers(
    held: &Held,
    range: BlockRange,
    written: &std::collections::BTreeSet<u32>,
    id: &str,
) -> Result<Vec<u32>> {
    let mut stale = Vec::new();
    for (&block, &records) in held.range(range.first..=range.last) {
        if written.contains(&block) {
            continue;
        }
        if is_claim(records) {
            return Err(overlap(
                id,
                range,
                format!("another worker claimed block {block} while this one wrote"),
            ));
        }
        stale.push(block);
    }
    for block in written {
        if !held.contains_key(block) {
            return Err(Error::new(
                ErrorKind::DataIntegrity,
                format!("{NAME}: upload session {id} lacks block {block}, which was uploaded"),
            )
            .with_context("upload_id", id));
        }
    }
    Ok(stale)
}

/// Before a commit of the blocks of `ranges`: the ranges are disjoint, each holds its claim,
/// and no block lies outside them.
pub fn check_commit(held: &Held, ranges: &[BlockRange], id: &str) -> Result<()> {
    let mut sorted = ranges.to_vec();
    sorted.sort_by_key(|r| r.first);
    for pair in sorted.windows(2) {
        if pair[0].overlaps(&pair[1]) {
            return Err(Error::config(format!(
                "{NAME}: block ranges {} and {} overlap; nothing was committed",
                pair[0], pair[1]
            )));
        }
    }
    let outside: Vec<String> = held
        .keys()
        .filter(|b| !ranges.iter().any(|r| r.contains(**b)))
        .map(u32::to_string)
        .collect();
    if !outside.is_empty() {
        return Err(commit_error(
            id,
            format!(
                "blocks {} lie outside the ranges given; nothing was committed",
                outside.join(", ")
            ),
        ));
    }
    let unclaimed: Vec<String> = sorted
        .iter()
        .filter(|r| !held.get(&r.first).is_some_and(|c| is_claim(*c)))
        .map(BlockRange::to_string)
        .collect();
    if !unclaimed.is_empty() {
        return Err(commit_error(
            id,
            format!(
                "no worker wrote range {} (its first block, the claim, is missing); nothing \
                 was committed",
                unclaimed.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Block ranges as `--blocks` gives them: `100-199,200-299`.
pub fn parse_ranges(text: &str) -> Result<Vec<BlockRange>> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| BlockRange::parse(p).map_err(|e| Error::config(format!("{NAME}: {e}"))))
        .collect()
}

fn overlap(id: &str, range: BlockRange, problem: String) -> Error {
    Error::config(format!(
        "{NAME}: block ids {range} overlap another writer's in upload session {id}: {problem}; \
         give each worker its own range"
    ))
    .with_context("upload_id", id)
}

/// A commit the ranges given do not describe: the invocation's mistake.
fn commit_error(id: &str, message: String) -> Error {
    Error::config(format!("{NAME}: upload session {id}: {message}")).with_context("upload_id", id)
}

fn shared_error(id: &str, message: String) -> Error {
    Error::new(
        ErrorKind::Remote,
        format!("{NAME}: upload session {id}: {message}"),
    )
    .with_context("upload_id", id)
}

/// A session's client, table and partition, from a `maxcompute://p/t?partition=…` config.
#[derive(Debug)]
pub struct SessionTarget {
    client: Client,
    table: String,
    partition: Option<PartitionSpec>,
}

impl SessionTarget {
    /// The session target of a sink already holding its client and partition.
    pub(crate) fn of(client: &Client, table: &str, partition: Option<PartitionSpec>) -> Self {
        SessionTarget {
            client: client.clone(),
            table: table.to_string(),
            partition,
        }
    }

    /// Reads the table to resolve `partition=` against its keys.
    pub async fn new(config: &Config, credentials: Credentials, cx: &Context) -> Result<Self> {
        let table = config.table()?.to_string();
        let client = Client::new(config, credentials, cx)?;
        let meta = client.table(&table, cx).await?;
        let partition = static_partition(config, &table, &meta.partition_keys()?)?;
        Ok(SessionTarget {
            client,
            table,
            partition,
        })
    }

    /// A new upload session (with the config's `overwrite` and `create_partition`).
    pub async fn create(&self, config: &Config, cx: &Context) -> Result<UploadInfo> {
        let target = UploadTarget {
            partition: self.partition.as_ref(),
            overwrite: config.overwrite,
            create_partition: config.create_partition,
        };
        self.client.create_upload(&self.table, &target, cx).await
    }

    /// The session `id` of this table and partition; an id of another one, or an unknown
    /// one, is a configuration error.
    pub async fn status(&self, id: &str, cx: &Context) -> Result<UploadInfo> {
        self.client
            .upload_status(&self.table, self.partition.as_ref(), id, cx)
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound | ErrorKind::Config => Error::config(format!(
                    "{NAME}: no upload session `{id}` for `{}`{} (an id of another table or \
                     partition?): {}",
                    self.table,
                    self.partition
                        .as_ref()
                        .map(|p| format!(" partition {}", p.to_tunnel_string()))
                        .unwrap_or_default(),
                    e.message()
                ))
                .with_context("upload_id", id),
                _ if e.context_value("code") == Some("StatusConflict") => Error::config(format!(
                    "{NAME}: upload session {id} takes no more blocks and no commit (committed \
                     already, or expired): {}",
                    e.message()
                ))
                .with_context("upload_id", id),
                _ => e,
            })
    }

    /// Commits session `id` once. With `ranges`, its blocks must be those of the ranges
    /// (checked first); without, every block the server lists is committed. A session
    /// already committed is refused before anything is sent.
    pub async fn commit(
        &self,
        id: &str,
        ranges: Option<&[BlockRange]>,
        cx: &Context,
    ) -> Result<UploadInfo> {
        let info = self.status(id, cx).await?;
        if info.status != "normal" {
            return Err(Error::config(format!(
                "{NAME}: upload session {id} is {}{}; nothing was committed",
                info.status,
                if info.status == "closed" {
                    " (committed already)"
                } else {
                    ""
                }
            ))
            .with_context("upload_id", id));
        }
        if let Some(ranges) = ranges {
            check_commit(&held(&info), ranges, id)?;
        }
        self.client
            .commit_upload(&self.table, self.partition.as_ref(), id, cx)
            .await?;
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn range(first: u32, last: u32) -> BlockRange {
        BlockRange { first, last }
    }

    fn held(blocks: &[(u32, u64)]) -> Held {
        blocks.iter().map(|&(b, r)| (b, Some(r))).collect()
    }

    #[test]
    fn a_worker_refuses_a_range_holding_another_workers_blocks() {
        // Worker 100-199 ran (claim 100, rows 101-103); PyODPS wrote block 1.
        let session = held(&[(1, 10), (100, 0), (101, 5), (102, 5), (103, 5)]);
        check_before_writing(&session, range(100, 199), "u").unwrap();
        check_before_writing(&session, range(200, 299), "u").unwrap();
        for (r, needle) in [
            (range(50, 150), "claim of another"),
            (range(102, 150), "starts at 100"),
            (range(0, 10), "another client"),
        ] {
            let err = check_before_writing(&session, r, "u").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.to_string().contains(needle), "{r}: {err}");
        }
    }

    #[test]
    fn a_rerun_empties_what_it_no_longer_fills_and_fails_on_a_late_claim() {
        let session = held(&[(100, 0), (101, 5), (102, 5), (103, 5)]);
        let written: BTreeSet<u32> = [100, 101].into();
        assert_eq!(
            leftovers(&session, range(100, 199), &written, "u").unwrap(),
            [102, 103]
        );
        let late = held(&[(100, 0), (101, 5), (150, 0)]);
        let err = leftovers(&late, range(100, 199), &written, "u").unwrap_err();
        assert!(err.to_string().contains("claimed block 150"), "{err}");
        let lost = held(&[(100, 0)]);
        let err = leftovers(&lost, range(100, 199), &written, "u").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DataIntegrity);
    }

    #[test]
    fn a_commit_checks_the_ranges() {
        let session = held(&[(100, 0), (101, 5), (200, 0), (201, 7)]);
        check_commit(&session, &[range(100, 199), range(200, 299)], "u").unwrap();
        let cases = [
            (vec![range(100, 199), range(150, 299)], "overlap"),
            (vec![range(100, 199)], "outside"),
            (
                vec![range(100, 199), range(200, 299), range(300, 399)],
                "300-399",
            ),
        ];
        for (ranges, needle) in cases {
            let err = check_commit(&session, &ranges, "u").unwrap_err();
            assert!(err.to_string().contains(needle), "{ranges:?}: {err}");
        }
    }
}
