//! `arrowport`: compose one source and one sink into a streaming Arrow export.
#![forbid(unsafe_code)]

mod args;
mod commands;
mod progress;
mod report;

use clap::Parser;

fn main() -> std::process::ExitCode {
    arrowport_plugins::link();
    report::exit_code(commands::run(args::Cli::parse()))
}
