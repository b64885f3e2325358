//! The VikingDB V1 API: one request builder and one sender for `collection/info` and the
//! `task/*` endpoints, signed with [`crate::sign`] exactly as the official SDK signs.

use std::sync::Arc;
use std::time::SystemTime;

use arrowport_core::http::reqwest::{self, Method};
use arrowport_core::http::{retry_after, status_kind, transport_error};
use arrowport_core::{Context, Error, ErrorKind, Result, retry};
use serde_json::{Value, json};
use url::Url;

use crate::NAME;
use crate::error::api_error;
use crate::model::{CollectionInfo, TaskInfo};
use crate::sign::{Credentials, OpenApiRequest, SigningTime, sign_request};

/// A signed client of one VikingDB API endpoint.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    endpoint: Url,
    region: String,
    service: String,
    credentials: Arc<Credentials>,
}

/// Whether repeating a request after an unclear failure is harmless. Creating a task is not:
/// a second task costs the user a second export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    Safe,
    OnlyIfNotReceived,
}

impl ApiClient {
    pub fn new(
        http: reqwest::Client,
        endpoint: Url,
        region: String,
        service: String,
        credentials: Arc<Credentials>,
    ) -> Self {
        ApiClient {
            http,
            endpoint,
            region,
            service,
            credentials,
        }
    }

    /// `GET /api/collection/info`, with the name in a JSON body as the SDK's
    /// `get_collection` sends it.
    pub async fn collection_info(&self, collection: &str, cx: &Context) -> Result<CollectionInfo> {
        let data = self
            .call(
                Method::GET,
                "collection/info",
                json!({ "collection_name": collection }),
                Repeat::Safe,
                cx,
            )
            .await
            .map_err(|e| e.with_context("collection", collection))?;
        CollectionInfo::from_json(&data)
    }

    /// `POST /api/task/create` for a `data_export` task; returns the task id.
    pub async fn create_export_task(&self, params: Value, cx: &Context) -> Result<String> {
        let data = self
            .call(
                Method::POST,
                "task/create",
                json!({ "task_type": "data_export", "task_params": params }),
                Repeat::OnlyIfNotReceived,
                cx,
            )
            .await?;
        data.get("task_id")
            .and_then(|id| match id {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .ok_or_else(|| malformed("task/create", "no `task_id` in the answer"))
    }

    /// `POST /api/task/info`.
    pub async fn task_info(&self, task_id: &str, cx: &Context) -> Result<TaskInfo> {
        let data = self
            .call(
                Method::POST,
                "task/info",
                json!({ "task_id": task_id }),
                Repeat::Safe,
                cx,
            )
            .await
            .map_err(|e| e.with_context("task_id", task_id))?;
        TaskInfo::from_json(&data)
    }

    /// `POST /api/task/list`: every task of the account.
    pub async fn list_tasks(&self, cx: &Context) -> Result<Vec<TaskInfo>> {
        let data = self
            .call(Method::POST, "task/list", json!({}), Repeat::Safe, cx)
            .await?;
        match data {
            Value::Array(tasks) => tasks.iter().map(TaskInfo::from_json).collect(),
            Value::Null => Ok(Vec::new()),
            _ => Err(malformed("task/list", "`data` is not a list")),
        }
    }

    /// `POST /api/task/update` moving a task from `confirm` to `confirmed`.
    pub async fn confirm_task(&self, task_id: &str, cx: &Context) -> Result<()> {
        self.call(
            Method::POST,
            "task/update",
            json!({ "task_id": task_id, "task_status": "confirmed" }),
            Repeat::Safe,
            cx,
        )
        .await
        .map_err(|e| e.with_context("task_id", task_id))?;
        Ok(())
    }

    /// Sends one API call with retries and returns its `data`.
    async fn call(
        &self,
        method: Method,
        action: &str,
        body: Value,
        repeat: Repeat,
        cx: &Context,
    ) -> Result<Value> {
        let body = serde_json::to_vec(&body).expect("JSON values serialize");
        retry(cx, |_| {
            self.send_once(method.clone(), action, &body, repeat)
        })
        .await
        .map_err(|e| e.with_context("action", action))
    }

    async fn send_once(
        &self,
        method: Method,
        action: &str,
        body: &[u8],
        repeat: Repeat,
    ) -> Result<Value> {
        let path = format!(
            "{}/api/{action}",
            self.endpoint.path().trim_end_matches('/')
        );
        let host = host_header(&self.endpoint);
        let signed = sign_request(
            &OpenApiRequest {
                method: method.as_str(),
                path: &path,
                query: &[],
                headers: &[("Content-Type", "application/json"), ("Host", &host)],
                body,
            },
            &self.credentials,
            &self.region,
            &self.service,
            &SigningTime::from_system_time(SystemTime::now())?,
        );
        let mut url = self.endpoint.clone();
        url.set_path(&path);
        url.set_query(None);
        let mut request = self
            .http
            .request(method, url)
            .header("Content-Type", "application/json")
            .body(body.to_vec());
        for (name, value) in signed.headers() {
            request = request.header(*name, value);
        }
        let what = format!("{NAME}: {action}");
        // The server may have acted on a request it received; repeating a create could start
        // a second task.
        let not_repeated = |err: Error| match repeat {
            Repeat::OnlyIfNotReceived => err
                .permanent()
                .with_context("note", "not repeated: the request may have taken effect"),
            Repeat::Safe => err,
        };
        let response = request.send().await.map_err(|e| {
            let received = !e.is_connect();
            let err = transport_error(&what, e);
            if received { not_repeated(err) } else { err }
        })?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let log_id = response
            .headers()
            .get("X-Tt-Logid")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| not_repeated(transport_error(&what, e)))?;
        let mut err = match serde_json::from_slice::<Value>(&bytes) {
            Ok(envelope) => {
                let code = envelope.get("code").and_then(Value::as_i64).unwrap_or(0);
                if status.is_success() && code == 0 {
                    return Ok(envelope.get("data").cloned().unwrap_or(Value::Null));
                }
                api_error(
                    if code == 0 { -1 } else { code },
                    envelope
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("no message"),
                    envelope
                        .get("request_id")
                        .and_then(Value::as_str)
                        .or(log_id.as_deref()),
                    status,
                    action,
                )
            }
            // A gateway's answer, or one cut short: the status says what it was.
            Err(_) => {
                let (kind, temporary) = status_kind(status);
                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
                let err = Error::new(
                    if status.is_success() {
                        ErrorKind::Remote
                    } else {
                        kind
                    },
                    format!("{what} answered HTTP {status} with a body that is not JSON: {text}"),
                )
                .with_context("plugin", NAME)
                .with_context("http_status", status.as_u16());
                let err = match &log_id {
                    Some(id) => err.with_context("request_id", id),
                    None => err,
                };
                if temporary { err.temporary() } else { err }
            }
        };
        if let Some(wait) = wait {
            err = err.with_retry_after(wait);
        }
        if repeat == Repeat::OnlyIfNotReceived && err.kind() != ErrorKind::RateLimited {
            // Only a rate-limit rejection says for sure that no task was created.
            err = err.permanent();
        }
        Err(err)
    }
}

/// The `Host` header reqwest will send for `url`, which is also the one to sign.
pub(crate) fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

pub(crate) fn malformed(action: &str, what: &str) -> Error {
    Error::new(
        ErrorKind::Remote,
        format!("{NAME}: {action} answered in an unexpected shape: {what}"),
    )
    .with_context("plugin", NAME)
}
