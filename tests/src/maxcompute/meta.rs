//! The meta API (spec §2.2): table and partition metadata as XML envelopes with JSON in CDATA,
//! listings paged by `Marker`, errors as XML `<Error>` bodies. Everything lives under `/api`,
//! which signatures leave out of the resource they sign.

use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, RETRY_AFTER};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response};
use serde_json::{Value, json};

use super::auth::{Received, Rejection, decode, query_map};
use super::faults::{Route, error_code};
use super::instances::{self, Action};
use super::tables::{Section, TableDef, parse_spec};
use super::{RecordedRequest, Service, Shared};
use crate::http::{Body, full, spoil};

/// The meta API's path on its listener, part of the endpoint users configure.
pub(crate) const PREFIX: &str = "/api";

/// When every fixture was created and last modified: Thu, 19 Jan 2023 12:34:56 GMT.
const CREATED: u64 = 1_674_131_696;
const CREATED_RFC1123: &str = "Thu, 19 Jan 2023 12:34:56 GMT";
pub(crate) const OWNER: &str = "ALIYUN$emulator@arrowport.dev";

/// Bytes per cell the reported sizes assume.
const CELL_BYTES: u64 = 8;

type Query = std::collections::BTreeMap<String, String>;

pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    // Only SQL instances are submitted with a body; reads carry none.
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let request_id = shared.request_id();
    let mut response = match shared.faults.take_http_error(Route::Meta) {
        Some((status, retry_after)) => {
            let mut response = error(
                status,
                error_code(status),
                "scripted (emulator fault)",
                &request_id,
            );
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, secs.to_string().parse().expect("ASCII"));
            }
            response
        }
        None => answer(&shared, &parts, &body, &request_id),
    };
    response
        .headers_mut()
        .insert("x-odps-request-id", request_id.parse().expect("ASCII"));
    shared.record(RecordedRequest {
        service: Service::Meta,
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        accept_encoding: super::tunnel::header(&parts, "accept-encoding"),
        content_encoding: super::tunnel::header(&parts, "content-encoding"),
        status: response.status().as_u16(),
    });
    match shared.faults.take_wire(Route::Meta) {
        Some(wire) => spoil(response, wire).await,
        None => response,
    }
}

fn answer(shared: &Shared, parts: &Parts, body: &[u8], request_id: &str) -> Response<Body> {
    let (path, raw_query) = (parts.uri.path(), parts.uri.query().unwrap_or_default());
    let received = Received {
        method: parts.method.as_str(),
        path,
        query: raw_query,
        headers: &parts.headers,
    };
    let fail = |status, code, message: &str| error(status, code, message, request_id);
    if let Err(rejection) = shared.auth.verify(&received, PREFIX) {
        let code = match rejection {
            Rejection::Unauthorized(_) => "Unauthorized",
            Rejection::Mismatch(_) => "SignatureNotMatch",
        };
        return fail(401, code, rejection.message());
    }
    if shared.faults.take_meta_server_error() {
        return fail(
            503,
            "ServiceUnavailable",
            "the service is busy, please retry (emulator fault)",
        );
    }
    let decoded = String::from_utf8_lossy(&decode(path, false)).into_owned();
    let resource = decoded.strip_prefix(PREFIX).unwrap_or(&decoded);
    let segments: Vec<&str> = resource.trim_matches('/').split('/').collect();
    let query = query_map(raw_query);
    if let ["projects", project, "instances", ref rest @ ..] = segments[..]
        && project == shared.config.project
    {
        return match (&parts.method, rest) {
            (&Method::POST, []) => {
                let host = super::tunnel::header(parts, "host")
                    .or_else(|| shared.meta_addr.get().map(ToString::to_string))
                    .unwrap_or_default();
                instances::submit(shared, body, &host)
                    .unwrap_or_else(|message| fail(400, "InvalidArgument", &message))
            }
            (&Method::GET, [id]) => {
                let action = if query.contains_key("taskstatus") {
                    Action::TaskStatus
                } else if query.contains_key("result") {
                    Action::Result
                } else {
                    Action::Status
                };
                instances::get(shared, id, action).unwrap_or_else(|| {
                    fail(
                        404,
                        "NoSuchObject",
                        &format!("instance `{id}` does not exist"),
                    )
                })
            }
            (method, _) => fail(
                405,
                "MethodNotAllowed",
                &format!("the emulator takes no {method} request on `{resource}`"),
            ),
        };
    }
    if parts.method != Method::GET {
        return fail(
            405,
            "MethodNotAllowed",
            &format!(
                "the emulator's meta API only reads (and runs SQL instances); it takes no {} \
                 requests here",
                parts.method
            ),
        );
    }
    match segments[..] {
        ["projects", project, ref rest @ ..] => {
            if project != shared.config.project {
                return fail(
                    404,
                    "NoSuchProject",
                    &format!("project `{project}` does not exist"),
                );
            }
            match rest {
                ["tunnel"] if query.contains_key("service") => {
                    let addr = shared.tunnel_addr.get().expect("bound before the meta API");
                    Response::builder()
                        .header(CONTENT_TYPE, "text/plain")
                        .body(full(addr.to_string()))
                        .expect("a valid response")
                }
                ["tables"] => list_tables(shared, &query, request_id),
                ["tables", name] => match shared.table(name) {
                    None => fail(
                        404,
                        "NoSuchObject",
                        &format!("Table not found: {project}.{name}"),
                    ),
                    Some(table) if query.contains_key("partitions") => {
                        list_partitions(shared, &table, &query, request_id)
                    }
                    Some(table) => match query.get("partition") {
                        Some(spec) => partition(&table, spec, &query, request_id),
                        None => xml(table_xml(shared, &table, query.contains_key("extended"))),
                    },
                },
                _ => fail(
                    404,
                    "NoSuchObject",
                    &format!("no such resource `{resource}`"),
                ),
            }
        }
        // PyODPS asks for these in passing and tolerates a 404.
        _ => fail(
            404,
            "NoSuchObject",
            &format!("the emulator does not serve `{resource}`"),
        ),
    }
}

fn list_tables(shared: &Shared, query: &Query, request_id: &str) -> Response<Body> {
    let prefix = query
        .get("name")
        .map(|n| n.to_ascii_lowercase())
        .unwrap_or_default();
    let wants_managed = query
        .get("type")
        .is_none_or(|t| t.is_empty() || t.eq_ignore_ascii_case("MANAGED_TABLE"));
    let tables: Vec<Arc<TableDef>> = shared
        .all_tables()
        .into_iter()
        .filter(|t| wants_managed && t.name.starts_with(&prefix))
        .collect();
    let keys: Vec<String> = tables.iter().map(|t| t.name.to_string()).collect();
    let page = match Page::of(&keys, query, shared.config.table_page_size) {
        Ok(page) => page,
        Err(message) => return error(400, "InvalidArgument", &message, request_id),
    };
    let extended = query.contains_key("extended");
    let mut body = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Tables>\n");
    for table in &tables[page.items.clone()] {
        body.push_str(&table_element(shared, table, extended.then_some(false)));
    }
    body.push_str(&page.footer());
    body.push_str("</Tables>\n");
    xml(body)
}

fn list_partitions(
    shared: &Shared,
    table: &TableDef,
    query: &Query,
    request_id: &str,
) -> Response<Body> {
    let filter = parse_spec(query.get("partition").map_or("", String::as_str));
    let mut matching = match table.matching_partitions(&filter) {
        Ok(m) => m,
        Err(message) => return error(400, "InvalidPartitionSpec", &message, request_id),
    };
    if query.contains_key("reverse") {
        matching.reverse();
    }
    let keys: Vec<String> = matching
        .iter()
        .map(|&p| table.partition(p).spec(&table.partition_keys))
        .collect();
    let page = match Page::of(&keys, query, shared.config.partition_page_size) {
        Ok(page) => page,
        Err(message) => return error(400, "InvalidArgument", &message, request_id),
    };
    let mut body = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Partitions>\n");
    for &p in &matching[page.items.clone()] {
        let partition = table.partition(p);
        body.push_str("<Partition>");
        for (key, value) in table.partition_keys.iter().zip(&partition.values) {
            body.push_str(&format!(
                "<Column Name=\"{}\" Value=\"{}\"/>",
                escape(key),
                escape(value)
            ));
        }
        let rows = table.rows(Some(p));
        body.push_str(&format!(
            "<CreationTime>{CREATED}</CreationTime><LastDDLTime>{CREATED}</LastDDLTime>\
             <LastModifiedTime>{CREATED}</LastModifiedTime>\
             <PartitionSize>{}</PartitionSize><PartitionRecordCount>{rows}</PartitionRecordCount>\
             </Partition>\n",
            size(table, Some(p))
        ));
    }
    body.push_str(&page.footer());
    body.push_str("</Partitions>\n");
    xml(body)
}

/// `?partition=pt='a',dt='b'[&extended]`: one partition's metadata, or 404.
fn partition(table: &TableDef, spec: &str, query: &Query, request_id: &str) -> Response<Body> {
    let p = match table.find_partition(&parse_spec(spec)) {
        Ok(Some(p)) => p,
        Ok(None) => {
            return error(
                404,
                "NoSuchPartition",
                &format!(
                    "partition `{spec}` of table `{}` does not exist",
                    table.name
                ),
                request_id,
            );
        }
        Err(message) => return error(400, "InvalidPartitionSpec", &message, request_id),
    };
    let size = size(table, Some(p));
    let mut meta = json!({
        "createTime": CREATED,
        "lastDDLTime": CREATED,
        "lastModifiedTime": CREATED,
        "partitionSize": size,
        "partitionRecordNum": table.rows(Some(p)),
    });
    if query.contains_key("extended") {
        extend(&mut meta, size);
        meta["IsExstore"] = json!(false);
        meta["LifeCycle"] = json!(-1);
    }
    xml(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Partition><Schema><![CDATA[{meta}]]></Schema></Partition>\n"
    ))
}

fn table_xml(shared: &Shared, table: &TableDef, extended: bool) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}",
        table_element(shared, table, Some(extended))
    )
}

/// A `<Table>`; with `schema` = `Some(extended)` it carries the schema JSON.
fn table_element(shared: &Shared, table: &TableDef, schema: Option<bool>) -> String {
    let schema = schema
        .map(|extended| {
            format!(
                "<Schema format=\"json\"><![CDATA[{}]]></Schema>",
                schema_json(table, extended)
            )
        })
        .unwrap_or_default();
    format!(
        "<Table><Name>{name}</Name><TableId>{id}</TableId>{schema}<Owner>{owner}</Owner>\
         <Project>{project}</Project><CreationTime>{CREATED_RFC1123}</CreationTime>\
         <LastModifiedTime>{CREATED_RFC1123}</LastModifiedTime><Type>MANAGED_TABLE</Type>\
         </Table>\n",
        name = escape(&table.name),
        id = hex_key(&table.name),
        owner = escape(OWNER),
        project = escape(&shared.config.project),
    )
}

fn schema_json(table: &TableDef, extended: bool) -> Value {
    let columns: Vec<Value> = table
        .columns
        .iter()
        .map(|c| {
            json!({"name": c.name, "type": c.odps_type, "comment": c.comment, "label": "",
                   "isNullable": c.nullable})
        })
        .collect();
    let keys: Vec<Value> = table
        .partition_keys
        .iter()
        .zip(&table.partition_key_types)
        .map(|(k, t)| json!({"name": k, "type": t, "comment": "", "label": "", "isNullable": true}))
        .collect();
    let size = size(table, None);
    let mut schema = json!({
        "tableName": table.name,
        "comment": table.comment,
        "owner": OWNER,
        "createTime": CREATED,
        "lastDDLTime": CREATED,
        "lastModifiedTime": CREATED,
        "lifecycle": table.lifecycle,
        "size": size,
        "recordNum": table.total_rows(),
        "isVirtualView": false,
        "isExternal": false,
        "columns": columns,
        "partitionKeys": keys,
    });
    if extended {
        extend(&mut schema, size);
    }
    schema
}

/// The keys `?extended` adds. `Reserved` is a JSON string; without `Transactional` PyODPS
/// stays on the tunnel path.
fn extend(meta: &mut Value, size: u64) {
    meta["IsArchived"] = json!(false);
    meta["PhysicalSize"] = json!(size);
    meta["FileNum"] = json!(size.div_ceil(1 << 20));
    meta["Reserved"] = json!(r#"{"schema_version":"0"}"#);
}

/// Bytes a section "takes": zero exactly when it has no rows, which `get_max_partition`
/// relies on to skip empty partitions.
fn size(table: &TableDef, section: Section) -> u64 {
    let rows = match section {
        Some(_) => table.rows(section),
        None => table.total_rows(),
    };
    rows * table.columns.len() as u64 * CELL_BYTES
}

/// One page of a listing: which items, and the marker of the next page.
struct Page {
    items: std::ops::Range<usize>,
    next: Option<String>,
    size: usize,
}

impl Page {
    /// Pages `keys` from the request's `marker` (the hex of the first key to return),
    /// `min(maxitems, limit)` at a time.
    fn of(keys: &[String], query: &Query, limit: usize) -> Result<Page, String> {
        let size = match query.get("maxitems").filter(|m| !m.is_empty()) {
            Some(m) => match m.parse::<usize>() {
                Ok(n) if n > 0 => n.min(limit),
                _ => return Err(format!("maxitems must be a positive integer, got `{m}`")),
            },
            None => limit,
        };
        let start = match query.get("marker").filter(|m| !m.is_empty()) {
            Some(marker) => keys
                .iter()
                .position(|k| hex_key(k) == *marker)
                .ok_or_else(|| format!("marker `{marker}` is not one this listing gave out"))?,
            None => 0,
        };
        let end = (start + size).min(keys.len());
        Ok(Page {
            items: start..end,
            next: keys.get(end).map(|k| hex_key(k)),
            size,
        })
    }

    fn footer(&self) -> String {
        format!(
            "<Marker>{}</Marker>\n<MaxItems>{}</MaxItems>\n",
            self.next.as_deref().unwrap_or_default(),
            self.size
        )
    }
}

/// An opaque, URL-safe token for a listing key.
fn hex_key(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

fn xml(body: String) -> Response<Body> {
    Response::builder()
        .header(CONTENT_TYPE, "application/xml")
        .body(full(body))
        .expect("a valid response")
}

/// An XML `<Error>` body, as the meta API answers every failure.
fn error(status: u16, code: &str, message: &str, request_id: &str) -> Response<Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>\
         <RequestId>{}</RequestId><HostId>localhost</HostId></Error>\n",
        escape(code),
        escape(message),
        escape(request_id)
    );
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/xml")
        .body(full(body))
        .expect("a valid response")
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
