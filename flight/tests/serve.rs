//! The Flight server end to end, on loopback: plans and tickets, reads, limits, the seal on
//! tickets, authentication, refused requests, admission, back-pressure, dropped clients and
//! stopping.

mod endless;

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, Int64Array};
use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;
use arrow_flight::error::FlightError;
use arrow_flight::{Action, FlightClient, FlightDescriptor, FlightInfo, Ticket};
use arrowport_core::registry::{build_source, resolve_sink};
use arrowport_core::{Context, OptionMap, Scan, SinkSpec, SourceSpec};
use arrowport_flight::{Auth, Catalog, Limits, ServeOptions, TicketKey, serve};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;

const TOKEN: &str = "flight-test-token";

struct Server {
    address: String,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<arrowport_core::Result<()>>,
}

struct Setup {
    catalog: Catalog,
    key: TicketKey,
    auth: Auth,
    limits: Limits,
    grace: Duration,
    tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl Default for Setup {
    fn default() -> Self {
        arrowport_plugins::link();
        Setup {
            catalog: Catalog::open(None).unwrap(),
            key: TicketKey::random().unwrap(),
            auth: Auth::Bearer(TOKEN.into()),
            limits: Limits::default(),
            grace: Duration::from_secs(30),
            tls: None,
        }
    }
}

impl Setup {
    async fn start(self) -> Server {
        let (stop, stopped) = oneshot::channel();
        let (ready, address) = oneshot::channel();
        let options = ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            catalog: self.catalog,
            auth: self.auth,
            key: self.key,
            tls: self.tls,
            limits: self.limits,
            grace: self.grace,
        };
        let done = tokio::spawn(async move {
            serve(
                options,
                async {
                    let _ = stopped.await;
                },
                |a| {
                    let _ = ready.send(a.to_string());
                },
            )
            .await
        });
        let address = address
            .await
            .unwrap()
            .replace("grpc+tls://", "https://")
            .replace("grpc://", "http://");
        Server {
            address,
            stop: Some(stop),
            done,
        }
    }
}

impl Server {
    async fn client(&self) -> FlightClient {
        let mut c = self.anonymous().await;
        c.add_header("authorization", &format!("Bearer {TOKEN}"))
            .unwrap();
        c
    }

    async fn anonymous(&self) -> FlightClient {
        FlightClient::new(self.channel().await)
    }

    /// A connection of its own.
    async fn channel(&self) -> Channel {
        Channel::from_shared(self.address.clone())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    async fn stop(mut self) -> arrowport_core::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        self.done.await.unwrap()
    }
}

fn command(json: serde_json::Value) -> FlightDescriptor {
    FlightDescriptor::new_cmd(json.to_string())
}

fn code(e: FlightError) -> (Code, String) {
    match e {
        FlightError::Tonic(s) => (s.code(), s.message().to_string()),
        other => panic!("not a status: {other}"),
    }
}

async fn read(client: &mut FlightClient, ticket: Ticket) -> Result<Vec<RecordBatch>, FlightError> {
    client.do_get(ticket).await?.try_collect().await
}

/// Reads every endpoint at once, each on its own connection, in plan order.
async fn read_all(server: &Server, info: &FlightInfo) -> Vec<RecordBatch> {
    let reads = info.endpoint.iter().map(|e| {
        let ticket = e.ticket.clone().unwrap();
        async move { read(&mut server.client().await, ticket).await.unwrap() }
    });
    futures::future::join_all(reads).await.concat()
}

/// What the source itself delivers for `scan`, in one batch.
async fn direct(url: &str, scan: &Scan) -> RecordBatch {
    let source = build_source(SourceSpec::parse(url).unwrap()).unwrap();
    let cx = Context::new();
    let stream = source.open(scan, &cx).await.unwrap();
    let schema = stream.schema();
    let batches: Vec<RecordBatch> = stream.try_collect().await.unwrap();
    concat_batches(&schema, &batches).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_reads_its_split_and_every_row_arrives_once() {
    let server = Setup::default().start().await;
    let url = "datagen://?rows=20000&batch_size=500&seed=11";
    let mut client = server.client().await;
    let info = client
        .get_flight_info(command(
            serde_json::json!({"url": url, "options": {"profile": "all"}}),
        ))
        .await
        .unwrap();
    assert!(info.endpoint.len() > 1, "{} endpoints", info.endpoint.len());
    assert_eq!(info.total_records, 20000);
    let schema = info.clone().try_decode_schema().unwrap();

    let got = read_all(&server, &info).await;
    let got = concat_batches(&Arc::new(schema), &got).unwrap();
    let want = direct(&format!("{url}&profile=all"), &Scan::new()).await;
    assert_eq!(got, want);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_and_limits_hold_across_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    // A Parquet file of several row groups: the file source plans a split per row group and
    // does not push limits down, so the server shares the limit out over the splits.
    let path = dir.path().join("t.parquet");
    let source =
        build_source(SourceSpec::parse("datagen://?rows=10000&batch_size=1000").unwrap()).unwrap();
    let (plugin, target) = resolve_sink(path.to_str().unwrap(), None).unwrap();
    let mut options = OptionMap::new();
    options.insert("row_group_size", "1000");
    let sink = (plugin.build)(SinkSpec::new(target, options, false)).unwrap();
    arrowport_core::export(
        source.as_ref(),
        sink.as_ref(),
        &Scan::new(),
        &Context::new(),
    )
    .await
    .unwrap();

    let server = Setup {
        catalog: Catalog::open(Some(dir.path().to_path_buf())).unwrap(),
        ..Setup::default()
    }
    .start()
    .await;
    let mut client = server.client().await;
    for (url, limit) in [
        ("t.parquet", 2500),
        ("datagen://?rows=10000&batch_size=1000", 2500),
        ("t.parquet", 0),
    ] {
        let info = client
            .get_flight_info(command(
                serde_json::json!({"url": url, "columns": ["id"], "limit": limit}),
            ))
            .await
            .unwrap();
        assert_eq!(info.total_records, limit, "{url}");
        let got = read_all(&server, &info).await;
        let ids: Vec<i64> = got
            .iter()
            .flat_map(|b| {
                assert_eq!(b.num_columns(), 1);
                let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                a.values().to_vec()
            })
            .collect();
        assert_eq!(ids, (0..limit).collect::<Vec<i64>>(), "{url}");
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_are_sealed_and_another_servers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "a shared ticket key of at least 32 bytes").unwrap();
    let a = Setup::default().start().await;
    let shared = Setup {
        key: TicketKey::from_file(&key_file).unwrap(),
        ..Setup::default()
    }
    .start()
    .await;
    let shared_too = Setup {
        key: TicketKey::from_file(&key_file).unwrap(),
        ..Setup::default()
    }
    .start()
    .await;

    let descriptor = command(serde_json::json!({"url": "datagen://?rows=100", "columns": ["id"]}));
    let ticket = a
        .client()
        .await
        .get_flight_info(descriptor.clone())
        .await
        .unwrap()
        .endpoint[0]
        .ticket
        .clone()
        .unwrap();
    let mut client = a.client().await;
    assert_eq!(
        read(&mut client, ticket.clone())
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        100
    );

    // A ticket made to read another source (a changed byte of its JSON) is refused.
    let mut changed = ticket.ticket.to_vec();
    let at = changed
        .windows(10)
        .position(|w| w == b"\"rows\":100")
        .expect("the ticket names its rows");
    changed[at + 9] = b'1';
    let (c, m) = code(read(&mut client, Ticket::new(changed)).await.unwrap_err());
    assert_eq!(c, Code::PermissionDenied, "{m}");
    assert!(m.contains("changed after this server issued it"), "{m}");
    let (c, m) = code(read(&mut client, Ticket::new("hello")).await.unwrap_err());
    assert_eq!(c, Code::InvalidArgument, "{m}");

    // A ticket of another key: refused, saying why and what to do.
    let (c, m) = code(read(&mut shared.client().await, ticket).await.unwrap_err());
    assert_eq!(c, Code::PermissionDenied, "{m}");
    assert!(m.contains("GetFlightInfo again"), "{m}");

    // Servers sharing a key file read each other's tickets.
    let info = shared
        .client()
        .await
        .get_flight_info(descriptor)
        .await
        .unwrap();
    let got = read_all(&shared_too, &info).await;
    assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 100);
    for s in [a, shared, shared_too] {
        s.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_needs_the_token() {
    let server = Setup::default().start().await;
    let descriptor = command(serde_json::json!({"url": "datagen://?rows=10"}));
    let mut anonymous = server.anonymous().await;
    let (c, _) = code(
        anonymous
            .get_flight_info(descriptor.clone())
            .await
            .unwrap_err(),
    );
    assert_eq!(c, Code::Unauthenticated);
    let (c, _) = code(anonymous.do_get(Ticket::new("x")).await.unwrap_err());
    assert_eq!(c, Code::Unauthenticated);
    let (c, _) = code(anonymous.list_actions().await.err().unwrap());
    assert_eq!(c, Code::Unauthenticated);

    let mut wrong = server.anonymous().await;
    wrong.add_header("authorization", "Bearer guess").unwrap();
    let (c, m) = code(wrong.get_flight_info(descriptor.clone()).await.unwrap_err());
    assert_eq!(c, Code::Unauthenticated);
    assert!(!m.contains(TOKEN), "{m}");

    // The handshake: basic auth with the token as password answers the bearer header.
    let mut basic = server.anonymous().await;
    let credentials = base64_basic("worker", TOKEN);
    basic.add_header("authorization", &credentials).unwrap();
    basic.handshake("").await.unwrap();
    server
        .client()
        .await
        .get_flight_info(descriptor)
        .await
        .unwrap();
    server.stop().await.unwrap();
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_statuses_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sources.toml");
    std::fs::write(
        &config,
        "[sources.demo]\nurl = \"datagen://?rows=50\"\nclient_options = [\"seed\"]\n",
    )
    .unwrap();
    let configured = Setup {
        catalog: Catalog::load(&config).unwrap(),
        ..Setup::default()
    }
    .start()
    .await;
    let open = Setup::default().start().await;

    let cases = [
        (
            &open,
            serde_json::json!({"url": "nosuch://x"}),
            Code::InvalidArgument,
            "unknown source scheme",
        ),
        (
            &open,
            serde_json::json!({"url": "datagen://?rwos=1"}),
            Code::InvalidArgument,
            "did you mean `rows`",
        ),
        (
            &open,
            serde_json::json!({"url": "datagen://", "columns": ["nope"]}),
            Code::InvalidArgument,
            "unknown column `nope`",
        ),
        (
            &open,
            serde_json::json!({"url": "/etc/passwd"}),
            Code::PermissionDenied,
            "reads no local files",
        ),
        (
            &open,
            serde_json::json!({"url": "maxcompute://p/t", "options": {"secret_access_key": "x"}}),
            Code::InvalidArgument,
            "credentials stay on the server",
        ),
        (
            &configured,
            serde_json::json!({"url": "datagen://"}),
            Code::PermissionDenied,
            "only its configured sources (demo)",
        ),
        (
            &configured,
            serde_json::json!({"source": "dmeo"}),
            Code::NotFound,
            "did you mean `demo`",
        ),
        (
            &configured,
            serde_json::json!({"source": "demo", "options": {"rows": "5"}}),
            Code::PermissionDenied,
            "not open to clients",
        ),
    ];
    for (server, json, want, text) in cases {
        let (c, m) = code(
            server
                .client()
                .await
                .get_flight_info(command(json.clone()))
                .await
                .unwrap_err(),
        );
        assert_eq!(c, want, "{json}: {m}");
        assert!(m.contains(text), "{json}: {m}");
    }
    let (c, m) = code(
        configured
            .client()
            .await
            .get_flight_info(FlightDescriptor::new_cmd("{not json"))
            .await
            .unwrap_err(),
    );
    assert_eq!(c, Code::InvalidArgument, "{m}");

    // And both still serve: by path, by name with an opened option, and by URL.
    let mut client = configured.client().await;
    let info = client
        .get_flight_info(FlightDescriptor::new_path(vec!["demo".into()]))
        .await
        .unwrap();
    assert_eq!(info.total_records, 50);
    let info = client
        .get_flight_info(command(
            serde_json::json!({"source": "demo", "options": {"seed": 3}}),
        ))
        .await
        .unwrap();
    assert_eq!(
        read_all(&configured, &info)
            .await
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        50
    );
    let schema = client
        .get_schema(FlightDescriptor::new_path(vec!["demo".into()]))
        .await
        .unwrap();
    assert!(schema.field_with_name("id").is_ok());
    let listed: Vec<FlightInfo> = client
        .list_flights("")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].flight_descriptor.as_ref().unwrap().path, ["demo"]);
    open.client()
        .await
        .get_flight_info(command(serde_json::json!({"url": "datagen://?rows=5"})))
        .await
        .unwrap();
    configured.stop().await.unwrap();
    open.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_and_health_actions_answer_json() {
    let server = Setup::default().start().await;
    let mut client = server.client().await;
    let body = serde_json::json!({"url": "datagen://?rows=3000&batch_size=100", "columns": ["id"]});
    let answers: Vec<_> = client
        .do_action(Action::new("plan", body.to_string()))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&answers[0]).unwrap();
    assert_eq!(plan["rows"], 3000);
    let splits = plan["splits"].as_array().unwrap();
    let mut rows = 0;
    for split in splits {
        use base64::Engine;
        let ticket = base64::engine::general_purpose::STANDARD
            .decode(split["ticket"].as_str().unwrap())
            .unwrap();
        let got = read(&mut client, Ticket::new(ticket)).await.unwrap();
        let n: u64 = got.iter().map(|b| b.num_rows() as u64).sum();
        assert_eq!(Some(n), split["rows"].as_u64());
        rows += n;
    }
    assert_eq!(rows, 3000);

    let health: Vec<_> = client
        .do_action(Action::new("health", ""))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let health: serde_json::Value = serde_json::from_slice(&health[0]).unwrap();
    assert_eq!(health["status"], "serving");
    assert_eq!(health["streams"]["running"], 0);
    let (c, m) = code(
        client
            .do_action(Action::new("explode", ""))
            .await
            .err()
            .unwrap(),
    );
    assert_eq!(c, Code::InvalidArgument);
    assert!(m.contains("plan, health"), "{m}");
    server.stop().await.unwrap();
}

/// The one ticket of an `endless` source.
async fn endless_ticket(server: &Server, options: &str) -> Ticket {
    let info = server
        .client()
        .await
        .get_flight_info(command(
            serde_json::json!({"url": format!("endless://?{options}")}),
        ))
        .await
        .unwrap();
    info.endpoint[0].ticket.clone().unwrap()
}

async fn health(server: &Server) -> serde_json::Value {
    let answers: Vec<_> = server
        .client()
        .await
        .do_action(Action::new("health", ""))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    serde_json::from_slice(&answers[0]).unwrap()
}

/// Batches of 1 MiB (131,072 Int64 rows).
const MIB_ROWS: &str = "rows=131072";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_stops_the_source_and_one_that_leaves_ends_it() {
    let server = Setup::default().start().await;
    let ticket = endless_ticket(&server, &format!("id=pressure&{MIB_ROWS}")).await;
    let probe = endless::probe("pressure");
    let mut client = server.client().await;
    let mut stream = client.do_get(ticket).await.unwrap();
    // However long the client pauses, the server makes only what HTTP/2 flow control and
    // a few buffers hold: a bounded lead, not the 4 GiB it could.
    const LEAD: u64 = 32;
    for taken in 1..=4u64 {
        stream.next().await.unwrap().unwrap();
        let ran_ahead = probe
            .until(Duration::from_secs(1), |p| p.produced() > taken + LEAD)
            .await;
        assert!(
            !ran_ahead,
            "made {} batches while the client took {taken}",
            probe.produced()
        );
    }
    assert_eq!(health(&server).await["streams"]["running"], 1);

    // The client goes away mid-stream: the server drops the source's stream, so no work
    // goes on, and the stream's permit is free again.
    drop(stream);
    drop(client);
    assert!(
        probe
            .until(Duration::from_secs(30), |p| p
                .dropped
                .load(std::sync::atomic::Ordering::SeqCst))
            .await
    );
    let made = probe.produced();
    assert_eq!(health(&server).await["streams"]["running"], 0);
    let ticket = endless_ticket(&server, "id=after&batches=3").await;
    let got = read(&mut server.client().await, ticket).await.unwrap();
    assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 3 * 1024);
    assert_eq!(
        probe.produced(),
        made,
        "the dropped stream went on making batches"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_beyond_the_limit_wait_and_beyond_the_queue_are_told_to_retry() {
    let server = Setup {
        limits: Limits {
            streams: 2,
            waiting: 4,
            wait: Duration::from_secs(3600),
        },
        ..Setup::default()
    }
    .start()
    .await;
    // Two streams that stay open hold both permits.
    let mut held = Vec::new();
    for i in 0..2 {
        let ticket = endless_ticket(&server, &format!("id=held{i}")).await;
        let mut client = server.client().await;
        let mut stream = client.do_get(ticket).await.unwrap();
        stream.next().await.unwrap().unwrap();
        held.push((client, stream));
    }
    let small = endless_ticket(&server, "id=small&batches=2&rows=10").await;
    let results = {
        let calls = (0..50).map(|_| {
            let ticket = small.clone();
            let server = &server;
            async move { read(&mut server.client().await, ticket).await }
        });
        let calls = futures::future::join_all(calls);
        tokio::pin!(calls);
        // The calls that find the queue full are refused at once; four wait.
        let mut waited = false;
        for _ in 0..10_000 {
            tokio::select! {
                biased;
                _ = &mut calls => panic!("calls ended while both permits were held"),
                _ = tokio::task::yield_now() => {}
            }
            if health(&server).await["streams"]["waiting"] == 4 {
                waited = true;
                break;
            }
        }
        assert!(waited, "four calls never waited");
        drop(held);
        calls.await
    };
    let (ok, refused): (Vec<_>, Vec<_>) = results.into_iter().partition(|r| r.is_ok());
    for r in &ok {
        assert_eq!(
            r.as_ref()
                .unwrap()
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>(),
            20
        );
    }
    assert!(ok.len() >= 4, "{} calls were read", ok.len());
    for r in refused {
        let (c, m) = code(r.unwrap_err());
        assert_eq!(c, Code::Unavailable, "{m}");
        assert!(m.contains("busy"), "{m}");
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_reads_are_each_read_whole_or_told_to_retry() {
    let server = Setup {
        limits: Limits {
            streams: 4,
            waiting: 64,
            wait: Duration::from_secs(3600),
        },
        ..Setup::default()
    }
    .start()
    .await;
    let ticket = endless_ticket(&server, "id=thousand&batches=4&rows=256").await;
    let mut channels = Vec::new();
    for _ in 0..10 {
        channels.push(server.channel().await);
    }
    let calls = (0..1000).map(|i| {
        let mut client = FlightClient::new(channels[i % channels.len()].clone());
        client
            .add_header("authorization", &format!("Bearer {TOKEN}"))
            .unwrap();
        let ticket = ticket.clone();
        async move { read(&mut client, ticket).await }
    });
    let results = futures::future::join_all(calls).await;
    let mut ok = 0;
    for r in results {
        match r {
            Ok(batches) => {
                assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1024);
                ok += 1;
            }
            Err(e) => assert_eq!(code(e).0, Code::Unavailable),
        }
    }
    assert!(ok >= 4, "{ok} of 1000 were read");
    let h = health(&server).await;
    assert_eq!(
        (
            h["streams"]["running"].as_u64(),
            h["streams"]["waiting"].as_u64()
        ),
        (Some(0), Some(0))
    );
    let ticket = endless_ticket(&server, "id=thousand-after&batches=1").await;
    read(&mut server.client().await, ticket).await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_lets_streams_finish_within_the_grace_period() {
    let server = Setup::default().start().await;
    let ticket = endless_ticket(&server, "id=graceful&batches=20&rows=100").await;
    let mut client = server.client().await;
    let mut stream = client.do_get(ticket).await.unwrap();
    let mut rows = stream.next().await.unwrap().unwrap().num_rows();
    let stopping = tokio::spawn(server.stop());
    while let Some(batch) = stream.next().await {
        rows += batch.unwrap().num_rows();
    }
    assert_eq!(rows, 2000);
    drop((stream, client));
    stopping.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_ends_streams_that_outlast_the_grace_period() {
    let server = Setup {
        grace: Duration::ZERO,
        ..Setup::default()
    }
    .start()
    .await;
    let ticket = endless_ticket(&server, "id=outlast").await;
    let probe = endless::probe("outlast");
    let mut client = server.client().await;
    let mut stream = client.do_get(ticket).await.unwrap();
    stream.next().await.unwrap().unwrap();
    server.stop().await.unwrap();
    assert!(
        probe
            .until(Duration::from_secs(30), |p| p
                .dropped
                .load(std::sync::atomic::Ordering::SeqCst))
            .await
    );
    // What the client had in flight may still arrive; then the stream ends in an error.
    let mut ended = None;
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            ended = Some(e);
            break;
        }
    }
    let e = ended.expect("an endless stream ended without an error");
    if let FlightError::Tonic(s) = &e {
        assert!(
            matches!(
                s.code(),
                Code::Unavailable | Code::Cancelled | Code::Unknown
            ),
            "{s}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_clients_that_trust_the_certificate() {
    use tonic::transport::{Certificate, ClientTlsConfig};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
    let server = Setup {
        tls: Some((dir.join("server.pem"), dir.join("server.key"))),
        ..Setup::default()
    }
    .start()
    .await;
    assert!(
        server.address.starts_with("https://127.0.0.1:"),
        "{}",
        server.address
    );
    let pem = std::fs::read(dir.join("ca.pem")).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pem))
        .domain_name("localhost");
    let channel = Channel::from_shared(server.address.clone())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FlightClient::new(channel);
    client
        .add_header("authorization", &format!("Bearer {TOKEN}"))
        .unwrap();
    let info = client
        .get_flight_info(command(serde_json::json!({"url": "datagen://?rows=100"})))
        .await
        .unwrap();
    let got = read(&mut client, info.endpoint[0].ticket.clone().unwrap())
        .await
        .unwrap();
    assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 100);

    // A plaintext client gets no answer from a TLS server.
    let plain = Channel::from_shared(server.address.replace("https://", "http://"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut plain = FlightClient::new(plain);
    plain
        .add_header("authorization", &format!("Bearer {TOKEN}"))
        .unwrap();
    assert!(
        plain
            .get_flight_info(command(serde_json::json!({"url": "datagen://?rows=1"})))
            .await
            .is_err()
    );
    server.stop().await.unwrap();
}

/// Pushes `batches` into the sink `descriptor` names; the put's summary.
async fn put(
    client: &mut FlightClient,
    descriptor: FlightDescriptor,
    batches: Vec<Result<RecordBatch, FlightError>>,
) -> Result<serde_json::Value, FlightError> {
    let data = arrow_flight::encode::FlightDataEncoderBuilder::new()
        .with_flight_descriptor(Some(descriptor))
        .build(futures::stream::iter(batches));
    let results: Vec<_> = client.do_put(data).await?.try_collect().await?;
    Ok(serde_json::from_slice(&results[0].app_metadata).unwrap())
}

/// The files in `dir`, sorted.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_write_into_configured_sinks_only_and_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let config = dir.path().join("sources.toml");
    let o = out.display();
    std::fs::write(
        &config,
        format!(
            "[sinks.one]\nurl = \"{o}/one.arrow\"\n\
             [sinks.parts]\nurl = \"{o}/put-{{id}}.parquet\"\nclient_options = [\"compression\"]\n\
             [sinks.csv]\nurl = \"{o}/out.csv\"\n"
        ),
    )
    .unwrap();
    let server = Setup {
        catalog: Catalog::load(&config).unwrap(),
        ..Setup::default()
    }
    .start()
    .await;
    let all = direct(
        "datagen://?rows=3000&batch_size=1000&profile=all",
        &Scan::new(),
    )
    .await;
    let batches = || vec![Ok(all.slice(0, 1000)), Ok(all.slice(1000, 2000))];
    let mut client = server.client().await;

    // Every type arrives as sent.
    let summary = put(
        &mut client,
        FlightDescriptor::new_path(vec!["one".into()]),
        batches(),
    )
    .await
    .unwrap();
    assert_eq!(summary["rows"], 3000, "{summary}");
    let file = std::fs::File::open(out.join("one.arrow")).unwrap();
    let reader = arrow::ipc::reader::FileReader::try_new(file, None).unwrap();
    let back: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    assert_eq!(concat_batches(&all.schema(), &back).unwrap(), all);

    // An existing output is not replaced, and stays whole.
    let (c, m) = code(
        put(
            &mut client,
            FlightDescriptor::new_path(vec!["one".into()]),
            batches(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(c, Code::InvalidArgument, "{m}");
    assert!(m.contains("exists"), "{m}");

    // `{id}` makes a file per put; opened options come from the client.
    let cmd = serde_json::json!({"sink": "parts", "options": {"compression": "zstd"}});
    for _ in 0..2 {
        put(&mut client, command(cmd.clone()), batches())
            .await
            .unwrap();
    }
    let parts: Vec<_> = listing(&out)
        .into_iter()
        .filter(|n| n.starts_with("put-"))
        .collect();
    assert_eq!(parts.len(), 2, "{parts:?}");

    // Refused before anything is written: a schema the sink cannot carry, an option not
    // opened, a sink not configured. (A client killed mid-put: tests/flight.)
    let before = listing(&out);
    let (c, m) = code(
        put(
            &mut client,
            FlightDescriptor::new_path(vec!["csv".into()]),
            batches(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(c, Code::InvalidArgument, "{m}");
    let cmd = serde_json::json!({"sink": "parts", "options": {"row_group_size": 1}});
    let (c, m) = code(put(&mut client, command(cmd), batches()).await.unwrap_err());
    assert_eq!(c, Code::PermissionDenied, "{m}");
    let (c, m) = code(
        put(
            &mut client,
            FlightDescriptor::new_path(vec!["prats".into()]),
            batches(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(c, Code::NotFound, "{m}");
    assert!(m.contains("did you mean `parts`"), "{m}");
    assert_eq!(listing(&out), before, "a refused put left something");

    // A server without configured sinks takes no writes.
    let open = Setup::default().start().await;
    let (c, m) = code(
        put(
            &mut open.client().await,
            FlightDescriptor::new_path(vec!["one".into()]),
            batches(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(c, Code::PermissionDenied, "{m}");
    open.stop().await.unwrap();
    server.stop().await.unwrap();
}
