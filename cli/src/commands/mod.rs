//! The subcommands.

mod catalog;
mod demo;
mod emulate;
mod export;
pub(crate) mod inspect;
mod resolve;
mod serve;
mod upload_session;

use std::sync::Arc;

use arrowport_core::{Context, Result};
use tokio_util::sync::CancellationToken;

use crate::args::{Cli, Command, EmulateCommand};
use crate::progress::Renderer;

pub fn run(cli: Cli) -> Result<()> {
    let renderer = Arc::new(Renderer::new(cli.progress, cli.quiet, cli.verbose > 0));
    let out = Output {
        quiet: cli.quiet,
        verbose: cli.verbose > 0,
    };
    match cli.command {
        Command::Export(args) => {
            let job = resolve::export_job(args)?;
            runtime()?.block_on(with_ctrl_c(renderer.clone(), |cx| {
                export::run(job, cx, renderer, out)
            }))
        }
        Command::Schema(args) => {
            let source = resolve::source(&args.source, &args.options.options)?;
            runtime()?.block_on(with_ctrl_c(renderer, |cx| {
                inspect::schema(source, args.json, cx)
            }))
        }
        Command::Plan(args) => {
            let spec = resolve::source_spec(&args.source, &args.options.options)?;
            let source = arrowport_core::registry::build_source(spec.clone())?;
            let scan = resolve::scan(&args.scan);
            runtime()?.block_on(with_ctrl_c(renderer, |cx| {
                let (json, create) = (args.json, args.create_task);
                inspect::plan(source, spec, &args.source, scan, json, create, cx)
            }))
        }
        Command::Tables(args) => {
            let config = catalog::config(&args)?;
            runtime()?.block_on(with_ctrl_c(renderer, |cx| {
                catalog::tables(config, args.json, cx)
            }))
        }
        Command::Partitions(args) => {
            let config = catalog::config(&args)?;
            runtime()?.block_on(with_ctrl_c(renderer, |cx| {
                catalog::partitions(config, args.json, cx)
            }))
        }
        Command::UploadSession(command) => {
            runtime()?.block_on(with_ctrl_c(renderer, |cx| upload_session::run(command, cx)))
        }
        Command::List => inspect::list(),
        Command::Describe { plugin } => inspect::describe(&plugin),
        Command::Demo(args) => runtime()?.block_on(with_ctrl_c(renderer.clone(), |cx| {
            demo::run(args, cx, renderer, out)
        })),
        Command::Emulate(EmulateCommand::Vikingdb(args)) => {
            runtime()?.block_on(with_ctrl_c(renderer, |cx| emulate::vikingdb(args, cx, out)))
        }
        Command::Serve(args) => runtime()?.block_on(serve::run(args)),
        Command::Emulate(EmulateCommand::Maxcompute(args)) => runtime()?
            .block_on(with_ctrl_c(renderer, |cx| {
                emulate::maxcompute(args, cx, out)
            })),
    }
}

/// How chatty the commands are on stderr.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub quiet: bool,
    pub verbose: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| arrowport_core::Error::io("cannot start the async runtime", e))
}

/// Runs `work` with a context whose cancellation the first Ctrl-C triggers; a second Ctrl-C
/// exits at once.
async fn with_ctrl_c<F, Fut>(renderer: Arc<Renderer>, work: F) -> Result<()>
where
    F: FnOnce(Context) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let token = CancellationToken::new();
    let cx = Context::new()
        .with_progress(renderer)
        .with_cancellation(token.clone());
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            token.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(i32::from(crate::report::EXIT_INTERRUPTED));
            }
        }
    });
    let result = work(cx).await;
    watcher.abort();
    result
}
