//! Just enough of the meta API's SQL instances for clients that create tables and partitions
//! through SQL, as PyODPS and arrowport do (`CREATE TABLE` is in [`ddl`](super::ddl)).
//!
//! `o.write_table(t, data, partition='pt=x', create_partition=True)` (and
//! `t.open_writer(partition=..., create_partition=True)`) does not pass `create_partition` to
//! the tunnel. PyODPS 0.13.2 (`models/table.py` `open_writer`, `models/partitions.py`
//! `create`, `models/tables.py` `_run_table_sql`, `models/instance.py`) sends, on the meta API
//! (observed against this emulator; every call also carries `curr_project={p}`):
//!
//! 1. `GET /projects/{p}/tables/{t}?partition=pt='x'`: 404 `NoSuchPartition` means "create it";
//! 2. `POST /projects/{p}/instances` with `Content-Type: application/xml` and the body
//!    `<Instance><Job><Priority>9</Priority><Tasks><SQL><Name>SQLAddPartitionTask</Name>
//!    <Config><Property><Name>settings</Name><Value>{json}</Value></Property>
//!    <Property><Name>uuid</Name>…</Property></Config>
//!    <Query><![CDATA[ALTER TABLE p.`t` ADD IF NOT EXISTS PARTITION (pt='x');]]></Query></SQL>
//!    </Tasks><DAG><RunMode>Sequence</RunMode></DAG></Job></Instance>`; the answer needs a
//!    `Location` header ending in the instance id (here 201, empty body: an asynchronous
//!    instance; a body would make PyODPS treat it as a synchronous one);
//! 3. `GET /projects/{p}/instances/{id}` until `<Instance><Status>Terminated</Status>`
//!    (headers `x-odps-owner`, `x-odps-start-time`, `x-odps-end-time`; other callers add
//!    `?instancestatus`);
//! 4. `GET /projects/{p}/instances/{id}?taskstatus`: every task `<Status>Success</Status>`;
//!    for a `Failed` one PyODPS then asks `GET /projects/{p}/instances/{id}?result` and raises
//!    the result text (`ODPS-0130111:… already exists` and the like) as an error;
//!
//! then `GET /projects/{p}/tables/{t}?extended` and the tunnel session, created without
//! `create_partition`, so the partition must exist by then. (`TableTunnel
//! .create_upload_session(..., create_partition=True)` instead sends `create_partition=true`
//! on `POST ?uploads`; Java's batch `UploadSession` has no such option, its
//! `StreamUploadSession.Builder.setCreatePartition` sends a bare `create_partition` on
//! `/streams`.)
//!
//! `o.create_table(name, schema, if_not_exists=…, lifecycle=…)` and `write_table(…,
//! create_table=True)` send the same job with a task named `SQLCreateTableTask` and a
//! `CREATE TABLE` query.
//!
//! Instances run when submitted and are terminated at once. The statements run are
//! `ALTER TABLE [project.]table ADD [IF NOT EXISTS] PARTITION (k='v',…) [PARTITION (…)]…`
//! (names may be back-quoted) and `CREATE TABLE`; anything else fails its task with an
//! `ODPS-…` message, as a failing statement would.

use std::collections::HashMap;

use hyper::Response;
use hyper::header::{CONTENT_TYPE, LOCATION};

use super::tables::parse_spec;
use super::{Shared, lock};
use crate::http::{Body, full};

/// Every instance submitted.
#[derive(Default)]
pub(crate) struct Instances {
    instances: std::sync::Mutex<HashMap<String, Instance>>,
}

#[derive(Clone)]
struct Instance {
    /// The task's name (`SQLAddPartitionTask`).
    task: String,
    /// The task's result text: `OK`, or the error.
    outcome: Result<String, String>,
}

/// When every instance "started" and "ended".
const RAN_AT: &str = "Thu, 19 Jan 2023 12:34:56 GMT";

/// `POST /projects/{p}/instances` with a job XML: runs its SQL task.
pub(crate) fn submit(shared: &Shared, body: &[u8], host: &str) -> Result<Response<Body>, String> {
    let xml = std::str::from_utf8(body).map_err(|_| "the job XML is not UTF-8".to_string())?;
    let sql = element(xml, "SQL").ok_or("the emulator runs only jobs of one SQL task")?;
    let task = element(sql, "Name").map_or_else(|| "AnonymousSQLTask".into(), unescape);
    let query = element(sql, "Query").ok_or("the SQL task has no Query")?;
    let query = match query
        .trim()
        .strip_prefix("<![CDATA[")
        .and_then(|q| q.strip_suffix("]]>"))
    {
        Some(text) => text.to_string(),
        None => unescape(query),
    };
    let outcome = run(shared, &query);
    let id = format!("20230119123456{:012x}gemu", shared.next_id());
    lock(&shared.instances.instances).insert(id.clone(), Instance { task, outcome });
    let location = format!(
        "http://{host}{}/projects/{}/instances/{id}",
        super::meta::PREFIX,
        shared.config.project
    );
    Ok(Response::builder()
        .status(201)
        .header(LOCATION, location)
        .body(crate::http::empty())
        .expect("a valid response"))
}

/// `GET /projects/{p}/instances/{id}[?instancestatus|?taskstatus|?result]`; `None` if there
/// is no such instance.
pub(crate) fn get(shared: &Shared, id: &str, action: Action) -> Option<Response<Body>> {
    let instance = lock(&shared.instances.instances).get(id).cloned()?;
    let (status, result) = match &instance.outcome {
        Ok(text) => ("Success", text),
        Err(text) => ("Failed", text),
    };
    let task = escape(&instance.task);
    let body = match action {
        Action::Status => "<Instance><Status>Terminated</Status></Instance>".to_string(),
        Action::TaskStatus => format!(
            "<Instance><Status>Terminated</Status><Tasks><Task Type=\"SQL\"><Name>{task}</Name>\
             <StartTime>{RAN_AT}</StartTime><EndTime>{RAN_AT}</EndTime><Status>{status}</Status>\
             <Histories/></Task></Tasks></Instance>"
        ),
        Action::Result => format!(
            "<Instance><Tasks><Task Type=\"SQL\"><Name>{task}</Name>\
             <Result Transform=\"\" Format=\"text\"><![CDATA[{result}]]></Result>\
             <Status>{status}</Status></Task></Tasks></Instance>"
        ),
    };
    Some(
        Response::builder()
            .header(CONTENT_TYPE, "application/xml")
            .header("x-odps-owner", super::meta::OWNER)
            .header("x-odps-start-time", RAN_AT)
            .header("x-odps-end-time", RAN_AT)
            .body(full(format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}\n"
            )))
            .expect("a valid response"),
    )
}

/// What an instance GET asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action {
    /// Plain, or `?instancestatus`.
    Status,
    /// `?taskstatus`.
    TaskStatus,
    /// `?result`.
    Result,
}

/// Runs one statement: `Ok` with the task's result text, or `Err` with its error.
fn run(shared: &Shared, sql: &str) -> Result<String, String> {
    let statement = sql.trim().trim_end_matches(';').trim();
    let unsupported = || {
        format!(
            "ODPS-0130161:[1,1] Parse exception - the emulator runs only CREATE TABLE and \
             ALTER TABLE t ADD [IF NOT EXISTS] PARTITION (...), not `{statement}`"
        )
    };
    let (head, rest) = split_words(statement, 2);
    if head.eq_ignore_ascii_case("create table") {
        return super::ddl::create_table(shared, statement);
    }
    if !head.eq_ignore_ascii_case("alter table") {
        return Err(unsupported());
    }
    let (name, rest) = split_words(rest, 1);
    let (add, mut rest) = split_words(rest, 1);
    if !add.eq_ignore_ascii_case("add") {
        return Err(unsupported());
    }
    let if_not_exists = {
        let (words, after) = split_words(rest, 3);
        let yes = words.eq_ignore_ascii_case("if not exists");
        if yes {
            rest = after;
        }
        yes
    };
    let mut specs = Vec::new();
    while !rest.trim().is_empty() {
        let (keyword, after) = split_words(rest, 1);
        let inner = after.trim_start().strip_prefix('(');
        let (Some(inner), true) = (inner, keyword.eq_ignore_ascii_case("partition")) else {
            return Err(unsupported());
        };
        let Some((spec, after)) = inner.split_once(')') else {
            return Err(unsupported());
        };
        specs.push(parse_spec(spec));
        rest = after;
    }
    if specs.is_empty() {
        return Err(unsupported());
    }
    let parts: Vec<String> = name.split('.').map(|p| p.replace('`', "")).collect();
    let table_name = parts.last().expect("split gives one part at least");
    let project = &shared.config.project;
    let table = match (parts.len(), shared.table(table_name)) {
        (1..=3, Some(table)) if parts.len() == 1 || parts[0] == *project => table,
        _ => {
            return Err(format!(
                "ODPS-0130131:[1,13] Table not found - table {} cannot be resolved",
                parts.join(".")
            ));
        }
    };
    if !table.is_partitioned() {
        return Err(format!(
            "ODPS-0130071:[1,1] Semantic analysis exception - table {project}.{} is not \
             partitioned",
            table.name
        ));
    }
    // Checked first, created after: the statement succeeds or fails as a whole.
    let mut create = Vec::new();
    for spec in &specs {
        match table.find_partition(spec) {
            Ok(Some(_)) if if_not_exists => {}
            Ok(Some(_)) => {
                return Err(format!(
                    "ODPS-0130111:[1,1] Semantic analysis exception - partition {} of table \
                     {project}.{} already exists",
                    spec_text(spec),
                    table.name
                ));
            }
            Ok(None) => create.push(
                table
                    .partition_keys
                    .iter()
                    .map(|k| {
                        let (_, v) = spec
                            .iter()
                            .find(|(key, _)| key.eq_ignore_ascii_case(k))
                            .expect("find_partition checked every key is given");
                        v.clone()
                    })
                    .collect::<Vec<_>>(),
            ),
            Err(message) => {
                return Err(format!(
                    "ODPS-0130071:[1,1] Semantic analysis exception - {message}"
                ));
            }
        }
    }
    for values in create {
        table.create_partition(values);
    }
    Ok("OK".into())
}

/// The first `n` whitespace-separated words (joined by one space) and the rest.
fn split_words(text: &str, n: usize) -> (String, &str) {
    let mut rest = text.trim_start();
    let mut words = Vec::new();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        // A word ends at `(` too: `PARTITION(pt='x')`.
        let end = rest[..end].find('(').unwrap_or(end);
        if end == 0 {
            break;
        }
        words.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    (words.join(" "), rest)
}

fn spec_text(spec: &[(String, String)]) -> String {
    spec.iter()
        .map(|(k, v)| format!("{k}='{v}'"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The text inside the first `<name>…</name>`.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(&xml[start..end])
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
