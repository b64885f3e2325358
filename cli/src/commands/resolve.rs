//! From flags, URLs and job files to built plugins. Everything here is pure: a mistake is a
//! configuration error (exit 2) before any remote call or file write.

use arrowport_core::job::Job;
use arrowport_core::journal::Command;
use arrowport_core::options::suggestion;
use arrowport_core::plan::PlanDocument;
use arrowport_core::registry::{SinkTarget, find_source, resolve_sink};
use arrowport_core::split;
use arrowport_core::{
    Error, ExportSource, OptionMap, Result, Scan, Sink, SinkPlugin, SinkSpec, SourcePlugin,
    SourceSpec,
};

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
    let mut spec = SourceSpec::parse(url)?;
    let plugin = find_source(&spec.scheme)?;
    let mut unused = OptionMap::new();
    route(options, plugin, None, &mut spec.options, &mut unused)?;
    Ok(spec)
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
    let (sink_text, url_options) = split_query(&job.sink)?;
    let (sink_plugin, target) = resolve_sink(&sink_text, format)?;
    let mut sink_options = url_options;
    sink_options.merge(job.sink_options);
    route(
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
        source_options: public(&spec.options),
        columns: scan.columns.clone(),
        limit: scan.limit,
        splits,
        sink: job.sink.clone(),
        format: sink_plugin.name.to_string(),
        sink_options: public(&sink_options),
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

/// Options with the secret-looking ones left out: what plan documents and journals keep.
fn public(options: &OptionMap) -> std::collections::BTreeMap<String, String> {
    options
        .iter()
        .filter(|(k, _)| !arrowport_core::options::is_secret_key(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Reads a plan written by `arrowport plan --json`.
fn load_plan(path: &std::path::Path) -> Result<PlanDocument> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::config(format!("cannot read the plan `{}`: {e}", path.display())).with_source(e)
    })?;
    PlanDocument::parse(&text)
        .map_err(|e| Error::config(format!("plan `{}`: {}", path.display(), e.message())))
}

/// A remote sink's URL without its query, and the query's options
/// (`maxcompute://p/t?partition=pt=1`); paths and stdout pass unchanged.
fn split_query(sink: &str) -> Result<(String, OptionMap)> {
    if !sink.contains("://") || sink.starts_with("file://") {
        return Ok((sink.to_string(), OptionMap::new()));
    }
    let mut url = url::Url::parse(sink)
        .map_err(|e| Error::config(format!("malformed sink URL `{sink}`: {e}")))?;
    let options = OptionMap::from_query(&url)?;
    url.set_query(None);
    Ok((url.to_string(), options))
}

/// Sends each `-o key=value` to the plugin that takes `key`; `source.` / `sink.` prefixes
/// decide when both do.
fn route(
    assignments: &[String],
    source: &SourcePlugin,
    sink: Option<&SinkPlugin>,
    source_options: &mut OptionMap,
    sink_options: &mut OptionMap,
) -> Result<()> {
    let source_keys = (source.options)();
    let sink_keys = sink.map_or(&[][..], |s| (s.options)());
    for text in assignments {
        let (key, value) = OptionMap::parse_assignment(text)?;
        if let Some(k) = key.strip_prefix("source.") {
            source_options.insert(k, value);
        } else if let Some(k) = key.strip_prefix("sink.") {
            if sink.is_none() {
                return Err(Error::config(format!(
                    "`-o {text}`: this command has no sink"
                )));
            }
            sink_options.insert(k, value);
        } else {
            match (
                source_keys.contains(&key.as_str()),
                sink_keys.contains(&key.as_str()),
            ) {
                (true, true) => {
                    return Err(Error::config(format!(
                        "option `{key}` is taken by both the source and the sink; write \
                         `source.{key}=…` or `sink.{key}=…`"
                    )));
                }
                (true, false) => source_options.insert(key, value),
                (false, true) => sink_options.insert(key, value),
                (false, false) => {
                    let all: Vec<&str> = source_keys.iter().chain(sink_keys).copied().collect();
                    return Err(Error::config(format!(
                        "unknown option `{key}` for {}{}; {}",
                        source.name,
                        sink.map(|s| format!(" or {}", s.name)).unwrap_or_default(),
                        suggestion(&key, &all)
                    )));
                }
            }
        }
    }
    Ok(())
}
