//! Portable splits: every split of a plan carries a token that any process, on any machine,
//! can read the split from again without planning: resume journals, Flight tickets and
//! Python or Dask read tasks are all just tokens.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The token layout this build writes and reads. A token of another version is refused
/// rather than guessed at.
pub const TOKEN_VERSION: u32 = 1;

/// What a source needs to read one split again: the plugin that planned it and that plugin's
/// own description of the split (a download session and row range, an object key with its
/// size and CRC, a seed and row range). Never holds secrets: credentials come from the
/// reader's environment.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitToken {
    /// [`TOKEN_VERSION`] when written.
    pub v: u32,
    /// The source plugin (URL scheme) that planned the split.
    pub source: String,
    /// The plugin's description of the split.
    pub split: serde_json::Value,
}

impl fmt::Debug for SplitToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SplitToken({})", self.to_json())
    }
}

impl SplitToken {
    /// The token of `split`, planned by `source`.
    pub fn new(source: &str, split: &impl Serialize) -> Result<Self> {
        let split = serde_json::to_value(split).map_err(|e| {
            Error::new(
                crate::ErrorKind::Unexpected,
                format!("{source}: cannot encode a split token: {e}"),
            )
        })?;
        Ok(SplitToken {
            v: TOKEN_VERSION,
            source: source.to_string(),
            split,
        })
    }

    /// The plugin's description, after checking that `plugin` planned it with a layout this
    /// build reads. A token of another source is a configuration error: the reader was
    /// given the wrong token or the wrong URL.
    pub fn decode<T: DeserializeOwned>(&self, plugin: &str) -> Result<T> {
        if self.source != plugin {
            return Err(Error::config(format!(
                "{plugin}: this split token was planned by the `{}` source, not by {plugin}",
                self.source
            ))
            .with_context("plugin", plugin));
        }
        if self.v != TOKEN_VERSION {
            return Err(Error::config(format!(
                "{plugin}: the split token has layout version {}, this arrowport reads version \
                 {TOKEN_VERSION}; plan again with this version",
                self.v
            ))
            .with_context("plugin", plugin));
        }
        serde_json::from_value(self.split.clone()).map_err(|e| {
            Error::config(format!("{plugin}: the split token is malformed: {e}"))
                .with_context("plugin", plugin)
        })
    }

    /// Compact JSON, the token's one wire form (plan files, tickets, pickles).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a JSON value always serializes")
    }

    /// Parses a token from its JSON form.
    pub fn from_json(text: &[u8]) -> Result<Self> {
        serde_json::from_slice(text).map_err(|e| Error::config(format!("not a split token: {e}")))
    }
}

/// A part of a source that can be read independently of the others, by this process or any
/// other, through its [`SplitToken`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Split {
    /// Position in the plan; batches are delivered in split order.
    pub index: usize,
    /// A short human-readable description (`rows 0..1000000`, an object key, …).
    pub description: String,
    /// Rows in the split, when known before reading.
    pub rows: Option<u64>,
    /// Bytes in the split, when known before reading.
    pub bytes: Option<u64>,
    pub token: SplitToken,
}

impl Split {
    pub fn new(index: usize, description: impl Into<String>, token: SplitToken) -> Self {
        Split {
            index,
            description: description.into(),
            rows: None,
            bytes: None,
            token,
        }
    }

    pub fn with_rows(mut self, rows: u64) -> Self {
        self.rows = Some(rows);
        self
    }

    pub fn with_bytes(mut self, bytes: u64) -> Self {
        self.bytes = Some(bytes);
        self
    }
}

/// The error for a token that names another table than the one the reader's URL does: the
/// reader was given the wrong token or the wrong URL, and reading would return other rows.
pub fn foreign_token(plugin: &str, token_reads: &str, source_reads: &str) -> Error {
    Error::config(format!(
        "{plugin}: the split token reads {token_reads}, not {source_reads}; read it with the URL \
         it was planned from"
    ))
    .with_context("plugin", plugin)
}

/// Parses a split selection such as `3,7-9` into sorted, distinct split indices, each below
/// `count`.
pub fn parse_selection(text: &str, count: usize) -> Result<Vec<usize>> {
    let bad = |why: String| Error::config(format!("--splits `{text}`: {why}"));
    let mut picked = std::collections::BTreeSet::new();
    for item in text.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(bad("an empty item; write e.g. `3,7-9`".into()));
        }
        let number = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| bad(format!("`{s}` is not a split number")))
        };
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(item)?, number(item)?),
        };
        if first > last {
            return Err(bad(format!("the range `{item}` runs backwards")));
        }
        if last >= count {
            return Err(bad(format!(
                "split {last} is out of range: the plan has {count} split(s), 0..{}",
                count.saturating_sub(1)
            )));
        }
        picked.extend(first..=last);
    }
    Ok(picked.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Range {
        start: u64,
        end: u64,
    }

    #[test]
    fn tokens_round_trip_and_name_their_source() {
        let token = SplitToken::new("datagen", &Range { start: 1, end: 5 }).unwrap();
        let back = SplitToken::from_json(token.to_json().as_bytes()).unwrap();
        assert_eq!(back, token);
        assert_eq!(
            back.decode::<Range>("datagen").unwrap(),
            Range { start: 1, end: 5 }
        );
        let e = back.decode::<Range>("maxcompute").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Config);
        assert!(
            e.message().contains("planned by the `datagen` source"),
            "{e}"
        );
    }

    #[test]
    fn other_versions_and_malformed_tokens_are_refused() {
        let mut token = SplitToken::new("datagen", &Range { start: 1, end: 5 }).unwrap();
        token.v = 2;
        let e = token.decode::<Range>("datagen").unwrap_err();
        assert!(e.message().contains("layout version 2"), "{e}");
        token.v = TOKEN_VERSION;
        token.split = serde_json::json!({"start": "x"});
        assert!(token.decode::<Range>("datagen").is_err());
        assert!(SplitToken::from_json(b"{\"v\":1}").is_err());
        assert!(SplitToken::from_json(b"\xff").is_err());
    }

    #[test]
    fn selections_are_sorted_distinct_and_in_range() {
        assert_eq!(parse_selection("3,7-9", 10).unwrap(), [3, 7, 8, 9]);
        assert_eq!(parse_selection("9, 1-2,2", 10).unwrap(), [1, 2, 9]);
        for bad in ["", "1,", "a", "5-3", "10", "2-10", "-1"] {
            let e = parse_selection(bad, 10).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Config, "{bad}");
        }
        assert!(
            parse_selection("10", 10)
                .unwrap_err()
                .message()
                .contains("the plan has 10 split(s)")
        );
    }
}
