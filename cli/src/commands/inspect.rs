//! `schema`, `plan`, `list` and `describe`: looking before exporting. Results go to stdout.

use std::io::Write;

use arrowport_core::arrow::datatypes::{DataType, Field};
use arrowport_core::plan::plan_document;
use arrowport_core::registry::{find_sink, find_source, sink_plugins, source_plugins};
use arrowport_core::{Context, Error, ExportSource, Result, Scan, SourceSpec};

pub async fn schema(source: Box<dyn ExportSource>, json: bool, cx: Context) -> Result<()> {
    let schema = source.schema(&cx).await?;
    let text = if json {
        let fields: Vec<_> = schema.fields().iter().map(|f| field_json(f)).collect();
        format!("{}\n", serde_json::json!({ "fields": fields }))
    } else {
        let width = schema
            .fields()
            .iter()
            .map(|f| f.name().chars().count())
            .max()
            .unwrap_or(0);
        schema
            .fields()
            .iter()
            .map(|f| {
                let null = if f.is_nullable() { "" } else { " not null" };
                format!("{:<width$}  {}{null}\n", f.name(), f.data_type())
            })
            .collect()
    };
    print_stdout(&text)
}

fn field_json(f: &Field) -> serde_json::Value {
    let children: Vec<_> = match f.data_type() {
        DataType::List(c)
        | DataType::LargeList(c)
        | DataType::FixedSizeList(c, _)
        | DataType::Map(c, _) => {
            vec![field_json(c)]
        }
        DataType::Struct(fs) => fs.iter().map(|c| field_json(c)).collect(),
        _ => Vec::new(),
    };
    let mut v = serde_json::json!({
        "name": f.name(),
        "type": f.data_type().to_string(),
        "nullable": f.is_nullable(),
    });
    if !children.is_empty() {
        v["children"] = children.into();
    }
    v
}

pub async fn plan(
    source: Box<dyn ExportSource>,
    spec: SourceSpec,
    url: &str,
    scan: Scan,
    json: bool,
    create_task: bool,
    cx: Context,
) -> Result<()> {
    if source.capabilities().billed_plan && !create_task {
        return Err(Error::config(format!(
            "planning `{url}` creates a remote export task, which is billed; pass --create-task \
             to create it, or name a finished task with -o task_id=<id>"
        )));
    }
    let doc = plan_document(source.as_ref(), url, &spec.options, &scan, &cx).await?;
    if json {
        return print_stdout(&format!("{}\n", doc.to_json()));
    }
    let splits = doc.splits;
    let mut text = String::new();
    for s in &splits {
        let rows = s.rows.map(|r| format!("  rows={r}")).unwrap_or_default();
        let bytes = s.bytes.map(|b| format!("  bytes={b}")).unwrap_or_default();
        text.push_str(&format!("{:>5}  {}{rows}{bytes}\n", s.index, s.description));
    }
    let total: Option<u64> = splits.iter().map(|s| s.rows).sum();
    text.push_str(&format!(
        "{} splits{}\n",
        splits.len(),
        total.map(|t| format!(", {t} rows")).unwrap_or_default()
    ));
    print_stdout(&text)
}

pub fn list() -> Result<()> {
    let mut text = String::from("Sources:\n");
    for p in source_plugins() {
        text.push_str(&format!(
            "  {:<14} {}\n",
            format!("{}://", p.name),
            p.description
        ));
    }
    text.push_str("\nSinks:\n");
    for p in sink_plugins() {
        let selectors: Vec<String> = p
            .extensions
            .iter()
            .map(|e| format!(".{e}"))
            .chain(p.schemes.iter().map(|s| format!("{s}://")))
            .collect();
        text.push_str(&format!(
            "  {:<12} {:<24} {}\n",
            p.name,
            selectors.join(" "),
            p.description
        ));
    }
    print_stdout(&text)
}

pub fn describe(name: &str) -> Result<()> {
    let name = name.trim_end_matches("://");
    let (docs, options) = match (find_source(name), find_sink(name)) {
        (Ok(p), _) => (p.docs, (p.options)()),
        (_, Ok(p)) => (p.docs, (p.options)()),
        (Err(_), Err(_)) => {
            let mut names: Vec<&str> = source_plugins().iter().map(|p| p.name).collect();
            names.extend(sink_plugins().iter().map(|p| p.name));
            return Err(Error::config(format!(
                "no plugin named `{name}`; {}",
                arrowport_core::options::suggestion(name, &names)
                    .replace("valid options", "plugins")
            )));
        }
    };
    print_stdout(&format!(
        "{}\nOptions: {}\n",
        docs.trim_end(),
        options.join(", ")
    ))
}

/// Writes command output to stdout; a closed pipe (`| head`) is not an error.
pub(super) fn print_stdout(text: &str) -> Result<()> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::io("cannot write to stdout", e))
        }
        _ => Ok(()),
    }
}
