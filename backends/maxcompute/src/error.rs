//! The one mapping from MaxCompute failures (meta API XML or tunnel JSON error bodies, HTTP
//! statuses) to error kinds.

use std::time::Duration;

use arrowport_core::http::reqwest::StatusCode;
use arrowport_core::http::status_kind;
use arrowport_core::{Error, ErrorKind};

use crate::NAME;
use crate::meta::parse_error_body;

/// The longest `HoldClientMillis` honoured, as the Java SDK caps it.
const MAX_HOLD: Duration = Duration::from_secs(10);

/// An error answer of either service. Either body form is accepted on either service, as the
/// SDKs do; unknown codes fall back to the HTTP status.
pub fn remote_error(
    status: StatusCode,
    body: &[u8],
    request_id: Option<&str>,
    what: &str,
) -> Error {
    let parsed = parse_error_body(body);
    let code = parsed.as_ref().map(|e| e.code.as_str()).unwrap_or_default();
    let (kind, temporary) = code_kind(code).unwrap_or_else(|| status_kind(status));
    let detail = match &parsed {
        Some(e) if !e.message.is_empty() => format!("{}: {}", e.code, e.message),
        Some(e) => e.code.clone(),
        None => {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
            format!("HTTP {status} {}", text.trim())
        }
    };
    let mut err = Error::new(kind, format!("{what} failed: {detail}{}", hint(code)))
        .with_context("plugin", NAME)
        .with_context("http_status", status.as_u16());
    if !code.is_empty() {
        err = err.with_context("code", code);
    }
    // The header wins over the body, as in PyODPS.
    let request_id = request_id
        .filter(|id| !id.is_empty())
        .or_else(|| parsed.as_ref().and_then(|e| e.request_id.as_deref()))
        .filter(|id| !id.is_empty());
    if let Some(id) = request_id {
        err = err.with_context("request_id", id);
    }
    if let Some(ms) = parsed.as_ref().and_then(|e| e.hold_client_millis) {
        err = err.with_retry_after(Duration::from_millis(ms).min(MAX_HOLD));
    }
    if temporary { err.temporary() } else { err }
}

/// Kinds of the codes the services document (spec §1.5); `None` defers to the HTTP status.
fn code_kind(code: &str) -> Option<(ErrorKind, bool)> {
    Some(match code {
        "NoSuchProject" | "NoSuchTable" | "NoSuchObject" | "NoSuchPartition" | "NoSuchDownload"
        | "NoSuchUpload" | "NoSuchSchema" | "ODPS-0130131" => (ErrorKind::NotFound, false),
        "Unauthorized" | "SignatureNotMatch" | "InvalidAccessKeyId" | "AccessDenied"
        | "NoPermission" | "InvalidSignature" => (ErrorKind::PermissionDenied, false),
        "MissingPartitionSpec"
        | "InvalidPartitionSpec"
        | "InvalidArgument"
        | "InvalidColumnSpec"
        | "InvalidParameter"
        | "RequestTimeTooSkewed" => (ErrorKind::Config, false),
        "FlowExceeded" | "SlotExceeded" => (ErrorKind::RateLimited, true),
        "InternalServerError"
        | "DataStoreError"
        | "DataUnderReplication"
        | "ServiceUnavailable" => (ErrorKind::Remote, true),
        "StatusConflict"
        | "InvalidRowRange"
        | "CorruptedDataStream"
        | "IncompleteBody"
        | "DataVersionConflict" => (ErrorKind::Remote, false),
        _ => return None,
    })
}

fn hint(code: &str) -> &'static str {
    match code {
        "SignatureNotMatch" | "InvalidAccessKeyId" | "Unauthorized" => {
            " (check the access key id and secret, and `region`/`signature` for v4 endpoints)"
        }
        "RequestTimeTooSkewed" => " (this machine's clock is off; fix it and retry)",
        "StatusConflict" => {
            " (the download session expired or was closed — sessions live 24 hours; run the \
             export again without `download_id` to take a new snapshot)"
        }
        "InvalidRowRange" => " (the session holds fewer rows than were asked for)",
        "MissingPartitionSpec" => " (the table is partitioned: name one with `partition=`)",
        "FlowExceeded" => " (tunnel throughput quota exceeded; retried with backoff)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_json_and_meta_xml_bodies_map_to_kinds() {
        let json =
            br#"{"Code":"NoSuchPartition","Message":"partition not found","RequestId":"r1"}"#;
        let e = remote_error(StatusCode::NOT_FOUND, json, None, "maxcompute: tunnel");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.context_value("request_id"), Some("r1"));
        assert!(e.message().contains("partition not found"), "{e}");

        let xml = b"<?xml version=\"1.0\"?><Error><Code>SignatureNotMatch</Code>\
            <Message>bad sig</Message><RequestId>r2</RequestId><HostId>h</HostId></Error>";
        let e = remote_error(
            StatusCode::UNAUTHORIZED,
            xml,
            Some("hdr"),
            "maxcompute: meta API",
        );
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert_eq!(e.context_value("request_id"), Some("hdr"));
        assert!(e.message().contains("check the access key"), "{e}");
    }

    #[test]
    fn retryable_codes_are_temporary_and_honour_hold_client_millis() {
        let body = br#"{"Code":"FlowExceeded","Message":"slow down","HoldClientMillis":"60000"}"#;
        let e = remote_error(StatusCode::TOO_MANY_REQUESTS, body, Some("id"), "t");
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert!(e.is_temporary());
        assert_eq!(e.retry_after(), Some(MAX_HOLD));
        assert_eq!(e.context_value("request_id"), Some("id"));

        let e = remote_error(StatusCode::BAD_GATEWAY, b"<html>oops</html>", None, "t");
        assert!(e.is_temporary());
        assert!(e.message().contains("HTTP 502"), "{e}");

        let conflict = br#"{"Code":"StatusConflict","Message":"expired"}"#;
        let e = remote_error(StatusCode::CONFLICT, conflict, None, "t");
        assert!(!e.is_temporary());
        assert!(e.message().contains("download_id"), "{e}");
    }
}
