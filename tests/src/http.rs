//! A tiny loopback HTTP/1.1 server for the emulators: one listener, one task per connection,
//! all of them aborted when the server is dropped, so an emulator never outlives its test.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
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
