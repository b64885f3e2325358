//! The emulator over loopback, driven by a minimal signed HTTP client of its own.

use std::time::Duration;

use arrow::array::AsArray;
use arrow::compute::concat_batches;
use arrow::datatypes::Int64Type;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::auth::tests::sign_request;
use super::auth::{Scheme, Verifier, encode};
use super::*;

const DATE: &str = "20240315T080910Z";

/// What came back: status, headers and the body, or the error reading it broke off with.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Result<Bytes, hyper::Error>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(self.body.as_ref().expect("a whole body")).unwrap()
    }

    fn bytes(&self) -> Bytes {
        self.body.as_ref().expect("a whole body").clone()
    }

    fn header(&self, name: &str) -> &str {
        self.headers[name].to_str().unwrap()
    }
}

/// One request on a fresh connection.
async fn send(
    endpoint: &str,
    method: &str,
    target: &str,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Reply {
    let addr = endpoint.strip_prefix("http://").unwrap();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let mut tasks = JoinSet::new();
    tasks.spawn(async move {
        let _ = connection.await;
    });
    let mut request = Request::builder().method(method).uri(target);
    *request.headers_mut().unwrap() = headers;
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.map(|b| b.to_bytes()),
    }
}

fn verifier(emulator: &VikingDbEmulator, scheme: Scheme) -> Verifier {
    let config = emulator.config();
    let (region, service) = match scheme {
        Scheme::OpenApi => (&config.region, "air"),
        Scheme::Tos => (&config.tos_region, "tos"),
    };
    Verifier {
        scheme,
        access_key: config.access_key.clone(),
        secret_key: config.secret_key.clone(),
        region: region.clone(),
        service: service.into(),
    }
}

/// A signed API call, as the legacy SDK makes it.
async fn api(
    emulator: &VikingDbEmulator,
    method: &str,
    path: &str,
    query: &str,
    body: &str,
) -> Reply {
    api_as(
        &verifier(emulator, Scheme::OpenApi),
        emulator,
        method,
        path,
        query,
        body,
    )
    .await
}

async fn api_as(
    signer: &Verifier,
    emulator: &VikingDbEmulator,
    method: &str,
    path: &str,
    query: &str,
    body: &str,
) -> Reply {
    let endpoint = emulator.api_endpoint();
    let mut headers = HeaderMap::new();
    let host = endpoint.strip_prefix("http://").unwrap();
    headers.insert("host", HeaderValue::from_str(host).unwrap());
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    sign_request(
        signer,
        DATE,
        method,
        path,
        query,
        &mut headers,
        body.as_bytes(),
    );
    let target = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    send(
        &endpoint,
        method,
        &target,
        headers,
        body.as_bytes().to_vec(),
    )
    .await
}

/// A successful API call's `data`.
async fn data(emulator: &VikingDbEmulator, path: &str, body: Value) -> Value {
    let reply = api(emulator, "POST", path, "", &body.to_string()).await;
    let json = reply.json();
    assert_eq!(reply.status, 200, "{path}: {json}");
    assert_eq!(json["code"], 0);
    assert_eq!(json["message"], "success");
    assert_eq!(reply.header("x-tt-logid"), json["request_id"]);
    json["data"].clone()
}

/// An API error's `(HTTP status, code, message)`.
async fn api_error(emulator: &VikingDbEmulator, path: &str, body: Value) -> (u16, u64, String) {
    let reply = api(emulator, "POST", path, "", &body.to_string()).await;
    let json = reply.json();
    assert!(json["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    (
        reply.status.as_u16(),
        json["code"].as_u64().unwrap(),
        json["message"].as_str().unwrap().to_string(),
    )
}

async fn create(emulator: &VikingDbEmulator, params: Value) -> String {
    let data = data(
        emulator,
        "/api/task/create",
        json!({"task_type": "data_export", "task_params": params}),
    )
    .await;
    data["task_id"].as_str().unwrap().to_string()
}

async fn poll(emulator: &VikingDbEmulator, id: &str) -> Value {
    data(emulator, "/api/task/info", json!({"task_id": id})).await
}

/// How a TOS request addresses the bucket.
#[derive(Clone, Copy)]
enum Style {
    Virtual,
    Path,
    Custom,
}

/// A signed TOS request for `key` (raw, unencoded); `""` is the bucket.
async fn tos(
    emulator: &VikingDbEmulator,
    style: Style,
    method: &str,
    key: &str,
    query: &str,
    extra: &[(&'static str, &str)],
) -> Reply {
    let endpoint = emulator.tos_endpoint();
    let authority = endpoint.strip_prefix("http://").unwrap();
    let bucket = &emulator.config().bucket;
    let key = encode(key.as_bytes(), true);
    let (host, path) = match style {
        Style::Virtual => (format!("{bucket}.{authority}"), format!("/{key}")),
        Style::Path => (authority.to_string(), format!("/{bucket}/{key}")),
        Style::Custom => (authority.to_string(), format!("/{key}")),
    };
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_str(&host).unwrap());
    for (name, value) in extra {
        headers.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    sign_request(
        &verifier(emulator, Scheme::Tos),
        DATE,
        method,
        &path,
        query,
        &mut headers,
        b"",
    );
    let target = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    send(&endpoint, method, &target, headers, Vec::new()).await
}

/// Every key under `prefix`, paging as a client does.
async fn list_all(emulator: &VikingDbEmulator, prefix: &str, max_keys: usize) -> Vec<Value> {
    let mut contents = Vec::new();
    let mut token = String::new();
    loop {
        let mut query = format!(
            "list-type=2&fetch-owner=true&max-keys={max_keys}&prefix={}",
            encode(prefix.as_bytes(), false)
        );
        if !token.is_empty() {
            query.push_str(&format!(
                "&continuation-token={}",
                encode(token.as_bytes(), false)
            ));
        }
        let reply = tos(emulator, Style::Virtual, "GET", "", &query, &[]).await;
        assert_eq!(reply.status, 200);
        let page = reply.json();
        assert_eq!(page["ContinuationToken"], token.as_str());
        let items = page["Contents"].as_array().unwrap();
        assert_eq!(page["KeyCount"], items.len());
        contents.extend(items.iter().cloned());
        if page["IsTruncated"] != true {
            return contents;
        }
        token = page["NextContinuationToken"].as_str().unwrap().to_string();
    }
}

fn config(rows: u64) -> EmulatorConfig {
    EmulatorConfig {
        rows,
        dim: 8,
        rows_per_part: 100,
        row_group_rows: 40,
        ..EmulatorConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_advances_one_state_per_poll_and_then_its_files_are_in_the_bucket() {
    let emulator = VikingDbEmulator::start(config(250)).await.unwrap();
    let id = create(
        &emulator,
        json!({
            "collection_name": "demo",
            "tos_path": "arrowport-demo/exports/run1/",
            "file_type": "parquet",
            "filter_conds": [{"op": "range", "field": "id", "gte": 10, "lt": 220}],
        }),
    )
    .await;
    let listed = data(&emulator, "/api/task/list", json!({})).await;
    assert_eq!(listed[0]["task_status"], "init");
    assert_eq!(listed[0]["task_id"], id.as_str());

    let mut seen = Vec::new();
    for _ in 0..5 {
        let task = poll(&emulator, &id).await;
        let info = &task["process_info"];
        seen.push((
            task["task_status"].as_str().unwrap().to_string(),
            info["task_progress"].as_str().unwrap().to_string(),
            info["scan_data_count"].as_u64().unwrap(),
        ));
        assert_eq!(info["total_data_count"], 250);
        assert_eq!(info["total_filter_count"], 210);
        assert_eq!(info["err_msg"], "");
        assert_eq!(
            task["task_params"]["tos_path"],
            "arrowport-demo/exports/run1/"
        );
        assert_eq!(task["collection_name"], "demo");
        let sample = info["sampled_data"].as_array().unwrap();
        assert_eq!(sample.len(), 5);
        assert_eq!(sample[0]["id"], 10);
        assert_eq!(sample[0]["vector"].as_array().unwrap().len(), 8);
        if task["task_status"] != "done" {
            // Nothing is in the bucket before `done`.
            assert!(list_all(&emulator, "", 1000).await.is_empty());
        }
    }
    let expected = [
        ("queued", "0%", 0),
        ("running", "25%", 62),
        ("running", "50%", 125),
        ("running", "75%", 187),
        ("done", "100%", 250),
    ];
    let seen: Vec<(&str, &str, u64)> = seen
        .iter()
        .map(|(s, p, n)| (s.as_str(), p.as_str(), *n))
        .collect();
    assert_eq!(seen, expected);
    // Further polls stay done.
    assert_eq!(poll(&emulator, &id).await["task_status"], "done");

    let prefix = format!("exports/run1/{id}/");
    let contents = list_all(&emulator, &prefix, 2).await;
    let keys: Vec<&str> = contents
        .iter()
        .map(|c| c["Key"].as_str().unwrap())
        .collect();
    let part = |i| format!("{prefix}part-0000{i}.parquet");
    // `_` sorts before lowercase letters.
    assert_eq!(
        keys,
        [format!("{prefix}_SUCCESS"), part(0), part(1), part(2)]
    );
    assert_eq!(contents[0]["Size"], 0);
    let mut batches = Vec::new();
    for item in &contents[1..] {
        let key = item["Key"].as_str().unwrap();
        let reply = tos(&emulator, Style::Virtual, "GET", key, "", &[]).await;
        assert_eq!(reply.status, 200);
        let bytes = reply.bytes();
        assert_eq!(item["Size"], bytes.len());
        assert_eq!(item["HashCrc64ecma"], reply.header("x-tos-hash-crc64ecma"));
        assert_eq!(item["ETag"], reply.header("etag"));
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap();
        batches.extend(reader.map(Result::unwrap));
    }
    let got = concat_batches(&batches[0].schema(), &batches).unwrap();
    let ids = got.column(0).as_primitive::<Int64Type>();
    assert_eq!(ids.values().to_vec(), (10..220).collect::<Vec<i64>>());
    let all = emulator.collection_batches();
    let whole = concat_batches(&emulator.collection_schema(), &all).unwrap();
    let titles = whole.column_by_name("title").unwrap().as_string::<i32>();
    let got_titles = got.column_by_name("title").unwrap().as_string::<i32>();
    assert_eq!(got_titles.value(0), titles.value(10));
    assert_eq!(whole.num_rows(), 250);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_exports_follow_the_layout_and_export_all_ignores_the_filter() {
    let emulator = VikingDbEmulator::start(EmulatorConfig {
        json_layout: JsonLayout::Array,
        polls_to_done: 0,
        ..config(120)
    })
    .await
    .unwrap();
    let id = create(
        &emulator,
        json!({
            "collection_name": "demo",
            "tos_path": "arrowport-demo",
            "file_type": "json",
            "export_all": true,
            "filter": {"category": ["alpha"]},
        }),
    )
    .await;
    assert_eq!(poll(&emulator, &id).await["task_status"], "queued");
    let done = poll(&emulator, &id).await;
    assert_eq!(done["task_status"], "done");
    assert_eq!(done["process_info"]["total_filter_count"], 120);
    let reply = tos(
        &emulator,
        Style::Custom,
        "GET",
        &format!("{id}/part-00001.json"),
        "",
        &[],
    )
    .await;
    assert_eq!(reply.header("content-type"), "application/json");
    let rows: Vec<Value> = serde_json::from_slice(&reply.bytes()).unwrap();
    assert_eq!(rows.len(), 20);
    assert_eq!(rows[0]["id"], 100);
    assert!(rows[0]["sparse"].is_object() && rows[0]["codes"].is_array());

    // The map form filters when export_all is off.
    let id = create(
        &emulator,
        json!({
            "collection_name": "demo",
            "tos_path": "arrowport-demo/f",
            "file_type": "json",
            "filter": {"category": ["alpha", "bravo"], "flag": [true]},
        }),
    )
    .await;
    poll(&emulator, &id).await;
    let done = poll(&emulator, &id).await;
    let matched = done["process_info"]["total_filter_count"].as_u64().unwrap();
    assert!(matched > 0 && matched < 120);
    let reply = tos(
        &emulator,
        Style::Path,
        "GET",
        &format!("f/{id}/part-00000.json"),
        "",
        &[],
    )
    .await;
    let rows: Vec<Value> = serde_json::from_slice(&reply.bytes()).unwrap();
    assert_eq!(rows.len() as u64, matched);
    assert!(
        rows.iter()
            .all(|r| r["flag"] == true && (r["category"] == "alpha" || r["category"] == "bravo"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_confirming_listing_and_dropping_tasks() {
    let emulator = VikingDbEmulator::start(EmulatorConfig {
        polls_to_done: 1,
        ..config(50)
    })
    .await
    .unwrap();
    let params = json!({"collection_name": "demo", "tos_path": "arrowport-demo/x"});

    emulator.faults().fail_next_task("disk on fire");
    let failing = create(&emulator, params.clone()).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(poll(&emulator, &failing).await);
    }
    let names: Vec<&str> = seen
        .iter()
        .map(|t| t["task_status"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["queued", "running", "fail", "fail"]);
    assert_eq!(seen[2]["process_info"]["err_msg"], "disk on fire");
    assert!(list_all(&emulator, "x/", 1000).await.is_empty());

    emulator.faults().confirm_next_task();
    let confirming = create(&emulator, params.clone()).await;
    let next = create(&emulator, params.clone()).await;
    for want in ["queued", "confirm", "confirm"] {
        assert_eq!(poll(&emulator, &confirming).await["task_status"], want);
    }
    let update = |status: &str| json!({"task_id": confirming, "task_status": status});
    let (http, code, message) = api_error(&emulator, "/api/task/update", update("done")).await;
    assert_eq!((http, code), (400, 1_000_003), "{message}");
    data(&emulator, "/api/task/update", update("confirmed")).await;
    let listed = data(&emulator, "/api/task/list", json!({})).await;
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert_eq!(listed[1]["task_status"], "confirmed");
    let (_, code, _) = api_error(&emulator, "/api/task/update", update("confirmed")).await;
    assert_eq!(code, 1_000_006);
    for want in ["running", "done"] {
        assert_eq!(poll(&emulator, &confirming).await["task_status"], want);
    }
    // The fault was used up: the next task never stops.
    for want in ["queued", "running", "done"] {
        assert_eq!(poll(&emulator, &next).await["task_status"], want);
    }

    data(&emulator, "/api/task/drop", json!({"task_id": confirming})).await;
    let (http, code, _) =
        api_error(&emulator, "/api/task/info", json!({"task_id": confirming})).await;
    assert_eq!((http, code), (404, 1_000_035));
    let (_, code, _) = api_error(&emulator, "/api/task/drop", json!({"task_id": confirming})).await;
    assert_eq!(code, 1_000_035);
    // Dropping a task leaves its files.
    assert_eq!(
        list_all(&emulator, &format!("x/{confirming}/"), 1000)
            .await
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_use_the_envelope_codes_and_statuses() {
    let emulator = VikingDbEmulator::start(config(10)).await.unwrap();
    let create_with = |params: Value| json!({"task_type": "data_export", "task_params": params});
    let base = json!({"collection_name": "demo", "tos_path": "arrowport-demo/d"});
    let with = |key: &str, value: Value| {
        let mut p = base.clone();
        p[key] = value;
        create_with(p)
    };
    let cases = [
        (
            with("collection_name", json!("other")),
            404,
            1_000_005,
            "`other`",
        ),
        (
            with("tos_path", json!("elsewhere/d")),
            400,
            1_000_003,
            "`elsewhere`",
        ),
        (with("tos_path", json!("")), 400, 1_000_003, "tos_path"),
        (with("file_type", json!("csv")), 400, 1_000_003, "csv"),
        (
            with("export_all", json!("yes")),
            400,
            1_000_003,
            "export_all",
        ),
        (
            with(
                "filter_conds",
                json!([{"op": "must", "field": "colour", "conds": ["red"]}]),
            ),
            400,
            1_000_003,
            "`colour`",
        ),
        (
            with("filter", json!({"nope": [1]})),
            400,
            1_000_003,
            "`nope`",
        ),
        (
            json!({"task_type": "data_import", "task_params": base.clone()}),
            400,
            1_000_003,
            "data_import",
        ),
        (
            json!({"task_type": "data_export"}),
            400,
            1_000_003,
            "task_params",
        ),
    ];
    for (body, http, code, needle) in cases {
        let (got_http, got_code, message) =
            api_error(&emulator, "/api/task/create", body.clone()).await;
        assert_eq!((got_http, got_code), (http, code), "{body}: {message}");
        assert!(message.contains(needle), "{body}: {message}");
    }
    let (http, code, _) = api_error(&emulator, "/api/task/info", json!({"task_id": "nope"})).await;
    assert_eq!((http, code), (404, 1_000_035));
    let (http, code, _) = api_error(&emulator, "/api/nothing/here", json!({})).await;
    assert_eq!((http, code), (404, 1_000_024));
    let reply = api(&emulator, "GET", "/api/task/list", "", "").await;
    assert_eq!(
        (reply.status.as_u16(), reply.json()["code"].as_u64()),
        (405, Some(1_000_003))
    );

    // Signatures: a wrong secret, an unknown key, another region.
    let mut signer = verifier(&emulator, Scheme::OpenApi);
    signer.secret_key.push('!');
    let reply = api_as(&signer, &emulator, "POST", "/api/task/list", "", "{}").await;
    assert_eq!(
        (reply.status.as_u16(), reply.json()["code"].as_u64()),
        (401, Some(1_000_001))
    );
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("canonical request")
    );
    let mut signer = verifier(&emulator, Scheme::OpenApi);
    signer.access_key = "AKLTnobody".into();
    let reply = api_as(&signer, &emulator, "POST", "/api/task/list", "", "{}").await;
    assert_eq!(reply.json()["code"], 1_000_001);
    let mut signer = verifier(&emulator, Scheme::OpenApi);
    signer.region = "cn-beijing".into();
    let reply = api_as(&signer, &emulator, "POST", "/api/task/list", "", "{}").await;
    assert_eq!(reply.json()["code"], 1_000_001);

    // Quota: the next two calls are refused, then calls pass again.
    emulator.faults().quota_errors(2);
    for _ in 0..2 {
        let (http, code, _) = api_error(&emulator, "/api/task/list", json!({})).await;
        assert_eq!((http, code), (429, 1_000_029));
    }
    data(&emulator, "/api/task/list", json!({})).await;

    // collection/info: a JSON body on GET (legacy get_collection) or the query (Index).
    let by_body = api(
        &emulator,
        "GET",
        "/api/collection/info",
        "",
        r#"{"collection_name": "demo"}"#,
    )
    .await;
    let by_query = api(
        &emulator,
        "GET",
        "/api/collection/info",
        "collection_name=demo",
        "",
    )
    .await;
    assert_eq!(by_body.status, 200);
    let info = by_body.json()["data"].clone();
    assert_eq!(info, by_query.json()["data"]);
    assert_eq!(info["primary_key"], "id");
    let types: Vec<&str> = info["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "int64",
            "string",
            "text",
            "string",
            "float32",
            "bool",
            "list<string>",
            "list<int64>",
            "vector",
            "sparse_vector"
        ]
    );
    assert_eq!(info["fields"][8]["dim"], 8);
    assert_eq!(info["stat"]["data_number"], 10);
    assert_eq!(info["indexes"], info["index_names"]);
    let index = api(
        &emulator,
        "GET",
        "/api/index/info",
        "",
        r#"{"collection_name": "demo", "index_name": "demo_index"}"#,
    )
    .await;
    assert_eq!(index.json()["data"]["status"], "READY");
    let missing = api(
        &emulator,
        "GET",
        "/api/collection/info",
        "collection_name=gone",
        "",
    )
    .await;
    assert_eq!(
        (missing.status.as_u16(), missing.json()["code"].as_u64()),
        (404, Some(1_000_005))
    );
    let ping = api(&emulator, "GET", "/api/viking_db/data/ping", "", "").await;
    assert_eq!(ping.status, 200);

    let log = emulator.requests();
    assert!(
        log.iter()
            .all(|r| r.service == Service::Api && r.range.is_none())
    );
    let last = log.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str(), last.status),
        ("GET", "/api/viking_db/data/ping", 200)
    );
    assert!(
        log.iter()
            .any(|r| r.query == "collection_name=gone" && r.status == 404)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tos_objects_ranges_errors_and_faults() {
    let emulator = VikingDbEmulator::start(EmulatorConfig {
        list_page_size: 2,
        ..config(1)
    })
    .await
    .unwrap();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    emulator.put_object("dir/数据 file+1~v.bin", body.clone());
    emulator.put_object("dir/_SUCCESS", Vec::new());
    emulator.put_object("../evil", b"x".to_vec());
    let key = "dir/数据 file+1~v.bin";

    for style in [Style::Virtual, Style::Path, Style::Custom] {
        let reply = tos(&emulator, style, "GET", key, "", &[]).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.bytes(), body);
        assert_eq!(reply.header("content-length"), "200000");
        assert!(!reply.header("x-tos-request-id").is_empty());
        let crc: u64 = reply.header("x-tos-hash-crc64ecma").parse().unwrap();
        assert_eq!(crc, crc::Crc::<u64>::new(&crc::CRC_64_XZ).checksum(&body));
        assert!(reply.header("last-modified").ends_with(" GMT"));
    }
    let head = tos(&emulator, Style::Virtual, "HEAD", key, "", &[]).await;
    assert_eq!(head.header("content-length"), "200000");
    assert!(head.bytes().is_empty());

    let reply = tos(
        &emulator,
        Style::Virtual,
        "GET",
        key,
        "",
        &[("range", "bytes=100-199")],
    )
    .await;
    assert_eq!(reply.status, 206);
    assert_eq!(reply.header("content-range"), "bytes 100-199/200000");
    assert_eq!(reply.bytes(), body[100..200]);
    let reply = tos(
        &emulator,
        Style::Virtual,
        "GET",
        key,
        "",
        &[("range", "bytes=199990-")],
    )
    .await;
    assert_eq!(reply.bytes(), body[199_990..]);
    let reply = tos(
        &emulator,
        Style::Virtual,
        "GET",
        key,
        "",
        &[("range", "bytes=200000-")],
    )
    .await;
    assert_eq!(reply.status, 416);
    assert_eq!(reply.header("content-range"), "bytes */200000");
    assert_eq!(reply.json()["Code"], "InvalidRange");

    let reply = tos(&emulator, Style::Virtual, "GET", "dir/none", "", &[]).await;
    assert_eq!(reply.status, 404);
    let error = reply.json();
    assert_eq!(error["Code"], "NoSuchKey");
    for field in ["Message", "HostId", "Resource", "EC"] {
        assert!(error[field].is_string(), "{field}");
    }
    let reply = tos(&emulator, Style::Virtual, "HEAD", "dir/none", "", &[]).await;
    assert_eq!(reply.status, 404);

    // A signature by the wrong secret.
    let endpoint = emulator.tos_endpoint();
    let mut headers = HeaderMap::new();
    let host = format!(
        "arrowport-demo.{}",
        endpoint.strip_prefix("http://").unwrap()
    );
    headers.insert("host", HeaderValue::from_str(&host).unwrap());
    let mut signer = verifier(&emulator, Scheme::Tos);
    signer.secret_key = "wrong".into();
    sign_request(&signer, DATE, "GET", "/dir/_SUCCESS", "", &mut headers, b"");
    let reply = send(&endpoint, "GET", "/dir/_SUCCESS", headers, Vec::new()).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["Code"], "SignatureDoesNotMatch");
    assert!(!reply.header("x-tos-request-id").is_empty());
    let reply = send(
        &endpoint,
        "GET",
        "/dir/_SUCCESS",
        HeaderMap::new(),
        Vec::new(),
    )
    .await;
    assert_eq!(reply.json()["Code"], "AccessDenied");

    // Listing pages are at most list_page_size long; tokens need escaping.
    let keys: Vec<Value> = list_all(&emulator, "", 1000).await;
    let names: Vec<&str> = keys.iter().map(|k| k["Key"].as_str().unwrap()).collect();
    assert_eq!(names, ["../evil", "dir/_SUCCESS", key]);
    assert_eq!(keys[1]["Size"], 0);
    assert_eq!(keys[0]["Owner"]["ID"], "2100000000");
    assert!(keys[0]["LastModified"].as_str().unwrap().ends_with(".000Z"));
    let page = tos(
        &emulator,
        Style::Virtual,
        "GET",
        "",
        "list-type=2&delimiter=%2F&max-keys=1",
        &[],
    )
    .await
    .json();
    assert_eq!(page["CommonPrefixes"][0]["Prefix"], "../");
    assert_eq!(
        (page["MaxKeys"].as_u64(), page["IsTruncated"].as_bool()),
        (Some(1), Some(true))
    );
    let reply = tos(
        &emulator,
        Style::Virtual,
        "GET",
        "",
        "list-type=2&continuation-token=bad",
        &[],
    )
    .await;
    assert_eq!(reply.status, 400);

    // Faults: 503s, resets mid-body, truncation, wrong CRCs.
    emulator.faults().server_errors(1);
    let reply = tos(&emulator, Style::Virtual, "GET", key, "", &[]).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["Code"], "ServiceUnavailable");
    assert_eq!(
        tos(&emulator, Style::Virtual, "GET", key, "", &[])
            .await
            .status,
        200
    );

    emulator.faults().reset_object_reads(1, 70_000);
    let reply = tos(&emulator, Style::Virtual, "GET", key, "", &[]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_err());
    assert_eq!(
        tos(&emulator, Style::Virtual, "GET", key, "", &[])
            .await
            .bytes(),
        body
    );

    emulator.faults().truncate_objects(true);
    emulator.put_object("short", vec![7; 1000]);
    emulator.faults().truncate_objects(false);
    let head = tos(&emulator, Style::Virtual, "HEAD", "short", "", &[]).await;
    assert_eq!(head.header("content-length"), "1000");
    let full_crc = crc::Crc::<u64>::new(&crc::CRC_64_XZ).checksum(&[7; 1000]);
    assert_eq!(head.header("x-tos-hash-crc64ecma"), full_crc.to_string());
    let reply = tos(&emulator, Style::Virtual, "GET", "short", "", &[]).await;
    assert_eq!(reply.bytes().len(), 750);

    emulator.faults().wrong_crc(true);
    let reply = tos(&emulator, Style::Virtual, "GET", "short", "", &[]).await;
    assert_ne!(reply.header("x-tos-hash-crc64ecma"), full_crc.to_string());
    let listed = list_all(&emulator, "short", 1000).await;
    assert_ne!(listed[0]["HashCrc64ecma"], full_crc.to_string());

    let log = emulator.requests();
    assert!(log.iter().all(|r| r.service == Service::Tos));
    assert!(
        log.iter()
            .any(|r| r.range.as_deref() == Some("bytes=100-199") && r.status == 206)
    );
    assert!(log.iter().any(|r| r.status == 503));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delay_fault_slows_every_answer() {
    let emulator = VikingDbEmulator::start(config(1)).await.unwrap();
    emulator.faults().delay(Duration::from_millis(300));
    let started = std::time::Instant::now();
    data(&emulator, "/api/task/list", json!({})).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    emulator.faults().delay(Duration::ZERO);
}
