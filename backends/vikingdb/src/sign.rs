//! Volcengine OpenAPI request signing ("SignerV4", algorithm `HMAC-SHA256`).
//!
//! This is the signature every VikingDB API family uses: the legacy task and collection API
//! (`api-vikingdb.volces.com`, service `air`), the new data plane (service `vikingdb`, no `Host`
//! in the signed set) and the V2 control plane (`?Action=…&Version=…`). It reproduces
//! `volcengine/auth/SignerV4.py` of the official Python SDK byte for byte; the test vectors in
//! `shared/testvectors/volc_signv4.json` were produced by that SDK.
//!
//! The module is pure: no I/O and no clock. The caller passes the time as a [`SigningTime`]
//! (from [`SigningTime::from_system_time`]`(SystemTime::now())` in production, or parsed from
//! an `X-Date` string in tests) and gets back a [`Signed`] value holding the headers to set
//! plus every intermediate step of the algorithm.
//!
//! The primitives shared with the TOS signer ([`derive_signing_key`], [`hmac_sha256`],
//! [`sha256_hex`], [`encode_path`], [`encode_query_component`], [`Credentials`],
//! [`SigningTime`], [`Signed`]) live here too.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use arrowport_core::{Error, ErrorKind, Result};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name that starts the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "HMAC-SHA256";

/// The `Content-Type` the SDK adds (and signs) on a non-GET request that has none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// The literal that terminates every credential scope and the last step of key derivation.
pub const SCOPE_TERMINATOR: &str = "request";

// ---------------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------------

/// An access key pair, with the session token of temporary (STS) credentials.
///
/// `Debug` prints no part of the keys or the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl Credentials {
    /// Long-term credentials: an access key id (`AK…`) and its secret.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }

    /// Adds the session token of temporary (STS) credentials. An empty token means none, as in
    /// the SDKs (`session_token != ''`).
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.session_token = (!token.is_empty()).then_some(token);
        self
    }

    /// The access key id, as it appears in the `Credential=` part of `Authorization`.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret access key. Never log it.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The STS session token, if any. Never log it.
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &"<redacted>")
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

/// A signing timestamp in the `YYYYMMDDTHHMMSSZ` (UTC) form of `X-Date` and `x-tos-date`.
///
/// Always valid: years 0000–9999, real calendar dates, `HH < 24`, `MM < 60`, `SS < 60`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SigningTime {
    stamp: String,
}

impl SigningTime {
    /// Parses `YYYYMMDDTHHMMSSZ`, e.g. `20240315T080910Z`.
    pub fn parse(stamp: &str) -> Result<Self> {
        let bad = || {
            Error::new(
                ErrorKind::Unexpected,
                format!("invalid signing time `{stamp}`: expected YYYYMMDDTHHMMSSZ (UTC)"),
            )
        };
        let b = stamp.as_bytes();
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
            return Err(bad());
        }
        let num = |range: std::ops::Range<usize>| -> Option<u32> {
            b[range].iter().try_fold(0u32, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
            })
        };
        let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
            num(0..4),
            num(4..6),
            num(6..8),
            num(9..11),
            num(11..13),
            num(13..15),
        ) else {
            return Err(bad());
        };
        let valid = (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(i64::from(year), month)
            && hour < 24
            && minute < 60
            && second < 60;
        if !valid {
            return Err(bad());
        }
        Ok(SigningTime {
            stamp: stamp.to_owned(),
        })
    }

    /// The time `secs` seconds after 1970-01-01T00:00:00Z (negative: before).
    pub fn from_unix_seconds(secs: i64) -> Result<Self> {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("signing time {secs}s from the Unix epoch is outside years 0000-9999"),
            ));
        }
        let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
        Ok(SigningTime {
            stamp: format!("{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}Z"),
        })
    }

    /// Converts a clock reading (whole seconds, rounded down), e.g. `SystemTime::now()`.
    pub fn from_system_time(time: SystemTime) -> Result<Self> {
        let secs = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_secs()).ok(),
            Err(before) => {
                let before = before.duration();
                i64::try_from(before.as_secs()).ok().map(|s| {
                    // Round towards the past, like the positive branch does.
                    if before.subsec_nanos() > 0 {
                        -s - 1
                    } else {
                        -s
                    }
                })
            }
        };
        let secs = secs
            .ok_or_else(|| Error::new(ErrorKind::Unexpected, "the system clock is out of range"))?;
        Self::from_unix_seconds(secs)
    }

    /// The full stamp, `YYYYMMDDTHHMMSSZ`.
    pub fn as_str(&self) -> &str {
        &self.stamp
    }

    /// The date part, `YYYYMMDD`, used in the credential scope and the key derivation.
    pub fn date(&self) -> &str {
        &self.stamp[..8]
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix_seconds(&self) -> i64 {
        let n = |r: std::ops::Range<usize>| -> i64 {
            self.stamp[r]
                .bytes()
                .fold(0, |acc, c| acc * 10 + i64::from(c - b'0'))
        };
        let days = days_from_civil(n(0..4), n(4..6) as u32, n(6..8) as u32);
        days * 86_400 + n(9..11) * 3600 + n(11..13) * 60 + n(13..15)
    }
}

impl fmt::Display for SigningTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.stamp)
    }
}

impl fmt::Debug for SigningTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningTime({})", self.stamp)
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Proleptic Gregorian (year, month, day) of the day `days` after 1970-01-01
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to the proleptic Gregorian date (inverse of [`civil_from_days`]).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = i64::from(if month > 2 { month - 3 } else { month + 9 }); // [0, 11]
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

// ---------------------------------------------------------------------------------------------
// Primitives
// ---------------------------------------------------------------------------------------------

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The V4 signing key: `HMAC(HMAC(HMAC(HMAC(secret, date), region), service), "request")`.
///
/// The secret is used raw (no `AWS4`-style prefix); `date` is `YYYYMMDD`.
pub fn derive_signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(secret.as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, SCOPE_TERMINATOR.as_bytes())
}

/// Percent-encodes every byte of the UTF-8 form of `s` except `A-Za-z0-9-_.~` (and `/` when
/// `keep_slash`), with uppercase hex: Python's `quote(s, safe='/' or '')`.
fn percent_encode(s: &str, keep_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// The canonical (and wire) form of a raw, unencoded path: every byte except `A-Za-z0-9-_.~/`
/// becomes `%XX` (Python `quote(path)`, which is also TOS's `quote(path, safe='/~')`).
///
/// The path must not be encoded already: `%` itself is encoded to `%25`.
pub fn encode_path(path: &str) -> String {
    percent_encode(path, true)
}

/// Encodes one query key or value: every byte except `A-Za-z0-9-_.~` becomes `%XX`, so a space
/// is `%20` (never `+`) and `/` is `%2F`.
pub fn encode_query_component(s: &str) -> String {
    percent_encode(s, false)
}

/// The canonical query string of §1: pairs ordered by raw key (stable, so repeated keys keep
/// their order, which is how the SDK emits list values), key and value each encoded with
/// [`encode_query_component`], joined with `&`. No pairs give an empty string.
///
/// It is also a valid wire query: the server canonicalises again, so a client may send it.
pub fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut sorted: Vec<&(&str, &str)> = query.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    join_query(sorted.into_iter().map(|&(k, v)| (k, v)))
}

/// `k=v&k=v…` with both sides encoded, in the given order.
pub(crate) fn join_query<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode_query_component(k));
        out.push('=');
        out.push_str(&encode_query_component(v));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------------------

/// A request about to be signed with [`sign_request`].
///
/// Header names are compared **case-sensitively**, as the SDK does: only `Content-Type`,
/// `Content-Md5`, `Host` and names starting with `X-` are signed, so pass them in that
/// capitalisation (`content-type` would be sent but not signed). Values are signed verbatim.
#[derive(Clone, Copy)]
pub struct OpenApiRequest<'a> {
    /// The HTTP method as sent, e.g. `POST` (not upper-cased by the signer).
    pub method: &'a str,
    /// The raw, unencoded path, e.g. `/api/task/create`; empty means `/`.
    pub path: &'a str,
    /// Query parameters in order; a repeated key is a list value.
    pub query: &'a [(&'a str, &'a str)],
    /// The headers the caller will send (e.g. `Content-Type`, `Host`, `Accept`, `User-Agent`),
    /// excluding those the signer sets (see [`Signed::headers`]).
    pub headers: &'a [(&'a str, &'a str)],
    /// The exact body bytes that will be sent (empty for none).
    pub body: &'a [u8],
}

impl fmt::Debug for OpenApiRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenApiRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// The outcome of signing: the headers to set, and every intermediate for tests and debugging.
///
/// `Debug` shows only the signed header names and the signature: the canonical request and the
/// header values may carry an STS token, and the signing key is a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed {
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) canonical_request: String,
    pub(crate) string_to_sign: String,
    pub(crate) signing_key: [u8; 32],
    pub(crate) signature: String,
    pub(crate) signed_headers: String,
}

impl Signed {
    /// The headers the signer sets, in the order the SDK adds them. Each replaces any header
    /// of the same name the caller passed; the last one is always `Authorization`.
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// Consumes the result, keeping only [`Signed::headers`].
    pub fn into_headers(self) -> Vec<(&'static str, String)> {
        self.headers
    }

    /// The value of one header the signer sets (exact name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `Authorization` header value.
    pub fn authorization(&self) -> &str {
        self.header("Authorization")
            .expect("the signer always sets Authorization")
    }

    /// The canonical request (lines joined by `\n`).
    pub fn canonical_request(&self) -> &str {
        &self.canonical_request
    }

    /// The string to sign: algorithm, time, scope and hex SHA-256 of the canonical request.
    pub fn string_to_sign(&self) -> &str {
        &self.string_to_sign
    }

    /// The derived signing key (a secret for one day, region and service).
    pub fn signing_key(&self) -> &[u8; 32] {
        &self.signing_key
    }

    /// The lowercase hex signature.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The `;`-joined, sorted, lowercase names of the signed headers.
    pub fn signed_headers(&self) -> &str {
        &self.signed_headers
    }
}

impl fmt::Debug for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("signed_headers", &self.signed_headers)
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

/// What both signers produce once the canonical headers are known.
pub(crate) struct SignatureParts<'a> {
    pub algorithm: &'a str,
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub time: &'a SigningTime,
    pub region: &'a str,
    pub service: &'a str,
}

impl SignatureParts<'_> {
    /// `date/region/service/request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{SCOPE_TERMINATOR}",
            self.time.date(),
            self.region,
            self.service
        )
    }

    /// Canonical request → (string to sign, signing key, signature).
    pub fn sign(&self, canonical_request: &str) -> (String, [u8; 32], String) {
        let string_to_sign = format!(
            "{}\n{}\n{}\n{}",
            self.algorithm,
            self.time.as_str(),
            self.scope(),
            sha256_hex(canonical_request.as_bytes())
        );
        let key = derive_signing_key(self.secret, self.time.date(), self.region, self.service);
        let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
        (string_to_sign, key, signature)
    }

    /// `ALG Credential=ak/scope, SignedHeaders=a;b, Signature=hex` (comma and space between).
    pub fn authorization(&self, signed_headers: &str, signature: &str) -> String {
        format!(
            "{} Credential={}/{}, SignedHeaders={signed_headers}, Signature={signature}",
            self.algorithm,
            self.access_key_id,
            self.scope()
        )
    }
}

/// `name:value\n` per header, then the `;`-joined names. The map is sorted by lowercase name.
pub(crate) fn canonical_headers(signed: &BTreeMap<String, &str>) -> (String, String) {
    let mut block = String::new();
    for (name, value) in signed {
        block.push_str(name);
        block.push(':');
        block.push_str(value);
        block.push('\n');
    }
    let names = signed
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(";");
    (block, names)
}

/// Whether the SDK signs a header of this (case-sensitive, caller-side) name.
fn is_signed_header(name: &str) -> bool {
    matches!(name, "Content-Type" | "Content-Md5" | "Host") || name.starts_with("X-")
}

/// The value the SDK signs for `Host`: a port of exactly `80` or `443` after the first `:` is
/// dropped (`host.split(':')[1] in ('80', '443')`); any other port stays.
fn signed_host(value: &str) -> &str {
    let mut parts = value.split(':');
    match (parts.next(), parts.next()) {
        (Some(host), Some("80" | "443")) => host,
        _ => value,
    }
}

/// Signs a Volcengine OpenAPI request with `HMAC-SHA256` (SignerV4), as the Python SDK does:
///
/// 1. an empty path becomes `/`; a non-`GET` request without a `Content-Type` header gets
///    [`DEFAULT_CONTENT_TYPE`];
/// 2. `X-Date` is set to `time`, `X-Security-Token` to the STS token (if any) and
///    `X-Content-Sha256` to the hex SHA-256 of the body (always, even when empty);
/// 3. `Content-Type`, `Content-Md5`, `Host` and `X-*` headers are signed under lowercase names,
///    with a `:80`/`:443` port removed from `Host`;
/// 4. the scope is `YYYYMMDD/region/service/request`.
///
/// The returned [`Signed::headers`] are those of step 1–2 plus `Authorization`.
pub fn sign_request(
    request: &OpenApiRequest<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    time: &SigningTime,
) -> Signed {
    let path = if request.path.is_empty() {
        "/"
    } else {
        request.path
    };
    let body_hash = sha256_hex(request.body);

    let mut added: Vec<(&'static str, String)> = Vec::with_capacity(5);
    if request.method != "GET" && !request.headers.iter().any(|(n, _)| *n == "Content-Type") {
        added.push(("Content-Type", DEFAULT_CONTENT_TYPE.to_owned()));
    }
    added.push(("X-Date", time.as_str().to_owned()));
    if let Some(token) = credentials.session_token() {
        added.push(("X-Security-Token", token.to_owned()));
    }
    added.push(("X-Content-Sha256", body_hash.clone()));

    // Caller headers first, then ours: a lowercase collision keeps the later value, as the
    // SDK's dict does; a header we set replaces the caller's of the same exact name.
    let mut signed: BTreeMap<String, &str> = BTreeMap::new();
    for &(name, value) in request.headers {
        if is_signed_header(name) && !added.iter().any(|(a, _)| *a == name) {
            signed.insert(name.to_ascii_lowercase(), value);
        }
    }
    for (name, value) in &added {
        signed.insert(name.to_ascii_lowercase(), value.as_str());
    }
    if let Some(host) = signed.get("host").copied() {
        signed.insert("host".to_owned(), signed_host(host));
    }
    let (header_block, signed_headers) = canonical_headers(&signed);

    let canonical_request = [
        request.method,
        &encode_path(path),
        &canonical_query(request.query),
        &header_block,
        &signed_headers,
        &body_hash,
    ]
    .join("\n");

    let parts = SignatureParts {
        algorithm: ALGORITHM,
        access_key_id: credentials.access_key_id(),
        secret: credentials.secret_access_key(),
        time,
        region,
        service,
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    const AK: &str = "AKLTZmFrZWFjY2Vzc2tleWlkMDAwMDAwMDAwMDAw";
    const SK: &str = "WmFrZVNlY3JldEtleS9hYmMrZGVmPT0xMjM0NTY3OA==";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn time() -> SigningTime {
        SigningTime::parse("20240315T080910Z").unwrap()
    }

    fn sign(
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
        creds: &Credentials,
    ) -> Signed {
        let req = OpenApiRequest {
            method,
            path,
            query,
            headers,
            body,
        };
        sign_request(&req, creds, "cn-north-1", "air", &time())
    }

    fn lines(s: &Signed) -> Vec<&str> {
        s.canonical_request().split('\n').collect()
    }

    #[test]
    fn time_parse_and_accessors() {
        let t = time();
        assert_eq!(t.as_str(), "20240315T080910Z");
        assert_eq!(t.date(), "20240315");
        assert_eq!(t.to_string(), "20240315T080910Z");
        assert_eq!(format!("{t:?}"), "SigningTime(20240315T080910Z)");
        assert_eq!(t.unix_seconds(), 1_710_490_150);
        assert_eq!(SigningTime::from_unix_seconds(1_710_490_150).unwrap(), t);
    }

    #[test]
    fn time_rejects_malformed() {
        for bad in [
            "",
            "20240315T080910",
            "20240315 080910Z",
            "20240315T080910z",
            "2024031AT080910Z",
            "20241315T080910Z",
            "20240015T080910Z",
            "20240230T080910Z",
            "20230229T080910Z",
            "20240315T240910Z",
            "20240315T086010Z",
            "20240315T080960Z",
            "+0240315T080910Z",
            "20240315T080910ZZ",
        ] {
            let err = SigningTime::parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unexpected, "{bad}");
        }
        assert!(SigningTime::parse("20240229T235959Z").is_ok());
        assert!(SigningTime::parse("20000229T000000Z").is_ok());
        assert!(SigningTime::parse("19000229T000000Z").is_err());
    }

    #[test]
    fn time_from_unix_seconds_known_points() {
        let cases = [
            (0, "19700101T000000Z"),
            (-1, "19691231T235959Z"),
            (951_782_400, "20000229T000000Z"),
            (951_868_799, "20000229T235959Z"),
            (4_107_542_400, "21000301T000000Z"),
            (253_402_300_799, "99991231T235959Z"),
            (-62_167_219_200, "00000101T000000Z"),
        ];
        for (secs, stamp) in cases {
            let t = SigningTime::from_unix_seconds(secs).unwrap();
            assert_eq!(t.as_str(), stamp, "{secs}");
            assert_eq!(t.unix_seconds(), secs, "{stamp}");
            assert_eq!(SigningTime::parse(stamp).unwrap(), t);
        }
        assert!(SigningTime::from_unix_seconds(253_402_300_800).is_err());
        assert!(SigningTime::from_unix_seconds(-62_167_219_201).is_err());
        assert!(SigningTime::from_unix_seconds(i64::MAX).is_err());
        assert!(SigningTime::from_unix_seconds(i64::MIN).is_err());
    }

    #[test]
    fn time_round_trips_every_day_of_several_centuries() {
        // 1900-01-01 .. 2100-12-31, one sample second per day.
        let start = days_from_civil(1900, 1, 1);
        let end = days_from_civil(2100, 12, 31);
        let mut expected = (1900, 1, 1);
        for day in start..=end {
            assert_eq!(civil_from_days(day), expected);
            assert_eq!(days_from_civil(expected.0, expected.1, expected.2), day);
            let secs = day * 86_400 + 12 * 3600 + 34 * 60 + 56;
            let t = SigningTime::from_unix_seconds(secs).unwrap();
            assert_eq!(t.unix_seconds(), secs);
            assert_eq!(&t.as_str()[8..], "T123456Z");
            // Next calendar day.
            expected.2 += 1;
            if expected.2 > days_in_month(expected.0, expected.1) {
                expected.2 = 1;
                expected.1 += 1;
                if expected.1 > 12 {
                    expected.1 = 1;
                    expected.0 += 1;
                }
            }
        }
    }

    #[test]
    fn time_from_system_time() {
        use std::time::Duration;
        let t = UNIX_EPOCH + Duration::new(1_710_490_150, 999_999_999);
        assert_eq!(
            SigningTime::from_system_time(t).unwrap().as_str(),
            "20240315T080910Z"
        );
        let before = UNIX_EPOCH - Duration::new(0, 1);
        assert_eq!(
            SigningTime::from_system_time(before).unwrap().as_str(),
            "19691231T235959Z"
        );
        let before = UNIX_EPOCH - Duration::from_secs(86_400);
        assert_eq!(
            SigningTime::from_system_time(before).unwrap().as_str(),
            "19691231T000000Z"
        );
        assert!(SigningTime::from_system_time(SystemTime::now()).is_ok());
    }

    #[test]
    fn credentials_debug_redacts() {
        let c = Credentials::new(AK, SK).with_session_token("STS-secret-token");
        let s = format!("{c:?}");
        assert!(
            !s.contains(AK) && !s.contains(SK) && !s.contains("STS-secret-token"),
            "{s}"
        );
        assert_eq!(c.session_token(), Some("STS-secret-token"));
        assert_eq!(
            Credentials::new(AK, SK)
                .with_session_token("")
                .session_token(),
            None
        );
    }

    #[test]
    fn signed_debug_hides_token_and_key() {
        let creds = Credentials::new(AK, SK).with_session_token("STS-secret-token");
        let s = sign("GET", "/", &[], &[("Host", "h")], b"", &creds);
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("STS-secret-token"), "{dbg}");
        assert!(!dbg.contains(&hex::encode(s.signing_key())), "{dbg}");
        assert!(dbg.contains(s.signature()));
        let req = OpenApiRequest {
            method: "GET",
            path: "/",
            query: &[],
            headers: &[("X-Security-Token", "STS-secret-token")],
            body: b"secret body",
        };
        let dbg = format!("{req:?}");
        assert!(
            !dbg.contains("STS-secret-token") && !dbg.contains("secret body"),
            "{dbg}"
        );
    }

    #[test]
    fn percent_encoding_sets() {
        assert_eq!(encode_query_component("aZ09-_.~"), "aZ09-_.~");
        assert_eq!(
            encode_query_component(" /+*=&%?#!'()"),
            "%20%2F%2B%2A%3D%26%25%3F%23%21%27%28%29"
        );
        assert_eq!(encode_query_component("ü"), "%C3%BC");
        assert_eq!(encode_path("/a b/ü/~x_y.z-"), "/a%20b/%C3%BC/~x_y.z-");
        assert_eq!(encode_path("/k+1%2F"), "/k%2B1%252F");
        assert_eq!(encode_path("/数据"), "/%E6%95%B0%E6%8D%AE");
    }

    #[test]
    fn canonical_query_orders_by_raw_key_and_keeps_list_order() {
        assert_eq!(canonical_query(&[]), "");
        assert_eq!(
            canonical_query(&[
                ("z", "b v"),
                ("collection_name", "c1"),
                ("z", "a/v"),
                ("A", "Upper"),
                ("empty", ""),
            ]),
            "A=Upper&collection_name=c1&empty=&z=b%20v&z=a%2Fv"
        );
        // Raw-key order (code points), not encoded order: '~' (0x7E) sorts after 'z',
        // ' ' (0x20) before '-' (0x2D).
        assert_eq!(
            canonical_query(&[("~k", "1"), ("zk", "2"), (" k", "3"), ("-k", "4")]),
            "%20k=3&-k=4&zk=2&~k=1"
        );
    }

    #[test]
    fn empty_body_get_signs_empty_hash_and_no_default_content_type() {
        let s = sign(
            "GET",
            "/api/viking_db/data/ping",
            &[],
            &[("Host", "api-vikingdb.volces.com")],
            b"",
            &Credentials::new(AK, SK),
        );
        assert_eq!(s.header("X-Content-Sha256"), Some(EMPTY_SHA256));
        assert_eq!(s.header("Content-Type"), None);
        assert_eq!(s.signed_headers(), "host;x-content-sha256;x-date");
        assert_eq!(*lines(&s).last().unwrap(), EMPTY_SHA256);
        let names: Vec<_> = s.headers().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["X-Date", "X-Content-Sha256", "Authorization"]);
    }

    #[test]
    fn default_content_type_only_for_non_get_without_exact_name() {
        let creds = Credentials::new(AK, SK);
        let s = sign("POST", "/x", &[], &[], b"", &creds);
        assert_eq!(s.header("Content-Type"), Some(DEFAULT_CONTENT_TYPE));
        assert_eq!(s.signed_headers(), "content-type;x-content-sha256;x-date");
        let s = sign(
            "POST",
            "/x",
            &[],
            &[("Content-Type", "application/json")],
            b"{}",
            &creds,
        );
        assert_eq!(s.header("Content-Type"), None);
        assert!(
            s.canonical_request()
                .contains("\ncontent-type:application/json\n")
        );
        // The SDK's check is case-sensitive: a lowercase name neither counts nor is signed.
        let s = sign(
            "POST",
            "/x",
            &[],
            &[("content-type", "application/json")],
            b"{}",
            &creds,
        );
        assert_eq!(s.header("Content-Type"), Some(DEFAULT_CONTENT_TYPE));
        assert!(!s.canonical_request().contains("application/json"));
        // The method is compared as given.
        let s = sign("get", "/x", &[], &[], b"", &creds);
        assert_eq!(s.header("Content-Type"), Some(DEFAULT_CONTENT_TYPE));
    }

    #[test]
    fn only_sdk_header_names_are_signed_verbatim() {
        let s = sign(
            "POST",
            "/x",
            &[],
            &[
                ("Accept", "application/json"),
                ("User-Agent", "arrowport"),
                ("Content-Type", "application/json"),
                ("Content-Md5", "abc=="),
                ("Host", "h.example.com"),
                ("X-Custom", "  spaced  value "),
                ("x-lower", "not signed"),
                ("Content-Length", "2"),
            ],
            b"{}",
            &Credentials::new(AK, SK),
        );
        assert_eq!(
            s.signed_headers(),
            "content-md5;content-type;host;x-content-sha256;x-custom;x-date"
        );
        assert!(
            s.canonical_request()
                .contains("\nx-custom:  spaced  value \n")
        );
    }

    #[test]
    fn signer_headers_replace_caller_ones() {
        let s = sign(
            "GET",
            "/",
            &[],
            &[
                ("X-Date", "19990101T000000Z"),
                ("X-Content-Sha256", "bogus"),
            ],
            b"",
            &Credentials::new(AK, SK),
        );
        assert!(s.canonical_request().contains("\nx-content-sha256:e3b0"));
        assert!(
            s.canonical_request()
                .contains("\nx-date:20240315T080910Z\n")
        );
        assert!(!s.canonical_request().contains("bogus"));
    }

    #[test]
    fn host_ports_80_and_443_are_stripped_others_kept() {
        let creds = Credentials::new(AK, SK);
        for (host, signed) in [
            ("h.example.com", "h.example.com"),
            ("h.example.com:80", "h.example.com"),
            ("h.example.com:443", "h.example.com"),
            ("h.example.com:8080", "h.example.com:8080"),
            ("h.example.com:4433", "h.example.com:4433"),
            ("127.0.0.1:443", "127.0.0.1"),
            // The SDK looks at the text after the first ':' only.
            ("[::1]:443", "[::1]:443"),
        ] {
            let s = sign("GET", "/", &[], &[("Host", host)], b"", &creds);
            assert!(
                s.canonical_request()
                    .contains(&format!("\nhost:{signed}\n")),
                "{host}: {}",
                s.canonical_request()
            );
        }
    }

    #[test]
    fn list_query_values() {
        let s = sign(
            "GET",
            "/api/index/list",
            &[
                ("z", "b v"),
                ("collection_name", "c1"),
                ("A", "Upper"),
                ("z", "a/v"),
            ],
            &[],
            b"",
            &Credentials::new(AK, SK),
        );
        assert_eq!(lines(&s)[2], "A=Upper&collection_name=c1&z=b%20v&z=a%2Fv");
    }

    #[test]
    fn utf8_path_and_empty_path() {
        let creds = Credentials::new(AK, SK);
        let s = sign("GET", "/api/some path/ü/向量", &[], &[], b"", &creds);
        assert_eq!(lines(&s)[1], "/api/some%20path/%C3%BC/%E5%90%91%E9%87%8F");
        let s = sign("GET", "", &[], &[], b"", &creds);
        assert_eq!(lines(&s)[1], "/");
    }

    #[test]
    fn sts_token_is_set_and_signed() {
        let creds = Credentials::new(AK, SK).with_session_token("STStoken==");
        let s = sign(
            "POST",
            "/x",
            &[],
            &[("Content-Type", "application/json")],
            b"{}",
            &creds,
        );
        assert_eq!(s.header("X-Security-Token"), Some("STStoken=="));
        assert_eq!(
            s.signed_headers(),
            "content-type;x-content-sha256;x-date;x-security-token"
        );
        assert!(
            s.canonical_request()
                .contains("\nx-security-token:STStoken==\n")
        );
        let names: Vec<_> = s.headers().iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "X-Date",
                "X-Security-Token",
                "X-Content-Sha256",
                "Authorization"
            ]
        );
        let without = sign(
            "POST",
            "/x",
            &[],
            &[("Content-Type", "application/json")],
            b"{}",
            &Credentials::new(AK, SK),
        );
        assert_ne!(without.signature(), s.signature());
        assert_eq!(without.header("X-Security-Token"), None);
    }

    #[test]
    fn authorization_shape_and_key_derivation() {
        let s = sign("GET", "/", &[], &[], b"", &Credentials::new(AK, SK));
        assert_eq!(
            s.authorization(),
            format!(
                "HMAC-SHA256 Credential={AK}/20240315/cn-north-1/air/request, \
                 SignedHeaders=x-content-sha256;x-date, Signature={}",
                s.signature()
            )
        );
        assert_eq!(
            hex::encode(s.signing_key()),
            "88d0a643a6bac282f6f2b2f234bb03141a8631a5dc7e262adfde7897055f6119"
        );
        assert_eq!(
            s.string_to_sign(),
            format!(
                "HMAC-SHA256\n20240315T080910Z\n20240315/cn-north-1/air/request\n{}",
                sha256_hex(s.canonical_request().as_bytes())
            )
        );
        // The canonical headers block ends with an empty line before the names.
        assert!(
            s.canonical_request()
                .contains("\n\nx-content-sha256;x-date\n")
        );
    }
}
