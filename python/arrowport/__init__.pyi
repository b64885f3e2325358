from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, Optional, Union

import pyarrow

from .exceptions import (
    ArrowportError as ArrowportError,
    Cancelled as Cancelled,
    ConfigError as ConfigError,
    DataIntegrityError as DataIntegrityError,
    IoError as IoError,
    NotFoundError as NotFoundError,
    PermissionError as PermissionError,
    RemoteError as RemoteError,
    UnsupportedError as UnsupportedError,
)

__version__: str

Progress = Union[None, bool, Callable[[dict[str, Any]], object]]
Columns = Union[None, str, Sequence[str]]
Option = Union[str, int, float, bool, Sequence[Union[str, int, float]], dict[str, Any], None]

class Reader:
    """A lazy read of a source; every consumption reads it again."""

    @property
    def schema(self) -> pyarrow.Schema: ...
    @property
    def url(self) -> str: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def __iter__(self) -> Iterator[pyarrow.RecordBatch]: ...
    def read_all(self) -> pyarrow.Table: ...
    def to_reader(self) -> pyarrow.RecordBatchReader: ...
    def to_polars(self) -> Any: ...
    def to_pandas(self) -> Any: ...

class Split:
    """One split of a plan: picklable, readable in any process."""

    @property
    def index(self) -> int: ...
    @property
    def description(self) -> str: ...
    @property
    def rows(self) -> Optional[int]: ...
    @property
    def bytes(self) -> Optional[int]: ...
    @property
    def token(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def schema(self) -> pyarrow.Schema: ...
    def read(self, progress: Progress = None) -> Reader: ...

class Summary:
    """What an export or a write did; ``str()`` is the CLI's closing line."""

    @property
    def rows(self) -> int: ...
    @property
    def batches(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def target(self) -> str: ...
    @property
    def files(self) -> list[dict[str, Any]]: ...

def read(
    url: str,
    columns: Columns = None,
    limit: Optional[int] = None,
    parallel: Optional[int] = None,
    *,
    progress: Progress = None,
    **options: Option,
) -> Reader: ...
def schema(url: str, **options: Option) -> pyarrow.Schema: ...
def plan(
    url: str,
    columns: Columns = None,
    limit: Optional[int] = None,
    *,
    create_task: bool = False,
    progress: Progress = None,
    **options: Option,
) -> list[Split]: ...
def export(
    url: str,
    sink: str,
    columns: Columns = None,
    limit: Optional[int] = None,
    parallel: Optional[int] = None,
    *,
    format: Optional[str] = None,
    overwrite: bool = False,
    progress: Progress = None,
    **options: Option,
) -> Summary: ...
def write(
    data: Any,
    sink: str,
    *,
    format: Optional[str] = None,
    overwrite: bool = False,
    progress: Progress = None,
    **options: Option,
) -> Summary: ...
