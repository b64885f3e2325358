//! Turning results into exit codes and error text: one `error:` line, then one `caused by:`
//! line per cause.

use std::process::ExitCode;

use arrowport_core::{Error, ErrorKind};

/// Exit codes, as documented in the README and `--help`.
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_INTERRUPTED: u8 = 130;

pub fn exit_code(result: arrowport_core::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprint!("{}", render(&err));
            ExitCode::from(code_for(&err))
        }
    }
}

pub fn code_for(err: &Error) -> u8 {
    match err.kind() {
        ErrorKind::Config => EXIT_USAGE,
        ErrorKind::Cancelled => EXIT_INTERRUPTED,
        _ => EXIT_FAILED,
    }
}

pub fn render(err: &Error) -> String {
    let mut out = format!("error: {err}\n");
    for cause in arrowport_core::error::causes(err) {
        let text = cause.to_string();
        // Causes whose text the message already carries add nothing.
        if !err.message().contains(&text) {
            out.push_str(&format!("caused by: {text}\n"));
        }
    }
    for note in err.notes() {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_causes_and_picks_codes() {
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by peer",
        );
        let err = Error::new(ErrorKind::Remote, "download failed")
            .with_context("request_id", "r1")
            .with_source(io);
        assert_eq!(
            render(&err),
            "error: download failed (request_id=r1)\ncaused by: connection reset by peer\n"
        );
        assert_eq!(code_for(&err), 1);
        assert_eq!(code_for(&Error::config("x")), 2);
        assert_eq!(code_for(&Error::cancelled()), 130);
    }
}
