//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  arrowport demo
  arrowport export 'vikingdb://my_collection?tos_path=my-bucket/exports' out.parquet
  arrowport export 'datagen://?rows=1000000&profile=narrow' out.parquet
  arrowport export 'datagen://?rows=100000' out/ -o max_rows_per_file=25000
  arrowport export 'datagen://?profile=narrow' - | python reader.py   # Arrow IPC stream on stdout
  arrowport export --job job.toml
  arrowport schema 'datagen://?profile=vectors'
  arrowport list
  arrowport describe parquet

Exit codes: 0 success, 1 export failed, 2 usage or configuration error, 130 interrupted.";

/// Export remote data services into files, pipes and tools as streaming Apache Arrow.
#[derive(Debug, Parser)]
#[command(name = "arrowport", version, term_width = 100, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// How to show progress: a bar on a terminal, JSON lines on stderr, or nothing.
    #[arg(long, global = true, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,

    /// More detail on stderr (retries, warnings, timings).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, otherwise nothing.
    Auto,
    /// Always a bar.
    Bar,
    /// One JSON event per line on stderr.
    Json,
    /// No progress output.
    None,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Export a source into a sink (a file, a directory ending in `/`, `-` for stdout).
    #[command(after_help = "\
Examples:
  arrowport export 'datagen://?rows=1000000' out.parquet -o compression=snappy
  arrowport export 'datagen://?rows=100000' parts/ -o max_rows_per_file=10000
  arrowport export 'datagen://?profile=narrow' by_category/ -o partition_by=category
  arrowport export 'datagen://' - --format ndjson --columns id,text --limit 10
  arrowport export --job job.toml --overwrite
  arrowport export 'datagen://?rows=100000000' big.ndjson --resume   # re-run to continue
  arrowport plan 'datagen://?rows=1000000' --json > plan.json
  arrowport export --plan plan.json part.parquet --splits 3,7-9

The sink format follows the extension (.parquet .ndjson .jsonl .json .csv .arrow .arrows);
stdout defaults to the Arrow IPC stream. `-o key=value` goes to whichever plugin takes `key`;
prefix it as `source.key=value` or `sink.key=value` when both do.")]
    Export(ExportArgs),
    /// Print a source's schema.
    Schema(SourceArgs),
    /// Print the independent splits a source would read.
    Plan(PlanArgs),
    /// List the tables of a MaxCompute project.
    #[command(after_help = "\
Examples:
  arrowport tables 'maxcompute://my_project?region=cn-hangzhou'
  arrowport tables 'maxcompute://my_project?region=cn-hangzhou&prefix=sales_' --json")]
    Tables(CatalogArgs),
    /// List the partitions of a MaxCompute table (those `partition=` selects, or all).
    #[command(after_help = "\
Examples:
  arrowport partitions 'maxcompute://my_project/sales?region=cn-hangzhou'
  arrowport partitions 'maxcompute://my_project/sales?region=cn-hangzhou&partition=dt>20240101'")]
    Partitions(CatalogArgs),
    /// Share one MaxCompute upload session among workers: create it, look at it, commit it.
    #[command(
        subcommand,
        name = "upload-session",
        after_help = "\
Examples:
  arrowport upload-session create 'maxcompute://p/t?region=cn-hangzhou&partition=dt=20240101'
  arrowport export part-1.parquet 'maxcompute://p/t?region=cn-hangzhou&partition=dt=20240101&upload_id=ID&block_ids=100-199'
  arrowport export part-2.parquet 'maxcompute://p/t?region=cn-hangzhou&partition=dt=20240101&upload_id=ID&block_ids=200-299'
  arrowport upload-session commit 'maxcompute://p/t?region=cn-hangzhou&partition=dt=20240101' ID --blocks 100-199,200-299"
    )]
    UploadSession(UploadSessionCommand),
    /// List the registered sources and sinks.
    List,
    /// Show a plugin's documentation and options.
    Describe {
        /// A source scheme (`datagen`) or sink format (`parquet`).
        plugin: String,
    },
    /// Export an emulated VikingDB over HTTP into ./demo-out/, and through an emulated MaxCompute.
    Demo(DemoArgs),
    /// Serve a loopback emulator of a remote service, for trying arrowport and its peers.
    #[command(subcommand)]
    Emulate(EmulateCommand),
    /// Serve every registered source over Arrow Flight: one endpoint per split.
    #[command(after_help = "\
Examples:
  ARROWPORT_FLIGHT_TOKEN=s3cret arrowport serve --listen 0.0.0.0:8815 --config sources.toml
  arrowport serve --no-auth                       # any source URL, loopback only

Prints the address (grpc://host:port) on stdout once it accepts calls; stops on Ctrl-C or
SIGTERM. A GetFlightInfo command is JSON: {\"url\": \"maxcompute://p/t\", \"columns\": [..],
\"limit\": N, \"options\": {..}} or {\"source\": \"sales\", ..} for a configured source.")]
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8815")]
    pub listen: std::net::SocketAddr,

    /// A TOML file naming the sources clients may read (`[sources.sales] url = "..."`).
    /// Without one, clients may name any source URL.
    #[arg(long)]
    pub config: Option<PathBuf>,

    /// A file holding the bearer token every call must carry (else ARROWPORT_FLIGHT_TOKEN).
    #[arg(long)]
    pub token_file: Option<PathBuf>,

    /// Serve without authentication: only on a trusted network.
    #[arg(long, conflicts_with = "token_file")]
    pub no_auth: bool,

    /// A PEM certificate chain: serve grpc+tls (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// A file holding the key tickets are sealed with (at least 32 bytes); servers sharing
    /// it accept each other's tickets, also across restarts. Default: a fresh random key.
    #[arg(long)]
    pub ticket_key_file: Option<PathBuf>,

    /// The directory local files may be read from, when no config sets `file_root`.
    #[arg(long)]
    pub file_root: Option<PathBuf>,

    /// DoGet streams that run at once (default: twice the cores, at least 4).
    #[arg(long)]
    pub max_streams: Option<usize>,

    /// DoGet calls that may wait for a running stream; beyond, calls get Unavailable.
    #[arg(long, default_value_t = 256)]
    pub max_waiting: usize,

    /// Seconds a waiting DoGet waits before it gets Unavailable.
    #[arg(long, default_value_t = 60)]
    pub queue_timeout: u64,

    /// Seconds running streams may go on after Ctrl-C or SIGTERM before they are ended.
    #[arg(long, default_value_t = 30)]
    pub grace: u64,
}

#[derive(Debug, Subcommand)]
pub enum EmulateCommand {
    /// VikingDB (collection and export-task API) and the TOS bucket it exports into.
    #[command(after_help = "\
Prints one JSON line with the endpoints and credentials on stdout, then serves until Ctrl-C.")]
    Vikingdb(EmulateVikingdbArgs),
    /// MaxCompute: the meta API and Table Tunnel downloads of four fixture tables.
    #[command(after_help = "\
Prints one JSON line with the endpoints and credentials on stdout, then serves until Ctrl-C.")]
    Maxcompute(EmulateMaxcomputeArgs),
}

#[derive(Debug, Args)]
pub struct EmulateMaxcomputeArgs {
    /// Port of the meta API, served under /api (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,

    /// Port of the tunnel (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub tunnel_port: u16,

    /// Rows in the all_types table.
    #[arg(long, default_value_t = 1000, value_parser = parse_count)]
    pub rows: u64,

    /// Rows in the narrow table.
    #[arg(long, default_value_t = 100_000, value_parser = parse_count)]
    pub narrow_rows: u64,

    /// Name of the emulated project.
    #[arg(long, default_value = "emu_project")]
    pub project: String,
}

#[derive(Debug, Args)]
pub struct EmulateVikingdbArgs {
    /// Port of the VikingDB API (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,

    /// Port of TOS (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub tos_port: u16,

    /// Rows in the emulated collection.
    #[arg(long, default_value_t = 100_000, value_parser = parse_count)]
    pub rows: u64,

    /// Name of the emulated collection.
    #[arg(long, default_value = "demo")]
    pub collection: String,

    /// Task polls spent running before an export task is done.
    #[arg(long, default_value_t = 3)]
    pub polls: u32,

    /// Rows per exported part file (each file is one split of a plan).
    #[arg(long, default_value_t = 100_000, value_parser = parse_count)]
    pub rows_per_part: u64,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Source URL, e.g. `datagen://?rows=1000`.
    #[arg(required_unless_present_any = ["job", "plan"])]
    pub source: Option<String>,

    /// Output: a file path, a directory ending in `/`, or `-` for stdout.
    #[arg(required_unless_present_any = ["job", "plan"])]
    pub sink: Option<String>,

    /// A TOML or JSON job file describing the export (flags given here override it).
    #[arg(long, conflicts_with_all = ["source", "sink"])]
    pub job: Option<PathBuf>,

    #[command(flatten)]
    pub options: OptionArgs,

    #[command(flatten)]
    pub scan: ScanArgs,

    /// Output format, overriding the file extension.
    #[arg(long)]
    pub format: Option<String>,

    /// Replace an existing output.
    #[arg(long)]
    pub overwrite: bool,

    /// Read only these splits of the plan, e.g. `3,7-9` (see `arrowport plan`).
    #[arg(long, value_name = "LIST")]
    pub splits: Option<String>,

    /// Read the splits of a plan written by `arrowport plan --json` instead of planning: the
    /// source, columns and limit come from it. The one positional argument is then the sink.
    #[arg(long, value_name = "FILE", conflicts_with = "job")]
    pub plan: Option<PathBuf>,

    /// Make the export resumable: a journal beside the partial output records each durable
    /// point, and a re-run of the same command continues where an interrupted one stopped
    /// (a journal left behind is continued even without this flag).
    #[arg(long)]
    pub resume: bool,

    /// Discard what an interrupted run left (its journal and partial output) and start over.
    #[arg(long)]
    pub restart: bool,
}

#[derive(Debug, Args)]
pub struct OptionArgs {
    /// A plugin option `key=value` (repeatable).
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Columns to export, comma-separated, in output order.
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,

    /// Export at most this many rows.
    #[arg(long, value_name = "ROWS", allow_hyphen_values = true, value_parser = parse_count)]
    pub limit: Option<u64>,

    /// Concurrent reads (default: the number of cores).
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = parse_parallel)]
    pub parallel: Option<usize>,
}

#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Source URL, e.g. `datagen://?profile=all`.
    pub source: String,

    #[command(flatten)]
    pub options: OptionArgs,

    /// Print the schema as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// A `maxcompute://project[/table]?options` URL.
    pub url: String,

    #[command(flatten)]
    pub options: OptionArgs,

    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum UploadSessionCommand {
    /// Create an upload session of a table (or of the partition `partition=` names) and print
    /// its id; `create_partition=true` and `overwrite=true` apply at its commit.
    Create(CatalogArgs),
    /// Print a session's status and the blocks it holds (id and rows), as JSON.
    Status(UploadSessionArgs),
    /// Commit a session, once: every block it holds becomes visible together.
    Commit(UploadSessionCommitArgs),
}

#[derive(Debug, Args)]
pub struct UploadSessionArgs {
    /// The session's `maxcompute://project/table?partition=…` URL.
    pub url: String,

    /// The session id `upload-session create` printed.
    pub id: String,

    #[command(flatten)]
    pub options: OptionArgs,
}

#[derive(Debug, Args)]
pub struct UploadSessionCommitArgs {
    #[command(flatten)]
    pub session: UploadSessionArgs,

    /// The workers' block ranges, e.g. `100-199,200-299`: checked disjoint, every block the
    /// session holds inside one, every range written. Without it every block is committed.
    #[arg(long, value_name = "RANGES")]
    pub blocks: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Source URL.
    pub source: String,

    #[command(flatten)]
    pub options: OptionArgs,

    #[command(flatten)]
    pub scan: ScanArgs,

    /// Print the plan as a JSON document: the schema (Arrow IPC, base64) and every split with
    /// the token any process reads it from (`arrowport export --plan`, Flight, Python).
    #[arg(long)]
    pub json: bool,

    /// Plan a source whose planning is billed (a VikingDB collection without `task_id`:
    /// planning creates its export task).
    #[arg(long)]
    pub create_task: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the demo outputs.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,

    /// Rows in the emulated collection.
    #[arg(long, default_value_t = 100_000, value_parser = parse_count)]
    pub rows: u64,
}

fn parse_count(s: &str) -> Result<u64, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("expected a non-negative integer, got `{s}`"))
}

fn parse_parallel(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("expected a positive integer, got `{s}`")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
