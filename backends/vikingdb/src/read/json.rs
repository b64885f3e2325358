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
    rows: JsonRows,
}

impl JsonObject {
    pub(crate) fn new(cursor: ObjectCursor, target: SchemaRef, batch_size: usize) -> Result<Self> {
        Ok(JsonObject {
            cursor: Some(cursor),
            rows: JsonRows::new(target, batch_size)?,
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
        loop {
            if let Some(batch) = self.rows.next_batch(&key)? {
                return Ok(Some(batch));
            }
            if cursor.pos() < cursor.size() {
                let end = cursor.pos() + CHUNK;
                let chunk = cursor.read_to(end, cx).await?;
                self.rows.push(chunk, &key)?;
                continue;
            }
            if let Some(batch) = self.rows.finish(&key)? {
                return Ok(Some(batch));
            }
            let cursor = self.cursor.take().expect("checked above");
            cursor.finish(cx).await?;
            return Ok(None);
        }
    }
}

/// The rows of one JSON object, decoded from its chunks as they are pushed, in order.
#[derive(Debug)]
struct JsonRows {
    decoder: DebugDecoder,
    /// Decided by the first non-blank byte.
    layout: Option<Layout>,
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

impl JsonRows {
    fn new(target: SchemaRef, batch_size: usize) -> Result<Self> {
        // A decoder of batches of 0 rows takes no input: every row would be lost.
        let decoder = ReaderBuilder::new(json_decode_schema(&target))
            .with_batch_size(batch_size.max(1))
            .build_decoder()?;
        Ok(JsonRows {
            decoder: DebugDecoder(decoder),
            layout: None,
            pending: Bytes::new(),
            target,
        })
    }

    /// Takes the next chunk of the object, once the previous one was decoded.
    fn push(&mut self, chunk: Bytes, key: &str) -> Result<()> {
        let first = self.layout.is_none();
        let layout = self.layout.get_or_insert_with(|| match first_byte(&chunk) {
            Some(b'[') => Layout::Array(ArrayUnwrapper::default()),
            _ => Layout::Lines(Nesting::default()),
        });
        self.pending = match layout {
            Layout::Array(u) => u.push(&chunk).map_err(|e| invalid(key, &e))?.into(),
            Layout::Lines(nesting) => {
                for &b in chunk.iter() {
                    nesting.step(b).map_err(|e| invalid(key, &e))?;
                }
                // Only the object starts with a BOM; later chunks may start inside a string.
                if first { strip_bom(chunk) } else { chunk }
            }
        };
        Ok(())
    }

    /// Decodes what was pushed; a batch once the decoder holds a full one.
    fn next_batch(&mut self, key: &str) -> Result<Option<RecordBatch>> {
        while !self.pending.is_empty() {
            let used = self
                .decoder
                .0
                .decode(&self.pending)
                .map_err(|e| invalid(key, &e))?;
            let _ = self.pending.split_to(used);
            if !self.pending.is_empty() {
                // The decoder stops at a full batch; dropping the rest would lose rows.
                let batch = self.flush(key)?;
                return batch
                    .ok_or_else(|| invalid(key, &"the decoder stopped short of a batch"))
                    .map(Some);
            }
        }
        Ok(None)
    }

    /// The last batch once the object has ended, then `None`; an error if it ends inside a
    /// row or an unclosed array.
    fn finish(&mut self, key: &str) -> Result<Option<RecordBatch>> {
        if let Some(batch) = self.flush(key)? {
            return Ok(Some(batch));
        }
        if self.decoder.0.has_partial_record() {
            return Err(invalid(key, &"it ends inside a row"));
        }
        if let Some(Layout::Array(u)) = &self.layout
            && !u.closed
        {
            return Err(invalid(key, &"its array is never closed"));
        }
        Ok(None)
    }

    fn flush(&mut self, key: &str) -> Result<Option<RecordBatch>> {
        match self.decoder.0.flush() {
            Ok(Some(batch)) => conform(&batch, &self.target, key).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(invalid(key, &e)),
        }
    }
}

fn invalid(key: &str, why: &dyn std::fmt::Display) -> arrowport_core::Error {
    integrity(format!("`{key}` is not valid JSON rows: {why}"), key)
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

/// How an object holds its rows.
#[derive(Debug)]
enum Layout {
    Array(ArrayUnwrapper),
    Lines(Nesting),
}

/// Nesting deeper than this is an error, as in serde_json: arrow-json reports a value of the
/// wrong type by formatting it recursively, which overflows the stack on deep input.
const MAX_DEPTH: u32 = 128;

/// Where JSON text is, byte by byte across chunk boundaries: in a string or not, how deep.
#[derive(Debug, Default)]
struct Nesting {
    depth: u32,
    in_string: bool,
    escaped: bool,
}

impl Nesting {
    /// Follows `b`; an error when it opens a level past [`MAX_DEPTH`].
    fn step(&mut self, b: u8) -> std::result::Result<(), String> {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
            }
            return Ok(());
        }
        match b {
            b'"' => self.in_string = true,
            b'{' | b'[' if self.depth == MAX_DEPTH => {
                return Err(format!("it nests deeper than {MAX_DEPTH} levels"));
            }
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
        Ok(())
    }
}

/// Turns `[{..}, {..}]` into `{..}\n{..}` across chunk boundaries, tracking strings and
/// nesting so that commas and brackets inside rows are left alone.
#[derive(Debug, Default)]
struct ArrayUnwrapper {
    opened: bool,
    closed: bool,
    /// Inside the array.
    nesting: Nesting,
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
            if !self.nesting.in_string && b.is_ascii_whitespace() {
                out.push(b);
                continue;
            }
            if !self.nesting.in_string && self.closed {
                return Err("there is data after its closing `]`".into());
            }
            match (b, self.nesting.depth) {
                _ if self.nesting.in_string => self.nesting.step(b)?,
                (b'[', 0) if !self.opened => {
                    self.opened = true;
                    continue;
                }
                (b',', 0) => {
                    out.push(b'\n');
                    continue;
                }
                (b']', 0) => {
                    self.closed = true;
                    continue;
                }
                _ => self.nesting.step(b)?,
            }
            out.push(b);
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

/// Property tests: rows written as JSON lines or as an array, in chunks split anywhere, decode
/// to the same rows; mutated or random objects end in a clean error after bounded work.
/// `PROPTEST_CASES` scales them (see `tests/FUZZING.md`).
#[cfg(test)]
pub(crate) mod fuzz {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, AsArray, BooleanBuilder, Float32Builder, Int64Builder, ListBuilder, MapBuilder,
        StringBuilder,
    };
    use arrow::compute::concat_batches;
    use arrow::datatypes::{DataType, Field, Schema};
    use arrowport_core::ErrorKind;
    use proptest::collection::{btree_map, vec};
    use proptest::option;
    use proptest::prelude::*;

    use super::*;
    use crate::tos::fuzz::{apply, config, edits};

    /// One exported row: id, score, text, flag, tags, a 3-dimensional vector, sparse vector.
    pub(crate) type Row = (
        i64,
        Option<f32>,
        Option<String>,
        Option<bool>,
        Option<Vec<String>>,
        [f32; 3],
        Option<std::collections::BTreeMap<String, f32>>,
    );

    pub(crate) fn rows() -> impl Strategy<Value = Vec<Row>> {
        let float = -1e6f32..1e6;
        let row = (
            any::<i64>(),
            option::of(float.clone()),
            option::of(any::<String>()),
            option::of(any::<bool>()),
            option::of(vec("\\PC{0,6}", 0..3)),
            [float.clone(), float.clone(), float.clone()],
            option::of(btree_map("[a-z0-9]{1,4}", float, 0..3)),
        );
        vec(row, 0..6)
    }

    /// The rows as an exported file holds them (the vector as a plain list), and the schema a
    /// source announces for them (the vector as a fixed-size list).
    pub(crate) fn batch(rows: &[Row]) -> (RecordBatch, SchemaRef) {
        let mut id = Int64Builder::new();
        let mut score = Float32Builder::new();
        let mut text = StringBuilder::new();
        let mut flag = BooleanBuilder::new();
        let mut tags = ListBuilder::new(StringBuilder::new());
        let mut vector = ListBuilder::new(Float32Builder::new());
        let mut sparse = MapBuilder::new(None, StringBuilder::new(), Float32Builder::new());
        for (i, s, t, f, g, v, m) in rows {
            id.append_value(*i);
            score.append_option(*s);
            text.append_option(t.as_deref());
            flag.append_option(*f);
            tags.append_option(g.as_ref().map(|g| g.iter().map(Some)));
            vector.append_value(v.iter().copied().map(Some));
            match m {
                Some(m) => {
                    for (k, x) in m {
                        sparse.keys().append_value(k);
                        sparse.values().append_value(*x);
                    }
                    sparse.append(true).unwrap();
                }
                None => sparse.append(false).unwrap(),
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(id.finish()),
            Arc::new(score.finish()),
            Arc::new(text.finish()),
            Arc::new(flag.finish()),
            Arc::new(tags.finish()),
            Arc::new(vector.finish()),
            Arc::new(sparse.finish()),
        ];
        let names = ["id", "score", "text", "flag", "tags", "vector", "sparse"];
        let file = Arc::new(Schema::new(
            names
                .iter()
                .zip(&columns)
                .map(|(n, c)| Field::new(*n, c.data_type().clone(), *n != "id"))
                .collect::<Vec<_>>(),
        ));
        let mut target = file.fields().to_vec();
        let item = Arc::new(Field::new("item", DataType::Float32, true));
        target[5] = Arc::new(Field::new("vector", DataType::FixedSizeList(item, 3), true));
        let batch = RecordBatch::try_new(file, columns).unwrap();
        (batch, Arc::new(Schema::new(target)))
    }

    /// `batch` as JSON lines or as one JSON array.
    fn json(batch: &RecordBatch, array: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if array {
            let mut w = arrow::json::ArrayWriter::new(&mut out);
            w.write(batch).unwrap();
            w.finish().unwrap();
        } else {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            w.write(batch).unwrap();
            w.finish().unwrap();
        }
        if out.is_empty() && array {
            out.extend_from_slice(b"[]");
        }
        out
    }

    /// Decodes `object` pushed in `chunk`-byte pieces, as [`JsonObject`] does: the rows, or the
    /// first error. Every call must make progress. The first piece holds at least 4 bytes (a
    /// BOM and the byte that decides the layout), as the first 8 MiB chunk of an object does.
    fn decode(
        object: &[u8],
        chunk: usize,
        target: &SchemaRef,
        batch_size: usize,
    ) -> Result<Vec<RecordBatch>> {
        let mut rows = JsonRows::new(target.clone(), batch_size)?;
        let mut batches = Vec::new();
        let (head, rest) = object.split_at(object.len().min(chunk.max(4)));
        for piece in std::iter::once(head).chain(rest.chunks(chunk)) {
            rows.push(Bytes::copy_from_slice(piece), "k")?;
            for _ in 0..=piece.len() {
                match rows.next_batch("k")? {
                    Some(batch) => batches.push(batch),
                    None => break,
                }
            }
            assert!(rows.pending.is_empty(), "the decoder made no progress");
        }
        for _ in 0..=object.len() + 1 {
            match rows.finish("k")? {
                Some(batch) => batches.push(batch),
                None => return Ok(batches),
            }
        }
        panic!("finish made no progress");
    }

    fn check(
        object: &[u8],
        chunk: usize,
        target: &SchemaRef,
    ) -> std::result::Result<(), TestCaseError> {
        if let Err(e) = decode(object, chunk, target, 2) {
            prop_assert!(
                matches!(e.kind(), ErrorKind::DataIntegrity | ErrorKind::Schema),
                "{}",
                e
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn json_rows_round_trip(
            rows in rows(),
            array in any::<bool>(),
            bom in any::<bool>(),
            chunk in 1usize..64,
            batch_size in 0usize..4,
        ) {
            let (batch, target) = batch(&rows);
            let mut object = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
            object.extend(json(&batch, array));
            let decoded = decode(&object, chunk, &target, batch_size).unwrap();
            let expected = conform(&batch, &target, "k").unwrap();
            prop_assert_eq!(concat_batches(&target, &decoded).unwrap(), expected);
        }

        #[test]
        fn mutated_json_fails_cleanly(
            rows in rows(),
            array in any::<bool>(),
            chunk in 1usize..64,
            edits in edits(),
        ) {
            let (batch, target) = batch(&rows);
            let mut object = json(&batch, array);
            apply(&mut object, &edits);
            check(&object, chunk, &target)?;
        }

        #[test]
        fn random_json_fails_cleanly(
            object in prop_oneof![
                vec(any::<u8>(), 0..256),
                "[\\[\\]{}\",:0-9a-z\\\\ \n]{0,64}".prop_map(String::into_bytes),
            ],
            chunk in 1usize..64,
        ) {
            check(&object, chunk, &batch(&[]).1)?;
        }
    }

    /// Regression: a batch size of 0 made the decoder take no input and the object end with
    /// no rows and no error.
    #[test]
    fn a_batch_size_of_zero_loses_no_rows() {
        let (_, target) = batch(&[]);
        let object = br#"{"id": 1, "vector": [1, 2, 3]}
{"id": 2, "vector": [4, 5, 6]}"#;
        let decoded = decode(object, 1 << 20, &target, 0).unwrap();
        assert_eq!(decoded.iter().map(RecordBatch::num_rows).sum::<usize>(), 2);
    }

    /// Regression: every chunk that began with the bytes of a BOM lost them, also inside a
    /// string value.
    #[test]
    fn only_the_object_starts_with_a_bom() {
        let (_, target) = batch(&[]);
        let object = "\u{FEFF}{\"id\": 1, \"text\": \"a\u{FEFF}b\", \"vector\": [1, 2, 3]}";
        let split = object.rfind('\u{FEFF}').unwrap();
        let decoded = decode(object.as_bytes(), split, &target, 2).unwrap();
        let text = decoded[0].column_by_name("text").unwrap();
        assert_eq!(text.as_string::<i32>().value(0), "a\u{FEFF}b");
    }

    /// Numbers and nesting far past what the columns hold are errors.
    #[test]
    fn huge_and_deep_values_are_errors() {
        let (_, target) = batch(&[]);
        for object in [
            r#"{"id": 18446744073709551616, "vector": [1, 2, 3]}"#.to_string(),
            r#"{"id": 1, "vector": [1, 2, 3, 4]}"#.to_string(),
            format!(
                r#"{{"id": 1, "tags": {}{}}}"#,
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
            format!("[{}", "{\"id\": 1, \"vector\": [1, 2, 3]},".repeat(3)),
        ] {
            let err = decode(object.as_bytes(), 7, &target, 2).unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::DataIntegrity | ErrorKind::Schema),
                "{err}"
            );
        }
    }
}
