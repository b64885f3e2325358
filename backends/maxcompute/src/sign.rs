//! ODPS request signing (spec §2.1): the v2 `Authorization: ODPS <id>:<signature>` scheme, the
//! v4 key derivation, and the STS token header.
//!
//! Everything here is pure: the caller supplies the `Date` header (and so the clock). The
//! canonical string is built exactly as PyODPS `BaseAccount._build_canonical_str` does:
//!
//! ```text
//! METHOD
//! content-md5 value or ""
//! content-type value or ""
//! date value
//! x-odps-name:value ...          (headers and query parameters named x-odps-*, sorted)
//! /resource?k=v&bare&...         (percent-decoded, parameters sorted by key)
//! ```

use std::fmt;

use arrowport_core::{Error, Result};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// Header carrying an STS security token (not part of the canonical string).
pub const STS_TOKEN_HEADER: &str = "authorization-sts-token";

/// The service name in v4 scopes.
const V4_SERVICE: &str = "odps";
/// The terminator in v4 scopes.
const V4_TERMINATOR: &str = "aliyun_v4_request";

/// Access key credentials, with an optional STS token. `Debug` redacts the secret and token.
#[derive(Clone)]
pub struct Credentials {
    access_id: String,
    secret: String,
    sts_token: Option<String>,
}

impl Credentials {
    /// Long-lived access key credentials.
    pub fn new(access_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Credentials {
            access_id: access_id.into(),
            secret: secret.into(),
            sts_token: None,
        }
    }

    /// Adds an STS security token (sent as [`STS_TOKEN_HEADER`]).
    pub fn with_sts_token(mut self, token: impl Into<String>) -> Self {
        self.sts_token = Some(token.into());
        self
    }

    /// The access key id.
    pub fn access_id(&self) -> &str {
        &self.access_id
    }

    /// The STS token, if any.
    pub fn sts_token(&self) -> Option<&str> {
        self.sts_token.as_deref()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_id", &self.access_id)
            .field("secret", &"<redacted>")
            .field("sts_token", &self.sts_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Which signature scheme to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureVersion {
    /// HMAC-SHA1 keyed by the secret itself (used for endpoints without a region).
    V2,
    /// HMAC-SHA1 keyed by a per-day, per-region key derived with HMAC-SHA256.
    V4 {
        /// Region id such as `cn-hangzhou`.
        region: String,
    },
}

/// A request to sign: method, resource relative to the endpoint, query parameters and headers.
///
/// `resource` and the parameters are **decoded** (not percent-encoded). Parameters with an empty
/// value are rendered as a bare key (`?downloads`).
#[derive(Debug, Clone, Default)]
pub struct SignableRequest {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Decoded path relative to the endpoint, e.g. `/projects/p/tables/t`.
    pub resource: String,
    /// Decoded query parameters in any order (for a duplicated key the last one wins).
    pub params: Vec<(String, String)>,
    /// Request headers (names in any case).
    pub headers: Vec<(String, String)>,
}

impl SignableRequest {
    /// Builds a request from the endpoint and the URL actually sent, decoding the path and query
    /// the way PyODPS does (the whole URL is unquoted, then the query is parsed with
    /// `parse_qsl(keep_blank_values=True)`, which unquotes once more and maps `+` to space).
    pub fn from_url(
        method: &str,
        endpoint: &str,
        url: &str,
        headers: Vec<(String, String)>,
    ) -> Result<Self> {
        let endpoint_path = path_of(endpoint);
        let sent_path = if url.contains("://") {
            path_of(url)
        } else {
            url
        };
        let relative = sent_path
            .strip_prefix(endpoint_path.trim_end_matches('/'))
            .ok_or_else(|| {
                Error::config(format!(
                    "URL {url:?} is not under the endpoint {endpoint:?}"
                ))
            })?;
        let decoded = percent_decode(relative, false);
        let (path, query) = match decoded.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (decoded.clone(), None),
        };
        let mut params = Vec::new();
        if let Some(query) = query {
            for part in query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = part.split_once('=').unwrap_or((part, ""));
                params.push((percent_decode(k, true), percent_decode(v, true)));
            }
        }
        Ok(SignableRequest {
            method: method.to_owned(),
            resource: path,
            params,
            headers,
        })
    }

    fn header(&self, lower_name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(lower_name))
            .map(|(_, v)| v.as_str())
    }

    /// The canonical string to sign.
    pub fn canonical_string(&self) -> String {
        // Sorted, de-duplicated parameters (last one wins).
        let mut params: Vec<(&str, &str)> = Vec::with_capacity(self.params.len());
        for (k, v) in &self.params {
            match params.iter_mut().find(|(pk, _)| *pk == k.as_str()) {
                Some(slot) => slot.1 = v.as_str(),
                None => params.push((k.as_str(), v.as_str())),
            }
        }
        params.sort_by(|a, b| a.0.cmp(b.0));

        let mut odps: Vec<(String, &str)> = Vec::new();
        for (k, v) in &self.headers {
            let lower = k.to_ascii_lowercase();
            if lower.starts_with("x-odps") {
                odps.retain(|(name, _)| *name != lower);
                odps.push((lower, v.as_str()));
            }
        }
        for (k, v) in &params {
            if k.starts_with("x-odps-") {
                odps.retain(|(name, _)| name != k);
                odps.push(((*k).to_owned(), v));
            }
        }
        odps.sort_by(|a, b| a.0.cmp(&b.0));

        let mut out = String::with_capacity(256);
        out.push_str(&self.method.to_ascii_uppercase());
        for name in ["content-md5", "content-type", "date"] {
            out.push('\n');
            out.push_str(self.header(name).unwrap_or(""));
        }
        for (k, v) in &odps {
            out.push('\n');
            out.push_str(k);
            out.push(':');
            out.push_str(v);
        }
        out.push('\n');
        out.push_str(&self.resource);
        if !params.is_empty() {
            out.push('?');
            for (i, (k, v)) in params.iter().enumerate() {
                if i > 0 {
                    out.push('&');
                }
                out.push_str(k);
                if !v.is_empty() {
                    out.push('=');
                    out.push_str(v);
                }
            }
        }
        out
    }
}

/// Signs ODPS requests with one set of credentials and one signature version.
#[derive(Debug, Clone)]
pub struct Signer {
    credentials: Credentials,
    version: SignatureVersion,
}

impl Signer {
    /// A signer for `credentials` using `version`.
    pub fn new(credentials: Credentials, version: SignatureVersion) -> Self {
        Signer {
            credentials,
            version,
        }
    }

    /// The `Authorization` value for a canonical string. `date_header` is the request's RFC 1123
    /// `Date` value; v4 derives its key from the UTC day in it.
    pub fn authorization_for(&self, canonical: &str, date_header: &str) -> Result<String> {
        let id = &self.credentials.access_id;
        match &self.version {
            SignatureVersion::V2 => {
                let sig = hmac_sha1(self.credentials.secret.as_bytes(), canonical.as_bytes());
                Ok(format!("ODPS {id}:{}", base64_encode(&sig)))
            }
            SignatureVersion::V4 { region } => {
                let day = utc_day_from_http_date(date_header)?;
                let key = v4_signing_key(&self.credentials.secret, &day, region);
                let sig = hmac_sha1(&key, canonical.as_bytes());
                Ok(format!(
                    "ODPS {id}/{day}/{region}/{V4_SERVICE}/{V4_TERMINATOR}:{}",
                    base64_encode(&sig)
                ))
            }
        }
    }

    /// The headers to add to `request`: `Authorization` and, with an STS token,
    /// [`STS_TOKEN_HEADER`]. The request must already carry its `Date` header.
    pub fn sign(&self, request: &SignableRequest) -> Result<Vec<(&'static str, String)>> {
        let date = request
            .header("date")
            .ok_or_else(|| Error::config("cannot sign an ODPS request without a Date header"))?;
        let mut out = vec![(
            "Authorization",
            self.authorization_for(&request.canonical_string(), date)?,
        )];
        if let Some(token) = &self.credentials.sts_token {
            out.push((STS_TOKEN_HEADER, token.clone()));
        }
        Ok(out)
    }
}

/// HMAC-SHA1 of `data` under `key`.
pub fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The v4 signing key: `HMAC256("aliyun_v4"+secret, yyyymmdd)` → region → `odps` →
/// `aliyun_v4_request`.
pub fn v4_signing_key(secret: &str, utc_yyyymmdd: &str, region: &str) -> [u8; 32] {
    let k_secret = format!("aliyun_v4{secret}");
    let k = hmac_sha256(k_secret.as_bytes(), utc_yyyymmdd.as_bytes());
    let k = hmac_sha256(&k, region.as_bytes());
    let k = hmac_sha256(&k, V4_SERVICE.as_bytes());
    hmac_sha256(&k, V4_TERMINATOR.as_bytes())
}

/// Standard base64 (RFC 4648, with padding).
pub fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(ALPHABET[(n >> 18) as usize & 63] as char);
        out.push(ALPHABET[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// Formats seconds since the Unix epoch as an RFC 1123 `Date` header value
/// (`Thu, 19 Jan 2023 12:34:56 GMT`).
pub fn format_http_date(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The UTC day (`yyyymmdd`) of an RFC 1123 `Date` header value.
pub fn utc_day_from_http_date(date: &str) -> Result<String> {
    let bad = || Error::config(format!("not an RFC 1123 GMT date: {date:?}"));
    let parts: Vec<&str> = date.split_whitespace().collect();
    let [_, day, month, year, _, zone] = parts.as_slice() else {
        return Err(bad());
    };
    if *zone != "GMT" && *zone != "UTC" {
        return Err(bad());
    }
    let day: u32 = day.parse().map_err(|_| bad())?;
    let year: u32 = year.parse().map_err(|_| bad())?;
    let month = MONTHS.iter().position(|m| m == month).ok_or_else(bad)? + 1;
    if !(1..=31).contains(&day) || year > 9999 {
        return Err(bad());
    }
    Ok(format!("{year:04}{month:02}{day:02}"))
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn path_of(url: &str) -> &str {
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            rest.find('/').map_or("", |j| &rest[j..])
        }
        None => url,
    }
}

/// Percent-decodes `s` (invalid escapes are kept literally, as Python's `unquote` does).
fn percent_decode(s: &str, plus_as_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus_as_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(i.as_bytes()), o);
        }
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            format_http_date(1_674_131_696),
            "Thu, 19 Jan 2023 12:34:56 GMT"
        );
        assert_eq!(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            format_http_date(951_782_400),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
        assert_eq!(
            utc_day_from_http_date("Thu, 19 Jan 2023 12:34:56 GMT").unwrap(),
            "20230119"
        );
        assert!(utc_day_from_http_date("2023-01-19").is_err());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%3Db%2C%28%29+%zz%", false), "a=b,()+%zz%");
        assert_eq!(percent_decode("a+b%20c", true), "a b c");
    }

    #[test]
    fn x_odps_params_and_duplicates() {
        let req = SignableRequest {
            method: "get".into(),
            resource: "/projects/p".into(),
            params: vec![
                ("b".into(), "1".into()),
                ("x-odps-z".into(), "q".into()),
                ("b".into(), "2".into()),
            ],
            headers: vec![("X-ODPS-A".into(), "v".into()), ("Date".into(), "D".into())],
        };
        assert_eq!(
            req.canonical_string(),
            "GET\n\n\nD\nx-odps-a:v\nx-odps-z:q\n/projects/p?b=2&x-odps-z=q"
        );
    }

    #[test]
    fn debug_redacts() {
        let c = Credentials::new("id", "very-secret").with_sts_token("tok-secret");
        let s = format!("{c:?}");
        assert!(
            !s.contains("very-secret") && !s.contains("tok-secret"),
            "{s}"
        );
    }
}
