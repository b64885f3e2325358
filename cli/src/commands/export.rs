//! `arrowport export`.

use std::path::Path;
use std::sync::Arc;

use arrowport_core::journal::{Header, Journal, Recovery};
use arrowport_core::pipeline::{Planned, export_planned};
use arrowport_core::plan::{PlanDocument, plan_document};
use arrowport_core::registry::build_source;
use arrowport_core::{Context, Error, ErrorKind, ExportSource, Result, SourceSpec, Summary};

use super::Output;
use super::resolve::ExportJob;
use crate::progress::Renderer;

pub async fn run(job: ExportJob, cx: Context, renderer: Arc<Renderer>, out: Output) -> Result<()> {
    let cx = match job.scan.parallelism {
        Some(n) => cx.with_parallelism(n),
        None => cx,
    };
    let journal = job.sink.journal_path();
    let result = execute(&job, journal.as_deref(), &cx).await;
    renderer.finish();
    let summary = result.map_err(|e| match &journal {
        Some(path) if e.kind() != ErrorKind::Config && e.notes().is_empty() && path.exists() => e
            .with_note(format!(
                "what was written so far is kept beside the output, with its journal `{}`: run \
             the same command again to continue",
                path.display()
            )),
        _ => e,
    })?;
    if !out.quiet {
        eprintln!("{}", summary.describe(&job.target));
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

/// Runs the export: resumably when asked or when an interrupted run left a journal, from
/// the splits of a plan when given one or a selection, and straight from the source otherwise.
async fn execute(job: &ExportJob, journal: Option<&Path>, cx: &Context) -> Result<Summary> {
    let (source, sink) = (job.source.as_ref(), job.sink.as_ref());
    if job.restart
        && let Some(path) = journal
    {
        if path.exists() {
            std::fs::remove_file(path).map_err(|e| {
                Error::io(format!("cannot remove the journal `{}`", path.display()), e)
            })?;
        }
        sink.discard_partial()?;
    }
    let path = match journal {
        Some(path) if job.resume || path.exists() => path,
        None if job.resume => {
            return Err(Error::config(format!(
                "--resume needs a file or directory output, not {}",
                job.target
            )));
        }
        _ if job.plan.is_some() || job.command.splits.is_some() => {
            let plan = planned(job, source, cx).await?;
            let read = selection(job, &plan)?;
            let planned = Planned {
                plan: &plan,
                read,
                journal: None,
            };
            return export_planned(source, sink, planned, &job.scan, cx).await;
        }
        _ => return arrowport_core::export(source, sink, &job.scan, cx).await,
    };
    let (journal, recovery) = Journal::open(path)?;
    let (header, recovered) = match recovery {
        Recovery::Planned(r) => {
            let differences = r.header.command.differences(&job.command);
            if !differences.is_empty() {
                return Err(Error::config(format!(
                    "cannot continue the interrupted export journaled in `{}`: it was run with \
                     another command ({}); run it as it was, or pass --restart to start over",
                    path.display(),
                    differences.join("; ")
                )));
            }
            (r.header.clone(), Some(*r))
        }
        recovery => {
            // A run that died while planning journaled what reattaches to the remote state it
            // created (a VikingDB task): plan with it, instead of creating that again.
            let reattach = match recovery {
                Recovery::Planning(options) => options,
                _ => Default::default(),
            };
            // The splits' tokens name what they read: only planning needs the rebuilt source.
            let rebuilt = reattached(job, &reattach)?;
            let source = rebuilt.as_deref().unwrap_or(source);
            let recorder = journal.clone();
            cx.report()
                .on_reattach(move |option, value| recorder.reattach(option, value));
            let plan = planned(job, source, cx).await?;
            let read = selection(job, &plan)?;
            let header = Header::new(job.command.clone(), plan, read, cx.report().info());
            journal.start(&header)?;
            (header, None)
        }
    };
    let planned = Planned {
        plan: &header.plan,
        read: header.read.clone(),
        journal: Some((&journal, recovered)),
    };
    export_planned(source, sink, planned, &job.scan, cx).await
}

/// The job's source rebuilt with the options an interrupted run journaled while planning;
/// `None` when there are none.
fn reattached(
    job: &ExportJob,
    options: &std::collections::BTreeMap<String, String>,
) -> Result<Option<Box<dyn ExportSource>>> {
    if options.is_empty() {
        return Ok(None);
    }
    let mut spec = SourceSpec::parse(&job.command.source)?;
    spec.options.merge(job.source_options.clone());
    for (option, value) in options {
        spec.options.insert(option, value);
    }
    build_source(spec).map(Some)
}

/// The plan given with `--plan`, or a new one of `source`.
async fn planned(job: &ExportJob, source: &dyn ExportSource, cx: &Context) -> Result<PlanDocument> {
    match &job.plan {
        Some(plan) => Ok(plan.clone()),
        None => {
            let url = &job.command.source;
            plan_document(source, url, &job.source_options, &job.scan, cx).await
        }
    }
}

/// The positions of the splits to read: `--splits`, or all of them.
fn selection(job: &ExportJob, plan: &PlanDocument) -> Result<Vec<usize>> {
    let count = plan.splits.len();
    match &job.command.splits {
        None => Ok((0..count).collect()),
        Some(picked) => match picked.iter().find(|&&i| i >= count) {
            Some(i) => Err(Error::config(format!(
                "--splits: split {i} is out of range: the plan has {count} split(s), 0..{}",
                count.saturating_sub(1)
            ))),
            None => Ok(picked.clone()),
        },
    }
}
