//! Rendering progress events: an indicatif bar on a terminal, JSON lines for machines, or
//! plain warnings. Stdout is never touched: it may carry data.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arrowport_core::{ProgressEvent, ProgressListener};
use indicatif::{HumanBytes, HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::args::ProgressMode;

/// Batch events arrive thousands of times a second; JSON output summarises them this often.
const JSON_BATCH_INTERVAL: Duration = Duration::from_millis(250);

/// Renders events on stderr in the mode the user chose.
pub enum Renderer {
    Bar(BarRenderer),
    Json(Mutex<JsonState>),
    /// No progress; warnings and (with -v) retries still print unless quiet.
    Plain {
        quiet: bool,
        verbose: bool,
    },
}

impl Renderer {
    pub fn new(mode: ProgressMode, quiet: bool, verbose: bool) -> Self {
        let bar = match mode {
            ProgressMode::Bar => true,
            ProgressMode::Auto => !quiet && std::io::stderr().is_terminal(),
            ProgressMode::Json => return Renderer::Json(Mutex::new(JsonState::default())),
            ProgressMode::None => false,
        };
        if bar {
            Renderer::Bar(BarRenderer::new())
        } else {
            Renderer::Plain { quiet, verbose }
        }
    }

    /// Clears the bar so that the summary or error prints on a clean line.
    pub fn finish(&self) {
        match self {
            Renderer::Bar(b) => b.bar.finish_and_clear(),
            Renderer::Json(state) => state.lock().unwrap().flush_batches(),
            Renderer::Plain { .. } => {}
        }
    }
}

impl ProgressListener for Renderer {
    fn on_event(&self, event: &ProgressEvent) {
        match self {
            Renderer::Bar(b) => b.on_event(event),
            Renderer::Json(state) => state.lock().unwrap().on_event(event),
            Renderer::Plain { quiet, verbose } => match event {
                ProgressEvent::Warning { message } if !quiet => eprintln!("warning: {message}"),
                ProgressEvent::Retry {
                    attempt,
                    delay_ms,
                    error,
                } if *verbose => {
                    eprintln!("retry {attempt} in {delay_ms} ms: {error}")
                }
                _ => {}
            },
        }
    }
}

pub struct BarRenderer {
    bar: ProgressBar,
    bytes: std::sync::atomic::AtomicU64,
}

impl BarRenderer {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8));
        bar.set_style(Self::spinner_style());
        bar.enable_steady_tick(Duration::from_millis(125));
        BarRenderer {
            bar,
            bytes: Default::default(),
        }
    }

    fn spinner_style() -> ProgressStyle {
        ProgressStyle::with_template("{spinner} {prefix} {human_pos} rows {msg} {elapsed}")
            .expect("static template")
    }

    fn bar_style() -> ProgressStyle {
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {human_pos}/{human_len} rows {msg} ETA {eta}",
        )
        .expect("static template")
        .progress_chars("=> ")
    }

    fn on_event(&self, event: &ProgressEvent) {
        match event {
            ProgressEvent::Phase { name, detail } => {
                self.bar.set_prefix(match detail {
                    Some(d) => format!("{name}: {d}"),
                    None => name.clone(),
                });
            }
            ProgressEvent::Total {
                rows: Some(rows), ..
            } => {
                self.bar.set_length(*rows);
                self.bar.set_style(Self::bar_style());
            }
            ProgressEvent::RemoteProgress { percent, detail } => {
                self.bar.set_message(match detail {
                    Some(d) => format!("{percent:.0}% {d}"),
                    None => format!("{percent:.0}%"),
                });
            }
            ProgressEvent::Batch { rows, bytes } => {
                let total = self
                    .bytes
                    .fetch_add(*bytes, std::sync::atomic::Ordering::Relaxed)
                    + bytes;
                self.bar.inc(*rows);
                let rate = HumanCount(self.bar.per_sec() as u64);
                self.bar
                    .set_message(format!("{} ({rate} rows/s)", HumanBytes(total)));
            }
            ProgressEvent::Retry {
                attempt,
                delay_ms,
                error,
            } => {
                self.bar
                    .println(format!("retry {attempt} in {delay_ms} ms: {error}"));
            }
            ProgressEvent::Warning { message } => self.bar.println(format!("warning: {message}")),
            _ => {}
        }
    }
}

/// JSON-lines state: batch events are summed and written at most every
/// [`JSON_BATCH_INTERVAL`]; every other event is written as it comes.
#[derive(Default)]
pub struct JsonState {
    rows: u64,
    bytes: u64,
    pending: bool,
    last: Option<Instant>,
}

#[derive(Serialize)]
struct Totals {
    event: &'static str,
    rows: u64,
    bytes: u64,
}

impl JsonState {
    fn on_event(&mut self, event: &ProgressEvent) {
        if let ProgressEvent::Batch { rows, bytes } = event {
            self.rows += rows;
            self.bytes += bytes;
            self.pending = true;
            if self.last.is_none_or(|t| t.elapsed() >= JSON_BATCH_INTERVAL) {
                self.flush_batches();
            }
            return;
        }
        if matches!(event, ProgressEvent::Finished { .. }) {
            self.flush_batches();
        }
        write_json_line(event);
    }

    fn flush_batches(&mut self) {
        if self.pending {
            write_json_line(&Totals {
                event: "rows",
                rows: self.rows,
                bytes: self.bytes,
            });
            self.pending = false;
            self.last = Some(Instant::now());
        }
    }
}

fn write_json_line(value: &impl Serialize) {
    let mut line = serde_json::to_vec(value).expect("progress events serialize");
    line.push(b'\n');
    // Progress must never fail an export: a closed stderr is ignored.
    let _ = std::io::stderr().lock().write_all(&line);
}
