//! The two MaxCompute HTTP services — the meta API (XML) and the Table Tunnel (JSON control,
//! binary data) — behind one request builder and one sender, signed as PyODPS signs.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrowport_core::http::reqwest::{self, Method, StatusCode};
use arrowport_core::http::{retry_after, transport_error};
use arrowport_core::retry::sleep_or_cancel;
use arrowport_core::{Context, Error, ErrorKind, Result, retry};
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::OnceCell;
use url::Url;

use crate::NAME;
use crate::config::{Config, Format, parse_endpoint};
use crate::error::remote_error;
use crate::meta::{self, InstanceStatus, PartitionMeta, PartitionSummary, TableMeta, TableSummary};
use crate::partition::PartitionSpec;
use crate::session::{SessionInfo, UploadInfo};
use crate::sign::{Credentials, SignableRequest, Signer, format_http_date};

/// The tunnel protocol version PyODPS and the Java SDK speak.
const TUNNEL_VERSION: &str = "6";

/// First and longest waits between looks at a running SQL instance.
const INSTANCE_FIRST_POLL: Duration = Duration::from_millis(20);
const INSTANCE_MAX_POLL: Duration = Duration::from_secs(2);

/// Longest error body kept for the message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Which service a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Meta,
    Tunnel,
}

/// One request before it is signed: everything the signature covers, decoded.
#[derive(Debug, Clone)]
pub struct Request {
    pub service: Service,
    pub method: Method,
    /// The resource relative to the endpoint, e.g. `/projects/p/tables/t`.
    pub resource: String,
    /// Bare action keys (`downloads`, `data`, `arrow`), sent before the keyed parameters.
    pub actions: Vec<&'static str>,
    /// Keyed parameters.
    pub params: Vec<(&'static str, String)>,
    /// `Accept-Encoding` for tunnel data.
    pub accept_encoding: Option<&'static str>,
    /// A block (`application/octet-stream`, with its `Content-Encoding` when compressed) or
    /// an SQL job (`application/xml`); the content type is a signed header.
    pub body: Option<RequestBody>,
    /// `curr_project`, which PyODPS adds (signed) to every request.
    pub project: String,
}

/// What a request carries.
#[derive(Debug, Clone)]
pub struct RequestBody {
    pub bytes: Bytes,
    pub content_type: &'static str,
    pub content_encoding: Option<&'static str>,
}

impl Request {
    fn new(service: Service, method: Method, resource: String, project: &str) -> Self {
        Request {
            service,
            method,
            resource,
            actions: Vec::new(),
            params: Vec::new(),
            accept_encoding: None,
            body: None,
            project: project.to_string(),
        }
    }

    /// The keyed parameters as sent: the request's, then `curr_project`.
    fn keyed(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain([("curr_project", self.project.as_str())])
    }

    fn action(mut self, key: &'static str) -> Self {
        self.actions.push(key);
        self
    }

    fn param(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.params.push((key, value.into()));
        self
    }

    fn param_opt<V: Into<String>>(self, key: &'static str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.param(key, v),
            None => self,
        }
    }

    /// The URL and headers to send from `endpoint`, signed at `date` (an RFC 1123 value). Pure,
    /// so tests can pin it to PyODPS's own requests.
    pub fn signed(
        &self,
        endpoint: &Url,
        signer: &Signer,
        date: &str,
        user_agent: &str,
    ) -> Result<(Url, Vec<(&'static str, String)>)> {
        let mut headers: Vec<(&'static str, String)> = vec![
            ("Date", date.to_string()),
            ("x-odps-user-agent", user_agent.to_string()),
        ];
        if self.service == Service::Tunnel {
            headers.push(("x-odps-tunnel-version", TUNNEL_VERSION.into()));
            headers.push(("odps-tunnel-date-transform", "v1".into()));
            headers.push(("odps-tunnel-sdk-support-schema-evolution", "true".into()));
        }
        match &self.body {
            Some(body) => {
                headers.push(("Content-Type", body.content_type.into()));
                if let Some(encoding) = body.content_encoding {
                    headers.push(("Content-Encoding", encoding.into()));
                }
            }
            None if self.method != Method::GET => headers.push(("Content-Length", "0".into())),
            None => {}
        }
        if let Some(encoding) = self.accept_encoding {
            headers.push(("Accept-Encoding", encoding.into()));
        }
        let signable = SignableRequest {
            method: self.method.as_str().to_string(),
            resource: self.resource.clone(),
            params: self
                .actions
                .iter()
                .map(|a| (a.to_string(), String::new()))
                .chain(self.keyed().map(|(k, v)| (k.to_string(), v.to_string())))
                .collect(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        };
        headers.extend(signer.sign(&signable)?);

        let mut url = endpoint.clone();
        let base = endpoint.path().trim_end_matches('/');
        url.set_path(&format!("{base}{}", encode_path(&self.resource)));
        let mut query: Vec<String> = self.actions.iter().map(|a| a.to_string()).collect();
        query.extend(self.keyed().map(|(k, v)| format!("{k}={}", quote_plus(v))));
        url.set_query((!query.is_empty()).then(|| query.join("&")).as_deref());
        Ok((url, headers))
    }
}

/// A signed client of one project's meta API and Table Tunnel.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    meta: Url,
    /// The tunnel endpoint: configured, or asked from the meta API once.
    tunnel: Arc<OnceCell<Url>>,
    signer: Arc<Signer>,
    user_agent: String,
    project: String,
    schema: Option<String>,
    quota_name: Option<String>,
}

/// Where an upload session writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct UploadTarget<'a> {
    pub partition: Option<&'a PartitionSpec>,
    /// Replace the table's (or partition's) rows at commit instead of appending.
    pub overwrite: bool,
    /// Create the partition if it does not exist (the Java SDK's `createPartition`).
    pub create_partition: bool,
}

/// One block of an upload session.
#[derive(Debug, Clone)]
pub struct BlockRequest<'a> {
    pub upload_id: &'a str,
    pub block_id: u32,
    pub partition: Option<&'a PartitionSpec>,
    pub format: Format,
    pub body: Bytes,
    pub content_encoding: Option<&'static str>,
}

/// One row range to read: where, which rows, which columns, which format.
#[derive(Debug, Clone, Copy)]
pub struct RowsRequest<'a> {
    pub table: &'a str,
    pub partition: Option<&'a PartitionSpec>,
    pub download_id: &'a str,
    pub start: u64,
    pub count: u64,
    pub columns: Option<&'a [String]>,
    pub format: Format,
    pub accept_encoding: Option<&'static str>,
}

impl Client {
    /// A client for the config's project. Pure: no request is sent.
    pub fn new(config: &Config, credentials: Credentials, cx: &Context) -> Result<Self> {
        let tunnel = match &config.tunnel_endpoint {
            Some(t) => OnceCell::new_with(Some(parse_endpoint("tunnel_endpoint", t)?)),
            None => OnceCell::new(),
        };
        Ok(Client {
            http: arrowport_core::http::client(cx.http())?,
            meta: config.meta_endpoint()?,
            tunnel: Arc::new(tunnel),
            signer: Arc::new(Signer::new(credentials, config.signature_version()?)),
            user_agent: cx.http().user_agent.clone(),
            project: config.project.clone(),
            schema: config.schema.clone(),
            quota_name: config.quota_name.clone(),
        })
    }

    /// `/projects/{p}[/schemas/{s}]/tables[/{t}]`, decoded.
    fn tables_resource(&self, table: Option<&str>) -> String {
        let mut r = format!("/projects/{}", self.project);
        if let Some(s) = &self.schema {
            r.push_str(&format!("/schemas/{s}"));
        }
        r.push_str("/tables");
        if let Some(t) = table {
            r.push('/');
            r.push_str(t);
        }
        r
    }

    fn request(&self, service: Service, method: Method, resource: String) -> Request {
        Request::new(service, method, resource, &self.project)
    }

    /// `GET /projects/{p}/tables/{t}`.
    pub fn table_request(&self, table: &str) -> Request {
        self.request(
            Service::Meta,
            Method::GET,
            self.tables_resource(Some(table)),
        )
    }

    /// `GET /projects/{p}/tables?expectmarker=true[&name=prefix]&marker=M`.
    pub fn list_tables_request(&self, prefix: Option<&str>, marker: &str) -> Request {
        self.request(Service::Meta, Method::GET, self.tables_resource(None))
            .param("expectmarker", "true")
            .param_opt("name", prefix)
            .param("marker", marker)
    }

    /// `GET /projects/{p}/tables/{t}?partitions&expectmarker=true[&partition=k='v'][&marker=M]`.
    pub fn list_partitions_request(
        &self,
        table: &str,
        prefix: Option<&PartitionSpec>,
        marker: &str,
    ) -> Request {
        self.table_request(table)
            .action("partitions")
            .param("expectmarker", "true")
            .param_opt("partition", prefix.map(PartitionSpec::to_meta_string))
            .param_opt("marker", (!marker.is_empty()).then_some(marker))
    }

    /// `GET /projects/{p}/tables/{t}?extended&partition=k='v',…`.
    pub fn partition_request(&self, table: &str, spec: &PartitionSpec) -> Request {
        self.table_request(table)
            .action("extended")
            .param("partition", spec.to_meta_string())
    }

    /// `GET /projects/{p}/tunnel?service`.
    pub fn tunnel_service_request(&self) -> Request {
        self.request(
            Service::Meta,
            Method::GET,
            format!("/projects/{}/tunnel", self.project),
        )
        .action("service")
        .param_opt("quotaName", self.quota_name.as_deref())
    }

    /// `POST ?downloads&asyncmode=true[&partition=k=v,…]`.
    pub fn create_download_request(
        &self,
        table: &str,
        partition: Option<&PartitionSpec>,
    ) -> Request {
        self.request(
            Service::Tunnel,
            Method::POST,
            self.tables_resource(Some(table)),
        )
        .action("downloads")
        .param_opt("partition", partition.map(PartitionSpec::to_tunnel_string))
        .param("asyncmode", "true")
        .param_opt("quotaName", self.quota_name.as_deref())
    }

    /// `GET ?downloadid=ID[&partition=k=v,…]`.
    pub fn download_status_request(
        &self,
        table: &str,
        partition: Option<&PartitionSpec>,
        id: &str,
    ) -> Request {
        self.request(
            Service::Tunnel,
            Method::GET,
            self.tables_resource(Some(table)),
        )
        .param("downloadid", id)
        .param_opt("partition", partition.map(PartitionSpec::to_tunnel_string))
        .param_opt("quotaName", self.quota_name.as_deref())
    }

    /// `GET ?data[&arrow]&downloadid=ID&rowrange=(start,count)[&columns=…][&partition=…]`.
    pub fn rows_request(&self, rows: &RowsRequest<'_>) -> Request {
        let mut req = self
            .request(
                Service::Tunnel,
                Method::GET,
                self.tables_resource(Some(rows.table)),
            )
            .action("data");
        if rows.format == Format::Arrow {
            req = req.action("arrow");
        }
        req = req
            .param("downloadid", rows.download_id)
            .param("rowrange", format!("({},{})", rows.start, rows.count))
            .param_opt("columns", rows.columns.map(|c| c.join(",")))
            .param_opt(
                "partition",
                rows.partition.map(PartitionSpec::to_tunnel_string),
            )
            .param_opt("quotaName", self.quota_name.as_deref());
        req.accept_encoding = rows.accept_encoding;
        req
    }

    /// `POST ?uploads[&partition=k=v,…][&overwrite=true][&create_partition=true]`.
    pub fn create_upload_request(&self, table: &str, target: &UploadTarget<'_>) -> Request {
        self.request(
            Service::Tunnel,
            Method::POST,
            self.tables_resource(Some(table)),
        )
        .action("uploads")
        .param_opt(
            "partition",
            target.partition.map(PartitionSpec::to_tunnel_string),
        )
        .param_opt("overwrite", target.overwrite.then_some("true"))
        .param_opt(
            "create_partition",
            target.create_partition.then_some("true"),
        )
        .param_opt("quotaName", self.quota_name.as_deref())
    }

    /// `GET ?uploadid=ID` (status with the uploaded block list) or, as `POST`, the commit.
    pub fn upload_request(
        &self,
        method: Method,
        table: &str,
        partition: Option<&PartitionSpec>,
        id: &str,
    ) -> Request {
        self.request(Service::Tunnel, method, self.tables_resource(Some(table)))
            .param("uploadid", id)
            .param_opt("partition", partition.map(PartitionSpec::to_tunnel_string))
            .param_opt("quotaName", self.quota_name.as_deref())
    }

    /// `PUT ?uploadid=ID&blockid=N[&arrow][&partition=…]` with the block as body.
    pub fn block_request(&self, table: &str, block: &BlockRequest<'_>) -> Request {
        let mut req = self
            .request(
                Service::Tunnel,
                Method::PUT,
                self.tables_resource(Some(table)),
            )
            .param("uploadid", block.upload_id)
            .param("blockid", block.block_id.to_string());
        if block.format == Format::Arrow {
            req = req.action("arrow");
        }
        req = req
            .param_opt(
                "partition",
                block.partition.map(PartitionSpec::to_tunnel_string),
            )
            .param_opt("quotaName", self.quota_name.as_deref());
        req.body = Some(RequestBody {
            bytes: block.body.clone(),
            content_type: "application/octet-stream",
            content_encoding: block.content_encoding,
        });
        req
    }

    /// A new upload session.
    pub async fn create_upload(
        &self,
        table: &str,
        target: &UploadTarget<'_>,
        cx: &Context,
    ) -> Result<UploadInfo> {
        let req = self.create_upload_request(table, target);
        self.call(&req, cx, UploadInfo::parse).await
    }

    /// An upload session's status and the blocks the server holds.
    pub async fn upload_status(
        &self,
        table: &str,
        partition: Option<&PartitionSpec>,
        id: &str,
        cx: &Context,
    ) -> Result<UploadInfo> {
        let req = self.upload_request(Method::GET, table, partition, id);
        self.call(&req, cx, UploadInfo::parse)
            .await
            .map_err(|e| e.with_context("upload_id", id))
    }

    /// Uploads one block, retried as a whole on temporary failures (a re-PUT of the same id
    /// replaces it).
    pub async fn put_block(
        &self,
        table: &str,
        block: &BlockRequest<'_>,
        cx: &Context,
    ) -> Result<()> {
        let req = self.block_request(table, block);
        self.call(&req, cx, |_| Ok(())).await.map_err(|e| {
            e.with_context("upload_id", block.upload_id)
                .with_context("block_id", block.block_id)
        })
    }

    /// Commits an upload session, once: its blocks become visible atomically. Not repeated
    /// after an unclear failure, because a commit that did happen cannot be told from one
    /// that did not.
    pub async fn commit_upload(
        &self,
        table: &str,
        partition: Option<&PartitionSpec>,
        id: &str,
        cx: &Context,
    ) -> Result<()> {
        let req = self.upload_request(Method::POST, table, partition, id);
        let endpoint = self.endpoint(req.service, cx).await?;
        let response = self
            .send(&req, &endpoint)
            .await
            .map_err(|e| e.with_context("upload_id", id))?;
        response.bytes().await.map(|_| ()).map_err(|e| {
            transport_error(&what(&req), e)
                .permanent()
                .with_context("upload_id", id)
        })
    }

    /// `POST /projects/{p}/instances` with a job of one SQL task, as PyODPS submits DDL.
    pub fn submit_sql_request(&self, task: &str, sql: &str, settings: &Value) -> Request {
        let settings = xml_escape(&settings.to_string());
        let query = sql.replace("]]>", "]]]]><![CDATA[>");
        let job = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Instance><Job><Priority>9</Priority>\
             <Tasks><SQL><Name>{task}</Name><Config><Property><Name>settings</Name>\
             <Value>{settings}</Value></Property></Config><Query><![CDATA[{query}]]></Query>\
             </SQL></Tasks><DAG><RunMode>Sequence</RunMode></DAG></Job></Instance>",
            task = xml_escape(task)
        );
        let mut req = self.request(
            Service::Meta,
            Method::POST,
            format!("/projects/{}/instances", self.project),
        );
        req.body = Some(RequestBody {
            bytes: Bytes::from(job),
            content_type: "application/xml",
            content_encoding: None,
        });
        req
    }

    /// `GET /projects/{p}/instances/{id}[?taskstatus|?result]`.
    pub fn instance_request(&self, id: &str, action: Option<&'static str>) -> Request {
        let req = self.request(
            Service::Meta,
            Method::GET,
            format!("/projects/{}/instances/{id}", self.project),
        );
        match action {
            Some(a) => req.action(a),
            None => req,
        }
    }

    /// Runs one SQL statement as an instance and waits for it: submitted once (a job that
    /// may have started is not sent again), polled until terminated, and an error carrying
    /// the task's result text unless every task succeeded.
    pub async fn run_sql(
        &self,
        task: &str,
        sql: &str,
        settings: &Value,
        cx: &Context,
    ) -> Result<()> {
        let req = self.submit_sql_request(task, sql, settings);
        let response = self.send(&req, &self.meta).await?;
        let id = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| l.trim_end_matches('/').rsplit('/').next())
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Remote,
                    format!("{NAME}: the meta API accepted the SQL job but named no instance"),
                )
            })?;
        let with_id = |e: Error| e.with_context("instance_id", &id);
        let mut wait = INSTANCE_FIRST_POLL;
        loop {
            let status = self
                .call(&self.instance_request(&id, None), cx, InstanceStatus::parse)
                .await
                .map_err(with_id)?;
            if status.is_terminated() {
                break;
            }
            sleep_or_cancel(cx, wait).await?;
            wait = (wait * 2).min(INSTANCE_MAX_POLL);
        }
        let tasks = self
            .call(
                &self.instance_request(&id, Some("taskstatus")),
                cx,
                InstanceStatus::parse,
            )
            .await
            .map_err(with_id)?;
        if tasks
            .tasks
            .iter()
            .all(|(_, s)| s.eq_ignore_ascii_case("success"))
        {
            return Ok(());
        }
        let result = self
            .call(
                &self.instance_request(&id, Some("result")),
                cx,
                meta::instance_result,
            )
            .await
            .map_err(with_id)?;
        Err(with_id(
            Error::new(
                ErrorKind::Remote,
                format!("{NAME}: the SQL task {task} failed: {result}"),
            )
            .with_context("plugin", NAME),
        ))
    }

    /// The table's schema and facts.
    pub async fn table(&self, table: &str, cx: &Context) -> Result<TableMeta> {
        self.call(&self.table_request(table), cx, TableMeta::parse)
            .await
            .map_err(|e| e.with_context("table", format!("{}.{table}", self.project)))
    }

    /// Every table whose name starts with `prefix`, following the listing's markers.
    pub async fn list_tables(
        &self,
        prefix: Option<&str>,
        cx: &Context,
    ) -> Result<Vec<TableSummary>> {
        let mut out = Vec::new();
        let mut marker = String::new();
        loop {
            let req = self.list_tables_request(prefix, &marker);
            let page = self.call(&req, cx, meta::TablePage::parse).await?;
            out.extend(page.tables);
            match page.marker {
                Some(next) if next != marker => marker = next,
                _ => return Ok(out),
            }
        }
    }

    /// The partitions under `prefix` (equalities on leading keys), following the markers.
    pub async fn list_partitions(
        &self,
        table: &str,
        prefix: Option<&PartitionSpec>,
        cx: &Context,
    ) -> Result<Vec<PartitionSummary>> {
        let mut out = Vec::new();
        let mut marker = String::new();
        loop {
            let req = self.list_partitions_request(table, prefix, &marker);
            let page = self.call(&req, cx, meta::PartitionPage::parse).await?;
            out.extend(page.partitions);
            match page.marker {
                Some(next) if next != marker => marker = next,
                _ => return Ok(out),
            }
        }
    }

    /// One partition's extended facts; `None` when it does not exist.
    pub async fn partition(
        &self,
        table: &str,
        spec: &PartitionSpec,
        cx: &Context,
    ) -> Result<Option<PartitionMeta>> {
        let req = self.partition_request(table, spec);
        match self.call(&req, cx, PartitionMeta::parse).await {
            Ok(partition) => Ok(Some(partition)),
            Err(e) if e.kind() == arrowport_core::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The tunnel endpoint: configured, or `GET /projects/{p}/tunnel?service` (plain text
    /// `host[:port]`, with the meta endpoint's scheme), asked once.
    pub async fn tunnel_endpoint(&self, cx: &Context) -> Result<Url> {
        self.tunnel
            .get_or_try_init(|| async {
                let req = self.tunnel_service_request();
                let host = self
                    .call_at(&req, &self.meta, cx, |body| {
                        Ok(String::from_utf8_lossy(body).trim().to_string())
                    })
                    .await?;
                let url = if host.contains("://") {
                    host.clone()
                } else {
                    format!("{}://{host}", self.meta.scheme())
                };
                parse_endpoint("tunnel_endpoint", &url).map_err(|_| {
                    Error::new(
                        arrowport_core::ErrorKind::Remote,
                        format!(
                            "{NAME}: the meta API named an unusable tunnel endpoint {host:?}; \
                             set `tunnel_endpoint`"
                        ),
                    )
                })
            })
            .await
            .cloned()
    }

    /// A new download session (a snapshot of the table or partition).
    pub async fn create_download(
        &self,
        table: &str,
        partition: Option<&PartitionSpec>,
        cx: &Context,
    ) -> Result<SessionInfo> {
        let req = self.create_download_request(table, partition);
        self.call(&req, cx, SessionInfo::parse).await
    }

    /// A session's status, count and schema.
    pub async fn download_status(
        &self,
        table: &str,
        partition: Option<&PartitionSpec>,
        id: &str,
        cx: &Context,
    ) -> Result<SessionInfo> {
        let req = self.download_status_request(table, partition, id);
        self.call(&req, cx, SessionInfo::parse)
            .await
            .map_err(|e| e.with_context("download_id", id))
    }

    /// One attempt at a row range, the response streaming. The caller retries, resuming after
    /// the rows it already has.
    pub async fn read_rows(
        &self,
        rows: &RowsRequest<'_>,
        cx: &Context,
    ) -> Result<reqwest::Response> {
        let req = self.rows_request(rows);
        let endpoint = self.endpoint(req.service, cx).await?;
        self.send(&req, &endpoint)
            .await
            .map_err(|e| e.with_context("download_id", rows.download_id))
    }

    /// Sends a control request with retries and reads its body with `parse`.
    async fn call<T>(
        &self,
        req: &Request,
        cx: &Context,
        parse: impl Fn(&[u8]) -> Result<T>,
    ) -> Result<T> {
        let endpoint = self.endpoint(req.service, cx).await?;
        self.call_at(req, &endpoint, cx, parse).await
    }

    /// [`Self::call`] at `endpoint`. An answer cut short or unreadable names the request id it
    /// came with.
    async fn call_at<T>(
        &self,
        req: &Request,
        endpoint: &Url,
        cx: &Context,
        parse: impl Fn(&[u8]) -> Result<T>,
    ) -> Result<T> {
        retry(cx, |_| async {
            let response = self.send(req, endpoint).await?;
            let request_id = request_id(response.headers());
            let with_id = |e: Error| match &request_id {
                Some(id) => e.with_context("request_id", id),
                None => e,
            };
            let body = response
                .bytes()
                .await
                .map_err(|e| with_id(transport_error(&what(req), e)))?;
            parse(&body).map_err(with_id)
        })
        .await
    }

    /// Sends one request; a non-2xx answer becomes the error its body describes.
    async fn endpoint(&self, service: Service, cx: &Context) -> Result<Url> {
        match service {
            Service::Meta => Ok(self.meta.clone()),
            Service::Tunnel => self.tunnel_endpoint(cx).await,
        }
    }

    async fn send(&self, req: &Request, endpoint: &Url) -> Result<reqwest::Response> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let (url, headers) = req.signed(
            endpoint,
            &self.signer,
            &format_http_date(now),
            &self.user_agent,
        )?;
        let mut builder = self.http.request(req.method.clone(), url);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = &req.body {
            builder = builder.body(body.bytes.clone());
        }
        let response = builder
            .send()
            .await
            .map_err(|e| transport_error(&what(req), e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.failure(req, response).await)
    }

    async fn failure(&self, req: &Request, response: reqwest::Response) -> Error {
        let status: StatusCode = response.status();
        let wait = retry_after(response.headers());
        let request_id = request_id(response.headers());
        let mut body = Vec::new();
        let mut response = response;
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() >= MAX_ERROR_BODY {
                break;
            }
        }
        let err = remote_error(status, &body, request_id.as_deref(), &what(req));
        match wait {
            Some(wait) if err.retry_after().is_none() => err.with_retry_after(wait),
            _ => err,
        }
    }
}

/// The `x-odps-request-id` both services put on every answer.
fn request_id(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get("x-odps-request-id")?
        .to_str()
        .ok()
        .map(str::to_string)
}

/// `maxcompute: GET tables/t?downloads` — what a message calls a request.
fn what(req: &Request) -> String {
    let service = match req.service {
        Service::Meta => "meta API",
        Service::Tunnel => "tunnel",
    };
    let action = req
        .actions
        .first()
        .map(|a| format!("?{a}"))
        .unwrap_or_default();
    format!("{NAME}: {service} {} {}{action}", req.method, req.resource)
}

/// Text as XML character data.
fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Python's `quote_plus`: form encoding, space as `+`.
fn quote_plus(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Each path segment encoded as PyODPS does (`quote_plus`, then `+` as `%20`).
fn encode_path(resource: &str) -> String {
    resource
        .split('/')
        .map(|segment| quote_plus(segment).replace('+', "%20"))
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use arrowport_core::OptionMap;
    use serde_json::Value;

    use super::*;

    /// A client shaped like the one PyODPS used to record `odps_sign.json`.
    fn vector_client(doc: &Value) -> Client {
        let mut options = OptionMap::new();
        options.insert("endpoint", "http://127.0.0.1:8080/api");
        options.insert("tunnel_endpoint", "http://127.0.0.1:8081");
        let config = Config::from_options("test_proj/test_table", &options).unwrap();
        let credentials = Credentials::new(
            doc["access_id"].as_str().unwrap(),
            doc["secret_access_key"].as_str().unwrap(),
        );
        Client::new(&config, credentials, &Context::new()).unwrap()
    }

    fn load() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/testvectors/odps_sign.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// Every request we build for a call PyODPS made carries the same signature: the server
    /// would accept it exactly as it accepted PyODPS's.
    #[test]
    fn requests_sign_exactly_as_pyodps_requests() {
        let doc = load();
        let client = vector_client(&doc);
        let spec = |s: &str| PartitionSpec::parse(s).unwrap();
        let (pt, pt_dt) = (spec("pt=test"), spec("pt=test,dt=20230119"));
        let columns = ["c_bigint".to_string(), "c_string".to_string()];
        let cases = [
            ("get_table_meta", client.table_request("test_table")),
            (
                "list_partitions_with_spec",
                client.list_partitions_request("test_table", Some(&pt), ""),
            ),
            (
                "tunnel_create_download_session",
                client.create_download_request("test_table", Some(&pt_dt)),
            ),
            (
                "tunnel_read_arrow_rowrange",
                client.rows_request(&RowsRequest {
                    table: "test_table",
                    partition: Some(&pt),
                    download_id: "20230119123456abcdef",
                    start: 0,
                    count: 100,
                    columns: Some(&columns),
                    format: Format::Arrow,
                    accept_encoding: Some("deflate"),
                }),
            ),
            (
                "tunnel_upload_block",
                client.block_request(
                    "test_table",
                    &BlockRequest {
                        upload_id: "20230119upload01",
                        block_id: 0,
                        partition: None,
                        format: Format::Record,
                        body: Bytes::from_static(b"x"),
                        content_encoding: Some("deflate"),
                    },
                ),
            ),
        ];
        let date = doc["fixed_date_header"].as_str().unwrap();
        let user_agent = doc["user_agent"].as_str().unwrap();
        for (name, req) in cases {
            let vector = doc["vectors"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("no vector {name}"));
            let endpoint = Url::parse(vector["endpoint"].as_str().unwrap()).unwrap();
            let (url, headers) = req
                .signed(&endpoint, &client.signer, date, user_agent)
                .unwrap();
            let auth = headers.iter().find(|(k, _)| *k == "Authorization").unwrap();
            assert_eq!(auth.1, vector["authorization"].as_str().unwrap(), "{name}");
            // The URL decodes to the same resource and parameters PyODPS sent.
            let sent = SignableRequest::from_url(
                req.method.as_str(),
                endpoint.as_str(),
                vector["request_url_as_sent"].as_str().unwrap(),
                Vec::new(),
            )
            .unwrap();
            let ours = SignableRequest::from_url(
                req.method.as_str(),
                endpoint.as_str(),
                url.as_str(),
                Vec::new(),
            )
            .unwrap();
            assert_eq!(ours.canonical_string(), sent.canonical_string(), "{name}");
        }
    }

    #[test]
    fn names_are_encoded_like_pyodps() {
        assert_eq!(
            encode_path("/projects/a b/tables/t+1"),
            "/projects/a%20b/tables/t%2B1"
        );
        assert_eq!(quote_plus("pt='a b',dt=1"), "pt%3D%27a+b%27%2Cdt%3D1");
    }
}
