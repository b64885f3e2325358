//! From flags, URLs and job files to built plugins. Everything here is pure: a mistake is a
//! configuration error (exit 2) before any remote call or file write.

use arrowport_core::job::Job;
use arrowport_core::options::suggestion;
use arrowport_core::registry::{SinkTarget, find_source, resolve_sink};
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
    let job = match &args.job {
        Some(path) => Job::load(path)?,
        None => Job::from_parts(
            args.source
                .clone()
                .expect("clap requires a source without --job"),
            args.sink
                .clone()
                .expect("clap requires a sink without --job"),
        ),
    };
    let mut spec = SourceSpec::parse(&job.source)?;
    spec.options.merge(job.source_options);
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
    let source = (source_plugin.build)(spec)?;
    let sink = (sink_plugin.build)(SinkSpec::new(target.clone(), sink_options, overwrite))?;
    Ok(ExportJob {
        source,
        sink,
        target,
        scan,
    })
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
