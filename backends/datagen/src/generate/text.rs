//! Static vocabularies and the writer that turns picks from them into string and binary
//! columns. Values are copied from fixed tables straight into one byte buffer, so no string is
//! allocated or formatted per value.

use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrowport_core::{Error, ErrorKind, Result};

/// Low-cardinality labels (`category`). ASCII only: they are meant for `partition_by`, where
/// they become directory names.
pub(crate) const CATEGORIES: &[&str] = &[
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa",
];

/// Awkward text for the `text` column: empty, CJK, emoji (with a skin-tone modifier),
/// accents, right-to-left scripts, and the characters CSV and JSON writers must escape.
pub(crate) const AWKWARD: &[&str] = &[
    "",
    "hello",
    "world",
    "Arrow",
    "数据导出",
    "你好，世界",
    "向量检索",
    "🚀",
    "emoji 😀👍🏽",
    "naïve café",
    "Grüße",
    "Ελληνικά",
    "русский",
    "日本語テキスト",
    "한국어",
    "עברית",
    "مرحبا",
    "comma, separated",
    "\"quoted\"",
    "line\nbreak",
    "tab\tseparated",
    "back\\slash",
    "  padded  ",
    "0",
];

/// Words for sentences (`text` of the vectors profile).
pub(crate) const WORDS: &[&str] = &[
    "the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "vector", "search",
    "query", "index", "table", "export", "arrow", "cloud", "storage", "数据", "检索", "向量",
    "模型", "云", "存储", "🚀", "✨",
];

/// List elements (`list_utf8`, `meta.tags`); the empty string is a legitimate tag.
pub(crate) const TAGS: &[&str] = &[
    "red", "green", "blue", "sale", "new", "vip", "", "新品", "热门", "限量", "🔥", "⭐",
];

/// Struct field values (`meta.source`).
pub(crate) const SOURCES: &[&str] = &["web", "app", "api", "crawler", "import", "用户上传"];

/// Sparse-vector terms, in byte order with no repeats, so choosing a subset in table order
/// yields sorted unique map keys. At most 64, one bit of a u64 each.
pub(crate) const TERMS: &[&str] = &[
    "almond",
    "apple",
    "apricot",
    "avocado",
    "banana",
    "blueberry",
    "cherry",
    "date",
    "elder",
    "fig",
    "grape",
    "honeydew",
    "kiwi",
    "lemon",
    "mango",
    "nectarine",
    "olive",
    "papaya",
    "quince",
    "raspberry",
    "strawberry",
    "tangerine",
    "ugli",
    "vanilla",
    "watermelon",
    "xigua",
    "yam",
    "zucchini",
    "向量",
    "数据",
    "检索",
    "模型",
];

/// Builds the offsets and bytes of a variable-width column one value at a time.
#[derive(Debug)]
pub(crate) struct ByteColumn {
    offsets: Vec<i32>,
    bytes: Vec<u8>,
}

impl ByteColumn {
    pub(crate) fn with_capacity(values: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(values + 1);
        offsets.push(0);
        ByteColumn {
            offsets,
            bytes: Vec::with_capacity(bytes),
        }
    }

    /// Appends bytes to the value being written.
    pub(crate) fn extend(&mut self, part: &[u8]) {
        self.bytes.extend_from_slice(part);
    }

    /// Ends the value being written (an empty one if nothing was appended, as for nulls).
    pub(crate) fn end_value(&mut self) {
        // Wraps only past i32::MAX bytes, which `finish` rejects.
        self.offsets.push(self.bytes.len() as i32);
    }

    /// Appends `words[i]` for each index, separated by single spaces, as one value.
    pub(crate) fn push_words(&mut self, words: &[&str], indices: impl Iterator<Item = usize>) {
        for (n, i) in indices.enumerate() {
            if n > 0 {
                self.extend(b" ");
            }
            self.extend(words[i].as_bytes());
        }
        self.end_value();
    }

    /// The offsets and data, or an error when the data outgrew 32-bit offsets.
    pub(crate) fn finish(self) -> Result<(OffsetBuffer<i32>, Buffer)> {
        if i32::try_from(self.bytes.len()).is_err() {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!(
                    "a generated column needs {} bytes, more than 32-bit offsets address; \
                     use a smaller batch_size",
                    self.bytes.len()
                ),
            ));
        }
        Ok((
            OffsetBuffer::new(ScalarBuffer::from(self.offsets)),
            Buffer::from_vec(self.bytes),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_sorted_unique_and_fit_a_mask() {
        assert!(TERMS.len() <= 64);
        assert!(
            TERMS.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()),
            "{TERMS:?}"
        );
    }

    #[test]
    fn categories_are_distinct_ascii() {
        assert_eq!(CATEGORIES.len(), 16);
        let mut sorted = CATEGORIES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), CATEGORIES.len());
        assert!(CATEGORIES.iter().all(|c| c.is_ascii()));
    }

    #[test]
    fn writes_offsets_and_bytes() {
        let mut col = ByteColumn::with_capacity(3, 16);
        col.push_words(WORDS, [0, 1].into_iter());
        col.end_value();
        col.push_words(TAGS, [7].into_iter());
        let (offsets, bytes) = col.finish().unwrap();
        assert_eq!(offsets.as_ref(), &[0, 9, 9, 15]);
        assert_eq!(bytes.as_slice(), "the quick新品".as_bytes());
    }
}
