//! The one HTTP client every remote plugin uses (rustls, bounded timeouts, our user agent),
//! and the one place transport failures and HTTP statuses become error kinds.

use std::time::Duration;

pub use reqwest;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::{Error, ErrorKind, HttpSettings, Result};

/// Builds a client from the context's settings. Build one per source and share it: it pools
/// connections.
pub fn client(settings: &HttpSettings) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .read_timeout(settings.request_timeout)
        .user_agent(settings.user_agent.clone())
        // Remote services sign the Host header; a redirect would silently change it.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| {
            Error::new(ErrorKind::Unexpected, "cannot build the HTTP client").with_source(e)
        })
}

/// A failure to reach the server or to read its answer. Connection problems, timeouts and
/// bodies cut short are temporary: the same request may well succeed when repeated.
pub fn transport_error(what: &str, err: reqwest::Error) -> Error {
    let reason = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "the response body was cut short"
    } else {
        "the request failed"
    };
    let url = err.url().map(|u| without_query(u.as_str()));
    let mut e = Error::new(ErrorKind::Remote, format!("{what}: {reason}"))
        .temporary()
        .with_source(err);
    if let Some(url) = url {
        e = e.with_context("url", url);
    }
    e
}

/// The error kind an HTTP status stands for, and whether repeating may help.
pub fn status_kind(status: StatusCode) -> (ErrorKind, bool) {
    match status.as_u16() {
        400 | 405 | 411 | 413 | 414 | 416 | 422 => (ErrorKind::Config, false),
        401 | 403 => (ErrorKind::PermissionDenied, false),
        404 => (ErrorKind::NotFound, false),
        408 => (ErrorKind::Remote, true),
        429 => (ErrorKind::RateLimited, true),
        500 | 502 | 503 | 504 => (ErrorKind::Remote, true),
        _ => (ErrorKind::Remote, false),
    }
}

/// A server's `Retry-After` in seconds, if it sent one.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// A URL for messages: the query may carry signatures or tokens, so it is left out.
pub fn without_query(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(
            status_kind(StatusCode::TOO_MANY_REQUESTS),
            (ErrorKind::RateLimited, true)
        );
        assert_eq!(
            status_kind(StatusCode::SERVICE_UNAVAILABLE),
            (ErrorKind::Remote, true)
        );
        assert_eq!(
            status_kind(StatusCode::FORBIDDEN),
            (ErrorKind::PermissionDenied, false)
        );
        assert_eq!(
            status_kind(StatusCode::NOT_FOUND),
            (ErrorKind::NotFound, false)
        );
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn urls_in_messages_drop_the_query() {
        assert_eq!(
            without_query("http://h/k?X-Tos-Signature=abc"),
            "http://h/k"
        );
    }
}
