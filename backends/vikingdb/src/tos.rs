//! TOS, the object store export tasks write into: listing (ListObjectsType2, JSON, paged),
//! HeadObject and ranged GetObject, signed with [`crate::tos_sign`] as `TosClientV2` signs.

use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use arrowport_core::http::reqwest::{self, Method, StatusCode};
use arrowport_core::http::{retry_after, transport_error};
use arrowport_core::retry::sleep_or_cancel;
use arrowport_core::{Context, Error, ProgressEvent, Result, retry};
use bytes::{Bytes, BytesMut};
use serde_json::Value;
use url::Url;

use crate::NAME;
use crate::client::{host_header, malformed};
use crate::error::{integrity, tos_error};
use crate::sign::{Credentials, SigningTime, canonical_query, encode_path};
use crate::tos_sign::{TosRequest, sign_request};

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// `HashCrc64ecma`: CRC-64/XZ of the whole object, when the listing carries it.
    pub crc64: Option<u64>,
}

/// A signed client of one TOS endpoint.
#[derive(Debug, Clone)]
pub struct TosClient {
    http: reqwest::Client,
    endpoint: Url,
    region: String,
    path_style: bool,
    credentials: Arc<Credentials>,
}

/// Keys per listing page: the SDK's default and TOS's maximum.
const PAGE_SIZE: &str = "1000";

impl TosClient {
    pub fn new(
        http: reqwest::Client,
        endpoint: Url,
        region: String,
        path_style: bool,
        credentials: Arc<Credentials>,
    ) -> Self {
        TosClient {
            http,
            endpoint,
            region,
            path_style,
            credentials,
        }
    }

    /// Every object under `prefix`, following continuation tokens.
    pub async fn list(&self, bucket: &str, prefix: &str, cx: &Context) -> Result<Vec<ObjectInfo>> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("list-type", "2"),
                ("fetch-owner", "true"),
                ("max-keys", PAGE_SIZE),
                ("prefix", prefix),
            ];
            if let Some(t) = &token {
                query.push(("continuation-token", t));
            }
            let page = retry(cx, |_| async {
                let response = self
                    .send(Method::GET, bucket, None, &query, None, "list objects")
                    .await?;
                let request_id = header(response.headers(), "x-tos-request-id");
                let with_id = |e: Error| match &request_id {
                    Some(id) => e.with_context("request_id", id),
                    None => e,
                };
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| with_id(transport_error("TOS list objects", e)))?;
                Page::parse(&bytes).map_err(with_id)
            })
            .await
            .map_err(|e| {
                e.with_context("bucket", bucket)
                    .with_context("prefix", prefix)
            })?;
            objects.extend(page.objects);
            match page.next {
                None => return Ok(objects),
                Some(next) if token.as_deref() != Some(next.as_str()) => token = Some(next),
                Some(_) => {
                    return Err(malformed(
                        "TOS list objects",
                        "a truncated page without a new continuation token",
                    ));
                }
            }
        }
    }

    /// HeadObject: the size and CRC-64 the server states for `key`.
    pub async fn head(&self, bucket: &str, key: &str, cx: &Context) -> Result<ObjectInfo> {
        retry(cx, |_| async {
            let response = self
                .send(Method::HEAD, bucket, Some(key), &[], None, "head object")
                .await?;
            let headers = response.headers();
            let size = headers
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .ok_or_else(|| malformed("TOS head object", "no Content-Length"))?;
            Ok(ObjectInfo {
                key: key.to_string(),
                size,
                crc64: crc_header(headers),
            })
        })
        .await
        .map_err(|e| e.with_context("object", key))
    }

    /// Bytes `range` of `key`, in one buffer: `buf`, emptied, when the caller hands one back
    /// for reuse. A connection that breaks mid-body is resumed from the first byte not yet
    /// received, so a reset costs only the bytes still missing.
    pub async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
        mut buf: BytesMut,
        cx: &Context,
    ) -> Result<Bytes> {
        let want = (range.end - range.start) as usize;
        buf.clear();
        buf.reserve(want);
        let mut attempt = 1;
        while buf.len() < want {
            let from = range.start + buf.len() as u64;
            let result = self.read_into(bucket, key, from..range.end, &mut buf).await;
            let err = match result {
                Ok(()) => break,
                Err(e) => e,
            };
            if !err.is_temporary() || attempt >= cx.retry_policy().max_attempts {
                return Err(err
                    .with_context("object", key)
                    .with_context("attempts", attempt));
            }
            let delay = cx.retry_policy().delay(attempt, err.retry_after());
            cx.emit(ProgressEvent::retry(attempt, delay, &err));
            sleep_or_cancel(cx, delay).await?;
            attempt += 1;
        }
        if buf.len() != want {
            return Err(integrity(
                format!(
                    "TOS returned {} bytes for range {}..{} of a {want}-byte request",
                    buf.len(),
                    range.start,
                    range.end
                ),
                key,
            ));
        }
        Ok(buf.freeze())
    }

    /// One GET of `range`, appending to `buf` as chunks arrive.
    async fn read_into(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
        buf: &mut BytesMut,
    ) -> Result<()> {
        let header = format!("bytes={}-{}", range.start, range.end - 1);
        let mut response = self
            .send(
                Method::GET,
                bucket,
                Some(key),
                &[],
                Some(&header),
                "get object",
            )
            .await?;
        if response.status() != StatusCode::PARTIAL_CONTENT
            && !(range.start == 0 && response.status() == StatusCode::OK)
        {
            return Err(integrity(
                format!("TOS ignored the Range header (HTTP {})", response.status()),
                key,
            ));
        }
        let limit = buf.len() + (range.end - range.start) as usize;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error("TOS get object", e))?
        {
            if buf.len() + chunk.len() > limit {
                return Err(integrity(
                    "TOS sent more bytes than the requested range".into(),
                    key,
                ));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(())
    }

    /// Signs and sends one request; non-success statuses become errors.
    async fn send(
        &self,
        method: Method,
        bucket: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        range: Option<&str>,
        what: &str,
    ) -> Result<reqwest::Response> {
        let (url, path, host) = self.address(bucket, key)?;
        let signed = sign_request(
            &TosRequest {
                method: method.as_str(),
                path: &path,
                query,
                headers: &[("Host", &host)],
            },
            &self.credentials,
            &self.region,
            &SigningTime::from_system_time(SystemTime::now())?,
        );
        let mut url = url;
        let q = canonical_query(query);
        url.set_query((!q.is_empty()).then_some(q.as_str()));
        let mut request = self.http.request(method.clone(), url);
        if let Some(range) = range {
            request = request.header(reqwest::header::RANGE, range);
        }
        for (name, value) in signed.headers() {
            request = request.header(*name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(&format!("{NAME}: TOS {what}"), e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let request_id = header(response.headers(), "x-tos-request-id");
        let wait = retry_after(response.headers());
        let body: Value = if method == Method::HEAD {
            Value::Null
        } else {
            response
                .bytes()
                .await
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null)
        };
        let mut err = tos_error(
            status,
            body.get("Code").and_then(Value::as_str),
            body.get("Message").and_then(Value::as_str),
            request_id.as_deref(),
            what,
        )
        .with_context("bucket", bucket);
        if let Some(wait) = wait {
            err = err.with_retry_after(wait);
        }
        Err(err)
    }

    /// The URL, the raw path to sign and the Host header of `key` in `bucket`.
    fn address(&self, bucket: &str, key: Option<&str>) -> Result<(Url, String, String)> {
        let key_path = format!("/{}", key.unwrap_or_default());
        let mut url = self.endpoint.clone();
        let path = if self.path_style {
            if key.is_some() {
                format!("/{bucket}{key_path}")
            } else {
                format!("/{bucket}")
            }
        } else {
            let host = format!("{bucket}.{}", self.endpoint.host_str().unwrap_or_default());
            url.set_host(Some(&host)).map_err(|_| {
                Error::config(format!(
                    "{NAME}: `{host}` is not a valid host; an IP-address `tos_endpoint` needs \
                     `tos_path_style=true`"
                ))
            })?;
            key_path
        };
        url.set_path(&encode_path(&path));
        let host = host_header(&url);
        Ok((url, path, host))
    }
}

/// One page of a listing.
#[derive(Debug)]
struct Page {
    objects: Vec<ObjectInfo>,
    /// The continuation token of a truncated page.
    next: Option<String>,
}

impl Page {
    /// Parses a ListObjectsType2 reply body (JSON).
    fn parse(body: &[u8]) -> Result<Page> {
        let page: Value = serde_json::from_slice(body)
            .map_err(|_| malformed("TOS list objects", "the body is not JSON"))?;
        let objects = page
            .get("Contents")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(ObjectInfo::from_json)
            .collect::<Result<Vec<_>>>()?;
        let truncated = page
            .get("IsTruncated")
            .is_some_and(|t| t.as_bool() == Some(true) || t.as_str() == Some("true"));
        let next = page
            .get("NextContinuationToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        let next = match (truncated, next) {
            (false, _) => None,
            (true, Some(next)) => Some(next.to_string()),
            (true, None) => {
                return Err(malformed(
                    "TOS list objects",
                    "a truncated page without a new continuation token",
                ));
            }
        };
        Ok(Page { objects, next })
    }
}

impl ObjectInfo {
    fn from_json(item: &Value) -> Result<Self> {
        let key = item
            .get("Key")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("TOS list objects", "an entry without `Key`"))?;
        let size = match item.get("Size") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| malformed("TOS list objects", "an entry without `Size`"))?;
        Ok(ObjectInfo {
            key: key.to_string(),
            size,
            crc64: item.get("HashCrc64ecma").and_then(|v| match v {
                Value::String(s) => s.parse().ok(),
                Value::Number(n) => n.as_u64(),
                _ => None,
            }),
        })
    }
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_owned)
}

fn crc_header(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get("x-tos-hash-crc64ecma")
        .and_then(|v| v.to_str().ok()?.trim().parse().ok())
}

/// An integrity error for a whole object whose checksum differs from the listed one.
pub fn crc_mismatch(key: &str, expected: u64, actual: u64) -> Error {
    integrity(
        format!(
            "object `{key}` is corrupt: its CRC-64 is {actual}, TOS lists {expected}; nothing \
             was committed"
        ),
        key,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: &str, path_style: bool) -> TosClient {
        TosClient::new(
            reqwest::Client::new(),
            Url::parse(endpoint).unwrap(),
            "cn-beijing".into(),
            path_style,
            Arc::new(Credentials::new("ak", "sk")),
        )
    }

    #[test]
    fn addresses_in_both_styles() {
        let (url, path, host) = client("https://tos-cn-beijing.volces.com", false)
            .address("bkt", Some("a b/c.parquet"))
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://bkt.tos-cn-beijing.volces.com/a%20b/c.parquet"
        );
        assert_eq!(
            (path.as_str(), host.as_str()),
            ("/a b/c.parquet", "bkt.tos-cn-beijing.volces.com")
        );
        let local = "http://127.0.0.1:9000";
        let err = client(local, false).address("bkt", None).unwrap_err();
        assert!(err.to_string().contains("tos_path_style=true"), "{err}");
        let (url, path, host) = client(local, true)
            .address("bkt", Some("a b/c.parquet"))
            .unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9000/bkt/a%20b/c.parquet");
        assert_eq!(
            (path.as_str(), host.as_str()),
            ("/bkt/a b/c.parquet", "127.0.0.1:9000")
        );
        let (url, path, _) = client(local, true).address("bkt", None).unwrap();
        assert_eq!((url.path(), path.as_str()), ("/bkt", "/bkt"));
    }

    #[test]
    fn listing_entries_parse() {
        let o = ObjectInfo::from_json(&serde_json::json!({
            "Key": "p/part-0.parquet", "Size": 10, "HashCrc64ecma": "18446744073709551615"
        }))
        .unwrap();
        assert_eq!(o.crc64, Some(u64::MAX));
        assert!(ObjectInfo::from_json(&serde_json::json!({"Size": 1})).is_err());
    }
}

/// Property tests: listings round-trip, and mutated or random listing bodies end in a clean
/// error. The helpers serve the crate's other decoders' property tests too. `PROPTEST_CASES`
/// scales them (see `tests/FUZZING.md`).
#[cfg(test)]
pub(crate) mod fuzz {
    pub(crate) use arrowport_testkit::mutate::{Edit, apply, config};
    use proptest::collection::vec;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// 2^31, 2^40, u32::MAX and u64::MAX as text and as little-endian words.
    fn huge_words() -> Vec<Vec<u8>> {
        let mut words = Vec::new();
        for v in [1u64 << 31, 1 << 40, u64::from(u32::MAX), u64::MAX] {
            words.push(v.to_string().into_bytes());
            words.push((v as u32).to_le_bytes().to_vec());
            words.push(v.to_le_bytes().to_vec());
        }
        words
    }

    /// One to four edits, with the huge values of this crate's encodings.
    pub(crate) fn edits() -> impl Strategy<Value = Vec<Edit>> {
        arrowport_testkit::mutate::edits(huge_words())
    }

    fn objects() -> impl Strategy<Value = Vec<ObjectInfo>> {
        let object = (
            any::<String>(),
            any::<u64>(),
            proptest::option::of(any::<u64>()),
        );
        vec(object, 0..5).prop_map(|objects| {
            objects
                .into_iter()
                .map(|(key, size, crc64)| ObjectInfo { key, size, crc64 })
                .collect()
        })
    }

    /// A listing page as TOS writes it (sizes as numbers, CRCs as strings).
    fn page(objects: &[ObjectInfo], next: Option<&str>) -> Vec<u8> {
        let contents: Vec<Value> = objects
            .iter()
            .map(|o| {
                let mut entry = json!({"Key": o.key, "Size": o.size, "StorageClass": "STANDARD"});
                if let Some(crc) = o.crc64 {
                    entry["HashCrc64ecma"] = json!(crc.to_string());
                }
                entry
            })
            .collect();
        let mut page =
            json!({"Name": "bkt", "Prefix": "p/", "MaxKeys": 1000, "Contents": contents});
        page["IsTruncated"] = json!(next.is_some());
        if let Some(next) = next {
            page["NextContinuationToken"] = json!(next);
        }
        serde_json::to_vec(&page).unwrap()
    }

    fn check(body: &[u8]) -> std::result::Result<(), TestCaseError> {
        if let Err(e) = Page::parse(body) {
            prop_assert_eq!(e.kind(), arrowport_core::ErrorKind::Remote, "{}", e);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn listings_round_trip(objects in objects(), next in proptest::option::of("[a-zA-Z0-9+/=]{1,20}")) {
            let parsed = Page::parse(&page(&objects, next.as_deref())).unwrap();
            prop_assert_eq!(parsed.objects, objects);
            prop_assert_eq!(parsed.next, next);
        }

        #[test]
        fn mutated_listings_fail_cleanly(objects in objects(), edits in edits()) {
            let mut body = page(&objects, Some("token"));
            apply(&mut body, &edits);
            check(&body)?;
        }

        #[test]
        fn random_listings_fail_cleanly(body in prop_oneof![
            vec(any::<u8>(), 0..256),
            "[\\[\\]{}\",:0-9a-zA-Z ]{0,64}".prop_map(String::into_bytes),
        ]) {
            check(&body)?;
        }
    }

    /// Sizes past u64 and nesting past serde_json's depth limit are errors; a size of 2^40 is
    /// only a number here (reads are sized by the ranges asked for).
    #[test]
    fn huge_and_deep_listings_are_errors() {
        let body = br#"{"Contents":[{"Key":"k","Size":18446744073709551616}]}"#;
        assert!(Page::parse(body).is_err());
        let body = br#"{"Contents":[{"Key":"k","Size":"-1"}]}"#;
        assert!(Page::parse(body).is_err());
        let body = br#"{"Contents":[{"Key":"k","Size":1099511627776}]}"#;
        assert_eq!(Page::parse(body).unwrap().objects[0].size, 1 << 40);
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(Page::parse(deep.as_bytes()).is_err());
        let truncated = br#"{"IsTruncated":"true","Contents":[]}"#;
        assert!(Page::parse(truncated).is_err());
    }
}
