//! From flags, URLs and job files to built plugins. Everything here is pure: a mistake is a
//! configuration error (exit 2) before any remote call or file write.

use arrowport_core::job::Job;
use arrowport_core::journal::Command;
use arrowport_core::plan::PlanDocument;
use arrowport_core::registry::{SinkTarget, find_source, resolve_sink};
use arrowport_core::routing::{self, public_options, split_sink_query};
use arrowport_core::split;
use arrowport_core::{Error, ExportSource, OptionMap, Result, Scan, Sink, SinkSpec, SourceSpec};

use crate::args::{ExportArgs, ScanArgs};

/// A fully resolved export, ready to run.
#[derive(Debug)]
pub struct ExportJob {
    pub source: Box<dyn ExportSource>,
    pub sink: Box<dyn Sink>,
    pub target: SinkTarget,
    pub scan: Scan,
    /// What the plan document and the resume journal record of the command.
    pub command: Command,
    /// The source's URL and options, as a plan document records them.
    pub source_options: OptionMap,
    /// A plan read from `--plan`, instead of planning.
    pub plan: Option<PlanDocument>,
    pub resume: bool,
    pub restart: bool,
}

pub fn scan(args: &ScanArgs) -> Scan {
    Scan::new()
        .with_columns(args.columns.clone())
        .with_limit(args.limit)
        .with_parallelism(args.parallel)
}

/// Builds a source from its URL and `-o` options.
pub fn source(url: &str, options: &[String]) -> Result<Box<dyn ExportSource>> {
    let spec = source_spec(url, options)?;
    (find_source(&spec.scheme)?.build)(spec)
}

/// A source URL with its `-o` options merged in.
pub fn source_spec(url: &str, options: &[String]) -> Result<SourceSpec> {
    routing::source_spec(url, options)
}

pub fn export_job(args: ExportArgs) -> Result<ExportJob> {
    let plan = match &args.plan {
        Some(path) => Some(load_plan(path)?),
        None => None,
    };
    let mut job = match (&args.job, &plan) {
        (Some(path), _) => Job::load(path)?,
        (None, Some(plan)) => {
            let sink = match (&args.source, &args.sink) {
                (Some(sink), None) => sink.clone(),
                _ => {
                    return Err(Error::config(
                        "with --plan, name only the output: the source comes from the plan",
                    ));
                }
            };
            let mut job = Job::from_parts(plan.source.clone(), sink);
            job.source_options = plan.option_map();
            job.columns = plan.columns.clone();
            job.limit = plan.limit;
            job
        }
        (None, None) => Job::from_parts(
            args.source
                .clone()
                .expect("clap requires a source without --job"),
            args.sink
                .clone()
                .expect("clap requires a sink without --job"),
        ),
    };
    if plan.is_some() && (args.scan.columns.is_some() || args.scan.limit.is_some()) {
        return Err(Error::config(
            "--columns and --limit come from the plan; plan again to change them",
        ));
    }
    let mut spec = SourceSpec::parse(&job.source)?;
    spec.options.merge(std::mem::take(&mut job.source_options));
    let source_plugin = find_source(&spec.scheme)?;

    let format = args.format.as_deref().or(job.format.as_deref());
    let (sink_text, url_options) = split_sink_query(&job.sink)?;
    let (sink_plugin, target) = resolve_sink(&sink_text, format)?;
    let mut sink_options = url_options;
    sink_options.merge(job.sink_options);
    routing::route(
        &args.options.options,
        source_plugin,
        Some(sink_plugin),
        &mut spec.options,
        &mut sink_options,
    )?;

    let scan = Scan::new()
        .with_columns(args.scan.columns.or(job.columns))
        .with_limit(args.scan.limit.or(job.limit))
        .with_parallelism(args.scan.parallel.or(job.parallel));
    let overwrite = args.overwrite || job.overwrite;
    // Checked against the plan's size once it is planned; here, its syntax.
    let splits = match &args.splits {
        Some(text) => {
            let count = plan.as_ref().map_or(usize::MAX, |p| p.splits.len());
            Some(split::parse_selection(text, count)?)
        }
        None => None,
    };
    let command = Command {
        source: job.source.clone(),
        source_options: public_options(&spec.options),
        columns: scan.columns.clone(),
        limit: scan.limit,
        splits,
        sink: job.sink.clone(),
        format: sink_plugin.name.to_string(),
        sink_options: public_options(&sink_options),
    };
    let source_options = spec.options.clone();
    let source = (source_plugin.build)(spec)?;
    let sink = (sink_plugin.build)(SinkSpec::new(target.clone(), sink_options, overwrite))?;
    Ok(ExportJob {
        source,
        sink,
        target,
        scan,
        command,
        source_options,
        plan,
        resume: args.resume,
        restart: args.restart,
    })
}

/// Reads a plan written by `arrowport plan --json`.
fn load_plan(path: &std::path::Path) -> Result<PlanDocument> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::config(format!("cannot read the plan `{}`: {e}", path.display())).with_source(e)
    })?;
    PlanDocument::parse(&text)
        .map_err(|e| Error::config(format!("plan `{}`: {}", path.display(), e.message())))
}
