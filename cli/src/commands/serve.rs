//! `serve`: the Flight server, until Ctrl-C or SIGTERM.

use std::io::Write;
use std::time::Duration;

use arrowport_core::{Error, Result};
use arrowport_flight::{Auth, Catalog, Limits, ServeOptions, TOKEN_ENV, TicketKey};

use crate::args::ServeArgs;

pub async fn run(args: ServeArgs) -> Result<()> {
    let catalog = match (&args.config, &args.file_root) {
        (Some(_), Some(_)) => {
            return Err(Error::config(
                "with --config, set the file root as `file_root` in its [server] section",
            ));
        }
        (Some(path), None) => Catalog::load(path)?,
        (None, root) => Catalog::open(root.clone())?,
    };
    let auth = match (
        Auth::from_sources(args.token_file.as_deref())?,
        args.no_auth,
    ) {
        (Some(_), true) => {
            return Err(Error::config(format!(
                "--no-auth and a token ({TOKEN_ENV} is set) contradict each other"
            )));
        }
        (Some(auth), false) => auth,
        (None, true) => Auth::Disabled,
        (None, false) => {
            return Err(Error::config(format!(
                "give the bearer token clients must send, with --token-file or {TOKEN_ENV}, or \
                 pass --no-auth on a trusted network"
            )));
        }
    };
    if matches!(auth, Auth::Disabled) && !args.listen.ip().is_loopback() {
        eprintln!(
            "arrowport serve: warning: serving {} without authentication",
            args.listen
        );
    }
    let key = match &args.ticket_key_file {
        Some(path) => TicketKey::from_file(path)?,
        None => TicketKey::random()?,
    };
    let defaults = Limits::default();
    let options = ServeOptions {
        listen: args.listen,
        catalog,
        auth,
        key,
        tls: args.tls_cert.zip(args.tls_key),
        limits: Limits {
            streams: args.max_streams.unwrap_or(defaults.streams),
            waiting: args.max_waiting,
            wait: Duration::from_secs(args.queue_timeout),
        },
        grace: Duration::from_secs(args.grace),
    };
    arrowport_flight::serve(options, stop_signal(), |address| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{address}");
        let _ = out.flush();
        eprintln!("arrowport serve: serving Arrow Flight on {address}");
    })
    .await
}

/// Resolves at the first Ctrl-C or SIGTERM.
async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
