//! The Table Tunnel's routing and its download side (spec §1.2): sessions created by `POST
//! ?downloads`, reloaded by `GET ?downloadid=`, read by `GET ?data[&arrow]&rowrange=(start,
//! count)`. A session is a snapshot: its `RecordCount` and rows are fixed when it is created;
//! reading it after a commit into its table or partition answers 409 `TableModified` unless
//! the request carries `disable_modified_check=true` (as Java can). Uploads are in
//! [`upload`](super::upload). Errors are JSON `{"Code", "Message", "RequestId"}` bodies.

use std::collections::HashMap;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response};
use serde_json::{Value, json};

use super::auth::{Received, Rejection, decode, query_map};
use super::body::{self, Download};
use super::compress::Encoding;
use super::faults::{Route, error_code};
use super::tables::{Section, Snapshot, TableDef, parse_spec};
use super::{RecordedRequest, Service, Shared, lock, upload};
use crate::http::{Body, full, spoil};

type Query = std::collections::BTreeMap<String, String>;

/// Every download session created and its state.
#[derive(Default)]
pub(crate) struct Sessions {
    sessions: std::sync::Mutex<HashMap<String, Session>>,
}

#[derive(Clone)]
struct Session {
    table: Arc<TableDef>,
    section: Section,
    /// The rows when the session was created: what it serves, whatever is committed later.
    snapshot: Snapshot,
    record_count: u64,
    /// Created with `asyncmode=true` and not yet reloaded.
    initiating: bool,
    /// The fault generation it was created in; an older one than the current means expired.
    generation: u64,
}

pub(crate) use super::upload::Failure;

type Answer = Result<Response<Body>, Failure>;

pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let delay = shared.faults.current_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (parts, body) = req.into_parts();
    // Only block uploads carry a body; a body cut short is an incomplete block.
    let body = body.collect().await.map(|b| b.to_bytes());
    let request_id = shared.request_id();
    let route = route(&parts);
    let scripted = route.and_then(|r| shared.faults.take_http_error(r));
    let answered = match (&body, scripted) {
        (_, Some((status, _))) => Err(Failure(
            status,
            error_code(status),
            "scripted (emulator fault)".into(),
        )),
        (Ok(bytes), None) => answer(&shared, &parts, bytes),
        (Err(e), None) => Err(Failure(
            400,
            "IncompleteBody",
            format!("the request body was cut: {e}"),
        )),
    };
    let mut response = answered.unwrap_or_else(|Failure(status, code, message)| {
        let body = json!({"Code": code, "Message": message, "RequestId": request_id});
        Response::builder()
            .status(status)
            .header(CONTENT_TYPE, "application/json")
            .body(full(body.to_string()))
            .expect("a valid response")
    });
    if let Some((_, Some(secs))) = scripted {
        response
            .headers_mut()
            .insert(RETRY_AFTER, secs.to_string().parse().expect("ASCII"));
    }
    response
        .headers_mut()
        .insert("x-odps-request-id", request_id.parse().expect("ASCII"));
    shared.record(RecordedRequest {
        service: Service::Tunnel,
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        accept_encoding: header(&parts, "accept-encoding"),
        content_encoding: header(&parts, "content-encoding"),
        status: response.status().as_u16(),
    });
    match route.and_then(|r| shared.faults.take_wire(r)) {
        Some(wire) => spoil(response, wire).await,
        None => response,
    }
}

/// The route of a data request or a block upload, whose answers routed faults spoil.
fn route(parts: &Parts) -> Option<Route> {
    let query = query_map(parts.uri.query().unwrap_or_default());
    match parts.method {
        Method::GET if query.contains_key("data") => Some(Route::Download),
        Method::PUT if query.contains_key("uploadid") => Some(Route::Upload),
        _ => None,
    }
}

pub(crate) fn header(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn answer(shared: &Shared, parts: &Parts, body: &bytes::Bytes) -> Answer {
    let (path, raw_query) = (parts.uri.path(), parts.uri.query().unwrap_or_default());
    let received = Received {
        method: parts.method.as_str(),
        path,
        query: raw_query,
        headers: &parts.headers,
    };
    if let Err(rejection) = shared.auth.verify(&received, "") {
        let code = match rejection {
            Rejection::Unauthorized(_) => "Unauthorized",
            Rejection::Mismatch(_) => "SignatureNotMatch",
        };
        return Err(Failure(401, code, rejection.message().to_string()));
    }
    let decoded = String::from_utf8_lossy(&decode(path, false)).into_owned();
    let segments: Vec<&str> = decoded.trim_matches('/').split('/').collect();
    let ["projects", project, "tables", name] = segments[..] else {
        return Err(Failure(
            404,
            "NoSuchObject",
            format!("the emulator's tunnel does not serve `{decoded}`"),
        ));
    };
    if project != shared.config.project {
        return Err(Failure(
            404,
            "NoSuchProject",
            format!("project `{project}` does not exist"),
        ));
    }
    let Some(ref table) = shared.table(name) else {
        return Err(Failure(
            404,
            "NoSuchTable",
            format!("table `{project}.{name}` does not exist"),
        ));
    };
    let query = query_map(raw_query);
    let has = |key: &str| query.contains_key(key);
    match parts.method {
        Method::POST if has("downloads") => create(shared, table, &query),
        Method::GET if has("data") => data(shared, table, &query, parts),
        Method::GET if has("downloadid") => reload(shared, table, &query),
        Method::POST if has("uploads") => upload::create(shared, table, &query),
        Method::PUT if has("uploadid") => {
            let encoding = parts
                .headers
                .get(CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok());
            upload::put_block(shared, table, &query, body, encoding)
        }
        Method::GET if has("uploadid") => upload::status(shared, table, &query),
        Method::POST if has("uploadid") => upload::commit(shared, table, &query),
        ref method => Err(Failure(
            400,
            "InvalidArgument",
            format!("the tunnel takes no {method} request with query `{raw_query}`"),
        )),
    }
}

/// `POST ?downloads[&asyncmode=true][&partition=..]`.
fn create(shared: &Shared, table: &Arc<TableDef>, query: &Query) -> Answer {
    let section = section(table, query)?;
    let id = format!("2023011912345600{:016x}", shared.next_id());
    let snapshot = table.snapshot(section);
    let session = Session {
        table: table.clone(),
        section,
        record_count: snapshot.rows(),
        snapshot,
        initiating: query.get("asyncmode").is_some_and(|v| v == "true"),
        generation: shared.faults.generation(),
    };
    let body = session_json(&id, &session);
    lock(&shared.sessions.sessions).insert(id, session);
    Ok(json_response(201, &body))
}

/// `GET ?downloadid=ID[&partition=..]`: the session, `normal` from now on.
fn reload(shared: &Shared, table: &Arc<TableDef>, query: &Query) -> Answer {
    let (id, _) = session(shared, table, query)?;
    let mut sessions = lock(&shared.sessions.sessions);
    let session = sessions.get_mut(&id).expect("looked up above");
    session.initiating = false;
    Ok(json_response(200, &session_json(&id, session)))
}

/// `GET ?data[&arrow]&downloadid=ID&rowrange=(S,C)[&columns=..][&partition=..]`.
fn data(shared: &Shared, table: &Arc<TableDef>, query: &Query, parts: &Parts) -> Answer {
    let (id, session) = session(shared, table, query)?;
    if session.initiating {
        return Err(Failure(
            409,
            "StatusConflict",
            format!("download session `{id}` is still initiating; reload it until it is normal"),
        ));
    }
    // A commit into the section since the session began: the real tunnel refuses unless
    // told not to check (Java's `disable_modified_check=true`); the emulator then serves
    // the rows the session froze.
    let current = table.snapshot(session.section).version();
    if current != session.snapshot.version()
        && query.get("disable_modified_check").map(String::as_str) != Some("true")
    {
        return Err(Failure(
            409,
            "TableModified",
            format!(
                "the table has been modified since download session `{id}` was created; \
                 create another download session"
            ),
        ));
    }
    let faults = &shared.faults;
    if faults.take_server_error() {
        return Err(Failure(
            500,
            "InternalServerError",
            "internal server error (emulator fault)".into(),
        ));
    }
    if faults.take_flow_exceeded() {
        return Err(Failure(
            429,
            "FlowExceeded",
            "the tunnel's flow limit is exceeded, retry later (emulator fault)".into(),
        ));
    }
    let (start, mut count) = row_range(query, session.record_count, shared.config.clamp_row_range)?;
    let arrow = query.contains_key("arrow");
    let projection = projection(table, query.get("columns").map(String::as_str), arrow)?;
    let encoding = Encoding::from_accept(header(parts, "accept-encoding").as_deref());
    if faults.take_short() {
        count /= 2;
    }
    let body = body::data(Download {
        table: table.clone(),
        section: session.section,
        snapshot: session.snapshot.clone(),
        start,
        count,
        projection,
        arrow,
        encoding,
        corrupt: faults.take_corrupt(),
        cut: faults.take_reset(),
    })
    .map_err(|e| Failure(500, "InternalServerError", format!("cannot compress: {e}")))?;
    let mut response = Response::builder().header(CONTENT_TYPE, "application/octet-stream");
    if let Some(name) = encoding.header() {
        response = response.header(CONTENT_ENCODING, name);
    }
    Ok(response.body(body).expect("a valid response"))
}

/// The session `downloadid` names, checked against the table, partition and expiry.
fn session(shared: &Shared, table: &TableDef, query: &Query) -> Result<(String, Session), Failure> {
    let Some(id) = query.get("downloadid").filter(|id| !id.is_empty()) else {
        return Err(Failure(
            400,
            "InvalidArgument",
            "the request names no download session (downloadid)".into(),
        ));
    };
    let section = section(table, query)?;
    let found = lock(&shared.sessions.sessions)
        .get(id)
        .filter(|s| s.table.name == table.name && s.section == section)
        .cloned();
    let Some(session) = found else {
        return Err(Failure(
            404,
            "NoSuchDownload",
            format!(
                "download session `{id}` does not exist for table `{}`{}",
                table.name,
                section
                    .map(|p| format!(
                        " partition `{}`",
                        table.partition(p).spec(&table.partition_keys)
                    ))
                    .unwrap_or_default()
            ),
        ));
    };
    if session.generation < shared.faults.generation() {
        return Err(Failure(
            409,
            "StatusConflict",
            format!("download session `{id}` has expired"),
        ));
    }
    Ok((id.clone(), session))
}

/// The partition the `partition` parameter names, or the whole unpartitioned table.
fn section(table: &TableDef, query: &Query) -> Result<Section, Failure> {
    let spec = parse_spec(query.get("partition").map_or("", String::as_str));
    if table.is_partitioned() && spec.is_empty() {
        return Err(Failure(
            400,
            "MissingPartitionSpec",
            format!("table `{}` is partitioned; name a partition", table.name),
        ));
    }
    if !table.is_partitioned() {
        if spec.is_empty() {
            return Ok(None);
        }
        return Err(Failure(
            400,
            "InvalidPartitionSpec",
            format!("table `{}` is not partitioned", table.name),
        ));
    }
    match table.find_partition(&spec) {
        Ok(Some(p)) => Ok(Some(p)),
        Ok(None) => Err(Failure(
            404,
            "NoSuchPartition",
            format!(
                "partition `{}` of table `{}` does not exist",
                query["partition"], table.name
            ),
        )),
        Err(message) => Err(Failure(400, "InvalidPartitionSpec", message)),
    }
}

/// `rowrange=(start,count)` within a session of `total` rows: strict, or clamped.
fn row_range(query: &Query, total: u64, clamp: bool) -> Result<(u64, u64), Failure> {
    let invalid = |message: String| Failure(400, "InvalidRowRange", message);
    let Some(range) = query.get("rowrange") else {
        return Err(invalid("the request has no rowrange".into()));
    };
    let parsed = range
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|r| r.split_once(','))
        .and_then(|(s, c)| Some((s.trim().parse::<u64>().ok()?, c.trim().parse::<u64>().ok()?)));
    let Some((start, count)) = parsed else {
        return Err(invalid(format!(
            "rowrange `{range}` is not `(start,count)` with non-negative integers"
        )));
    };
    if clamp {
        let start = start.min(total);
        return Ok((start, count.min(total - start)));
    }
    if count == 0 || start.checked_add(count).is_none_or(|end| end > total) {
        return Err(invalid(format!(
            "rowrange ({start},{count}) is outside the session's {total} records"
        )));
    }
    Ok((start, count))
}

/// The data columns to send: all of them, or those `columns=` names; in request order for
/// records, in table order for Arrow (PyODPS decodes Arrow with the table's order).
fn projection(table: &TableDef, columns: Option<&str>, arrow: bool) -> Result<Vec<usize>, Failure> {
    let Some(list) = columns.filter(|c| !c.is_empty()) else {
        return Ok((0..table.columns.len()).collect());
    };
    let mut picked = Vec::new();
    for name in list.split(',') {
        let Some(i) = table.column_index(name.trim()) else {
            let what = if table
                .partition_keys
                .iter()
                .any(|k| k.eq_ignore_ascii_case(name))
            {
                "is a partition column, not a data column"
            } else {
                "does not exist"
            };
            return Err(Failure(
                400,
                "InvalidArgument",
                format!("column `{name}` of table `{}` {what}", table.name),
            ));
        };
        if picked.contains(&i) {
            return Err(Failure(
                400,
                "InvalidArgument",
                format!("column `{name}` is asked for twice"),
            ));
        }
        picked.push(i);
    }
    if arrow {
        picked.sort_unstable();
    }
    Ok(picked)
}

fn session_json(id: &str, session: &Session) -> Value {
    json!({
        "DownloadID": id,
        "Status": if session.initiating { "initiating" } else { "normal" },
        "RecordCount": session.record_count,
        "Schema": schema_json(&session.table),
        "QuotaName": "",
        "SupportReadByRawSize": false,
    })
}

/// A session's `Schema`: the data columns and the partition keys.
pub(crate) fn schema_json(table: &TableDef) -> Value {
    let columns: Vec<Value> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({"name": c.name, "type": c.odps_type, "comment": "", "nullable": c.nullable,
                   "column_id": i.to_string()})
        })
        .collect();
    let keys: Vec<Value> = table
        .partition_keys
        .iter()
        .zip(&table.partition_key_types)
        .map(|(k, t)| json!({"name": k, "type": t, "comment": "", "nullable": true}))
        .collect();
    json!({"columns": columns, "partitionKeys": keys})
}

fn json_response(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(full(body.to_string()))
        .expect("a valid response")
}
