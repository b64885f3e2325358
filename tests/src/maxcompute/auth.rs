//! Server-side verification of ODPS request signatures (spec §2.1), for both services.
//!
//! The canonical string is rebuilt from what arrived: method; the values of `content-md5`,
//! `content-type` and `date`; every `x-odps-*` header and query parameter as `name:value`,
//! sorted; and the resource: the percent-decoded path relative to the endpoint (the meta
//! API's `/api` stripped, the tunnel's path whole) plus the decoded query sorted by key, bare
//! keys for empty values. v2 signs it with HMAC-SHA1 under the secret; v4 with HMAC-SHA1
//! under a key derived by an HMAC-SHA256 chain over day, region, `odps` and
//! `aliyun_v4_request`. An `authorization-sts-token` header is accepted as it is.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use hyper::HeaderMap;
use sha1::Sha1;
use sha2::Sha256;

/// A request as it arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received<'a> {
    pub(crate) method: &'a str,
    /// The path as on the request line, still percent-encoded.
    pub(crate) path: &'a str,
    /// The raw query, without `?`.
    pub(crate) query: &'a str,
    pub(crate) headers: &'a HeaderMap,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// No or malformed credentials, or an access id the service does not know.
    Unauthorized(String),
    /// Well-formed credentials whose signature (or v4 scope) does not match.
    Mismatch(String),
}

impl Rejection {
    pub(crate) fn message(&self) -> &str {
        match self {
            Rejection::Unauthorized(m) | Rejection::Mismatch(m) => m,
        }
    }
}

/// The credentials and region both services accept.
#[derive(Debug, Clone)]
pub(crate) struct Verifier {
    pub(crate) access_id: String,
    pub(crate) secret: String,
    /// The region v4 credential scopes must name.
    pub(crate) region: String,
}

impl Verifier {
    /// Checks `req`, whose resource is its path with `prefix` (the endpoint's own path)
    /// removed.
    pub(crate) fn verify(&self, req: &Received<'_>, prefix: &str) -> Result<(), Rejection> {
        let Some(authorization) = req.headers.get("authorization") else {
            return Err(Rejection::Unauthorized(
                "the request carries no Authorization header".into(),
            ));
        };
        let authorization = String::from_utf8_lossy(authorization.as_bytes());
        let malformed = || {
            Rejection::Unauthorized(format!(
                "malformed Authorization header `{authorization}`; expected `ODPS \
                 <access_id>:<signature>` or `ODPS <access_id>/<yyyymmdd>/<region>/odps/\
                 aliyun_v4_request:<signature>`"
            ))
        };
        let (credential, claimed) = authorization
            .strip_prefix("ODPS ")
            .and_then(|rest| rest.rsplit_once(':'))
            .ok_or_else(malformed)?;
        let scope: Vec<&str> = credential.split('/').collect();
        let access_id = scope[0];
        if access_id != self.access_id {
            return Err(Rejection::Unauthorized(format!(
                "the access id `{access_id}` does not exist"
            )));
        }
        let canonical = canonical_string(req, prefix)?;
        let expected = match scope[..] {
            [_] => sign_v2(&self.secret, &canonical),
            [_, day, region, "odps", "aliyun_v4_request"] => {
                if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Rejection::Mismatch(format!(
                        "v4 credential day `{day}` is not yyyymmdd"
                    )));
                }
                if region != self.region {
                    return Err(Rejection::Mismatch(format!(
                        "v4 credential region is `{region}`, expected `{}`",
                        self.region
                    )));
                }
                sign_with_key(&v4_key(&self.secret, day, region), &canonical)
            }
            _ => return Err(malformed()),
        };
        if expected == claimed {
            Ok(())
        } else {
            Err(Rejection::Mismatch(format!(
                "the request signature does not match; the server's canonical string was:\n\
                 {canonical}"
            )))
        }
    }
}

/// The string both sides sign (spec §2.1).
pub(crate) fn canonical_string(req: &Received<'_>, prefix: &str) -> Result<String, Rejection> {
    let path = String::from_utf8(decode(req.path, false))
        .map_err(|_| Rejection::Mismatch("the path is not UTF-8 once decoded".into()))?;
    let Some(resource) = path.strip_prefix(prefix) else {
        return Err(Rejection::Mismatch(format!(
            "the path `{path}` is outside the endpoint `{prefix}`"
        )));
    };
    let params = query_map(req.query);
    let header = |name: &str| {
        req.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    };
    let mut lines = vec![
        req.method.to_string(),
        header("content-md5"),
        header("content-type"),
        header("date"),
    ];
    let mut odps: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in req.headers {
        if name.as_str().starts_with("x-odps-") {
            odps.insert(
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            );
        }
    }
    for (name, value) in &params {
        if name.to_ascii_lowercase().starts_with("x-odps-") {
            odps.insert(name.to_ascii_lowercase(), value.clone());
        }
    }
    lines.extend(odps.iter().map(|(k, v)| format!("{k}:{v}")));
    let mut resource = resource.to_string();
    if !params.is_empty() {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.clone()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        resource = format!("{resource}?{}", query.join("&"));
    }
    lines.push(resource);
    Ok(lines.join("\n"))
}

/// v2: `base64(HMAC-SHA1(secret, canonical))`.
pub(crate) fn sign_v2(secret: &str, canonical: &str) -> String {
    sign_with_key(secret.as_bytes(), canonical)
}

fn sign_with_key(key: &[u8], canonical: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(canonical.as_bytes());
    base64(&mac.finalize().into_bytes())
}

/// The v4 signing key: HMAC-SHA256 of day, region, `odps`, `aliyun_v4_request` in turn,
/// starting from `"aliyun_v4" + secret`.
pub(crate) fn v4_key(secret: &str, day: &str, region: &str) -> Vec<u8> {
    let mut key = format!("aliyun_v4{secret}").into_bytes();
    for part in [day, region, "odps", "aliyun_v4_request"] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
        mac.update(part.as_bytes());
        key = mac.finalize().into_bytes().to_vec();
    }
    key
}

/// The query decoded (`+` is a space), keys sorted, the last of repeated keys winning, a bare
/// `k` the same as `k=`.
pub(crate) fn query_map(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let text = |s| String::from_utf8_lossy(&decode(s, true)).into_owned();
            (text(k), text(v))
        })
        .collect()
}

/// Percent-decoding; `plus_is_space` for query strings. Malformed escapes stay as they are.
pub(crate) fn decode(s: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
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
