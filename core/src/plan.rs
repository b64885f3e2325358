//! A plan as a document: the schema and the portable splits of one scan of one source, in
//! JSON, so that `arrowport plan --json` can hand it to other processes and `arrowport
//! export --plan` (or a resume journal) can read its splits without planning again.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::options::is_secret_key;
use crate::pipeline::project_schema;
use crate::progress::ProgressEvent;
use crate::{Context, Error, ExportSource, OptionMap, Result, Scan, Split};

/// The document layout this build writes and reads.
pub const PLAN_VERSION: u32 = 1;

/// One scan of one source, planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanDocument {
    /// [`PLAN_VERSION`] when written.
    pub plan: u32,
    /// The source URL the plan was made from (URLs never carry credentials).
    pub source: String,
    /// The source's other options (`-o`, job files), secrets left out.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The columns the splits deliver, `None` for all.
    pub columns: Option<Vec<String>>,
    pub limit: Option<u64>,
    /// The delivered schema as an Arrow IPC stream holding only the schema, base64.
    pub schema: String,
    /// Rows the splits hold together, when the source knows.
    pub rows: Option<u64>,
    pub splits: Vec<Split>,
}

impl PlanDocument {
    /// The document of `splits`, planned from `source` with `options` for `columns` and
    /// `limit`. Options that name secrets are dropped, whatever their value.
    pub fn new(
        source: &str,
        options: &OptionMap,
        columns: Option<Vec<String>>,
        limit: Option<u64>,
        schema: &Schema,
        rows: Option<u64>,
        splits: Vec<Split>,
    ) -> Result<Self> {
        Ok(PlanDocument {
            plan: PLAN_VERSION,
            source: source.to_string(),
            options: options
                .iter()
                .filter(|(k, _)| !is_secret_key(k))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            columns,
            limit,
            schema: encode_schema(schema)?,
            rows,
            splits,
        })
    }

    /// Parses a document, refusing other layouts.
    pub fn parse(text: &str) -> Result<Self> {
        let doc: PlanDocument = serde_json::from_str(text)
            .map_err(|e| Error::config(format!("not an arrowport plan: {e}")))?;
        if doc.plan != PLAN_VERSION {
            return Err(Error::config(format!(
                "the plan has layout version {}, this arrowport reads version {PLAN_VERSION}; \
                 plan again with this version",
                doc.plan
            )));
        }
        for (i, split) in doc.splits.iter().enumerate() {
            if split.index != i {
                return Err(Error::config(format!(
                    "the plan lists split {} at position {i}; splits must be numbered in order",
                    split.index
                )));
            }
        }
        Ok(doc)
    }

    /// The delivered schema.
    pub fn schema(&self) -> Result<SchemaRef> {
        decode_schema(&self.schema)
    }

    /// The source's options as an option map.
    pub fn option_map(&self) -> OptionMap {
        self.options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a plan always serializes")
    }
}

/// Plans `scan` of `source` (built from `url` and `options`) as a document: the one way
/// every front end (`arrowport plan`, resumable exports, the Python module) plans.
pub async fn plan_document(
    source: &dyn ExportSource,
    url: &str,
    options: &OptionMap,
    scan: &Scan,
    cx: &Context,
) -> Result<PlanDocument> {
    cx.emit(ProgressEvent::phase("planning"));
    let full = source.schema(cx).await?;
    let schema = project_schema(&full, scan.columns.as_deref())?;
    let splits = source.plan(scan, cx).await?;
    let rows = splits
        .iter()
        .map(|s| s.rows)
        .sum::<Option<u64>>()
        .or(cx.report().promised_rows());
    PlanDocument::new(
        url,
        options,
        scan.columns.clone(),
        scan.limit,
        &schema,
        rows,
        splits,
    )
}

/// `schema` as the base64 of an Arrow IPC stream that holds only it, which every Arrow
/// implementation reads (`pyarrow.ipc.read_schema`).
pub fn encode_schema(schema: &Schema) -> Result<String> {
    let mut bytes = Vec::new();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut bytes, schema)?;
    writer.finish()?;
    drop(writer);
    Ok(STANDARD.encode(bytes))
}

/// The schema [`encode_schema`] encoded.
pub fn decode_schema(text: &str) -> Result<SchemaRef> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|e| Error::config(format!("the plan's schema is not base64: {e}")))?;
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|e| Error::config(format!("the plan's schema is not an Arrow IPC schema: {e}")))?;
    Ok(Arc::new(reader.schema().as_ref().clone()))
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field, TimeUnit};

    use super::*;
    use crate::SplitToken;

    fn doc() -> PlanDocument {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Millisecond, Some("Asia/Shanghai".into())),
                true,
            ),
        ]);
        let token = SplitToken::new("datagen", &serde_json::json!({"start": 0})).unwrap();
        let mut options = OptionMap::new();
        options.insert("rows", "10");
        options.insert("secret_key", "s3cr3t");
        PlanDocument::new(
            "datagen://?seed=1",
            &options,
            Some(vec!["id".into(), "at".into()]),
            None,
            &schema,
            Some(10),
            vec![Split::new(0, "rows 0..10", token).with_rows(10)],
        )
        .unwrap()
    }

    #[test]
    fn round_trips_with_its_schema_and_without_secrets() {
        let doc = doc();
        let text = doc.to_json();
        assert!(!text.contains("s3cr3t"), "{text}");
        let back = PlanDocument::parse(&text).unwrap();
        assert_eq!(back, doc);
        let schema = back.schema().unwrap();
        assert_eq!(schema.field(1).name(), "at");
        assert!(matches!(
            schema.field(1).data_type(),
            DataType::Timestamp(TimeUnit::Millisecond, Some(tz)) if tz.as_ref() == "Asia/Shanghai"
        ));
    }

    #[test]
    fn other_layouts_are_refused() {
        let mut doc = doc();
        doc.plan = 7;
        let e = PlanDocument::parse(&doc.to_json()).unwrap_err();
        assert!(e.message().contains("layout version 7"), "{e}");
        doc.plan = PLAN_VERSION;
        doc.splits[0].index = 3;
        assert!(PlanDocument::parse(&doc.to_json()).is_err());
        assert!(PlanDocument::parse("[1]").is_err());
        doc.splits[0].index = 0;
        doc.schema = "!!".into();
        assert!(
            PlanDocument::parse(&doc.to_json())
                .unwrap()
                .schema()
                .is_err()
        );
    }
}
