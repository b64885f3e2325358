//! `arrowport export`.

use std::sync::Arc;

use arrowport_core::registry::SinkTarget;
use arrowport_core::{Context, Result, Summary};

use super::Output;
use super::resolve::ExportJob;
use crate::progress::Renderer;

pub async fn run(job: ExportJob, cx: Context, renderer: Arc<Renderer>, out: Output) -> Result<()> {
    let cx = match job.scan.parallelism {
        Some(n) => cx.with_parallelism(n),
        None => cx,
    };
    let result =
        arrowport_core::export(job.source.as_ref(), job.sink.as_ref(), &job.scan, &cx).await;
    renderer.finish();
    let summary = result?;
    if !out.quiet {
        eprintln!("{}", describe(&summary, &job.target));
    }
    if out.verbose {
        for f in &summary.write.files {
            let sha256 = match f.sha256.as_str() {
                "" => String::new(),
                hash => format!("  sha256 {hash}"),
            };
            eprintln!(
                "  {}  {} rows  {} bytes{sha256}",
                f.path.display(),
                f.rows,
                f.bytes
            );
        }
    }
    Ok(())
}

/// One line for people: what went where, how big, how fast.
pub fn describe(summary: &Summary, target: &SinkTarget) -> String {
    let secs = summary.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        summary.rows as f64 / secs
    } else {
        0.0
    };
    let files = match summary.write.files.len() {
        0 | 1 => String::new(),
        n => format!(" in {n} files"),
    };
    let early = if summary.write.stopped_early {
        " (the reader closed the pipe early)"
    } else {
        ""
    };
    format!(
        "exported {} rows{files} ({}) to {target} in {secs:.2}s ({} rows/s){early}",
        group(summary.rows),
        indicatif::HumanBytes(summary.bytes),
        group(rate as u64),
    )
}

/// 1234567 → "1,234,567".
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_thousands() {
        assert_eq!(super::group(0), "0");
        assert_eq!(super::group(999), "999");
        assert_eq!(super::group(1000), "1,000");
        assert_eq!(super::group(1234567), "1,234,567");
    }
}
