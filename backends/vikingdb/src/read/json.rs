//! JSON objects, read in ranged chunks. The exported layout is not public, so the first
//! non-blank byte decides: `[` is one JSON array of rows, anything else JSON lines (or
//! concatenated objects). Arrays are unwrapped on the fly into a stream of objects.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::json::reader::{Decoder, ReaderBuilder};
use arrowport_core::{Context, Result};
use bytes::Bytes;

use super::CHUNK;
use super::cursor::ObjectCursor;
use crate::conform::{conform, json_decode_schema};
use crate::error::integrity;

#[derive(Debug)]
pub(crate) struct JsonObject {
    cursor: Option<ObjectCursor>,
    decoder: DebugDecoder,
    /// Decided by the first non-blank byte.
    unwrap: Option<Option<ArrayUnwrapper>>,
    pending: Bytes,
    target: SchemaRef,
}

/// arrow-json's decoder has no `Debug`.
struct DebugDecoder(Decoder);

impl std::fmt::Debug for DebugDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decoder")
    }
}

impl JsonObject {
    pub(crate) fn new(cursor: ObjectCursor, target: SchemaRef, batch_size: usize) -> Result<Self> {
        let decoder = ReaderBuilder::new(json_decode_schema(&target))
            .with_batch_size(batch_size)
            .build_decoder()?;
        Ok(JsonObject {
            cursor: Some(cursor),
            decoder: DebugDecoder(decoder),
            unwrap: None,
            pending: Bytes::new(),
            target,
        })
    }

    /// The next batch, `None` after the last one once the object checked out whole.
    pub(crate) async fn next(&mut self, cx: &Context) -> Option<Result<RecordBatch>> {
        let result = self.advance(cx).await;
        if !matches!(result, Ok(Some(_))) {
            self.cursor = None;
        }
        result.transpose()
    }

    async fn advance(&mut self, cx: &Context) -> Result<Option<RecordBatch>> {
        let Some(cursor) = self.cursor.as_mut() else {
            return Ok(None);
        };
        let key = cursor.key().to_string();
        let bad = |e: &dyn std::fmt::Display| {
            integrity(format!("`{key}` is not valid JSON rows: {e}"), &key)
        };
        loop {
            if !self.pending.is_empty() {
                let used = self.decoder.0.decode(&self.pending).map_err(|e| bad(&e))?;
                let _ = self.pending.split_to(used);
                if !self.pending.is_empty() {
                    // The decoder holds a full batch.
                    return self.flush(&key);
                }
                continue;
            }
            if cursor.pos() < cursor.size() {
                let end = cursor.pos() + CHUNK;
                let chunk = cursor.read_to(end, cx).await?;
                let unwrap = self.unwrap.get_or_insert_with(|| match first_byte(&chunk) {
                    Some(b'[') => Some(ArrayUnwrapper::default()),
                    _ => None,
                });
                self.pending = match unwrap {
                    Some(u) => u.push(&chunk).map_err(|e| bad(&e))?.into(),
                    None => strip_bom(chunk),
                };
                continue;
            }
            if let Some(batch) = self.flush(&key)? {
                return Ok(Some(batch));
            }
            if self.decoder.0.has_partial_record() {
                return Err(bad(&"it ends inside a row"));
            }
            if let Some(Some(u)) = &self.unwrap
                && !u.closed
            {
                return Err(bad(&"its array is never closed"));
            }
            let cursor = self.cursor.take().expect("checked above");
            cursor.finish(cx).await?;
            return Ok(None);
        }
    }

    fn flush(&mut self, key: &str) -> Result<Option<RecordBatch>> {
        match self.decoder.0.flush() {
            Ok(Some(batch)) => conform(&batch, &self.target, key).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(integrity(
                format!("`{key}` is not valid JSON rows: {e}"),
                key,
            )),
        }
    }
}

fn first_byte(chunk: &[u8]) -> Option<u8> {
    let chunk = chunk.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(chunk);
    chunk.iter().copied().find(|b| !b.is_ascii_whitespace())
}

fn strip_bom(chunk: Bytes) -> Bytes {
    if chunk.starts_with(b"\xEF\xBB\xBF") {
        chunk.slice(3..)
    } else {
        chunk
    }
}

/// Turns `[{..}, {..}]` into `{..}\n{..}` across chunk boundaries, tracking strings and
/// nesting so that commas and brackets inside rows are left alone.
#[derive(Debug, Default)]
struct ArrayUnwrapper {
    opened: bool,
    closed: bool,
    depth: u32,
    in_string: bool,
    escaped: bool,
}

impl ArrayUnwrapper {
    fn push(&mut self, input: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(input.len());
        let input = if self.opened {
            input
        } else {
            input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input)
        };
        for &b in input {
            if self.in_string {
                out.push(b);
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            if b.is_ascii_whitespace() {
                out.push(b);
                continue;
            }
            if self.closed {
                return Err("there is data after its closing `]`".into());
            }
            match (b, self.depth) {
                (b'[', 0) if !self.opened => self.opened = true,
                (b',', 0) => out.push(b'\n'),
                (b']', 0) => self.closed = true,
                (b'"', _) => {
                    self.in_string = true;
                    out.push(b);
                }
                (b'{' | b'[', _) => {
                    self.depth += 1;
                    out.push(b);
                }
                (b'}' | b']', d) if d > 0 => {
                    self.depth -= 1;
                    out.push(b);
                }
                _ => out.push(b),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unwrap_all(parts: &[&str]) -> String {
        let mut u = ArrayUnwrapper::default();
        let out: Vec<u8> = parts
            .iter()
            .flat_map(|p| u.push(p.as_bytes()).unwrap())
            .collect();
        assert!(u.closed);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn arrays_become_lines_across_chunk_boundaries() {
        let text = r#" [ {"a": [1, 2], "s": "x,]\"y"}, {"a": []} ] "#;
        for split in 0..text.len() {
            let out = unwrap_all(&[&text[..split], &text[split..]]);
            let rows: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&out)
                .into_iter()
                .collect::<std::result::Result<_, _>>()
                .unwrap();
            assert_eq!(rows.len(), 2, "split at {split}: {out}");
            assert_eq!(rows[0]["s"], "x,]\"y");
        }
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        let mut u = ArrayUnwrapper::default();
        assert!(u.push(b"[{}] x").is_err());
    }
}
