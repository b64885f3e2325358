//! The one typed configuration of the MaxCompute plugin, fed by the URL, `-o` flags and job
//! files alike. Parsing and validation are pure: no network, no environment.

use std::fmt;
use std::sync::Arc;

use arrowport_core::{Error, OptionMap, Result};
use serde::Deserialize;
use url::Url;

use crate::NAME;
use crate::compress::Compression;
use crate::sign::SignatureVersion;
use crate::types::{OdpsType, TypeMapping};
use crate::upload::MAX_BLOCKS;

/// Options of `maxcompute://<project>/<table>?partition=…`.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// URL of the meta API, e.g. `https://service.cn-hangzhou.maxcompute.aliyun.com/api`;
    /// derived from `region` when not given.
    pub endpoint: Option<String>,
    /// Region id (`cn-hangzhou`); selects v4 signatures.
    pub region: Option<String>,
    /// URL of the Table Tunnel; asked from the meta API when not given.
    pub tunnel_endpoint: Option<String>,
    /// Signature scheme: `auto` (v4 when a region is known), `v2` or `v4`.
    pub signature: Signature,
    /// Schema of the three-tier model (`/projects/p/schemas/s/tables/t`).
    pub schema: Option<String>,
    /// Which partitions to read: `pt=a,dt=b`, or predicates such as `dt>20230119` evaluated
    /// as PyODPS does; every matching partition is exported.
    pub partition: Option<String>,
    /// Read only the greatest non-empty partition among those `partition` selects.
    pub max_partition: bool,
    /// Append the partition key columns to every batch.
    pub partition_columns: bool,
    /// Tunnel data format.
    pub format: Format,
    /// Compression asked for on tunnel downloads (`zstd`, `deflate`, `lz4` or `none`).
    #[serde(deserialize_with = "compression")]
    pub compression: Compression,
    /// Join an existing download session (another process's snapshot) instead of creating one.
    pub download_id: Option<String>,
    /// Tunnel quota group (`quotaName`).
    pub quota_name: Option<String>,
    /// Rows per split of a plan, and at most per tunnel request; by default one request of
    /// about 8 MiB (sized from the schema). A bigger split is read in several requests.
    pub split_rows: Option<u64>,
    /// Timezone recorded on `datetime`/`timestamp` columns (values are never shifted).
    pub timezone: String,
    /// Only for `arrowport tables`: list tables whose names start with this.
    pub prefix: Option<String>,
    /// Sink: replace the table's (or partition's) rows instead of appending.
    pub overwrite: bool,
    /// Sink: route rows to partitions by these input columns (the table's partition keys).
    #[serde(deserialize_with = "column_list")]
    pub partition_by: Vec<String>,
    /// Sink: create missing partitions, as the SDKs' `create_partition` does.
    pub create_partition: bool,
    /// Sink: encoded bytes per upload block (before compression).
    pub block_bytes: u64,
    /// Sink: most partitions one export may write (each holds an upload session).
    pub max_partitions: usize,
    /// Sink: create the table from the input's schema when it does not exist (and the
    /// partitions rows go to); an existing table must fit the input.
    pub create_table: bool,
    /// Sink, with `create_table`: days until an untouched table is reclaimed.
    pub lifecycle: Option<u32>,
    /// Sink, with `create_table`: the table's comment.
    pub comment: Option<String>,
    /// Sink: `column:type,…` — the MaxCompute type of input columns that have no lossless
    /// counterpart (or should get another): a created table declares it, and values are
    /// converted into it, a value that does not fit being an error.
    #[serde(deserialize_with = "column_types")]
    pub column_types: Vec<(String, OdpsType)>,
    /// Sink: write blocks into this upload session (`arrowport upload-session create`)
    /// instead of a new one, and leave the commit to `arrowport upload-session commit`.
    pub upload_id: Option<String>,
    /// Sink, with `upload_id`: the block ids this worker owns, `first-last`; the first is its
    /// claim, which other workers' ranges must not hold.
    #[serde(deserialize_with = "block_range")]
    pub block_ids: Option<BlockRange>,
    /// Environment variables holding the credentials.
    pub access_id_env: String,
    pub secret_access_key_env: String,
    pub security_token_env: String,
    /// The project, from the URL's location.
    #[serde(skip)]
    pub project: String,
    /// The table, from the URL's location (absent for project-level commands).
    #[serde(skip)]
    pub table: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: None,
            region: None,
            tunnel_endpoint: None,
            signature: Signature::Auto,
            schema: None,
            partition: None,
            max_partition: false,
            partition_columns: false,
            format: Format::Arrow,
            compression: Compression::Zstd,
            download_id: None,
            quota_name: None,
            split_rows: None,
            timezone: "UTC".into(),
            prefix: None,
            overwrite: false,
            partition_by: Vec::new(),
            create_partition: false,
            block_bytes: 32 << 20,
            max_partitions: 256,
            create_table: false,
            lifecycle: None,
            comment: None,
            column_types: Vec::new(),
            upload_id: None,
            block_ids: None,
            access_id_env: "ALIBABA_CLOUD_ACCESS_KEY_ID".into(),
            secret_access_key_env: "ALIBABA_CLOUD_ACCESS_KEY_SECRET".into(),
            security_token_env: "ALIBABA_CLOUD_SECURITY_TOKEN".into(),
            project: String::new(),
            table: None,
        }
    }
}

impl fmt::Debug for Config {
    // No secrets live here, only the names of the variables that hold them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("project", &self.project)
            .field("table", &self.table)
            .field("endpoint", &self.endpoint)
            .field("tunnel_endpoint", &self.tunnel_endpoint)
            .field("partition", &self.partition)
            .field("format", &self.format)
            .field("compression", &self.compression)
            .field("download_id", &self.download_id)
            .finish_non_exhaustive()
    }
}

/// Signature scheme choice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signature {
    /// v4 when the region is known (given, or read from a `service.<region>.…` endpoint),
    /// else v2 — what PyODPS does.
    #[default]
    Auto,
    V2,
    V4,
}

/// Tunnel data format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// CRC-framed Arrow record batches (`?data&arrow`).
    #[default]
    Arrow,
    /// The protobuf-style record stream with per-record CRC-32C.
    Record,
}

/// Whether the config reads a table or writes one: some options belong to one side only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Source,
    Sink,
}

impl Config {
    /// Rejects options of the other side, which would otherwise be silently ignored.
    pub fn check_role(&self, role: Role) -> Result<()> {
        let defaults = Config::default();
        let set: Vec<&str> = match role {
            Role::Source => [
                ("overwrite", self.overwrite),
                ("partition_by", !self.partition_by.is_empty()),
                ("create_partition", self.create_partition),
                ("block_bytes", self.block_bytes != defaults.block_bytes),
                (
                    "max_partitions",
                    self.max_partitions != defaults.max_partitions,
                ),
                ("create_table", self.create_table),
                ("lifecycle", self.lifecycle.is_some()),
                ("comment", self.comment.is_some()),
                ("column_types", !self.column_types.is_empty()),
                ("upload_id", self.upload_id.is_some()),
                ("block_ids", self.block_ids.is_some()),
            ]
            .into_iter()
            .filter_map(|(name, set)| set.then_some(name))
            .collect(),
            Role::Sink => [
                ("max_partition", self.max_partition),
                ("partition_columns", self.partition_columns),
                ("download_id", self.download_id.is_some()),
                ("split_rows", self.split_rows.is_some()),
                ("prefix", self.prefix.is_some()),
            ]
            .into_iter()
            .filter_map(|(name, set)| set.then_some(name))
            .collect(),
        };
        match (set.as_slice(), role) {
            ([], _) => Ok(()),
            (names, Role::Source) => Err(invalid(format!(
                "{} only apply when writing to MaxCompute, not when reading",
                names.join(", ")
            ))),
            (names, Role::Sink) => Err(invalid(format!(
                "{} only apply when reading from MaxCompute, not when writing",
                names.join(", ")
            ))),
        }
    }

    /// Deserializes and validates `project[/table]` and the options.
    pub fn from_options(location: &str, options: &OptionMap) -> Result<Self> {
        let mut config: Config = options.deserialize(NAME)?;
        let mut parts = location.split('/');
        config.project = parts.next().unwrap_or_default().to_string();
        config.table = parts.next().map(str::to_string);
        if parts.next().is_some() {
            return Err(invalid(format!(
                "the URL names a project and a table, as in `maxcompute://my_project/my_table`; \
                 got `{location}`"
            )));
        }
        config.validate()?;
        Ok(config)
    }

    /// Rejects what cannot work, naming the option at fault.
    pub fn validate(&self) -> Result<()> {
        if self.project.is_empty() {
            return Err(invalid(
                "the URL names the project, as in `maxcompute://my_project/my_table`".into(),
            ));
        }
        if self.table.as_deref().is_some_and(str::is_empty) {
            return Err(invalid("the table name in the URL is empty".into()));
        }
        self.meta_endpoint()?;
        if let Some(tunnel) = &self.tunnel_endpoint {
            parse_endpoint("tunnel_endpoint", tunnel)?;
        }
        self.signature_version()?;
        if self.download_id.as_deref().is_some_and(str::is_empty) {
            return Err(invalid("option `download_id` is empty".into()));
        }
        if self.download_id.is_some() && self.max_partition {
            return Err(invalid(
                "`download_id` joins one session of one partition; drop `max_partition` and \
                 name the partition with `partition=`"
                    .into(),
            ));
        }
        if self.split_rows == Some(0) {
            return Err(invalid("option `split_rows` must be positive".into()));
        }
        if !(1 << 20..=1 << 30).contains(&self.block_bytes) {
            return Err(invalid(format!(
                "option `block_bytes` must be between 1 MiB and 1 GiB, got {}",
                self.block_bytes
            )));
        }
        if self.max_partitions == 0 {
            return Err(invalid("option `max_partitions` must be positive".into()));
        }
        if !self.partition_by.is_empty() && self.partition.is_some() {
            return Err(invalid(
                "give either `partition` (one partition) or `partition_by` (rows routed by \
                 columns), not both"
                    .into(),
            ));
        }
        if (self.lifecycle.is_some() || self.comment.is_some()) && !self.create_table {
            return Err(invalid(
                "`lifecycle` and `comment` describe a table to create: add `create_table=true`"
                    .into(),
            ));
        }
        if self.lifecycle == Some(0) {
            return Err(invalid("option `lifecycle` must be positive (days)".into()));
        }
        if self.upload_id.as_deref().is_some_and(str::is_empty) {
            return Err(invalid("option `upload_id` is empty".into()));
        }
        match (&self.upload_id, &self.block_ids) {
            (Some(_), None) => {
                return Err(invalid(
                    "`upload_id` needs `block_ids=first-last`, the block ids this worker owns \
                     (disjoint from every other worker's)"
                        .into(),
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "`block_ids` only applies with `upload_id` (a shared upload session)".into(),
                ));
            }
            (Some(_), Some(_)) => {
                let clashes: Vec<&str> = [
                    ("partition_by", !self.partition_by.is_empty()),
                    ("create_table", self.create_table),
                    ("overwrite", self.overwrite),
                    ("create_partition", self.create_partition),
                ]
                .into_iter()
                .filter_map(|(name, set)| set.then_some(name))
                .collect();
                if !clashes.is_empty() {
                    return Err(invalid(format!(
                        "a shared upload session (`upload_id`) writes one partition, chosen \
                         with its other settings when it was created; drop {}",
                        clashes.join(", ")
                    )));
                }
            }
            (None, None) => {}
        }
        if self.timezone.trim().is_empty() {
            return Err(invalid("option `timezone` is empty".into()));
        }
        Ok(())
    }

    /// The table, or an error saying the URL needs one.
    pub fn table(&self) -> Result<&str> {
        self.table.as_deref().ok_or_else(|| {
            invalid(format!(
                "the URL names no table: write `maxcompute://{}/<table>`",
                self.project
            ))
        })
    }

    /// The meta API endpoint, explicit or derived from `region`.
    pub fn meta_endpoint(&self) -> Result<Url> {
        match (&self.endpoint, &self.region) {
            (Some(e), _) => parse_endpoint("endpoint", e),
            (None, Some(region)) => parse_endpoint(
                "region",
                &format!("https://service.{region}.maxcompute.aliyun.com/api"),
            ),
            (None, None) => Err(invalid(
                "set `endpoint` (the meta API URL, e.g. \
                 https://service.cn-hangzhou.maxcompute.aliyun.com/api) or `region`"
                    .into(),
            )),
        }
    }

    /// The signature version: v4 needs a region, given or read from the endpoint's host.
    pub fn signature_version(&self) -> Result<SignatureVersion> {
        let region = self.region.clone().or_else(|| {
            self.endpoint
                .as_deref()
                .and_then(|e| Url::parse(e).ok())
                .and_then(|u| u.host_str().and_then(region_of_host))
        });
        match (self.signature, region) {
            (Signature::V2, _) | (Signature::Auto, None) => Ok(SignatureVersion::V2),
            (Signature::V4 | Signature::Auto, Some(region)) => Ok(SignatureVersion::V4 { region }),
            (Signature::V4, None) => Err(invalid(
                "`signature=v4` needs `region` (the endpoint's host does not name one)".into(),
            )),
        }
    }

    /// How MaxCompute types become Arrow types.
    pub fn type_mapping(&self) -> TypeMapping {
        TypeMapping {
            timezone: Some(Arc::from(self.timezone.trim())),
        }
    }
}

/// The region in a `service.<region>.<word>.<word>.com` host, as PyODPS recognises it.
fn region_of_host(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        ["service", region, _, _, "com"] if !region.is_empty() => Some(region.to_string()),
        _ => None,
    }
}

pub(crate) fn parse_endpoint(option: &str, text: &str) -> Result<Url> {
    arrowport_core::options::http_url(option, text).map_err(invalid)
}

fn invalid(message: String) -> Error {
    Error::config(format!("{NAME}: {message}")).with_context("plugin", NAME)
}

fn column_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    let text = String::deserialize(d)?;
    Ok(text
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect())
}

/// Block ids `first..=last` of one worker of a shared upload session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRange {
    pub first: u32,
    pub last: u32,
}

impl BlockRange {
    /// `first-last` (at least two ids: the claim and one block of rows).
    pub fn parse(text: &str) -> std::result::Result<BlockRange, String> {
        let (first, last) = text.trim().split_once('-').ok_or_else(|| {
            format!("block ids are a range `first-last`, e.g. `100-199`; got `{text}`")
        })?;
        let id = |s: &str| {
            s.trim()
                .parse::<u32>()
                .ok()
                .filter(|&n| n < MAX_BLOCKS)
                .ok_or_else(|| format!("block id `{s}` is not one of 0..={}", MAX_BLOCKS - 1))
        };
        let range = BlockRange {
            first: id(first)?,
            last: id(last)?,
        };
        if range.last <= range.first {
            return Err(format!(
                "block range `{text}` must hold two ids at least (its first is the worker's \
                 claim)"
            ));
        }
        Ok(range)
    }

    pub fn contains(&self, id: u32) -> bool {
        (self.first..=self.last).contains(&id)
    }

    pub fn overlaps(&self, other: &BlockRange) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

impl fmt::Display for BlockRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

fn block_range<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<BlockRange>, D::Error> {
    let text = String::deserialize(d)?;
    BlockRange::parse(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// `name:type,name:type`, split at the commas outside `<…>` and `(…)`.
fn column_types<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<(String, OdpsType)>, D::Error> {
    let text = String::deserialize(d)?;
    let mut pairs = Vec::new();
    let (mut depth, mut from) = (0i32, 0);
    let mut parts = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[from..]);
    for part in parts.into_iter().filter(|p| !p.trim().is_empty()) {
        let (name, ty) = part.split_once(':').ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`column_types` pairs are `column:type`, e.g. `u:bigint`; got `{part}`"
            ))
        })?;
        let ty = OdpsType::parse(ty).map_err(|e| serde::de::Error::custom(e.message()))?;
        pairs.push((name.trim().to_string(), ty));
    }
    Ok(pairs)
}

fn compression<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Compression, D::Error> {
    let text = String::deserialize(d)?;
    match text.trim().to_ascii_lowercase().as_str() {
        "none" | "identity" | "" => Ok(Compression::None),
        "zstd" => Ok(Compression::Zstd),
        "deflate" | "zlib" => Ok(Compression::Deflate),
        "lz4" => Ok(Compression::Lz4Frame),
        other => Err(serde::de::Error::custom(format!(
            "unknown compression `{other}` (zstd, deflate, lz4 or none)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use arrowport_core::ErrorKind;

    use super::*;

    fn parse(location: &str, pairs: &[(&str, &str)]) -> Result<Config> {
        let mut options = OptionMap::new();
        for (k, v) in pairs {
            options.insert(*k, *v);
        }
        Config::from_options(location, &options)
    }

    #[test]
    fn region_gives_the_endpoint_and_v4() {
        let c = parse("proj/tab", &[("region", "cn-shanghai")]).unwrap();
        assert_eq!(c.project, "proj");
        assert_eq!(c.table.as_deref(), Some("tab"));
        assert_eq!(
            c.meta_endpoint().unwrap().as_str(),
            "https://service.cn-shanghai.maxcompute.aliyun.com/api"
        );
        assert_eq!(
            c.signature_version().unwrap(),
            SignatureVersion::V4 {
                region: "cn-shanghai".into()
            }
        );
        assert_eq!(c.format, Format::Arrow);
        assert_eq!(c.compression, Compression::Zstd);
    }

    #[test]
    fn region_is_read_from_the_endpoint_host_as_pyodps_does() {
        let c = parse(
            "p/t",
            &[(
                "endpoint",
                "http://service.cn-beijing.maxcompute.aliyun.com/api",
            )],
        )
        .unwrap();
        assert_eq!(
            c.signature_version().unwrap(),
            SignatureVersion::V4 {
                region: "cn-beijing".into()
            }
        );
        let local = parse("p/t", &[("endpoint", "http://127.0.0.1:9000/api")]).unwrap();
        assert_eq!(local.signature_version().unwrap(), SignatureVersion::V2);
        let forced = parse(
            "p/t",
            &[
                (
                    "endpoint",
                    "http://service.cn-beijing.maxcompute.aliyun.com/api",
                ),
                ("signature", "v2"),
            ],
        )
        .unwrap();
        assert_eq!(forced.signature_version().unwrap(), SignatureVersion::V2);
    }

    #[test]
    fn bad_input_names_the_option() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("p/t", &[], "endpoint"),
            ("", &[("region", "r")], "project"),
            ("p/t/x", &[("region", "r")], "project and a table"),
            ("p/t", &[("endpoint", "ftp://h")], "endpoint"),
            ("p/t", &[("region", "r"), ("format", "csv")], "format"),
            ("p/t", &[("region", "r"), ("compression", "gzip")], "gzip"),
            ("p/t", &[("region", "r"), ("split_rows", "0")], "split_rows"),
            (
                "p/t",
                &[("endpoint", "http://127.0.0.1/api"), ("signature", "v4")],
                "region",
            ),
            (
                "p/t",
                &[("region", "r"), ("donwload_id", "x")],
                "download_id",
            ),
        ];
        for (location, pairs, needle) in cases {
            let err = parse(location, pairs).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{location} {pairs:?}");
            assert!(
                err.to_string().contains(needle),
                "{location} {pairs:?}: {err}"
            );
        }
    }

    #[test]
    fn project_only_urls_parse_but_have_no_table() {
        let c = parse("proj", &[("region", "r"), ("prefix", "sa")]).unwrap();
        assert_eq!(c.table, None);
        assert!(
            c.table()
                .unwrap_err()
                .to_string()
                .contains("maxcompute://proj/<table>")
        );
        assert_eq!(c.prefix.as_deref(), Some("sa"));
    }
}
