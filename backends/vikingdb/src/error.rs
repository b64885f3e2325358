//! The one mapping from VikingDB and TOS failures to error kinds.

use arrowport_core::http::reqwest::StatusCode;
use arrowport_core::http::status_kind;
use arrowport_core::{Error, ErrorKind};

use crate::NAME;

/// Codes of the V1 API's `{code, message, request_id}` envelope (the SDK's `exception.py`).
const QUOTA_LIMIT: i64 = 1000029;
const INTERNAL: i64 = 1000028;

/// An error answer of the VikingDB API. Unknown codes fall back to the HTTP status.
pub fn api_error(
    code: i64,
    message: &str,
    request_id: Option<&str>,
    status: StatusCode,
    action: &str,
) -> Error {
    let (kind, temporary) = match code {
        1000001 | 1000002 | 1000015 | 1000032 | 1000033 => (ErrorKind::PermissionDenied, false),
        1000003 | 1000006 | 1000016 | 1000017 | 1000018 | 1000019 => (ErrorKind::Config, false),
        1000005 | 1000008 | 1000011 | 1000031 | 1000035 => (ErrorKind::NotFound, false),
        1000024 => (ErrorKind::Unsupported, false),
        QUOTA_LIMIT => (ErrorKind::RateLimited, true),
        INTERNAL | 1000023 => (ErrorKind::Remote, true),
        _ => status_kind(status),
    };
    let hint = match code {
        1000001 => {
            " (check the access key and secret key, and that `region` and `service` match the \
             endpoint)"
        }
        1000029 => " (quota exceeded; retried with backoff)",
        _ => "",
    };
    let mut err = Error::new(
        kind,
        format!("{NAME}: {action} failed: {message} (code {code}){hint}"),
    )
    .with_context("plugin", NAME)
    .with_context("code", code)
    .with_context("http_status", status.as_u16());
    if let Some(id) = request_id.filter(|id| !id.is_empty()) {
        err = err.with_context("request_id", id);
    }
    if temporary { err.temporary() } else { err }
}

/// An error answer of TOS (`{Code, Message, ...}` with the id in `x-tos-request-id`).
pub fn tos_error(
    status: StatusCode,
    code: Option<&str>,
    message: Option<&str>,
    request_id: Option<&str>,
    what: &str,
) -> Error {
    let (kind, temporary) = match code {
        Some("SignatureDoesNotMatch" | "AccessDenied" | "InvalidAccessKeyId") => {
            (ErrorKind::PermissionDenied, false)
        }
        Some("NoSuchBucket" | "NoSuchKey") => (ErrorKind::NotFound, false),
        Some("SlowDown" | "TooManyRequests") => (ErrorKind::RateLimited, true),
        // We only ask for ranges inside the listed size: the object is shorter than listed.
        _ if status == StatusCode::RANGE_NOT_SATISFIABLE => (ErrorKind::DataIntegrity, false),
        _ => status_kind(status),
    };
    let detail = match (code, message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => format!("HTTP {status}"),
    };
    let mut err = Error::new(kind, format!("{NAME}: TOS {what} failed: {detail}"))
        .with_context("plugin", NAME)
        .with_context("http_status", status.as_u16());
    if let Some(id) = request_id.filter(|id| !id.is_empty()) {
        err = err.with_context("request_id", id);
    }
    if temporary { err.temporary() } else { err }
}

/// A downloaded object that is not what the listing promised.
pub fn integrity(message: String, key: &str) -> Error {
    Error::new(ErrorKind::DataIntegrity, format!("{NAME}: {message}"))
        .with_context("plugin", NAME)
        .with_context("object", key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        let cases = [
            (1000001, ErrorKind::PermissionDenied, false),
            (1000002, ErrorKind::PermissionDenied, false),
            (1000003, ErrorKind::Config, false),
            (1000005, ErrorKind::NotFound, false),
            (1000035, ErrorKind::NotFound, false),
            (1000029, ErrorKind::RateLimited, true),
            (1000028, ErrorKind::Remote, true),
        ];
        for (code, kind, temporary) in cases {
            let e = api_error(
                code,
                "m",
                Some("rid-1"),
                StatusCode::BAD_REQUEST,
                "task/info",
            );
            assert_eq!((e.kind(), e.is_temporary()), (kind, temporary), "{code}");
            assert_eq!(e.context_value("request_id"), Some("rid-1"));
        }
        let e = api_error(1234, "m", None, StatusCode::BAD_GATEWAY, "x");
        assert_eq!((e.kind(), e.is_temporary()), (ErrorKind::Remote, true));
    }

    #[test]
    fn tos_codes_map_to_kinds() {
        let e = tos_error(
            StatusCode::FORBIDDEN,
            Some("SignatureDoesNotMatch"),
            None,
            Some("r"),
            "get",
        );
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        let e = tos_error(StatusCode::SERVICE_UNAVAILABLE, None, None, None, "get");
        assert!(e.is_temporary());
        let e = tos_error(
            StatusCode::RANGE_NOT_SATISFIABLE,
            Some("InvalidRange"),
            None,
            None,
            "get",
        );
        assert_eq!(e.kind(), ErrorKind::DataIntegrity);
    }
}
