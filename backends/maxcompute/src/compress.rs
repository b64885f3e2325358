//! HTTP-level `Content-Encoding` codecs of tunnel bodies (spec §3.3).
//!
//! Compression wraps the whole record stream or the whole Arrow-framed body; decompress first,
//! then decode.

use std::io::{self, BufRead, BufReader, Read, Write};

use arrowport_core::{Error, ErrorKind, Result};

/// A tunnel body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// No `Content-Encoding` (or `identity`).
    None,
    /// `deflate`: zlib-wrapped deflate (RFC 1950).
    Deflate,
    /// `zstd`: a standard zstd frame.
    Zstd,
    /// `x-lz4-frame` (records) or `x-odps-lz4-frame` (Arrow): the LZ4 frame format.
    Lz4Frame,
}

impl Compression {
    /// Parses a `Content-Encoding` value (case-insensitive). `x-snappy-framed` and unknown
    /// encodings are [`ErrorKind::Unsupported`].
    pub fn from_content_encoding(value: &str) -> Result<Compression> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Compression::None),
            "deflate" => Ok(Compression::Deflate),
            "zstd" => Ok(Compression::Zstd),
            "x-lz4-frame" | "x-odps-lz4-frame" | "lz4_frame" => Ok(Compression::Lz4Frame),
            other => Err(Error::new(
                ErrorKind::Unsupported,
                format!("unsupported tunnel Content-Encoding {other:?}"),
            )),
        }
    }

    /// The `Content-Encoding` value for record streams (`None` for no compression).
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Deflate => Some("deflate"),
            Compression::Zstd => Some("zstd"),
            Compression::Lz4Frame => Some("x-lz4-frame"),
        }
    }

    /// The `Content-Encoding` (or `Accept-Encoding`) value for Arrow bodies, where PyODPS
    /// names LZ4 `x-odps-lz4-frame`.
    pub fn arrow_content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::Lz4Frame => Some("x-odps-lz4-frame"),
            c => c.content_encoding(),
        }
    }

    /// Wraps `input` so that reading yields the decompressed bytes; buffered, so that frames
    /// can be copied out of it without a zero-filled destination.
    pub fn decoder<'a, R: BufRead + 'a>(self, input: R) -> Result<Box<dyn BufRead + 'a>> {
        Ok(match self {
            Compression::None => Box::new(input),
            Compression::Deflate => {
                Box::new(BufReader::new(flate2::bufread::ZlibDecoder::new(input)))
            }
            Compression::Zstd => Box::new(BufReader::new(
                zstd::stream::read::Decoder::with_buffer(input)
                    .map_err(|e| Error::io("cannot start a zstd decoder", e))?,
            )),
            Compression::Lz4Frame => {
                Box::new(BufReader::new(lz4_flex::frame::FrameDecoder::new(input)))
            }
        })
    }

    /// Decompresses a whole body.
    pub fn decompress(self, input: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len() * 3);
        self.decoder(input)?
            .read_to_end(&mut out)
            .map_err(|e| io_to_error("cannot decompress a tunnel body", e))?;
        Ok(out)
    }

    /// Compresses a whole body (levels as PyODPS: fast).
    pub fn compress(self, input: &[u8]) -> Result<Vec<u8>> {
        let err = |e| Error::io("cannot compress a tunnel body", e);
        match self {
            Compression::None => Ok(input.to_vec()),
            Compression::Deflate => {
                let mut w =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
                w.write_all(input).map_err(err)?;
                w.finish().map_err(err)
            }
            Compression::Zstd => zstd::stream::encode_all(input, 1).map_err(err),
            Compression::Lz4Frame => {
                let mut w = lz4_flex::frame::FrameEncoder::new(Vec::new());
                w.write_all(input).map_err(err)?;
                w.finish().map_err(|e| {
                    Error::new(ErrorKind::Io, format!("cannot compress a tunnel body: {e}"))
                })
            }
        }
    }
}

/// Maps an I/O error met while reading a tunnel body: corrupt or truncated data is
/// [`ErrorKind::DataIntegrity`], anything else [`ErrorKind::Io`]. The zstd and LZ4 decoders
/// report corrupt input as [`io::ErrorKind::Other`].
pub(crate) fn io_to_error(what: &str, e: io::Error) -> Error {
    let kind = match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::InvalidData
        | io::ErrorKind::InvalidInput
        | io::ErrorKind::Other => ErrorKind::DataIntegrity,
        _ => ErrorKind::Io,
    };
    Error::new(kind, format!("{what}: {e}")).with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        for c in [
            Compression::None,
            Compression::Deflate,
            Compression::Zstd,
            Compression::Lz4Frame,
        ] {
            let z = c.compress(&data).unwrap();
            assert_eq!(c.decompress(&z).unwrap(), data, "{c:?}");
            if let Some(enc) = c.content_encoding() {
                assert_eq!(Compression::from_content_encoding(enc).unwrap(), c);
            }
        }
        assert_eq!(
            Compression::from_content_encoding("x-snappy-framed")
                .unwrap_err()
                .kind(),
            ErrorKind::Unsupported
        );
        let err = Compression::Deflate.decompress(b"not zlib").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DataIntegrity);
    }
}

/// Property tests: every codec round-trips, and mutated or random bodies end in a clean error
/// after bounded work. `PROPTEST_CASES` scales them (see `tests/FUZZING.md`).
#[cfg(test)]
mod fuzz {
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::select;

    use super::*;
    use crate::record::fuzz::{apply, config, edits};

    const CODECS: [Compression; 4] = [
        Compression::None,
        Compression::Deflate,
        Compression::Zstd,
        Compression::Lz4Frame,
    ];

    /// Compressible bytes: runs of a few distinct values.
    fn data() -> impl Strategy<Value = Vec<u8>> {
        vec((any::<u8>(), 1usize..64), 0..32)
            .prop_map(|runs| runs.into_iter().flat_map(|(b, n)| vec![b; n]).collect())
    }

    /// Decompresses at most 64 MiB (a few hundred corrupt bytes may still expand a lot): only
    /// data errors.
    fn check(codec: Compression, body: &[u8]) -> std::result::Result<(), TestCaseError> {
        let mut out = Vec::new();
        let read = codec
            .decoder(body)
            .unwrap()
            .take(64 << 20)
            .read_to_end(&mut out);
        if let Err(e) = read {
            let err = io_to_error("cannot decompress a tunnel body", e);
            prop_assert_eq!(err.kind(), ErrorKind::DataIntegrity, "{:?}: {}", codec, err);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn bodies_round_trip(data in data(), codec in select(&CODECS[..])) {
            let body = codec.compress(&data).unwrap();
            prop_assert_eq!(codec.decompress(&body).unwrap(), data);
        }

        #[test]
        fn mutated_bodies_fail_cleanly(
            data in data(),
            codec in select(&CODECS[1..]),
            edits in edits(),
        ) {
            let mut body = codec.compress(&data).unwrap();
            apply(&mut body, &edits);
            check(codec, &body)?;
        }

        #[test]
        fn random_bodies_fail_cleanly(body in vec(any::<u8>(), 0..512), codec in select(&CODECS[1..])) {
            check(codec, &body)?;
        }
    }

    /// Regression: zstd and LZ4 report corrupt input as `Other`, which was an `Io` error. (An
    /// LZ4 frame cut inside its end mark still decodes: the record and Arrow formats inside
    /// verify their own ends.)
    #[test]
    fn corrupt_bodies_are_integrity_errors() {
        for codec in &CODECS[1..] {
            let body = codec.compress(b"some tunnel body").unwrap();
            for broken in [&b"\0"[..], &body[..body.len() / 2]] {
                let err = codec.decompress(broken).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::DataIntegrity, "{codec:?}: {err}");
            }
        }
    }

    /// A zstd frame or block of 2^31, 2^40 or u64::MAX bytes, or an LZ4 block past its 4 MiB
    /// limit, is a data error found without allocating for it. (The zstd window is bounded by
    /// the library's 128 MiB default; an LZ4 size of 2^31 or 2^40 cut to `u32` reads as the end
    /// mark, and the formats inside report the missing data.)
    #[test]
    fn huge_sizes_are_errors() {
        // zstd: magic, a single-segment frame with an 8-byte content size, one raw last block.
        let zstd = |content: u64, block: u32| {
            let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0xe0];
            frame.extend_from_slice(&content.to_le_bytes());
            frame.extend_from_slice(&(block << 3 | 1).to_le_bytes()[..3]);
            frame.push(b'x');
            frame
        };
        assert_eq!(Compression::Zstd.decompress(&zstd(1, 1)).unwrap(), b"x");
        for huge in [1u64 << 31, 1 << 40, u64::MAX] {
            for body in [zstd(huge, 1), zstd(1, huge as u32 & 0x1f_ffff)] {
                let err = Compression::Zstd.decompress(&body).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::DataIntegrity, "zstd {huge}: {err}");
            }
        }
        // LZ4: the first block size follows the 7-byte frame header.
        let lz4 = Compression::Lz4Frame.compress(b"some tunnel body").unwrap();
        for huge in [(1u32 << 31) - 1, 1 << 23, u32::MAX] {
            let mut body = lz4.clone();
            body[7..11].copy_from_slice(&huge.to_le_bytes());
            let err = Compression::Lz4Frame.decompress(&body).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::DataIntegrity, "LZ4 {huge}: {err}");
        }
    }
}
