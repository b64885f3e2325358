//! HTTP-level compression of data bodies (spec §3.3), picked from `Accept-Encoding` and
//! announced in `Content-Encoding`: `deflate` is zlib-wrapped, `zstd` a standard frame, the
//! two LZ4 names the LZ4 frame format. Compressors stream: each piece of body goes in as it
//! is encoded and whatever compressed bytes are ready come out.

use std::io::{self, Write};

use flate2::Compression;
use flate2::write::ZlibEncoder;

/// A body's `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Identity,
    Deflate,
    Zstd,
    /// LZ4 frames, under the name the client asked for (`x-odps-lz4-frame` or `x-lz4-frame`).
    Lz4(&'static str),
}

impl Encoding {
    /// The first encoding of the client's list the emulator can produce; identity if none.
    pub(crate) fn from_accept(accept: Option<&str>) -> Self {
        accept
            .unwrap_or_default()
            .split(',')
            .map(|item| item.split(';').next().unwrap_or_default().trim())
            .find_map(|name| match name.to_ascii_lowercase().as_str() {
                "deflate" => Some(Encoding::Deflate),
                "zstd" => Some(Encoding::Zstd),
                "x-odps-lz4-frame" => Some(Encoding::Lz4("x-odps-lz4-frame")),
                "x-lz4-frame" => Some(Encoding::Lz4("x-lz4-frame")),
                _ => None,
            })
            .unwrap_or(Encoding::Identity)
    }

    /// The `Content-Encoding` header value, none for identity.
    pub(crate) fn header(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Deflate => Some("deflate"),
            Encoding::Zstd => Some("zstd"),
            Encoding::Lz4(name) => Some(name),
        }
    }
}

/// A streaming compressor writing into its own buffer, drained after every piece.
pub(crate) enum Compressor {
    Identity,
    Deflate(ZlibEncoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
    Lz4(Box<lz4_flex::frame::FrameEncoder<Vec<u8>>>),
}

impl Compressor {
    pub(crate) fn new(encoding: Encoding) -> io::Result<Self> {
        Ok(match encoding {
            Encoding::Identity => Compressor::Identity,
            Encoding::Deflate => {
                Compressor::Deflate(ZlibEncoder::new(Vec::new(), Compression::fast()))
            }
            Encoding::Zstd => Compressor::Zstd(zstd::stream::write::Encoder::new(Vec::new(), 1)?),
            Encoding::Lz4(_) => {
                Compressor::Lz4(Box::new(lz4_flex::frame::FrameEncoder::new(Vec::new())))
            }
        })
    }

    /// Compresses one piece; returns the compressed bytes ready so far (maybe none).
    pub(crate) fn push(&mut self, piece: Vec<u8>) -> io::Result<Vec<u8>> {
        match self {
            Compressor::Identity => Ok(piece),
            Compressor::Deflate(e) => {
                e.write_all(&piece)?;
                Ok(std::mem::take(e.get_mut()))
            }
            Compressor::Zstd(e) => {
                e.write_all(&piece)?;
                Ok(std::mem::take(e.get_mut()))
            }
            Compressor::Lz4(e) => {
                e.write_all(&piece)?;
                Ok(std::mem::take(e.get_mut()))
            }
        }
    }

    /// Compresses the last piece and ends the stream.
    pub(crate) fn finish(mut self, last: Vec<u8>) -> io::Result<Vec<u8>> {
        let mut out = self.push(last)?;
        out.extend(match self {
            Compressor::Identity => Vec::new(),
            Compressor::Deflate(e) => e.finish()?,
            Compressor::Zstd(e) => e.finish()?,
            Compressor::Lz4(e) => e.finish().map_err(io::Error::other)?,
        });
        Ok(out)
    }
}
