"""arrowport in Python: VikingDB collections, MaxCompute tables, local files and synthetic data
as streams of Apache Arrow record batches, in-process, handed to pyarrow, polars and duckdb
without a copy.

    import arrowport, polars as pl, duckdb
    r = arrowport.read("maxcompute://my_project/sales?region=cn-hangzhou", columns=["id", "amount"])
    df = pl.DataFrame(r)                  # or r.to_polars(), r.read_all(), r.to_pandas()
    duckdb.sql("select count(*) from r")
    arrowport.export("datagen://?rows=1000000", "out.parquet", compression="zstd")
    arrowport.write(df, "maxcompute://my_project/copy?region=cn-hangzhou")

Options are the CLI's (`arrowport describe <plugin>`): keyword arguments become `-o key=value`
assignments, routed to the source or the sink that takes the key (``source_key=`` cannot be
spelled as a keyword; pass ``**{"source.key": value}``). Credentials come from the environment
variables the official SDKs use, never from arguments.

Work runs in Rust with the GIL released; Ctrl-C stops it (nothing half-written is left) and
raises KeyboardInterrupt. ``progress`` takes a callable that receives one dict per event
(``{"event": "batch", "rows": ..., "bytes": ...}``, ...), ``True`` for a tqdm bar, ``False``
for none; by default a tqdm bar is shown when tqdm is installed and stderr is a terminal.
"""

import sys

from . import _arrowport
from ._arrowport import Reader, Split, Summary, __version__
from .exceptions import (
    ArrowportError,
    Cancelled,
    ConfigError,
    DataIntegrityError,
    IoError,
    NotFoundError,
    PermissionError,
    RemoteError,
    UnsupportedError,
)

__all__ = [
    "read",
    "schema",
    "plan",
    "export",
    "write",
    "Reader",
    "Split",
    "Summary",
    "ArrowportError",
    "Cancelled",
    "ConfigError",
    "DataIntegrityError",
    "IoError",
    "NotFoundError",
    "PermissionError",
    "RemoteError",
    "UnsupportedError",
    "__version__",
]


def read(url, columns=None, limit=None, parallel=None, *, progress=None, **options):
    """A lazy reader of the source at ``url``.

    It implements the Arrow PyCapsule stream interface (``__arrow_c_stream__``), so
    ``pyarrow.table(r)``, ``polars.DataFrame(r)``, ``polars.from_arrow(r)`` and
    ``duckdb.sql("from r")`` take it directly; ``r.read_all()`` gives a ``pyarrow.Table``,
    ``r.to_polars()``, ``r.to_pandas()`` data frames, ``r.to_reader()`` a
    ``pyarrow.RecordBatchReader``, and ``for batch in r`` iterates ``pyarrow.RecordBatch``es.
    Batches stream: a caller that iterates holds a few batches at a time. Nothing runs until
    the reader is consumed, and each consumption reads the source again.

    ``columns`` (a list, or a comma-separated string), ``limit`` and ``parallel`` are the
    CLI's ``--columns``, ``--limit`` and ``--parallel``; every other keyword is a source option.
    """
    return _arrowport.read(url, columns, limit, parallel, _progress(progress), options)


def schema(url, **options):
    """The full schema of the source at ``url``, as a ``pyarrow.Schema``."""
    return _arrowport.schema(url, options)


def plan(url, columns=None, limit=None, *, create_task=False, progress=None, **options):
    """The splits of a read of ``url``: a list of :class:`Split`, each readable on its own
    (``split.read()``) in this or any other process, and picklable.

    Planning creates the remote state the splits read (a MaxCompute download session); for
    a VikingDB collection that is an export task, which is billed: pass ``create_task=True``,
    or name a finished task with ``task_id=``.
    """
    return _arrowport.plan(url, columns, limit, create_task, _progress(progress), options)


def export(url, sink, columns=None, limit=None, parallel=None, *, format=None, overwrite=False,
           progress=None, **options):
    """Exports the source at ``url`` into ``sink``, as ``arrowport export`` does, and returns
    a :class:`Summary` (``str(summary)`` is the CLI's closing line).

    ``sink`` is a file path (format by extension), a directory ending in ``/``, ``-`` for
    stdout, or a remote table URL (``maxcompute://project/table?...``). The output is
    committed atomically: on an error or Ctrl-C nothing half-written is left.
    """
    return _arrowport.export(url, sink, columns, limit, parallel, format, overwrite,
                             _progress(progress), options)


def write(data, sink, *, format=None, overwrite=False, progress=None, **options):
    """Writes Arrow data into ``sink`` (any sink :func:`export` takes) and returns a
    :class:`Summary`. ``data`` is any object with ``__arrow_c_stream__``: a pyarrow Table or
    RecordBatchReader, a polars or pandas DataFrame, a duckdb relation, an arrowport reader.
    """
    return _arrowport.write(data, sink, format, overwrite, _progress(progress), options)


def _progress(progress):
    """The callable progress events go to, or None."""
    if progress is False:
        return None
    if callable(progress):
        return progress
    if progress is None and not _stderr_is_terminal():
        return None
    try:
        from ._progress import TqdmProgress
    except ImportError:
        if progress is True:
            raise
        return None
    return TqdmProgress()


def _stderr_is_terminal():
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _options_doc():
    lines = ["", "Options by plugin (see `arrowport describe <plugin>`):"]
    for role, plugins in _arrowport.plugin_options().items():
        lines.append(f"  {role}:")
        for name, (options, description) in plugins.items():
            lines.append(f"    {name}: {description}")
            lines.append(f"      {', '.join(options) or '(none)'}")
    return "\n".join(lines)


_OPTIONS_DOC = _options_doc()
for _f in (read, schema, plan, export, write):
    _f.__doc__ = (_f.__doc__ or "") + "\n" + _OPTIONS_DOC
del _f
