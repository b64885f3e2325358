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
            let page: Value = retry(cx, |_| async {
                let response = self
                    .send(Method::GET, bucket, None, &query, None, "list objects")
                    .await?;
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| transport_error("TOS list objects", e))?;
                serde_json::from_slice(&bytes)
                    .map_err(|_| malformed("TOS list objects", "the body is not JSON"))
            })
            .await
            .map_err(|e| {
                e.with_context("bucket", bucket)
                    .with_context("prefix", prefix)
            })?;
            for item in page
                .get("Contents")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                objects.push(ObjectInfo::from_json(item)?);
            }
            let truncated = page
                .get("IsTruncated")
                .is_some_and(|t| t.as_bool() == Some(true) || t.as_str() == Some("true"));
            let next = page
                .get("NextContinuationToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty());
            match (truncated, next) {
                (false, _) => return Ok(objects),
                (true, Some(next)) if token.as_deref() != Some(next) => {
                    token = Some(next.to_string())
                }
                (true, _) => {
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
        let request_id = response
            .headers()
            .get("x-tos-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
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
