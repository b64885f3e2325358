//! Signing and checksum test vectors produced by the official SDKs
//! (`shared/testvectors/volc_signv4.json`, `shared/testvectors/tos_sign.json`).
//!
//! Every vector is asserted field by field; each test counts the vectors it asserted and fails
//! if that differs from the file's count, and every field of every vector must be one this test
//! knows (so a new expectation cannot be silently ignored). A missing file is a failure.

use std::collections::{BTreeMap, BTreeSet};

use arrowport_vikingdb::crc64::{Crc64, crc64};
use arrowport_vikingdb::sign::{
    self, Credentials, OpenApiRequest, SigningTime, derive_signing_key, encode_path,
};
use arrowport_vikingdb::tos_sign::{self, PresignRequest, TosRequest};
use serde_json::{Map, Value};

const VOLC_SIGNV4: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testvectors/volc_signv4.json"
);
const TOS_SIGN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testvectors/tos_sign.json"
);

/// The counts the protocol notes document; a changed file must be looked at, not skipped.
const VOLC_SIGNV4_VECTORS: usize = 15;
const TOS_HEADER_VECTORS: usize = 6;
const TOS_PRESIGN_VECTORS: usize = 1;
const CRC64_VECTORS: usize = 4;

// ---------------------------------------------------------------------------------------------
// JSON helpers: every accessor panics on a missing or mistyped field.
// ---------------------------------------------------------------------------------------------

fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("cannot read test vectors {path}: {e} (shared/ must sit beside the repository)")
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

fn obj<'a>(v: &'a Value, key: &str) -> &'a Map<String, Value> {
    v.get(key)
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("`{key}` missing or not an object"))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("`{key}` missing or not a string"))
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("`{key}` missing or not an array"))
}

/// Asserts that `v` has all of `required`, and nothing beyond `required` and `optional`.
fn assert_keys(v: &Value, required: &[&str], optional: &[&str], what: &str) {
    let map = v
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object"));
    let keys: BTreeSet<&str> = map.keys().map(String::as_str).collect();
    for r in required {
        assert!(keys.contains(r), "{what}: missing `{r}`");
    }
    for k in &keys {
        assert!(
            required.contains(k) || optional.contains(k),
            "{what}: unknown field `{k}`; extend this test to assert it"
        );
    }
}

/// `{k: "v"}` or `{k: ["v1", "v2"]}` → pairs, a list value repeating its key in list order.
fn pairs(map: &Map<String, Value>, what: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in map {
        match v {
            Value::String(s) => out.push((k.clone(), s.clone())),
            Value::Array(items) => {
                for item in items {
                    let s = item
                        .as_str()
                        .unwrap_or_else(|| panic!("{what}: `{k}` has a non-string element"));
                    out.push((k.clone(), s.to_owned()));
                }
            }
            other => panic!("{what}: `{k}` is {other}, expected a string or a list"),
        }
    }
    out
}

fn borrow(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Decodes a form-encoded query (`+` is a space) into its pairs, sorted.
fn decode_query(query: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    }
    let mut out: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect();
    out.sort();
    out
}

fn sorted(mut pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs.sort();
    pairs
}

/// Applies the signer's headers to the caller's: each replaces a caller header of the same
/// name (`same` decides what "same" means for the signer in question).
fn merge(
    caller: &[(String, String)],
    ours: &[(&'static str, String)],
    same: impl Fn(&str, &str) -> bool,
) -> BTreeMap<String, String> {
    let mut merged: Vec<(String, String)> = caller.to_vec();
    for (name, value) in ours {
        match merged.iter_mut().find(|(n, _)| same(n, name)) {
            Some(slot) => *slot = ((*name).to_owned(), value.clone()),
            None => merged.push(((*name).to_owned(), value.clone())),
        }
    }
    let map: BTreeMap<String, String> = merged.iter().cloned().collect();
    assert_eq!(
        map.len(),
        merged.len(),
        "duplicate header names: {merged:?}"
    );
    map
}

/// `SignedHeaders=a;b;c` out of an `Authorization` value.
fn signed_headers_of(authorization: &str) -> &str {
    let start = authorization
        .find("SignedHeaders=")
        .expect("SignedHeaders=")
        + 14;
    let rest = &authorization[start..];
    &rest[..rest.find(',').expect("comma after SignedHeaders")]
}

/// Every signed header's value, as sent, appears verbatim as `name:value` in the canonical
/// request (`transform` applies the signer's own value rewriting, e.g. the Host port).
fn assert_signed_values_match_sent(
    name: &str,
    signed_headers: &str,
    sent: &BTreeMap<String, String>,
    canonical_request: &str,
    transform: impl Fn(&str, &str) -> String,
) {
    // Lines: method, path, query, headers…, "", signed names, payload hash.
    let lines: Vec<&str> = canonical_request.split('\n').collect();
    let end = 3 + lines[3..]
        .iter()
        .position(|l| l.is_empty())
        .expect("empty line after the canonical headers");
    assert_eq!(lines.len(), end + 3, "{name}: canonical request shape");
    assert_eq!(lines[end + 1], signed_headers, "{name}: signed names line");
    let header_lines = &lines[3..end];
    let names: Vec<&str> = signed_headers.split(';').collect();
    assert_eq!(
        header_lines.len(),
        names.len(),
        "{name}: one canonical header line per signed header"
    );
    for (line, signed) in header_lines.iter().zip(&names) {
        let value = sent
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(signed))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("{name}: signed header `{signed}` was not sent"));
        assert_eq!(
            *line,
            format!("{signed}:{}", transform(signed, value)),
            "{name}: signed header `{signed}`"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Volcengine OpenAPI SignerV4
// ---------------------------------------------------------------------------------------------

fn assert_volc_vector(v: &Value) -> String {
    let name = str_of(v, "name").to_owned();
    assert_keys(
        v,
        &[
            "name",
            "description",
            "produced_by",
            "input",
            "expected",
            "independent_reimplementation_agrees",
        ],
        &["note"],
        &name,
    );
    let input = &v["input"];
    let expected = &v["expected"];
    assert_keys(
        input,
        &[
            "method",
            "scheme",
            "host",
            "path",
            "query",
            "headers_before_signing",
            "body",
            "ak",
            "sk",
            "service",
            "region",
            "session_token",
            "x_date",
        ],
        &[],
        &format!("{name}.input"),
    );
    assert_keys(
        expected,
        &[
            "canonical_request",
            "string_to_sign",
            "signing_key_hex",
            "signature",
            "signed_headers",
            "authorization",
            "headers_sent",
            "url_sent",
        ],
        &[],
        &format!("{name}.expected"),
    );

    let query = pairs(obj(input, "query"), &name);
    let headers = pairs(obj(input, "headers_before_signing"), &name);
    if let Some((_, host)) = headers.iter().find(|(n, _)| n == "Host") {
        assert_eq!(host, str_of(input, "host"), "{name}: Host header vs host");
    }
    let credentials = Credentials::new(str_of(input, "ak"), str_of(input, "sk"))
        .with_session_token(str_of(input, "session_token"));
    let time = SigningTime::parse(str_of(input, "x_date")).unwrap();
    let (q, h) = (borrow(&query), borrow(&headers));
    let request = OpenApiRequest {
        method: str_of(input, "method"),
        path: str_of(input, "path"),
        query: &q,
        headers: &h,
        body: str_of(input, "body").as_bytes(),
    };
    let signed = sign::sign_request(
        &request,
        &credentials,
        str_of(input, "region"),
        str_of(input, "service"),
        &time,
    );

    assert_eq!(
        signed.canonical_request(),
        str_of(expected, "canonical_request"),
        "{name}: canonical request"
    );
    assert_eq!(
        signed.string_to_sign(),
        str_of(expected, "string_to_sign"),
        "{name}: string to sign"
    );
    assert_eq!(
        hex::encode(signed.signing_key()),
        str_of(expected, "signing_key_hex"),
        "{name}: signing key"
    );
    assert_eq!(
        signed.signature(),
        str_of(expected, "signature"),
        "{name}: signature"
    );
    assert_eq!(
        signed.signed_headers(),
        str_of(expected, "signed_headers"),
        "{name}: signed headers"
    );
    assert_eq!(
        signed.authorization(),
        str_of(expected, "authorization"),
        "{name}: authorization"
    );
    assert_eq!(
        signed_headers_of(signed.authorization()),
        signed.signed_headers(),
        "{name}"
    );

    // Every header on the wire: the caller's plus the signer's, nothing else.
    let sent = merge(&headers, signed.headers(), |a, b| a == b);
    let expected_sent: BTreeMap<String, String> = pairs(obj(expected, "headers_sent"), &name)
        .into_iter()
        .collect();
    assert_eq!(sent, expected_sent, "{name}: headers sent");
    for (header, value) in signed.headers() {
        assert_eq!(
            expected_sent.get(*header),
            Some(value),
            "{name}: header {header}"
        );
    }
    assert_signed_values_match_sent(
        &name,
        signed.signed_headers(),
        &expected_sent,
        signed.canonical_request(),
        |n, v| match (n, v.split_once(':')) {
            ("host", Some((host, "80" | "443"))) => host.to_owned(),
            _ => v.to_owned(),
        },
    );

    // The SDK's wire URL carries the same pairs as our canonical query (it form-encodes them in
    // insertion order; the server canonicalises again).
    let url = str_of(expected, "url_sent");
    let prefix = format!(
        "{}://{}{}?",
        str_of(input, "scheme"),
        str_of(input, "host"),
        str_of(input, "path")
    );
    let wire_query = url
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{name}: url_sent {url} does not start with {prefix}"));
    assert_eq!(
        decode_query(wire_query),
        sorted(query.clone()),
        "{name}: url_sent query"
    );
    assert_eq!(
        decode_query(&sign::canonical_query(&q)),
        sorted(query),
        "{name}: canonical query round trip"
    );
    name
}

#[test]
fn volc_signv4_vectors() {
    let doc = load(VOLC_SIGNV4);
    assert_keys(
        &doc,
        &["about", "sdk_versions", "notes", "vectors"],
        &[],
        "volc_signv4.json",
    );
    let vectors = array(&doc, "vectors");
    let mut names = BTreeSet::new();
    let mut asserted = 0;
    for v in vectors {
        let name = assert_volc_vector(v);
        assert!(names.insert(name.clone()), "duplicate vector name {name}");
        asserted += 1;
    }
    assert_eq!(asserted, vectors.len(), "every vector asserted");
    assert_eq!(
        asserted, VOLC_SIGNV4_VECTORS,
        "volc_signv4.json vector count changed"
    );
}

// ---------------------------------------------------------------------------------------------
// TOS
// ---------------------------------------------------------------------------------------------

/// Asserts one header-signed TOS vector; returns (name, region, date, signing key hex).
fn assert_tos_header_vector(v: &Value) -> (String, String, String, String) {
    let name = str_of(v, "name").to_owned();
    assert_keys(
        v,
        &[
            "name",
            "description",
            "produced_by",
            "input",
            "expected",
            "independent_reimplementation_agrees",
        ],
        &["note"],
        &name,
    );
    let input = &v["input"];
    let expected = &v["expected"];
    assert_keys(
        input,
        &[
            "method",
            "endpoint",
            "region",
            "service",
            "host",
            "path",
            "query",
            "headers_before_signing",
            "ak",
            "sk",
            "session_token",
            "x_tos_date",
        ],
        &[],
        &format!("{name}.input"),
    );
    assert_keys(
        expected,
        &[
            "canonical_request",
            "string_to_sign",
            "signing_key_hex",
            "signature",
            "authorization",
            "headers_sent",
            "url_sent",
        ],
        &[],
        &format!("{name}.expected"),
    );
    assert_eq!(str_of(input, "service"), tos_sign::SERVICE, "{name}");
    let host = str_of(input, "host");
    assert!(
        host.ends_with(&format!(".{}", str_of(input, "endpoint"))),
        "{name}: virtual-hosted host"
    );

    let query = pairs(obj(input, "query"), &name);
    let headers = pairs(obj(input, "headers_before_signing"), &name);
    let credentials = Credentials::new(str_of(input, "ak"), str_of(input, "sk"))
        .with_session_token(str_of(input, "session_token"));
    let time = SigningTime::parse(str_of(input, "x_tos_date")).unwrap();
    let region = str_of(input, "region");
    let (q, h) = (borrow(&query), borrow(&headers));
    let request = TosRequest {
        method: str_of(input, "method"),
        path: str_of(input, "path"),
        query: &q,
        headers: &h,
    };
    let signed = tos_sign::sign_request(&request, &credentials, region, &time);

    assert_eq!(
        signed.canonical_request(),
        str_of(expected, "canonical_request"),
        "{name}: canonical request"
    );
    assert_eq!(
        signed.string_to_sign(),
        str_of(expected, "string_to_sign"),
        "{name}: string to sign"
    );
    let key_hex = hex::encode(signed.signing_key());
    assert_eq!(
        key_hex,
        str_of(expected, "signing_key_hex"),
        "{name}: signing key"
    );
    assert_eq!(
        signed.signature(),
        str_of(expected, "signature"),
        "{name}: signature"
    );
    assert_eq!(
        signed.authorization(),
        str_of(expected, "authorization"),
        "{name}: authorization"
    );
    assert_eq!(
        signed_headers_of(signed.authorization()),
        signed.signed_headers(),
        "{name}"
    );

    // The SDK adds `x-tos-content-sha256: UNSIGNED-PAYLOAD` (and the STS header) itself: a
    // caller that leaves them out gets the same signature and the headers to send.
    let bare: Vec<(&str, &str)> = h
        .iter()
        .copied()
        .filter(|(n, _)| {
            !n.eq_ignore_ascii_case(tos_sign::CONTENT_SHA256_HEADER)
                && !n.eq_ignore_ascii_case("x-tos-security-token")
        })
        .collect();
    assert_ne!(
        bare.len(),
        h.len(),
        "{name}: the vector passes x-tos-content-sha256"
    );
    let resigned = tos_sign::sign_request(
        &TosRequest {
            headers: &bare,
            ..request
        },
        &credentials,
        region,
        &time,
    );
    assert_eq!(
        resigned.canonical_request(),
        signed.canonical_request(),
        "{name}: signer-added defaults"
    );
    assert_eq!(resigned.authorization(), signed.authorization(), "{name}");
    assert_eq!(
        resigned.header(tos_sign::CONTENT_SHA256_HEADER),
        Some(tos_sign::UNSIGNED_PAYLOAD),
        "{name}"
    );

    // Headers on the wire: the caller's plus the signer's; the SDK adds User-Agent afterwards,
    // unsigned, and nothing else.
    let sent = merge(&headers, signed.headers(), |a, b| a.eq_ignore_ascii_case(b));
    let mut expected_sent: BTreeMap<String, String> = pairs(obj(expected, "headers_sent"), &name)
        .into_iter()
        .collect();
    for (header, value) in signed.headers() {
        assert_eq!(
            expected_sent.get(*header),
            Some(value),
            "{name}: header {header}"
        );
    }
    assert_signed_values_match_sent(
        &name,
        signed.signed_headers(),
        &expected_sent,
        signed.canonical_request(),
        |_, v| v.to_owned(),
    );
    let user_agent = expected_sent
        .remove("User-Agent")
        .unwrap_or_else(|| panic!("{name}: the SDK sends a User-Agent"));
    assert!(
        !signed.signed_headers().contains("user-agent"),
        "{name}: {user_agent} must not be signed"
    );
    assert_eq!(sent, expected_sent, "{name}: headers sent");

    // The wire URL: our path encoding exactly, and the same query pairs.
    let url = str_of(expected, "url_sent");
    let base = format!("https://{host}{}", encode_path(str_of(input, "path")));
    let rest = url
        .strip_prefix(&base)
        .unwrap_or_else(|| panic!("{name}: url_sent {url} does not start with {base}"));
    let wire_query = match rest.strip_prefix('?') {
        Some(q) => q,
        None => {
            assert_eq!(rest, "", "{name}: url_sent");
            ""
        }
    };
    assert_eq!(
        decode_query(wire_query),
        sorted(query),
        "{name}: url_sent query"
    );

    (name, region.to_owned(), time.date().to_owned(), key_hex)
}

fn assert_tos_presign_vector(
    v: &Value,
    header_keys: &[(String, String, String, String)],
) -> String {
    let name = str_of(v, "name").to_owned();
    assert_keys(
        v,
        &["name", "description", "produced_by", "input", "expected"],
        &["note", "independent_reimplementation_agrees"],
        &name,
    );
    let input = &v["input"];
    let expected = &v["expected"];
    assert_keys(
        input,
        &[
            "method",
            "endpoint",
            "region",
            "bucket",
            "key",
            "expires",
            "ak",
            "sk",
            "x_tos_date",
        ],
        &[],
        &format!("{name}.input"),
    );
    assert_keys(
        expected,
        &["canonical_request", "string_to_sign", "signed_url"],
        &[],
        &format!("{name}.expected"),
    );

    let host = format!("{}.{}", str_of(input, "bucket"), str_of(input, "endpoint"));
    let path = format!("/{}", str_of(input, "key"));
    let expires = input["expires"]
        .as_u64()
        .unwrap_or_else(|| panic!("{name}: expires is not an integer"));
    let region = str_of(input, "region");
    let time = SigningTime::parse(str_of(input, "x_tos_date")).unwrap();
    let credentials = Credentials::new(str_of(input, "ak"), str_of(input, "sk"));
    let request = PresignRequest {
        method: str_of(input, "method"),
        scheme: "https",
        host: &host,
        path: &path,
        query: &[],
        expires_secs: expires,
    };
    let presigned = tos_sign::presign(&request, &credentials, region, &time);

    assert_eq!(
        presigned.canonical_request(),
        str_of(expected, "canonical_request"),
        "{name}: canonical request"
    );
    assert_eq!(
        presigned.string_to_sign(),
        str_of(expected, "string_to_sign"),
        "{name}: string to sign"
    );
    assert_eq!(
        presigned.url(),
        str_of(expected, "signed_url"),
        "{name}: signed url"
    );
    let signature = presigned
        .url()
        .rsplit_once("X-Tos-Signature=")
        .map(|(_, s)| s)
        .unwrap();
    assert_eq!(presigned.signature(), signature, "{name}: signature");
    // The vector has no signing key; it must be the one the header vectors of the same day and
    // region recorded, and the plain derivation.
    let key_hex = hex::encode(presigned.signing_key());
    assert_eq!(
        key_hex,
        hex::encode(derive_signing_key(
            str_of(input, "sk"),
            time.date(),
            region,
            tos_sign::SERVICE
        ))
    );
    let same_scope: Vec<_> = header_keys
        .iter()
        .filter(|(_, r, d, _)| r == region && d == time.date())
        .collect();
    assert!(
        !same_scope.is_empty(),
        "{name}: no header vector to cross-check the key"
    );
    for (other, _, _, key) in same_scope {
        assert_eq!(&key_hex, key, "{name}: signing key vs {other}");
    }
    name
}

#[test]
fn tos_sign_vectors() {
    let doc = load(TOS_SIGN);
    assert_keys(
        &doc,
        &[
            "about",
            "sdk_versions",
            "notes",
            "vectors",
            // Used by the listing parser's tests (a later part of issue 3), not by signing.
            "list_objects_type2_response_example",
            "crc64ecma_vectors",
        ],
        &[],
        "tos_sign.json",
    );
    let vectors = array(&doc, "vectors");
    let (presign, header): (Vec<&Value>, Vec<&Value>) = vectors
        .iter()
        .partition(|v| v["expected"].get("signed_url").is_some());

    let mut names = BTreeSet::new();
    let mut header_keys = Vec::new();
    for v in &header {
        let asserted = assert_tos_header_vector(v);
        assert!(
            names.insert(asserted.0.clone()),
            "duplicate vector {}",
            asserted.0
        );
        header_keys.push(asserted);
    }
    let mut presign_asserted = 0;
    for v in &presign {
        let name = assert_tos_presign_vector(v, &header_keys);
        assert!(names.insert(name.clone()), "duplicate vector {name}");
        presign_asserted += 1;
    }
    assert_eq!(
        header_keys.len() + presign_asserted,
        vectors.len(),
        "every vector asserted"
    );
    assert_eq!(
        header_keys.len(),
        TOS_HEADER_VECTORS,
        "tos_sign.json header vector count changed"
    );
    assert_eq!(
        presign_asserted, TOS_PRESIGN_VECTORS,
        "tos_sign.json pre-signed vector count changed"
    );
}

#[test]
fn crc64ecma_vectors() {
    let doc = load(TOS_SIGN);
    let section = &doc["crc64ecma_vectors"];
    assert_keys(section, &["note", "vectors"], &[], "crc64ecma_vectors");
    let vectors = array(section, "vectors");
    let mut asserted = 0;
    for (i, v) in vectors.iter().enumerate() {
        assert_keys(
            v,
            &["input_hex", "crc64_decimal", "crc64_hex"],
            &[],
            &format!("crc64 vector {i}"),
        );
        let input = hex::decode(str_of(v, "input_hex")).unwrap();
        let decimal: u64 = str_of(v, "crc64_decimal").parse().unwrap();
        let hex_value = u64::from_str_radix(str_of(v, "crc64_hex"), 16).unwrap();
        assert_eq!(decimal, hex_value, "crc64 vector {i}: decimal vs hex");
        assert_eq!(crc64(&input), decimal, "crc64 vector {i}");
        for chunk in [1, 3, 8, 9, 100] {
            let mut h = Crc64::new();
            for c in input.chunks(chunk) {
                h.update(c);
            }
            assert_eq!(h.finish(), decimal, "crc64 vector {i}, chunks of {chunk}");
        }
        asserted += 1;
    }
    assert_eq!(asserted, vectors.len(), "every vector asserted");
    assert_eq!(asserted, CRC64_VECTORS, "crc64ecma vector count changed");
}

#[test]
fn crc64_standard_check_value() {
    assert_eq!(crc64(b"123456789"), 0x995D_C9BB_DF19_39FA);
}
