//! TOS native request signing (`TOS4-HMAC-SHA256`): header signing and pre-signed URLs.
//!
//! Reproduces `tos/auth.py` of the official `tos` Python SDK (2.9.3) byte for byte; the test
//! vectors in `shared/testvectors/tos_sign.json` were produced by that SDK. The algorithm is the
//! Volcengine V4 one of [`crate::sign`] with these differences:
//!
//! - algorithm `TOS4-HMAC-SHA256`, service `tos` (scope `YYYYMMDD/region/tos/request`);
//! - header names are matched **case-insensitively** (lowercased first): `content-type`,
//!   `host` and every name starting with `x-tos` are signed; `Range`, `Date`, `User-Agent` are
//!   not;
//! - the method is upper-cased; the query drops `X-Tos-Signature` (any case);
//! - the payload hash (last canonical line) is the value of `x-tos-content-sha256`, which the
//!   SDK sends as `UNSIGNED-PAYLOAD` unless the caller set one: the body is never hashed here;
//! - `Date` and `x-tos-date` both carry the `YYYYMMDDTHHMMSSZ` stamp; only `x-tos-date` is
//!   signed.
//!
//! Pure: no I/O, no clock (the caller passes a [`SigningTime`]).

use std::collections::BTreeMap;
use std::fmt;

use crate::sign::{
    Credentials, SignatureParts, Signed, SigningTime, canonical_headers, encode_path,
    encode_query_component, join_query,
};

/// The algorithm name of TOS signatures.
pub const ALGORITHM: &str = "TOS4-HMAC-SHA256";

/// The service name in the TOS credential scope and key derivation.
pub const SERVICE: &str = "tos";

/// The payload hash the SDK declares (and signs) instead of hashing the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The header carrying the payload hash.
pub const CONTENT_SHA256_HEADER: &str = "x-tos-content-sha256";

/// The SDK's default lifetime of a pre-signed URL, in seconds.
pub const DEFAULT_PRESIGN_EXPIRES_SECS: u64 = 3600;

/// Whether TOS signs a header of this lowercase name.
fn is_signed_header(lower: &str) -> bool {
    lower == "content-type" || lower == "host" || lower.starts_with("x-tos")
}

/// The canonical TOS query: pairs ordered by raw key (stable for repeats), any key whose
/// lowercase form is `x-tos-signature` dropped, key and value encoded with
/// [`encode_query_component`] (`k=` for an empty value), joined with `&`.
pub fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut sorted: Vec<&(&str, &str)> = query
        .iter()
        .filter(|(k, _)| k.to_lowercase() != "x-tos-signature")
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    join_query(sorted.into_iter().map(|&(k, v)| (k, v)))
}

/// A TOS request about to be signed with [`sign_request`]. There is no body: TOS signs the
/// declared `x-tos-content-sha256` instead.
#[derive(Clone, Copy)]
pub struct TosRequest<'a> {
    /// The HTTP method (upper-cased for signing).
    pub method: &'a str,
    /// The raw, unencoded path: `/` + object key, or `/` for bucket operations.
    pub path: &'a str,
    /// Query parameters in order.
    pub query: &'a [(&'a str, &'a str)],
    /// The headers the caller will send. Include `Host` (`{bucket}.{endpoint}`): TOS requires
    /// it to be signed. Headers the signer sets (see [`sign_request`]) are replaced.
    pub headers: &'a [(&'a str, &'a str)],
}

impl fmt::Debug for TosRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TosRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn parts<'a>(
    credentials: &'a Credentials,
    region: &'a str,
    time: &'a SigningTime,
) -> SignatureParts<'a> {
    SignatureParts {
        algorithm: ALGORITHM,
        access_key_id: credentials.access_key_id(),
        secret: credentials.secret_access_key(),
        time,
        // The SDK strips the region it is given.
        region: region.trim(),
        service: SERVICE,
    }
}

/// Signs a TOS request in the `Authorization` header, as `TosClientV2` does.
///
/// The signer sets, in this order and replacing any caller header of the same name (compared
/// case-insensitively): `x-tos-content-sha256: UNSIGNED-PAYLOAD` unless the caller passed an
/// `x-tos-content-sha256`; `x-tos-security-token` with STS credentials; `Date` and
/// `x-tos-date`; then `Authorization`. The SDK adds `User-Agent` afterwards, unsigned.
pub fn sign_request(
    request: &TosRequest<'_>,
    credentials: &Credentials,
    region: &str,
    time: &SigningTime,
) -> Signed {
    let stamp = time.as_str();
    let mut added: Vec<(&'static str, String)> = Vec::with_capacity(5);
    if !request
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(CONTENT_SHA256_HEADER))
    {
        added.push((CONTENT_SHA256_HEADER, UNSIGNED_PAYLOAD.to_owned()));
    }
    if let Some(token) = credentials.session_token() {
        added.push(("x-tos-security-token", token.to_owned()));
    }
    added.push(("Date", stamp.to_owned()));
    added.push(("x-tos-date", stamp.to_owned()));

    // Caller headers first, then ours; a lowercase collision keeps the later value.
    let mut signed: BTreeMap<String, &str> = BTreeMap::new();
    for &(name, value) in request.headers {
        if added.iter().any(|(a, _)| a.eq_ignore_ascii_case(name)) {
            continue;
        }
        let lower = name.to_ascii_lowercase();
        if is_signed_header(&lower) {
            signed.insert(lower, value);
        }
    }
    for (name, value) in &added {
        let lower = name.to_ascii_lowercase();
        if is_signed_header(&lower) {
            signed.insert(lower, value.as_str());
        }
    }
    let payload_hash = signed
        .get(CONTENT_SHA256_HEADER)
        .copied()
        .filter(|v| !v.is_empty())
        .unwrap_or(UNSIGNED_PAYLOAD);
    let (header_block, signed_headers) = canonical_headers(&signed);

    let canonical_request = [
        &request.method.to_ascii_uppercase(),
        &encode_path(request.path),
        &canonical_query(request.query),
        &header_block,
        &signed_headers,
        payload_hash,
    ]
    .join("\n");

    let parts = parts(credentials, region, time);
    let (string_to_sign, signing_key, signature) = parts.sign(&canonical_request);
    added.push((
        "Authorization",
        parts.authorization(&signed_headers, &signature),
    ));

    Signed {
        headers: added,
        canonical_request,
        string_to_sign,
        signing_key,
        signature,
        signed_headers,
    }
}

/// A request to pre-sign with [`presign`]: the signature goes into the URL's query string and
/// only `host` is signed.
#[derive(Clone, Copy, Debug)]
pub struct PresignRequest<'a> {
    /// The HTTP method the URL is for, e.g. `GET`.
    pub method: &'a str,
    /// `https` or `http`.
    pub scheme: &'a str,
    /// `{bucket}.{endpoint}`, exactly as the `Host` header will carry it.
    pub host: &'a str,
    /// The raw, unencoded path: `/` + object key.
    pub path: &'a str,
    /// Extra query parameters in order (e.g. `response-content-type`).
    pub query: &'a [(&'a str, &'a str)],
    /// Lifetime of the URL in seconds ([`DEFAULT_PRESIGN_EXPIRES_SECS`] in the SDK).
    pub expires_secs: u64,
}

/// A pre-signed URL and the intermediates that produced it.
///
/// `Debug` shows neither the URL nor the query (they may carry an STS token) nor the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Presigned {
    url: String,
    query: Vec<(String, String)>,
    canonical_request: String,
    string_to_sign: String,
    signing_key: [u8; 32],
    signature: String,
}

impl Presigned {
    /// The full URL: `scheme://host/encoded-path?query` (query in the SDK's order).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The query parameters of the URL in order, `X-Tos-Signature` last.
    pub fn query(&self) -> &[(String, String)] {
        &self.query
    }

    /// The canonical request.
    pub fn canonical_request(&self) -> &str {
        &self.canonical_request
    }

    /// The string to sign.
    pub fn string_to_sign(&self) -> &str {
        &self.string_to_sign
    }

    /// The derived signing key (a secret).
    pub fn signing_key(&self) -> &[u8; 32] {
        &self.signing_key
    }

    /// The lowercase hex signature (the `X-Tos-Signature` value).
    pub fn signature(&self) -> &str {
        &self.signature
    }
}

impl fmt::Debug for Presigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presigned")
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

/// One `k=v` of the URL the SDK builds (`_param_to_quoted_query`): both sides encoded, except
/// that a parameter with an empty value is written as its key alone, `/` left as is.
fn wire_pair(out: &mut String, key: &str, value: &str) {
    if !out.is_empty() {
        out.push('&');
    }
    if value.is_empty() {
        out.push_str(&encode_path(key));
    } else {
        out.push_str(&encode_query_component(key));
        out.push('=');
        out.push_str(&encode_query_component(value));
    }
}

/// Pre-signs a URL as `TosClientV2.pre_signed_url` does.
///
/// Adds `X-Tos-Algorithm`, `X-Tos-Credential` (`ak/scope`), `X-Tos-Date`, `X-Tos-Expires`,
/// `X-Tos-Security-Token` (STS only) and `X-Tos-SignedHeaders=host` to the caller's query (a
/// caller parameter with one of these exact names is replaced), signs
/// `METHOD / path / canonical query / host:{host}\n / host / UNSIGNED-PAYLOAD` and appends
/// `X-Tos-Signature`.
pub fn presign(
    request: &PresignRequest<'_>,
    credentials: &Credentials,
    region: &str,
    time: &SigningTime,
) -> Presigned {
    let parts = parts(credentials, region, time);
    let credential = format!("{}/{}", credentials.access_key_id(), parts.scope());
    let expires = request.expires_secs.to_string();
    let mut ours: Vec<(&'static str, &str)> = vec![
        ("X-Tos-Algorithm", ALGORITHM),
        ("X-Tos-Credential", &credential),
        ("X-Tos-Date", time.as_str()),
        ("X-Tos-Expires", &expires),
    ];
    if let Some(token) = credentials.session_token() {
        ours.push(("X-Tos-Security-Token", token));
    }
    ours.push(("X-Tos-SignedHeaders", "host"));

    let mut params: Vec<(&str, &str)> = request
        .query
        .iter()
        .filter(|(k, _)| *k != "X-Tos-Signature" && !ours.iter().any(|(o, _)| o == k))
        .copied()
        .collect();
    params.extend(ours.iter().copied());

    let mut signed = BTreeMap::new();
    signed.insert("host".to_owned(), request.host);
    let (header_block, signed_headers) = canonical_headers(&signed);
    let canonical_request = [
        &request.method.to_ascii_uppercase(),
        &encode_path(request.path),
        &canonical_query(&params),
        &header_block,
        &signed_headers,
        UNSIGNED_PAYLOAD,
    ]
    .join("\n");
    let (string_to_sign, signing_key, signature) = parts.sign(&canonical_request);
    params.push(("X-Tos-Signature", &signature));

    let mut wire_query = String::new();
    for &(k, v) in &params {
        wire_pair(&mut wire_query, k, v);
    }
    let url = format!(
        "{}://{}{}?{wire_query}",
        request.scheme,
        request.host,
        encode_path(request.path)
    );
    let query = params
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect();

    Presigned {
        url,
        query,
        canonical_request,
        string_to_sign,
        signing_key,
        signature,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AK: &str = "AKLTZmFrZWFjY2Vzc2tleWlkMDAwMDAwMDAwMDAw";
    const SK: &str = "WmFrZVNlY3JldEtleS9hYmMrZGVmPT0xMjM0NTY3OA==";
    const HOST: &str = "my-bucket.tos-cn-beijing.volces.com";

    fn time() -> SigningTime {
        SigningTime::parse("20240315T080910Z").unwrap()
    }

    fn sign(
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        creds: &Credentials,
    ) -> Signed {
        let req = TosRequest {
            method,
            path,
            query,
            headers,
        };
        sign_request(&req, creds, "cn-beijing", &time())
    }

    fn lines(s: &Signed) -> Vec<&str> {
        s.canonical_request().split('\n').collect()
    }

    #[test]
    fn adds_unsigned_payload_when_absent() {
        let s = sign(
            "GET",
            "/k",
            &[],
            &[("Host", HOST)],
            &Credentials::new(AK, SK),
        );
        assert_eq!(s.header(CONTENT_SHA256_HEADER), Some(UNSIGNED_PAYLOAD));
        let names: Vec<_> = s.headers().iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [CONTENT_SHA256_HEADER, "Date", "x-tos-date", "Authorization"]
        );
        assert_eq!(s.header("Date"), Some("20240315T080910Z"));
        assert_eq!(s.signed_headers(), "host;x-tos-content-sha256;x-tos-date");
        assert_eq!(*lines(&s).last().unwrap(), UNSIGNED_PAYLOAD);
    }

    #[test]
    fn caller_payload_hash_is_kept_and_used_case_insensitively() {
        let hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let s = sign(
            "put",
            "/k",
            &[],
            &[("Host", HOST), ("X-Tos-Content-Sha256", hash)],
            &Credentials::new(AK, SK),
        );
        assert_eq!(s.header(CONTENT_SHA256_HEADER), None);
        assert_eq!(*lines(&s).last().unwrap(), hash);
        assert_eq!(lines(&s)[0], "PUT");
        assert!(
            s.canonical_request()
                .contains(&format!("\nx-tos-content-sha256:{hash}\n"))
        );
        // An empty declared hash falls back to UNSIGNED-PAYLOAD, as `headers.get(...)` does.
        let s = sign(
            "GET",
            "/k",
            &[],
            &[("Host", HOST), ("x-tos-content-sha256", "")],
            &Credentials::new(AK, SK),
        );
        assert_eq!(*lines(&s).last().unwrap(), UNSIGNED_PAYLOAD);
        assert!(s.canonical_request().contains("\nx-tos-content-sha256:\n"));
    }

    #[test]
    fn signed_header_selection_is_case_insensitive() {
        let s = sign(
            "GET",
            "/k",
            &[],
            &[
                ("HOST", HOST),
                ("Content-Type", "text/plain"),
                ("Range", "bytes=0-9"),
                ("User-Agent", "arrowport"),
                ("X-Tos-Meta-A", " v "),
                ("x-amz-date", "no"),
                ("Date", "caller date is replaced"),
                ("X-TOS-DATE", "caller x-tos-date is replaced"),
            ],
            &Credentials::new(AK, SK),
        );
        assert_eq!(
            s.signed_headers(),
            "content-type;host;x-tos-content-sha256;x-tos-date;x-tos-meta-a"
        );
        assert!(s.canonical_request().contains("\nx-tos-meta-a: v \n"));
        assert!(
            s.canonical_request()
                .contains("\nx-tos-date:20240315T080910Z\n")
        );
        assert!(!s.canonical_request().contains("replaced"));
        assert!(!s.canonical_request().contains("bytes="));
    }

    #[test]
    fn sts_token_header_is_set_and_signed() {
        let creds = Credentials::new(AK, SK).with_session_token("STStok");
        let s = sign(
            "GET",
            "/k",
            &[],
            &[("Host", HOST), ("x-tos-security-token", "stale")],
            &creds,
        );
        assert_eq!(s.header("x-tos-security-token"), Some("STStok"));
        assert!(
            s.canonical_request()
                .contains("\nx-tos-security-token:STStok\n")
        );
        assert!(!s.canonical_request().contains("stale"));
        assert_eq!(
            s.signed_headers(),
            "host;x-tos-content-sha256;x-tos-date;x-tos-security-token"
        );
    }

    #[test]
    fn query_drops_signature_and_encodes_empty_values() {
        assert_eq!(
            canonical_query(&[
                ("prefix", "a b/"),
                ("X-Tos-Signature", "x"),
                ("x-tos-signature", "y"),
                ("delimiter", ""),
                ("continuation-token", "a+b/c="),
            ]),
            "continuation-token=a%2Bb%2Fc%3D&delimiter=&prefix=a%20b%2F"
        );
    }

    #[test]
    fn utf8_key_path_and_region_trim() {
        let creds = Credentials::new(AK, SK);
        let req = TosRequest {
            method: "GET",
            path: "/数据 file+1~v.parquet",
            query: &[],
            headers: &[("Host", HOST)],
        };
        let a = sign_request(&req, &creds, " cn-beijing ", &time());
        let b = sign_request(&req, &creds, "cn-beijing", &time());
        assert_eq!(a, b);
        assert_eq!(lines(&a)[1], "/%E6%95%B0%E6%8D%AE%20file%2B1~v.parquet");
        assert!(a.authorization().starts_with(
            "TOS4-HMAC-SHA256 Credential=AKLTZmFrZWFjY2Vzc2tleWlkMDAwMDAwMDAwMDAw/20240315/cn-beijing/tos/request, SignedHeaders="
        ));
    }

    #[test]
    fn presign_with_sts_and_extra_params() {
        let creds = Credentials::new(AK, SK).with_session_token("S/T+S=");
        let req = PresignRequest {
            method: "GET",
            scheme: "https",
            host: HOST,
            path: "/a b/k.parquet",
            query: &[
                ("response-content-type", "text/plain"),
                ("flag", ""),
                ("X-Tos-Expires", "1"),
            ],
            expires_secs: 600,
        };
        let p = presign(&req, &creds, "cn-beijing", &time());
        assert_eq!(
            lines_of(p.canonical_request())[2],
            "X-Tos-Algorithm=TOS4-HMAC-SHA256\
             &X-Tos-Credential=AKLTZmFrZWFjY2Vzc2tleWlkMDAwMDAwMDAwMDAw%2F20240315%2Fcn-beijing%2Ftos%2Frequest\
             &X-Tos-Date=20240315T080910Z&X-Tos-Expires=600\
             &X-Tos-Security-Token=S%2FT%2BS%3D&X-Tos-SignedHeaders=host\
             &flag=&response-content-type=text%2Fplain"
        );
        assert_eq!(
            p.url(),
            format!(
                "https://{HOST}/a%20b/k.parquet?response-content-type=text%2Fplain&flag\
                 &X-Tos-Algorithm=TOS4-HMAC-SHA256\
                 &X-Tos-Credential=AKLTZmFrZWFjY2Vzc2tleWlkMDAwMDAwMDAwMDAw%2F20240315%2Fcn-beijing%2Ftos%2Frequest\
                 &X-Tos-Date=20240315T080910Z&X-Tos-Expires=600\
                 &X-Tos-Security-Token=S%2FT%2BS%3D&X-Tos-SignedHeaders=host&X-Tos-Signature={}",
                p.signature()
            )
        );
        assert_eq!(
            p.query().last().unwrap(),
            &("X-Tos-Signature".to_owned(), p.signature().to_owned())
        );
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("S/T+S=") && !dbg.contains("S%2FT"), "{dbg}");
    }

    fn lines_of(s: &str) -> Vec<&str> {
        s.split('\n').collect()
    }
}
