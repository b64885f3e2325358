//! Binding, TLS and stopping: the server runs until `shutdown` resolves, then stops taking
//! calls, lets running streams finish for a grace period, ends those still running, and
//! returns.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use arrowport_core::{Error, ErrorKind, Result};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::admission::Limits;
use crate::auth::Auth;
use crate::catalog::Catalog;
use crate::service::{FlightHandler, Service};
use crate::ticket::TicketKey;

/// Everything `arrowport serve` configures.
#[derive(Debug)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub catalog: Catalog,
    pub auth: Auth,
    pub key: TicketKey,
    /// A PEM certificate chain and private key: serve `grpc+tls`.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub limits: Limits,
    /// How long running streams may go on after `shutdown` before they are ended.
    pub grace: Duration,
}

/// How long the server waits for connections to close once their streams were ended.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Serves until `shutdown` resolves. `ready` is told the bound address (and scheme) once
/// the server accepts calls.
pub async fn serve(
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
    ready: impl FnOnce(&str),
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {}", options.listen), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("cannot read the bound address", e))?;
    let mut builder = Server::builder();
    let scheme = match &options.tls {
        Some((cert, key)) => {
            let read = |p: &PathBuf| {
                std::fs::read(p).map_err(|e| {
                    Error::config(format!("cannot read the TLS file `{}`: {e}", p.display()))
                })
            };
            let identity = Identity::from_pem(read(cert)?, read(key)?);
            builder = builder
                .tls_config(ServerTlsConfig::new().identity(identity))
                .map_err(|e| {
                    Error::config(format!("the TLS certificate or key is not usable: {e}"))
                })?;
            "grpc+tls"
        }
        None => "grpc",
    };
    let service = Arc::new(Service::new(
        options.catalog,
        options.key,
        options.auth,
        options.limits,
    ));
    let flight = FlightServiceServer::from_arc(Arc::new(FlightHandler(service.clone())))
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(usize::MAX);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let router = builder.add_service(flight);
    let mut running = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
        let _ = stopped.await;
    }));
    ready(&format!("{scheme}://{addr}"));

    let outcome = tokio::select! {
        done = &mut running => Some(done),
        () = shutdown => None,
    };
    let done = match outcome {
        Some(done) => done,
        None => {
            let _ = stop.send(());
            eprintln!(
                "arrowport serve: stopping; {} running streams may finish within {:?}",
                service.running(),
                options.grace
            );
            match tokio::time::timeout(options.grace, &mut running).await {
                Ok(done) => done,
                Err(_) => {
                    eprintln!(
                        "arrowport serve: ending {} streams still running",
                        service.running()
                    );
                    service.cancel_streams();
                    match tokio::time::timeout(CLOSE_WAIT, &mut running).await {
                        Ok(done) => done,
                        Err(_) => return Ok(()),
                    }
                }
            }
        }
    };
    match done {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::new(
            ErrorKind::Io,
            format!("the Flight server failed: {e}"),
        )),
        Err(e) => Err(Error::new(
            ErrorKind::Unexpected,
            format!("the Flight server panicked: {e}"),
        )),
    }
}
