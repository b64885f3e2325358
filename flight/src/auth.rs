//! The bearer token every call must carry (`authorization: Bearer <token>`). Flight
//! clients that authenticate through the handshake (pyarrow's `authenticate_basic_token`)
//! send the token as the password of HTTP basic auth, under any user name, and get the
//! bearer header back to send on later calls.

use std::path::Path;

use arrowport_core::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use tonic::Status;
use tonic::metadata::MetadataMap;

/// The environment variable a token may come from instead of a file.
pub const TOKEN_ENV: &str = "ARROWPORT_FLIGHT_TOKEN";

/// How calls are authenticated.
#[derive(Clone)]
pub enum Auth {
    /// Every call needs this bearer token.
    Bearer(String),
    /// No authentication (`--no-auth`), for a trusted network only.
    Disabled,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::Bearer(_) => "Auth::Bearer(<redacted>)",
            Auth::Disabled => "Auth::Disabled",
        })
    }
}

impl Auth {
    /// The token from `file` (trimmed), else from [`TOKEN_ENV`].
    pub fn from_sources(file: Option<&Path>) -> Result<Option<Self>> {
        let token = match file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| {
                        Error::config(format!(
                            "cannot read the token file `{}`: {e}",
                            path.display()
                        ))
                    })?
                    .trim()
                    .to_string(),
            ),
            None => std::env::var(TOKEN_ENV).ok().map(|t| t.trim().to_string()),
        };
        match token {
            Some(t) if t.is_empty() => Err(Error::config("the Flight bearer token is empty")),
            Some(t) => Ok(Some(Auth::Bearer(t))),
            None => Ok(None),
        }
    }

    /// Checks a call's `authorization` header.
    pub fn check(&self, metadata: &MetadataMap) -> Result<(), Status> {
        let Auth::Bearer(token) = self else {
            return Ok(());
        };
        let header = authorization(metadata)?;
        match header.strip_prefix("Bearer ") {
            Some(given) if same(given.trim(), token) => Ok(()),
            Some(_) => Err(Status::unauthenticated("the bearer token is wrong")),
            None => Err(missing()),
        }
    }

    /// Checks a handshake's credentials (bearer, or basic with the token as password) and
    /// returns the header later calls carry.
    pub fn handshake(&self, metadata: &MetadataMap) -> Result<Option<String>, Status> {
        let Auth::Bearer(token) = self else {
            return Ok(None);
        };
        let header = authorization(metadata)?;
        let given = if let Some(basic) = header.strip_prefix("Basic ") {
            let decoded = STANDARD
                .decode(basic.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| Status::unauthenticated("malformed basic credentials"))?;
            decoded
                .split_once(':')
                .map(|(_, password)| password.to_string())
                .ok_or_else(|| Status::unauthenticated("malformed basic credentials"))?
        } else if let Some(bearer) = header.strip_prefix("Bearer ") {
            bearer.trim().to_string()
        } else {
            return Err(missing());
        };
        if !same(&given, token) {
            return Err(Status::unauthenticated("the bearer token is wrong"));
        }
        Ok(Some(format!("Bearer {token}")))
    }
}

fn authorization(metadata: &MetadataMap) -> Result<&str, Status> {
    match metadata.get("authorization") {
        Some(v) => v
            .to_str()
            .map_err(|_| Status::unauthenticated("the authorization header is not text")),
        None => Err(missing()),
    }
}

fn missing() -> Status {
    Status::unauthenticated(
        "this server needs a bearer token: send `authorization: Bearer <token>` (or \
         authenticate with basic auth, the token as password)",
    )
}

/// Compares digests, so the time taken says nothing about how much of a guess was right.
fn same(given: &str, token: &str) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(token));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(header: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", header.parse().unwrap());
        m
    }

    #[test]
    fn bearer_tokens_are_checked_on_every_call() {
        let auth = Auth::Bearer("s3cret".into());
        auth.check(&with("Bearer s3cret")).unwrap();
        for bad in ["Bearer s3cre", "Bearer ", "s3cret", "Basic czNjcmV0"] {
            let s = auth.check(&with(bad)).unwrap_err();
            assert_eq!(s.code(), tonic::Code::Unauthenticated, "{bad}");
            assert!(!s.message().contains("s3cret"), "{}", s.message());
        }
        assert_eq!(
            auth.check(&MetadataMap::new()).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        Auth::Disabled.check(&MetadataMap::new()).unwrap();
    }

    #[test]
    fn handshakes_take_basic_auth_with_the_token_as_password() {
        let auth = Auth::Bearer("s3cret".into());
        let basic = format!("Basic {}", STANDARD.encode("anyone:s3cret"));
        assert_eq!(
            auth.handshake(&with(&basic)).unwrap().as_deref(),
            Some("Bearer s3cret")
        );
        let wrong = format!("Basic {}", STANDARD.encode("anyone:guess"));
        assert_eq!(
            auth.handshake(&with(&wrong)).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
    }
}
