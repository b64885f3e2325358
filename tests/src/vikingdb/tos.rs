//! One TOS bucket in memory: ListObjectsType2, GetObject and HeadObject over the native TOS
//! API (JSON, `TOS4-HMAC-SHA256`), with errors as TOS sends them (a JSON body and
//! `x-tos-request-id` on every answer).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use crc::{CRC_64_XZ, Crc};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, HOST, LAST_MODIFIED, RANGE,
    RETRY_AFTER,
};
use hyper::http::response::Builder;
use hyper::{Method, Request, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::auth::{Received, Rejection, decode, encode, query_pairs};
use super::faults::Route;
use super::{RecordedRequest, Service, Shared, clock, lock};
use crate::http::{Body, BoxError, empty, full, spoil};

/// TOS's `HashCrc64ecma`: CRC-64/XZ (the tos SDK's crcmod parameters, see the vectors).
const CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_XZ);

/// Body chunk size: small enough that a cut read stops mid-body.
const CHUNK: usize = 64 * 1024;

/// How long a cut read waits between its last bytes and the reset.
const RESET_PAUSE: Duration = Duration::from_millis(100);

/// The largest page TOS returns.
const MAX_KEYS: usize = 1000;

const HOST_ID: &str = "arrowport-emulator";

/// An object as stored, with what listings and HEAD report of it.
#[derive(Debug, Clone)]
struct Object {
    /// The bytes served; shorter than `size` while the truncation fault is on.
    data: Bytes,
    size: u64,
    crc: u64,
    etag: String,
    modified: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Bucket {
    objects: Mutex<BTreeMap<String, Object>>,
}

impl Bucket {
    /// Stores `data` under `key`; `truncate` keeps only its first three quarters while
    /// reporting the whole object's size and CRC.
    pub(crate) fn put(&self, key: String, data: Bytes, truncate: bool) {
        let digest = Sha256::digest(&data);
        let object = Object {
            size: data.len() as u64,
            crc: CRC64.checksum(&data),
            // Opaque like TOS's: hex of the first 16 bytes of the SHA-256 (MD5-sized).
            etag: format!("\"{}\"", hex::encode(&digest[..16])),
            modified: clock::now(),
            data: if truncate {
                data.slice(..data.len() - data.len().div_ceil(4))
            } else {
                data
            },
        };
        lock(&self.objects).insert(key, object);
    }

    fn get(&self, key: &str) -> Option<Object> {
        lock(&self.objects).get(key).cloned()
    }

    /// One page of keys under `prefix` after `after`, grouped by `delimiter`.
    fn page(&self, prefix: &str, delimiter: &str, after: &After, limit: usize) -> Page {
        let objects = lock(&self.objects);
        let start = match after {
            After::Key(k) | After::Prefix(k) if k.as_str() >= prefix => Bound::Excluded(k.clone()),
            _ => Bound::Included(prefix.to_string()),
        };
        let mut page = Page::default();
        if limit == 0 {
            return page;
        }
        for (key, object) in objects.range((start, Bound::Unbounded)) {
            if !key.starts_with(prefix) {
                break;
            }
            if matches!(after, After::Prefix(p) if key.starts_with(p.as_str())) {
                continue;
            }
            let common = (!delimiter.is_empty())
                .then(|| key[prefix.len()..].find(delimiter))
                .flatten()
                .map(|at| key[..prefix.len() + at + delimiter.len()].to_string());
            if let Some(common) = &common
                && page.entries.last().is_some_and(|e| e.name() == common)
            {
                continue;
            }
            if page.entries.len() == limit {
                page.truncated = true;
                break;
            }
            page.entries.push(match common {
                Some(common) => Entry::Prefix(common),
                None => Entry::Object(key.clone(), object.clone()),
            });
        }
        page
    }
}

/// Where a listing resumes: after a key, or after every key of a common prefix.
#[derive(Debug, PartialEq, Eq)]
enum After {
    Start,
    Key(String),
    Prefix(String),
}

impl After {
    /// The continuation token that resumes after `entry`: opaque, base64 like TOS's.
    fn token(entry: &Entry) -> String {
        let raw = match entry {
            Entry::Object(key, _) => format!("k{key}"),
            Entry::Prefix(prefix) => format!("p{prefix}"),
        };
        base64_encode(raw.as_bytes())
    }

    fn from_token(token: &str) -> Option<After> {
        let raw = String::from_utf8(base64_decode(token)?).ok()?;
        match raw.split_at_checked(1)? {
            ("k", key) => Some(After::Key(key.to_string())),
            ("p", prefix) => Some(After::Prefix(prefix.to_string())),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
struct Page {
    entries: Vec<Entry>,
    truncated: bool,
}

#[derive(Debug)]
enum Entry {
    Object(String, Object),
    Prefix(String),
}

impl Entry {
    fn name(&self) -> &str {
        match self {
            Entry::Object(key, _) | Entry::Prefix(key) => key,
        }
    }
}

pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let delay = shared.faults.current_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (parts, body) = req.into_parts();
    let request_id = shared.request_id();
    let head = parts.method == Method::HEAD;
    let range = parts
        .headers
        .get(RANGE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let (route, mut response) = match body.collect().await {
        Ok(body) => answer(&shared, &parts, &body.to_bytes(), range.as_deref()),
        Err(e) => (
            None,
            error(
                400,
                "InvalidRequest",
                &format!("cannot read the body: {e}"),
                "",
                head,
            ),
        ),
    };
    let headers = response.headers_mut();
    headers.insert("x-tos-request-id", request_id.parse().expect("ASCII"));
    headers.insert("x-tos-id-2", HOST_ID.parse().expect("ASCII"));
    shared.record(RecordedRequest {
        service: Service::Tos,
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        range,
        status: response.status().as_u16(),
    });
    match route.and_then(|at| shared.faults.take_wire(|r| *r == at)) {
        Some(wire) => spoil(response, wire).await,
        None => response,
    }
}

/// The answer, and its route when it is a listing or a GetObject (routed faults spoil those).
fn answer(
    shared: &Shared,
    parts: &hyper::http::request::Parts,
    body: &Bytes,
    range: Option<&str>,
) -> (Option<Route>, Response<Body>) {
    let head = parts.method == Method::HEAD;
    let (path, query) = (parts.uri.path(), parts.uri.query().unwrap_or_default());
    let received = Received {
        method: parts.method.as_str(),
        path,
        query,
        headers: &parts.headers,
        body,
    };
    if let Err(rejection) = shared.tos_auth.verify(&received) {
        let code = match rejection {
            Rejection::Missing(_) => "AccessDenied",
            Rejection::UnknownKey(_) => "InvalidAccessKeyId",
            Rejection::Mismatch(_) => "SignatureDoesNotMatch",
        };
        return (None, error(403, code, rejection.message(), path, head));
    }
    let bucket = &shared.config.bucket;
    let host = parts
        .headers
        .get(HOST)
        .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        .unwrap_or_default();
    // Virtual-hosted, path-style, or a custom domain with the bucket implied.
    let raw_key = if host.starts_with(&format!("{bucket}.")) {
        &path[1..]
    } else if path == format!("/{bucket}") {
        ""
    } else if let Some(rest) = path.strip_prefix(&format!("/{bucket}/")) {
        rest
    } else {
        &path[1..]
    };
    let Ok(key) = String::from_utf8(decode(raw_key, false)) else {
        return (
            None,
            error(400, "InvalidObjectName", "the key is not UTF-8", path, head),
        );
    };
    let route = match (&parts.method, key.is_empty()) {
        (&Method::GET, true) => Route::TosList,
        (&Method::GET, false) => Route::TosGet,
        (&Method::HEAD, true) => {
            let response = Response::builder()
                .header("x-tos-bucket-region", shared.config.tos_region.as_str())
                .header("x-tos-storage-class", "STANDARD")
                .body(empty())
                .expect("a valid response");
            return (None, response);
        }
        (&Method::HEAD, false) => return (None, head_object(shared, &key, path)),
        (method, _) => {
            let message = format!("the emulator does not take {method} requests");
            return (None, error(405, "MethodNotAllowed", &message, path, head));
        }
    };
    let response = match shared.faults.take_http_error(|r| *r == route) {
        Some((status, retry_after)) => scripted_error(status, retry_after, path),
        None if route == Route::TosList => list(shared, query, path),
        None => get(shared, &key, range, path),
    };
    (Some(route), response)
}

/// An error [`Faults::http_errors`](super::Faults::http_errors) scripted, as TOS words it.
fn scripted_error(status: u16, retry_after: Option<u64>, resource: &str) -> Response<Body> {
    let code = match status {
        403 => "SignatureDoesNotMatch",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        _ => "InternalError",
    };
    let mut response = error(status, code, "scripted (emulator fault)", resource, false);
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, secs.to_string().parse().expect("ASCII"));
    }
    response
}

fn list(shared: &Shared, query: &str, resource: &str) -> Response<Body> {
    let params: BTreeMap<String, String> = query_pairs(query)
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    if param("list-type") != "2" {
        return error(
            501,
            "NotImplemented",
            "the emulator lists only with list-type=2 (ListObjectsType2)",
            resource,
            false,
        );
    }
    let max_keys = match params.get("max-keys") {
        None => MAX_KEYS,
        Some(n) => match n.parse::<usize>() {
            Ok(n) => n.min(MAX_KEYS),
            Err(_) => {
                return error(
                    400,
                    "InvalidArgument",
                    &format!("max-keys `{n}` is not a count"),
                    resource,
                    false,
                );
            }
        },
    };
    let token = param("continuation-token");
    let after = if !token.is_empty() {
        match After::from_token(token) {
            Some(after) => after,
            None => {
                return error(
                    400,
                    "InvalidArgument",
                    "the continuation token is not one this bucket gave",
                    resource,
                    false,
                );
            }
        }
    } else if !param("start-after").is_empty() {
        After::Key(param("start-after").to_string())
    } else {
        After::Start
    };
    let (prefix, delimiter) = (param("prefix"), param("delimiter"));
    let page = shared.bucket.page(
        prefix,
        delimiter,
        &after,
        max_keys.min(shared.config.list_page_size),
    );
    let url = param("encoding-type") == "url";
    let name = |s: &str| {
        if url {
            encode(s.as_bytes(), true)
        } else {
            s.to_string()
        }
    };
    let owner = param("fetch-owner") == "true";
    let wrong_crc = shared.faults.crc_is_wrong() || shared.faults.take_wrong_listed_crc();
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for entry in &page.entries {
        match entry {
            Entry::Prefix(p) => prefixes.push(json!({"Prefix": name(p)})),
            Entry::Object(key, object) => {
                let mut item = json!({
                    "Key": name(key),
                    "LastModified": clock::iso_millis(object.modified),
                    "ETag": object.etag,
                    "Size": object.size,
                    "StorageClass": "STANDARD",
                    "HashCrc64ecma": reported_crc(object, wrong_crc).to_string(),
                    "Type": "Normal",
                });
                if owner {
                    item["Owner"] = json!({"ID": "2100000000", "DisplayName": "2100000000"});
                }
                contents.push(item);
            }
        }
    }
    let next = match (page.truncated, page.entries.last()) {
        (true, Some(last)) => After::token(last),
        _ => String::new(),
    };
    let mut body = json!({
        "Name": shared.config.bucket,
        "Prefix": name(prefix),
        "ContinuationToken": token,
        "KeyCount": page.entries.len(),
        "MaxKeys": max_keys,
        "Delimiter": name(delimiter),
        "IsTruncated": page.truncated,
        "EncodingType": if url { "url" } else { "" },
        "NextContinuationToken": next,
        "CommonPrefixes": prefixes,
        "Contents": contents,
    });
    if !param("start-after").is_empty() {
        body["StartAfter"] = Value::String(name(param("start-after")));
    }
    Response::builder()
        .header(CONTENT_TYPE, "application/json")
        .body(full(body.to_string()))
        .expect("a valid response")
}

fn reported_crc(object: &Object, wrong: bool) -> u64 {
    if wrong {
        object.crc ^ 0x5A5A_5A5A_5A5A_5A5A
    } else {
        object.crc
    }
}

/// The headers GetObject and HeadObject share.
fn object_headers(shared: &Shared, key: &str, object: &Object) -> Builder {
    let content_type = if key.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    };
    Response::builder()
        .header(CONTENT_TYPE, content_type)
        .header(ETAG, object.etag.as_str())
        .header(LAST_MODIFIED, clock::http_date(object.modified))
        .header(ACCEPT_RANGES, "bytes")
        .header(
            "x-tos-hash-crc64ecma",
            reported_crc(object, shared.faults.crc_is_wrong()).to_string(),
        )
        .header("x-tos-storage-class", "STANDARD")
}

fn head_object(shared: &Shared, key: &str, resource: &str) -> Response<Body> {
    let Some(object) = shared.bucket.get(key) else {
        return error(
            404,
            "NoSuchKey",
            "the object does not exist",
            resource,
            true,
        );
    };
    object_headers(shared, key, &object)
        .header(CONTENT_LENGTH, object.size)
        .body(empty())
        .expect("a valid response")
}

fn get(shared: &Shared, key: &str, range: Option<&str>, resource: &str) -> Response<Body> {
    if shared.faults.take_server_error() {
        return error(
            503,
            "ServiceUnavailable",
            "the service is busy, please retry",
            resource,
            false,
        );
    }
    let Some(object) = shared.bucket.get(key) else {
        return error(
            404,
            "NoSuchKey",
            "the object does not exist",
            resource,
            false,
        );
    };
    let len = object.data.len() as u64;
    let builder = object_headers(shared, key, &object);
    let (builder, body) = match range.map(|r| parse_range(r, len)) {
        None | Some(Span::Whole) => (builder, object.data.clone()),
        Some(Span::Part(start, end)) => (
            builder
                .status(206)
                .header(CONTENT_RANGE, format!("bytes {start}-{end}/{len}")),
            object.data.slice(start as usize..=end as usize),
        ),
        Some(Span::Unsatisfiable) => {
            let mut answer = error(
                416,
                "InvalidRange",
                "the requested range is not satisfiable",
                resource,
                false,
            );
            answer.headers_mut().insert(
                CONTENT_RANGE,
                format!("bytes */{len}").parse().expect("ASCII"),
            );
            return answer;
        }
    };
    let body = if shared.faults.take_corrupt_read() && !body.is_empty() {
        let mut flipped = body.to_vec();
        flipped[0] ^= 1;
        Bytes::from(flipped)
    } else {
        body
    };
    let cut = shared
        .faults
        .take_reset()
        .map(|after| after.min(body.len().saturating_sub(1)));
    builder
        .header(CONTENT_LENGTH, body.len())
        .body(stream(body, cut))
        .expect("a valid response")
}

/// The body in chunks; with `cut`, only that many bytes and then an error, which makes hyper
/// drop the connection mid-body.
fn stream(data: Bytes, cut: Option<usize>) -> Body {
    let end = cut.unwrap_or(data.len());
    let frames = futures::stream::iter(
        (0..end)
            .step_by(CHUNK)
            .map(move |at| Ok(Frame::data(data.slice(at..(at + CHUNK).min(end))))),
    );
    match cut {
        None => BodyExt::boxed(StreamBody::new(frames)),
        Some(_) => {
            // Hyper drops buffered bytes with the connection; a pause while the body is
            // pending lets it flush what was sent, so the client sees a cut, not a refusal.
            let reset = futures::stream::once(async {
                tokio::time::sleep(RESET_PAUSE).await;
                Err::<Frame<Bytes>, BoxError>("the emulator reset the connection (fault)".into())
            });
            BodyExt::boxed(StreamBody::new(futures::StreamExt::chain(frames, reset)))
        }
    }
}

/// What a `Range` header asks of an object of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Span {
    /// No usable range (another unit, several ranges, bad syntax): the whole object, 200.
    Whole,
    /// Bytes `start..=end`, 206.
    Part(u64, u64),
    /// 416.
    Unsatisfiable,
}

fn parse_range(value: &str, len: u64) -> Span {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Span::Whole;
    };
    if spec.contains(',') {
        return Span::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Span::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return match last.parse::<u64>() {
            Ok(0) => Span::Unsatisfiable,
            Ok(_) if len == 0 => Span::Unsatisfiable,
            Ok(n) => Span::Part(len.saturating_sub(n), len - 1),
            Err(_) => Span::Whole,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return Span::Whole;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match last.parse::<u64>() {
            Ok(end) if end >= start => end,
            _ => return Span::Whole,
        }
    };
    if start >= len {
        Span::Unsatisfiable
    } else {
        Span::Part(start, end.min(len - 1))
    }
}

/// A TOS error: JSON body `{Code, Message, RequestId, HostId, Resource, EC}` (none for HEAD).
fn error(status: u16, code: &str, message: &str, resource: &str, head: bool) -> Response<Body> {
    let ec = match code {
        "SignatureDoesNotMatch" => "0002-00000001",
        "InvalidAccessKeyId" => "0002-00000002",
        "AccessDenied" => "0003-00000001",
        "NoSuchKey" => "0017-00000003",
        "InvalidRange" => "0017-00000012",
        "ServiceUnavailable" => "0001-00000503",
        _ => "0000-00000000",
    };
    let builder = Response::builder().status(status).header("x-tos-ec", ec);
    let response = if head {
        builder.body(empty())
    } else {
        let body = json!({
            "Code": code,
            "Message": message,
            "HostId": HOST_ID,
            "Resource": resource,
            "EC": ec,
        });
        builder
            .header(CONTENT_TYPE, "application/json")
            .body(full(body.to_string()))
    };
    response.expect("a valid response")
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for chunk in text.as_bytes().chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for (i, &c) in chunk[..4 - pad].iter().enumerate() {
            let v = BASE64.iter().position(|&b| b == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        out.extend((0..3 - pad).map(|i| (n >> (16 - 8 * i)) as u8));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(keys: &[&str]) -> Bucket {
        let bucket = Bucket::default();
        for key in keys {
            bucket.put(key.to_string(), Bytes::from(key.to_string()), false);
        }
        bucket
    }

    /// Every entry name of every page, following tokens as a client does.
    fn walk(bucket: &Bucket, prefix: &str, delimiter: &str, limit: usize) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut after = After::Start;
        loop {
            let page = bucket.page(prefix, delimiter, &after, limit);
            pages.push(page.entries.iter().map(|e| e.name().to_string()).collect());
            if !page.truncated {
                return pages;
            }
            after = After::from_token(&After::token(page.entries.last().unwrap())).unwrap();
        }
    }

    #[test]
    fn listing_pages_through_sorted_keys() {
        let b = bucket(&["x/2", "x/1", "x/3", "y/1", "x0", "x/10"]);
        assert_eq!(
            walk(&b, "x/", "", 2),
            [vec!["x/1", "x/10"], vec!["x/2", "x/3"]]
        );
        assert_eq!(walk(&b, "x/", "", 4), [vec!["x/1", "x/10", "x/2", "x/3"]]);
        assert_eq!(walk(&b, "", "", 100)[0].len(), 6);
        assert_eq!(walk(&b, "z", "", 10), [Vec::<String>::new()]);
        // start-after is a key: resume strictly after it, even between keys.
        let page = b.page("x/", "", &After::Key("x/15".into()), 10);
        let names: Vec<&str> = page.entries.iter().map(Entry::name).collect();
        assert_eq!(names, ["x/2", "x/3"]);
        assert!(b.page("x/", "", &After::Start, 0).entries.is_empty());
    }

    #[test]
    fn delimiters_group_common_prefixes_across_pages() {
        let b = bucket(&["d/a/1", "d/a/2", "d/a/3", "d/b", "d/c/1", "d/c/2", "d/d"]);
        assert_eq!(
            walk(&b, "d/", "/", 2),
            [vec!["d/a/", "d/b"], vec!["d/c/", "d/d"]]
        );
        assert_eq!(walk(&b, "d/", "/", 1).len(), 4);
        let page = b.page("d/", "/", &After::Start, 10);
        assert!(matches!(page.entries[0], Entry::Prefix(_)));
        assert!(matches!(page.entries[1], Entry::Object(..)));
    }

    #[test]
    fn tokens_are_base64_and_reject_junk() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foob"), "Zm9vYg==");
        assert_eq!(
            base64_encode(b"continue>token?foo=bar"),
            "Y29udGludWU+dG9rZW4/Zm9vPWJhcg=="
        );
        for raw in ["", "k", "kdir/数据 part+1", "p/a/"] {
            assert_eq!(
                base64_decode(&base64_encode(raw.as_bytes())).unwrap(),
                raw.as_bytes()
            );
        }
        assert!(After::from_token("Zg").is_none());
        assert!(After::from_token("!!!!").is_none());
        assert!(After::from_token(&base64_encode(b"xkey")).is_none());
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-9", 100), Span::Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Span::Part(90, 99));
        assert_eq!(parse_range("bytes=90-200", 100), Span::Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Span::Part(90, 99));
        assert_eq!(parse_range("bytes=-200", 100), Span::Part(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), Span::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Span::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Span::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), Span::Whole);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Span::Whole);
        assert_eq!(parse_range("items=0-1", 100), Span::Whole);
    }

    #[test]
    fn objects_report_crc64_xz_and_truncation_keeps_the_reports() {
        // The CRC-64 vectors of tos_sign.json.
        assert_eq!(CRC64.checksum(b"123456789"), 11_051_210_869_376_104_954);
        assert_eq!(CRC64.checksum(b"hello world"), 5_981_764_153_023_615_706);
        assert_eq!(CRC64.checksum(b""), 0);
        let b = Bucket::default();
        b.put("k".into(), Bytes::from_static(b"hello world"), true);
        let o = b.get("k").unwrap();
        assert_eq!((o.size, o.crc), (11, 5_981_764_153_023_615_706));
        assert_eq!(&o.data[..], b"hello wo");
        assert_ne!(reported_crc(&o, true), o.crc);
    }
}
