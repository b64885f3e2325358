//! The meta API's replies (spec §2.2) and the error bodies of both services (spec §1.5).
//!
//! Replies are XML envelopes; table and partition facts sit inside them as JSON in CDATA.
//! Parsing is as tolerant as the SDKs are: unknown elements and keys are ignored, and a missing,
//! `null` or empty optional field is `None`. Element and key names are case-sensitive, spelled
//! as the service sends them. A reply that is not what its call returns (not XML, another root
//! element, a required field missing, a known field of the wrong type) is an
//! [`ErrorKind::Remote`] error naming the reply.
//!
//! Sizes and counts are `None` when negative: the service sends `-1` for "unknown" (PyODPS
//! treats a negative `size`/`record_num` as unset too). Times are kept as sent: epoch seconds
//! in JSON and in the partition list, RFC 1123 text (`Thu, 19 Jan 2023 12:34:56 GMT`) in the
//! table list.

use arrowport_core::{Error, ErrorKind, Result};
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use serde_json::{Map, Value};

use crate::NAME;
use crate::partition::PartitionSpec;
use crate::types::Column;

/// An SQL instance's state: `GET /projects/{p}/instances/{id}` and, once it is terminated,
/// `?taskstatus` (`<Instance><Status>Terminated</Status><Tasks><Task><Name>…</Name>
/// <Status>Success|Failed|…</Status></Task></Tasks></Instance>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    /// `Running`, `Suspended` or `Terminated`.
    pub status: String,
    /// Each task's name and status.
    pub tasks: Vec<(String, String)>,
}

impl InstanceStatus {
    pub fn parse(body: &[u8]) -> Result<InstanceStatus> {
        let reply = "the instance status";
        let root = document(body, "Instance", reply)?;
        let tasks = root
            .child("Tasks")
            .map(|t| {
                t.children("Task")
                    .map(|task| {
                        Ok((
                            task.child_text("Name").unwrap_or_default().to_string(),
                            required_text(task, "Status", reply)?,
                        ))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?
            .unwrap_or_default();
        Ok(InstanceStatus {
            status: required_text(&root, "Status", reply)?,
            tasks,
        })
    }

    pub fn is_terminated(&self) -> bool {
        self.status.eq_ignore_ascii_case("terminated")
    }
}

/// The result text of an instance's tasks (`?result`), joined: for a failed SQL task, the
/// `ODPS-…` error.
pub fn instance_result(body: &[u8]) -> Result<String> {
    let root = document(body, "Instance", "the instance result")?;
    let texts: Vec<&str> = root
        .child("Tasks")
        .into_iter()
        .flat_map(|t| t.children("Task"))
        .filter_map(|task| task.child_text("Result"))
        .collect();
    Ok(texts.join("; "))
}

/// A column or partition key of a table's schema JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMeta {
    pub name: String,
    /// The type as the service spells it: `bigint`, `decimal(10,2)`, `array<string>`, ….
    pub type_string: String,
    pub comment: Option<String>,
    /// `isNullable` (a boolean or `"true"`/`"false"`); `true` when absent, as in PyODPS.
    pub nullable: bool,
}

impl ColumnMeta {
    /// The typed column; an unknown or unsupported type names the column.
    pub fn to_column(&self) -> Result<Column> {
        let mut column = Column::new(&self.name, &self.type_string).map_err(|e| {
            Error::new(
                e.kind(),
                format!("{NAME}: column `{}`: {}", self.name, e.message()),
            )
            .with_context("plugin", NAME)
        })?;
        column.nullable = self.nullable;
        Ok(column)
    }
}

/// `GET /projects/{p}/tables/{t}[?extended]`: a `<Table>` with its schema JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMeta {
    pub name: String,
    pub table_id: Option<String>,
    pub project: Option<String>,
    pub owner: Option<String>,
    /// `<Type>` as sent: `MANAGED_TABLE`, `VIRTUAL_VIEW`, `EXTERNAL_TABLE`,
    /// `MATERIALIZED_VIEW`, ….
    pub table_type: Option<String>,
    pub comment: Option<String>,
    /// Data columns, in table order. Empty if the reply's JSON has no `columns`.
    pub columns: Vec<ColumnMeta>,
    /// Partition keys, in key order.
    pub partition_keys: Vec<ColumnMeta>,
    /// `isVirtualView`, or `<Type>VIRTUAL_VIEW`.
    pub is_virtual_view: bool,
    /// `isExternal`, or `<Type>EXTERNAL_TABLE`.
    pub is_external: bool,
    /// Days; `None` when the table has no lifecycle (`-1`).
    pub lifecycle: Option<i64>,
    pub record_num: Option<i64>,
    /// Logical size in bytes.
    pub size: Option<i64>,
    /// `PhysicalSize` (with `?extended`).
    pub physical_size: Option<i64>,
    /// `FileNum` (with `?extended`).
    pub file_num: Option<i64>,
    /// `createTime`, epoch seconds.
    pub created: Option<i64>,
    /// `lastModifiedTime` (data), epoch seconds.
    pub last_modified: Option<i64>,
    /// `Reserved.Transactional` (with `?extended`); `false` when absent.
    pub transactional: bool,
    /// `Reserved.PrimaryKey` (with `?extended`); empty when absent.
    pub primary_key: Vec<String>,
}

const TABLE_REPLY: &str = "table metadata";

impl TableMeta {
    /// Parses the reply to `GET /projects/{p}/tables/{t}` (with or without `?extended`).
    pub fn parse(body: &[u8]) -> Result<TableMeta> {
        let root = document(body, "Table", TABLE_REPLY)?;
        let name = required_text(&root, "Name", TABLE_REPLY)?;
        let schema = root
            .child("Schema")
            .ok_or_else(|| malformed(TABLE_REPLY, "no `<Schema>`"))?;
        let schema = json_object(schema, TABLE_REPLY)?;
        let schema = Json::new(&schema, TABLE_REPLY);
        let table_type = root.child_text("Type").map(str::to_string);
        let type_is = |t: &str| table_type.as_deref() == Some(t);
        let reserved = schema.reserved()?;
        let reserved = reserved.as_ref().map(|r| Json::new(r, TABLE_REPLY));
        Ok(TableMeta {
            table_id: root.child_text("TableId").map(str::to_string),
            project: root.child_text("Project").map(str::to_string),
            owner: match root.child_text("Owner") {
                Some(owner) => Some(owner.to_string()),
                None => schema.string("owner")?,
            },
            comment: match schema.string("comment")? {
                Some(comment) => Some(comment),
                None => root.child_text("Comment").map(str::to_string),
            },
            columns: schema.columns("columns")?,
            partition_keys: schema.columns("partitionKeys")?,
            is_virtual_view: schema.flag("isVirtualView")?.unwrap_or(false)
                || type_is("VIRTUAL_VIEW"),
            is_external: schema.flag("isExternal")?.unwrap_or(false) || type_is("EXTERNAL_TABLE"),
            lifecycle: schema.count("lifecycle")?,
            record_num: schema.count("recordNum")?,
            size: schema.count("size")?,
            physical_size: schema.count("PhysicalSize")?,
            file_num: schema.count("FileNum")?,
            created: schema.int("createTime")?,
            last_modified: schema.int("lastModifiedTime")?,
            transactional: match &reserved {
                Some(r) => r.flag("Transactional")?.unwrap_or(false),
                None => false,
            },
            primary_key: match &reserved {
                Some(r) => r.strings("PrimaryKey")?,
                None => Vec::new(),
            },
            name,
            table_type,
        })
    }

    /// The data columns, typed (what a download session carries).
    pub fn columns(&self) -> Result<Vec<Column>> {
        self.columns.iter().map(ColumnMeta::to_column).collect()
    }

    /// The partition keys, typed, in key order.
    pub fn partition_keys(&self) -> Result<Vec<Column>> {
        self.partition_keys
            .iter()
            .map(ColumnMeta::to_column)
            .collect()
    }
}

/// One `<Table>` of a table listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    pub name: String,
    pub owner: Option<String>,
    /// `<Type>` as sent, as in [`TableMeta::table_type`].
    pub table_type: Option<String>,
    /// `<CreationTime>` as sent (RFC 1123).
    pub created: Option<String>,
    /// `<LastModifiedTime>` as sent (RFC 1123).
    pub last_modified: Option<String>,
    /// From the `<Schema>` JSON (an `extended` listing), else `<Comment>`.
    pub comment: Option<String>,
    /// From the `<Schema>` JSON, which only an `extended` listing carries.
    pub record_num: Option<i64>,
    /// From the `<Schema>` JSON, which only an `extended` listing carries.
    pub size: Option<i64>,
}

/// One page of `GET /projects/{p}/tables?expectmarker=true…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePage {
    pub tables: Vec<TableSummary>,
    /// Where the next page starts; `None` (an empty or absent `<Marker>`) on the last page.
    pub marker: Option<String>,
}

const TABLES_REPLY: &str = "the table list";

impl TablePage {
    /// Parses a `<Tables>` reply.
    pub fn parse(body: &[u8]) -> Result<TablePage> {
        let root = document(body, "Tables", TABLES_REPLY)?;
        let tables = root
            .children("Table")
            .map(|table| {
                let schema = match table.child("Schema") {
                    Some(s) if s.text().is_some() => Some(json_object(s, TABLES_REPLY)?),
                    _ => None,
                };
                let schema = schema.as_ref().map(|s| Json::new(s, TABLES_REPLY));
                let comment = match &schema {
                    Some(s) => s.string("comment")?,
                    None => None,
                };
                Ok(TableSummary {
                    name: required_text(table, "Name", TABLES_REPLY)?,
                    owner: table.child_text("Owner").map(str::to_string),
                    table_type: table.child_text("Type").map(str::to_string),
                    created: table.child_text("CreationTime").map(str::to_string),
                    last_modified: table.child_text("LastModifiedTime").map(str::to_string),
                    comment: comment.or_else(|| table.child_text("Comment").map(str::to_string)),
                    record_num: schema
                        .as_ref()
                        .map(|s| s.count("recordNum"))
                        .transpose()?
                        .flatten(),
                    size: schema
                        .as_ref()
                        .map(|s| s.count("size"))
                        .transpose()?
                        .flatten(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(TablePage {
            tables,
            marker: root.child_text("Marker").map(str::to_string),
        })
    }
}

/// One `<Partition>` of a partition listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSummary {
    /// From the `<Column Name=".." Value=".."/>` elements, in order.
    pub spec: PartitionSpec,
    /// `<CreationTime>`, epoch seconds.
    pub created: Option<i64>,
    /// `<LastModifiedTime>` (data), epoch seconds.
    pub last_modified: Option<i64>,
    /// `<PartitionSize>`, bytes.
    pub size: Option<i64>,
    /// `<PartitionRecordCount>`.
    pub record_count: Option<i64>,
}

/// One page of `GET /projects/{p}/tables/{t}?partitions&expectmarker=true…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionPage {
    pub partitions: Vec<PartitionSummary>,
    /// Where the next page starts; `None` (an empty or absent `<Marker>`) on the last page.
    pub marker: Option<String>,
}

const PARTITIONS_REPLY: &str = "the partition list";

impl PartitionPage {
    /// Parses a `<Partitions>` reply.
    pub fn parse(body: &[u8]) -> Result<PartitionPage> {
        let root = document(body, "Partitions", PARTITIONS_REPLY)?;
        let partitions = root
            .children("Partition")
            .map(|p| {
                let pairs = p
                    .children("Column")
                    .map(|c| match (c.attribute("Name"), c.attribute("Value")) {
                        (Some(k), Some(v)) => Ok((k, v)),
                        _ => Err(malformed(
                            PARTITIONS_REPLY,
                            "a `<Column>` without `Name` and `Value`",
                        )),
                    })
                    .collect::<Result<Vec<_>>>()?;
                if pairs.is_empty() {
                    return Err(malformed(
                        PARTITIONS_REPLY,
                        "a `<Partition>` without `<Column>`s",
                    ));
                }
                let spec = PartitionSpec::checked(pairs)
                    .map_err(|why| malformed(PARTITIONS_REPLY, why))?;
                let number = |name: &str| xml_int(p, name, PARTITIONS_REPLY);
                Ok(PartitionSummary {
                    created: number("CreationTime")?,
                    last_modified: number("LastModifiedTime")?,
                    size: number("PartitionSize")?.filter(|n| *n >= 0),
                    record_count: number("PartitionRecordCount")?.filter(|n| *n >= 0),
                    spec,
                })
            })
            .collect::<Result<_>>()?;
        Ok(PartitionPage {
            partitions,
            marker: root.child_text("Marker").map(str::to_string),
        })
    }
}

/// `GET /projects/{p}/tables/{t}?partition=…[&extended]`: one partition's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMeta {
    /// `createTime`, epoch seconds.
    pub created: Option<i64>,
    /// `lastModifiedTime` (data), epoch seconds.
    pub last_modified: Option<i64>,
    /// `partitionSize`, logical bytes.
    pub size: Option<i64>,
    /// `partitionRecordNum`.
    pub record_count: Option<i64>,
    /// `PhysicalSize` (with `extended`): what `get_max_partition(skip_empty=True)` tests.
    pub physical_size: Option<i64>,
    /// `FileNum` (with `extended`).
    pub file_num: Option<i64>,
}

const PARTITION_REPLY: &str = "partition metadata";

impl PartitionMeta {
    /// Parses a `<Partition><Schema><![CDATA[json]]></Schema></Partition>` reply.
    pub fn parse(body: &[u8]) -> Result<PartitionMeta> {
        let root = document(body, "Partition", PARTITION_REPLY)?;
        let schema = root
            .child("Schema")
            .ok_or_else(|| malformed(PARTITION_REPLY, "no `<Schema>`"))?;
        let schema = json_object(schema, PARTITION_REPLY)?;
        let schema = Json::new(&schema, PARTITION_REPLY);
        Ok(PartitionMeta {
            created: schema.int("createTime")?,
            last_modified: schema.int("lastModifiedTime")?,
            size: schema.count("partitionSize")?,
            record_count: schema.count("partitionRecordNum")?,
            physical_size: schema.count("PhysicalSize")?,
            file_num: schema.count("FileNum")?,
        })
    }
}

/// An error answer of either service, in either body form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    /// `NoSuchPartition`, `ODPS-0130131`, …; empty if the body had only a message.
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    /// `HostId` (meta API XML).
    pub host_id: Option<String>,
    /// `HoldClientMillis` (tunnel JSON): how long the client should wait before retrying.
    pub hold_client_millis: Option<u64>,
}

/// Parses an error body: the meta API's XML
/// `<Error><Code/><Message/><RequestId/><HostId/></Error>` or the tunnel's JSON
/// `{"Code","Message","RequestId","HoldClientMillis"}`, whichever it is (either service may send
/// either, PY `errors.py parse_response`). `None` when the body is neither or carries neither a
/// code nor a message.
pub fn parse_error_body(body: &[u8]) -> Option<RemoteError> {
    let error = match parse_xml(body) {
        Ok(root) if root.name == "Error" => {
            let text = |name: &str| root.child_text(name).map(str::to_string);
            RemoteError {
                code: text("Code").unwrap_or_default(),
                message: text("Message").unwrap_or_default(),
                request_id: text("RequestId"),
                host_id: text("HostId"),
                hold_client_millis: root
                    .child_text("HoldClientMillis")
                    .and_then(|s| s.parse().ok()),
            }
        }
        Ok(_) => return None,
        Err(_) => {
            let value: Value = serde_json::from_slice(body).ok()?;
            let object = value.as_object()?;
            let text = |key: &str| {
                object
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            RemoteError {
                code: text("Code").unwrap_or_default(),
                message: text("Message").unwrap_or_default(),
                request_id: text("RequestId"),
                host_id: text("HostId"),
                hold_client_millis: match object.get("HoldClientMillis") {
                    Some(Value::Number(n)) => n.as_u64(),
                    Some(Value::String(s)) => s.trim().parse().ok(),
                    _ => None,
                },
            }
        }
    };
    (!error.code.is_empty() || !error.message.is_empty()).then_some(error)
}

/// A meta API reply in an unexpected shape: permanent, since asking again returns the same.
fn malformed(reply: &str, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Remote,
        format!("{NAME}: the meta API answered {reply} in an unexpected shape: {what}"),
    )
    .with_context("plugin", NAME)
}

/// The document's root element, which must be `<{root}>`.
fn document(body: &[u8], root: &str, reply: &str) -> Result<Element> {
    let element = parse_xml(body).map_err(|e| malformed(reply, e))?;
    if element.name != root {
        return Err(malformed(
            reply,
            format!("expected a `<{root}>` document, got `<{}>`", element.name),
        ));
    }
    Ok(element)
}

fn required_text(element: &Element, name: &str, reply: &str) -> Result<String> {
    element
        .child_text(name)
        .map(str::to_string)
        .ok_or_else(|| malformed(reply, format!("a `<{}>` without `<{name}>`", element.name)))
}

/// An integer element such as `<PartitionSize>1024</PartitionSize>`; empty or absent is `None`.
fn xml_int(element: &Element, name: &str, reply: &str) -> Result<Option<i64>> {
    element
        .child_text(name)
        .map(|text| {
            text.parse()
                .map_err(|_| malformed(reply, format!("`<{name}>` is {text:?}, not an integer")))
        })
        .transpose()
}

/// The JSON object that is the text (usually CDATA) of `element`.
fn json_object(element: &Element, reply: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str(element.text().unwrap_or_default()) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(malformed(
            reply,
            format!("`<{}>` holds JSON that is not an object", element.name),
        )),
        Err(e) => Err(malformed(
            reply,
            format!("`<{}>` does not hold JSON: {e}", element.name),
        )),
    }
}

/// A JSON object of one reply, with typed accessors that error on a wrong type.
struct Json<'a> {
    object: &'a Map<String, Value>,
    reply: &'a str,
}

impl<'a> Json<'a> {
    fn new(object: &'a Map<String, Value>, reply: &'a str) -> Json<'a> {
        Json { object, reply }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.object.get(key).filter(|v| !v.is_null())
    }

    fn wrong(&self, key: &str, expected: &str) -> Error {
        malformed(self.reply, format!("`{key}` is not {expected}"))
    }

    /// A string; empty is `None`.
    fn string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok((!s.is_empty()).then(|| s.clone())),
            Some(_) => Err(self.wrong(key, "a string")),
        }
    }

    /// An integer, as a JSON number or a decimal string (PyODPS applies `int()`); an empty
    /// string is `None`.
    fn int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "an integer")),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.wrong(key, "an integer")),
            Some(_) => Err(self.wrong(key, "an integer")),
        }
    }

    /// A size or count: negative (the service's "unknown") is `None`.
    fn count(&self, key: &str) -> Result<Option<i64>> {
        Ok(self.int(key)?.filter(|n| *n >= 0))
    }

    /// A boolean, as JSON or as the string `true`/`false` in any case. (PyODPS applies Python's
    /// `bool()` to some of these, which reads the string `"false"` as true.)
    fn flag(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(self.wrong(key, "a boolean")),
        }
    }

    /// A list of strings; absent is empty.
    fn strings(&self, key: &str) -> Result<Vec<String>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.wrong(key, "a list of strings"))
                })
                .collect(),
            Some(_) => Err(self.wrong(key, "a list of strings")),
        }
    }

    /// `Reserved`: a JSON object inside a JSON string (an object as such is accepted too).
    fn reserved(&self) -> Result<Option<Map<String, Value>>> {
        match self.get("Reserved") {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => match serde_json::from_str(s) {
                Ok(Value::Object(object)) => Ok(Some(object)),
                _ => Err(self.wrong("Reserved", "a JSON object in a string")),
            },
            Some(Value::Object(object)) => Ok(Some(object.clone())),
            Some(_) => Err(self.wrong("Reserved", "a JSON object in a string")),
        }
    }

    /// `columns` / `partitionKeys`: objects with `name`, `type`, `comment`, `isNullable`.
    fn columns(&self, key: &str) -> Result<Vec<ColumnMeta>> {
        let items = match self.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(self.wrong(key, "a list")),
        };
        items
            .iter()
            .map(|item| {
                let Value::Object(object) = item else {
                    return Err(self.wrong(key, "a list of objects"));
                };
                let column = Json::new(object, self.reply);
                let name = column.string("name")?.ok_or_else(|| {
                    malformed(self.reply, format!("a column of `{key}` has no `name`"))
                })?;
                let type_string = column.string("type")?.ok_or_else(|| {
                    malformed(self.reply, format!("column `{name}` has no `type`"))
                })?;
                Ok(ColumnMeta {
                    comment: column.string("comment")?,
                    nullable: column.flag("isNullable")?.unwrap_or(true),
                    name,
                    type_string,
                })
            })
            .collect()
    }
}

/// The deepest element nesting accepted; replies nest three levels.
const MAX_DEPTH: usize = 32;

/// A parsed XML element: just what the replies need.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    /// Character data directly inside the element (text, CDATA, references), unescaped.
    text: String,
    children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The children named `name`, in order.
    fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The text, trimmed; `None` if empty.
    fn text(&self) -> Option<&str> {
        Some(self.text.trim()).filter(|t| !t.is_empty())
    }

    /// The text of the first child named `name`; `None` if absent or empty.
    fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).and_then(Element::text)
    }
}

/// Parses a UTF-8 XML document into its root element. Comments, processing instructions and the
/// declaration are skipped; entity references other than the five predefined ones and character
/// references are errors.
fn parse_xml(body: &[u8]) -> std::result::Result<Element, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8 ({e})"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let mut open: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("not XML ({e} at byte {})", reader.error_position()))?;
        match event {
            Event::Start(start) => {
                if open.len() >= MAX_DEPTH {
                    return Err(format!("elements nest deeper than {MAX_DEPTH} levels"));
                }
                open.push(element(&start)?);
            }
            Event::Empty(start) => close(element(&start)?, &mut open, &mut root)?,
            Event::End(_) => {
                let element = open.pop().ok_or("an end tag without a start tag")?;
                close(element, &mut open, &mut root)?;
            }
            Event::Text(t) => add_text(&mut open, &t.xml10_content())?,
            Event::CData(c) => add_text(&mut open, &c.xml10_content())?,
            Event::GeneralRef(r) => add_text(&mut open, &reference(&r)?)?,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(element) = open.last() {
        return Err(format!("the document ends inside `<{}>`", element.name));
    }
    root.ok_or_else(|| "an empty document".to_string())
}

fn element(start: &BytesStart<'_>) -> std::result::Result<Element, String> {
    let name = start.name().as_ref().to_string();
    let attributes = start
        .attributes()
        .map(|a| {
            let a = a.map_err(|e| format!("a bad attribute in `<{name}>` ({e})"))?;
            let value = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| format!("a bad attribute value in `<{name}>` ({e})"))?;
            Ok((a.key.as_ref().to_string(), value.into_owned()))
        })
        .collect::<std::result::Result<_, String>>()?;
    Ok(Element {
        name,
        attributes,
        ..Element::default()
    })
}

/// Attaches a finished element to its parent, or makes it the root.
fn close(
    element: Element,
    open: &mut [Element],
    root: &mut Option<Element>,
) -> std::result::Result<(), String> {
    match open.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_some() => return Err("more than one root element".to_string()),
        None => *root = Some(element),
    }
    Ok(())
}

fn add_text(open: &mut [Element], text: &str) -> std::result::Result<(), String> {
    match open.last_mut() {
        Some(element) => element.text.push_str(text),
        None if text.trim().is_empty() => {}
        None => return Err("text outside the root element".to_string()),
    }
    Ok(())
}

/// `&amp;`-style and `&#38;`-style references.
fn reference(r: &BytesRef<'_>) -> std::result::Result<String, String> {
    match r.resolve_char_ref() {
        Ok(Some(c)) => Ok(c.to_string()),
        Ok(None) => quick_xml::escape::resolve_predefined_entity(r)
            .map(str::to_string)
            .ok_or_else(|| format!("an unknown entity `&{};`", &**r)),
        Err(e) => Err(format!("a bad character reference `&{};` ({e})", &**r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::OdpsType;

    fn assert_malformed(err: Error, reply: &str, what: &str) {
        assert_eq!(err.kind(), ErrorKind::Remote, "{err}");
        assert!(!err.is_temporary());
        assert!(err.message().contains(reply), "{err}");
        assert!(err.message().contains(what), "{err}");
        assert_eq!(err.context_value("plugin"), Some(NAME));
        assert_eq!(err.message().matches("maxcompute:").count(), 1, "{err}");
    }

    /// The `<Table>` of spec §2.2, as the emulator serves it.
    const TABLE_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Table>
  <Name>sales</Name>
  <TableId>a1b2c3</TableId>
  <Schema format="json"><![CDATA[{"comment":"daily sales","owner":"ALIYUN$x","createTime":1674131696,
    "lastDDLTime":1674131696,"lastModifiedTime":1674131700,"lifecycle":-1,"size":4096,
    "recordNum":12,"isVirtualView":false,"isExternal":false,
    "columns":[{"name":"id","type":"bigint","comment":"","label":"","isNullable":false},
               {"name":"amount","type":"decimal(10,2)","comment":"in CNY","isNullable":"true"},
               {"name":"tags","type":"array<string>"}],
    "partitionKeys":[{"name":"pt","type":"string","comment":"","isNullable":true},
                     {"name":"dt","type":"string","comment":"day"}],
    "futureKey":{"nested":[1,2,3]}}]]></Schema>
  <Owner>ALIYUN$x</Owner>
  <Project>p</Project>
  <CreationTime>Thu, 19 Jan 2023 12:34:56 GMT</CreationTime>
  <LastModifiedTime>Thu, 19 Jan 2023 12:35:00 GMT</LastModifiedTime>
  <Type>MANAGED_TABLE</Type>
  <SomethingNew attr="x"><Deep/></SomethingNew>
</Table>"#;

    #[test]
    fn table_xml_with_schema_json() {
        let t = TableMeta::parse(TABLE_XML.as_bytes()).unwrap();
        assert_eq!(t.name, "sales");
        assert_eq!(t.table_id.as_deref(), Some("a1b2c3"));
        assert_eq!(t.project.as_deref(), Some("p"));
        assert_eq!(t.owner.as_deref(), Some("ALIYUN$x"));
        assert_eq!(t.table_type.as_deref(), Some("MANAGED_TABLE"));
        assert_eq!(t.comment.as_deref(), Some("daily sales"));
        assert_eq!(t.lifecycle, None);
        assert_eq!(t.size, Some(4096));
        assert_eq!(t.record_num, Some(12));
        assert_eq!(t.created, Some(1674131696));
        assert_eq!(t.last_modified, Some(1674131700));
        assert_eq!((t.physical_size, t.file_num), (None, None));
        assert!(!t.is_virtual_view && !t.is_external && !t.transactional);
        assert!(t.primary_key.is_empty());
        assert_eq!(
            t.columns,
            [
                ColumnMeta {
                    name: "id".into(),
                    type_string: "bigint".into(),
                    comment: None,
                    nullable: false,
                },
                ColumnMeta {
                    name: "amount".into(),
                    type_string: "decimal(10,2)".into(),
                    comment: Some("in CNY".into()),
                    nullable: true,
                },
                ColumnMeta {
                    name: "tags".into(),
                    type_string: "array<string>".into(),
                    comment: None,
                    nullable: true,
                },
            ]
        );
        let keys: Vec<_> = t.partition_keys.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(keys, ["pt", "dt"]);
        assert_eq!(t.partition_keys[1].comment.as_deref(), Some("day"));

        let columns = t.columns().unwrap();
        assert_eq!(columns[0].name, "id");
        assert_eq!(columns[0].ty, OdpsType::parse("bigint").unwrap());
        assert!(!columns[0].nullable);
        assert_eq!(columns[1].ty, OdpsType::parse("decimal(10,2)").unwrap());
        assert!(columns[2].nullable);
        assert_eq!(t.partition_keys().unwrap().len(), 2);
    }

    /// `?extended`: `Reserved` is a JSON string inside the JSON.
    #[test]
    fn extended_table_xml_reads_reserved() {
        let reserved = serde_json::json!({
            "Transactional": "true",
            "PrimaryKey": ["id", "region"],
            "schema_version": "3",
            "cdc_size": "-1",
        })
        .to_string();
        let schema = serde_json::json!({
            "IsArchived": false,
            "PhysicalSize": 123456,
            "FileNum": "7",
            "Reserved": reserved,
            "columns": [{"name": "id", "type": "BIGINT"}],
        });
        let xml = format!(
            "<Table><Name>t</Name><Schema><![CDATA[{schema}]]></Schema><Type>MANAGED_TABLE</Type></Table>"
        );
        let t = TableMeta::parse(xml.as_bytes()).unwrap();
        assert!(t.transactional);
        assert_eq!(t.primary_key, ["id", "region"]);
        assert_eq!(t.physical_size, Some(123456));
        assert_eq!(t.file_num, Some(7));
        assert_eq!(
            t.columns().unwrap()[0].ty,
            OdpsType::parse("bigint").unwrap()
        );
        assert!(t.partition_keys.is_empty());

        // `Transactional` may be a JSON boolean too, and `false` in any case.
        for (value, want) in [("true", true), ("\"TRUE\"", true), ("\"false\"", false)] {
            let reserved = format!("{{\"Transactional\":{value}}}");
            let schema = serde_json::json!({ "Reserved": reserved });
            let xml = format!("<Table><Name>t</Name><Schema><![CDATA[{schema}]]></Schema></Table>");
            assert_eq!(
                TableMeta::parse(xml.as_bytes()).unwrap().transactional,
                want
            );
        }
        // An empty `Reserved` is none.
        let xml = r#"<Table><Name>t</Name><Schema><![CDATA[{"Reserved":""}]]></Schema></Table>"#;
        assert!(!TableMeta::parse(xml.as_bytes()).unwrap().transactional);
    }

    #[test]
    fn views_and_external_tables_are_flagged() {
        let xml = r#"<Table><Name>v</Name><Schema><![CDATA[{"isVirtualView":true,"viewText":"select 1"}]]></Schema></Table>"#;
        assert!(TableMeta::parse(xml.as_bytes()).unwrap().is_virtual_view);
        let xml = r#"<Table><Name>v</Name><Schema><![CDATA[{}]]></Schema><Type>VIRTUAL_VIEW</Type></Table>"#;
        assert!(TableMeta::parse(xml.as_bytes()).unwrap().is_virtual_view);
        let xml =
            r#"<Table><Name>e</Name><Schema><![CDATA[{"isExternal":"true"}]]></Schema></Table>"#;
        assert!(TableMeta::parse(xml.as_bytes()).unwrap().is_external);
    }

    #[test]
    fn table_json_may_be_escaped_text_instead_of_cdata() {
        let xml = r#"<Table><Name>t</Name><Schema>{&quot;columns&quot;:[{&quot;name&quot;:&quot;a&amp;b&quot;,&quot;type&quot;:&quot;string&quot;}]}</Schema></Table>"#;
        let t = TableMeta::parse(xml.as_bytes()).unwrap();
        assert_eq!(t.columns[0].name, "a&b");
    }

    #[test]
    fn unknown_types_name_the_column() {
        let xml = r#"<Table><Name>t</Name><Schema><![CDATA[{"columns":[{"name":"v","type":"frobnicate"}]}]]></Schema></Table>"#;
        let t = TableMeta::parse(xml.as_bytes()).unwrap();
        let err = t.columns().unwrap_err();
        assert!(err.message().contains("column `v`"), "{err}");
        assert!(err.message().contains("frobnicate"), "{err}");
    }

    #[test]
    fn malformed_table_replies() {
        let cases: &[(&str, &str)] = &[
            ("", "an empty document"),
            ("not xml at all", "text outside the root element"),
            ("{\"Code\":\"x\"}", "text outside the root element"),
            ("<Table><Name>t</Name>", "ends inside `<Table>`"),
            ("<Table><Name>t</Nom></Table>", "not XML"),
            (
                "<Tables></Tables>",
                "expected a `<Table>` document, got `<Tables>`",
            ),
            ("<table><Name>t</Name></table>", "expected a `<Table>`"),
            (
                "<Table><Schema><![CDATA[{}]]></Schema></Table>",
                "without `<Name>`",
            ),
            ("<Table><Name>t</Name></Table>", "no `<Schema>`"),
            (
                "<Table><Name>t</Name><Schema>{</Schema></Table>",
                "does not hold JSON",
            ),
            (
                "<Table><Name>t</Name><Schema/></Table>",
                "does not hold JSON",
            ),
            (
                "<Table><Name>t</Name><Schema>[1]</Schema></Table>",
                "not an object",
            ),
            (
                r#"<Table><Name>t</Name><Schema><![CDATA[{"columns":{}}]]></Schema></Table>"#,
                "`columns` is not a list",
            ),
            (
                r#"<Table><Name>t</Name><Schema><![CDATA[{"columns":[{"type":"bigint"}]}]]></Schema></Table>"#,
                "has no `name`",
            ),
            (
                r#"<Table><Name>t</Name><Schema><![CDATA[{"columns":[{"name":"a"}]}]]></Schema></Table>"#,
                "column `a` has no `type`",
            ),
            (
                r#"<Table><Name>t</Name><Schema><![CDATA[{"columns":[{"name":"a","type":"bigint","isNullable":"yes"}]}]]></Schema></Table>"#,
                "`isNullable` is not a boolean",
            ),
            (
                r#"<Table><Name>t</Name><Schema><![CDATA[{"recordNum":"many"}]]></Schema></Table>"#,
                "`recordNum` is not an integer",
            ),
            (
                r#"<Table><Name>t</Name><Schema><![CDATA[{"size":1.5}]]></Schema></Table>"#,
                "`size` is not an integer",
            ),
            (
                r#"<Table><Name>t</Name><Schema><![CDATA[{"Reserved":"{oops"}]]></Schema></Table>"#,
                "`Reserved` is not a JSON object in a string",
            ),
            (
                r#"<Table><Name>t</Name><Schema><![CDATA[{"Reserved":"{\"PrimaryKey\":\"id\"}"}]]></Schema></Table>"#,
                "`PrimaryKey` is not a list of strings",
            ),
            (
                "<Table><Name>&nbsp;</Name></Table>",
                "unknown entity `&nbsp;`",
            ),
            ("<Table/><Table/>", "more than one root element"),
        ];
        for (body, what) in cases {
            let err = TableMeta::parse(body.as_bytes()).unwrap_err();
            assert_malformed(err, "table metadata", what);
        }
        let err = TableMeta::parse(b"<Table>\xff</Table>").unwrap_err();
        assert_malformed(err, "table metadata", "not UTF-8");
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        let err = TableMeta::parse(deep.as_bytes()).unwrap_err();
        assert_malformed(err, "table metadata", "nest deeper");
    }

    #[test]
    fn table_list_pages() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Tables>
  <Table>
    <Name>sales</Name><Owner>ALIYUN$x</Owner><Type>MANAGED_TABLE</Type>
    <CreationTime>Thu, 19 Jan 2023 12:34:56 GMT</CreationTime>
    <LastModifiedTime>Fri, 20 Jan 2023 01:02:03 GMT</LastModifiedTime>
  </Table>
  <Table>
    <Name>v_sales</Name><Type>VIRTUAL_VIEW</Type>
    <Schema format="json"><![CDATA[{"comment":"a view","recordNum":-1,"size":"0"}]]></Schema>
  </Table>
  <Marker>v_sales</Marker>
  <MaxItems>2</MaxItems>
</Tables>"#;
        let page = TablePage::parse(xml.as_bytes()).unwrap();
        assert_eq!(page.marker.as_deref(), Some("v_sales"));
        assert_eq!(page.tables.len(), 2);
        assert_eq!(
            page.tables[0],
            TableSummary {
                name: "sales".into(),
                owner: Some("ALIYUN$x".into()),
                table_type: Some("MANAGED_TABLE".into()),
                created: Some("Thu, 19 Jan 2023 12:34:56 GMT".into()),
                last_modified: Some("Fri, 20 Jan 2023 01:02:03 GMT".into()),
                comment: None,
                record_num: None,
                size: None,
            }
        );
        let view = &page.tables[1];
        assert_eq!(view.comment.as_deref(), Some("a view"));
        assert_eq!((view.record_num, view.size), (None, Some(0)));
        assert_eq!(view.owner, None);

        // The last page: an empty or absent marker.
        for xml in [
            "<Tables><Marker></Marker><MaxItems>100</MaxItems></Tables>",
            "<Tables><Marker/></Tables>",
            "<Tables/>",
        ] {
            let page = TablePage::parse(xml.as_bytes()).unwrap();
            assert!(page.tables.is_empty());
            assert_eq!(page.marker, None);
        }

        let err =
            TablePage::parse(b"<Tables><Table><Owner>x</Owner></Table></Tables>").unwrap_err();
        assert_malformed(err, "the table list", "a `<Table>` without `<Name>`");
        let err = TablePage::parse(b"<Table><Name>t</Name></Table>").unwrap_err();
        assert_malformed(err, "the table list", "expected a `<Tables>`");
    }

    /// The partition list item of spec §2.2.
    const PARTITIONS_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Partitions>
  <Partition>
    <Column Name="pt" Value="test"/>
    <Column Name="dt" Value="20230119"/>
    <CreationTime>1674131696</CreationTime>
    <LastDDLTime>1674131696</LastDDLTime>
    <LastModifiedTime>1674131700</LastModifiedTime>
    <PartitionSize>1024</PartitionSize>
    <PartitionRecordCount>3</PartitionRecordCount>
  </Partition>
  <Partition>
    <Column Name="pt" Value="x"></Column>
    <Column Name="dt" Value="20230120"/>
    <CreationTime>1674218096</CreationTime>
    <LastDDLTime/>
    <LastModifiedTime/>
    <PartitionSize>0</PartitionSize>
    <PartitionRecordCount>-1</PartitionRecordCount>
  </Partition>
  <Marker>pt=x/dt=20230120</Marker>
  <MaxItems>2</MaxItems>
</Partitions>"#;

    #[test]
    fn partition_list_pages() {
        let page = PartitionPage::parse(PARTITIONS_XML.as_bytes()).unwrap();
        assert_eq!(page.marker.as_deref(), Some("pt=x/dt=20230120"));
        assert_eq!(
            page.partitions[0],
            PartitionSummary {
                spec: PartitionSpec::parse("pt=test,dt=20230119").unwrap(),
                created: Some(1674131696),
                last_modified: Some(1674131700),
                size: Some(1024),
                record_count: Some(3),
            }
        );
        let second = &page.partitions[1];
        assert_eq!(second.spec.to_meta_string(), "pt='x',dt='20230120'");
        assert_eq!(second.last_modified, None);
        assert_eq!((second.size, second.record_count), (Some(0), None));

        let last = PartitionPage::parse(b"<Partitions><Marker/></Partitions>").unwrap();
        assert!(last.partitions.is_empty());
        assert_eq!(last.marker, None);
    }

    #[test]
    fn partition_values_are_unescaped_and_checked() {
        let xml = r#"<Partitions><Partition><Column Name="pt" Value="a&amp;b"/></Partition></Partitions>"#;
        let err = PartitionPage::parse(xml.as_bytes()).unwrap_err();
        assert_malformed(err, "the partition list", "contains '&'");
        let xml = r#"<Partitions><Partition><Column Name="pt" Value="caf&#xE9; 1"/></Partition></Partitions>"#;
        let page = PartitionPage::parse(xml.as_bytes()).unwrap();
        assert_eq!(page.partitions[0].spec.get("pt"), Some("café 1"));
    }

    #[test]
    fn malformed_partition_lists() {
        let cases: &[(&str, &str)] = &[
            (
                "<Partitions><Partition><CreationTime>1</CreationTime></Partition></Partitions>",
                "without `<Column>`s",
            ),
            (
                r#"<Partitions><Partition><Column Name="pt"/></Partition></Partitions>"#,
                "without `Name` and `Value`",
            ),
            (
                r#"<Partitions><Partition><Column Name="pt" Value=""/></Partition></Partitions>"#,
                "empty value",
            ),
            (
                r#"<Partitions><Partition><Column Name="pt" Value="a"/><Column Name="PT" Value="b"/></Partition></Partitions>"#,
                "appears twice",
            ),
            (
                r#"<Partitions><Partition><Column Name="pt" Value="a"/><PartitionSize>big</PartitionSize></Partition></Partitions>"#,
                "`<PartitionSize>` is \"big\", not an integer",
            ),
            (
                r#"<Partitions><Partition><Column Name="pt" Value="a"/><CreationTime>Thu, 19 Jan 2023 12:34:56 GMT</CreationTime></Partition></Partitions>"#,
                "`<CreationTime>`",
            ),
            (
                r#"<Partitions><Partition><Column Name="pt" Value="a" Value="b"/></Partition></Partitions>"#,
                "bad attribute",
            ),
            ("<Partition/>", "expected a `<Partitions>`"),
        ];
        for (body, what) in cases {
            let err = PartitionPage::parse(body.as_bytes()).unwrap_err();
            assert_malformed(err, "the partition list", what);
        }
    }

    #[test]
    fn single_partition_reply() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Partition><Schema><![CDATA[{"createTime":1674131696,"lastDDLTime":1674131696,
  "lastModifiedTime":1674131700,"partitionSize":2048,"partitionRecordNum":5,
  "IsArchived":false,"IsExstore":false,"LifeCycle":-1,"PhysicalSize":"512","FileNum":1,
  "Reserved":"{}"}]]></Schema></Partition>"#;
        assert_eq!(
            PartitionMeta::parse(xml.as_bytes()).unwrap(),
            PartitionMeta {
                created: Some(1674131696),
                last_modified: Some(1674131700),
                size: Some(2048),
                record_count: Some(5),
                physical_size: Some(512),
                file_num: Some(1),
            }
        );
        // Without `extended`, and with the service's -1 for "unknown".
        let xml = r#"<Partition><Schema><![CDATA[{"partitionSize":0,"partitionRecordNum":-1}]]></Schema></Partition>"#;
        let m = PartitionMeta::parse(xml.as_bytes()).unwrap();
        assert_eq!(
            (m.size, m.record_count, m.physical_size),
            (Some(0), None, None)
        );

        let err = PartitionMeta::parse(b"<Partition></Partition>").unwrap_err();
        assert_malformed(err, "partition metadata", "no `<Schema>`");
        let err = PartitionMeta::parse(
            br#"<Partition><Schema>{"PhysicalSize":true}</Schema></Partition>"#,
        )
        .unwrap_err();
        assert_malformed(
            err,
            "partition metadata",
            "`PhysicalSize` is not an integer",
        );
    }

    #[test]
    fn error_bodies_in_xml() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>NoSuchObject</Code>
  <Message><![CDATA[The specified object is not found.]]></Message>
  <RequestId>5C9B1D8E0A</RequestId>
  <HostId>service.cn-hangzhou.maxcompute.aliyun.com</HostId>
</Error>"#;
        assert_eq!(
            parse_error_body(xml.as_bytes()),
            Some(RemoteError {
                code: "NoSuchObject".into(),
                message: "The specified object is not found.".into(),
                request_id: Some("5C9B1D8E0A".into()),
                host_id: Some("service.cn-hangzhou.maxcompute.aliyun.com".into()),
                hold_client_millis: None,
            })
        );
        let e = parse_error_body(b"<Error><Code>ODPS-0130131</Code><Message>Table not found &amp; gone</Message></Error>").unwrap();
        assert_eq!(e.code, "ODPS-0130131");
        assert_eq!(e.message, "Table not found & gone");
        assert_eq!(e.request_id, None);
    }

    #[test]
    fn error_bodies_in_json() {
        let json = r#"{"Code":"FlowExceeded","Message":"slow down","RequestId":"20230119abc","HoldClientMillis":"1500"}"#;
        assert_eq!(
            parse_error_body(json.as_bytes()),
            Some(RemoteError {
                code: "FlowExceeded".into(),
                message: "slow down".into(),
                request_id: Some("20230119abc".into()),
                host_id: None,
                hold_client_millis: Some(1500),
            })
        );
        let e = parse_error_body(
            br#" {"Code":"NoSuchPartition","Message":"","HoldClientMillis":250} "#,
        )
        .unwrap();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("NoSuchPartition", "")
        );
        assert_eq!(e.hold_client_millis, Some(250));
        let e =
            parse_error_body(br#"{"Message":"only a message","HoldClientMillis":"soon"}"#).unwrap();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("", "only a message")
        );
        assert_eq!(e.hold_client_millis, None);
    }

    #[test]
    fn bodies_that_are_no_error() {
        for body in [
            &b""[..],
            b"Bad Gateway",
            b"<html><body>502 Bad Gateway</body></html>",
            b"<Error></Error>",
            b"<Error><Code/><Message> </Message></Error>",
            b"{}",
            b"[\"Code\"]",
            br#"{"code":"lower-case keys are not the services' form"}"#,
            b"\xff\xfe",
        ] {
            assert_eq!(
                parse_error_body(body),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
