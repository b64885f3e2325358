//! arrowport errors as Flight (gRPC) statuses. The code says what a client can do (fix the
//! request, retry, re-plan); the message is the error as the CLI prints it, with its
//! context (request ids, task ids), causes and notes. Errors never carry credentials.

use arrowport_core::error::causes;
use arrowport_core::{Error, ErrorKind};
use tonic::{Code, Status};

/// The status a client sees for `err`.
pub fn status(err: &Error) -> Status {
    Status::new(code(err), message(err))
}

fn code(err: &Error) -> Code {
    if err.is_temporary() {
        return Code::Unavailable;
    }
    match err.kind() {
        ErrorKind::Config => Code::InvalidArgument,
        ErrorKind::Unsupported => Code::Unimplemented,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::PermissionDenied => Code::PermissionDenied,
        ErrorKind::RateLimited => Code::Unavailable,
        ErrorKind::Schema => Code::FailedPrecondition,
        ErrorKind::DataIntegrity => Code::DataLoss,
        ErrorKind::Cancelled => Code::Cancelled,
        ErrorKind::Remote | ErrorKind::Io | ErrorKind::Unexpected => Code::Internal,
        _ => Code::Unknown,
    }
}

fn message(err: &Error) -> String {
    let mut text = format!("{}: {err}", err.kind());
    for cause in causes(err) {
        text.push_str(&format!("; caused by: {cause}"));
    }
    for note in err.notes() {
        text.push_str(&format!("; note: {note}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_kinds_and_temporary_errors_are_unavailable() {
        let cases = [
            (Error::config("bad option"), Code::InvalidArgument),
            (Error::new(ErrorKind::NotFound, "no table"), Code::NotFound),
            (
                Error::new(ErrorKind::PermissionDenied, "denied"),
                Code::PermissionDenied,
            ),
            (
                Error::new(ErrorKind::DataIntegrity, "crc mismatch"),
                Code::DataLoss,
            ),
            (
                Error::new(ErrorKind::Remote, "503").temporary(),
                Code::Unavailable,
            ),
            (Error::cancelled(), Code::Cancelled),
        ];
        for (err, want) in cases {
            assert_eq!(status(&err).code(), want, "{err}");
        }
    }

    #[test]
    fn messages_keep_request_ids_and_notes() {
        let err = Error::new(ErrorKind::NotFound, "the download session expired")
            .with_context("request_id", "r-42")
            .with_note("plan again");
        let s = status(&err);
        assert_eq!(
            s.message(),
            "not found: the download session expired (request_id=r-42); note: plan again"
        );
    }
}
