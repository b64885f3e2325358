//! Hive-style partitioning: splitting batches by the values of partition columns, and naming
//! directories after values in a way that can never leave the output directory.
//!
//! As in hive, pyarrow and Spark, partition columns are dropped from the data files (their
//! value is in the path, and in the manifest); null becomes `__HIVE_DEFAULT_PARTITION__`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Write as _;
use std::sync::Arc;

use arrowport_core::arrow::array::{ArrayRef, UInt32Array, new_empty_array};
use arrowport_core::arrow::compute::take_record_batch;
use arrowport_core::arrow::datatypes::{Schema, SchemaRef};
use arrowport_core::arrow::record_batch::RecordBatch;
use arrowport_core::arrow::row::{RowConverter, SortField};
use arrowport_core::arrow::util::display::{ArrayFormatter, FormatOptions};
use arrowport_core::{Error, Result};

/// The directory name of a null partition value, as hive writes it.
pub(crate) const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// One partition: the text of each partition column's value, `None` for null.
pub(crate) type PartitionKey = Vec<Option<String>>;

/// Splits batches by partition column values and drops those columns.
#[derive(Debug)]
pub(crate) struct Partitioner {
    names: Vec<String>,
    key_columns: Vec<usize>,
    data_columns: Vec<usize>,
    data_schema: SchemaRef,
}

impl Partitioner {
    /// Checks `partition_by` against `schema`: known, scalar, formattable columns, and at least
    /// one column left for the data files. An empty `partition_by` partitions nothing.
    pub(crate) fn new(schema: &Schema, partition_by: &[String]) -> Result<Self> {
        let all: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let mut key_columns = Vec::with_capacity(partition_by.len());
        for name in partition_by {
            let index = schema.index_of(name).map_err(|_| {
                Error::config(format!(
                    "`partition_by` names `{name}`, which is not a column; the columns are: {}",
                    all.join(", ")
                ))
            })?;
            let ty = schema.field(index).data_type();
            if ty.is_nested() {
                return Err(Error::config(format!(
                    "cannot partition by `{name}`: its type {ty} is not a scalar"
                )));
            }
            ArrayFormatter::try_new(new_empty_array(ty).as_ref(), &FormatOptions::default())
                .map_err(|e| Error::config(format!("cannot partition by `{name}` ({ty}): {e}")))?;
            key_columns.push(index);
        }
        let data_columns: Vec<usize> = (0..schema.fields().len())
            .filter(|i| !key_columns.contains(i))
            .collect();
        if data_columns.is_empty() {
            return Err(Error::config(
                "`partition_by` names every column; at least one must remain for the data files",
            ));
        }
        Ok(Partitioner {
            names: partition_by.to_vec(),
            key_columns,
            data_schema: Arc::new(schema.project(&data_columns)?),
            data_columns,
        })
    }

    /// The partition column names, in `partition_by` order.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    pub(crate) fn is_partitioned(&self) -> bool {
        !self.names.is_empty()
    }

    /// The schema of the data files: the input schema without the partition columns.
    pub(crate) fn data_schema(&self) -> &SchemaRef {
        &self.data_schema
    }

    /// One batch per partition present in `batch`, in order of first appearance, each without
    /// the partition columns. A batch of a single partition is passed through without copying.
    pub(crate) fn split(&self, batch: &RecordBatch) -> Result<Vec<(PartitionKey, RecordBatch)>> {
        let columns = self
            .data_columns
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        let data = RecordBatch::try_new(self.data_schema.clone(), columns)?;
        if !self.is_partitioned() {
            return Ok(vec![(Vec::new(), data)]);
        }
        let keys: Vec<ArrayRef> = self
            .key_columns
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        let converter = RowConverter::new(
            keys.iter()
                .map(|k| SortField::new(k.data_type().clone()))
                .collect(),
        )?;
        let rows = converter.convert_columns(&keys)?;

        // Group row indices by the encoded key; `groups` keeps first-appearance order.
        let mut index: HashMap<_, usize> = HashMap::new();
        let mut groups: Vec<Vec<u32>> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            match index.entry(row) {
                Entry::Occupied(e) => groups[*e.get()].push(i as u32),
                Entry::Vacant(e) => {
                    e.insert(groups.len());
                    groups.push(vec![i as u32]);
                }
            }
        }

        let formatters = keys
            .iter()
            .map(|k| ArrayFormatter::try_new(k.as_ref(), &FormatOptions::default()))
            .collect::<Result<Vec<_>, _>>()?;
        let key_of = |row: usize| -> PartitionKey {
            keys.iter()
                .zip(&formatters)
                .map(|(k, f)| k.is_valid(row).then(|| f.value(row).to_string()))
                .collect()
        };
        if groups.len() == 1 {
            return Ok(vec![(key_of(0), data)]);
        }
        groups
            .into_iter()
            .map(|rows| {
                let key = key_of(rows[0] as usize);
                Ok((key, take_record_batch(&data, &UInt32Array::from(rows))?))
            })
            .collect()
    }
}

/// The partition's directory relative to the output: `a=1/b=x`, or empty when unpartitioned.
pub(crate) fn directory_of(names: &[String], key: &PartitionKey) -> String {
    let mut out = String::new();
    for (name, value) in names.iter().zip(key) {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(&encode_segment(name));
        out.push('=');
        match value {
            Some(v) => out.push_str(&encode_segment(v)),
            None => out.push_str(NULL_PARTITION),
        }
    }
    out
}

/// Percent-encodes what could split, escape or confuse a path segment: separators, `%`, `=`,
/// characters Windows forbids, control characters and a leading `.`. Every segment this
/// produces contains `=`, so it is never `.` or `..`, and it never contains a separator.
pub(crate) fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        let escape = matches!(
            c,
            '/' | '\\' | '%' | '=' | ':' | '*' | '?' | '"' | '<' | '>' | '|'
        ) || c.is_control()
            || (i == 0 && c == '.');
        if escape {
            for b in c.encode_utf8(&mut [0; 4]).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use arrowport_core::ErrorKind;
    use arrowport_core::arrow::array::{Int32Array, StringArray};
    use arrowport_core::arrow::datatypes::{DataType, Field};

    use super::*;

    #[test]
    fn hostile_values_stay_one_segment() {
        assert_eq!(encode_segment("../etc"), "%2E.%2Fetc");
        assert_eq!(encode_segment(".."), "%2E.");
        assert_eq!(encode_segment("a/b\\c"), "a%2Fb%5Cc");
        assert_eq!(
            encode_segment("100%=x:y*?\"<>|"),
            "100%25%3Dx%3Ay%2A%3F%22%3C%3E%7C"
        );
        assert_eq!(encode_segment("tab\there\u{0}"), "tab%09here%00");
        assert_eq!(encode_segment("日本.txt"), "日本.txt");
        let names = vec!["a".to_string(), "../b".to_string()];
        assert_eq!(
            directory_of(&names, &vec![Some("..".into()), None]),
            "a=%2E./%2E.%2Fb=__HIVE_DEFAULT_PARTITION__"
        );
    }

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int32, false),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("x"),
                    None,
                    Some("x"),
                    Some("y"),
                ])),
                Arc::new(Int32Array::from(vec![1, 2, 3, 4])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn splits_in_first_appearance_order() {
        let b = batch();
        let p = Partitioner::new(&b.schema(), &["k".to_string()]).unwrap();
        let parts = p.split(&b).unwrap();
        let keys: Vec<_> = parts.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(
            keys,
            vec![
                vec![Some("x".to_string())],
                vec![None],
                vec![Some("y".to_string())]
            ]
        );
        assert_eq!(parts[0].1.num_rows(), 2);
        assert_eq!(parts[0].1.num_columns(), 1);
        let v = parts[0]
            .1
            .column(0)
            .as_any()
            .downcast_ref::<Int32Array>()
            .unwrap();
        assert_eq!(v.values(), &[1, 3]);
    }

    #[test]
    fn rejects_bad_partition_columns() {
        let b = batch();
        let e = Partitioner::new(&b.schema(), &["nope".to_string()]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("the columns are: k, v"), "{e}");
        let e = Partitioner::new(&b.schema(), &["k".to_string(), "v".to_string()]).unwrap_err();
        assert!(e.message().contains("at least one"), "{e}");
    }
}
