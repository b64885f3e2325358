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
/// [`ErrorKind::DataIntegrity`], anything else [`ErrorKind::Io`].
pub(crate) fn io_to_error(what: &str, e: io::Error) -> Error {
    let kind = match e.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
            ErrorKind::DataIntegrity
        }
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
