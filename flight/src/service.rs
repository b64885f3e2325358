//! The Flight service: `GetFlightInfo` plans a source and hands out one signed ticket per
//! split, `DoGet` reads a ticket's splits back as a stream, and the rest describe what the
//! server serves.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::{DictionaryHandling, FlightDataEncoderBuilder};
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaAsIpc, SchemaResult, Ticket,
};
use arrowport_core::pipeline::{project_schema, read_splits};
use arrowport_core::plan::encode_schema;
use arrowport_core::registry::build_source;
use arrowport_core::stream::coalesce;
use arrowport_core::{
    Context, Error, ErrorKind, ExportSource, RecordBatchStreamAdapter, Result, Split,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use tonic::{Request as GrpcRequest, Response, Status, Streaming};

use crate::admission::{Admission, Limits};
use crate::auth::Auth;
use crate::catalog::Catalog;
use crate::request::Request;
use crate::status::status;
use crate::ticket::{SourceRef, TicketBody, TicketKey};
use crate::writes::Put;

/// Encoded messages a running stream may hold ready for its client.
const HANDOVER: usize = 2;

/// Built sources kept for later calls (a MaxCompute source joins each download session
/// once); beyond this many, the oldest are forgotten.
const SOURCE_CACHE: usize = 256;

/// A built source and, once asked, its full schema.
#[derive(Debug)]
struct Prepared {
    source: Arc<dyn ExportSource>,
    schema: OnceCell<SchemaRef>,
}

impl Prepared {
    async fn schema(&self, cx: &Context) -> Result<SchemaRef> {
        self.schema
            .get_or_try_init(|| self.source.schema(cx))
            .await
            .cloned()
    }
}

type CacheKey = (SourceRef, BTreeMap<String, String>);

/// Built sources by what they were built from, oldest first out.
#[derive(Debug, Default)]
struct SourceCache {
    built: HashMap<CacheKey, Arc<Prepared>>,
    order: std::collections::VecDeque<CacheKey>,
}

/// The server's state: what it serves, its keys, and the streams it runs.
#[derive(Debug)]
pub struct Service {
    catalog: Catalog,
    key: TicketKey,
    auth: Auth,
    admission: Admission,
    sources: Mutex<SourceCache>,
    /// Cancelled when the server stops waiting for running streams to end.
    streams: CancellationToken,
}

/// A planned request, as `GetFlightInfo` and the `plan` action return it.
struct Planned {
    schema: SchemaRef,
    endpoints: Vec<Endpoint>,
    rows: Option<u64>,
    bytes: Option<u64>,
    info: BTreeMap<String, serde_json::Value>,
}

struct Endpoint {
    ticket: Vec<u8>,
    rows: Option<u64>,
    bytes: Option<u64>,
    description: String,
}

impl Service {
    pub fn new(catalog: Catalog, key: TicketKey, auth: Auth, limits: Limits) -> Self {
        Service {
            catalog,
            key,
            auth,
            admission: Admission::new(limits),
            sources: Mutex::new(SourceCache::default()),
            streams: CancellationToken::new(),
        }
    }

    /// Ends every running stream (with `Unavailable`): the server stops.
    pub fn cancel_streams(&self) {
        self.streams.cancel();
    }

    /// Streams running now.
    pub fn running(&self) -> usize {
        self.admission.running()
    }

    fn context(&self) -> Context {
        Context::new().with_cancellation(self.streams.child_token())
    }

    fn prepare(
        &self,
        source: &SourceRef,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<Prepared>> {
        let key = (source.clone(), options.clone());
        let mut cache = self.sources.lock().unwrap();
        if let Some(found) = cache.built.get(&key) {
            return Ok(found.clone());
        }
        let spec = self.catalog.spec(source, options)?;
        let prepared = Arc::new(Prepared {
            source: Arc::from(build_source(spec)?),
            schema: OnceCell::new(),
        });
        if cache.order.len() >= SOURCE_CACHE
            && let Some(oldest) = cache.order.pop_front()
        {
            cache.built.remove(&oldest);
        }
        cache.order.push_back(key.clone());
        cache.built.insert(key, prepared.clone());
        Ok(prepared)
    }

    /// Plans a request: the source's splits, each sealed into a ticket.
    async fn plan(&self, request: &Request, cx: &Context) -> Result<Planned> {
        let prepared = self.prepare(&request.source, &request.options)?;
        let full = prepared.schema(cx).await?;
        let schema = project_schema(&full, request.columns.as_deref())?;
        let scan = request.scan();
        let splits = prepared.source.plan(&scan, cx).await?;
        let pushed = prepared.source.capabilities().limit;
        let endpoints = self.endpoints(request, splits, pushed)?;
        let rows = endpoints.iter().map(|e| e.rows).sum::<Option<u64>>();
        let bytes = endpoints.iter().map(|e| e.bytes).sum::<Option<u64>>();
        Ok(Planned {
            schema,
            endpoints,
            rows,
            bytes,
            info: cx.report().info(),
        })
    }

    /// One endpoint per split. A limit the source did not push into its plan is shared out
    /// over the splits when their sizes are known; otherwise one endpoint reads the splits
    /// in order and stops at the limit.
    fn endpoints(
        &self,
        request: &Request,
        splits: Vec<Split>,
        pushed: bool,
    ) -> Result<Vec<Endpoint>> {
        let body = |splits: Vec<&Split>, rows: Option<u64>, limit: Option<u64>| TicketBody {
            source: request.source.clone(),
            options: request.options.clone(),
            columns: request.columns.clone(),
            splits: splits.iter().map(|s| s.token.clone()).collect(),
            rows,
            limit,
        };
        let mut out = Vec::with_capacity(splits.len());
        let known = splits.iter().map(|s| s.rows).sum::<Option<u64>>();
        match request.limit {
            Some(limit) if !pushed && known.is_none() => {
                let bytes = splits.iter().map(|s| s.bytes).sum::<Option<u64>>();
                let ticket = self
                    .key
                    .seal(&body(splits.iter().collect(), None, Some(limit)))?;
                out.push(Endpoint {
                    ticket,
                    rows: None,
                    bytes,
                    description: format!("{} splits in order, at most {limit} rows", splits.len()),
                });
            }
            limit => {
                let mut left = limit.filter(|_| !pushed);
                for split in &splits {
                    let cap = match (left, split.rows) {
                        (Some(0), _) => break,
                        (Some(l), Some(rows)) if l < rows => Some(l),
                        _ => None,
                    };
                    if let (Some(l), Some(rows)) = (&mut left, split.rows) {
                        *l -= rows.min(*l);
                    }
                    let ticket = self.key.seal(&body(vec![split], split.rows, cap))?;
                    out.push(Endpoint {
                        ticket,
                        rows: cap.or(split.rows),
                        bytes: split.bytes.filter(|_| cap.is_none()),
                        description: split.description.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    fn flight_info(planned: Planned, descriptor: FlightDescriptor) -> Result<FlightInfo, Status> {
        let endpoints = planned
            .endpoints
            .into_iter()
            .map(|e| FlightEndpoint::new().with_ticket(Ticket::new(e.ticket)))
            .collect();
        let metadata = serde_json::to_vec(&planned.info).unwrap_or_default();
        FlightInfo::new()
            .try_with_schema(&planned.schema)
            .map_err(|e| status(&Error::from(e)))
            .map(|info| {
                info.with_endpoints(endpoints)
                    .with_descriptor(descriptor)
                    .with_total_records(planned.rows.map_or(-1, |r| r as i64))
                    .with_total_bytes(planned.bytes.map_or(-1, |b| b as i64))
                    .with_ordered(true)
                    .with_app_metadata(metadata)
            })
    }

    /// The `plan` action's answer: the plan as JSON, tickets in base64.
    fn plan_json(planned: &Planned) -> Result<serde_json::Value> {
        let splits: Vec<_> = planned
            .endpoints
            .iter()
            .enumerate()
            .map(|(index, e)| {
                serde_json::json!({
                    "index": index,
                    "description": e.description,
                    "rows": e.rows,
                    "bytes": e.bytes,
                    "ticket": STANDARD.encode(&e.ticket),
                })
            })
            .collect();
        Ok(serde_json::json!({
            "schema": encode_schema(&planned.schema)?,
            "rows": planned.rows,
            "bytes": planned.bytes,
            "info": planned.info,
            "splits": splits,
        }))
    }

    /// Writes one put's batches into its sink, committed when the client's stream ends;
    /// a stream that breaks off, or data the sink cannot carry, commits nothing.
    async fn write(
        &self,
        put: Put,
        first: FlightData,
        rest: Streaming<FlightData>,
    ) -> Result<serde_json::Value> {
        let (sink, target) = self.catalog.writes().build(&put)?;
        let data = futures::stream::once(async { Ok(first) })
            .chain(rest.map_err(|s| FlightError::Tonic(Box::new(s))));
        let mut batches = FlightRecordBatchStream::new_from_flight_data(data);
        let head = batches.next().await.transpose().map_err(put_error)?;
        let schema = batches
            .schema()
            .cloned()
            .ok_or_else(|| Error::config("the DoPut stream carries no schema"))?;
        sink.check_schema(&schema).map_err(|e| match e.kind() {
            ErrorKind::Schema => e.with_kind(ErrorKind::Config),
            _ => e,
        })?;
        let stream = futures::stream::iter(head.map(Ok)).chain(batches.map_err(put_error));
        let cx = self.context();
        let summary = sink
            .write_all(RecordBatchStreamAdapter::sendable(schema, stream), &cx)
            .await?;
        Ok(serde_json::json!({
            "sink": put.sink,
            "target": target,
            "rows": summary.rows,
            "bytes": summary.bytes,
            "files": summary.files,
        }))
    }

    fn health(&self) -> serde_json::Value {
        let limits = self.admission.limits();
        serde_json::json!({
            "status": if self.streams.is_cancelled() { "stopping" } else { "serving" },
            "streams": {
                "running": self.admission.running(),
                "waiting": self.admission.waiting(),
                "limit": limits.streams,
                "queue": limits.waiting,
            },
            "sources": self.catalog.sources().map(|(n, _)| n).collect::<Vec<_>>(),
            "sinks": self.catalog.writes().names().collect::<Vec<_>>(),
            "ticket_key": self.key.id(),
        })
    }

    /// Reads a ticket's splits as Flight data. Holds a stream permit for as long as the
    /// client reads; a client that stops reading stops the source (back-pressure through
    /// HTTP/2 flow control), one that goes away drops the stream and all its work.
    async fn read(
        &self,
        ticket: &[u8],
    ) -> Result<BoxStream<'static, Result<FlightData, Status>>, Status> {
        let body = self.key.open(ticket).map_err(|e| status(&e))?;
        let permit = self.admission.admit().await?;
        let cx = self.context();
        let prepared = self
            .prepare(&body.source, &body.options)
            .map_err(|e| status(&e))?;
        let full = prepared.schema(&cx).await.map_err(|e| status(&e))?;
        let schema = project_schema(&full, body.columns.as_deref()).map_err(|e| status(&e))?;
        // Every batch merged to a few MiB, however big it came: per message, gRPC and the
        // client cost more than the copy (8192-row messages cost pyarrow a quarter of its
        // rows/s).
        let splits = read_splits(
            prepared.source.clone(),
            body.splits,
            schema.clone(),
            body.limit,
            body.rows,
            &cx,
        );
        let batches = coalesce(splits, None).map_err(|e| FlightError::Tonic(Box::new(status(&e))));
        let stop = self.streams.clone();
        let guard = cx.cancellation().clone().drop_guard();
        let data = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .with_options(IpcWriteOptions::default())
            .with_dictionary_handling(DictionaryHandling::Resend)
            .build(batches)
            .map_err(Status::from);
        // The work runs in a task of its own that hands encoded messages over a small
        // channel: a client that stops reading stops it once the channel and HTTP/2's window
        // are full, one that goes away (the receiver dropped) or the server stopping ends it
        // at once, whether or not the connection still polls the response.
        let (sender, receiver) = tokio::sync::mpsc::channel(HANDOVER);
        // How the work ended, set before the channel closes: a stream cut short must end in
        // an error at the client, never look complete.
        let ending: Arc<Mutex<Option<Result<(), Status>>>> = Arc::default();
        let ended = ending.clone();
        tokio::spawn(async move {
            let mut data = data.boxed();
            let outcome = loop {
                let item = tokio::select! {
                    biased;
                    _ = stop.cancelled() => break Err(Status::unavailable(
                        "the server is shutting down; read this ticket again once it is back",
                    )),
                    _ = sender.closed() => break Ok(()),
                    item = data.next() => item,
                };
                let Some(item) = item else { break Ok(()) };
                let last = item.is_err();
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => break Err(Status::unavailable(
                        "the server is shutting down; read this ticket again once it is back",
                    )),
                    sent = sender.send(item) => if last || sent.is_err() { break Ok(()) },
                }
            };
            *ended.lock().unwrap() = Some(outcome);
            // The permit first, so a stream counts as ended once its work is dropped.
            drop(permit);
            drop(guard);
            drop(data);
        });
        let stream = futures::stream::unfold(Some(receiver), move |receiver| {
            let ending = ending.clone();
            async move {
                let mut receiver = receiver?;
                match receiver.recv().await {
                    Some(item) => Some((item, Some(receiver))),
                    None => match ending.lock().unwrap().take() {
                        Some(Ok(())) => None,
                        Some(Err(status)) => Some((Err(status), None)),
                        None => Some((
                            Err(Status::internal(
                                "the stream's work ended before it finished",
                            )),
                            None,
                        )),
                    },
                }
            }
        });
        Ok(stream.boxed())
    }
}

/// A put's stream that failed: broken off by the client, or not Arrow Flight data.
fn put_error(e: FlightError) -> Error {
    match e {
        FlightError::Tonic(s) => Error::new(
            ErrorKind::Io,
            format!("the client's DoPut stream broke off: {}", s.message()),
        ),
        other => Error::config(format!("the DoPut data does not decode: {other}")),
    }
}

fn parse<T>(result: Result<T>) -> Result<T, Status> {
    result.map_err(|e| status(&e))
}

type Answer<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The service as tonic serves it.
#[derive(Debug, Clone)]
pub struct FlightHandler(pub Arc<Service>);

#[tonic::async_trait]
impl FlightService for FlightHandler {
    type HandshakeStream = Answer<HandshakeResponse>;
    type ListFlightsStream = Answer<FlightInfo>;
    type DoGetStream = Answer<FlightData>;
    type DoPutStream = Answer<PutResult>;
    type DoExchangeStream = Answer<FlightData>;
    type DoActionStream = Answer<arrow_flight::Result>;
    type ListActionsStream = Answer<ActionType>;

    async fn handshake(
        &self,
        request: GrpcRequest<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        let header = self.0.auth.handshake(request.metadata())?;
        let answer = HandshakeResponse {
            protocol_version: 0,
            payload: Default::default(),
        };
        let mut response = Response::new(futures::stream::iter([Ok(answer)]).boxed() as Answer<_>);
        if let Some(header) = header {
            let value = header
                .parse()
                .map_err(|_| Status::internal("the bearer token is not a valid header value"))?;
            response.metadata_mut().insert("authorization", value);
        }
        Ok(response)
    }

    async fn list_flights(
        &self,
        request: GrpcRequest<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        self.0.auth.check(request.metadata())?;
        let prefix = String::from_utf8_lossy(&request.get_ref().expression).into_owned();
        let cx = self.0.context();
        let mut infos = Vec::new();
        for (name, entry) in self
            .0
            .catalog
            .sources()
            .filter(|(n, _)| n.starts_with(&prefix))
        {
            let source = SourceRef::Named(name.to_string());
            let schema = match self.0.prepare(&source, &BTreeMap::new()) {
                Ok(p) => p.schema(&cx).await,
                Err(e) => Err(e),
            };
            let mut metadata = serde_json::json!({
                // Without its query: an operator may have put options there.
                "url": entry.url.split('?').next().unwrap_or_default(),
                "description": entry.description,
            });
            let info = FlightInfo::new()
                .with_descriptor(FlightDescriptor::new_path(vec![name.to_string()]));
            let info = match schema {
                Ok(schema) => info
                    .try_with_schema(&schema)
                    .map_err(|e| status(&Error::from(e)))?,
                Err(e) => {
                    metadata["error"] = status(&e).message().into();
                    info.try_with_schema(&arrow::datatypes::Schema::empty())
                        .map_err(|e| status(&Error::from(e)))?
                }
            };
            let metadata = serde_json::to_vec(&metadata).unwrap_or_default();
            infos.push(Ok(info
                .with_total_records(-1)
                .with_total_bytes(-1)
                .with_app_metadata(metadata)));
        }
        Ok(Response::new(futures::stream::iter(infos).boxed()))
    }

    async fn get_flight_info(
        &self,
        request: GrpcRequest<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.0.auth.check(request.metadata())?;
        let descriptor = request.into_inner();
        let parsed = parse(Request::from_descriptor(&descriptor))?;
        let cx = self.0.context();
        let planned = self.0.plan(&parsed, &cx).await.map_err(|e| status(&e))?;
        Ok(Response::new(Service::flight_info(planned, descriptor)?))
    }

    async fn poll_flight_info(
        &self,
        _request: GrpcRequest<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        Err(Status::unimplemented(
            "PollFlightInfo is not served: GetFlightInfo answers once the plan is made",
        ))
    }

    async fn get_schema(
        &self,
        request: GrpcRequest<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        self.0.auth.check(request.metadata())?;
        let parsed = parse(Request::from_descriptor(request.get_ref()))?;
        let cx = self.0.context();
        let prepared = parse(self.0.prepare(&parsed.source, &parsed.options))?;
        let full = parse(prepared.schema(&cx).await)?;
        let schema = parse(project_schema(&full, parsed.columns.as_deref()))?;
        let options = IpcWriteOptions::default();
        let result = SchemaResult::try_from(SchemaAsIpc::new(&schema, &options))
            .map_err(|e| status(&Error::from(e)))?;
        Ok(Response::new(result))
    }

    async fn do_get(
        &self,
        request: GrpcRequest<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        self.0.auth.check(request.metadata())?;
        let stream = self.0.read(&request.get_ref().ticket).await?;
        Ok(Response::new(stream))
    }

    async fn do_put(
        &self,
        request: GrpcRequest<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        self.0.auth.check(request.metadata())?;
        let mut input = request.into_inner();
        let first = input.message().await?.ok_or_else(|| {
            Status::invalid_argument(
                "the DoPut stream is empty: its first message carries the descriptor",
            )
        })?;
        let descriptor = first.flight_descriptor.clone().ok_or_else(|| {
            Status::invalid_argument("the first DoPut message carries no descriptor")
        })?;
        let put = parse(Put::from_descriptor(&descriptor))?;
        let _permit = self.0.admission.admit().await?;
        let summary = self
            .0
            .write(put, first, input)
            .await
            .map_err(|e| status(&e))?;
        let result = PutResult {
            app_metadata: serde_json::to_vec(&summary).unwrap_or_default().into(),
        };
        Ok(Response::new(futures::stream::iter([Ok(result)]).boxed()))
    }

    async fn do_exchange(
        &self,
        _request: GrpcRequest<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        Err(Status::unimplemented("DoExchange is not served"))
    }

    async fn do_action(
        &self,
        request: GrpcRequest<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        self.0.auth.check(request.metadata())?;
        let action = request.into_inner();
        let body = match action.r#type.as_str() {
            "health" => self.0.health(),
            "plan" => {
                let parsed = parse(Request::from_command(&action.body))?;
                let cx = self.0.context();
                let planned = self.0.plan(&parsed, &cx).await.map_err(|e| status(&e))?;
                parse(Service::plan_json(&planned))?
            }
            other => {
                return Err(status(&Error::config(format!(
                    "unknown action `{other}`; this server's actions: {}",
                    ACTIONS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))));
            }
        };
        let result = arrow_flight::Result::new(serde_json::to_vec(&body).unwrap_or_default());
        Ok(Response::new(futures::stream::iter([Ok(result)]).boxed()))
    }

    async fn list_actions(
        &self,
        request: GrpcRequest<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        self.0.auth.check(request.metadata())?;
        let actions = ACTIONS.iter().map(|(name, description)| {
            Ok(ActionType {
                r#type: name.to_string(),
                description: description.to_string(),
            })
        });
        Ok(Response::new(futures::stream::iter(actions).boxed()))
    }
}

/// The actions `DoAction` takes.
const ACTIONS: &[(&str, &str)] = &[
    (
        "plan",
        "body: a descriptor command (JSON); answers the plan as JSON: the schema (base64 Arrow \
         IPC), rows, bytes and one split per endpoint with its ticket in base64",
    ),
    (
        "health",
        "answers JSON: whether the server serves, its running and waiting streams and its \
         configured sources",
    ),
];
