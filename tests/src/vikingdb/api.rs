//! The VikingDB V1 API: collection and index info, and the export task lifecycle.
//!
//! Answers use the V1 envelope `{"code", "message", "request_id", "data"}`, HTTP 200 on
//! success and the same envelope with a non-200 status on error (the SDK reads `code` from
//! either). A task advances one state per `task/info` poll: `init` (at creation) → `queued`
//! → [`confirm` … `confirmed`] → `running` × `polls_to_done` → `done` (or `fail`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared as SharedFuture};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, RETRY_AFTER};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response};
use serde_json::{Map, Value, json};

use super::auth::{Received, query_pairs};
use super::collection::{collection_info, index_info, index_name};
use super::export::{self, FileType, Job};
use super::faults::Route;
use super::filter::Filter;
use super::{RecordedRequest, Service, Shared, clock, lock};
use crate::http::{Body, full, spoil};

/// A failed call: the V1 error code, its HTTP status and a message.
#[derive(Debug)]
struct ApiError {
    code: u32,
    status: u16,
    message: String,
}

impl ApiError {
    fn new(code: u32, status: u16, message: impl Into<String>) -> Self {
        ApiError {
            code,
            status,
            message: message.into(),
        }
    }

    /// 1000001 `UnauthorizedException`: bad or missing signature, unknown access key.
    fn unauthorized(message: &str) -> Self {
        ApiError::new(1_000_001, 401, message)
    }

    /// 1000003 `InvalidRequestException`: a parameter is missing or wrong.
    fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(1_000_003, 400, message)
    }

    /// 1000005 `CollectionNotExistException`.
    fn no_collection(name: &str) -> Self {
        ApiError::new(
            1_000_005,
            404,
            format!("collection `{name}` does not exist"),
        )
    }

    /// 1000035 `TaskNotFoundException`.
    fn no_task(id: &str) -> Self {
        ApiError::new(1_000_035, 404, format!("task `{id}` does not exist"))
    }

    /// 1000028: the SDK's catch-all `VikingDBException`.
    fn internal(message: impl Into<String>) -> Self {
        ApiError::new(1_000_028, 500, message)
    }
}

type Files = Arc<Vec<(String, Bytes)>>;

/// An export being written on a blocking thread; polls await it together.
type Export = SharedFuture<BoxFuture<'static, Result<Files, String>>>;

/// Every task ever created and not dropped, in creation order.
#[derive(Default)]
pub(crate) struct Tasks {
    tasks: Mutex<Vec<Task>>,
}

impl Tasks {
    /// Stops every export still being written.
    pub(crate) fn cancel_all(&self) {
        for task in lock(&self.tasks).iter() {
            task.cancel.store(true, Ordering::Relaxed);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Init,
    Queued,
    Confirm,
    Confirmed,
    /// The n-th poll answered `running`, from 1.
    Running(u32),
    Done,
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Init => "init",
            Status::Queued => "queued",
            Status::Confirm => "confirm",
            Status::Confirmed => "confirmed",
            Status::Running(_) => "running",
            Status::Done => "done",
            Status::Fail => "fail",
        }
    }
}

struct Task {
    id: String,
    /// `task_params` as sent, echoed back.
    params: Value,
    collection: String,
    created: u64,
    updated: u64,
    status: Status,
    /// Stop in `confirm` after `queued` (the confirm fault).
    confirm: bool,
    /// End in `fail` with this message instead of `done`.
    fail: Option<String>,
    percent: u64,
    scanned: u64,
    matched: u64,
    sample: Vec<Value>,
    /// `None` for a task scripted to fail: it writes nothing.
    export: Option<Export>,
    /// Whether the files are in the bucket.
    published: bool,
    cancel: Arc<AtomicBool>,
    /// The fault generation it was created in; an older one than the current means expired.
    generation: u64,
}

impl Task {
    /// Whether this is task `id`, and not forgotten (`expire_tasks`).
    fn is(&self, id: &str, shared: &Shared) -> bool {
        self.id == id && self.generation == shared.faults.task_generation()
    }

    /// The status the next poll moves to.
    fn next(&self, polls: u32) -> Status {
        let run = |n: u32| match (n <= polls, &self.fail) {
            (true, _) => Status::Running(n),
            (false, Some(_)) => Status::Fail,
            (false, None) => Status::Done,
        };
        match self.status {
            Status::Init => Status::Queued,
            Status::Queued if self.confirm => Status::Confirm,
            Status::Queued | Status::Confirmed => run(1),
            Status::Running(n) => run(n + 1),
            s @ (Status::Confirm | Status::Done | Status::Fail) => s,
        }
    }

    fn enter(&mut self, status: Status, total: u64, polls: u32) {
        if status == self.status {
            return;
        }
        match status {
            Status::Running(n) => {
                let steps = u64::from(polls) + 1;
                self.percent = u64::from(n) * 100 / steps;
                self.scanned = total * u64::from(n) / steps;
            }
            Status::Done => (self.percent, self.scanned) = (100, total),
            _ => {}
        }
        self.status = status;
        self.updated = clock::now();
    }

    fn json(&self, total: u64) -> Value {
        json!({
            "task_id": self.id,
            "task_type": "data_export",
            "task_status": self.status.as_str(),
            "task_params": self.params,
            "process_info": {
                "task_progress": format!("{}%", self.percent),
                "scan_data_count": self.scanned,
                "total_data_count": total,
                "total_filter_count": self.matched,
                "sampled_timestamp": self.created,
                "sampled_data": self.sample,
                "err_msg": if self.status == Status::Fail {
                    self.fail.clone().unwrap_or_default()
                } else {
                    String::new()
                },
            },
            "collection_name": self.collection,
            "create_time": clock::rfc3339(self.created),
            "update_time": clock::rfc3339(self.updated),
            "update_person": "emulator",
        })
    }
}

pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let delay = shared.faults.current_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (parts, body) = req.into_parts();
    let request_id = shared.request_id();
    let action = parts.uri.path().strip_prefix("/api/").unwrap_or_default();
    let route = |r: &Route| r.hits_api(action);
    let body = body.collect().await;
    let mut response = match shared.faults.take_http_error(route) {
        Some((status, retry_after)) => gateway_error(status, retry_after),
        None => match body {
            Ok(body) => envelope(&request_id, answer(&shared, &parts, &body.to_bytes()).await),
            Err(e) => envelope(
                &request_id,
                Err(ApiError::invalid(format!(
                    "cannot read the request body: {e}"
                ))),
            ),
        },
    };
    response
        .headers_mut()
        .insert("X-Tt-Logid", request_id.parse().expect("ASCII"));
    shared.record(RecordedRequest {
        service: Service::Api,
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        range: None,
        status: response.status().as_u16(),
    });
    match shared.faults.take_wire(route) {
        Some(wire) => spoil(response, wire).await,
        None => response,
    }
}

/// An answer in the V1 envelope.
fn envelope(request_id: &str, answer: Result<Value, ApiError>) -> Response<Body> {
    let (status, envelope) = match answer {
        Ok(data) => (
            200,
            json!({"code": 0, "message": "success", "request_id": request_id, "data": data}),
        ),
        Err(e) => (
            e.status,
            json!({"code": e.code, "message": e.message, "request_id": request_id}),
        ),
    };
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(full(envelope.to_string()))
        .expect("a valid response")
}

/// The plain-text error of the gateway in front of the API (no V1 envelope).
fn gateway_error(status: u16, retry_after: Option<u64>) -> Response<Body> {
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let mut builder = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/plain");
    if let Some(secs) = retry_after {
        builder = builder.header(RETRY_AFTER, secs);
    }
    builder
        .body(full(format!("{status} {reason} (emulator fault)")))
        .expect("a valid status")
}

async fn answer(shared: &Arc<Shared>, parts: &Parts, body: &Bytes) -> Result<Value, ApiError> {
    let query = parts.uri.query().unwrap_or_default();
    shared
        .api_auth
        .verify(&Received {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query,
            headers: &parts.headers,
            body,
        })
        .map_err(|r| ApiError::unauthorized(r.message()))?;
    if shared.faults.take_quota_error() {
        return Err(ApiError::new(1_000_029, 429, "quota limit exceeded"));
    }
    let path = parts.uri.path();
    let read_only = matches!(parts.method, Method::GET | Method::POST);
    let post = parts.method == Method::POST;
    match path {
        "/api/viking_db/data/ping" => Ok(Value::Null),
        "/api/collection/info" | "/api/index/info" if read_only => {
            let body = json_body(body)?;
            let name = param(&body, query, "collection_name")?;
            if name != shared.config.collection {
                return Err(ApiError::no_collection(&name));
            }
            if path == "/api/collection/info" {
                return Ok(collection_info(shared));
            }
            let index = param(&body, query, "index_name")?;
            if index != index_name(&name) {
                return Err(ApiError::new(
                    1_000_008,
                    404,
                    format!("index `{index}` does not exist"),
                ));
            }
            Ok(index_info(shared))
        }
        "/api/task/create" if post => create(shared, json_body(body)?).await,
        "/api/task/info" if post => info(shared, json_body(body)?).await,
        "/api/task/list" if post => {
            let total = shared.config.rows;
            Ok(lock(&shared.tasks.tasks)
                .iter()
                .filter(|t| t.generation == shared.faults.task_generation())
                .map(|t| t.json(total))
                .collect())
        }
        "/api/task/update" if post => update(shared, json_body(body)?),
        "/api/task/drop" if post => {
            let id = task_id(&json_body(body)?)?;
            let mut tasks = lock(&shared.tasks.tasks);
            let at = tasks
                .iter()
                .position(|t| t.is(&id, shared))
                .ok_or_else(|| ApiError::no_task(&id))?;
            tasks.remove(at).cancel.store(true, Ordering::Relaxed);
            Ok(Value::Null)
        }
        "/api/collection/info"
        | "/api/index/info"
        | "/api/task/create"
        | "/api/task/info"
        | "/api/task/list"
        | "/api/task/update"
        | "/api/task/drop" => Err(ApiError::new(
            1_000_003,
            405,
            format!("{path} does not take {}", parts.method),
        )),
        _ => Err(ApiError::new(
            1_000_024,
            404,
            format!("{path} is not an API the emulator implements"),
        )),
    }
}

/// The JSON object body; an empty body is an empty object (GETs with a query).
fn json_body(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::invalid("the request body is not a JSON object")),
    }
}

/// A string parameter from the JSON body, or else from the query (the legacy SDK sends
/// `collection/info`'s in the body of a GET, `Index` sends it in the query).
fn param(body: &Map<String, Value>, query: &str, name: &str) -> Result<String, ApiError> {
    if let Some(value) = body.get(name).and_then(Value::as_str) {
        return Ok(value.to_string());
    }
    query_pairs(query)
        .into_iter()
        .find(|(k, _)| k == name.as_bytes())
        .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
        .ok_or_else(|| ApiError::invalid(format!("`{name}` is required")))
}

fn task_id(body: &Map<String, Value>) -> Result<String, ApiError> {
    body.get("task_id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::invalid("`task_id` is required"))
}

/// A UUID-shaped id, deterministic per emulator.
fn new_task_id(shared: &Shared) -> String {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let a = mix(shared.config.seed ^ mix(shared.next_id()));
    let b = mix(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFF,
        0x8000 | (b >> 48) & 0x3FFF,
        b & 0xFFFF_FFFF_FFFF
    )
}

async fn create(shared: &Arc<Shared>, body: Map<String, Value>) -> Result<Value, ApiError> {
    match body.get("task_type").and_then(Value::as_str) {
        Some("data_export") => {}
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "task_type `{other}` is not supported by the emulator; it runs data_export"
            )));
        }
        None => return Err(ApiError::invalid("`task_type` is required")),
    }
    let params = body
        .get("task_params")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::invalid("`task_params` must be an object"))?;
    let text = |name: &str| params.get(name).and_then(Value::as_str);
    let collection = text("collection_name")
        .ok_or_else(|| ApiError::invalid("`task_params.collection_name` is required"))?;
    if collection != shared.config.collection {
        return Err(ApiError::no_collection(collection));
    }
    let tos_path = text("tos_path")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::invalid("`task_params.tos_path` is required"))?;
    let (bucket, dir) = tos_path.split_once('/').unwrap_or((tos_path, ""));
    if bucket != shared.config.bucket {
        return Err(ApiError::invalid(format!(
            "tos_path `{tos_path}`: bucket `{bucket}` is not `{}`",
            shared.config.bucket
        )));
    }
    let file_type = match params.get("file_type") {
        None => FileType::Parquet,
        Some(v) => v.as_str().and_then(FileType::parse).ok_or_else(|| {
            ApiError::invalid(format!("file_type {v} is not one of parquet, json"))
        })?,
    };
    let export_all = match params.get("export_all") {
        None => false,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| ApiError::invalid(format!("export_all {v} is not a boolean")))?,
    };
    let filter = match (params.get("filter"), params.get("filter_conds")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "give `filter` or `filter_conds`, not both",
            ));
        }
        (Some(Value::Object(map)), None) => Some(Filter::from_map(map)),
        (None, Some(Value::Array(conds))) => Some(Filter::from_conds(conds)),
        (Some(_), None) => return Err(ApiError::invalid("`filter` must be an object")),
        (None, Some(_)) => return Err(ApiError::invalid("`filter_conds` must be a list")),
        (None, None) => None,
    }
    .transpose()
    .map_err(ApiError::invalid)?;
    // Documented: export_all exports everything, whatever the filter says.
    let filter = filter.filter(|_| !export_all);

    let data = shared.data.clone();
    let scan = {
        let (data, filter) = (data.clone(), filter.clone());
        tokio::task::spawn_blocking(move || export::scan(&data, filter.as_ref()))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(ApiError::internal)?
    };
    let id = new_task_id(shared);
    let dir = dir.trim_matches('/');
    let prefix = if dir.is_empty() {
        format!("{id}/")
    } else {
        format!("{dir}/{id}/")
    };
    let fail = shared.faults.take_fail();
    let cancel = Arc::new(AtomicBool::new(false));
    let export = fail.is_none().then(|| {
        let job = Job {
            data,
            filter,
            file_type,
            layout: shared.config.json_layout,
            rows_per_part: shared.config.rows_per_part,
            row_group_rows: shared.config.row_group_rows,
            prefix,
        };
        let cancel = cancel.clone();
        // Starts now, so the files are usually ready by the time the polls reach `done`.
        tokio::task::spawn_blocking(move || export::write(&job, &cancel).map(Arc::new))
            .map(|joined| joined.unwrap_or_else(|e| Err(e.to_string())))
            .boxed()
            .shared()
    });
    let now = clock::now();
    lock(&shared.tasks.tasks).push(Task {
        id: id.clone(),
        params: Value::Object(params.clone()),
        collection: collection.to_string(),
        created: now,
        updated: now,
        status: Status::Init,
        confirm: shared.faults.take_confirm(),
        fail,
        percent: 0,
        scanned: 0,
        matched: scan.matched,
        sample: scan.sample,
        export,
        published: false,
        cancel,
        generation: shared.faults.task_generation(),
    });
    Ok(json!({"task_id": id}))
}

async fn info(shared: &Arc<Shared>, body: Map<String, Value>) -> Result<Value, ApiError> {
    let id = task_id(&body)?;
    let (total, polls) = (shared.config.rows, shared.config.polls_to_done);
    let export = {
        let mut tasks = lock(&shared.tasks.tasks);
        let task = tasks
            .iter_mut()
            .find(|t| t.is(&id, shared))
            .ok_or_else(|| ApiError::no_task(&id))?;
        let next = task.next(polls);
        match (&task.export, next) {
            (Some(export), Status::Done) if !task.published => export.clone(),
            _ => {
                task.enter(next, total, polls);
                return Ok(task.json(total));
            }
        }
    };
    // `done` means the files are there: wait for the writer, without holding the lock.
    let files = export.await;
    let mut tasks = lock(&shared.tasks.tasks);
    let task = tasks
        .iter_mut()
        .find(|t| t.is(&id, shared))
        .ok_or_else(|| ApiError::no_task(&id))?;
    // A concurrent poll may have got here first.
    if !task.published && task.status != Status::Fail {
        match files {
            Ok(files) => {
                let truncate = shared.faults.truncating();
                for (key, bytes) in files.iter() {
                    shared.bucket.put(key.clone(), bytes.clone(), truncate);
                }
                task.published = true;
                task.enter(Status::Done, total, polls);
            }
            Err(message) => {
                task.fail = Some(format!("export failed: {message}"));
                task.enter(Status::Fail, total, polls);
            }
        }
    }
    Ok(task.json(total))
}

fn update(shared: &Shared, body: Map<String, Value>) -> Result<Value, ApiError> {
    let id = task_id(&body)?;
    let status = body
        .get("task_status")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("`task_status` is required"))?;
    if status != "confirmed" {
        return Err(ApiError::invalid(format!(
            "task_status `{status}` cannot be set; only `confirmed` can"
        )));
    }
    let (total, polls) = (shared.config.rows, shared.config.polls_to_done);
    let mut tasks = lock(&shared.tasks.tasks);
    let task = tasks
        .iter_mut()
        .find(|t| t.is(&id, shared))
        .ok_or_else(|| ApiError::no_task(&id))?;
    if task.status != Status::Confirm {
        // 1000006 `OperationNotAllowedException`: right request, wrong moment.
        return Err(ApiError::new(
            1_000_006,
            400,
            format!(
                "task `{id}` is {}, not waiting for confirmation",
                task.status.as_str()
            ),
        ));
    }
    task.enter(Status::Confirmed, total, polls);
    Ok(Value::Null)
}
