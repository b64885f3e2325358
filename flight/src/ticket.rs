//! Tickets: what `GetFlightInfo` hands out and `DoGet` reads back. A ticket names the source
//! to build, the splits to read and how many rows they hold, sealed with an HMAC-SHA256
//! under the server's key: a client cannot point a ticket at another table or project, and
//! a ticket sealed under another key (a server restarted without `--ticket-key-file`) is
//! refused with a message saying so. Tickets never hold credentials: the server adds its
//! own when it builds the source.

use std::collections::BTreeMap;
use std::path::Path;

use arrowport_core::{Error, ErrorKind, Result, SplitToken};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The first bytes of every ticket this build seals; anything else is not our ticket.
const MAGIC: &[u8; 4] = b"APT1";
const KEY_ID_LEN: usize = 8;
const MAC_LEN: usize = 32;
const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN + MAC_LEN;
/// Key material shorter than this is refused: HMAC-SHA256 is only as strong as its key.
const MIN_KEY_LEN: usize = 32;

/// The server's sealing key.
pub struct TicketKey {
    key: Vec<u8>,
    id: [u8; KEY_ID_LEN],
}

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TicketKey({})", self.id())
    }
}

impl TicketKey {
    /// A fresh random key: tickets live as long as this server process.
    pub fn random() -> Result<Self> {
        let mut key = vec![0u8; MIN_KEY_LEN];
        getrandom::fill(&mut key).map_err(|e| {
            Error::new(
                ErrorKind::Unexpected,
                format!("cannot draw a random ticket key: {e}"),
            )
        })?;
        Ok(Self::new(key))
    }

    /// The key in `path` (its bytes, surrounding whitespace trimmed): servers that share it,
    /// or one that restarts, accept each other's tickets.
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::config(format!(
                "cannot read the ticket key file `{}`: {e}",
                path.display()
            ))
        })?;
        let key = bytes.trim_ascii().to_vec();
        if key.len() < MIN_KEY_LEN {
            return Err(Error::config(format!(
                "the ticket key file `{}` holds {} bytes; give at least {MIN_KEY_LEN} (e.g. \
                 `head -c 32 /dev/urandom | base64 > {}`)",
                path.display(),
                key.len(),
                path.display()
            )));
        }
        Ok(Self::new(key))
    }

    fn new(key: Vec<u8>) -> Self {
        let digest = Sha256::new()
            .chain_update(b"arrowport ticket key id\0")
            .chain_update(&key)
            .finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        TicketKey { key, id }
    }

    /// A public name of the key (not the key): shown when a ticket of another key arrives.
    pub fn id(&self) -> String {
        hex::encode(self.id)
    }

    fn mac(&self, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(MAGIC);
        mac.update(&self.id);
        mac.update(body);
        mac
    }

    /// Seals `body` into ticket bytes.
    pub fn seal(&self, body: &TicketBody) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(body).map_err(|e| {
            Error::new(
                ErrorKind::Unexpected,
                format!("cannot encode a ticket: {e}"),
            )
        })?;
        let tag = self.mac(&json).finalize().into_bytes();
        let mut out = Vec::with_capacity(HEADER_LEN + json.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&tag);
        out.extend_from_slice(&json);
        Ok(out)
    }

    /// The body of a ticket this key sealed. Anything else is refused: bytes that are no
    /// ticket of ours (a configuration error of the client), a ticket of another key, or
    /// one whose bytes were changed (permission denied).
    pub fn open(&self, ticket: &[u8]) -> Result<TicketBody> {
        if ticket.len() < HEADER_LEN || &ticket[..MAGIC.len()] != MAGIC {
            return Err(Error::config(
                "this is not an arrowport ticket: pass a ticket from this server's \
                 GetFlightInfo unchanged",
            ));
        }
        let id = &ticket[MAGIC.len()..MAGIC.len() + KEY_ID_LEN];
        let tag = &ticket[MAGIC.len() + KEY_ID_LEN..HEADER_LEN];
        let body = &ticket[HEADER_LEN..];
        if id != self.id {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "this ticket was sealed under ticket key {}, but this server's key is {}: \
                     it comes from another server, or from before a restart; call \
                     GetFlightInfo again (servers that must accept each other's tickets \
                     share --ticket-key-file)",
                    hex::encode(id),
                    self.id()
                ),
            ));
        }
        // verify_slice compares in constant time.
        if self.mac(body).verify_slice(tag).is_err() {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                "this ticket's seal does not match its contents: it was changed after this \
                 server issued it",
            ));
        }
        serde_json::from_slice(body).map_err(|e| {
            Error::new(
                ErrorKind::Unexpected,
                format!("a ticket this server sealed does not decode: {e}"),
            )
        })
    }
}

/// What a ticket reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketBody {
    /// The source: a configured name, or a URL the client gave.
    pub source: SourceRef,
    /// The options the client gave (the server's configured ones are added when building).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// The splits, read one after another (one, unless a limit had to be kept across them).
    pub splits: Vec<SplitToken>,
    /// Rows the splits hold, when the plan knew: a read that ends with another count fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Rows to deliver at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// Which source a request reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceRef {
    /// A source of the server's configuration, by name.
    Named(String),
    /// A source URL, when the server accepts URLs.
    Url(String),
}

impl std::fmt::Display for SourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceRef::Named(name) => write!(f, "source `{name}`"),
            SourceRef::Url(url) => write!(f, "`{url}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> TicketBody {
        TicketBody {
            source: SourceRef::Url("datagen://?rows=10".into()),
            options: BTreeMap::new(),
            columns: Some(vec!["id".into()]),
            splits: vec![SplitToken::new("datagen", &serde_json::json!({"start": 0})).unwrap()],
            rows: Some(10),
            limit: None,
        }
    }

    #[test]
    fn sealed_tickets_open_under_their_key_only() {
        let key = TicketKey::random().unwrap();
        let ticket = key.seal(&body()).unwrap();
        assert_eq!(key.open(&ticket).unwrap(), body());

        let other = TicketKey::random().unwrap();
        let e = other.open(&ticket).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(e.message().contains(&key.id()), "{e}");
        assert!(e.message().contains("GetFlightInfo again"), "{e}");
    }

    #[test]
    fn every_changed_byte_is_refused() {
        let key = TicketKey::random().unwrap();
        let ticket = key.seal(&body()).unwrap();
        for i in 0..ticket.len() {
            let mut changed = ticket.clone();
            changed[i] ^= 0x20;
            let e = key.open(&changed).unwrap_err();
            let expected = if i < MAGIC.len() {
                ErrorKind::Config
            } else {
                ErrorKind::PermissionDenied
            };
            assert_eq!(e.kind(), expected, "byte {i}: {e}");
        }
        for len in 0..HEADER_LEN {
            assert_eq!(
                key.open(&ticket[..len]).unwrap_err().kind(),
                ErrorKind::Config
            );
        }
    }

    #[test]
    fn a_key_file_is_shared_and_must_be_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "0123456789abcdef0123456789abcdef\n").unwrap();
        let (a, b) = (
            TicketKey::from_file(&path).unwrap(),
            TicketKey::from_file(&path).unwrap(),
        );
        assert_eq!(b.open(&a.seal(&body()).unwrap()).unwrap(), body());
        std::fs::write(&path, "short").unwrap();
        let e = TicketKey::from_file(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("at least 32"), "{e}");
    }
}
