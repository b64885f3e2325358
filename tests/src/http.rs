//! A tiny loopback HTTP/1.1 server for the emulators: one listener, one task per connection,
//! all of them aborted when the server is dropped, so an emulator never outlives its test. And
//! [`Wire`], the ways a scripted fault spoils an answer in transit, for every emulator alike.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::CONTENT_LENGTH;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// The error a streamed response body may fail with; failing one drops the connection
/// mid-body, which is how the emulators fake a connection reset.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every response body the emulators send.
pub type Body = BoxBody<Bytes, BoxError>;

/// A whole body in one piece.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|e| match e {}).boxed()
}

/// An empty body (HEAD answers, markers).
pub fn empty() -> Body {
    Empty::new().map_err(|e| match e {}).boxed()
}

/// How a scripted fault spoils one answer in transit. The status and headers are the answer's
/// own; what goes wrong is how (and whether) its body arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// The head and half the body, then the connection drops (an empty body's answer breaks
    /// off right after its head).
    Reset,
    /// Half the body, framed as if it were all of it (`Content-Length` says half): the HTTP
    /// exchange completes, and only the content (a parser, a checksum, a row count) can tell.
    Truncate,
    /// The head and half the body, then silence for this long, then the rest (an empty body's
    /// head itself waits): a read timeout shorter than the stall must fire.
    Stall(Duration),
    /// The head after `gap`, then the body in `pieces` pieces, each after another `gap`: the
    /// whole answer is slow, but the line is never silent for longer than `gap`.
    Trickle { gap: Duration, pieces: usize },
}

/// How long a reset answer waits between its last bytes and the drop: hyper discards what it
/// still buffers when the connection goes, so the pause lets the sent half reach the client.
const RESET_PAUSE: Duration = Duration::from_millis(100);

/// `response` as `wire` spoils it. The body is gathered first (every faulted answer is small),
/// so halves are exact; a body that fails while gathered fails the same way.
pub(crate) async fn spoil(response: Response<Body>, wire: Wire) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let failed = futures::stream::once(async move { Err::<Frame<Bytes>, BoxError>(e) });
            return Response::from_parts(parts, BodyExt::boxed(StreamBody::new(failed)));
        }
    };
    let (half, rest) = (
        bytes.slice(..bytes.len() / 2),
        bytes.slice(bytes.len() / 2..),
    );
    let whole = bytes.len();
    let mut length = |len: usize| {
        parts.headers.insert(CONTENT_LENGTH, len.into());
    };
    let body = match wire {
        // Without a length the body is chunked, so its failure still breaks the answer.
        Wire::Reset if whole == 0 => paced(Vec::new(), Some(Duration::ZERO)),
        Wire::Reset => {
            length(whole);
            paced(vec![(Duration::ZERO, half)], Some(RESET_PAUSE))
        }
        Wire::Truncate => {
            length(half.len());
            full(half)
        }
        Wire::Stall(silence) if whole == 0 => {
            tokio::time::sleep(silence).await;
            empty()
        }
        Wire::Stall(silence) => {
            length(whole);
            paced(vec![(Duration::ZERO, half), (silence, rest)], None)
        }
        Wire::Trickle { gap, pieces } => {
            tokio::time::sleep(gap).await;
            length(whole);
            let size = whole.div_ceil(pieces.max(1)).max(1);
            let pieces = (0..whole)
                .step_by(size)
                .map(|at| (gap, bytes.slice(at..(at + size).min(whole))))
                .collect();
            paced(pieces, None)
        }
    };
    Response::from_parts(parts, body)
}

/// A body of `pieces`, each sent after its wait; with `fail`, the connection then drops after
/// that pause.
fn paced(pieces: Vec<(Duration, Bytes)>, fail: Option<Duration>) -> Body {
    let frames = futures::stream::iter(pieces).then(|(wait, piece)| async move {
        tokio::time::sleep(wait).await;
        Ok::<_, BoxError>(Frame::data(piece))
    });
    let failure = futures::stream::iter(fail).then(|pause| async move {
        tokio::time::sleep(pause).await;
        Err::<Frame<Bytes>, BoxError>("the emulator dropped the connection (fault)".into())
    });
    BodyExt::boxed(StreamBody::new(frames.chain(failure)))
}

/// A server on `127.0.0.1`. Dropping it closes the listener and aborts every connection,
/// including requests still being answered.
pub struct HttpServer {
    addr: SocketAddr,
    _tasks: JoinSet<()>,
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl HttpServer {
    /// Binds `127.0.0.1:port` (0 for an ephemeral port) and serves every request with
    /// `handler`. Must be called within a tokio runtime.
    pub async fn bind<H, F>(port: u16, handler: H) -> io::Result<Self>
    where
        H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
        F: Future<Output = Response<Body>> + Send + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        let handler = Arc::new(handler);
        let mut tasks = JoinSet::new();
        tasks.spawn(accept_loop(listener, handler));
        Ok(HttpServer {
            addr,
            _tasks: tasks,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Accepts until aborted. The connections live in this future's own `JoinSet`, so aborting
/// the loop aborts them too.
async fn accept_loop<H, F>(listener: TcpListener, handler: Arc<H>)
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                // Accept errors (out of file descriptors, a reset before accept) concern one
                // connection; the listener goes on.
                let Ok((stream, _)) = accepted else { continue };
                // As real HTTP servers do: without it, Nagle's algorithm holds each body's
                // last segment until the client's delayed ACK, ~40 ms per response.
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        let response = handler(req);
                        async move { Ok::<_, Infallible>(response.await) }
                    });
                    // A client hanging up, or a body failed on purpose, ends the connection;
                    // there is no one to report that to.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn spoiled(wire: Wire) -> (Option<String>, Result<Bytes, BoxError>) {
        let response = Response::new(full("0123456789"));
        let (parts, body) = spoil(response, wire).await.into_parts();
        let length = parts
            .headers
            .get(CONTENT_LENGTH)
            .map(|v| v.to_str().unwrap().to_string());
        (length, body.collect().await.map(|b| b.to_bytes()))
    }

    #[tokio::test]
    async fn wire_faults_spoil_bodies_as_documented() {
        let (length, body) = spoiled(Wire::Truncate).await;
        assert_eq!(
            (length.as_deref(), &body.unwrap()[..]),
            (Some("5"), &b"01234"[..])
        );
        let (length, body) = spoiled(Wire::Reset).await;
        assert_eq!(length.as_deref(), Some("10"));
        assert!(body.is_err());
        let (_, body) = spoiled(Wire::Stall(Duration::from_millis(1))).await;
        assert_eq!(&body.unwrap()[..], b"0123456789");
        let trickle = Wire::Trickle {
            gap: Duration::from_millis(1),
            pieces: 3,
        };
        let (length, body) = spoiled(trickle).await;
        assert_eq!(
            (length.as_deref(), &body.unwrap()[..]),
            (Some("10"), &b"0123456789"[..])
        );
    }
}
